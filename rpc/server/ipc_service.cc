// The Ipc interface of the control socket (rpc/nexus.capnp): the agents'
// mailboxes (agents/mailbox.h) for the session's Caller.
//
// Permissions: the mailbox acts as the session (its principal, uid and gid)
// through PathFiles, so the namespace's access policy decides every read,
// write and move exactly as on the mount.
//
// Threading: the methods run on the event-loop thread; every mailbox call
// (SQLite, file I/O) runs on a BackgroundJobs thread (Job). A waiting inbox
// holds no BackgroundJobs thread while it waits: the mailbox's watch fulfils
// a cross-thread promise when a message arrives, raced on the loop against
// the event loop's timer; then one more job lists the inbox.
#include <kj/async.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agents/mailbox.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

constexpr double kMaxWaitS = 3600;

void FillMessage(rpc::IpcMessage::Builder b, const Message& m) {
  b.setId(m.id);
  b.setTo(m.to);
  b.setFrom(m.from);
  b.setName(m.name);
  b.setTimeNs(m.time);
  b.setTtlSeconds(m.ttl_s);
  b.setExpiresAtNs(m.expires_at == kNever ? 0 : m.expires_at);
  b.setState(std::string(ToString(m.state)));
  b.setSeq(m.seq);
  b.setClientId(m.client_id);
  b.setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(m.body.data()), m.body.size()));
  b.setPath(m.Path());
}

template <typename Results>
void FillList(Results results, const std::vector<Message>& messages) {
  auto out = results.initMessages(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) FillMessage(out[i], messages[i]);
}

std::string BytesOf(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

class IpcImpl final : public Service<rpc::Ipc> {
 public:
  explicit IpcImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> send(SendContext context) override {
    return Serve(context, Feature::kIpc, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequirePrincipal());
      SendRequest req;
      req.to = p.getTo();
      req.body = BytesOf(p.getBody());
      req.from = p.getFrom();
      if (p.getHasTtl()) req.ttl_s = p.getTtlSeconds();
      req.client_id = p.getClientId();
      return Job<Message>(
          context,
          [mb = mailbox(), actor = conn_->actor, req = std::move(req)]() { return mb->Send(actor, req); },
          [](auto results, Message& m) { FillMessage(results.initMessage(), m); });
    });
  }

  kj::Promise<void> inbox(InboxContext context) override {
    return Serve(context, Feature::kIpc, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequirePrincipal());
      const double wait = p.getWaitSeconds();
      if (!(wait >= 0 && wait <= kMaxWaitS))
        return Status::Error(EINVAL, "--wait must be between 0 and 3600 seconds");
      std::string id = p.getId();
      Mailbox* mb = mailbox();
      auto list = [mb, id, actor = conn_->actor]() { return mb->Inbox(actor, id); };
      auto fill = [](auto results, std::vector<Message>& ms) { FillList(results, ms); };
      if (wait == 0 || ctx().timer == nullptr) return Job<std::vector<Message>>(context, list, fill);
      return WaitThenList(context, mb, id, wait, list, fill);
    });
  }

  kj::Promise<void> count(CountContext context) override {
    return Serve(context, Feature::kIpc, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequirePrincipal());
      return Job<uint64_t>(
          context,
          [mb = mailbox(), id = std::string(p.getId()), actor = conn_->actor]() {
            return mb->Count(actor, id);
          },
          [](auto results, uint64_t& n) { results.setCount(n); });
    });
  }

  kj::Promise<void> ack(AckContext context) override {
    return Serve(context, Feature::kIpc, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequirePrincipal());
      return Job<Message>(
          context,
          [mb = mailbox(), id = std::string(p.getId()), msg = std::string(p.getMessageId()),
           actor = conn_->actor]() { return mb->Ack(actor, id, msg); },
          [](auto results, Message& m) { FillMessage(results.initMessage(), m); });
    });
  }

  kj::Promise<void> dead(DeadContext context) override {
    return Serve(context, Feature::kIpc, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequirePrincipal());
      return Job<std::vector<Message>>(
          context,
          [mb = mailbox(), id = std::string(p.getId()), actor = conn_->actor]() {
            return mb->Dead(actor, id);
          },
          [](auto results, std::vector<Message>& ms) { FillList(results, ms); });
    });
  }

 private:
  Mailbox* mailbox() const { return ctx().agents.mailbox; }
  // A mesh node's session is no one's: it has no mailbox to use.
  Status RequirePrincipal() const {
    if (conn_->principal) return Status::Ok();
    return Status::Error(EACCES, "a mesh node's session has no mailbox");
  }

  // inbox with a wait: off the loop, a watch is set and then the inbox
  // listed (so a message arriving in between is in the listing or wakes
  // the watch); when that is empty, the loop waits for the watch or the
  // timer, whichever comes first, then lists once more.
  template <typename Context, typename List, typename Fill>
  kj::Promise<void> WaitThenList(Context context, Mailbox* mb, const std::string& id, double wait, List list,
                                 Fill fill) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    struct First {
      std::atomic<uint64_t> token{0};  // set by the job; read when the call ends (or is cancelled)
      std::optional<Result<std::vector<Message>>> listed;
    };
    auto first = std::make_shared<First>();
    Call* call = &Current();
    ServiceContext* sc = &ctx();
    auto unwatch = kj::defer([mb, first]() {
      if (uint64_t token = first->token.load()) mb->Unwatch(token);
    });
    return RunOffLoop(*sc,
                      [mb, id, first, fulfiller, list]() {
                        first->token = mb->Watch(id, [fulfiller]() { (*fulfiller)->fulfill(); });
                        first->listed.emplace(list());
                      })
        .then([sc, call, context, first, list, fill, wait,
               arrived = kj::mv(paf.promise)]() mutable -> kj::Promise<void> {
          Result<std::vector<Message>>& r = *first->listed;
          if (!r.ok() || !r->empty()) {
            auto results = context.getResults();
            if (!call->Fail(results, r.status())) fill(results, *r);
            return kj::READY_NOW;
          }
          auto timeout = sc->timer->afterDelay(static_cast<int64_t>(wait * 1e3) * kj::MILLISECONDS);
          return arrived.exclusiveJoin(kj::mv(timeout)).then([sc, call, context, list, fill]() mutable {
            return OffLoopJob<std::vector<Message>>(*sc, *call, context, list, fill);
          });
        })
        .attach(kj::mv(unwatch));
  }
};

}  // namespace

kj::Own<rpc::Ipc::Server> MakeIpcService(ConnPtr conn) { return kj::heap<IpcImpl>(std::move(conn)); }

}  // namespace nexus
