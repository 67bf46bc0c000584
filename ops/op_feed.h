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
// Writes: with versioning on, a write is logged when the version store has
// journaled it, so it carries the version it produced (version_after) and
// the one before. The journal (the store's `changes` table, by seq) is the
// one source of versioned writes: the recorder's reports (OnVersionApplied)
// wake the feed and lend it the change's event time, and the feed logs each
// new version ('W' row) after its watermark: a plain capture as a write, a
// version whose note is "rollback to vN" or "restore" as rollback or restore
// (those are recorded by the store itself, not by the recorder). Removals
// and renames come from the bus; an unlink's version_before is the file's
// latest version, deleted or not. With versioning off, a write is logged
// from its close event.
//
// Crash safety: a write whose version reached the journal is never lost:
// the feed keeps, in the log's meta ("journal_seq"), the journal sequence it
// has logged up to, and Start() logs every new version after it (a kill -9
// between capture and append loses nothing; at worst a write is logged
// twice). On a log's first start the watermark is the journal's end: history
// from before the log is not replayed. Other operations are in memory for at
// most one batch window.
//
// Nothing inside /.nexus or a .git folder is logged (as for versions).
//
// Threading: OnChange runs on the bus's dispatcher thread, OnVersionApplied
// on the recorder's worker; both only queue. Flush may be called from any
// thread.
#pragma once

#include <cstdint>
#include <functional>
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
    // Called first by Flush: waits until the change events made so far have
    // reached the feed (the bus drained, the recorder's captures applied).
    // Null: nothing upstream to wait for.
    std::function<void()> drain_upstream;
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
