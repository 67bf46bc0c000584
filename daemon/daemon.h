// Daemon: one running nexusd. Start builds every part from the options and
// wires them together (no singletons: each part gets what it uses), Serve
// serves the mount until a stop signal, and destruction stops it.
//
// The members are declared in dependency order: each one uses only members
// declared above it. C++ destroys members in reverse, so the teardown order
// needs no hand-written list: the socket server stops taking calls first,
// then the slow calls still running finish (jobs), the mesh node cancels its
// tasks, the per-subject mounts unmount before the main mount, the metadata
// is synced and the change bus drained while versions and search still
// listen, and the tree and the data-dir lock go last.
//
// Threading: Start, Serve and the destructor run on nexusd's main thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/status.h"
#include "daemon/data_dir_lock.h"
#include "daemon/mesh_node.h"
#include "daemon/agent_homes.h"
#include "daemon/agents_part.h"
#include "daemon/identity_part.h"
#include "daemon/ipc_part.h"
#include "daemon/mesh_part.h"
#include "daemon/options.h"
#include "daemon/rebac_part.h"
#include "daemon/activity_files.h"
#include "daemon/ops_part.h"
#include "daemon/forks_part.h"
#include "daemon/sandbox_part.h"
#include "daemon/search_part.h"
#include "daemon/service_notifier.h"
#include "daemon/versions_part.h"
#include "daemon/workflows_part.h"
#include "fs/change_events.h"
#include "fs/fuse_ops.h"
#include "fs/fuse_session.h"
#include "fs/lock_table.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/path_files.h"
#include "fs/workspace_backend.h"
#include "fs/workspace_watcher.h"
#include "ops/undo.h"
#include "perms/key_store.h"
#include "perms/principals.h"
#include "rpc/server/background_jobs.h"
#include "rpc/server/service.h"
#include "rpc/server/socket_server.h"
#include "rpc/server/watch_hub.h"
#include "perms/tool_profiles.h"

namespace nexus {

class Daemon {
 public:
  // Exit statuses of nexusd.
  static constexpr int kExitFailure = 1;
  static constexpr int kExitUsage = 64;

  // Builds and starts every part, up to a live mount. On failure returns the
  // error and sets `*exit_code` (kExitUsage for options that cannot work,
  // kExitFailure otherwise); what was started is stopped again.
  // `*final_sync` receives the result of the last metadata sync when the
  // daemon is destroyed; it must outlive the daemon.
  static Result<std::unique_ptr<Daemon>> Start(const DaemonOptions& options, Status* final_sync,
                                               int* exit_code);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Serves the mount until SIGTERM/SIGINT/SIGHUP ends the FUSE loop, then
  // marks the mount not ready and switches kernel invalidation off. Under
  // systemd (Type=notify) it tells the manager once the mount and the
  // control socket answer, and feeds the watchdog while they do.
  Status Serve();

 private:
  explicit Daemon(const DaemonOptions& options) : options_(options) {}
  // The steps of Start, in order; each fails with the exit code it means.
  Status Prepare(int* exit_code);
  Status OpenTree(int* exit_code);
  Status OpenParts();
  Status OpenServices();
  Status StartServing();
  // Tasks this node runs at once: --capacity, else one per CPU.
  unsigned NodeCapacity() const;

  // Syncs the metadata and drains the change bus when destroyed: after the
  // mounts are gone (no more changes), before versions and search stop
  // listening.
  struct FlushOnStop {
    NativeBackend* native = nullptr;
    ChangeBus* bus = nullptr;
    Status* result = nullptr;
    ~FlushOnStop();
  };
  // Unmounts the per-subject mounts (owned by the ReBAC part) when
  // destroyed: before the main mount.
  struct SubjectMountsStop {
    RebacPart* rebac = nullptr;
    ~SubjectMountsStop() {
      if (rebac) rebac->StopMounts();
    }
  };

  const DaemonOptions options_;
  std::string data_dir_;
  std::string mountpoint_;
  std::vector<FeatureState> features_;
  std::unique_ptr<DataDirLock> lock_;
  // The socket's file watches: a bus subscriber, so it outlives the bus.
  WatchHub watches_;
  ChangeBus bus_;
  std::unique_ptr<NativeBackend> native_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<WorkspaceBackend> workspace_;
  // Who calls, resolved once per request and per connection: the ReBAC
  // part's table (through the uid bindings), else this one (the admin rule
  // alone). Above every part that queues callers.
  std::unique_ptr<PrincipalTable> own_principals_;
  PrincipalTable* principals_ = nullptr;
  std::unique_ptr<RebacPart> rebac_;  // the policy outlives every part that checks it
  std::unique_ptr<ToolProfiles> tool_profiles_;
  std::unique_ptr<MeshPart> mesh_;
  std::unique_ptr<VersionsPart> versions_;
  std::unique_ptr<OpsPart> ops_;  // stops before the versions part: its feed reads the store
  // /.nexus/activity: served from ops_'s log, grafted in versions_' tree.
  std::unique_ptr<ops::ActivityBackend> activity_;
  std::unique_ptr<SearchPart> search_;
  std::unique_ptr<AgentsPart> agents_;  // flushes its heartbeats after the socket server stopped
  FlushOnStop flush_;
  // Forks of native_ (and of each other): closed before the final sync.
  std::unique_ptr<ForksPart> forks_;
  std::unique_ptr<KeyStore> keys_;
  LockTable locks_;
  std::unique_ptr<OpMetrics> fuse_metrics_;
  std::unique_ptr<OpMetrics> rpc_metrics_;
  DaemonInfo info_;
  FuseContext ctx_;
  std::unique_ptr<FuseMount> mount_;
  SubjectMountsStop subject_mounts_;   // unmounted before mount_
  std::unique_ptr<PathFiles> files_;   // invalidates mount_'s caches
  std::unique_ptr<AgentHomes> homes_;  // the registry's change hook, detached when it goes
  std::unique_ptr<IpcPart> ipc_;       // the mailboxes, on the homes; before files_ goes
  // Workflows act through files_, ipc_ and the per-subject mounts.
  std::unique_ptr<WorkflowsPart> workflows_;
  // Ops.undo, over files_ and the parts; its calls finish with jobs_.
  std::unique_ptr<ops::Undoer> undoer_;
  ServiceContext service_;
  std::unique_ptr<MeshNodeAgent> node_;
  std::unique_ptr<IdentityPart> identity_;  // reports through node_; its calls finish with jobs_
  std::unique_ptr<BackgroundJobs> jobs_;    // slow calls finish before node_ and files_ go
  std::unique_ptr<SandboxPart> sandboxes_;  // ends runs in flight before jobs_ waits for them
  std::unique_ptr<SocketServer> server_;    // stops first
  // systemd's readiness and watchdog (Serve): probes the mount and the
  // socket, so it stops before either.
  std::unique_ptr<ServiceNotifier> notifier_;
  // Publishes host-side workspace changes on bus_: stops before anything
  // that listens there.
  std::unique_ptr<WorkspaceWatcher> watcher_;
};

}  // namespace nexus
