// Engine: loaded workflows, what triggers them and their runs
// (docs/workflows.md).
//
// Workflows are kept in DATA/workflows.db with their owner (the subject
// that loaded them), their enabled state and a bounded history of runs
// (the last Options::keep_runs per workflow). A workflow is visible to its
// owner and to admins only; to anyone else it does not exist (ENOENT).
//
// Triggers come from the change bus (OnChange, on the bus's dispatcher
// thread, never a FUSE worker): an event is matched against the enabled
// workflows' globs and queued; one worker thread takes the queue in order
// and runs each workflow's actions through an ActionHost and a
// CommandRunner, acting as the workflow's owner (its access checks apply:
// what the owner may not write fails the run, nothing is written). Every
// change a run makes carries the provenance label "workflow:NAME" (as its
// command, or NEXUS_TASK_ID for a command's processes), and events with a
// workflow's own label never trigger that workflow (loop protection). A
// command's process may be gone by the time its last close is published
// (its label then unreadable), so changes through a per-subject mount of
// the owner made while the workflow's command ran (and kOwnWriteGrace
// after) do not trigger that workflow either. The
// queue holds at most Options::queue_limit jobs; a job beyond it is
// dropped, counted on its workflow (`dropped`) and logged. Schedule
// triggers are checked at every minute boundary (UTC).
//
// A run's actions go in order; a failing action marks the run failed with
// its error and the remaining actions still run. A run records its trigger,
// the path, when the event happened and when the first action started (the
// trigger latency), its duration, status, output and error.
//
// Threading: thread-safe. OnChange only matches and queues. ActionHost and
// CommandRunner are called on the worker thread only, without the engine's
// lock. The destructor stops the worker after the running job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/sqlite_db.h"
#include "base/status.h"
#include "fs/change_events.h"
#include "workflows/workflow.h"

namespace nexus::workflows {

// Who a workflow acts as: the subject that loaded it and its POSIX
// identity on the socket then.
struct Owner {
  std::string subject;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct FileFacts {
  uint64_t size = 0;
  std::string mime_type;
  bool is_dir = false;
};

// The filesystem and the agents as a workflow's owner. Every method acts
// as `owner` under the daemon's access policy and POSIX checks, and marks
// its changes with `label` as their provenance command.
class ActionHost {
 public:
  virtual ~ActionHost() = default;
  // ENOENT when the path does not exist or the owner may not see it.
  virtual Result<FileFacts> Stat(const Owner& owner, const std::string& path) = 0;
  // ENODATA when not set.
  virtual Result<std::string> GetXattr(const Owner& owner, const std::string& path,
                                       const std::string& name) = 0;
  virtual Status SetXattr(const Owner& owner, const std::string& label, const std::string& path,
                          const std::string& name, const std::string& value) = 0;
  // Creates missing parent directories of `to`.
  virtual Status Rename(const Owner& owner, const std::string& label, const std::string& from,
                        const std::string& to) = 0;
  virtual Status Copy(const Owner& owner, const std::string& label, const std::string& from,
                      const std::string& to) = 0;
  // A message to agent `to`'s mailbox from the owner; its id.
  virtual Result<std::string> SendIpc(const Owner& owner, const std::string& label, const std::string& to,
                                      const std::string& body) = 0;
  // A mesh task running `command`; its id. Unavailable where there is no mesh.
  virtual Result<std::string> SubmitTask(const Owner& owner, const std::string& label,
                                         const std::string& command) = 0;
};

// A `run` action's command.
struct CommandRequest {
  Owner owner;
  std::string label;    // the provenance: NEXUS_TASK_ID of its processes
  std::string command;  // run by /bin/sh -c
  std::string path;     // the triggering namespace path ("" for a schedule)
  std::chrono::milliseconds timeout{60000};
};
struct CommandResult {
  int exit_code = -1;  // 128 + signal when a signal ended it
  std::string output;  // stdout, then stderr, bounded
  bool timed_out = false;
};
// Runs a command in a sandbox of the owner's view of the tree.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // An error when the sandbox could not be made (the run fails with it).
  virtual Result<CommandResult> Run(const CommandRequest& request) = 0;
};

struct WorkflowRecord {
  Workflow workflow;
  std::string yaml;
  std::string source;  // the file it was loaded from, as the loader named it
  Owner owner;
  bool enabled = true;
  int64_t loaded_ns = 0;
  uint64_t runs = 0;
  uint64_t dropped = 0;  // jobs dropped because the queue was full
  int64_t last_run_ns = 0;
  std::string last_status;
};

struct RunRecord {
  uint64_t id = 0;
  std::string workflow;
  std::string trigger;  // Trigger::Describe of the trigger that matched
  std::string path;
  int64_t triggered_ns = 0;  // the event's time (a file's close), or the schedule's minute
  int64_t started_ns = 0;    // the first action's start
  int64_t duration_ns = 0;
  std::string status;  // "succeeded" or "failed"
  std::string output;
  std::string error;
};

// A dry run (Engine::Test): what would happen for a file.
struct TestLine {
  std::string what;
  bool ok = true;
  std::string detail;
};
struct TestReport {
  std::string path;                  // in the namespace
  std::vector<TestLine> triggers;    // each file trigger and whether it matches
  std::vector<TestLine> conditions;  // each condition and whether it holds
  bool would_run = false;
  std::vector<TestLine> actions;  // what each action would do
};

// Who asks: visibility and ownership checks use these.
struct Asker {
  std::string subject;
  bool admin = false;
};

class Engine {
 public:
  struct Options {
    size_t queue_limit = 1024;
    size_t keep_runs = 100;        // per workflow
    size_t max_output = 64 << 10;  // bytes per run
    const Clock* clock = nullptr;  // null: the system clock
    bool schedules = true;         // start the minute timer
  };
  // `host` and `runner` must outlive the engine.
  static Result<std::unique_ptr<Engine>> Open(const std::string& db_path, ActionHost* host,
                                              CommandRunner* runner, Options options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The change bus's subscriber.
  void OnChange(const ChangeEvent& event) EXCLUDES(mu_);

  // Parses and stores a workflow owned by `by` (EINVAL "FILE:LINE: ..." on
  // a bad file). A workflow of the same name is replaced (keeping its
  // enabled state and runs) when `by` owns it or is an admin; else EEXIST.
  // With `dry_run`, only parses and checks.
  Result<WorkflowRecord> Load(const Owner& by, const Asker& asker, const std::string& yaml,
                              const std::string& source, bool dry_run) EXCLUDES(mu_);
  std::vector<WorkflowRecord> List(const Asker& asker) EXCLUDES(mu_);
  Result<WorkflowRecord> Get(const Asker& asker, const std::string& name) EXCLUDES(mu_);
  Result<WorkflowRecord> SetEnabled(const Asker& asker, const std::string& name, bool enabled) EXCLUDES(mu_);
  Status Delete(const Asker& asker, const std::string& name) EXCLUDES(mu_);
  // Newest first, at most `limit` (0: all kept).
  Result<std::vector<RunRecord>> Runs(const Asker& asker, const std::string& name, size_t limit)
      EXCLUDES(mu_);
  Result<TestReport> Test(const Asker& asker, const std::string& name, const std::string& path) EXCLUDES(mu_);

  // Blocks until the queue is empty and no job runs.
  void TEST_WaitIdle() EXCLUDES(mu_);
  // Runs the schedule check for the minute at `unix_s`.
  void TEST_Tick(int64_t unix_s) EXCLUDES(mu_) { EnqueueSchedules(unix_s); }

 private:
  struct Job {
    std::string workflow;
    std::string trigger;
    TriggerType type = TriggerType::kFileWrite;
    std::string path;
    int64_t triggered_ns = 0;
  };
  Engine(std::unique_ptr<SqliteDb> db, ActionHost* host, CommandRunner* runner, Options options);
  Status LoadAll() EXCLUDES(mu_);
  Result<WorkflowRecord*> FindLocked(const Asker& asker, const std::string& name) REQUIRES(mu_);
  void EnqueueLocked(Job job) REQUIRES(mu_);
  // Whether `e` was made through a per-subject mount of `subject` while a
  // command of `workflow` ran.
  bool DuringOwnCommandLocked(const ChangeEvent& e, const std::string& workflow) REQUIRES(mu_);
  void EnqueueSchedules(int64_t unix_s) EXCLUDES(mu_);
  void WorkerLoop() EXCLUDES(mu_);
  void RunJob(const Job& job) EXCLUDES(mu_);
  // One action; its output line, or the error.
  Result<std::string> RunAction(const WorkflowRecord& w, const Action& a, std::string* path);
  // Conditions for `path`; the first unmet one's description, "" when all hold.
  std::vector<TestLine> CheckConditions(const WorkflowRecord& w, const std::string& path);
  std::string DescribeAction(const WorkflowRecord& w, const Action& a, const std::string& path) const;
  Status SaveLocked(const WorkflowRecord& w) REQUIRES(mu_);
  void RecordRun(RunRecord run) EXCLUDES(mu_);
  int64_t Now() const;

  ActionHost* const host_;
  CommandRunner* const runner_;
  const Options options_;
  Mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(mu_);
  std::map<std::string, WorkflowRecord> workflows_ GUARDED_BY(mu_);
  std::deque<Job> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  int64_t last_minute_ GUARDED_BY(mu_) = 0;
  // When each recent `run` command ran (end 0: running), the last ten seconds.
  struct CommandWindow {
    std::string workflow;
    std::string subject;
    int64_t start_ns = 0;
    int64_t end_ns = 0;
  };
  std::deque<CommandWindow> windows_ GUARDED_BY(mu_);
  std::thread worker_;
};

// How long after its command ended a workflow's sandbox writes are still
// its own (their last closes are published a moment later).
inline constexpr int64_t kOwnWriteGrace = 1'000'000'000;

// The provenance label of a workflow's changes.
std::string RunLabel(const std::string& workflow);

}  // namespace nexus::workflows
