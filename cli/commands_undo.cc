// nexus undo: takes back logged operations (docs/operations.md "Undo").
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/progress.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

json StepJson(rpc::UndoStep::Reader s) {
  return {{"op_id", s.getOpId()},
          {"action", std::string(s.getAction())},
          {"path", std::string(s.getPath())},
          {"to_path", std::string(s.getToPath())},
          {"version", s.getVersion()},
          {"status", std::string(s.getStatus())},
          {"reason", std::string(s.getReason())}};
}

// What a step does, for people: "restore-content /a.txt (v3)".
std::string StepTarget(rpc::UndoStep::Reader s) {
  std::string out = s.getPath();
  if (s.getToPath().size()) out += " -> " + std::string(s.getToPath());
  if (s.getVersion()) out += " (v" + std::to_string(s.getVersion()) + ")";
  return out;
}

void PrintReport(rpc::UndoReport::Reader r) {
  auto steps = r.getSteps();
  if (steps.size()) {
    std::printf("%-8s %-15s %-9s %s\n", "OP", "ACTION", "STATUS", "PATH");
    for (auto s : steps) {
      std::printf("%-8lld %-15s %-9s %s", static_cast<long long>(s.getOpId()), s.getAction().cStr(),
                  s.getStatus().cStr(), StepTarget(s).c_str());
      if (s.getReason().size()) std::printf("  (%s)", s.getReason().cStr());
      std::printf("\n");
    }
  }
  uint32_t planned = 0;
  for (auto s : steps)
    if (std::string_view(s.getStatus().cStr()) == "planned" &&
        std::string_view(s.getAction().cStr()) != "none")
      ++planned;
  const uint32_t hidden = r.getSkipped() - [&] {
    uint32_t named = 0;
    for (auto s : steps)
      if (std::string_view(s.getStatus().cStr()) == "skipped") ++named;
    return named;
  }();
  if (r.getDryRun()) {
    std::printf("dry run: %u to undo, %u conflicts, %u cannot be undone, %u skipped", planned,
                r.getConflicts(), r.getFailed(), r.getSkipped());
  } else {
    std::printf("undone: %u, conflicts: %u (left alone), failed: %u, skipped: %u", r.getApplied(),
                r.getConflicts(), r.getFailed(), r.getSkipped());
  }
  if (hidden) std::printf(" (%u on paths you may not see)", hidden);
  std::printf("\n");
  if (r.getConflicts() && !r.getDryRun()) std::printf("undo them anyway with --force\n");
}

int Undo(Cli& cli, const Args& a) {
  const bool by_agent = a.Has("agent"), by_task = a.Has("task"), by_subject = a.Has("subject");
  if (a.positional.empty() && !by_agent && !by_task && !by_subject)
    return cli.Usage("undo needs operation ids, --agent A, --task T or --subject S --since T");
  if (by_subject && !a.Has("since")) return cli.Usage("--subject needs --since (how far back to undo)");
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto ops = (*c)->session().opsRequest().send().getOps();
  auto req = ops.undoRequest();
  auto f = req.initFilter();
  if (!a.positional.empty()) {
    auto ids = f.initIds(static_cast<unsigned>(a.positional.size()));
    for (size_t i = 0; i < a.positional.size(); ++i) {
      const std::string& text = a.positional[i];
      char* end = nullptr;
      long long id = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || id <= 0) return cli.Usage("'" + text + "' is not an operation id");
      ids.set(static_cast<unsigned>(i), id);
    }
  }
  if (by_agent) {
    std::string agent = a.Get("agent");
    if (agent.starts_with("agent:")) agent = agent.substr(6);
    f.setAgentId(agent);
  }
  if (by_task) f.setTaskId(a.Get("task"));
  if (by_subject) f.setSubject(a.Get("subject"));
  if (a.Has("since")) {
    auto t = ParseSince(a.Get("since"), "--since");
    if (!t.ok()) return cli.Fail(t.status(), /*usage=*/true);
    f.setSinceNs(*t);
  }
  if (a.Has("until")) {
    auto t = ParseSince(a.Get("until"), "--until");
    if (!t.ok()) return cli.Fail(t.status(), /*usage=*/true);
    f.setUntilNs(*t);
  }
  const bool dry_run = a.Has("dry-run");
  req.setDryRun(dry_run);
  req.setForce(a.Has("force"));
  auto progress = kj::heap<ProgressBar>("undoing", !dry_run && isatty(STDERR_FILENO) && !cli.json);
  auto drawn = progress->drawn();
  req.setProgress(kj::mv(progress));
  auto r = (*c)->Wait(req.send());
  if (*drawn) std::fputc('\n', stderr);
  if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
  auto report = r->getReport();
  if (cli.json) {
    json steps = json::array();
    for (auto s : report.getSteps()) steps.push_back(StepJson(s));
    cli.PrintJson({{"dry_run", report.getDryRun()},
                   {"applied", report.getApplied()},
                   {"conflicts", report.getConflicts()},
                   {"failed", report.getFailed()},
                   {"skipped", report.getSkipped()},
                   {"steps", steps}});
  } else {
    PrintReport(report);
  }
  if (!report.getConflicts() && !report.getFailed()) return kExitOk;
  // What was not undone, and why, on stderr too (the report may be JSON).
  std::fprintf(stderr, "nexus: undo: %u conflict(s), %u failed\n", report.getConflicts(), report.getFailed());
  for (auto s : report.getSteps()) {
    const std::string status = s.getStatus().cStr();
    if (status != "conflict" && status != "failed") continue;
    std::fprintf(stderr, "nexus: undo: operation %lld%s%s: %s: %s\n", static_cast<long long>(s.getOpId()),
                 s.getPath().size() ? " " : "", s.getPath().cStr(), status.c_str(), s.getReason().cStr());
  }
  return kExitFailed;
}

}  // namespace

void AddUndoCommands(std::vector<Command>* t) {
  t->push_back({{"undo"},
                {"--agent", "--task", "--subject", "--since", "--until"},
                {"--dry-run", "--force"},
                "undo OP_ID... | --agent A [--since T] | --task T [--since T] | --subject S --since T "
                "[--until T] [--dry-run] [--force]",
                "Take back logged operations (see `nexus ops log`), newest first: contents go\n"
                "back to the version before, deleted files are recreated, renames and mkdirs\n"
                "reversed (with what the selection made inside, .git folders included),\n"
                "created files removed (they stay in history), modes, owners and xattrs set\n"
                "back. A path someone outside the selection changed since is a conflict and\n"
                "left alone unless --force; the rest still applies. --dry-run prints the plan.\n"
                "Only an admin, the subject itself or the agent's owner may undo an operation;\n"
                "others' are skipped. The undo is itself logged (command \"undo\") and audited.\n"
                "--since/--until: 30m, 1h, 2d, RFC 3339 or Unix seconds. Exit 1 when a step\n"
                "conflicted or failed (the report is still printed).",
                0,
                SIZE_MAX,
                Undo});
}

}  // namespace nexus::cli
