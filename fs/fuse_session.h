// FuseMount: one mounted libfuse3 low-level session serving a FuseContext.
//
// Lifecycle: Create() mounts; Serve() runs the multithreaded loop until the
// filesystem is unmounted or SIGTERM/SIGINT/SIGHUP arrives (libfuse's
// handlers end the loop; requests already being processed finish first);
// the destructor unmounts and frees the session.
//
// Signals: the handlers are process-wide. Threads that are not FUSE workers
// must block these signals so that delivery interrupts the loop (see
// daemon/nexusd_main.cc).
#pragma once

#include <memory>
#include <string>

#include "fs/fuse_ops.h"

namespace nexus {

class FuseMount {
 public:
  struct Options {
    std::string mountpoint;
    std::string fsname = "nexusfs";
    bool allow_other = true;
    unsigned max_threads = 16;
    bool debug = false;
  };

  // `ctx` must outlive the mount.
  static Result<std::unique_ptr<FuseMount>> Create(FuseContext* ctx, const Options& options);
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  Status Serve();
  // Makes Serve() return as soon as a worker wakes (for tests and shutdown).
  void Exit();

 private:
  FuseMount(fuse_session* se, Options options) : se_(se), options_(std::move(options)) {}
  fuse_session* se_;
  Options options_;
};

// Makes `path` usable as a mount point: it must be an existing directory. A
// stale FUSE mount left by a killed daemon (ENOTCONN) is detached; a live
// mount is refused with a message saying what to do.
Status PrepareMountpoint(const std::string& path);

}  // namespace nexus
