// The three-way decisions of `fork merge` on plain values (docs/forks.md
// "Diff and merge"): what becomes of one path given its state at the fork
// point (the merge base), in the live base ("ours") and in the fork
// ("theirs"), and the line-level merge of text, as `git merge` does it.
//
// Pure logic over byte buffers (libgit2's git_merge_file and its diff);
// no file system. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus::forks {

// How conflicts resolve: kNone leaves them unwritten; kOurs keeps the live
// base's side, kTheirs takes the fork's (line by line for text, as git's
// -X ours / -X theirs; the whole file otherwise).
enum class Favor { kNone, kOurs, kTheirs };

struct ConflictHunk {
  // 1-based line ranges in the merge base, the live base and the fork; an
  // empty range (lines 0) starts where its lines would be inserted.
  uint32_t base_start = 0, base_lines = 0;
  uint32_t ours_start = 0, ours_lines = 0;
  uint32_t theirs_start = 0, theirs_lines = 0;
  // The hunk with git-style conflict markers:
  // "<<<<<<< ours\n" ours' lines "=======\n" theirs' lines ">>>>>>> theirs\n".
  std::string text;
};

// git's rule: a buffer is binary when its first 8000 bytes hold a NUL.
bool IsBinary(std::string_view data);

struct TextMerge {
  bool clean = true;   // no conflicting hunk
  std::string merged;  // the result; when !clean and kNone, with conflict markers
  // The conflicting regions (each a maximal run of lines both sides
  // changed differently, diff3's unit), whatever the favor.
  std::vector<ConflictHunk> hunks;
};

// Line-level three-way merge of text with git_merge_file (libgit2's xdiff
// merge, the one git uses): changes to different lines combine; changes to
// the same or adjacent lines conflict unless identical.
Result<TextMerge> MergeText(std::string_view base, std::string_view ours, std::string_view theirs,
                            Favor favor);

// One side's state of a non-directory path.
struct PathState {
  bool exists = false;
  mode_t mode = 0;      // st_mode, type and permission bits
  std::string content;  // a regular file's bytes, or a symlink's target
  bool operator==(const PathState& other) const;
};

// What becomes of a path.
struct Outcome {
  enum class Kind {
    kKeep,    // the live base stays as it is
    kSet,     // the live base becomes `state` (content and mode)
    kDelete,  // the path is removed from the live base
  };
  Kind kind = Kind::kKeep;
  PathState state;  // kSet
  // "fork" (only the fork changed it), "merged" (both, combined), "ours" or
  // "theirs" (a conflict resolved by the favor); "" for kKeep.
  std::string how;
  // Non-empty when both sides changed the path in ways that do not
  // combine: "content", "binary", "mode", "modify/delete" (the fork
  // modified, the base deleted), "delete/modify" (the fork deleted, the
  // base modified), "add/add", "type". `kind` is then the resolution
  // (kKeep when unresolved or resolved as ours).
  std::string conflict;
  std::vector<ConflictHunk> hunks;  // "content" and text "add/add"
  bool resolved = false;            // a conflict the favor settled
};

// The three-way decision for one non-directory path: `point` its state at
// the fork point, `ours` in the live base, `theirs` in the fork. A side that
// equals the fork point did not change it; both sides making the same change
// is no conflict.
Result<Outcome> DecidePath(const PathState& point, const PathState& ours, const PathState& theirs,
                           Favor favor);

// The three-way merge of permission bits (07777): `*out` is the result;
// false when both sides changed them differently (then `*out` is ours).
bool MergeMode(mode_t point, mode_t ours, mode_t theirs, mode_t* out);

}  // namespace nexus::forks
