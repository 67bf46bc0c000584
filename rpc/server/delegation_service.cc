// The Delegations interface of the control socket (rpc/nexus.capnp): the
// delegation table (perms/delegation.h) for the session's principal.
//
// Permissions: the table decides who may create, revoke and read; the
// caller is the session's subject, an admin when the session is one, and
// the owner of an agent is the agent registry's record (no registry: no
// owners, so only the subject itself and admins act for it).
//
// Threading: the methods run on the event-loop thread. Create and revoke
// commit to SQLite, so they run on a BackgroundJobs thread (Job) and fill
// their reply back on the loop; show, list and chain read memory in place.
#include <string>
#include <vector>

#include "perms/agent_registry.h"
#include "perms/delegation.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

void FillDelegation(rpc::Delegation::Builder b, const DelegationRecord& r, UnixNanos now) {
  b.setId(r.id);
  b.setFrom(r.from);
  b.setTo(r.to);
  auto scope = b.initScope(r.scope.size());
  for (size_t i = 0; i < r.scope.size(); ++i) scope.set(i, r.scope[i]);
  b.setMode(std::string(ToString(r.mode)));
  b.setRelation(r.relation == Relation::kNone ? "" : std::string(ToString(r.relation)));
  auto readonly = b.initReadonly(r.readonly.size());
  for (size_t i = 0; i < r.readonly.size(); ++i) readonly.set(i, r.readonly[i]);
  b.setCreatedAtNs(r.created_at);
  b.setExpiresAtNs(r.expires_at == kNever ? 0 : r.expires_at);
  b.setMaxDepth(r.max_depth);
  b.setDepth(r.depth);
  b.setParent(r.parent);
  b.setCreatedBy(r.created_by);
  b.setRevokedAtNs(r.revoked_at);
  b.setRevokedBy(r.revoked_by);
  b.setState(std::string(r.State(now)));
  auto snapshot = b.initSnapshot(r.snapshot.size());
  for (size_t i = 0; i < r.snapshot.size(); ++i) {
    snapshot[i].setPath(r.snapshot[i].path);
    snapshot[i].setPermission(std::string(ToString(r.snapshot[i].permission)));
  }
}

template <typename List>
std::vector<std::string> Strings(List list) {
  std::vector<std::string> out;
  for (auto s : list) out.emplace_back(s);
  return out;
}

class DelegationsImpl final : public Service<rpc::Delegations> {
 public:
  explicit DelegationsImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> create(CreateContext context) override {
    return Serve(context, Feature::kDelegation, [&](auto p, auto) -> Reply {
      DelegationRequest req;
      req.from = p.getFrom();
      req.to = p.getTo();
      req.scope = Strings(p.getScope());
      if (p.getMode().size() > 0) {
        NEXUS_ASSIGN_OR_RETURN(req.mode, ParseDelegationMode(std::string(p.getMode())));
      }
      req.relation = p.getRelation();
      req.readonly = Strings(p.getReadonly());
      if (p.getHasTtl()) req.ttl_seconds = p.getTtlSeconds();
      req.max_depth = p.getMaxDepth();
      DelegationTable* t = table();
      return Job<DelegationRecord>(
          context, [t, req = std::move(req), caller = Caller()]() { return t->Create(caller, req); },
          [t](auto results, DelegationRecord& r) { FillDelegation(results.initDelegation(), r, t->Now()); });
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kDelegation, [&](auto p, auto results) -> Reply {
      DelegationFilter filter;
      if (p.getFrom().size() > 0) filter.from = p.getFrom();
      if (p.getTo().size() > 0) filter.to = p.getTo();
      NEXUS_ASSIGN_OR_RETURN(std::vector<DelegationRecord> list, table()->List(Caller(), filter));
      Fill(results.initDelegations(list.size()), list);
      return Status::Ok();
    });
  }

  kj::Promise<void> show(ShowContext context) override {
    return Serve(context, Feature::kDelegation, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(DelegationRecord r, table()->Get(Caller(), std::string(p.getId())));
      FillDelegation(results.initDelegation(), r, table()->Now());
      return Status::Ok();
    });
  }

  kj::Promise<void> chain(ChainContext context) override {
    return Serve(context, Feature::kDelegation, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(std::vector<DelegationRecord> list,
                             table()->Chain(Caller(), std::string(p.getId())));
      Fill(results.initDelegations(list.size()), list);
      return Status::Ok();
    });
  }

  kj::Promise<void> revoke(RevokeContext context) override {
    return Serve(context, Feature::kDelegation, [&](auto p, auto) -> Reply {
      DelegationTable* t = table();
      return Job<std::vector<std::string>>(
          context, [t, id = std::string(p.getId()), caller = Caller()]() { return t->Revoke(caller, id); },
          [](auto results, std::vector<std::string>& ids) {
            auto out = results.initRevoked(ids.size());
            for (size_t i = 0; i < ids.size(); ++i) out.set(i, ids[i]);
          });
    });
  }

 private:
  DelegationTable* table() const { return ctx().rebac.delegations; }

  DelegationCaller Caller() const {
    DelegationCaller c{conn_->subject(), conn_->admin(), nullptr};
    if (AgentRegistry* registry = ctx().agents.registry) {
      c.owner_of = [registry](std::string_view subject) -> std::optional<std::string> {
        if (!subject.starts_with("agent:")) return std::nullopt;
        auto record = registry->Get(subject);
        if (!record.ok()) return std::nullopt;
        return record->owner;
      };
    }
    return c;
  }

  void Fill(capnp::List<rpc::Delegation>::Builder out, const std::vector<DelegationRecord>& list) const {
    const UnixNanos now = table()->Now();
    for (size_t i = 0; i < list.size(); ++i) FillDelegation(out[i], list[i], now);
  }
};

}  // namespace

kj::Own<rpc::Delegations::Server> MakeDelegationsService(ConnPtr conn) {
  return kj::heap<DelegationsImpl>(std::move(conn));
}

}  // namespace nexus
