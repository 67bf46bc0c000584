// The change log of the version store and how it becomes git history.
//
// A Change is one row of the `changes` table (see version_db.h): a new
// version ('W'), a removal ('D') or a rename ('R'). The committer and gc
// both turn ordered runs of changes into commits with the functions here,
// so the committed form is defined in one place:
//   - a zone's tree is kept in an in-memory git index; ApplyChange edits it;
//   - one commit per run of consecutive changes by the same author subject,
//     cut before a second write to a path the run wrote and before any
//     rename or removal, so every version's content is in some commit's
//     tree; author = subject <subject@nexus>, time = the first change's time;
//   - the message is a summary line, one line per change, then trailers
//     (Nexus-Zone, Nexus-Author, and per distinct process Nexus-Uid,
//     Nexus-Pid, Nexus-Command, Nexus-Agent-Id, Nexus-Task-Id).
// Names that git cannot hold (a component ".git") are escaped in trees:
// '%' becomes "%25" and a leading '.' of ".git" "%2E" (GitPath/FromGitPath).
//
// Threading: stateless functions; the git objects passed in follow
// libgit2's rules (one thread at a time per repository).
#pragma once

#include <git2.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fs/versions/git_util.h"
#include "fs/versions/provenance.h"
#include "fs/versions/version_db.h"

namespace nexus::versions {

struct Change {
  int64_t seq = 0;
  char op = 'W';
  std::string zone;
  std::string path;
  std::string old_path;  // 'R' only
  int64_t file_id = 0;
  uint32_t n = 0;    // 'W': version number
  std::string blob;  // 'W': blob id
  uint64_t size = 0;
  uint32_t mode = 0100644;
  int64_t time_ns = 0;
  Provenance who;
  std::string note;
  bool pending = true;  // commit_id IS NULL
  std::string commit;
};

// The columns ReadChange expects, in order, for SELECT statements.
#define NEXUS_CHANGE_COLUMNS                                                             \
  "seq, op, zone, path, old_path, file_id, n, blob, size, mode, time_ns, subject, uid, " \
  "pid, command, agent_id, task_id, note, commit_id"
Change ReadChange(const Statement& q);

// A zone-relative path as stored in git trees, and back.
std::string GitPath(std::string_view path);
std::string FromGitPath(std::string_view git_path);

// Applies `change` to the zone tree held in `index`.
Status ApplyChange(git_index* index, const Change& change);

// The commit message of a run of changes in `zone` (all by one subject).
std::string CommitMessage(const std::string& zone, const std::vector<const Change*>& run);

// Writes the commit of `run` with tree `tree` on top of `parent` (null for
// the first commit). Deterministic: the same run on the same parent gives
// the same commit id.
Result<git_oid> WriteCommit(git_repository* repo, const std::string& zone, const git_oid& tree,
                            const git_oid* parent, const std::vector<const Change*>& run);

// "1,234,567"
std::string WithSeparators(uint64_t n);

// A zone's tree while commits are being made on its branch.
struct ZoneTree {
  std::string zone;
  IndexPtr index;  // the tree of `head` plus the changes applied since
  bool has_head = false;
  git_oid head{};  // the branch tip the index started from / last commit made
  git_oid tree{};  // head's tree
};

// The tree of refs/heads/<zone> (empty when the branch does not exist), or
// an empty tree with `fresh`.
Result<ZoneTree> LoadZoneTree(git_repository* repo, const std::string& zone, bool fresh);

// Applies `changes` (ordered, all in zt.zone) to zt, one commit per run;
// `same_run(a, b)` says whether b joins a's commit. A run that leaves the
// tree unchanged makes no commit. Appends (seq, commit id) for every change
// to `assigned`: the commit whose tree holds its effect (the current head
// for a change that altered nothing), '' while the branch has no commit.
Status CommitRuns(git_repository* repo, ZoneTree& zt, const std::vector<const Change*>& changes,
                  const std::function<bool(const Change&, const Change&)>& same_run,
                  std::vector<std::pair<int64_t, std::string>>* assigned);

}  // namespace nexus::versions
