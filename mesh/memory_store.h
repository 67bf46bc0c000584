// MemoryStore: the embedded Store. The whole state lives in memory under one
// mutex; subclasses make it durable by overriding Persist (SqliteStore).
//
// Thread-safety: every method may be called concurrently. Lock order:
// mu_ -> deliver_mu_; Persist runs with mu_ held.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "base/mutex.h"
#include "mesh/store.h"

namespace nexus::mesh {

class MemoryStore : public Store {
 public:
  // `clock` (not owned) must outlive the store; it dates lease deadlines.
  explicit MemoryStore(const Clock* clock) : clock_(clock) {}

  Result<int64_t> Commit(std::vector<Op> ops) override;
  Result<KeyValue> Get(std::string_view key) const override;
  std::vector<KeyValue> Range(std::string_view prefix) const override;
  Result<TimePoint> LeaseDeadline(LeaseId id) const override;
  int64_t Revision() const override;
  size_t ExpireLeases(TimePoint now) override;
  WatchId Watch(std::string prefix, WatchCallback callback) override;
  void Unwatch(WatchId id) override;  // not from inside a callback

 protected:
  struct LeaseRecord {
    LeaseId id = 0;
    Duration ttl{0};
    TimePoint deadline{};
  };
  // The final state of everything one transaction touched.
  struct Mutation {
    int64_t revision = 0;
    std::vector<const KeyValue*> puts;
    std::vector<std::string_view> deletes;
    std::vector<LeaseRecord> lease_puts;
    std::vector<LeaseId> lease_deletes;
  };
  // Makes `m` durable. Called with mu_ held after the transaction is applied
  // in memory but before anyone can see it; a non-OK status rolls it back
  // and becomes Commit's result.
  virtual Status Persist(const Mutation& m) REQUIRES(mu_) { return Status::Ok(); }

  // Loading a persisted state, before the store is shared: no events, no
  // persistence, no checks.
  void LoadKey(KeyValue kv);
  void LoadLease(const LeaseRecord& lease);
  void LoadRevision(int64_t revision);

 private:
  struct Lease {
    Duration ttl{0};
    TimePoint deadline{};
    std::set<std::string, std::less<>> keys;
  };
  struct Watcher {
    std::string prefix;
    WatchCallback callback;
  };
  using Delivery = std::vector<std::pair<std::shared_ptr<const Watcher>, WatchEvent>>;

  // Validates, applies, persists `ops` and delivers their events, releasing
  // `lock` (which holds mu_) before delivery.
  Result<int64_t> CommitLocked(MutexLock& lock, std::vector<Op>& ops) REQUIRES(mu_);
  Status Validate(const std::vector<Op>& ops) const REQUIRES(mu_);
  // Releases the caller's `lock` on mu_ part-way: not expressible to the
  // analysis, which keeps treating mu_ as held in CommitLocked's callers.
  void Deliver(MutexLock& lock, Delivery delivery) NO_THREAD_SAFETY_ANALYSIS;

  const Clock* const clock_;
  mutable Mutex mu_ ACQUIRED_BEFORE(deliver_mu_);
  std::map<std::string, KeyValue, std::less<>> kv_ GUARDED_BY(mu_);
  std::unordered_map<LeaseId, Lease> leases_ GUARDED_BY(mu_);
  int64_t revision_ GUARDED_BY(mu_) = 0;
  std::map<WatchId, std::shared_ptr<const Watcher>> watchers_ GUARDED_BY(mu_);
  WatchId next_watch_ GUARDED_BY(mu_) = 1;
  // Held while callbacks run, so events reach each watcher in revision order
  // and Unwatch can wait for a running callback.
  Mutex deliver_mu_;
};

}  // namespace nexus::mesh
