// WatchHub: the file watches of the control socket (Files.watch). A
// ChangeBus subscriber that hands each change under a watched path to the
// watch's queue; the socket server's loop takes the queue and calls the
// client (rpc/server/service.cc, FilesImpl::watch).
//
// Per watch: a path prefix, a bounded queue (on overflow the queue is
// dropped and one "overflow" change of the watched path is delivered, so the
// client re-reads), and a wake-up the loop waits on. Nothing inside /.nexus
// or a .git folder is reported. Access is not checked here: the loop filters
// by the subject's read access when it delivers, so a revoke holds from the
// next change on.
//
// Threading: OnChange runs on the ChangeBus dispatcher thread and never
// blocks (one short lock per watch it matches; the wake-up is a cross-thread
// fulfiller). Add, Remove and a Watch's loop-side methods run on the socket
// server's event-loop thread. Lock order: mu_ -> Watch::mu_.
#pragma once

#include <kj/async.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "fs/change_events.h"

namespace nexus {

// One change as a watch reports it (rpc FileChange).
struct WatchedChange {
  std::string path;  // a rename: its old path
  std::string kind;  // "content", "created", "removed", "renamed", "attr", "overflow"
  std::string new_path;
  int64_t time_ns = 0;
};

// What `ev` is as a watched change, or nullopt for an event a watch never
// reports (no path, inside /.nexus or a .git folder, a removal a rename
// follows).
std::optional<WatchedChange> ToWatchedChange(const ChangeEvent& ev);

// Whether `change` concerns `prefix` ("/" watches everything).
bool ChangeIsUnder(const WatchedChange& change, const std::string& prefix);

class WatchHub {
 public:
  static constexpr size_t kDefaultMaxQueue = 1024;

  class Watch {
   public:
    Watch(std::string prefix, size_t max_queue) : prefix_(std::move(prefix)), max_queue_(max_queue) {}
    const std::string& prefix() const { return prefix_; }
    // Loop side: resolves once a change is queued (at once if one is).
    // One waiter at a time; must be called on the loop thread.
    kj::Promise<void> Next() EXCLUDES(mu_);
    // Loop side: the queued changes, in order; one "overflow" change of the
    // prefix instead when the queue overflowed since the last Take.
    std::vector<WatchedChange> Take() EXCLUDES(mu_);
    // Bus side.
    void Push(const WatchedChange& change) EXCLUDES(mu_);

   private:
    const std::string prefix_;
    const size_t max_queue_;
    Mutex mu_;
    std::deque<WatchedChange> queue_ GUARDED_BY(mu_);
    bool overflow_ GUARDED_BY(mu_) = false;
    // Set while the loop waits (Next); fulfilled (and cleared) by Push.
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake_ GUARDED_BY(mu_);
  };

  explicit WatchHub(size_t max_queue = kDefaultMaxQueue) : max_queue_(max_queue) {}

  // The ChangeBus subscriber.
  void OnChange(const ChangeEvent& ev) EXCLUDES(mu_);
  // A watch of `prefix` (a canonical namespace path), until Remove.
  std::shared_ptr<Watch> Add(const std::string& prefix) EXCLUDES(mu_);
  void Remove(const Watch* watch) EXCLUDES(mu_);
  size_t size() const { return count_.load(std::memory_order_relaxed); }

 private:
  const size_t max_queue_;
  Mutex mu_;
  std::vector<std::shared_ptr<Watch>> watches_ GUARDED_BY(mu_);
  std::atomic<size_t> count_{0};  // watches_.size(), read without the lock
};

}  // namespace nexus
