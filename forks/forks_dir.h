// ForksDir: the /forks directory (docs/forks.md "The registry and /forks").
//
// One read-only directory, the backend's root (0755, owned by the daemon's
// uid and gid), grafted at /forks. It lists the active forks a caller may
// see, and a lookup of NAME answers the root of that fork's own backend
// (attached to the namespace under its own id), so everything below
// /forks/NAME is routed to the fork and never comes back here. Creating,
// renaming or removing anything here is EPERM with a message naming the
// `nexus fork` command that does it; xattrs are EPERM to set and absent.
//
// Threading: thread-safe; what it lists comes from its Source, which is.
#pragma once

#include <sys/statvfs.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fs/backend.h"
#include "fs/namespace.h"

namespace nexus::forks {

class ForksDir final : public Backend {
 public:
  // What /forks holds: the registry's active forks.
  class Source {
   public:
    virtual ~Source() = default;
    struct Entry {
      std::string name;
      Backend* tree;  // the fork's backend; lives as long as the Source
    };
    virtual std::vector<Entry> ActiveForks() const = 0;
    // The backend of active fork `name`; null if there is none.
    virtual Backend* FindActive(std::string_view name) const = 0;
  };

  // `source` and `ns` (whose access policy filters listings) are not owned
  // and must outlive this.
  ForksDir(uint16_t id, Source* source, Namespace* ns);

  // Marks the directory changed (a fork was created or discarded): its
  // mtime and ctime move.
  void Touch();

  uint16_t id() const override { return id_; }
  Ino root() const override { return MakeIno(id_, 1); }

  Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name) override;
  void Forget(Ino, uint64_t) override {}
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
  void OnWrite(FileHandle&, uint64_t, uint64_t) override {}
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

 private:
  Status CheckRoot(Ino ino) const;

  const uint16_t id_;
  Source* const source_;
  Namespace* const ns_;
  const uid_t uid_;
  const gid_t gid_;
  const int64_t created_ns_;
  std::atomic<int64_t> changed_ns_;
};

}  // namespace nexus::forks
