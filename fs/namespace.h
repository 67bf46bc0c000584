// Namespace: the single routing point between the mount and the backends.
//
// Every inode-level operation arrives here. The namespace validates names,
// resolves mount points (a backend grafted at a name inside a directory of
// another backend, e.g. the workspace at /zone/local), refuses operations
// that would cross backends (EXDEV) or remove a mount point (EBUSY), and
// forwards the rest to the backend that owns the inode (BackendOf(ino)).
//
// Threading: thread-safe. Backends and mount points are registered before
// the namespace serves any call and never change afterwards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fs/backend.h"
#include "fs/names.h"

namespace nexus {

class Namespace {
 public:
  // `root` serves "/" and must have id 0. Not owned; must outlive this.
  explicit Namespace(Backend* root);

  // Grafts `backend`'s root at `name` inside directory `parent`. The mount
  // point hides any real entry of that name. A `hidden` mount is reachable
  // by name (lookup, paths) but not listed by ReadDir of `parent`, like
  // ZFS's ".zfs" (e.g. the history tree at /.nexus). Call before serving.
  Status AddMount(Ino parent, const std::string& name, Backend* backend, bool hidden = false);

  // Resolves an absolute path ("/a/b") to its attributes without taking a
  // kernel lookup reference. Symlinks are not followed. The returned inode
  // number is therefore not pinned: a backend may forget it (see backend.h),
  // so a caller that goes on to act on it must Lookup it from its parent.
  Result<Attr> Resolve(const Caller& caller, const std::string& path);
  // The same, keeping one lookup reference on the inode returned (none on
  // the root), so the caller may act on it; the caller drops it with
  // Forget(attr.ino, 1) unless attr.ino is kRootIno. Empty and "."
  // components are skipped; ".." is EINVAL.
  Result<Attr> ResolvePinned(const Caller& caller, const std::string& path);

  Backend* root_backend() const { return root_; }

  Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name);
  void Forget(Ino ino, uint64_t nlookup);
  Result<Attr> GetAttr(Ino ino);
  Result<Attr> SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh);
  Result<std::string> ReadLink(Ino ino);
  Result<Attr> MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                     dev_t rdev);
  Result<Attr> MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode);
  Result<Attr> Symlink(const Caller& caller, const std::string& target, Ino parent,
                       const std::string& name);
  Result<Attr> Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name);
  Status Unlink(const Caller& caller, Ino parent, const std::string& name);
  Status RmDir(const Caller& caller, Ino parent, const std::string& name);
  Status Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                const std::string& new_name, unsigned flags);
  Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags);
  Result<Backend::Created> Create(const Caller& caller, Ino parent, const std::string& name,
                                  mode_t mode, int flags);
  void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len);
  Status Fsync(FileHandle& fh, bool datasync);
  Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length);
  void Release(std::unique_ptr<FileHandle> fh);
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino);
  Status FsyncDir(Ino ino);
  Result<struct statvfs> StatFs(Ino ino);
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags);
  Result<std::string> GetXattr(Ino ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(Ino ino);
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name);

 private:
  struct MountPoint {
    Ino parent;
    std::string name;
    Backend* backend;
    bool hidden;  // not listed by ReadDir(parent)
  };
  Result<Backend*> Route(Ino ino) const;
  const MountPoint* FindMount(Ino parent, const std::string& name) const;

  Backend* root_;
  std::vector<Backend*> backends_;  // indexed by backend id
  std::vector<MountPoint> mounts_;
};

}  // namespace nexus
