#include "forks/fork_diff.h"

#include <git2.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "base/file_util.h"
#include "forks/three_way.h"
#include "fs/versions/git_util.h"

namespace nexus::forks {

using versions::GitLibrary;
using versions::PatchPtr;

namespace {

std::string Octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06o", static_cast<unsigned>(mode));
  return buf;
}

// The mode git records: 120000 for a symlink, 100755 for an executable
// file, 100644 for any other (git keeps no other permission bits).
mode_t GitMode(mode_t mode) {
  if (S_ISLNK(mode)) return S_IFLNK;
  return S_IFREG | ((mode & S_IXUSR) ? 0755 : 0644);
}

// git's abbreviated blob id of `content` ("0000000" for no file).
std::string AbbrevBlobId(std::string_view content, bool exists) {
  if (!exists) return "0000000";
  git_oid oid;
  if (git_odb_hash(&oid, content.data(), content.size(), GIT_OBJECT_BLOB) != 0) return "0000000";
  return versions::OidHex(oid).substr(0, 7);
}

// The content of one side of a change: an origin through OpenOrigin, a
// fork file through OpenContent, a symlink's target.
Result<std::string> OriginContent(NativeBackend& fork, const ForkChange& c) {
  NEXUS_ASSIGN_OR_RETURN(int fd, fork.OpenOrigin(c.origin));
  return ReadAndClose(fd, "read the fork point of " + c.path);
}

Result<std::string> ForkContent(NativeBackend& fork, const ForkChange& c) {
  if (S_ISLNK(c.mode)) return fork.ReadLink(c.local);
  NEXUS_ASSIGN_OR_RETURN(int fd, fork.OpenContent(c.local));
  return ReadAndClose(fd, "read " + c.path + " in the fork");
}

// One file's patch between two states of the same type.
Result<DiffFile> OnePatch(const ForkChange& c, std::string_view old_content, std::string_view new_content,
                          const DiffOptions& options) {
  const bool added = c.kind == ForkChange::Kind::kAdded;
  const bool deleted = c.kind == ForkChange::Kind::kDeleted;
  const std::string a = c.kind == ForkChange::Kind::kRenamed ? c.old_path : c.path;
  const std::string& b = c.path;
  DiffFile out;
  out.change = c;
  out.binary = IsBinary(old_content) || IsBinary(new_content);
  const bool differs = added || deleted || old_content != new_content;

  std::string body;
  uint64_t deleted_bytes = 0;
  if (differs && !out.binary) {
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    opts.context_lines = static_cast<uint32_t>(std::max(options.context, 0));
    opts.flags = GIT_DIFF_FORCE_TEXT;
    git_patch* raw = nullptr;
    int rc = git_patch_from_buffers(&raw, old_content.data(), old_content.size(), a.c_str(),
                                    new_content.data(), new_content.size(), b.c_str(), &opts);
    if (rc < 0) return versions::GitError(rc, "diff " + c.path);
    PatchPtr patch(raw);
    if (patch) {
      size_t context = 0, adds = 0, dels = 0;
      git_patch_line_stats(&context, &adds, &dels, patch.get());
      out.insertions = static_cast<uint32_t>(adds);
      out.deletions = static_cast<uint32_t>(dels);
      for (size_t h = 0; h < git_patch_num_hunks(patch.get()); ++h) {
        for (int l = 0; l < git_patch_num_lines_in_hunk(patch.get(), h); ++l) {
          const git_diff_line* line = nullptr;
          if (git_patch_get_line_in_hunk(&line, patch.get(), h, l) == 0 &&
              line->origin == GIT_DIFF_LINE_DELETION)
            deleted_bytes += line->content_len;
        }
      }
      if (options.patch && git_patch_num_hunks(patch.get()) > 0) {
        git_buf buf = GIT_BUF_INIT;
        rc = git_patch_to_buf(&buf, patch.get());
        if (rc < 0) return versions::GitError(rc, "format the diff of " + c.path);
        std::string_view text(buf.ptr, buf.size);
        // libgit2's own header lacks modes and renames: ours replaces it.
        size_t at = text.find("\n@@ ");
        if (at != std::string_view::npos) body.assign(text.substr(at + 1));
        git_buf_dispose(&buf);
      }
    }
  }
  if (!options.patch) return out;

  const mode_t old_mode = GitMode(c.old_mode), new_mode = GitMode(c.mode);
  // A permission change git does not record shows no patch, as in git.
  if (c.kind == ForkChange::Kind::kModified && !differs && old_mode == new_mode) return out;
  std::string& p = out.patch;
  p = "diff --git a/" + a + " b/" + b + "\n";
  if (added) {
    p += "new file mode " + Octal(new_mode) + "\n";
  } else if (deleted) {
    p += "deleted file mode " + Octal(old_mode) + "\n";
  } else {
    if (old_mode != new_mode) p += "old mode " + Octal(old_mode) + "\nnew mode " + Octal(new_mode) + "\n";
    if (c.kind == ForkChange::Kind::kRenamed) {
      // git's measure: the share of the larger side that is unchanged.
      uint64_t larger = std::max(old_content.size(), new_content.size());
      uint64_t kept = old_content.size() - std::min<uint64_t>(deleted_bytes, old_content.size());
      int similarity = !differs || larger == 0 ? 100 : static_cast<int>(kept * 100 / larger);
      if (out.binary && differs) similarity = 0;
      p += "similarity index " + std::to_string(similarity) + "%\nrename from " + a + "\nrename to " + b +
           "\n";
    }
  }
  if (differs) {
    p += "index " + AbbrevBlobId(old_content, !added) + ".." + AbbrevBlobId(new_content, !deleted);
    if (!added && !deleted && old_mode == new_mode) p += " " + Octal(new_mode);
    p += "\n";
    const std::string from = added ? "/dev/null" : "a/" + a;
    const std::string to = deleted ? "/dev/null" : "b/" + b;
    if (out.binary) {
      p += "Binary files " + from + " and " + to + " differ\n";
    } else if (!body.empty()) {
      p += "--- " + from + "\n+++ " + to + "\n" + body;
    }
  }
  return out;
}

}  // namespace

Result<DiffFile> DiffContents(const ForkChange& change, std::string_view old_content,
                              std::string_view new_content, const DiffOptions& options) {
  GitLibrary git;
  const bool both = change.kind == ForkChange::Kind::kModified || change.kind == ForkChange::Kind::kRenamed;
  if (!both || (change.old_mode & S_IFMT) == (change.mode & S_IFMT))
    return OnePatch(change, old_content, new_content, options);
  // A type change (file <-> symlink) reads, as in git, as a deletion and an
  // addition of the same path.
  ForkChange gone = change, made = change;
  gone.kind = ForkChange::Kind::kDeleted;
  gone.path = change.kind == ForkChange::Kind::kRenamed ? change.old_path : change.path;
  made.kind = ForkChange::Kind::kAdded;
  NEXUS_ASSIGN_OR_RETURN(DiffFile old_half, OnePatch(gone, old_content, {}, options));
  NEXUS_ASSIGN_OR_RETURN(DiffFile new_half, OnePatch(made, {}, new_content, options));
  DiffFile out;
  out.change = change;
  out.binary = old_half.binary || new_half.binary;
  out.insertions = new_half.insertions;
  out.deletions = old_half.deletions;
  out.patch = old_half.patch + new_half.patch;
  return out;
}

Result<std::vector<DiffFile>> DiffFork(NativeBackend& fork, const DiffOptions& options) {
  GitLibrary git;  // held across the files (initialising libgit2 is not free)
  NEXUS_ASSIGN_OR_RETURN(std::vector<ForkChange> changes, fork.Changes());
  std::vector<DiffFile> files;
  for (const ForkChange& c : changes) {
    const mode_t type = (c.kind == ForkChange::Kind::kDeleted ? c.old_mode : c.mode) & S_IFMT;
    if (type != S_IFREG && type != S_IFLNK) continue;
    std::string old_content, new_content;
    if (c.kind != ForkChange::Kind::kAdded) {
      NEXUS_ASSIGN_OR_RETURN(old_content, OriginContent(fork, c));
    }
    if (c.kind != ForkChange::Kind::kDeleted) {
      if (c.content_changed || c.kind == ForkChange::Kind::kAdded || (c.old_mode & S_IFMT) != type) {
        NEXUS_ASSIGN_OR_RETURN(new_content, ForkContent(fork, c));
      } else {
        new_content = old_content;
      }
    }
    NEXUS_ASSIGN_OR_RETURN(DiffFile file, DiffContents(c, old_content, new_content, options));
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const DiffFile& x, const DiffFile& y) { return x.change.path < y.change.path; });
  return files;
}

std::string FormatStat(const std::vector<DiffFile>& files) {
  // As `git diff --stat`: "name | count graph", the graph scaled to fit 80
  // columns, then the summary line.
  if (files.empty()) return {};
  std::vector<std::string> names;
  size_t name_width = 0, max_changes = 0;
  uint64_t insertions = 0, deletions = 0;
  for (const DiffFile& f : files) {
    names.push_back(f.change.kind == ForkChange::Kind::kRenamed ? f.change.old_path + " => " + f.change.path
                                                                : f.change.path);
    name_width = std::max(name_width, names.back().size());
    if (!f.binary) max_changes = std::max<size_t>(max_changes, f.insertions + f.deletions);
    insertions += f.insertions;
    deletions += f.deletions;
  }
  const size_t count_width = std::to_string(max_changes).size();
  const size_t room = 80 > name_width + count_width + 6 ? 80 - name_width - count_width - 6 : 10;
  const size_t graph_width = std::max<size_t>(std::min<size_t>(room, 40), 10);
  std::string out;
  for (size_t i = 0; i < files.size(); ++i) {
    const DiffFile& f = files[i];
    out += " " + names[i] + std::string(name_width - names[i].size(), ' ') + " | ";
    if (f.binary) {
      out += "Bin\n";
      continue;
    }
    size_t total = f.insertions + f.deletions;
    std::string count = std::to_string(total);
    out += std::string(count_width - count.size(), ' ') + count;
    size_t plus = f.insertions, minus = f.deletions;
    if (max_changes > graph_width) {
      // Scaled, each non-zero side keeping at least one mark.
      plus = plus ? std::max<size_t>(1, plus * graph_width / max_changes) : 0;
      minus = minus ? std::max<size_t>(1, minus * graph_width / max_changes) : 0;
    }
    if (plus + minus) out += " " + std::string(plus, '+') + std::string(minus, '-');
    out += "\n";
  }
  out += " " + std::to_string(files.size()) + (files.size() == 1 ? " file changed" : " files changed");
  if (insertions || !deletions)
    out += ", " + std::to_string(insertions) + (insertions == 1 ? " insertion(+)" : " insertions(+)");
  if (deletions || !insertions)
    out += ", " + std::to_string(deletions) + (deletions == 1 ? " deletion(-)" : " deletions(-)");
  out += "\n";
  return out;
}

}  // namespace nexus::forks
