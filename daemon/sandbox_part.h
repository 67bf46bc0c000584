// SandboxPart: nexusd's local sandboxes (feature `sandboxes`,
// docs/sandboxes.md). Owns the SandboxTable with the built-in bubblewrap
// provider; a sandbox's /workspace is a per-subject mount (the ReBAC
// part's SubjectMounts) under DATA/sandboxes/ID, so the feature needs
// `rebac`. Open probes the provider once: a node where bwrap cannot give
// processes their own namespaces and uid reports the feature unavailable,
// with bwrap's reason.
//
// Threading: Open, Fill and the destructor run on nexusd's main thread. The
// destructor stops every sandbox (ending runs in flight): it goes after the
// socket server and before the background jobs.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "forks/fork_registry.h"
#include "rpc/server/service.h"
#include "sandbox/sandbox_table.h"

namespace nexus {

class SandboxPart final : public sandbox::WorkspaceMounts {
 public:
  // `mounts` (and `forks`, null when forks are off) must outlive the part.
  // A sandbox's default root is its subject's own fork where it has one,
  // else /zone/local with a workspace, else /. ENOSYS (with why) when no
  // provider can run sandboxes here.
  static Result<std::unique_ptr<SandboxPart>> Open(const std::string& data_dir, SubjectMounts* mounts,
                                                   bool workspace, forks::ForkRegistry* forks);
  ~SandboxPart() override;

  void Fill(ServiceContext& ctx) { ctx.sandboxes.table = table_.get(); }

  Status Mount(const std::string& mountpoint, const std::string& subject, const std::string& root) override;
  Status Unmount(const std::string& mountpoint) override;

 private:
  explicit SandboxPart(SubjectMounts* mounts) : mounts_(mounts) {}
  SubjectMounts* const mounts_;
  std::unique_ptr<sandbox::SandboxTable> table_;
};

}  // namespace nexus
