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
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino) override;
  Status FsyncDir(Ino ino) override;
  Result<struct statvfs> StatFs() override;
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags) override;
  Result<std::string> GetXattr(Ino ino, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(Ino ino) override;
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) override;
  std::string PathOf(Ino ino) const override;

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

  Mutex copy_mu_ ACQUIRED_BEFORE(mu_);

  mutable Mutex mu_;
  std::unordered_map<Ino, std::unique_ptr<Node>> nodes_ GUARDED_BY(mu_);  // by local ino
  Ino next_ino_ GUARDED_BY(mu_) = 2;
  bool next_ino_dirty_ GUARDED_BY(mu_) = false;
  std::unordered_set<Ino> dirty_inodes_ GUARDED_BY(mu_);
  std::set<std::pair<Ino, std::string>> dirty_dentries_ GUARDED_BY(mu_);
  std::set<std::pair<Ino, std::string>> dirty_xattrs_ GUARDED_BY(mu_);
  std::vector<Ino> freed_data_;  // backing files to delete after the next commit; mu_
  // Forks: local node of each origin present; the fork point of every
  // origin ever materialized (kept after the fork deletes it); origins whose
  // content is kept in origin/.
  std::unordered_map<Ino, Ino> by_origin_ GUARDED_BY(mu_);
  std::unordered_map<Ino, ForkPoint> fork_points_ GUARDED_BY(mu_);
  std::map<std::pair<Ino, std::string>, Ino> point_names_ GUARDED_BY(mu_);  // (parent origin, name) -> origin
  std::vector<std::pair<Ino, std::string>> dirty_points_ GUARDED_BY(mu_);   // point_names_ keys
  std::unordered_set<Ino> kept_ GUARDED_BY(mu_);
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
