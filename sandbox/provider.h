// Sandbox providers: what runs a sandbox (docs/sandboxes.md). The
// bubblewrap provider (bwrap_provider.h) is built in; others (a container
// engine) implement the same interface. A provider that cannot run here
// says so from Available() and is never used in its place.
//
// Threading: a Provider is shared by every thread of the table; Available
// and Start may be called concurrently. An Instance's Run may be called from
// several threads at once; Stop from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "mesh/task_runner.h"

namespace nexus::sandbox {

// Resource limits of one sandbox; 0 is "no limit".
struct Limits {
  uint64_t memory_bytes = 0;
  double cpus = 0;
  uint32_t pids = 0;
  bool any() const { return memory_bytes || cpus > 0 || pids; }
};

// What an instance is started with.
struct InstanceSpec {
  std::string id;             // the sandbox id (names its cgroup)
  std::string workspace_dir;  // host directory shown at /workspace
  bool network = false;
  Limits limits;
  uid_t uid = 65534;
  gid_t gid = 65534;
  std::vector<std::string> env;  // K=V for every run
};

// One running sandbox.
class Instance {
 public:
  virtual ~Instance() = default;  // stops it
  // ESRCH once it is stopped or died.
  virtual Result<mesh::RunOutput> Run(const mesh::SessionRun& run, const mesh::OutputFn& on_output) = 0;
  // Kills every process in it; idempotent.
  virtual void Stop() = 0;
  virtual bool Alive() = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // OK, or ENOSYS with why this provider cannot run sandboxes here.
  virtual Status Available() = 0;
  // OK, or ENOSYS with why limits cannot be enforced here.
  virtual Status LimitsAvailable() = 0;
  // EAGAIN when the sandbox could not be set up, ENOSYS for limits that
  // cannot be enforced.
  virtual Result<std::unique_ptr<Instance>> Start(const InstanceSpec& spec) = 0;
};

}  // namespace nexus::sandbox
