#include "daemon/http_status.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace nexus {
namespace {

const char* StateName(FeatureState::State s) {
  switch (s) {
    case FeatureState::State::kEnabled:
      return "enabled";
    case FeatureState::State::kDisabled:
      return "disabled";
    case FeatureState::State::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

class StatusService final : public kj::HttpService {
 public:
  StatusService(kj::HttpHeaderTable& table, StatusSources s) : table_(table), s_(std::move(s)) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders&,
                            kj::AsyncInputStream&, Response& response) override {
    std::string path(url.cStr());
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    if (method != kj::HttpMethod::GET && method != kj::HttpMethod::HEAD)
      return Send(response, 405, "Method Not Allowed", "text/plain", "only GET\n", method);
    if (path == "/health") return Send(response, 200, "OK", "application/json", Health(), method);
    if (path == "/ready") {
      bool ready = s_.info->mounted.load();
      std::string body = nlohmann::json{{"ready", ready}}.dump() + "\n";
      return ready ? Send(response, 200, "OK", "application/json", body, method)
                   : Send(response, 503, "Service Unavailable", "application/json", body, method);
    }
    if (path == "/metrics") return Send(response, 200, "OK", "text/plain; version=0.0.4", Metrics(), method);
    return Send(response, 404, "Not Found", "text/plain", "not found: try /health, /ready, /metrics\n",
                method);
  }

 private:
  kj::Promise<void> Send(Response& response, uint code, kj::StringPtr text, kj::StringPtr type,
                         std::string body, kj::HttpMethod method) {
    kj::HttpHeaders headers(table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, type);
    auto out = response.send(code, text, headers, uint64_t{body.size()});
    if (method == kj::HttpMethod::HEAD) return kj::READY_NOW;
    auto data = kj::heapString(body.data(), body.size());
    auto promise = out->write(data.begin(), data.size());
    return promise.attach(kj::mv(out), kj::mv(data));
  }

  std::string Health() const {
    const DaemonInfo& i = *s_.info;
    nlohmann::json features = nlohmann::json::object();
    if (s_.features)
      for (const auto& f : *s_.features) features[f.name] = StateName(f.state);
    nlohmann::json j = {
        {"status", i.mounted.load() ? "ok" : "starting"},
        {"version", i.version},
        {"pid", i.pid},
        {"uptime_seconds", static_cast<double>(DefaultClock().Now() - i.started_ns) / 1e9},
        {"mounted", i.mounted.load()},
        {"mountpoint", i.mountpoint},
        {"data_dir", i.data_dir},
        {"profile", i.profile},
        {"features", features},
        {"connections", i.connections.load()},
    };
    // "indexing" while the search index catches up with the tree, then "ready".
    if (s_.search_state) j["search"] = {{"index", s_.search_state()}};
    // The workspace at /zone/local: whether search has indexed it, and
    // whether changes made beside the mount are noticed.
    if (!i.workspace.empty())
      j["workspace"] = {{"dir", i.workspace},
                        {"index", s_.search_state ? s_.search_state() : "off"},
                        {"host_changes", s_.workspace_watch ? s_.workspace_watch() : "unwatched"}};
    return j.dump() + "\n";
  }

  std::string Metrics() const {
    std::string out;
    if (s_.fuse && s_.fuse->metrics) s_.fuse->metrics->AppendPrometheus(&out);
    if (s_.rpc_metrics) s_.rpc_metrics->AppendPrometheus(&out);
    auto gauge = [&out](const char* name, const char* type, const char* help, double v) {
      out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
      out.append(name).append(" ").append(type).append("\n");
      AppendSample(&out, name, "", v);
    };
    if (s_.fuse) {
      gauge("nexus_fuse_read_bytes_total", "counter", "Bytes asked for by read requests.",
            static_cast<double>(s_.fuse->bytes_read.load()));
      gauge("nexus_fuse_written_bytes_total", "counter", "Bytes written through the mount.",
            static_cast<double>(s_.fuse->bytes_written.load()));
      gauge("nexus_fuse_open_handles", "gauge", "Files open on the mount.",
            static_cast<double>(s_.fuse->open_handles.load()));
    }
    if (s_.database_bytes)
      gauge("nexus_database_bytes", "gauge", "Size of the metadata database with its WAL.",
            static_cast<double>(s_.database_bytes()));
    if (s_.inode_count)
      gauge("nexus_inodes", "gauge", "Inodes in the native tree.", static_cast<double>(s_.inode_count()));
    gauge("nexus_socket_connections", "gauge", "Open control-socket connections.",
          static_cast<double>(s_.info->connections.load()));
    if (s_.locks)
      gauge("nexus_locks_held", "gauge", "Advisory locks held.",
            static_cast<double>(s_.locks->size(DefaultClock().Now())));
    gauge("nexus_mounted", "gauge", "1 while the mount is up and serving.", s_.info->mounted.load() ? 1 : 0);
    return out;
  }

  kj::HttpHeaderTable& table_;
  StatusSources s_;
};

}  // namespace

kj::Own<kj::HttpService> MakeHttpStatusService(kj::HttpHeaderTable& table, StatusSources sources) {
  return kj::heap<StatusService>(table, std::move(sources));
}

}  // namespace nexus
