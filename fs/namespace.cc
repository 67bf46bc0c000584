#include "fs/namespace.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/layout.h"
#include "base/ns_path.h"
#include "fs/change_events.h"

namespace nexus {

namespace {
constexpr size_t kBackendIds = size_t{1} << 16;
}  // namespace

Namespace::Namespace(Backend* root) : root_(root), backends_(new std::atomic<Backend*>[kBackendIds]) {
  for (size_t i = 0; i < kBackendIds; ++i) backends_[i].store(nullptr, std::memory_order_relaxed);
  backends_[0].store(root, std::memory_order_release);
}

Status Namespace::AddMount(Ino parent, const std::string& name, Backend* backend, bool hidden) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  MutexLock lk(mounts_mu_);
  Backend* had = backends_[backend->id()].load(std::memory_order_acquire);
  if (had && had != backend) return Status::Error(EEXIST, "backend id already registered");
  if (FindMount(parent, name)) return Status::Error(EEXIST, "mount point exists");
  const size_t n = mount_count_.load(std::memory_order_relaxed);
  if (n == kMaxMounts)
    return Status::Error(ENOSPC,
                         "no room for mount " + name + ": " + std::to_string(kMaxMounts) + " at most");
  mounts_[n] = {parent, name, backend, hidden};
  backends_[backend->id()].store(backend, std::memory_order_release);
  mount_count_.store(n + 1, std::memory_order_release);  // publishes the slot
  return Status::Ok();
}

Status Namespace::AttachBackend(Backend* backend) {
  if (backend->id() == 0) return Status::Error(EINVAL, "backend id 0 is the root tree's");
  Backend* expected = nullptr;
  if (!backends_[backend->id()].compare_exchange_strong(expected, backend, std::memory_order_acq_rel))
    return Status::Error(EEXIST, "backend id " + std::to_string(backend->id()) + " already attached");
  return Status::Ok();
}

void Namespace::DetachBackend(uint16_t id) {
  if (id != 0) backends_[id].store(nullptr, std::memory_order_release);
}

Namespace::ChangeScope::ChangeScope(Namespace* ns, bool changes)
    : ns_(changes && ns->hook_.load(std::memory_order_acquire) ? ns : nullptr) {
  if (!ns_) return;
  // The gate prefers readers: while HoldChanges waits, new changes queue
  // on the turnstile it holds, so a steady flow of changes cannot starve it.
  if (ns_->closing_.load(std::memory_order_acquire)) MutexLock wait(ns_->turnstile_);
  ns_->change_gate_.lock_shared();
}

Namespace::ChangeScope::~ChangeScope() {
  if (ns_) ns_->change_gate_.unlock_shared();
}

Status Namespace::HoldChanges(const std::function<Status()>& f) {
  MutexLock turnstile(turnstile_);
  closing_.store(true, std::memory_order_release);
  Status st;
  {
    WriterLock lk(change_gate_);
    st = f();
  }
  closing_.store(false, std::memory_order_release);
  return st;
}

Status Namespace::BeforeChange(Backend* b, PreChange kind, Ino ino, std::string_view name) {
  PreChangeHook* hook = hook_.load(std::memory_order_acquire);
  if (!hook || !hook->Watched(b->id())) return Status::Ok();
  return hook->BeforeChange(*b, kind, ino, name);
}

Result<Backend*> Namespace::Route(Ino ino) const {
  Backend* b = backends_[BackendOf(ino)].load(std::memory_order_acquire);
  if (!b) return Status::Error(ENOENT, "no backend for inode " + std::to_string(ino));
  return b;
}

const Namespace::MountPoint* Namespace::FindMount(Ino parent, const std::string& name) const {
  for (const auto& m : Mounts())
    if (m.parent == parent && m.name == name) return &m;
  return nullptr;
}

Result<Backend::ClosedContent> Namespace::OpenClosed(Ino ino, uint64_t gen) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->OpenClosed(ino, gen);
}

bool Namespace::ClosedStillLive(Ino ino, uint64_t gen) {
  auto b = Route(ino);
  return b.ok() && (*b)->ClosedStillLive(ino, gen);
}

std::vector<Backend::LeftClose> Namespace::ClosedLeftOver() {
  std::vector<Backend::LeftClose> out;
  for (size_t i = 0; i < kBackendIds; ++i) {
    Backend* b = backends_[i].load(std::memory_order_acquire);
    if (!b) continue;
    auto left = b->ClosedLeftOver();
    out.insert(out.end(), std::make_move_iterator(left.begin()), std::make_move_iterator(left.end()));
  }
  return out;
}

void Namespace::ClosedCaptured(Ino ino, uint64_t gen) {
  if (auto b = Route(ino); b.ok()) (*b)->ClosedCaptured(ino, gen);
}

std::string Namespace::PathOf(Ino ino) const {
  if (ino == kRootIno) return "/";
  auto b = Route(ino);
  return b.ok() ? (*b)->PathOf(ino) : std::string();
}

Status Namespace::Refuse(const Caller& caller, int code, std::string_view op, const std::string& path,
                         std::string_view why) {
  access_policy()->Denied(caller, op, path, why);
  if (code == ENOENT) return Status::Error(ENOENT, "no such file or directory");
  return Status::Error(code, "permission denied: " + access_policy()->SubjectOf(caller) + " " +
                                 std::string(why) + " on " + path);
}

// /.nexus is closed to restricted callers but for itself and the activity
// files, which their backend filters per reader: there the policy is not
// asked, elsewhere in /.nexus the answer is no.
bool Namespace::Sees(const Caller& caller, std::string_view path, bool is_dir) {
  if (layout::IsSystemPath(path))
    return path == layout::kSystemDir || PathIsUnder(path, layout::kActivityDir);
  return access_policy()->CanSee(caller, path, is_dir);
}

bool Namespace::Permits(const Caller& caller, Need need, std::string_view path, bool is_dir) {
  if (layout::IsSystemPath(path)) return need == Need::kRead && Sees(caller, path, is_dir);
  return access_policy()->Can(caller, need, path, is_dir);
}

Status Namespace::CheckSee(const Caller& caller, const Attr& attr, std::string_view op,
                           std::string* seen_path) {
  std::string path = PathOf(attr.ino);
  if (attr.ino == kRootIno) {
    if (seen_path) *seen_path = std::move(path);
    return Status::Ok();
  }
  if (path.empty() || !Sees(caller, path, attr.IsDir()))
    return Refuse(caller, ENOENT, op, path.empty() ? "inode " + std::to_string(attr.ino) : path,
                  "not visible");
  if (seen_path) *seen_path = std::move(path);
  return Status::Ok();
}

namespace {
std::string_view NeedName(Need n) {
  return n == Need::kRead ? "read" : n == Need::kWrite ? "write" : "manage";
}
}  // namespace

Status Namespace::CheckDir(const Caller& caller, Ino dir, Need need, std::string_view op, std::string* path) {
  *path = PathOf(dir);
  if (path->empty() || (dir != kRootIno && !Sees(caller, *path, true)))
    return Refuse(caller, ENOENT, op, path->empty() ? "inode " + std::to_string(dir) : *path, "not visible");
  if (!Permits(caller, need, *path, true))
    return Refuse(caller, EACCES, op, *path, "lacks " + std::string(NeedName(need)));
  return Status::Ok();
}

namespace {
bool IsDaemon(const Caller& caller) {
  return caller.principal && caller.principal->how == AuthMethod::kDaemon;
}
Status AgentStructureError(std::string_view op, const std::string& path) {
  return Status::Error(EPERM, std::string(op) + " " + path +
                                  ": agent homes are kept by nexusd (nexus agent register|update|delete)");
}
}  // namespace

Status Namespace::GuardAgentName(const Caller& caller, Ino parent, std::string_view name,
                                 std::string_view op) {
  const Ino agents = agents_dir_.load(std::memory_order_acquire);
  if (agents == 0 || IsDaemon(caller)) return Status::Ok();
  if (parent == kRootIno) {
    if (name == layout::kAgentsName) return AgentStructureError(op, std::string(layout::kAgentsDir));
    return Status::Ok();
  }
  if (parent == agents) return AgentStructureError(op, PathJoin(std::string(layout::kAgentsDir), name));
  if (name != layout::kAgentRecordName &&
      std::find(layout::kMailboxFolders.begin(), layout::kMailboxFolders.end(), name) ==
          layout::kMailboxFolders.end())
    return Status::Ok();
  std::string path = PathJoin(PathOf(parent), name);
  return layout::IsAgentStructure(path) ? AgentStructureError(op, path) : Status::Ok();
}

Status Namespace::GuardAgentRecord(const Caller& caller, const Attr& attr, const std::string* path,
                                   std::string_view op) {
  if (agents_dir_.load(std::memory_order_acquire) == 0 || IsDaemon(caller) || attr.IsDir())
    return Status::Ok();
  if (path) return layout::IsAgentRecord(*path) ? AgentStructureError(op, *path) : Status::Ok();
  if (attr.mode & 0222) return Status::Ok();
  std::string p = PathOf(attr.ino);
  return layout::IsAgentRecord(p) ? AgentStructureError(op, p) : Status::Ok();
}

Result<Attr> Namespace::Resolve(const Caller& caller, const std::string& path) {
  auto attr = ResolvePinned(caller, path);
  if (attr.ok() && attr->ino != kRootIno) Forget(attr->ino, 1);
  return attr;
}

Result<Attr> Namespace::ResolvePinned(const Caller& caller, const std::string& path) {
  // ".." means something only to a walk that follows symlinks (fs/path_files.h).
  auto parsed = NsPath::Parse(path);
  if (!parsed.ok()) return parsed.status();
  auto attr = GetAttr(kRootIno);
  // An inode number is only valid while referenced: keep each component's
  // lookup reference until the next one is resolved.
  Ino held = 0;
  for (std::string_view name : parsed->Components()) {
    if (!attr.ok()) break;
    attr = Lookup(caller, attr->ino, std::string(name));
    if (held) Forget(held, 1);
    held = attr.ok() ? attr->ino : 0;
  }
  return attr;
}

bool Namespace::SharedPath(std::string_view parent_path, std::string_view path, bool is_dir) {
  AccessPolicy* policy = access_policy();
  if (!policy) return true;
  auto views = policy->UidViews();
  if (!views || parent_path.empty() || path.empty()) return false;
  for (const Caller& view : *views) {
    const bool sees_parent = parent_path == "/" || Sees(view, parent_path, true);
    if (sees_parent && !Sees(view, path, is_dir)) return false;
  }
  return true;
}

bool Namespace::SharedName(Ino parent, std::string_view name, const Attr& attr, std::string* path) {
  auto b = Route(parent);
  if (!b.ok() || !(*b)->SameForEveryCaller()) return false;
  if (!access_policy()) return true;
  if (!attr.IsDir() && attr.nlink > 1) return false;
  const std::string parent_path = PathOf(parent);
  if (parent_path.empty()) return false;
  std::string child = PathJoin(parent_path, name);
  const bool shared = SharedPath(parent_path, child, attr.IsDir());
  if (path) *path = std::move(child);
  return shared;
}

bool Namespace::NamesStayShared(Ino parent, std::string_view name, const Attr& attr) {
  if (!access_policy()) return true;
  std::string path;
  if (!SharedName(parent, name, attr, &path)) return false;
  return !attr.IsDir() || !access_policy()->ViewsDifferBelow(path);
}

Result<Attr> Namespace::Lookup(const Caller& caller, Ino parent, const std::string& name, bool* shared) {
  if (shared) *shared = false;
  if (name.size() > kNameMax) return Status::Error(ENAMETOOLONG, "name longer than 255 bytes");
  if (const MountPoint* m = FindMount(parent, name)) {
    auto attr = m->backend->GetAttr(m->backend->root());
    const bool restricted = Restricted(caller);
    if (!attr.ok() || (!restricted && !shared)) return attr;
    const std::string parent_path = PathOf(parent);
    const std::string path = PathJoin(parent_path, name);
    // Hidden mounts are for unrestricted callers, but for /.nexus, which
    // restricted callers enter for the activity files (Sees). They are
    // never shared.
    if (m->hidden && path != layout::kSystemDir) {
      if (restricted) return Refuse(caller, ENOENT, "lookup", path, "not visible");
      return attr;
    }
    if (restricted) NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "lookup"));
    if (shared) *shared = SharedPath(parent_path, path, true);
    return attr;
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  auto attr = (*b)->Lookup(caller, parent, name);
  if (!attr.ok()) {
    // Absent for everyone, unless the backend answers each caller apart.
    if (shared) *shared = attr.code() == ENOENT && (*b)->SameForEveryCaller();
    return attr;
  }
  if (Restricted(caller)) {
    if (Status st = CheckSee(caller, *attr, "lookup"); !st.ok()) {
      Forget(attr->ino, 1);
      return st;
    }
  }
  if (shared) *shared = SharedName(parent, name, *attr);
  return attr;
}

void Namespace::Forget(Ino ino, uint64_t nlookup) {
  if (auto b = Route(ino); b.ok() && ino != (*b)->root()) (*b)->Forget(ino, nlookup);
}

Result<Attr> Namespace::GetAttr(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->GetAttr(ino);
}

Result<Attr> Namespace::GetAttr(const Caller& caller, Ino ino) {
  auto attr = GetAttr(ino);
  if (!attr.ok() || !Restricted(caller)) return attr;
  NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "getattr"));
  return attr;
}

Result<Attr> Namespace::SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  if (Restricted(caller)) {
    auto attr = (*b)->GetAttr(ino);
    if (!attr.ok()) return attr;
    std::string path;
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "setattr", &path));
    const bool others = (req.valid & (SetAttrRequest::kMode | SetAttrRequest::kUid | SetAttrRequest::kGid)) &&
                        attr->uid != caller.uid;
    const Need need = others ? Need::kManage : Need::kWrite;
    if (!Permits(caller, need, path, attr->IsDir()))
      return Refuse(caller, EACCES, "setattr", path, "lacks " + std::string(NeedName(need)));
    NEXUS_RETURN_IF_ERROR(GuardAgentRecord(caller, *attr, &path, "setattr"));
  } else if (agents_dir_.load(std::memory_order_relaxed) != 0) {
    auto attr = (*b)->GetAttr(ino);
    if (!attr.ok()) return attr;
    NEXUS_RETURN_IF_ERROR(GuardAgentRecord(caller, *attr, nullptr, "setattr"));
  }
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(
      BeforeChange(*b, (req.valid & SetAttrRequest::kSize) ? PreChange::kContent : PreChange::kAttrs, ino));
  return (*b)->SetAttr(caller, ino, req, fh);
}

Result<std::string> Namespace::ReadLink(Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->ReadLink(ino);
}

Result<std::string> Namespace::ReadLink(const Caller& caller, Ino ino) {
  if (Restricted(caller)) {
    auto attr = GetAttr(ino);
    if (!attr.ok()) return attr.status();
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "readlink"));
  }
  return ReadLink(ino);
}

Result<Attr> Namespace::MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                              dev_t rdev) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "mknod"));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "mknod", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  return (*b)->MkNod(caller, parent, name, mode, rdev);
}

Result<Attr> Namespace::MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "mkdir"));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "mkdir", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  return (*b)->MkDir(caller, parent, name, mode);
}

Result<Attr> Namespace::Symlink(const Caller& caller, const std::string& target, Ino parent,
                                const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "symlink"));
  if (FindMount(parent, name)) return Status::Error(EEXIST, "'" + name + "' exists");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "symlink", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  return (*b)->Symlink(caller, target, parent, name);
}

Result<Attr> Namespace::Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, new_parent, new_name, "link"));
  if (FindMount(new_parent, new_name)) return Status::Error(EEXIST, "'" + new_name + "' exists");
  if (BackendOf(ino) != BackendOf(new_parent)) return Status::Error(EXDEV, "hard link across zones");
  if (Restricted(caller)) {
    auto attr = GetAttr(ino);
    if (!attr.ok()) return attr;
    std::string src;
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "link", &src));
    if (!Permits(caller, Need::kRead, src, attr->IsDir()))
      return Refuse(caller, EACCES, "link", src, "lacks read");
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, new_parent, Need::kWrite, "link", &dir));
  }
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, new_parent, new_name));
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kAttrs, ino));
  return (*b)->Link(caller, ino, new_parent, new_name);
}

Status Namespace::Unlink(const Caller& caller, Ino parent, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "unlink"));
  if (FindMount(parent, name)) return Status::Error(EBUSY, "'" + name + "' is a mount point");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "unlink", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  return (*b)->Unlink(caller, parent, name);
}

Status Namespace::RmDir(const Caller& caller, Ino parent, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "rmdir"));
  if (FindMount(parent, name)) return Status::Error(EBUSY, "'" + name + "' is a mount point");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "rmdir", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  return (*b)->RmDir(caller, parent, name);
}

Status Namespace::Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                         const std::string& new_name, unsigned flags) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "rename"));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, new_parent, new_name, "rename"));
  if (FindMount(parent, name) || FindMount(new_parent, new_name))
    return Status::Error(EBUSY, "cannot rename a mount point");
  if (BackendOf(parent) != BackendOf(new_parent)) return Status::Error(EXDEV, "rename across zones");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "rename", &dir));
    if (new_parent != parent)
      NEXUS_RETURN_IF_ERROR(CheckDir(caller, new_parent, Need::kWrite, "rename", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, new_parent, new_name));
  return (*b)->Rename(caller, parent, name, new_parent, new_name, flags);
}

Result<std::unique_ptr<FileHandle>> Namespace::Open(const Caller& caller, Ino ino, int flags) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  if (Restricted(caller)) {
    auto attr = (*b)->GetAttr(ino);
    if (!attr.ok()) return attr.status();
    std::string path;
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "open", &path));
    const int acc = flags & O_ACCMODE;
    if (acc != O_RDONLY || (flags & O_TRUNC)) {
      if (!Permits(caller, Need::kWrite, path, attr->IsDir()))
        return Refuse(caller, EACCES, "open", path, "lacks write");
      NEXUS_RETURN_IF_ERROR(GuardAgentRecord(caller, *attr, &path, "open"));
    }
  } else if (((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) &&
             agents_dir_.load(std::memory_order_relaxed) != 0) {
    auto attr = (*b)->GetAttr(ino);
    if (!attr.ok()) return attr.status();
    NEXUS_RETURN_IF_ERROR(GuardAgentRecord(caller, *attr, nullptr, "open"));
  }
  const ChangeScope changing(this, (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC));
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
    NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kContent, ino));
  return (*b)->Open(caller, ino, flags);
}

Result<Backend::Created> Namespace::Create(const Caller& caller, Ino parent, const std::string& name,
                                           mode_t mode, int flags) {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(GuardAgentName(caller, parent, name, "create"));
  if (FindMount(parent, name)) return Status::Error(EISDIR, "'" + name + "' is a directory");
  if (Restricted(caller)) {
    std::string dir;
    NEXUS_RETURN_IF_ERROR(CheckDir(caller, parent, Need::kWrite, "create", &dir));
  }
  auto b = Route(parent);
  if (!b.ok()) return b.status();
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kEntries, parent, name));
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
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kContent, fh.ino));
  return (*b)->Fallocate(fh, mode, offset, length);
}

Status Namespace::Flush(FileHandle& fh) {
  auto b = Route(fh.ino);
  if (!b.ok()) return Status::Ok();
  return (*b)->Flush(fh);
}

void Namespace::BeforeWrite(FileHandle& fh) {
  if (auto b = Route(fh.ino); b.ok()) (*b)->BeforeWrite(fh);
}

void Namespace::Release(std::unique_ptr<FileHandle> fh) {
  auto b = Route(fh->ino);
  if (b.ok()) (*b)->Release(std::move(fh));
}

Result<std::vector<DirEntry>> Namespace::ReadDir(const Caller& caller, Ino ino) {
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  const bool restricted = Restricted(caller);
  std::string path;
  if (restricted) {
    auto attr = (*b)->GetAttr(ino);
    if (!attr.ok()) return attr.status();
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "readdir", &path));
  }
  auto entries = (*b)->ReadDir(caller, ino);
  if (!entries.ok()) return entries;
  for (const auto& m : Mounts()) {
    if (m.parent != ino) continue;
    std::erase_if(*entries, [&](const DirEntry& e) { return e.name == m.name; });
    if (!m.hidden) entries->push_back({m.name, m.backend->root(), S_IFDIR});
  }
  // A folder the caller only passes through lists what leads somewhere.
  // (So does /.nexus: only what Sees allows there, the activity files.)
  if (restricted && (layout::IsSystemPath(path) || !Permits(caller, Need::kRead, path, true))) {
    std::erase_if(*entries, [&](const DirEntry& e) {
      return !Sees(caller, PathJoin(path, e.name), e.type == S_IFDIR);
    });
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

Status Namespace::CheckWrite(const Caller& caller, Ino ino, std::string_view op) {
  const bool restricted = Restricted(caller);
  if (!restricted && agents_dir_.load(std::memory_order_relaxed) == 0) return Status::Ok();
  auto attr = GetAttr(ino);
  if (!attr.ok()) return attr.status();
  if (!restricted) return GuardAgentRecord(caller, *attr, nullptr, op);
  std::string path;
  NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, op, &path));
  if (!Permits(caller, Need::kWrite, path, attr->IsDir()))
    return Refuse(caller, EACCES, op, path, "lacks write");
  return GuardAgentRecord(caller, *attr, &path, op);
}

Status Namespace::SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                           int flags) {
  NEXUS_RETURN_IF_ERROR(ValidateXattrName(name));
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  NEXUS_RETURN_IF_ERROR(CheckWrite(caller, ino, "setxattr"));
  if (ino == agents_dir_.load(std::memory_order_relaxed) && !IsDaemon(caller))
    return AgentStructureError("setxattr", std::string(layout::kAgentsDir));
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kAttrs, ino));
  return (*b)->SetXattr(caller, ino, name, value, flags);
}

Result<std::string> Namespace::GetXattr(Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(ValidateXattrName(name));
  auto b = Route(ino);
  if (!b.ok()) return b.status();
  return (*b)->GetXattr(ino, name);
}

Result<std::string> Namespace::GetXattr(const Caller& caller, Ino ino, const std::string& name) {
  if (Restricted(caller)) {
    auto attr = GetAttr(ino);
    if (!attr.ok()) return attr.status();
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "getxattr"));
  }
  return GetXattr(ino, name);
}

Result<std::vector<std::string>> Namespace::ListXattr(const Caller& caller, Ino ino) {
  if (Restricted(caller)) {
    auto attr = GetAttr(ino);
    if (!attr.ok()) return attr.status();
    NEXUS_RETURN_IF_ERROR(CheckSee(caller, *attr, "listxattr"));
  }
  return ListXattr(ino);
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
  NEXUS_RETURN_IF_ERROR(CheckWrite(caller, ino, "removexattr"));
  if (ino == agents_dir_.load(std::memory_order_relaxed) && !IsDaemon(caller))
    return AgentStructureError("removexattr", std::string(layout::kAgentsDir));
  const ChangeScope changing(this);
  NEXUS_RETURN_IF_ERROR(BeforeChange(*b, PreChange::kAttrs, ino));
  return (*b)->RemoveXattr(caller, ino, name);
}

Result<std::vector<RenamedAside>> RenameReservedAside(Namespace& ns) {
  const Caller daemon;
  // Whether `name` is taken in the root; the lookup reference is dropped.
  auto taken = [&](const std::string& name) -> Result<bool> {
    auto a = ns.Lookup(daemon, kRootIno, name);
    if (a.ok()) ns.Forget(a->ino, 1);
    if (a.ok() || a.code() == ENOENT) return a.ok();
    return a.status();
  };
  std::vector<RenamedAside> out;
  for (std::string_view reserved : layout::kRenamedAsideNames) {
    const std::string name(reserved);
    auto present = taken(name);
    if (!present.ok()) return present.status();
    if (!*present) continue;
    if (auto a = ns.Lookup(daemon, kRootIno, name); a.ok()) {
      auto mark = ns.GetXattr(a->ino, std::string(layout::kReservedXattr));
      ns.Forget(a->ino, 1);
      if (mark.ok() && *mark == name) continue;  // NexusFS's own
    }
    std::string aside;
    for (int n = 1;; ++n) {
      aside = name + ".user-" + std::to_string(n);
      auto busy = taken(aside);
      if (!busy.ok()) return busy.status();
      if (!*busy) break;
    }
    Status st = ns.Rename(daemon, kRootIno, name, kRootIno, aside, RENAME_NOREPLACE);
    if (!st.ok())
      return Status::Error(st.code(), "renaming /" + name + " aside to /" + aside + ": " + st.message());
    spdlog::warn("/{} is reserved for NexusFS: the folder found there is now /{}", name, aside);
    out.push_back({"/" + name, "/" + aside});
  }
  return out;
}

}  // namespace nexus
