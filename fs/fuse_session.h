// FuseMount: one mounted libfuse3 low-level session serving a FuseContext.
//
// Lifecycle: Create() mounts; Serve() runs the multithreaded loop until the
// filesystem is unmounted or RequestStop() is called; the destructor
// unmounts and frees the session. Signals are not handled here: the daemon
// watches them on a thread of its own and calls RequestStop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "fs/fuse_ops.h"
#include "fs/kernel_cache.h"

namespace nexus {

class FuseMount final : public KernelCache {
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
  ~FuseMount() override;
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  Status Serve() EXCLUDES(stop_mu_);
  // Asks Serve() to return, from any thread but a FUSE worker: first flushes
  // data the kernel still caches (syncfs, served by the running workers, for
  // at most kFlushTimeout), then ends the loop once the requests in flight
  // are answered. Returns when Serve() has returned, or after kAbortAfter,
  // having aborted the kernel connection so that every request fails and
  // the loop ends (a worker wedged in a request must not wedge the stop).
  // Never waits on a request of its own once the loop may have ended: the
  // kernel would hold it until the session is closed, after this returns.
  void RequestStop() EXCLUDES(stop_mu_);
  static constexpr std::chrono::seconds kFlushTimeout{10};
  static constexpr std::chrono::seconds kAbortAfter{20};

  // KernelCache: tell the kernel that something changed behind its back.
  // Best effort: an entry the kernel does not hold is nothing to drop.
  // Once the loop has ended they send nothing (see CloseNotifications).
  void InvalidateInode(Ino ino) override;
  void InvalidateEntry(Ino parent, const std::string& name) override;
  // Makes the kernel revalidate every name it caches for this mount on its
  // next use (FUSE_NOTIFY_INC_EPOCH, Linux 6.16+): the kernel only counts
  // it (no lock is taken), so a FUSE worker may send it before it replies.
  // ENOSYS/EINVAL when the kernel does not know it.
  Status IncrementEpoch();
  Status RevalidateNames() override { return IncrementEpoch(); }

 private:
  FuseMount(fuse_session* se, Options options, unsigned connection)
      : se_(se), options_(std::move(options)), connection_(connection) {}
  // Aborts the kernel connection (/sys/fs/fuse/connections/N/abort, else a
  // forced unmount): pending and future requests fail with ENOTCONN.
  void Abort();
  // Entry invalidations take the directory's lock in the kernel. Once the
  // loop has ended nobody answers requests, so one that waits for a process
  // holding that lock over a request would wait forever, and with it
  // whatever waits for the notifying thread (the stop). When the loop ends,
  // this stops new notifications, waits a moment for those in flight and,
  // if one is stuck, aborts the kernel connection so that it returns; it
  // also keeps the session's fd from being closed under a notification.
  void CloseNotifications();
  // A notification in flight, or none when they are closed (`ok` false).
  struct Notifying {
    explicit Notifying(FuseMount* m);
    ~Notifying();
    Notifying(const Notifying&) = delete;
    Notifying& operator=(const Notifying&) = delete;
    FuseMount* mount;
    bool ok;
  };
  static constexpr std::chrono::milliseconds kNotifyDrain{1000};
  static constexpr std::chrono::seconds kNotifyAbortedDrain{5};
  std::atomic<int> notifying_{0};
  std::atomic<bool> notify_open_{true};
  std::atomic<bool> aborted_{false};  // the destructor detaches the mount itself
  fuse_session* se_;
  Options options_;
  const unsigned connection_;  // the kernel's connection number; 0 unknown
  Mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool serving_ GUARDED_BY(stop_mu_) = false;
};

// Makes `path` usable as a mount point: it must be an existing directory. A
// stale FUSE mount left by a killed daemon is detached (statfs, which the
// kernel never answers from cache, fails with ENOTCONN); a live mount is
// refused with a message saying what to do.
Status PrepareMountpoint(const std::string& path);

}  // namespace nexus
