// BwrapProvider: sandboxes as long-lived bubblewrap namespaces
// (mesh::SandboxSession), with resource limits through cgroup v2 where the
// daemon may create cgroups with the memory, cpu and pids controllers.
//
// Threading: as Provider (provider.h). Available's probe runs once and is
// remembered.
#pragma once

#include <optional>
#include <string>

#include "base/mutex.h"
#include "sandbox/provider.h"

namespace nexus::sandbox {

// Where cgroup v2 can be used for limits: a cgroup2 mount whose root
// offers memory, cpu and pids and lets us make a child. `mountinfo` is
// /proc/self/mountinfo's text (a parameter so tests can feed others).
struct CgroupProbe {
  std::string dir;  // the cgroup2 mount; empty when unavailable
  std::string why;  // when unavailable
};
CgroupProbe ProbeCgroupV2(const std::string& mountinfo);

class BwrapProvider final : public Provider {
 public:
  struct Options {
    std::string bwrap = "bwrap";
    std::string nsenter = "nsenter";
    std::string mountinfo = "/proc/self/mountinfo";
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
