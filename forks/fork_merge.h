// The three-way merge of a fork back into its live base (docs/forks.md
// "Merging"): the fork point is the merge base, the live base is "ours", the
// fork is "theirs" (as `git merge FORK` run on the base).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "fs/path_files.h"
#include "fs/types.h"
#include "forks/fork_registry.h"
#include "forks/three_way.h"

namespace nexus::forks {

struct MergeOptions {
  bool dry_run = false;
  using Strategy = Favor;
  Strategy strategy = Strategy::kNone;  // how conflicts resolve; kNone: they are not written
  std::vector<std::string> paths;       // globs over fork-relative paths; empty: everything
  // Where the merge reads and writes the base: the daemon's PathFiles, so
  // the kernel's caches of the paths it changes are dropped at once (the
  // mount shows the merge immediately). Null: a private one over the
  // registry's namespace (nothing cached is invalidated). Not owned.
  PathFiles* files = nullptr;
  // Tests: stop applying after this many steps, as a crash would (the
  // journal stays for FinishInterruptedMerges); EINTR.
  int TEST_stop_after_steps = -1;
};

struct MergeConflict {
  std::string path;  // base-relative (== fork-relative) path
  // "content", "binary", "modify/delete", "delete/modify", "add/add",
  // "rename/rename", "rename/delete", "type"
  std::string kind;
  std::vector<ConflictHunk> hunks;  // "content" only
  std::string resolved_by;          // "", "ours" or "theirs"
};

struct MergeEntry {
  std::string path;      // base-relative path written
  std::string old_path;  // "rename": where it came from
  // "write", "delete", "rename", "mkdir", "rmdir", "chmod", "symlink"
  std::string action;
  // "fork" (only the fork changed it), "merged" (both, combined line by
  // line), "ours" or "theirs" (a conflict resolved by the strategy)
  std::string how;
};

struct MergeReport {
  bool dry_run = false;
  bool applied = false;  // the change set landed (false for a dry run or when nothing was to do)
  std::vector<MergeEntry> entries;
  std::vector<MergeConflict> conflicts;  // unresolved ones were not written
  std::string
      task_id;  // the task id the merge's operations carry ("fork-merge:NAME:N"), for `nexus undo --task`
};

// Plans the merge of fork `name` into its base as `caller`: EACCES (nothing
// written) unless the caller may write each changed path of the base. Then,
// unless a dry run, applies the non-conflicting changes (and the resolved
// conflicts) as one change set through the namespace as `author` (the
// fork's owner, with the merge's task id in its provenance): versioned and
// logged like any change. A dry run reports exactly what the merge would do.
// The change set is journaled (DATA/forks/merges/) before the first change
// lands: a crash mid-merge is finished by FinishInterruptedMerges.
Result<MergeReport> MergeFork(ForkRegistry& registry, const Caller& caller, const Caller& author,
                              const std::string& name, const MergeOptions& options);

// Completes every journaled merge a crash interrupted (the base ends as
// after the merge), as the daemon. Call once at start, before serving.
Status FinishInterruptedMerges(ForkRegistry& registry);

}  // namespace nexus::forks
