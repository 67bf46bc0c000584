#include "mesh/record.h"

#include <gtest/gtest.h>

#include "mesh/placement.h"

namespace nexus::mesh {
namespace {

TEST(RecordTest, RoundTripsAnyBytes) {
  const std::string weird("a=1:\n\0b", 7);
  std::string enc = RecordWriter().Add("s", weird).Add("n", -42).Add("empty", "").Finish();
  auto r = Record::Parse(enc);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get("s"), weird);
  EXPECT_EQ(r->Int("n"), -42);
  EXPECT_EQ(r->Get("empty"), "");
  EXPECT_EQ(r->Get("missing"), "");
  EXPECT_EQ(r->Int("missing"), 0);
}

TEST(RecordTest, RejectsMalformed) {
  for (const char* bad : {"x", "x=", "x=3:ab\n", "x=2:ab", "x=a:ab\n", "x=1:ab\n", "x=-1:\n"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Record::Parse(bad).code(), EINVAL);
  }
}

TEST(PlacementTest, ScansForLeastLoad) {
  struct Case {
    const char* name;
    std::vector<NodeLoad> loads;
    size_t want;
  } cases[] = {
      {"least load", {{5, 0}, {1, 0}, {3, 0}}, 1},
      {"tie: more free capacity", {{2, 1}, {2, 4}, {2, 3}}, 1},
      {"full tie: first", {{2, 1}, {2, 1}}, 0},
      {"single", {{9, 9}}, 0},
  };
  std::mt19937_64 rng(1);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(PickNode(
                  c.loads.size(), [&](size_t i) { return c.loads[i]; }, 64, rng),
              c.want);
  }
}

TEST(PlacementTest, PowerOfTwoChoicesKeepsMaxLoadNearMean) {
  constexpr size_t kNodes = 1000, kTasks = 100000;
  std::vector<NodeLoad> loads(kNodes);
  std::mt19937_64 rng(7);
  for (size_t t = 0; t < kTasks; ++t) {
    size_t i = PickNode(
        kNodes, [&](size_t k) { return loads[k]; }, 64, rng);
    ++loads[i].load;
  }
  int64_t max = 0, min = INT64_MAX;
  for (const NodeLoad& l : loads) {
    max = std::max(max, l.load);
    min = std::min(min, l.load);
  }
  // Random placement would give a max near 130 here; two choices stay close
  // to the mean of 100.
  EXPECT_LE(max, 105);
  EXPECT_GE(min, 90);
}

}  // namespace
}  // namespace nexus::mesh
