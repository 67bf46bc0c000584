#include "mesh/director.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "base/crypto.h"
#include "base/layout.h"
#include "mesh/placement.h"
#include "mesh/record.h"

namespace nexus::mesh {
namespace {

constexpr std::string_view kNodePrefix = "mesh/node/";
constexpr std::string_view kTaskPrefix = "mesh/task/";
constexpr std::string_view kLeasePrefix = "mesh/lease/";
constexpr std::string_view kResultPrefix = "mesh/result/";
constexpr Duration kQuotaWindow = std::chrono::hours(1);

// Persisted administrative state of a node; liveness (down) is derived.
enum Admin : int { kAdminReady = 0, kAdminDrained = 1, kAdminRevoked = 2 };

std::string NodeId(uint64_t n) { return "n-" + std::to_string(n); }
std::string TaskId(uint64_t n) { return "t-" + std::to_string(n); }

// "n-12" -> 12 for kind 'n'; 0 if `id` is not of that form.
uint64_t ParseId(std::string_view id, char kind) {
  if (id.size() < 3 || id[0] != kind || id[1] != '-') return 0;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(id.data() + 2, id.data() + id.size(), n);
  return ec == std::errc() && p == id.data() + id.size() ? n : 0;
}

std::string Key(std::string_view prefix, std::string id) { return std::string(prefix) + id; }

std::string Fingerprint(std::string_view credential_hash) {
  return "sha256:" + std::string(credential_hash.substr(0, 16));
}

bool Active(TaskState s) { return s == TaskState::kAssigned || s == TaskState::kRunning; }

Status NotFound(std::string_view what, std::string_view id) {
  return Status::Error(ENOENT, "no " + std::string(what) + " '" + std::string(id) + "'");
}

// `parts` joined with `sep`, and split again (no empty parts).
std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : std::string(1, sep)) + p;
  return out;
}
std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t end = std::min(s.find(sep), s.size());
    if (end > 0) out.emplace_back(s.substr(0, end));
    s.remove_prefix(std::min(end + 1, s.size()));
  }
  return out;
}

// Result file paths: each valid, unique, none a directory of another.
Status ValidateResultPaths(std::vector<std::string_view> paths) {
  for (std::string_view p : paths) NEXUS_RETURN_IF_ERROR(ValidateOutputPath(p));
  std::sort(paths.begin(), paths.end());
  for (size_t i = 1; i < paths.size(); ++i) {
    if (paths[i] == paths[i - 1])
      return Status::Error(EINVAL, "duplicate output path '" + std::string(paths[i]) + "'");
    // Sorted, so a path's files follow it (but '-', '.', ... sort before
    // '/': look further than the next one).
    for (size_t j = i; j < paths.size() && paths[j].starts_with(paths[i - 1]); ++j)
      if (paths[j].size() > paths[i - 1].size() && paths[j][paths[i - 1].size()] == '/')
        return Status::Error(EINVAL, "output path '" + std::string(paths[i - 1]) + "' is a directory of '" +
                                         std::string(paths[j]) + "'");
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path);
  int rc = ::fsync(fd);
  Status st = rc == 0 ? Status::Ok() : Status::FromErrno("fsync " + path);
  ::close(fd);
  return st;
}

// Writes `data` to a new file at `path` and syncs it; returns its hash.
Result<std::string> WriteNewFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Status::FromErrno("create " + path);
  Sha256 hash;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::FromErrno("write " + path);
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  hash.Update(data);
  Status st = ::fsync(fd) == 0 ? Status::Ok() : Status::FromErrno("fsync " + path);
  ::close(fd);
  if (!st.ok()) return st;
  return hash.FinishHex();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace

Status ValidateOutputPath(std::string_view path) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EINVAL, "output path '" + std::string(path.substr(0, 80)) + "': " + why);
  };
  if (path.empty()) return bad("empty");
  if (path.size() > kMaxOutputPathBytes)
    return bad("longer than " + std::to_string(kMaxOutputPathBytes) + " bytes");
  if (path.front() == '/') return bad("must be relative to the zone root");
  if (path.find('\0') != std::string_view::npos || path.find('\n') != std::string_view::npos)
    return bad("NUL or newline");
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string_view part = path.substr(pos, end - pos);
    if (part.empty() || part == "." || part == "..") return bad("no empty, '.' or '..' component");
    if (part.size() > 255) return bad("a component longer than 255 bytes");
    pos = end + 1;
  }
  return Status::Ok();
}

Status ValidateOutputPaths(const std::vector<std::string>& paths) {
  if (paths.size() > kMaxTaskOutputs)
    return Status::Error(EINVAL, "at most " + std::to_string(kMaxTaskOutputs) + " declared outputs, not " +
                                     std::to_string(paths.size()));
  return ValidateResultPaths({paths.begin(), paths.end()});
}

std::string_view Name(NodeState s) {
  switch (s) {
    case NodeState::kReady:
      return "ready";
    case NodeState::kDrained:
      return "drained";
    case NodeState::kDown:
      return "down";
    case NodeState::kRevoked:
      return "revoked";
  }
  return "?";
}

std::string_view Name(TrustTier t) { return t == TrustTier::kTrusted ? "trusted" : "untrusted"; }

std::string_view Name(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return "pending";
    case TaskState::kAssigned:
      return "assigned";
    case TaskState::kRunning:
      return "running";
    case TaskState::kSucceeded:
      return "succeeded";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kCancelled:
      return "cancelled";
  }
  return "?";
}

struct Director::Node {
  uint64_t seq = 0;
  std::string name;
  std::string address;
  int64_t capacity = 0;
  TrustTier trust = TrustTier::kUntrusted;
  int admin = kAdminReady;
  std::string credential_hash;
  TimePoint registered_at{};
  NodeZones zones;
  bool may_submit = false;
  int submit_quota = 0;
  int64_t revision = 0;  // of its record; kAbsent before the first write
  // Soft state, memory only.
  TimePoint last_heartbeat{};
  int64_t queue_depth = 0;
  int64_t free_capacity = 0;
  int64_t placed_since_heartbeat = 0;  // not yet in a reported queue depth
  int64_t provisional = 0;             // placed in a schedule batch not yet committed
  int64_t active = 0;                  // assigned or running tasks here

  std::string Encode() const {
    return RecordWriter()
        .Add("name", name)
        .Add("address", address)
        .Add("capacity", capacity)
        .Add("trust", static_cast<int64_t>(trust))
        .Add("admin", admin)
        .Add("credential_sha256", credential_hash)
        .Add("registered_ms", ToMillis(registered_at))
        .Add("zones_reported", zones.reported)
        .Add("zones", Join(zones.names, ','))
        .Add("may_submit", may_submit)
        .Add("submit_quota", submit_quota)
        .Finish();
  }
  void Decode(const Record& r) {
    name = r.Str("name");
    address = r.Str("address");
    capacity = r.Int("capacity");
    trust = static_cast<TrustTier>(r.Int("trust"));
    admin = static_cast<int>(r.Int("admin"));
    credential_hash = r.Str("credential_sha256");
    registered_at = FromMillis(r.Int("registered_ms"));
    zones = NodeZones{r.Int("zones_reported") != 0, Split(r.Get("zones"), ',')};
    may_submit = r.Int("may_submit") != 0;
    submit_quota = static_cast<int>(r.Int("submit_quota"));
  }
};

struct Director::Task {
  uint64_t seq = 0;
  TaskSpec spec;
  std::string submitter;
  std::string on_behalf;
  // A fresh slot is neither pending nor active until its first Apply.
  TaskState state = TaskState::kCancelled;
  uint64_t node = 0;
  int attempts = 0;
  std::string token_hash;  // of the current lease token
  LeaseId lease = 0;
  TimePoint lease_expires{};  // mirror of the store lease's deadline
  TimePoint not_before{};
  std::string reason;
  std::string progress;
  std::string checkpoint_ref;
  bool has_result = false;
  TimePoint created_at{};
  TimePoint updated_at{};
  int64_t revision = 0;

  std::string Encode() const {
    return RecordWriter()
        .Add("name", spec.name)
        .Add("command", spec.command)
        .Add("zone", spec.zone)
        .Add("required_trust", static_cast<int64_t>(spec.required_trust))
        .Add("max_attempts", spec.max_attempts)
        .Add("allow_network", spec.allow_network)
        .Add("outputs", Join(spec.outputs, '\n'))
        .Add("submitter", submitter)
        .Add("on_behalf", on_behalf)
        .Add("state", static_cast<int64_t>(state))
        .Add("node", static_cast<int64_t>(node))
        .Add("attempts", attempts)
        .Add("token_sha256", token_hash)
        .Add("lease", lease)
        .Add("not_before_ms", ToMillis(not_before))
        .Add("reason", reason)
        .Add("progress", progress)
        .Add("checkpoint", checkpoint_ref)
        .Add("has_result", has_result)
        .Add("created_ms", ToMillis(created_at))
        .Add("updated_ms", ToMillis(updated_at))
        .Finish();
  }
  void Decode(const Record& r) {
    spec.name = r.Str("name");
    spec.command = r.Str("command");
    spec.zone = r.Str("zone");
    spec.required_trust = static_cast<TrustTier>(r.Int("required_trust"));
    spec.max_attempts = static_cast<int>(r.Int("max_attempts"));
    spec.allow_network = r.Int("allow_network") != 0;
    spec.outputs = Split(r.Get("outputs"), '\n');
    submitter = r.Str("submitter");
    on_behalf = r.Str("on_behalf");
    state = static_cast<TaskState>(r.Int("state"));
    node = static_cast<uint64_t>(r.Int("node"));
    attempts = static_cast<int>(r.Int("attempts"));
    token_hash = r.Str("token_sha256");
    lease = r.Int("lease");
    not_before = FromMillis(r.Int("not_before_ms"));
    reason = r.Str("reason");
    progress = r.Str("progress");
    checkpoint_ref = r.Str("checkpoint");
    has_result = r.Int("has_result") != 0;
    created_at = FromMillis(r.Int("created_ms"));
    updated_at = FromMillis(r.Int("updated_ms"));
  }
};

// Nodes that can take a task now, by the trust the task requires, and why
// there are none.
struct Director::Eligible {
  std::vector<Node*> trusted;
  std::vector<Node*> any;
  std::string trusted_reason;
  std::string any_reason;
  // Candidates(): the nodes of `trusted` or `any` (by the bool) that have a zone.
  std::map<std::pair<std::string, bool>, std::vector<Node*>> in_zone;
};

Director::Director(Store* store, const Clock* clock, DirectorOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      rng_(std::stoull(RandomHex(8), nullptr, 16)) {}

Result<std::unique_ptr<Director>> Director::Open(Store* store, const Clock* clock, DirectorOptions options) {
  if (options.registration_key.empty() || options.results_dir.empty())
    return Status::Error(EINVAL, "the director needs a registration key and a results dir");
  if (options.lease_ttl.count() <= 0 || options.heartbeat_timeout.count() <= 0 || options.schedule_batch == 0)
    return Status::Error(EINVAL, "lease ttl, heartbeat timeout and schedule batch must be positive");
  std::error_code ec;
  std::filesystem::create_directories(options.results_dir, ec);
  if (ec) return Status::Error(EIO, "create " + options.results_dir + ": " + ec.message());
  std::unique_ptr<Director> d(new Director(store, clock, std::move(options)));
  NEXUS_RETURN_IF_ERROR(d->Load());
  Director* self = d.get();
  d->watch_ = store->Watch(std::string(kLeasePrefix), [self](const WatchEvent& ev) {
    if (ev.type != WatchEvent::Type::kDelete) return;
    uint64_t seq = ParseId(std::string_view(ev.kv.key).substr(kLeasePrefix.size()), 't');
    MutexLock lk(self->expired_mu_);
    self->expired_.emplace_back(seq, ev.kv.value);
  });
  return d;
}

Director::~Director() { store_->Unwatch(watch_); }

Status Director::Load() {
  MutexLock lk(mu_);
  const TimePoint now = MeshNow(*clock_);
  for (const KeyValue& kv : store_->Range(kNodePrefix)) {
    uint64_t seq = ParseId(std::string_view(kv.key).substr(kNodePrefix.size()), 'n');
    auto rec = Record::Parse(kv.value);
    if (seq == 0 || !rec.ok()) return Status::Error(EIO, "corrupt node record '" + kv.key + "'");
    Node& n = nodes_[seq];
    n.seq = seq;
    n.Decode(*rec);
    n.revision = kv.mod_revision;
    n.last_heartbeat = now;  // grace period: every node counts as just heard from
    n.free_capacity = n.capacity;
    node_names_[n.name] = seq;
    next_node_ = std::max(next_node_, seq + 1);
  }
  std::vector<Task*> active;
  for (const KeyValue& kv : store_->Range(kTaskPrefix)) {
    uint64_t seq = ParseId(std::string_view(kv.key).substr(kTaskPrefix.size()), 't');
    auto rec = Record::Parse(kv.value);
    if (seq == 0 || !rec.ok()) return Status::Error(EIO, "corrupt task record '" + kv.key + "'");
    Task t;
    t.seq = seq;
    t.Decode(*rec);
    t.revision = kv.mod_revision;
    if (Active(t.state)) active.push_back(&tasks_[seq]);
    if (t.created_at > now - kQuotaWindow) submissions_[t.submitter].push_back(t.created_at);
    Task& slot = tasks_[seq];
    slot.seq = seq;
    Apply(slot, std::move(t));
    next_task_ = std::max(next_task_, seq + 1);
  }
  // The active tasks' lease deadlines, in one read.
  std::vector<LeaseId> leases;
  for (const Task* t : active) leases.push_back(t->lease);
  NEXUS_ASSIGN_OR_RETURN(auto deadlines, store_->LeaseDeadlines(leases));
  for (Task* t : active) {
    if (auto d = deadlines.find(t->lease); d != deadlines.end()) {
      t->lease_expires = d->second;
    } else {
      // The lease ended while no director watched: handle it at next Tick.
      MutexLock el(expired_mu_);
      expired_.emplace_back(t->seq, t->token_hash);
    }
  }
  for (auto& [key, times] : submissions_) std::sort(times.begin(), times.end());
  return Status::Ok();
}

// ---- lookups and views ----

Director::Node* Director::FindNode(std::string_view id) {
  auto it = nodes_.find(ParseId(id, 'n'));
  return it == nodes_.end() ? nullptr : &it->second;
}
const Director::Node* Director::FindNode(std::string_view id) const {
  return const_cast<Director*>(this)->FindNode(id);
}
Director::Task* Director::FindTask(std::string_view id) {
  auto it = tasks_.find(ParseId(id, 't'));
  return it == tasks_.end() ? nullptr : &it->second;
}
const Director::Task* Director::FindTask(std::string_view id) const {
  return const_cast<Director*>(this)->FindTask(id);
}

void Director::MarkSilent(Node& n, TimePoint now) const {
  // Soft state: last heard from just over the timeout ago (never later
  // than it really was), so down until its next heartbeat.
  n.last_heartbeat =
      std::min(n.last_heartbeat, now - options_.heartbeat_timeout - std::chrono::milliseconds(1));
}

NodeState Director::StateOf(const Node& n, TimePoint now) const {
  if (n.admin == kAdminRevoked) return NodeState::kRevoked;
  if (now - n.last_heartbeat > options_.heartbeat_timeout) return NodeState::kDown;
  return n.admin == kAdminDrained ? NodeState::kDrained : NodeState::kReady;
}

NodeInfo Director::InfoOf(const Node& n, TimePoint now) const {
  NodeInfo i;
  i.id = NodeId(n.seq);
  i.name = n.name;
  i.address = n.address;
  i.capacity = n.capacity;
  i.trust = n.trust;
  i.state = StateOf(n, now);
  i.fingerprint = Fingerprint(n.credential_hash);
  i.queue_depth = n.queue_depth;
  i.free_capacity = n.free_capacity;
  i.active_tasks = n.active;
  i.registered_at = n.registered_at;
  i.last_heartbeat = n.last_heartbeat;
  i.zones = n.zones;
  i.may_submit = n.may_submit;
  i.submit_hourly_quota = n.submit_quota;
  return i;
}

TaskInfo Director::InfoOf(const Task& t) const {
  TaskInfo i;
  i.id = TaskId(t.seq);
  i.spec = t.spec;
  i.submitter = t.submitter;
  i.on_behalf = t.on_behalf;
  i.state = t.state;
  if (t.node != 0) {
    i.node_id = NodeId(t.node);
    if (auto it = nodes_.find(t.node); it != nodes_.end()) i.node_address = it->second.address;
  }
  i.lease_expires = t.lease_expires;
  i.attempts = t.attempts;
  i.not_before = t.not_before;
  i.reason = t.reason;
  i.progress = t.progress;
  i.checkpoint_ref = t.checkpoint_ref;
  i.has_result = t.has_result;
  i.created_at = t.created_at;
  i.updated_at = t.updated_at;
  return i;
}

// ---- nodes ----

Result<Director::Node*> Director::AuthenticateLocked(std::string_view node_id, std::string_view credential) {
  Node* n = FindNode(node_id);
  if (n == nullptr || !SecretEquals(Sha256Hex(credential), n->credential_hash))
    return Status::Error(ENOKEY, "unknown node or wrong credential");
  if (n->admin == kAdminRevoked) return Status::Error(EACCES, "node " + std::string(node_id) + " is revoked");
  return n;
}

Status Director::Authenticate(std::string_view node_id, std::string_view credential) const {
  MutexLock lk(mu_);
  return const_cast<Director*>(this)->AuthenticateLocked(node_id, credential).status();
}

Status Director::SaveNode(Node& n, Node next) {
  auto rev = store_->Put(Key(kNodePrefix, NodeId(next.seq)), next.Encode(), n.revision);
  if (!rev.ok()) return rev.status();
  next.revision = *rev;
  n = std::move(next);
  return Status::Ok();
}

namespace {

// The zones a node reports, checked: EINVAL on a bad name or too many.
Result<NodeZones> ReportedZones(std::vector<std::string> zones, size_t max) {
  if (zones.size() > max)
    return Status::Error(EINVAL, "a node reports at most " + std::to_string(max) + " zones");
  for (const std::string& z : zones) NEXUS_RETURN_IF_ERROR(layout::ValidateZoneName(z));
  return NodeZones::Of(std::move(zones));
}

}  // namespace

Result<NodeCredential> Director::Register(std::string_view registration_key, std::string name,
                                          std::string address, int64_t capacity,
                                          std::optional<std::vector<std::string>> zones) {
  if (!SecretEquals(registration_key, options_.registration_key))
    return Status::Error(ENOKEY, "wrong registration key");
  if (name.empty() || address.empty() || capacity < 0)
    return Status::Error(EINVAL, "a node needs a name, an address and a capacity >= 0");
  NodeZones reported;
  if (zones) {
    NEXUS_ASSIGN_OR_RETURN(reported, ReportedZones(std::move(*zones), kMaxNodeZones));
  }
  MutexLock lk(mu_);
  if (node_names_.count(name)) return Status::Error(EEXIST, "node name '" + name + "' is taken");
  const TimePoint now = MeshNow(*clock_);
  NodeCredential cred;
  cred.credential = "nxn_" + RandomHex(32);
  Node next;
  next.seq = next_node_;
  next.name = name;
  next.address = std::move(address);
  next.capacity = capacity;
  next.zones = std::move(reported);
  next.credential_hash = Sha256Hex(cred.credential);
  next.registered_at = now;
  next.last_heartbeat = now;
  next.free_capacity = capacity;
  Node& slot = nodes_[next.seq];
  if (Status st = SaveNode(slot, std::move(next)); !st.ok()) {
    nodes_.erase(next_node_);
    return st;
  }
  node_names_[name] = slot.seq;
  ++next_node_;
  cred.node_id = NodeId(slot.seq);
  cred.fingerprint = Fingerprint(slot.credential_hash);
  return cred;
}

Result<NodeCredential> Director::RotateCredential(std::string_view node_id) {
  MutexLock lk(mu_);
  Node* n = FindNode(node_id);
  if (n == nullptr) return NotFound("node", node_id);
  NodeCredential cred;
  cred.node_id = NodeId(n->seq);
  cred.credential = "nxn_" + RandomHex(32);
  Node next = *n;
  next.credential_hash = Sha256Hex(cred.credential);
  NEXUS_RETURN_IF_ERROR(SaveNode(*n, std::move(next)));
  cred.fingerprint = Fingerprint(n->credential_hash);
  return cred;
}

Status Director::Heartbeat(std::string_view node_id, std::string_view credential, int64_t queue_depth,
                           int64_t free_capacity, std::optional<std::vector<std::string>> zones) {
  if (queue_depth < 0 || free_capacity < 0)
    return Status::Error(EINVAL, "queue depth and free capacity must be >= 0");
  std::optional<NodeZones> reported;
  if (zones) {
    NEXUS_ASSIGN_OR_RETURN(reported, ReportedZones(std::move(*zones), kMaxNodeZones));
  }
  MutexLock lk(mu_);
  auto n = AuthenticateLocked(node_id, credential);
  if (!n.ok()) return n.status();
  Node& node = **n;
  if (reported && *reported != node.zones) {  // stored: placement after a restart needs them
    Node next = node;
    next.zones = std::move(*reported);
    NEXUS_RETURN_IF_ERROR(SaveNode(node, std::move(next)));
  }
  node.last_heartbeat = MeshNow(*clock_);
  node.queue_depth = queue_depth;
  node.free_capacity = free_capacity;
  node.placed_since_heartbeat = 0;
  return Status::Ok();
}

Status Director::Leave(std::string_view node_id, std::string_view credential) {
  MutexLock lk(mu_);
  auto n = AuthenticateLocked(node_id, credential);
  if (!n.ok()) return n.status();
  MarkSilent(**n, MeshNow(*clock_));
  (*n)->placed_since_heartbeat = 0;
  return Status::Ok();
}

Status Director::SetTrust(std::string_view node_id, TrustTier trust) {
  MutexLock lk(mu_);
  Node* n = FindNode(node_id);
  if (n == nullptr) return NotFound("node", node_id);
  Node next = *n;
  next.trust = trust;
  return SaveNode(*n, std::move(next));
}

Status Director::SetNodeSubmit(std::string_view node_id, bool allowed, int hourly_quota) {
  if (hourly_quota < 0) return Status::Error(EINVAL, "the hourly quota must be >= 0");
  MutexLock lk(mu_);
  Node* n = FindNode(node_id);
  if (n == nullptr) return NotFound("node", node_id);
  Node next = *n;
  next.may_submit = allowed;
  next.submit_quota = allowed ? hourly_quota : 0;
  return SaveNode(*n, std::move(next));
}

Status Director::Drain(std::string_view node_id) { return Admin(node_id, kAdminDrained); }
Status Director::Revoke(std::string_view node_id) { return Admin(node_id, kAdminRevoked); }
Status Director::Admit(std::string_view node_id) { return Admin(node_id, kAdminReady); }

Status Director::Admin(std::string_view node_id, int admin) {
  MutexLock lk(mu_);
  Node* n = FindNode(node_id);
  if (n == nullptr) return NotFound("node", node_id);
  Node next = *n;
  next.admin = admin;
  std::vector<Op> ops;
  ops.push_back(Op::Put(Key(kNodePrefix, NodeId(n->seq)), next.Encode(), n->revision));
  std::vector<TaskChange> changes;
  if (admin == kAdminRevoked) {
    // A revoked node is no longer trusted with its work: fence and re-queue.
    for (auto& [seq, t] : tasks_) {
      if (!Active(t.state) || t.node != n->seq) continue;
      Task re = t;
      Release(re, ops);
      re.state = TaskState::kPending;
      re.not_before = {};
      re.reason = "node " + NodeId(n->seq) + " revoked";
      re.updated_at = MeshNow(*clock_);
      changes.emplace_back(&t, std::move(re));
    }
  }
  auto rev = CommitTasks(std::move(ops), changes);
  if (!rev.ok()) return rev.status();
  n->admin = admin;
  n->revision = *rev;
  return Status::Ok();
}

Result<NodeInfo> Director::GetNode(std::string_view node_id) const {
  MutexLock lk(mu_);
  const Node* n = FindNode(node_id);
  if (n == nullptr) return NotFound("node", node_id);
  return InfoOf(*n, MeshNow(*clock_));
}

std::vector<NodeInfo> Director::ListNodes() const {
  MutexLock lk(mu_);
  const TimePoint now = MeshNow(*clock_);
  std::vector<NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [seq, n] : nodes_) out.push_back(InfoOf(n, now));
  return out;
}

// ---- task bookkeeping ----

void Director::AddTaskPuts(const std::vector<TaskChange>& changes, std::vector<Op>& ops) {
  for (const auto& [cur, next] : changes)
    ops.push_back(Op::Put(Key(kTaskPrefix, TaskId(next.seq)), next.Encode(), cur->revision));
}

void Director::ApplyCommitted(std::vector<TaskChange>& changes, int64_t revision) {
  for (auto& [cur, next] : changes) {
    next.revision = revision;
    Apply(*cur, std::move(next));
  }
}

Result<int64_t> Director::CommitTasks(std::vector<Op> ops, std::vector<TaskChange>& changes) {
  AddTaskPuts(changes, ops);
  auto rev = store_->Commit(std::move(ops));
  if (!rev.ok()) return rev.status();
  ApplyCommitted(changes, *rev);
  return rev;
}

void Director::Apply(Task& t, Task next) {
  if (Active(t.state) != Active(next.state) || t.node != next.node) {
    if (Active(t.state))
      if (auto it = nodes_.find(t.node); it != nodes_.end()) {
        --it->second.active;
        it->second.placed_since_heartbeat = std::max<int64_t>(0, it->second.placed_since_heartbeat - 1);
      }
    if (Active(next.state))
      if (auto it = nodes_.find(next.node); it != nodes_.end()) {
        ++it->second.active;
        ++it->second.placed_since_heartbeat;
      }
  }
  if (t.state == TaskState::kPending) pending_.erase(t.seq);
  if (next.state == TaskState::kPending) pending_.insert(next.seq);
  t = std::move(next);
}

void Director::Release(Task& next, std::vector<Op>& ops) {
  if (next.lease != 0) ops.push_back(Op::RevokeLease(next.lease));
  next.lease = 0;
  next.token_hash.clear();
  next.lease_expires = {};
  next.node = 0;
}

std::string Director::Assign(Task& next, Node& node, TimePoint now, bool new_attempt, std::vector<Op>& ops) {
  Release(next, ops);
  std::string token = RandomHex(16);
  next.token_hash = Sha256Hex(token);
  next.lease = static_cast<LeaseId>((rng_() >> 1) | 1);  // positive, non-zero
  next.lease_expires = now + options_.lease_ttl;
  next.node = node.seq;
  next.state = TaskState::kAssigned;
  next.reason.clear();
  next.updated_at = now;
  if (new_attempt) ++next.attempts;
  ops.push_back(Op::GrantLease(next.lease, options_.lease_ttl));
  ops.push_back(Op::Put(Key(kLeasePrefix, TaskId(next.seq)), next.token_hash, kAnyRevision, next.lease));
  return token;
}

void Director::EndAttempt(Task& next, TimePoint now, std::string_view why, std::vector<Op>& ops) {
  Release(next, ops);
  next.updated_at = now;
  if (next.attempts >= next.spec.max_attempts) {
    next.state = TaskState::kFailed;
    next.reason = "max attempts reached (last: " + std::string(why) + ")";
    return;
  }
  // Exponential back-off: base, 2*base, 4*base, ... capped.
  int shift = std::min(std::max(next.attempts - 1, 0), 30);
  Duration backoff =
      std::min(options_.retry_backoff_cap, options_.retry_backoff_base * (int64_t{1} << shift));
  next.state = TaskState::kPending;
  next.not_before = now + backoff;
  next.reason = std::string(why) + "; attempt " + std::to_string(next.attempts + 1) + " after " +
                std::to_string(backoff.count()) + " ms back-off";
}

Result<Director::Task*> Director::Leased(std::string_view task_id, std::string_view token) {
  Task* t = FindTask(task_id);
  if (t == nullptr) return NotFound("task", task_id);
  if (!Active(t->state))
    return Status::Error(
        ESTALE, "task " + std::string(task_id) + " is " + std::string(Name(t->state)) + ": no lease is held");
  if (!SecretEquals(Sha256Hex(token), t->token_hash))
    return Status::Error(ESTALE, "wrong or stale lease token for task " + std::string(task_id));
  if (t->lease_expires <= MeshNow(*clock_))
    return Status::Error(ESTALE, "the lease of task " + std::string(task_id) + " has expired");
  return t;
}

// ---- placement ----

Director::Eligible Director::EligibleNodes(TimePoint now, uint64_t exclude) {
  Eligible e;
  int drained = 0, down = 0, revoked = 0, untrusted = 0;
  for (auto& [seq, n] : nodes_) {
    if (seq == exclude) continue;
    switch (StateOf(n, now)) {
      case NodeState::kReady:
        e.any.push_back(&n);
        if (n.trust == TrustTier::kTrusted)
          e.trusted.push_back(&n);
        else
          ++untrusted;
        break;
      case NodeState::kDrained:
        ++drained;
        break;
      case NodeState::kDown:
        ++down;
        break;
      case NodeState::kRevoked:
        ++revoked;
        break;
    }
  }
  auto reason = [&](bool count_untrusted) {
    std::string r;
    auto add = [&](int count, const char* what) {
      if (count == 0) return;
      r += (r.empty() ? "" : ", ") + std::to_string(count) + " " + what;
    };
    add(drained, "drained");
    add(down, "down");
    add(revoked, "revoked");
    if (count_untrusted) add(untrusted, "untrusted");
    if (r.empty()) r = exclude != 0 ? "no other node" : "no nodes registered";
    return "no eligible node: " + r;
  };
  e.any_reason = reason(false);
  e.trusted_reason = reason(true);
  return e;
}

const std::vector<Director::Node*>& Director::Candidates(Eligible& el, const TaskSpec& spec,
                                                         std::string* why) {
  const bool trusted = spec.required_trust == TrustTier::kTrusted;
  const std::vector<Node*>& by_trust = trusted ? el.trusted : el.any;
  if (by_trust.empty()) {
    *why = trusted ? el.trusted_reason : el.any_reason;
    return by_trust;
  }
  // Cached per (zone, trust) for the Eligible's lifetime: one pass places
  // many tasks of few zones.
  auto in_zone = [&](bool of_trusted) -> const std::vector<Node*>& {
    auto [it, fresh] = el.in_zone.try_emplace({spec.zone, of_trusted});
    if (fresh)
      it->second = WithZone(of_trusted ? el.trusted : el.any, spec.zone,
                            [](const Node* n) -> const NodeZones& { return n->zones; });
    return it->second;
  };
  const std::vector<Node*>& out = in_zone(trusted);
  if (out.empty())
    *why = trusted && !in_zone(false).empty()
               ? "no ready trusted node has zone '" + spec.zone + "' (an untrusted one has)"
               : "no ready node has zone '" + spec.zone + "'";
  return out;
}

Director::Node* Director::Pick(const std::vector<Node*>& nodes) {
  size_t i = PickNode(
      nodes.size(),
      [&](size_t k) {
        const Node* n = nodes[k];
        return NodeLoad{n->queue_depth + n->placed_since_heartbeat + n->provisional, n->free_capacity};
      },
      options_.power_of_two_threshold, rng_);
  return nodes[i];
}

Result<ScheduleSummary> Director::ScheduleLocked(const std::vector<uint64_t>& seqs, TimePoint now) {
  ScheduleSummary sum;
  Eligible el = EligibleNodes(now, 0);
  // Batches commit concurrently, up to schedule_pipeline at once: each
  // carries its own conditions and touches tasks and leases no other batch
  // does, so only the round trips overlap. They land in order, here, under
  // mu_; after a failure nothing more is sent, the batches in flight still
  // land, and the round returns what landed.
  struct Batch {
    std::vector<TaskChange> changes;
    std::vector<std::string> tokens;
    std::vector<Node*> picked;
    std::future<Result<int64_t>> revision;
  };
  std::deque<Batch> in_flight;
  Status failed = Status::Ok();
  std::vector<Op> ops;
  Batch open;
  auto send = [&]() REQUIRES(mu_) {
    if (open.changes.empty()) return;
    AddTaskPuts(open.changes, ops);
    open.revision = std::async(std::launch::async, [store = store_, ops = std::exchange(ops, {})]() mutable {
      return store->Commit(std::move(ops));
    });
    in_flight.push_back(std::exchange(open, {}));
  };
  auto land = [&]() REQUIRES(mu_) {
    Batch b = std::move(in_flight.front());
    in_flight.pop_front();
    auto rev = b.revision.get();
    for (Node* n : b.picked) --n->provisional;
    if (!rev.ok()) {
      if (failed.ok()) failed = rev.status();
      return;
    }
    ApplyCommitted(b.changes, *rev);
    for (size_t i = 0; i < b.changes.size(); ++i) {
      sum.placements.push_back(InfoOf(*b.changes[i].first));
      sum.placements.back().lease_token = std::move(b.tokens[i]);
    }
  };
  // A placement is at most four store ops (revoke, grant, lease key, task
  // record), weighed as the store counts them; keep two for the store's
  // caller (a fence).
  const size_t max_ops = store_->MaxOpsPerCommit();
  const size_t per_placement = std::max<size_t>(
      1, store_->OpCost(Op::RevokeLease(1)) + store_->OpCost(Op::GrantLease(1, options_.lease_ttl)) +
             store_->OpCost(Op::Put("k", "", kAnyRevision, 1)) + store_->OpCost(Op::Put("k", "", 1)));
  const size_t batch = std::max<size_t>(
      1, std::min(options_.schedule_batch, max_ops < per_placement + 2 ? 1 : (max_ops - 2) / per_placement));
  const size_t depth = std::max<size_t>(1, options_.schedule_pipeline);
  for (uint64_t seq : seqs) {
    if (!failed.ok()) break;
    auto it = tasks_.find(seq);
    if (it == tasks_.end() || it->second.state != TaskState::kPending) continue;
    Task& t = it->second;
    if (t.not_before > now) {
      ++sum.pending;
      continue;  // its reason already says when
    }
    std::string why;
    const std::vector<Node*>& candidates = Candidates(el, t.spec, &why);
    if (candidates.empty()) {
      t.reason = std::move(why);
      ++sum.pending;
      continue;
    }
    Node* n = Pick(candidates);
    ++n->provisional;
    open.picked.push_back(n);
    Task next = t;
    open.tokens.push_back(Assign(next, *n, now, /*new_attempt=*/true, ops));
    open.changes.emplace_back(&t, std::move(next));
    if (open.changes.size() >= batch) {
      send();
      if (in_flight.size() >= depth) land();
    }
  }
  if (failed.ok()) send();
  for (Node* n : open.picked) --n->provisional;  // not sent after a failure
  while (!in_flight.empty()) land();
  // What committed is placed: its holders must hear of it (a failure after
  // some batches landed returns those; with none, the failure).
  if (!failed.ok() && sum.placements.empty()) return failed;
  if (!failed.ok())
    spdlog::warn("mesh: placement round stopped after {} placements: {}", sum.placements.size(),
                 failed.ToString());
  sum.assigned = sum.placements.size();
  return sum;
}

// ---- tasks ----

Status Director::CheckQuota(const Submitter& s, TimePoint now) {
  std::deque<TimePoint>& times = submissions_[s.key_id];
  while (!times.empty() && times.front() <= now - kQuotaWindow) times.pop_front();
  if (s.hourly_quota > 0 && times.size() >= static_cast<size_t>(s.hourly_quota)) {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(times.front() + kQuotaWindow - now);
    return Status::Error(EDQUOT, "key " + s.key_id + " has spent its quota of " +
                                     std::to_string(s.hourly_quota) + " submissions per hour; next in " +
                                     std::to_string(wait.count()) + " s");
  }
  return Status::Ok();
}

Result<TaskInfo> Director::Create(TaskSpec spec, const Submitter& submitter) {
  if ((submitter.scopes & Submitter::kScopeSubmitTasks) == 0)
    return Status::Error(EACCES, "key " + submitter.key_id + " may not submit tasks");
  MutexLock lk(mu_);
  return CreateLocked(std::move(spec), submitter, "");
}

Result<TaskInfo> Director::CreateFromNode(std::string_view node_id, std::string_view credential,
                                          TaskSpec spec, std::string on_behalf) {
  MutexLock lk(mu_);
  NEXUS_ASSIGN_OR_RETURN(Node * n, AuthenticateLocked(node_id, credential));
  if (!n->may_submit)
    return Status::Error(EACCES, "node " + std::string(node_id) +
                                     " may not submit tasks (the operator allows it: nexus mesh submit " +
                                     std::string(node_id) + " allow)");
  Submitter who;
  who.key_id = "node:" + NodeId(n->seq);
  who.hourly_quota = n->submit_quota;
  return CreateLocked(std::move(spec), who, std::move(on_behalf));
}

Result<TaskInfo> Director::CreateLocked(TaskSpec spec, const Submitter& submitter, std::string on_behalf) {
  if (spec.name.empty() || spec.command.empty() || spec.zone.empty() || spec.max_attempts < 1)
    return Status::Error(EINVAL, "a task needs a name, a command, a zone and max attempts >= 1");
  NEXUS_RETURN_IF_ERROR(layout::ValidateZoneName(spec.zone));
  NEXUS_RETURN_IF_ERROR(ValidateOutputPaths(spec.outputs));
  const TimePoint now = MeshNow(*clock_);
  NEXUS_RETURN_IF_ERROR(CheckQuota(submitter, now));
  // The retry of a create in doubt takes its id again.
  auto doubt = std::find_if(in_doubt_.begin(), in_doubt_.end(), [&](const InDoubt& d) {
    return d.spec == spec && d.submitter == submitter.key_id;
  });
  const bool retry = doubt != in_doubt_.end();
  const uint64_t seq = retry ? doubt->seq : next_task_;
  if (auto known = tasks_.find(seq); retry && known != tasks_.end()) {
    in_doubt_.erase(doubt);  // loaded meanwhile (a Reload): it committed
    return InfoOf(known->second);
  }
  Task next;
  next.seq = seq;
  next.spec = spec;
  next.submitter = submitter.key_id;
  next.on_behalf = std::move(on_behalf);
  next.state = TaskState::kPending;
  next.created_at = now;
  next.updated_at = now;
  Task& slot = tasks_[seq];
  slot.seq = seq;
  std::vector<TaskChange> changes;
  changes.emplace_back(&slot, std::move(next));
  if (auto rev = CommitTasks({}, changes); !rev.ok()) {
    tasks_.erase(seq);
    if (rev.code() == ESTALE) {
      // The id is taken in the store: a write whose answer was lost. Load
      // that task (so it is not lost to this director); never reuse the id.
      auto taken = AdoptTask(seq);
      if (!retry) ++next_task_;
      // It is the one this retry asked for: that is the answer.
      if (retry && taken.ok() && (*taken)->spec == spec && (*taken)->submitter == submitter.key_id) {
        in_doubt_.erase(doubt);
        return InfoOf(**taken);
      }
    } else if (rev.code() == EAGAIN && !retry) {
      // Committed or not, nobody can tell yet.
      in_doubt_.push_back({seq, std::move(spec), submitter.key_id, now});
      ++next_task_;
    }
    return rev.status();
  }
  if (retry) {
    in_doubt_.erase(doubt);
  } else {
    ++next_task_;
  }
  submissions_[submitter.key_id].push_back(now);
  return InfoOf(slot);
}

Result<Director::Task*> Director::AdoptTask(uint64_t seq) {
  auto kv = store_->Get(Key(kTaskPrefix, TaskId(seq)));
  if (!kv.ok()) return kv.status();
  auto rec = Record::Parse(kv->value);
  if (!rec.ok()) return Status::Error(EIO, "corrupt task record '" + kv->key + "'");
  Task t;
  t.seq = seq;
  t.Decode(*rec);
  t.revision = kv->mod_revision;
  Task& slot = tasks_[seq];
  slot.seq = seq;
  Apply(slot, std::move(t));
  next_task_ = std::max(next_task_, seq + 1);
  return &slot;
}

void Director::ResolveInDoubt(TimePoint now) {
  MutexLock lk(mu_);
  // Kept two lease TTLs: an adopted one for its retry to find, an absent
  // one for its write to land (after that it cannot; the id stays unused).
  std::vector<uint64_t> gone;
  for (const InDoubt& d : in_doubt_) {
    const bool old = now - d.since > 2 * options_.lease_ttl;
    if (tasks_.count(d.seq)) {
      if (old) gone.push_back(d.seq);
      continue;
    }
    auto adopted = AdoptTask(d.seq);
    if (adopted.ok())
      spdlog::info("mesh: task {}, whose create was in doubt, committed after all", TaskId(d.seq));
    else if (adopted.code() == ENOENT && old)
      gone.push_back(d.seq);
  }
  std::erase_if(in_doubt_,
                [&](const InDoubt& d) { return std::find(gone.begin(), gone.end(), d.seq) != gone.end(); });
}

Result<TaskInfo> Director::Schedule(std::string_view task_id) {
  MutexLock lk(mu_);
  Task* t = FindTask(task_id);
  if (t == nullptr) return NotFound("task", task_id);
  if (t->state != TaskState::kPending)
    return Status::Error(EINVAL, "task " + std::string(task_id) + " is " + std::string(Name(t->state)));
  auto sum = ScheduleLocked({t->seq}, MeshNow(*clock_));
  if (!sum.ok()) return sum.status();
  if (sum->placements.empty()) return InfoOf(*t);
  return std::move(sum->placements.front());
}

Result<ScheduleSummary> Director::ScheduleAll() {
  MutexLock lk(mu_);
  std::vector<uint64_t> seqs(pending_.begin(), pending_.end());
  return ScheduleLocked(seqs, MeshNow(*clock_));
}

Result<TaskInfo> Director::UpdateLeased(std::string_view task_id, std::string_view token,
                                        const LeasedChange& change) {
  MutexLock lk(mu_);
  auto leased = Leased(task_id, token);
  if (!leased.ok()) return leased.status();
  Task* t = *leased;
  const TimePoint now = MeshNow(*clock_);
  Task next = *t;
  next.updated_at = now;
  std::vector<Op> ops;
  NEXUS_RETURN_IF_ERROR(change(next, now, ops));
  std::vector<TaskChange> changes;
  changes.emplace_back(t, std::move(next));
  NEXUS_RETURN_IF_ERROR(CommitTasks(std::move(ops), changes));
  return InfoOf(*t);
}

Status Director::Start(std::string_view task_id, std::string_view token) {
  return UpdateLeased(task_id, token,
                      [](Task& next, TimePoint, std::vector<Op>&) {
                        next.state = TaskState::kRunning;
                        return Status::Ok();
                      })
      .status();
}

Status Director::Progress(std::string_view task_id, std::string_view token, std::string progress,
                          std::string checkpoint_ref) {
  return UpdateLeased(task_id, token,
                      [&](Task& next, TimePoint, std::vector<Op>&) REQUIRES(mu_) {
                        next.progress = std::move(progress);
                        if (!checkpoint_ref.empty()) next.checkpoint_ref = std::move(checkpoint_ref);
                        return Status::Ok();
                      })
      .status();
}

Result<TimePoint> Director::Extend(std::string_view task_id, std::string_view token, Duration ttl) {
  if (ttl.count() <= 0) return Status::Error(EINVAL, "ttl must be positive");
  MutexLock lk(mu_);
  auto leased = Leased(task_id, token);
  if (!leased.ok()) return leased.status();
  Task* t = *leased;
  std::vector<Op> ops;
  ops.push_back(Op::KeepAlive(t->lease, ttl));
  auto rev = store_->Commit(std::move(ops));
  if (rev.code() == ENOENT)  // the store expired it before our Tick saw it
    return Status::Error(ESTALE, "the lease of task " + std::string(task_id) + " has expired");
  if (!rev.ok()) return rev.status();
  // The deadline lives in the store lease; the record does not change.
  t->lease_expires = MeshNow(*clock_) + ttl;
  return t->lease_expires;
}

Result<TaskInfo> Director::Fail(std::string_view task_id, std::string_view token, std::string reason) {
  return UpdateLeased(task_id, token, [&](Task& next, TimePoint now, std::vector<Op>& ops) REQUIRES(mu_) {
    EndAttempt(next, now, "attempt failed: " + reason, ops);
    return Status::Ok();
  });
}

Result<TaskInfo> Director::Migrate(std::string_view task_id, std::string_view token,
                                   std::string checkpoint_ref) {
  std::string new_token;
  auto info =
      UpdateLeased(task_id, token, [&](Task& next, TimePoint now, std::vector<Op>& ops) REQUIRES(mu_) {
        next.checkpoint_ref = std::move(checkpoint_ref);
        Eligible el = EligibleNodes(now, next.node);
        std::string why;
        const std::vector<Node*>& candidates = Candidates(el, next.spec, &why);
        if (candidates.empty()) {
          Release(next, ops);
          next.state = TaskState::kPending;
          next.not_before = {};
          next.reason = "migrating: " + why;
        } else {
          new_token = Assign(next, *Pick(candidates), now, /*new_attempt=*/false, ops);
        }
        return Status::Ok();
      });
  if (info.ok()) info->lease_token = std::move(new_token);
  return info;
}

Result<TaskInfo> Director::Complete(std::string_view task_id, std::string_view token, TaskOutput output) {
  if (output.missing.size() > kMaxTaskOutputs)
    return Status::Error(EINVAL, "at most " + std::to_string(kMaxTaskOutputs) + " outputs can be missing");
  for (auto& [path, why] : output.missing) {
    path.resize(std::min(path.size(), kMaxOutputPathBytes));
    why.resize(std::min<size_t>(why.size(), 512));
  }
  {
    std::vector<std::string_view> names;
    for (const auto& [name, content] : output.files) names.push_back(name);
    if (Status st = ValidateResultPaths(std::move(names)); !st.ok())
      return Status::Error(EINVAL, "bad result file name: " + st.message());
  }
  std::string dir;
  {
    MutexLock lk(mu_);
    auto leased = Leased(task_id, token);
    if (!leased.ok()) return leased.status();
    // A fresh directory per call, so a concurrent duplicate cannot clobber it.
    dir = (std::filesystem::path(options_.results_dir) / TaskId((*leased)->seq) / RandomHex(8)).string();
  }

  // Write and hash the files without holding the director lock.
  std::vector<ResultFile> files;
  auto write_all = [&]() -> Status {
    std::error_code ec;
    std::filesystem::create_directories(dir + "/files", ec);
    if (ec) return Status::Error(EIO, "create " + dir + ": " + ec.message());
    std::set<std::string> subdirs;  // below files/, to sync
    auto write = [&](std::string name, std::string_view content) -> Status {
      std::string path = dir + "/" + name;
      if (std::string parent = std::filesystem::path(path).parent_path().string();
          parent != dir + "/files" && parent != dir) {
        std::filesystem::create_directories(parent, ec);
        if (ec) return Status::Error(EIO, "create " + parent + ": " + ec.message());
        for (std::string d = parent; d != dir + "/files"; d = std::filesystem::path(d).parent_path().string())
          subdirs.insert(d);
      }
      auto hash = WriteNewFile(path, content);
      if (!hash.ok()) return hash.status();
      files.push_back({std::move(name), content.size(), std::move(*hash), std::move(path)});
      return Status::Ok();
    };
    NEXUS_RETURN_IF_ERROR(write("stdout", output.stdout_data));
    NEXUS_RETURN_IF_ERROR(write("stderr", output.stderr_data));
    for (const auto& [name, content] : output.files) NEXUS_RETURN_IF_ERROR(write("files/" + name, content));
    for (const std::string& d : subdirs) NEXUS_RETURN_IF_ERROR(FsyncPath(d));
    NEXUS_RETURN_IF_ERROR(FsyncPath(dir + "/files"));
    NEXUS_RETURN_IF_ERROR(FsyncPath(dir));
    return FsyncPath(std::filesystem::path(dir).parent_path().string());
  };
  if (Status st = write_all(); !st.ok()) {
    RemoveTree(dir);
    return st;
  }

  std::string old_dir;
  auto info =
      UpdateLeased(task_id, token, [&](Task& next, TimePoint now, std::vector<Op>& ops) REQUIRES(mu_) {
        if (next.has_result)
          if (auto old = store_->Get(Key(kResultPrefix, TaskId(next.seq))); old.ok())
            if (auto rec = Record::Parse(old->value); rec.ok()) old_dir = rec->Str("dir");
        RecordWriter w;
        w.Add("exit_code", output.exit_code).Add("completed_ms", ToMillis(now)).Add("dir", dir);
        w.Add("files", static_cast<int64_t>(files.size()));
        for (size_t i = 0; i < files.size(); ++i) {
          std::string n = std::to_string(i);
          w.Add("name." + n, files[i].name)
              .Add("size." + n, static_cast<int64_t>(files[i].size))
              .Add("sha256." + n, files[i].sha256);
        }
        w.Add("missing", static_cast<int64_t>(output.missing.size()));
        for (size_t i = 0; i < output.missing.size(); ++i)
          w.Add("missing_path." + std::to_string(i), output.missing[i].first)
              .Add("missing_why." + std::to_string(i), output.missing[i].second);
        ops.push_back(Op::Put(Key(kResultPrefix, TaskId(next.seq)), w.Finish()));
        Release(next, ops);
        next.has_result = true;
        next.state = output.exit_code == 0 ? TaskState::kSucceeded : TaskState::kFailed;
        next.reason = output.exit_code == 0 ? "" : "exit code " + std::to_string(output.exit_code);
        if (!output.missing.empty())
          next.reason += (next.reason.empty() ? "" : "; ") + std::to_string(output.missing.size()) +
                         " declared output(s) not collected (see the result)";
        return Status::Ok();
      });
  if (!info.ok()) {
    RemoveTree(dir);
    return info;
  }
  if (!old_dir.empty() && old_dir != dir) RemoveTree(old_dir);
  return info;
}

Result<TaskInfo> Director::Retry(std::string_view task_id) {
  MutexLock lk(mu_);
  Task* t = FindTask(task_id);
  if (t == nullptr) return NotFound("task", task_id);
  if (t->state != TaskState::kFailed && t->state != TaskState::kCancelled)
    return Status::Error(EINVAL, "only a failed or cancelled task can be retried; task " +
                                     std::string(task_id) + " is " + std::string(Name(t->state)));
  Task next = *t;
  next.state = TaskState::kPending;
  next.attempts = 0;
  next.not_before = {};
  next.reason = "retried";
  next.updated_at = MeshNow(*clock_);
  std::vector<TaskChange> changes;
  changes.emplace_back(t, std::move(next));
  NEXUS_RETURN_IF_ERROR(CommitTasks({}, changes));
  return InfoOf(*t);
}

Result<TaskInfo> Director::Cancel(std::string_view task_id) {
  MutexLock lk(mu_);
  Task* t = FindTask(task_id);
  if (t == nullptr) return NotFound("task", task_id);
  if (t->state == TaskState::kCancelled) return InfoOf(*t);
  if (t->state == TaskState::kSucceeded || t->state == TaskState::kFailed)
    return Status::Error(EINVAL, "task " + std::string(task_id) + " already " + std::string(Name(t->state)));
  Task next = *t;
  std::vector<Op> ops;
  Release(next, ops);
  next.state = TaskState::kCancelled;
  next.reason = "cancelled";
  next.updated_at = MeshNow(*clock_);
  std::vector<TaskChange> changes;
  changes.emplace_back(t, std::move(next));
  NEXUS_RETURN_IF_ERROR(CommitTasks(std::move(ops), changes));
  return InfoOf(*t);
}

Result<TaskInfo> Director::GetTask(std::string_view task_id) const {
  MutexLock lk(mu_);
  const Task* t = FindTask(task_id);
  if (t == nullptr) return NotFound("task", task_id);
  return InfoOf(*t);
}

std::vector<TaskInfo> Director::ListTasks() const {
  MutexLock lk(mu_);
  std::vector<TaskInfo> out;
  out.reserve(tasks_.size());
  for (const auto& [seq, t] : tasks_) out.push_back(InfoOf(t));
  return out;
}

Result<TaskResult> Director::GetResult(std::string_view task_id) const {
  std::string key;
  {
    MutexLock lk(mu_);
    const Task* t = FindTask(task_id);
    if (t == nullptr) return NotFound("task", task_id);
    if (!t->has_result) return Status::Error(ENOENT, "task " + std::string(task_id) + " has no result");
    key = Key(kResultPrefix, TaskId(t->seq));
  }
  auto kv = store_->Get(key);
  if (!kv.ok()) return kv.status();
  auto rec = Record::Parse(kv->value);
  if (!rec.ok()) return Status::Error(EIO, "corrupt result index of task " + std::string(task_id));
  TaskResult r;
  r.task_id = std::string(task_id);
  r.exit_code = static_cast<int>(rec->Int("exit_code"));
  r.completed_at = FromMillis(rec->Int("completed_ms"));
  const std::string dir = rec->Str("dir");
  for (int64_t i = 0, n = rec->Int("files"); i < n; ++i) {
    std::string k = std::to_string(i);
    ResultFile f;
    f.name = rec->Str("name." + k);
    f.size = static_cast<uint64_t>(rec->Int("size." + k));
    f.sha256 = rec->Str("sha256." + k);
    f.path = dir + "/" + f.name;
    r.files.push_back(std::move(f));
  }
  for (int64_t i = 0, n = rec->Int("missing"); i < n; ++i)
    r.missing.emplace_back(rec->Str("missing_path." + std::to_string(i)),
                           rec->Str("missing_why." + std::to_string(i)));
  return r;
}

Result<std::string> Director::ReadResultFile(std::string_view task_id, std::string_view name) const {
  auto result = GetResult(task_id);
  if (!result.ok()) return result.status();
  for (const ResultFile& f : result->files) {
    if (f.name != name) continue;
    std::ifstream in(f.path, std::ios::binary);
    if (!in) return Status::Error(EIO, "cannot read result file " + f.path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = std::move(ss).str();
    if (Sha256Hex(data) != f.sha256)
      return Status::Error(EIO, "result file " + f.path + " does not match its SHA-256");
    return data;
  }
  return Status::Error(ENOENT,
                       "task " + std::string(task_id) + " has no result file '" + std::string(name) + "'");
}

// ---- housekeeping ----

Status Director::Reload() {
  {
    MutexLock lk(mu_);
    nodes_.clear();
    node_names_.clear();
    tasks_.clear();
    pending_.clear();
    submissions_.clear();
    next_node_ = 1;
    next_task_ = 1;
  }
  {
    MutexLock el(expired_mu_);
    expired_.clear();
  }
  return Load();
}

Result<size_t> Director::ExtendActiveLeases() {
  MutexLock lk(mu_);
  const TimePoint now = MeshNow(*clock_);
  // Many leases per commit, as many as the store takes.
  const size_t cost = std::max<size_t>(1, store_->OpCost(Op::KeepAlive(1, options_.lease_ttl)));
  const size_t max_ops = store_->MaxOpsPerCommit();
  const size_t per_commit =
      std::max<size_t>(1, std::min(options_.schedule_batch, max_ops < cost + 2 ? 1 : (max_ops - 2) / cost));
  std::vector<Task*> active;
  for (auto& [seq, t] : tasks_)
    if (Active(t.state) && t.lease != 0) active.push_back(&t);
  size_t extended = 0;
  auto extend = [&](size_t at, size_t n) REQUIRES(mu_) -> Status {
    std::vector<Op> ops;
    for (size_t i = at; i < at + n; ++i) ops.push_back(Op::KeepAlive(active[i]->lease, options_.lease_ttl));
    auto rev = store_->Commit(std::move(ops));
    if (!rev.ok()) return rev.status();
    for (size_t i = at; i < at + n; ++i) active[i]->lease_expires = now + options_.lease_ttl;
    extended += n;
    return Status::Ok();
  };
  for (size_t at = 0; at < active.size(); at += per_commit) {
    const size_t n = std::min(per_commit, active.size() - at);
    Status st = extend(at, n);
    // ENOENT: a lease of the batch is gone (Tick ends that attempt); the
    // others one at a time.
    for (size_t i = at; st.code() == ENOENT && n > 1 && i < at + n; ++i)
      if (Status one = extend(i, 1); !one.ok() && one.code() != ENOENT) return one;
    if (!st.ok() && st.code() != ENOENT) return st;
  }
  return extended;
}

void Director::Tick(TimePoint now) {
  ResolveInDoubt(now);
  store_->ExpireLeases(now);
  std::vector<std::pair<uint64_t, std::string>> expired;
  {
    MutexLock el(expired_mu_);
    expired.swap(expired_);
  }
  if (expired.empty()) return;
  MutexLock lk(mu_);
  std::vector<Op> ops;
  std::vector<TaskChange> changes;
  std::set<uint64_t> seen;
  for (const auto& [seq, token_hash] : expired) {
    auto it = tasks_.find(seq);
    // Only the current lease counts: a deleted key of a fenced or released
    // lease is history.
    if (it == tasks_.end() || !Active(it->second.state) || it->second.token_hash != token_hash ||
        !seen.insert(seq).second)
      continue;
    // A holder that let its lease lapse is silent (dead, cut off, stuck):
    // it counts as down until its next heartbeat, so the task is not
    // placed straight back on it.
    if (auto n = nodes_.find(it->second.node); n != nodes_.end()) MarkSilent(n->second, now);
    Task next = it->second;
    EndAttempt(next, now, "lease expired", ops);
    changes.emplace_back(&it->second, std::move(next));
  }
  if (changes.empty()) return;
  if (!CommitTasks(std::move(ops), changes).ok()) {
    // Try again at the next tick.
    MutexLock el(expired_mu_);
    expired_.insert(expired_.end(), expired.begin(), expired.end());
  }
}

}  // namespace nexus::mesh
