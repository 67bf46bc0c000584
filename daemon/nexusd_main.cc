// nexusd: builds every part of the daemon, wires them together and serves
// the mount until told to stop. No singletons: everything is created here
// and passed down.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "daemon/data_dir_lock.h"
#include "daemon/http_status.h"
#include "daemon/options.h"
#include "daemon/mesh_node.h"
#include "daemon/mesh_part.h"
#include "daemon/rebac_part.h"
#include "daemon/search_part.h"
#include "daemon/versions_part.h"
#include "daemon/stop_signals.h"
#include "fs/change_events.h"
#include "fs/fuse_session.h"
#include "fs/lock_table.h"
#include "base/metrics.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/workspace_backend.h"
#include "nexus/version.h"
#include "rpc/server/background_jobs.h"
#include "perms/key_store.h"
#include "fs/path_files.h"
#include "rpc/server/socket_server.h"

namespace nexus {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;
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
    if (on && name == "tls_listener" && o.listen.empty())
      f = {name, State::kDisabled, "no --listen address"};
    if (on && name == "tls_listener" && !o.listen.empty()) f.detail = o.listen;
    if (on && name == "workspace" && o.workspace.empty())
      f = {name, State::kDisabled, "no --workspace directory"};
    if (on && name == "workspace" && !o.workspace.empty()) f.detail = o.workspace + " at /zone/local";
    // Their libraries are built and tested (docs/*.md) but the daemon does
    // not serve them yet: say so rather than pretend.
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
  return out;
}

bool Enabled(const std::vector<FeatureState>& features, const std::string& name) {
  for (const auto& f : features)
    if (f.name == name) return f.state == FeatureState::State::kEnabled;
  return false;
}

void MarkUnavailable(std::vector<FeatureState>& features, const std::string& name,
                     const std::string& why) {
  for (auto& f : features)
    if (f.name == name) f = {name, FeatureState::State::kUnavailable, why};
}


int Run(const DaemonOptions& o) {
  RaiseFileLimit();
  auto data_dir = AbsoluteDir(o.data_dir, true, "--data-dir");
  if (!data_dir.ok()) return spdlog::error("{}", data_dir.status().ToString()), kExitUsage;
  auto mountpoint = AbsoluteDir(o.mountpoint, true, "--mount");
  if (!mountpoint.ok()) return spdlog::error("{}", mountpoint.status().ToString()), kExitUsage;

  auto lock = DataDirLock::Acquire(*data_dir);
  if (!lock.ok()) return spdlog::error("{}", lock.status().ToString()), kExitFailure;
  if (Status st = PrepareMountpoint(*mountpoint); !st.ok())
    return spdlog::error("{}", st.ToString()), kExitFailure;

  ChangeBus bus;
  NativeBackend::Options nopts;
  nopts.data_dir = *data_dir;
  nopts.sink = &bus;
  nopts.commit_interval_ms = o.commit_interval_ms;
  nopts.root_uid = ::getuid();
  nopts.root_gid = ::getgid();
  auto native = NativeBackend::Open(nopts);
  if (!native.ok()) return spdlog::error("{}", native.status().ToString()), kExitFailure;
  spdlog::info("data dir {}: {} inodes", *data_dir, (*native)->InodeCount());

  Namespace ns(native->get());
  std::vector<FeatureState> features = ComputeFeatures(o);
  std::unique_ptr<WorkspaceBackend> workspace;
  if (!o.workspace.empty() && !Enabled(features, "workspace")) {
    spdlog::error("--workspace is given but the workspace feature is off (profile {})", o.profile);
    return kExitUsage;
  }
  if (!o.workspace.empty()) {
    auto ws = WorkspaceBackend::Open(kWorkspaceBackendId, o.workspace, &bus);
    if (!ws.ok()) return spdlog::error("--workspace: {}", ws.status().ToString()), kExitUsage;
    workspace = std::move(ws).value();
    workspace->SetMountPath("/zone/local");
    if (Status st = MountWorkspace(ns, *workspace); !st.ok())
      return spdlog::error("{}", st.ToString()), kExitFailure;
    spdlog::info("workspace {} at /zone/local", o.workspace);
  }

  // Versioning and search subscribe to the bus before any event flows.
  std::unique_ptr<VersionsPart> versions;
  if (Enabled(features, "versions")) {
    auto v = VersionsPart::Open(o, *data_dir, &ns, &bus);
    if (!v.ok()) return spdlog::error("versioning: {}", v.status().ToString()), kExitFailure;
    versions = std::move(v).value();
  }
  std::unique_ptr<SearchPart> search;
  if (Enabled(features, "search")) {
    auto sp = SearchPart::Start(o, *data_dir, &ns, &bus);
    if (sp.ok()) {
      search = std::move(sp).value();
    } else {
      spdlog::error("search: {}; serving without it", sp.status().ToString());
      MarkUnavailable(features, "search", sp.status().message());
    }
  }
  // Access control: the policy is in force before anything is served.
  std::unique_ptr<RebacPart> rebac;
  if (Enabled(features, "rebac")) {
    RebacPart::Options ro;
    ro.data_dir = *data_dir;
    ro.operator_uid = ::getuid();
    auto rp = RebacPart::Open(ro);
    if (!rp.ok()) return spdlog::error("rebac: {}", rp.status().ToString()), kExitFailure;
    rebac = std::move(rp).value();
    ns.SetAccessPolicy(rebac->policy());
  }
  std::unique_ptr<MeshPart> mesh;
  if (Enabled(features, "mesh") && o.director) {
    auto mp = MeshPart::Open(o, *data_dir);
    if (!mp.ok()) return spdlog::error("mesh: {}", mp.status().ToString()), kExitFailure;
    mesh = std::move(mp).value();
  }
  if (versions) versions->Run();

  // The control socket: up before the mount, so `nexus ready` can watch the
  // mount come up.
  auto keys = KeyStore::Open(*data_dir + "/auth.db");
  if (!keys.ok()) return spdlog::error("{}", keys.status().ToString()), kExitFailure;
  PathFiles files(&ns);
  LockTable locks;
  OpMetrics fuse_metrics("nexus_fuse", "op", FuseOpNames());
  OpMetrics rpc_metrics("nexus_rpc", "method", RpcMethodNames());
  DaemonInfo info;
  info.version = NEXUS_VERSION;
  info.pid = ::getpid();
  info.started_ns = DefaultClock().Now();
  info.data_dir = *data_dir;
  info.mountpoint = *mountpoint;
  info.workspace = o.workspace;
  info.socket_path = o.socket_path.empty() ? *data_dir + "/nexusd.sock" : o.socket_path;
  info.profile = o.profile;
  ServiceContext service;
  service.info = &info;
  service.files = &files;
  service.keys = keys->get();
  service.locks = Enabled(features, "locks") ? &locks : nullptr;
  service.metrics = &rpc_metrics;
  service.features = features;
  service.operator_uid = ::getuid();
  NativeBackend* native_ptr = native->get();
  service.inode_count = [native_ptr]() { return native_ptr->InodeCount(); };
  service.database_bytes = [native_ptr]() { return native_ptr->DatabaseBytes(); };
  service.request_shutdown = []() { ::kill(::getpid(), SIGTERM); };
  auto jobs = std::make_unique<BackgroundJobs>(2);
  service.jobs = jobs.get();
  if (versions) versions->Fill(service);
  if (search) search->Fill(service);
  if (mesh) mesh->Fill(service);
  const unsigned node_capacity =
      o.capacity ? o.capacity : std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<MeshNodeAgent> node;
  if (Enabled(features, "mesh")) {
    MeshNodeConfig nc;
    nc.data_dir = *data_dir;
    nc.mountpoint = *mountpoint;
    nc.address = o.listen;
    nc.worker = o.worker;
    nc.lease_ttl_s = o.mesh_lease_ttl;
    nc.lease_interval = std::chrono::milliseconds(static_cast<int64_t>(o.mesh_lease_ttl * 1000 / 3));
    nc.heartbeat = std::min(nc.lease_interval, std::chrono::milliseconds(2000));
    // Long enough for a loaded director, short enough that a partition is
    // noticed well before a lease runs out.
    nc.call_timeout_s = std::clamp(o.mesh_lease_ttl / 3, 2.0, 10.0);
    nc.capacity = node_capacity;
    auto agent = MeshNodeAgent::Start(nc);
    if (!agent.ok()) return spdlog::error("mesh node: {}", agent.status().ToString()), kExitFailure;
    node = std::move(agent).value();
    service.mesh.membership = node.get();
  }

  FuseContext ctx;
  ctx.ns = &ns;
  ctx.metrics = &fuse_metrics;
  ctx.settings.writeback_cache = o.writeback_cache;
  ctx.settings.native_timeout = o.attr_timeout;
  ctx.settings.workspace_timeout = o.workspace_timeout;
  ctx.mountpoint = *mountpoint;
  if (rebac) {
    // Every name the kernel resolves is checked as its caller (fuse_ops.h).
    ctx.exact_entries = true;
    rebac->EnableSubjectMounts(&ns, &ctx, std::min(o.threads, 8u), &bus);
    rebac->Fill(service);
  }
  FuseMount::Options mopts;
  mopts.mountpoint = *mountpoint;
  mopts.max_threads = o.threads;
  mopts.debug = o.fuse_debug;

  SocketServer::Options sopts;
  sopts.unix_path = info.socket_path;
  if (Enabled(features, "tls_listener")) {
    sopts.listen = o.listen;
    sopts.tls_cert = o.tls_cert;
    sopts.tls_key = o.tls_key;
  }
  SocketServer::HttpServiceFactory http;
  if (Enabled(features, "http")) {
    sopts.http = o.http;
    StatusSources sources{&info, &ctx, &rpc_metrics, service.locks, &service.features,
                          service.database_bytes, service.inode_count, {}};
    if (search) sources.search_state = [p = search.get()]() { return p->State(); };
    http = [sources](kj::HttpHeaderTable& table) { return MakeHttpStatusService(table, sources); };
  }
  auto server = SocketServer::Start(&service, sopts, std::move(http));
  if (!server.ok()) return spdlog::error("control socket: {}", server.status().ToString()), kExitFailure;
  info.listen = (*server)->listen_address();
  if (mesh) mesh->SetAddress(info.listen.empty() ? info.socket_path : info.listen);
  if (node && !o.join.empty() && !node->Current().joined) {
    char host[256] = "node";
    ::gethostname(host, sizeof host - 1);
    auto joined = node->Join(o.join, o.registration_key, o.join_ca,
                             o.node_name.empty() ? std::string(host) : o.node_name, node_capacity);
    if (!joined.ok())
      spdlog::error("mesh: could not join {}: {} (retry with nexus mesh register)", o.join,
                    joined.status().ToString());
  }
  info.http = (*server)->http_address();
  spdlog::info("control socket {}{}{}", info.socket_path,
               info.listen.empty() ? "" : ", TLS on " + info.listen,
               info.http.empty() ? "" : ", HTTP on " + info.http);

  auto mount = FuseMount::Create(&ctx, mopts);
  if (!mount.ok()) return spdlog::error("{}", mount.status().ToString()), kExitFailure;
  files.SetKernelCache(mount->get());
  if (rebac) rebac->mounts()->SetMainMount(mount->get());
  info.mounted = true;
  spdlog::info("nexusd {} serving {} at {} (profile {})", NEXUS_VERSION, *data_dir, *mountpoint,
               o.profile);

  Status served;
  {
    StopSignals signals([&](int) { (*mount)->RequestStop(); });
    served = (*mount)->Serve();
  }
  info.mounted = false;
  spdlog::info("stopping: closing the control socket, unmounting {}", *mountpoint);
  files.SetKernelCache(nullptr);
  server->reset();  // no more socket calls
  jobs.reset();     // waits for slow calls still running
  node.reset();     // cancels tasks running here (the director places them again)
  if (rebac) rebac->StopMounts();  // per-subject mounts, before the main one
  mount->reset();   // unmount: no more requests
  Status synced = (*native)->Sync();
  if (!synced.ok()) spdlog::error("final metadata sync failed: {}", synced.ToString());
  bus.Drain();
  search.reset();
  versions.reset();  // stops capturing (the queue is left to the next reconcile), commits
  rebac.reset();     // after every user of the policy; flushes the audit log
  mesh.reset();
  workspace.reset();
  native->reset();  // commits, marks the shutdown clean
  if (!served.ok()) return spdlog::error("{}", served.ToString()), kExitFailure;
  spdlog::info("stopped cleanly");
  return synced.ok() ? 0 : kExitFailure;
}

}  // namespace
}  // namespace nexus

int main(int argc, char** argv) {
  nexus::StopSignals::BlockInThisThread();  // before any thread exists
  auto logger = spdlog::stderr_color_mt("nexusd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = nexus::ParseDaemonOptions(args, nexus::ProcessEnvironment());
  if (!opts.ok()) {
    std::fprintf(stderr, "nexusd: %s\n", opts.status().ToString().c_str());
    return nexus::kExitUsage;
  }
  if (opts->show_help) return std::fputs(nexus::DaemonUsage(), stdout), 0;
  if (opts->show_version) return std::printf("nexusd %s\n", NEXUS_VERSION), 0;
  spdlog::set_level(spdlog::level::from_str(opts->log_level));
  return nexus::Run(*opts);
}
