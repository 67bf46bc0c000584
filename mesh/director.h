// Director: the mesh's control plane. Nodes register with a registration
// key and then heartbeat with their own credential; operators trust, drain,
// revoke and admit them. Agent tasks are created under an API key's
// entitlements, placed on nodes under leases, driven through their states by
// the holder of the lease token, retried with back-off, migrated with a
// checkpoint, and their results stored with SHA-256 hashes.
//
// Each public method is what one control-socket RPC handler calls. Nothing
// here does network I/O; Complete writes result files. None of it may run
// on a FUSE thread.
//
// State lives in a Store (see store.h): one record per node
// (mesh/node/<id>), task (mesh/task/<id>) and result index
// (mesh/result/<task id>), and one key per task lease (mesh/lease/<task id>)
// attached to a store lease, so lease expiry is the store's job and reaches
// the director as a watch event. The director keeps a decoded copy in
// memory and writes through with compare-and-swap on each record's revision.
// Heartbeat data (queue depth, free capacity, time of last heartbeat) is
// soft state kept in memory only; after Open every node counts as just
// heard from.
//
// Secrets: node credentials and lease tokens are random 128/256-bit values
// returned once; the store holds only their SHA-256.
//
// Zones: a node reports the zones it has (at registration and with every
// heartbeat; the director stores them when they change) and a task is
// placed only on a node that has its zone (mesh/placement.h, NodeZones).
//
// Outputs: a task may declare files of its zone (TaskSpec::outputs) that
// the worker uploads with its result, as files/<path>; what could not be
// collected is listed in the result (TaskOutput::missing).
//
// Node submissions: a node the operator allowed to (SetNodeSubmit) may
// submit tasks itself (a workflow's `task` action there), under the node's
// own hourly quota; they are placed like any other.
//
// Errors: ENOENT unknown task/node; EINVAL bad argument or wrong state for
// the request; ENOKEY wrong registration key or node credential; EACCES
// revoked node, node or key scope without submission rights; EDQUOT hourly
// submission quota spent; ESTALE wrong, fenced or expired lease token, or a
// concurrent writer changed a record; EEXIST node name taken; EIO storage.
//
// Thread-safety: every method may be called concurrently; one mutex (mu_)
// guards the in-memory state and is held across store commits so memory and
// store change in the same order. Lock order: mu_ -> store's locks; the
// watch callback takes only expired_mu_.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "mesh/clock.h"
#include "mesh/placement.h"
#include "mesh/store.h"

namespace nexus::mesh {

enum class NodeState { kReady, kDrained, kDown, kRevoked };
enum class TrustTier { kUntrusted, kTrusted };
enum class TaskState { kPending, kAssigned, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view Name(NodeState s);
std::string_view Name(TrustTier t);
std::string_view Name(TaskState s);

struct NodeInfo {
  std::string id;  // "n-<number>"
  std::string name;
  std::string address;
  int64_t capacity = 0;
  TrustTier trust = TrustTier::kUntrusted;
  NodeState state = NodeState::kReady;
  std::string fingerprint;  // of the current credential
  int64_t queue_depth = 0;  // as last reported
  int64_t free_capacity = 0;
  int64_t active_tasks = 0;  // assigned or running here
  TimePoint registered_at{};
  TimePoint last_heartbeat{};
  NodeZones zones;              // as last reported
  bool may_submit = false;      // SetNodeSubmit
  int submit_hourly_quota = 0;  // 0: unlimited
};

// Returned once by Register and RotateCredential: the credential itself is
// not stored and cannot be shown again.
struct NodeCredential {
  std::string node_id;
  std::string credential;
  std::string fingerprint;  // "sha256:" + 16 hex digits, safe to display
};

struct TaskSpec {
  std::string name;
  std::string command;
  std::string zone;  // the zone the worker binds read-write at /zone
  TrustTier required_trust = TrustTier::kTrusted;
  int max_attempts = 3;
  bool allow_network = false;

  bool operator==(const TaskSpec&) const = default;
  // Files the worker uploads with the result, relative to the zone root
  // (ValidateOutputPaths); stored as files/<path>.
  std::vector<std::string> outputs = {};
};

// Declared outputs: at most this many per task, each path at most
// kMaxOutputPathBytes; a worker uploads at most kMaxOutputFileBytes of one
// file and kMaxOutputTotalBytes of all (larger ones are reported missing).
inline constexpr size_t kMaxTaskOutputs = 32;
inline constexpr size_t kMaxOutputPathBytes = 1024;
inline constexpr uint64_t kMaxOutputFileBytes = 16u << 20;
inline constexpr uint64_t kMaxOutputTotalBytes = 32u << 20;

// EINVAL unless `path` is relative, of non-empty components other than "."
// and "..", without NUL or newline, at most kMaxOutputPathBytes.
Status ValidateOutputPath(std::string_view path);
// Each path valid, at most kMaxTaskOutputs, no duplicates, and none a
// directory of another ("a" and "a/b" cannot both be files).
Status ValidateOutputPaths(const std::vector<std::string>& paths);

// The API key a submission arrives with, as the key store describes it.
struct Submitter {
  static constexpr uint32_t kScopeSubmitTasks = 1u << 0;
  std::string key_id;
  uint32_t scopes = kScopeSubmitTasks;
  // Submissions allowed in any sliding 60-minute window; 0 = unlimited.
  int hourly_quota = 0;
};

struct TaskInfo {
  std::string id;  // "t-<number>"
  TaskSpec spec;
  std::string submitter;  // key id, or "node:<id>" for a node's own submission
  std::string on_behalf;  // a node submission: who there asked (a workflow and its owner)
  TaskState state = TaskState::kPending;
  std::string node_id;  // while assigned or running
  std::string node_address;
  // Only in the answers of Schedule, ScheduleAll and Migrate, for the node
  // the task is handed to; empty everywhere else.
  std::string lease_token;
  TimePoint lease_expires{};
  int attempts = 0;        // assignments so far (migrations do not count)
  TimePoint not_before{};  // back-off: not placed before this
  std::string reason;      // why pending / failed
  std::string progress;
  std::string checkpoint_ref;
  bool has_result = false;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// What a worker reports when the command has ended.
struct TaskOutput {
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;
  // Relative path (ValidateOutputPath), content.
  std::vector<std::pair<std::string, std::string>> files;
  // Declared outputs that were not collected: path, why.
  std::vector<std::pair<std::string, std::string>> missing = {};
};

struct ResultFile {
  std::string name;  // "stdout", "stderr" or "files/<name>"
  uint64_t size = 0;
  std::string sha256;  // hex, of the content
  std::string path;    // absolute path under the results dir
};

struct TaskResult {
  std::string task_id;
  int exit_code = 0;
  TimePoint completed_at{};
  std::vector<ResultFile> files;
  std::vector<std::pair<std::string, std::string>> missing;  // as in TaskOutput
};

struct ScheduleSummary {
  size_t assigned = 0;
  size_t pending = 0;                // left pending (no eligible node or backing off)
  std::vector<TaskInfo> placements;  // the assigned tasks, with their tokens
};

struct DirectorOptions {
  std::string registration_key;                           // required; distinct from operator API keys
  std::string results_dir;                                // required; created if missing
  Duration heartbeat_timeout = std::chrono::seconds(15);  // then the node is down
  Duration lease_ttl = std::chrono::seconds(30);
  Duration retry_backoff_base = std::chrono::seconds(1);  // doubles per attempt
  Duration retry_backoff_cap = std::chrono::minutes(5);
  size_t power_of_two_threshold = 64;  // eligible nodes above which to sample
  size_t schedule_batch = 1024;        // placements per store transaction
  size_t schedule_pipeline = 4;        // placement transactions in flight at once
};

class Director {
 public:
  // Loads the state in `store`. `store` and `clock` (not owned) must outlive
  // the director. EINVAL on missing options, EIO on storage errors.
  static Result<std::unique_ptr<Director>> Open(Store* store, const Clock* clock, DirectorOptions options);
  ~Director();
  Director(const Director&) = delete;
  Director& operator=(const Director&) = delete;

  // ---- nodes ----
  // Joins a node (untrusted, ready). ENOKEY: wrong registration key;
  // EEXIST: the name is taken; EINVAL: empty name/address, capacity < 0.
  // `zones`: the zones the node has (nullopt: it does not report them).
  Result<NodeCredential> Register(std::string_view registration_key, std::string name, std::string address,
                                  int64_t capacity,
                                  std::optional<std::vector<std::string>> zones = std::nullopt);
  // Issues a new credential; the old one is refused from now on.
  Result<NodeCredential> RotateCredential(std::string_view node_id);
  // OK if `credential` is the node's current one. ENOKEY: unknown node or
  // wrong credential (indistinguishable on purpose); EACCES: revoked.
  Status Authenticate(std::string_view node_id, std::string_view credential) const;
  // Authenticates, then records liveness and load, and the node's zones
  // when given (stored when they changed). EINVAL: a bad zone name or more
  // than kMaxNodeZones.
  Status Heartbeat(std::string_view node_id, std::string_view credential, int64_t queue_depth,
                   int64_t free_capacity, std::optional<std::vector<std::string>> zones = std::nullopt);
  static constexpr size_t kMaxNodeZones = 4096;
  // Authenticates, then counts the node down from now (it is shutting
  // down): nothing more is placed on it until its next heartbeat. Tasks
  // already placed there keep their leases (a stopping node fails the ones
  // it runs; the others expire and are placed again).
  Status Leave(std::string_view node_id, std::string_view credential);
  Status SetTrust(std::string_view node_id, TrustTier trust);
  // No new placements; tasks already there run to the end.
  Status Drain(std::string_view node_id);
  // No placements, calls refused; its assigned/running tasks are fenced and
  // re-queued.
  Status Revoke(std::string_view node_id);
  // Back to ready from drained or revoked.
  Status Admit(std::string_view node_id);
  // Whether the node may submit tasks itself, and at most how many in any
  // sliding hour (0: no limit).
  Status SetNodeSubmit(std::string_view node_id, bool allowed, int hourly_quota);
  Result<NodeInfo> GetNode(std::string_view node_id) const;
  std::vector<NodeInfo> ListNodes() const;  // joined nodes, in join order

  // ---- tasks ----
  // EACCES: key scope lacks submission; EDQUOT: hourly quota spent;
  // EINVAL: empty name/command/zone or max_attempts < 1.
  // A create the store could not confirm (EAGAIN: etcd lost quorum during
  // the write, which may still commit) keeps its id in doubt: the same
  // spec from the same key retried gets that id again, and of the two
  // writes, each a create-if-absent, exactly one creates the task (the
  // retry then answers with it); Tick adopts one that committed with no
  // retry, so it is neither duplicated nor lost.
  // EINVAL also for bad declared outputs (ValidateOutputPaths).
  Result<TaskInfo> Create(TaskSpec spec, const Submitter& submitter);
  // A task the node submits for `on_behalf` (who there asked: recorded
  // with the task). Authenticates the node; EACCES unless the operator let
  // it submit (SetNodeSubmit); EDQUOT past the node's hourly quota.
  Result<TaskInfo> CreateFromNode(std::string_view node_id, std::string_view credential, TaskSpec spec,
                                  std::string on_behalf);
  // Places one pending task, or leaves it pending with the reason.
  // EINVAL if the task is not pending.
  Result<TaskInfo> Schedule(std::string_view task_id);
  // Places every pending task whose back-off has passed, oldest first,
  // committing a batch of placements per store transaction. On a store
  // error the batches already committed stay assigned; their tokens are
  // lost with the answer, so their leases expire and they are retried.
  Result<ScheduleSummary> ScheduleAll();

  // Lease-holder calls: ESTALE unless `token` is the task's current,
  // unexpired lease token.
  Status Start(std::string_view task_id, std::string_view token);  // -> running
  Status Progress(std::string_view task_id, std::string_view token, std::string progress,
                  std::string checkpoint_ref);
  // The lease now ends `ttl` from now; returns the new expiry.
  Result<TimePoint> Extend(std::string_view task_id, std::string_view token, Duration ttl);
  // Stores the output under the results dir and ends the task: succeeded on
  // exit code 0, failed otherwise (no retry: the command ran). EINVAL: a bad
  // or duplicate file name (ValidateOutputPaths, without the count limit),
  // more than kMaxTaskOutputs missing outputs (their text is truncated).
  Result<TaskInfo> Complete(std::string_view task_id, std::string_view token, TaskOutput output);
  // The attempt failed without a result (sandbox error, node shutting
  // down): retried after back-off, or failed at max attempts.
  Result<TaskInfo> Fail(std::string_view task_id, std::string_view token, std::string reason);
  // Records the checkpoint and moves the task to another eligible node with
  // a new lease (the old token is fenced); pending if there is none.
  Result<TaskInfo> Migrate(std::string_view task_id, std::string_view token, std::string checkpoint_ref);

  // Operator calls.
  Result<TaskInfo> Retry(std::string_view task_id);   // failed/cancelled -> pending, attempts 0
  Result<TaskInfo> Cancel(std::string_view task_id);  // EINVAL once succeeded or failed
  Result<TaskInfo> GetTask(std::string_view task_id) const;
  std::vector<TaskInfo> ListTasks() const;  // in creation order
  // ENOENT if the task has no result.
  Result<TaskResult> GetResult(std::string_view task_id) const;
  // A result file's content, verified against its hash (EIO on mismatch).
  Result<std::string> ReadResultFile(std::string_view task_id, std::string_view name) const;

  // Periodic housekeeping (every second or so): expires leases due at `now`
  // (their tasks are retried after back-off or fail at max attempts). The
  // node that held an expired lease counts as down until its next
  // heartbeat, so the task does not go straight back to it.
  void Tick(TimePoint now);

  // ---- several directors on one store (mesh/etcd_election.h) ----
  // Forgets the in-memory state and loads the store's again: a standby
  // that becomes the leader. Soft state (heartbeats) starts afresh.
  Status Reload() EXCLUDES(mu_);
  // On taking over: every assigned or running task's lease now ends one
  // lease TTL from now, before any is expired, so a task running through a
  // failover keeps its attempt (as many leases per commit as the store
  // takes). Returns how many were extended; leases already gone are left
  // to Tick.
  Result<size_t> ExtendActiveLeases() EXCLUDES(mu_);

 private:
  struct Node;
  struct Task;
  struct Eligible;
  using TaskChange = std::pair<Task*, Task>;

  Director(Store* store, const Clock* clock, DirectorOptions options);
  Status Load() EXCLUDES(mu_);

  Node* FindNode(std::string_view id) REQUIRES(mu_);
  const Node* FindNode(std::string_view id) const REQUIRES(mu_);
  Task* FindTask(std::string_view id) REQUIRES(mu_);
  const Task* FindTask(std::string_view id) const REQUIRES(mu_);
  Result<Node*> AuthenticateLocked(std::string_view node_id, std::string_view credential) REQUIRES(mu_);
  Result<Task*> Leased(std::string_view task_id, std::string_view token) REQUIRES(mu_);
  // Applies `change` to a copy of the task `token` leases and commits it
  // together with the ops `change` adds.
  using LeasedChange = std::function<Status(Task& next, TimePoint now, std::vector<Op>& ops)>;
  Result<TaskInfo> UpdateLeased(std::string_view task_id, std::string_view token, const LeasedChange& change);
  NodeState StateOf(const Node& n, TimePoint now) const REQUIRES(mu_);
  // Counts `n` down from `now` until its next heartbeat (soft state).
  void MarkSilent(Node& n, TimePoint now) const REQUIRES(mu_);
  NodeInfo InfoOf(const Node& n, TimePoint now) const REQUIRES(mu_);
  TaskInfo InfoOf(const Task& t) const REQUIRES(mu_);

  Status SaveNode(Node& n, Node next) REQUIRES(mu_);
  // Commits `ops` plus the new record of every changed task, then applies
  // the changes in memory (indexes and node counters included).
  Result<int64_t> CommitTasks(std::vector<Op> ops, std::vector<TaskChange>& changes) REQUIRES(mu_);
  // CommitTasks in two halves: the puts of the task records, and taking
  // the committed changes in at `revision`.
  void AddTaskPuts(const std::vector<TaskChange>& changes, std::vector<Op>& ops) REQUIRES(mu_);
  void ApplyCommitted(std::vector<TaskChange>& changes, int64_t revision) REQUIRES(mu_);
  void Apply(Task& t, Task next) REQUIRES(mu_);

  // Nodes that can take a task now, but `exclude` (0: none).
  Eligible EligibleNodes(TimePoint now, uint64_t exclude) REQUIRES(mu_);
  Node* Pick(const std::vector<Node*>& nodes) REQUIRES(mu_);
  // Drops the task's lease (fencing its token) and node.
  void Release(Task& next, std::vector<Op>& ops) REQUIRES(mu_);
  // Hands `next` to `node` under a fresh lease; returns the token.
  std::string Assign(Task& next, Node& node, TimePoint now, bool new_attempt, std::vector<Op>& ops)
      REQUIRES(mu_);
  // Ends the current attempt of `next`: pending after back-off or failed.
  void EndAttempt(Task& next, TimePoint now, std::string_view why, std::vector<Op>& ops) REQUIRES(mu_);
  Result<ScheduleSummary> ScheduleLocked(const std::vector<uint64_t>& seqs, TimePoint now) REQUIRES(mu_);
  Status Admin(std::string_view node_id, int admin) EXCLUDES(mu_);
  Status CheckQuota(const Submitter& s, TimePoint now) REQUIRES(mu_);
  // Loads task `seq` as the store has it into memory (ENOENT if absent).
  Result<Task*> AdoptTask(uint64_t seq) REQUIRES(mu_);
  // Tick's part: adopts the in-doubt creates that committed after all.
  void ResolveInDoubt(TimePoint now) EXCLUDES(mu_);
  Result<TaskInfo> CreateLocked(TaskSpec spec, const Submitter& submitter, std::string on_behalf)
      REQUIRES(mu_);
  // The ready nodes of `el` that can take a task of `spec` (its trust and
  // zone), or none with `why` set.
  const std::vector<Node*>& Candidates(Eligible& el, const TaskSpec& spec, std::string* why) REQUIRES(mu_);

  Store* const store_;
  const Clock* const clock_;
  const DirectorOptions options_;
  WatchId watch_ = 0;

  mutable Mutex mu_;
  std::map<uint64_t, Node> nodes_ GUARDED_BY(mu_);  // by number
  std::unordered_map<std::string, uint64_t> node_names_ GUARDED_BY(mu_);
  std::map<uint64_t, Task> tasks_ GUARDED_BY(mu_);  // by number
  std::set<uint64_t> pending_ GUARDED_BY(mu_);      // pending tasks
  std::unordered_map<std::string, std::deque<TimePoint>> submissions_ GUARDED_BY(mu_);
  uint64_t next_node_ GUARDED_BY(mu_) = 1;
  uint64_t next_task_ GUARDED_BY(mu_) = 1;
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  // Creates whose outcome the store could not tell; their ids are kept
  // for their retry (Create) for two lease TTLs (ResolveInDoubt).
  struct InDoubt {
    uint64_t seq;
    TaskSpec spec;
    std::string submitter;
    TimePoint since;
  };
  std::vector<InDoubt> in_doubt_ GUARDED_BY(mu_);

  // Lease keys the store deleted (task number, token hash), from the watch
  // callback; drained by Tick.
  Mutex expired_mu_;
  std::vector<std::pair<uint64_t, std::string>> expired_ GUARDED_BY(expired_mu_);
};

}  // namespace nexus::mesh
