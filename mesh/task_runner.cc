#include "mesh/task_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace nexus::mesh {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The fd bwrap writes its JSON status to (child pid once the sandbox is up,
// then the exit code).
constexpr int kStatusFd = 3;

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
  std::vector<std::string> a = {
      options_.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind",
      "/usr",         "/usr",          "--ro-bind",         "/etc",          "/etc",
  };
  // Merged-/usr systems have these as symlinks; others as directories.
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
  struct stat st;
  if (::stat(request_.zone_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Error(EINVAL, "zone dir " + request_.zone_dir + " is not a directory");
  if (wake_fd_ < 0) return Status::Error(EIO, "eventfd failed");
  if (on_interval && options_.interval.count() <= 0)
    return Status::Error(EINVAL, "the callback interval must be positive");

  int out[2], err[2], status[2];
  Fds fds;
  for (int* p : {out, err, status}) {
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe");
    fds.fds.insert(fds.fds.end(), {p[0], p[1]});
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_adddup2(&actions, status[1], kStatusFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group, so Cancel can kill it whole
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = Argv();
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const char* path_env = "PATH=/usr/local/bin:/usr/bin:/bin";
  char* envp[] = {const_cast<char*>(path_env), nullptr};

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Error(EAGAIN, "cannot run " + args[0] + ": " + std::strerror(rc));
  fds.Close(out[1]);
  fds.Close(err[1]);
  fds.Close(status[1]);

  RunOutput result;
  std::string json;
  const auto start = SteadyClock::now();
  auto next_interval = start + options_.interval;
  const auto deadline =
      request_.timeout.count() > 0 ? start + request_.timeout : SteadyClock::time_point::max();
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
  } streams[] = {{&out[0], &result.stdout_data, &result.stdout_truncated, options_.max_output_bytes},
                 {&err[0], &result.stderr_data, &result.stderr_truncated, options_.max_output_bytes},
                 {&status[0], &json, nullptr, 4096}};

  while (out[0] >= 0 || err[0] >= 0 || status[0] >= 0) {
    if (cancelled_.load() && !killed) {
      result.cancelled = true;
      kill_group();
    }
    auto now = SteadyClock::now();
    if (now >= deadline && !killed) {
      result.timed_out = true;
      kill_group();
    }
    if (on_interval && now >= next_interval && !killed) {
      on_interval();
      // From the end of the call: a slow callback delays, never bunches, the next.
      next_interval = SteadyClock::now() + options_.interval;
      continue;
    }
    auto wake = std::min(deadline, on_interval ? next_interval : SteadyClock::time_point::max());
    int timeout_ms = -1;
    if (!killed && wake != SteadyClock::time_point::max())
      timeout_ms = static_cast<int>(
          std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count()));

    pollfd pfd[4] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {status[0], POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(pfd, 4, timeout_ms) < 0 && errno != EINTR) {
      kill_group();
      break;
    }
    if (pfd[3].revents != 0) {  // Cancel: consume the wake-up, act at the loop's top
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
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
      size_t keep = std::min(static_cast<size_t>(n), s.limit - std::min(s.limit, s.data->size()));
      s.data->append(buf, keep);
      if (keep < static_cast<size_t>(n) && s.truncated) *s.truncated = true;
    }
  }

  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
  int child_pid = 0;
  if (!JsonInt(json, "child-pid", &child_pid) && !result.cancelled && !result.timed_out) {
    std::string why = result.stderr_data;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Status::Error(EAGAIN, "the sandbox could not be set up: " + (why.empty() ? "bwrap failed" : why));
  }
  if (!JsonInt(json, "exit-code", &result.exit_code)) {
    result.exit_code = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
                       : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
                                              : -1;
  }
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

}  // namespace nexus::mesh
