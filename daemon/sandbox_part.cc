#include "daemon/sandbox_part.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "sandbox/bwrap_provider.h"

namespace nexus {

Result<std::unique_ptr<SandboxPart>> SandboxPart::Open(const std::string& data_dir, SubjectMounts* mounts,
                                                       bool workspace, forks::ForkRegistry* forks) {
  const std::string dir = data_dir + "/sandboxes";
  if (::mkdir(dir.c_str(), 0711) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  // Sandboxes do not outlive nexusd: a mount point left by one that was
  // killed is detached and removed.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.path().filename() == ".probe") continue;
    ::umount2(path.c_str(), MNT_DETACH);
    if (::rmdir(path.c_str()) == 0) spdlog::info("sandboxes: removed {} left by an earlier run", path);
  }
  const std::string probe = dir + "/.probe";
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + probe);

  sandbox::BwrapProvider::Options bo;
  bo.probe_dir = probe;
  auto bwrap = std::make_unique<sandbox::BwrapProvider>(bo);
  NEXUS_RETURN_IF_ERROR(bwrap->Available());
  if (Status limits = bwrap->LimitsAvailable(); !limits.ok())
    spdlog::info("sandboxes: resource limits unavailable: {}", limits.message());

  std::unique_ptr<SandboxPart> part(new SandboxPart(mounts));
  sandbox::SandboxTable::Options to;
  to.dir = dir;
  to.default_root = workspace ? "/zone/local" : "/";
  if (forks)
    to.own_fork = [forks](const std::string& subject) -> Result<std::string> {
      std::vector<std::string> own;
      for (const forks::ForkInfo& f : forks->List())
        if (f.state == "active" && f.owner == subject) own.push_back(f.path);
      if (own.size() > 1) {
        std::string list;
        for (const std::string& p : own) list += (list.empty() ? "" : ", ") + p;
        return Status::Error(EINVAL, subject + " has several forks (" + list + "); pick one with --root");
      }
      return own.empty() ? std::string() : own.front();
    };
  std::vector<std::unique_ptr<sandbox::Provider>> providers;
  providers.push_back(std::move(bwrap));
  part->table_ = std::make_unique<sandbox::SandboxTable>(to, part.get(), std::move(providers));
  spdlog::info("sandboxes: bwrap provider ready (default root {}, uid {})", to.default_root, to.uid);
  return part;
}

SandboxPart::~SandboxPart() { table_.reset(); }

Status SandboxPart::Mount(const std::string& mountpoint, const std::string& subject,
                          const std::string& root) {
  return mounts_->Add(mountpoint, subject, root, /*cache_names=*/false).status();
}

Status SandboxPart::Unmount(const std::string& mountpoint) { return mounts_->Remove(mountpoint); }

}  // namespace nexus
