// RebacPart: nexusd's access control. Owns the tuple engine and the uid
// bindings (DATA/rebac.db), the principal table that resolves every caller
// through those bindings (perms/principals.h), the audit log
// (DATA/audit.db) and the policy the namespace enforces on every caller
// (perms/rebac_policy.h); hands them to the control socket. Also owns the
// per-subject mounts (SubjectMountTable).
//
// The admin subject (`user:admin`: root, the operator uid, admin sessions
// on the socket) owns zone:root and is never restricted.
//
// Threading: Open, Fill and the destructor run on nexusd's main thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "fs/change_events.h"
#include "fs/fuse_ops.h"
#include "fs/fuse_session.h"
#include "fs/namespace.h"
#include "perms/audit.h"
#include "perms/identity.h"
#include "perms/principals.h"
#include "perms/rebac.h"
#include "perms/rebac_policy.h"
#include "rpc/server/service.h"

namespace nexus {

// Per-subject FUSE mounts of the namespace, and the kernel-cache
// invalidation that keeps every mount of the daemon coherent: a change made
// through one mount (or the socket) drops the entries and attributes the
// other mounts' kernels may hold (only while more than one mount exists).
//
// By default a per-subject mount caches no names (FuseContext::
// exact_entries), like the main mount. Asked to cache names, and when the
// kernel supports it (FuseMount::IncrementEpoch), it lets the kernel cache
// them: it has one subject, so it only needs telling when that subject's
// access changes. Every tuple write and the first expiry among the
// subject's grants then make the kernel revalidate every cached name
// before the write returns (a thread waits for the expiries). The price:
// the kernel drops a revalidated name rather than asking again, and a
// mount made on it (a bind mount inside the per-subject mount) is
// detached.
//
// Threading: Add/Remove/List from socket background threads; OnChange on
// the change bus's dispatcher thread; OnAccessChanged on the tuple writer's
// thread. Add and Remove mount and unmount.
class SubjectMountTable final : public SubjectMounts {
 public:
  // `main` is the daemon's own mount context (settings and metrics are
  // shared); `principals` resolves each mount's subject. All pointers must
  // outlive the table.
  SubjectMountTable(Namespace* ns, RebacPolicy* policy, PrincipalTable* principals, FuseContext* main,
                    unsigned threads);
  ~SubjectMountTable() override;  // unmounts everything still mounted

  // The daemon's own mount, once it exists (null when it is gone).
  void SetMainMount(KernelCache* main);

  Result<SubjectMountInfo> Add(const std::string& mountpoint, const std::string& subject,
                               const std::string& root, bool cache_names) override;
  std::vector<SubjectMountInfo> List() override;
  Status Remove(const std::string& mountpoint) override;

  void OnChange(const ChangeEvent& event);
  // Tuples changed: mounts that cache names revalidate them all.
  void OnAccessChanged();

 private:
  struct Mount {
    SubjectMountInfo info;
    std::unique_ptr<FuseContext> ctx;
    std::unique_ptr<FuseMount> fuse;
    std::thread serve;
    bool epoch = false;              // caches names; revalidated by epoch
    UnixNanos valid_until = kNever;  // the subject's first grant expiry
  };
  static void Stop(Mount& m);
  // Revalidation for `m` now, and its next expiry.
  void Revalidate(Mount& m) REQUIRES(mu_);
  void ExpiryLoop() EXCLUDES(mu_);

  Namespace* const ns_;
  RebacPolicy* const policy_;
  PrincipalTable* const principals_;
  FuseContext* const main_ctx_;
  const unsigned threads_;
  Mutex add_mu_;  // serializes Add/Remove (mount syscalls), before mu_
  Mutex mu_;
  KernelCache* main_ GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<Mount>> mounts_ GUARDED_BY(mu_);
  uint32_t next_id_ GUARDED_BY(add_mu_) = static_cast<uint32_t>(MountId::kMain) + 1;
  std::condition_variable expiry_cv_;  // mounts or expiries changed
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread expiry_;
};

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
  std::unique_ptr<RebacPolicy> policy_;
  std::unique_ptr<SubjectMountTable> mounts_;
  // How the change bus (whose subscribers are never removed) and the
  // engine's change hook reach the table: through this link, cleared
  // before the table goes, so a late event finds no table, not a freed one.
  struct MountsLink {
    Mutex mu;  // held while calling into the table; before its mu_
    SubjectMountTable* table GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<MountsLink> link_ = std::make_shared<MountsLink>();
};

}  // namespace nexus
