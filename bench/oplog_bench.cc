// The operations log at scale: appends N operations (default 1,000,000) by
// 50 agents over 2,000 paths in batches of 1,000, then times the first page
// of 1000 for the questions `nexus ops log` asks. Prints one JSON object.
//
//   nexus_bench_oplog [--ops N] [--dir DIR] [--runs R]
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "ops/op_log.h"

using nexus::ops::Operation;
using nexus::ops::OpFilter;
using nexus::ops::OpKind;
using nexus::ops::OpLog;

namespace {

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// p50 and p99 of `runs` timings of `query`, in ms.
template <typename Q>
std::pair<double, double> Time(int runs, Q query) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    query(i);
    ms.push_back(Ms(std::chrono::steady_clock::now() - t0));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  long n = 1'000'000;
  int runs = 50;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--ops") n = std::atol(argv[i + 1]);
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
  }
  bool own = dir.empty();
  if (own) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-oplog-bench.XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  auto log = OpLog::Open({.path = dir + "/oplog.db"});
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t start_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Operation> batch;
  for (long i = 0; i < n; i += static_cast<long>(batch.size())) {
    batch.clear();
    for (long j = i; j < std::min(n, i + 1000); ++j) {
      Operation op;
      op.time_ns = start_ns + j * 1000;
      op.kind = j % 7 == 0 ? OpKind::kCreate : OpKind::kWrite;
      op.path = "/work/d" + std::to_string(j % 40) + "/f" + std::to_string(j % 2000);
      op.agent_id = "a" + std::to_string(j % 50);
      op.subject = "agent:" + op.agent_id;
      op.task_id = "t" + std::to_string(j / 5000);
      op.uid = 1000;
      op.pid = 100 + static_cast<pid_t>(j % 300);
      op.command = "python3";
      op.version_after = static_cast<uint32_t>(j / 2000 + 1);
      op.version_before = op.version_after - 1;
      batch.push_back(std::move(op));
    }
    if (auto st = (*log)->Append(batch); !st.ok()) {
      std::fprintf(stderr, "append: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  const double append_s = Ms(std::chrono::steady_clock::now() - t0) / 1000;
  auto page = [&](OpFilter f) {
    return [&, f](int) {
      auto r = (*log)->Query(f, 0, 1000);
      if (!r.ok() || r->empty()) std::fprintf(stderr, "query failed or empty\n");
    };
  };
  OpFilter agent;
  agent.agent_id = "a7";
  OpFilter subject;
  subject.subject = "agent:a9";
  OpFilter path;
  path.path = "/work/d3";
  OpFilter task;
  task.task_id = "t42";
  auto [agent_p50, agent_p99] = Time(runs, page(agent));
  auto [subject_p50, subject_p99] = Time(runs, page(subject));
  auto [path_p50, path_p99] = Time(runs, page(path));
  auto [task_p50, task_p99] = Time(runs, page(task));
  auto [all_p50, all_p99] = Time(runs, page(OpFilter{}));
  std::printf(
      "{\"operations\":%ld,\"append_ops_per_s\":%.0f,"
      "\"first_page_ms\":{\"agent\":{\"p50\":%.2f,\"p99\":%.2f},\"subject\":{\"p50\":%.2f,\"p99\":%.2f},"
      "\"path\":{\"p50\":%.2f,\"p99\":%.2f},\"task\":{\"p50\":%.2f,\"p99\":%.2f},"
      "\"all\":{\"p50\":%.2f,\"p99\":%.2f}}}\n",
      n, static_cast<double>(n) / append_s, agent_p50, agent_p99, subject_p50, subject_p99, path_p50,
      path_p99, task_p50, task_p99, all_p50, all_p99);
  log->reset();
  if (own) std::filesystem::remove_all(dir);
  return 0;
}
