#include "perms/rebac_cache.h"

#include <algorithm>
#include <functional>

namespace nexus {

DecisionCache::DecisionCache(size_t capacity) : shard_capacity_(std::max<size_t>(1, capacity / kShards)) {}

uint64_t DecisionCache::Hash(std::string_view subject, uint8_t access, std::string_view object) {
  uint64_t h = std::hash<std::string_view>{}(object);
  h ^= std::hash<std::string_view>{}(subject) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= (uint64_t{access} + 1) * 0xff51afd7ed558ccdULL;
  // Finalizer: the shard index comes from the top bits.
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::optional<DecisionCache::Decision> DecisionCache::Find(std::string_view subject, Access access,
                                                           std::string_view object, uint64_t revision,
                                                           UnixNanos now) const {
  uint8_t code = AccessCode(access);
  uint64_t h = Hash(subject, code, object);
  const Shard& shard = shards_[h >> 58];
  MutexLock lk(shard.mu);
  auto it = shard.slots.find(h);
  if (it == shard.slots.end()) return std::nullopt;
  const Slot& s = it->second;
  if (s.revision != revision || now < s.computed_at || now >= s.valid_until || s.access != code ||
      s.subject != subject || s.object != object) {
    return std::nullopt;
  }
  return s.decision;
}

void DecisionCache::Insert(std::string_view subject, Access access, std::string_view object,
                           uint64_t revision, UnixNanos computed_at, UnixNanos valid_until, Decision d) {
  uint8_t code = AccessCode(access);
  uint64_t h = Hash(subject, code, object);
  Shard& shard = shards_[h >> 58];
  MutexLock lk(shard.mu);
  auto it = shard.slots.find(h);
  if (it == shard.slots.end()) {
    if (shard.slots.size() >= shard_capacity_) shard.slots.clear();
    it = shard.slots.try_emplace(h).first;
  }
  Slot& s = it->second;
  // A slower thread may arrive with an answer from an older revision.
  if (s.revision > revision && s.subject == subject && s.object == object && s.access == code) {
    return;
  }
  s.subject.assign(subject);
  s.object.assign(object);
  s.access = code;
  s.revision = revision;
  s.computed_at = computed_at;
  s.valid_until = valid_until;
  s.decision = d;
}

}  // namespace nexus
