// nexus ops log|gc|stats: the operations log (rpc/nexus.capnp Ops).
#include <cstdio>

#include "cli/cli.h"

namespace nexus::cli {

using json = nlohmann::json;

json OpRecordJson(rpc::OpRecord::Reader r) {
  // The keys and order of ops::ToJsonLine (ops/operation.cc), plus "id".
  json j = json::object();
  j["cursor"] = r.getId();
  j["time_ns"] = r.getTimeNs();
  j["op"] = r.getKind().cStr();
  j["path"] = r.getPath().cStr();
  j["old_path"] = r.getOldPath().size() ? json(r.getOldPath().cStr()) : json();
  j["subject"] = r.getSubject().cStr();
  j["uid"] = r.getUid();
  j["pid"] = r.getPid();
  j["command"] = r.getCommand().cStr();
  j["agent_id"] = r.getAgentId().cStr();
  j["task_id"] = r.getTaskId().cStr();
  j["version"] = r.getVersionAfter() ? json(r.getVersionAfter()) : json();
  if (r.getVersionBefore()) j["version_before"] = r.getVersionBefore();
  if (r.getDetail().size()) {
    json detail = json::parse(r.getDetail().cStr(), nullptr, /*allow_exceptions=*/false);
    if (!detail.is_discarded()) j["detail"] = std::move(detail);
  }
  j["id"] = r.getId();
  return j;
}

namespace {

// Runs `fn` with the connected client and its Ops capability.
int WithOps(Cli& cli, const std::function<int(NexusClient&, rpc::Ops::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto ops = (*c)->session().opsRequest().send().getOps();
  return fn(**c, ops);
}

// "/a -> /b" for a rename or link, else the path.
std::string Where(rpc::OpRecord::Reader r) {
  if (r.getOldPath().size()) return std::string(r.getOldPath().cStr()) + " -> " + r.getPath().cStr();
  return r.getPath().cStr();
}

std::string Version(rpc::OpRecord::Reader r) {
  if (!r.getVersionAfter() && !r.getVersionBefore()) return "-";
  if (!r.getVersionAfter()) return "v" + std::to_string(r.getVersionBefore()) + " ->";
  if (!r.getVersionBefore()) return "v" + std::to_string(r.getVersionAfter());
  return "v" + std::to_string(r.getVersionBefore()) + " -> v" + std::to_string(r.getVersionAfter());
}

int Log(Cli& cli, const Args& a) {
  int64_t since = 0, until = 0;
  if (a.Has("since")) {
    auto s = ParseSince(a.Get("since"));
    if (!s.ok()) return cli.Fail(s.status(), true);
    since = std::max<int64_t>(*s, 1);
  }
  if (a.Has("until")) {
    auto u = ParseSince(a.Get("until"), "--until");
    if (!u.ok()) return cli.Fail(u.status(), true);
    until = std::max<int64_t>(*u, 1);
  }
  auto limit = a.Number("limit", 1000, 1, 10000);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  auto before = a.Number("before", 0, 0, 9e18);
  if (!before.ok()) return cli.Fail(before.status(), true);
  const std::string path = a.Get("path");
  if (a.Has("path") && (path.empty() || path[0] != '/')) return cli.Usage("--path must be an absolute path");
  return WithOps(cli, [&](NexusClient& c, rpc::Ops::Client& ops) -> int {
    auto req = ops.logRequest();
    auto f = req.initFilter();
    f.setSinceNs(since);
    f.setUntilNs(until);
    f.setPath(path);
    f.setSubject(a.Get("subject"));
    f.setAgentId(a.Get("agent"));
    f.setTaskId(a.Get("task"));
    f.setKind(a.Get("op"));
    req.setBeforeId(static_cast<int64_t>(*before));
    req.setLimit(static_cast<uint32_t>(*limit));
    auto r = c.Wait(req.send());
    // The daemon judges the filter (e.g. an unknown --op): a bad one is a
    // usage error.
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st, /*usage=*/st.code() == EINVAL);
    if (cli.json) {
      json list = json::array();
      for (auto op : r->getOps()) list.push_back(OpRecordJson(op));
      cli.PrintJson({{"operations", std::move(list)}, {"next_before_id", r->getNextBeforeId()}});
      return kExitOk;
    }
    std::printf("%-8s %-24s %-11s %-20s %-14s %s\n", "ID", "TIME", "OP", "SUBJECT", "VERSION", "PATH");
    for (auto op : r->getOps()) {
      std::string who = op.getSubject().cStr();
      if (op.getAgentId().size() && who != "agent:" + std::string(op.getAgentId().cStr()))
        who += " (agent " + std::string(op.getAgentId().cStr()) + ")";
      if (op.getTaskId().size()) who += " [task " + std::string(op.getTaskId().cStr()) + "]";
      std::printf("%-8lld %-24s %-11s %-20s %-14s %s\n", static_cast<long long>(op.getId()),
                  FormatTime(op.getTimeNs()).c_str(), op.getKind().cStr(), who.c_str(), Version(op).c_str(),
                  Where(op).c_str());
    }
    if (r->getNextBeforeId())
      std::fprintf(stderr, "nexus: more with --before %lld\n", static_cast<long long>(r->getNextBeforeId()));
    return kExitOk;
  });
}

int Gc(Cli& cli, const Args& a) {
  auto days = a.Number("keep-days", 0, 1, 100000);
  if (!days.ok()) return cli.Fail(days.status(), true);
  return WithOps(cli, [&](NexusClient& c, rpc::Ops::Client& ops) -> int {
    auto req = ops.gcRequest();
    req.setKeepDays(static_cast<uint32_t>(*days));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"removed", r->getRemoved()}, {"oldest_id", r->getOldestId()}});
    } else {
      std::printf("removed %llu operations; oldest kept: %lld\n",
                  static_cast<unsigned long long>(r->getRemoved()), static_cast<long long>(r->getOldestId()));
    }
    return kExitOk;
  });
}

int Stats(Cli& cli, const Args&) {
  return WithOps(cli, [&](NexusClient& c, rpc::Ops::Client& ops) -> int {
    auto r = c.Wait(ops.statsRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"operations", r->getOperations()},
                     {"oldest_id", r->getOldestId()},
                     {"newest_id", r->getNewestId()},
                     {"oldest_ns", r->getOldestNs()},
                     {"keep_days", r->getKeepDays()}});
    } else {
      std::printf("operations: %llu\n", static_cast<unsigned long long>(r->getOperations()));
      std::printf("ids:        %lld .. %lld\n", static_cast<long long>(r->getOldestId()),
                  static_cast<long long>(r->getNewestId()));
      std::printf("oldest:     %s\n", FormatTime(r->getOldestNs()).c_str());
      std::printf("kept:       %u days\n", r->getKeepDays());
    }
    return kExitOk;
  });
}

}  // namespace

void AddOpsCommands(std::vector<Command>* t) {
  t->push_back(
      {{"ops", "log"},
       {"--since", "--until", "--path", "--subject", "--agent", "--task", "--op", "--limit", "--before"},
       {},
       "ops log [--since 1h|RFC3339] [--until T] [--path P] [--subject S] [--agent A] [--task T]\n"
       "        [--op KIND] [--limit N] [--before ID]",
       "The operations log, newest first: who changed what, when, with the version\n"
       "before and after. Filters combine (AND); --path matches the path or below it\n"
       "(either side of a rename). KIND: create write truncate rename link symlink\n"
       "unlink mkdir rmdir chmod chown setxattr removexattr restore rollback.\n"
       "--limit (default 1000, at most 10000) per page; the next page: --before ID\n"
       "with the id printed (--json: next_before_id). Non-admins see their own\n"
       "operations and those of agents they own, on paths they may read.",
       0,
       0,
       Log});
  t->push_back({{"ops", "gc"},
                {"--keep-days"},
                {},
                "ops gc [--keep-days N]",
                "Drop operations older than N days (default: the daemon's --oplog-keep-days).\n"
                "Admins only; the daemon also runs it daily.",
                0,
                0,
                Gc});
  t->push_back({{"ops", "stats"},
                {},
                {},
                "ops stats",
                "How many operations the log keeps, their ids and age, and the retention.",
                0,
                0,
                Stats});
}

}  // namespace nexus::cli
