// The mesh's view of time: millisecond TimePoints over the shared wall
// clock (base/clock.h), injectable so that lease, heartbeat and quota logic is
// tested without sleeping.
//
// Times are wall-clock because lease deadlines are persisted and must mean
// the same instant after a director restart.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/clock.h"

namespace nexus::mesh {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

// Milliseconds since the Unix epoch: the persisted form of a TimePoint.
inline int64_t ToMillis(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMillis(int64_t ms) { return TimePoint(Duration(ms)); }

inline TimePoint MeshNow(const Clock& clock) { return FromMillis(clock.Now() / 1'000'000); }
inline UnixNanos ToUnixNanos(TimePoint t) { return ToMillis(t) * 1'000'000; }

}  // namespace nexus::mesh
