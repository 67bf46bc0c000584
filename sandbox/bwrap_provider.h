// BwrapProvider: sandboxes as long-lived bubblewrap namespaces
// (mesh::SandboxSession), with resource limits through cgroups where the
// daemon may create them with the memory, cpu and pids controllers: cgroup
// v2, or the v1 hierarchies of a legacy or hybrid host.
//
// Threading: as Provider (provider.h). Available's probe runs once and is
// remembered.
#pragma once

#include <optional>
#include <string>

#include "base/mutex.h"
#include "sandbox/provider.h"

namespace nexus::sandbox {

// Where cgroups can be used for limits. Preferred: a cgroup2 mount whose
// root offers memory, cpu and pids and lets us make a child. Otherwise the
// cgroup v1 hierarchies of the memory, cpu and pids controllers, each at
// the daemon's own cgroup in it (so the host's limits on nexusd still
// hold), where we may make a child. `mountinfo` is /proc/self/mountinfo's
// text and `self_cgroup` /proc/self/cgroup's (parameters so tests can feed
// others).
struct CgroupProbe {
  enum class Kind { kNone, kV2, kV1 };
  Kind kind = Kind::kNone;
  std::string dir;  // v2: the cgroup2 mount
  // v1: the parent directory in each controller's hierarchy.
  std::string memory, cpu, pids;
  std::string why;  // when kNone
  bool ok() const { return kind != Kind::kNone; }
};
CgroupProbe ProbeCgroups(const std::string& mountinfo, const std::string& self_cgroup);

class BwrapProvider final : public Provider {
 public:
  struct Options {
    std::string bwrap = "bwrap";
    std::string nsenter = "nsenter";
    std::string mountinfo = "/proc/self/mountinfo";
    std::string self_cgroup = "/proc/self/cgroup";
    std::string probe_dir;  // an empty directory for the availability probe
  };
  explicit BwrapProvider(Options options);

  std::string name() const override { return "bwrap"; }
  Status Available() override;
  Status LimitsAvailable() override;
  Result<std::unique_ptr<Instance>> Start(const InstanceSpec& spec) override;

 private:
  const Options options_;
  Mutex mu_;
  std::optional<Status> available_ GUARDED_BY(mu_);
  std::optional<CgroupProbe> cgroup_ GUARDED_BY(mu_);
};

}  // namespace nexus::sandbox
