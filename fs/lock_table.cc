#include "fs/lock_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "base/file_util.h"

namespace nexus {

namespace {

// The file: a header line, then per lock "EXPIRES ACQUIRED HOLDER_LEN
// PATH_LEN\n" followed by the holder's and the path's bytes and "\n"
// (lengths, so any byte of a path is kept as it is).
constexpr std::string_view kHeader = "nexus-locks 1\n";

std::string Encode(const std::map<std::string, LockInfo>& locks) {
  std::string out(kHeader);
  for (const auto& [path, l] : locks) {
    out += std::to_string(l.expires_ns) + " " + std::to_string(l.acquired_ns) + " " +
           std::to_string(l.holder.size()) + " " + std::to_string(l.path.size()) + "\n";
    out += l.holder + l.path + "\n";
  }
  return out;
}

Result<std::map<std::string, LockInfo>> Decode(std::string_view data) {
  auto bad = [](std::string_view why) { return Status::Error(EINVAL, "lock file: " + std::string(why)); };
  if (data.substr(0, kHeader.size()) != kHeader) return bad("unknown format");
  data.remove_prefix(kHeader.size());
  std::map<std::string, LockInfo> out;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) return bad("truncated entry");
    std::string line(data.substr(0, nl));
    long long expires = 0, acquired = 0;
    unsigned long long holder_len = 0, path_len = 0;
    int used = 0;
    if (std::sscanf(line.c_str(), "%lld %lld %llu %llu%n", &expires, &acquired, &holder_len, &path_len,
                    &used) != 4 ||
        static_cast<size_t>(used) != line.size())
      return bad("malformed entry");
    data.remove_prefix(nl + 1);
    if (holder_len + path_len + 1 > data.size() || data[holder_len + path_len] != '\n')
      return bad("truncated entry");
    LockInfo l;
    l.holder = std::string(data.substr(0, holder_len));
    l.path = std::string(data.substr(holder_len, path_len));
    l.acquired_ns = acquired;
    l.expires_ns = expires;
    data.remove_prefix(holder_len + path_len + 1);
    out[l.path] = std::move(l);
  }
  return out;
}

}  // namespace

Status LockTable::Persist(const std::string& path, int64_t now_ns) {
  MutexLock lock(mu_);
  path_ = path;
  auto text = ReadTextFile(path, "lock file");
  if (!text.ok()) return text.code() == ENOENT ? Status::Ok() : text.status();
  auto loaded = Decode(*text);
  if (!loaded.ok()) {
    std::rename(path.c_str(), (path + ".bad").c_str());
    return Status::Error(EINVAL, path + ": " + loaded.status().message() + " (moved aside to " + path +
                                     ".bad; no locks kept)");
  }
  locks_ = std::move(*loaded);
  next_expiry_ns_ = 0;  // recomputed by the next DropExpired
  DropExpired(now_ns);
  return Status::Ok();
}

void LockTable::SaveLocked() {
  if (path_.empty()) return;
  if (Status st = WriteFileAtomic(path_, Encode(locks_), 0600); !st.ok())
    spdlog::warn("locks: cannot keep the lock table in {}: {}", path_, st.ToString());
}

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
  SaveLocked();
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
  SaveLocked();
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
