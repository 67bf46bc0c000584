#include "forks/forks_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/layout.h"
#include "base/ns_path.h"

namespace nexus::forks {
namespace {

constexpr std::string_view kDir = "/forks";

Status Made(std::string_view op) {
  return Status::Error(
      EPERM, std::string(op) + " in /forks: forks are made with `nexus fork create NAME --from PATH`");
}
Status Removed(std::string_view op) {
  return Status::Error(EPERM,
                       std::string(op) + " in /forks: forks are removed with `nexus fork discard NAME`");
}
Status Changed(std::string_view op) {
  return Status::Error(EPERM,
                       std::string(op) + " of /forks: it is kept by nexusd (nexus fork create|discard)");
}
Status NoFile() { return Status::Error(EISDIR, "/forks is a directory"); }

}  // namespace

ForksDir::ForksDir(uint16_t id, Source* source, Namespace* ns)
    : id_(id),
      source_(source),
      ns_(ns),
      uid_(::geteuid()),
      gid_(::getegid()),
      created_ns_(DefaultClock().Now()),
      changed_ns_(created_ns_) {}

void ForksDir::Touch() { changed_ns_.store(DefaultClock().Now(), std::memory_order_relaxed); }

Status ForksDir::CheckRoot(Ino ino) const {
  if (ino != root()) return Status::Error(ENOENT, "no inode " + std::to_string(ino) + " in /forks");
  return Status::Ok();
}

Result<Attr> ForksDir::Lookup(const Caller&, Ino parent, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(parent));
  Backend* tree = source_->FindActive(name);
  if (!tree) return Status::Error(ENOENT, "no fork named '" + name + "'");
  return tree->GetAttr(tree->root());
}

Result<Attr> ForksDir::GetAttr(Ino ino) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  Attr a;
  a.ino = root();
  a.mode = S_IFDIR | 0755;
  a.nlink = 2;
  a.uid = uid_;
  a.gid = gid_;
  a.btime = FromNanos(created_ns_);
  a.atime = a.mtime = a.ctime = FromNanos(changed_ns_.load(std::memory_order_relaxed));
  return a;
}

Result<Attr> ForksDir::SetAttr(const Caller&, Ino ino, const SetAttrRequest&, FileHandle*) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return Changed("setattr");
}

Result<std::string> ForksDir::ReadLink(Ino ino) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return Status::Error(EINVAL, "/forks is not a symbolic link");
}

Result<Attr> ForksDir::MkNod(const Caller&, Ino, const std::string&, mode_t, dev_t) { return Made("mknod"); }
Result<Attr> ForksDir::MkDir(const Caller&, Ino, const std::string&, mode_t) { return Made("mkdir"); }
Result<Attr> ForksDir::Symlink(const Caller&, const std::string&, Ino, const std::string&) {
  return Made("symlink");
}
Result<Attr> ForksDir::Link(const Caller&, Ino, Ino, const std::string&) { return Made("link"); }
Status ForksDir::Unlink(const Caller&, Ino, const std::string&) { return Removed("unlink"); }
Status ForksDir::RmDir(const Caller&, Ino, const std::string&) { return Removed("rmdir"); }
Status ForksDir::Rename(const Caller&, Ino, const std::string&, Ino, const std::string&, unsigned) {
  return Status::Error(EPERM, "rename in /forks: a fork keeps its name (nexus fork create|discard)");
}
Result<std::unique_ptr<FileHandle>> ForksDir::Open(const Caller&, Ino ino, int) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return NoFile();
}
Result<Backend::Created> ForksDir::Create(const Caller&, Ino, const std::string&, mode_t, int) {
  return Made("create");
}
Status ForksDir::Fsync(FileHandle&, bool) { return NoFile(); }
Status ForksDir::Fallocate(FileHandle&, int, off_t, off_t) { return NoFile(); }
void ForksDir::Release(std::unique_ptr<FileHandle> fh) {
  if (fh && fh->fd >= 0) ::close(fh->fd);
}

Result<std::vector<DirEntry>> ForksDir::ReadDir(const Caller& caller, Ino ino) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  AccessPolicy* policy = ns_ ? ns_->access_policy() : nullptr;
  const bool all = !policy || policy->Unrestricted(caller);
  std::vector<DirEntry> out;
  for (auto& e : source_->ActiveForks()) {
    if (!all && !policy->CanSee(caller, PathJoin(kDir, e.name), true)) continue;
    out.push_back({std::move(e.name), e.tree->root(), S_IFDIR});
  }
  return out;
}

Status ForksDir::FsyncDir(Ino ino) { return CheckRoot(ino); }

Result<struct statvfs> ForksDir::StatFs() {
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_namemax = 255;
  sv.f_flag = ST_RDONLY;
  return sv;
}

Status ForksDir::SetXattr(const Caller&, Ino ino, const std::string&, std::string_view, int) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return Changed("setxattr");
}
Result<std::string> ForksDir::GetXattr(Ino ino, const std::string&) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return Status::Error(ENODATA, "no such attribute");
}
Result<std::vector<std::string>> ForksDir::ListXattr(Ino ino) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return std::vector<std::string>{};
}
Status ForksDir::RemoveXattr(const Caller&, Ino ino, const std::string&) {
  NEXUS_RETURN_IF_ERROR(CheckRoot(ino));
  return Changed("removexattr");
}

std::string ForksDir::PathOf(Ino ino) const { return ino == root() ? std::string(kDir) : std::string(); }

}  // namespace nexus::forks
