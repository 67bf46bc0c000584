#include "fs/lock_table.h"

#include <algorithm>

namespace nexus {

void LockTable::DropExpired(int64_t now_ns) {
  if (now_ns < next_expiry_ns_) return;
  next_expiry_ns_ = INT64_MAX;
  for (auto it = locks_.begin(); it != locks_.end();) {
    if (it->second.expires_ns <= now_ns) {
      it = locks_.erase(it);
    } else {
      next_expiry_ns_ = std::min(next_expiry_ns_, it->second.expires_ns);
      ++it;
    }
  }
}

Result<LockInfo> LockTable::Acquire(const std::string& path, const std::string& holder, int64_t ttl_ns,
                                    int64_t now_ns) {
  if (ttl_ns <= 0) return Status::Error(EINVAL, "lock TTL must be positive");
  MutexLock lock(mu_);
  DropExpired(now_ns);
  auto [it, inserted] = locks_.try_emplace(path);
  if (!inserted) {
    const LockInfo& l = it->second;
    return Status::Error(EBUSY, path + " is locked by " + l.holder + " for " +
                                    std::to_string((l.expires_ns - now_ns + 999'999'999) / 1'000'000'000) +
                                    " more seconds");
  }
  it->second = LockInfo{path, holder, now_ns, now_ns + ttl_ns};
  next_expiry_ns_ = std::min(next_expiry_ns_, it->second.expires_ns);
  return it->second;
}

Status LockTable::Release(const std::string& path, const std::string& holder, bool force, int64_t now_ns) {
  MutexLock lock(mu_);
  DropExpired(now_ns);
  auto it = locks_.find(path);
  if (it == locks_.end()) return Status::Error(ENOENT, path + " is not locked");
  if (it->second.holder != holder && !force)
    return Status::Error(EACCES, path + " is locked by " + it->second.holder +
                                     "; only the holder (or an admin with --force) releases it");
  locks_.erase(it);
  return Status::Ok();
}

Result<LockInfo> LockTable::Info(const std::string& path, int64_t now_ns) {
  MutexLock lock(mu_);
  DropExpired(now_ns);
  auto it = locks_.find(path);
  if (it == locks_.end()) return Status::Error(ENOENT, path + " is not locked");
  return it->second;
}

std::vector<LockInfo> LockTable::List(int64_t now_ns) {
  MutexLock lock(mu_);
  DropExpired(now_ns);
  std::vector<LockInfo> out;
  out.reserve(locks_.size());
  for (const auto& [path, info] : locks_) out.push_back(info);
  return out;
}

size_t LockTable::size(int64_t now_ns) {
  MutexLock lock(mu_);
  DropExpired(now_ns);
  return locks_.size();
}

}  // namespace nexus
