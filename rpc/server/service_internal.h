// What the control socket's service implementations share: the state of
// one connection, the accounting of one call, and running slow work off the
// event-loop thread. Only rpc/server/*_service.cc and rpc/server/service.cc include this.
//
// Threading: Conn and Call live on the event-loop thread. RunOffLoop runs
// its work on a BackgroundJobs thread and resolves on the loop.
#pragma once

#include <kj/async.h>
#include <kj/debug.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fs/access_policy.h"
#include "rpc/errors.h"
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
  KeyScope scope = KeyScope::kUser;
  bool can_submit_tasks = true;  // the key's mesh entitlements (no key: all)
  int hourly_task_quota = 0;
  // The Caller its file calls carry: the principal, its uid/gid, the
  // peer's pid.
  Caller actor;
  uint32_t in_flight = 0;

  // The subject its checks, audit records and versions use.
  const std::string& subject() const { return principal ? principal->subject : node; }
  // The account that authenticated (the key's user for an admin key).
  const std::string& account() const { return principal ? principal->account : node; }
  bool admin() const { return principal && principal->admin; }
};
using ConnPtr = std::shared_ptr<Conn>;

// Accounting of one RPC: metrics, the in-flight limit, and error marking.
// A call that completes asynchronously keeps its Call alive until the
// promise resolves (kj::heap<Call> attached to the promise), so the latency
// and the in-flight count cover the whole call.
class Call {
 public:
  Call(Conn& c, const char* method)
      : conn_(c), timer_(c.ctx->metrics ? c.ctx->metrics->Find(method) : nullptr) {
    if (conn_.in_flight >= conn_.ctx->limits.max_calls_in_flight)
      KJ_FAIL_REQUIRE("too many calls in flight on this connection");
    ++conn_.in_flight;
  }
  ~Call() { --conn_.in_flight; }
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

 private:
  Conn& conn_;
  OpTimer timer_;
};

// Runs `work` on a BackgroundJobs thread; the promise resolves on the
// calling (event-loop) thread once it returned. `ctx.jobs` must be set.
kj::Promise<void> RunOffLoop(ServiceContext& ctx, std::function<void()> work);

// One call that completes asynchronously: its connection and its Call stay
// alive until the reply (attach it to the promise). The connection is
// declared first so it outlives the Call that refers to it.
struct InFlight {
  InFlight(ConnPtr c, const char* method) : conn(std::move(c)), call(*conn, method) {}
  ConnPtr conn;
  Call call;
};

// Runs `work` (returning Result<T>) off the loop (inline when `ctx.jobs` is
// unset: a bare test context), then, on the loop, `fill(results, value)` or
// the error into the reply of `context`. `work` must not touch capnp objects.
template <typename T, typename Context, typename Work, typename Fill>
kj::Promise<void> OffLoopJob(ServiceContext& ctx, kj::Own<InFlight> op, Context context,
                             Work work, Fill fill) {
  auto out = std::make_shared<std::optional<Result<T>>>();
  auto run = [out, work = std::move(work)]() mutable { out->emplace(work()); };
  kj::Promise<void> done = kj::READY_NOW;
  if (ctx.jobs) {
    done = RunOffLoop(ctx, run);
  } else {
    run();
  }
  InFlight* raw = op.get();
  return done
      .then([raw, out, context, fill = std::move(fill)]() mutable {
        Result<T>& r = **out;
        auto results = context.getResults();
        if (raw->call.Fail(results, r.status())) return;
        fill(results, *r);
      })
      .attach(kj::mv(op));
}

// The sub-interfaces served from their own files.
// The access policy's answer for a session on a path it names by text (which
// may no longer exist, e.g. a deleted file's history): Ok, ENOENT when the
// session may not see it, EACCES when it sees it but lacks `need`. Ok when
// the daemon has no policy or the session is unrestricted.
Status PolicyAllows(const Conn& conn, Need need, const std::string& path, bool is_dir);

kj::Own<rpc::Versions::Server> MakeVersionsService(ConnPtr conn);  // versions_service.cc
kj::Own<rpc::Search::Server> MakeSearchService(ConnPtr conn);      // search_service.cc
kj::Own<rpc::Permissions::Server> MakePermissionsService(ConnPtr conn);  // permissions_service.cc
kj::Own<rpc::Mounts::Server> MakeMountsService(ConnPtr conn);            // permissions_service.cc
kj::Own<rpc::Mesh::Server> MakeMeshService(ConnPtr conn);                // mesh_service.cc
// Nexus.meshRegister / meshNode: a node joining, a joined node's session.
kj::Promise<void> MeshRegister(ServiceContext& ctx, const PeerInfo& peer,
                               capnp::CallContext<rpc::Nexus::MeshRegisterParams, rpc::Nexus::MeshRegisterResults> context);  // mesh_service.cc
kj::Promise<void> MeshNodeSession(ServiceContext& ctx, const PeerInfo& peer,
                                  capnp::CallContext<rpc::Nexus::MeshNodeParams, rpc::Nexus::MeshNodeResults> context);   // mesh_service.cc
std::vector<std::string> VersionsMethodNames();
std::vector<std::string> SearchMethodNames();
std::vector<std::string> PermissionsMethodNames();  // permissions.* and mounts.*
std::vector<std::string> MeshMethodNames();         // mesh.*, meshnode.*

}  // namespace nexus
