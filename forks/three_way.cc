#include "forks/three_way.h"

#include <git2.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "fs/versions/git_util.h"

namespace nexus::forks {

using versions::GitError;
using versions::GitLibrary;
using versions::PatchPtr;

namespace {

// A line-level change: base lines [b0, b1) became the side's lines [s0, s1).
struct LineChange {
  size_t b0, b1, s0, s1;
  bool ours;
};

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(at, end - at));
    at = end;
  }
  return lines;
}

// The changes from `base` to `side`, as diff3 sees them (no context).
Status LineChanges(std::string_view base, std::string_view side, bool ours, std::vector<LineChange>* out) {
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.context_lines = 0;
  opts.interhunk_lines = 0;
  opts.flags = GIT_DIFF_FORCE_TEXT;
  git_patch* raw = nullptr;
  NEXUS_GIT(
      git_patch_from_buffers(&raw, base.data(), base.size(), "base", side.data(), side.size(), "side", &opts),
      "diff for merge");
  PatchPtr patch(raw);
  if (!patch) return Status::Ok();
  for (size_t h = 0; h < git_patch_num_hunks(patch.get()); ++h) {
    const git_diff_hunk* hunk = nullptr;
    NEXUS_GIT(git_patch_get_hunk(&hunk, nullptr, patch.get(), h), "diff hunk");
    // A pure insertion's start names the line it follows.
    size_t b0 = hunk->old_lines == 0 ? hunk->old_start : hunk->old_start - 1;
    size_t s0 = hunk->new_lines == 0 ? hunk->new_start : hunk->new_start - 1;
    out->push_back({b0, b0 + hunk->old_lines, s0, s0 + hunk->new_lines, ours});
  }
  return Status::Ok();
}

std::string Join(const std::vector<std::string_view>& lines, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) s += lines[i];
  if (!s.empty() && s.back() != '\n') s += '\n';  // markers stay on their own lines
  return s;
}

// The conflicting regions of a merge: runs of overlapping or adjacent
// changes (xdiff's rule) touched by both sides, whose results differ.
Result<std::vector<ConflictHunk>> ConflictRegions(std::string_view base, std::string_view ours,
                                                  std::string_view theirs) {
  std::vector<LineChange> changes;
  NEXUS_RETURN_IF_ERROR(LineChanges(base, ours, true, &changes));
  NEXUS_RETURN_IF_ERROR(LineChanges(base, theirs, false, &changes));
  std::stable_sort(changes.begin(), changes.end(),
                   [](const LineChange& a, const LineChange& b) { return a.b0 < b.b0; });
  const auto ours_lines = SplitLines(ours);
  const auto theirs_lines = SplitLines(theirs);
  std::vector<ConflictHunk> hunks;
  long ours_shift = 0, theirs_shift = 0;  // side line - base line, before the region
  for (size_t i = 0; i < changes.size();) {
    size_t b0 = changes[i].b0, b1 = changes[i].b1;
    long ours_delta = 0, theirs_delta = 0;
    bool has_ours = false, has_theirs = false;
    size_t j = i;
    for (; j < changes.size() && (j == i || changes[j].b0 <= b1); ++j) {
      const LineChange& c = changes[j];
      b1 = std::max(b1, c.b1);
      long delta = static_cast<long>(c.s1 - c.s0) - static_cast<long>(c.b1 - c.b0);
      (c.ours ? ours_delta : theirs_delta) += delta;
      (c.ours ? has_ours : has_theirs) = true;
    }
    size_t o0 = b0 + ours_shift, o1 = b1 + ours_shift + ours_delta;
    size_t t0 = b0 + theirs_shift, t1 = b1 + theirs_shift + theirs_delta;
    if (has_ours && has_theirs) {
      std::string ours_text = Join(ours_lines, o0, o1);
      std::string theirs_text = Join(theirs_lines, t0, t1);
      if (ours_text != theirs_text) {
        ConflictHunk h;
        h.base_start = b0 + 1, h.base_lines = b1 - b0;
        h.ours_start = o0 + 1, h.ours_lines = o1 - o0;
        h.theirs_start = t0 + 1, h.theirs_lines = t1 - t0;
        h.text = "<<<<<<< ours\n" + ours_text + "=======\n" + theirs_text + ">>>>>>> theirs\n";
        hunks.push_back(std::move(h));
      }
    }
    ours_shift += ours_delta;
    theirs_shift += theirs_delta;
    i = j;
  }
  return hunks;
}

Outcome WholeSide(std::string conflict, const PathState& theirs, Favor favor) {
  Outcome o;
  o.conflict = std::move(conflict);
  if (favor == Favor::kTheirs) {
    o.kind = theirs.exists ? Outcome::Kind::kSet : Outcome::Kind::kDelete;
    o.state = theirs;
    o.how = "theirs";
    o.resolved = true;
  } else if (favor == Favor::kOurs) {
    o.how = "ours";
    o.resolved = true;
  }
  return o;
}

}  // namespace

bool IsBinary(std::string_view data) {
  return std::memchr(data.data(), 0, std::min<size_t>(data.size(), 8000)) != nullptr;
}

Result<TextMerge> MergeText(std::string_view base, std::string_view ours, std::string_view theirs,
                            Favor favor) {
  GitLibrary git;
  git_merge_file_input in_base = GIT_MERGE_FILE_INPUT_INIT, in_ours = GIT_MERGE_FILE_INPUT_INIT,
                       in_theirs = GIT_MERGE_FILE_INPUT_INIT;
  in_base.ptr = base.data(), in_base.size = base.size();
  in_ours.ptr = ours.data(), in_ours.size = ours.size();
  in_theirs.ptr = theirs.data(), in_theirs.size = theirs.size();
  git_merge_file_options opts = GIT_MERGE_FILE_OPTIONS_INIT;
  opts.ancestor_label = "base";
  opts.our_label = "ours";
  opts.their_label = "theirs";
  TextMerge out;
  {
    git_merge_file_result result{};
    NEXUS_GIT(git_merge_file(&result, &in_base, &in_ours, &in_theirs, &opts), "merge text");
    out.clean = result.automergeable != 0;
    out.merged.assign(result.ptr ? result.ptr : "", result.len);
    git_merge_file_result_free(&result);
  }
  if (out.clean) return out;
  NEXUS_ASSIGN_OR_RETURN(out.hunks, ConflictRegions(base, ours, theirs));
  if (out.hunks.empty()) {
    // xdiff saw a conflict our regions missed: report the whole file.
    ConflictHunk h;
    h.base_start = h.ours_start = h.theirs_start = 1;
    h.base_lines = SplitLines(base).size();
    h.ours_lines = SplitLines(ours).size();
    h.theirs_lines = SplitLines(theirs).size();
    h.text = "<<<<<<< ours\n" + Join(SplitLines(ours), 0, h.ours_lines) + "=======\n" +
             Join(SplitLines(theirs), 0, h.theirs_lines) + ">>>>>>> theirs\n";
    out.hunks.push_back(std::move(h));
  }
  if (favor != Favor::kNone) {
    opts.favor = favor == Favor::kOurs ? GIT_MERGE_FILE_FAVOR_OURS : GIT_MERGE_FILE_FAVOR_THEIRS;
    git_merge_file_result result{};
    NEXUS_GIT(git_merge_file(&result, &in_base, &in_ours, &in_theirs, &opts), "merge text");
    out.merged.assign(result.ptr ? result.ptr : "", result.len);
    git_merge_file_result_free(&result);
  }
  return out;
}

bool PathState::operator==(const PathState& other) const {
  if (exists != other.exists) return false;
  return !exists || (mode == other.mode && content == other.content);
}

bool MergeMode(mode_t point, mode_t ours, mode_t theirs, mode_t* out) {
  point &= 07777, ours &= 07777, theirs &= 07777;
  if (ours == point || ours == theirs) {
    *out = theirs;
    return true;
  }
  *out = ours;
  return theirs == point;
}

Result<Outcome> DecidePath(const PathState& point, const PathState& ours, const PathState& theirs,
                           Favor favor) {
  Outcome o;
  if (theirs == point || ours == theirs) return o;  // the fork changed nothing new
  if (ours == point) {
    o.kind = theirs.exists ? Outcome::Kind::kSet : Outcome::Kind::kDelete;
    o.state = theirs;
    o.how = "fork";
    return o;
  }
  // Both sides changed the path, differently.
  if (!ours.exists) return WholeSide("modify/delete", theirs, favor);
  if (!theirs.exists) return WholeSide("delete/modify", theirs, favor);
  const mode_t type = ours.mode & S_IFMT;
  if ((theirs.mode & S_IFMT) != type || (point.exists && (point.mode & S_IFMT) != type))
    return WholeSide(point.exists ? "type" : "add/add", theirs, favor);
  // Same type on every side: content and mode combine separately.
  const std::string_view point_content = point.exists ? std::string_view(point.content) : std::string_view();
  std::string conflict;
  std::vector<ConflictHunk> hunks;
  std::string content;
  if (ours.content == point_content) {
    content = theirs.content;
  } else if (theirs.content == point_content || ours.content == theirs.content) {
    content = ours.content;
  } else {
    if (!S_ISREG(type)) {
      conflict = point.exists ? "content" : "add/add";
    } else if (IsBinary(point_content) || IsBinary(ours.content) || IsBinary(theirs.content)) {
      conflict = point.exists ? "binary" : "add/add";
    } else {
      NEXUS_ASSIGN_OR_RETURN(TextMerge text, MergeText(point_content, ours.content, theirs.content, favor));
      content = std::move(text.merged);
      if (!text.clean) {
        conflict = point.exists ? "content" : "add/add";
        hunks = std::move(text.hunks);
      }
    }
  }
  mode_t perms = 0;
  bool mode_ok = point.exists ? MergeMode(point.mode, ours.mode, theirs.mode, &perms)
                              : (ours.mode & 07777) == (theirs.mode & 07777);
  if (!point.exists) perms = ours.mode & 07777;
  if (!mode_ok && conflict.empty()) conflict = point.exists ? "mode" : "add/add";
  if (!conflict.empty()) {
    if (favor == Favor::kNone || (hunks.empty() && conflict != "mode")) {
      // Unresolved, or resolved by taking a whole side.
      Outcome whole = WholeSide(conflict, theirs, favor);
      whole.hunks = std::move(hunks);
      return whole;
    }
    // Text resolved line by line (content already favored), or a mode.
    if (!mode_ok) perms = (favor == Favor::kTheirs ? theirs.mode : ours.mode) & 07777;
    o.conflict = conflict;
    o.hunks = std::move(hunks);
    o.resolved = true;
    o.how = favor == Favor::kTheirs ? "theirs" : "ours";
  } else {
    o.how = "merged";
  }
  o.state = PathState{true, type | perms, std::move(content)};
  o.kind = o.state == ours ? Outcome::Kind::kKeep : Outcome::Kind::kSet;
  if (o.kind == Outcome::Kind::kKeep && o.conflict.empty()) o.how.clear();
  return o;
}

}  // namespace nexus::forks
