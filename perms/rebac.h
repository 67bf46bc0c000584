// RebacEngine: relationship-based access control for NexusFS.
//
// Answers "may this subject do this to this object?" from tuples
// `subject#relation@object` (see rebac_types.h for the text forms and
// docs/rebac.md for the model). Tuples live in SQLite (TupleStore, the
// durable copy) and in memory (RebacIndex, loaded at Open and updated after
// every committed write). Each write batch is one transaction and bumps the
// revision; Check answers are cached per revision (DecisionCache), so a
// revoke is effective for every call that starts after Write returns.
//
// Check is built for the FUSE path: a cached answer is one lookup in a
// sharded hash map and allocates nothing; an uncached one walks the
// in-memory index under a shared lock. Denials (cached or not) and tuple
// changes go to the AuditSink, if any.
//
// RebacOptions::root_owner and IdentityOptions::admin_subject name the same
// subject (both default to user:root): the uid that administers the daemon
// acts as the owner of zone:root.
//
// Thread-safety: every method may be called from any thread. Lock order:
// write_mu_ → mu_; the cache and the audit sink are never called with mu_
// held exclusively.
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "perms/audit.h"
#include "base/clock.h"
#include "perms/rebac_cache.h"
#include "perms/rebac_index.h"
#include "perms/rebac_store.h"
#include "perms/rebac_types.h"

namespace nexus {

struct RebacOptions {
  const Clock* clock = nullptr;  // nullptr: the system clock; must outlive the engine
  AuditSink* audit = nullptr;    // optional; must outlive the engine
  // Subjects that may write any tuple through Write, besides holders of
  // admin on zone:root (which includes its owners).
  std::vector<std::string> admin_subjects;
  // Written as `<root_owner>#owner@zone:root` at Open when missing; "" skips.
  std::string root_owner = "user:root";
  size_t cache_capacity = 1 << 20;
  // Called after every committed tuple write, on the writer's thread, with
  // no engine lock held (e.g. to make kernels revalidate cached names).
  std::function<void()> on_change;
};

struct Explanation {
  bool allowed = false;
  DenyReason reason = DenyReason::kNone;
  // Granted: the tuples from the object side to the subject. Denied for
  // kExpired: the expired tuple that would have granted.
  std::vector<Tuple> path;
  UnixNanos valid_until = kNever;  // granted: when the earliest tuple on the path expires
  std::string message;             // one line for people
};

struct Expansion {
  std::vector<SubjectTree> trees;
  // Every subject in the trees (users, agents and usersets), sorted, once.
  std::vector<std::string> Flatten() const;
};

class RebacEngine {
 public:
  static Result<std::unique_ptr<RebacEngine>> Open(const std::string& db_path, RebacOptions options);
  RebacEngine(const RebacEngine&) = delete;
  RebacEngine& operator=(const RebacEngine&) = delete;

  // Does `subject` have `access` (a permission: read/write/manage, or a
  // relation: viewer/editor/owner/member/admin) on `object`? EINVAL for
  // malformed input; an unknown subject or object is simply denied.
  Result<bool> Check(std::string_view subject, Access access, std::string_view object);
  Result<bool> Check(std::string_view subject, std::string_view access, std::string_view object);
  // The same decision (cached alike), without auditing a denial: for
  // callers that audit in their own terms or ask speculatively.
  Result<bool> Decide(std::string_view subject, Access access, std::string_view object);
  // Where `subject` holds grants on the tree (see GrantRoots), at the
  // current revision, which is returned in `revision`.
  Result<GrantRoots> Roots(std::string_view subject, uint64_t* revision);
  // The same decision, uncached, with the granting path or the reason.
  Result<Explanation> Explain(std::string_view subject, std::string_view access, std::string_view object);
  // Who has `access` on `object`, as trees of tuples and as a flat set.
  Result<Expansion> Expand(std::string_view access, std::string_view object);
  // Objects known to the engine (named by a tuple, or a parent folder of
  // one) on which `subject` has `access`, optionally of one type; sorted.
  Result<std::vector<std::string>> ListObjects(std::string_view access, std::string_view subject,
                                               std::optional<ObjectType> type = std::nullopt);
  std::vector<Tuple> ListTuples(const TupleFilter& filter, size_t limit = SIZE_MAX);
  // RebacIndex::KnowsZone; kRootZone always.
  bool KnowsZone(std::string_view zone) const;
  // Whether `object` is in `zone`: by its path (/zone/NAME/..., every other
  // path in kRootZone), being zone:NAME, or by a tuple on it labelled NAME.
  // Groups, users and agents are in kRootZone. EINVAL for a malformed object.
  Result<bool> InZone(std::string_view object, std::string_view zone) const;

  // Checked write: `actor` needs manage on the object of every tuple it adds
  // or deletes, unless it is an admin (IsAdmin). Deletes apply before adds,
  // all in one transaction. Adding an existing tuple replaces its expiry and
  // zone; deleting a missing one is ENOENT. With `expect_revision`, ESTALE
  // unless it is the current revision. EACCES names the first object the
  // actor may not manage. Returns the new revision.
  Result<uint64_t> Write(std::string_view actor, std::vector<Tuple> adds, std::vector<Tuple> deletes,
                         std::optional<uint64_t> expect_revision = std::nullopt);
  // The same without the permission check: bootstrap and administration.
  Result<uint64_t> WriteUnchecked(std::vector<Tuple> adds, std::vector<Tuple> deletes,
                                  std::optional<uint64_t> expect_revision = std::nullopt);

  // In admin_subjects, or admin (or owner) of zone:root.
  Result<bool> IsAdmin(std::string_view subject);

  uint64_t revision() const { return revision_.load(std::memory_order_acquire); }
  const Clock& clock() const { return clock_; }
  size_t tuple_count() const;
  uint64_t cache_hits() const { return cache_hits_.load(std::memory_order_relaxed); }
  uint64_t cache_misses() const { return cache_misses_.load(std::memory_order_relaxed); }

 private:
  RebacEngine(std::unique_ptr<TupleStore> store, RebacOptions options);
  Result<uint64_t> Apply(std::string_view actor, std::vector<Tuple> adds, std::vector<Tuple> deletes,
                         std::optional<uint64_t> expect_revision);
  Result<DecisionCache::Decision> DecideCached(std::string_view subject, Access access,
                                               std::string_view object);
  Evaluation Evaluate(const SubjectView& s, Access a, std::string_view object_text, const ObjectView& o,
                      UnixNanos now, bool trace, uint64_t* revision) const;
  void Audit(std::string_view subject, std::string_view operation, std::string_view object, bool allowed,
             std::string reason);

  const RebacOptions options_;
  const Clock& clock_;

  Mutex write_mu_ ACQUIRED_BEFORE(mu_);  // serializes writers
  std::unique_ptr<TupleStore> store_ GUARDED_BY(write_mu_);

  mutable SharedMutex mu_;
  RebacIndex index_ GUARDED_BY(mu_);   // writes also hold write_mu_
  std::atomic<uint64_t> revision_{0};  // stored under mu_ held exclusively

  DecisionCache cache_;
  std::atomic<uint64_t> cache_hits_{0}, cache_misses_{0};
};

}  // namespace nexus
