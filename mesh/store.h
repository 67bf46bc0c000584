// Store: the director's state lives behind this interface, which has the
// semantics of a replicated key-value store (etcd's model) so that an
// etcd-backed implementation can replace the embedded ones without touching
// placement logic.
//
// Semantics:
// - A store revision counts committed transactions; every key carries the
//   revision that created it and the one that last changed it.
// - Commit applies a list of operations atomically. Conditions (expected
//   revisions, lease existence) are all checked against the state before the
//   transaction; if any fails nothing changes and ESTALE (revision) or ENOENT
//   (lease) is returned. A key may appear at most once per transaction.
//   Expected revision: kAnyRevision = unconditional, kAbsent = the key must
//   not exist, > 0 = the key's mod_revision must equal it.
// - Leases have a TTL; keys put with a lease are deleted when the lease is
//   revoked or expires. Leases are chosen by the caller (a random id, like
//   etcd's client-specified lease ids) so that one transaction can grant a
//   lease and attach keys to it. ExpireLeases(now) revokes every lease whose
//   deadline has passed. The etcd store keeps the deadline in the store too,
//   so the same call expires leases there (etcd's own lease is a backstop,
//   see etcd_store.h).
// - Watch delivers every change to keys under a prefix, in revision order,
//   on the thread that committed it, after the data lock is released. A
//   callback must be quick and must not write to the store (hand the event
//   off instead); it may read.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <cerrno>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "mesh/clock.h"

namespace nexus::mesh {

using LeaseId = int64_t;  // 0 = no lease
using WatchId = uint64_t;

inline constexpr int64_t kAnyRevision = -1;
inline constexpr int64_t kAbsent = 0;

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  LeaseId lease = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;           // for kDelete: the key as it was before deletion
  int64_t revision = 0;  // the revision of the change
};

using WatchCallback = std::function<void(const WatchEvent&)>;

struct Op {
  enum class Kind { kPut, kDelete, kGrantLease, kKeepAlive, kRevokeLease, kCheck };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t expected_revision = kAnyRevision;
  LeaseId lease = 0;
  Duration ttl{0};

  // Puts `value` at `key`, attached to `lease` (0: none; replaces any
  // earlier attachment).
  static Op Put(std::string key, std::string value, int64_t expected = kAnyRevision, LeaseId lease = 0) {
    return Op{Kind::kPut, std::move(key), std::move(value), expected, lease, {}};
  }
  // Deleting an absent key is not an error unless `expected` > 0.
  static Op Delete(std::string key, int64_t expected = kAnyRevision) {
    return Op{Kind::kDelete, std::move(key), {}, expected, 0, {}};
  }
  // EEXIST if the id is taken; EINVAL if id is 0 or ttl <= 0.
  static Op GrantLease(LeaseId id, Duration ttl) { return Op{Kind::kGrantLease, {}, {}, 0, id, ttl}; }
  // Moves the deadline to now + ttl. ENOENT if the lease does not exist.
  static Op KeepAlive(LeaseId id, Duration ttl) { return Op{Kind::kKeepAlive, {}, {}, 0, id, ttl}; }
  // Deletes the lease and its keys. Revoking an absent lease is not an error.
  static Op RevokeLease(LeaseId id) { return Op{Kind::kRevokeLease, {}, {}, 0, id, {}}; }
  // Changes nothing: only the condition on `key` (a fence, e.g. "my
  // leadership key is still the one I created").
  static Op Check(std::string key, int64_t expected) {
    return Op{Kind::kCheck, std::move(key), {}, expected, 0, {}};
  }
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies `ops` atomically (see the semantics above); returns the new
  // store revision.
  virtual Result<int64_t> Commit(std::vector<Op> ops) = 0;

  // ENOENT if absent.
  virtual Result<KeyValue> Get(std::string_view key) const = 0;
  // Every key starting with `prefix`, in key order.
  virtual std::vector<KeyValue> Range(std::string_view prefix) const = 0;
  // The lease's deadline; ENOENT if it does not exist (expired or revoked).
  virtual Result<TimePoint> LeaseDeadline(LeaseId id) const = 0;
  // The deadlines of those of `ids` that exist (absent ones are left out),
  // in one read where the store can (a director taking over reads every
  // active task's).
  virtual Result<std::map<LeaseId, TimePoint>> LeaseDeadlines(const std::vector<LeaseId>& ids) const {
    std::map<LeaseId, TimePoint> out;
    for (LeaseId id : ids) {
      auto d = LeaseDeadline(id);
      if (d.ok())
        out[id] = *d;
      else if (d.code() != ENOENT)
        return d.status();
    }
    return out;
  }
  virtual int64_t Revision() const = 0;

  // Revokes every lease whose deadline is <= now; returns how many.
  virtual size_t ExpireLeases(TimePoint now) = 0;

  // The most operations one Commit may carry (etcd's --max-txn-ops; the
  // embedded stores have no limit). A caller keeps a few for its own checks.
  virtual size_t MaxOpsPerCommit() const { return SIZE_MAX; }
  // What one op takes of MaxOpsPerCommit (1 unless the store says
  // otherwise: an etcd transaction writes an index entry beside a leased
  // key, and revokes leases in a transaction of its own).
  virtual size_t OpCost(const Op& op) const {
    (void)op;
    return 1;
  }

  virtual WatchId Watch(std::string prefix, WatchCallback callback) = 0;
  // After Unwatch returns, the callback is not running and never runs again.
  virtual void Unwatch(WatchId id) = 0;

  // Single-operation conveniences.
  Result<int64_t> Put(std::string key, std::string value, int64_t expected = kAnyRevision,
                      LeaseId lease = 0) {
    std::vector<Op> ops;
    ops.push_back(Op::Put(std::move(key), std::move(value), expected, lease));
    return Commit(std::move(ops));
  }
  Result<int64_t> Delete(std::string key, int64_t expected = kAnyRevision) {
    std::vector<Op> ops;
    ops.push_back(Op::Delete(std::move(key), expected));
    return Commit(std::move(ops));
  }
};

}  // namespace nexus::mesh
