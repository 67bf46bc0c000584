#include "fs/search/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace nexus::search {
namespace {

constexpr size_t kDim = 16;

std::vector<Vector> RandomVectors(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<Vector> out(n, Vector(kDim));
  for (auto& v : out) {
    for (float& x : v) x = d(rng);
  }
  return out;
}

int64_t ExactBest(const std::vector<Vector>& data, const std::vector<bool>& live, const Vector& q) {
  int64_t best = -1;
  float best_score = -2;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!live[i]) continue;
    float s = Cosine(q.data(), data[i].data(), kDim);
    if (s > best_score) {
      best_score = s;
      best = static_cast<int64_t>(i);
    }
  }
  return best;
}

TEST(VectorIndexTest, MatchesExactSearchAndGrows) {
  auto data = RandomVectors(3000, 1);  // beyond the initial capacity
  VectorIndex index(kDim);
  for (size_t i = 0; i < data.size(); ++i) index.Add(static_cast<int64_t>(i), data[i]);
  EXPECT_EQ(index.size(), data.size());
  std::vector<bool> live(data.size(), true);
  // Remove a third; removed ids must never come back.
  for (size_t i = 0; i < data.size(); i += 3) {
    index.Remove(static_cast<int64_t>(i));
    live[i] = false;
  }
  index.Remove(999'999);  // unknown: no-op
  EXPECT_EQ(index.size(), 2000u);
  auto queries = RandomVectors(100, 2);
  int agree = 0;
  for (const auto& q : queries) {
    auto hits = index.Search(q, 10);
    ASSERT_EQ(hits.size(), 10u);
    for (size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].second, hits[i].second);
    for (const auto& [id, score] : hits) {
      ASSERT_TRUE(live[static_cast<size_t>(id)]) << id;
      EXPECT_NEAR(score, Cosine(q.data(), data[static_cast<size_t>(id)].data(), kDim), 1e-4);
    }
    agree += hits[0].first == ExactBest(data, live, q);
  }
  EXPECT_GE(agree, 95);  // recall@1 of the approximate search
}

TEST(VectorIndexTest, ReplaceReaddAndIgnoredVectors) {
  VectorIndex index(2);
  index.Add(1, {1, 0});
  index.Add(2, {0, 1});
  index.Add(3, {1, 2, 3});  // wrong dimension
  index.Add(4, {0, 0});     // no direction
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Search({1, 0.1f}, 1)[0].first, 1);
  index.Add(1, {-1, 0});  // replaced
  EXPECT_EQ(index.Search({1, 0.1f}, 1)[0].first, 2);
  index.Remove(2);
  index.Add(2, {1, 0});  // re-added after removal
  auto hits = index.Search({1, 0}, 5);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].first, 2);
  EXPECT_FLOAT_EQ(hits[0].second, 1);
  EXPECT_TRUE(index.Search({1, 0, 0}, 1).empty());
}

}  // namespace
}  // namespace nexus::search
