// RebacPart: nexusd's access control. Owns the tuple engine and the uid
// bindings (DATA/rebac.db), the principal table that resolves every caller
// through those bindings (perms/principals.h), the audit log
// (DATA/audit.db), the delegations (DATA/delegations.db,
// perms/delegation.h) and the policy the namespace enforces on every caller
// (perms/rebac_policy.h), which applies them; hands them to the control
// socket. Also owns the
// per-subject mounts (daemon/subject_mounts.h), which act through them.
//
// The admin subject (`user:admin`: root, the operator uid, admin sessions
// on the socket) owns zone:root and is never restricted.
//
// Threading: Open, Fill and the destructor run on nexusd's main thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/mutex.h"
#include "daemon/subject_mounts.h"
#include "fs/change_events.h"
#include "fs/fuse_ops.h"
#include "fs/namespace.h"
#include "perms/audit.h"
#include "perms/delegation.h"
#include "perms/identity.h"
#include "perms/principals.h"
#include "perms/rebac.h"
#include "perms/rebac_policy.h"
#include "rpc/server/service.h"

namespace nexus {

class RebacPart {
 public:
  struct Options {
    std::string data_dir;
    uid_t operator_uid = 0;
    std::string admin_subject = "user:admin";
  };
  static Result<std::unique_ptr<RebacPart>> Open(const Options& options);
  ~RebacPart();

  AccessPolicy* policy() const { return policy_.get(); }
  RebacEngine* engine() const { return engine_.get(); }
  AuditLog* audit() const { return audit_.get(); }
  // Access changed (tuples, bindings or delegations): the policy's views
  // are computed anew, then the mounts that cache names revalidate them
  // (once the mount table exists). The engine's, the identity map's and
  // the delegations' change hook.
  std::function<void()> access_changed() const;
  // Who calls, through the uid bindings; lives as long as the part.
  PrincipalTable* principals() const { return principals_.get(); }
  // Creates the per-subject mount table (call before serving) and
  // subscribes it to `bus`.
  void EnableSubjectMounts(Namespace* ns, FuseContext* main, unsigned threads, ChangeBus* bus);
  SubjectMountTable* mounts() const { return mounts_.get(); }
  // Unmounts every per-subject mount (at shutdown, before the main mount).
  // Change events and tuple changes that arrive later find no table.
  void StopMounts();
  void Fill(ServiceContext& ctx);

 private:
  RebacPart() = default;
  std::string admin_subject_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RebacEngine> engine_;
  std::unique_ptr<IdentityMap> identities_;
  std::unique_ptr<PrincipalTable> principals_;
  std::unique_ptr<DelegationTable> delegations_;
  std::unique_ptr<RebacPolicy> policy_;
  std::unique_ptr<SubjectMountTable> mounts_;
  // How the change bus (whose subscribers are never removed) and the
  // engine's change hook reach the table: through this link, cleared
  // before the table goes, so a late event finds no table, not a freed one.
  struct MountsLink {
    Mutex mu;  // held while calling into the table; before its mu_
    SubjectMountTable* table GUARDED_BY(mu) = nullptr;
    RebacPolicy* policy GUARDED_BY(mu) = nullptr;
    const IdentityMap* identities GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<MountsLink> link_ = std::make_shared<MountsLink>();
};

}  // namespace nexus
