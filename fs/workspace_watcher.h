// WorkspaceWatcher: notices changes made to the workspace directory on the
// host side (by programs that do not go through the mount) and publishes
// them on the change bus like the mount's own, so they are versioned,
// indexed and logged; and drops what the kernel caches for those names.
//
// How: fanotify with directory file handles and names (FAN_REPORT_DFID_NAME,
// Linux 5.17+ for FAN_RENAME), one inode mark per directory of the
// workspace (placed at start on the watcher's thread, and on every
// directory created or moved in later). Each event names the acting
// process: events of nexusd itself (its FUSE workers writing the host files
// for the mount) are skipped, so a change is published once, by whoever
// made it. Published: kCreated, kRemoved, kRenamed (a move in from outside
// the workspace is a creation, out of it a removal), kContentClosed on
// close after writing (a host program that writes without closing is seen
// at its close), kAttrChanged. The caller is the acting process (its pid,
// uid and, read by the bus, its command); the mount id is kNone, as for the
// control socket, so every per-subject mount drops its caches too.
//
// Needs CAP_SYS_ADMIN (nexusd as root): elsewhere Start is ENOSYS with why,
// and host-side changes stay unnoticed (docs/versions.md).
//
// Threading: one thread of its own reads the fanotify queue; Start,
// SetKernelCache and the destructor on any one thread. It never runs on a
// FUSE worker and takes no lock of the backend but through KnownIno.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "fs/change_events.h"
#include "fs/kernel_cache.h"
#include "fs/workspace_backend.h"

namespace nexus {

class WorkspaceWatcher {
 public:
  // `backend` and `sink` must outlive the watcher. ENOSYS when fanotify
  // cannot report names here (not root, an old kernel).
  static Result<std::unique_ptr<WorkspaceWatcher>> Start(WorkspaceBackend* backend, std::string mount_path,
                                                         ChangeSink* sink);
  ~WorkspaceWatcher();
  WorkspaceWatcher(const WorkspaceWatcher&) = delete;
  WorkspaceWatcher& operator=(const WorkspaceWatcher&) = delete;

  // The main mount, whose entries and attributes are dropped for each host
  // change (null: none, e.g. while unmounting).
  void SetKernelCache(KernelCache* cache);
  // "starting" while the first marks are placed, then "watching"; "stopped"
  // after an error (logged).
  std::string State() const;
  uint64_t published() const { return published_.load(); }

 private:
  struct Name {
    std::string dir_key;  // the directory's file handle
    std::string name;
  };
  WorkspaceWatcher(WorkspaceBackend* backend, std::string mount_path, ChangeSink* sink, int fan_fd,
                   int stop_fd);
  void Run();
  // Marks `rel` (relative to the workspace, "" for its root) and every
  // directory below it; with `publish`, also publishes what it holds as
  // created (a tree moved or copied in before its marks were placed).
  void MarkTree(const std::string& rel, bool publish);
  bool Mark(const std::string& rel);
  void HandleEvent(uint64_t mask, pid_t pid, const Name* name, const Name* old_name, const Name* new_name);
  // The relative path of `n`, "" with *ok false when its directory is not
  // one of ours.
  std::string RelPath(const Name& n, bool* ok) const;
  void Publish(ChangeEvent::Kind kind, pid_t pid, const std::string& rel, const std::string& new_rel = {},
               bool dir = false);
  std::string Abs(const std::string& rel) const;

  WorkspaceBackend* const backend_;
  const std::string mount_path_;
  ChangeSink* const sink_;
  const int fan_fd_;
  const int stop_fd_;  // eventfd: the destructor wakes the thread
  // Directory handle -> path relative to the workspace; the thread's only.
  std::map<std::string, std::string> dirs_;
  mutable Mutex mu_;
  KernelCache* cache_ GUARDED_BY(mu_) = nullptr;
  std::atomic<int> state_{0};  // 0 starting, 1 watching, 2 stopped
  std::atomic<uint64_t> published_{0};
  std::thread thread_;
};

}  // namespace nexus
