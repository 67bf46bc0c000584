// DelegationTable: durable delegations of access from one subject to
// another, and their evaluation on every access check of the delegate.
//
// A delegation hands TO a part of FROM's access: the paths its scope globs
// cover, in one of three modes (docs/agents.md "Delegation" is the reference):
//   copy    FROM's access on the covered objects as it was at creation (a
//           snapshot of the strongest permission FROM held on each object
//           the engine knows in the scope, inherited below it);
//   clean   only the named relation (viewer: read; editor: read and write)
//           on the covered paths; while TO has an active clean delegation,
//           its own grants (and its copy and shared delegations) are
//           suspended: only its clean delegations grant;
//   shared  FROM's live access on the covered paths.
// `relation` caps copy and shared too when given. Readonly globs refuse
// write and manage under them. A delegation never grants more than FROM
// holds: checked at creation (EACCES) and at every use, live, through
// FROM's own grants or, when FROM itself acted under a delegation (the
// parent), through that delegation, up the chain.
//
// Scope globs: absolute paths whose components may hold `*` and `?` (never
// matching '/') and `[...]` classes (fnmatch(3) without flags); `**` is a
// whole component matching any number of components. A glob covers the
// paths it matches and everything below them (as a grant on a folder is
// inherited); a glob ending in `/*` or `/**` also covers its directory, so
// `/proj/*` is the /proj subtree, /proj included (its delegate may create
// and list files in it). A glob's root is its longest wildcard-free
// directory prefix: TO sees the roots of its active delegations and the
// folders above them (see PassableFor).
//
// Lifetime: a delegation is active from creation until its expiry instant
// (exclusive: at expires_at it is gone) or its revocation. Revoking one
// revokes every delegation made from it, down the chain. A child never
// outlives its parent (its expiry is capped at the parent's) and may only
// be made while the parent's max_depth allows (EPERM otherwise).
//
// Who may (DelegationCaller): create for FROM, when the caller is FROM, an
// admin, or the owner of the agent FROM; revoke, FROM's side (the creator,
// FROM, FROM's owner) or an admin; read a delegation, its parties (FROM, TO,
// the creator, their owners) and admins. EACCES otherwise.
//
// Storage: its own SQLite file (the daemon uses DATA/delegations.db, mode
// 0600), loaded into memory at Open. Create and Revoke commit
// (synchronous=FULL) before they change memory and return. Decide and
// PassableFor never touch SQLite: a subject without delegations costs one
// atomic load (when no delegation exists at all) or one hash lookup under a
// shared lock.
//
// Errors: EINVAL with the reason for bad input; EACCES for a caller who may
// not, and for a delegation FROM does not hold; EPERM beyond max_depth;
// ENOENT for an unknown id; EIO for a damaged file.
//
// Thread-safety: every method may be called from any thread. Lock order:
// db_mu_ before mu_. Decide calls Options::own_access with mu_ held shared:
// that callback must not call back into the table.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "perms/audit.h"
#include "perms/rebac_types.h"

namespace nexus {

class SqliteDb;

enum class DelegationMode : uint8_t { kCopy, kClean, kShared };
// "copy", "clean", "shared".
std::string_view ToString(DelegationMode mode);
// Any case ("CLEAN"); EINVAL naming the modes.
Result<DelegationMode> ParseDelegationMode(std::string_view text);

// A delegator or delegate: "ID" (an agent), "agent:ID" or "user:ID";
// returns the subject ("agent:ID"). EINVAL otherwise.
Result<std::string> ParseDelegationSubject(std::string_view text);

// One scope or readonly glob, parsed (see the header comment).
class ScopeGlob {
 public:
  // EINVAL with the reason: not absolute, empty or "." / ".." components,
  // "**" inside a component, an unclosed '[', control characters, too long.
  static Result<ScopeGlob> Parse(std::string_view text);
  const std::string& text() const { return text_; }
  // The longest wildcard-free directory prefix ("/" at least).
  const std::string& root() const { return root_; }
  // Whether `path` (canonical) is covered: matched, below a match, or the
  // directory of a trailing `*` / `**`.
  bool Covers(std::string_view path) const;

 private:
  std::string text_;
  std::string root_;
  std::vector<std::string> parts_;
};

// A copy delegation's snapshot: FROM held `permission` on `path` (and, by
// inheritance, below it) at creation.
struct SnapshotEntry {
  std::string path;
  Permission permission = Permission::kRead;
  bool operator==(const SnapshotEntry&) const = default;
};

struct DelegationRecord {
  std::string id;  // "dlg-" and 12 hex digits
  std::string from;
  std::string to;
  std::vector<std::string> scope;  // globs, as given
  DelegationMode mode = DelegationMode::kClean;
  // viewer or editor; kNone: no cap (copy and shared only).
  Relation relation = Relation::kNone;
  std::vector<std::string> readonly;
  UnixNanos created_at = 0;
  UnixNanos expires_at = kNever;
  uint32_t max_depth = 0;    // how many more levels may be delegated from this one
  uint32_t depth = 0;        // 0: made from FROM's own grants; parent's + 1
  std::string parent;        // the delegation FROM acted under; empty: none
  std::string created_by;    // the caller's subject
  UnixNanos revoked_at = 0;  // 0: not revoked
  std::string revoked_by;
  std::vector<SnapshotEntry> snapshot;  // copy only

  bool Active(UnixNanos now) const { return revoked_at == 0 && now < expires_at; }
  // "active", "expired" or "revoked".
  std::string_view State(UnixNanos now) const;
  bool operator==(const DelegationRecord&) const = default;
};

struct DelegationRequest {
  std::string from;  // ParseDelegationSubject forms
  std::string to;
  std::vector<std::string> scope;
  DelegationMode mode = DelegationMode::kClean;
  // Empty: viewer for clean, no cap for copy and shared.
  std::string relation;
  std::vector<std::string> readonly;
  std::optional<double> ttl_seconds;  // must be > 0 when given
  uint32_t max_depth = 0;
};

// Who asks. `owner_of` gives the owner of an agent subject (the agent
// registry's record), nullopt for others or without a registry.
struct DelegationCaller {
  std::string subject;
  bool admin = false;
  std::function<std::optional<std::string>(std::string_view subject)> owner_of;
};

struct DelegationFilter {
  std::optional<std::string> from;  // ParseDelegationSubject forms
  std::optional<std::string> to;
};

// A delegation's answer for one access of its delegate.
struct DelegationDecision {
  enum class Verdict : uint8_t {
    kNone,   // no delegation of the subject covers the path: its own grants decide
    kAllow,  // a delegation grants it
    kDeny,   // a delegation covers the path and refuses (or a clean one holds)
  };
  Verdict verdict = Verdict::kNone;
  // True while the subject has an active clean delegation: the verdict is
  // final, the subject's own grants do not count.
  bool exclusive = false;
  std::string id;      // the delegation that decided (kAllow, kDeny)
  std::string reason;  // why it refused (kDeny)
};

class DelegationTable {
 public:
  // A subject's own access to a path: the engine's decision on
  // `file:PATH` / `folder:PATH` (is_dir).
  using AccessFn =
      std::function<bool(std::string_view subject, Permission p, std::string_view path, bool is_dir)>;
  // The paths the engine knows (named by a tuple, or a folder above one)
  // on which `subject` holds read, with whether each is a folder.
  using ObjectsFn = std::function<std::vector<std::pair<std::string, bool>>(std::string_view subject)>;

  struct Options {
    AccessFn own_access;           // required
    ObjectsFn objects_of;          // required for copy
    AuditSink* audit = nullptr;    // optional; must outlive the table
    const Clock* clock = nullptr;  // null: the system clock; must outlive the table
    // Never a delegate: it is never restricted (nexusd's user:admin).
    std::string admin_subject = "user:admin";
    // Called after every committed create and revoke, with no table lock
    // held (nexusd makes name-caching mounts revalidate).
    std::function<void()> on_change;
  };
  static constexpr size_t kMaxGlobs = 32;
  static constexpr uint32_t kMaxDepthLimit = 8;

  // Opens (creating, mode 0600) the table in the SQLite file at `path` and
  // loads every delegation. EIO for a damaged file or row.
  static Result<std::unique_ptr<DelegationTable>> Open(const std::string& path, Options options);
  ~DelegationTable();
  DelegationTable(const DelegationTable&) = delete;
  DelegationTable& operator=(const DelegationTable&) = delete;

  // Creates a delegation (see the header comment for the checks); returns
  // it as committed. Audited as "delegation.create".
  Result<DelegationRecord> Create(const DelegationCaller& caller, const DelegationRequest& request)
      EXCLUDES(db_mu_, mu_);
  // Revokes `id` and every delegation made from it; returns their ids,
  // `id` first. EINVAL if it is already revoked. Audited as
  // "delegation.revoke", one record per delegation.
  Result<std::vector<std::string>> Revoke(const DelegationCaller& caller, std::string_view id)
      EXCLUDES(db_mu_, mu_);

  // ENOENT for an unknown id, EACCES for a caller who may not read it.
  Result<DelegationRecord> Get(const DelegationCaller& caller, std::string_view id) const EXCLUDES(mu_);
  // The delegations the caller may read that match, sorted by creation.
  Result<std::vector<DelegationRecord>> List(const DelegationCaller& caller,
                                             const DelegationFilter& filter) const EXCLUDES(mu_);
  // `id`'s chain: its ancestors from the first (depth 0) down to it, then
  // every delegation made from it, depth first, in creation order.
  Result<std::vector<DelegationRecord>> Chain(const DelegationCaller& caller, std::string_view id) const
      EXCLUDES(mu_);

  // The delegations' answer for `subject` asking `p` on `path` at the
  // clock's now. From memory; kNone at once for a subject without any.
  DelegationDecision Decide(std::string_view subject, Permission p, std::string_view path, bool is_dir) const
      EXCLUDES(mu_);
  // Whether directory `path` is at or above a scope root of an active
  // delegation to `subject` (only its clean ones while one is active): the
  // folders it passes to reach what it was given.
  bool PassableFor(std::string_view subject, std::string_view path) const EXCLUDES(mu_);
  // Whether `subject` has an active clean delegation (its own grants are
  // suspended).
  bool Confined(std::string_view subject) const EXCLUDES(mu_);
  // The earliest expiry among the active delegations to `subject`
  // (kNever if none): until then, and until the next change, its
  // delegated answers stand.
  UnixNanos ValidUntil(std::string_view subject) const EXCLUDES(mu_);
  // Every subject a delegation was ever made to (revoked and expired ones
  // included, until they are gone from the table).
  std::vector<std::string> Recipients() const EXCLUDES(mu_);
  // Bumped by every create and revoke.
  uint64_t revision() const { return revision_.load(std::memory_order_acquire); }
  UnixNanos Now() const { return clock_.Now(); }

 private:
  struct Entry {
    DelegationRecord record;
    std::vector<ScopeGlob> scope;
    std::vector<ScopeGlob> readonly;
    std::vector<std::string> children;  // ids, in creation order
  };

  DelegationTable(std::unique_ptr<SqliteDb> db, Options options);
  Status Load() EXCLUDES(db_mu_, mu_);
  // Adds a committed record to memory; with `link`, to its parent's
  // children too.
  void InsertLocked(DelegationRecord record, bool link) REQUIRES(mu_);
  const Entry* FindLocked(std::string_view id) const REQUIRES_SHARED(mu_);
  // `e`'s answer for `p` on `path`; `hops` bounds the walk up the chain.
  DelegationDecision EvaluateLocked(const Entry& e, Permission p, std::string_view path, bool is_dir,
                                    UnixNanos now, int hops) const REQUIRES_SHARED(mu_);
  // Whether `from` holds `p` on `path` through `parent` (empty: its own
  // grants).
  bool HoldsLocked(std::string_view from, const std::string& parent, Permission p, std::string_view path,
                   bool is_dir, UnixNanos now, int hops) const REQUIRES_SHARED(mu_);
  // The active delegations to `subject` that count: the clean ones while
  // one is active (`*clean` set), else all.
  std::vector<const Entry*> CountingLocked(std::string_view subject, UnixNanos now, bool* clean) const
      REQUIRES_SHARED(mu_);
  bool MayActAs(const DelegationCaller& caller, std::string_view subject) const;
  bool MayReadLocked(const DelegationCaller& caller, const DelegationRecord& r) const REQUIRES_SHARED(mu_);
  Status WriteRowLocked(const DelegationRecord& r) REQUIRES(db_mu_);
  void Audit(const std::string& subject, std::string_view operation, const std::string& object, bool allowed,
             std::string reason) const;

  const Options options_;
  const Clock& clock_;

  Mutex db_mu_ ACQUIRED_BEFORE(mu_);  // serializes writers
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);

  mutable SharedMutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ GUARDED_BY(mu_);
  // Delegate subject -> ids of the delegations to it that are not revoked
  // (found by string_view: a check allocates nothing to look).
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<std::string>, StringHash, std::equal_to<>> by_to_
      GUARDED_BY(mu_);
  std::atomic<size_t> unrevoked_{0};  // entries not revoked: 0 skips every lookup
  std::atomic<uint64_t> revision_{0};
};

}  // namespace nexus
