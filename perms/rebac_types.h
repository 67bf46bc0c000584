// The vocabulary of the ReBAC engine: object types, relations, permissions,
// subjects, objects and tuples, with their one parser and formatter.
//
// Text forms (the forms stored in SQLite, printed by tools and accepted from
// callers):
//   object   type:id             zone:eng  folder:/a/b  file:/a/b/c  tool:grep  group:ops
//   subject  type:id[#relation]  user:alice  agent:bot  user:*  group:ops#member  zone:eng#member
//   tuple    subject#relation@object   e.g. group:ops#member#viewer@folder:/zone/eng
// A subject id never contains '#' or '@'; an object id may contain anything
// its type allows, so a tuple splits at the first '@'. Paths must be absolute
// and canonical ("/", or "/a/b": no empty, "." or ".." component, no trailing
// '/'). Bad input is EINVAL with a message naming the problem.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/layout.h"
#include "base/status.h"
#include "base/clock.h"

namespace nexus {

enum class ObjectType : uint8_t { kUser, kAgent, kGroup, kZone, kFolder, kFile, kTool };

// Stored relations. kNone marks a subject that is not a userset.
enum class Relation : uint8_t { kNone = 0, kViewer, kEditor, kOwner, kMember, kAdmin };
inline constexpr int kRelationCount = 6;

// Computed permissions: read = viewer ∪ write, write = editor ∪ manage,
// manage = owner ∪ admin of the owning zone; each also inherited from the
// parent folder.
enum class Permission : uint8_t { kRead, kWrite, kManage };

std::string_view ToString(ObjectType t);
std::string_view ToString(Relation r);
std::string_view ToString(Permission p);
Result<ObjectType> ParseObjectType(std::string_view s);
Result<Relation> ParseRelation(std::string_view s);  // never kNone

// What Check/Explain are asked about: a permission or a single relation.
struct Access {
  bool is_permission = true;
  Permission permission = Permission::kRead;
  Relation relation = Relation::kNone;

  static Access Of(Permission p) { return {true, p, Relation::kNone}; }
  static Access Of(Relation r) { return {false, Permission::kRead, r}; }
  static Result<Access> Parse(std::string_view s);
  std::string_view Name() const;
};

// Non-owning parsed forms; the views point into the parsed text.
struct ObjectView {
  ObjectType type;
  std::string_view id;
};
struct SubjectView {
  ObjectType type;
  std::string_view id;
  Relation relation = Relation::kNone;
  std::string_view node;  // "type:id", the subject without its relation
};
Result<ObjectView> ParseObjectView(std::string_view s);
Result<SubjectView> ParseSubjectView(std::string_view s);

struct ObjectRef {
  ObjectType type = ObjectType::kFile;
  std::string id;

  static Result<ObjectRef> Parse(std::string_view s);
  std::string ToString() const;
  bool operator==(const ObjectRef&) const = default;
};

struct SubjectRef {
  ObjectType type = ObjectType::kUser;
  std::string id;
  Relation relation = Relation::kNone;  // set for usersets: group:G#member

  static Result<SubjectRef> Parse(std::string_view s);
  std::string ToString() const;
  // "type:id" without the relation.
  std::string Node() const;
  bool IsWildcard() const { return type == ObjectType::kUser && id == "*"; }
  bool operator==(const SubjectRef&) const = default;
};

struct Tuple {
  SubjectRef subject;
  Relation relation = Relation::kViewer;
  ObjectRef object;
  UnixNanos expires_at = kNever;  // grants while now < expires_at
  std::string zone;               // for listing and filtering only; "" = none

  // "subject#relation@object"; expiry and zone are not part of the text.
  static Result<Tuple> Parse(std::string_view s);
  std::string ToString() const;
  // EINVAL unless the relation exists on the object's type and the subject
  // form is allowed (user/agent ids, user:*, group/zone usersets).
  Status Validate() const;
  // Identity of a tuple: subject, relation, object (not expiry or zone).
  bool SameKey(const Tuple& o) const {
    return subject == o.subject && relation == o.relation && object == o.object;
  }
};

// Paths: of folder/file ids, and of other objects that live at a path.
// The parent folder path of a canonical path; nullopt for "/".
std::optional<std::string_view> ParentPath(std::string_view path);
// The namespace path of an object if it has one: folders and files are
// their id, tools live at /tools/<name>; nullopt for users, groups, zones.
std::optional<std::string> PathOf(ObjectType type, std::string_view id);

using layout::kRootZone;

}  // namespace nexus
