// nexus_bench_rebac: latency of RebacEngine::Check on a realistic tuple set.
//
// The data set (deterministic for a given --tuples):
//   - 10 zones (/zone/z0 .. /zone/z9), each with an admin;
//   - projects of 20 nested folders each (/zone/zK/pN/l1/.../l19), one per
//     1000 tuples, with files at every level;
//   - per project a chain of 5 nested groups (g0 ⊃ g1 ⊃ ... ⊃ g4): g0 views
//     the project, g2 edits level 5, and users join the innermost group, so
//     their grants take 5 userset hops and up to 20 parent folders;
//   - the rest: direct viewer/editor/owner tuples of users (1 per 20 tuples)
//     and agents (1 per 40) on files and folders, 10% with a far expiry.
// Workloads, each repeated --runs times (the median run is reported; a third
// of the askers are members of the project's innermost group):
//   uncached  every call is a distinct (subject, object) pair, half on files
//             that have tuples, half on files that have none (the common FUSE
//             case: walk up to the nearest known folder); cache misses are
//             verified.
//   cached    a warm set of 1000 pairs asked again and again.
//   writes    single-tuple transactions, and 1000-tuple batches.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "perms/rebac.h"

namespace nexus {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  size_t tuples = 1'000'000;
  int runs = 5;
  size_t samples = 50'000;
  std::string dir;
};

struct Percentiles {
  double p50, p99, p999;
};

Percentiles Summarize(std::vector<double> ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return ns[std::min(ns.size() - 1, static_cast<size_t>(q * ns.size()))]; };
  return {at(0.50), at(0.99), at(0.999)};
}

// The median of each percentile across runs.
Percentiles MedianOfRuns(std::vector<Percentiles> runs) {
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {med(&Percentiles::p50), med(&Percentiles::p99), med(&Percentiles::p999)};
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string ProjectFolder(size_t project, int level) {
  std::string p = "/zone/z" + std::to_string(project % 10) + "/p" + std::to_string(project);
  for (int l = 1; l <= level; ++l) p += "/l" + std::to_string(l);
  return p;
}

Tuple Make(std::string subject, Relation rel, std::string object, UnixNanos exp = kNever) {
  Tuple t;
  t.subject = *SubjectRef::Parse(subject);
  t.relation = rel;
  t.object = *ObjectRef::Parse(object);
  t.expires_at = exp;
  return t;
}

class World {
 public:
  explicit World(const Config& c)
      : c_(c),
        projects_(std::max<size_t>(1, c.tuples / 1000)),
        users_(std::max<size_t>(10, c.tuples / 20)),
        agents_(std::max<size_t>(10, c.tuples / 40)) {}

  std::string User(size_t i) const { return "user:u" + std::to_string(i % users_); }
  std::string Agent(size_t i) const { return "agent:a" + std::to_string(i % agents_); }
  std::string File(size_t project, int level, size_t i) const {
    return "file:" + ProjectFolder(project, level) + "/f" + std::to_string(i) + ".txt";
  }
  size_t projects() const { return projects_; }
  // A user in the innermost group of `project`.
  std::string Member(size_t project) const { return User(member_[project]); }

  // Generates the tuple set in batches handed to `sink`.
  template <typename Sink>
  void Generate(UnixNanos now, Sink sink) {
    std::vector<Tuple> batch;
    size_t total = 0;
    auto push = [&](Tuple t) {
      batch.push_back(std::move(t));
      ++total;
      if (batch.size() == 10'000) {
        sink(batch);
        batch.clear();
      }
    };
    for (int z = 0; z < 10; ++z) {
      push(Make("user:admin" + std::to_string(z), Relation::kAdmin, "zone:z" + std::to_string(z)));
    }
    for (size_t p = 0; p < projects_; ++p) {
      std::string g = "group:p" + std::to_string(p) + "g";
      push(Make(g + "0#member", Relation::kViewer, "folder:" + ProjectFolder(p, 0)));
      push(Make(g + "2#member", Relation::kEditor, "folder:" + ProjectFolder(p, 5)));
      for (int i = 1; i < 5; ++i) {
        push(Make(g + std::to_string(i) + "#member", Relation::kMember, g + std::to_string(i - 1)));
      }
      for (int m = 0; m < 100; ++m) {
        size_t u = rng_();
        if (m == 0) member_.push_back(u);
        push(Make(User(u), Relation::kMember, g + "4"));
      }
      if (p == 0) push(Make("user:deep", Relation::kMember, g + "4"));
    }
    const Relation rels[] = {Relation::kViewer, Relation::kViewer, Relation::kEditor, Relation::kOwner};
    while (total < c_.tuples) {
      size_t p = rng_() % projects_;
      int level = static_cast<int>(rng_() % 20);
      bool folder = rng_() % 4 == 0;
      std::string object = folder ? "folder:" + ProjectFolder(p, level) : File(p, level, rng_() % 50);
      std::string subject = rng_() % 3 == 0 ? Agent(rng_()) : User(rng_());
      UnixNanos exp = rng_() % 10 == 0 ? now + 365LL * 86400 * 1'000'000'000 : kNever;
      push(Make(subject, rels[rng_() % 4], object, exp));
    }
    if (!batch.empty()) sink(batch);
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  Config c_;
  size_t projects_, users_, agents_;
  std::vector<size_t> member_;  // per project
  std::mt19937_64 rng_{42};
};

struct Query {
  std::string subject, object;
};

int Main(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--tuples")
      c.tuples = std::stoul(next());
    else if (a == "--runs")
      c.runs = std::stoi(next());
    else if (a == "--samples")
      c.samples = std::stoul(next());
    else if (a == "--dir")
      c.dir = next();
    else {
      fprintf(stderr, "usage: %s [--tuples N] [--runs R] [--samples S] [--dir D]\n", argv[0]);
      return 2;
    }
  }
  bool own_dir = c.dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-rebac-bench.XXXXXX").string();
    c.dir = mkdtemp(tmpl.data());
  }
  std::string db = c.dir + "/rebac.db";
  std::filesystem::remove(db);

  RebacOptions options;
  options.cache_capacity = 1 << 20;
  auto opened = RebacEngine::Open(db, options);
  if (!opened.ok()) {
    fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<RebacEngine> engine = std::move(*opened);
  World world(c);
  UnixNanos now = DefaultClock().Now();
  auto t0 = Clock::now();
  world.Generate(now, [&](const std::vector<Tuple>& batch) {
    auto r = engine->WriteUnchecked(batch, {});
    if (!r.ok()) {
      fprintf(stderr, "write: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  });
  double build_s = Seconds(Clock::now() - t0);
  size_t tuples = engine->tuple_count();
  engine.reset();
  t0 = Clock::now();
  auto reopened = RebacEngine::Open(db, options);
  if (!reopened.ok()) {
    fprintf(stderr, "reopen: %s\n", reopened.status().ToString().c_str());
    return 1;
  }
  engine = std::move(*reopened);
  double load_s = Seconds(Clock::now() - t0);
  long rss = RssKiB();

  auto& rng = world.rng();
  auto random_query = [&](bool known_file) {
    size_t p = rng() % world.projects();
    // A third of the askers are in the project's innermost group (granted
    // through nested groups); the others are random users and agents, mostly
    // denied after the full walk.
    int who = static_cast<int>(rng() % 3);
    std::string subject = who == 0 ? world.Member(p) : who == 1 ? world.User(rng()) : world.Agent(rng());
    std::string object = known_file ? world.File(p, static_cast<int>(rng() % 20), rng() % 50)
                                    : "file:" + ProjectFolder(p, 19) + "/new-" + std::to_string(rng());
    return Query{std::move(subject), std::move(object)};
  };

  std::vector<Percentiles> uncached_runs, cached_runs;
  size_t allowed = 0, asked = 0;
  std::unordered_set<std::string> seen;  // every pair is asked once while uncached
  for (int run = 0; run < c.runs; ++run) {
    std::vector<Query> qs;
    for (size_t i = 0; qs.size() < c.samples; ++i) {
      Query q = random_query(i % 2 == 0);
      if (seen.insert(q.subject + " " + q.object).second) qs.push_back(std::move(q));
    }
    std::vector<double> ns;
    ns.reserve(qs.size());
    uint64_t misses = engine->cache_misses();
    for (const Query& q : qs) {
      auto s = Clock::now();
      auto r = engine->Check(q.subject, Access::Of(Permission::kRead), q.object);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - s).count());
      allowed += r.ok() && *r;
      ++asked;
    }
    if (engine->cache_misses() - misses != qs.size()) {
      fprintf(stderr, "uncached run was served from the cache\n");
      return 1;
    }
    uncached_runs.push_back(Summarize(std::move(ns)));

    std::vector<Query> warm(qs.begin(), qs.begin() + std::min<size_t>(1000, qs.size()));
    for (const Query& q : warm) (void)engine->Check(q.subject, Access::Of(Permission::kRead), q.object);
    ns.clear();
    for (size_t i = 0; i < c.samples; ++i) {
      const Query& q = warm[i % warm.size()];
      auto s = Clock::now();
      auto r = engine->Check(q.subject, Access::Of(Permission::kRead), q.object);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - s).count());
      (void)r;
    }
    cached_runs.push_back(Summarize(std::move(ns)));
  }
  // A grant through nested groups from 20 folders deep, to show the path.
  auto deep = engine->Explain("user:deep", "read", "file:" + ProjectFolder(0, 19) + "/x");

  // Writes: single-tuple transactions and 1000-tuple batches.
  constexpr int kSingles = 200;
  t0 = Clock::now();
  for (int i = 0; i < kSingles; ++i) {
    (void)engine->WriteUnchecked(
        {Make("user:w" + std::to_string(i), Relation::kViewer, "file:/bench/single/" + std::to_string(i))},
        {});
  }
  double single_tps = kSingles / Seconds(Clock::now() - t0);
  constexpr int kBatches = 20, kBatch = 1000;
  t0 = Clock::now();
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Tuple> batch;
    for (int i = 0; i < kBatch; ++i) {
      batch.push_back(Make("user:b" + std::to_string(i), Relation::kEditor,
                           "file:/bench/batch/" + std::to_string(b) + "/" + std::to_string(i)));
    }
    (void)engine->WriteUnchecked(std::move(batch), {});
  }
  double batch_tps = kBatches * kBatch / Seconds(Clock::now() - t0);

  Percentiles un = MedianOfRuns(uncached_runs), ca = MedianOfRuns(cached_runs);
  printf("ReBAC check latency: %zu tuples, %d runs x %zu checks (median run)\n", tuples, c.runs, c.samples);
  printf("  %-10s %10s %10s %10s   target\n", "", "p50", "p99", "p99.9");
  printf("  %-10s %8.0fns %8.0fns %8.0fns   p50 <= 1000ns\n", "cached", ca.p50, ca.p99, ca.p999);
  printf("  %-10s %8.0fns %8.0fns %8.0fns   p50 <= 100000ns, p99 <= 1000000ns\n", "uncached", un.p50, un.p99,
         un.p999);
  printf("  uncached answers allowed: %.1f%%\n", 100.0 * allowed / std::max<size_t>(1, asked));
  printf("  deep grant (nested groups, 20 folders): %s, %zu tuples on the path\n",
         deep.ok() && deep->allowed ? "allowed" : "denied", deep.ok() ? deep->path.size() : 0);
  printf("  build %.1fs, reopen (load) %.1fs, RSS %ld MiB\n", build_s, load_s, rss / 1024);
  printf("  writes: %.0f single-tuple tx/s, %.0f tuples/s in 1000-tuple batches\n", single_tps, batch_tps);
  nlohmann::json j = {
      {"tuples", tuples},
      {"runs", c.runs},
      {"samples_per_run", c.samples},
      {"cached_ns", {{"p50", ca.p50}, {"p99", ca.p99}, {"p999", ca.p999}}},
      {"uncached_ns", {{"p50", un.p50}, {"p99", un.p99}, {"p999", un.p999}}},
      {"uncached_allowed_fraction", static_cast<double>(allowed) / std::max<size_t>(1, asked)},
      {"build_s", build_s},
      {"load_s", load_s},
      {"rss_mib", rss / 1024},
      {"single_write_tx_per_s", single_tps},
      {"batch_write_tuples_per_s", batch_tps},
  };
  printf("%s\n", j.dump().c_str());
  engine.reset();
  if (own_dir) std::filesystem::remove_all(c.dir);
  return 0;
}

}  // namespace
}  // namespace nexus

int main(int argc, char** argv) { return nexus::Main(argc, argv); }
