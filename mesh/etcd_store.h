// EtcdStore: the Store on an etcd v3 cluster (through EtcdClient), so that
// the mesh's state survives the loss of any one machine and several
// directors can share it.
//
// Layout, all under one prefix P (default "/nexus/mesh/"):
//   P schema             "2": the layout version (Open refuses another one)
//   P k/<key>            the store's keys; one put with a store lease has
//                        the value "\0L<lease id>\0<value>" and the etcd
//                        lease behind that store lease
//   P l/<lease id>       "v1 <ttl ms> <deadline ms>": the store lease's
//                        record, on its etcd lease
//   P a/<lease id>/<key> "": the lease's index, one entry per key put with
//                        it, written with the key (so with its revision)
// Store revisions are etcd revisions (cluster-wide: a write elsewhere in the
// cluster moves them too, they only grow).
//
// Store leases are not etcd leases: granting an etcd lease is a Raft write
// and a request of its own, which at one per placement was most of a
// placement's cost. The store's leases of one TTL share an etcd lease
// (granted when none has at least (kBackstopFactor - 1) TTLs left, so about
// once a TTL), and revoking a store lease deletes the keys its index lists.
//
// Mapping of the semantics in store.h:
// - Commit is one etcd transaction: every expected revision becomes a
//   compare on the key's mod (or create) revision, every grant a compare
//   that the lease's record does not exist, every put with a lease a
//   compare that it does; on failure the transaction's failure branch reads
//   the compared keys, so the error says which condition failed (ESTALE,
//   EEXIST or ENOENT for a lease) from the same snapshot. GrantLease writes
//   the record on the shared etcd lease; KeepAlive rewrites the record
//   (keeping its etcd lease) and renews that etcd lease after the
//   transaction. RevokeLease comes after the transaction, in a transaction
//   of its own (RevokeAll): it reads the lease's index, then deletes the
//   record, the index and every indexed key whose mod revision is still the
//   index entry's (a key written since, with another lease or none, is no
//   longer the lease's), on condition that nothing was attached since the
//   read (else it reads again). A crash between the two transactions leaves
//   the lease to expire by its deadline.
// - Lease deadlines are the record's, dated by the caller's clock, and
//   ExpireLeases(now) revokes those that have passed, as the embedded stores
//   do: the leading director decides expiry. The shared etcd lease is
//   granted for kBackstopFactor times the TTL (whole seconds) and renewed by
//   every keep-alive of a lease on it, so keys never outlive a control plane
//   that has gone altogether.
// - Watch: one etcd watch stream over P (resumed from the last revision
//   seen when it breaks) feeds every watcher on one delivery thread, in
//   revision order. A Commit (or ExpireLeases) that changed anything
//   returns only after the watchers have been handed its events, so a
//   caller sees the same order as with the embedded stores.
// - Range and Revision cannot report errors through the interface: on an
//   unreachable etcd they return nothing / the last revision seen, and the
//   calls that write fail with EAGAIN ("etcd unavailable: ...").
//
// Errors: as store.h; EAGAIN when etcd cannot serve (no quorum, no member
// reachable), with the reason; EIO for an answer that cannot be decoded;
// EINVAL for a transaction over the cluster's --max-txn-ops (OpCost), and
// for the revoke of a lease holding more keys than that limit less two
// (the director attaches one key per lease).
//
// Thread-safety: every method may be called concurrently. Lock order:
// start_mu_ -> mu_; deliver_mu_ -> mu_; backing_mu_ is taken alone (and
// held across the grant of a shared etcd lease, so there is one at a time).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "mesh/etcd_client.h"
#include "mesh/store.h"

namespace nexus::mesh {

class EtcdStore : public Store {
 public:
  static constexpr int kBackstopFactor = 3;

  struct Options {
    EtcdClientOptions etcd;
    std::string prefix = "/nexus/mesh/";
    size_t max_txn_ops = 128;  // the cluster's --max-txn-ops (etcd's default)
  };
  // Checks that etcd answers and the layout version. `clock` (not owned)
  // must outlive the store.
  static Result<std::unique_ptr<EtcdStore>> Open(const Clock* clock, Options options);
  ~EtcdStore() override;

  Result<int64_t> Commit(std::vector<Op> ops) override;
  Result<KeyValue> Get(std::string_view key) const override;
  std::vector<KeyValue> Range(std::string_view prefix) const override;
  Result<TimePoint> LeaseDeadline(LeaseId id) const override;
  // One read of every lease record.
  Result<std::map<LeaseId, TimePoint>> LeaseDeadlines(const std::vector<LeaseId>& ids) const override;
  int64_t Revision() const override;
  size_t ExpireLeases(TimePoint now) override;
  // In etcd operations: the cluster's limit; OpCost says what each op
  // takes of it (a put with a lease 2, a keep-alive 2, a revoke 0: it is a
  // transaction of its own).
  size_t MaxOpsPerCommit() const override { return max_txn_ops_; }
  size_t OpCost(const Op& op) const override;
  WatchId Watch(std::string prefix, WatchCallback callback) override;
  void Unwatch(WatchId id) override;  // not from inside a callback

  // The etcd key of store key `key` (for recipes that use etcd directly,
  // like the election).
  std::string EtcdKey(std::string_view key) const { return prefix_ + "k/" + std::string(key); }
  const EtcdClient& client() const { return client_; }
  // Range, with etcd's error when it cannot answer.
  Result<std::vector<KeyValue>> TryRange(std::string_view prefix) const;

 private:
  EtcdStore(const Clock* clock, Options options);
  // The keys at `key` (an etcd key under k/), or starting with it.
  Result<std::vector<KeyValue>> Read(const std::string& key, bool prefix) const;
  std::string RecordKey(LeaseId id) const { return prefix_ + "l/" + std::to_string(id); }
  std::string IndexPrefix(LeaseId id) const { return prefix_ + "a/" + std::to_string(id) + "/"; }
  // Commit after its checks; `touched`: the leases ops grant (true) or
  // revoke (false).
  Result<int64_t> CommitOnce(const std::vector<Op>& ops, const std::unordered_map<LeaseId, bool>& touched);
  // The shared etcd lease for store leases of `ttl`, granted if needed.
  Result<LeaseId> BackingLease(Duration ttl) EXCLUDES(backing_mu_);
  // After etcd lost an etcd lease: look them all up again.
  void ForgetBacking() EXCLUDES(backing_mu_);
  // Revokes the store leases (their records, indexes and keys), as many per
  // transaction as fit; counts in *revoked those that existed. Returns the
  // latest revision written (0: none).
  Result<int64_t> RevokeAll(const std::vector<LeaseId>& ids, size_t* revoked) EXCLUDES(backing_mu_);
  // Starts the watch stream once.
  void EnsureWatching() EXCLUDES(mu_);
  void WatchLoop(int64_t start_revision);
  // Returns once the watch has delivered events up to `revision` (or the
  // stream is broken for longer than the client's timeout).
  void AwaitDelivery(int64_t revision);

  const Clock* const clock_;
  const std::string prefix_;
  const size_t max_txn_ops_;
  EtcdClient client_;

  struct Watcher {
    std::string prefix;
    WatchCallback callback;
  };
  Mutex start_mu_ ACQUIRED_BEFORE(mu_);
  // Held while callbacks run (Unwatch waits on it).
  Mutex deliver_mu_ ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::map<WatchId, std::shared_ptr<const Watcher>> watchers_ GUARDED_BY(mu_);
  WatchId next_watch_ GUARDED_BY(mu_) = 1;
  mutable int64_t last_revision_ GUARDED_BY(mu_) = 0;
  int64_t delivered_ GUARDED_BY(mu_) = 0;  // every event up to here is delivered
  bool watching_ GUARDED_BY(mu_) = false;
  bool created_ GUARDED_BY(mu_) = false;  // etcd confirmed the watch
  std::atomic<bool> stop_{false};
  std::thread watch_thread_;

  static constexpr int kRevokeAttempts = 5;
  struct Backing {
    LeaseId id = 0;
    std::chrono::steady_clock::time_point renewed;  // granted or last kept alive
  };
  Mutex backing_mu_;
  std::map<int64_t, Backing> backing_ GUARDED_BY(backing_mu_);  // by etcd TTL in seconds
  // Store lease -> its etcd lease (fixed for the lease's life), as known.
  std::unordered_map<LeaseId, LeaseId> backing_of_ GUARDED_BY(backing_mu_);
};

}  // namespace nexus::mesh
