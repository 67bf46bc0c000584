// SandboxTable: the local sandboxes of one nexusd (`nexus sandbox ...`,
// the MCP execution tools; docs/sandboxes.md). Each sandbox is an Instance
// of a Provider whose /workspace is a per-subject mount of the namespace:
// the sandbox's subject sees there exactly what it sees on its own mount.
// The table keeps ended sandboxes (stopped, expired) for listing, the
// newest `keep_ended` of them, in memory: sandboxes do not outlive nexusd.
//
// Every process of a sandbox carries NEXUS_TASK_ID=sandbox:ID (and
// NEXUS_AGENT_ID=ID when the subject is agent:ID), which the change bus
// reads from /proc: the sandbox's writes carry its agent and its id in
// their versions and in the operations log (docs/operations.md).
//
// Threading: every method may be called from any thread. Create, Run and
// Stop block (they start and kill processes, mount and unmount): never on
// a FUSE thread or the socket's event loop. A thread of the table stops
// sandboxes when their TTL runs out and notices those that died.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "sandbox/provider.h"

namespace nexus::sandbox {

struct SandboxInfo {
  std::string id;  // "sb-" + 8 hex digits
  std::string name;
  std::string subject;  // who runs in it: "agent:ID", "user:NAME"
  std::string root;     // the namespace path at /workspace
  std::string provider;
  std::string state;  // "running", "stopped" or "expired"
  UnixNanos created_ns = 0;
  UnixNanos expires_ns = 0;  // 0: no TTL
  UnixNanos ended_ns = 0;    // when it stopped or expired
  bool network = false;
  Limits limits;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct CreateRequest {
  std::string name;      // [A-Za-z0-9._-]{1,64}, unique among running sandboxes
  std::string subject;   // the caller's subject (or the agent it acts as)
  std::string root;      // "" : the table's default root
  std::string provider;  // "" : the first provider
  bool network = false;
  Limits limits;
  int64_t ttl_s = 0;  // 0: until stopped
};

// Mounts a subject's view of the namespace on a host directory (the
// daemon's per-subject mounts).
class WorkspaceMounts {
 public:
  virtual ~WorkspaceMounts() = default;
  // EACCES when the subject cannot see `root`, ENOENT/ENOTDIR for a bad root.
  virtual Status Mount(const std::string& mountpoint, const std::string& subject,
                       const std::string& root) = 0;
  virtual Status Unmount(const std::string& mountpoint) = 0;
};

class SandboxTable {
 public:
  struct Options {
    std::string dir;  // DATA/sandboxes: one mount point per sandbox
    std::string default_root = "/zone/local";
    // The root of `subject`'s own fork ("/forks/NAME"), a sandbox's default
    // root when it has one; "" when it has none, EINVAL when it has several
    // (the caller must pick with a root). Unset: no forks here.
    std::function<Result<std::string>(const std::string& subject)> own_fork;
    uid_t uid = 65534;  // the uid processes run as (nobody)
    gid_t gid = 65534;
    size_t keep_ended = 256;
    int64_t max_ttl_s = 7 * 24 * 3600;
  };
  // `mounts` must outlive the table; `providers` is non-empty, the first is
  // the default.
  SandboxTable(Options options, WorkspaceMounts* mounts, std::vector<std::unique_ptr<Provider>> providers,
               const Clock* clock = &DefaultClock());
  ~SandboxTable();  // stops every sandbox
  SandboxTable(const SandboxTable&) = delete;
  SandboxTable& operator=(const SandboxTable&) = delete;

  // EINVAL bad name/limits/TTL, EEXIST a running sandbox has the name,
  // ENOENT unknown provider, ENOSYS provider or limits unavailable, EACCES
  // the subject cannot see the root, EAGAIN it could not be set up.
  Result<SandboxInfo> Create(const CreateRequest& request);
  // Every sandbox, running first, then the ended, newest first.
  std::vector<SandboxInfo> List();
  // By id, or by the name of a running sandbox. ENOENT if none.
  Result<SandboxInfo> Info(const std::string& id);
  // ENOENT unknown, ESRCH not running.
  Result<mesh::RunOutput> Run(const std::string& id, const mesh::SessionRun& run,
                              const mesh::OutputFn& on_output);
  // Run on a thread of the table's own, which calls `done` with the result
  // there: a run lasts as long as its command, so it must not hold a
  // shared worker. The destructor stops every sandbox, then waits for
  // these threads.
  void RunDetached(const std::string& id, mesh::SessionRun run, mesh::OutputFn on_output,
                   std::function<void(Result<mesh::RunOutput>)> done);
  // Kills everything in it and unmounts its workspace. ENOENT unknown;
  // stopping an ended sandbox returns it as it is.
  Result<SandboxInfo> Stop(const std::string& id);

  struct ProviderState {
    std::string name;
    Status status;  // OK when it can run sandboxes here
  };
  std::vector<ProviderState> Providers();
  // The default provider's availability.
  Status Available();

 private:
  struct Entry {
    SandboxInfo info;
    std::shared_ptr<Instance> instance;  // null once ended
    std::string mountpoint;
  };
  Entry* Find(const std::string& id) REQUIRES(mu_);
  // Ends `e` as `state`: returns what must be stopped and unmounted outside the lock.
  std::shared_ptr<Instance> End(Entry& e, const char* state) REQUIRES(mu_);
  void Release(std::shared_ptr<Instance> instance, const std::string& mountpoint);
  void Trim() REQUIRES(mu_);
  void Reaper() EXCLUDES(mu_);

  const Options options_;
  WorkspaceMounts* const mounts_;
  const std::vector<std::unique_ptr<Provider>> providers_;
  const Clock* const clock_;
  Mutex mu_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::condition_variable cv_;
  std::thread reaper_;
  struct RunThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  Mutex runs_mu_;
  std::vector<RunThread> runs_ GUARDED_BY(runs_mu_);
};

}  // namespace nexus::sandbox
