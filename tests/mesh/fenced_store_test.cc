#include "mesh/fenced_store.h"

#include <gtest/gtest.h>

#include "mesh/memory_store.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

TEST(FencedStoreTest, OnlyTheFencedLeaderWrites) {
  ManualClock clock;
  MemoryStore inner(&clock);
  FencedStore fenced(&inner);
  // Standing by, with and without a known leader.
  EXPECT_EQ(fenced.Put("k", "v").code(), EAGAIN);
  fenced.StandBy("10.0.0.1:7443");
  auto refused = fenced.Put("k", "v");
  EXPECT_EQ(refused.code(), EAGAIN);
  EXPECT_NE(refused.status().message().find("the leader is 10.0.0.1:7443"), std::string::npos);
  EXPECT_EQ(inner.Get("k").code(), ENOENT);

  // Leading while the election key keeps its revision.
  auto rev = inner.Put("election/1", "me");
  ASSERT_TRUE(rev.ok());
  fenced.Lead("election/1", *rev);
  ASSERT_TRUE(fenced.Put("k", "v").ok());
  EXPECT_EQ(fenced.Get("k")->value, "v");
  EXPECT_EQ(fenced.MaxOpsPerCommit(), inner.MaxOpsPerCommit() - 1);

  // Its key gone (lease lapsed, another leads): fenced, and no expiry.
  std::vector<Op> grant;
  grant.push_back(Op::GrantLease(9, 1s));
  grant.push_back(Op::Put("leased", "x", kAnyRevision, 9));
  ASSERT_TRUE(fenced.Commit(std::move(grant)).ok());
  ASSERT_TRUE(inner.Delete("election/1").ok());
  auto stale = fenced.Put("k", "w");
  EXPECT_EQ(stale.code(), EAGAIN);
  EXPECT_NE(stale.status().message().find("no longer leads"), std::string::npos) << stale.status().ToString();
  EXPECT_EQ(inner.Get("k")->value, "v");
  clock.Advance(2s);
  EXPECT_EQ(fenced.ExpireLeases(MeshNow(clock)), 0u);
  EXPECT_TRUE(inner.Get("leased").ok());
}

TEST(FencedStoreTest, CheckIsAConditionThatChangesNothing) {
  ManualClock clock;
  MemoryStore store(&clock);
  auto rev = store.Put("a", "1");
  ASSERT_TRUE(rev.ok());
  std::vector<Op> ok;
  ok.push_back(Op::Check("a", *rev));
  ok.push_back(Op::Put("b", "2"));
  ASSERT_TRUE(store.Commit(std::move(ok)).ok());
  EXPECT_EQ(store.Get("a")->mod_revision, *rev);
  std::vector<Op> stale;
  stale.push_back(Op::Check("a", *rev + 5));
  stale.push_back(Op::Put("c", "3"));
  EXPECT_EQ(store.Commit(std::move(stale)).code(), ESTALE);
  EXPECT_EQ(store.Get("c").code(), ENOENT);
}

}  // namespace
}  // namespace nexus::mesh
