// Operation metrics: per-operation counts, errors and latency histograms,
// rendered in the Prometheus text format.
//
// An OpMetrics family is built once with its fixed list of operation names
// (FUSE ops, RPC methods); recording is lock-free (relaxed atomics), so it
// costs a few nanoseconds on the hot path. Rendering reads the atomics
// without stopping writers: a scrape sees each counter at some recent value.
//
// Threading: Record/At from any thread; construction before use.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nexus {

struct OpStats {
  // Upper bounds of the latency buckets, in nanoseconds (+Inf follows).
  static constexpr std::array<int64_t, 18> kBoundsNs = {
      1'000,      2'500,      5'000,      10'000,      25'000,      50'000,
      100'000,    250'000,    500'000,    1'000'000,   2'500'000,   5'000'000,
      10'000'000, 25'000'000, 50'000'000, 100'000'000, 500'000'000, 1'000'000'000};

  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> sum_ns{0};
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets{};

  void Record(int64_t latency_ns, bool error);
};

class OpMetrics {
 public:
  // `prefix` names the family ("nexus_fuse"); `label` the label that holds
  // the operation name ("op", "method").
  OpMetrics(std::string prefix, std::string label, const std::vector<std::string>& ops);

  // The stats of `op`; null for a name not given at construction.
  OpStats* Find(std::string_view op);
  OpStats& At(size_t index) { return stats_[index]; }

  // Appends the family in the Prometheus text format (only operations that
  // were called at least once, to keep scrapes small).
  void AppendPrometheus(std::string* out) const;

 private:
  std::string prefix_;
  std::string label_;
  std::vector<std::string> names_;
  std::deque<OpStats> stats_;  // parallel to names_; deque: atomics don't move
  std::unordered_map<std::string_view, size_t> index_;
};

// Records one operation into `stats` when it goes out of scope.
class OpTimer {
 public:
  explicit OpTimer(OpStats* stats)
      : stats_(stats),
        start_(stats ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point()) {}
  ~OpTimer();
  void Fail() { error_ = true; }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpStats* stats_;
  std::chrono::steady_clock::time_point start_;
  bool error_ = false;
};

// Appends one Prometheus sample line: name{labels} value.
void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value);

}  // namespace nexus
