#include "runner.h"

#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace posix_compare {
namespace {

constexpr const char* kExitCall = "(process exit)";
constexpr const char* kTimedOut = "timed out";

long long NowMs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string ExitDescription(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by SIG") + sigabbrev_np(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// The scenario process: never returns.
[[noreturn]] void ScenarioChild(const Scenario& scenario, const std::string& dir, const RunConfig& config,
                                int out_fd) {
  ::setpgid(0, 0);
  ::umask(022);
  Probe probe(out_fd, config.user);
  // Done here rather than in the parent so a hung mount costs a timeout, not
  // the whole run. The directory belongs to whoever runs the body: the user
  // in a user run, so kAny scenarios can create files in it.
  const char* failed = nullptr;
  if (::mkdir(dir.c_str(), 0755) != 0)
    failed = "(setup) mkdir scenario dir";
  else if (::chmod(dir.c_str(), 0755) != 0)
    failed = "(setup) chmod scenario dir";
  else if (config.user && ::chown(dir.c_str(), config.user->uid, config.user->gid) != 0)
    failed = "(setup) chown scenario dir";
  else if (::chdir(dir.c_str()) != 0)
    failed = "(setup) chdir scenario dir";
  if (failed) {
    WriteStep(out_fd, Step{failed, "-1", errno});
    _exit(2);
  }
  if (config.user && scenario.privilege == Privilege::kAny) probe.as_user();
  scenario.body(probe);
  _exit(0);
}

std::string DescribeOutcome(const Step& step) {
  if (step.err == 0) return step.value;
  const char* name = strerrorname_np(step.err);
  return step.value + " " + (name ? name : "E?") + " (" + std::strerror(step.err) + ")";
}

// Values can be long (directory listings); show the region where they differ.
void ClipAroundDifference(std::string& a, std::string& b) {
  constexpr size_t kWidth = 160;
  if (a.size() <= kWidth && b.size() <= kWidth) return;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t start = i > 60 ? i - 60 : 0;
  auto clip = [&](std::string& s) {
    std::string out = start > 0 ? "..." : "";
    out += s.substr(std::min(start, s.size()), kWidth);
    if (start + kWidth < s.size()) out += "...";
    s = out;
  };
  clip(a);
  clip(b);
}

}  // namespace

std::vector<Step> RunScenario(const Scenario& scenario, const std::string& dir, const RunConfig& config) {
  std::vector<Step> steps;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    steps.push_back(Step{"(pipe)", "-1", errno});
    return steps;
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    steps.push_back(Step{"(fork)", "-1", errno});
    ::close(fds[0]);
    ::close(fds[1]);
    return steps;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ScenarioChild(scenario, dir, config, fds[1]);
  }
  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins
  ::close(fds[1]);

  const long long deadline = NowMs() + config.timeout_seconds * 1000LL;
  std::string buffer;
  bool timed_out = false;
  for (;;) {
    const long long left = deadline - NowMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pfd {
      fds[0], POLLIN, 0
    };
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min(left, 1000LL)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[65536];
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      if (auto step = ParseStep(std::string_view(buffer).substr(0, newline))) {
        steps.push_back(std::move(*step));
      }
      buffer.erase(0, newline + 1);
    }
  }
  ::close(fds[0]);
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (timed_out) {
    ::kill(-pid, SIGKILL);  // stragglers forked by in_child
    steps.push_back(Step{
        kExitCall, std::string(kTimedOut) + " after " + std::to_string(config.timeout_seconds) + " s", 0});
  } else {
    steps.push_back(Step{kExitCall, ExitDescription(status), 0});
  }
  return steps;
}

namespace {

int RemoveEntry(const char* path, const struct stat*, int type, struct FTW*) {
  return type == FTW_DP ? ::rmdir(path) : ::unlink(path);
}

}  // namespace

std::string RunBounded(const std::function<int()>& body, int timeout_seconds) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) _exit(body());
  const long long deadline = NowMs() + timeout_seconds * 1000LL;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
    if (NowMs() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return "timed out after " + std::to_string(timeout_seconds) + " s";
    }
    const struct timespec pause { 0, 10 * 1000 * 1000 };
    ::nanosleep(&pause, nullptr);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status)) return std::strerror(WEXITSTATUS(status));
  return ExitDescription(status);
}

std::string RemoveTree(const std::string& path, int timeout_seconds) {
  return RunBounded(
      [&] {
        if (::nftw(path.c_str(), RemoveEntry, 32, FTW_DEPTH | FTW_PHYS) == 0) return 0;
        return errno == ENOENT ? 0 : (errno ? errno : EIO);
      },
      timeout_seconds);
}

bool TimedOut(const std::vector<Step>& steps) {
  return !steps.empty() && steps.back().call == kExitCall && steps.back().value.rfind(kTimedOut, 0) == 0;
}

std::optional<Mismatch> FirstMismatch(const std::vector<Step>& native, const std::vector<Step>& mount) {
  std::optional<Mismatch> first;
  const size_t n = std::max(native.size(), mount.size());
  for (size_t i = 0; i < n; ++i) {
    const Step* a = i < native.size() ? &native[i] : nullptr;
    const Step* b = i < mount.size() ? &mount[i] : nullptr;
    if (a && b && a->call == b->call && a->value == b->value && a->err == b->err) continue;
    if (first) {
      ++first->differing_steps;
      continue;
    }
    first = Mismatch{i, std::nullopt, std::nullopt, 1};
    if (a) first->native = *a;
    if (b) first->mount = *b;
  }
  return first;
}

std::string FormatMismatch(const Mismatch& m) {
  std::string out;
  const bool same_call = m.native && m.mount && m.native->call == m.mount->call;
  std::string native = m.native ? DescribeOutcome(*m.native) : "(no such step)";
  std::string mount = m.mount ? DescribeOutcome(*m.mount) : "(no such step)";
  ClipAroundDifference(native, mount);
  if (same_call) {
    out += "    step " + std::to_string(m.index + 1) + ": " + m.native->call + "\n";
    out += "      native: " + native + "\n";
    out += "      mount:  " + mount + "\n";
  } else {
    out += "    step " + std::to_string(m.index + 1) + ": the runs diverged\n";
    out += "      native: " + (m.native ? m.native->call + " -> " : std::string()) + native + "\n";
    out += "      mount:  " + (m.mount ? m.mount->call + " -> " : std::string()) + mount + "\n";
  }
  if (m.differing_steps > 1) {
    out += "    (" + std::to_string(m.differing_steps - 1) +
           " later step(s) differ too; --verbose shows both traces)\n";
  }
  return out;
}

std::string FormatTrace(const char* label, const std::vector<Step>& steps) {
  std::string out = std::string("    ") + label + " trace:\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    out += "      " + std::to_string(i + 1) + ". " + steps[i].call + " = " + DescribeOutcome(steps[i]) + "\n";
  }
  return out;
}

}  // namespace posix_compare
