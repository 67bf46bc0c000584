// Backend: one storage implementation behind a subtree of the mount.
//
// The namespace (fs/namespace.h) routes every inode-level operation to the
// backend that owns the inode (BackendOf(ino)). Two backends exist:
//   - NativeBackend (fs/native_backend.h): metadata in SQLite, contents in
//     backing files under the data dir; serves "/".
//   - WorkspaceBackend (fs/workspace_backend.h): a host directory exposed
//     as-is (e.g. at /zone/local); contents and metadata are the host's.
//
// Contract shared by all implementations:
//   - Operations are called concurrently from FUSE worker threads and from
//     the control socket; implementations do their own locking.
//   - Inode numbers handed out carry the backend id (MakeIno(id(), local)).
//   - Lookup, MkNod, MkDir, Symlink, Link and Create each take one lookup
//     reference on the returned inode; Forget drops references. An inode
//     number is valid only while referenced (lookup reference or open
//     handle), as in FUSE: a backend may forget an unreferenced number. An
//     inode whose link count is 0 lives until its references and open
//     handles are gone. The backend root is pinned and never forgotten.
//   - Names are single path components: never empty, never "." or "..",
//     never containing '/'. The namespace validates them before calling.
//   - No operation blocks on anything but local disk I/O.
#pragma once

#include <atomic>

#include <sys/statvfs.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

// One entry of a directory listing.
struct DirEntry {
  std::string name;
  Ino ino = 0;
  mode_t type = 0;  // S_IFMT bits only
};

// One open file description. Data moves by pread/pwrite (or splice) on `fd`,
// a host file descriptor owned by the handle and closed by Release.
struct FileHandle {
  virtual ~FileHandle() = default;
  int fd = -1;
  Ino ino = 0;
  int flags = 0;         // open(2) flags as requested by the caller
  bool written = false;  // set by the FUSE layer after a successful write
  Caller opener;         // who opened it (provenance for change events)
  // Set by a Flush that numbered the content as a close (Backend::Flush):
  // a write through a duplicate of the closed descriptor must call
  // BeforeWrite first.
  std::atomic<bool> flushed{false};
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual uint16_t id() const = 0;
  virtual Ino root() const = 0;

  virtual Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name) = 0;
  virtual void Forget(Ino ino, uint64_t nlookup) = 0;
  virtual Result<Attr> GetAttr(Ino ino) = 0;
  // `fh` is the open handle when the kernel passed one (ftruncate), else null.
  virtual Result<Attr> SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh) = 0;
  virtual Result<std::string> ReadLink(Ino ino) = 0;

  virtual Result<Attr> MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                             dev_t rdev) = 0;
  virtual Result<Attr> MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) = 0;
  virtual Result<Attr> Symlink(const Caller& caller, const std::string& target, Ino parent,
                               const std::string& name) = 0;
  virtual Result<Attr> Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name) = 0;
  virtual Status Unlink(const Caller& caller, Ino parent, const std::string& name) = 0;
  virtual Status RmDir(const Caller& caller, Ino parent, const std::string& name) = 0;
  // `flags`: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  virtual Status Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                        const std::string& new_name, unsigned flags) = 0;

  virtual Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags) = 0;
  struct Created {
    Attr attr;
    std::unique_ptr<FileHandle> handle;
  };
  virtual Result<Created> Create(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                                 int flags) = 0;
  // Called after `len` bytes were written through `fh` at `offset`.
  virtual void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) = 0;
  virtual Status Fsync(FileHandle& fh, bool datasync) = 0;
  virtual Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) = 0;
  // Closes the handle; the last close of a modified file emits its change.
  virtual void Release(std::unique_ptr<FileHandle> fh) = 0;
  // close(2) of a descriptor of `fh` (FUSE_FLUSH, answered before close
  // returns, unlike the release that follows later): when it is the file's
  // only handle, its last close — the backend may number the content then
  // (see "the content each close left" below). ENOSYS: the backend never
  // needs it (the kernel then sends no more).
  virtual Status Flush(FileHandle& fh) {
    (void)fh;
    return Status::Ok();
  }
  // Before a write through `fh` while fh.flushed is set (a duplicate of the
  // closed descriptor writes on): the handle is in use again.
  virtual void BeforeWrite(FileHandle& fh) { (void)fh; }

  virtual Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino) = 0;
  virtual Status FsyncDir(Ino ino) = 0;
  virtual Result<struct statvfs> StatFs() = 0;

  // `flags`: 0, XATTR_CREATE or XATTR_REPLACE.
  virtual Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                          int flags) = 0;
  virtual Result<std::string> GetXattr(Ino ino, const std::string& name) = 0;
  virtual Result<std::vector<std::string>> ListXattr(Ino ino) = 0;
  virtual Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) = 0;

  // The namespace path of `ino` by its current (primary) name; "" when it
  // has no name left or the backend cannot name it (an access policy then
  // refuses restricted callers).
  virtual std::string PathOf(Ino ino) const { return {}; }
  // False for a backend whose names, inodes or listings depend on who asks
  // (a per-reader view): the kernel must then cache none of its names for
  // every uid (Namespace::SharedName).
  virtual bool SameForEveryCaller() const { return true; }

  // ---- the content each close left (exact version capture) ----
  // While the change sink keeps closed content (ChangeSink::KeepsClosedContent),
  // a backend that can numbers each last close (and fsync) of a modified
  // file: the event's ChangeDetails::content_gen. The content that close left
  // stays readable through OpenClosed until ClosedCaptured, whatever happens
  // to the file afterwards: the next change to the file keeps it first (a
  // rename of the backing file when nothing else has it open, else a copy).
  struct ClosedContent {
    int fd = -1;        // read-only; the caller closes it
    mode_t mode = 0;    // the file's st_mode at that close
    bool live = false;  // fd is the file itself: valid while ClosedStillLive
  };
  // ENOENT when that content is gone (captured, or never kept).
  virtual Result<ClosedContent> OpenClosed(Ino ino, uint64_t gen) {
    (void)ino;
    (void)gen;
    return Status::Error(ENOTSUP, "this tree does not keep closed content");
  }
  // Whether the file itself still holds generation `gen` (nothing changed it
  // since that close): a capture read from a live descriptor is exact only
  // if this holds after the read.
  virtual bool ClosedStillLive(Ino ino, uint64_t gen) {
    (void)ino;
    (void)gen;
    return false;
  }
  // Closes kept by a previous run that ended before they were captured (a
  // kill -9), oldest first, with the file's path now; handed out once.
  struct LeftClose {
    Ino ino = 0;
    uint64_t gen = 0;
    std::string path;
  };
  virtual std::vector<LeftClose> ClosedLeftOver() { return {}; }
  // `gen` (and every older generation of the file) was recorded: what kept it
  // can go.
  virtual void ClosedCaptured(Ino ino, uint64_t gen) {
    (void)ino;
    (void)gen;
  }
};

}  // namespace nexus
