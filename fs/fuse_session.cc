#include "fs/fuse_session.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstring>
#include <fstream>
#include <vector>

namespace nexus {
namespace {

// The filesystem type /proc/self/mounts lists for `path`, or "".
std::string MountTypeAt(const std::string& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mnt, type, rest, found;
  while (in >> dev >> mnt >> type && std::getline(in, rest))
    if (mnt == path) found = type;
  return found;
}

}  // namespace

Status PrepareMountpoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      spdlog::warn("{} is a stale FUSE mount left by a stopped daemon; detaching it", path);
      if (::umount2(path.c_str(), MNT_DETACH) != 0)
        return Status::FromErrno("detach stale mount " + path +
                                 " (run: fusermount3 -uz " + path + ")");
      if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path);
    } else {
      return Status::FromErrno("mount point " + path);
    }
  }
  if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, "mount point " + path + " is not a directory");
  std::string type = MountTypeAt(path);
  if (!type.empty() && type.rfind("fuse", 0) == 0) {
    return Status::Error(EBUSY, "mount point " + path + " is already mounted (" + type +
                                    "); stop the daemon serving it or run: fusermount3 -u " +
                                    path);
  }
  return Status::Ok();
}

Result<std::unique_ptr<FuseMount>> FuseMount::Create(FuseContext* ctx, const Options& o) {
  std::string opts = "default_permissions,noatime,fsname=" + o.fsname + ",subtype=nexusfs";
  if (o.allow_other) opts += ",allow_other";
  std::vector<std::string> argv = {"nexusd", "-o", opts};
  if (o.debug) argv.push_back("-d");
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  const fuse_lowlevel_ops& ops = NexusFuseOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, ctx);
  fuse_opt_free_args(&args);
  if (!se) return Status::Error(EIO, "could not create the FUSE session");
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return Status::Error(EIO, "could not install signal handlers");
  }
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Status::Error(EIO, "could not mount at " + o.mountpoint +
                                  " (is /dev/fuse available and fuse3 installed?)");
  }
  return std::unique_ptr<FuseMount>(new FuseMount(se, o));
}

FuseMount::~FuseMount() {
  fuse_remove_signal_handlers(se_);
  fuse_session_unmount(se_);
  fuse_session_destroy(se_);
}

Status FuseMount::Serve() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  int rc = fuse_session_loop_mt(se_, cfg);
  fuse_loop_cfg_destroy(cfg);
  // A loop ended by a signal reports the signal number; that is a clean stop.
  if (rc < 0) return Status::Error(-rc, "FUSE session loop failed");
  return Status::Ok();
}

void FuseMount::Exit() { fuse_session_exit(se_); }

}  // namespace nexus
