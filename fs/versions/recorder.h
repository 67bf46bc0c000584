// Recorder: feeds the version store from the filesystem's change events.
//
// Subscribed to the ChangeBus, it queues what it is told (never blocking the
// bus) and one thread turns the queue into store calls, in event order:
//   kContentClosed / kContentSynced  Capture of the content that close (or
//                                    fsync) left, kept by the backend until
//                                    captured (the event's content_gen,
//                                    Backend::OpenClosed): every close is
//                                    its own version even when the next
//                                    write follows at once; without a
//                                    generation, the file at its path (a
//                                    new file's first close included)
//   kCreated                         Capture if it is a new hard link
//   kAttrChanged (regular file)      Capture when size or the executable bit
//                                    differ from the last capture (truncate,
//                                    chmod +x), else nothing; nothing for a
//                                    file without history (still being
//                                    written: its close records it)
//   kRenamed                         Rename, then Capture of the target (the
//                                    source's close may not be captured yet);
//                                    across zones: Remove + Capture
//   kRemoved                         Remove
// Captures of one path queued back to back are coalesced, except those of
// numbered closes (each is a version). Files are read
// through the Namespace as root (so the content is what the mount shows);
// provenance comes from the event: the subject of the caller's principal
// (the one the change's access check used), its uid and pid, and the
// command and NEXUS_AGENT_ID / NEXUS_TASK_ID the bus read from /proc when
// the change was published (see fs/process_info.h).
//
// Paths under /.nexus (the read-only history tree) and inside any .git
// directory are never versioned.
//
// Crash safety: a queued event is in memory only (a shutdown drops the queue
// too, so stopping never waits for captures); Start() therefore reconciles: every regular file whose size or
// mtime is newer than its latest version's capture is captured again (content equal to that version records
// nothing).
//
// Threading: OnChange runs on the bus's dispatcher thread; everything else
// may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <span>
#include <unordered_map>

#include "base/mutex.h"
#include "fs/change_events.h"
#include "fs/namespace.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"

namespace nexus::versions {

// Whether `path` (a namespace path) is never versioned nor logged: under
// /.nexus, inside any .git directory, or a fork merge's temporary file
// (layout::kMergeTempPrefix).
bool IsExcludedPath(const std::string& path);

// What the recorder did with one event, for an observer (the operations
// log, ops/op_feed.h), reported on the worker after the store call.
struct Applied {
  enum class Op { kCapture, kRemove, kRename } op = Op::kCapture;
  std::string path;             // namespace path; kRename: the new path
  std::string old_path;         // kRename: the old path
  uint32_t version_before = 0;  // the path's latest version before (0: none)
  uint32_t version_after = 0;   // kCapture: the version the content is now
  bool recorded = false;        // kCapture: a new version was journaled
  std::string note;             // the version's note ("rollback to v3", "restore")
  Provenance who;
  int64_t time_ns = 0;      // when the change happened (the event's time)
  int64_t journal_seq = 0;  // the version store's change sequence (0: none)
};

class Recorder {
 public:
  struct Options {
    VersionStore* store = nullptr;  // must outlive the recorder
    Namespace* ns = nullptr;        // must outlive the recorder
    // Told about every store call applied (never for a coalesced event);
    // runs on the worker and must not block. Null: nobody.
    std::function<void(const Applied&)> on_applied;
    size_t max_queue = 1 << 20;  // events beyond this are dropped (logged) and
                                 // caught up by the next reconcile
  };

  explicit Recorder(Options options);
  // Stops promptly: finishes the store call in progress (a streamed
  // capture is cancelled between chunks) and leaves what is queued to the
  // next start's reconcile.
  ~Recorder();
  // The same, before the recorder goes: nothing is captured from now on
  // (Drain returns at once). Call from one thread; idempotent.
  void Stop();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Starts the worker; with `reconcile`, it first captures files changed
  // since their last version and marks deleted what is gone (see above).
  void Start(bool reconcile);

  // The ChangeBus subscriber.
  void OnChange(const ChangeEvent& event);

  // Returns once every event queued before the call is applied, then
  // commits the store's journal.
  Status Flush();
  // Returns once every event queued before the call is applied.
  void Drain();

  // Events queued, not yet applied.
  size_t Pending() const;
  uint64_t Captured() const { return captured_.load(); }
  uint64_t Failed() const { return failed_.load(); }

 private:
  struct Item {
    enum class Op { kCapture, kCaptureIfChanged, kCaptureLink, kRemove, kRename } op = Op::kCapture;
    std::string path;
    std::string new_path;  // kRename
    Provenance who;
    int64_t time_ns = 0;  // the event's time (0: none, e.g. a reconcile)
    Ino ino = 0;          // kCapture of a numbered close: the inode
    uint64_t gen = 0;     // ... and the close's content generation
  };
  struct Walked;

  void Push(Item item);
  void Run(bool reconcile);
  // `later`: the items of the batch after this one.
  void Apply(const Item& item, std::span<const Item> later);
  // Where the file at `path` is moved by the renames queued after it (in
  // `later`, then in the queue): `path` itself when none.
  std::string RenamedBy(std::string path, std::span<const Item> later);
  // Captures the regular file at `ns_path`; with `only_if_changed`, only if
  // its size or executable bit differ from its last capture.
  void CaptureNs(const std::string& ns_path, const Provenance& who, bool only_if_changed);
  // Captures the content close `gen` of inode `ino` left, as version of
  // `ns_path` (its path at the close); false when the backend keeps no such
  // content (the file is then captured as it is now).
  bool CaptureClosed(const std::string& ns_path, const Provenance& who, Ino ino, uint64_t gen);
  // After a capture of `ns_path`: remembers its size and executable bit,
  // counts it and tells options_.on_applied.
  void NoteCaptured(const std::string& ns_path, const CaptureResult& r, const Provenance& who, uint64_t size,
                    bool exec);
  // Captures every regular file at or below `ns_path`.
  void CaptureTree(const std::string& ns_path, const Provenance& who);
  // Captures what changed since its last version, marks deleted what is gone.
  void ReconcileAll();
  // Tells options_.on_applied (when set) about a store call just applied.
  void Report(Applied applied);

  Options options_;
  mutable Mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<Item> queue_ GUARDED_BY(mu_);
  uint64_t queued_seq_ GUARDED_BY(mu_) = 0;
  uint64_t applied_seq_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  bool busy_ GUARDED_BY(mu_) = false;     // the worker is applying a batch
  bool running_ GUARDED_BY(mu_) = false;  // the worker runs
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> captured_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> dropped_{0};
  // Size and executable bit of each path's last capture (worker only).
  std::unordered_map<std::string, std::pair<uint64_t, bool>> last_;
  int64_t applying_time_ns_ = 0;  // the time of the item being applied (worker only)
  // Renames queued, and in the rest of the batch being applied (worker
  // only): RenamedBy looks only where there are some.
  size_t queued_renames_ GUARDED_BY(mu_) = 0;
  size_t batch_renames_ = 0;
  std::thread worker_;
};

}  // namespace nexus::versions
