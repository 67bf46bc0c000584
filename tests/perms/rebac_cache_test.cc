#include "perms/rebac_cache.h"

#include <gtest/gtest.h>

namespace nexus {
namespace {

constexpr Access kRead = {true, Permission::kRead, Relation::kNone};
constexpr DecisionCache::Decision kAllow{true, DenyReason::kNone};
constexpr DecisionCache::Decision kDeny{false, DenyReason::kNoTuple};

struct LookupCase {
  const char* name;
  uint64_t revision;
  UnixNanos now;
  bool hit;
};

class DecisionCacheLookup : public ::testing::TestWithParam<LookupCase> {};

// Entry: computed at revision 7, time 100, valid until 200.
TEST_P(DecisionCacheLookup, HonoursRevisionAndLifetime) {
  DecisionCache cache(1024);
  cache.Insert("user:a", kRead, "file:/x", 7, 100, 200, kAllow);
  auto got = cache.Find("user:a", kRead, "file:/x", GetParam().revision, GetParam().now);
  EXPECT_EQ(got.has_value(), GetParam().hit);
  if (got) {
    EXPECT_TRUE(got->allowed);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, DecisionCacheLookup,
                         ::testing::Values(LookupCase{"SameRevisionInLifetime", 7, 150, true},
                                           LookupCase{"AtComputedAt", 7, 100, true},
                                           LookupCase{"AtValidUntil", 7, 200, false},
                                           LookupCase{"ClockSteppedBack", 7, 99, false},
                                           LookupCase{"NewerRevision", 8, 150, false},
                                           LookupCase{"OlderRevision", 6, 150, false}),
                         [](const auto& info) { return info.param.name; });

TEST(DecisionCache, KeysAreExact) {
  DecisionCache cache(1024);
  cache.Insert("user:a", kRead, "file:/x", 1, 0, kNever, kDeny);
  EXPECT_TRUE(cache.Find("user:a", kRead, "file:/x", 1, 5).has_value());
  EXPECT_FALSE(cache.Find("user:b", kRead, "file:/x", 1, 5).has_value());
  EXPECT_FALSE(cache.Find("user:a", kRead, "file:/y", 1, 5).has_value());
  EXPECT_FALSE(cache.Find("user:a", Access::Of(Permission::kWrite), "file:/x", 1, 5).has_value());
  EXPECT_FALSE(cache.Find("user:a", Access::Of(Relation::kViewer), "file:/x", 1, 5).has_value());
}

TEST(DecisionCache, OlderAnswerDoesNotReplaceNewer) {
  DecisionCache cache(1024);
  cache.Insert("user:a", kRead, "file:/x", 5, 0, kNever, kDeny);
  cache.Insert("user:a", kRead, "file:/x", 4, 0, kNever, kAllow);  // a slow thread
  auto got = cache.Find("user:a", kRead, "file:/x", 5, 1);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->allowed);
}

TEST(DecisionCache, StaysBounded) {
  DecisionCache cache(64);  // one slot per shard
  for (int i = 0; i < 10'000; ++i) {
    cache.Insert("user:a", kRead, "file:/" + std::to_string(i), 1, 0, kNever, kAllow);
  }
  int hits = 0;
  for (int i = 0; i < 10'000; ++i) {
    hits += cache.Find("user:a", kRead, "file:/" + std::to_string(i), 1, 1).has_value();
  }
  EXPECT_LE(hits, 64);
  EXPECT_GT(hits, 0);
}

}  // namespace
}  // namespace nexus
