// FencedStore: the store as one of several directors sees it. Only the
// leader writes: while this director leads, every transaction it commits
// also requires its election key to be the very key it created (an
// Op::Check on that key's revision), so a deposed leader that wakes up after
// a pause (SIGSTOP, a long GC-like stall, a partition) cannot grant, extend
// or accept anything: etcd deleted its key with its lease and the check
// fails. While it stands by, writes are refused naming the leader.
//
// Errors: EAGAIN "this director is a standby; the leader is ADDR" while
// standing by, and "this director no longer leads" when the fence check
// fails (so nodes retry elsewhere instead of treating the answer as final);
// the rest as the inner store.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <string>

#include "base/mutex.h"
#include "mesh/store.h"

namespace nexus::mesh {

class FencedStore final : public Store {
 public:
  // `inner` (not owned) must outlive this. Starts standing by.
  explicit FencedStore(Store* inner) : inner_(inner) {}

  // This director leads while `key` keeps revision `revision`.
  void Lead(std::string key, int64_t revision) {
    MutexLock lk(mu_);
    leading_ = true;
    fence_key_ = std::move(key);
    fence_revision_ = revision;
  }
  // `leader`: the leader's address, "" when none is known.
  void StandBy(std::string leader) {
    MutexLock lk(mu_);
    leading_ = false;
    leader_ = std::move(leader);
  }
  // The leader's address while standing by ("" when leading or unknown).
  std::string Leader() const {
    MutexLock lk(mu_);
    return leading_ ? std::string() : leader_;
  }
  Status CheckLeading() const {
    MutexLock lk(mu_);
    if (leading_) return Status::Ok();
    return Status::Error(EAGAIN, leader_.empty() ? "this director is a standby and no leader is elected yet"
                                                 : "this director is a standby; the leader is " + leader_);
  }

  Result<int64_t> Commit(std::vector<Op> ops) override {
    std::string key;
    {
      MutexLock lk(mu_);
      if (!leading_) {
        lk.Unlock();
        return CheckLeading();
      }
      key = fence_key_;
      // First, so that when it fails it is the condition reported.
      ops.insert(ops.begin(), Op::Check(fence_key_, fence_revision_));
    }
    auto r = inner_->Commit(std::move(ops));
    if (r.code() == ESTALE && r.status().message().find("'" + key + "'") != std::string::npos)
      return Status::Error(EAGAIN, "this director no longer leads (its election key is gone)");
    return r;
  }
  Result<KeyValue> Get(std::string_view key) const override { return inner_->Get(key); }
  std::vector<KeyValue> Range(std::string_view prefix) const override { return inner_->Range(prefix); }
  Result<TimePoint> LeaseDeadline(LeaseId id) const override { return inner_->LeaseDeadline(id); }
  Result<std::map<LeaseId, TimePoint>> LeaseDeadlines(const std::vector<LeaseId>& ids) const override {
    return inner_->LeaseDeadlines(ids);
  }
  int64_t Revision() const override { return inner_->Revision(); }
  // Only the leader expires leases, and only after a fenced no-op commit
  // has confirmed it still leads.
  size_t ExpireLeases(TimePoint now) override {
    if (!Commit({}).ok()) return 0;
    return inner_->ExpireLeases(now);
  }
  size_t MaxOpsPerCommit() const override { return inner_->MaxOpsPerCommit() - 1; }  // the fence
  size_t OpCost(const Op& op) const override { return inner_->OpCost(op); }
  WatchId Watch(std::string prefix, WatchCallback callback) override {
    return inner_->Watch(std::move(prefix), std::move(callback));
  }
  void Unwatch(WatchId id) override { inner_->Unwatch(id); }

 private:
  Store* const inner_;
  mutable Mutex mu_;
  bool leading_ GUARDED_BY(mu_) = false;
  std::string fence_key_ GUARDED_BY(mu_);
  int64_t fence_revision_ GUARDED_BY(mu_) = 0;
  std::string leader_ GUARDED_BY(mu_);
};

}  // namespace nexus::mesh
