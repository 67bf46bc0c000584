// The Permissions and Mounts sub-interfaces of the control socket
// (rpc/nexus.capnp): relationship tuples, checks and their explanation,
// sharing paths, uid bindings, the audit log, and per-subject FUSE mounts.
//
// Who acts: the session's principal (Conn::subject(), resolved once at
// authentication): an admin session acts as ctx.rebac.admin_subject, which owns
// zone:root; any other session as its own subject. Whether a
// tuple may be written is RebacEngine::Write's decision (manage on each
// object). Questions (check, explain, expand, listObjects, list) are open
// to admins, and to others about themselves or about objects they manage;
// a refused question is recorded in the audit log. Identities, the audit
// log and mounts are for admins only. Questions are answered with
// RebacEngine::Decide, which does not audit: asking whether bob may read a
// file is not bob being refused.
//
// Threading: the Impl objects live on the event-loop thread. Answers from
// memory (check, explain, info, listIdentities, mounts.list) are computed
// there, as is the Stat that tells a shared path's kind (PathFiles: local
// disk only). Everything that writes SQLite (tuple writes, identity
// bindings), waits for the audit writer, walks every tuple (list,
// listObjects, expand) or mounts and unmounts runs on a BackgroundJobs
// thread through OffLoopJob. Such a job touches only the engine, the
// identity map, the audit log, SubjectMounts and plain values it owns
// (never a capnp object or the Conn).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <streambuf>
#include <unordered_set>

#include "base/clock.h"
#include "base/format.h"
#include "base/layout.h"
#include "base/ns_path.h"
#include "perms/audit.h"
#include "perms/identity.h"
#include "perms/rebac.h"
#include "perms/rebac_types.h"
#include "rpc/bytes.h"
#include "rpc/errors.h"
#include "perms/agent_registry.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

constexpr uint32_t kDefaultListLimit = 1000;
constexpr uint32_t kMaxListLimit = 100000;
constexpr size_t kMaxExportBytes = 48u << 20;
// A non-admin's `list` reads the tuples of each object it manages one by
// one up to this many objects; beyond, one pass over every tuple.
constexpr size_t kPerObjectListing = 64;

// The schema's words for a denial.
const char* ReasonText(DenyReason r) {
  switch (r) {
    case DenyReason::kNone:
      return "";
    case DenyReason::kNoTuple:
      return "no tuple";
    case DenyReason::kExpired:
      return "expired";
    case DenyReason::kDepthLimit:
      return "depth limit";
    case DenyReason::kCycle:
      return "cycle";
  }
  return "";
}

int64_t ExpiryOut(UnixNanos t) { return t == kNever ? 0 : t; }

void FillTuple(rpc::RebacTuple::Builder b, const Tuple& t, UnixNanos now) {
  b.setSubject(t.subject.ToString());
  b.setRelation(std::string(ToString(t.relation)));
  b.setObject(t.object.ToString());
  b.setExpiresAtNs(ExpiryOut(t.expires_at));
  b.setZone(t.zone);
  b.setExpired(t.expires_at != kNever && t.expires_at <= now);
}

// A tuple from the wire, validated; `where` names it in messages.
Result<Tuple> TupleFrom(rpc::RebacTuple::Reader r, const std::string& where) {
  auto in = [&](const Status& st) { return Status::Error(st.code(), where + ": " + st.message()); };
  auto subject = SubjectRef::Parse(std::string(r.getSubject()));
  if (!subject.ok()) return in(subject.status());
  auto relation = ParseRelation(std::string(r.getRelation()));
  if (!relation.ok()) return in(relation.status());
  auto object = ObjectRef::Parse(std::string(r.getObject()));
  if (!object.ok()) return in(object.status());
  if (r.getExpiresAtNs() < 0)
    return Status::Error(EINVAL, where + ": expiresAtNs must be 0 (never) or a Unix time in ns");
  Tuple t;
  t.subject = std::move(subject).value();
  t.relation = *relation;
  t.object = std::move(object).value();
  t.expires_at = r.getExpiresAtNs() == 0 ? kNever : r.getExpiresAtNs();
  t.zone = r.getZone();
  if (Status st = t.Validate(); !st.ok()) return in(st);
  return t;
}

// viewer, editor or owner: the roles a path is shared with.
Result<Relation> Role(const std::string& text) {
  auto r = ParseRelation(text);
  if (!r.ok() || (*r != Relation::kViewer && *r != Relation::kEditor && *r != Relation::kOwner))
    return Status::Error(EINVAL, "role \"" + text + "\" must be viewer, editor or owner");
  return r;
}

// The tuples on file:PATH and folder:PATH whose subject is `subject` (any
// subject when null) and whose relation is in `relations`.
std::vector<Tuple> TuplesOnPath(RebacEngine& engine, const std::string& path, const SubjectRef* subject,
                                const std::set<Relation>& relations) {
  std::vector<Tuple> out;
  for (ObjectType type : {ObjectType::kFile, ObjectType::kFolder}) {
    TupleFilter f;
    f.object_type = type;
    f.object_id = path;
    if (subject) {
      f.subject_type = subject->type;
      f.subject_id = subject->id;
    }
    for (Tuple& t : engine.ListTuples(f)) {
      if (subject && !(t.subject == *subject)) continue;
      if (relations.count(t.relation)) out.push_back(std::move(t));
    }
  }
  return out;
}

// Indented text of an expansion: one subject per line, with the tuple that
// brought it in.
void TreeText(const SubjectTree& t, int depth, std::string* out) {
  out->append(static_cast<size_t>(depth) * 2, ' ');
  *out += t.subject.ToString();
  *out += "  (" + t.via.ToString();
  if (t.via.expires_at != kNever) *out += ", expires " + FormatRfc3339(t.via.expires_at);
  *out += ")";
  if (t.truncated) *out += " [truncated: depth limit or cycle]";
  *out += '\n';
  for (const SubjectTree& m : t.members) TreeText(m, depth + 1, out);
}

// An ostream target that keeps at most `cap` bytes and remembers whether
// more came, so an oversized export costs time, never unbounded memory.
class CappedBuffer final : public std::streambuf {
 public:
  explicit CappedBuffer(size_t cap) : cap_(cap) {}
  bool overflowed() const { return overflowed_; }
  std::string& text() { return text_; }

 protected:
  int_type overflow(int_type ch) override {
    if (ch == traits_type::eof()) return traits_type::not_eof(ch);
    char c = traits_type::to_char_type(ch);
    xsputn(&c, 1);
    return ch;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    size_t room = cap_ - text_.size();
    size_t take = std::min(room, static_cast<size_t>(n));
    text_.append(s, take);
    if (take < static_cast<size_t>(n)) overflowed_ = true;
    return n;
  }

 private:
  const size_t cap_;
  std::string text_;
  bool overflowed_ = false;
};

struct ListOut {
  std::vector<Tuple> tuples;
  bool truncated = false;
};

struct UnshareOut {
  uint32_t removed = 0;
  uint64_t revision = 0;
};

struct ShareOut {
  Tuple tuple;
  uint64_t revision = 0;
};

struct AuditOut {
  std::vector<AuditRecord> entries;
  uint64_t dropped = 0;
};

// What both interfaces share: the rules of who acts and the audit of
// refusals.
template <typename Iface>
class PermsService : public Service<Iface> {
 protected:
  explicit PermsService(ConnPtr conn) : Service<Iface>(std::move(conn)), rebac_(this->ctx().rebac) {}
  using Service<Iface>::conn_;
  using Service<Iface>::ctx;
  using Service<Iface>::Serve;
  using Service<Iface>::RequireAdmin;
  using Service<Iface>::StatusJob;

  // Service<>::ServeAdmin that also audits (as `method`) a refused session.
  template <typename Context, typename Body>
  kj::Promise<void> ServeAdmin(Context context, Feature feature, const char* method, const char* what,
                               Body&& body) {
    return Serve(context, feature, [&](auto p, auto results) -> Reply {
      if (Status st = RequireAdmin(what); !st.ok()) {
        RecordDenied(method, "", std::string(what) + " is for admins only");
        return st;
      }
      return body(p, results);
    });
  }

  // A refused request, in the audit log (when there is one).
  void RecordDenied(const std::string& operation, const std::string& object, const std::string& reason) {
    if (!rebac_.audit) return;
    rebac_.audit->Record(AuditRecord{0, conn_->subject(), operation, object, false, reason});
  }

  const RebacDeps& rebac_;
};

class PermissionsImpl final : public PermsService<rpc::Permissions> {
 public:
  explicit PermissionsImpl(ConnPtr conn) : PermsService(std::move(conn)) {}

  kj::Promise<void> write(WriteContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      std::vector<Tuple> adds, deletes;
      uint32_t i = 0;
      for (auto t : p.getAdds()) {
        NEXUS_ASSIGN_OR_RETURN(Tuple tuple, TupleFrom(t, "adds[" + std::to_string(i++) + "]"));
        adds.push_back(std::move(tuple));
      }
      i = 0;
      for (auto t : p.getDeletes()) {
        NEXUS_ASSIGN_OR_RETURN(Tuple tuple, TupleFrom(t, "deletes[" + std::to_string(i++) + "]"));
        deletes.push_back(std::move(tuple));
      }
      if (adds.empty() && deletes.empty())
        return Status::Error(EINVAL, "nothing to write: no tuples to add or delete");
      std::optional<uint64_t> expect;
      if (p.getExpectRevision() != 0) expect = p.getExpectRevision();
      RebacEngine* engine = rebac_.engine;
      std::string actor = conn_->subject();
      return RevisionJob(context, [engine, actor, adds, deletes, expect]() {
        return engine->Write(actor, adds, deletes, expect);
      });
    });
  }

  kj::Promise<void> check(CheckContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto results) -> Reply {
      std::string subject = p.getSubject(), access = p.getAccess(), object = p.getObject();
      NEXUS_ASSIGN_OR_RETURN(Access a, Access::Parse(access));
      NEXUS_ASSIGN_OR_RETURN(std::string zone, ZoneScope(p.getZone()));
      NEXUS_RETURN_IF_ERROR(MayAsk("permissions.check", subject, object));
      NEXUS_ASSIGN_OR_RETURN(bool allowed, rebac_.engine->Decide(subject, a, object));
      if (allowed && !zone.empty()) {
        NEXUS_ASSIGN_OR_RETURN(allowed, rebac_.engine->InZone(object, zone));
      }
      results.setAllowed(allowed);
      return Status::Ok();
    });
  }

  kj::Promise<void> explain(ExplainContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto results) -> Reply {
      std::string subject = p.getSubject(), access = p.getAccess(), object = p.getObject();
      NEXUS_RETURN_IF_ERROR(Access::Parse(access));
      NEXUS_ASSIGN_OR_RETURN(std::string zone, ZoneScope(p.getZone()));
      NEXUS_RETURN_IF_ERROR(MayAsk("permissions.explain", subject, object));
      bool in_zone = true;
      if (!zone.empty()) {
        NEXUS_ASSIGN_OR_RETURN(in_zone, rebac_.engine->InZone(object, zone));
      }
      if (!in_zone) {
        auto b = results.initExplanation();
        b.setAllowed(false);
        b.setReason("other zone");
        b.setMessage(object + " is not in zone " + zone + " (not under /zone/" + zone +
                     ", no tuple on it labelled " + zone + ")");
        return Status::Ok();
      }
      NEXUS_ASSIGN_OR_RETURN(auto e, rebac_.engine->Explain(subject, access, object));
      auto b = results.initExplanation();
      b.setAllowed(e.allowed);
      b.setReason(e.allowed ? "" : ReasonText(e.reason));
      const UnixNanos now = DefaultClock().Now();
      auto path = b.initPath(e.path.size());
      for (size_t k = 0; k < e.path.size(); ++k) FillTuple(path[k], e.path[k], now);
      b.setValidUntilNs(e.allowed ? ExpiryOut(e.valid_until) : 0);
      b.setMessage(e.message);
      return Status::Ok();
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      TupleFilter f;
      f.include_expired = p.getIncludeExpired();
      // An empty filter text means any; anything else must parse.
      auto parse_into = [](capnp::Text::Reader text, auto parse, auto& out) -> Status {
        if (text.size() == 0) return Status::Ok();
        auto v = parse(std::string_view(text.cStr(), text.size()));
        if (!v.ok()) return v.status();
        out = *v;
        return Status::Ok();
      };
      NEXUS_RETURN_IF_ERROR(parse_into(p.getSubjectType(), ParseObjectType, f.subject_type));
      NEXUS_RETURN_IF_ERROR(parse_into(p.getObjectType(), ParseObjectType, f.object_type));
      NEXUS_RETURN_IF_ERROR(parse_into(p.getRelation(), ParseRelation, f.relation));
      if (p.getSubjectId().size()) f.subject_id = std::string(p.getSubjectId());
      if (p.getObjectId().size()) f.object_id = std::string(p.getObjectId());
      NEXUS_ASSIGN_OR_RETURN(std::string zone, ZoneScope(p.getZone()));
      if (!zone.empty()) f.zone = zone;
      const size_t limit = ListLimit(p.getLimit());
      RebacEngine* engine = rebac_.engine;
      const bool admin = conn_->admin();
      const std::string self = conn_->subject();
      return TupleListJob(context, limit, [engine, f, limit, admin, self]() -> Result<std::vector<Tuple>> {
        return admin ? engine->ListTuples(f, limit + 1) : VisibleTuples(*engine, f, self, limit + 1);
      });
    });
  }

  kj::Promise<void> shares(SharesContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      const size_t limit = ListLimit(p.getLimit());
      const bool outgoing = p.getOutgoing();
      std::string self = conn_->subject();
      if (p.getSubject().size()) {
        NEXUS_ASSIGN_OR_RETURN(SubjectRef asked, PersonSubject(p.getSubject()));
        if (asked.ToString() != self) {
          if (!conn_->admin()) {
            RecordDenied("permissions.shares", asked.ToString(), "asked about another subject's shares");
            return Status::Error(EACCES, conn_->subject() + " may list only its own shares");
          }
          self = asked.ToString();
        }
      }
      NEXUS_ASSIGN_OR_RETURN(std::string zone, ZoneScope(p.getZone()));
      RebacEngine* engine = rebac_.engine;
      // An admin's own outgoing shares: everything (it manages every object).
      const bool everything = conn_->admin() && self == conn_->subject();
      return TupleListJob(
          context, limit, [engine, outgoing, everything, self, zone]() -> Result<std::vector<Tuple>> {
            std::vector<Tuple> out;
            NEXUS_ASSIGN_OR_RETURN(SubjectRef me, SubjectRef::Parse(self));
            for (ObjectType type : {ObjectType::kFile, ObjectType::kFolder}) {
              TupleFilter f;
              f.object_type = type;
              if (!zone.empty()) f.zone = zone;
              if (!outgoing) {
                f.subject_type = me.type;
                f.subject_id = me.id;
              }
              std::vector<Tuple> found =
                  everything || !outgoing ? engine->ListTuples(f) : VisibleTuples(*engine, f, self, SIZE_MAX);
              for (Tuple& t : found) {
                if (t.relation != Relation::kViewer && t.relation != Relation::kEditor &&
                    t.relation != Relation::kOwner)
                  continue;
                if ((t.subject == me) == outgoing) continue;
                out.push_back(std::move(t));
              }
            }
            std::sort(out.begin(), out.end(), [](const Tuple& a, const Tuple& b) {
              return std::make_tuple(a.object.ToString(), a.subject.ToString(), a.relation) <
                     std::make_tuple(b.object.ToString(), b.subject.ToString(), b.relation);
            });
            return out;
          });
    });
  }

  kj::Promise<void> listObjects(ListObjectsContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      std::string access = p.getAccess(), subject = p.getSubject(), type_text = p.getObjectType();
      NEXUS_RETURN_IF_ERROR(Access::Parse(access));
      NEXUS_ASSIGN_OR_RETURN(SubjectRef s, SubjectRef::Parse(subject));
      std::optional<ObjectType> type;
      if (!type_text.empty()) {
        NEXUS_ASSIGN_OR_RETURN(type, ParseObjectType(type_text));
      }
      // Someone else's objects: only those the caller manages.
      const bool filter = !conn_->admin() && s.ToString() != conn_->subject();
      RebacEngine* engine = rebac_.engine;
      const std::string self = conn_->subject();
      return Job<std::vector<std::string>>(
          context,
          [engine, access, subject, type, filter, self]() -> Result<std::vector<std::string>> {
            auto objects = engine->ListObjects(access, subject, type);
            if (!objects.ok() || !filter) return objects;
            auto managed = engine->ListObjects("manage", self, type);
            if (!managed.ok()) return std::vector<std::string>{};
            std::vector<std::string> out;
            std::set_intersection(objects->begin(), objects->end(), managed->begin(), managed->end(),
                                  std::back_inserter(out));
            return out;
          },
          [](auto results, std::vector<std::string>& objects) {
            auto list = results.initObjects(objects.size());
            for (size_t k = 0; k < objects.size(); ++k) list.set(k, objects[k]);
          });
    });
  }

  kj::Promise<void> expand(ExpandContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      std::string access = p.getAccess(), object = p.getObject();
      NEXUS_RETURN_IF_ERROR(Access::Parse(access));
      NEXUS_RETURN_IF_ERROR(MayAsk("permissions.expand", "", object));
      RebacEngine* engine = rebac_.engine;
      return Job<Expansion>(
          context, [engine, access, object]() { return engine->Expand(access, object); },
          [](auto results, Expansion& e) {
            std::vector<std::string> flat = e.Flatten();
            auto subjects = results.initSubjects(flat.size());
            for (size_t k = 0; k < flat.size(); ++k) subjects.set(k, flat[k]);
            std::string tree;
            for (const SubjectTree& t : e.trees) TreeText(t, 0, &tree);
            results.setTree(tree);
          });
    });
  }

  kj::Promise<void> share(ShareContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      Tuple t;
      NEXUS_ASSIGN_OR_RETURN(t.subject, SubjectRef::Parse(std::string(p.getSubject())));
      NEXUS_ASSIGN_OR_RETURN(t.relation, Role(p.getRole()));
      NEXUS_ASSIGN_OR_RETURN(t.object, ObjectAt(path.str()));
      const uint64_t ttl = p.getTtlSeconds();
      if (ttl > 0) {
        const UnixNanos now = DefaultClock().Now();
        if (ttl > static_cast<uint64_t>((std::numeric_limits<UnixNanos>::max() - now) / kNanosPerSecond) - 1)
          return Status::Error(EINVAL, "ttl of " + std::to_string(ttl) + " seconds is too large");
        t.expires_at = now + static_cast<UnixNanos>(ttl) * kNanosPerSecond;
      }
      NEXUS_RETURN_IF_ERROR(t.Validate());
      RebacEngine* engine = rebac_.engine;
      std::string actor = conn_->subject();
      return Job<ShareOut>(
          context,
          [engine, actor, t]() -> Result<ShareOut> {
            auto rev = engine->Write(actor, {t}, {});
            if (!rev.ok()) return rev.status();
            ShareOut out{t, *rev};
            out.tuple.zone = std::string(layout::ZoneOf(t.object.id));
            return out;
          },
          [](auto results, ShareOut& out) {
            FillTuple(results.initTuple(), out.tuple, DefaultClock().Now());
            results.setRevision(out.revision);
          });
    });
  }

  kj::Promise<void> unshare(UnshareContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      NEXUS_ASSIGN_OR_RETURN(SubjectRef subject, SubjectRef::Parse(std::string(p.getSubject())));
      std::set<Relation> roles = {Relation::kViewer, Relation::kEditor, Relation::kOwner};
      if (p.getRole().size()) {
        NEXUS_ASSIGN_OR_RETURN(Relation role, Role(p.getRole()));
        roles = {role};
      }
      RebacEngine* engine = rebac_.engine;
      std::string actor = conn_->subject();
      return Job<UnshareOut>(
          context,
          [engine, actor, path = path.str(), subject, roles]() -> Result<UnshareOut> {
            std::vector<Tuple> doomed = TuplesOnPath(*engine, path, &subject, roles);
            if (doomed.empty()) {
              std::string names;
              for (Relation r : roles) names += (names.empty() ? "" : "/") + std::string(ToString(r));
              return Status::Error(ENOENT, subject.ToString() + " has no " + names + " tuple on " + path);
            }
            auto rev = engine->Write(actor, {}, doomed);
            if (!rev.ok()) return rev.status();
            return UnshareOut{static_cast<uint32_t>(doomed.size()), *rev};
          },
          [](auto results, UnshareOut& out) {
            results.setRemoved(out.removed);
            results.setRevision(out.revision);
          });
    });
  }

  kj::Promise<void> setPublic(SetPublicContext context) override {
    return Serve(context, Feature::kRebac, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      RebacEngine* engine = rebac_.engine;
      std::string actor = conn_->subject();
      SubjectRef everyone;
      everyone.type = ObjectType::kUser;
      everyone.id = "*";
      if (p.getPublic()) {
        Tuple t;
        t.subject = everyone;
        t.relation = Relation::kViewer;
        NEXUS_ASSIGN_OR_RETURN(t.object, ObjectAt(path.str()));
        return RevisionJob(context, [engine, actor, t]() { return engine->Write(actor, {t}, {}); });
      }
      // Private: the path may be gone already; its tuples are what count.
      return RevisionJob(context, [engine, actor, path = path.str(), everyone]() -> Result<uint64_t> {
        std::vector<Tuple> doomed = TuplesOnPath(*engine, path, &everyone, {Relation::kViewer});
        if (doomed.empty()) return Status::Error(ENOENT, path + " is not public");
        return engine->Write(actor, {}, doomed);
      });
    });
  }

  kj::Promise<void> bindIdentity(BindIdentityContext context) override {
    return ServeAdmin(context, Feature::kIdentities, "permissions.bindIdentity", "binding identities",
                      [&](auto p, auto) -> Reply {
                        NEXUS_ASSIGN_OR_RETURN(SubjectRef subject, PersonSubject(p.getSubject()));
                        NEXUS_RETURN_IF_ERROR(RegisteredAgent(*conn_, subject));
                        IdentityMap* ids = ctx().rebac.identities;
                        AuditLog* audit = rebac_.audit;
                        const uid_t uid = p.getUid();
                        std::string actor = conn_->subject(), who = subject.ToString();
                        return StatusJob(context, [ids, audit, uid, actor, who]() {
                          Status st = ids->Bind(uid, who);
                          if (audit)
                            audit->Record({0, actor, "identity.bind", "uid:" + std::to_string(uid), st.ok(),
                                           st.ok() ? "bound to " + who : st.message()});
                          if (st.ok()) spdlog::info("{}: bound uid {} to {}", actor, uid, who);
                          return st;
                        });
                      });
  }

  kj::Promise<void> unbindIdentity(UnbindIdentityContext context) override {
    return ServeAdmin(context, Feature::kIdentities, "permissions.unbindIdentity", "unbinding identities",
                      [&](auto p, auto) -> Reply {
                        IdentityMap* ids = ctx().rebac.identities;
                        AuditLog* audit = rebac_.audit;
                        const uid_t uid = p.getUid();
                        std::string actor = conn_->subject();
                        return StatusJob(context, [ids, audit, uid, actor]() {
                          std::string was;
                          for (const auto& [u, s] : ids->List())
                            if (u == uid) was = s;
                          Status st = ids->Unbind(uid);
                          if (!st.ok() && st.code() == ENOENT)
                            st = Status::Error(ENOENT, "uid " + std::to_string(uid) + " is not bound");
                          if (audit)
                            audit->Record({0, actor, "identity.unbind", "uid:" + std::to_string(uid), st.ok(),
                                           st.ok() ? "was bound to " + was : st.message()});
                          if (st.ok()) spdlog::info("{}: unbound uid {} (was {})", actor, uid, was);
                          return st;
                        });
                      });
  }

  kj::Promise<void> listIdentities(ListIdentitiesContext context) override {
    return ServeAdmin(context, Feature::kIdentities, "permissions.listIdentities", "listing identities",
                      [&](auto, auto results) -> Reply {
                        auto bindings = ctx().rebac.identities->List();
                        auto out = results.initBindings(bindings.size());
                        for (size_t k = 0; k < bindings.size(); ++k) {
                          out[k].setUid(bindings[k].first);
                          out[k].setSubject(bindings[k].second);
                        }
                        results.setAdminSubject(ctx().rebac.admin_subject);
                        return Status::Ok();
                      });
  }

  kj::Promise<void> auditList(AuditListContext context) override {
    return ServeAdmin(context, Feature::kAudit, "permissions.auditList", "reading the audit log",
                      [&](auto p, auto) -> Reply {
                        NEXUS_ASSIGN_OR_RETURN(AuditFilter f, Filter(p.getSinceNs(), p.getSubject()));
                        if (p.getDeniedOnly()) f.allowed = false;
                        f.limit = ListLimit(p.getLimit());
                        AuditLog* audit = rebac_.audit;
                        return Job<AuditOut>(
                            context,
                            [audit, f]() -> Result<AuditOut> {
                              FlushAudit(*audit);
                              auto entries = audit->List(f);
                              if (!entries.ok()) return entries.status();
                              return AuditOut{std::move(entries).value(), audit->dropped()};
                            },
                            [](auto results, AuditOut& out) {
                              auto list = results.initEntries(out.entries.size());
                              for (size_t k = 0; k < out.entries.size(); ++k) {
                                const AuditRecord& r = out.entries[k];
                                list[k].setTimeNs(r.time);
                                list[k].setSubject(r.subject);
                                list[k].setOperation(r.operation);
                                list[k].setObject(r.object);
                                list[k].setAllowed(r.allowed);
                                list[k].setReason(r.reason);
                              }
                              results.setDropped(out.dropped);
                            });
                      });
  }

  kj::Promise<void> auditExport(AuditExportContext context) override {
    return ServeAdmin(
        context, Feature::kAudit, "permissions.auditExport", "exporting the audit log",
        [&](auto p, auto) -> Reply {
          std::string format = p.getFormat();
          if (format != "jsonl" && format != "csv")
            return Status::Error(EINVAL, "format \"" + format + "\" must be jsonl or csv");
          NEXUS_ASSIGN_OR_RETURN(AuditFilter f, Filter(p.getSinceNs(), p.getSubject()));
          f.limit = SIZE_MAX;
          AuditLog* audit = rebac_.audit;
          return Job<std::string>(
              context,
              [audit, f, format]() -> Result<std::string> {
                FlushAudit(*audit);
                CappedBuffer buf(kMaxExportBytes);
                std::ostream out(&buf);
                Status st = format == "csv" ? audit->ExportCsv(f, out) : audit->ExportJsonl(f, out);
                if (!st.ok()) return st;
                if (buf.overflowed())
                  return Status::Error(EDQUOT, "the export is larger than " +
                                                   std::to_string(kMaxExportBytes >> 20) +
                                                   " MiB; narrow it with a later --since or a --subject");
                return std::move(buf.text());
              },
              [](auto results, std::string& data) { results.setData(AsBytes(data)); });
        });
  }

  kj::Promise<void> info(InfoContext context) override {
    return Serve(context, Feature::kRebac, [&](auto, auto results) -> Reply {
      results.setRevision(rebac_.engine->revision());
      results.setTuples(rebac_.engine->tuple_count());
      results.setCacheHits(rebac_.engine->cache_hits());
      results.setCacheMisses(rebac_.engine->cache_misses());
      return Status::Ok();
    });
  }

 private:
  // Runs `work` (returning Result<uint64_t>, a tuple revision) off the loop
  // and replies with the revision.
  template <typename Context, typename Work>
  kj::Promise<void> RevisionJob(Context context, Work work) {
    return Job<uint64_t>(context, std::move(work),
                         [](auto results, uint64_t& revision) { results.setRevision(revision); });
  }

  // Runs `work` (at most limit + 1 tuples, or an error) off the loop and
  // replies with at most `limit` of them, `truncated` when there were more.
  template <typename Context, typename Work>
  kj::Promise<void> TupleListJob(Context context, size_t limit, Work work) {
    return Job<ListOut>(
        context,
        [limit, work = std::move(work)]() -> Result<ListOut> {
          ListOut out;
          NEXUS_ASSIGN_OR_RETURN(out.tuples, work());
          if (out.tuples.size() > limit) {
            out.tuples.resize(limit);
            out.truncated = true;
          }
          return out;
        },
        [](auto results, ListOut& out) {
          const UnixNanos now = DefaultClock().Now();
          auto list = results.initTuples(out.tuples.size());
          for (size_t k = 0; k < out.tuples.size(); ++k) FillTuple(list[k], out.tuples[k], now);
          results.setTruncated(out.truncated);
        });
  }

  // A listing's `limit` parameter: 0 for the default, capped.
  static size_t ListLimit(uint32_t asked) {
    return asked == 0 ? kDefaultListLimit : std::min(asked, kMaxListLimit);
  }

  // Waits until what was recorded before is listable. A failing writer is
  // logged, not fatal: what it did commit can still be read.
  static void FlushAudit(AuditLog& audit) {
    if (Status st = audit.Flush(); !st.ok()) spdlog::warn("audit log: flush failed: {}", st.ToString());
  }

  static Result<AuditFilter> Filter(int64_t since_ns, const std::string& subject) {
    AuditFilter f;
    if (since_ns < 0) return Status::Error(EINVAL, "sinceNs must be 0 (from the start) or a Unix time in ns");
    if (since_ns > 0) f.since = since_ns;
    if (!subject.empty()) f.subject = subject;
    return f;
  }

  // The zone a question is scoped to: "" for every zone, else a zone the
  // caller can know of: root, a /zone/NAME it can see, or one a tuple names.
  Result<std::string> ZoneScope(capnp::Text::Reader text) {
    std::string zone = text;
    if (zone.empty()) return zone;
    NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
    if (rebac_.engine->KnowsZone(zone)) return zone;
    if (ctx().files && ctx().files->Stat(conn_->actor, layout::ZoneRoot(zone).str(), false, false).ok())
      return zone;
    return Status::Error(ENOENT,
                         "unknown zone '" + zone + "': there is no /zone/" + zone + " and no tuple names it");
  }

  // The object a path names: folder:PATH for a directory, file:PATH for
  // anything else, as the caller sees it.
  Result<ObjectRef> ObjectAt(const std::string& path) {
    auto st = ctx().files->Stat(conn_->actor, path, false, false);
    if (!st.ok()) return st.status();
    ObjectRef o;
    o.type = st->attr.IsDir() ? ObjectType::kFolder : ObjectType::kFile;
    o.id = path;
    return o;
  }

  // Admins may ask anything; others about themselves (`subject` is theirs)
  // or about an object they manage. A refusal is audited.
  Status MayAsk(const std::string& operation, const std::string& subject, const std::string& object) {
    if (!subject.empty()) {
      auto s = SubjectRef::Parse(subject);
      if (!s.ok()) return s.status();
      if (conn_->admin() || s->ToString() == conn_->subject()) return Status::Ok();
    }
    if (conn_->admin()) return Status::Ok();
    auto o = ObjectRef::Parse(object);
    if (!o.ok()) return o.status();
    auto manages = rebac_.engine->Decide(conn_->subject(), Access::Of(Permission::kManage), object);
    if (manages.ok() && *manages) return Status::Ok();
    std::string reason = conn_->subject() +
                         " may ask only about itself or about objects it manages, "
                         "and does not manage " +
                         object;
    RecordDenied(operation, object, "does not manage " + object);
    return Status::Error(EACCES, reason);
  }

  // A non-admin's listing: tuples naming it as subject, and tuples on
  // objects it manages, that pass `f`; sorted, at most `limit`.
  static std::vector<Tuple> VisibleTuples(RebacEngine& engine, const TupleFilter& f, const std::string& self,
                                          size_t limit) {
    auto managed_list = engine.ListObjects("manage", self);
    std::unordered_set<std::string> managed;
    if (managed_list.ok()) managed.insert(managed_list->begin(), managed_list->end());
    auto mine = [&](const Tuple& t) {
      return t.subject.ToString() == self || managed.count(t.object.ToString()) > 0;
    };
    std::vector<Tuple> out;
    auto take = [&](std::vector<Tuple> tuples) {
      for (Tuple& t : tuples)
        if (mine(t)) out.push_back(std::move(t));
    };
    if (managed.size() > kPerObjectListing) {
      take(engine.ListTuples(f));
    } else {
      // Its own tuples...
      if (auto s = SubjectRef::Parse(self); s.ok()) {
        TupleFilter own = f;
        if ((!f.subject_type || *f.subject_type == s->type) && (!f.subject_id || *f.subject_id == s->id)) {
          own.subject_type = s->type;
          own.subject_id = s->id;
          take(engine.ListTuples(own));
        }
      }
      // ...and those on each object it manages.
      for (const std::string& text : managed) {
        auto o = ObjectRef::Parse(text);
        if (!o.ok()) continue;
        if ((f.object_type && *f.object_type != o->type) || (f.object_id && *f.object_id != o->id)) continue;
        TupleFilter on = f;
        on.object_type = o->type;
        on.object_id = o->id;
        take(engine.ListTuples(on));
      }
    }
    auto key = [](const Tuple& t) {
      return std::make_tuple(t.object.ToString(), t.relation, t.subject.ToString());
    };
    std::sort(out.begin(), out.end(), [&](const Tuple& a, const Tuple& b) { return key(a) < key(b); });
    out.erase(
        std::unique(out.begin(), out.end(), [](const Tuple& a, const Tuple& b) { return a.SameKey(b); }),
        out.end());
    if (out.size() > limit) out.resize(limit);
    return out;
  }
};

class MountsImpl final : public PermsService<rpc::Mounts> {
 public:
  explicit MountsImpl(ConnPtr conn) : PermsService(std::move(conn)) {}

  kj::Promise<void> add(AddContext context) override {
    return ServeAdmin(context, Feature::kMounts, "mounts.add", "adding mounts", [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath mnt, NsPath::Parse(std::string(p.getMountpoint())));
      NEXUS_ASSIGN_OR_RETURN(SubjectRef subject, PersonSubject(p.getSubject()));
      NEXUS_RETURN_IF_ERROR(RegisteredAgent(*conn_, subject));
      NEXUS_ASSIGN_OR_RETURN(NsPath root, NsPath::ParseOptional(std::string(p.getRoot())));
      SubjectMounts* mounts = ctx().mounts;
      std::string actor = conn_->subject(), who = subject.ToString();
      const bool cache_names = p.getCacheNames();
      return Job<SubjectMountInfo>(
          context,
          [mounts, actor, mnt = mnt.str(), who, root = root.str(),
           cache_names]() -> Result<SubjectMountInfo> {
            auto m = mounts->Add(mnt, who, root, cache_names);
            if (m.ok()) spdlog::info("{}: mounted {} at {} for {}", actor, root, mnt, who);
            return m;
          },
          [](auto results, SubjectMountInfo& m) { Fill(results.initMount(), m); });
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return ServeAdmin(context, Feature::kMounts, "mounts.list", "listing mounts",
                      [&](auto, auto results) -> Reply {
                        auto mounts = ctx().mounts->List();
                        auto out = results.initMounts(mounts.size());
                        for (size_t k = 0; k < mounts.size(); ++k) Fill(out[k], mounts[k]);
                        return Status::Ok();
                      });
  }

  kj::Promise<void> remove(RemoveContext context) override {
    return ServeAdmin(context, Feature::kMounts, "mounts.remove", "removing mounts",
                      [&](auto p, auto) -> Reply {
                        NEXUS_ASSIGN_OR_RETURN(NsPath mnt, NsPath::Parse(std::string(p.getMountpoint())));
                        SubjectMounts* mounts = ctx().mounts;
                        std::string actor = conn_->subject();
                        return StatusJob(context, [mounts, actor, mnt = mnt.str()]() {
                          NEXUS_RETURN_IF_ERROR(mounts->Remove(mnt));
                          spdlog::info("{}: unmounted {}", actor, mnt);
                          return Status::Ok();
                        });
                      });
  }

 private:
  static void Fill(rpc::SubjectMount::Builder b, const SubjectMountInfo& m) {
    b.setMountpoint(m.mountpoint);
    b.setSubject(m.subject);
    b.setRoot(m.root);
    b.setCreatedNs(m.created_ns);
    b.setCachesNames(m.cache_names);
  }
};

}  // namespace

Result<SubjectRef> PersonSubject(const std::string& text) {
  auto s = SubjectRef::Parse(text);
  if (!s.ok()) return s.status();
  if ((s->type != ObjectType::kUser && s->type != ObjectType::kAgent) || s->relation != Relation::kNone ||
      s->IsWildcard())
    return Status::Error(EINVAL, "subject \"" + text + "\" must be user:ID or agent:ID");
  return s;
}

Status RegisteredAgent(const Conn& conn, const SubjectRef& s) {
  AgentRegistry* registry = conn.ctx->agents.registry;
  if (s.type != ObjectType::kAgent || !registry) return Status::Ok();
  auto agent = registry->CheckActAs({conn.subject(), conn.admin()}, s.id);
  if (agent.code() == ENOENT)
    return Status::Error(
        ENOENT, "agent '" + s.id + "' not found (register it first: nexus agent register " + s.id + " NAME)");
  return agent.status();
}

kj::Own<rpc::Permissions::Server> MakePermissionsService(ConnPtr conn) {
  return kj::heap<PermissionsImpl>(std::move(conn));
}

kj::Own<rpc::Mounts::Server> MakeMountsService(ConnPtr conn) { return kj::heap<MountsImpl>(std::move(conn)); }

}  // namespace nexus
