// NativeBackend: the tree NexusFS owns, served at "/".
//
// Metadata (inodes, names, modes, owners, times, link counts, symlink
// targets, xattrs) lives in memory while the daemon runs and is persisted to
// SQLite by a committer thread in group commits (fs/meta_store.h). File
// contents live in backing files DIR/data/G/<ino> (G = ino / 4096 in hex, so
// consecutive creates share a directory), one per inode: hard links share one
// backing file and sparse files stay sparse.
//
// Durability: every change reaches the database within `commit_interval`
// (default 5 ms) as one consistent snapshot. fsync/fsyncdir wait until all
// changes made before the call are committed and synced; fsync also syncs
// the backing file. After a crash the tree is the last committed snapshot;
// a start after an unclean shutdown reconciles backing files with it.
//
// Threading: all public methods are thread-safe. One mutex guards the
// in-memory tree; no disk I/O other than cheap backing-file syscalls happens
// under it, and SQLite is only touched by the committer thread.
//
// Lock order: copy_mu_ (forks: copy-ups and kept origins), then mu_ (the
// committer takes mu_ briefly to snapshot); a fork's mu_ before its source's
// (ForkSource calls are made with the fork's mu_ held).
#pragma once

#include <fcntl.h>
#include <sys/statvfs.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/mutex.h"
#include "fs/backend.h"
#include "fs/change_events.h"
#include "fs/fork_point.h"
#include "fs/meta_store.h"

namespace nexus {

// A fork (fs/fork_point.h, docs/forks.md) is a NativeBackend opened with
// Options::lower: its tree starts as directory `lower_root` of that source
// and is materialized lazily; its own data dir also holds origin/, the
// fork-point content of files the source changed or removed since.
class NativeBackend final : public Backend, public ForkSource {
 public:
  struct Options {
    std::string data_dir;          // must exist; holds meta.db and data/
    uint16_t backend_id = 0;       // 0 for the root tree
    ChangeSink* sink = nullptr;    // may be null; must outlive the backend
    std::string mount_path = "/";  // where the root appears in the namespace (event paths)
    int commit_interval_ms = 5;    // group-commit window
    uid_t root_uid = 0;            // owner of a freshly created root directory
    gid_t root_gid = 0;
    mode_t root_mode = 0755;
    // A fork: the tree starts as directory `lower_root` of `lower` as it is
    // at Open (the first Open creates the fork; later ones reopen it and
    // must pass the same source). Null: an ordinary tree.
    ForkSource* lower = nullptr;
    Ino lower_root = 0;
  };

  static Result<std::unique_ptr<NativeBackend>> Open(const Options& options);
  // Commits everything, marks the shutdown clean and stops the committer.
  ~NativeBackend() override;

  // Commits all changes made so far and syncs them; for shutdown and tests.
  Status Sync();
  uint64_t InodeCount() const;
  uint64_t DatabaseBytes() const { return store_->DiskBytes(); }

  uint16_t id() const override { return id_; }
  Ino root() const override { return MakeIno(id_, 1); }

  Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name) override;
  void Forget(Ino ino, uint64_t nlookup) override;
  Result<Attr> GetAttr(Ino ino) override;
  Result<Attr> SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh) override;
  Result<std::string> ReadLink(Ino ino) override;
  Result<Attr> MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                     dev_t rdev) override;
  Result<Attr> MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) override;
  Result<Attr> Symlink(const Caller& caller, const std::string& target, Ino parent,
                       const std::string& name) override;
  Result<Attr> Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name) override;
  Status Unlink(const Caller& caller, Ino parent, const std::string& name) override;
  Status RmDir(const Caller& caller, Ino parent, const std::string& name) override;
  Status Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                const std::string& new_name, unsigned flags) override;
  Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags) override;
  Result<Created> Create(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                         int flags) override;
  void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) override;
  Status Fsync(FileHandle& fh, bool datasync) override;
  Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) override;
  void Release(std::unique_ptr<FileHandle> fh) override;
  Status Flush(FileHandle& fh) override;
  void BeforeWrite(FileHandle& fh) override;
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino) override;
  Status FsyncDir(Ino ino) override;
  Result<struct statvfs> StatFs() override;
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags) override;
  Result<std::string> GetXattr(Ino ino, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(Ino ino) override;
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) override;
  std::string PathOf(Ino ino) const override;
  Result<ClosedContent> OpenClosed(Ino ino, uint64_t gen) override;
  bool ClosedStillLive(Ino ino, uint64_t gen) override;
  void ClosedCaptured(Ino ino, uint64_t gen) override;
  std::vector<LeftClose> ClosedLeftOver() override;

  // ForkSource (fs/fork_point.h).
  Ino ParentOf(Ino ino) const override;
  Result<std::vector<SourceEntry>> ListForFork(Ino dir) override;
  Result<SourceEntry> StatForFork(Ino ino) override;
  Result<int> OpenContent(Ino ino) override;
  std::vector<Ino> OpenForWriting(Ino dir) override;

  // Forks only (EINVAL on an ordinary tree).
  //
  // Keeps the fork point before the source changes: `chain` is the source
  // inode about to change followed by its ancestors up to the source's root
  // (ForkSource::ParentOf, computed once by the caller for every fork of the
  // source); the fork ignores a change outside what it still reads from the
  // source, and otherwise materializes what the change would alter (and, for
  // kEntries, keeps the content of the named entry if the change may remove
  // it) before returning. Committed (not necessarily synced) on return.
  Status PreserveBefore(PreChange kind, const std::vector<Ino>& chain, std::string_view name);
  // Everything the fork changed since its fork point, directories included,
  // each path once, sorted by path (so a directory comes before what it
  // holds). A directory renamed before it was ever looked into is one
  // kRenamed entry (its files, unchanged, are not listed).
  Result<std::vector<ForkChange>> Changes();
  // A read-only descriptor on the fork-point content of source inode
  // `origin` (a regular file, or a symlink's target as bytes); the caller
  // closes it.
  Result<int> OpenOrigin(Ino origin);
  // The fork's own data: bytes of copied-up and created files and of kept
  // origin content (what `fork info` reports and gc frees).
  uint64_t OwnBytes() const;

 private:
  struct Node {
    Attr attr;                                         // attr.ino is the FUSE-visible number
    std::string target;                                // symlinks
    std::map<std::string, Ino, std::less<>> children;  // dirs: name -> local ino
    // The primary name: local ino of the directory holding it and the name
    // there (every node; a hard-linked file keeps the first of its names
    // that still exists). parent 0: no name left. Dirs have exactly one.
    Ino parent = 0;
    std::string name;
    std::map<std::string, std::string, std::less<>> xattrs;
    uint64_t lookups = 0;        // kernel references (FUSE lookup count)
    uint32_t open_count = 0;     // open file handles
    bool content_dirty = false;  // written since the last close of all handles
    uint32_t write_opens = 0;    // open handles with write access (ForkSource::OpenForWriting)
    // Forks: the source inode this node came from (0: created in the fork);
    // a directory still listing its origin (not yet materialized); a regular
    // file still reading its origin's content (no backing file of its own);
    // a file copied up (its bytes may differ from the origin's).
    Ino origin = 0;
    bool lazy = false;
    bool lower_content = false;
    bool copied_up = false;
    // Descriptors of open handles reading the origin's content: moved onto
    // the fork's own content (dup2) when the file is copied up or kept.
    std::vector<int> lower_fds;
    // st_blocks of the backing file, cached by Stat until MarkInode (every
    // change to the inode, including each write) drops it: a stat then
    // costs no syscall.
    mutable uint64_t blocks = 0;
    mutable bool blocks_valid = false;
    // The backing file holds exactly what close number `closed_gen` left and
    // the recorder has not captured it yet (0: nothing to keep): the next
    // change to the content keeps it first (KeepClosedBefore).
    uint64_t closed_gen = 0;
    // Descriptors of the open handles on the backing file (not a fork's
    // origin readers, which are in lower_fds): moved onto a new backing file
    // (dup2) when a truncation keeps the old one as closed content.
    std::vector<int> handle_fds;
    // Handles that may change the content (opened for writing or with
    // O_TRUNC) and are in use: not counting those whose descriptors were all
    // closed (a FLUSH set FileHandle::flushed) and that wrote nothing since,
    // whose release is on its way. Readers never count: a close that leaves
    // no active writer is a version.
    uint32_t active_writers = 0;
    uint32_t writer_handles = 0;  // open handles that may change the content, in use or not
    // Written (or fallocated) since its content was last numbered, and by
    // whom last (the close's provenance).
    bool wrote = false;
    Caller last_writer;
  };

  // A fork's record of one origin at the fork point (what Changes() diffs against).
  struct ForkPoint {
    Ino parent = 0;  // origin of the directory holding it
    std::string name;
    mode_t mode = 0;
    std::string target;  // symlinks
  };

  NativeBackend(const Options& options, std::unique_ptr<MetaStore> store, int data_fd);
  // Run by Open before the backend is shared, so without mu_.
  Status LoadTree(bool* unclean) NO_THREAD_SAFETY_ANALYSIS;
  Status Reconcile() NO_THREAD_SAFETY_ANALYSIS;

  // Helpers below require mu_ held.
  Node* Find(Ino fuse_ino) REQUIRES(mu_);
  Result<Node*> FindDir(Ino fuse_ino) REQUIRES(mu_);
  Result<Node*> FindChild(Node* dir, const std::string& name) REQUIRES(mu_);  // ENOENT if absent
  // Creates a node named `name` in `parent` with one lookup reference. `local`
  // is a number reserved by the caller, or 0 to allocate one.
  Result<Node*> NewNode(const Caller& caller, Node* parent, const std::string& name, mode_t mode,
                        Ino local = 0) REQUIRES(mu_);
  void LinkName(Node* parent, const std::string& name, Node* child) REQUIRES(mu_);
  void UnlinkName(Node* parent, const std::string& name, Node* child, const timespec& now) REQUIRES(mu_);
  void MaybeFree(Node* node) REQUIRES(mu_);
  void MarkInode(Ino local) REQUIRES(mu_);
  void MarkDentry(Ino parent_local, const std::string& name) REQUIRES(mu_);
  void MarkXattr(Ino local, const std::string& name) REQUIRES(mu_);
  Attr Stat(const Node& node) const REQUIRES(mu_);
  bool IsAncestor(Ino maybe_ancestor_local, Ino local) const REQUIRES(mu_);
  // The namespace path of `node` by primary names; "" when it has no name.
  std::string PathOf(const Node& node) const REQUIRES(mu_);
  std::string PathOfLocal(Ino local) const REQUIRES(mu_);
  // After `node`'s primary name went away: adopt another of its names.
  void FindOtherName(Node* node) REQUIRES(mu_);
  // Opens the backing file of `local`; with O_CREAT also creates its group
  // directory when needed. Returns -1 with errno set on failure.
  int OpenBacking(Ino local, int flags) const;

  // Closed content (native_backend_closed.cc). Opens DIR/closed and lists
  // what a previous run kept and did not capture; after LoadTree,
  // AdoptLeftClosed keeps those of files that still have a name for the
  // recorder's reconcile (ClosedLeftOver) and drops the rest. Run by Open.
  Status OpenClosedDir() NO_THREAD_SAFETY_ANALYSIS;
  void AdoptLeftClosed() NO_THREAD_SAFETY_ANALYSIS;
  // Numbers the content `n` holds now (its last close, or an fsync) when
  // the sink keeps closed content; 0 otherwise.
  uint64_t NumberClosed(Node* n) REQUIRES(mu_);
  // Before another handle changes `n` (or its last name goes): content
  // written by handles that are all closed — their releases still on the
  // way — is a close; numbers and publishes it now.
  void NumberPendingClose(Node* n) REQUIRES(mu_);
  // Before a change to the content of `local`: if the backing file holds a
  // close the recorder has not captured, keeps it in DIR/closed — by a
  // rename when `replacing` (the change discards the content: O_TRUNC,
  // truncate to 0; open handles move to the new, empty backing file), else
  // by a copy made with mu_ released (copy_mu_ serialises the copies).
  // `pending`: first number a pending close (NumberPendingClose).
  Status KeepClosedBefore(Ino local, bool replacing, bool pending) EXCLUDES(mu_, copy_mu_);
  // The same for a node about to be freed (MaybeFree): a hard link, so the
  // backing file itself goes only after the removal is committed.
  void KeepClosedOnFree(Node* n) REQUIRES(mu_);
  // Keeps a copy of what `fd` holds now as generation `gen` of `local`.
  // `of_close`: `gen` is the node's closed_gen, and the copy is dropped if
  // it was captured meanwhile. `clone_only`: share extents or fail, never
  // copy the data.
  Status CopyClosed(int fd, Ino local, uint64_t gen, mode_t mode, bool of_close, bool clone_only = false)
      EXCLUDES(mu_);
  static std::string ClosedName(Ino local, uint64_t gen);
  // Up to this size an fsync keeps what it made durable by a copy; above
  // it, by a reflink where the filesystem has them.
  static constexpr uint64_t kSyncKeepMax = 4 << 20;
  std::atomic<bool> no_reflinks_{false};  // a clone failed as unsupported
  // Opens DIR/`name` (creating it) into `*fd` and lists the names in it.
  Status OpenSubdir(const std::string& name, int* fd, std::vector<std::string>* names) const;
  // The backing file of `local`, relative to DIR/data.
  static void BackingRel(Ino local, char (&buf)[40]);
  static Status Enoent(Ino ino);
  // A flushed writer is used again (a duplicate descriptor): active again.
  void Unidle(FileHandle& fh) EXCLUDES(mu_);
  // Whether a handle opened with `flags` may change the content.
  static bool Writer(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

  // Forks (fork_backend.cc). Lists a lazy directory's origin into nodes of
  // its own; a no-op for a materialized one.
  Status Materialize(Node* dir) REQUIRES(mu_);
  // A new read-only descriptor on the fork-point content of `origin`: the
  // kept copy, else the source's live content (the same until it changes).
  Result<int> OpenPointContent(Ino origin) REQUIRES(mu_);
  // Gives regular file `local` content of its own (a copy of its origin's,
  // nothing with `empty`) if it still reads its origin's.
  Status CopyUp(Ino local, bool empty) EXCLUDES(mu_, copy_mu_);
  // Copies the fork-point content of origin `origin` to origin/<origin>
  // (temp + rename) and moves `n`'s origin readers onto it. copy_mu_ held;
  // releases mu_ during the copy.
  Status KeepOrigin(MutexLock& lk, Ino origin) NO_THREAD_SAFETY_ANALYSIS;
  Status CreateForkRoot() REQUIRES(mu_);
  // The next local number this tree would give (a fork's own start above it).
  Ino NextLocal() const EXCLUDES(mu_) {
    MutexLock lk(mu_);
    return next_ino_;
  }
  // Where a fork of a source that is not a NativeBackend numbers its own nodes.
  static constexpr Ino kForeignOwnFirst = Ino{1} << 40;
  // PreserveBefore's first half: materializes the fork's nodes down `chain`
  // when the change lies in what the fork still lists live.
  Status MaterializeChain(PreChange kind, const std::vector<Ino>& chain) REQUIRES(mu_);
  // The kept fork-point content of `origin` (origin/<origin>): its name, and a
  // read-only descriptor on it (-1 with errno set on failure).
  static std::string OriginPath(Ino origin) { return std::to_string(origin); }
  int OpenKept(Ino origin) const;
  // Opens DIR/origin (creating it), loads which origins are kept there and
  // drops a copy a crash left half-made. Run by Open.
  Status OpenOriginDir() NO_THREAD_SAFETY_ANALYSIS;
  Status KeepOpenForWriting() EXCLUDES(mu_, copy_mu_);
  // A read handle on lazy file `n`'s origin content, listed in lower_fds.
  Result<std::unique_ptr<FileHandle>> OpenOriginReader(const Caller& caller, Node* n, int flags)
      REQUIRES(mu_);
  // Records `origin` (named `name` in source directory `parent`) at the fork point.
  void NotePoint(Ino origin, Ino parent, const std::string& name, mode_t mode, const std::string& target)
      REQUIRES(mu_);
  // The fork-point path of `origin` (its first name) or of name `name` in
  // source directory `parent`, relative to the fork's root; "" if unknown.
  std::string PointPath(Ino origin) const REQUIRES(mu_);
  std::string PointPath(Ino parent, const std::string& name) const REQUIRES(mu_);
  void Publish(ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent, const std::string& name,
               Ino new_parent = 0, const std::string& new_name = {}, bool by_rename = false,
               ChangeDetails details = {}) REQUIRES(mu_);
  // Whether a subscriber listens (details are then worth building).
  bool Listened() const { return sink_ && sink_->Active(); }

  // Committer.
  void CommitLoop() EXCLUDES(mu_);
  MetaBatch TakeBatch(std::vector<Ino>* freed_data) REQUIRES(mu_);
  Status WaitCommitted(bool durable) EXCLUDES(mu_);

  const uint16_t id_;
  const std::string data_dir_;
  const std::string mount_path_;
  ChangeSink* const sink_;
  const int commit_interval_ms_;
  std::unique_ptr<MetaStore> store_;
  const int data_fd_;        // DIR/data
  ForkSource* const lower_;  // forks only
  const Ino lower_root_;
  int origin_fd_ = -1;  // forks: DIR/origin, kept fork-point content
  int closed_fd_ = -1;  // DIR/closed: content of closes not yet captured

  Mutex copy_mu_ ACQUIRED_BEFORE(mu_);

  mutable Mutex mu_;
  std::unordered_map<Ino, std::unique_ptr<Node>> nodes_ GUARDED_BY(mu_);  // by local ino
  Ino next_ino_ GUARDED_BY(mu_) = 2;
  bool next_ino_dirty_ GUARDED_BY(mu_) = false;
  std::unordered_set<Ino> dirty_inodes_ GUARDED_BY(mu_);
  std::set<std::pair<Ino, std::string>> dirty_dentries_ GUARDED_BY(mu_);
  std::set<std::pair<Ino, std::string>> dirty_xattrs_ GUARDED_BY(mu_);
  std::vector<Ino> freed_data_;  // backing files to delete after the next commit; mu_
  // Closed content kept in DIR/closed, by local number: generation -> st_mode.
  uint64_t next_closed_gen_ GUARDED_BY(mu_) = 0;
  std::vector<std::pair<Ino, uint64_t>> closed_left_ GUARDED_BY(mu_);  // (local, gen) a previous run kept
  std::unordered_map<Ino, std::map<uint64_t, mode_t>> closed_kept_ GUARDED_BY(mu_);
  // Forks: local node of each origin present; the fork point of every
  // origin ever materialized (kept after the fork deletes it); origins whose
  // content is kept in origin/.
  std::unordered_map<Ino, Ino> by_origin_ GUARDED_BY(mu_);
  std::unordered_map<Ino, ForkPoint> fork_points_ GUARDED_BY(mu_);
  std::map<std::pair<Ino, std::string>, Ino> point_names_ GUARDED_BY(mu_);  // (parent origin, name) -> origin
  std::vector<std::pair<Ino, std::string>> dirty_points_ GUARDED_BY(mu_);   // point_names_ keys
  std::unordered_set<Ino> kept_ GUARDED_BY(mu_);
  // Forks: local numbers below this were the source's at creation, so a
  // node may take its origin's; the fork's own are given from here on.
  Ino own_first_ GUARDED_BY(mu_) = 0;  // 0: unknown, every node gets an own number
  bool own_first_dirty_ GUARDED_BY(mu_) = false;
  uint64_t change_seq_ GUARDED_BY(mu_) = 0;      // bumped on every change
  uint64_t committed_seq_ GUARDED_BY(mu_) = 0;   // all changes <= this are committed
  uint64_t durable_seq_ GUARDED_BY(mu_) = 0;     // ... and synced
  uint64_t durable_wanted_ GUARDED_BY(mu_) = 0;  // a waiter wants durable_seq_ >= this
  bool commit_now_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  Status commit_error_ GUARDED_BY(mu_);   // last commit failure
  std::condition_variable commit_cv_;     // wakes the committer
  std::condition_variable committed_cv_;  // wakes waiters
  std::thread committer_;
};

}  // namespace nexus
