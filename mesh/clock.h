// Clock: the mesh's source of wall-clock time, injectable so that lease,
// heartbeat and quota logic is tested without sleeping.
//
// Times are wall-clock (system_clock) because lease deadlines are persisted
// and must mean the same instant after a director restart.
//
// Thread-safety: Now() may be called from any thread. ManualClock's Set and
// Advance are safe against concurrent Now().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace nexus::mesh {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

// Milliseconds since the Unix epoch: the persisted form of a TimePoint.
inline int64_t ToMillis(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMillis(int64_t ms) { return TimePoint(Duration(ms)); }

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

// A clock that moves only when told to (tests, benchmarks).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = FromMillis(1'700'000'000'000)) : ms_(ToMillis(start)) {}
  TimePoint Now() const override { return FromMillis(ms_.load(std::memory_order_relaxed)); }
  void Set(TimePoint t) { ms_.store(ToMillis(t), std::memory_order_relaxed); }
  void Advance(Duration d) { ms_.fetch_add(d.count(), std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> ms_;
};

}  // namespace nexus::mesh
