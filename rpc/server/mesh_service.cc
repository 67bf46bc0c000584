// The mesh over the control socket (rpc/nexus.capnp: Mesh, MeshNode and
// Nexus.meshRegister/meshNode), served by a director (ServiceContext::mesh).
//
// Who may do what: any session may create tasks (as its API key, the
// entitlements' unit) and read tasks and results; fleet changes, scheduling,
// retry and cancel are for admin sessions; lease-holder calls are open to
// whoever holds the task's current lease token. Nodes reach the director
// without an API key: meshRegister with the registration key, then meshNode
// with their own credential; every MeshNode call re-checks the credential,
// so a revoked node or a rotated credential is refused at once.
//
// A standby director (several directors on one etcd store) serves its own
// callers too: reads (nodes, tasks, a task, a result) from its state
// reloaded from the store, every other director call forwarded to the
// leader, which opens its Mesh for the same caller (meshForward) and
// applies that caller's rights. The leader accepts the standby as a
// director by the forwarding credential it published in the election.
//
// Threading: methods run on the event loop; every call that commits to the
// director's store (an fsync), reloads it or is forwarded runs on a
// BackgroundJobs thread.
#include <unistd.h>

#include <climits>
#include <optional>

#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include "perms/passport.h"
#include "rpc/bytes.h"
#include "rpc/errors.h"
#include "rpc/server/mesh_office.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

using mesh::Director;
using mesh::TaskInfo;

int64_t Ns(mesh::TimePoint t) { return t == mesh::TimePoint{} ? 0 : mesh::ToUnixNanos(t); }

void FillNode(rpc::MeshNodeInfo::Builder b, const mesh::NodeInfo& n) {
  b.setId(n.id);
  b.setName(n.name);
  b.setAddress(n.address);
  b.setCapacity(n.capacity);
  b.setTrust(std::string(mesh::Name(n.trust)));
  b.setState(std::string(mesh::Name(n.state)));
  b.setFingerprint(n.fingerprint);
  b.setQueueDepth(n.queue_depth);
  b.setFreeCapacity(n.free_capacity);
  b.setActiveTasks(n.active_tasks);
  b.setRegisteredAtNs(Ns(n.registered_at));
  b.setLastHeartbeatNs(Ns(n.last_heartbeat));
  auto zones = b.initZones(n.zones.names.size());
  for (size_t i = 0; i < n.zones.names.size(); ++i) zones.set(i, n.zones.names[i]);
  b.setZonesReported(n.zones.reported);
  b.setMaySubmit(n.may_submit);
  b.setSubmitHourlyQuota(static_cast<uint32_t>(n.submit_hourly_quota));
}

// The zones a node's call carries, if it reports them.
std::optional<std::vector<std::string>> ZonesOf(bool reported, capnp::List<capnp::Text>::Reader zones) {
  if (!reported) return std::nullopt;
  std::vector<std::string> out;
  for (auto z : zones) out.emplace_back(z);
  return out;
}

void FillTask(rpc::MeshTask::Builder b, const TaskInfo& t) {
  b.setId(t.id);
  auto s = b.initSpec();
  s.setName(t.spec.name);
  s.setCommand(t.spec.command);
  s.setZone(t.spec.zone);
  s.setRequiredTrust(std::string(mesh::Name(t.spec.required_trust)));
  s.setMaxAttempts(t.spec.max_attempts);
  s.setAllowNetwork(t.spec.allow_network);
  auto outputs = s.initOutputs(t.spec.outputs.size());
  for (size_t i = 0; i < t.spec.outputs.size(); ++i) outputs.set(i, t.spec.outputs[i]);
  b.setSubmitter(t.submitter);
  b.setOnBehalfOf(t.on_behalf);
  b.setState(std::string(mesh::Name(t.state)));
  b.setNodeId(t.node_id);
  b.setNodeAddress(t.node_address);
  b.setLeaseToken(t.lease_token);
  b.setLeaseExpiresNs(Ns(t.lease_expires));
  b.setAttempts(t.attempts);
  b.setNotBeforeNs(Ns(t.not_before));
  b.setReason(t.reason);
  b.setProgress(t.progress);
  b.setCheckpointRef(t.checkpoint_ref);
  b.setHasResult(t.has_result);
  b.setCreatedAtNs(Ns(t.created_at));
  b.setUpdatedAtNs(Ns(t.updated_at));
}

void FillTasks(capnp::List<rpc::MeshTask>::Builder out, const std::vector<TaskInfo>& ts) {
  for (size_t i = 0; i < ts.size(); ++i) FillTask(out[i], ts[i]);
}

void FillCredential(rpc::MeshCredential::Builder b, const mesh::NodeCredential& c) {
  b.setNodeId(c.node_id);
  b.setCredential(c.credential);
  b.setFingerprint(c.fingerprint);
}

Result<mesh::TrustTier> ParseTrust(std::string_view s) {
  if (s.empty() || s == "trusted") return mesh::TrustTier::kTrusted;
  if (s == "untrusted") return mesh::TrustTier::kUntrusted;
  return Status::Error(EINVAL, "trust must be trusted or untrusted, not '" + std::string(s) + "'");
}

template <typename Params>
mesh::TaskOutput OutputOf(Params p) {
  mesh::TaskOutput o;
  o.exit_code = p.getExitCode();
  o.stdout_data = std::string(AsView(p.getStdout()));
  o.stderr_data = std::string(AsView(p.getStderr()));
  for (auto f : p.getFiles())
    o.files.emplace_back(std::string(f.getName()), std::string(AsView(f.getContent())));
  for (auto m : p.getMissing()) o.missing.emplace_back(std::string(m.getPath()), std::string(m.getReason()));
  return o;
}

// A task spec from the wire: zone "local" when empty, the default attempts when 0.
Result<mesh::TaskSpec> SpecOf(rpc::MeshTaskSpec::Reader s) {
  NEXUS_ASSIGN_OR_RETURN(mesh::TrustTier trust, ParseTrust(std::string(s.getRequiredTrust())));
  mesh::TaskSpec spec;
  spec.name = s.getName();
  spec.command = s.getCommand();
  spec.zone = s.getZone().size() ? std::string(s.getZone()) : "local";
  spec.required_trust = trust;
  if (s.getMaxAttempts() != 0) spec.max_attempts = s.getMaxAttempts();
  spec.allow_network = s.getAllowNetwork();
  for (auto o : s.getOutputs()) spec.outputs.emplace_back(o);
  return spec;
}

mesh::Duration TtlOf(double seconds) {
  return std::chrono::duration_cast<mesh::Duration>(std::chrono::duration<double>(seconds));
}

// What Mesh and MeshNode share: serving a call on this daemon's director,
// the off-loop jobs their replies are made of, and the lease-holder calls.
template <typename Iface>
class LeaseCalls : public Service<Iface> {
 protected:
  using Service<Iface>::Service;
  using Service<Iface>::ctx;
  using Service<Iface>::Serve;
  using Service<Iface>::Job;  // in this template: this->template Job<T>(...)
  const MeshDeps& deps() { return ctx().mesh; }
  Director* director() { return deps().office ? deps().office->director() : nullptr; }

  // Serves a call that needs the director: checks Feature::kMeshDirector,
  // then `body(director, params, results) -> Reply`. On a standby the call
  // goes to the leader (when this session may forward), else the standby
  // names the leader.
  template <typename Context, typename Body>
  kj::Promise<void> ServeDirector(Context context, Body&& body) {
    return Serve(context, Feature::kMeshDirector, [&](auto p, auto results) -> Reply {
      if (Status st = deps().office->Gate(); !st.ok()) {
        if (!forwards_ || !deps().office->StandingBy()) return st;
        return Forward(context);
      }
      return body(director(), p, results);
    });
  }
  // A read: `read(director) -> Result<T>` then `fill(results, value)`; on a
  // standby that serves its callers, off the loop on the state as the store
  // has it now.
  template <typename T, typename Context, typename Read, typename Fill>
  kj::Promise<void> ReadDirector(Context context, Read read, Fill fill) {
    return Serve(context, Feature::kMeshDirector, [&](auto, auto results) -> Reply {
      MeshOffice* office = deps().office;
      Director* d = director();
      if (Status st = office->Gate(); !st.ok()) {
        if (!forwards_ || !office->StandingBy()) return st;
        return this->template Job<T>(
            context,
            [office, d, read]() -> Result<T> {
              std::optional<Result<T>> out;
              NEXUS_RETURN_IF_ERROR(office->standby_hooks().read([&] {
                out.emplace(read(d));
                return Status::Ok();
              }));
              return std::move(*out);
            },
            fill);
      }
      NEXUS_ASSIGN_OR_RETURN(T value, read(d));
      fill(results, value);
      return Status::Ok();
    });
  }
  // Sends the call being served to the leader as this session's caller and
  // replies with the leader's results (its error included).
  template <typename Params, typename Results>
  Reply Forward(capnp::CallContext<Params, Results> context) {
    auto params = std::make_shared<capnp::MallocMessageBuilder>();
    params->setRoot(context.getParams());
    MeshOffice* office = deps().office;
    const Conn& c = *this->conn_;
    MeshCallerInfo caller{c.subject(), c.principal ? c.principal->key_id : "", c.admin(), c.can_submit_tasks,
                          c.hourly_task_quota};
    const uint16_t method = method_;
    using Msg = std::shared_ptr<capnp::MallocMessageBuilder>;
    return this->template Job<Msg>(
        context,
        [office, caller, method, params]() -> Result<Msg> {
          return office->standby_hooks().forward(caller, method,
                                                 params->getRoot<capnp::AnyPointer>().asReader());
        },
        [context](auto, Msg& reply) mutable { context.setResults(reply->getRoot<Results>().asReader()); });
  }

  // Set by Mesh sessions of the daemon's own callers: a standby serves
  // them (reads here, the rest through the leader). `method_` is the
  // ordinal of the call being dispatched.
  bool forwards_ = false;
  uint16_t method_ = 0;
  // Job for work that ends in a task: the reply carries it.
  template <typename Context>
  kj::Promise<void> TaskJob(Context context, std::function<Result<TaskInfo>()> work) {
    return this->template Job<TaskInfo>(context, std::move(work),
                                        [](auto results, TaskInfo& t) { FillTask(results.initTask(), t); });
  }

  // Each checks `extra` first (the node's credential on MeshNode).
  template <typename Context>
  kj::Promise<void> DoStart(Context context, std::function<Status()> extra) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken();
      return this->StatusJob(context, [d, id, token, extra] {
        NEXUS_RETURN_IF_ERROR(extra());
        return d->Start(id, token);
      });
    });
  }
  template <typename Context>
  kj::Promise<void> DoProgress(Context context, std::function<Status()> extra) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken(), progress = p.getProgress(),
                  checkpoint = p.getCheckpoint();
      return this->StatusJob(context, [=] {
        NEXUS_RETURN_IF_ERROR(extra());
        return d->Progress(id, token, progress, checkpoint);
      });
    });
  }
  template <typename Context>
  kj::Promise<void> DoExtend(Context context, std::function<Status()> extra) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken();
      double ttl = p.getTtlSeconds() > 0 ? p.getTtlSeconds() : 30;
      if (ttl > 86400) return Status::Error(EINVAL, "a lease extension is at most a day");
      return this->template Job<mesh::TimePoint>(
          context,
          [=]() -> Result<mesh::TimePoint> {
            NEXUS_RETURN_IF_ERROR(extra());
            return d->Extend(id, token, TtlOf(ttl));
          },
          [](auto results, mesh::TimePoint& t) { results.setLeaseExpiresNs(Ns(t)); });
    });
  }
  template <typename Context>
  kj::Promise<void> DoComplete(Context context, std::function<Status()> extra) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken();
      auto out = std::make_shared<mesh::TaskOutput>(OutputOf(p));
      return TaskJob(context, [=]() -> Result<TaskInfo> {
        NEXUS_RETURN_IF_ERROR(extra());
        return d->Complete(id, token, std::move(*out));
      });
    });
  }
  template <typename Context>
  kj::Promise<void> DoFail(Context context, std::function<Status()> extra) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken(), reason = p.getReason();
      return TaskJob(context, [=]() -> Result<TaskInfo> {
        NEXUS_RETURN_IF_ERROR(extra());
        return d->Fail(id, token, reason);
      });
    });
  }
};

const std::function<Status()> kNoCheck = [] { return Status::Ok(); };

// The reply of MeshNode.trustSet: the keys the mesh vouches for and the
// revocations nodes reported.
template <typename Results>
void FillTrustSet(const MeshOffice& office, Results r) {
  auto keys = office.TrustedKeys();
  auto out = r.initKeys(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    out[i].setNodeId(keys[i].node_id);
    out[i].setNode(keys[i].node);
    out[i].setPublicKey(AsBytes(keys[i].public_key));
    out[i].setKeyId(KeyIdOf(keys[i].public_key));
  }
  auto revocations = office.keys() ? office.keys()->Revocations() : std::vector<mesh::AgentRevocation>();
  auto rout = r.initRevocations(revocations.size());
  for (size_t i = 0; i < revocations.size(); ++i) {
    rout[i].setAgentId(revocations[i].agent_id);
    rout[i].setNode(revocations[i].node);
    rout[i].setRevokedBeforeNs(revocations[i].revoked_before_ns);
  }
}

// The reply of joining a mesh or rotating the node credential.
const auto kFillMember = [](auto results, MeshMemberInfo& i) {
  results.setNodeId(i.node_id);
  results.setFingerprint(i.fingerprint);
};

// ---------------------------------------------------------------- Mesh

class MeshImpl final : public LeaseCalls<rpc::Mesh> {
 public:
  // `forwarded`: the session a leader opened for a standby's caller
  // (meshForward); it never forwards again, and serves no membership calls.
  MeshImpl(ConnPtr conn, bool forwarded) : LeaseCalls(std::move(conn)), forwarded_(forwarded) {
    forwards_ = !forwarded;
  }

  capnp::Capability::Server::DispatchCallResult dispatchCall(
      uint64_t interface_id, uint16_t method_id,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> context) override {
    method_ = method_id;  // read in the method's synchronous part
    return LeaseCalls::dispatchCall(interface_id, method_id, context);
  }

  kj::Promise<void> status(StatusContext context) override {
    return Serve(context, [&](auto, auto r) -> Reply {
      Director* d = director();
      MeshMembership* member = deps().membership;
      r.setDirector(d != nullptr);
      if (d) {
        r.setNodes(static_cast<uint32_t>(d->ListNodes().size()));
        r.setTasks(static_cast<uint32_t>(d->ListTasks().size()));
        r.setDirectorAddress(deps().office->address());
        MeshControlInfo c = deps().office->Control();
        r.setStore(c.store);
        r.setRole(c.role);
        r.setLeader(c.leader);
        auto sb = r.initStandbys(static_cast<unsigned>(c.standbys.size()));
        for (size_t i = 0; i < c.standbys.size(); ++i)
          sb.set(static_cast<unsigned>(i), capnp::Text::Reader(c.standbys[i].data(), c.standbys[i].size()));
        r.setEtcdJson(c.etcd_json);
      } else if (member) {
        r.setRole("node");
      }
      if (member) {
        MeshMemberInfo i = member->Current();
        r.setWorker(i.worker);
        r.setNodeId(i.node_id);
        r.setFingerprint(i.fingerprint);
        if (i.joined) r.setDirectorAddress(i.director);
      }
      // What it could tell is in the reply even when there is no mesh.
      return d || member ? Status::Ok() : Require(ctx(), Feature::kMesh);
    });
  }

  kj::Promise<void> nodes(NodesContext context) override {
    using Nodes = std::vector<mesh::NodeInfo>;
    return ReadDirector<Nodes>(
        context, [](Director* d) -> Result<Nodes> { return d->ListNodes(); },
        [](auto r, Nodes& nodes) {
          auto out = r.initNodes(nodes.size());
          for (size_t i = 0; i < nodes.size(); ++i) FillNode(out[i], nodes[i]);
        });
  }

  kj::Promise<void> trust(TrustContext context) override {
    bool trusted = context.getParams().getTrusted();
    return Fleet(context, [trusted](Director* d, const std::string& n) {
      return d->SetTrust(n, trusted ? mesh::TrustTier::kTrusted : mesh::TrustTier::kUntrusted);
    });
  }
  kj::Promise<void> revoke(RevokeContext context) override {
    return Fleet(context, [](Director* d, const std::string& n) { return d->Revoke(n); });
  }
  kj::Promise<void> admit(AdmitContext context) override {
    return Fleet(context, [](Director* d, const std::string& n) { return d->Admit(n); });
  }
  kj::Promise<void> drain(DrainContext context) override {
    return Fleet(context, [](Director* d, const std::string& n) { return d->Drain(n); });
  }
  kj::Promise<void> setNodeSubmit(SetNodeSubmitContext context) override {
    bool allowed = context.getParams().getAllowed();
    uint32_t quota = context.getParams().getHourlyQuota();
    if (quota > INT32_MAX) quota = INT32_MAX;
    return Fleet(context, [allowed, quota](Director* d, const std::string& n) {
      return d->SetNodeSubmit(n, allowed, static_cast<int>(quota));
    });
  }

  kj::Promise<void> createTask(CreateTaskContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(mesh::TaskSpec spec, SpecOf(p.getSpec()));
      mesh::Submitter who;
      who.key_id = conn_->principal ? conn_->principal->key_id : "";
      who.scopes = conn_->can_submit_tasks ? mesh::Submitter::kScopeSubmitTasks : 0;
      who.hourly_quota = conn_->hourly_task_quota;
      return TaskJob(context, [d, spec, who] { return d->Create(spec, who); });
    });
  }

  kj::Promise<void> listTasks(ListTasksContext context) override {
    using Tasks = std::vector<TaskInfo>;
    return ReadDirector<Tasks>(
        context, [](Director* d) -> Result<Tasks> { return d->ListTasks(); },
        [](auto r, Tasks& tasks) { FillTasks(r.initTasks(tasks.size()), tasks); });
  }

  kj::Promise<void> getTask(GetTaskContext context) override {
    std::string id = context.getParams().getId();
    return ReadDirector<TaskInfo>(
        context, [id](Director* d) { return d->GetTask(id); },
        [](auto r, TaskInfo& t) { FillTask(r.initTask(), t); });
  }

  kj::Promise<void> schedule(ScheduleContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("scheduling"));
      std::string id = p.getId();
      MeshOffice* office = deps().office;
      return Job<mesh::ScheduleSummary>(
          context,
          [d, id, office]() -> Result<mesh::ScheduleSummary> {
            mesh::ScheduleSummary sum;
            if (id.empty()) {
              NEXUS_ASSIGN_OR_RETURN(sum, d->ScheduleAll());
            } else {
              NEXUS_ASSIGN_OR_RETURN(TaskInfo t, d->Schedule(id));
              if (t.state == mesh::TaskState::kAssigned) {
                sum.assigned = 1;
              } else {
                sum.pending = 1;  // the placement carries its reason
              }
              sum.placements.push_back(std::move(t));
            }
            std::vector<TaskInfo> placed;
            for (const auto& t : sum.placements)
              if (t.state == mesh::TaskState::kAssigned) placed.push_back(t);
            office->Deliver(placed);
            return sum;
          },
          [](auto results, mesh::ScheduleSummary& s) {
            FillTasks(results.initPlacements(s.placements.size()), s.placements);
            results.setPending(static_cast<uint32_t>(s.pending));
          });
    });
  }

  kj::Promise<void> start(StartContext context) override { return DoStart(context, kNoCheck); }
  kj::Promise<void> progress(ProgressContext context) override { return DoProgress(context, kNoCheck); }
  kj::Promise<void> extend(ExtendContext context) override { return DoExtend(context, kNoCheck); }
  kj::Promise<void> complete(CompleteContext context) override { return DoComplete(context, kNoCheck); }
  kj::Promise<void> fail(FailContext context) override { return DoFail(context, kNoCheck); }

  kj::Promise<void> migrate(MigrateContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), token = p.getToken(), checkpoint = p.getCheckpoint();
      MeshOffice* office = deps().office;
      return TaskJob(context, [=]() -> Result<TaskInfo> {
        auto t = d->Migrate(id, token, checkpoint);
        if (t.ok() && t->state == mesh::TaskState::kAssigned) office->Deliver({*t});
        return t;
      });
    });
  }

  kj::Promise<void> retry(RetryContext context) override {
    return Operator("retrying a task", context,
                    [](Director* d, const std::string& id) { return d->Retry(id); });
  }
  kj::Promise<void> cancel(CancelContext context) override {
    return Operator("cancelling a task", context,
                    [](Director* d, const std::string& id) { return d->Cancel(id); });
  }

  kj::Promise<void> result(ResultContext context) override {
    std::string id = context.getParams().getId();
    return ReadDirector<mesh::TaskResult>(
        context, [id](Director* d) { return d->GetResult(id); },
        [](auto r, mesh::TaskResult& res) {
          auto b = r.initResult();
          b.setTaskId(res.task_id);
          b.setExitCode(res.exit_code);
          b.setCompletedAtNs(Ns(res.completed_at));
          auto files = b.initFiles(res.files.size());
          for (size_t i = 0; i < res.files.size(); ++i) {
            files[i].setName(res.files[i].name);
            files[i].setSize(res.files[i].size);
            files[i].setSha256(res.files[i].sha256);
          }
          auto missing = b.initMissing(res.missing.size());
          for (size_t i = 0; i < res.missing.size(); ++i) {
            missing[i].setPath(res.missing[i].first);
            missing[i].setReason(res.missing[i].second);
          }
        });
  }

  kj::Promise<void> resultFile(ResultFileContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      std::string id = p.getId(), name = p.getName();
      struct File {
        std::string content, sha256;
      };
      return Job<File>(
          context,
          [d, id, name]() -> Result<File> {
            NEXUS_ASSIGN_OR_RETURN(auto res, d->GetResult(id));
            for (const auto& f : res.files) {
              if (f.name != name) continue;
              if (f.size > (48u << 20))
                return Status::Error(EFBIG, name + " is larger than one reply (48 MiB)");
              NEXUS_ASSIGN_OR_RETURN(std::string content, d->ReadResultFile(id, name));
              return File{std::move(content), f.sha256};
            }
            return Status::Error(ENOENT, "task " + id + " has no result file " + name);
          },
          [](auto results, File& f) {
            results.setContent(AsBytes(f.content));
            results.setSha256(f.sha256);
          });
    });
  }

  kj::Promise<void> join(JoinContext context) override {
    return Serve(context, Feature::kMesh, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(Local("joining a mesh"));
      NEXUS_RETURN_IF_ERROR(RequireAdmin("joining a mesh"));
      MeshMembership* member = deps().membership;
      std::string director = p.getDirector(), key = p.getRegistrationKey(), ca = p.getCaFile(),
                  name = p.getName();
      int64_t capacity = p.getCapacity();
      if (name.empty()) {
        char host[256] = "node";
        ::gethostname(host, sizeof host - 1);
        name = host;
      }
      return Job<MeshMemberInfo>(
          context, [=]() { return member->Join(director, key, ca, name, capacity); }, kFillMember);
    });
  }

  kj::Promise<void> rotateCredential(RotateCredentialContext context) override {
    return Serve(context, Feature::kMesh, [&](auto, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(Local("rotating the node credential"));
      NEXUS_RETURN_IF_ERROR(RequireAdmin("rotating the node credential"));
      MeshMembership* member = deps().membership;
      return Job<MeshMemberInfo>(
          context, [member]() { return member->RotateCredential(); }, kFillMember);
    });
  }

 private:
  // This daemon's own membership is not for a forwarded session.
  Status Local(std::string_view what) const {
    if (!forwarded_) return Status::Ok();
    return Status::Error(EPERM, std::string(what) + " is not done through another director");
  }

  const bool forwarded_;

  template <typename Context, typename Fn>
  kj::Promise<void> Fleet(Context context, Fn fn) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("changing the fleet"));
      std::string node = p.getNode();
      return StatusJob(context, [d, node, fn] { return fn(d, node); });
    });
  }

  template <typename Context, typename Fn>
  kj::Promise<void> Operator(const std::string& what, Context context, Fn fn) {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin(what));
      std::string id = p.getId();
      return TaskJob(context, [d, id, fn] { return fn(d, id); });
    });
  }
};

// ---------------------------------------------------------------- MeshNode

class MeshNodeImpl final : public LeaseCalls<rpc::MeshNode> {
 public:
  MeshNodeImpl(ConnPtr conn, std::string node_id, std::string credential)
      : LeaseCalls(std::move(conn)), node_id_(std::move(node_id)), credential_(std::move(credential)) {}

  kj::Promise<void> heartbeat(HeartbeatContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      int64_t depth = p.getQueueDepth(), free = p.getFreeCapacity();
      std::string id = node_id_, cred = credential_, key(AsView(p.getNodeKey()));
      auto zones = ZonesOf(p.getReportsZones(), p.getZones());
      mesh::KeyDirectory* keys = deps().office->keys();
      return Job<mesh::NodeInfo>(
          context,
          [=]() -> Result<mesh::NodeInfo> {
            NEXUS_RETURN_IF_ERROR(d->Heartbeat(id, cred, depth, free, zones));
            NEXUS_ASSIGN_OR_RETURN(mesh::NodeInfo n, d->GetNode(id));
            // A key the directory refuses costs the node the mesh's trust
            // in its passports, not its liveness.
            if (!key.empty() && keys)
              if (Status st = keys->SetNodeKey(id, n.name, key); !st.ok())
                spdlog::warn("mesh: node {}'s passport key: {}", id, st.ToString());
            return n;
          },
          [](auto results, mesh::NodeInfo& n) {
            results.setState(std::string(mesh::Name(n.state)));
            results.setTrust(std::string(mesh::Name(n.trust)));
          });
    });
  }

  kj::Promise<void> leave(LeaveContext context) override {
    return ServeDirector(context, [&](Director* d, auto, auto) -> Reply {
      std::string id = node_id_, cred = credential_;
      return StatusJob(context, [=] { return d->Leave(id, cred); });
    });
  }

  kj::Promise<void> rotateCredential(RotateCredentialContext context) override {
    return ServeDirector(context, [&](Director* d, auto, auto) -> Reply {
      std::string id = node_id_;
      auto check = Check();
      return Job<mesh::NodeCredential>(
          context,
          [=]() -> Result<mesh::NodeCredential> {
            NEXUS_RETURN_IF_ERROR(check());
            return d->RotateCredential(id);
          },
          [this](auto results, mesh::NodeCredential& c) {
            credential_ = c.credential;  // this session goes on with the new one
            FillCredential(results.initCredential(), c);
          });
    });
  }

  kj::Promise<void> claim(ClaimContext context) override {
    return ServeDirector(context, [&](Director* d, auto, auto r) -> Reply {
      NEXUS_RETURN_IF_ERROR(d->Authenticate(node_id_, credential_));
      auto tasks = deps().office->Claim(node_id_);
      FillTasks(r.initTasks(tasks.size()), tasks);
      return Status::Ok();
    });
  }

  kj::Promise<void> reportRevocations(ReportRevocationsContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      mesh::KeyDirectory* keys = deps().office->keys();
      if (!keys) return Status::Error(ENOSYS, "this director keeps no passport key directory");
      std::vector<mesh::AgentRevocation> revocations;
      for (auto r : p.getRevocations())
        revocations.push_back({std::string(r.getAgentId()), "", r.getRevokedBeforeNs()});
      std::string id = node_id_;
      auto check = Check();
      return StatusJob(context, [=]() mutable {
        NEXUS_RETURN_IF_ERROR(check());
        // Recorded under the reporting node's own name: a node speaks
        // only for the passports it issued.
        NEXUS_ASSIGN_OR_RETURN(mesh::NodeInfo n, d->GetNode(id));
        for (auto& r : revocations) {
          r.node = n.name;
          NEXUS_RETURN_IF_ERROR(keys->Revoke(r));
        }
        return Status::Ok();
      });
    });
  }

  kj::Promise<void> trustSet(TrustSetContext context) override {
    return ServeDirector(context, [&](Director* d, auto, auto r) -> Reply {
      NEXUS_RETURN_IF_ERROR(d->Authenticate(node_id_, credential_));
      FillTrustSet(*deps().office, r);
      return Status::Ok();
    });
  }

  kj::Promise<void> submitTask(SubmitTaskContext context) override {
    return ServeDirector(context, [&](Director* d, auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(mesh::TaskSpec spec, SpecOf(p.getSpec()));
      std::string id = node_id_, cred = credential_, on_behalf = p.getOnBehalfOf();
      return TaskJob(context, [=]() -> Result<TaskInfo> {
        auto t = d->CreateFromNode(id, cred, spec, on_behalf);
        if (t.ok()) spdlog::info("mesh: node {} submitted {} for {}", id, t->id, on_behalf);
        return t;
      });
    });
  }

  kj::Promise<void> start(StartContext context) override { return DoStart(context, Check()); }
  kj::Promise<void> progress(ProgressContext context) override { return DoProgress(context, Check()); }
  kj::Promise<void> extend(ExtendContext context) override { return DoExtend(context, Check()); }
  kj::Promise<void> complete(CompleteContext context) override { return DoComplete(context, Check()); }
  kj::Promise<void> fail(FailContext context) override { return DoFail(context, Check()); }

 private:
  // The check of the credential this session presents, for a job to run
  // off the loop before its work.
  std::function<Status()> Check() {
    Director* d = director();
    std::string id = node_id_, cred = credential_;
    return [d, id, cred] { return d->Authenticate(id, cred); };
  }

  std::string node_id_;
  std::string credential_;
};

// A forwarded caller's connection: it owns the principal it acts as.
struct ForwardedConn : Conn {
  Principal own;
};

// A connection of its own for the node-facing calls: not authenticated by
// an API key, never an admin, no file access.
ConnPtr NodeConn(ServiceContext& ctx, const PeerInfo& peer, const std::string& who) {
  auto c = std::make_shared<Conn>();
  c->ctx = &ctx;
  c->peer = peer;
  c->authenticated = true;
  c->node = who;
  return c;
}

}  // namespace

kj::Own<rpc::Mesh::Server> MakeMeshService(ConnPtr conn) {
  return kj::heap<MeshImpl>(std::move(conn), /*forwarded=*/false);
}

Reply MeshForward(ServiceContext& ctx, Call& call, const PeerInfo& peer,
                  capnp::CallContext<rpc::Nexus::MeshForwardParams, rpc::Nexus::MeshForwardResults> context) {
  auto p = context.getParams();
  std::string director = p.getDirector(), credential = p.getCredential();
  auto c = p.getCaller();
  // The caller as the standby authenticated it: the leader decides with
  // its rights, not the standby's.
  auto conn = std::make_shared<ForwardedConn>();
  conn->ctx = &ctx;
  conn->peer = peer;
  conn->authenticated = true;
  conn->own.subject = conn->own.account = c.getSubject();
  conn->own.name = c.getSubject();
  conn->own.admin = c.getAdmin();
  conn->own.key_id = c.getKeyId();
  conn->own.how = conn->own.key_id.empty() ? AuthMethod::kPeerCredentials : AuthMethod::kApiKey;
  conn->principal = &conn->own;
  conn->can_submit_tasks = c.getCanSubmitTasks();
  conn->hourly_task_quota = c.getHourlyTaskQuota();
  if (conn->own.subject.empty()) return Status::Error(EINVAL, "a forwarded call names its caller");
  NEXUS_RETURN_IF_ERROR(ctx.mesh.office->Gate());
  auto verify = ctx.mesh.office->standby_hooks().verify_peer;
  if (!verify)
    return Status::Error(EACCES, "this director takes no forwarded calls (one director, no election)");
  return OffLoopJob<bool>(
      ctx, call, context,
      [=]() -> Result<bool> {
        Status st = verify(director, credential);
        if (!st.ok()) {
          spdlog::warn("mesh: forwarded session from {} ({}) refused: {}", director, peer.address,
                       st.message());
          return st;
        }
        return true;
      },
      [conn](auto results, bool&) { results.setMesh(kj::heap<MeshImpl>(conn, /*forwarded=*/true)); });
}

Reply MeshRegister(
    ServiceContext& ctx, Call& call, const PeerInfo& peer,
    capnp::CallContext<rpc::Nexus::MeshRegisterParams, rpc::Nexus::MeshRegisterResults> context) {
  auto p = context.getParams();
  std::string key = p.getRegistrationKey(), name = p.getName(), address = p.getAddress();
  int64_t capacity = p.getCapacity();
  std::string node_key(AsView(p.getNodeKey()));
  auto zones = ZonesOf(p.getReportsZones(), p.getZones());
  if (Status st = ctx.mesh.office->Gate(); !st.ok()) return st;
  Director* d = ctx.mesh.office->director();
  mesh::KeyDirectory* keys = ctx.mesh.office->keys();
  std::string from = peer.address;
  return OffLoopJob<mesh::NodeCredential>(
      ctx, call, context,
      [=]() -> Result<mesh::NodeCredential> {
        auto c = d->Register(key, name, address, capacity, zones);
        if (c.ok()) {
          spdlog::info("mesh: node {} ({} at {}) joined from {}, {}", c->node_id, name, address, from,
                       c->fingerprint);
          // The next heartbeat presents the key again: a failure here
          // costs a moment of trust, not the registration.
          if (!node_key.empty() && keys)
            if (Status st = keys->SetNodeKey(c->node_id, name, node_key); !st.ok())
              spdlog::warn("mesh: node {}'s passport key: {}", c->node_id, st.ToString());
        } else {
          spdlog::warn("mesh: registration of '{}' from {} refused: {}", name, from, c.status().message());
        }
        return c;
      },
      [](auto results, mesh::NodeCredential& c) { FillCredential(results.initCredential(), c); });
}

Reply MeshNodeSession(ServiceContext& ctx, const PeerInfo& peer,
                      capnp::CallContext<rpc::Nexus::MeshNodeParams, rpc::Nexus::MeshNodeResults> context) {
  auto p = context.getParams();
  std::string id = p.getNodeId(), cred = p.getCredential();
  // A standby's view of the fleet is not current: the node goes to the leader.
  NEXUS_RETURN_IF_ERROR(ctx.mesh.office->Gate());
  NEXUS_RETURN_IF_ERROR(ctx.mesh.office->director()->Authenticate(id, cred));
  context.getResults().setNode(kj::heap<MeshNodeImpl>(NodeConn(ctx, peer, "node:" + id), id, cred));
  return Status::Ok();
}

}  // namespace nexus
