// Mesh director benchmark: placements per second on one director with
// 1,000 registered nodes and 100,000 queued tasks, for the in-memory and the
// SQLite store (synchronous=FULL, the durable setting); heartbeats handled
// per second; the director's memory (RSS growth from an empty process).
//
// Usage: nexus_bench_mesh [--nodes N] [--tasks N] [--dir DIR]
// Prints one JSON object per store. Each store runs in a child process of
// its own, so the memory figure of one is not hidden by the other's heap.
#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mesh/director.h"
#include "mesh/memory_store.h"
#include "mesh/sqlite_store.h"

namespace nexus::mesh {
namespace {

using Steady = std::chrono::steady_clock;

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

// Resident set size in MiB, from /proc/self/statm.
double RssMiB() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 20);
}

[[noreturn]] void Die(const Status& st, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, st.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(r.status(), what);
  return std::move(r).value();
}

struct Config {
  int nodes = 1000;
  int tasks = 100000;
  std::string dir;
};

void Run(bool sqlite, const Config& cfg) {
  const std::string base = cfg.dir + (sqlite ? "/sqlite" : "/memory");
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  ManualClock clock;  // leases never expire during the run
  DirectorOptions options;
  options.registration_key = "bench-registration-key";
  options.results_dir = base + "/results";

  const double rss0 = RssMiB();
  auto open_store = [&](bool full_sync) -> std::unique_ptr<Store> {
    if (!sqlite) return std::make_unique<MemoryStore>(&clock);
    return Check(SqliteStore::Open(base + "/mesh.db", &clock, {full_sync}), "open store");
  };
  // Loading 100,000 one-task transactions with an fsync each would measure
  // the disk, not the director: the queue is filled with synchronous=NORMAL,
  // then the director is reopened with FULL for the measured part.
  std::unique_ptr<Store> store = open_store(false);
  auto director = Check(Director::Open(store.get(), &clock, options), "open director");

  std::vector<NodeCredential> nodes;
  auto t0 = Steady::now();
  for (int i = 0; i < cfg.nodes; ++i) {
    nodes.push_back(Check(
        director->Register(options.registration_key, "node-" + std::to_string(i),
                           "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":7070", 8),
        "register"));
    if (Status st = director->SetTrust(nodes.back().node_id, TrustTier::kTrusted); !st.ok()) Die(st, "trust");
  }
  const double register_s = Seconds(t0);

  Submitter key{"bench-key", Submitter::kScopeSubmitTasks, 0};
  t0 = Steady::now();
  for (int i = 0; i < cfg.tasks; ++i)
    Check(director->Create({"task-" + std::to_string(i), "make test", "zone-" + std::to_string(i % 50),
                            TrustTier::kTrusted, 3, false},
                           key),
          "create");
  const double create_s = Seconds(t0);

  double reopen_s = 0;
  if (sqlite) {
    director.reset();
    store.reset();
    t0 = Steady::now();
    store = open_store(true);
    director = Check(Director::Open(store.get(), &clock, options), "reopen director");
    reopen_s = Seconds(t0);
  }

  // Heartbeats: every node reports, round after round.
  constexpr int kRounds = 100;
  t0 = Steady::now();
  for (int r = 0; r < kRounds; ++r)
    for (const NodeCredential& n : nodes)
      if (Status st = director->Heartbeat(n.node_id, n.credential, r % 7, 8); !st.ok()) Die(st, "heartbeat");
  const double heartbeat_s = Seconds(t0);

  t0 = Steady::now();
  ScheduleSummary sum = Check(director->ScheduleAll(), "schedule");
  const double schedule_s = Seconds(t0);
  if (sum.assigned != static_cast<size_t>(cfg.tasks)) {
    std::fprintf(stderr, "only %zu of %d tasks placed\n", sum.assigned, cfg.tasks);
    std::exit(1);
  }
  // The director's own state, not the transient list of 100,000 placements.
  sum.placements.clear();
  sum.placements.shrink_to_fit();
  ::malloc_trim(0);
  int64_t max_active = 0;
  for (const NodeInfo& n : director->ListNodes()) max_active = std::max(max_active, n.active_tasks);
  const double rss = RssMiB() - rss0;

  std::printf(
      "{\"store\": \"%s\", \"nodes\": %d, \"tasks\": %d, \"register_per_s\": %.0f, "
      "\"create_per_s\": %.0f, \"reopen_s\": %.2f, \"heartbeats_per_s\": %.0f, "
      "\"placements_per_s\": %.0f, \"schedule_all_s\": %.2f, \"max_tasks_per_node\": %lld, "
      "\"mean_tasks_per_node\": %.1f, \"rss_delta_mib\": %.1f}\n",
      sqlite ? "sqlite (synchronous=FULL)" : "memory", cfg.nodes, cfg.tasks, cfg.nodes / register_s,
      cfg.tasks / create_s, reopen_s, kRounds * cfg.nodes / heartbeat_s, cfg.tasks / schedule_s, schedule_s,
      static_cast<long long>(max_active), static_cast<double>(cfg.tasks) / cfg.nodes, rss);
  std::fflush(stdout);
  director.reset();
  store.reset();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace nexus::mesh

int main(int argc, char** argv) {
  nexus::mesh::Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--nodes"))
      cfg.nodes = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tasks"))
      cfg.tasks = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir"))
      cfg.dir = argv[i + 1];
  }
  bool own_dir = cfg.dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-mesh-bench.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return 1;
    cfg.dir = tmpl;
  }
  int rc = 0;
  for (bool sqlite : {false, true}) {
    pid_t pid = ::fork();
    if (pid == 0) {
      nexus::mesh::Run(sqlite, cfg);
      std::_Exit(0);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      rc = 1;
  }
  if (own_dir) std::filesystem::remove_all(cfg.dir);
  return rc;
}
