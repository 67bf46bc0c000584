// The operators' HTTP endpoints (--http HOST:PORT):
//   GET /health   200, JSON: version, uptime, mount state, profile, features,
//                 and with search on {"search": {"index": "indexing"|"ready"}};
//                 with a workspace {"workspace": {"dir", "index": "indexing"|
//                 "ready"|"off", "host_changes": "watching"|"starting"|
//                 "stopped"|"unwatched"}}
//   GET /ready    503 until the mount is up and serving, then 200
//   GET /metrics  Prometheus text: per FUSE op and per RPC method counts,
//                 errors and latency histograms; bytes read and written;
//                 open handles; database size; connections; locks
// Anything else is 404; methods other than GET/HEAD are 405.
//
// Threading: runs on the socket server's loop thread; reads only atomics
// and thread-safe accessors.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <kj/compat/http.h>

#include "fs/fuse_ops.h"
#include "fs/lock_table.h"
#include "base/metrics.h"
#include "rpc/server/service.h"

namespace nexus {

struct StatusSources {
  DaemonInfo* info = nullptr;
  FuseContext* fuse = nullptr;  // its metrics and byte counters
  OpMetrics* rpc_metrics = nullptr;
  LockTable* locks = nullptr;
  const std::vector<FeatureState>* features = nullptr;
  std::function<uint64_t()> database_bytes;
  std::function<uint64_t()> inode_count;
  std::function<std::string()> search_state;  // "ready"/"indexing"; unset: search off
  // The workspace watcher's state (WorkspaceWatcher::State); unset: host-side
  // changes are not watched.
  std::function<std::string()> workspace_watch;
};

kj::Own<kj::HttpService> MakeHttpStatusService(kj::HttpHeaderTable& table, StatusSources sources);

}  // namespace nexus
