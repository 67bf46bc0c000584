#include "fs/versions/change_log.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>
#include <unordered_set>

#include "fs/versions/git_util.h"

namespace nexus::versions {
namespace {

constexpr size_t kMaxListedChanges = 200;
constexpr size_t kSummaryWidth = 60;

// Control characters would break the message's line structure.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

bool IsDotGit(std::string_view c) { return c.size() == 4 && strncasecmp(c.data(), ".git", 4) == 0; }

Status RemovePath(git_index* index, const std::string& git_path) {
  int rc = git_index_remove(index, git_path.c_str(), 0);
  if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, "remove " + git_path);
  rc = git_index_remove_directory(index, git_path.c_str(), 0);
  if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, "remove " + git_path + "/");
  return Status::Ok();
}

Status AddEntry(git_index* index, const std::string& git_path, const git_oid& id, uint32_t mode) {
  git_index_entry e{};
  e.mode = mode;
  e.id = id;
  e.path = git_path.c_str();
  NEXUS_GIT(git_index_add(index, &e), "add " + git_path);
  return Status::Ok();
}

std::string Describe(const Change& c) {
  switch (c.op) {
    case 'W':
      return Printable(c.path) + " (v" + std::to_string(c.n) +
             (c.note.empty() ? "" : ", " + Printable(c.note)) + ")";
    case 'R':
      return Printable(c.old_path) + " -> " + Printable(c.path);
    default:
      return Printable(c.path);
  }
}

const char* Verb(const Change& c) {
  if (c.op == 'D') return "Delete";
  if (c.op == 'R') return "Rename";
  return c.n == 1 ? "Add" : "Update";
}

const char* Letter(const Change& c) {
  if (c.op == 'D') return "D";
  if (c.op == 'R') return "R";
  return c.n == 1 ? "A" : "M";
}

}  // namespace

Change ReadChange(const Statement& q) {
  Change c;
  c.seq = q.Int(0);
  std::string op = q.Text(1);
  c.op = op.empty() ? 'W' : op[0];
  c.zone = q.Text(2);
  c.path = q.Text(3);
  c.old_path = q.Text(4);
  c.file_id = q.Int(5);
  c.n = static_cast<uint32_t>(q.Int(6));
  c.blob = q.Text(7);
  c.size = static_cast<uint64_t>(q.Int(8));
  c.mode = static_cast<uint32_t>(q.Int(9));
  c.time_ns = q.Int(10);
  c.who.subject = q.Text(11);
  c.who.uid = static_cast<uid_t>(q.Int(12));
  c.who.pid = static_cast<pid_t>(q.Int(13));
  c.who.command = q.Text(14);
  c.who.agent_id = q.Text(15);
  c.who.task_id = q.Text(16);
  c.note = q.Text(17);
  c.pending = q.IsNull(18);
  c.commit = q.Text(18);
  return c;
}

std::string GitPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  size_t start = 0;
  while (true) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view comp = path.substr(start, end - start);
    size_t i = 0;
    if (IsDotGit(comp)) {
      out += "%2E";
      i = 1;
    }
    for (; i < comp.size(); ++i) {
      if (comp[i] == '%')
        out += "%25";
      else
        out += comp[i];
    }
    if (end == path.size()) break;
    out += '/';
    start = end + 1;
  }
  return out;
}

std::string FromGitPath(std::string_view git_path) {
  if (git_path.find('%') == std::string_view::npos) return std::string(git_path);
  std::string out;
  for (size_t i = 0; i < git_path.size(); ++i) {
    std::string_view code = git_path.substr(i + 1, 2);
    if (git_path[i] == '%' && (code == "25" || code == "2E")) {
      out += code == "25" ? '%' : '.';
      i += 2;
    } else {
      out += git_path[i];
    }
  }
  return out;
}

Status ApplyChange(git_index* index, const Change& c) {
  const std::string to = GitPath(c.path);
  if (c.op == 'D') return RemovePath(index, to);
  if (c.op == 'W') {
    git_oid id;
    if (!ParseOid(c.blob, &id)) return Status::Error(EIO, "bad blob id in change " + std::to_string(c.seq));
    int rc = git_index_remove_directory(index, to.c_str(), 0);
    if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, "remove " + to + "/");
    return AddEntry(index, to, id, c.mode);
  }
  // 'R': move the entry at old_path and every entry under it.
  struct Moved {
    std::string path;
    git_oid id;
    uint32_t mode;
  };
  std::vector<Moved> moved;
  const std::string from = GitPath(c.old_path);
  if (const git_index_entry* e = git_index_get_bypath(index, from.c_str(), 0))
    moved.push_back({to, e->id, e->mode});
  const std::string prefix = from + "/";
  size_t pos = 0;
  if (git_index_find_prefix(&pos, index, prefix.c_str()) == 0) {
    for (; pos < git_index_entrycount(index); ++pos) {
      const git_index_entry* e = git_index_get_byindex(index, pos);
      if (std::strncmp(e->path, prefix.c_str(), prefix.size()) != 0) break;
      moved.push_back({to + "/" + (e->path + prefix.size()), e->id, e->mode});
    }
  }
  if (moved.empty()) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(RemovePath(index, from));
  NEXUS_RETURN_IF_ERROR(RemovePath(index, to));
  for (const Moved& m : moved) NEXUS_RETURN_IF_ERROR(AddEntry(index, m.path, m.id, m.mode));
  return Status::Ok();
}

std::string CommitMessage(const std::string& zone, const std::vector<const Change*>& run) {
  std::string msg;
  if (run.size() == 1) {
    msg = std::string(Verb(*run[0])) + " " + Describe(*run[0]);
  } else {
    msg = std::to_string(run.size()) + " changes in " + zone + ":";
    std::set<std::string_view> listed;
    for (const Change* c : run) {
      if (!listed.insert(c->path).second) continue;
      std::string p = Printable(c->path);
      if (listed.size() > 1 && msg.size() + p.size() > kSummaryWidth) {
        msg += " ...";
        break;
      }
      msg += (listed.size() > 1 ? ", " : " ") + p;
    }
  }
  msg += "\n\n";
  for (size_t i = 0; i < run.size() && i < kMaxListedChanges; ++i)
    msg += std::string(Letter(*run[i])) + " " + Describe(*run[i]) + "\n";
  if (run.size() > kMaxListedChanges)
    msg += "... and " + std::to_string(run.size() - kMaxListedChanges) + " more\n";

  msg += "\nNexus-Zone: " + zone + "\nNexus-Author: " + run[0]->who.subject + "\n";
  std::set<std::tuple<uid_t, pid_t, std::string, std::string, std::string>> seen;
  for (const Change* c : run) {
    const Provenance& p = c->who;
    if (!seen.emplace(p.uid, p.pid, p.command, p.agent_id, p.task_id).second) continue;
    msg += "Nexus-Uid: " + std::to_string(p.uid) + "\nNexus-Pid: " + std::to_string(p.pid) + "\n";
    if (!p.command.empty()) msg += "Nexus-Command: " + p.command + "\n";
    if (!p.agent_id.empty()) msg += "Nexus-Agent-Id: " + p.agent_id + "\n";
    if (!p.task_id.empty()) msg += "Nexus-Task-Id: " + p.task_id + "\n";
  }
  return msg;
}

Result<git_oid> WriteCommit(git_repository* repo, const std::string& zone, const git_oid& tree,
                            const git_oid* parent, const std::vector<const Change*>& run) {
  const Change& first = *run.front();
  const std::string& name = first.who.subject;
  git_signature* raw = nullptr;
  NEXUS_GIT(git_signature_new(&raw, name.c_str(), (name + "@nexus").c_str(), first.time_ns / 1000000000, 0),
            "author " + name);
  SigPtr author(raw);
  NEXUS_GIT(git_signature_new(&raw, "nexus", "nexus@nexus", run.back()->time_ns / 1000000000, 0),
            "committer");
  SigPtr committer(raw);

  git_tree* t = nullptr;
  NEXUS_GIT(git_tree_lookup(&t, repo, &tree), "tree " + OidHex(tree));
  TreePtr tree_obj(t);
  CommitPtr parent_obj;
  if (parent) {
    git_commit* p = nullptr;
    NEXUS_GIT(git_commit_lookup(&p, repo, parent), "commit " + OidHex(*parent));
    parent_obj.reset(p);
  }
  const git_commit* parents[1] = {parent_obj.get()};
  const std::string msg = CommitMessage(zone, run);
  git_oid out;
  NEXUS_GIT(git_commit_create(&out, repo, nullptr, author.get(), committer.get(), nullptr, msg.c_str(),
                              tree_obj.get(), parent ? 1 : 0, parents),
            "commit on " + zone);
  return out;
}

std::string WithSeparators(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Result<ZoneTree> LoadZoneTree(git_repository* repo, const std::string& zone, bool fresh) {
  ZoneTree zt;
  zt.zone = zone;
  git_index* index = nullptr;
  NEXUS_GIT(git_index_new(&index), "new index");
  zt.index.reset(index);
  if (fresh) return zt;
  const std::string ref = "refs/heads/" + zone;
  int rc = git_reference_name_to_id(&zt.head, repo, ref.c_str());
  if (rc == GIT_ENOTFOUND) return zt;
  NEXUS_GIT(rc, "resolve " + ref);
  git_commit* c = nullptr;
  NEXUS_GIT(git_commit_lookup(&c, repo, &zt.head), "commit of " + ref);
  CommitPtr commit(c);
  git_tree* t = nullptr;
  NEXUS_GIT(git_commit_tree(&t, c), "tree of " + ref);
  TreePtr tree(t);
  zt.tree = *git_tree_id(t);
  zt.has_head = true;
  NEXUS_GIT(git_index_read_tree(index, t), "read tree of " + ref);
  return zt;
}

Status CommitRuns(git_repository* repo, ZoneTree& zt, const std::vector<const Change*>& changes,
                  const std::function<bool(const Change&, const Change&)>& same_run,
                  std::vector<std::pair<int64_t, std::string>>* assigned) {
  std::vector<const Change*> run;
  std::unordered_set<std::string_view> written;
  // Every version's content must stay in some commit's tree (gc keeps only
  // what commits reach), so a run ends before a change that could replace
  // or remove content the run wrote: a second write to the same path, or
  // any rename or removal.
  auto fits = [&](const Change& c) {
    if (c.op == 'W') return written.insert(c.path).second;
    return written.empty();
  };
  for (size_t i = 0; i < changes.size();) {
    run.clear();
    written.clear();
    size_t j = i;
    while (j < changes.size() && (j == i || (same_run(*changes[i], *changes[j]) && fits(*changes[j])))) {
      if (j == i) fits(*changes[j]);
      run.push_back(changes[j++]);
    }
    for (const Change* c : run) NEXUS_RETURN_IF_ERROR(ApplyChange(zt.index.get(), *c));
    git_oid tree;
    NEXUS_GIT(git_index_write_tree_to(&tree, zt.index.get(), repo), "write tree of " + zt.zone);
    std::string commit;
    if (zt.has_head && git_oid_equal(&tree, &zt.tree)) {
      commit = OidHex(zt.head);
    } else if (zt.has_head || git_index_entrycount(zt.index.get()) > 0) {
      auto oid = WriteCommit(repo, zt.zone, tree, zt.has_head ? &zt.head : nullptr, run);
      NEXUS_RETURN_IF_FAILED(oid);
      zt.head = *oid;
      zt.tree = tree;
      zt.has_head = true;
      commit = OidHex(zt.head);
    }
    for (const Change* c : run) assigned->emplace_back(c->seq, commit);
    i = j;
  }
  return Status::Ok();
}

}  // namespace nexus::versions
