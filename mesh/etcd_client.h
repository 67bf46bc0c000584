// EtcdClient: etcd v3 through its JSON gateway (POST /v3/kv/range,
// /v3/kv/txn, /v3/lease/grant|keepalive|revoke, /v3/watch,
// /v3/maintenance/status) over libcurl. Keys and values travel base64-encoded
// and 64-bit integers as decimal strings, as the gateway's JSON mapping of
// etcd's protobuf messages has them.
//
// Endpoints: a call goes to the endpoint that answered last and moves on to
// the next one when an endpoint cannot be reached or does not answer in
// time; an etcd member without quorum answers "unavailable" after its own
// request timeout, or not at all, and the call tries the others. TLS
// (https) when a CA is given, with an optional client certificate.
//
// Errors: EAGAIN when no endpoint answers or etcd reports it cannot serve
// (no leader, no quorum, timeout) — the message says why; ENOENT, EEXIST,
// EINVAL for etcd's not-found / already-exists / invalid-argument answers;
// EIO for an answer that is not the JSON the gateway sends.
//
// Concurrency: CallAll sends independent requests at once on a small pool
// of threads the client owns (started on first use), each with its own
// persistent connection: a batch of N lease grants costs about one round
// trip, not N.
//
// Thread-safety: every method may be called concurrently; each thread uses
// its own curl handle.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus::mesh {

struct EtcdClientOptions {
  std::vector<std::string> endpoints{};  // "host:port"
  std::string ca_file{};                 // set: https, verified against this CA
  std::string cert_file{};               // client certificate (with key_file)
  std::string key_file{};
  std::chrono::milliseconds timeout{3000};  // per endpoint and call
};

// Parses "etcd://H1:P1,H2:P2,..." into endpoints (EINVAL if malformed).
Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url);

std::string Base64Decode(std::string_view in);

class EtcdClient {
 public:
  explicit EtcdClient(EtcdClientOptions options);
  ~EtcdClient();

  // POSTs `body` to `path` ("/v3/kv/txn") and returns the decoded answer.
  Result<nlohmann::json> Call(std::string_view path, const nlohmann::json& body) const;
  // Call for each (path, body), concurrently; the answers in the same order.
  // Nothing is ordered between the requests: only for independent ones.
  std::vector<Result<nlohmann::json>> CallAll(
      const std::vector<std::pair<std::string, nlohmann::json>>& calls) const;
  // The same on one endpoint only (health of each member).
  Result<nlohmann::json> CallOne(const std::string& endpoint, std::string_view path,
                                 const nlohmann::json& body, std::chrono::milliseconds timeout) const;

  // Opens a stream (POST /v3/watch with `body`) on the first endpoint that
  // answers and hands every JSON message to `on_message` until it returns
  // false, `stop` is set (checked at least every 200 ms), or the stream
  // ends. Returns why it ended (OK when asked to stop).
  Status Stream(std::string_view path, const nlohmann::json& body,
                const std::function<bool(const nlohmann::json&)>& on_message,
                const std::atomic<bool>& stop) const;

  const EtcdClientOptions& options() const { return options_; }

 private:
  std::string Url(size_t endpoint, std::string_view path) const;

  class Pool;
  static constexpr size_t kParallelCalls = 16;

  const EtcdClientOptions options_;
  mutable std::atomic<size_t> preferred_{0};
  mutable std::once_flag pool_once_;
  mutable std::shared_ptr<Pool> pool_;  // started by the first CallAll of several calls
};

}  // namespace nexus::mesh
