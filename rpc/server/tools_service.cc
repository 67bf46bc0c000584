// The Tools interface of the control socket (rpc/nexus.capnp): MCP tool
// profiles (perms/tool_profiles.h) and the tools a subject may use, which
// are ReBAC grants: read on `tool:NAME`.
//
// `visible` is the hot path of an MCP server (every tools/list and
// tools/call): it asks the engine's Decide, which is the cached Check
// without auditing denials (a hidden tool is not an incident), once per
// known tool and per name asked, in place on the loop. A subject that may
// read no tool named in any profile nor in the names asked is "defaulted":
// it uses the default profile's tools.
//
// Permissions: assign writes as the session's subject (RebacEngine::Write
// checks manage on every tool object, i.e. on folder:/tools: admins);
// inspect is for the subject itself, the owner of an agent, or an admin.
//
// Threading: the methods run on the event-loop thread; assign commits to
// SQLite, so it runs on a BackgroundJobs thread (Job).
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "perms/agent_registry.h"
#include "perms/rebac.h"
#include "perms/tool_profiles.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

void FillProfile(rpc::ToolProfile::Builder b, const ToolProfile& p) {
  b.setName(p.name);
  b.setDescription(p.description);
  auto set = [](auto list, const std::vector<std::string>& v) {
    for (size_t i = 0; i < v.size(); ++i) list.set(i, v[i]);
  };
  set(b.initInherits(p.inherits.size()), p.inherits);
  set(b.initTools(p.tools.size()), p.tools);
  set(b.initAllTools(p.all_tools.size()), p.all_tools);
}

void FillToolTuple(rpc::RebacTuple::Builder b, const Tuple& t, UnixNanos now) {
  b.setSubject(t.subject.ToString());
  b.setRelation(std::string(ToString(t.relation)));
  b.setObject(t.object.ToString());
  b.setExpiresAtNs(t.expires_at == kNever ? 0 : t.expires_at);
  b.setZone(t.zone);
  b.setExpired(t.expires_at != kNever && t.expires_at <= now);
}

std::string ToolObject(std::string_view name) { return "tool:" + std::string(name); }

// The direct tool tuples of `subject` (labelled `zone` when set).
std::vector<Tuple> DirectToolTuples(RebacEngine& engine, const SubjectRef& subject, const std::string& zone) {
  TupleFilter f;
  f.subject_type = subject.type;
  f.subject_id = subject.id;
  f.object_type = ObjectType::kTool;
  if (!zone.empty()) f.zone = zone;
  std::vector<Tuple> out;
  for (Tuple& t : engine.ListTuples(f))
    if (t.subject == subject) out.push_back(std::move(t));
  return out;
}

class ToolsImpl final : public Service<rpc::Tools> {
 public:
  explicit ToolsImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> profiles(ProfilesContext context) override {
    return Serve(context, Feature::kRebac, [&](auto, auto results) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireProfiles());
      const ToolProfiles& tp = *profiles_();
      auto out = results.initProfiles(tp.profiles().size());
      for (size_t i = 0; i < tp.profiles().size(); ++i) FillProfile(out[i], tp.profiles()[i]);
      results.setDefaultProfile(tp.default_profile());
      results.setSource(tp.source());
      return Status::Ok();
    });
  }

  kj::Promise<void> profile(ProfileContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto results) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireProfiles());
      NEXUS_ASSIGN_OR_RETURN(const ToolProfile* profile, Find(p.getName()));
      FillProfile(results.initProfile(), *profile);
      return Status::Ok();
    });
  }

  kj::Promise<void> assign(AssignContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireProfiles());
      NEXUS_ASSIGN_OR_RETURN(SubjectRef subject, ToolSubject(p.getSubject()));
      NEXUS_ASSIGN_OR_RETURN(const ToolProfile* profile, Find(p.getProfile()));
      std::string zone = p.getZone();
      RebacEngine* engine = ctx().rebac.engine;
      std::vector<Tuple> adds, deletes;
      std::set<std::string> keep(profile->all_tools.begin(), profile->all_tools.end());
      for (const auto& tool : profile->all_tools) {
        Tuple t;
        t.subject = subject;
        t.relation = Relation::kViewer;
        t.object = ObjectRef{ObjectType::kTool, tool};
        t.zone = zone;
        adds.push_back(std::move(t));
      }
      std::vector<std::string> removed;
      for (Tuple& t : DirectToolTuples(*engine, subject, "")) {
        if (keep.count(t.object.id) && t.relation == Relation::kViewer) continue;  // re-added (zone updated)
        if (!keep.count(t.object.id)) removed.push_back(t.object.id);
        deletes.push_back(std::move(t));
      }
      std::sort(removed.begin(), removed.end());
      removed.erase(std::unique(removed.begin(), removed.end()), removed.end());
      struct Out {
        uint64_t revision = 0;
        std::vector<std::string> granted, removed;
      };
      std::string actor = conn_->subject();
      return Job<Out>(
          context,
          [engine, actor, adds, deletes, granted = profile->all_tools, removed]() -> Result<Out> {
            NEXUS_ASSIGN_OR_RETURN(uint64_t rev, engine->Write(actor, adds, deletes));
            return Out{rev, granted, removed};
          },
          [](auto results, Out& out) {
            auto g = results.initGranted(out.granted.size());
            for (size_t i = 0; i < out.granted.size(); ++i) g.set(i, out.granted[i]);
            auto r = results.initRemoved(out.removed.size());
            for (size_t i = 0; i < out.removed.size(); ++i) r.set(i, out.removed[i]);
            results.setRevision(out.revision);
          });
    });
  }

  kj::Promise<void> inspect(InspectContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto results) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireProfiles());
      NEXUS_ASSIGN_OR_RETURN(SubjectRef subject, ToolSubject(p.getSubject()));
      std::string who = subject.ToString();
      NEXUS_RETURN_IF_ERROR(MayInspect(who));
      RebacEngine& engine = *ctx().rebac.engine;
      const ToolProfiles& tp = *profiles_();
      std::vector<std::string> tools;
      for (const auto& tool : tp.known_tools())
        if (Reads(engine, who, tool)) tools.push_back(tool);
      // Tools outside every profile granted directly count too.
      std::vector<Tuple> grants = DirectToolTuples(engine, subject, std::string(p.getZone()));
      for (const Tuple& t : DirectToolTuples(engine, subject, ""))
        if (!std::binary_search(tp.known_tools().begin(), tp.known_tools().end(), t.object.id) &&
            Reads(engine, who, t.object.id))
          tools.push_back(t.object.id);
      std::sort(tools.begin(), tools.end());
      tools.erase(std::unique(tools.begin(), tools.end()), tools.end());
      bool defaulted = tools.empty();
      if (defaulted) tools = tp.default_tools();
      auto out = results.initTools(tools.size());
      for (size_t i = 0; i < tools.size(); ++i) out.set(i, tools[i]);
      results.setDefaulted(defaulted);
      results.setProfile(defaulted
                             ? (tp.default_profile() == ToolProfiles::kNoProfile ? "" : tp.default_profile())
                             : tp.ProfileWithTools(tools));
      const UnixNanos now = engine.clock().Now();
      auto g = results.initGrants(grants.size());
      for (size_t i = 0; i < grants.size(); ++i) FillToolTuple(g[i], grants[i], now);
      return Status::Ok();
    });
  }

  kj::Promise<void> visible(VisibleContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto results) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireProfiles());
      RebacEngine& engine = *ctx().rebac.engine;
      const ToolProfiles& tp = *profiles_();
      const std::string& who = conn_->subject();
      const uint64_t revision = engine.revision();
      auto names = p.getNames();
      // Which names the subject reads; then, only when none, whether it
      // reads any profile's tool (otherwise it is defaulted).
      std::vector<bool> reads(names.size());
      bool any = false;
      for (uint i = 0; i < names.size(); ++i) {
        std::string_view name(names[i].cStr(), names[i].size());
        reads[i] = ToolProfiles::ValidToolId(name).ok() && Reads(engine, who, name);
        any = any || reads[i];
      }
      if (!any)
        for (const auto& tool : tp.known_tools())
          if (Reads(engine, who, tool)) {
            any = true;
            break;
          }
      std::vector<uint> shown;
      for (uint i = 0; i < names.size(); ++i) {
        std::string_view name(names[i].cStr(), names[i].size());
        bool ok =
            any ? reads[i] : std::binary_search(tp.default_tools().begin(), tp.default_tools().end(), name);
        if (ok) shown.push_back(i);
      }
      auto out = results.initVisible(shown.size());
      for (size_t i = 0; i < shown.size(); ++i) out.set(i, names[shown[i]]);
      results.setDefaulted(!any);
      results.setRevision(revision);
      return Status::Ok();
    });
  }

 private:
  const ToolProfiles* profiles_() const { return ctx().rebac.tool_profiles; }

  Status RequireProfiles() const {
    if (profiles_()) return Status::Ok();
    return Unavailable("tools", "this daemon has no MCP tool profiles");
  }

  Result<const ToolProfile*> Find(capnp::Text::Reader name) const {
    const ToolProfile* p = profiles_()->Find(std::string_view(name.cStr(), name.size()));
    if (!p) return Status::Error(ENOENT, "no tool profile \"" + std::string(name) + "\"");
    return p;
  }

  // A user or an agent (tools are granted to those).
  static Result<SubjectRef> ToolSubject(capnp::Text::Reader text) {
    NEXUS_ASSIGN_OR_RETURN(SubjectRef s, SubjectRef::Parse(std::string(text)));
    if ((s.type != ObjectType::kUser && s.type != ObjectType::kAgent) || s.relation != Relation::kNone ||
        s.IsWildcard())
      return Status::Error(EINVAL, "tool profiles are for users and agents, not " + s.ToString());
    return s;
  }

  static bool Reads(RebacEngine& engine, std::string_view who, std::string_view tool) {
    auto r = engine.Decide(who, Access::Of(Permission::kRead), ToolObject(tool));
    return r.ok() && *r;
  }

  // The subject itself, the owner of an agent, or an admin; else EACCES.
  Status MayInspect(const std::string& who) const {
    if (conn_->admin() || who == conn_->subject()) return Status::Ok();
    if (AgentRegistry* registry = ctx().agents.registry; registry && who.starts_with("agent:")) {
      auto record = registry->Get(who);
      if (record.ok() && record->owner == conn_->subject()) return Status::Ok();
    }
    return Status::Error(EACCES, conn_->subject() + " may not inspect the tools of " + who +
                                     ": only the subject itself, its owner or an admin may");
  }
};

}  // namespace

kj::Own<rpc::Tools::Server> MakeToolsService(ConnPtr conn) { return kj::heap<ToolsImpl>(std::move(conn)); }

}  // namespace nexus
