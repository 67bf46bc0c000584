// HistoryBackend: the version store as a read-only tree, grafted hidden at
// /.nexus (Namespace::AddMount(kRootIno, ".nexus", backend, /*hidden=*/true)).
//
// Layout (namespace paths: zone "root"'s files at the top, zone Z's under
// zone/Z/, as on the mount; see fs/versions/zone_path.h):
//   /snapshots/              one directory per snapshot id
//   /snapshots/<id>/...      snapshot <id> in the namespace layout, so
//                            `diff -r /.nexus/snapshots/3 /mnt` compares like
//                            with like (files 0444, executables 0555,
//                            mtime = the snapshot's time)
//   /versions/<path>/<N>     version N of namespace path <path>: <path> is
//                            any path with history (deleted files included),
//                            and the file's own name is a directory whose
//                            entries are its version numbers (regular files,
//                            size = version size, mtime = capture time, 0444
//                            or 0555 for executable versions). Directories
//                            on the way are those of versioned paths; the
//                            workspace is under /versions/zone/local/.
//   A path that is both a versioned file and a directory of versioned files
//   (a file replaced by a directory) lists both its version numbers and its
//   children; a child whose name equals an existing version number is
//   shadowed by that version (reach it through the other zone/path if ever
//   needed: such names are rare and the version is what the tree is for).
//
// Everything is computed from the store on each Lookup/ReadDir/GetAttr, so
// new versions and snapshots appear without restart, and vanished ones
// (gc, deleted snapshots) answer ENOENT. Every mutating operation fails
// EROFS, and so does opening for writing or with O_TRUNC.
//
// Reads: the FUSE layer splices from FileHandle::fd, so Open materialises
// the content (a git blob) into an unlinked temporary file (O_TMPFILE, or
// mkstemp+unlink where unsupported) under Options::scratch_dir, streamed
// (memory does not grow with the file's size), and hands out a read-only fd
// on it. Materialised blobs are cached by blob id, least recently opened
// first out, up to Options::cache_bytes of content; a blob larger than that
// is served to its opener only. An evicted file lives on until its open
// handles are closed, so scratch disk use can exceed the bound by the
// content of files held open. Open of a big version costs one copy of its
// content on the opening thread (the opener's own content, nothing else);
// concurrent opens of the same blob wait for one copy.
//
// Inode numbers: MakeIno(id, local), the root is local 1. A number names
// one (kind, path) pair for the daemon's life, so readdir's d_ino and
// lookups agree; a path whose type changes (a snapshot id reused) gets a
// new number. Numbers of forgotten nodes are kept up to
// kMaxRememberedNodes, then the unreferenced ones are dropped.
// Lookups of "." and ".." are answered; ".." of the root is the root.
//
// Owner: the daemon's effective uid/gid. /snapshots and /versions are mode
// 0500, so only that owner (root) enters them: history keeps contents their
// owners may have locked away since; other users go through `nexus
// versions`. The root is 0555: /.nexus/activity (ops/activity_backend.h) is
// grafted in it for everyone, and the namespace shows restricted callers
// nothing else of /.nexus (Namespace::Sees). Times of the structural
// directories (/, /snapshots, /versions and the directories below it): the
// backend's creation time.
//
// Threading: all methods are thread-safe. mu_ guards the node tables;
// cache_mu_ the blob cache; a Blob's fill_mu serialises its one copy. No
// store call or file I/O runs under mu_ or cache_mu_. Lock order:
// fill_mu → cache_mu_; mu_ is never held with another lock.
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "fs/backend.h"
#include "fs/versions/version_store.h"

namespace nexus::versions {

class HistoryBackend final : public Backend {
 public:
  struct Options {
    // Where Open materialises contents (unlinked temporary files); must be
    // an existing directory, ideally on the data dir's filesystem.
    std::string scratch_dir;
    // Materialised contents kept for later opens (bytes of content).
    uint64_t cache_bytes = uint64_t{256} << 20;
  };

  // Serves `store` (not owned; must outlive the backend) as backend
  // `backend_id`. EINVAL without a store or scratch dir; the scratch dir's
  // open error when it cannot be opened.
  static Result<std::unique_ptr<HistoryBackend>> Create(uint16_t backend_id, VersionStore* store,
                                                        Options options);
  ~HistoryBackend() override;
  HistoryBackend(const HistoryBackend&) = delete;
  HistoryBackend& operator=(const HistoryBackend&) = delete;

  static constexpr size_t kMaxRememberedNodes = size_t{1} << 20;

  // Nodes with an inode number (the root included).
  size_t NodeCount() const;
  // Materialised contents in the cache, and their bytes.
  std::pair<size_t, uint64_t> CacheUsage() const;

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
  // Regular files only (directories EISDIR, symlinks ELOOP), read-only
  // (O_WRONLY, O_RDWR, O_TRUNC: EROFS). The handle's fd is a read-only fd
  // on the materialised content.
  Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags) override;
  Result<Created> Create(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                         int flags) override;
  void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) override;
  Status Fsync(FileHandle& fh, bool datasync) override;
  Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) override;
  void Release(std::unique_ptr<FileHandle> fh) override;
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino) override;
  Status FsyncDir(Ino ino) override;
  // Zeros but for the block size, name length and ST_RDONLY.
  Result<struct statvfs> StatFs() override;
  // No extended attributes: get ENODATA, list empty, set/remove EROFS.
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags) override;
  Result<std::string> GetXattr(Ino ino, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(Ino ino) override;
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) override;
  // "/.nexus" for the root; "" below it.
  std::string PathOf(Ino ino) const override;

 private:
  // What a node is; fixed for its inode number.
  enum class Kind : char {
    kRoot = 'R',
    kSnapshots = 'S',     // /snapshots
    kSnapshotDir = 'd',   // a directory of snapshot `snapshot` ("" = its top)
    kSnapshotFile = 'f',  // a file of snapshot `snapshot`
    kSnapshotLink = 'l',  // a symlink of snapshot `snapshot`
    kVersionsDir = 'V',   // /versions/<path> ("" = /versions)
    kVersion = 'v',       // /versions/<path>/<version>
  };
  // The one parse of a path of this tree. `path` is a namespace path
  // relative to "/" ("" = the top, "src/app.py", "zone/local/x").
  struct Target {
    Kind kind = Kind::kRoot;
    std::string snapshot;
    std::string path;
    uint32_t version = 0;
    std::string Key() const;
    bool IsDir() const;
  };
  // A target as the store has it now.
  struct Resolved {
    Target target;
    Attr attr;         // ino left 0
    std::string blob;  // content of files and symlinks
  };
  struct Node {
    Target target;
    uint64_t lookups = 0;
  };
  struct Blob;  // materialised content, shared by the cache and openers

  HistoryBackend(uint16_t id, VersionStore* store, Options options, int scratch_fd);

  // Resolution against the store (no lock held).
  Result<Resolved> Resolve(const Target& t);
  Result<Resolved> Child(const Target& dir, const std::string& name);
  Result<std::vector<std::pair<std::string, Target>>> Children(const Target& dir);
  Result<Resolved> ResolveSnapshotPath(const std::string& id, const std::string& path);
  Result<Resolved> ResolveVersionsDir(const std::string& path);
  Result<Resolved> ResolveVersion(const std::string& path, uint32_t n);
  Result<bool> HasOtherZones();
  Attr DirAttr(int64_t time_ns) const;
  Attr FileAttr(mode_t type, uint32_t git_mode, uint64_t size, int64_t time_ns) const;

  // Node table.
  Result<Target> TargetOf(Ino ino) const;
  // The number of `t` (allocated if new), with one more lookup reference
  // when `reference`.
  Ino Intern(const Target& t, bool reference);
  void MaybePrune();

  // Blob cache.
  Result<std::shared_ptr<Blob>> Materialize(const std::string& blob, uint64_t size);
  Result<int> OpenScratchFile();

  const uint16_t id_;
  VersionStore* const store_;
  const Options options_;
  const int scratch_fd_;  // O_PATH|O_DIRECTORY on options_.scratch_dir
  const int64_t created_ns_;
  const uid_t uid_;
  const gid_t gid_;

  mutable Mutex mu_;
  std::unordered_map<Ino, Node> nodes_ GUARDED_BY(mu_);           // by local number
  std::unordered_map<std::string, Ino> numbers_ GUARDED_BY(mu_);  // local by Target::Key
  Ino next_local_ GUARDED_BY(mu_) = 2;

  mutable Mutex cache_mu_;
  // Ready blobs, most recently opened first.
  std::list<std::shared_ptr<Blob>> lru_ GUARDED_BY(cache_mu_);
  // Every cached blob (ready, or being filled) by id.
  std::unordered_map<std::string, std::shared_ptr<Blob>> blobs_ GUARDED_BY(cache_mu_);
  uint64_t cached_bytes_ GUARDED_BY(cache_mu_) = 0;  // content of the ready blobs in lru_
};

}  // namespace nexus::versions
