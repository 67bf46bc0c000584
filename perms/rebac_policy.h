// RebacPolicy: the AccessPolicy (fs/access_policy.h) of ReBAC tuples.
//
// A caller acts as the subject of its principal (Caller::principal,
// resolved once at its boundary by perms/principals.h); a caller without
// one (the daemon's own calls) is resolved here from its uid, by the same
// table. Principals that are admins by their boundary's rules (root, the
// operator, admin keys, the admin subject) and subjects the engine makes
// admins (RebacEngine::IsAdmin) are unrestricted. For everyone else, a path is checked as `folder:PATH` when
// it is a directory and `file:PATH` otherwise:
//   see      read, or (directories) a grant root below it (GrantRoots): the
//            folders leading to something shared with the subject are
//            passable and list only what leads there;
//   read / write / manage   the engine's permission of that name.
// Delegations (perms/delegation.h), when the policy has a table: a subject
// with an active clean delegation is confined to it (its own grants, admin
// included, do not count); otherwise a delegation that grants an access
// adds to the subject's own grants, and the scope roots of its delegations
// (and the folders above them) are passable like grant roots.
// Every answer comes from memory: the engine's decision cache, a cache
// of each subject's grant roots stamped with the tuple revision (and the
// earliest expiry it used), so a tuple write or an expiry takes effect on
// the very next call, and the delegation table, which is asked afresh on
// every call (nothing delegated is cached here), so a revoke or an expiry
// holds on the next call too. Denials go to the audit sink without waiting;
// a denial a delegation decided is recorded as "delegation.deny" naming
// the delegation and its reason.
//
// Views (AccessPolicy::UidViews): computed by RefreshViews from the
// tuples, the identity bindings and the delegations, and kept until the
// next refresh, which must follow every change of them before the kernel
// is told to revalidate the names it caches (daemon/rebac_part.cc). More
// than kMaxViews views: none are given (no name is shared).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "fs/access_policy.h"
#include "base/principal.h"
#include "perms/audit.h"
#include "perms/delegation.h"
#include "perms/identity.h"
#include "perms/rebac.h"

namespace nexus {

class RebacPolicy final : public AccessPolicy {
 public:
  // Not owned; all must outlive the policy. `audit` and `delegations` may
  // be null. `principals` resolves callers that carry no principal.
  RebacPolicy(RebacEngine* engine, PrincipalResolver* principals, AuditSink* audit, std::string admin_subject,
              DelegationTable* delegations = nullptr);

  bool Unrestricted(const Caller& caller) override;
  bool CanSee(const Caller& caller, std::string_view path, bool is_dir) override;
  bool Can(const Caller& caller, Need need, std::string_view path, bool is_dir) override;
  void Denied(const Caller& caller, std::string_view operation, std::string_view path,
              std::string_view reason) override;
  std::string SubjectOf(const Caller& caller) override;
  std::shared_ptr<const std::vector<Caller>> UidViews() override;
  bool ViewsDifferBelow(std::string_view path) override;

  static constexpr size_t kMaxViews = 64;
  // Computes the views from the tuples, `identities`' bindings (not owned;
  // must outlive the policy) and the delegations. Until the first call,
  // UidViews is null.
  void RefreshViews(const IdentityMap* identities);
  // When the first grant of a view expires (kNever if none does or there
  // are no views): its names must then be revalidated.
  UnixNanos ViewsValidUntil();

  // The object name a path is checked as.
  static std::string ObjectFor(std::string_view path, bool is_dir);
  // When the first tuple or delegation that grants `subject` anything
  // expires (kNever if none does): until then, and until the next tuple
  // write or delegation change, every answer for it stands.
  UnixNanos GrantsValidUntil(const std::string& subject);

 private:
  struct Roots {
    uint64_t revision = 0;
    UnixNanos valid_until = 0;
    GrantRoots roots;
  };
  // The caller's principal, resolved from its uid when it carries none.
  const Principal& PrincipalOf(const Caller& caller);
  // The current grant roots of `subject`, cached per revision and until the
  // first expiry among them; null if the subject does not parse.
  std::shared_ptr<const Roots> RootsOf(const std::string& subject);
  // True if a grant root of `subject` lies strictly below `path`.
  bool HasRootBelow(const std::string& subject, std::string_view path);

  struct ViewSet {
    std::vector<std::unique_ptr<Principal>> principals;
    std::vector<Caller> callers;  // principals[i], as a FUSE caller
    std::vector<bool> delegated;  // has (or had) delegations
  };

  RebacEngine* const engine_;
  PrincipalResolver* const principals_;
  AuditSink* const audit_;
  const std::string admin_subject_;
  DelegationTable* const delegations_;

  Mutex refresh_mu_ ACQUIRED_BEFORE(views_mu_);  // one refresh at a time
  SharedMutex views_mu_;
  std::shared_ptr<const ViewSet> views_ GUARDED_BY(views_mu_);

  SharedMutex roots_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Roots>> roots_ GUARDED_BY(roots_mu_);
};

}  // namespace nexus
