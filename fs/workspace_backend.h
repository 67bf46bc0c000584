// WorkspaceBackend: a host directory WS exposed as-is (nexusd --workspace WS,
// grafted at /zone/local). Reads and writes go straight to WS's real files;
// names, modes, owners, times and xattrs are the host's.
//
// Confinement (nothing may escape WS):
//   - Every inode holds an O_PATH|O_NOFOLLOW fd on its host object, and every
//     host syscall is made relative to such an fd with a single, validated
//     name component (no '/', no NUL, never "." or ".." except as below).
//     The daemon never builds a host path from user input.
//   - The daemon never follows a symlink: lookups open with O_NOFOLLOW, so a
//     symlink is an inode of its own (a directory lookup through it fails
//     ENOTDIR, opening it ELOOP); the kernel follows symlinks on the caller's
//     side, inside the mount. Operations that need a path to an inode we
//     already hold use /proc/self/fd/N of its O_PATH fd; that magic link
//     resolves to the held inode itself (a symlink inode stays the symlink),
//     never through a name.
//   - WS is opened once at Open(); replacing WS (or any parent of it) on the
//     host afterwards, e.g. by a symlink, changes nothing: we keep using the
//     directory we opened.
//   - Lookup("..") of the root returns the root; of any other directory it
//     returns the parent only if that parent is still inside WS, else ENOENT.
//   - Known limit: an inode the kernel already holds keeps naming the same
//     host object if a host process moves that object out of WS (as with any
//     open fd). Objects reached afterwards still come from WS only through
//     names below that object.
//
// Ownership: the daemon runs as root; nodes it creates for a caller are
// re-owned to caller.uid and caller.gid (the directory's group when it is
// setgid, in which case new directories inherit setgid too), and get exactly
// the requested mode (the kernel applied the caller's umask; the daemon's
// own umask is undone). Permission checks are the kernel's
// (default_permissions) against the host attributes we report.
//
// Inode numbers: MakeIno(id, local); local numbers are allocated here, keyed
// by the host (st_dev, st_ino); the root is local 1. A number stays attached
// to its host file after the kernel forgets it, so readdir's d_ino and
// lookups agree and numbers are stable (the table of remembered numbers is
// pruned of forgotten entries past kMaxRememberedNumbers). A live inode pins
// its host inode through its fd, so the host cannot reuse that (dev, ino)
// while we hand the number out.
//
// Change events: kCreated/kRemoved/kRenamed with parent and name;
// kAttrChanged (setattr, xattrs) with the inode only, as names are not
// tracked; kContentClosed on the last release of an inode modified through
// a handle (write, O_TRUNC, fallocate); kContentSynced on fsync of a written
// handle. Changes made on the host behind our back publish nothing.
//
// Threading: all public methods are thread-safe. mu_ guards the inode
// tables; no host syscall runs under it except closing a freed inode's
// O_PATH fd. An operation holds a shared_ptr to its inodes, so a concurrent
// Forget never closes an fd in use: the fd goes with the last reference.
// Lock order: mu_ only. Publish is called without mu_ held.
//
// Each live inode holds one fd: RLIMIT_NOFILE bounds how many inodes the
// kernel can hold in the workspace at once (EMFILE past it).
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "fs/backend.h"
#include "fs/change_events.h"

namespace nexus {

class WorkspaceBackend final : public Backend {
 public:
  // Serves the directory `host_dir` (a symlink naming it is resolved once,
  // here) as backend `backend_id`. Fails if it is missing or not a
  // directory, or if /proc/self/fd is unavailable. `sink` may be null; if
  // not, it must outlive the backend.
  static Result<std::unique_ptr<WorkspaceBackend>> Open(uint16_t backend_id, const std::string& host_dir,
                                                        ChangeSink* sink);
  ~WorkspaceBackend() override;

  // Where WS appears in the namespace ("/zone/local"), for the paths of
  // change events. Call before serving.
  void SetMountPath(std::string path) { mount_path_ = std::move(path); }
  WorkspaceBackend(const WorkspaceBackend&) = delete;
  WorkspaceBackend& operator=(const WorkspaceBackend&) = delete;

  // Remembered host files past this count drop their forgotten numbers.
  static constexpr size_t kMaxRememberedNumbers = size_t{1} << 20;

  // Live inodes (each holding one host fd), the root included.
  size_t InodeCount() const;
  const std::string& host_dir() const { return host_dir_; }
  // The inode number the host object `st` has here, 0 if it has none yet
  // (the kernel then holds nothing of it). For the WorkspaceWatcher.
  Ino KnownIno(const struct stat& st) const;

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
  // The handle's fd is a host fd: O_RDWR when the caller asked for O_WRONLY
  // (the writeback cache reads pages), without O_APPEND (the kernel positions
  // appends) or O_DIRECT. Only regular files: symlinks fail ELOOP,
  // directories EISDIR, other types EINVAL (the kernel opens those itself).
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
  // system.* is not exposed (set/remove EOPNOTSUPP, get ENODATA, not listed);
  // trusted.* and security.* can be changed by root callers only and
  // trusted.* names are not listed (ListXattr does not know its caller).
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags) override;
  Result<std::string> GetXattr(Ino ino, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(Ino ino) override;
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) override;
  // By the kernel's name of the host file (readlink of its O_PATH fd).
  std::string PathOf(Ino ino) const override;

 private:
  // Identity of a host object.
  struct HostKey {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const HostKey&) const = default;
  };
  struct HostKeyHash {
    size_t operator()(const HostKey& k) const noexcept;
  };
  static HostKey KeyOf(const struct statx& stx);
  static HostKey KeyOf(const struct stat& st);

  // A live inode. Immutable fields are set at creation; the counters are
  // guarded by mu_. Closes `fd` when the last reference goes.
  struct Inode {
    Inode(Ino ino, HostKey key, mode_t type, int fd) : ino(ino), key(key), type(type), fd(fd) {}
    ~Inode();
    Inode(const Inode&) = delete;
    Inode& operator=(const Inode&) = delete;

    const Ino ino;  // FUSE-visible number
    const HostKey key;
    const mode_t type;            // S_IFMT bits; a host inode never changes type
    const int fd;                 // O_PATH|O_NOFOLLOW on the host object
    uint64_t lookups = 0;         // kernel references; guarded by mu_
    uint32_t open_count = 0;      // open handles; guarded by mu_
    uint32_t writer_handles = 0;  // of those, the ones that may write; guarded by mu_
    // Who last closed a handle that changed the content: the close event is
    // theirs, not that of whoever closes last. Guarded by mu_.
    std::optional<Caller> last_writer;
    // Modified through a handle since the last close of all writing
    // handles. Atomic so the write path takes no lock.
    std::atomic<bool> content_dirty{false};
  };
  using InodeRef = std::shared_ptr<Inode>;
  // The FileHandle handed out by Open/Create; pins its inode.
  struct Handle;

  WorkspaceBackend(uint16_t id, std::string host_dir, ChangeSink* sink, InodeRef root);

  Result<InodeRef> Get(Ino ino) const;
  // Enters the host object behind `path_fd` (O_PATH, `stx` its statx;
  // ownership of the fd is taken) with one more lookup reference, and one
  // more open handle if `opened`.
  InodeRef Register(int path_fd, const struct statx& stx, bool opened = false);
  // Takes one more lookup reference on an inode we hold; fresh attributes.
  Result<Attr> Reference(const Inode& inode);
  // The namespace path of a live inode, from the kernel's name of its fd;
  // "" when it is no longer below WS.
  // Opens `name` in `dir` (O_PATH|O_NOFOLLOW) and registers it.
  Result<Attr> LookupName(const Inode& dir, const std::string& name);
  Result<Attr> LookupDotDot(const Inode& dir);
  // After this backend created `name` in `dir` (stat'ed as `dir_stx`):
  // re-owns it to the caller, sets `mode`, registers it.
  Result<Attr> AdoptCreated(const Caller& caller, const Inode& dir, const struct statx& dir_stx,
                            const std::string& name, mode_t mode);
  Status SetOwnerAndMode(int path_fd, const Caller& caller, const struct statx& dir_stx, mode_t mode,
                         struct statx* stx);
  // True if the directory behind `fd` is WS or below it.
  Result<bool> InsideRoot(int fd) const;
  // The inode number of `name` in `dir` (allocated if new), or 0 if absent.
  Ino Identify(const Inode& dir, const std::string& name);
  void Publish(ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent, const std::string& name,
               Ino new_parent = 0, const std::string& new_name = {}, bool by_rename = false,
               ChangeDetails details = {});
  // Whether a subscriber listens (details are then worth building).
  bool Listened() const { return sink_ && sink_->Active(); }
  // The xattr `name` of `fd`'s inode before a change, into `details`.
  void XattrBefore(int fd, const std::string& name, ChangeDetails::Xattr op, ChangeDetails* details) const;

  // mu_ held.
  Ino LocalFor(const HostKey& key) REQUIRES(mu_);
  void MaybeFree(Inode& inode) REQUIRES(mu_);
  void PruneNumbers() REQUIRES(mu_);

  const uint16_t id_;
  const std::string host_dir_;
  std::string mount_path_ = "/";
  ChangeSink* const sink_;
  const InodeRef root_;  // pinned; also in inodes_

  mutable Mutex mu_;
  std::unordered_map<Ino, InodeRef> inodes_ GUARDED_BY(mu_);               // live, by local
  std::unordered_map<HostKey, Ino, HostKeyHash> numbers_ GUARDED_BY(mu_);  // local by host
  Ino next_local_ GUARDED_BY(mu_) = 2;
};

}  // namespace nexus
