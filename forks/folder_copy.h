// CopyFolder: a folder of one backend copied into another through the
// Backend API, for the forks of the workspace ("copy" pin, docs/forks.md):
// directories, regular files (their bytes by copy_file_range), symlinks and
// special files, with their modes, owners, times and xattrs; hard links stay
// hard links within the folder.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "fs/backend.h"

namespace nexus::forks {

struct CopyStats {
  uint64_t files = 0;  // every node copied but the folder itself
  uint64_t bytes = 0;  // bytes of regular files
};

// Copies what is in directory `from_dir` of `from` into directory `to_dir`
// of `to` (expected empty), and `from_dir`'s own attributes onto `to_dir`.
// Acts as the daemon. The first error stops the copy (what was copied
// stays).
Result<CopyStats> CopyFolder(Backend& from, Ino from_dir, Backend& to, Ino to_dir);

}  // namespace nexus::forks
