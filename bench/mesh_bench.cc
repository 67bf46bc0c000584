// Mesh director benchmark: placements per second on one director with
// 1,000 registered nodes and 100,000 queued tasks, for the in-memory and the
// SQLite store (synchronous=FULL, the durable setting) and, with --etcd, the
// etcd store; heartbeats handled per second; the director's memory (RSS
// growth from an empty process). With --etcd also the failover time: a
// leader stops renewing its election lease (as if killed) → the standby
// leads, reloads, extends the running leases and places a pending task;
// --failover-runs times, p50 and max.
//
// Usage: nexus_bench_mesh [--nodes N] [--tasks N] [--dir DIR]
//          [--etcd H:P[,H:P...] [--etcd-tasks N] [--election-ttl S] [--failover-runs N]]
//          [--schedule-pipeline N]
// Prints one JSON object per store; on etcd also the requests the
// placements cost (etcd's own grpc_server_handled_total, summed over the
// members, read from each member's /metrics before and after). Each store runs in a child process of
// its own, so the memory figure of one is not hidden by the other's heap.
//
// On etcd, registering and creating go through the director one call (one
// etcd transaction) each: their rates are measured on the first
// kEtcdSample of each, and the rest of the fleet and queue is made by a
// director on a memory store and copied into etcd (127 keys per
// transaction) before the etcd director opens on it, so that filling a
// queue of 100,000 does not take the whole run. The placements and
// heartbeats are all measured on the etcd director. Then a takeover with
// every task placed: a second director opens on the store and extends
// every lease (takeover_s).
#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <algorithm>
#include <thread>

#include <curl/curl.h>

#include "base/curl_util.h"
#include "mesh/director.h"
#include "mesh/etcd_election.h"
#include "mesh/etcd_store.h"
#include "mesh/fenced_store.h"
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
  std::string etcd;    // endpoints, "" = no etcd runs
  int etcd_tasks = 0;  // 0: --tasks
  int election_ttl_s = 2;
  int failover_runs = 10;
  int schedule_pipeline = 0;  // 0: the director's default
};

enum class Kind { kMemory, kSqlite, kEtcd };

// Requests each etcd member has handled, by gRPC method, summed over the
// members (the JSON gateway's calls are counted there too).
std::map<std::string, double> EtcdRequests(const std::vector<std::string>& endpoints) {
  InitCurlOnce();
  std::map<std::string, double> out;
  for (const std::string& ep : endpoints) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
    std::string text;
    const std::string url = "http://" + ep + "/metrics";
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, AppendToString);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &text);
    if (curl_easy_perform(c.get()) != CURLE_OK) continue;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("grpc_server_handled_total{")) continue;
      const size_t m = line.find("grpc_method=\"");
      if (m == std::string::npos) continue;
      const size_t from = m + 13, to = line.find('"', from);
      out[line.substr(from, to - from)] += std::atof(line.substr(line.rfind(' ') + 1).c_str());
    }
  }
  return out;
}

// Registrations and creates timed one by one on etcd (see the top).
constexpr int kEtcdSample = 2000;

std::string FormatPerPlacement(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

std::string UniquePrefix(const char* what) {
  return "/nexus-bench/" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "/";
}

EtcdStore::Options EtcdOptions(const Config& cfg, const std::string& prefix) {
  EtcdStore::Options o;
  o.etcd.endpoints = Check(ParseEtcdUrl("etcd://" + cfg.etcd), "etcd endpoints");
  o.etcd.timeout = std::chrono::milliseconds(10000);
  o.prefix = prefix;
  return o;
}

void Run(Kind kind, Config cfg) {
  const bool sqlite = kind == Kind::kSqlite;
  if (kind == Kind::kEtcd && cfg.etcd_tasks > 0) cfg.tasks = cfg.etcd_tasks;
  const std::string base = cfg.dir + (sqlite ? "/sqlite" : kind == Kind::kEtcd ? "/etcd" : "/memory");
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  ManualClock clock;  // leases never expire during the run
  DirectorOptions options;
  options.registration_key = "bench-registration-key";
  options.results_dir = base + "/results";
  // Leases are not renewed during the run (the clock stands still), so
  // their TTL is long enough that etcd's backstop (3 x TTL of real time)
  // never ends one mid-run.
  options.lease_ttl = std::chrono::minutes(20);
  if (cfg.schedule_pipeline > 0) options.schedule_pipeline = cfg.schedule_pipeline;

  const double rss0 = RssMiB();
  const std::string prefix = UniquePrefix("placements");
  auto open_store = [&](bool full_sync) -> std::unique_ptr<Store> {
    if (kind == Kind::kEtcd)
      return Check(EtcdStore::Open(&clock, EtcdOptions(cfg, prefix)), "open etcd store");
    if (!sqlite) return std::make_unique<MemoryStore>(&clock);
    return Check(SqliteStore::Open(base + "/mesh.db", &clock, {full_sync}), "open store");
  };
  // Loading 100,000 one-task transactions with an fsync each would measure
  // the disk, not the director: the queue is filled with synchronous=NORMAL,
  // then the director is reopened with FULL for the measured part.
  std::unique_ptr<Store> store = open_store(false);
  double etcd_register_per_s = 0, etcd_create_per_s = 0;
  if (kind == Kind::kEtcd) {
    // The sample, on a prefix of its own.
    auto sample_store =
        Check(EtcdStore::Open(&clock, EtcdOptions(cfg, UniquePrefix("sample"))), "open etcd sample store");
    auto sample = Check(Director::Open(sample_store.get(), &clock, options), "open sample director");
    const int n = std::min(cfg.nodes, kEtcdSample), t = std::min(cfg.tasks, kEtcdSample);
    auto s0 = Steady::now();
    for (int i = 0; i < n; ++i)
      Check(sample->Register(options.registration_key, "node-" + std::to_string(i), "10.0.0.1:7070", 8),
            "register");
    etcd_register_per_s = n / Seconds(s0);
    s0 = Steady::now();
    for (int i = 0; i < t; ++i)
      Check(sample->Create({"task-" + std::to_string(i), "make test", "zone", TrustTier::kTrusted, 3, false},
                           {"bench-key", Submitter::kScopeSubmitTasks, 0}),
            "create");
    etcd_create_per_s = t / Seconds(s0);
  }
  // On etcd the fleet and queue are made in memory, then copied.
  std::unique_ptr<Store> fill_store = kind == Kind::kEtcd ? std::make_unique<MemoryStore>(&clock) : nullptr;
  auto director =
      Check(Director::Open(fill_store ? fill_store.get() : store.get(), &clock, options), "open director");

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
  if (fill_store) {
    director.reset();
    std::vector<Op> ops;
    for (const KeyValue& kv : fill_store->Range("")) {
      ops.push_back(Op::Put(kv.key, kv.value));
      if (ops.size() == store->MaxOpsPerCommit() - 1) Check(store->Commit(std::exchange(ops, {})), "copy");
    }
    if (!ops.empty()) Check(store->Commit(std::move(ops)), "copy");
    fill_store.reset();
    t0 = Steady::now();
    director = Check(Director::Open(store.get(), &clock, options), "open etcd director");
    reopen_s = Seconds(t0);
  }
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

  const std::vector<std::string> endpoints = kind == Kind::kEtcd
                                                 ? Check(ParseEtcdUrl("etcd://" + cfg.etcd), "etcd endpoints")
                                                 : std::vector<std::string>{};
  const auto requests0 = EtcdRequests(endpoints);
  t0 = Steady::now();
  ScheduleSummary sum = Check(director->ScheduleAll(), "schedule");
  const double schedule_s = Seconds(t0);
  std::string requests;  // during the placements, per placement
  if (kind == Kind::kEtcd) {
    double total = 0;
    for (const auto& [method, n] : EtcdRequests(endpoints)) {
      const double d = n - (requests0.count(method) ? requests0.at(method) : 0.0);
      if (d <= 0 || method == "Watch") continue;
      total += d;
      requests += ", \"etcd_" + method + "_per_placement\": " + FormatPerPlacement(d / cfg.tasks);
    }
    requests = ", \"etcd_requests_per_placement\": " + FormatPerPlacement(total / cfg.tasks) + requests;
  }
  if (sum.assigned != static_cast<size_t>(cfg.tasks)) {
    std::fprintf(stderr, "only %zu of %d tasks placed\n", sum.assigned, cfg.tasks);
    std::exit(1);
  }
  // A takeover with every task placed: a second director loads the store
  // (reading every active lease's deadline) and extends every lease.
  const auto requests1 = EtcdRequests(endpoints);
  t0 = Steady::now();
  {
    auto next = Check(Director::Open(store.get(), &clock, options), "open a second director");
    auto extended = Check(next->ExtendActiveLeases(), "extend the leases");
    if (extended != static_cast<size_t>(cfg.tasks)) {
      std::fprintf(stderr, "the takeover extended %zu of %d leases\n", extended, cfg.tasks);
      std::exit(1);
    }
  }
  const double takeover_s = Seconds(t0);
  if (kind == Kind::kEtcd) {
    double total = 0;
    for (const auto& [method, n] : EtcdRequests(endpoints))
      if (method != "Watch") total += n - (requests1.count(method) ? requests1.at(method) : 0.0);
    requests += ", \"etcd_requests_per_takeover_lease\": " + FormatPerPlacement(total / cfg.tasks);
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
      "\"mean_tasks_per_node\": %.1f, \"rss_delta_mib\": %.1f, \"takeover_s\": %.2f, \"schedule_pipeline\": "
      "%zu%s}\n",
      sqlite                ? "sqlite (synchronous=FULL)"
      : kind == Kind::kEtcd ? "etcd"
                            : "memory",
      cfg.nodes, cfg.tasks, etcd_register_per_s > 0 ? etcd_register_per_s : cfg.nodes / register_s,
      etcd_create_per_s > 0 ? etcd_create_per_s : cfg.tasks / create_s, reopen_s,
      kRounds * cfg.nodes / heartbeat_s, cfg.tasks / schedule_s, schedule_s,
      static_cast<long long>(max_active), static_cast<double>(cfg.tasks) / cfg.nodes, rss, takeover_s,
      options.schedule_pipeline, requests.c_str());
  std::fflush(stdout);
  director.reset();
  store.reset();
  std::filesystem::remove_all(base);
}

// Leader death → first placement by the new leader, `runs` times.
void Failover(const Config& cfg) {
  const Duration ttl = std::chrono::seconds(cfg.election_ttl_s);
  std::vector<double> times;
  for (int run = 0; run < cfg.failover_runs; ++run) {
    const std::string prefix = UniquePrefix("failover");
    const std::string results = cfg.dir + "/failover-results";
    DirectorOptions options;
    options.registration_key = "bench-registration-key";
    options.results_dir = results;
    auto store_a = Check(EtcdStore::Open(&DefaultClock(), EtcdOptions(cfg, prefix)), "open a");
    auto store_b = Check(EtcdStore::Open(&DefaultClock(), EtcdOptions(cfg, prefix)), "open b");
    FencedStore fenced_a(store_a.get()), fenced_b(store_b.get());
    auto director_b = Check(Director::Open(&fenced_b, &DefaultClock(), options), "open director b");
    std::atomic<bool> a_leads{false};
    std::atomic<bool> b_leads{false};
    EtcdElection a(store_a.get(), "a", ttl, [&](const ElectionView& v) {
      if (v.leading)
        fenced_a.Lead(v.key, v.revision);
      else
        fenced_a.StandBy(v.leader);
      a_leads = v.leading;
    });
    a.Start();
    while (!a_leads) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto director_a = Check(Director::Open(&fenced_a, &DefaultClock(), options), "open director a");
    // A fleet of one node and a running task, then a pending one.
    auto node = Check(director_a->Register(options.registration_key, "n", "10.0.0.1:7070", 4), "register");
    if (!director_a->SetTrust(node.node_id, TrustTier::kTrusted).ok()) std::exit(1);
    Submitter key{"bench-key", Submitter::kScopeSubmitTasks, 0};
    auto running = Check(
        director_a->Create({"running", "sleep 60", "zone", TrustTier::kTrusted, 3, false}, key), "create");
    auto placed = Check(director_a->Schedule(running.id), "schedule");
    if (!director_a->Start(placed.id, placed.lease_token).ok()) std::exit(1);
    EtcdElection b(store_b.get(), "b", ttl, [&](const ElectionView& v) {
      if (v.leading) {
        fenced_b.Lead(v.key, v.revision);
        b_leads = true;
      } else {
        fenced_b.StandBy(v.leader);
      }
    });
    b.Start();
    while (b.View().leader != "a") std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Check(director_a->Create({"pending", "true", "zone", TrustTier::kTrusted, 3, false}, key), "create");
    // The leader dies: no more renewals, no resignation.
    a.TEST_Pause(true);
    const auto died = Steady::now();
    while (!b_leads) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!director_b->Reload().ok() || !director_b->ExtendActiveLeases().ok()) std::exit(1);
    if (!director_b->Heartbeat(node.node_id, node.credential, 0, 4).ok()) std::exit(1);
    auto sum = Check(director_b->ScheduleAll(), "schedule on the new leader");
    if (sum.assigned != 1) {
      std::fprintf(stderr, "the new leader placed %zu tasks\n", sum.assigned);
      std::exit(1);
    }
    times.push_back(Seconds(died));
    a.TEST_Pause(false);
  }
  if (times.empty()) return;
  std::sort(times.begin(), times.end());
  std::printf(
      "{\"failover\": \"etcd\", \"election_ttl_s\": %d, \"runs\": %zu, \"p50_s\": %.2f, "
      "\"min_s\": %.2f, \"max_s\": %.2f}\n",
      cfg.election_ttl_s, times.size(), times[times.size() / 2], times.front(), times.back());
  std::fflush(stdout);
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
    else if (!std::strcmp(argv[i], "--etcd"))
      cfg.etcd = argv[i + 1];
    else if (!std::strcmp(argv[i], "--etcd-tasks"))
      cfg.etcd_tasks = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--election-ttl"))
      cfg.election_ttl_s = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--failover-runs"))
      cfg.failover_runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--schedule-pipeline"))
      cfg.schedule_pipeline = std::atoi(argv[i + 1]);
  }
  bool own_dir = cfg.dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-mesh-bench.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return 1;
    cfg.dir = tmpl;
  }
  int rc = 0;
  using nexus::mesh::Kind;
  std::vector<Kind> kinds = {Kind::kMemory, Kind::kSqlite};
  if (!cfg.etcd.empty()) kinds.push_back(Kind::kEtcd);
  for (size_t i = 0; i <= kinds.size(); ++i) {
    if (i == kinds.size() && cfg.etcd.empty()) break;
    pid_t pid = ::fork();
    if (pid == 0) {
      if (i == kinds.size())
        nexus::mesh::Failover(cfg);
      else
        nexus::mesh::Run(kinds[i], cfg);
      std::_Exit(0);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      rc = 1;
  }
  if (own_dir) std::filesystem::remove_all(cfg.dir);
  return rc;
}
