#include "perms/rebac_index.h"

#include <algorithm>
#include <unordered_set>

namespace nexus {
namespace {

using Mask = uint8_t;
constexpr Mask Bit(Relation r) { return static_cast<Mask>(1u << static_cast<int>(r)); }
constexpr Mask kViewer = Bit(Relation::kViewer), kEditor = Bit(Relation::kEditor),
               kOwner = Bit(Relation::kOwner), kMember = Bit(Relation::kMember),
               kAdmin = Bit(Relation::kAdmin);
constexpr uint32_t kMaxNodes = 1u << 28;  // what Key() can hold

bool IsPathObject(ObjectType t) {
  return t == ObjectType::kFolder || t == ObjectType::kFile || t == ObjectType::kTool;
}

// On zones: member ⊇ admin ⊇ owner.
Mask ZoneClosure(Mask m) {
  if (m & kMember) m |= kAdmin;
  if (m & kAdmin) m |= kOwner;
  return m;
}

// The stored relations on an object of `type` that give `access` directly
// (before inheritance and the owning zone's admins).
Mask AccessMask(Access access, ObjectType type) {
  if (!access.is_permission) return Bit(access.relation);
  bool zone = type == ObjectType::kZone;
  switch (access.permission) {
    case Permission::kRead:
      return kViewer | kEditor | kOwner | (zone ? kMember | kAdmin : 0);
    case Permission::kWrite:
      return kEditor | kOwner | (zone ? kAdmin : 0);
    case Permission::kManage:
      return kOwner | (zone ? kAdmin : 0);
  }
  return 0;
}

// Concatenates "type:" and id into a per-thread buffer: name lookups on the
// check path allocate only the first time a thread sees a long name.
std::string_view NameOf(std::string_view type, std::string_view id) {
  thread_local std::string buf;
  buf.assign(type);
  buf += ':';
  buf += id;
  return buf;
}

}  // namespace

std::string_view ToString(DenyReason r) {
  switch (r) {
    case DenyReason::kNone:
      return "granted";
    case DenyReason::kNoTuple:
      return "no tuple grants it";
    case DenyReason::kExpired:
      return "the granting tuple expired";
    case DenyReason::kDepthLimit:
      return "depth limit reached";
    case DenyReason::kCycle:
      return "cycle in usersets";
  }
  return "";
}

RebacIndex::RebacIndex() { zone_labels_.emplace_back(); }

RebacIndex::NodeId RebacIndex::Find(std::string_view name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? kNoNode : it->second;
}

Result<RebacIndex::NodeId> RebacIndex::Intern(std::string_view lookup) {
  if (NodeId n = Find(lookup); n != kNoNode) return n;
  if (nodes_.size() >= kMaxNodes) return Status::Error(EDQUOT, "too many ReBAC nodes");
  // `lookup` may live in the NameOf buffer, which the recursion below reuses.
  std::string name(lookup);
  size_t colon = name.find(':');
  auto type = ParseObjectType(name.substr(0, colon));
  if (!type.ok()) return type.status();
  std::string_view id = std::string_view(name).substr(colon + 1);
  // Resolve parent and zone before adding this node, since the recursion may
  // grow nodes_.
  NodeId parent = kNoNode, zone = kNoNode;
  if (auto path = PathOf(*type, id)) {
    if (auto pp = ParentPath(*path)) {
      auto p = Intern(NameOf("folder", *pp));
      if (!p.ok()) return p.status();
      parent = *p;
    }
  }
  std::string zone_name;
  if (IsPathObject(*type)) {
    zone_name = "zone:" + std::string(layout::ZoneOf(*PathOf(*type, id)));
  } else if (*type == ObjectType::kGroup || (*type == ObjectType::kZone && id != kRootZone)) {
    zone_name = "zone:" + std::string(kRootZone);
  }
  if (!zone_name.empty()) {
    auto z = Intern(zone_name);
    if (!z.ok()) return z.status();
    zone = *z;
  }
  NodeId n = static_cast<NodeId>(nodes_.size());
  Node node;
  node.name = name;
  node.type = *type;
  node.parent = parent;
  node.zone = zone;
  nodes_.push_back(std::move(node));
  ids_.emplace(nodes_[n].name, n);
  if (parent != kNoNode) nodes_[parent].children.push_back(n);
  if (name == "user:*") wildcard_ = n;
  return n;
}

Result<RebacIndex::NodeId> RebacIndex::InternObject(const ObjectRef& o) { return Intern(o.ToString()); }

uint32_t RebacIndex::ZoneLabel(const std::string& zone) {
  if (zone.empty()) return 0;
  auto [it, added] = zone_label_ids_.emplace(zone, static_cast<uint32_t>(zone_labels_.size()));
  if (added) zone_labels_.push_back(zone);
  return it->second;
}

SubjectRef RebacIndex::SubjectOf(NodeId n, Relation rel) const {
  return SubjectRef{nodes_[n].type, std::string(nodes_[n].id()), rel};
}

ObjectRef RebacIndex::ObjectOf(NodeId n) const {
  return ObjectRef{nodes_[n].type, std::string(nodes_[n].id())};
}

Tuple RebacIndex::MakeTuple(NodeId object, const Edge& e) const {
  return Tuple{SubjectOf(e.other, e.subject_rel), e.relation, ObjectOf(object), e.expires_at,
               zone_labels_[e.zone_label]};
}

Status RebacIndex::Put(const Tuple& t) {
  auto obj = InternObject(t.object);
  if (!obj.ok()) return obj.status();
  auto subj = Intern(t.subject.Node());
  if (!subj.ok()) return subj.status();
  uint64_t key = Key(*obj, t.relation, *subj, t.subject.relation);
  Edge edge{*subj, t.relation, t.subject.relation, ZoneLabel(t.zone), t.expires_at};
  Node& on = nodes_[*obj];
  auto& object_edges = t.subject.relation == Relation::kNone ? on.subjects : on.usersets;
  auto [it, added] = direct_.emplace(key, t.expires_at);
  if (added) {
    object_edges.push_back(edge);
    ++on.rel_count[static_cast<int>(t.relation)];
    edge.other = *obj;
    nodes_[*subj].as_subject.push_back(edge);
    return Status::Ok();
  }
  it->second = t.expires_at;
  auto update = [&](std::vector<Edge>& edges, NodeId other) {
    for (Edge& e : edges) {
      if (e.other == other && e.relation == t.relation && e.subject_rel == t.subject.relation) {
        e.expires_at = edge.expires_at;
        e.zone_label = edge.zone_label;
        return;
      }
    }
  };
  update(object_edges, *subj);
  update(nodes_[*subj].as_subject, *obj);
  return Status::Ok();
}

bool RebacIndex::Erase(const Tuple& t) {
  NodeId obj = Find(t.object.ToString()), subj = Find(t.subject.Node());
  if (obj == kNoNode || subj == kNoNode) return false;
  if (direct_.erase(Key(obj, t.relation, subj, t.subject.relation)) == 0) return false;
  auto remove = [&](std::vector<Edge>& edges, NodeId other) {
    auto it = std::find_if(edges.begin(), edges.end(), [&](const Edge& e) {
      return e.other == other && e.relation == t.relation && e.subject_rel == t.subject.relation;
    });
    *it = edges.back();
    edges.pop_back();
  };
  Node& on = nodes_[obj];
  remove(t.subject.relation == Relation::kNone ? on.subjects : on.usersets, subj);
  --on.rel_count[static_cast<int>(t.relation)];
  remove(nodes_[subj].as_subject, obj);
  return true;
}

bool RebacIndex::Contains(const Tuple& t) const {
  NodeId obj = Find(t.object.ToString()), subj = Find(t.subject.Node());
  return obj != kNoNode && subj != kNoNode &&
         direct_.count(Key(obj, t.relation, subj, t.subject.relation)) > 0;
}

// One evaluation of one subject: walks the object's usersets depth-first,
// remembering every (node, relation) it has entered so diamonds are walked
// once and cycles end.
class Evaluator {
 public:
  using NodeId = RebacIndex::NodeId;
  Evaluator(const RebacIndex& ix, NodeId subject, Relation subject_rel, bool subject_is_user, UnixNanos now,
            bool trace)
      : ix_(ix),
        subject_(subject),
        subject_rel_(subject_rel),
        match_wildcard_(subject_is_user && ix.wildcard_ != RebacIndex::kNoNode && subject != ix.wildcard_),
        now_(now),
        trace_(trace) {}

  // Does the subject hold any relation in `mask` on `node` (directly or
  // through usersets)? No inheritance here.
  bool Relations(NodeId node, Mask mask, int depth) {
    const RebacIndex::Node& n = ix_.nodes_[node];
    if (n.type == ObjectType::kZone) mask = ZoneClosure(mask);
    for (int r = 1; r < kRelationCount; ++r) {
      if (!(mask & (1u << r)) || n.rel_count[r] == 0) continue;
      auto rel = static_cast<Relation>(r);
      if (subject_ != RebacIndex::kNoNode && Direct(node, rel, subject_, subject_rel_)) return true;
      if (match_wildcard_ && Direct(node, rel, ix_.wildcard_, Relation::kNone)) return true;
    }
    for (const RebacIndex::Edge& e : n.usersets) {
      if (!(mask & Bit(e.relation))) continue;
      if (e.expires_at <= now_) {
        NoteExpired(node, e);
        continue;
      }
      if (depth >= kMaxDepth) {
        depth_limited_ = true;
        continue;
      }
      uint64_t key = (uint64_t{e.other} << 8) | static_cast<uint64_t>(e.subject_rel);
      size_t v = Visit(key, depth + 1);
      if (v == kSkip) continue;
      visits_[v].active = true;
      bool ok = Relations(e.other, Bit(e.subject_rel), depth + 1);
      visits_[v].active = false;
      if (ok) {
        valid_until_ = std::min(valid_until_, e.expires_at);
        if (trace_) path_.push_back(ix_.MakeTuple(node, e));
        return true;
      }
    }
    return false;
  }

  // Does the subject have `access` on the object named `text`, following
  // parent folders and owning zones?
  bool Object(Access access, std::string_view text, const ObjectView& o) {
    Mask mask = AccessMask(access, o.type);
    NodeId node = ix_.Find(text);
    if (!access.is_permission) return node != RebacIndex::kNoNode && Relations(node, mask, 0);
    // Owning zones met along the chain (a path under /zone/Z meets Z, then
    // root above /zone): admin of any of them gives manage.
    std::array<NodeId, 4> zones;
    size_t nzones = 0;
    auto add_zone = [&](NodeId z) {
      if (z == RebacIndex::kNoNode) return;
      for (size_t i = 0; i < nzones; ++i) {
        if (zones[i] == z) return;
      }
      if (nzones < zones.size()) zones[nzones++] = z;
    };
    if (node == RebacIndex::kNoNode) {
      // Unknown object: it has no tuples; start at its nearest known ancestor.
      auto path = PathOf(o.type, o.id);
      if (path) {
        add_zone(ix_.Find(NameOf("zone", layout::ZoneOf(*path))));
        for (auto p = ParentPath(*path); p && node == RebacIndex::kNoNode; p = ParentPath(*p)) {
          node = ix_.Find(NameOf("folder", *p));
        }
      } else if (!(o.type == ObjectType::kZone && o.id == kRootZone)) {
        add_zone(ix_.Find(NameOf("zone", kRootZone)));
      }
    }
    for (NodeId n = node; n != RebacIndex::kNoNode; n = ix_.nodes_[n].parent) {
      if (Relations(n, mask, 0)) return true;
      add_zone(ix_.nodes_[n].zone);
    }
    for (size_t i = 0; i < nzones; ++i) {
      if (Relations(zones[i], kAdmin, 0)) return true;
    }
    return false;
  }

  Evaluation Finish(bool allowed) {
    Evaluation out;
    out.allowed = allowed;
    if (allowed) {
      out.valid_until = valid_until_;
      std::reverse(path_.begin(), path_.end());
      out.path = std::move(path_);
    } else {
      out.reason = depth_limited_ ? DenyReason::kDepthLimit
                   : expired_     ? DenyReason::kExpired
                   : cycle_       ? DenyReason::kCycle
                                  : DenyReason::kNoTuple;
      if (expired_ && trace_) out.path.push_back(*expired_);
    }
    return out;
  }

 private:
  static constexpr size_t kSkip = SIZE_MAX;
  struct VisitState {
    uint64_t key;
    int depth;
    bool active;
  };

  bool Direct(NodeId node, Relation rel, NodeId subject, Relation subject_rel) {
    auto it = ix_.direct_.find(RebacIndex::Key(node, rel, subject, subject_rel));
    if (it == ix_.direct_.end()) return false;
    RebacIndex::Edge e{subject, rel, subject_rel, 0, it->second};
    if (it->second <= now_) {
      NoteExpired(node, e);
      return false;
    }
    valid_until_ = std::min(valid_until_, it->second);
    if (trace_) path_.push_back(ix_.MakeTuple(node, e));
    return true;
  }

  void NoteExpired(NodeId node, const RebacIndex::Edge& e) {
    if (trace_ && !expired_) expired_ = ix_.MakeTuple(node, e);
    if (!trace_) expired_.emplace();
  }

  // Index of the visit record to use, or kSkip if (node, relation) is being
  // walked above us (a cycle) or was already walked at a depth no deeper.
  size_t Visit(uint64_t key, int depth) {
    for (size_t i = 0; i < visits_.size(); ++i) {
      if (visits_[i].key != key) continue;
      if (visits_[i].active) {
        cycle_ = true;
        return kSkip;
      }
      if (visits_[i].depth <= depth) return kSkip;
      visits_[i].depth = depth;
      return i;
    }
    visits_.push_back({key, depth, false});
    return visits_.size() - 1;
  }

  const RebacIndex& ix_;
  NodeId subject_;
  Relation subject_rel_;
  bool match_wildcard_;
  UnixNanos now_;
  bool trace_;
  UnixNanos valid_until_ = kNever;
  bool depth_limited_ = false, cycle_ = false;
  std::optional<Tuple> expired_;
  std::vector<Tuple> path_;
  std::vector<VisitState> visits_;
};

Evaluation RebacIndex::Evaluate(const SubjectView& subject, Access access, std::string_view object_text,
                                const ObjectView& object, UnixNanos now, bool trace) const {
  Evaluator ev(*this, Find(subject.node), subject.relation,
               subject.type == ObjectType::kUser && subject.relation == Relation::kNone, now, trace);
  return ev.Finish(ev.Object(access, object_text, object));
}

// Builds Expand trees: the subjects of (node, mask), with usersets opened
// up to kMaxDepth and cycles cut.
class Expander {
 public:
  using NodeId = RebacIndex::NodeId;
  Expander(const RebacIndex& ix, UnixNanos now) : ix_(ix), now_(now) {}

  void Relations(NodeId node, Mask mask, int depth, std::vector<SubjectTree>& out) {
    const RebacIndex::Node& n = ix_.nodes_[node];
    if (n.type == ObjectType::kZone) mask = ZoneClosure(mask);
    for (const auto* edges : {&n.subjects, &n.usersets}) {
      for (const RebacIndex::Edge& e : *edges) {
        if (!(mask & Bit(e.relation)) || e.expires_at <= now_) continue;
        SubjectTree t{ix_.SubjectOf(e.other, e.subject_rel), ix_.MakeTuple(node, e), {}, false};
        if (e.subject_rel != Relation::kNone) {
          uint64_t key = (uint64_t{e.other} << 8) | static_cast<uint64_t>(e.subject_rel);
          bool on_stack = std::find(stack_.begin(), stack_.end(), key) != stack_.end();
          if (depth >= kMaxDepth || on_stack) {
            t.truncated = true;
          } else {
            stack_.push_back(key);
            Relations(e.other, Bit(e.subject_rel), depth + 1, t.members);
            stack_.pop_back();
          }
        }
        out.push_back(std::move(t));
      }
    }
  }

 private:
  const RebacIndex& ix_;
  UnixNanos now_;
  std::vector<uint64_t> stack_;
};

std::vector<SubjectTree> RebacIndex::Expand(Access access, const ObjectView& object, UnixNanos now) const {
  std::vector<SubjectTree> out;
  Expander ex(*this, now);
  Mask mask = AccessMask(access, object.type);
  NodeId node = Find(NameOf(ToString(object.type), object.id));
  if (!access.is_permission) {
    if (node != kNoNode) ex.Relations(node, mask, 0, out);
    return out;
  }
  std::vector<NodeId> zones;
  auto path = PathOf(object.type, object.id);
  if (node == kNoNode && path) {
    zones.push_back(Find(NameOf("zone", layout::ZoneOf(*path))));
    for (auto p = ParentPath(*path); p && node == kNoNode; p = ParentPath(*p)) {
      node = Find(NameOf("folder", *p));
    }
  } else if (node == kNoNode && !(object.type == ObjectType::kZone && object.id == kRootZone)) {
    zones.push_back(Find(NameOf("zone", kRootZone)));
  }
  for (NodeId n = node; n != kNoNode; n = nodes_[n].parent) {
    ex.Relations(n, mask, 0, out);
    zones.push_back(nodes_[n].zone);
  }
  std::sort(zones.begin(), zones.end());
  zones.erase(std::unique(zones.begin(), zones.end()), zones.end());
  for (NodeId z : zones) {
    if (z != kNoNode) ex.Relations(z, kAdmin, 0, out);
  }
  return out;
}

GrantRoots RebacIndex::Roots(const SubjectView& subject, UnixNanos now) const {
  // The reverse walk of ListObjects (from the subject through the usersets
  // it is in), keeping only where it lands on the tree.
  GrantRoots out;
  std::vector<std::pair<NodeId, Relation>> frontier;
  std::unordered_set<uint64_t> seen;
  auto reach = [&](NodeId n, Relation r) {
    if (frontier.size() < 1'000'000 && seen.insert((uint64_t{n} << 8) | static_cast<uint64_t>(r)).second)
      frontier.emplace_back(n, r);
  };
  if (NodeId start = Find(subject.node); start != kNoNode) reach(start, subject.relation);
  if (subject.type == ObjectType::kUser && subject.relation == Relation::kNone && wildcard_ != kNoNode) {
    reach(wildcard_, Relation::kNone);
  }
  for (size_t i = 0; i < frontier.size(); ++i) {
    auto [n, r] = frontier[i];
    for (const Edge& e : nodes_[n].as_subject) {
      if (e.subject_rel != r || e.expires_at <= now) continue;
      out.valid_until = std::min(out.valid_until, e.expires_at);
      const Node& obj = nodes_[e.other];
      Mask held = Bit(e.relation);
      if (obj.type == ObjectType::kZone) {
        if (held & kOwner) held |= kAdmin;
        if (held & kAdmin) {
          held |= kMember;
          if (obj.id() == kRootZone) {
            out.everything = true;
          } else if (layout::IsZoneName(obj.id())) {
            out.paths.push_back(layout::ZoneRoot(obj.id()).str());
          }
        }
      } else if (obj.type == ObjectType::kFolder || obj.type == ObjectType::kFile ||
                 obj.type == ObjectType::kTool) {
        if (held & (kViewer | kEditor | kOwner)) {
          if (auto path = PathOf(obj.type, obj.id())) out.paths.push_back(std::move(*path));
        }
      }
      for (int rel = 1; rel < kRelationCount; ++rel) {
        if (held & (1u << rel)) reach(e.other, static_cast<Relation>(rel));
      }
    }
  }
  std::sort(out.paths.begin(), out.paths.end());
  out.paths.erase(std::unique(out.paths.begin(), out.paths.end()), out.paths.end());
  return out;
}

std::vector<std::string> RebacIndex::ListObjects(const SubjectView& subject, Access access,
                                                 std::optional<ObjectType> type, UnixNanos now) const {
  // Candidates: every object the subject reaches through live tuples (a
  // reverse walk from the subject), their descendants, the tree of any zone
  // it administers (everything for zone:root). Each candidate is then decided by the same
  // evaluation as Check, so listing and checking never disagree.
  std::vector<std::string> out;
  std::vector<std::pair<NodeId, Relation>> frontier;
  std::unordered_set<uint64_t> seen;
  auto reach = [&](NodeId n, Relation r) {
    if (seen.insert((uint64_t{n} << 8) | static_cast<uint64_t>(r)).second) {
      frontier.emplace_back(n, r);
    }
  };
  if (NodeId start = Find(subject.node); start != kNoNode) reach(start, subject.relation);
  if (subject.type == ObjectType::kUser && subject.relation == Relation::kNone && wildcard_ != kNoNode) {
    reach(wildcard_, Relation::kNone);
  }
  std::vector<NodeId> candidates;
  bool everything = false;
  for (size_t i = 0; i < frontier.size(); ++i) {
    auto [n, r] = frontier[i];
    for (const Edge& e : nodes_[n].as_subject) {
      if (e.subject_rel != r || e.expires_at <= now) continue;
      candidates.push_back(e.other);
      Mask held = Bit(e.relation);
      if (nodes_[e.other].type == ObjectType::kZone) {
        // member ⊇ admin ⊇ owner: holding owner means holding the others.
        if (held & kOwner) held |= kAdmin;
        if (held & kAdmin) {
          held |= kMember;
          // Admins of zone:root manage every object; admins of zone Z
          // everything under /zone/Z.
          std::string_view zone = nodes_[e.other].id();
          if (zone == kRootZone) {
            everything = true;
          } else if (NodeId top = Find("folder:/zone/" + std::string(zone)); top != kNoNode) {
            candidates.push_back(top);
          }
        }
      }
      for (int rel = 1; rel < kRelationCount; ++rel) {
        if (held & (1u << rel)) reach(e.other, static_cast<Relation>(rel));
      }
    }
  }
  std::vector<char> picked(nodes_.size(), 0);
  std::vector<NodeId> todo;
  if (everything) {
    picked.assign(nodes_.size(), 1);
  } else {
    todo = std::move(candidates);
    while (!todo.empty()) {
      NodeId n = todo.back();
      todo.pop_back();
      if (picked[n]) continue;
      picked[n] = 1;
      todo.insert(todo.end(), nodes_[n].children.begin(), nodes_[n].children.end());
    }
  }
  NodeId s = Find(subject.node);
  bool is_user = subject.type == ObjectType::kUser && subject.relation == Relation::kNone;
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    const Node& node = nodes_[n];
    if (!picked[n] || node.type == ObjectType::kUser || node.type == ObjectType::kAgent) continue;
    if (type && node.type != *type) continue;
    Evaluator ev(*this, s, subject.relation, is_user, now, false);
    if (ev.Object(access, node.name, ObjectView{node.type, node.id()})) out.push_back(node.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Tuple> RebacIndex::ListTuples(const TupleFilter& f, UnixNanos now, size_t limit) const {
  std::vector<Tuple> out;
  for (NodeId n = 0; n < nodes_.size() && out.size() < limit; ++n) {
    const Node& node = nodes_[n];
    if (f.object_type && node.type != *f.object_type) continue;
    if (f.object_id && node.id() != *f.object_id) continue;
    for (const auto* edges : {&node.subjects, &node.usersets}) {
      for (const Edge& e : *edges) {
        if (out.size() >= limit) break;
        const Node& s = nodes_[e.other];
        if ((f.subject_type && s.type != *f.subject_type) || (f.subject_id && s.id() != *f.subject_id) ||
            (f.relation && e.relation != *f.relation) || (f.zone && zone_labels_[e.zone_label] != *f.zone) ||
            (!f.include_expired && e.expires_at <= now)) {
          continue;
        }
        out.push_back(MakeTuple(n, e));
      }
    }
  }
  return out;
}

bool RebacIndex::KnowsZone(std::string_view zone) const {
  if (zone_label_ids_.count(std::string(zone))) return true;
  if (Find(NameOf("zone", zone)) != kNoNode) return true;
  return Find(NameOf("folder", std::string(layout::kZonesDir) + "/" + std::string(zone))) != kNoNode;
}

bool RebacIndex::LabelsObject(std::string_view object, std::string_view zone) const {
  NodeId n = Find(object);
  auto label = zone_label_ids_.find(std::string(zone));
  if (n == kNoNode || label == zone_label_ids_.end()) return false;
  for (const auto* edges : {&nodes_[n].subjects, &nodes_[n].usersets}) {
    for (const Edge& e : *edges)
      if (e.zone_label == label->second) return true;
  }
  return false;
}

void RebacIndex::ForEach(const std::function<void(const Tuple&)>& fn) const {
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    for (const auto* edges : {&nodes_[n].subjects, &nodes_[n].usersets}) {
      for (const Edge& e : *edges) fn(MakeTuple(n, e));
    }
  }
}

}  // namespace nexus
