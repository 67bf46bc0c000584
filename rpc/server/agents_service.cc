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
//
// Identity and passports (identity .. nodeKey): `identity` and
// `credentials` are for the agent itself, its owner and admins; `passport`
// and `revokePassports` for the owner and admins; `verifyPassport` and
// `nodeKey` for every session. They read the key store, the uid bindings
// and the ReBAC tuples (whichever the daemon has), sign and verify with
// perms/passport_authority.h, and run off the loop: verifying may ask the
// mesh director.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/format.h"
#include "perms/agent_registry.h"
#include "perms/identity.h"
#include "perms/passport_authority.h"
#include "perms/rebac.h"
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

void FillClaims(rpc::PassportClaims::Builder b, const PassportClaims& c) {
  b.setAgentId(c.agent_id);
  b.setOwner(c.owner);
  b.setNode(c.node);
  auto scopes = b.initScopes(c.scopes.size());
  for (size_t i = 0; i < c.scopes.size(); ++i) scopes.set(i, c.scopes[i]);
  b.setIssuedAtNs(c.issued_at);
  b.setExpiresAtNs(c.expires_at);
}

// How many objects of each relation `identity` names.
constexpr size_t kGrantObjectsShown = 5;
constexpr size_t kMaxScopes = 256;
constexpr size_t kMaxScopeBytes = 4096;

// What `identity` and `credentials` report of an agent, read off the loop.
struct AgentFacts {
  AgentRecord agent;
  std::vector<KeyRecord> keys;
  std::vector<uint32_t> uids;
  std::map<std::string, std::vector<std::string>> grants;  // relation -> objects, sorted
  size_t grant_count = 0;
};

// The keys (the key store's user named ID, when its subject is the agent),
// uid bindings and, with `grants`, the unexpired tuples naming agent:ID.
Result<AgentFacts> CollectFacts(const ServiceContext& ctx, AgentRecord agent, bool grants) {
  AgentFacts f;
  const std::string subject = agent.Subject();
  if (ctx.keys) {
    auto user = ctx.keys->GetUser(agent.id);
    if (user.ok() && user->Subject() == subject) {
      NEXUS_ASSIGN_OR_RETURN(f.keys, ctx.keys->ListKeys(agent.id));
    } else if (!user.ok() && user.code() != ENOENT) {
      return user.status();
    }
  }
  if (ctx.rebac.identities)
    for (const auto& [uid, bound] : ctx.rebac.identities->List())
      if (bound == subject) f.uids.push_back(uid);
  if (grants && ctx.rebac.engine) {
    TupleFilter filter;
    filter.subject_type = ObjectType::kAgent;
    filter.subject_id = agent.id;
    filter.include_expired = false;
    for (const Tuple& t : ctx.rebac.engine->ListTuples(filter)) {
      if (t.subject.relation != Relation::kNone) continue;  // agent:x#rel is not the agent itself
      f.grants[std::string(ToString(t.relation))].push_back(t.object.ToString());
      ++f.grant_count;
    }
    for (auto& [relation, objects] : f.grants) std::sort(objects.begin(), objects.end());
  }
  f.agent = std::move(agent);
  return f;
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

  kj::Promise<void> identity(IdentityContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(AgentRecord agent, registry()->Get(std::string(p.getId())));
      NEXUS_RETURN_IF_ERROR(MayRead(agent, "see the identity of"));
      const ServiceContext* c = &ctx();
      return Job<AgentFacts>(
          context, [c, agent = std::move(agent)]() { return CollectFacts(*c, agent, true); },
          [](auto results, AgentFacts& f) {
            auto b = results.initIdentity();
            b.setSubject(f.agent.Subject());
            b.setOwner(f.agent.owner);
            b.setPhase(std::string(ToString(f.agent.phase)));
            auto keys = b.initKeys(f.keys.size());
            for (size_t i = 0; i < f.keys.size(); ++i) FillKey(keys[i], f.keys[i], false);
            auto uids = b.initUids(f.uids.size());
            for (size_t i = 0; i < f.uids.size(); ++i) uids.set(i, f.uids[i]);
            auto grants = b.initGrants(f.grants.size());
            size_t i = 0;
            for (const auto& [relation, objects] : f.grants) {
              grants[i].setRelation(relation);
              grants[i].setCount(static_cast<uint32_t>(objects.size()));
              const size_t shown = std::min(objects.size(), kGrantObjectsShown);
              auto out = grants[i].initObjects(shown);
              for (size_t k = 0; k < shown; ++k) out.set(k, objects[k]);
              ++i;
            }
            b.setGrantCount(static_cast<uint32_t>(f.grant_count));
          });
    });
  }

  kj::Promise<void> credentials(CredentialsContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(AgentRecord agent, registry()->Get(std::string(p.getId())));
      NEXUS_RETURN_IF_ERROR(MayRead(agent, "see the credentials of"));
      const ServiceContext* c = &ctx();
      PassportAuthority* a = passports();
      return Job<AgentFacts>(
          context, [c, agent = std::move(agent)]() { return CollectFacts(*c, agent, false); },
          [a](auto results, AgentFacts& f) {
            auto b = results.initCredentials();
            b.setSubject(f.agent.Subject());
            auto keys = b.initKeys(f.keys.size());
            for (size_t i = 0; i < f.keys.size(); ++i) FillKey(keys[i], f.keys[i], false);
            auto uids = b.initUids(f.uids.size());
            for (size_t i = 0; i < f.uids.size(); ++i) uids.set(i, f.uids[i]);
            if (a) {
              b.setNodeKeyId(a->key().key_id());
              b.setNode(a->NodeName());
            }
          });
    });
  }

  kj::Promise<void> passport(PassportContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      PassportAuthority* a = passports();
      if (!a) return NoPassports();
      NEXUS_ASSIGN_OR_RETURN(AgentRecord agent, registry()->Get(std::string(p.getId())));
      NEXUS_RETURN_IF_ERROR(MayManage(agent, "issue a passport for"));
      const UnixNanos ttl = p.getTtlSeconds() == 0
                                ? kDefaultPassportTtl
                                : static_cast<UnixNanos>(p.getTtlSeconds()) * kNanosPerSecond;
      std::vector<std::string> scopes;
      if (p.getScopes().size() > kMaxScopes)
        return Status::Error(EINVAL, "a passport names at most " + std::to_string(kMaxScopes) + " scopes");
      for (auto scope : p.getScopes()) {
        if (scope.size() == 0 || scope.size() > kMaxScopeBytes)
          return Status::Error(EINVAL, "a scope is 1 to " + std::to_string(kMaxScopeBytes) + " bytes");
        scopes.emplace_back(scope);
      }
      RebacEngine* engine = ctx().rebac.engine;
      struct Issued {
        std::string text;
        PassportClaims claims;
      };
      return Job<Issued>(
          context,
          [a, engine, agent = std::move(agent), scopes = std::move(scopes), ttl]() mutable -> Result<Issued> {
            if (scopes.empty() && engine) {
              // What the agent holds: the paths of its grants.
              uint64_t revision = 0;
              NEXUS_ASSIGN_OR_RETURN(GrantRoots roots, engine->Roots(agent.Subject(), &revision));
              scopes = roots.everything ? std::vector<std::string>{"/"} : std::move(roots.paths);
            }
            NEXUS_ASSIGN_OR_RETURN(auto issued, a->Issue(agent, std::move(scopes), ttl));
            spdlog::info("passports: issued for {} until {}", agent.Subject(),
                         FormatRfc3339(issued.second.expires_at, 3));
            return Issued{std::move(issued.first), std::move(issued.second)};
          },
          [a](auto results, Issued& i) {
            results.setPassport(i.text);
            FillClaims(results.initClaims(), i.claims);
            results.setKeyId(a->key().key_id());
          });
    });
  }

  kj::Promise<void> verifyPassport(VerifyPassportContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      PassportAuthority* a = passports();
      if (!a) return NoPassports();
      std::string text = p.getPassport();
      std::optional<std::string> trust;
      if (p.getTrust().size() > 0) trust = std::string(p.getTrust());
      return Job<VerifiedPassport>(
          context, [a, text = std::move(text), trust = std::move(trust)]() { return a->Verify(text, trust); },
          [](auto results, VerifiedPassport& v) {
            FillClaims(results.initClaims(), v.claims);
            results.setKeyId(v.key_id);
            results.setRevocation(v.revocation);
          });
    });
  }

  kj::Promise<void> revokePassports(RevokePassportsContext context) override {
    return Serve(context, Feature::kAgents, [&](auto p, auto) -> Reply {
      PassportAuthority* a = passports();
      if (!a) return NoPassports();
      NEXUS_ASSIGN_OR_RETURN(AgentRecord agent, registry()->Get(std::string(p.getId())));
      NEXUS_RETURN_IF_ERROR(MayManage(agent, "revoke the passports of"));
      struct Revoked {
        UnixNanos before = 0;
        bool reported = false;
      };
      return Job<Revoked>(
          context,
          [a, id = agent.id]() -> Result<Revoked> {
            NEXUS_ASSIGN_OR_RETURN(UnixNanos before, a->RevokePassports(id));
            spdlog::info("passports: those of agent:{} issued before {} are revoked", id,
                         FormatRfc3339(before, 3));
            Status reported = a->ReportPending();
            if (!reported.ok() && reported.code() != ENOSYS)
              spdlog::warn("passports: revocation of agent:{} not reported to the mesh yet: {}", id,
                           reported.ToString());
            return Revoked{before, reported.ok()};
          },
          [](auto results, Revoked& r) {
            results.setRevokedBeforeNs(r.before);
            results.setReported(r.reported);
          });
    });
  }

  kj::Promise<void> nodeKey(NodeKeyContext context) override {
    return Serve(context, Feature::kAgents, [&](auto, auto results) -> Reply {
      PassportAuthority* a = passports();
      if (!a) return NoPassports();
      NEXUS_ASSIGN_OR_RETURN(std::string pem, a->key().PublicKeyPem());
      auto b = results.initKey();
      b.setKeyId(a->key().key_id());
      b.setPublicKey(a->key().PublicKeyBase64());
      b.setPublicKeyPem(pem);
      b.setNode(a->NodeName());
      return Status::Ok();
    });
  }

 private:
  AgentRegistry* registry() const { return ctx().agents.registry; }
  PassportAuthority* passports() const { return ctx().agents.passports; }
  static Status NoPassports() {
    return Unavailable("passports", "this daemon has no node identity key", ENOSYS);
  }
  // The agent itself, its owner or an admin; else EACCES naming who may.
  Status MayRead(const AgentRecord& agent, const std::string& what) const {
    const std::string& who = conn_->subject();
    if (conn_->admin() || who == agent.Subject() || who == agent.owner) return Status::Ok();
    return Status::Error(EACCES, who + " may not " + what + " " + agent.Subject() +
                                     ": only the agent, its owner (" + agent.owner + ") and admins may");
  }
  // The owner or an admin; else EACCES.
  Status MayManage(const AgentRecord& agent, const std::string& what) const {
    const std::string& who = conn_->subject();
    if (conn_->admin() || who == agent.owner) return Status::Ok();
    return Status::Error(
        EACCES, who + " may not " + what + " " + agent.Subject() + ": it is owned by " + agent.owner);
  }
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
