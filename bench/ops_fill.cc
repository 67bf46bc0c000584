// nexus_bench_ops_fill: fills an operations log (DATA/oplog.db) with many
// operations, fast, through OpLog itself, before a daemon opens the data
// dir — so `nexus ops log` can be timed over a log of a million operations
// without making a million changes through the mount.
//
//   nexus_bench_ops_fill --db DATA/oplog.db [--ops N] [--agents K]
//                        [--agent A] [--share P] [--days D] [--batch B]
//
// The operations are spread evenly over the last D days (oldest first) by
// K agents "agent-0".."agent-K-1" (subject agent:ID, task "task-ID-n") and
// two human users; agent A (default "bench") makes every P-th operation
// (default 100: 1%). Kinds and paths are a plausible mix: writes with
// versions, creates, renames, unlinks, mkdirs, chmods over 1,000 folders.
// Prints one JSON object: how many were appended, A's count, and the time.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op_log.h"
#include "ops/operation.h"

namespace {

using nexus::ops::Operation;
using nexus::ops::OpKind;

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "nexus_bench_ops_fill: %s\n"
               "usage: nexus_bench_ops_fill --db PATH [--ops N] [--agents K] [--agent A] [--share P]\n"
               "                            [--days D] [--batch B]\n",
               why);
  std::exit(64);
}

int64_t ParseCount(const char* s, const char* what) {
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0) Usage(what);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db, agent = "bench";
  int64_t total = 1'000'000, agents = 100, share = 100, days = 7, batch_size = 10'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--db")
      db = v;
    else if (a == "--ops")
      total = ParseCount(v, "--ops wants a positive number");
    else if (a == "--agents")
      agents = ParseCount(v, "--agents wants a positive number");
    else if (a == "--agent")
      agent = v;
    else if (a == "--share")
      share = ParseCount(v, "--share wants a positive number");
    else if (a == "--days")
      days = ParseCount(v, "--days wants a positive number");
    else if (a == "--batch")
      batch_size = ParseCount(v, "--batch wants a positive number");
    else
      Usage(("unknown option " + a).c_str());
  }
  if (db.empty()) Usage("--db is required");

  auto log = nexus::ops::OpLog::Open({.path = db});
  if (!log.ok()) {
    std::fprintf(stderr, "nexus_bench_ops_fill: %s\n", log.status().ToString().c_str());
    return 1;
  }
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t span_ns = days * 86'400LL * 1'000'000'000LL;
  const int64_t step_ns = span_ns / total;
  constexpr OpKind kMix[] = {OpKind::kWrite,  OpKind::kWrite, OpKind::kWrite,  OpKind::kWrite,
                             OpKind::kCreate, OpKind::kWrite, OpKind::kRename, OpKind::kUnlink,
                             OpKind::kMkdir,  OpKind::kChmod};
  int64_t mine = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Operation> batch;
  batch.reserve(static_cast<size_t>(batch_size));
  for (int64_t n = 0; n < total;) {
    batch.clear();
    for (; n < total && static_cast<int64_t>(batch.size()) < batch_size; ++n) {
      Operation op;
      op.time_ns = now_ns - span_ns + n * step_ns;
      op.kind = kMix[n % 10];
      op.pid = static_cast<pid_t>(1000 + n % 30000);
      std::string who;
      if (n % share == 0) {
        who = agent;
        ++mine;
      } else if (n % 7 == 3) {
        who = "";  // a human
      } else {
        who = "agent-" + std::to_string(n % agents);
      }
      if (who.empty()) {
        op.subject = n % 2 ? "user:alice" : "user:bob";
        op.uid = n % 2 ? 1000 : 1001;
        op.command = "vim";
      } else {
        op.subject = "agent:" + who;
        op.uid = 2000;
        op.command = "python3";
        op.agent_id = who;
        op.task_id = "task-" + who + "-" + std::to_string(n / 50'000);
      }
      std::string dir = "/proj/d" + std::to_string(n % 1000);
      op.path = dir + "/f" + std::to_string(n % 97) + ".txt";
      switch (op.kind) {
        case OpKind::kWrite:
          op.version_before = static_cast<uint32_t>(n / 97000 + 1);
          op.version_after = op.version_before + 1;
          break;
        case OpKind::kCreate:
          op.version_after = 1;
          break;
        case OpKind::kRename:
          op.old_path = dir + "/.f" + std::to_string(n % 97) + ".swp";
          break;
        case OpKind::kMkdir:
          op.path = dir + "/sub" + std::to_string(n % 13);
          break;
        case OpKind::kChmod:
          op.detail = R"({"mode_before":420,"mode_after":493})";
          break;
        default:
          break;
      }
      batch.push_back(std::move(op));
    }
    if (auto st = (*log)->Append(batch); !st.ok()) {
      std::fprintf(stderr, "nexus_bench_ops_fill: append: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"operations\": %lld, \"agent\": \"%s\", \"agent_operations\": %lld, \"seconds\": %.2f}\n",
              static_cast<long long>(total), agent.c_str(), static_cast<long long>(mine), secs);
  return 0;
}
