// SubjectMountTable: nexusd's per-subject FUSE mounts of the namespace
// (`nexus mount add`), each serving every call as one subject, and the
// kernel-cache invalidation that keeps every mount of the daemon coherent.
// RebacPart owns it; the control socket reaches it as SubjectMounts
// (rpc/server/service.h).
#pragma once

#include <condition_variable>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "fs/change_events.h"
#include "fs/fuse_ops.h"
#include "fs/fuse_session.h"
#include "fs/namespace.h"
#include "perms/principals.h"
#include "perms/rebac_policy.h"
#include "rpc/server/service.h"

namespace nexus {

// Per-subject FUSE mounts of the namespace, and the kernel-cache
// invalidation that keeps every mount of the daemon coherent: a change made
// through one mount (or the socket) drops the entries and attributes the
// other mounts' kernels may hold (only while more than one mount exists).
//
// Asked (cache_names, the default of `nexus mount add`), and when the
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

  // The daemon's own mount, once it exists (null when it is gone). With
  // `shared_names`, and when the kernel revalidates names on request, the
  // main mount caches the names every uid sees alike (NameCaching::kShared)
  // and is revalidated with the others on every access change and at the
  // first expiry among the grants of the policy's views; otherwise it
  // caches none (kNone).
  void SetMainMount(KernelCache* main, bool shared_names = true);

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
  // The same for the main mount.
  void RevalidateMain() REQUIRES(mu_);
  void ExpiryLoop() EXCLUDES(mu_);

  Namespace* const ns_;
  RebacPolicy* const policy_;
  PrincipalTable* const principals_;
  FuseContext* const main_ctx_;
  const unsigned threads_;
  Mutex add_mu_ ACQUIRED_BEFORE(mu_);  // serializes Add/Remove (mount syscalls)
  Mutex mu_;
  KernelCache* main_ GUARDED_BY(mu_) = nullptr;
  bool main_epoch_ GUARDED_BY(mu_) = false;  // main names are kShared
  UnixNanos main_valid_until_ GUARDED_BY(mu_) = kNever;
  std::vector<std::unique_ptr<Mount>> mounts_ GUARDED_BY(mu_);
  uint32_t next_id_ GUARDED_BY(add_mu_) = static_cast<uint32_t>(MountId::kMain) + 1;
  std::condition_variable expiry_cv_;  // mounts or expiries changed
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread expiry_;
};

}  // namespace nexus
