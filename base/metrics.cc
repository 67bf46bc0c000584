#include "base/metrics.h"

#include <cstdio>

namespace nexus {

void OpStats::Record(int64_t latency_ns, bool error) {
  count.fetch_add(1, std::memory_order_relaxed);
  if (error) errors.fetch_add(1, std::memory_order_relaxed);
  sum_ns.fetch_add(static_cast<uint64_t>(latency_ns), std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBoundsNs.size() && latency_ns > kBoundsNs[b]) ++b;
  buckets[b].fetch_add(1, std::memory_order_relaxed);
}

OpTimer::~OpTimer() {
  if (!stats_) return;
  auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  stats_->Record(ns, error_);
}

OpMetrics::OpMetrics(std::string prefix, std::string label, const std::vector<std::string>& ops)
    : prefix_(std::move(prefix)), label_(std::move(label)), names_(ops), stats_(ops.size()) {
  for (size_t i = 0; i < names_.size(); ++i) index_.emplace(names_[i], i);
}

OpStats* OpMetrics::Find(std::string_view op) {
  auto it = index_.find(op);
  return it == index_.end() ? nullptr : &stats_[it->second];
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  char num[64];
  std::snprintf(num, sizeof num, "%.9g", value);
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ").append(num).append("\n");
}

void OpMetrics::AppendPrometheus(std::string* out) const {
  const std::string requests = prefix_ + "_requests_total";
  const std::string errors = prefix_ + "_errors_total";
  const std::string latency = prefix_ + "_latency_seconds";
  out->append("# HELP " + requests + " Requests by " + label_ + ".\n# TYPE " + requests + " counter\n");
  out->append("# HELP " + errors + " Requests answered with an error, by " + label_ + ".\n# TYPE " + errors +
              " counter\n");
  out->append("# HELP " + latency + " Request latency by " + label_ + ".\n# TYPE " + latency +
              " histogram\n");
  for (size_t i = 0; i < names_.size(); ++i) {
    const OpStats& s = stats_[i];
    uint64_t count = s.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    const std::string l = label_ + "=\"" + names_[i] + "\"";
    AppendSample(out, requests, l, static_cast<double>(count));
    AppendSample(out, errors, l, static_cast<double>(s.errors.load(std::memory_order_relaxed)));
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= OpStats::kBoundsNs.size(); ++b) {
      cumulative += s.buckets[b].load(std::memory_order_relaxed);
      char le[32];
      if (b < OpStats::kBoundsNs.size())
        std::snprintf(le, sizeof le, "%g", static_cast<double>(OpStats::kBoundsNs[b]) / 1e9);
      else
        std::snprintf(le, sizeof le, "+Inf");
      AppendSample(out, latency + "_bucket", l + ",le=\"" + le + "\"", static_cast<double>(cumulative));
    }
    AppendSample(out, latency + "_sum", l,
                 static_cast<double>(s.sum_ns.load(std::memory_order_relaxed)) / 1e9);
    AppendSample(out, latency + "_count", l, static_cast<double>(count));
  }
}

}  // namespace nexus
