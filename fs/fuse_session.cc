#include "fs/fuse_session.h"

#include <linux/fuse.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <sys/sysmacros.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
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

// /proc/self/mountinfo writes ' ', '\t', '\n' and '\\' of a path as \ooo.
std::string UnescapeMountField(const std::string& s) {
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && is_octal(s[i + 1]) && is_octal(s[i + 2]) && is_octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The FUSE connection number of the mount at `path` (the device number
// /proc/self/mountinfo shows for it: the name of its directory under
// /sys/fs/fuse/connections), or 0. The last mount at `path` wins.
unsigned ConnectionOf(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  unsigned found = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mnt;
    if (!(f >> id >> parent >> dev >> root >> mnt)) continue;
    if (UnescapeMountField(mnt) != path) continue;
    unsigned major = 0, minor = 0;
    if (std::sscanf(dev.c_str(), "%u:%u", &major, &minor) == 2) found = makedev(major, minor);
  }
  return found;
}

// Runs `fn` on a thread of its own and waits up to `timeout` for it. False
// when it did not finish: it then goes on alone, so `fn` may only use what
// it owns.
bool RunBounded(std::function<void()> fn, std::chrono::milliseconds timeout) {
  struct Done {
    Mutex mu;
    std::condition_variable cv;
    bool done GUARDED_BY(mu) = false;
  };
  auto done = std::make_shared<Done>();
  std::thread([done, fn = std::move(fn)] {
    fn();
    MutexLock lk(done->mu);
    done->done = true;
    done->cv.notify_all();
  }).detach();
  MutexLock lk(done->mu);
  return lk.WaitFor(done->cv, timeout, [&]() REQUIRES(done->mu) { return done->done; });
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
  return std::unique_ptr<FuseMount>(new FuseMount(se, o, ConnectionOf(o.mountpoint)));
}

FuseMount::~FuseMount() {
  fuse_session_unmount(se_);
  // libfuse leaves a mount whose connection was aborted in place.
  if (aborted_ && ::umount2(options_.mountpoint.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
    spdlog::warn("unmount {} after the abort: {}", options_.mountpoint, std::strerror(errno));
  fuse_session_destroy(se_);
}

Status FuseMount::Serve() {
  {
    MutexLock lk(stop_mu_);
    serving_ = true;
  }
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  int rc = fuse_session_loop_mt(se_, cfg);
  fuse_loop_cfg_destroy(cfg);
  CloseNotifications();
  {
    MutexLock lk(stop_mu_);
    serving_ = false;
    stop_cv_.notify_all();
  }
  if (rc < 0) return Status::Error(-rc, "FUSE session loop failed");
  return Status::Ok();
}

FuseMount::Notifying::Notifying(FuseMount* m) : mount(m) {
  // Counted before the flag is read, the flag cleared before the count is
  // read (both sequentially consistent): either the stop sees this one in
  // flight, or this one sees the stop.
  mount->notifying_.fetch_add(1);
  ok = mount->notify_open_.load();
}

FuseMount::Notifying::~Notifying() { mount->notifying_.fetch_sub(1); }

void FuseMount::CloseNotifications() {
  notify_open_.store(false);
  auto drained = [this](auto within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (notifying_.load() != 0) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  };
  if (drained(kNotifyDrain)) return;
  spdlog::warn("stop: a cache notification to the kernel is blocked at {}; aborting the kernel connection",
               options_.mountpoint);
  Abort();
  if (!drained(kNotifyAbortedDrain))
    spdlog::error("stop: a cache notification to the kernel at {} is still blocked after the abort",
                  options_.mountpoint);
}

void FuseMount::InvalidateInode(Ino ino) {
  Notifying notifying(this);
  if (!notifying.ok) return;
  int rc = fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
  if (rc != 0 && rc != -ENOENT) spdlog::debug("invalidate inode {}: {}", ino, std::strerror(-rc));
}

void FuseMount::InvalidateEntry(Ino parent, const std::string& name) {
  Notifying notifying(this);
  if (!notifying.ok) return;
  int rc = fuse_lowlevel_notify_inval_entry(se_, parent, name.data(), name.size());
  if (rc != 0 && rc != -ENOENT) spdlog::debug("invalidate entry {}: {}", name, std::strerror(-rc));
}

Status FuseMount::IncrementEpoch() {
  // libfuse 3.14 predates this notification: send it as libfuse sends the
  // others, a bare out-header with the code in `error` and unique 0.
  constexpr int32_t kNotifyIncEpoch = 8;
  Notifying notifying(this);
  if (!notifying.ok) return Status::Ok();  // the loop has ended: the mount is going away
  fuse_out_header h{};
  h.len = sizeof h;
  h.error = kNotifyIncEpoch;
  h.unique = 0;
  ssize_t n = ::write(fuse_session_fd(se_), &h, sizeof h);
  if (n != static_cast<ssize_t>(sizeof h)) return Status::FromErrno("FUSE epoch notification");
  return Status::Ok();
}

void FuseMount::RequestStop() {
  const std::string mnt = options_.mountpoint;
  // Flush while the workers still serve; bounded, as everything here that
  // waits on the kernel.
  bool flushed = RunBounded(
      [mnt] {
        int fd = ::open(mnt.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return;
        if (::syncfs(fd) != 0) spdlog::warn("syncfs before stop: {}", std::strerror(errno));
        ::close(fd);
      },
      kFlushTimeout);
  if (!flushed)
    spdlog::warn("stop: flushing {} took longer than {} s; stopping without waiting for it", mnt,
                 kFlushTimeout.count());
  fuse_session_exit(se_);
  // Workers look at the exit flag only between requests: send one the
  // kernel always forwards (statfs) so a worker wakes, answers and leaves
  // the loop. Never wait for the answer: another process's request may wake
  // a worker first, and once the loop has ended nobody reads ours until the
  // session is closed, which happens after this returns.
  std::thread([mnt] {
    struct statfs sfs;
    ::statfs(mnt.c_str(), &sfs);
  }).detach();
  MutexLock lk(stop_mu_);
  if (!serving_) return;
  if (lk.WaitFor(stop_cv_, kAbortAfter, [&]() REQUIRES(stop_mu_) { return !serving_; })) return;
  spdlog::error("stop: the FUSE loop at {} did not end within {} s; aborting the kernel connection", mnt,
                kAbortAfter.count());
  lk.Unlock();
  Abort();
}

void FuseMount::Abort() {
  aborted_ = true;
  if (connection_ != 0) {
    const std::string path = "/sys/fs/fuse/connections/" + std::to_string(connection_) + "/abort";
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      bool ok = ::write(fd, "1", 1) == 1;
      ::close(fd);
      if (ok) return;
    }
  }
  // A forced unmount aborts a FUSE connection too (fuse_umount_begin).
  if (::umount2(options_.mountpoint.c_str(), MNT_FORCE) != 0)
    spdlog::warn("abort {}: {}", options_.mountpoint, std::strerror(errno));
}

}  // namespace nexus
