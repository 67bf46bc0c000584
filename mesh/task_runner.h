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
//
// SandboxSession (below) is the long-lived form the local sandboxes use
// (docs/sandboxes.md): one bwrap holder whose namespaces and /tmp outlive
// each command, entered with nsenter for every run. Both share the process
// loop (spawn, stream, time out, kill the group) in task_runner.cc.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
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

// Which stream a chunk of a command's output came from.
enum class OutputStream { kStdout = 1, kStderr = 2 };
// Called with each chunk of output as it arrives, on the running thread,
// before the chunk is kept in RunOutput (which stays bounded; the callback
// sees everything).
using OutputFn = std::function<void(OutputStream, std::string_view)>;

class TaskRunner {
 public:
  struct Options {
    std::string bwrap = "bwrap";        // looked up in PATH unless absolute
    size_t max_output_bytes = 1 << 20;  // per stream
    // How often Run calls on_interval (lease extension).
    std::chrono::milliseconds interval = std::chrono::seconds(10);
    OutputFn on_output;  // optional: output streamed as it comes
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

// The declared outputs of a task, read after its command ended.
struct CollectedOutputs {
  std::vector<std::pair<std::string, std::string>> files;    // path, content
  std::vector<std::pair<std::string, std::string>> missing;  // path, why not collected
};

// Reads each of `paths` (relative, checked by mesh::ValidateOutputPath)
// below the directory `root`, never following a symbolic link on the way
// (a task cannot make the worker read outside its zone) and never blocking
// on a FIFO. A path that is absent, not a regular file, larger than
// `max_file_bytes` or past `max_total_bytes` of all is listed in `missing`
// with the reason instead. Blocks on file I/O: never on a FUSE thread.
CollectedOutputs CollectOutputs(const std::string& root, const std::vector<std::string>& paths,
                                uint64_t max_file_bytes, uint64_t max_total_bytes);

// What a long-lived sandbox is made of.
struct SessionSpec {
  // Host directory bound read-write at /workspace (a per-subject mount of
  // the namespace for local sandboxes); the working directory and $HOME.
  std::string workspace_dir;
  bool allow_network = false;
  // Every process inside runs as this uid/gid, with no supplementary
  // groups, no capabilities and no_new_privs. 65534 (nobody) unless the
  // caller picks another.
  uid_t uid = 65534;
  gid_t gid = 65534;
  // K=V set for every run (a run's own env comes after, so it wins).
  std::vector<std::string> env;
  // Cgroup directories every process of the sandbox is put in (one on
  // cgroup v2, one per hierarchy on v1), none for none. The caller creates
  // them and sets their limits.
  std::vector<std::string> cgroup_dirs;
};

// One command run inside a SandboxSession.
struct SessionRun {
  std::string command;                   // run as `/bin/sh -c <command>` in /workspace
  std::vector<std::string> env;          // K=V
  std::chrono::milliseconds timeout{0};  // 0: none
};

// A sandbox kept alive between commands. Start spawns the holder: bwrap
// (run as root, without a user namespace, so that the processes inside can
// be given a real unprivileged uid) with new pid/ipc/uts/cgroup namespaces
// and, without network, a new network namespace; /usr, /etc and the /bin,
// /lib links read-only; fresh /proc and /dev; a private tmpfs at /tmp (mode
// 1777) that lives as long as the sandbox; the workspace at /workspace; the
// root read-only. Its command waits on a pipe the session holds: when the
// session's process dies, even by SIGKILL, the holder sees end-of-file and
// the pid namespace goes down with it.
//
// Run enters the holder's namespaces and root with nsenter, drops to the
// spec's uid with setpriv and runs the command, streaming its output.
// Stop kills the namespace's init, and with it every process inside.
//
// Thread-safety: Run may be called from several threads at once (each run
// is its own process); Stop from any thread, at any time (runs in flight
// end with the kill's status).
class SandboxSession {
 public:
  struct Options {
    std::string bwrap = "bwrap";  // looked up in PATH unless absolute
    std::string nsenter = "nsenter";
    size_t max_output_bytes = 1 << 20;  // per stream, per run
  };

  // EAGAIN with bwrap's reason when the sandbox cannot be set up; EINVAL
  // when the workspace is not a directory.
  static Result<std::unique_ptr<SandboxSession>> Start(Options options, SessionSpec spec);
  ~SandboxSession();  // Stop
  SandboxSession(const SandboxSession&) = delete;
  SandboxSession& operator=(const SandboxSession&) = delete;

  // Runs one command to its end. ESRCH once the sandbox is stopped (or its
  // holder died); EIO if it could not be spawned.
  Result<RunOutput> Run(const SessionRun& run, const OutputFn& on_output = nullptr);

  // Kills every process of the sandbox; idempotent.
  void Stop();
  // The holder is running.
  bool Alive();
  // The host pid of the sandbox's init (its pid namespace's pid 1).
  pid_t init_pid() const { return init_pid_; }

  // The command lines Start and Run execute (for docs, tests, benchmarks).
  std::vector<std::string> HolderArgv() const;
  std::vector<std::string> EnterArgv(const SessionRun& run) const;

 private:
  SandboxSession(Options options, SessionSpec spec);
  const Options options_;
  const SessionSpec spec_;
  // Reaps the bwrap monitor if it exited; true while it runs.
  bool MonitorRunning() REQUIRES(mu_);

  Mutex mu_;
  pid_t bwrap_pid_ GUARDED_BY(mu_) = -1;  // the bwrap monitor, in its own process group
  pid_t init_pid_ = -1;                   // from bwrap's JSON status; set once by Start
  int hold_fd_ GUARDED_BY(mu_) = -1;      // write end of the holder's pipe
  bool stopped_ GUARDED_BY(mu_) = false;
};

}  // namespace nexus::mesh
