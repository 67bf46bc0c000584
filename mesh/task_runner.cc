#include "mesh/task_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

extern char** environ;

namespace nexus::mesh {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The fd bwrap writes its JSON status to (child pid once the sandbox is up,
// then the exit code).
constexpr int kStatusFd = 3;

// The environment the runner's own processes (bwrap, nsenter) start with.
constexpr char kPath[] = "PATH=/usr/local/bin:/usr/bin:/bin";

// Closes the fds it holds on scope exit.
struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void Close(int& fd) {
    if (fd < 0) return;
    ::close(fd);
    std::replace(fds.begin(), fds.end(), fd, -1);
    fd = -1;
  }
};

// The integer after `"field":` in bwrap's JSON status, if present.
bool JsonInt(const std::string& json, std::string_view field, int* out) {
  size_t p = json.find("\"" + std::string(field) + "\"");
  if (p == std::string::npos) return false;
  p = json.find(':', p);
  if (p == std::string::npos) return false;
  *out = std::atoi(json.c_str() + p + 1);
  return true;
}

// Spawns `args` in a process group of its own (so it can be killed whole),
// signals unblocked and at their defaults, with the minimal environment
// `env`; each (from, to) of `fds` is dup2'd, and stdin is /dev/null unless
// one of them is 0. EAGAIN when it cannot be run.
Result<pid_t> SpawnInGroup(std::vector<std::string> args, const std::vector<std::pair<int, int>>& fds,
                           const char* env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  bool stdin_given = false;
  for (auto [from, to] : fds) stdin_given |= to == 0;
  if (!stdin_given) posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  for (auto [from, to] : fds) posix_spawn_file_actions_adddup2(&actions, from, to);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>(env), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Error(EAGAIN, "cannot run " + args[0] + ": " + std::strerror(rc));
  return pid;
}

// What one process run needs besides its argv.
struct ProcessRun {
  std::vector<std::string> argv;
  bool status_pipe = false;  // bwrap's --json-status-fd kStatusFd
  size_t max_output_bytes = 1 << 20;
  std::chrono::milliseconds timeout{0};
  int wake_fd = -1;  // readable: look at `cancelled`
  const std::atomic<bool>* cancelled = nullptr;
  const std::function<void()>* on_interval = nullptr;
  std::chrono::milliseconds interval{0};
  const OutputFn* on_output = nullptr;
};

// Spawns `r.argv` in its own process group (stdin /dev/null, the minimal
// environment), collects its output, calls the callbacks and kills the
// group on cancellation or timeout. `json` receives what the process wrote
// to kStatusFd. EAGAIN if it could not be spawned.
Result<RunOutput> RunProcess(const ProcessRun& r, std::string* json, pid_t* spawned = nullptr) {
  int out[2], err[2], status[2] = {-1, -1};
  Fds fds;
  for (int* p : {out, err, status}) {
    if (p == status && !r.status_pipe) continue;
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe");
    fds.fds.insert(fds.fds.end(), {p[0], p[1]});
  }

  std::vector<std::pair<int, int>> dups = {{out[1], 1}, {err[1], 2}};
  if (r.status_pipe) dups.emplace_back(status[1], kStatusFd);
  auto spawned_pid = SpawnInGroup(r.argv, dups, kPath);
  if (!spawned_pid.ok()) return spawned_pid.status();
  const pid_t pid = *spawned_pid;
  if (spawned) *spawned = pid;
  fds.Close(out[1]);
  fds.Close(err[1]);
  if (r.status_pipe) fds.Close(status[1]);

  RunOutput result;
  const auto start = SteadyClock::now();
  auto next_interval = start + r.interval;
  const auto deadline = r.timeout.count() > 0 ? start + r.timeout : SteadyClock::time_point::max();
  bool killed = false;
  auto kill_group = [&] {
    if (!killed) ::kill(-pid, SIGKILL);
    killed = true;
  };
  struct Stream {
    int* fd;
    std::string* data;
    bool* truncated;
    size_t limit;
    OutputStream which;
  } streams[] = {
      {&out[0], &result.stdout_data, &result.stdout_truncated, r.max_output_bytes, OutputStream::kStdout},
      {&err[0], &result.stderr_data, &result.stderr_truncated, r.max_output_bytes, OutputStream::kStderr},
      {&status[0], json, nullptr, 4096, OutputStream::kStdout}};

  while (out[0] >= 0 || err[0] >= 0 || status[0] >= 0) {
    if (r.cancelled && r.cancelled->load() && !killed) {
      result.cancelled = true;
      kill_group();
    }
    auto now = SteadyClock::now();
    if (now >= deadline && !killed) {
      result.timed_out = true;
      kill_group();
    }
    if (r.on_interval && now >= next_interval && !killed) {
      (*r.on_interval)();
      // From the end of the call: a slow callback delays, never bunches, the next.
      next_interval = SteadyClock::now() + r.interval;
      continue;
    }
    auto wake = std::min(deadline, r.on_interval ? next_interval : SteadyClock::time_point::max());
    int timeout_ms = -1;
    if (!killed && wake != SteadyClock::time_point::max())
      timeout_ms = static_cast<int>(
          std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count()));

    pollfd pfd[4] = {
        {out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {status[0], POLLIN, 0}, {r.wake_fd, POLLIN, 0}};
    if (::poll(pfd, 4, timeout_ms) < 0 && errno != EINTR) {
      kill_group();
      break;
    }
    if (r.wake_fd >= 0 && pfd[3].revents != 0) {  // Cancel: consume the wake-up, act at the loop's top
      uint64_t v;
      (void)!::read(r.wake_fd, &v, sizeof v);
    }
    for (int i = 0; i < 3; ++i) {
      if (pfd[i].fd < 0 || pfd[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(pfd[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        fds.Close(*streams[i].fd);
        continue;
      }
      Stream& s = streams[i];
      if (i < 2 && r.on_output && *r.on_output) (*r.on_output)(s.which, std::string_view(buf, n));
      size_t keep = std::min(static_cast<size_t>(n), s.limit - std::min(s.limit, s.data->size()));
      s.data->append(buf, keep);
      if (keep < static_cast<size_t>(n) && s.truncated) *s.truncated = true;
    }
  }

  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
  result.exit_code = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
                     : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
                                            : -1;
  return result;
}

// bwrap's arguments for the read-only system folders: /usr and /etc, and
// /bin, /sbin, /lib... as symlinks on merged-/usr systems or bound
// directories on others.
std::vector<std::string> SystemFolders(const std::string& bwrap) {
  std::vector<std::string> a = {bwrap, "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"};
  for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64"}) {
    std::error_code ec;
    auto st = std::filesystem::symlink_status(dir, ec);
    if (ec) continue;
    if (std::filesystem::is_symlink(st)) {
      a.insert(a.end(), {"--symlink", std::filesystem::read_symlink(dir, ec).string(), dir});
    } else if (std::filesystem::is_directory(st)) {
      a.insert(a.end(), {"--ro-bind", dir, dir});
    }
  }
  return a;
}

Status CheckDir(const std::string& dir, const char* what) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Error(EINVAL, std::string(what) + " " + dir + " is not a directory");
  return Status::Ok();
}

// bwrap's own reason when it wrote no child pid (it could not set up).
Status SetupFailure(const RunOutput& r) {
  std::string why = r.stderr_data;
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return Status::Error(EAGAIN, "the sandbox could not be set up: " + (why.empty() ? "bwrap failed" : why));
}

}  // namespace

TaskRunner::TaskRunner(Options options, SandboxRequest request)
    : options_(std::move(options)),
      request_(std::move(request)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

TaskRunner::~TaskRunner() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void TaskRunner::Cancel() {
  cancelled_.store(true);
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

std::vector<std::string> TaskRunner::Argv() const {
  std::vector<std::string> a = SystemFolders(options_.bwrap);
  a.insert(a.begin() + 1, {"--unshare-all", "--die-with-parent", "--new-session"});
  a.insert(a.end(),
           {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", request_.zone_dir, "/zone",
            // The sandbox's own root (a tmpfs holding the mount
            // points) read-only too: /zone and /tmp are the only
            // writable places.
            "--remount-ro", "/", "--chdir", "/zone", "--clearenv", "--setenv", "PATH",
            "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/zone", "--setenv", "TMPDIR", "/tmp",
            "--json-status-fd", std::to_string(kStatusFd)});
  if (request_.allow_network) a.push_back("--share-net");
  a.insert(a.end(), {"--", "/bin/sh", "-c", request_.command});
  return a;
}

Result<RunOutput> TaskRunner::Run(const std::function<void()>& on_interval) {
  NEXUS_RETURN_IF_ERROR(CheckDir(request_.zone_dir, "zone dir"));
  if (wake_fd_ < 0) return Status::Error(EIO, "eventfd failed");
  if (on_interval && options_.interval.count() <= 0)
    return Status::Error(EINVAL, "the callback interval must be positive");
  ProcessRun r;
  r.argv = Argv();
  r.status_pipe = true;
  r.max_output_bytes = options_.max_output_bytes;
  r.timeout = request_.timeout;
  r.wake_fd = wake_fd_;
  r.cancelled = &cancelled_;
  if (on_interval) r.on_interval = &on_interval;
  r.interval = options_.interval;
  r.on_output = &options_.on_output;
  std::string json;
  auto result = RunProcess(r, &json);
  if (!result.ok()) return result;
  int child_pid = 0;
  if (!JsonInt(json, "child-pid", &child_pid) && !result->cancelled && !result->timed_out)
    return SetupFailure(*result);
  JsonInt(json, "exit-code", &result->exit_code);
  return result;
}

Status TaskRunner::Probe(const std::string& bwrap) {
  Options options;
  options.bwrap = bwrap;
  TaskRunner runner(options, {"true", std::filesystem::temp_directory_path().string(), false, {}});
  auto r = runner.Run();
  if (!r.ok()) return r.status();
  if (r->exit_code != 0)
    return Status::Error(
        EAGAIN, "a sandboxed `true` exited with " + std::to_string(r->exit_code) + ": " + r->stderr_data);
  return Status::Ok();
}

// ---------------------------------------------------------------- outputs

namespace {

// Why openat/read failed, for a person.
std::string OutputError(int err) {
  switch (err) {
    case ENOENT:
      return "no such file";
    case ELOOP:
      return "a symbolic link (not followed)";
    case ENOTDIR:
      return "a component on the way is not a directory";
    default:
      return std::strerror(err);
  }
}

// The content of `path` below the directory `root_fd`, at most `limit`
// bytes, or why not.
Result<std::string> ReadBeneath(int root_fd, const std::string& path, uint64_t limit) {
  Fds fds;
  int dir = root_fd;
  size_t pos = 0;
  for (size_t slash; (slash = path.find('/', pos)) != std::string::npos; pos = slash + 1) {
    std::string part = path.substr(pos, slash - pos);
    int next = ::openat(dir, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int err = errno;
      // O_DIRECTORY wins over O_NOFOLLOW: a link on the way reads ENOTDIR.
      struct stat st;
      if (err == ENOTDIR && ::fstatat(dir, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode))
        err = ELOOP;
      return Status::Error(err, OutputError(err));
    }
    fds.fds.push_back(next);
    dir = next;
  }
  int fd = ::openat(dir, path.c_str() + pos, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Status::Error(errno, OutputError(errno));
  fds.fds.push_back(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::Error(errno, OutputError(errno));
  if (!S_ISREG(st.st_mode)) return Status::Error(EINVAL, "not a regular file");
  auto too_large = [&] { return Status::Error(EFBIG, "larger than " + std::to_string(limit) + " bytes"); };
  if (static_cast<uint64_t>(st.st_size) > limit) return too_large();
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Error(errno, OutputError(errno));
    if (n == 0) break;
    if (data.size() + n > limit) return too_large();  // it grew
    data.append(buf, n);
  }
  return data;
}

}  // namespace

CollectedOutputs CollectOutputs(const std::string& root, const std::vector<std::string>& paths,
                                uint64_t max_file_bytes, uint64_t max_total_bytes) {
  CollectedOutputs out;
  int root_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const std::string root_error = root_fd < 0 ? "the zone cannot be opened: " + OutputError(errno) : "";
  Fds fds;
  fds.fds.push_back(root_fd);
  uint64_t total = 0;
  for (const std::string& path : paths) {
    if (root_fd < 0) {
      out.missing.emplace_back(path, root_error);
      continue;
    }
    auto data = ReadBeneath(root_fd, path, std::min(max_file_bytes, max_total_bytes - total));
    if (data.ok()) {
      total += data->size();
      out.files.emplace_back(path, std::move(data).value());
    } else if (data.code() == EFBIG && total > 0 && max_file_bytes > max_total_bytes - total) {
      out.missing.emplace_back(path,
                               "past the " + std::to_string(max_total_bytes) + "-byte limit of all outputs");
    } else {
      out.missing.emplace_back(path, data.status().message());
    }
  }
  return out;
}

// ---------------------------------------------------------------- sessions

namespace {

// `argv` prefixed so that the process joins every one of `cgroup_dirs`
// before it execs.
std::vector<std::string> InCgroup(const std::vector<std::string>& cgroup_dirs,
                                  std::vector<std::string> argv) {
  if (cgroup_dirs.empty()) return argv;
  std::vector<std::string> a = {
      "/bin/sh", "-c",
      "n=$1; shift; while [ \"$n\" -gt 0 ]; do echo $$ > \"$1/cgroup.procs\" || exit 126; "
      "shift; n=$((n - 1)); done; exec \"$@\"",
      "sh", std::to_string(cgroup_dirs.size())};
  a.insert(a.end(), cgroup_dirs.begin(), cgroup_dirs.end());
  a.insert(a.end(), argv.begin(), argv.end());
  return a;
}

// setpriv's arguments for running as `uid`:`gid` with nothing else.
std::vector<std::string> DropTo(uid_t uid, gid_t gid) {
  return {"setpriv",
          "--reuid=" + std::to_string(uid),
          "--regid=" + std::to_string(gid),
          "--clear-groups",
          "--bounding-set=-all",
          "--inh-caps=-all",
          "--no-new-privs",
          "--"};
}

// Reads from `fd` until `want` was seen, EOF, or `deadline`.
bool ReadUntil(int fd, std::string* buf, std::string_view want, SteadyClock::time_point deadline) {
  while (buf->find(want) == std::string::npos) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) return false;
    pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char chunk[4096];
    ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buf->append(chunk, got);
  }
  return true;
}

}  // namespace

SandboxSession::SandboxSession(Options options, SessionSpec spec)
    : options_(std::move(options)), spec_(std::move(spec)) {}

SandboxSession::~SandboxSession() { Stop(); }

std::vector<std::string> SandboxSession::HolderArgv() const {
  std::vector<std::string> a = SystemFolders(options_.bwrap);
  a.insert(a.begin() + 1,
           {"--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--new-session"});
  if (!spec_.allow_network) a.insert(a.begin() + 1, "--unshare-net");
  a.insert(a.end(), {"--proc",
                     "/proc",
                     "--dev",
                     "/dev",
                     "--perms",
                     "1777",
                     "--tmpfs",
                     "/tmp",
                     "--bind",
                     spec_.workspace_dir,
                     "/workspace",
                     "--remount-ro",
                     "/",
                     "--chdir",
                     "/workspace",
                     "--clearenv",
                     "--setenv",
                     "PATH",
                     kPath + 5,
                     "--json-status-fd",
                     std::to_string(kStatusFd)});
  for (const std::string& kv : spec_.env) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) a.insert(a.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
  }
  a.push_back("--");
  for (std::string& s : DropTo(spec_.uid, spec_.gid)) a.push_back(std::move(s));
  // Says it is up once every mount is in place, then lives until its stdin
  // (the session's pipe) ends.
  a.insert(a.end(), {"/bin/sh", "-c", "echo ready; read -r _; exit 0"});
  return InCgroup(spec_.cgroup_dirs, std::move(a));
}

std::vector<std::string> SandboxSession::EnterArgv(const SessionRun& run) const {
  std::vector<std::string> a = {options_.nsenter, "--target", std::to_string(init_pid_),
                                "--mount",        "--uts",    "--ipc",
                                "--pid",          "--net",    "--cgroup",
                                "--root",         "--wd",     "--"};
  for (std::string& s : DropTo(spec_.uid, spec_.gid)) a.push_back(std::move(s));
  a.insert(a.end(), {"/usr/bin/env", "-i", kPath, "HOME=/workspace", "TMPDIR=/tmp"});
  a.insert(a.end(), spec_.env.begin(), spec_.env.end());
  a.insert(a.end(), run.env.begin(), run.env.end());
  a.insert(a.end(), {"/bin/sh", "-c", run.command});
  return InCgroup(spec_.cgroup_dirs, std::move(a));
}

Result<std::unique_ptr<SandboxSession>> SandboxSession::Start(Options options, SessionSpec spec) {
  NEXUS_RETURN_IF_ERROR(CheckDir(spec.workspace_dir, "workspace"));
  std::unique_ptr<SandboxSession> s(new SandboxSession(std::move(options), std::move(spec)));
  int hold[2], out[2], status[2];
  Fds fds;
  for (int* p : {hold, out, status}) {
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe");
    fds.fds.insert(fds.fds.end(), {p[0], p[1]});
  }
  int err = ::memfd_create("bwrap-stderr", MFD_CLOEXEC);
  if (err < 0) return Status::FromErrno("memfd_create");
  fds.fds.push_back(err);

  auto spawned =
      SpawnInGroup(s->HolderArgv(), {{hold[0], 0}, {out[1], 1}, {err, 2}, {status[1], kStatusFd}}, kPath);
  if (!spawned.ok()) return spawned.status();
  const pid_t pid = *spawned;
  fds.Close(hold[0]);
  fds.Close(out[1]);
  fds.Close(status[1]);
  {
    MutexLock lk(s->mu_);
    s->bwrap_pid_ = pid;
    s->hold_fd_ = hold[1];  // owned by the session from here on
  }
  std::replace(fds.fds.begin(), fds.fds.end(), hold[1], -1);

  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  std::string json, ready;
  int init = 0;
  if (ReadUntil(status[0], &json, "}", deadline) && JsonInt(json, "child-pid", &init) && init > 0) {
    s->init_pid_ = init;
    if (ReadUntil(out[0], &ready, "ready\n", deadline)) return s;
  }
  // It did not come up: bwrap's reason is in its stderr.
  s->Stop();
  RunOutput failed;
  char buf[4096];
  ssize_t n = ::pread(err, buf, sizeof buf, 0);
  if (n > 0) failed.stderr_data.assign(buf, n);
  return SetupFailure(failed);
}

bool SandboxSession::MonitorRunning() {
  if (bwrap_pid_ < 0) return false;
  int wstatus;
  pid_t r = ::waitpid(bwrap_pid_, &wstatus, WNOHANG);
  if (r == 0) return true;
  bwrap_pid_ = -1;  // reaped (or not ours any more)
  return false;
}

bool SandboxSession::Alive() {
  MutexLock lk(mu_);
  return !stopped_ && MonitorRunning();
}

void SandboxSession::Stop() {
  MutexLock lk(mu_);
  if (stopped_) return;
  stopped_ = true;
  // The namespace's init first: the kernel then kills every process in it.
  if (init_pid_ > 0 && MonitorRunning()) ::kill(init_pid_, SIGKILL);
  if (bwrap_pid_ > 0) {
    ::kill(-bwrap_pid_, SIGKILL);
    int wstatus;
    while (::waitpid(bwrap_pid_, &wstatus, 0) < 0 && errno == EINTR) {}
    bwrap_pid_ = -1;
  }
  if (hold_fd_ >= 0) ::close(hold_fd_);
  hold_fd_ = -1;
}

Result<RunOutput> SandboxSession::Run(const SessionRun& run, const OutputFn& on_output) {
  if (!Alive()) return Status::Error(ESRCH, "the sandbox is not running");
  ProcessRun r;
  r.argv = EnterArgv(run);
  r.max_output_bytes = options_.max_output_bytes;
  r.timeout = run.timeout;
  r.on_output = &on_output;
  std::string unused;
  auto result = RunProcess(r, &unused);
  if (!result.ok()) return result;
  if (!Alive()) return Status::Error(ESRCH, "the sandbox was stopped");
  return result;
}

}  // namespace nexus::mesh
