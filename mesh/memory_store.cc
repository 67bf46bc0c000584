#include "mesh/memory_store.h"

#include <optional>

namespace nexus::mesh {

Status MemoryStore::Validate(const std::vector<Op>& ops) const {
  std::set<std::string_view> keys;
  // Leases referenced by the transaction, alive or not as of the op being
  // checked: grants and revocations earlier in the same transaction count.
  std::unordered_map<LeaseId, bool> live;
  auto is_live = [&](LeaseId id) REQUIRES(mu_) {
    auto it = live.find(id);
    return it != live.end() ? it->second : leases_.count(id) > 0;
  };
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut:
      case Op::Kind::kDelete:
      case Op::Kind::kCheck: {
        if (op.key.empty()) return Status::Error(EINVAL, "empty key");
        if (!keys.insert(op.key).second)
          return Status::Error(EINVAL, "key '" + op.key + "' appears twice in one transaction");
        if (op.expected_revision != kAnyRevision) {
          auto it = kv_.find(op.key);
          int64_t actual = it == kv_.end() ? kAbsent : it->second.mod_revision;
          if (actual != op.expected_revision)
            return Status::Error(ESTALE, "revision mismatch on '" + op.key + "': expected " +
                                             std::to_string(op.expected_revision) + ", is " +
                                             std::to_string(actual));
        }
        if (op.kind == Op::Kind::kPut && op.lease != 0 && !is_live(op.lease))
          return Status::Error(ENOENT, "lease " + std::to_string(op.lease) + " does not exist");
        break;
      }
      case Op::Kind::kGrantLease:
        if (op.lease == 0 || op.ttl.count() <= 0)
          return Status::Error(EINVAL, "a lease needs a non-zero id and a positive ttl");
        if (is_live(op.lease)) return Status::Error(EEXIST, "lease " + std::to_string(op.lease) + " exists");
        live[op.lease] = true;
        break;
      case Op::Kind::kKeepAlive:
        if (op.ttl.count() <= 0) return Status::Error(EINVAL, "ttl must be positive");
        if (!is_live(op.lease))
          return Status::Error(ENOENT, "lease " + std::to_string(op.lease) + " does not exist");
        break;
      case Op::Kind::kRevokeLease:
        live[op.lease] = false;
        break;
    }
  }
  return Status::Ok();
}

Result<int64_t> MemoryStore::Commit(std::vector<Op> ops) {
  MutexLock lock(mu_);
  return CommitLocked(lock, ops);
}

Result<int64_t> MemoryStore::CommitLocked(MutexLock& lock, std::vector<Op>& ops) {
  NEXUS_RETURN_IF_ERROR(Validate(ops));
  const int64_t rev = revision_ + 1;
  const TimePoint now = MeshNow(*clock_);
  const bool watched = !watchers_.empty();

  // Undo log: the state before this transaction of everything it touches.
  std::map<std::string, std::optional<KeyValue>, std::less<>> old_keys;
  std::unordered_map<LeaseId, std::optional<Lease>> old_leases;
  std::vector<WatchEvent> events;

  auto save_key = [&](const std::string& key) REQUIRES(mu_) {
    if (old_keys.count(key)) return;
    auto it = kv_.find(key);
    old_keys.emplace(key, it == kv_.end() ? std::nullopt : std::optional(it->second));
  };
  auto save_lease = [&](LeaseId id) REQUIRES(mu_) {
    if (old_leases.count(id)) return;
    auto it = leases_.find(id);
    old_leases.emplace(id, it == leases_.end() ? std::nullopt : std::optional(it->second));
  };
  auto detach = [&](const KeyValue& kv) REQUIRES(mu_) {
    auto it = leases_.find(kv.lease);
    if (it == leases_.end()) return;
    save_lease(kv.lease);
    it->second.keys.erase(kv.key);
  };
  auto erase_key = [&](std::map<std::string, KeyValue, std::less<>>::iterator it) REQUIRES(mu_) {
    save_key(it->first);
    detach(it->second);
    if (watched) events.push_back({WatchEvent::Type::kDelete, it->second, rev});
    kv_.erase(it);
  };

  for (Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut: {
        save_key(op.key);
        auto [it, inserted] = kv_.try_emplace(op.key);
        KeyValue& kv = it->second;
        if (inserted) {
          kv.key = op.key;
          kv.create_revision = rev;
        } else {
          detach(kv);
        }
        kv.value = std::move(op.value);
        kv.mod_revision = rev;
        kv.lease = op.lease;
        if (op.lease != 0) {
          save_lease(op.lease);
          leases_.at(op.lease).keys.insert(op.key);
        }
        if (watched) events.push_back({WatchEvent::Type::kPut, kv, rev});
        break;
      }
      case Op::Kind::kDelete:
        if (auto it = kv_.find(op.key); it != kv_.end()) erase_key(it);
        break;
      case Op::Kind::kCheck:
        break;
      case Op::Kind::kGrantLease:
        save_lease(op.lease);
        leases_[op.lease] = Lease{op.ttl, now + op.ttl, {}};
        break;
      case Op::Kind::kKeepAlive: {
        save_lease(op.lease);
        Lease& l = leases_.at(op.lease);
        l.ttl = op.ttl;
        l.deadline = now + op.ttl;
        break;
      }
      case Op::Kind::kRevokeLease: {
        auto lit = leases_.find(op.lease);
        if (lit == leases_.end()) break;
        save_lease(op.lease);
        std::vector<std::string> keys(lit->second.keys.begin(), lit->second.keys.end());
        for (const std::string& k : keys) erase_key(kv_.find(k));
        leases_.erase(op.lease);
        break;
      }
    }
  }

  Mutation m;
  m.revision = rev;
  for (const auto& [key, old] : old_keys) {
    auto it = kv_.find(key);
    if (it != kv_.end())
      m.puts.push_back(&it->second);
    else if (old)
      m.deletes.push_back(key);
  }
  for (const auto& [id, old] : old_leases) {
    auto it = leases_.find(id);
    if (it != leases_.end())
      m.lease_puts.push_back({id, it->second.ttl, it->second.deadline});
    else if (old)
      m.lease_deletes.push_back(id);
  }
  if (Status st = Persist(m); !st.ok()) {
    for (auto& [key, old] : old_keys) {
      if (old)
        kv_[key] = std::move(*old);
      else
        kv_.erase(key);
    }
    for (auto& [id, old] : old_leases) {
      if (old)
        leases_[id] = std::move(*old);
      else
        leases_.erase(id);
    }
    return st;
  }
  revision_ = rev;

  Delivery delivery;
  for (WatchEvent& ev : events)
    for (const auto& [id, w] : watchers_)
      if (ev.kv.key.starts_with(w->prefix)) delivery.emplace_back(w, ev);
  Deliver(lock, std::move(delivery));
  return rev;
}

void MemoryStore::Deliver(MutexLock& lock, Delivery delivery) {
  if (delivery.empty()) return;
  MutexLock dl(deliver_mu_);
  lock.Unlock();
  for (const auto& [w, ev] : delivery) w->callback(ev);
}

Result<KeyValue> MemoryStore::Get(std::string_view key) const {
  MutexLock lk(mu_);
  auto it = kv_.find(key);
  if (it == kv_.end()) return Status::Error(ENOENT, "no key '" + std::string(key) + "'");
  return it->second;
}

std::vector<KeyValue> MemoryStore::Range(std::string_view prefix) const {
  MutexLock lk(mu_);
  std::vector<KeyValue> out;
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->second);
  return out;
}

Result<TimePoint> MemoryStore::LeaseDeadline(LeaseId id) const {
  MutexLock lk(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return Status::Error(ENOENT, "lease " + std::to_string(id) + " does not exist");
  return it->second.deadline;
}

int64_t MemoryStore::Revision() const {
  MutexLock lk(mu_);
  return revision_;
}

size_t MemoryStore::ExpireLeases(TimePoint now) {
  MutexLock lock(mu_);
  std::vector<Op> ops;
  for (const auto& [id, lease] : leases_)
    if (lease.deadline <= now) ops.push_back(Op::RevokeLease(id));
  if (ops.empty()) return 0;
  const size_t n = ops.size();
  // Only Persist can fail here; the leases then stay and expire next time.
  return CommitLocked(lock, ops).ok() ? n : 0;
}

WatchId MemoryStore::Watch(std::string prefix, WatchCallback callback) {
  MutexLock lk(mu_);
  WatchId id = next_watch_++;
  watchers_.emplace(id, std::make_shared<const Watcher>(Watcher{std::move(prefix), std::move(callback)}));
  return id;
}

void MemoryStore::Unwatch(WatchId id) {
  {
    MutexLock lk(mu_);
    watchers_.erase(id);
  }
  MutexLock dl(deliver_mu_);  // waits out a delivery already under way
}

void MemoryStore::LoadKey(KeyValue kv) {
  MutexLock lk(mu_);
  if (kv.lease != 0) leases_[kv.lease].keys.insert(kv.key);
  std::string key = kv.key;
  kv_[std::move(key)] = std::move(kv);
}

void MemoryStore::LoadLease(const LeaseRecord& lease) {
  MutexLock lk(mu_);
  Lease& l = leases_[lease.id];
  l.ttl = lease.ttl;
  l.deadline = lease.deadline;
}

void MemoryStore::LoadRevision(int64_t revision) {
  MutexLock lk(mu_);
  revision_ = revision;
}

}  // namespace nexus::mesh
