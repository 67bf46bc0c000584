#include "fs/fuse_session.h"

#include <linux/fuse.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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
  struct statfs sfs;
  if (::statfs(path.c_str(), &sfs) != 0 && errno == ENOTCONN) {
    spdlog::warn("{} is a stale FUSE mount left by a stopped daemon; detaching it", path);
    if (::umount2(path.c_str(), MNT_DETACH) != 0)
      return Status::FromErrno("detach stale mount " + path + " (run: fusermount3 -uz " + path + ")");
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("mount point " + path);
  if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, "mount point " + path + " is not a directory");
  std::string type = MountTypeAt(path);
  if (!type.empty() && type.rfind("fuse", 0) == 0) {
    return Status::Error(EBUSY, "mount point " + path + " is already mounted (" + type +
                                    "); stop the daemon serving it or run: fusermount3 -u " + path);
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
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return Status::Error(
        EIO, "could not mount at " + o.mountpoint + " (is /dev/fuse available and fuse3 installed?)");
  }
  return std::unique_ptr<FuseMount>(new FuseMount(se, o));
}

FuseMount::~FuseMount() {
  fuse_session_unmount(se_);
  fuse_session_destroy(se_);
}

Status FuseMount::Serve() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  int rc = fuse_session_loop_mt(se_, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (rc < 0) return Status::Error(-rc, "FUSE session loop failed");
  return Status::Ok();
}

void FuseMount::InvalidateInode(Ino ino) {
  int rc = fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
  if (rc != 0 && rc != -ENOENT) spdlog::debug("invalidate inode {}: {}", ino, std::strerror(-rc));
}

void FuseMount::InvalidateEntry(Ino parent, const std::string& name) {
  int rc = fuse_lowlevel_notify_inval_entry(se_, parent, name.data(), name.size());
  if (rc != 0 && rc != -ENOENT) spdlog::debug("invalidate entry {}: {}", name, std::strerror(-rc));
}

Status FuseMount::IncrementEpoch() {
  // libfuse 3.14 predates this notification: send it as libfuse sends the
  // others, a bare out-header with the code in `error` and unique 0.
  constexpr int32_t kNotifyIncEpoch = 8;
  fuse_out_header h{};
  h.len = sizeof h;
  h.error = kNotifyIncEpoch;
  h.unique = 0;
  ssize_t n = ::write(fuse_session_fd(se_), &h, sizeof h);
  if (n != static_cast<ssize_t>(sizeof h)) return Status::FromErrno("FUSE epoch notification");
  return Status::Ok();
}

void FuseMount::RequestStop() {
  int fd = ::open(options_.mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 && ::syncfs(fd) != 0) spdlog::warn("syncfs before stop: {}", std::strerror(errno));
  fuse_session_exit(se_);
  // Workers only look at the exit flag between requests: send one the kernel
  // always forwards (statfs) so a worker wakes, answers and leaves the loop.
  struct statfs sfs;
  if (fd >= 0) {
    ::fstatfs(fd, &sfs);
    ::close(fd);
  } else {
    ::statfs(options_.mountpoint.c_str(), &sfs);
  }
}

}  // namespace nexus
