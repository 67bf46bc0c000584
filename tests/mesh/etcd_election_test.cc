// Leader election and fencing on a real etcd (tests/mesh/etcd_process.h).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mesh/etcd_election.h"
#include "mesh/fenced_store.h"
#include "tests/mesh/etcd_process.h"

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
