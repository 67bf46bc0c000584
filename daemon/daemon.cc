#include "daemon/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "daemon/http_status.h"
#include "daemon/readiness_file.h"
#include "daemon/stop_signals.h"
#include "nexus/version.h"

namespace nexus {
namespace {

constexpr uint16_t kWorkspaceBackendId = 1;

Result<std::string> AbsoluteDir(const std::string& path, bool create, const char* what) {
  std::error_code ec;
  if (create) std::filesystem::create_directories(path, ec);
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return Status::Error(EINVAL, std::string(what) + " " + path + ": " + ec.message());
  return abs.lexically_normal().string();
}

// Ensures /zone exists in the native tree and grafts the workspace at
// /zone/local.
Status MountWorkspace(Namespace& ns, Backend& ws) {
  Caller root;
  auto zone = ns.Lookup(root, kRootIno, "zone");
  if (!zone.ok() && zone.code() == ENOENT) zone = ns.MkDir(root, kRootIno, "zone", 0755);
  if (!zone.ok()) return Status::Error(zone.code(), "creating /zone: " + zone.status().ToString());
  ns.Forget(zone->ino, 1);
  if (!zone->IsDir()) return Status::Error(ENOTDIR, "/zone exists and is not a directory");
  return ns.AddMount(zone->ino, "local", &ws);
}

// Every live workspace inode holds an fd: use the whole hard limit.
void RaiseFileLimit() {
  rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) spdlog::warn("could not raise RLIMIT_NOFILE");
  }
}

// What this daemon offers, from its profile, the config's feature
// switches and the listeners it was given.
std::vector<FeatureState> ComputeFeatures(const DaemonOptions& o) {
  using State = FeatureState::State;
  const auto& on_in_profile = ProfileFeatures(o.profile);
  std::vector<FeatureState> out;
  for (const std::string& name : ProfileFeatures("full")) {
    bool on = std::find(on_in_profile.begin(), on_in_profile.end(), name) != on_in_profile.end();
    std::string why = on ? "" : "off in profile " + o.profile;
    if (auto it = o.feature_overrides.find(name); it != o.feature_overrides.end()) {
      on = it->second;
      why = on ? "" : "switched off in the config";
    }
    FeatureState f{name, on ? State::kEnabled : State::kDisabled, why};
    if (name == "mount" || name == "control_socket") f = {name, State::kEnabled, ""};
    if (on && name == "http" && o.http.empty()) f = {name, State::kDisabled, "no --http address"};
    if (on && name == "http" && !o.http.empty()) f.detail = o.http;
    if (on && name == "tls_listener" && o.listen.empty()) f = {name, State::kDisabled, "no --listen address"};
    if (on && name == "tls_listener" && !o.listen.empty()) f.detail = o.listen;
    if (on && name == "workspace" && o.workspace.empty())
      f = {name, State::kDisabled, "no --workspace directory"};
    if (on && name == "workspace" && !o.workspace.empty()) f.detail = o.workspace + " at /zone/local";
    if (on && name == "mesh") {
      std::vector<std::string> roles;
      if (o.director)
        roles.push_back("director" + (o.listen.empty() ? std::string(" (no --listen: nodes join "
                                                                     "over the Unix socket)")
                                                       : " (nodes join at " + o.listen + ")"));
      if (!o.join.empty()) roles.push_back("node of " + o.join);
      if (o.worker) roles.push_back("worker");
      for (const auto& r : roles) f.detail += (f.detail.empty() ? "" : ", ") + r;
      if (roles.empty()) f.detail = "in no mesh yet (nexus mesh register, or --director)";
    }
    out.push_back(std::move(f));
  }
  for (const auto& [name, u] : o.unavailable_features) out.push_back({name, State::kUnavailable, u.why});
  return out;
}

bool Enabled(const std::vector<FeatureState>& features, const std::string& name) {
  for (const auto& f : features)
    if (f.name == name) return f.state == FeatureState::State::kEnabled;
  return false;
}

void MarkUnavailable(std::vector<FeatureState>& features, const std::string& name, const std::string& why) {
  for (auto& f : features)
    if (f.name == name) f = {name, FeatureState::State::kUnavailable, why};
}

// Prefixes `st`'s message with the part that failed.
Status In(const char* part, const Status& st) {
  return Status::Error(st.code(), std::string(part) + ": " + st.message());
}

}  // namespace

Daemon::FlushOnStop::~FlushOnStop() {
  if (native) {
    Status synced = native->Sync();
    if (!synced.ok()) spdlog::error("final metadata sync failed: {}", synced.ToString());
    if (result) *result = synced;
  }
  if (bus) bus->Drain();
}

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options, Status* final_sync,
                                              int* exit_code) {
  std::unique_ptr<Daemon> d(new Daemon(options));
  *exit_code = kExitFailure;
  NEXUS_RETURN_IF_ERROR(d->Prepare(exit_code));
  *exit_code = kExitFailure;
  NEXUS_RETURN_IF_ERROR(d->OpenTree(exit_code));
  *exit_code = kExitFailure;
  d->flush_ = {d->native_.get(), &d->bus_, final_sync};
  NEXUS_RETURN_IF_ERROR(d->OpenParts());
  NEXUS_RETURN_IF_ERROR(d->OpenServices());
  NEXUS_RETURN_IF_ERROR(d->StartServing());
  return d;
}

Daemon::~Daemon() = default;

Status Daemon::Prepare(int* exit_code) {
  RaiseFileLimit();
  *exit_code = kExitUsage;
  auto data_dir = AbsoluteDir(options_.data_dir, true, "--data-dir");
  if (!data_dir.ok()) return data_dir.status();
  auto mountpoint = AbsoluteDir(options_.mountpoint, true, "--mount");
  if (!mountpoint.ok()) return mountpoint.status();
  data_dir_ = *data_dir;
  mountpoint_ = *mountpoint;
  features_ = ComputeFeatures(options_);
  for (const std::string& w : options_.config_warnings) spdlog::warn("{}", w);
  for (const auto& [name, u] : options_.unavailable_features)
    if (u.wanted) spdlog::warn("config: features.{}: unavailable: {}", name, u.why);
  if (!options_.workspace.empty() && !Enabled(features_, "workspace"))
    return Status::Error(
        EINVAL, "--workspace is given but the workspace feature is off (profile " + options_.profile + ")");
  auto profiles = ToolProfiles::Load(options_.tool_profiles, options_.mcp_default_profile);
  if (!profiles.ok()) return In("MCP tool profiles", profiles.status());
  tool_profiles_ = std::make_unique<ToolProfiles>(std::move(profiles).value());
  *exit_code = kExitFailure;
  auto lock = DataDirLock::Acquire(data_dir_);
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock).value();
  return PrepareMountpoint(mountpoint_);
}

Status Daemon::OpenTree(int* exit_code) {
  NativeBackend::Options nopts;
  nopts.data_dir = data_dir_;
  nopts.sink = &bus_;
  nopts.commit_interval_ms = options_.commit_interval_ms;
  nopts.root_uid = ::getuid();
  nopts.root_gid = ::getgid();
  auto native = NativeBackend::Open(nopts);
  if (!native.ok()) return native.status();
  native_ = std::move(native).value();
  spdlog::info("data dir {}: {} inodes", data_dir_, native_->InodeCount());
  ns_ = std::make_unique<Namespace>(native_.get());
  if (auto aside = RenameReservedAside(*ns_); !aside.ok()) return aside.status();
  if (options_.workspace.empty()) return Status::Ok();
  auto ws = WorkspaceBackend::Open(kWorkspaceBackendId, options_.workspace, &bus_);
  if (!ws.ok()) return *exit_code = kExitUsage, In("--workspace", ws.status());
  workspace_ = std::move(ws).value();
  workspace_->SetMountPath("/zone/local");
  NEXUS_RETURN_IF_ERROR(MountWorkspace(*ns_, *workspace_));
  spdlog::info("workspace {} at /zone/local", options_.workspace);
  return Status::Ok();
}

Status Daemon::OpenParts() {
  bus_.Subscribe([hub = &watches_](const ChangeEvent& ev) { hub->OnChange(ev); });
  // Versioning and search subscribe to the bus before any event flows.
  if (Enabled(features_, "oplog")) {
    auto op = OpsPart::Open(options_, data_dir_, &bus_);
    if (!op.ok()) return In("operations log", op.status());
    ops_ = std::move(op).value();
  }
  if (Enabled(features_, "versions")) {
    auto v =
        VersionsPart::Open(options_, data_dir_, ns_.get(), &bus_, ops_ ? ops_->VersionObserver() : nullptr);
    if (!v.ok()) return In("versioning", v.status());
    versions_ = std::move(v).value();
  }
  if (ops_)
    ops_->Connect(&bus_, versions_ ? versions_->store() : nullptr,
                  versions_ ? versions_->recorder() : nullptr);
  if (Enabled(features_, "search")) {
    auto sp = SearchPart::Start(options_, data_dir_, ns_.get(), &bus_);
    if (sp.ok()) {
      search_ = std::move(sp).value();
    } else {
      spdlog::error("search: {}; serving without it", sp.status().ToString());
      MarkUnavailable(features_, "search", sp.status().message());
    }
  }
  // Access control: the policy is in force before anything is served.
  if (Enabled(features_, "rebac")) {
    RebacPart::Options ro;
    ro.data_dir = data_dir_;
    ro.operator_uid = ::getuid();
    auto rp = RebacPart::Open(ro);
    if (!rp.ok()) return In("rebac", rp.status());
    rebac_ = std::move(rp).value();
    ns_->SetAccessPolicy(rebac_->policy());
  }
  principals_ = rebac_ ? rebac_->principals() : nullptr;
  if (!principals_) {
    own_principals_ = std::make_unique<PrincipalTable>(PrincipalTable::Options{::getuid()}, nullptr);
    principals_ = own_principals_.get();
  }
  if (Enabled(features_, "mesh") && options_.director) {
    auto mp = MeshPart::Open(options_, data_dir_);
    if (!mp.ok()) return In("mesh", mp.status());
    mesh_ = std::move(mp).value();
  }
  if (Enabled(features_, "agents")) {
    auto ap = AgentsPart::Open(data_dir_);
    if (!ap.ok()) return In("agents", ap.status());
    agents_ = std::move(ap).value();
    auto ip = IdentityPart::Open(data_dir_, agents_->registry(), options_.node_name);
    if (!ip.ok()) return In("passports", ip.status());
    identity_ = std::move(ip).value();
  }
  if (ops_) {
    auto activity = GraftActivityFiles(*ns_, ops_->log(), versions_ ? versions_->history() : nullptr,
                                       rebac_ ? rebac_->policy() : nullptr, principals_,
                                       agents_ ? agents_->registry() : nullptr);
    if (!activity.ok()) return In("activity files", activity.status());
    activity_ = std::move(activity).value();
    NEXUS_RETURN_IF_ERROR(In("operations log", ops_->Run()));
  }
  if (versions_) versions_->Run();
  if (Enabled(features_, "forks")) {
    auto fp = ForksPart::Open({.data_dir = data_dir_,
                               .ns = ns_.get(),
                               .sink = &bus_,
                               .tree = native_.get(),
                               .workspace = workspace_.get(),
                               .commit_interval_ms = options_.commit_interval_ms});
    if (!fp.ok()) return In("forks", fp.status());
    forks_ = std::move(fp).value();
  }
  return Status::Ok();
}

Status Daemon::OpenServices() {
  auto keys = KeyStore::Open(data_dir_ + "/auth.db");
  if (!keys.ok()) return keys.status();
  keys_ = std::move(keys).value();
  files_ = std::make_unique<PathFiles>(ns_.get());
  fuse_metrics_ = std::make_unique<OpMetrics>("nexus_fuse", "op", FuseOpNames());
  rpc_metrics_ = std::make_unique<OpMetrics>("nexus_rpc", "method", RpcMethodNames());
  info_.version = NEXUS_VERSION;
  info_.pid = ::getpid();
  info_.started_ns = DefaultClock().Now();
  info_.data_dir = data_dir_;
  info_.mountpoint = mountpoint_;
  info_.workspace = options_.workspace;
  info_.socket_path = options_.socket_path.empty() ? data_dir_ + "/nexusd.sock" : options_.socket_path;
  info_.profile = options_.profile;
  service_.info = &info_;
  service_.files = files_.get();
  service_.keys = keys_.get();
  service_.locks = Enabled(features_, "locks") ? &locks_ : nullptr;
  // Locks are coordination state agents rely on: they survive a restart.
  if (service_.locks != nullptr) {
    if (Status st = locks_.Persist(data_dir_ + "/locks", DefaultClock().Now()); !st.ok())
      spdlog::warn("locks: {}", st.ToString());
  }
  service_.metrics = rpc_metrics_.get();
  service_.features = features_;
  service_.principals = principals_;
  NativeBackend* native = native_.get();
  service_.inode_count = [native]() { return native->InodeCount(); };
  service_.database_bytes = [native]() { return native->DatabaseBytes(); };
  service_.request_shutdown = []() { ::kill(::getpid(), SIGTERM); };
  jobs_ = std::make_unique<BackgroundJobs>(2);
  service_.jobs = jobs_.get();
  service_.watches = &watches_;
  service_.rebac.tool_profiles = tool_profiles_.get();
  if (versions_) versions_->Fill(service_);
  if (ops_) ops_->Fill(service_);
  if (forks_) forks_->Fill(service_);
  if (search_) search_->Fill(service_);
  if (mesh_) mesh_->Fill(service_);
  if (agents_) {
    agents_->Fill(service_);
    homes_ = std::make_unique<AgentHomes>(files_.get(), ns_.get(), rebac_ ? rebac_->engine() : nullptr,
                                          principals_ ? principals_->admin_subject() : "user:admin");
    if (Status st = homes_->Start(*agents_->registry()); !st.ok()) return In("agents", st);
    agents_->AttachHomes(homes_.get());
    auto ipc =
        IpcPart::Open(data_dir_, options_.ipc_ttl, files_.get(), agents_->registry(), principals_, &bus_);
    if (!ipc.ok()) return In("ipc", ipc.status());
    ipc_ = std::move(ipc).value();
    ipc_->Fill(service_);
  }
  if (Enabled(features_, "mesh")) {
    MeshNodeConfig nc;
    nc.data_dir = data_dir_;
    nc.mountpoint = mountpoint_;
    nc.address = options_.listen;
    nc.worker = options_.worker;
    nc.lease_ttl_s = options_.mesh_lease_ttl;
    nc.lease_interval = std::chrono::milliseconds(static_cast<int64_t>(options_.mesh_lease_ttl * 1000 / 3));
    nc.heartbeat = std::min(nc.lease_interval, std::chrono::milliseconds(2000));
    // Long enough for a loaded director, short enough that a partition is
    // noticed well before a lease runs out.
    nc.call_timeout_s = std::clamp(options_.mesh_lease_ttl / 3, 2.0, 10.0);
    nc.capacity = NodeCapacity();
    if (identity_) nc.node_key = identity_->public_key();
    auto agent = MeshNodeAgent::Start(nc);
    if (!agent.ok()) return In("mesh node", agent.status());
    node_ = std::move(agent).value();
    service_.mesh.membership = node_.get();
  }
  if (identity_) {
    identity_->Connect(node_.get(), mesh_.get());
    identity_->Fill(service_);
  }

  ctx_.ns = ns_.get();
  ctx_.principals = principals_;
  ctx_.metrics = fuse_metrics_.get();
  ctx_.settings.writeback_cache = options_.writeback_cache;
  ctx_.settings.native_timeout = options_.attr_timeout;
  ctx_.settings.workspace_timeout = options_.workspace_timeout;
  ctx_.mountpoint = mountpoint_;
  if (rebac_) {
    // Every name the kernel resolves is checked as its caller until the
    // mount is known to revalidate names on request (SetMainMount).
    ctx_.names = NameCaching::kNone;
    rebac_->EnableSubjectMounts(ns_.get(), &ctx_, std::min(options_.threads, 8u), &bus_);
    subject_mounts_.rebac = rebac_.get();
    rebac_->Fill(service_);
  }
  if (Enabled(features_, "sandboxes")) {
    if (!rebac_) {
      service_.sandboxes.why =
          "a sandbox's /workspace is a per-subject mount, which comes with rebac (off here)";
    } else if (auto sp = SandboxPart::Open(data_dir_, rebac_->mounts(), workspace_ != nullptr,
                                           forks_ ? forks_->registry() : nullptr);
               !sp.ok()) {
      service_.sandboxes.why = sp.status().message();
    } else {
      sandboxes_ = std::move(sp).value();
      sandboxes_->Fill(service_);
    }
    if (!sandboxes_) {
      spdlog::warn("sandboxes unavailable: {}", service_.sandboxes.why);
      MarkUnavailable(features_, "sandboxes", service_.sandboxes.why);
      MarkUnavailable(service_.features, "sandboxes", service_.sandboxes.why);
    }
  }
  {
    WorkflowsPart::Deps wd;
    wd.data_dir = data_dir_;
    wd.files = files_.get();
    wd.principals = principals_;
    wd.mailbox = service_.agents.mailbox;
    wd.mounts = rebac_ ? rebac_->mounts() : nullptr;
    wd.membership = service_.mesh.membership;
    wd.office = service_.mesh.office;
    wd.bus = &bus_;
    auto wp = WorkflowsPart::Open(wd);
    if (!wp.ok()) return In("workflows", wp.status());
    workflows_ = std::move(wp).value();
    workflows_->Fill(service_);
  }
  if (service_.ops.log) {
    // Undo acts through the socket's PathFiles as each caller, within the
    // access policy, owners from the agent registry, audited.
    ops::Undoer::Deps u;
    u.log = service_.ops.log;
    u.store = service_.versions.store;
    u.files = files_.get();
    u.access = service_.access;
    u.agents = service_.agents.registry;
    u.audit = service_.rebac.audit;
    u.principals = principals_;
    undoer_ = std::make_unique<ops::Undoer>(u);
    service_.ops.undoer = undoer_.get();
  }
  return Status::Ok();
}

unsigned Daemon::NodeCapacity() const {
  return options_.capacity ? options_.capacity : std::max(1u, std::thread::hardware_concurrency());
}

Status Daemon::StartServing() {
  // The sandbox profile notices changes made beside the mount in the
  // workspace (docs/sandboxes.md "The sandbox profile").
  if (workspace_ && options_.profile == "sandbox") {
    auto w = WorkspaceWatcher::Start(workspace_.get(), "/zone/local", &bus_);
    if (w.ok()) {
      watcher_ = std::move(w).value();
    } else {
      spdlog::warn("{}", w.status().message());
    }
  }
  // The control socket: up before the mount, so `nexus ready` can watch the
  // mount come up.
  SocketServer::Options sopts;
  sopts.unix_path = info_.socket_path;
  if (Enabled(features_, "tls_listener")) {
    sopts.listen = options_.listen;
    sopts.tls_cert = options_.tls_cert;
    sopts.tls_key = options_.tls_key;
  }
  SocketServer::HttpServiceFactory http;
  if (Enabled(features_, "http")) {
    sopts.http = options_.http;
    StatusSources sources{&info_,
                          &ctx_,
                          rpc_metrics_.get(),
                          service_.locks,
                          &service_.features,
                          service_.database_bytes,
                          service_.inode_count,
                          {},
                          {}};
    if (search_) sources.search_state = [p = search_.get()]() { return p->State(); };
    if (watcher_) sources.workspace_watch = [w = watcher_.get()]() { return w->State(); };
    http = [sources](kj::HttpHeaderTable& table) { return MakeHttpStatusService(table, sources); };
  }
  auto server = SocketServer::Start(&service_, sopts, std::move(http));
  if (!server.ok()) return In("control socket", server.status());
  server_ = std::move(server).value();
  info_.listen = server_->listen_address();
  if (mesh_) mesh_->SetAddress(info_.listen.empty() ? info_.socket_path : info_.listen);
  if (node_ && !options_.join.empty() && !node_->Current().joined) {
    char host[256] = "node";
    ::gethostname(host, sizeof host - 1);
    auto joined =
        node_->Join(options_.join, options_.registration_key, options_.join_ca,
                    options_.node_name.empty() ? std::string(host) : options_.node_name, NodeCapacity());
    if (!joined.ok())
      spdlog::error("mesh: could not join {}: {} (retry with nexus mesh register)", options_.join,
                    joined.status().ToString());
  }
  info_.http = server_->http_address();
  spdlog::info("control socket {}{}{}", info_.socket_path,
               info_.listen.empty() ? "" : ", TLS on " + info_.listen,
               info_.http.empty() ? "" : ", HTTP on " + info_.http);

  FuseMount::Options mopts;
  mopts.mountpoint = mountpoint_;
  mopts.max_threads = options_.threads;
  mopts.debug = options_.fuse_debug;
  auto mount = FuseMount::Create(&ctx_, mopts);
  if (!mount.ok()) return mount.status();
  mount_ = std::move(mount).value();
  files_->SetKernelCache(mount_.get());
  if (forks_) forks_->SetKernelCache(mount_.get());
  if (watcher_) watcher_->SetKernelCache(mount_.get());
  if (rebac_) rebac_->mounts()->SetMainMount(mount_.get(), options_.name_cache == "shared");
  info_.mounted = true;
  spdlog::info("nexusd {} serving {} at {} (profile {})", NEXUS_VERSION, data_dir_, mountpoint_,
               options_.profile);
  return Status::Ok();
}

Status Daemon::Serve() {
  Status served;
  ServiceNotifier::Probes probes;
  probes.ready = [mnt = mountpoint_, socket = info_.socket_path]() {
    return FuseMountLive(mnt) && UnixSocketAccepts(socket);
  };
  probes.alive = probes.ready;
  probes.status = "serving " + data_dir_ + " at " + mountpoint_;
  notifier_ = ServiceNotifier::Start(std::move(probes));
  if (Status st = WriteReadinessFile(info_); !st.ok()) spdlog::warn("readiness file: {}", st.ToString());
  {
    StopSignals signals([this](int) {
      // The probes stat the mount: they stop while the loop still answers,
      // and so do the mesh node's task threads, which read their zones
      // through it.
      if (notifier_) notifier_->Stop();
      if (node_) node_->Stop();
      mount_->RequestStop();
    });
    served = mount_->Serve();
  }
  if (notifier_) notifier_->Stop();
  RemoveReadinessFile(data_dir_);
  info_.mounted = false;
  // The mount table (in rebac_) outlives mount_: it must not revalidate
  // names on a mount that is going away.
  if (rebac_) rebac_->mounts()->SetMainMount(nullptr);
  // The recorder walks the whole namespace while it reconciles: stop it
  // while every backend mounted there (forks, activity) still exists.
  if (versions_) versions_->StopRecorder();
  spdlog::info("stopping: closing the control socket, unmounting {}", mountpoint_);
  files_->SetKernelCache(nullptr);
  if (forks_) forks_->SetKernelCache(nullptr);
  if (watcher_) watcher_->SetKernelCache(nullptr);
  return served;
}

}  // namespace nexus
