// VersionStore: every change to a file, kept as git objects.
//
// A bare git repository (DIR/versions.git) holds the content; a SQLite index
// (DIR/versions.db, see version_db.h) holds per-path version rows, the change
// journal and snapshots. Each zone's history is the branch refs/heads/<zone>
// (zone "root" is the native tree, "local" the workspace). The store only
// ever opens its own repository: a workspace's .git is plain data to it.
//
// Life of a version: Capture (called off the FUSE path when a modified file
// was closed or fsync'd) turns the content into a git blob — appended to the
// group's pending pack (pack_store.h) when it fits in memory, streamed into
// a loose object when larger — and journals a version row at once, so
// History shows it immediately. The committer thread turns journaled records
// into commits on the zone's branch every commit_window, or as soon as
// commit_batch records are pending; the group's pack (blobs, trees, commits),
// its large blobs and the index are synced to disk once per group. A record
// not yet in a commit survives a crash and is committed at the next Open.
// See docs/versions.md.
//
// Paths are relative to the zone ("src/main.cc"); a leading '/' is ignored.
// Zones follow layout::ValidateZone ("root" or a zone name). Errors: ENOENT
// missing file/version/snapshot, EINVAL bad arguments, EIO storage failures;
// a message names a file by its namespace path ("/zone/local/src/main.cc"),
// which is what callers know it by.
//
// Threading: Capture/Remove/Rename/Rollback/Restore are meant for one
// background thread (they serialise on an internal lock if called from more).
// Every query (History, Get, Diff, Stats, snapshot listing and browsing,
// ReadBlob) may be called from any number of threads concurrently: each
// call borrows a private SQLite connection and git repository handle from a
// pool. Gc, Export and snapshot restore may run on any thread; Gc blocks
// captures while it sweeps. The destructor must not race other calls.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/sqlite_db.h"
#include "base/status.h"
#include "fs/versions/git_util.h"
#include "fs/versions/pack_store.h"
#include "fs/versions/provenance.h"

namespace nexus::versions {

struct Change;
struct ZoneTree;

// git file modes of captured files.
inline constexpr uint32_t kModeFile = 0100644;
inline constexpr uint32_t kModeExecutable = 0100755;

// One version of a file.
struct Version {
  uint32_t number = 0;  // 1, 2, 3, ... per file, continuing across renames
  std::string zone;
  std::string path;  // the path the content was captured under
  std::string blob;  // git blob id (40 hex)
  uint64_t size = 0;
  uint32_t mode = kModeFile;
  int64_t time_ns = 0;  // wall-clock time of the capture
  Provenance provenance;
  std::string note;    // "rollback to v3", "restore"; empty for a capture
  std::string commit;  // the commit it landed in; empty while journaled
};

struct FileHistory {
  std::string zone;
  std::string path;  // the current path
  bool deleted = false;
  std::vector<Version> versions;  // oldest first
};

struct CaptureResult {
  bool recorded = false;  // false: content equals the latest version
  uint32_t version = 0;   // the new version, or the latest one when not recorded
  std::string blob;
};

// Rollback/Restore: content the caller writes back through the filesystem.
// The store has already recorded it as version `version` (when `recorded`),
// so capturing the written-back file adds no further version.
struct WriteBack {
  std::string content;
  uint32_t mode = kModeFile;
  uint32_t version = 0;
  bool recorded = false;
};

enum class DiffMode { kContent, kMetadata };

struct StoreStats {
  uint64_t objects = 0;        // git objects of every kind in the repository
  uint64_t disk_bytes = 0;     // bytes those objects take on disk (compressed)
  uint64_t logical_bytes = 0;  // sum of the sizes of all versions
  uint64_t unique_bytes = 0;   // sum of the sizes of distinct contents
  double dedup_ratio = 1.0;    // logical_bytes / unique_bytes
  uint64_t files = 0;
  uint64_t versions = 0;
};

// Gc keeps a version when it is among the newest keep_versions of its file
// OR younger than keep_days; it drops the rest.
struct GcPolicy {
  uint32_t keep_versions = 10;  // >= 1: a file's latest version is always kept
  uint32_t keep_days = 30;
};

struct GcResult {
  uint64_t versions_dropped = 0;
  uint64_t commits_rewritten = 0;
  uint64_t objects_removed = 0;
  uint64_t bytes_removed = 0;  // on-disk bytes of the removed objects
};

struct SnapshotInfo {
  std::string id;
  std::string description;
  int64_t time_ns = 0;
  std::vector<std::string> zones;
  std::string commit;      // parentless commit whose tree has one subtree per zone
  bool automatic = false;  // taken by RestoreSnapshot, to undo it
};

// A file in a snapshot or a snapshot directory entry.
struct EntryInfo {
  std::string path;   // "<zone>/<path>" for Entries; the bare name for ListDir
  std::string oid;    // blob id (file) or tree id (directory)
  uint32_t mode = 0;  // git mode: 0100644, 0100755, 040000
  uint64_t size = 0;  // content size; 0 for a directory
  bool IsDir() const { return mode == 040000; }
};

// A name in a directory of the versioned paths of a zone (ListVersionedDir,
// StatVersionedPath). A path can be both: a file that was versioned there and
// later replaced by a directory of versioned files.
struct VersionedEntry {
  std::string name;   // one path component
  bool file = false;  // a file (live or deleted) has history at exactly this path
  bool dir = false;   // files (live or deleted) have history below this path
};

// One step of a snapshot restore.
struct RestoreChange {
  enum class Kind { kWrite, kDelete };
  Kind kind = Kind::kWrite;
  std::string zone;
  std::string path;
  std::string blob;  // kWrite only
  uint32_t mode = kModeFile;
};

// How a snapshot restore reaches the tree: the store never writes the
// filesystem itself. Called on the restoring thread, in order (deletions
// after writes), one file's content in memory at a time; a failure stops
// the restore (the automatic snapshot still allows undoing what was done).
class TreeWriter {
 public:
  virtual ~TreeWriter() = default;
  // Replaces the file's content (creating parents as needed).
  virtual Status Write(const std::string& zone, const std::string& path, uint32_t mode,
                       std::string_view content) = 0;
  virtual Status Remove(const std::string& zone, const std::string& path) = 0;
};

struct RestoreResult {
  std::string undo_snapshot;  // restoring it undoes this restore
  std::vector<RestoreChange> changes;
};

class VersionStore {
 public:
  struct Options {
    std::string dir;  // holds versions.git and versions.db; must exist
    std::chrono::milliseconds commit_window{200};
    size_t commit_batch = 1024;      // commit at once when this many records are pending
    bool run_committer = true;       // false: records stay journaled until Flush
    std::function<int64_t()> clock;  // wall-clock ns; default CLOCK_REALTIME
  };

  // Opens (creating if needed) the store; commits journal records a previous
  // run left uncommitted before returning.
  static Result<std::unique_ptr<VersionStore>> Open(Options options);
  // Stops the committer after committing what is journaled (when it runs).
  ~VersionStore();
  VersionStore(const VersionStore&) = delete;
  VersionStore& operator=(const VersionStore&) = delete;

  // ---- recording (one background thread) ----
  // Records the content readable from `fd` (read with pread from offset 0 to
  // its current size) as the next version of zone:path. Streams: memory use
  // does not grow with the file size. EAGAIN when the file changed size
  // while being read. The git mode comes from `file_mode` (st_mode of the
  // file as the namespace shows it) when given, else from fstat of `fd`.
  // `unchanged`, when given, is asked once the content is read: false makes
  // the capture EAGAIN without recording anything (the content may have
  // changed under the read).
  Result<CaptureResult> Capture(const std::string& zone, const std::string& path, int fd,
                                const Provenance& who, mode_t file_mode = 0,
                                const std::function<bool()>& unchanged = {});
  Result<CaptureResult> CaptureFile(const std::string& zone, const std::string& path,
                                    const std::string& host_path, const Provenance& who);
  // Marks zone:path (or every file under it, for a directory) deleted; the
  // history stays. ENOENT when nothing is versioned there.
  Status Remove(const std::string& zone, const std::string& path, const Provenance& who);
  // Moves the history of `from` (a file, or every file under a directory) to
  // `to`; a file versioned at `to` is marked deleted first.
  Status Rename(const std::string& zone, const std::string& from, const std::string& to,
                const Provenance& who);
  // Commits every journaled record now (on the calling thread).
  Status Flush();
  // Makes captures in progress and later ones fail with ECANCELED (checked
  // between chunks of a streamed file): for a prompt shutdown. The files
  // are captured again by the next start's reconcile.
  void CancelCaptures() { cancel_captures_.store(true, std::memory_order_relaxed); }
  // Lets captures run again after CancelCaptures.
  void ResumeCaptures() { cancel_captures_.store(false, std::memory_order_relaxed); }

  // ---- queries (any thread) ----
  Result<FileHistory> History(const std::string& zone, const std::string& path);
  Result<Version> GetVersion(const std::string& zone, const std::string& path, uint32_t n);
  Result<std::string> Get(const std::string& zone, const std::string& path, uint32_t n);
  // Writes version n's content to `fd` at its current offset.
  Status GetTo(const std::string& zone, const std::string& path, uint32_t n, int fd);
  // Unified diff of version a → b (text), "binary files differ: X → Y bytes"
  // for binary content, or a field-by-field summary in kMetadata mode.
  Result<std::string> Diff(const std::string& zone, const std::string& path, uint32_t a, uint32_t b,
                           DiffMode mode);
  Result<StoreStats> Stats();
  // Bytes [offset, offset+length) of blob `oid` (hex); short at the end.
  // Recently read blobs are cached, so sequential ranges are cheap.
  Result<std::string> ReadBlob(const std::string& oid, uint64_t offset, uint64_t length);
  // Zones with any history, sorted.
  Result<std::vector<std::string>> Zones();
  // The names directly inside directory `dir` ("" = the zone's top) among
  // every path of `zone` with history, deleted files included; sorted by
  // name (byte order). Empty when nothing is versioned below `dir`. Costs
  // one index seek per name, whatever the number of files below.
  Result<std::vector<VersionedEntry>> ListVersionedDir(const std::string& zone, const std::string& dir);
  // What has history at `path` itself and below it; for "" (the zone's top)
  // `dir` tells whether the zone has any history. ENOENT when neither.
  Result<VersionedEntry> StatVersionedPath(const std::string& zone, const std::string& path);
  // Writes the content of blob `oid` (hex) to `fd` at its current offset,
  // streamed: memory use does not grow with the blob's size.
  Status ReadBlobTo(const std::string& oid, int fd);
  // The latest version of every live file of `zone`, with `path` set to the
  // file's current path (it differs from the captured path after a rename).
  Result<std::vector<Version>> LatestVersions(const std::string& zone);
  // The number of the latest version of the live file at zone:path, 0 when
  // it has none (one index seek). With `even_if_deleted`, also of a file
  // removed since (the version an unlink took away).
  Result<uint32_t> LatestNumber(const std::string& zone, const std::string& path,
                                bool even_if_deleted = false);

  // ---- the journal, read by the operations log (ops/op_feed.h) ----
  // Journaled changes with seq > `after_seq`, oldest first, at most `limit`.
  Result<std::vector<Change>> ChangesAfter(int64_t after_seq, size_t limit);
  // The newest journal sequence, 0 when the journal is empty.
  Result<int64_t> LastSeq();

  // ---- undoing changes (the recording thread) ----
  // Records version n's content as a new version (note "rollback to vN")
  // and returns it for the caller to write back.
  Result<WriteBack> Rollback(const std::string& zone, const std::string& path, uint32_t n,
                             const Provenance& who);
  // Brings a deleted file back: records its latest content as a new version
  // (note "restore"), marks it live and returns the content.
  Result<WriteBack> Restore(const std::string& zone, const std::string& path, const Provenance& who);

  // ---- maintenance ----
  Result<GcResult> Gc(const GcPolicy& policy);
  // Writes an ordinary git repository at `dest` (must not exist or be an
  // empty directory): branch <zone> per zone, tags snapshot/<id>, HEAD on
  // "root" (or the first zone) checked out.
  Status Export(const std::string& dest);

  // ---- snapshots ----
  // Captures the given zones (all zones with history when empty) as they are
  // after committing the journal. Returns the new id.
  Result<std::string> CreateSnapshot(const std::vector<std::string>& zones, const std::string& description);
  Result<std::vector<SnapshotInfo>> ListSnapshots();
  Result<SnapshotInfo> GetSnapshot(const std::string& id);
  Result<std::vector<EntryInfo>> SnapshotEntries(const std::string& id);
  // Takes an automatic snapshot of the same zones, then applies through
  // `writer` the changes that bring them back to snapshot `id`. The writes
  // come back as ordinary captures.
  Result<RestoreResult> RestoreSnapshot(const std::string& id, TreeWriter& writer);
  Status DeleteSnapshot(const std::string& id);
  // Browsing: entries of directory `path` ("" = the zones) in snapshot `id`,
  // and one entry's attributes.
  Result<std::vector<EntryInfo>> ListSnapshotDir(const std::string& id, const std::string& path);
  Result<EntryInfo> StatSnapshotEntry(const std::string& id, const std::string& path);

 private:
  struct Reader;
  class ReaderLease;

  explicit VersionStore(Options options);
  // Run by Open before the store is shared, so without its locks.
  Status Init() NO_THREAD_SAFETY_ANALYSIS;
  Status Reconcile() NO_THREAD_SAFETY_ANALYSIS;
  int64_t Now() const;

  Result<ReaderLease> Borrow();
  Result<std::unique_ptr<Reader>> NewReader() const;
  Result<Version> LoadVersion(SqliteDb& db, const std::string& zone, const std::string& path, uint32_t n);
  Result<std::shared_ptr<const std::string>> LoadBlob(git_repository* repo, const std::string& oid);
  Status StreamBlob(git_repository* repo, const std::string& oid, int fd);

  // Recording (capture_mu_ held).
  Result<git_oid> WriteBlob(int fd, uint64_t size) REQUIRES(capture_mu_);
  Result<CaptureResult> RecordVersion(const std::string& zone, const std::string& path, const git_oid& blob,
                                      uint64_t size, uint32_t mode, const Provenance& who,
                                      const std::string& note) REQUIRES(capture_mu_);
  Status InsertChange(char op, const std::string& zone, const std::string& path, const std::string& old_path,
                      int64_t file_id, uint32_t n, const std::string& blob, uint64_t size, uint32_t mode,
                      const Provenance& who, const std::string& note, int64_t time_ns) REQUIRES(db_mu_);
  void NotePending(size_t n);

  // Committing (commit_mu_ held).
  Status CommitPending() REQUIRES(commit_mu_);
  Status SyncBlobs(const std::vector<Change>& changes) REQUIRES(commit_mu_);
  Result<ZoneTree*> ZoneTreeFor(const std::string& zone) REQUIRES(commit_mu_);
  void CommitterLoop() EXCLUDES(commit_mu_);

  // Snapshots and gc helpers (commit_mu_ held).
  Result<std::string> CreateSnapshotLocked(const std::vector<std::string>& zones,
                                           const std::string& description, bool automatic)
      REQUIRES(commit_mu_);
  Result<std::vector<std::string>> ZonesOf(SqliteDb& db);

  Options options_;
  std::string git_dir_;
  std::string db_path_;
  GitLibrary git_library_;

  // Recording: capture_mu_ serialises recorders and excludes Gc's sweep.
  // Lock order: commit_mu_ → capture_mu_ → db_mu_ → wake_mu_; the reader
  // pool's lock and cache_mu_ are leaves.
  Mutex capture_mu_ ACQUIRED_BEFORE(db_mu_);
  std::atomic<bool> cancel_captures_{false};
  OdbPtr odb_;                        // owned by no repository, so thread-safe: capture, gc, export
  std::shared_ptr<PackStore> packs_;  // set by Init; thread-safe

  Mutex db_mu_ ACQUIRED_BEFORE(wake_mu_);
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);  // the writer connection

  Mutex commit_mu_ ACQUIRED_BEFORE(capture_mu_);
  RepoPtr commit_repo_ GUARDED_BY(commit_mu_);
  std::map<std::string, std::unique_ptr<ZoneTree>> zone_trees_ GUARDED_BY(commit_mu_);

  // Committer thread.
  Mutex wake_mu_;
  std::condition_variable wake_cv_;
  size_t pending_ GUARDED_BY(wake_mu_) = 0;  // journaled, uncommitted records
  bool stop_ GUARDED_BY(wake_mu_) = false;
  std::thread committer_;

  // Reader connections with their repository handles (thread-safe).
  std::unique_ptr<ConnectionPool<Reader>> readers_;

  // Blob cache for ReadBlob: most recent first.
  static constexpr size_t kBlobCacheBytes = 64 << 20;
  Mutex cache_mu_;
  using CachedBlob = std::pair<std::string, std::shared_ptr<const std::string>>;
  std::list<CachedBlob> blob_cache_ GUARDED_BY(cache_mu_);
  std::unordered_map<std::string, std::list<CachedBlob>::iterator> blob_index_;  // cache_mu_
  size_t blob_cache_bytes_ GUARDED_BY(cache_mu_) = 0;
};

}  // namespace nexus::versions
