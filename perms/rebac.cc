#include "perms/rebac.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "base/format.h"

namespace nexus {
namespace {

constexpr std::string_view kSystemActor = "system";

// The zone a tuple is filed under when the caller names none: the zone its
// object lives in (a zone object: that zone).
std::string DefaultZone(const ObjectRef& o) {
  if (o.type == ObjectType::kZone) return o.id;
  if (auto path = PathOf(o.type, o.id)) return std::string(layout::ZoneOf(*path));
  return std::string(kRootZone);
}

std::string JoinPath(const std::vector<Tuple>& path) {
  std::string out;
  for (const Tuple& t : path) {
    if (!out.empty()) out += " <- ";
    out += t.ToString();
  }
  return out;
}

void Flatten(const std::vector<SubjectTree>& trees, std::set<std::string>& out) {
  for (const SubjectTree& t : trees) {
    out.insert(t.subject.ToString());
    Flatten(t.members, out);
  }
}

}  // namespace

std::vector<std::string> Expansion::Flatten() const {
  std::set<std::string> all;
  nexus::Flatten(trees, all);
  return {all.begin(), all.end()};
}

RebacEngine::RebacEngine(std::unique_ptr<TupleStore> store, RebacOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : DefaultClock()),
      store_(std::move(store)),
      cache_(options_.cache_capacity) {}

// Loads the new engine before any other thread can see it, so without its locks.
Result<std::unique_ptr<RebacEngine>> RebacEngine::Open(const std::string& db_path,
                                                       RebacOptions options) NO_THREAD_SAFETY_ANALYSIS {
  for (const std::string& s : options.admin_subjects) {
    auto v = ParseSubjectView(s);
    if (!v.ok()) return v.status();
  }
  auto store = TupleStore::Open(db_path);
  if (!store.ok()) return store.status();
  std::unique_ptr<RebacEngine> engine(new RebacEngine(std::move(*store), std::move(options)));
  NEXUS_RETURN_IF_ERROR(
      engine->store_->Load([&](Tuple t) NO_THREAD_SAFETY_ANALYSIS { return engine->index_.Put(t); }));
  engine->revision_.store(engine->store_->revision());
  if (!engine->options_.root_owner.empty()) {
    auto owner = Tuple::Parse(engine->options_.root_owner + "#owner@zone:root");
    if (!owner.ok()) return owner.status();
    if (!engine->index_.Contains(*owner)) {
      auto rev = engine->WriteUnchecked({std::move(*owner)}, {});
      if (!rev.ok()) return rev.status();
    }
  }
  return engine;
}

size_t RebacEngine::tuple_count() const {
  ReaderLock lk(mu_);
  return index_.size();
}

Evaluation RebacEngine::Evaluate(const SubjectView& s, Access a, std::string_view object_text,
                                 const ObjectView& o, UnixNanos now, bool trace, uint64_t* revision) const {
  ReaderLock lk(mu_);
  // Read under the lock: the answer below is exactly the answer at this
  // revision, since writers change both only with mu_ held exclusively.
  if (revision) *revision = revision_.load(std::memory_order_relaxed);
  return index_.Evaluate(s, a, object_text, o, now, trace);
}

void RebacEngine::Audit(std::string_view subject, std::string_view operation, std::string_view object,
                        bool allowed, std::string reason) {
  if (!options_.audit) return;
  options_.audit->Record(AuditRecord{clock_.Now(), std::string(subject), std::string(operation),
                                     std::string(object), allowed, std::move(reason)});
}

Result<bool> RebacEngine::Check(std::string_view subject, Access access, std::string_view object) {
  auto d = DecideCached(subject, access, object);
  if (!d.ok()) return d.status();
  if (!d->allowed) Audit(subject, access.Name(), object, false, std::string(ToString(d->reason)));
  return d->allowed;
}

Result<GrantRoots> RebacEngine::Roots(std::string_view subject, uint64_t* revision) {
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  UnixNanos now = clock_.Now();
  ReaderLock lk(mu_);
  if (revision) *revision = revision_.load(std::memory_order_relaxed);
  return index_.Roots(*s, now);
}

Result<bool> RebacEngine::Decide(std::string_view subject, Access access, std::string_view object) {
  auto d = DecideCached(subject, access, object);
  if (!d.ok()) return d.status();
  return d->allowed;
}

Result<DecisionCache::Decision> RebacEngine::DecideCached(std::string_view subject, Access access,
                                                          std::string_view object) {
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  auto o = ParseObjectView(object);
  if (!o.ok()) return o.status();
  DecisionCache::Decision d;
  UnixNanos now = clock_.Now();
  if (auto hit = cache_.Find(subject, access, object, revision(), now)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    d = *hit;
  } else {
    cache_misses_.fetch_add(1, std::memory_order_relaxed);
    uint64_t rev = 0;
    Evaluation ev = Evaluate(*s, access, object, *o, now, false, &rev);
    d = {ev.allowed, ev.reason};
    cache_.Insert(subject, access, object, rev, now, ev.allowed ? ev.valid_until : kNever, d);
    if (ev.reason == DenyReason::kDepthLimit) {
      spdlog::warn("rebac: {} {} {}: more than {} nested usersets; denied", subject, access.Name(), object,
                   kMaxDepth);
    }
  }
  return d;
}

Result<bool> RebacEngine::Check(std::string_view subject, std::string_view access, std::string_view object) {
  auto a = Access::Parse(access);
  if (!a.ok()) return a.status();
  return Check(subject, *a, object);
}

Result<Explanation> RebacEngine::Explain(std::string_view subject, std::string_view access,
                                         std::string_view object) {
  auto a = Access::Parse(access);
  if (!a.ok()) return a.status();
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  auto o = ParseObjectView(object);
  if (!o.ok()) return o.status();
  Evaluation ev = Evaluate(*s, *a, object, *o, clock_.Now(), true, nullptr);
  Explanation out{ev.allowed, ev.reason, std::move(ev.path), ev.valid_until, ""};
  std::string what = std::string(subject) + " " + std::string(a->Name()) + " " + std::string(object);
  switch (ev.reason) {
    case DenyReason::kNone:
      out.message = "granted: " + JoinPath(out.path);
      if (out.valid_until != kNever) out.message += " (until " + FormatRfc3339(out.valid_until) + ")";
      break;
    case DenyReason::kNoTuple:
      out.message = "denied: no tuple grants " + what;
      break;
    case DenyReason::kExpired:
      out.message = "denied: " + out.path.front().ToString() + " expired at " +
                    FormatRfc3339(out.path.front().expires_at);
      break;
    case DenyReason::kDepthLimit:
      out.message = "denied: " + what + " needs more than " + std::to_string(kMaxDepth) + " nested usersets";
      break;
    case DenyReason::kCycle:
      out.message = "denied: the usersets for " + what + " form a cycle and nothing else grants";
      break;
  }
  return out;
}

Result<Expansion> RebacEngine::Expand(std::string_view access, std::string_view object) {
  auto a = Access::Parse(access);
  if (!a.ok()) return a.status();
  auto o = ParseObjectView(object);
  if (!o.ok()) return o.status();
  UnixNanos now = clock_.Now();
  ReaderLock lk(mu_);
  return Expansion{index_.Expand(*a, *o, now)};
}

Result<std::vector<std::string>> RebacEngine::ListObjects(std::string_view access, std::string_view subject,
                                                          std::optional<ObjectType> type) {
  auto a = Access::Parse(access);
  if (!a.ok()) return a.status();
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  UnixNanos now = clock_.Now();
  ReaderLock lk(mu_);
  return index_.ListObjects(*s, *a, type, now);
}

std::vector<Tuple> RebacEngine::ListTuples(const TupleFilter& filter, size_t limit) {
  UnixNanos now = clock_.Now();
  ReaderLock lk(mu_);
  return index_.ListTuples(filter, now, limit);
}

bool RebacEngine::KnowsZone(std::string_view zone) const {
  if (zone == kRootZone) return true;
  ReaderLock lk(mu_);
  return index_.KnowsZone(zone);
}

Result<bool> RebacEngine::InZone(std::string_view object, std::string_view zone) const {
  auto o = ObjectRef::Parse(object);
  if (!o.ok()) return o.status();
  std::string_view own = kRootZone;
  if (o->type == ObjectType::kZone) return o->id == zone;
  auto path = PathOf(o->type, o->id);
  if (path) own = layout::ZoneOf(*path);
  if (own == zone) return true;
  ReaderLock lk(mu_);
  return index_.LabelsObject(o->ToString(), zone);
}

Result<bool> RebacEngine::IsAdmin(std::string_view subject) {
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  for (const std::string& a : options_.admin_subjects) {
    if (a == subject) return true;
  }
  return Decide(subject, Access::Of(Relation::kAdmin), "zone:root");
}

Result<uint64_t> RebacEngine::Write(std::string_view actor, std::vector<Tuple> adds,
                                    std::vector<Tuple> deletes, std::optional<uint64_t> expect_revision) {
  auto admin = IsAdmin(actor);
  if (!admin.ok()) return admin.status();
  if (!*admin) {
    for (const auto* list : {&deletes, &adds}) {
      for (const Tuple& t : *list) {
        std::string object = t.object.ToString();
        auto may = Check(actor, Access::Of(Permission::kManage), object);
        if (!may.ok()) return may.status();
        if (!*may) {
          std::string reason = std::string(actor) + " lacks manage on " + object;
          Audit(actor, list == &adds ? "tuple.add" : "tuple.delete", t.ToString(), false, reason);
          return Status::Error(EACCES, reason);
        }
      }
    }
  }
  return Apply(actor, std::move(adds), std::move(deletes), expect_revision);
}

Result<uint64_t> RebacEngine::WriteUnchecked(std::vector<Tuple> adds, std::vector<Tuple> deletes,
                                             std::optional<uint64_t> expect_revision) {
  return Apply(kSystemActor, std::move(adds), std::move(deletes), expect_revision);
}

// Writers read index_ holding write_mu_ but not mu_ (only writers change it,
// and they also take mu_): an either-lock rule the analysis cannot express.
Result<uint64_t> RebacEngine::Apply(std::string_view actor, std::vector<Tuple> adds,
                                    std::vector<Tuple> deletes,
                                    std::optional<uint64_t> expect_revision) NO_THREAD_SAFETY_ANALYSIS {
  for (auto* list : {&deletes, &adds}) {
    for (Tuple& t : *list) {
      NEXUS_RETURN_IF_ERROR(t.Validate());
      if (t.zone.empty()) t.zone = DefaultZone(t.object);
    }
  }
  uint64_t rev;
  {
    MutexLock wl(write_mu_);
    // Only writers change the index, and they hold write_mu_: reading it
    // here without mu_ is safe.
    if (expect_revision && *expect_revision != revision()) {
      return Status::Error(
          ESTALE, "revision is " + std::to_string(revision()) + ", not " + std::to_string(*expect_revision));
    }
    for (const Tuple& t : deletes) {
      if (!index_.Contains(t)) return Status::Error(ENOENT, "no tuple " + t.ToString());
    }
    auto committed = store_->Commit(deletes, adds);
    if (!committed.ok()) return committed.status();
    rev = *committed;
    WriterLock lk(mu_);
    for (const Tuple& t : deletes) index_.Erase(t);
    for (const Tuple& t : adds) {
      // Only node-space exhaustion (2^28 names) can fail here; the tuple is
      // durable and is indexed at the next Open.
      if (Status st = index_.Put(t); !st.ok()) {
        spdlog::error("rebac: {} committed but not indexed: {}", t.ToString(), st.ToString());
      }
    }
    revision_.store(rev, std::memory_order_release);
  }
  for (const Tuple& t : deletes) Audit(actor, "tuple.delete", t.ToString(), true, "");
  for (const Tuple& t : adds) Audit(actor, "tuple.add", t.ToString(), true, "");
  if (options_.on_change) options_.on_change();
  return rev;
}

}  // namespace nexus
