// OpFeed: fills the operations log from the filesystem's change events,
// never on a FUSE thread.
//
// Subscribed to the ChangeBus (fs/change_events.h), it turns each event into
// an Operation (create, mkdir, symlink, link, unlink, rmdir, rename, chmod,
// chown, truncate, setxattr, removexattr, from the event's kind and details)
// with its provenance (subject, uid, pid, command, agent and task, as the
// version store records them), queues it without blocking the bus, and one
// thread appends the queue to the OpLog in batches (group commit).
//
// Writes: with versioning on, the write of a file is logged when the
// version store has captured it, so it carries the version it produced
// (version_after) and the one before; the versions Recorder reports each
// capture, removal and rename it applied (OnVersionApplied), with the
// journal sequence of the version store. Restores and rollbacks are logged
// as such. With versioning off, a write is logged from its close event.
//
// Crash safety: an operation whose version reached the version store's
// journal is never lost: the feed keeps, in the log's meta, the last journal
// sequence it logged, and Start() logs every journaled change after it (a
// kill -9 between capture and append loses no write). Other operations are
// in memory for at most one batch window.
//
// Nothing inside /.nexus or a .git folder is logged (as for versions).
//
// Threading: OnChange runs on the bus's dispatcher thread, OnVersionApplied
// on the recorder's worker; both only queue. Flush may be called from any
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "fs/change_events.h"
#include "ops/operation.h"

namespace nexus::versions {
class VersionStore;
struct Applied;
}  // namespace nexus::versions

namespace nexus::ops {

class OpLog;

class OpFeed {
 public:
  struct Options {
    OpLog* log = nullptr;                     // must outlive the feed
    versions::VersionStore* store = nullptr;  // null: versioning off
    size_t max_queue = 1 << 20;               // beyond: dropped and counted (logged)
  };
  explicit OpFeed(Options options);
  ~OpFeed();  // appends what is queued, then stops
  OpFeed(const OpFeed&) = delete;
  OpFeed& operator=(const OpFeed&) = delete;

  // Catches up from the version store's journal, then starts the writer.
  Status Start();
  // The ChangeBus subscriber.
  void OnChange(const ChangeEvent& event);
  // The versions Recorder's observer.
  void OnVersionApplied(const versions::Applied& applied);
  // Returns once everything queued before the call is committed.
  Status Flush();

  uint64_t Logged() const;
  uint64_t Dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::ops
