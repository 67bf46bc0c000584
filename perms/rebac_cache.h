// DecisionCache: recent Check answers, keyed by (subject, access, object)
// and stamped with the tuple revision they were computed at.
//
// An entry answers only while the engine's revision is unchanged and the
// clock is in [computed_at, valid_until): valid_until is the earliest expiry
// on the granting path (kNever for denials, which only a tuple write or a
// clock stepping back can change; the lower bound covers the latter). So a write
// invalidates every entry at once by bumping the revision, with no sweep.
// Entries live in 64 shards, each under its own mutex; a shard that reaches
// its share of the capacity is emptied (old revisions mostly fill it).
// A slot is found by a 64-bit hash of the key and verified against the
// stored strings, so a hash collision is a miss, never a wrong answer.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "base/mutex.h"
#include "perms/rebac_index.h"
#include "perms/rebac_types.h"

namespace nexus {

class DecisionCache {
 public:
  struct Decision {
    bool allowed;
    DenyReason reason;
  };

  explicit DecisionCache(size_t capacity);

  std::optional<Decision> Find(std::string_view subject, Access access, std::string_view object,
                               uint64_t revision, UnixNanos now) const;
  void Insert(std::string_view subject, Access access, std::string_view object, uint64_t revision,
              UnixNanos computed_at, UnixNanos valid_until, Decision d);

 private:
  static constexpr size_t kShards = 64;
  struct Slot {
    std::string subject;
    std::string object;
    uint8_t access = 0;
    uint64_t revision = 0;
    UnixNanos computed_at = 0;
    UnixNanos valid_until = 0;
    Decision decision{false, DenyReason::kNone};
  };
  struct Shard {
    mutable Mutex mu;
    std::unordered_map<uint64_t, Slot> slots GUARDED_BY(mu);
  };
  static uint64_t Hash(std::string_view subject, uint8_t access, std::string_view object);
  static uint8_t AccessCode(Access a) {
    return a.is_permission ? static_cast<uint8_t>(a.permission)
                           : static_cast<uint8_t>(8 + static_cast<int>(a.relation));
  }

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace nexus
