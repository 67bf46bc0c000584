// TaskRunner: the worker side of a mesh task. Runs the task's command in a
// bubblewrap sandbox and captures its exit code and (bounded) output.
//
// The sandbox: new user/pid/ipc/uts/cgroup namespaces and, unless the task
// allows network, a new network namespace with nothing but a down loopback;
// /usr, /etc and the usual /bin, /lib symlinks read-only; fresh /proc and
// /dev; a private tmpfs at /tmp; the task's zone directory bound read-write
// at /zone, which is the working directory and $HOME; the root itself is
// read-only. Nothing else of the host is visible. The environment is cleared but for PATH, HOME, TMPDIR.
//
// The command runs as `/bin/sh -c <command>`. bwrap is started in its own
// process group; cancellation and timeouts kill that group, and
// --die-with-parent plus the pid namespace take every process of the task
// down with it.
//
// Thread-safety: one TaskRunner runs one command once. Run blocks the
// calling thread (never a FUSE thread); Cancel may be called from any
// thread, before or during Run.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace nexus::mesh {

struct SandboxRequest {
  std::string command;
  std::string zone_dir;  // host directory, bound read-write at /zone
  bool allow_network = false;
  std::chrono::milliseconds timeout{0};  // 0: none
};

struct RunOutput {
  int exit_code = -1;  // the command's; 128 + signal if a signal ended it
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;  // output beyond max_output_bytes dropped
  bool stderr_truncated = false;
  bool cancelled = false;
  bool timed_out = false;
};

class TaskRunner {
 public:
  struct Options {
    std::string bwrap = "bwrap";        // looked up in PATH unless absolute
    size_t max_output_bytes = 1 << 20;  // per stream
    // How often Run calls on_interval (lease extension).
    std::chrono::milliseconds interval = std::chrono::seconds(10);
  };

  TaskRunner(Options options, SandboxRequest request);
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Runs the command to its end, calling `on_interval` (if set) on this
  // thread every options.interval meanwhile. EAGAIN if the sandbox could not
  // be set up (the message carries bwrap's reason, e.g. no user
  // namespaces); EINVAL if the zone dir is not a directory or the interval
  // is not positive; EIO otherwise.
  // At most once per runner.
  Result<RunOutput> Run(const std::function<void()>& on_interval = nullptr);

  // Kills the command (its whole process group); Run then returns with
  // `cancelled` set. Safe from any thread, at any time.
  void Cancel();

  // The bwrap command line Run executes.
  std::vector<std::string> Argv() const;

  // Whether sandboxes can be created here: runs `true` in one. EAGAIN with
  // bwrap's reason if not.
  static Status Probe(const std::string& bwrap = "bwrap");

 private:
  const Options options_;
  const SandboxRequest request_;
  int wake_fd_;  // eventfd: Cancel wakes Run's poll
  std::atomic<bool> cancelled_{false};
};

}  // namespace nexus::mesh
