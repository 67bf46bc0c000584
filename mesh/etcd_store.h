// EtcdStore: the Store on an etcd v3 cluster (through EtcdClient), so that
// the mesh's state survives the loss of any one machine and several
// directors can share it.
//
// Layout, all under one prefix P (default "/nexus/mesh/"):
//   P schema          "1": the layout version (Open refuses another one)
//   P k/<key>         the store's keys, attached to their etcd lease
//   P l/<lease id>    "v1 <ttl ms> <deadline ms>": the lease's record,
//                     attached to the etcd lease itself
// Store revisions are etcd revisions (cluster-wide: a write elsewhere in the
// cluster moves them too, they only grow).
//
// Mapping of the semantics in store.h:
// - Commit is one etcd transaction: every expected revision becomes a
//   compare on the key's mod (or create) revision, every put with a lease a
//   compare that the lease's record exists; on failure the transaction's
//   failure branch reads the compared keys, so the error says which
//   condition failed (ESTALE, or ENOENT for a lease) from the same snapshot.
//   GrantLease is an etcd LeaseGrant with the caller's id just before the
//   transaction (revoked again if the transaction fails); KeepAlive rewrites
//   the record in the transaction and renews the etcd lease after it;
//   RevokeLease is an etcd LeaseRevoke after the transaction, which deletes
//   the lease's keys and record in one revision. A crash between the
//   transaction and a revoke leaves the lease to expire by its deadline.
// - Lease deadlines are the record's, dated by the caller's clock, and
//   ExpireLeases(now) revokes those that have passed, as the embedded stores
//   do: the leading director decides expiry. The etcd lease itself is
//   granted for kBackstopFactor times the TTL (whole seconds), so keys never
//   outlive a control plane that has gone altogether.
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
// reachable), with the reason; EIO for an answer that cannot be decoded.
//
// Thread-safety: every method may be called concurrently. Lock order:
// start_mu_ -> mu_; deliver_mu_ -> mu_.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <string>
#include <thread>

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
  int64_t Revision() const override;
  size_t ExpireLeases(TimePoint now) override;
  // Each op is at most one etcd operation (a lease grant or keep-alive
  // also writes its record), so this is the cluster's limit.
  size_t MaxOpsPerCommit() const override { return max_txn_ops_; }
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
  // Revokes the etcd lease; the revision of the deletion, or 0 if it was gone.
  Result<int64_t> Revoke(LeaseId id) const;
  // Revokes them all at once; the latest revision of a deletion (0: none
  // was left), or the first error once every call has answered.
  Result<int64_t> RevokeAll(const std::vector<LeaseId>& ids) const;
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
};

}  // namespace nexus::mesh
