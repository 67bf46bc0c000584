// Switching the embedding provider of a live index: vectors of the old model
// go at once, the semantic lane is degraded until EmbedMissing refills them.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "fs/search/search_index.h"
#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

// Letter counts, normalised: texts sharing letters are near.
class LetterProvider final : public EmbeddingProvider {
 public:
  explicit LetterProvider(std::string model) : model_(std::move(model)) {}
  Result<std::vector<Vector>> Embed(const std::vector<std::string>& texts) override {
    calls++;
    if (fail_after >= 0 && calls > fail_after) return Status::Error(ECONNREFUSED, "provider down");
    std::vector<Vector> out;
    for (const auto& t : texts) {
      Vector v(26, 0.0f);
      for (char c : t)
        if (c >= 'a' && c <= 'z') v[c - 'a'] += 1;
      float n = 0;
      for (float x : v) n += x * x;
      n = std::sqrt(n) + 1e-6f;
      for (float& x : v) x /= n;
      out.push_back(std::move(v));
    }
    return out;
  }
  std::string ModelId() const override { return model_; }
  std::atomic<int> calls{0};
  int fail_after = -1;  // >= 0: calls after this many fail

 private:
  std::string model_;
};

class ProviderSwitchTest : public testing::IndexTest {
 protected:
  ProviderSwitchTest() {
    for (int i = 0; i < 200; ++i)
      Write("/f" + std::to_string(i) + ".txt", i % 2 ? "zebra zoo zigzag\n" : "apple banana cabbage\n");
  }
  void Open(EmbeddingProvider* p) {
    SearchIndex::Options o;
    o.embedder = p;
    IndexTest::Open(o);
  }
  IndexCounts Counts() {
    auto c = index_->Counts();
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : IndexCounts{};
  }
  std::vector<QueryHit> Semantic(const std::string& text) {
    QueryOptions o;
    o.mode = QueryMode::kSemantic;
    auto r = index_->Query(text, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<QueryHit>{};
  }
};

TEST_F(ProviderSwitchTest, SwitchDropsVectorsAndRefillRestoresThem) {
  LetterProvider a("letters-a"), b("letters-b");
  Open(&a);
  ASSERT_TRUE(index_->Sync("/", false).ok());
  EXPECT_EQ(Counts().embedded, 200u);
  EXPECT_FALSE(Semantic("zigzag zebra")[0].semantic_degraded);

  ASSERT_TRUE(index_->SetEmbedder(&b).ok());
  EXPECT_EQ(index_->embedder(), &b);
  EXPECT_EQ(Counts().embedded, 0u);
  auto hits = Semantic("zigzag zebra");
  ASSERT_FALSE(hits.empty());
  EXPECT_TRUE(hits[0].semantic_degraded);  // answered by keywords while refilling

  size_t last_done = 0, last_total = 0;
  ASSERT_TRUE(index_
                  ->EmbedMissing([&](size_t d, size_t t) {
                    last_done = d;
                    last_total = t;
                  })
                  .ok());
  EXPECT_EQ(last_total, 200u);
  EXPECT_EQ(last_done, 200u);
  EXPECT_EQ(Counts().embedded, 200u);
  hits = Semantic("zigzag zebra");
  ASSERT_FALSE(hits.empty());
  EXPECT_FALSE(hits[0].semantic_degraded);
  EXPECT_GT(hits[0].vector_score, 0.9);

  // Reopened with the same model: the vectors stay.
  Open(&b);
  EXPECT_EQ(Counts().embedded, 200u);
  EXPECT_FALSE(Semantic("apple")[0].semantic_degraded);
  // No provider: no vectors, keyword answers.
  ASSERT_TRUE(index_->SetEmbedder(nullptr).ok());
  EXPECT_EQ(Counts().embedded, 0u);
  EXPECT_TRUE(Semantic("apple")[0].semantic_degraded);
  EXPECT_TRUE(index_->EmbedMissing().ok());  // nothing to do
}

TEST_F(ProviderSwitchTest, FailingProviderKeepsWhatWasDoneAndStaysDegraded) {
  LetterProvider a("letters-a"), b("letters-b");
  Open(&a);
  ASSERT_TRUE(index_->Sync("/", false).ok());
  b.fail_after = 1;  // the first batch of 64 succeeds
  ASSERT_TRUE(index_->SetEmbedder(&b).ok());
  Status st = index_->EmbedMissing();
  EXPECT_EQ(st.code(), ECONNREFUSED) << st.ToString();
  EXPECT_EQ(Counts().embedded, 64u);
  EXPECT_TRUE(Semantic("apple")[0].semantic_degraded);
  b.fail_after = -1;  // back up: the refill finishes what is left
  ASSERT_TRUE(index_->EmbedMissing().ok());
  EXPECT_EQ(Counts().embedded, 200u);
  EXPECT_FALSE(Semantic("apple")[0].semantic_degraded);
}

TEST_F(ProviderSwitchTest, RefillStopsWhenCancelledOrSwitchedAway) {
  LetterProvider a("letters-a"), b("letters-b");
  Open(&a);
  ASSERT_TRUE(index_->Sync("/", false).ok());
  ASSERT_TRUE(index_->SetEmbedder(&b).ok());
  int batches = 0;
  ASSERT_TRUE(index_->EmbedMissing({}, [&] { return ++batches > 1; }).ok());
  EXPECT_EQ(Counts().embedded, 64u);
  // A refill whose provider was replaced stops without storing its vectors.
  LetterProvider c("letters-c");
  ASSERT_TRUE(index_
                  ->EmbedMissing({},
                                 [&] {
                                   if (batches++ == 2) {
                                     EXPECT_TRUE(index_->SetEmbedder(&c).ok());
                                   }
                                   return false;
                                 })
                  .ok());
  EXPECT_EQ(Counts().embedded, 0u);  // c's model: nothing embedded yet
  ASSERT_TRUE(index_->EmbedMissing().ok());
  EXPECT_EQ(Counts().embedded, 200u);
}

TEST_F(ProviderSwitchTest, FilesIndexedAfterASwitchUseTheNewProvider) {
  LetterProvider a("letters-a"), b("letters-b");
  Open(&a);
  ASSERT_TRUE(index_->Sync("/", false).ok());
  ASSERT_TRUE(index_->SetEmbedder(&b).ok());
  const int before = b.calls;
  Write("/new.txt", "quokka quince\n");
  ASSERT_TRUE(index_->Apply(std::vector<Change>{{Change::Kind::kUpsert, "/new.txt", ""}}).ok());
  EXPECT_GT(b.calls, before);
  EXPECT_EQ(Counts().embedded, 1u);
}

}  // namespace
}  // namespace nexus::search
