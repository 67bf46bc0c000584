#include "fs/search/keyword_rank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::IndexTest;

// Small limits, so a small tree has frequent phrases: over kRare chunks.
constexpr size_t kRare = 64, kDepth = 32;

// A tree where "alpha", "beta" and "gamma" are each in a quarter to a third
// of the files, 1 to 4 times (frequent), "w0".."w1999" in about 15 each
// and "r0".."r999" in one or two (rare), with chunk lengths varying, so the
// BM25 scores spread.
class KeywordRankTest : public IndexTest {
 protected:
  void SetUp() override {
    SearchIndex::Options o;
    o.keyword_rare_limit = kRare;
    o.keyword_impact_depth = kDepth;
    Open(o);
    std::mt19937 rng(7);
    for (int f = 0; f < 1500; ++f) Write(FileName(f), Text(rng, f));
    ASSERT_TRUE(index_->Sync("/", false).ok());
  }
  static std::string FileName(int f) {
    return "/d" + std::to_string(f % 4) + "/f" + std::to_string(f) + ".txt";
  }
  static std::string Text(std::mt19937& rng, int f) {
    std::vector<std::string> words;
    const int filler = 3 + static_cast<int>(rng() % 40);
    for (int w = 0; w < filler; ++w) words.push_back("w" + std::to_string(rng() % 2000));
    words.push_back("r" + std::to_string(f % 1000));
    for (auto [word, percent] : {std::pair{"alpha", 35u}, {"beta", 30u}, {"gamma", 25u}})
      if (rng() % 100 < percent)
        for (unsigned n = 1 + rng() % 4; n > 0; --n) words.push_back(word);
    std::shuffle(words.begin(), words.end(), rng);
    std::string text;
    for (size_t i = 0; i < words.size(); ++i) text += words[i] + (i % 6 == 5 ? "\n" : " ");
    return text + "\n";
  }

  // The query answered both ways gives the same hits in the same order.
  void ExpectSameAsExhaustive(const std::string& text, QueryOptions o) {
    SCOPED_TRACE(text + " under " + o.path_prefix);
    auto bounded = index_->Query(text, o);
    o.exhaustive = true;
    auto exhaustive = index_->Query(text, o);
    ASSERT_TRUE(bounded.ok()) << bounded.status().ToString();
    ASSERT_TRUE(exhaustive.ok()) << exhaustive.status().ToString();
    ASSERT_EQ(bounded->size(), exhaustive->size());
    for (size_t i = 0; i < bounded->size(); ++i) {
      const QueryHit &b = (*bounded)[i], &e = (*exhaustive)[i];
      // A listed chunk's score is known within the statistics' drift since
      // its list was built (exact when nothing changed).
      EXPECT_NEAR(b.score, e.score, kMaxDrift * std::abs(e.score)) << i;
      // Equal scores may come in either order; distinct ones must not.
      auto tied = [&](size_t j) {
        return j < exhaustive->size() && std::abs((*exhaustive)[j].score - e.score) < 1e-9;
      };
      if (tied(i + 1) || (i > 0 && tied(i - 1))) continue;
      EXPECT_EQ(b.path, e.path) << i;
      EXPECT_EQ(b.start_line, e.start_line) << i;
    }
  }

  // Whether the bounded ranking answers `text` (rather than declining).
  // `impacts`: lists kept from earlier calls (default: fresh ones).
  bool Bounded(const std::string& text, size_t want, TermImpacts* impacts = nullptr) {
    SqliteOptions so;
    so.query_only = true;
    auto c = SqliteDb::Open(db_dir_.path() + "/search.db", so);
    EXPECT_TRUE(c.ok());
    TermImpacts fresh(kDepth);
    auto r = BoundedKeywordRank(
        **c, KeywordPhrases(text), impacts ? *impacts : fresh, want, [](int64_t) { return true; }, kRare);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->has_value();
  }
};

TEST(KeywordPhrases, QuotesWordsAndDropsUnderscoresOnly) {
  EXPECT_EQ(KeywordPhrases("  Foo, bar_BAZ __ x\"y "),
            (std::vector<std::string>{"\"foo\"", "\"bar_baz\"", "\"x\"", "\"y\""}));
  EXPECT_EQ(KeywordExpression("a b"), "\"a\" OR \"b\"");
  EXPECT_TRUE(KeywordPhrases("  ,, __ ").empty());
}

TEST_F(KeywordRankTest, FrequentTermsAreAnsweredWithinBoundsAndAsExhaustively) {
  EXPECT_TRUE(Bounded("alpha", 10));
  EXPECT_TRUE(Bounded("gamma r17", 10));
  EXPECT_FALSE(Bounded("r17 w3", 10));  // nothing frequent: scored in full, cheaply
  EXPECT_FALSE(Bounded("alpha", 100));  // deeper than the lists: not provable
  QueryOptions o;
  for (size_t limit : {1u, 10u, 20u}) {
    o.limit = limit;
    for (const char* q : {"alpha", "beta", "gamma", "alpha beta", "alpha beta gamma", "alpha r5", "gamma w3",
                          "beta w17 r200", "r17 r18", "alpha alpha", "w1 w2 w3 w4"})
      ExpectSameAsExhaustive(q, o);
  }
}

// How far a list's contributions may have moved: not at all while nothing
// changed; within bounds that hold the true movement after a change.
TEST(TermImpactsDrift, BoundsTheMovementOfTheStatistics) {
  TermImpacts::List l;
  l.totals = {10'000, 500'000};
  l.chunks = 3'000;
  l.max_id = 10'000;
  auto same = l.DriftSince(l.totals, 10'000);
  EXPECT_EQ(same.low, 1);
  EXPECT_EQ(same.high, 1);
  // 10 chunks added (ids above 10,000), 5 removed, 30-token ones.
  auto d = l.DriftSince({10'005, 500'000 + 300 - 150}, 10'010);
  EXPECT_LT(d.low, 1);
  EXPECT_GT(d.high, 1);
  EXPECT_LT(d.high / d.low, 1 + kMaxDrift);
  // The idf the phrase can have now lies within: at 3,000 + 10 or 3,000 - 5
  // of 10,005 chunks.
  auto idf = [](double n, double k) { return std::log((n - k + 0.5) / (k + 0.5)); };
  const double then = idf(10'000, 3'000);
  EXPECT_LE(d.low, idf(10'005, 3'010) / then);
  EXPECT_GE(d.high, idf(10'005, 2'995) / then);
  // A large change drifts beyond what a list may carry.
  auto far = l.DriftSince({9'000, 450'000}, 10'500);
  EXPECT_GT(far.high / far.low, 1 + kMaxDrift);
}

TEST_F(KeywordRankTest, PreparesTheListsOfTheFrequentWords) {
  auto n = index_->PrepareKeywordLists(10);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3u);  // alpha, beta and gamma; the others are rare
  auto one = index_->PrepareKeywordLists(1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, 1u);
  ExpectSameAsExhaustive("Alpha", {});
  ExpectSameAsExhaustive("BETA gamma", {});
}

TEST_F(KeywordRankTest, FiltersStillGiveTheExhaustiveAnswer) {
  QueryOptions o;
  o.path_prefix = "/d1";
  ExpectSameAsExhaustive("alpha", o);
  ExpectSameAsExhaustive("beta gamma", o);
  o.path_prefix = "/";
  // A filter that hides nearly everything: the bounded lists run dry and
  // the exhaustive ranking answers.
  o.visible = [](const std::string& path) { return path.ends_with("7.txt") && path.starts_with("/d3/"); };
  ExpectSameAsExhaustive("alpha", o);
  ExpectSameAsExhaustive("alpha w5", o);
}

TEST_F(KeywordRankTest, ChunksAddedAndRemovedAfterTheListsAreRanked) {
  QueryOptions o;
  ExpectSameAsExhaustive("alpha", o);  // builds the lists
  ExpectSameAsExhaustive("alpha beta", o);
  TermImpacts kept(kDepth);
  ASSERT_TRUE(Bounded("alpha", 10, &kept));
  // New chunks better than anything listed: very short, all "alpha".
  for (int i = 0; i < 5; ++i) Write("/new/n" + std::to_string(i) + ".txt", "alpha alpha alpha\n");
  // Files removed, some of them in the lists.
  for (int f = 0; f < 20; ++f) std::filesystem::remove(tree_dir_.path() + FileName(f));
  ASSERT_TRUE(index_->Sync("/", false).ok());
  EXPECT_TRUE(Bounded("alpha", 10));  // a list built on the new statistics
  // The old list has drifted too far (25 of 1,500 chunks changed, for a
  // phrase in a third of them), and was built moments ago: not used.
  EXPECT_FALSE(Bounded("alpha", 10, &kept));
  ExpectSameAsExhaustive("alpha", o);
  ExpectSameAsExhaustive("alpha beta", o);
  auto top = index_->Query("alpha", o);
  ASSERT_TRUE(top.ok());
  ASSERT_FALSE(top->empty());
  EXPECT_TRUE(top->front().path.starts_with("/new/")) << top->front().path;

  // A small change: lists built before it still answer, within bounds.
  TermImpacts small(kDepth);
  ASSERT_TRUE(Bounded("alpha", 10, &small));
  ASSERT_TRUE(Bounded("beta", 10, &small));
  Write("/new/one.txt", "alpha beta w1\n");
  std::filesystem::remove(tree_dir_.path() + FileName(100));
  ASSERT_TRUE(index_->Sync("/", false).ok());
  // (Whether they prove the top 10 depends on how close the scores are;
  // when they cannot, the query is ranked exhaustively.)
  ExpectSameAsExhaustive("alpha", o);
  ExpectSameAsExhaustive("beta r3", o);
}

}  // namespace
}  // namespace nexus::search
