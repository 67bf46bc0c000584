// The Agents interface of the control socket (rpc/nexus.capnp): the agent
// registry (perms/agent_registry.h) for the session's principal.
//
// Permissions: the registry decides who may change what; the caller is the
// session's subject, an admin when the session is one. Reading (get, list)
// is open to every session: ids, names, owners and phases are what agents
// and their owners need to find each other.
//
// Threading: the methods run on the event-loop thread. Register, update,
// transition and delete commit to SQLite, so they run on a BackgroundJobs
// thread (Job) and fill their reply back on the loop; heartbeat, get and
// list touch memory only and answer in place.
#include <string>
#include <vector>

#include "perms/agent_registry.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

void FillRecord(rpc::AgentRecord::Builder b, const AgentRecord& r, bool stale) {
  b.setId(r.id);
  b.setName(r.name);
  b.setDescription(r.description);
  b.setOwner(r.owner);
  auto md = b.initMetadata(r.metadata.size());
  size_t i = 0;
  for (const auto& [key, value] : r.metadata) {
    md[i].setKey(key);
    md[i].setValue(value);
    ++i;
  }
  b.setPhase(std::string(ToString(r.phase)));
  b.setGeneration(r.generation);
  b.setStale(stale);
  b.setCreatedAtNs(r.created_at);
  b.setUpdatedAtNs(r.updated_at);
  b.setLastHeartbeatNs(r.last_heartbeat);
  b.setConnectedAtNs(r.connected_at);
}

class AgentsImpl final : public Service<rpc::Agents> {
 public:
  explicit AgentsImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> register_(RegisterContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      AgentRegistration reg;
      reg.id = p.getId();
      reg.name = p.getName();
      reg.description = p.getDescription();
      for (auto e : p.getMetadata()) reg.metadata[e.getKey()] = e.getValue();
      reg.owner = p.getOwner();
      return Mutation(context, [reg = std::move(reg), caller = Caller()](AgentRegistry* r) {
        return r->Register(caller, reg);
      });
    });
  }

  kj::Promise<void> update(UpdateContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      std::string id = p.getId();
      AgentUpdate u;
      if (p.getName().size() > 0) u.name = p.getName();
      if (p.getSetDescription()) u.description = p.getDescription();
      for (auto e : p.getMetadata()) u.metadata[e.getKey()] = std::string(e.getValue());
      for (auto key : p.getRemoveMetadata()) u.metadata[key] = std::nullopt;
      return Mutation(context, [id = std::move(id), u = std::move(u), caller = Caller()](AgentRegistry* r) {
        return r->Update(caller, id, u);
      });
    });
  }

  kj::Promise<void> get(GetContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(AgentRecord record, registry()->Get(std::string(p.getId())));
      FillRecord(results.initAgent(), record, registry()->IsStale(record, registry()->Now()));
      return Status::Ok();
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto results) -> Reply {
      AgentFilter filter;
      if (p.getOwner().size() > 0) filter.owner = p.getOwner();
      if (p.getPhase().size() > 0) {
        NEXUS_ASSIGN_OR_RETURN(filter.phase, ParseAgentPhase(std::string(p.getPhase())));
      }
      std::vector<AgentRecord> agents = registry()->List(filter);
      const UnixNanos now = registry()->Now();
      auto out = results.initAgents(agents.size());
      for (size_t i = 0; i < agents.size(); ++i)
        FillRecord(out[i], agents[i], registry()->IsStale(agents[i], now));
      return Status::Ok();
    });
  }

  kj::Promise<void> heartbeat(HeartbeatContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      return registry()->Heartbeat(Caller(), std::string(p.getId()));
    });
  }

  kj::Promise<void> transition(TransitionContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      std::string id = p.getId();
      NEXUS_ASSIGN_OR_RETURN(AgentPhase to, ParseAgentPhase(std::string(p.getPhase())));
      std::optional<uint64_t> expected;
      if (p.getExpectedGeneration() != 0) expected = p.getExpectedGeneration();
      return Mutation(context, [id = std::move(id), to, expected, caller = Caller()](AgentRegistry* r) {
        return r->Transition(caller, id, to, expected);
      });
    });
  }

  kj::Promise<void> delete_(DeleteContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      std::string id = p.getId();
      AgentRegistry* r = registry();
      return Job<bool>(
          context,
          [r, id = std::move(id), caller = Caller()]() -> Result<bool> {
            NEXUS_RETURN_IF_ERROR(r->Delete(caller, id));
            return true;
          },
          [](auto, bool) {});
    });
  }

 private:
  AgentRegistry* registry() const { return ctx().agents.registry; }
  RegistryCaller Caller() const { return RegistryCaller{conn_->subject(), conn_->admin()}; }

  // Runs `change(registry) -> Result<AgentRecord>` off the loop (it commits
  // to SQLite) and replies with the record as committed.
  template <typename Context, typename Change>
  kj::Promise<void> Mutation(Context context, Change change) {
    AgentRegistry* r = registry();
    return Job<AgentRecord>(
        context, [r, change = std::move(change)]() { return change(r); },
        [r](auto results, AgentRecord& record) {
          FillRecord(results.initAgent(), record, r->IsStale(record, r->Now()));
        });
  }
};

}  // namespace

kj::Own<rpc::Agents::Server> MakeAgentsService(ConnPtr conn) { return kj::heap<AgentsImpl>(std::move(conn)); }

}  // namespace nexus
