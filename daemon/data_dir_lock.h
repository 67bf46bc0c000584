// DataDirLock: at most one nexusd per data dir.
//
// Holds an exclusive flock on DIR/nexusd.lock for the daemon's lifetime and
// records the holder's pid in it. The kernel drops the lock when the process
// dies, however it dies, so a crashed daemon never blocks the next start.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"

namespace nexus {

class DataDirLock {
 public:
  // Fails with EBUSY and a message naming the holder's pid when another
  // process holds the lock.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace nexus
