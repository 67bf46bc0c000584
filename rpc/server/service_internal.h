// What the control socket's service implementations share: the state of
// one connection, the accounting of one call, the Service<> base every
// capability derives from, the feature check, and running slow work off the
// event-loop thread. Only rpc/server/*_service.cc and rpc/server/service.cc
// include this.
//
// Threading: Conn, Call and every Service live on the event-loop thread.
// RunOffLoop runs its work on a BackgroundJobs thread and resolves on the
// loop.
#pragma once

#include <capnp/capability.h>
#include <capnp/schema.h>
#include <kj/async.h>
#include <kj/debug.h>
#include <kj/function.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fs/access_policy.h"
#include "rpc/errors.h"
#include "perms/key_store.h"
#include "perms/rebac_types.h"
#include "rpc/server/service.h"

namespace nexus {

// One authenticated (or not yet) connection's state, shared by every
// capability handed out on it.
struct Conn {
  ServiceContext* ctx;
  PeerInfo peer;
  bool authenticated = false;
  // Who the connection acts as, resolved once at authentication by
  // ctx->principals and valid as long as it; null before, and on a mesh
  // node's own connection (named by `node`).
  const Principal* principal = nullptr;
  std::string node;
  // The agent the connection acts as (authenticate's actAs): "agent:ID", or
  // empty. The principal then is the agent's (PrincipalTable::ForActingAs).
  std::string acting_as;
  KeyScope scope = KeyScope::kUser;
  bool can_submit_tasks = true;  // the key's mesh entitlements (no key: all)
  int hourly_task_quota = 0;
  // The Caller its file calls carry: the principal, its uid/gid, the
  // peer's pid; for a labelled session, its origin.
  Caller actor;
  // A labelled session's (Session.labelled) command and acting agent, which
  // actor.origin points to: what its changes record as their provenance.
  std::shared_ptr<const ProcessInfo> origin;
  uint32_t in_flight = 0;
  // A labelled session's copy points at the connection it was made from,
  // whose in-flight count and limit its calls share; null otherwise.
  std::shared_ptr<Conn> base;

  // The subject its checks, audit records and versions use.
  const std::string& subject() const { return principal ? principal->subject : node; }
  // Where this connection's calls are counted.
  Conn& counted() { return base ? *base : *this; }
  // The account that authenticated (the key's user for an admin key).
  const std::string& account() const { return principal ? principal->account : node; }
  bool admin() const { return principal && principal->admin; }
};
using ConnPtr = std::shared_ptr<Conn>;

// Accounting of one RPC: metrics, the connection's in-flight count, and
// error marking. Service<> creates one per dispatched call and keeps it
// (with the connection) alive until the call's promise resolves, so the
// latency and the in-flight count cover the whole call.
class Call {
 public:
  Call(Conn& c, std::string_view method)
      : conn_(c), timer_(c.ctx->metrics ? c.ctx->metrics->Find(method) : nullptr) {
    ++conn_.counted().in_flight;
  }
  ~Call() { --conn_.counted().in_flight; }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  // Fills `out` and counts the call as failed when `st` is not OK.
  void Check(rpc::Error::Builder out, const Status& st) {
    if (st.ok()) return;
    timer_.Fail();
    FillError(out, st);
  }
  template <typename Results>
  bool Fail(Results results, const Status& st) {
    if (st.ok()) return false;
    Check(results.initError(), st);
    return true;
  }
  void MarkFailed() { timer_.Fail(); }

 private:
  Conn& conn_;
  OpTimer timer_;
};

// A call that completes asynchronously: its connection and its Call stay
// alive until the reply (attached to the promise). The connection is
// declared first so it outlives the Call that refers to it.
struct InFlight {
  InFlight(ConnPtr c, std::string_view method) : conn(std::move(c)), call(*conn, method) {}
  ConnPtr conn;
  Call call;
};

// The optional parts of a daemon a method may need.
enum class Feature {
  kLocks,
  kVersions,
  kSearch,
  kRebac,
  kIdentities,
  kAudit,
  kMounts,
  kMeshDirector,
  kMesh,
  kAgents,
  kIpc,
  kDelegation,
  kOps,
  kForks,
  kSandboxes,
  kWorkflows
};
// OK when the daemon behind `ctx` has `f`; else Unavailable() naming it and
// why (rpc/errors.h).
Status Require(const ServiceContext& ctx, Feature f);

// The metric name of a method, "<interface in lower case>.<method>"
// ("files.write", "meshnode.claim"), read from the schema; empty for an
// interface the daemon does not serve.
const std::string& MethodName(uint64_t interface_id, uint16_t method_id);

// Runs `work` on a BackgroundJobs thread; the promise resolves on the
// calling (event-loop) thread once it returned. `ctx.jobs` must be set.
kj::Promise<void> RunOffLoop(ServiceContext& ctx, std::function<void()> work);

// Runs `work` (returning Result<T>) off the loop (inline when `ctx.jobs` is
// unset: a bare test context), then, on the loop, `fill(results, value)` or
// the error into the reply of `context`. `work` must not touch capnp
// objects. `call` must outlive the returned promise (Service<> sees to it).
template <typename T, typename Context, typename Work, typename Fill>
kj::Promise<void> OffLoopJob(ServiceContext& ctx, Call& call, Context context, Work work, Fill fill) {
  auto out = std::make_shared<std::optional<Result<T>>>();
  auto run = [out, work = std::move(work)]() mutable { out->emplace(work()); };
  kj::Promise<void> done = kj::READY_NOW;
  if (ctx.jobs) {
    done = RunOffLoop(ctx, run);
  } else {
    run();
  }
  return done.then([call = &call, out, context, fill = std::move(fill)]() mutable {
    Result<T>& r = **out;
    auto results = context.getResults();
    if (call->Fail(results, r.status())) return;
    fill(results, *r);
  });
}

// (done, total) of a long call, read by PumpProgress on the loop.
using ProgressFn = std::function<std::pair<uint64_t, uint64_t>()>;
// Sends `read()` to `sink` as `what` every 200 ms while it changed, until
// cancelled by the work it reports on (exclusiveJoin it with the work). A
// client that stops listening is no longer told; the work goes on.
kj::Promise<void> PumpProgress(kj::Timer& timer, rpc::Progress::Client sink, ProgressFn read,
                               std::string what, std::pair<uint64_t, uint64_t> sent = {0, 0});

// What Service<> does around every call (service.cc): the in-flight limit
// (refused with the typed `resourceExhausted` Error where the method's
// results have an `error`, else with an exception), then `dispatch` with
// `*current` pointing at the call's Call, whose life it ties to the reply.
capnp::Capability::Server::DispatchCallResult DispatchCounted(
    const ConnPtr& conn, capnp::InterfaceSchema schema, uint64_t interface_id, uint16_t method_id,
    capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> context, Call** current,
    kj::FunctionParam<capnp::Capability::Server::DispatchCallResult()> dispatch);

// What a method's body returns to Service<>::Serve: done now (OK, or the
// error its reply carries) or a promise that fills the reply later (Job,
// RunOffLoop). A Result's error converts through its status():
//   NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(text));
class Reply {
 public:
  Reply(Status st) : status_(std::move(st)) {}               // NOLINT: implicit by design
  Reply(kj::Promise<void> later) : later_(kj::mv(later)) {}  // NOLINT
  // A body that is done returns a Status (Status::Ok()), not READY_NOW.
  Reply(kj::_::Void) = delete;
  Reply(Reply&&) = default;
  Reply& operator=(Reply&&) = default;

  const Status& status() const { return status_; }
  // The promise when the reply comes later; null when done now.
  kj::Maybe<kj::Promise<void>> TakeLater() { return kj::mv(later_); }

 private:
  Status status_;
  kj::Maybe<kj::Promise<void>> later_;
};

// The base of every capability the socket serves, the bootstrap included:
// `class FilesImpl final : public Service<rpc::Files>`. It counts, limits
// and names each call from the schema, so a method is one Serve: its body
// parses, checks what it needs (RequireAdmin, access), does the work (in
// place, or off the loop with Job) and fills its reply.
template <typename Iface>
class Service : public Iface::Server {
 public:
  explicit Service(ConnPtr conn) : conn_(std::move(conn)) {}

  capnp::Capability::Server::DispatchCallResult dispatchCall(
      uint64_t interface_id, uint16_t method_id,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> context) override {
    return DispatchCounted(conn_, capnp::Schema::from<Iface>(), interface_id, method_id, context, &current_,
                           [&]() { return Iface::Server::dispatchCall(interface_id, method_id, context); });
  }

 protected:
  ServiceContext& ctx() const { return *conn_->ctx; }
  // The call being served; valid in a method's synchronous part (and, by
  // reference, until its promise resolves).
  Call& Current() {
    KJ_REQUIRE(current_ != nullptr, "no call in progress");
    return *current_;
  }
  // Serves one call: checks `feature` (when given), runs
  // `body(params, results) -> Reply` on the loop and ends the call with its
  // Reply: the error into the reply's `error` (or, for results without one,
  // an exception), or the promise that fills it later.
  template <typename Context, typename Body>
  kj::Promise<void> Serve(Context context, Body&& body) {
    return Serve(context, std::nullopt, std::forward<Body>(body));
  }
  template <typename Context, typename Body>
  kj::Promise<void> Serve(Context context, std::optional<Feature> feature, Body&& body) {
    auto results = context.getResults();
    Reply r = feature ? Reply(Require(ctx(), *feature)) : Reply(Status::Ok());
    if (r.status().ok()) r = body(context.getParams(), results);
    KJ_IF_MAYBE (later, r.TakeLater()) {
      return kj::mv(*later);
    }
    if (r.status().ok()) return kj::READY_NOW;
    if constexpr (requires { results.initError(); }) {
      Current().Check(results.initError(), r.status());
    } else {
      Current().MarkFailed();
      KJ_FAIL_REQUIRE(r.status().ToString());
    }
    return kj::READY_NOW;
  }
  // Serve for a method only admins may call: `feature` (when given), then
  // RequireAdmin(what), then `body`.
  template <typename Context, typename Body>
  kj::Promise<void> ServeAdmin(Context context, std::optional<Feature> feature, std::string_view what,
                               Body&& body) {
    return Serve(context, feature, [&](auto p, auto results) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin(what));
      return body(p, results);
    });
  }
  // EACCES "<what> is for admins only; <subject> is not an admin" unless the
  // session is an admin.
  Status RequireAdmin(std::string_view what) const {
    if (conn_->admin()) return Status::Ok();
    return Status::Error(EACCES,
                         std::string(what) + " is for admins only; " + conn_->subject() + " is not an admin");
  }
  // OffLoopJob for the current call.
  template <typename T, typename Context, typename Work, typename Fill>
  kj::Promise<void> Job(Context context, Work work, Fill fill) {
    return OffLoopJob<T>(ctx(), Current(), context, std::move(work), std::move(fill));
  }
  // Job for work (returning a Status) whose reply carries nothing but its
  // error.
  template <typename Context, typename Work>
  kj::Promise<void> StatusJob(Context context, Work work) {
    struct Done {};
    return Job<Done>(
        context,
        [work = std::move(work)]() mutable -> Result<Done> {
          NEXUS_RETURN_IF_ERROR(work());
          return Done{};
        },
        [](auto, Done&) {});
  }

  ConnPtr conn_;

 private:
  Call* current_ = nullptr;
};

// The sub-interfaces served from their own files.
// The access policy's answer for a session on a path it names by text (which
// may no longer exist, e.g. a deleted file's history): Ok, ENOENT when the
// session may not see it, EACCES when it sees it but lacks `need`. Ok when
// the daemon has no policy or the session is unrestricted.
Status PolicyAllows(const Conn& conn, Need need, const std::string& path, bool is_dir);

// A user or agent subject ("user:ID", "agent:ID", no wildcard), for
// identities, mounts and forks (permissions_service.cc).
Result<SubjectRef> PersonSubject(const std::string& text);
// The one resolution of an agent subject for identities, mounts and forks:
// with the agent registry on, "agent:ID" must be a registered agent the
// caller may act as (its owner or an admin; AgentRegistry::CheckActAs).
Status RegisteredAgent(const Conn& conn, const SubjectRef& s);

// An API key as the socket shows it; its secret only `with_secret` (the
// reply that creates it).
void FillKey(rpc::ApiKey::Builder b, const KeyRecord& k, bool with_secret);

kj::Own<rpc::Versions::Server> MakeVersionsService(ConnPtr conn);        // versions_service.cc
kj::Own<rpc::Search::Server> MakeSearchService(ConnPtr conn);            // search_service.cc
kj::Own<rpc::Permissions::Server> MakePermissionsService(ConnPtr conn);  // permissions_service.cc
kj::Own<rpc::Mounts::Server> MakeMountsService(ConnPtr conn);            // permissions_service.cc
kj::Own<rpc::Mesh::Server> MakeMeshService(ConnPtr conn);                // mesh_service.cc
kj::Own<rpc::Agents::Server> MakeAgentsService(ConnPtr conn);            // agents_service.cc
kj::Own<rpc::Ipc::Server> MakeIpcService(ConnPtr conn);                  // ipc_service.cc
kj::Own<rpc::Delegations::Server> MakeDelegationsService(ConnPtr conn);  // delegation_service.cc
kj::Own<rpc::Tools::Server> MakeToolsService(ConnPtr conn);              // tools_service.cc
kj::Own<rpc::Ops::Server> MakeOpsService(ConnPtr conn);                  // ops_service.cc
kj::Own<rpc::Forks::Server> MakeForksService(ConnPtr conn);              // forks_service.cc
kj::Own<rpc::Sandboxes::Server> MakeSandboxesService(ConnPtr conn);      // sandboxes_service.cc
kj::Own<rpc::Workflows::Server> MakeWorkflowsService(ConnPtr conn);      // workflows_service.cc
// Nexus.meshRegister / meshNode (mesh_service.cc): a node joining, a joined
// node's session. Bodies for Service<rpc::Nexus>::Serve, which has checked
// Feature::kMeshDirector; `call` is the bootstrap's current call.
Reply MeshRegister(
    ServiceContext& ctx, Call& call, const PeerInfo& peer,
    capnp::CallContext<rpc::Nexus::MeshRegisterParams, rpc::Nexus::MeshRegisterResults> context);
Reply MeshNodeSession(ServiceContext& ctx, const PeerInfo& peer,
                      capnp::CallContext<rpc::Nexus::MeshNodeParams, rpc::Nexus::MeshNodeResults> context);
Reply MeshForward(ServiceContext& ctx, Call& call, const PeerInfo& peer,
                  capnp::CallContext<rpc::Nexus::MeshForwardParams, rpc::Nexus::MeshForwardResults> context);

}  // namespace nexus
