#include "mesh/placement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nexus::mesh {
namespace {

TEST(NodeZonesTest, AReportedListIsExactAnUnreportedOneTakesAny) {
  NodeZones z = NodeZones::Of({"shared", "local", "local", "build"});
  EXPECT_EQ(z.names, (std::vector<std::string>{"build", "local", "shared"})) << "sorted, unique";
  EXPECT_TRUE(z.Has("local"));
  EXPECT_TRUE(z.Has("build"));
  EXPECT_FALSE(z.Has("loc"));
  EXPECT_FALSE(z.Has("other"));
  EXPECT_FALSE(NodeZones::Of({}).Has("local")) << "an empty report: no zone at all";
  EXPECT_TRUE(NodeZones{}.Has("anything")) << "never reported: an older node, taken to have every zone";
}

TEST(WithZoneTest, KeepsOnlyTheCandidatesThatHaveTheZoneInTheirOrder) {
  struct Candidate {
    std::string name;
    NodeZones zones;
  };
  std::vector<const Candidate*> all;
  Candidate a{"a", NodeZones::Of({"x", "y"})}, b{"b", NodeZones::Of({"y"})}, c{"c", NodeZones{}},
      d{"d", NodeZones::Of({})};
  for (const Candidate* k : {&a, &b, &c, &d}) all.push_back(k);
  auto names = [&](std::string_view zone) {
    std::vector<std::string> out;
    for (const Candidate* k :
         WithZone(all, zone, [](const Candidate* k) -> const NodeZones& { return k->zones; }))
      out.push_back(k->name);
    return out;
  };
  EXPECT_EQ(names("x"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(names("y"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(names("z"), (std::vector<std::string>{"c"}));
}

TEST(PickNodeTest, LeastLoadThenMostFreeThenEarliest) {
  std::mt19937_64 rng(1);
  std::vector<NodeLoad> loads = {{3, 1}, {1, 1}, {1, 4}, {1, 4}};
  EXPECT_EQ(PickNode(
                loads.size(), [&](size_t i) { return loads[i]; }, 64, rng),
            2u);
}

}  // namespace
}  // namespace nexus::mesh
