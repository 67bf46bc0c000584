// nexus fork create|list|info|diff|merge|discard|gc: copy-on-write forks of
// folders, their diff against the fork point and the three-way merge back
// (rpc/nexus.capnp Forks, docs/forks.md "Commands").
//
// Exit status as every command (cli.h); `fork merge` also exits 1 when a
// conflict was left unwritten (its report is printed all the same). What
// the daemon refuses as malformed (a bad fork name, a bad path) is a usage
// error.
#include <algorithm>
#include <cstdio>

#include "cli/cli.h"

namespace nexus::cli {
namespace {

using json = nlohmann::json;

// Runs `fn` with the connected client and its Forks capability.
int WithForks(Cli& cli, const std::function<int(NexusClient&, rpc::Forks::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto forks = (*c)->session().forksRequest().send().getForks();
  return fn(**c, forks);
}

// What the daemon refused; EINVAL (malformed input) is a usage error.
int FailReply(Cli& cli, const Status& st) { return cli.Fail(st, /*usage=*/st.code() == EINVAL); }

json TimeJson(int64_t ns) { return ns ? json(FormatTime(ns)) : json(); }

json InfoJson(rpc::ForkInfo::Reader f) {
  return {{"name", f.getName().cStr()},
          {"path", f.getPath().cStr()},
          {"base", f.getBase().cStr()},
          {"parent_fork", f.getParentFork().size() ? json(f.getParentFork().cStr()) : json()},
          {"owner", f.getOwner().cStr()},
          {"created_by", f.getCreatedBy().cStr()},
          {"created", TimeJson(f.getCreatedAtNs())},
          {"pin", f.getPin().cStr()},
          {"state", f.getState().cStr()},
          {"own_bytes", f.getOwnBytes()},
          {"merges", f.getMerges()},
          {"last_merge", TimeJson(f.getLastMergeNs())}};
}

void PrintInfo(rpc::ForkInfo::Reader f) {
  std::printf("name:        %s\n", f.getName().cStr());
  std::printf("path:        %s\n", f.getPath().cStr());
  std::printf("base:        %s\n", f.getBase().cStr());
  if (f.getParentFork().size()) std::printf("parent fork: %s\n", f.getParentFork().cStr());
  std::printf("owner:       %s\n", f.getOwner().cStr());
  std::printf("created by:  %s\n", f.getCreatedBy().cStr());
  std::printf("created:     %s\n", FormatTime(f.getCreatedAtNs()).c_str());
  std::printf("pin:         %s\n", f.getPin().cStr());
  std::printf("state:       %s\n", f.getState().cStr());
  std::printf("own data:    %s\n", HumanBytes(f.getOwnBytes()).c_str());
  std::printf("merges:      %u (last %s)\n", f.getMerges(), FormatTime(f.getLastMergeNs()).c_str());
}

int Create(Cli& cli, const Args& a) {
  const std::string& name = a.positional[0];
  const std::string from = a.Get("from");
  if (from.empty() || from[0] != '/')
    return cli.Usage("--from takes the absolute namespace path of a folder (e.g. /src), not '" + from + "'");
  std::string for_subject = a.Get("for");
  if (a.Has("for") && for_subject.find(':') == std::string::npos) for_subject = "agent:" + for_subject;
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto req = forks.createRequest();
    req.setName(name);
    req.setFrom(from);
    req.setForSubject(for_subject);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    auto f = r->getFork();
    if (cli.json) {
      cli.PrintJson(InfoJson(f));
    } else {
      std::printf("forked %s at %s (owner %s, pin %s)\n", f.getBase().cStr(), f.getPath().cStr(),
                  f.getOwner().cStr(), f.getPin().cStr());
    }
    return kExitOk;
  });
}

int List(Cli& cli, const Args&) {
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto r = c.Wait(forks.listRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto f : r->getForks()) list.push_back(InfoJson(f));
      cli.PrintJson({{"forks", std::move(list)}});
      return kExitOk;
    }
    if (r->getForks().size() == 0) {
      std::printf("no forks (make one: nexus fork create NAME --from PATH)\n");
      return kExitOk;
    }
    std::printf("%-20s %-28s %-20s %-5s %-9s %10s %6s %s\n", "NAME", "BASE", "OWNER", "PIN", "STATE", "OWN",
                "MERGES", "CREATED");
    for (auto f : r->getForks())
      std::printf("%-20s %-28s %-20s %-5s %-9s %10s %6u %s\n", f.getName().cStr(), f.getBase().cStr(),
                  f.getOwner().cStr(), f.getPin().cStr(), f.getState().cStr(),
                  HumanBytes(f.getOwnBytes()).c_str(), f.getMerges(), FormatTime(f.getCreatedAtNs()).c_str());
    return kExitOk;
  });
}

int Info(Cli& cli, const Args& a) {
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto req = forks.infoRequest();
    req.setName(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson(InfoJson(r->getFork()));
    } else {
      PrintInfo(r->getFork());
    }
    return kExitOk;
  });
}

// What `git diff --stat` prints: " PATH | N +++---" per file, then the
// summary line.
std::string StatText(capnp::List<rpc::ForkChange>::Reader changes) {
  size_t width = 0;
  uint32_t most = 0;
  auto label = [](rpc::ForkChange::Reader ch) {
    if (ch.getOldPath().size()) return std::string(ch.getOldPath().cStr()) + " => " + ch.getPath().cStr();
    return std::string(ch.getPath().cStr());
  };
  for (auto ch : changes) {
    width = std::max(width, label(ch).size());
    most = std::max(most, ch.getInsertions() + ch.getDeletions());
  }
  constexpr uint32_t kBar = 50;
  std::string out;
  uint64_t ins = 0, del = 0;
  for (auto ch : changes) {
    ins += ch.getInsertions();
    del += ch.getDeletions();
    std::string name = label(ch);
    std::string line = " " + name + std::string(width - name.size(), ' ') + " | ";
    if (ch.getBinary()) {
      line += "Bin";
    } else {
      uint32_t n = ch.getInsertions() + ch.getDeletions();
      uint32_t plus = ch.getInsertions(), minus = ch.getDeletions();
      if (most > kBar) {  // scaled as git does, keeping at least one of each
        plus = plus ? std::max<uint32_t>(1, plus * kBar / most) : 0;
        minus = minus ? std::max<uint32_t>(1, minus * kBar / most) : 0;
      }
      line += std::to_string(n) + (n ? " " : "") + std::string(plus, '+') + std::string(minus, '-');
    }
    out += line + "\n";
  }
  const size_t files = changes.size();
  out += " " + std::to_string(files) + (files == 1 ? " file changed" : " files changed");
  if (ins || !del) out += ", " + std::to_string(ins) + (ins == 1 ? " insertion(+)" : " insertions(+)");
  if (del) out += ", " + std::to_string(del) + (del == 1 ? " deletion(-)" : " deletions(-)");
  return out + "\n";
}

int Diff(Cli& cli, const Args& a) {
  const bool stat = a.Has("stat"), names = a.Has("name-only");
  if (stat && names) return cli.Usage("--stat and --name-only do not go together");
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto req = forks.diffRequest();
    req.setName(a.positional[0]);
    req.setPatch(!stat && !names);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    auto changes = r->getChanges();
    if (cli.json) {
      json list = json::array();
      for (auto ch : changes)
        list.push_back({{"path", ch.getPath().cStr()},
                        {"old_path", ch.getOldPath().size() ? json(ch.getOldPath().cStr()) : json()},
                        {"kind", ch.getKind().cStr()},
                        {"mode", ch.getMode()},
                        {"old_mode", ch.getOldMode()},
                        {"content_changed", ch.getContentChanged()},
                        {"binary", ch.getBinary()},
                        {"insertions", ch.getInsertions()},
                        {"deletions", ch.getDeletions()}});
      cli.PrintJson({{"changes", std::move(list)}, {"diff", r->getUnifiedDiff().cStr()}});
      return kExitOk;
    }
    if (names) {
      for (auto ch : changes) std::printf("%s\n", ch.getPath().cStr());
    } else if (stat) {
      if (changes.size()) std::fputs(StatText(changes).c_str(), stdout);
    } else {
      std::fwrite(r->getUnifiedDiff().begin(), 1, r->getUnifiedDiff().size(), stdout);
    }
    return kExitOk;
  });
}

json ReportJson(rpc::MergeReport::Reader r) {
  json entries = json::array();
  for (auto e : r.getEntries())
    entries.push_back({{"path", e.getPath().cStr()},
                       {"old_path", e.getOldPath().size() ? json(e.getOldPath().cStr()) : json()},
                       {"action", e.getAction().cStr()},
                       {"how", e.getHow().cStr()}});
  json conflicts = json::array();
  for (auto c : r.getConflicts()) {
    json hunks = json::array();
    for (auto h : c.getHunks())
      hunks.push_back({{"base_start", h.getBaseStart()},
                       {"base_lines", h.getBaseLines()},
                       {"ours_start", h.getOursStart()},
                       {"ours_lines", h.getOursLines()},
                       {"theirs_start", h.getTheirsStart()},
                       {"theirs_lines", h.getTheirsLines()},
                       {"text", h.getText().cStr()}});
    conflicts.push_back({{"path", c.getPath().cStr()},
                         {"kind", c.getKind().cStr()},
                         {"resolved_by", c.getResolvedBy().size() ? json(c.getResolvedBy().cStr()) : json()},
                         {"hunks", std::move(hunks)}});
  }
  return {{"dry_run", r.getDryRun()},
          {"applied", r.getApplied()},
          {"task_id", r.getTaskId().size() ? json(r.getTaskId().cStr()) : json()},
          {"entries", std::move(entries)},
          {"conflicts", std::move(conflicts)}};
}

void PrintReport(const std::string& name, rpc::MergeReport::Reader r, size_t unresolved) {
  const size_t n = r.getEntries().size();
  if (r.getDryRun()) {
    std::printf("dry run: merging fork %s would apply %zu change%s", name.c_str(), n, n == 1 ? "" : "s");
  } else if (r.getApplied()) {
    std::printf("merged fork %s: %zu change%s applied", name.c_str(), n, n == 1 ? "" : "s");
  } else {
    std::printf("fork %s: nothing %s", name.c_str(), unresolved ? "applied" : "to merge");
  }
  if (r.getConflicts().size())
    std::printf(", %u conflict%s (%zu left unwritten)", r.getConflicts().size(),
                r.getConflicts().size() == 1 ? "" : "s", unresolved);
  std::printf("\n");
  for (auto e : r.getEntries()) {
    std::string where = e.getOldPath().size()
                            ? std::string(e.getOldPath().cStr()) + " -> " + e.getPath().cStr()
                            : std::string(e.getPath().cStr());
    std::printf("  %-8s %-7s %s\n", e.getAction().cStr(), e.getHow().cStr(), where.c_str());
  }
  for (auto c : r.getConflicts()) {
    std::printf("CONFLICT (%s): %s", c.getKind().cStr(), c.getPath().cStr());
    if (c.getResolvedBy().size())
      std::printf(" — resolved by taking %s side\n",
                  std::string(c.getResolvedBy().cStr()) == "ours" ? "the base's" : "the fork's");
    else
      std::printf(" — not written\n");
    for (auto h : c.getHunks()) {
      std::printf("@@ base %u,%u ours %u,%u theirs %u,%u @@\n", h.getBaseStart(), h.getBaseLines(),
                  h.getOursStart(), h.getOursLines(), h.getTheirsStart(), h.getTheirsLines());
      std::fputs(h.getText().cStr(), stdout);
      if (h.getText().size() && h.getText()[h.getText().size() - 1] != '\n') std::fputc('\n', stdout);
    }
  }
  if (r.getTaskId().size() && r.getApplied())
    std::printf("undo it with: nexus undo --task %s\n", r.getTaskId().cStr());
  if (unresolved && !r.getDryRun())
    std::printf("resolve with --theirs (the fork's side) or --ours (the base's), or edit and merge again\n");
}

int Merge(Cli& cli, const Args& a) {
  if (a.Has("theirs") && a.Has("ours")) return cli.Usage("--theirs and --ours do not go together");
  std::vector<std::string> globs = a.All("paths");
  if (a.positional.size() > 1) {
    if (!a.Has("paths")) return cli.Usage("too many arguments: nexus fork merge NAME [--paths GLOB...]");
    globs.insert(globs.end(), a.positional.begin() + 1, a.positional.end());
  }
  const std::string name = a.positional[0];
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto req = forks.mergeRequest();
    req.setName(name);
    req.setDryRun(a.Has("dry-run"));
    req.setStrategy(a.Has("theirs") ? "theirs" : a.Has("ours") ? "ours" : "");
    auto paths = req.initPaths(globs.size());
    for (size_t i = 0; i < globs.size(); ++i) paths.set(i, globs[i]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    auto report = r->getReport();
    size_t unresolved = 0;
    for (auto conflict : report.getConflicts()) unresolved += conflict.getResolvedBy().size() == 0;
    if (cli.json) {
      cli.PrintJson(ReportJson(report));
    } else {
      PrintReport(name, report, unresolved);
    }
    return unresolved ? kExitFailed : kExitOk;
  });
}

int Discard(Cli& cli, const Args& a) {
  const std::string name = a.positional[0];
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto req = forks.discardRequest();
    req.setName(name);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson({{"name", name}, {"state", "discarded"}});
    } else {
      std::printf("discarded fork %s (its data stays until `nexus fork gc`)\n", name.c_str());
    }
    return kExitOk;
  });
}

int Gc(Cli& cli, const Args&) {
  return WithForks(cli, [&](NexusClient& c, rpc::Forks::Client& forks) -> int {
    auto r = c.Wait(forks.gcRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson({{"removed", r->getRemoved()}, {"freed_bytes", r->getFreedBytes()}});
    } else {
      std::printf("removed %u discarded fork%s, freed %s\n", r->getRemoved(), r->getRemoved() == 1 ? "" : "s",
                  HumanBytes(r->getFreedBytes()).c_str());
    }
    return kExitOk;
  });
}

}  // namespace

void AddForkCommands(std::vector<Command>* t) {
  t->push_back({{"fork", "create"},
                {"--from", "--for"},
                {},
                "fork create NAME --from PATH [--for agent:ID]",
                "Make a copy-on-write fork of folder PATH at /forks/NAME, at once whatever its\n"
                "size: nothing is copied until written (a fork of /zone/local is a copy).\n"
                "Needs read on PATH. The fork is owned by you, or with --for by that agent\n"
                "(admins, or the agent's owner): editor inside /forks/NAME, nothing outside.\n"
                "NAME: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -).",
                1,
                1,
                Create});
  t->push_back({{"fork", "list"},
                {},
                {},
                "fork list",
                "The forks you may read (admins: every fork), discarded ones until gc.",
                0,
                0,
                List});
  t->push_back({{"fork", "info"},
                {},
                {},
                "fork info NAME",
                "One fork: its base, owner, pin, state, own data and merges.",
                1,
                1,
                Info});
  t->push_back({{"fork", "diff"},
                {},
                {"--stat", "--name-only"},
                "fork diff NAME [--stat | --name-only]",
                "The fork's changes against its fork point, as a git-style unified diff\n"
                "(added, deleted, modified, renamed, mode changes; binary files named).\n"
                "--stat: a diffstat; --name-only: the changed paths. Needs read on the fork.",
                1,
                1,
                Diff});
  t->push_back({{"fork", "merge"},
                {"--paths"},
                {"--dry-run", "--theirs", "--ours"},
                "fork merge NAME [--dry-run] [--theirs|--ours] [--paths GLOB...]",
                "Three-way merge of the fork's changes into its live base, the fork point\n"
                "as the merge base: changes on both sides are combined line by line; a\n"
                "conflict (same lines, modify/delete, rename/rename, binary on both sides)\n"
                "is reported with its hunks and not written, unless --theirs (take the\n"
                "fork's side) or --ours (keep the base's). --paths: only fork paths matching\n"
                "a glob. --dry-run: report exactly what the merge would do, change nothing.\n"
                "The merge lands as one change set, versioned and logged as the fork's\n"
                "owner (nexus undo --task TASK takes it back). Needs write on each changed\n"
                "path of the base. Exit 1 when a conflict was left unwritten.",
                1,
                SIZE_MAX,
                Merge});
  t->push_back({{"fork", "discard"},
                {},
                {},
                "fork discard NAME",
                "Remove /forks/NAME at once (its owner, its creator or an admin); its data\n"
                "stays until `nexus fork gc`.",
                1,
                1,
                Discard});
  t->push_back(
      {{"fork", "gc"}, {}, {}, "fork gc", "Delete the data of discarded forks. Admins only.", 0, 0, Gc});
}

}  // namespace nexus::cli
