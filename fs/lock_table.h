// LockTable: advisory, exclusive, expiring locks on paths, for agents that
// coordinate through the control socket (`nexus lock ...`).
//
// A lock is held by a subject until it is released or its TTL runs out;
// nobody, not even the holder, acquires a held lock again. Expired locks
// free themselves: every call first drops what has expired. The table is
// kept in memory: locks are leases on a running daemon and end with it.
// They do not stop anyone from opening the file; they are for cooperation.
//
// Threading: thread-safe. Time is passed in by the caller (nanoseconds on
// any monotonic-enough clock, the same one for every call), so tests need
// no sleeps.
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

 private:
  void DropExpired(int64_t now_ns) REQUIRES(mu_);

  Mutex mu_;
  std::map<std::string, LockInfo> locks_ GUARDED_BY(mu_);
  int64_t next_expiry_ns_ GUARDED_BY(mu_) = INT64_MAX;  // earliest expiry in locks_
};

}  // namespace nexus
