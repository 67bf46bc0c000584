// Leader election and fencing on a real etcd (tests/mesh/etcd_process.h).
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "mesh/director.h"
#include "mesh/etcd_election.h"
#include "mesh/fenced_store.h"
#include "tests/mesh/etcd_process.h"
#include "tests/temp_dir.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

class EtcdElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    etcd_ = testing::EtcdProcess::Shared(&why);
    if (etcd_ == nullptr) GTEST_SKIP() << "etcd election tests skipped: " << why;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = "/nexus-test/" + std::to_string(::getpid()) + "-" + info->name() + "/";
  }
  std::unique_ptr<EtcdStore> Open() {
    auto s =
        EtcdStore::Open(&DefaultClock(), {.etcd = {.endpoints = {etcd_->endpoint()}}, .prefix = prefix_});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // Waits up to `limit` for `pred`.
  template <typename Pred>
  bool Eventually(Pred pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return pred();
  }

  testing::EtcdProcess* etcd_ = nullptr;
  std::string prefix_;
};

TEST_F(EtcdElectionTest, OldestCandidateLeadsAndStandbyTakesOverFencingTheOld) {
  auto store_a = Open(), store_b = Open();
  ASSERT_TRUE(store_a && store_b);
  FencedStore fenced_a(store_a.get()), fenced_b(store_b.get());
  const Duration ttl = 2s;
  EtcdElection a(store_a.get(), "a:1", ttl, [&](const ElectionView& v) {
    if (v.leading)
      fenced_a.Lead(v.key, v.revision);
    else
      fenced_a.StandBy(v.leader);
  });
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.View().leading; }, 5s));
  EtcdElection b(store_b.get(), "b:2", ttl, [&](const ElectionView& v) {
    if (v.leading)
      fenced_b.Lead(v.key, v.revision);
    else
      fenced_b.StandBy(v.leader);
  });
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.View().leader == "a:1" && !b.View().key.empty(); }, 5s));
  EXPECT_FALSE(b.View().leading);
  ASSERT_TRUE(Eventually([&] { return a.View().standbys == std::vector<std::string>{"b:2"}; }, 5s));

  // The leader writes; the standby is refused, naming the leader.
  EXPECT_TRUE(fenced_a.Put("task", "1").ok());
  auto refused = fenced_b.Put("task", "2");
  EXPECT_EQ(refused.code(), EAGAIN);
  EXPECT_NE(refused.status().message().find("the leader is a:1"), std::string::npos)
      << refused.status().ToString();

  // The leader stalls: its lease lapses and the standby leads within 2 TTLs.
  a.TEST_Pause(true);
  const auto paused = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return b.View().leading; }, 3 * ttl));
  EXPECT_LE(std::chrono::steady_clock::now() - paused, 2 * ttl + 1s);
  EXPECT_TRUE(fenced_b.Put("task", "3").ok());
  // The stalled leader still believes it leads, but the store fences it.
  auto stale = fenced_a.Put("task", "4");
  EXPECT_EQ(stale.code(), EAGAIN) << stale.status().ToString();
  EXPECT_EQ(store_b->Get("task")->value, "3");
  EXPECT_EQ(fenced_a.ExpireLeases(MeshNow(DefaultClock()) + 1h), 0u) << "a fenced director expires nothing";

  // Resumed, it finds its lease gone and stands by behind the new leader.
  a.TEST_Pause(false);
  ASSERT_TRUE(Eventually([&] { return !a.View().leading && a.View().leader == "b:2"; }, 5s));
}

// Two directors that both believe they may grant: `a` and `b` (each with
// its own store handle) race ScheduleAll over the same pending tasks. The
// store's compare-and-set on every task record lets exactly one placement
// per task through; the loser's batch fails as a whole.
class GrantRaceTest : public EtcdElectionTest {
 protected:
  DirectorOptions Options() const {
    DirectorOptions o;
    o.registration_key = "reg";
    o.results_dir = dir_.path() + "/results";
    return o;
  }
  std::unique_ptr<Director> OpenDirector(Store* store) {
    auto d = Director::Open(store, &DefaultClock(), Options());
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : nullptr;
  }
  // Two trusted nodes and `n` pending tasks, through `d`.
  void Fill(Director* d, int n) {
    for (const char* name : {"w1", "w2"}) {
      auto c = d->Register("reg", name, std::string("http://") + name, 1000);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ASSERT_TRUE(d->SetTrust(c->node_id, TrustTier::kTrusted).ok());
    }
    for (int i = 0; i < n; ++i) {
      TaskSpec spec{"t" + std::to_string(i), "true", "local", TrustTier::kTrusted, 3, false};
      ASSERT_TRUE(d->Create(spec, {"key", Submitter::kScopeSubmitTasks, 0}).ok());
    }
  }
  // Runs ScheduleAll on both at once; returns the task ids each reports
  // placed (a failed call places nothing).
  std::pair<std::set<std::string>, std::set<std::string>> Race(Director* a, Director* b, Status* a_status,
                                                               Status* b_status) {
    std::set<std::string> placed_a, placed_b;
    auto run = [](Director* d, std::set<std::string>* placed, Status* st) {
      auto sum = d->ScheduleAll();
      *st = sum.status();
      if (sum.ok())
        for (const auto& t : sum->placements)
          if (t.state == TaskState::kAssigned) placed->insert(t.id);
    };
    std::thread ta(run, a, &placed_a, a_status), tb(run, b, &placed_b, b_status);
    ta.join();
    tb.join();
    return {placed_a, placed_b};
  }
  // Every task as the store has it: assigned once, on attempt 1, with one
  // lease key; `placed` (from both racers) names each task at most once.
  void ExpectOneHolderEach(Store* store, const std::set<std::string>& a, const std::set<std::string>& b,
                           size_t tasks) {
    for (const auto& id : a) EXPECT_EQ(b.count(id), 0u) << id << " placed by both directors";
    auto fresh = OpenDirector(store);
    ASSERT_TRUE(fresh);
    // (A call that failed part-way may have committed earlier batches it
    // then does not report: those holders exist in the store only.)
    std::set<std::string> assigned;
    for (const TaskInfo& t : fresh->ListTasks()) {
      if (t.state != TaskState::kAssigned) continue;
      assigned.insert(t.id);
      EXPECT_EQ(t.attempts, 1) << t.id << " was granted twice";
    }
    for (const auto& id : a) EXPECT_EQ(assigned.count(id), 1u) << id;
    for (const auto& id : b) EXPECT_EQ(assigned.count(id), 1u) << id;
    EXPECT_EQ(store->Range("mesh/lease/").size(), assigned.size()) << "one lease key per holder";
    EXPECT_LE(assigned.size(), tasks);
  }

  testing::TempDir dir_;
};

TEST_F(GrantRaceTest, TwoUnfencedDirectorsRacingGrantsLeaveOneHolderPerTask) {
  auto store_a = Open(), store_b = Open();
  ASSERT_TRUE(store_a && store_b);
  auto a = OpenDirector(store_a.get());
  ASSERT_TRUE(a);
  Fill(a.get(), 150);  // several transactions' worth (31 placements each)
  auto b = OpenDirector(store_b.get());
  ASSERT_TRUE(b);
  ASSERT_EQ(b->ListTasks().size(), 150u);
  Status sa, sb;
  auto [placed_a, placed_b] = Race(a.get(), b.get(), &sa, &sb);
  ExpectOneHolderEach(store_a.get(), placed_a, placed_b, 150);
  // At least one racer got through a batch, and a loser's failure is the CAS.
  EXPECT_GT(placed_a.size() + placed_b.size(), 0u);
  if (!sa.ok()) EXPECT_EQ(sa.code(), ESTALE) << sa.ToString();
  if (!sb.ok()) EXPECT_EQ(sb.code(), ESTALE) << sb.ToString();
}

TEST_F(GrantRaceTest, DeposedLeaderRacingTheNewOneGrantsNothing) {
  auto store_a = Open(), store_b = Open();
  ASSERT_TRUE(store_a && store_b);
  FencedStore fenced_a(store_a.get()), fenced_b(store_b.get());
  const Duration ttl = 2s;
  auto follow = [](FencedStore* f) {
    return [f](const ElectionView& v) {
      if (v.leading)
        f->Lead(v.key, v.revision);
      else
        f->StandBy(v.leader);
    };
  };
  EtcdElection ea(store_a.get(), "a:1", ttl, follow(&fenced_a));
  ea.Start();
  ASSERT_TRUE(Eventually([&] { return ea.View().leading; }, 5s));
  auto a = OpenDirector(&fenced_a);
  ASSERT_TRUE(a);
  Fill(a.get(), 100);
  EtcdElection eb(store_b.get(), "b:2", ttl, follow(&fenced_b));
  eb.Start();
  ASSERT_TRUE(Eventually([&] { return eb.View().leader == "a:1"; }, 5s));
  // a stalls (as under SIGSTOP): b takes over; a still believes it leads.
  ea.TEST_Pause(true);
  ASSERT_TRUE(Eventually([&] { return eb.View().leading; }, 3 * ttl));
  ASSERT_TRUE(ea.View().leading);
  auto b = OpenDirector(&fenced_b);
  ASSERT_TRUE(b);
  Status sa, sb;
  auto [placed_a, placed_b] = Race(a.get(), b.get(), &sa, &sb);
  EXPECT_TRUE(placed_a.empty()) << "the deposed leader placed " << placed_a.size() << " tasks";
  EXPECT_EQ(sa.code(), EAGAIN) << sa.ToString();
  EXPECT_TRUE(sb.ok()) << sb.ToString();
  EXPECT_EQ(placed_b.size(), 100u);
  ExpectOneHolderEach(store_b.get(), placed_a, placed_b, 100);
  ea.TEST_Pause(false);
}

TEST_F(EtcdElectionTest, ResigningHandsOverAtOnce) {
  auto store_a = Open(), store_b = Open();
  ASSERT_TRUE(store_a && store_b);
  const Duration ttl = 10s;
  auto a = std::make_unique<EtcdElection>(store_a.get(), "a:1", ttl, [](const ElectionView&) {});
  a->Start();
  ASSERT_TRUE(Eventually([&] { return a->View().leading; }, 5s));
  EtcdElection b(store_b.get(), "b:2", ttl, [](const ElectionView&) {});
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.View().leader == "a:1"; }, 5s));
  a.reset();  // a clean shutdown revokes the lease
  // Well before the 10 s TTL: the next round (every TTL/3) sees it.
  EXPECT_TRUE(Eventually([&] { return b.View().leading; }, 5s));
}

TEST(EtcdUrlTest, ParsesEndpointsAndRejectsBadOnes) {
  auto ok = ParseEtcdUrl("etcd://10.0.0.1:2379,h2:2380");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (std::vector<std::string>{"10.0.0.1:2379", "h2:2380"}));
  for (const char* bad :
       {"http://h:1", "etcd://", "etcd://h", "etcd://h:", "etcd://:1", "etcd://h:x1", "etcd://h:1/p"})
    EXPECT_EQ(ParseEtcdUrl(bad).code(), EINVAL) << bad;
}

// Store leases share etcd leases: granting one is no Raft write of its own.
TEST_F(EtcdElectionTest, StoreLeasesShareAnEtcdLease) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto etcd_leases = [&] {
    auto r = store->client().Call("/v3/lease/leases", nlohmann::json::object());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->value("leases", nlohmann::json::array()).size() : 0;
  };
  const size_t before = etcd_leases();
  for (LeaseId id = 1; id <= 40; ++id) {
    std::vector<Op> ops;
    ops.push_back(Op::GrantLease(id, 30s));
    ops.push_back(Op::Put("leased/" + std::to_string(id), "v", kAnyRevision, id));
    ASSERT_TRUE(store->Commit(std::move(ops)).ok());
  }
  EXPECT_LE(etcd_leases(), before + 1);
  EXPECT_EQ(store->Get("leased/7")->lease, 7);
  std::vector<Op> revoke;
  revoke.push_back(Op::RevokeLease(7));
  ASSERT_TRUE(store->Commit(std::move(revoke)).ok());
  EXPECT_EQ(store->Get("leased/7").code(), ENOENT);
  EXPECT_EQ(store->Range("leased/").size(), 39u) << "the other leases' keys stay";
}

// A transaction etcd would refuse (--max-txn-ops) is refused before it is sent.
TEST_F(EtcdElectionTest, TransactionsOverTheClusterLimitAreRefused) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<Op> ops;
  ops.push_back(Op::GrantLease(1, 30s));
  for (size_t i = 0; i < store->MaxOpsPerCommit() / 2; ++i)
    ops.push_back(Op::Put("k" + std::to_string(i), "v", kAnyRevision, 1));  // two etcd operations each
  auto r = store->Commit(std::move(ops));
  EXPECT_EQ(r.code(), EINVAL) << r.status().ToString();
  EXPECT_NE(r.status().message().find("--max-txn-ops"), std::string::npos) << r.status().ToString();
}

TEST(EtcdStoreTest, UnreachableEtcdIsUnavailableWithTheReason) {
  const int port = testing::FreePort();
  auto s = EtcdStore::Open(&DefaultClock(), {.etcd = {.endpoints = {"127.0.0.1:" + std::to_string(port)},
                                                      .timeout = std::chrono::milliseconds(500)}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EAGAIN);
  EXPECT_NE(s.status().message().find("unreachable"), std::string::npos) << s.status().ToString();
}

}  // namespace
}  // namespace nexus::mesh
