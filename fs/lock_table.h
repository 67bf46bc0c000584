// LockTable: advisory, exclusive, expiring locks on paths, for agents that
// coordinate through the control socket (`nexus lock ...`).
//
// A lock is held by a subject until it is released or its TTL runs out;
// nobody, not even the holder, acquires a held lock again. Expired locks
// free themselves: every call first drops what has expired. With Persist,
// the table is also kept in a file, rewritten (temp file + rename) after
// every acquire and release, so locks survive a daemon restart with the
// time they have left; without it they end with the daemon. Locks do not
// stop anyone from opening the file; they are for cooperation.
//
// Threading: thread-safe. Time is passed in by the caller (wall-clock
// nanoseconds, the same clock for every call and across restarts), so tests
// need no sleeps.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"

namespace nexus {

struct LockInfo {
  std::string path;
  std::string holder;
  int64_t acquired_ns = 0;
  int64_t expires_ns = 0;
};

class LockTable {
 public:
  // EBUSY (naming the holder and expiry) if `path` is held; EINVAL for a
  // TTL that is not positive.
  Result<LockInfo> Acquire(const std::string& path, const std::string& holder, int64_t ttl_ns,
                           int64_t now_ns);
  // ENOENT if not held; EACCES if held by someone else and not `force`.
  Status Release(const std::string& path, const std::string& holder, bool force, int64_t now_ns);
  // ENOENT if not held.
  Result<LockInfo> Info(const std::string& path, int64_t now_ns);
  std::vector<LockInfo> List(int64_t now_ns);
  size_t size(int64_t now_ns);

  // Loads the locks kept in `path` (none if it does not exist), dropping
  // those expired by `now_ns`, and keeps the table there from now on. A
  // file that cannot be read is EINVAL naming the problem: it is moved
  // aside to PATH.bad and the table starts empty, still kept in `path`.
  Status Persist(const std::string& path, int64_t now_ns);

 private:
  void DropExpired(int64_t now_ns) REQUIRES(mu_);
  void SaveLocked() REQUIRES(mu_);  // failures are logged: the table in memory stays right

  Mutex mu_;
  std::string path_ GUARDED_BY(mu_);  // empty: not kept in a file
  std::map<std::string, LockInfo> locks_ GUARDED_BY(mu_);
  int64_t next_expiry_ns_ GUARDED_BY(mu_) = INT64_MAX;  // earliest expiry in locks_
};

}  // namespace nexus
