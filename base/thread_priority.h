// Background threads (version capture, search indexing, the operations log,
// their committers) run at a lower CPU priority than FUSE workers, so a
// burst of file operations is served first and the background catches up
// when there is room. Linux applies a nice value per thread.
#pragma once

namespace nexus {

inline constexpr int kBackgroundNice = 10;

// Lowers the calling thread's priority to `nice` (best effort: an error
// leaves it unchanged).
void LowerThreadPriority(int nice = kBackgroundNice);

}  // namespace nexus
