#include "daemon/options.h"

#include <charconv>
#include <functional>
#include <map>

namespace nexus {
namespace {

Status BadValue(const std::string& flag, const std::string& value, const char* want) {
  return Status::Error(EINVAL, flag + ": '" + value + "' is not " + want);
}

template <typename T>
Status ParseNumber(const std::string& flag, const std::string& v, T* out, T min, T max) {
  T x{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < min || x > max)
    return BadValue(flag, v, "a number in range");
  *out = x;
  return Status::Ok();
}

}  // namespace

const char* DaemonUsage() {
  return R"(Usage: nexusd --data-dir DIR --mount MNT [options]

Serves the NexusFS tree stored in DIR as a POSIX filesystem mounted at MNT.
Runs in the foreground; SIGTERM or SIGINT unmounts cleanly and exits 0.

Options:
  --data-dir DIR           where metadata (meta.db) and contents (data/) live
  --mount MNT              mount point (a directory; created if missing)
  --workspace WS           expose host directory WS at /zone/local
  --log-level LEVEL        trace|debug|info|warn|error (default info)
  --threads N              maximum FUSE worker threads (default 16)
  --attr-timeout S         kernel cache lifetime for the native tree (default 60)
  --workspace-timeout S    kernel cache lifetime for /zone/local (default 1)
  --commit-interval-ms N   metadata group-commit window (default 5)
  --writeback-cache        let the kernel cache writes (faster small writes;
                           st_blocks lags until writeback, SEEK_DATA/SEEK_HOLE
                           report holes as data; not with --workspace)
  --fuse-debug             log every FUSE request (very verbose)
  --version                print the version and exit
  -h, --help               print this help and exit

Exit status: 0 clean stop, 1 runtime failure, 64 usage error.
)";
}

Result<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args) {
  DaemonOptions o;
  using Setter = std::function<Status(const std::string&)>;
  const std::map<std::string, Setter> with_value = {
      {"--data-dir", [&](const std::string& v) { o.data_dir = v; return Status::Ok(); }},
      {"--mount", [&](const std::string& v) { o.mountpoint = v; return Status::Ok(); }},
      {"--workspace", [&](const std::string& v) { o.workspace = v; return Status::Ok(); }},
      {"--log-level",
       [&](const std::string& v) {
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
         for (const char* l : kLevels)
           if (v == l) {
             o.log_level = v;
             return Status::Ok();
           }
         return BadValue("--log-level", v, "one of trace|debug|info|warn|error");
       }},
      {"--threads",
       [&](const std::string& v) { return ParseNumber("--threads", v, &o.threads, 1u, 256u); }},
      {"--attr-timeout",
       [&](const std::string& v) {
         return ParseNumber("--attr-timeout", v, &o.attr_timeout, 0.0, 86400.0);
       }},
      {"--workspace-timeout",
       [&](const std::string& v) {
         return ParseNumber("--workspace-timeout", v, &o.workspace_timeout, 0.0, 86400.0);
       }},
      {"--commit-interval-ms",
       [&](const std::string& v) {
         return ParseNumber("--commit-interval-ms", v, &o.commit_interval_ms, 0, 10000);
       }},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    if (a == "-h" || a == "--help") {
      o.show_help = true;
    } else if (a == "--version") {
      o.show_version = true;
    } else if (a == "--writeback-cache") {
      o.writeback_cache = true;
    } else if (a == "--fuse-debug") {
      o.fuse_debug = true;
    } else if (auto it = with_value.find(a); it != with_value.end()) {
      if (!has_inline) {
        if (i + 1 >= args.size()) return Status::Error(EINVAL, a + " needs a value");
        value = args[++i];
      }
      NEXUS_RETURN_IF_ERROR(it->second(value));
    } else {
      return Status::Error(EINVAL, "unknown option '" + args[i] + "' (see --help)");
    }
  }
  if (o.show_help || o.show_version) return o;
  if (o.data_dir.empty()) return Status::Error(EINVAL, "--data-dir is required (see --help)");
  if (o.mountpoint.empty()) return Status::Error(EINVAL, "--mount is required (see --help)");
  // With a writeback cache the kernel keeps its own file sizes and ignores the
  // daemon's, so changes made on the host to a workspace would be invisible.
  if (o.writeback_cache && !o.workspace.empty())
    return Status::Error(EINVAL, "--writeback-cache cannot be used with --workspace: host-side "
                                 "changes to the workspace would not be seen");
  return o;
}

}  // namespace nexus
