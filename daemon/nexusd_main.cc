// nexusd: builds every part of the daemon, wires them together and serves
// the mount until told to stop. No singletons: everything is created here
// and passed down.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/data_dir_lock.h"
#include "daemon/options.h"
#include "daemon/stop_signals.h"
#include "fs/change_events.h"
#include "fs/fuse_session.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/workspace_backend.h"
#include "nexus/version.h"

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
  std::unique_ptr<WorkspaceBackend> workspace;
  if (!o.workspace.empty()) {
    auto ws = WorkspaceBackend::Open(kWorkspaceBackendId, o.workspace, &bus);
    if (!ws.ok()) return spdlog::error("--workspace: {}", ws.status().ToString()), kExitUsage;
    workspace = std::move(ws).value();
    if (Status st = MountWorkspace(ns, *workspace); !st.ok())
      return spdlog::error("{}", st.ToString()), kExitFailure;
    spdlog::info("workspace {} at /zone/local", o.workspace);
  }

  FuseContext ctx;
  ctx.ns = &ns;
  ctx.settings.writeback_cache = o.writeback_cache;
  ctx.settings.native_timeout = o.attr_timeout;
  ctx.settings.workspace_timeout = o.workspace_timeout;
  FuseMount::Options mopts;
  mopts.mountpoint = *mountpoint;
  mopts.max_threads = o.threads;
  mopts.debug = o.fuse_debug;
  auto mount = FuseMount::Create(&ctx, mopts);
  if (!mount.ok()) return spdlog::error("{}", mount.status().ToString()), kExitFailure;
  spdlog::info("nexusd {} serving {} at {}", NEXUS_VERSION, *data_dir, *mountpoint);

  Status served;
  {
    StopSignals signals([&](int) { (*mount)->RequestStop(); });
    served = (*mount)->Serve();
  }
  spdlog::info("stopping: unmounting {}", *mountpoint);
  mount->reset();  // unmount: no more requests
  Status synced = (*native)->Sync();
  if (!synced.ok()) spdlog::error("final metadata sync failed: {}", synced.ToString());
  bus.Drain();
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
  auto opts = nexus::ParseDaemonOptions(args);
  if (!opts.ok()) {
    std::fprintf(stderr, "nexusd: %s\n", opts.status().ToString().c_str());
    return nexus::kExitUsage;
  }
  if (opts->show_help) return std::fputs(nexus::DaemonUsage(), stdout), 0;
  if (opts->show_version) return std::printf("nexusd %s\n", NEXUS_VERSION), 0;
  spdlog::set_level(spdlog::level::from_str(opts->log_level));
  return nexus::Run(*opts);
}
