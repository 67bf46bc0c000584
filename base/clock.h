// Clock: the injectable wall-clock time source of the daemon's parts
// (permission engine, audit log, mesh director, ...).
//
// Instants are nanoseconds since the Unix epoch in an int64_t, so tuple
// expiries, lease deadlines, cached-decision lifetimes and audit timestamps
// compare as plain integers on hot paths. Production code uses SystemClock; tests and the
// conformance runner use ManualClock to move time without sleeping.
//
// Thread-safety: Now() may be called from any thread on both implementations;
// ManualClock::Set/Advance may race with Now() (the value is atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace nexus {

// Nanoseconds since the Unix epoch.
using UnixNanos = int64_t;
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// "Never expires" / "valid forever".
inline constexpr UnixNanos kNever = std::numeric_limits<UnixNanos>::max();

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixNanos Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixNanos Now() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixNanos start = 1'700'000'000'000'000'000) : now_(start) {}
  UnixNanos Now() const override { return now_.load(std::memory_order_relaxed); }
  void Set(UnixNanos t) { now_.store(t, std::memory_order_relaxed); }
  void Advance(std::chrono::nanoseconds d) { now_.fetch_add(d.count(), std::memory_order_relaxed); }

 private:
  std::atomic<UnixNanos> now_;
};

// The process-wide SystemClock used when no clock is injected. Stateless.
inline const Clock& DefaultClock() {
  static const SystemClock kClock;
  return kClock;
}

}  // namespace nexus
