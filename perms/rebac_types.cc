#include "perms/rebac_types.h"

#include <array>

#include "base/layout.h"
#include "base/ns_path.h"

namespace nexus {
namespace {

constexpr std::array<std::string_view, 7> kTypeNames = {"user",   "agent", "group", "zone",
                                                        "folder", "file",  "tool"};
constexpr std::array<std::string_view, kRelationCount> kRelationNames = {"",      "viewer", "editor",
                                                                         "owner", "member", "admin"};
constexpr std::array<std::string_view, 3> kPermissionNames = {"read", "write", "manage"};

Status Invalid(std::string what, std::string_view input) {
  return Status::Error(EINVAL, what + ": \"" + std::string(input) + "\"");
}

bool IsPathType(ObjectType t) { return t == ObjectType::kFolder || t == ObjectType::kFile; }

// A plain name (user, agent, group, zone or tool id). '*' is reserved for
// the public subject user:*.
bool IsName(std::string_view s) {
  return !s.empty() && s.find_first_of(std::string_view("#@/:* \t\n\r\0", 10)) == std::string_view::npos;
}

// What is wrong with `id` as the id of a `type`, or nullptr.
const char* IdProblem(ObjectType type, std::string_view id) {
  if (IsPathType(type)) return IsCanonicalPath(id) ? nullptr : "needs a canonical absolute path";
  if (type == ObjectType::kZone && id != kRootZone && !layout::IsZoneName(id))
    return "needs a zone name (1-64 of letters, digits, '.', '_', '-'; see docs/rebac.md)";
  return IsName(id) ? nullptr : "has an empty or malformed id";
}

const char* ObjectProblem(ObjectType type, std::string_view id) {
  if (type == ObjectType::kUser || type == ObjectType::kAgent) {
    return "users and agents are subjects, not objects";
  }
  return IdProblem(type, id);
}

const char* SubjectProblem(ObjectType type, std::string_view id, Relation rel) {
  bool userset_type = type == ObjectType::kGroup || type == ObjectType::kZone;
  bool actor_type = type == ObjectType::kUser || type == ObjectType::kAgent;
  if (type == ObjectType::kUser && id == "*") {
    return rel == Relation::kNone ? nullptr : "user:* takes no relation";
  }
  if (!userset_type && !actor_type) return "subject must be a user, agent, group or zone";
  if (userset_type && rel == Relation::kNone) {
    return "a group or zone subject needs a relation (e.g. #member)";
  }
  if (actor_type && rel != Relation::kNone) return "a user or agent subject takes no relation";
  if (rel == Relation::kAdmin && type != ObjectType::kZone) return "only zones have admins";
  return IdProblem(type, id);
}

// Splits "type:id" (no validation of the id).
Result<ObjectView> SplitTyped(std::string_view s, std::string_view what) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return Invalid(std::string(what) + " needs type:id", s);
  auto type = ParseObjectType(s.substr(0, colon));
  if (!type.ok()) return Invalid(std::string(what) + " has an unknown type", s);
  return ObjectView{*type, s.substr(colon + 1)};
}

}  // namespace

std::string_view ToString(ObjectType t) { return kTypeNames[static_cast<int>(t)]; }
std::string_view ToString(Relation r) { return kRelationNames[static_cast<int>(r)]; }
std::string_view ToString(Permission p) { return kPermissionNames[static_cast<int>(p)]; }

Result<ObjectType> ParseObjectType(std::string_view s) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == s) return static_cast<ObjectType>(i);
  }
  return Invalid("unknown object type", s);
}

Result<Relation> ParseRelation(std::string_view s) {
  for (size_t i = 1; i < kRelationNames.size(); ++i) {
    if (kRelationNames[i] == s) return static_cast<Relation>(i);
  }
  // The Nexus user guide's names for the direct forms of ours.
  constexpr std::string_view kDirect = "direct_";
  if (s.starts_with(kDirect)) {
    for (Relation r : {Relation::kViewer, Relation::kEditor, Relation::kOwner}) {
      if (s.substr(kDirect.size()) == ToString(r)) return r;
    }
  }
  return Invalid("unknown relation", s);
}

Result<Access> Access::Parse(std::string_view s) {
  for (size_t i = 0; i < kPermissionNames.size(); ++i) {
    if (kPermissionNames[i] == s) return Access::Of(static_cast<Permission>(i));
  }
  auto r = ParseRelation(s);
  if (!r.ok()) return Invalid("unknown permission or relation", s);
  return Access::Of(*r);
}

std::string_view Access::Name() const { return is_permission ? ToString(permission) : ToString(relation); }

Result<ObjectView> ParseObjectView(std::string_view s) {
  auto v = SplitTyped(s, "object");
  if (!v.ok()) return v.status();
  if (const char* problem = ObjectProblem(v->type, v->id)) {
    return Invalid(std::string("object ") + problem, s);
  }
  return v;
}

Result<SubjectView> ParseSubjectView(std::string_view s) {
  size_t hash = s.find('#');
  std::string_view node = s.substr(0, hash);
  auto v = SplitTyped(node, "subject");
  if (!v.ok()) return v.status();
  SubjectView out{v->type, v->id, Relation::kNone, node};
  if (hash != std::string_view::npos) {
    auto rel = ParseRelation(s.substr(hash + 1));
    if (!rel.ok()) return Invalid("subject has an unknown userset relation", s);
    out.relation = *rel;
  }
  if (const char* problem = SubjectProblem(out.type, out.id, out.relation)) {
    return Invalid(std::string("subject: ") + problem, s);
  }
  return out;
}

Result<ObjectRef> ObjectRef::Parse(std::string_view s) {
  auto v = ParseObjectView(s);
  if (!v.ok()) return v.status();
  return ObjectRef{v->type, std::string(v->id)};
}

std::string ObjectRef::ToString() const {
  std::string out(nexus::ToString(type));
  out += ':';
  out += id;
  return out;
}

Result<SubjectRef> SubjectRef::Parse(std::string_view s) {
  auto v = ParseSubjectView(s);
  if (!v.ok()) return v.status();
  return SubjectRef{v->type, std::string(v->id), v->relation};
}

std::string SubjectRef::Node() const {
  std::string out(nexus::ToString(type));
  out += ':';
  out += id;
  return out;
}

std::string SubjectRef::ToString() const {
  std::string out = Node();
  if (relation != Relation::kNone) {
    out += '#';
    out += nexus::ToString(relation);
  }
  return out;
}

Result<Tuple> Tuple::Parse(std::string_view s) {
  size_t at = s.find('@');
  if (at == std::string_view::npos) return Invalid("tuple needs subject#relation@object", s);
  std::string_view left = s.substr(0, at);
  size_t hash = left.rfind('#');
  if (hash == std::string_view::npos) return Invalid("tuple needs subject#relation@object", s);
  auto subject = SubjectRef::Parse(left.substr(0, hash));
  if (!subject.ok()) return subject.status();
  auto relation = ParseRelation(left.substr(hash + 1));
  if (!relation.ok()) return relation.status();
  auto object = ObjectRef::Parse(s.substr(at + 1));
  if (!object.ok()) return object.status();
  Tuple t{std::move(*subject), *relation, std::move(*object), kNever, ""};
  NEXUS_RETURN_IF_ERROR(t.Validate());
  return t;
}

std::string Tuple::ToString() const {
  std::string out = subject.ToString();
  out += '#';
  out += nexus::ToString(relation);
  out += '@';
  out += object.ToString();
  return out;
}

Status Tuple::Validate() const {
  if (const char* problem = SubjectProblem(subject.type, subject.id, subject.relation)) {
    return Invalid(std::string("subject: ") + problem, subject.ToString());
  }
  if (const char* problem = ObjectProblem(object.type, object.id)) {
    return Invalid(std::string("object ") + problem, object.ToString());
  }
  bool ok = false;
  switch (relation) {
    case Relation::kViewer:
    case Relation::kEditor:
    case Relation::kOwner:
      ok = true;
      break;
    case Relation::kMember:
      ok = object.type == ObjectType::kGroup || object.type == ObjectType::kZone;
      break;
    case Relation::kAdmin:
      ok = object.type == ObjectType::kZone;
      break;
    case Relation::kNone:
      break;
  }
  if (!ok) {
    return Status::Error(EINVAL, "relation \"" + std::string(nexus::ToString(relation)) +
                                     "\" does not exist on " + std::string(nexus::ToString(object.type)) +
                                     " objects");
  }
  return Status::Ok();
}

std::optional<std::string_view> ParentPath(std::string_view path) {
  if (path.size() <= 1) return std::nullopt;
  return PathParent(path);
}

std::optional<std::string> PathOf(ObjectType type, std::string_view id) {
  if (IsPathType(type)) return std::string(id);
  if (type == ObjectType::kTool) return PathJoin(std::string("/") + std::string(layout::kToolsName), id);
  return std::nullopt;
}

}  // namespace nexus
