#include "forks/fork_merge.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include <spdlog/spdlog.h>

#include "base/file_util.h"
#include "base/layout.h"
#include "base/ns_path.h"
#include "base/principal.h"
#include "fs/path_files.h"
#include "fs/posix_access.h"
#include "fs/process_info.h"
#include "fs/versions/git_util.h"

namespace nexus::forks {

namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::json;

// One change of the base, in the order the merge applies them. Paths are
// absolute namespace paths.
struct Step {
  std::string action;  // "write", "symlink", "delete", "rename", "mkdir", "rmdir", "chmod"
  std::string path;
  std::string from;      // rename: the source
  mode_t mode = 0;       // write, symlink, mkdir, chmod: the mode it ends with
  std::string content;   // write: the bytes; symlink: the target
  int phase = 0;         // the order of application (kPhase*)
  bool reported = true;  // an entry of the report (not a rename's temporary half)
  MergeEntry entry;
};

// Steps apply phase by phase (stable within one), so a directory is renamed
// before the files inside it change, exists before a file is written into
// it, and is removed only once emptied.
enum Phase {
  kPhaseDirRename,
  kPhaseDelete,
  kPhaseMkdir,
  kPhaseRenameAside,
  kPhaseRename,
  kPhaseWrite,
  kPhaseChmod,
  kPhaseRmdir,
};

Step MakeStep(std::string action, Phase phase, std::string path, MergeEntry entry, mode_t mode = 0,
              std::string from = {}) {
  Step s;
  s.action = std::move(action);
  s.phase = phase;
  s.path = std::move(path);
  s.entry = std::move(entry);
  s.mode = mode;
  s.from = std::move(from);
  return s;
}

size_t Depth(const std::string& path) { return std::count(path.begin(), path.end(), '/'); }

std::string Parent(const std::string& path) { return std::string(PathParent(path)); }

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The daemon's identity for reading the base and for finishing a journal.
Principal DaemonPrincipal(std::string subject) {
  Principal p;
  p.subject = subject;
  p.account = std::move(subject);
  p.name = "nexusd";
  p.how = AuthMethod::kDaemon;
  p.admin = true;
  return p;
}

bool Matches(const std::vector<std::string>& globs, const std::string& path) {
  if (globs.empty()) return true;
  for (const std::string& g : globs) {
    // A glob matches the path itself or, naming a directory, what is below it.
    if (::fnmatch(g.c_str(), path.c_str(), 0) == 0) return true;
    std::string below = g + "/*";
    if (::fnmatch(below.c_str(), path.c_str(), 0) == 0) return true;
  }
  return false;
}

// Plans a merge: reads the fork's changes, the fork point and the live base,
// and turns each change into steps or a conflict.
class Planner {
 public:
  Planner(NativeBackend& fork, PathFiles& files, Namespace& ns, const Caller& reader, std::string base,
          const MergeOptions& options)
      : fork_(fork), files_(files), ns_(ns), reader_(reader), base_(std::move(base)), options_(options) {}

  Status Run(MergeReport* report, std::vector<Step>* steps);

 private:
  std::string Abs(const std::string& rel) const { return rel.empty() ? base_ : base_ + "/" + rel; }
  // The state of `rel` in the live base now (absent if it is not there).
  Result<PathState> BaseState(const std::string& rel);
  // Where the base has moved `origin` to since the fork point, if it still
  // has it under the base at another path; "" otherwise.
  std::string BaseRenamed(Ino origin);
  // Where `rel` (a path of the base before the merge) is once the merge's
  // directory renames are applied.
  std::string AfterDirRenames(const std::string& rel) const;
  Result<PathState> PointState(const ForkChange& c);
  Result<PathState> ForkState(const ForkChange& c, const PathState& point);
  Status PlanDir(const ForkChange& c);
  Status PlanFile(const ForkChange& c);
  // The steps that make `rel` (holding `now`) what `outcome` says, or the
  // conflict it reports.
  // `rel` is the path reported, `path` the absolute path changed.
  void Emit(const std::string& rel, const std::string& path, const PathState& now, const Outcome& outcome);
  // The same for a path of the base before the merge (moved along by the
  // merge's directory renames).
  void Emit(const std::string& rel, const PathState& now, const Outcome& outcome) {
    Emit(rel, Abs(AfterDirRenames(rel)), now, outcome);
  }
  void Conflict(const std::string& rel, const std::string& kind, std::vector<ConflictHunk> hunks,
                bool resolved);
  // A directory of the base where the fork has a file: a "type" conflict
  // no side resolves (a file cannot replace a directory that may hold
  // more than the fork knows of).
  bool DirInTheWay(const std::string& rel, const PathState& now) {
    if (!now.exists || !S_ISDIR(now.mode)) return false;
    Conflict(rel, "type", {}, false);
    return true;
  }
  // Whether a directory above absolute path `path` is, in the base, a
  // file the merge does not delete: then nothing can be made there (a
  // "type" conflict no side resolves).
  bool ParentBlocked(const std::string& path);
  void Add(Step step) {
    if (step.action == "delete") deleted_.insert(step.path);
    steps_.push_back(std::move(step));
  }

  NativeBackend& fork_;
  PathFiles& files_;
  Namespace& ns_;
  const Caller& reader_;
  const std::string base_;
  const MergeOptions& options_;
  std::vector<Step> steps_;
  std::vector<MergeConflict> conflicts_;
  std::map<std::string, std::string> dir_renames_;  // base-relative old -> new
  std::set<std::string> fork_deleted_;              // paths the fork deleted
  std::set<std::string> deleted_;                   // absolute paths the merge deletes
  std::map<std::string, bool> non_dirs_;            // absolute path -> a non-directory in the base
};

bool Planner::ParentBlocked(const std::string& path) {
  for (std::string dir = Parent(path); dir.size() > base_.size(); dir = Parent(dir)) {
    auto it = non_dirs_.find(dir);
    if (it == non_dirs_.end()) {
      auto st = files_.Stat(reader_, dir, false, false);
      it = non_dirs_.emplace(dir, st.ok() && !st->attr.IsDir()).first;
    }
    if (it->second && !deleted_.count(dir)) return true;
  }
  return false;
}

Result<PathState> Planner::BaseState(const std::string& rel) {
  auto st = files_.Stat(reader_, Abs(rel), false, false);
  if (!st.ok()) {
    if (st.code() == ENOENT || st.code() == ENOTDIR) return PathState{};
    return st.status();
  }
  PathState s{true, st->attr.mode, {}};
  if (st->attr.IsLnk()) {
    s.content = st->symlink_target;
  } else if (st->attr.IsReg()) {
    uint64_t size = 0;
    NEXUS_ASSIGN_OR_RETURN(s.content,
                           files_.Read(reader_, Abs(rel), 0, 0, std::numeric_limits<uint64_t>::max(), &size));
  }
  return s;
}

std::string Planner::BaseRenamed(Ino origin) {
  if (origin == 0) return {};
  std::string now = ns_.PathOf(origin);
  if (now.size() <= base_.size() + 1 || !PathIsUnder(now, base_)) return {};
  return now.substr(base_.size() + 1);
}

std::string Planner::AfterDirRenames(const std::string& rel) const {
  // The deepest renamed directory holding `rel` decides (renames of
  // directories inside renamed ones are planned from their moved paths).
  std::string best_from, best_to;
  for (const auto& [from, to] : dir_renames_) {
    if ((rel == from || PathIsUnder("/" + rel, "/" + from)) && from.size() > best_from.size()) {
      best_from = from;
      best_to = to;
    }
  }
  if (best_from.empty()) return rel;
  return best_to + rel.substr(best_from.size());
}

Result<PathState> Planner::PointState(const ForkChange& c) {
  if (c.kind == ForkChange::Kind::kAdded) return PathState{};
  PathState s{true, c.old_mode, {}};
  if (S_ISREG(c.old_mode) || S_ISLNK(c.old_mode)) {
    NEXUS_ASSIGN_OR_RETURN(int fd, fork_.OpenOrigin(c.origin));
    NEXUS_ASSIGN_OR_RETURN(s.content, ReadAndClose(fd, "read the fork point of " + c.path));
  }
  return s;
}

Result<PathState> Planner::ForkState(const ForkChange& c, const PathState& point) {
  if (c.kind == ForkChange::Kind::kDeleted) return PathState{};
  PathState s{true, c.mode, {}};
  const bool same_type = point.exists && (point.mode & S_IFMT) == (c.mode & S_IFMT);
  if (same_type && !c.content_changed) {
    s.content = point.content;
  } else if (S_ISLNK(c.mode)) {
    NEXUS_ASSIGN_OR_RETURN(s.content, fork_.ReadLink(c.local));
  } else if (S_ISREG(c.mode)) {
    NEXUS_ASSIGN_OR_RETURN(int fd, fork_.OpenContent(c.local));
    NEXUS_ASSIGN_OR_RETURN(s.content, ReadAndClose(fd, "read " + c.path + " in the fork"));
  }
  return s;
}

void Planner::Conflict(const std::string& rel, const std::string& kind, std::vector<ConflictHunk> hunks,
                       bool resolved) {
  MergeConflict c;
  c.path = rel;
  c.kind = kind;
  c.hunks = std::move(hunks);
  if (resolved) c.resolved_by = options_.strategy == Favor::kTheirs ? "theirs" : "ours";
  conflicts_.push_back(std::move(c));
}

void Planner::Emit(const std::string& rel, const std::string& path, const PathState& now,
                   const Outcome& outcome) {
  if (!outcome.conflict.empty()) Conflict(rel, outcome.conflict, outcome.hunks, outcome.resolved);
  if (!outcome.conflict.empty() && !outcome.resolved) return;
  Step s;
  s.path = path;
  s.entry = {rel, "", "", outcome.how};
  switch (outcome.kind) {
    case Outcome::Kind::kKeep:
      return;
    case Outcome::Kind::kDelete:
      if (!now.exists) return;
      s.action = s.entry.action = "delete";
      s.phase = kPhaseDelete;
      break;
    case Outcome::Kind::kSet: {
      if (ParentBlocked(path)) {
        if (outcome.conflict.empty()) Conflict(rel, "type", {}, false);
        return;
      }
      const PathState& want = outcome.state;
      const bool same_object = now.exists && (now.mode & S_IFMT) == (want.mode & S_IFMT);
      if (same_object && now.content == want.content) {
        if ((now.mode & 07777) == (want.mode & 07777) || S_ISLNK(want.mode)) return;
        s.action = s.entry.action = "chmod";
        s.phase = kPhaseChmod;
      } else {
        s.action = s.entry.action = S_ISLNK(want.mode) ? "symlink" : "write";
        s.phase = kPhaseWrite;
        s.content = want.content;
      }
      s.mode = want.mode;
      break;
    }
  }
  Add(std::move(s));
}

Status Planner::PlanDir(const ForkChange& c) {
  const std::string& rel = c.path;
  switch (c.kind) {
    case ForkChange::Kind::kAdded: {
      NEXUS_ASSIGN_OR_RETURN(PathState now, BaseState(rel));
      if (now.exists && S_ISDIR(now.mode)) return Status::Ok();  // added on both sides
      if (ParentBlocked(Abs(rel))) {
        Conflict(rel, "type", {}, false);
        return Status::Ok();
      }
      if (now.exists && !deleted_.count(Abs(rel))) {
        Conflict(rel, "type", {}, options_.strategy != Favor::kNone);
        if (options_.strategy != Favor::kTheirs) return Status::Ok();
        Add(MakeStep("delete", kPhaseDelete, Abs(rel), {rel, "", "delete", "theirs"}));
      }
      Add(MakeStep("mkdir", kPhaseMkdir, Abs(rel), {rel, "", "mkdir", now.exists ? "theirs" : "fork"},
                   c.mode));
      return Status::Ok();
    }
    case ForkChange::Kind::kDeleted: {
      NEXUS_ASSIGN_OR_RETURN(PathState now, BaseState(rel));
      if (!now.exists || !S_ISDIR(now.mode)) return Status::Ok();
      Add(MakeStep("rmdir", kPhaseRmdir, Abs(AfterDirRenames(rel)), {rel, "", "rmdir", "fork"}));
      return Status::Ok();
    }
    case ForkChange::Kind::kModified:
    case ForkChange::Kind::kRenamed: {
      const std::string from = c.kind == ForkChange::Kind::kRenamed ? c.old_path : rel;
      NEXUS_ASSIGN_OR_RETURN(PathState now, BaseState(from));
      if (!now.exists || !S_ISDIR(now.mode)) {
        // The base removed (or replaced) the directory the fork renamed or
        // changed; its files decide their own fate, the directory is made
        // where the fork has it.
        if (c.kind == ForkChange::Kind::kRenamed) {
          NEXUS_ASSIGN_OR_RETURN(PathState there, BaseState(rel));
          if (!there.exists)
            Add(MakeStep("mkdir", kPhaseMkdir, Abs(rel), {rel, "", "mkdir", "fork"}, c.mode));
        }
        return Status::Ok();
      }
      if (c.kind == ForkChange::Kind::kRenamed && AfterDirRenames(from) != rel) {
        NEXUS_ASSIGN_OR_RETURN(PathState there, BaseState(rel));
        if (there.exists) {
          Conflict(rel, "rename/rename", {}, false);
          return Status::Ok();
        }
        // Planned from where the directory is once its renamed parents
        // moved (changes are sorted by path, parents first).
        Add(MakeStep("rename", kPhaseDirRename, Abs(rel), {rel, from, "rename", "fork"}, 0,
                     Abs(AfterDirRenames(from))));
        dir_renames_[from] = rel;
      }
      mode_t perms = 0;
      if (!MergeMode(c.old_mode, now.mode, c.mode, &perms)) {
        Conflict(rel, "mode", {}, options_.strategy != Favor::kNone);
        if (options_.strategy == Favor::kNone) return Status::Ok();
        perms = (options_.strategy == Favor::kTheirs ? c.mode : now.mode) & 07777;
      }
      if (perms != (now.mode & 07777))
        Add(MakeStep("chmod", kPhaseChmod, Abs(rel), {rel, "", "chmod", "fork"}, S_IFDIR | perms));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status Planner::PlanFile(const ForkChange& c) {
  NEXUS_ASSIGN_OR_RETURN(PathState point, PointState(c));
  NEXUS_ASSIGN_OR_RETURN(PathState theirs, ForkState(c, point));
  const Favor favor = options_.strategy;
  if (c.kind == ForkChange::Kind::kAdded) {
    NEXUS_ASSIGN_OR_RETURN(PathState now, BaseState(c.path));
    if (DirInTheWay(c.path, now)) return Status::Ok();
    if (now.exists && deleted_.count(Abs(c.path))) {
      // The fork replaced what was there (its deletion is planned too).
      NEXUS_ASSIGN_OR_RETURN(Outcome o, DecidePath({}, {}, theirs, favor));
      Emit(c.path, Abs(c.path), {}, o);
      return Status::Ok();
    }
    NEXUS_ASSIGN_OR_RETURN(Outcome o, DecidePath(point, now, theirs, favor));
    Emit(c.path, Abs(c.path), now, o);
    return Status::Ok();
  }
  // Where the base has the fork point's file now: at its old path, or
  // moved by the base since.
  const std::string source = c.kind == ForkChange::Kind::kRenamed ? c.old_path : c.path;
  std::string at = source;
  NEXUS_ASSIGN_OR_RETURN(PathState now, BaseState(source));
  if (!now.exists) {
    std::string moved = BaseRenamed(c.origin);
    if (!moved.empty()) {
      NEXUS_ASSIGN_OR_RETURN(now, BaseState(moved));
      if (now.exists) at = moved;
    }
  }
  if (DirInTheWay(at, now)) return Status::Ok();
  if (c.kind != ForkChange::Kind::kRenamed) {
    NEXUS_ASSIGN_OR_RETURN(Outcome o, DecidePath(point, now, theirs, favor));
    Emit(at, now, o);
    return Status::Ok();
  }
  // The fork renamed source -> c.path.
  const std::string& dest = c.path;
  if (!now.exists) {
    // The base deleted what the fork renamed.
    Conflict(dest, "rename/delete", {}, favor != Favor::kNone);
    if (favor == Favor::kTheirs) {
      NEXUS_ASSIGN_OR_RETURN(PathState there, BaseState(dest));
      Outcome o;
      o.kind = Outcome::Kind::kSet;
      o.state = theirs;
      o.how = "theirs";
      Emit(dest, Abs(dest), there, o);
    }
    return Status::Ok();
  }
  const std::string from = AfterDirRenames(at);
  if (from == dest) {
    // Both renamed it the same way (or a renamed directory carried it).
    NEXUS_ASSIGN_OR_RETURN(Outcome o, DecidePath(point, now, theirs, favor));
    Emit(dest, Abs(dest), now, o);
    return Status::Ok();
  }
  if (at != source) {
    // The base renamed it elsewhere.
    Conflict(dest, "rename/rename", {}, favor != Favor::kNone);
    if (favor != Favor::kTheirs) return Status::Ok();
  } else {
    NEXUS_ASSIGN_OR_RETURN(PathState there, BaseState(dest));
    if (DirInTheWay(dest, there)) return Status::Ok();
    if (there.exists && !fork_deleted_.count(dest) && AfterDirRenames(dest) == dest) {
      Conflict(dest, "add/add", {}, favor != Favor::kNone);
      if (favor != Favor::kTheirs) return Status::Ok();
    }
  }
  NEXUS_ASSIGN_OR_RETURN(Outcome o, DecidePath(point, now, theirs, favor));
  if (!o.conflict.empty() && !o.resolved) {
    Conflict(dest, o.conflict, o.hunks, false);
    return Status::Ok();
  }
  if (ParentBlocked(Abs(dest))) {
    Conflict(dest, "type", {}, false);
    return Status::Ok();
  }
  Add(MakeStep("rename", kPhaseRename, Abs(dest), {dest, at, "rename", o.how.empty() ? "fork" : o.how}, 0,
               Abs(from)));
  // The content and mode, merged, follow to the new path.
  Emit(dest, Abs(dest), now, o);
  return Status::Ok();
}

Status Planner::Run(MergeReport* report, std::vector<Step>* steps) {
  NEXUS_ASSIGN_OR_RETURN(std::vector<ForkChange> listed, fork_.Changes());
  // A path that turned from a directory into a file (or back) is merged as
  // the deletion of the one and the addition of the other.
  std::vector<ForkChange> changes;
  for (ForkChange& c : listed) {
    const bool was_dir = S_ISDIR(c.old_mode), is_dir = S_ISDIR(c.mode);
    if (c.kind == ForkChange::Kind::kAdded || c.kind == ForkChange::Kind::kDeleted || was_dir == is_dir) {
      changes.push_back(std::move(c));
      continue;
    }
    ForkChange gone = c;
    gone.kind = ForkChange::Kind::kDeleted;
    gone.path = c.kind == ForkChange::Kind::kRenamed ? c.old_path : c.path;
    gone.old_path.clear();
    gone.mode = 0;
    gone.local = 0;
    ForkChange made = c;
    made.kind = ForkChange::Kind::kAdded;
    made.old_path.clear();
    made.old_mode = 0;
    made.origin = 0;
    made.content_changed = true;
    changes.push_back(std::move(gone));
    changes.push_back(std::move(made));
  }
  std::vector<const ForkChange*> selected;
  for (const ForkChange& c : changes) {
    if (!Matches(options_.paths, c.path) && !(c.old_path.size() && Matches(options_.paths, c.old_path)))
      continue;
    selected.push_back(&c);
    if (c.kind == ForkChange::Kind::kDeleted) fork_deleted_.insert(c.path);
  }
  // In an order where each decision knows what it depends on: directory
  // renames (parents first, as Changes sorts them) before the files they
  // carry; deleted files before the directories the fork made in their
  // place; new directories before the files written into them.
  auto type_of = [](const ForkChange& c) {
    return (c.kind == ForkChange::Kind::kDeleted ? c.old_mode : c.mode) & S_IFMT;
  };
  auto is_file = [&](const ForkChange& c) { return type_of(c) == S_IFREG || type_of(c) == S_IFLNK; };
  for (const ForkChange* c : selected)
    if (type_of(*c) == S_IFDIR &&
        (c->kind == ForkChange::Kind::kModified || c->kind == ForkChange::Kind::kRenamed))
      NEXUS_RETURN_IF_ERROR(PlanDir(*c));
  for (const ForkChange* c : selected)
    if (is_file(*c) && c->kind == ForkChange::Kind::kDeleted) NEXUS_RETURN_IF_ERROR(PlanFile(*c));
  for (const ForkChange* c : selected)
    if (type_of(*c) == S_IFDIR && c->kind == ForkChange::Kind::kAdded) NEXUS_RETURN_IF_ERROR(PlanDir(*c));
  for (const ForkChange* c : selected)
    if (is_file(*c) && c->kind != ForkChange::Kind::kDeleted) NEXUS_RETURN_IF_ERROR(PlanFile(*c));
  for (const ForkChange* c : selected)
    if (type_of(*c) == S_IFDIR && c->kind == ForkChange::Kind::kDeleted) NEXUS_RETURN_IF_ERROR(PlanDir(*c));
  // A file renamed onto a path another rename vacates goes aside first, so
  // swaps and cycles lose nothing.
  std::set<std::string> sources;
  for (const Step& s : steps_)
    if (s.phase == kPhaseRename) sources.insert(s.from);
  std::vector<Step> aside;
  for (Step& s : steps_) {
    if (s.phase != kPhaseRename || !sources.count(s.path)) continue;
    std::string tmp = Parent(s.from) + "/" + std::string(layout::kMergeAsidePrefix) +
                      std::to_string(aside.size()) + "-" + BaseName(s.from);
    Step first = s;
    first.path = tmp;
    first.phase = kPhaseRenameAside;
    first.reported = false;
    aside.push_back(std::move(first));
    s.from = tmp;
  }
  for (Step& s : aside) steps_.push_back(std::move(s));
  std::stable_sort(steps_.begin(), steps_.end(), [](const Step& a, const Step& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    if (a.phase == kPhaseMkdir || a.phase == kPhaseDirRename) return Depth(a.path) < Depth(b.path);
    if (a.phase == kPhaseRmdir) return Depth(a.path) > Depth(b.path);
    return false;
  });
  for (const Step& s : steps_)
    if (s.reported) report->entries.push_back(s.entry);
  report->conflicts = std::move(conflicts_);
  *steps = std::move(steps_);
  return Status::Ok();
}

// --- Permission -----------------------------------------------------------

// EACCES naming every path of `steps` that `who` may not change: the
// access policy's write on the path, and POSIX on the directory holding it
// (write and search) and, for chmod, ownership.
Status CheckWritable(PathFiles& files, Namespace& ns, const Caller& who, const std::vector<Step>& steps) {
  AccessPolicy* policy = ns.access_policy();
  const bool restricted = policy && !policy->Unrestricted(who);
  std::set<std::string> denied;
  std::map<std::string, Status> dir_ok;
  auto writable_dir = [&](const std::string& path) -> Status {
    // The nearest existing directory holding `path` must be writable.
    std::string dir = Parent(path);
    while (true) {
      auto it = dir_ok.find(dir);
      if (it != dir_ok.end()) return it->second;
      // (A file where a directory will be is one the merge deletes first:
      // the planner made sure; the directory above it decides.)
      auto st = files.Stat(who, dir, true, false);
      const bool absent = st.code() == ENOENT || (st.ok() && !st->attr.IsDir());
      if (!absent || dir == "/") {
        Status verdict = !st.ok()            ? st.status()
                         : !st->attr.IsDir() ? Status::Error(ENOTDIR, dir)
                                             : CheckAccess(who, st->attr, kMayWrite | kMayExec);
        dir_ok.emplace(dir, verdict);
        return verdict;
      }
      dir = Parent(dir);
    }
  };
  auto check = [&](const std::string& path, const Step& s) {
    const bool is_dir =
        s.action == "mkdir" || s.action == "rmdir" || S_ISDIR(s.mode) || (s.phase == kPhaseDirRename);
    if (restricted && !policy->Can(who, Need::kWrite, path, is_dir)) {
      denied.insert(path);
      return;
    }
    if (!writable_dir(path).ok()) {
      denied.insert(path);
      return;
    }
    if (s.action == "chmod") {
      auto st = files.Stat(who, path, false, false);
      if (!st.ok() || !CheckOwner(who, st->attr).ok()) denied.insert(path);
    }
  };
  for (const Step& s : steps) {
    check(s.path, s);
    if (!s.from.empty()) check(s.from, s);
  }
  if (denied.empty()) return Status::Ok();
  std::string list;
  for (const std::string& p : denied) list += (list.empty() ? "" : ", ") + p;
  std::string subject = policy ? policy->SubjectOf(who) : UidSubject(who.uid);
  return Status::Error(EACCES, subject + " may not write " + list);
}

// --- The journal ----------------------------------------------------------

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("write " + what);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno("fsync " + path);
}

// Appends one line to `path`, synced when `sync`.
Status AppendLine(const std::string& path, const std::string& line, bool sync = true) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("open " + path);
  Status st = WriteAll(fd, line + "\n", path);
  if (st.ok() && sync && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + path);
  ::close(fd);
  return st;
}

// Paths and link targets are bytes, JSON strings are UTF-8: the journal
// keeps them %-escaped (every byte outside printable ASCII, and '%').
std::string Escape(std::string_view bytes) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    if (c < 0x20 || c >= 0x7f || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string Unescape(std::string_view text) {
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(digit(text[i + 1]) * 16 + digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

struct Journal {
  std::string dir;  // DATA/forks/merges/NAME.N
  std::string fork;
  uint32_t number = 0;  // the fork's merge count once this one is recorded
  std::string task_id;
  std::string author;  // the subject the steps act as
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<Step> steps;  // write steps' contents are kept in the stage file
  size_t done = 0;          // steps applied
  bool ready = false;

  std::string journal_path() const { return dir + "/journal"; }
  std::string progress_path() const { return dir + "/progress"; }
  std::string stage_path() const { return dir + "/stage"; }
};

// Writes the staged contents (one file, every write step's bytes end to
// end) and the journal; the journal's last line, "ready", is written and
// synced only after everything it names is.
Status WriteJournal(const Journal& j) {
  std::error_code ec;
  stdfs::create_directories(j.dir, ec);
  if (ec) return Status::Error(ec.value(), "create " + j.dir + ": " + ec.message());
  std::string text = Json{{"journal", 1},       {"fork", j.fork}, {"merge", j.number}, {"task", j.task_id},
                          {"author", j.author}, {"uid", j.uid},   {"gid", j.gid}}
                         .dump() +
                     "\n";
  int stage = ::open(j.stage_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (stage < 0) return Status::FromErrno("create " + j.stage_path());
  uint64_t offset = 0;
  Status st;
  for (size_t i = 0; i < j.steps.size() && st.ok(); ++i) {
    const Step& s = j.steps[i];
    Json line{{"action", s.action}, {"path", Escape(s.path)}, {"mode", s.mode}};
    if (!s.from.empty()) line["from"] = Escape(s.from);
    if (s.action == "write") {
      st = WriteAll(stage, s.content, j.stage_path());
      line["offset"] = offset;
      line["size"] = s.content.size();
      offset += s.content.size();
    } else if (s.action == "symlink") {
      line["target"] = Escape(s.content);
    }
    text += line.dump() + "\n";
  }
  if (st.ok() && ::fsync(stage) != 0) st = Status::FromErrno("fsync " + j.stage_path());
  ::close(stage);
  NEXUS_RETURN_IF_ERROR(st);
  int fd = ::open(j.journal_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + j.journal_path());
  st = WriteAll(fd, text, j.journal_path());
  if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + j.journal_path());
  ::close(fd);
  NEXUS_RETURN_IF_ERROR(st);
  NEXUS_RETURN_IF_ERROR(FsyncPath(j.dir));
  return AppendLine(j.journal_path(), "ready");
}

Result<Journal> ReadJournal(const std::string& dir) {
  Journal j;
  j.dir = dir;
  std::ifstream in(j.journal_path());
  if (!in) return Status::Error(ENOENT, "no journal in " + dir);
  std::string line;
  bool header = true;
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // write steps' bytes in the stage file
  while (std::getline(in, line)) {
    if (line == "ready") {
      j.ready = true;
      break;
    }
    Json v = Json::parse(line, nullptr, false);
    if (v.is_discarded() || !v.is_object()) break;  // torn: the journal never became ready
    if (header) {
      j.fork = v.value("fork", "");
      j.task_id = v.value("task", "");
      j.number = v.value("merge", 0u);
      j.author = v.value("author", "");
      j.uid = v.value("uid", 0u);
      j.gid = v.value("gid", 0u);
      header = false;
      continue;
    }
    Step s;
    s.action = v.value("action", "");
    s.path = Unescape(v.value("path", ""));
    s.from = Unescape(v.value("from", ""));
    s.mode = v.value("mode", 0u);
    if (s.action == "symlink") s.content = Unescape(v.value("target", ""));
    extents.emplace_back(v.value("offset", uint64_t{0}), v.value("size", uint64_t{0}));
    j.steps.push_back(std::move(s));
  }
  if (!j.ready) return j;
  NEXUS_ASSIGN_OR_RETURN(std::string staged, ReadTextFile(j.stage_path(), "merge journal"));
  for (size_t i = 0; i < j.steps.size(); ++i) {
    if (j.steps[i].action != "write") continue;
    auto [offset, size] = extents[i];
    if (offset > staged.size() || size > staged.size() - offset)
      return Status::Error(EIO, "merge journal " + dir + ": the stage file is short");
    j.steps[i].content = staged.substr(offset, size);
  }
  std::ifstream progress(j.progress_path());
  while (std::getline(progress, line)) {
    // A torn last line reads as a smaller index: that step is applied again.
    if (!line.empty()) j.done = std::max<size_t>(j.done, std::strtoul(line.c_str(), nullptr, 10) + 1);
  }
  return j;
}

// --- Applying -------------------------------------------------------------

// The temporary name a step writes before renaming over its target.
std::string TempName(const std::string& path, const Journal& j, size_t index) {
  return Parent(path) + "/" + std::string(layout::kMergeTempPrefix) + BaseName(j.dir) + "-" +
         std::to_string(index);
}

Status EnsureParent(PathFiles& files, const Caller& actor, const std::string& path) {
  std::string dir = Parent(path);
  if (files.Stat(actor, dir, true, false).ok()) return Status::Ok();
  return files.MkDir(actor, dir, 0755, true);
}

// Applies step `index` of `j` as `actor`. Idempotent, so a step a crash
// interrupted can be applied again: the first step not recorded as done
// may have happened, partly or wholly; every later one has not.
Status ApplyStep(PathFiles& files, Namespace& ns, const Caller& actor, const Journal& j, size_t index) {
  const Step& s = j.steps[index];
  auto ok_if = [](Status st, std::initializer_list<int> codes) {
    for (int c : codes)
      if (st.code() == c) return Status::Ok();
    return st;
  };
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = s.mode & 07777;
  if (s.action == "write") {
    NEXUS_RETURN_IF_ERROR(EnsureParent(files, actor, s.path));
    const std::string tmp = TempName(s.path, j, index);
    WriteOptions w;
    w.mode = s.mode & 07777;
    NEXUS_RETURN_IF_FAILED(files.Write(actor, tmp, s.content, w));
    NEXUS_RETURN_IF_FAILED(files.SetAttr(actor, tmp, chmod));
    return files.Rename(actor, tmp, s.path);
  }
  if (s.action == "symlink") {
    NEXUS_RETURN_IF_ERROR(EnsureParent(files, actor, s.path));
    const std::string tmp = TempName(s.path, j, index);
    NEXUS_RETURN_IF_ERROR(ok_if(files.Unlink(actor, tmp), {ENOENT}));
    NEXUS_ASSIGN_OR_RETURN(Attr dir, ns.ResolvePinned(actor, Parent(tmp)));
    auto made = ns.Symlink(actor, s.content, dir.ino, BaseName(tmp));
    if (dir.ino != kRootIno) ns.Forget(dir.ino, 1);
    if (made.ok()) ns.Forget(made->ino, 1);
    NEXUS_RETURN_IF_FAILED(made);
    return files.Rename(actor, tmp, s.path);
  }
  if (s.action == "delete") return ok_if(files.Unlink(actor, s.path), {ENOENT});
  if (s.action == "rmdir") return ok_if(files.RmDir(actor, s.path), {ENOENT, ENOTEMPTY, EEXIST});
  if (s.action == "mkdir") {
    NEXUS_RETURN_IF_ERROR(files.MkDir(actor, s.path, s.mode & 07777, true));
    return files.SetAttr(actor, s.path, chmod).status();
  }
  if (s.action == "chmod") return files.SetAttr(actor, s.path, chmod).status();
  if (s.action == "rename") {
    NEXUS_RETURN_IF_ERROR(EnsureParent(files, actor, s.path));
    Status st = files.Rename(actor, s.from, s.path);
    // Already moved by the run a crash interrupted.
    if (st.code() == ENOENT && files.Stat(actor, s.path, false, false).ok()) return Status::Ok();
    return st;
  }
  return Status::Error(EINVAL, "unknown merge step " + s.action);
}

// Waits until the backend holding `path` has durably committed every
// change made so far (its fsyncdir), from the nearest existing directory.
Status SyncBase(Namespace& ns, const Caller& actor, const std::string& path) {
  for (std::string dir = Parent(path);; dir = Parent(dir)) {
    auto attr = ns.Resolve(actor, dir);
    if (attr.ok()) return ns.FsyncDir(attr->ino);
    if (dir == "/" || dir.empty()) return ns.FsyncDir(kRootIno);
  }
}

// Applies the steps of `j` from j.done on, recording each as done; with
// `stop_after` >= 0, stops after that many (a simulated crash: EINTR).
Status ApplyJournal(PathFiles& files, Namespace& ns, const Caller& actor, Journal& j, int stop_after) {
  int applied = 0;
  for (size_t i = j.done; i < j.steps.size(); ++i) {
    if (stop_after >= 0 && applied == stop_after)
      return Status::Error(EINTR, "merge stopped after " + std::to_string(applied) + " steps (test)");
    Status st = ApplyStep(files, ns, actor, j, i);
    if (!st.ok())
      return Status::Error(st.code(),
                           "merge step " + j.steps[i].action + " " + j.steps[i].path + ": " + st.message());
    // Progress is recorded only once the base has committed the steps it
    // covers (a kill -9 loses the tree's last few milliseconds of
    // metadata, so a mark written earlier could claim a step the base
    // lost). Re-applying a step already done is harmless as long as every
    // later one is re-applied too, but for a rename (its source may have
    // been made again since): a rename is therefore always followed by a
    // mark, the rest every kCheckpointSteps steps and at the end.
    constexpr int kCheckpointSteps = 64;
    if (j.steps[i].action == "rename" || (applied + 1) % kCheckpointSteps == 0 || i + 1 == j.steps.size()) {
      NEXUS_RETURN_IF_ERROR(SyncBase(ns, actor, j.steps[i].path));
      NEXUS_RETURN_IF_ERROR(AppendLine(j.progress_path(), std::to_string(i)));
    }
    j.done = i + 1;
    ++applied;
  }
  return Status::Ok();
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string AgentOf(const std::string& subject) {
  return subject.rfind("agent:", 0) == 0 ? subject.substr(6) : std::string();
}

// Finishes journal `j` as its author with the daemon's rights, records the
// merge and removes the journal.
Status Finish(ForkRegistry& registry, PathFiles& files, Journal& j, const Caller& actor, int stop_after) {
  NEXUS_RETURN_IF_ERROR(ApplyJournal(files, *registry.ns(), actor, j, stop_after));
  // The base is as after the merge. Counted once (a crash may have come
  // after the count); a fork discarded meanwhile keeps no count.
  auto info = registry.Get(j.fork);
  if (info.ok() && info->state == "active" && info->merges < j.number) {
    Status noted = registry.NoteMerged(j.fork, NowNs());
    if (!noted.ok() && noted.code() != ENOENT) return noted;
  }
  std::error_code ec;
  stdfs::remove_all(j.dir, ec);
  return Status::Ok();
}

// Serializes merges of one fork (and their journal) across threads.
class MergeLock {
 public:
  static Result<MergeLock> Take(const std::string& merges_dir, const std::string& fork) {
    std::error_code ec;
    stdfs::create_directories(merges_dir, ec);
    if (ec) return Status::Error(ec.value(), "create " + merges_dir + ": " + ec.message());
    std::string path = merges_dir + "/" + fork + ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno("open " + path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        Status st = Status::FromErrno("lock " + path);
        ::close(fd);
        return st;
      }
    }
    return MergeLock(fd);
  }
  MergeLock(MergeLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  MergeLock& operator=(MergeLock&&) = delete;
  ~MergeLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit MergeLock(int fd) : fd_(fd) {}
  int fd_;
};

// Completes a journaled merge as its recorded author with the daemon's
// rights and its task id (the caller holds the fork's merge lock).
Status FinishJournalLocked(ForkRegistry& registry, PathFiles& files, Journal& j) {
  const Principal author = DaemonPrincipal(j.author);
  ProcessInfo origin;
  origin.command = "nexus fork merge " + j.fork;
  origin.agent_id = AgentOf(j.author);
  origin.task_id = j.task_id;
  Caller actor;
  actor.uid = j.uid;
  actor.gid = j.gid;
  actor.umask = 0;
  actor.principal = &author;
  actor.origin = &origin;
  return Finish(registry, files, j, actor, -1);
}

// Finishes the journal in `dir`, or drops it if it never became ready.
Status FinishJournal(ForkRegistry& registry, PathFiles& files, const std::string& dir) {
  std::error_code ec;
  auto j = ReadJournal(dir);
  if (!j.ok() || !j->ready) {
    // Never ready: nothing of it reached the base.
    stdfs::remove_all(dir, ec);
    return Status::Ok();
  }
  NEXUS_ASSIGN_OR_RETURN(MergeLock lock, MergeLock::Take(Parent(dir), j->fork));
  if (!stdfs::exists(dir, ec)) return Status::Ok();  // finished meanwhile
  return FinishJournalLocked(registry, files, *j);
}

// The journals a crash left of fork `name`'s merges: DATA/forks/merges/NAME.N.
std::vector<std::string> PendingJournals(const std::string& merges_dir, const std::string& name) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(merges_dir, ec)) {
    const std::string base = e.path().filename().string();
    if (!e.is_directory() || base.size() <= name.size() + 1 ||
        base.compare(0, name.size() + 1, name + ".") != 0)
      continue;
    const std::string number = base.substr(name.size() + 1);
    if (number.find_first_not_of("0123456789") == std::string::npos) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<MergeReport> MergeFork(ForkRegistry& registry, const Caller& caller, const Caller& author,
                              const std::string& name, const MergeOptions& options) {
  versions::GitLibrary git;
  NEXUS_ASSIGN_OR_RETURN(ForkInfo info, registry.Get(name));
  if (info.state != "active") return Status::Error(ENOENT, "fork " + name + " is " + info.state);
  NEXUS_ASSIGN_OR_RETURN(NativeBackend * tree, registry.Tree(name));
  Namespace& ns = *registry.ns();
  const std::string merges_dir = registry.data_dir() + "/merges";
  NEXUS_ASSIGN_OR_RETURN(MergeLock lock, MergeLock::Take(merges_dir, name));
  PathFiles own_files(&ns);
  PathFiles& files = options.files ? *options.files : own_files;
  // A merge of this fork a crash (or a failed step) left half applied is
  // finished first: the next one plans against the base as after it.
  for (const std::string& dir : PendingJournals(merges_dir, name)) {
    auto j = ReadJournal(dir);
    std::error_code ec;
    if (!j.ok() || !j->ready) {
      stdfs::remove_all(dir, ec);
      continue;
    }
    NEXUS_RETURN_IF_ERROR(FinishJournalLocked(registry, files, *j));
  }
  NEXUS_ASSIGN_OR_RETURN(info, registry.Get(name));  // the merge count, under the lock

  const Principal daemon = DaemonPrincipal("daemon:nexusd");
  Caller reader;
  reader.umask = 0;
  reader.principal = &daemon;
  MergeReport report;
  report.dry_run = options.dry_run;
  const uint32_t number = info.merges + 1;
  report.task_id = "fork-merge:" + name + ":" + std::to_string(number);
  std::vector<Step> steps;
  Planner planner(*tree, files, ns, reader, info.base, options);
  NEXUS_RETURN_IF_ERROR(planner.Run(&report, &steps));

  // The caller authorizes the merge; the author (the fork's owner, say an
  // agent with no rights outside its fork) is who the changes are
  // recorded as. The steps therefore run as the author's subject with the
  // access policy's questions already answered for the caller, and with
  // the author's POSIX identity, checked here too when it differs.
  AccessPolicy* policy = ns.access_policy();
  Principal acting = author.principal
                         ? *author.principal
                         : DaemonPrincipal(policy ? policy->SubjectOf(author) : UidSubject(author.uid));
  acting.admin = true;
  Caller actor = author;
  actor.umask = 0;
  actor.principal = &acting;
  NEXUS_RETURN_IF_ERROR(CheckWritable(files, ns, caller, steps));
  if (actor.uid != caller.uid || actor.gid != caller.gid)
    NEXUS_RETURN_IF_ERROR(CheckWritable(files, ns, actor, steps));
  if (options.dry_run || steps.empty()) return report;

  Journal j;
  j.dir = merges_dir + "/" + name + "." + std::to_string(number);
  j.fork = name;
  j.number = number;
  j.task_id = report.task_id;
  j.author = acting.subject;
  j.uid = author.uid;
  j.gid = author.gid;
  j.steps = std::move(steps);
  NEXUS_RETURN_IF_ERROR(WriteJournal(j));

  ProcessInfo origin;
  origin.command = "nexus fork merge " + name;
  origin.agent_id =
      author.origin && !author.origin->agent_id.empty() ? author.origin->agent_id : AgentOf(j.author);
  origin.task_id = j.task_id;
  actor.origin = &origin;
  NEXUS_RETURN_IF_ERROR(Finish(registry, files, j, actor, options.TEST_stop_after_steps));
  report.applied = true;
  return report;
}

Status FinishInterruptedMerges(ForkRegistry& registry) {
  versions::GitLibrary git;
  const std::string merges_dir = registry.data_dir() + "/merges";
  std::error_code ec;
  if (!stdfs::is_directory(merges_dir, ec)) return Status::Ok();
  std::vector<std::string> dirs;
  for (const auto& e : stdfs::directory_iterator(merges_dir, ec))
    if (e.is_directory()) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  PathFiles files(registry.ns());  // before serving: nothing is cached yet
  for (const std::string& dir : dirs) {
    Status st = FinishJournal(registry, files, dir);
    // The daemon still starts: the journal stays, and the next start or the
    // next merge of that fork tries again.
    if (!st.ok()) spdlog::error("fork merge journal {}: {}", dir, st.ToString());
  }
  return Status::Ok();
}

}  // namespace nexus::forks
