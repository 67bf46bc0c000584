// Access control: nexus rebac ..., nexus identity ..., nexus audit ...,
// nexus mount ... (docs/cli-rebac.md).
//
// Subjects and objects are given as TYPE ID pairs, as the Python Nexus CLI
// takes them, and checked here with the engine's own parsers
// (perms/rebac_types.h), so a malformed tuple is a usage error (64) that
// never reaches the daemon; what the daemon refuses exits 1.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ctime>
#include <string>

#include "base/clock.h"
#include "perms/rebac_types.h"
#include "rpc/bytes.h"
#include "cli/cli.h"
#include "rpc/errors.h"
#include "base/ns_path.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------- parsing

// A subject from SUBJ_TYPE SUBJ_ID: "user:alice", "agent:bot", "user:*";
// a group or zone is the userset of its members ("group eng" is
// group:eng#member) unless the id names another relation ("eng#admin").
Result<std::string> SubjectArg(const std::string& type, const std::string& id) {
  auto t = ParseObjectType(type);
  if (!t.ok() || (*t != ObjectType::kUser && *t != ObjectType::kAgent && *t != ObjectType::kGroup &&
                  *t != ObjectType::kZone))
    return Status::Error(EINVAL, "subject type \"" + type + "\" must be user, agent, group or zone");
  std::string text = type + ":" + id;
  if ((*t == ObjectType::kGroup || *t == ObjectType::kZone) && id.find('#') == std::string::npos)
    text += "#member";
  auto s = SubjectRef::Parse(text);
  if (!s.ok()) return s.status();
  return s->ToString();
}

// A user or agent subject given whole ("agent:alice").
Result<std::string> PersonArg(const std::string& text) {
  auto s = SubjectRef::Parse(text);
  if (!s.ok()) return s.status();
  if ((s->type != ObjectType::kUser && s->type != ObjectType::kAgent) || s->relation != Relation::kNone ||
      s->IsWildcard())
    return Status::Error(EINVAL, "subject \"" + text + "\" must be user:ID or agent:ID (e.g. agent:alice)");
  return s->ToString();
}

// An absolute namespace path, canonical ("/a//b/" is /a/b).
Result<std::string> PathArg(const std::string& text) {
  auto path = NsPath::Parse(text);
  if (!path.ok()) return path.status();
  return path->str();
}

// An object from OBJ_TYPE OBJ_ID: file, folder (ids are paths), zone,
// group, tool.
Result<std::string> ObjectArg(const std::string& type, const std::string& id) {
  auto t = ParseObjectType(type);
  if (!t.ok() || *t == ObjectType::kUser || *t == ObjectType::kAgent)
    return Status::Error(EINVAL, "object type \"" + type + "\" must be file, folder, zone, group or tool");
  std::string norm = id;
  if (*t == ObjectType::kFile || *t == ObjectType::kFolder) {
    auto p = PathArg(id);
    if (!p.ok()) return p.status();
    norm = *p;
  }
  auto o = ObjectRef::Parse(type + ":" + norm);
  if (!o.ok()) return o.status();
  return o->ToString();
}

Status AccessArg(const std::string& text) { return Access::Parse(text).status(); }

// A whole number of seconds >= 1 (a --ttl).
Result<uint64_t> Seconds(const Args& a, const std::string& flag, double max) {
  auto n = a.Number(flag, 0, 1, max);
  if (!n.ok()) return n.status();
  if (*n != std::floor(*n))
    return Status::Error(EINVAL, "--" + flag + ": '" + a.Get(flag) + "' is not a whole number of seconds");
  return static_cast<uint64_t>(*n);
}

// ---------------------------------------------------------------- output

json TimeOrNull(int64_t ns) { return ns ? json(FormatTime(ns)) : json(nullptr); }

json TupleJson(rpc::RebacTuple::Reader t) {
  return {{"subject", std::string(t.getSubject())},
          {"relation", std::string(t.getRelation())},
          {"object", std::string(t.getObject())},
          {"expires_at", TimeOrNull(t.getExpiresAtNs())},
          {"expires_at_ns", t.getExpiresAtNs() ? json(t.getExpiresAtNs()) : json(nullptr)},
          {"zone", std::string(t.getZone())},
          {"expired", t.getExpired()}};
}

std::string TupleText(rpc::RebacTuple::Reader t) {
  return std::string(t.getSubject()) + "#" + std::string(t.getRelation()) + "@" + std::string(t.getObject());
}

std::string ExpiryText(rpc::RebacTuple::Reader t) {
  if (!t.getExpiresAtNs()) return "never";
  return FormatTime(t.getExpiresAtNs()) + (t.getExpired() ? " (expired)" : "");
}

json AuditJson(rpc::AuditEntry::Reader e) {
  return {{"time", FormatTime(e.getTimeNs())},      {"time_ns", e.getTimeNs()},
          {"subject", std::string(e.getSubject())}, {"operation", std::string(e.getOperation())},
          {"object", std::string(e.getObject())},   {"decision", e.getAllowed() ? "allow" : "deny"},
          {"reason", std::string(e.getReason())}};
}

json MountJson(rpc::SubjectMount::Reader m) {
  return {{"mountpoint", std::string(m.getMountpoint())},
          {"subject", std::string(m.getSubject())},
          {"root", std::string(m.getRoot())},
          {"created", TimeOrNull(m.getCreatedNs())},
          {"created_ns", m.getCreatedNs()},
          {"cache_names", m.getCachesNames()}};
}

// ---------------------------------------------------------------- plumbing

int WithPermissions(Cli& cli, const std::function<int(NexusClient&, rpc::Permissions::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto p = (*c)->session().permissionsRequest().send().getPermissions();
  return fn(**c, p);
}

int WithMounts(Cli& cli, const std::function<int(NexusClient&, rpc::Mounts::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto m = (*c)->session().mountsRequest().send().getMounts();
  return fn(**c, m);
}

// SUBJ_TYPE SUBJ_ID REL OBJ_TYPE OBJ_ID from positional[first..first+4]:
// subject, relation-or-permission, object.
struct Triple {
  std::string subject, access, object;
};
Result<Triple> TripleArgs(const Args& a, size_t first, bool relation_only) {
  const auto& p = a.positional;
  auto s = SubjectArg(p[first], p[first + 1]);
  if (!s.ok()) return s.status();
  const std::string& access = p[first + 2];
  if (relation_only) {
    auto r = ParseRelation(access);
    if (!r.ok())
      return Status::Error(EINVAL,
                           "unknown relation \"" + access + "\" (viewer, editor, owner, member, admin)");
  } else if (Status st = AccessArg(access); !st.ok()) {
    return Status::Error(EINVAL,
                         "unknown permission \"" + access +
                             "\" (read, write, manage, or a relation: viewer, editor, owner, member, admin)");
  }
  auto o = ObjectArg(p[first + 3], p[first + 4]);
  if (!o.ok()) return o.status();
  return Triple{*s, access, *o};
}

// A tuple checked here as the engine would (relation exists on the object
// type, subject form allowed).
Result<Tuple> TupleOf(const Triple& t) {
  auto parsed = Tuple::Parse(t.subject + "#" + t.access + "@" + t.object);
  if (!parsed.ok()) return parsed.status();
  NEXUS_RETURN_IF_ERROR(parsed->Validate());
  return parsed;
}

void SetTuple(rpc::RebacTuple::Builder b, const Triple& t, int64_t expires_ns, const std::string& zone) {
  b.setSubject(t.subject);
  b.setRelation(t.access);
  b.setObject(t.object);
  b.setExpiresAtNs(expires_ns);
  b.setZone(zone);
}

// --zone-id as JSON: null when not given.
json ZoneJson(const Args& a) { return a.Has("zone-id") ? json(a.Get("zone-id")) : json(nullptr); }

// --format json|table (json is the same as --json).
Status FormatFlag(Cli& cli, const Args& a) {
  const std::string format = a.Get("format", "table");
  if (format != "table" && format != "json")
    return Status::Error(EINVAL, "--format must be json or table, not '" + format + "'");
  if (format == "json") cli.json = true;
  return Status::Ok();
}

// A tuple listing: {"tuples", "count", "truncated"} plus `extra` with
// --json, else a table.
void PrintTuples(Cli& cli, capnp::List<rpc::RebacTuple>::Reader tuples, bool truncated, json extra) {
  if (cli.json) {
    json list = json::array();
    for (auto tu : tuples) list.push_back(TupleJson(tu));
    extra["tuples"] = list;
    extra["count"] = list.size();
    extra["truncated"] = truncated;
    cli.PrintJson(extra);
    return;
  }
  std::printf("%-28s %-8s %-36s %-10s %s\n", "SUBJECT", "RELATION", "OBJECT", "ZONE", "EXPIRES");
  for (auto tu : tuples)
    std::printf("%-28s %-8s %-36s %-10s %s\n", tu.getSubject().cStr(), tu.getRelation().cStr(),
                tu.getObject().cStr(), tu.getZone().size() ? tu.getZone().cStr() : "-",
                ExpiryText(tu).c_str());
  if (truncated)
    std::fprintf(stderr, "nexus: more tuples than shown (raise --limit or narrow with filters)\n");
}

// ---------------------------------------------------------------- rebac

int Create(Cli& cli, const Args& a) {
  // The Python CLI's dynamic viewers (column-level views of CSV files).
  if (a.Has("column-config") || a.positional[2] == "dynamic_viewer")
    return cli.Fail(Unavailable("dynamic viewers", "column-level views of CSV files are not built"));
  auto t = TripleArgs(a, 0, true);
  if (!t.ok()) return cli.Fail(t.status(), true);
  if (auto v = TupleOf(*t); !v.ok()) return cli.Fail(v.status(), true);
  if (a.Has("expires-at") && a.Has("ttl")) return cli.Usage("give --expires-at or --ttl, not both");
  int64_t expires = 0;
  const int64_t now = DefaultClock().Now();
  if (a.Has("expires-at")) {
    auto at = ParseInstant(a.Get("expires-at"));
    if (!at.ok()) return cli.Fail(Status::Error(EINVAL, "--expires-at: " + at.status().message()), true);
    if (*at <= now) return cli.Usage("--expires-at " + a.Get("expires-at") + " is in the past");
    expires = *at;
  } else if (a.Has("ttl")) {
    auto ttl = a.Number("ttl", 0, 0.001, 100.0 * 365 * 86400);
    if (!ttl.ok()) return cli.Fail(ttl.status(), true);
    expires = now + static_cast<int64_t>(*ttl * kNanosPerSecond);
  }
  const std::string zone = a.Get("zone-id");
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.writeRequest();
    SetTuple(req.initAdds(1)[0], *t, expires, zone);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    const std::string text = t->subject + "#" + t->access + "@" + t->object;
    if (cli.json) {
      cli.PrintJson({{"created",
                      {{"subject", t->subject},
                       {"relation", t->access},
                       {"object", t->object},
                       {"expires_at", TimeOrNull(expires)},
                       {"expires_at_ns", expires ? json(expires) : json(nullptr)},
                       {"zone", zone}}},
                     {"tuple", text},
                     {"revision", r->getRevision()}});
    } else {
      std::printf("created %s%s (revision %llu)\n", text.c_str(),
                  expires ? (", expires " + FormatTime(expires)).c_str() : "",
                  static_cast<unsigned long long>(r->getRevision()));
    }
    return kExitOk;
  });
}

int Delete(Cli& cli, const Args& a) {
  auto t = TripleArgs(a, 0, true);
  if (!t.ok()) return cli.Fail(t.status(), true);
  if (auto v = TupleOf(*t); !v.ok()) return cli.Fail(v.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.writeRequest();
    SetTuple(req.initDeletes(1)[0], *t, 0, "");
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    const std::string text = t->subject + "#" + t->access + "@" + t->object;
    if (cli.json)
      cli.PrintJson({{"deleted", text}, {"revision", r->getRevision()}});
    else
      std::printf("deleted %s (revision %llu)\n", text.c_str(),
                  static_cast<unsigned long long>(r->getRevision()));
    return kExitOk;
  });
}

int Check(Cli& cli, const Args& a) {
  auto t = TripleArgs(a, 0, false);
  if (!t.ok()) return cli.Fail(t.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.checkRequest();
    req.setSubject(t->subject);
    req.setAccess(t->access);
    req.setObject(t->object);
    req.setZone(a.Get("zone-id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"allowed", r->getAllowed()},
                     {"subject", t->subject},
                     {"permission", t->access},
                     {"object", t->object},
                     {"zone", ZoneJson(a)}});
    else
      std::printf("%s\n", r->getAllowed() ? "allowed" : "denied");
    return kExitOk;
  });
}

int Explain(Cli& cli, const Args& a) {
  auto t = TripleArgs(a, 0, false);
  if (!t.ok()) return cli.Fail(t.status(), true);
  const bool verbose = a.Has("verbose");
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.explainRequest();
    req.setSubject(t->subject);
    req.setAccess(t->access);
    req.setObject(t->object);
    req.setZone(a.Get("zone-id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto e = r->getExplanation();
    if (cli.json) {
      json path = json::array();
      for (auto tu : e.getPath()) path.push_back(TupleJson(tu));
      cli.PrintJson({{"allowed", e.getAllowed()},
                     {"subject", t->subject},
                     {"permission", t->access},
                     {"object", t->object},
                     {"zone", ZoneJson(a)},
                     {"reason", e.getReason().size() ? json(std::string(e.getReason())) : json(nullptr)},
                     {"message", std::string(e.getMessage())},
                     {"path", path},
                     {"valid_until", TimeOrNull(e.getValidUntilNs())}});
      return kExitOk;
    }
    std::printf("%s\n", e.getAllowed() ? "allowed" : "denied");
    if (e.getMessage().size()) std::printf("%s\n", e.getMessage().cStr());
    if (e.getPath().size()) {
      std::printf("%s:\n", e.getAllowed() ? "granted through" : "would have granted");
      for (auto tu : e.getPath()) {
        if (verbose)
          std::printf("  %s  (expires %s, zone %s)\n", TupleText(tu).c_str(), ExpiryText(tu).c_str(),
                      tu.getZone().size() ? tu.getZone().cStr() : "-");
        else
          std::printf("  %s\n", TupleText(tu).c_str());
      }
    }
    if (verbose && e.getAllowed())
      std::printf("valid until %s\n",
                  e.getValidUntilNs() ? FormatTime(e.getValidUntilNs()).c_str() : "revoked (no expiry)");
    return kExitOk;
  });
}

int List(Cli& cli, const Args& a) {
  if (Status st = FormatFlag(cli, a); !st.ok()) return cli.Fail(st, true);
  auto limit = a.Number("limit", 1000, 1, 100000);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  std::string subject_type = a.Get("subject-type"), object_type = a.Get("object-type");
  std::string object_id = a.Get("object-id"), relation = a.Get("relation");
  if (!subject_type.empty() && !ParseObjectType(subject_type).ok())
    return cli.Usage("--subject-type \"" + subject_type + "\" must be user, agent, group or zone");
  if (!object_type.empty() && !ParseObjectType(object_type).ok())
    return cli.Usage("--object-type \"" + object_type + "\" must be file, folder, zone, group or tool");
  if (!relation.empty() && !ParseRelation(relation).ok())
    return cli.Usage("unknown relation \"" + relation + "\" (viewer, editor, owner, member, admin)");
  if (!object_id.empty() && object_id[0] == '/') {
    auto p = PathArg(object_id);
    if (!p.ok()) return cli.Fail(p.status(), true);
    object_id = *p;
  }
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.listRequest();
    req.setSubjectType(subject_type);
    req.setSubjectId(a.Get("subject-id"));
    req.setObjectType(object_type);
    req.setObjectId(object_id);
    req.setRelation(relation);
    req.setIncludeExpired(!a.Has("active"));
    req.setLimit(static_cast<uint32_t>(*limit));
    req.setZone(a.Get("zone-id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    PrintTuples(cli, r->getTuples(), r->getTruncated(), {});
    return kExitOk;
  });
}

// rebac share incoming|outgoing [SUBJ_TYPE SUBJ_ID]
int ListShares(Cli& cli, const Args& a, bool outgoing) {
  if (Status st = FormatFlag(cli, a); !st.ok()) return cli.Fail(st, true);
  auto limit = a.Number("limit", 1000, 1, 100000);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  if (a.positional.size() == 1) return cli.Usage("give SUBJ_TYPE and SUBJ_ID, or neither (yourself)");
  std::string subject;
  if (a.positional.size() == 2) {
    auto s = SubjectArg(a.positional[0], a.positional[1]);
    if (!s.ok()) return cli.Fail(s.status(), true);
    auto person = PersonArg(*s);
    if (!person.ok()) return cli.Fail(person.status(), true);
    subject = *person;
  }
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.sharesRequest();
    req.setOutgoing(outgoing);
    req.setSubject(subject);
    req.setZone(a.Get("zone-id"));
    req.setLimit(static_cast<uint32_t>(*limit));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    PrintTuples(cli, r->getTuples(), r->getTruncated(),
                {{"direction", outgoing ? "outgoing" : "incoming"},
                 {"subject", subject.empty() ? json(nullptr) : json(subject)},
                 {"zone", ZoneJson(a)}});
    return kExitOk;
  });
}

int ListObjects(Cli& cli, const Args& a) {
  const std::string& access = a.positional[0];
  if (!AccessArg(access).ok())
    return cli.Usage("unknown permission \"" + access + "\" (read, write, manage, or a relation)");
  auto s = SubjectArg(a.positional[1], a.positional[2]);
  if (!s.ok()) return cli.Fail(s.status(), true);
  const std::string type = a.Get("type");
  if (!type.empty()) {
    auto t = ParseObjectType(type);
    if (!t.ok() || *t == ObjectType::kUser || *t == ObjectType::kAgent)
      return cli.Usage("--type \"" + type + "\" must be file, folder, zone, group or tool");
  }
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.listObjectsRequest();
    req.setAccess(access);
    req.setSubject(*s);
    req.setObjectType(type);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto o : r->getObjects()) list.push_back(std::string(o));
      cli.PrintJson({{"subject", *s}, {"permission", access}, {"objects", list}});
    } else {
      for (auto o : r->getObjects()) std::printf("%s\n", o.cStr());
    }
    return kExitOk;
  });
}

int Expand(Cli& cli, const Args& a) {
  const std::string& access = a.positional[0];
  if (!AccessArg(access).ok())
    return cli.Usage("unknown permission \"" + access + "\" (read, write, manage, or a relation)");
  auto o = ObjectArg(a.positional[1], a.positional[2]);
  if (!o.ok()) return cli.Fail(o.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.expandRequest();
    req.setAccess(access);
    req.setObject(*o);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto s : r->getSubjects()) list.push_back(std::string(s));
      cli.PrintJson(
          {{"permission", access}, {"object", *o}, {"subjects", list}, {"tree", std::string(r->getTree())}});
    } else if (r->getSubjects().size() == 0) {
      std::printf("nobody has %s on %s\n", access.c_str(), o->c_str());
    } else {
      std::fwrite(r->getTree().begin(), 1, r->getTree().size(), stdout);
    }
    return kExitOk;
  });
}

int Share(Cli& cli, const Args& a) {
  // PATH SUBJ_TYPE SUBJ_ID, or the Python CLI's SUBJ_TYPE OBJ_TYPE PATH SUBJ_ID.
  const auto& p = a.positional;
  const bool typed = p.size() == 4;
  if (typed && p[1] != "file" && p[1] != "folder")
    return cli.Usage("OBJ_TYPE \"" + p[1] + "\" must be file or folder (the path's kind decides)");
  if (p.size() != 3 && !typed) return cli.Usage("usage: nexus rebac share PATH SUBJ_TYPE SUBJ_ID --role R");
  auto path = PathArg(typed ? p[2] : p[0]);
  if (!path.ok()) return cli.Fail(path.status(), true);
  auto s = typed ? SubjectArg(p[0], p[3]) : SubjectArg(p[1], p[2]);
  if (!s.ok()) return cli.Fail(s.status(), true);
  if (!a.Has("role")) return cli.Usage("--role viewer|editor|owner is required (--permission is the same)");
  const std::string role = a.Get("role");
  if (role != "viewer" && role != "editor" && role != "owner")
    return cli.Usage("--role \"" + role + "\" must be viewer, editor or owner");
  uint64_t ttl = 0;
  if (a.Has("ttl")) {
    auto t = Seconds(a, "ttl", 100.0 * 365 * 86400);
    if (!t.ok()) return cli.Fail(t.status(), true);
    ttl = *t;
  }
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.shareRequest();
    req.setPath(*path);
    req.setSubject(*s);
    req.setRole(role);
    req.setTtlSeconds(ttl);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto tu = r->getTuple();
    if (cli.json) {
      cli.PrintJson({{"tuple", TupleJson(tu)}, {"revision", r->getRevision()}});
    } else {
      std::printf("shared %s with %s as %s%s (revision %llu)\n", tu.getObject().cStr(),
                  tu.getSubject().cStr(), tu.getRelation().cStr(),
                  tu.getExpiresAtNs() ? (" until " + FormatTime(tu.getExpiresAtNs())).c_str() : "",
                  static_cast<unsigned long long>(r->getRevision()));
    }
    return kExitOk;
  });
}

int Unshare(Cli& cli, const Args& a) {
  // PATH SUBJ_TYPE SUBJ_ID, or (share revoke) OBJ_TYPE PATH SUBJ_TYPE SUBJ_ID.
  const auto& p = a.positional;
  const bool typed = p.size() == 4;
  if (typed && p[0] != "file" && p[0] != "folder")
    return cli.Usage("OBJ_TYPE \"" + p[0] + "\" must be file or folder (the path's kind decides)");
  if (p.size() != 3 && !typed)
    return cli.Usage("usage: nexus rebac unshare PATH SUBJ_TYPE SUBJ_ID [--role R]");
  auto path = PathArg(typed ? p[1] : p[0]);
  if (!path.ok()) return cli.Fail(path.status(), true);
  auto s = typed ? SubjectArg(p[2], p[3]) : SubjectArg(p[1], p[2]);
  if (!s.ok()) return cli.Fail(s.status(), true);
  const std::string role = a.Get("role");
  if (a.Has("role") && role != "viewer" && role != "editor" && role != "owner")
    return cli.Usage("--role \"" + role + "\" must be viewer, editor or owner");
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.unshareRequest();
    req.setPath(*path);
    req.setSubject(*s);
    req.setRole(role);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson(
          {{"path", *path}, {"subject", *s}, {"removed", r->getRemoved()}, {"revision", r->getRevision()}});
    else
      std::printf("removed %u tuple%s of %s on %s (revision %llu)\n", r->getRemoved(),
                  r->getRemoved() == 1 ? "" : "s", s->c_str(), path->c_str(),
                  static_cast<unsigned long long>(r->getRevision()));
    return kExitOk;
  });
}

int SetPublic(Cli& cli, const Args& a, bool pub) {
  auto path = PathArg(a.positional[0]);
  if (!path.ok()) return cli.Fail(path.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.setPublicRequest();
    req.setPath(*path);
    req.setPublic(pub);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"path", *path}, {"public", pub}, {"revision", r->getRevision()}});
    else
      std::printf("%s is now %s (revision %llu)\n", path->c_str(),
                  pub ? "public: every user may read it" : "private",
                  static_cast<unsigned long long>(r->getRevision()));
    return kExitOk;
  });
}

int Info(Cli& cli, const Args&) {
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto r = c.Wait(p.infoRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    const uint64_t hits = r->getCacheHits(), misses = r->getCacheMisses();
    const double ratio = hits + misses ? double(hits) / double(hits + misses) : 0;
    if (cli.json) {
      cli.PrintJson({{"revision", r->getRevision()},
                     {"tuples", r->getTuples()},
                     {"cache_hits", hits},
                     {"cache_misses", misses},
                     {"cache_hit_ratio", ratio}});
    } else {
      std::printf("revision      %llu\n", static_cast<unsigned long long>(r->getRevision()));
      std::printf("tuples        %llu\n", static_cast<unsigned long long>(r->getTuples()));
      std::printf("cache hits    %llu\n", static_cast<unsigned long long>(hits));
      std::printf("cache misses  %llu\n", static_cast<unsigned long long>(misses));
      std::printf("hit ratio     %.1f%%\n", ratio * 100);
    }
    return kExitOk;
  });
}

// ---------------------------------------------------------------- identity

Result<uint32_t> UidFlag(const Args& a) {
  if (!a.values.count("uid")) return Status::Error(EINVAL, "--uid N is required");
  auto n = a.Number("uid", 0, 0, 4294967294.0);
  if (!n.ok()) return n.status();
  if (*n != std::floor(*n))
    return Status::Error(EINVAL, "--uid: '" + a.Get("uid") + "' is not a whole number");
  return static_cast<uint32_t>(*n);
}

int IdentityBind(Cli& cli, const Args& a) {
  auto uid = UidFlag(a);
  if (!uid.ok()) return cli.Fail(uid.status(), true);
  auto s = PersonArg(a.positional[0]);
  if (!s.ok()) return cli.Fail(s.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.bindIdentityRequest();
    req.setUid(*uid);
    req.setSubject(*s);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"uid", *uid}, {"subject", *s}, {"bound", true}});
    else
      std::printf("uid %u acts as %s\n", *uid, s->c_str());
    return kExitOk;
  });
}

int IdentityUnbind(Cli& cli, const Args& a) {
  auto uid = UidFlag(a);
  if (!uid.ok()) return cli.Fail(uid.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.unbindIdentityRequest();
    req.setUid(*uid);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"uid", *uid}, {"bound", false}});
    else
      std::printf("uid %u is no longer bound (acts as user:uid-%u)\n", *uid, *uid);
    return kExitOk;
  });
}

int IdentityList(Cli& cli, const Args&) {
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto r = c.Wait(p.listIdentitiesRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto b : r->getBindings())
        list.push_back({{"uid", b.getUid()}, {"subject", std::string(b.getSubject())}});
      cli.PrintJson({{"bindings", list}, {"admin_subject", std::string(r->getAdminSubject())}});
    } else {
      std::printf("%-10s %s\n", "UID", "SUBJECT");
      for (auto b : r->getBindings()) std::printf("%-10u %s\n", b.getUid(), b.getSubject().cStr());
      std::printf("(uid 0 and the operator act as %s; other uids as user:uid-N)\n",
                  r->getAdminSubject().cStr());
    }
    return kExitOk;
  });
}

// ---------------------------------------------------------------- audit

struct AuditQuery {
  int64_t since_ns = 0;
  std::string subject;
};

Result<AuditQuery> AuditArgs(const Args& a) {
  AuditQuery q;
  if (a.Has("since")) {
    auto s = ParseSince(a.Get("since"));
    if (!s.ok()) return s.status();
    q.since_ns = std::max<int64_t>(*s, 1);
  }
  q.subject = a.Get("subject");
  return q;
}

int AuditList(Cli& cli, const Args& a) {
  auto q = AuditArgs(a);
  if (!q.ok()) return cli.Fail(q.status(), true);
  auto limit = a.Number("limit", 1000, 1, 100000);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.auditListRequest();
    req.setSinceNs(q->since_ns);
    req.setSubject(q->subject);
    req.setDeniedOnly(a.Has("denied"));
    req.setLimit(static_cast<uint32_t>(*limit));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto e : r->getEntries()) list.push_back(AuditJson(e));
      cli.PrintJson({{"entries", list}, {"count", list.size()}, {"dropped", r->getDropped()}});
    } else {
      std::printf("%-24s %-24s %-16s %-6s %-40s %s\n", "TIME", "SUBJECT", "OPERATION", "RESULT", "OBJECT",
                  "REASON");
      for (auto e : r->getEntries())
        std::printf("%-24s %-24s %-16s %-6s %-40s %s\n", FormatTime(e.getTimeNs()).c_str(),
                    e.getSubject().cStr(), e.getOperation().cStr(), e.getAllowed() ? "allow" : "deny",
                    e.getObject().cStr(), e.getReason().cStr());
    }
    if (r->getDropped() && !cli.json)
      std::fprintf(stderr, "nexus: the daemon dropped %llu audit records (its queue was full)\n",
                   static_cast<unsigned long long>(r->getDropped()));
    if (r->getEntries().size() >= *limit && !cli.json)
      std::fprintf(stderr, "nexus: showing the first %u records (raise --limit or use a later --since)\n",
                   static_cast<uint32_t>(*limit));
    return kExitOk;
  });
}

int AuditExport(Cli& cli, const Args& a) {
  if (!a.Has("format")) return cli.Usage("--format jsonl|csv is required");
  const std::string format = a.Get("format");
  if (format != "jsonl" && format != "csv") return cli.Usage("--format must be jsonl or csv");
  auto q = AuditArgs(a);
  if (!q.ok()) return cli.Fail(q.status(), true);
  const std::string out_path = a.Get("output");
  if (a.Has("output") && out_path.empty()) return cli.Usage("-o needs a file name");
  return WithPermissions(cli, [&](NexusClient& c, rpc::Permissions::Client& p) -> int {
    auto req = p.auditExportRequest();
    req.setFormat(format);
    req.setSinceNs(q->since_ns);
    req.setSubject(q->subject);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    std::string_view data = AsView(r->getData());
    if (!out_path.empty()) {
      FILE* f = std::fopen(out_path.c_str(), "wb");
      if (!f) return cli.Fail(Status::FromErrno("open " + out_path));
      bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
      ok = std::fclose(f) == 0 && ok;
      if (!ok) {
        Status st = Status::FromErrno("write " + out_path);
        std::remove(out_path.c_str());
        return cli.Fail(st);
      }
      if (cli.json)
        cli.PrintJson({{"format", format}, {"output", out_path}, {"bytes", data.size()}});
      else
        std::fprintf(stderr, "wrote %zu bytes of %s to %s\n", data.size(), format.c_str(), out_path.c_str());
      return kExitOk;
    }
    if (cli.json) {
      cli.PrintJson({{"format", format}, {"bytes", data.size()}, {"data", std::string(data)}});
      return kExitOk;
    }
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
      return cli.Fail(Status::FromErrno("write standard output"));
    return kExitOk;
  });
}

// ---------------------------------------------------------------- mount

// A host path made absolute against the current directory.
Result<std::string> HostPathArg(const std::string& text) {
  if (text.empty()) return Status::Error(EINVAL, "the mount point must not be empty");
  std::string abs = text;
  if (text[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return Status::FromErrno("getcwd");
    abs = std::string(cwd) + "/" + text;
  }
  std::string norm = std::filesystem::path(abs).lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  return norm;
}

int MountAdd(Cli& cli, const Args& a) {
  auto mnt = HostPathArg(a.positional[0]);
  if (!mnt.ok()) return cli.Fail(mnt.status(), true);
  if (!a.Has("as")) return cli.Usage("--as SUBJECT is required (e.g. --as agent:alice)");
  auto s = PersonArg(a.Get("as"));
  if (!s.ok()) return cli.Fail(s.status(), true);
  std::string root = a.Get("root", "/");
  auto r0 = PathArg(root);
  if (!r0.ok()) return cli.Fail(Status::Error(EINVAL, "--root: " + r0.status().message()), true);
  return WithMounts(cli, [&](NexusClient& c, rpc::Mounts::Client& m) -> int {
    auto req = m.addRequest();
    req.setMountpoint(*mnt);
    req.setSubject(*s);
    req.setRoot(*r0);
    req.setCacheNames(a.Has("cache-names"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto info = r->getMount();
    if (cli.json)
      cli.PrintJson({{"mount", MountJson(info)}});
    else
      std::printf("mounted %s at %s as %s%s\n", info.getRoot().cStr(), info.getMountpoint().cStr(),
                  info.getSubject().cStr(),
                  info.getCachesNames()  ? " (names cached)"
                  : a.Has("cache-names") ? " (names not cached: the kernel cannot revalidate them)"
                                         : "");
    return kExitOk;
  });
}

int MountList(Cli& cli, const Args&) {
  return WithMounts(cli, [&](NexusClient& c, rpc::Mounts::Client& m) -> int {
    auto r = c.Wait(m.listRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto info : r->getMounts()) list.push_back(MountJson(info));
      cli.PrintJson({{"mounts", list}});
    } else {
      std::printf("%-36s %-24s %-20s %s\n", "MOUNTPOINT", "SUBJECT", "ROOT", "CREATED");
      for (auto info : r->getMounts())
        std::printf("%-36s %-24s %-20s %s\n", info.getMountpoint().cStr(), info.getSubject().cStr(),
                    info.getRoot().cStr(), FormatTime(info.getCreatedNs()).c_str());
    }
    return kExitOk;
  });
}

int MountRemove(Cli& cli, const Args& a) {
  auto mnt = HostPathArg(a.positional[0]);
  if (!mnt.ok()) return cli.Fail(mnt.status(), true);
  return WithMounts(cli, [&](NexusClient& c, rpc::Mounts::Client& m) -> int {
    auto req = m.removeRequest();
    req.setMountpoint(*mnt);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"mountpoint", *mnt}, {"removed", true}});
    else
      std::printf("unmounted %s\n", mnt->c_str());
    return kExitOk;
  });
}

const char* kSubjectHelp =
    "SUBJ_TYPE SUBJ_ID: user alice | agent bot | user '*' (every user) |\n"
    "group eng (its members: group:eng#member) | group eng#admin | zone eng.\n";
const char* kObjectHelp = "OBJ_TYPE OBJ_ID: file PATH | folder PATH | zone ID | group ID | tool NAME.\n";

}  // namespace

void AddRebacCommands(std::vector<Command>* t) {
  const std::string subj = kSubjectHelp, obj = kObjectHelp;
  t->push_back(
      {{"rebac", "create"},
       {"--zone-id", "--expires-at", "--ttl", "--column-config"},
       {},
       "rebac create SUBJ_TYPE SUBJ_ID RELATION OBJ_TYPE OBJ_ID [--zone-id Z] [--expires-at TIME | --ttl S]",
       "Write the tuple SUBJECT#RELATION@OBJECT. RELATION: viewer, editor, owner (files,\n"
       "folders, tools, groups, zones), member (groups, zones), admin (zones).\n" +
           subj + obj +
           "--expires-at: RFC 3339 (2026-12-01T00:00:00Z) or Unix seconds; --ttl: seconds\n"
           "from now. The tuple stops granting then. --zone-id: the zone label for listing\n"
           "(default: the object's zone). Needs manage on the object (admins: any).\n"
           "dynamic_viewer and --column-config (column-level CSV views) are unavailable.",
       5,
       5,
       Create});
  t->push_back({{"rebac", "delete"},
                {},
                {},
                "rebac delete SUBJ_TYPE SUBJ_ID RELATION OBJ_TYPE OBJ_ID",
                "Delete a tuple; fails (not found) if there is no such tuple. Needs manage on\n"
                "the object.\n" +
                    subj + obj,
                5,
                5,
                Delete});
  const std::string zone_help =
      "--zone-id Z: scope the answer to zone Z (root, a zone /zone/Z, or one a tuple\n"
      "names): an object not under /zone/Z and with no tuple labelled Z is denied.\n"
      "An unknown zone is an error (not found).\n";
  t->push_back({{"rebac", "check"},
                {"--zone-id"},
                {},
                "rebac check SUBJ_TYPE SUBJ_ID PERMISSION OBJ_TYPE OBJ_ID [--zone-id Z]",
                "Print allowed or denied (exit 0 either way). PERMISSION: read, write, manage\n"
                "(computed: inherited from parent folders, zone admins manage their zone) or\n"
                "a relation (viewer, editor, ...: that tuple on that object only).\n" +
                    subj + obj + zone_help +
                    "Non-admins may ask about themselves or about objects they manage.",
                5,
                5,
                Check});
  t->push_back({{"rebac", "explain"},
                {"--zone-id"},
                {"--verbose"},
                "rebac explain SUBJ_TYPE SUBJ_ID PERMISSION OBJ_TYPE OBJ_ID [--zone-id Z] [--verbose]",
                "Why a check is allowed (the granting tuples, from the object side to the\n"
                "subject) or denied (no tuple, expired, depth limit, cycle, other zone).\n"
                "--verbose adds each tuple's expiry and zone and when the grant ends.\n" +
                    subj + obj + zone_help,
                5,
                5,
                Explain});
  t->push_back({{"rebac", "list"},
                {"--subject-type", "--subject-id", "--object-type", "--object-id", "--relation", "--format",
                 "--limit", "--zone-id"},
                {"--active"},
                "rebac list [--subject-type T --subject-id I --object-type T --object-id I --relation R]"
                " [--zone-id Z] [--format json|table] [--limit N] [--active]",
                "List tuples matching every filter given (none: all), at most --limit (default\n"
                "1000). Expired tuples are listed and marked unless --active. --zone-id Z: only\n"
                "tuples labelled Z (a tuple's label is its object's zone unless created with\n"
                "--zone-id); an unknown zone is an error. --format json is the same as --json.\n"
                "Non-admins see tuples naming them and tuples on objects they manage.",
                0,
                0,
                List});
  t->push_back({{"rebac", "list-objects"},
                {"--type"},
                {},
                "rebac list-objects PERMISSION SUBJ_TYPE SUBJ_ID [--type T]",
                "Known objects (named by a tuple, or a folder above one) on which the subject\n"
                "has PERMISSION, optionally of one type (file, folder, zone, group, tool).",
                3,
                3,
                ListObjects});
  t->push_back({{"rebac", "expand"},
                {},
                {},
                "rebac expand PERMISSION OBJ_TYPE OBJ_ID",
                "Everyone who holds PERMISSION on the object, as a tree: each subject with the\n"
                "tuple that brought it in, group members indented below their group.\n" +
                    obj + "Needs manage on the object (admins: any).",
                3,
                3,
                Expand});
  t->push_back({{"rebac", "share"},
                {"--permission,--role", "--ttl"},
                {},
                "rebac share PATH SUBJ_TYPE SUBJ_ID --role viewer|editor|owner [--ttl S]",
                "Give the subject ROLE on PATH: folder:PATH if PATH is a directory, else\n"
                "file:PATH (PATH must exist). --ttl: the grant ends after S seconds.\n"
                "viewer reads, editor also writes, owner also manages (shares further).\n"
                "Also taken as SUBJ_TYPE OBJ_TYPE PATH SUBJ_ID (OBJ_TYPE file or folder) and\n"
                "with --permission for --role.",
                3,
                4,
                Share});
  t->push_back({{"rebac", "share", "incoming"},
                {"--zone-id", "--format", "--limit"},
                {},
                "rebac share incoming [SUBJ_TYPE SUBJ_ID] [--zone-id Z] [--format json|table] [--limit N]",
                "What is shared with you (or, for admins, with the user or agent given): the\n"
                "viewer, editor and owner tuples on files and folders naming the subject\n"
                "directly. --zone-id Z: only those labelled Z.",
                0,
                2,
                [](Cli& c, const Args& a) { return ListShares(c, a, false); }});
  t->push_back({{"rebac", "share", "outgoing"},
                {"--zone-id", "--format", "--limit"},
                {},
                "rebac share outgoing [SUBJ_TYPE SUBJ_ID] [--zone-id Z] [--format json|table] [--limit N]",
                "What you (or, for admins, the user or agent given) shared with others: the\n"
                "viewer, editor and owner tuples on files and folders the subject manages that\n"
                "name someone else (for an admin itself: every such tuple). --zone-id Z: only\n"
                "those labelled Z.",
                0,
                2,
                [](Cli& c, const Args& a) { return ListShares(c, a, true); }});
  t->push_back({{"rebac", "share", "revoke"},
                {"--permission,--role"},
                {},
                "rebac share revoke OBJ_TYPE PATH SUBJ_TYPE SUBJ_ID [--role R]",
                "The same as rebac unshare PATH SUBJ_TYPE SUBJ_ID [--role R] (OBJ_TYPE: file\n"
                "or folder); --permission is the same as --role.",
                4,
                4,
                Unshare});
  t->push_back({{"rebac", "unshare"},
                {"--permission,--role"},
                {},
                "rebac unshare PATH SUBJ_TYPE SUBJ_ID [--role R]",
                "Remove the subject's viewer, editor and owner tuples on PATH (file: and\n"
                "folder:), or only --role R. Fails (not found) if there were none.",
                3,
                3,
                Unshare});
  t->push_back({{"rebac", "public"},
                {},
                {},
                "rebac public PATH",
                "Let every user read PATH (and below, for a folder): user:*#viewer on it.\n"
                "Agents are not users: they need their own grants.",
                1,
                1,
                [](Cli& c, const Args& a) { return SetPublic(c, a, true); }});
  t->push_back({{"rebac", "private"},
                {},
                {},
                "rebac private PATH",
                "Undo rebac public: remove user:*#viewer on PATH. Fails (not found) if PATH\n"
                "was not public.",
                1,
                1,
                [](Cli& c, const Args& a) { return SetPublic(c, a, false); }});
  t->push_back({{"rebac", "info"},
                {},
                {},
                "rebac info",
                "The tuple revision (bumped by every write), the number of tuples and the\n"
                "decision cache's hits and misses.",
                0,
                0,
                Info});
  t->push_back({{"identity", "bind"},
                {"--uid"},
                {},
                "identity bind --uid N SUBJECT",
                "Make local uid N act as SUBJECT (user:ID or agent:ID) on the mount and the\n"
                "socket. uid 0 and the operator always act as the admin subject. Rebind:\n"
                "unbind first. Admins only; recorded in the audit log.",
                1,
                1,
                IdentityBind});
  t->push_back({{"identity", "unbind"},
                {"--uid"},
                {},
                "identity unbind --uid N",
                "Remove uid N's binding: it acts as user:uid-N again (no grants). Admins only.",
                0,
                0,
                IdentityUnbind});
  t->push_back({{"identity", "list"},
                {},
                {},
                "identity list",
                "Every uid binding, and the admin subject. Admins only.",
                0,
                0,
                IdentityList});
  t->push_back({{"audit", "list"},
                {"--since", "--subject", "--limit"},
                {"--denied"},
                "audit list [--since 1h|30m|2d|RFC3339] [--subject S] [--denied] [--limit N]",
                "Audit records, oldest first: permission denials, tuple changes, identity\n"
                "changes. --since: a duration back from now (s, m, h, d, w), an RFC 3339 time\n"
                "or Unix seconds. --subject: who acted. --denied: denials only. --limit:\n"
                "at most N records (default 1000, at most 100000). Admins only.",
                0,
                0,
                AuditList});
  t->push_back({{"audit", "export"},
                {"--format", "--since", "--subject", "-o,--output"},
                {},
                "audit export --format jsonl|csv [--since ...] [--subject S] [-o FILE]",
                "The matching audit log as JSON Lines (one object per line) or RFC 4180 CSV\n"
                "(header row, CRLF) on standard output or in FILE. Fields: time, time_ns,\n"
                "subject, operation, object, decision (allow|deny), reason. At most 48 MiB per\n"
                "export (narrow with --since/--subject). Admins only.",
                0,
                0,
                AuditExport});
  t->push_back({{"mount", "add"},
                {"--as", "--root"},
                {"--cache-names"},
                "mount add MNT --as SUBJECT [--root PATH] [--cache-names]",
                "Mount the namespace (or its subtree PATH) at MNT, an existing empty directory\n"
                "on the daemon's host (made absolute here), where every call acts as SUBJECT\n"
                "(user:ID or agent:ID) whatever the caller's uid. Admins only.\n"
                "By default the kernel caches no names there, so every path step is checked.\n"
                "--cache-names lets it cache them and makes it revalidate them all whenever\n"
                "SUBJECT's access changes (a tuple write, an expiry): faster path walks, on\n"
                "Linux 6.16 or later; but a mount made inside MNT (a nested bind mount) is\n"
                "detached when its name is revalidated.",
                1,
                1,
                MountAdd});
  t->push_back({{"mount", "list"},
                {},
                {},
                "mount list",
                "The per-subject mounts: mount point, subject, root, when added. Admins only.",
                0,
                0,
                MountList});
  t->push_back({{"mount", "remove"},
                {},
                {},
                "mount remove MNT",
                "Unmount a per-subject mount added with mount add. Admins only.",
                1,
                1,
                MountRemove});
}

}  // namespace nexus::cli
