#include "fs/namespace.h"

#include <linux/fs.h>

namespace nexus {

Namespace::Namespace(Backend* root) : root_(root) {
  backends_.resize(1);
  backends_[0] = root;
}

Status Namespace::AddMount(Ino parent, const std::string& name, Backend* backend,
                           bool hidden) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (backends_.size() <= backend->id()) backends_.resize(backend->id() + 1);
  if (backends_[backend->id()] && backends_[backend->id()] != backend)
    return Status::Error(EEXIST, "backend id already registered");
  if (FindMount(parent, name)) return Status::Error(EEXIST, "mount point exists");
  backends_[backend->id()] = backend;
  mounts_.push_back({parent, name, backend, hidden});
  return Status::Ok();
}

Result<Backend*> Namespace::Route(Ino ino) const {
  uint16_t id = BackendOf(ino);
  if (id >= backends_.size() || !backends_[id])
    return Status::Error(ENOENT, "no backend for inode " + std::to_string(ino));
  return backends_[id];
}

const Namespace::MountPoint* Namespace::FindMount(Ino parent, const std::string& name) const {
  for (const auto& m : mounts_)
    if (m.parent == parent && m.name == name) return &m;
  return nullptr;
}

Result<Attr> Namespace::Resolve(const Caller& caller, const std::string& path) {
  auto attr = ResolvePinned(caller, path);
  if (attr.ok() && attr->ino != kRootIno) Forget(attr->ino, 1);
  return attr;
}

Result<Attr> Namespace::ResolvePinned(const Caller& caller, const std::string& path) {
  if (path.empty() || path[0] != '/') return Status::Error(EINVAL, "path must be absolute");
  auto attr = GetAttr(kRootIno);
  // An inode number is only valid while referenced: keep each component's
  // lookup reference until the next one is resolved.
  Ino held = 0;
  size_t pos = 1;
  while (attr.ok() && pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      attr = Status::Error(EINVAL, "'..' is not allowed in paths");
      break;
    }
    attr = Lookup(caller, attr->ino, comp);
    if (held) Forget(held, 1);
    held = attr.ok() ? attr->ino : 0;
  }
  if (!attr.ok() && held) Forget(held, 1);
  return attr;
}

Result<Attr> Namespace::Lookup(const Caller& caller, Ino parent, const std::string& name) {
  if (name.size() > 255) return Status::Error(ENAMETOOLONG, "name longer than 255 bytes");
  if (const MountPoint* m = FindMount(parent, name)) return m->backend->GetAttr(m->backend->root());
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->Lookup(caller, parent, name);
}

void Namespace::Forget(Ino ino, uint64_t nlookup) {
  if (auto b = Route(ino); b.ok() && ino != (*b)->root()) (*b)->Forget(ino, nlookup);
}

Result<Attr> Namespace::GetAttr(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->GetAttr(ino);
}

Result<Attr> Namespace::SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req,
                                FileHandle* fh) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->SetAttr(caller, ino, req, fh);
}

Result<std::string> Namespace::ReadLink(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->ReadLink(ino);
}

Result<Attr> Namespace::MkNod(const Caller& caller, Ino parent, const std::string& name,
                              mode_t mode, dev_t rdev) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->MkNod(caller, parent, name, mode, rdev);
}

Result<Attr> Namespace::MkDir(const Caller& caller, Ino parent, const std::string& name,
                              mode_t mode) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->MkDir(caller, parent, name, mode);
}

Result<Attr> Namespace::Symlink(const Caller& caller, const std::string& target, Ino parent,
                                const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->Symlink(caller, target, parent, name);
}

Result<Attr> Namespace::Link(const Caller& caller, Ino ino, Ino new_parent,
                             const std::string& new_name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  if (FindMount(new_parent, new_name)) return Status::Error(EEXIST, "'" + new_name + "' exists");
  if (BackendOf(ino) != BackendOf(new_parent))
    return Status::Error(EXDEV, "hard link across zones");
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->Link(caller, ino, new_parent, new_name);
}

Status Namespace::Unlink(const Caller& caller, Ino parent, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EBUSY, "'" + name + "' is a mount point");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->Unlink(caller, parent, name);
}

Status Namespace::RmDir(const Caller& caller, Ino parent, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EBUSY, "'" + name + "' is a mount point");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->RmDir(caller, parent, name);
}

Status Namespace::Rename(const Caller& caller, Ino parent, const std::string& name,
                         Ino new_parent, const std::string& new_name, unsigned flags) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  if (FindMount(parent, name) || FindMount(new_parent, new_name))
    return Status::Error(EBUSY, "cannot rename a mount point");
  if (BackendOf(parent) != BackendOf(new_parent))
    return Status::Error(EXDEV, "rename across zones");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->Rename(caller, parent, name, new_parent, new_name, flags);
}

Result<std::unique_ptr<FileHandle>> Namespace::Open(const Caller& caller, Ino ino, int flags) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->Open(caller, ino, flags);
}

Result<Backend::Created> Namespace::Create(const Caller& caller, Ino parent,
                                           const std::string& name, mode_t mode, int flags) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  if (FindMount(parent, name)) return Status::Error(EISDIR, "'" + name + "' is a directory");
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  return (*b)->Create(caller, parent, name, mode, flags);
}

void Namespace::OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) {
  if (auto b = Route(fh.ino); b.ok()) (*b)->OnWrite(fh, offset, len);
}

Status Namespace::Fsync(FileHandle& fh, bool datasync) {
  auto b = Route(fh.ino);
  if (!b.ok()) return b.status();
  return (*b)->Fsync(fh, datasync);
}

Status Namespace::Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) {
  auto b = Route(fh.ino);
  if (!b.ok()) return b.status();
  return (*b)->Fallocate(fh, mode, offset, length);
}

void Namespace::Release(std::unique_ptr<FileHandle> fh) {
  auto b = Route(fh->ino);
  if (b.ok()) (*b)->Release(std::move(fh));
}

Result<std::vector<DirEntry>> Namespace::ReadDir(const Caller& caller, Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  auto entries = (*b)->ReadDir(caller, ino);
  if (!entries.ok()) return entries;
  for (const auto& m : mounts_) {
    if (m.parent != ino) continue;
    std::erase_if(*entries, [&](const DirEntry& e) { return e.name == m.name; });
    if (!m.hidden) entries->push_back({m.name, m.backend->root(), S_IFDIR});
  }
  return entries;
}

Status Namespace::FsyncDir(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->FsyncDir(ino);
}

Result<struct statvfs> Namespace::StatFs(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->StatFs();
}

Status Namespace::SetXattr(const Caller& caller, Ino ino, const std::string& name,
                           std::string_view value, int flags) {
  NEXUS_RETURN_IF_ERROR(ValidateXattrName(name));
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->SetXattr(caller, ino, name, value, flags);
}

Result<std::string> Namespace::GetXattr(Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateXattrName(name));
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->GetXattr(ino, name);
}

Result<std::vector<std::string>> Namespace::ListXattr(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->ListXattr(ino);
}

Status Namespace::RemoveXattr(const Caller& caller, Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateXattrName(name));
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->RemoveXattr(caller, ino, name);
}

}  // namespace nexus
