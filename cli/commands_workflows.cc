// nexus workflows load|discover|list|show|test|enable|disable|delete|runs:
// workflows that react to file events (rpc/nexus.capnp Workflows,
// docs/workflows.md "Commands").
//
// Workflow files are read here and sent as text; the daemon parses them,
// so a bad file is the daemon's usage error ("FILE:LINE: ...", exit 64).
#include <dirent.h>

#include <algorithm>
#include <cstdio>

#include "base/file_util.h"
#include "cli/cli.h"

namespace nexus::cli {
namespace {

using json = nlohmann::json;

int WithWorkflows(Cli& cli, const std::function<int(NexusClient&, rpc::Workflows::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto wf = (*c)->session().workflowsRequest().send().getWorkflows();
  return fn(**c, wf);
}

// What the daemon refused; EINVAL (a bad file, a bad path) is a usage error.
int FailReply(Cli& cli, const Status& st) { return cli.Fail(st, /*usage=*/st.code() == EINVAL); }

json TimeJson(int64_t ns) { return ns ? json(FormatTime(ns)) : json(); }

json InfoJson(rpc::WorkflowInfo::Reader w) {
  return {{"name", w.getName().cStr()},
          {"version", w.getVersion().cStr()},
          {"description", w.getDescription().cStr()},
          {"owner", w.getOwner().cStr()},
          {"enabled", w.getEnabled()},
          {"source", w.getSource().cStr()},
          {"loaded", TimeJson(w.getLoadedAtNs())},
          {"triggers", TextsJson(w.getTriggers())},
          {"actions", TextsJson(w.getActions())},
          {"runs", w.getRuns()},
          {"dropped", w.getDropped()},
          {"last_run", TimeJson(w.getLastRunNs())},
          {"last_status", w.getLastStatus().size() ? json(w.getLastStatus().cStr()) : json()}};
}

json LinesJson(capnp::List<rpc::WorkflowTestLine>::Reader lines) {
  json out = json::array();
  for (auto l : lines)
    out.push_back({{"what", l.getWhat().cStr()}, {"ok", l.getOk()}, {"detail", l.getDetail().cStr()}});
  return out;
}

// Sends one workflow file; prints what was loaded (or checked). With a
// `report` (discover), a failure is added to it and printed to stderr only.
int LoadFile(Cli& cli, NexusClient& c, rpc::Workflows::Client& wf, const std::string& file, bool dry_run,
             json* report) {
  auto fail = [&](const Status& st, bool usage) {
    if (!report) return cli.Fail(st, usage);
    report->push_back({{"file", file}, {"error", st.message()}});
    std::fprintf(stderr, "nexus: %s\n", st.message().c_str());
    return usage ? kExitUsage : ExitCodeFor(st);
  };
  auto text = ReadTextFile(file, file);
  if (!text.ok()) return fail(text.status(), false);
  auto req = wf.loadRequest();
  req.setYaml(*text);
  req.setSource(file);
  req.setDryRun(dry_run);
  auto r = c.Wait(req.send());
  if (Status st = ReplyStatus(r); !st.ok()) return fail(st, st.code() == EINVAL);
  auto w = r->getWorkflow();
  if (report) {
    json j = InfoJson(w);
    j["file"] = file;
    j["loaded"] = !dry_run;
    report->push_back(std::move(j));
  } else if (cli.json) {
    cli.PrintJson(InfoJson(w));
  }
  if (!cli.json)
    std::printf("%s %s from %s (%s, owner %s)\n", dry_run ? "found" : "loaded", w.getName().cStr(),
                file.c_str(), w.getEnabled() ? "enabled" : "disabled", w.getOwner().cStr());
  return kExitOk;
}

int Load(Cli& cli, const Args& a) {
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    return LoadFile(cli, c, wf, a.positional[0], a.Has("dry-run"), nullptr);
  });
}

int Discover(Cli& cli, const Args& a) {
  const std::string& dir = a.positional[0];
  std::vector<std::string> files;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return cli.Fail(Status::FromErrno(dir), /*usage=*/errno == ENOENT || errno == ENOTDIR);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    auto ends = [&](const std::string& s) {
      return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (name[0] != '.' && (ends(".yaml") || ends(".yml"))) files.push_back(dir + "/" + name);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    json report = json::array();
    int rc = kExitOk;
    for (const auto& f : files) {
      int one = LoadFile(cli, c, wf, f, !a.Has("load"), &report);
      if (one != kExitOk && rc == kExitOk) rc = one;
    }
    if (cli.json) cli.PrintJson({{"directory", dir}, {"workflows", std::move(report)}});
    if (!cli.json && files.empty()) std::printf("no workflow files (*.yaml, *.yml) in %s\n", dir.c_str());
    return rc;
  });
}

int List(Cli& cli, const Args&) {
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto r = c.Wait(wf.listRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto w : r->getWorkflows()) list.push_back(InfoJson(w));
      cli.PrintJson({{"workflows", std::move(list)}});
      return kExitOk;
    }
    if (r->getWorkflows().size() == 0) {
      std::printf("no workflows (load one: nexus workflows load FILE)\n");
      return kExitOk;
    }
    std::printf("%-24s %-8s %-20s %6s %7s %-10s %s\n", "NAME", "STATE", "OWNER", "RUNS", "DROPPED", "LAST",
                "TRIGGERS");
    for (auto w : r->getWorkflows())
      std::printf(
          "%-24s %-8s %-20s %6llu %7llu %-10s %s\n", w.getName().cStr(),
          w.getEnabled() ? "enabled" : "disabled", w.getOwner().cStr(),
          static_cast<unsigned long long>(w.getRuns()), static_cast<unsigned long long>(w.getDropped()),
          w.getLastStatus().size() ? w.getLastStatus().cStr() : "-", JoinTexts(w.getTriggers()).c_str());
    return kExitOk;
  });
}

int Show(Cli& cli, const Args& a) {
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto req = wf.showRequest();
    req.setName(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    auto w = r->getWorkflow();
    if (cli.json) {
      json j = InfoJson(w);
      j["yaml"] = w.getYaml().cStr();
      cli.PrintJson(j);
      return kExitOk;
    }
    std::printf("name:        %s\n", w.getName().cStr());
    if (w.getVersion().size()) std::printf("version:     %s\n", w.getVersion().cStr());
    if (w.getDescription().size()) std::printf("description: %s\n", w.getDescription().cStr());
    std::printf("owner:       %s\n", w.getOwner().cStr());
    std::printf("state:       %s\n", w.getEnabled() ? "enabled" : "disabled");
    std::printf("source:      %s (loaded %s)\n", w.getSource().cStr(), FormatTime(w.getLoadedAtNs()).c_str());
    std::printf("triggers:    %s\n", JoinTexts(w.getTriggers()).c_str());
    std::printf("actions:     %s\n", JoinTexts(w.getActions()).c_str());
    std::printf("runs:        %llu (last %s %s), %llu dropped\n",
                static_cast<unsigned long long>(w.getRuns()), FormatTime(w.getLastRunNs()).c_str(),
                w.getLastStatus().cStr(), static_cast<unsigned long long>(w.getDropped()));
    return kExitOk;
  });
}

int Test(Cli& cli, const Args& a) {
  const std::string file = a.Get("file");
  if (file.empty() || file[0] != '/')
    return cli.Usage("--file takes an absolute path, e.g. /workspace/inbox/a.txt");
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto req = wf.testRequest();
    req.setName(a.positional[0]);
    req.setFile(file);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson({{"workflow", a.positional[0]},
                     {"path", r->getPath().cStr()},
                     {"triggers", LinesJson(r->getTriggers())},
                     {"conditions", LinesJson(r->getConditions())},
                     {"would_run", r->getWouldRun()},
                     {"actions", LinesJson(r->getActions())}});
      return kExitOk;
    }
    std::printf("dry run of %s for %s (nothing is changed)\n", a.positional[0].c_str(), r->getPath().cStr());
    for (auto l : r->getTriggers())
      std::printf("  trigger   %-40s %s\n", l.getWhat().cStr(), l.getDetail().cStr());
    for (auto l : r->getConditions())
      std::printf("  condition %-40s %s (%s)\n", l.getWhat().cStr(), l.getOk() ? "holds" : "fails",
                  l.getDetail().cStr());
    std::printf("%s\n", r->getWouldRun() ? "would run:" : "would not run; its actions would be:");
    int i = 0;
    for (auto l : r->getActions())
      std::printf("  %d. %s: %s\n", ++i, l.getWhat().cStr(), l.getDetail().cStr());
    return kExitOk;
  });
}

int SetEnabled(Cli& cli, const Args& a, bool enabled) {
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto req = wf.setEnabledRequest();
    req.setName(a.positional[0]);
    req.setEnabled(enabled);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson(InfoJson(r->getWorkflow()));
    } else {
      std::printf("%s %s\n", enabled ? "enabled" : "disabled", a.positional[0].c_str());
    }
    return kExitOk;
  });
}

int Delete(Cli& cli, const Args& a) {
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto req = wf.deleteRequest();
    req.setName(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson({{"deleted", a.positional[0]}});
    } else {
      std::printf("deleted %s and its runs\n", a.positional[0].c_str());
    }
    return kExitOk;
  });
}

int Runs(Cli& cli, const Args& a) {
  auto limit = a.Number("limit", 20, 0, 1e6);
  if (!limit.ok()) return cli.Usage(limit.status().message());
  return WithWorkflows(cli, [&](NexusClient& c, rpc::Workflows::Client& wf) -> int {
    auto req = wf.runsRequest();
    req.setName(a.positional[0]);
    req.setLimit(static_cast<uint32_t>(*limit));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      json runs = json::array();
      for (auto run : r->getRuns())
        runs.push_back({{"id", run.getId()},
                        {"status", run.getStatus().cStr()},
                        {"trigger", run.getTrigger().cStr()},
                        {"path", run.getPath().cStr()},
                        {"triggered", TimeJson(run.getTriggeredAtNs())},
                        {"triggered_ns", run.getTriggeredAtNs()},
                        {"started", TimeJson(run.getStartedAtNs())},
                        {"started_ns", run.getStartedAtNs()},
                        {"duration_ms", run.getDurationNs() / 1e6},
                        {"output", run.getOutput().cStr()},
                        {"error", run.getError().size() ? json(run.getError().cStr()) : json()}});
      cli.PrintJson({{"workflow", a.positional[0]}, {"runs", std::move(runs)}});
      return kExitOk;
    }
    if (r->getRuns().size() == 0) {
      std::printf("%s has not run\n", a.positional[0].c_str());
      return kExitOk;
    }
    for (auto run : r->getRuns()) {
      std::printf("#%llu %s %s %.1f ms  %s  %s\n", static_cast<unsigned long long>(run.getId()),
                  FormatTime(run.getStartedAtNs()).c_str(), run.getStatus().cStr(), run.getDurationNs() / 1e6,
                  run.getTrigger().cStr(), run.getPath().cStr());
      for (const char* text : {run.getOutput().cStr(), run.getError().cStr()}) {
        std::string s(text);
        size_t pos = 0;
        while (pos < s.size()) {
          size_t nl = s.find('\n', pos);
          if (nl == std::string::npos) nl = s.size();
          std::printf("    %s\n", s.substr(pos, nl - pos).c_str());
          pos = nl + 1;
        }
      }
    }
    return kExitOk;
  });
}

}  // namespace

void AddWorkflowCommands(std::vector<Command>* t) {
  t->push_back({{"workflows", "load"},
                {},
                {"--dry-run"},
                "workflows load FILE [--dry-run]",
                "Load a workflow file (YAML: name, version, description, triggers,\n"
                "conditions, actions; docs/workflows.md). You own it: its actions act as\n"
                "you, under your permissions. Loading a name you own again replaces it\n"
                "(its enabled state and runs are kept). A new workflow is enabled.\n"
                "An unknown key or a bad pattern is a usage error naming the line.\n"
                "--dry-run: check the file, load nothing.",
                1,
                1,
                Load});
  t->push_back({{"workflows", "discover"},
                {},
                {"--load"},
                "workflows discover DIR [--load]",
                "Check every *.yaml and *.yml file in DIR (e.g. .nexus/workflows) and list\n"
                "the workflows found; --load loads them too. Exit 64 if a file is bad\n"
                "(the others are still checked or loaded).",
                1,
                1,
                Discover});
  t->push_back({{"workflows", "list"},
                {},
                {},
                "workflows list",
                "Your workflows (admins: all) with their state, owner, runs and drops.",
                0,
                0,
                List});
  t->push_back({{"workflows", "show"},
                {},
                {},
                "workflows show NAME",
                "One workflow: triggers, actions, state and runs (--json adds its YAML).",
                1,
                1,
                Show});
  t->push_back({{"workflows", "test"},
                {"--file"},
                {},
                "workflows test NAME --file PATH",
                "Dry run for PATH (a namespace path; /workspace is /zone/local): which\n"
                "trigger matches, whether the conditions hold, and what each action would\n"
                "do. Nothing is changed.",
                1,
                1,
                Test});
  t->push_back({{"workflows", "enable"},
                {},
                {},
                "workflows enable NAME",
                "Let NAME react to changes again.",
                1,
                1,
                [](Cli& cli, const Args& a) { return SetEnabled(cli, a, true); }});
  t->push_back({{"workflows", "disable"},
                {},
                {},
                "workflows disable NAME",
                "Stop NAME reacting to changes (it stays loaded, with its runs).",
                1,
                1,
                [](Cli& cli, const Args& a) { return SetEnabled(cli, a, false); }});
  t->push_back(
      {{"workflows", "delete"}, {}, {}, "workflows delete NAME", "Remove NAME and its runs.", 1, 1, Delete});
  t->push_back({{"workflows", "runs"},
                {"--limit"},
                {},
                "workflows runs NAME [--limit N]",
                "NAME's runs, newest first (default 20; 0: all kept): status, duration,\n"
                "trigger, path, each action's output and error.",
                1,
                1,
                Runs});
}

}  // namespace nexus::cli
