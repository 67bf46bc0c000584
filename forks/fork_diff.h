// A fork's changes against its fork point, as a git-style unified diff.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fs/fork_point.h"
#include "fs/native_backend.h"

namespace nexus::forks {

struct DiffFile {
  ForkChange change;
  bool binary = false;  // either side is binary (git's rule: a NUL in the first 8000 bytes)
  uint32_t insertions = 0;
  uint32_t deletions = 0;
  std::string patch;  // "diff --git a/P b/P" ... with rename/mode headers; empty when not asked for
};

struct DiffOptions {
  bool patch = true;  // false: counts only (--stat, --name-only)
  int context = 3;
};

// One change rendered from its contents at the fork point and now (a
// symlink's content is its target): the pure core of DiffFork.
Result<DiffFile> DiffContents(const ForkChange& change, std::string_view old_content,
                              std::string_view new_content, const DiffOptions& options);

// Regular files and symlinks only (directories are implied by their files,
// as in git); sorted by path.
Result<std::vector<DiffFile>> DiffFork(NativeBackend& fork, const DiffOptions& options);
// `git diff --stat`-like lines plus the summary line.
std::string FormatStat(const std::vector<DiffFile>& files);

}  // namespace nexus::forks
