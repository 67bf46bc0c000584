// What a local process says about itself in /proc: its command name and
// the agent/task it works for (NEXUS_AGENT_ID / NEXUS_TASK_ID in its
// environment). Read when a change is published, on the thread that made
// it, because a short-lived writer (sed -i, a script) is often gone by the
// time anything downstream looks.
//
// Threading: ReadProcessInfo is reentrant; ProcessInfoCache is thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/mutex.h"

namespace nexus {

struct ProcessInfo {
  std::string command;   // /proc/PID/comm, without the newline
  std::string agent_id;  // NEXUS_AGENT_ID
  std::string task_id;   // NEXUS_TASK_ID
};

// At most this many bytes of /proc/PID/environ are read.
inline constexpr size_t kMaxEnvironBytes = 256 * 1024;

// Raw values (not sanitized). A process that is gone or unreadable yields
// what could be read; never fails. `proc_root` is for tests.
ProcessInfo ReadProcessInfo(pid_t pid, const std::string& proc_root = "/proc");

// Remembers each pid's info for `ttl_ns` (pids are reused, slowly), so a
// process making thousands of changes is read once.
class ProcessInfoCache {
 public:
  explicit ProcessInfoCache(int64_t ttl_ns = 2'000'000'000, size_t max_entries = 4096)
      : ttl_ns_(ttl_ns), max_entries_(max_entries) {}
  std::shared_ptr<const ProcessInfo> Get(pid_t pid);

 private:
  struct Entry {
    std::shared_ptr<const ProcessInfo> info;
    int64_t until_ns = 0;
  };
  const int64_t ttl_ns_;
  const size_t max_entries_;
  Mutex mu_;
  std::unordered_map<pid_t, Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace nexus
