// RebacIndex: the in-memory form of the tuple set, and the evaluation of
// checks, explanations, expansions and listings over it.
//
// Every object and subject node ("file:/a/b", "group:ops", "user:alice") is
// interned once to a NodeId. A path object interns its parent folders up to
// folder:/ (so inheritance follows NodeIds, not strings) and its owning zone.
// Each tuple is held three ways: a hash entry (object, relation, subject,
// subject relation) -> expiry for O(1) membership tests on the check path,
// an edge on its object (split into plain subjects and usersets, so a check
// walks only the usersets) and a reverse edge on its subject (for listings).
// Nodes are never removed: an interned name costs one entry even after its
// last tuple is deleted.
//
// Evaluation rules (docs/rebac.md has the full model):
//   read = viewer ∪ write, write = editor ∪ manage,
//   manage = owner ∪ admin of the owning zone, each inherited from parent
//   folders; on zones member ⊇ admin ⊇ owner; user:* matches every user:
//   subject (not agents). At most kMaxDepth nested userset hops: past that a
//   path is cut and the answer, if no other path grants, is a denial with
//   reason kDepthLimit. Cycles are cut the same way (kCycle).
//
// Thread-safety: none inside. The engine holds a shared lock around the
// const queries and an exclusive lock around Put/Erase.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/clock.h"
#include "perms/rebac_types.h"

namespace nexus {

inline constexpr int kMaxDepth = 32;

enum class DenyReason : uint8_t { kNone, kNoTuple, kExpired, kDepthLimit, kCycle };
std::string_view ToString(DenyReason r);

// A subtree of Expand: a subject and, for usersets, the subjects in it.
struct SubjectTree {
  SubjectRef subject;
  Tuple via;  // the tuple that brought this subject in
  std::vector<SubjectTree> members;
  bool truncated = false;  // children cut by the depth limit or a cycle
};

struct Evaluation {
  bool allowed = false;
  // A grant holds until this instant (the earliest expiry on the granting
  // path); a denial holds forever unless tuples change.
  UnixNanos valid_until = kNever;
  DenyReason reason = DenyReason::kNone;
  // Only when traced: the granting tuples from the object side to the
  // subject, or for kExpired the expired tuple that would have granted.
  std::vector<Tuple> path;
};

// Where a subject holds anything on the tree: the paths of the path objects
// (folders, files, tools) it is related to directly or through usersets,
// and /zone/Z for each zone Z it administers. A folder above one of these is
// one the subject needs to pass through to reach what it was given.
struct GrantRoots {
  std::vector<std::string> paths;  // sorted, unique
  bool everything = false;         // admin of zone:root
  UnixNanos valid_until = kNever;  // the earliest expiry among the tuples used
};

struct TupleFilter {
  std::optional<ObjectType> subject_type;
  std::optional<std::string> subject_id;
  std::optional<ObjectType> object_type;
  std::optional<std::string> object_id;
  std::optional<Relation> relation;
  std::optional<std::string> zone;
  bool include_expired = true;
};

class RebacIndex {
 public:
  using NodeId = uint32_t;
  static constexpr NodeId kNoNode = UINT32_MAX;

  RebacIndex();

  // Inserts the tuple or updates its expiry and zone. EDQUOT if the node
  // space is exhausted.
  Status Put(const Tuple& t);
  // False if the tuple is absent.
  bool Erase(const Tuple& t);
  bool Contains(const Tuple& t) const;
  size_t size() const { return direct_.size(); }

  // Does `subject` have `access` on `object` at `now`? `trace` fills path.
  Evaluation Evaluate(const SubjectView& subject, Access access, std::string_view object_text,
                      const ObjectView& object, UnixNanos now, bool trace) const;
  // The subjects with `access` on `object`: one tree per contributing tuple.
  std::vector<SubjectTree> Expand(Access access, const ObjectView& object, UnixNanos now) const;
  // Known objects (optionally of one type) on which `subject` has `access`,
  // sorted by name.
  std::vector<std::string> ListObjects(const SubjectView& subject, Access access,
                                       std::optional<ObjectType> type, UnixNanos now) const;
  // The grant roots of `subject` at `now` (live tuples only).
  GrantRoots Roots(const SubjectView& subject, UnixNanos now) const;
  // Tuples matching `filter`, in no particular order; at most `limit`.
  std::vector<Tuple> ListTuples(const TupleFilter& filter, UnixNanos now, size_t limit) const;
  // Whether any tuple names `zone`: as its label, as the object or subject
  // zone:ZONE, or on a path under /zone/ZONE. Labels count once used (a
  // zone stays known after its last tuple is deleted).
  bool KnowsZone(std::string_view zone) const;
  // Whether a tuple on `object` ("type:id") carries the zone label `zone`.
  bool LabelsObject(std::string_view object, std::string_view zone) const;
  // Calls `fn` on every tuple.
  void ForEach(const std::function<void(const Tuple&)>& fn) const;

 private:
  friend class Evaluator;
  friend class Expander;

  struct Edge {
    NodeId other;  // the subject seen from the object, the object seen from the subject
    Relation relation;
    Relation subject_rel;
    uint32_t zone_label;
    UnixNanos expires_at;
  };
  struct Node {
    std::string name;  // "type:id"
    ObjectType type;
    NodeId parent = kNoNode;                           // parent folder of a path object
    NodeId zone = kNoNode;                             // owning zone of an object (none for zone:root)
    std::array<uint32_t, kRelationCount> rel_count{};  // edges on this object, by relation
    std::vector<Edge> subjects;                        // tuples on this object whose subject is a user/agent
    std::vector<Edge> usersets;                        // tuples on this object whose subject is a userset
    std::vector<Edge> as_subject;                      // tuples naming this node as their subject
    std::vector<NodeId> children;
    std::string_view id() const { return std::string_view(name).substr(ToString(type).size() + 1); }
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  static uint64_t Key(NodeId object, Relation rel, NodeId subject, Relation subject_rel) {
    return (uint64_t{object} << 36) | (uint64_t{subject} << 8) | (static_cast<uint64_t>(rel) << 4) |
           static_cast<uint64_t>(subject_rel);
  }
  NodeId Find(std::string_view name) const;
  Result<NodeId> Intern(std::string_view name);
  Result<NodeId> InternObject(const ObjectRef& o);
  uint32_t ZoneLabel(const std::string& zone);
  SubjectRef SubjectOf(NodeId n, Relation rel) const;
  ObjectRef ObjectOf(NodeId n) const;
  Tuple MakeTuple(NodeId object, const Edge& e) const;  // e seen from the object

  std::vector<Node> nodes_;
  std::unordered_map<std::string, NodeId, StringHash, std::equal_to<>> ids_;
  std::unordered_map<uint64_t, UnixNanos> direct_;
  std::vector<std::string> zone_labels_;  // [0] = ""
  std::unordered_map<std::string, uint32_t> zone_label_ids_;
  NodeId wildcard_ = kNoNode;  // user:*
};

}  // namespace nexus
