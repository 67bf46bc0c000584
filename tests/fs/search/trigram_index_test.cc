#include "fs/search/trigram_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::TempDir;

constexpr const char kDocs[] = "CREATE TABLE docs(id INTEGER PRIMARY KEY)";
constexpr const char kLive[] = "SELECT id FROM docs";
constexpr const char kAddDoc[] = "INSERT INTO docs(id) VALUES (?1)";
constexpr const char kDropDoc[] = "DELETE FROM docs WHERE id = ?1";
constexpr const char kLevels[] = "SELECT level, count(*) FROM tri_segments GROUP BY level ORDER BY level";

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The distinct lowercased trigrams of `s`.
std::set<std::string> Trigrams(const std::string& s) {
  std::set<std::string> out;
  const std::string l = Lower(s);
  for (size_t i = 0; i + 3 <= l.size(); ++i) out.insert(l.substr(i, 3));
  return out;
}

class TrigramIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDb::Open(dir_.path() + "/t.db", SqliteOptions{.what = "trigram test"});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Exec(TrigramIndex::kSchema).ok());
    ASSERT_TRUE(db_->Exec(kDocs).ok());
  }

  // One transaction adding the given documents.
  void Commit(const std::map<int64_t, std::string>& docs) {
    Status st = InTransaction(*db_, [&]() -> Status {
      for (const auto& [id, text] : docs) {
        NEXUS_RETURN_IF_ERROR(db_->Prepare(kAddDoc).Bind(1, id).Run());
        index_.Add(id, text);
        texts_[id] = text;
      }
      return index_.Commit(*db_);
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void Drop(int64_t id) {
    ASSERT_TRUE(db_->Prepare(kDropDoc).Bind(1, id).Run().ok());
    texts_.erase(id);
  }
  std::vector<int64_t> Candidates(const std::string& literal) {
    auto r = TrigramIndex::Candidates(*db_, literal);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<int64_t>{};
  }
  // Live documents holding every trigram of `literal`, as the index must
  // answer (it may add dead ids, which callers skip).
  std::vector<int64_t> Expected(const std::string& literal) {
    std::vector<int64_t> out;
    const auto want = Trigrams(literal);
    for (const auto& [id, text] : texts_) {
      const auto have = Trigrams(text);
      if (std::includes(have.begin(), have.end(), want.begin(), want.end())) out.push_back(id);
    }
    return out;
  }
  std::vector<int64_t> LiveOnly(std::vector<int64_t> ids) {
    std::erase_if(ids, [&](int64_t id) { return !texts_.contains(id); });
    return ids;
  }
  std::map<int64_t, int64_t> Levels() {
    std::map<int64_t, int64_t> out;
    Statement q = db_->Prepare(kLevels);
    while (q.Next()) out[q.Int(0)] = q.Int(1);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteDb> db_;
  TrigramIndex index_{kLive};
  std::map<int64_t, std::string> texts_;  // live documents
};

TEST_F(TrigramIndexTest, FindsDocumentsHoldingEveryTrigramCaseInsensitively) {
  Commit({{1, "int Alpha(void);\n"}, {2, "the alphabet\n"}, {3, "nothing here\n"}, {4, "ALP"}});
  EXPECT_EQ(Candidates("alpha"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Candidates("ALPHA"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Candidates("alp"), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(Candidates("(void)"), (std::vector<int64_t>{1}));
  EXPECT_EQ(Candidates("here\n"), (std::vector<int64_t>{3}));
  EXPECT_TRUE(Candidates("zzz").empty());
  EXPECT_EQ(TrigramIndex::Candidates(*db_, "ab").code(), EINVAL);
}

TEST_F(TrigramIndexTest, MatchesBruteForceAcrossMergesAndDrops) {
  // Small alphabet: many shared trigrams, lists of every length.
  unsigned seed = 11;
  auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff; };
  auto text = [&] {
    std::string s;
    const int n = 5 + static_cast<int>(next() % 60);
    for (int i = 0; i < n; ++i) s.push_back("abcdeABx \n\x80\xff"[next() % 12]);
    return s;
  };
  int64_t id = 0;
  const size_t commits = TrigramIndex::kFanout * TrigramIndex::kFanout + 3;  // reaches level 2
  for (size_t c = 0; c < commits; ++c) {
    std::map<int64_t, std::string> batch;
    for (int k = 0; k < 4; ++k) batch[++id] = text();
    Commit(batch);
    if (c % 3 == 0) Drop(id - 2);  // a removed or rewritten file: its id dies
  }
  const auto levels = Levels();
  EXPECT_EQ(levels.count(2), 1u) << "expected merges up to level 2";
  EXPECT_LT(levels.at(0), static_cast<int64_t>(TrigramIndex::kFanout));

  for (int q = 0; q < 300; ++q) {
    std::string lit = text().substr(0, 3 + next() % 4);
    if (lit.size() < 3) continue;
    auto got = Candidates(lit);
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    EXPECT_EQ(LiveOnly(got), Expected(lit)) << "literal " << testing::ShellQuote(lit);
  }
}

TEST_F(TrigramIndexTest, MergesPurgeDeadDocuments) {
  Commit({{1, "keep this text"}, {2, "drop this text"}});
  Drop(2);
  EXPECT_EQ(Candidates("drop"), (std::vector<int64_t>{2}));  // dead, until a merge
  for (size_t c = 1; c < TrigramIndex::kFanout; ++c) Commit({{100 + static_cast<int64_t>(c), "filler"}});
  EXPECT_EQ(Levels().count(1), 1u);
  EXPECT_TRUE(Candidates("drop").empty());
  EXPECT_EQ(Candidates("this text"), (std::vector<int64_t>{1}));
}

TEST_F(TrigramIndexTest, AbortForgetsWhatWasAdded) {
  index_.Add(7, "rolled back");
  index_.Abort();
  Commit({{8, "committed"}});
  EXPECT_TRUE(Candidates("rolled").empty());
  EXPECT_EQ(Candidates("committed"), (std::vector<int64_t>{8}));
}

TEST_F(TrigramIndexTest, CorruptRowIsAnErrorNotACrash) {
  Commit({{1, "abcdef"}});
  ASSERT_TRUE(db_->Exec("UPDATE tri_postings SET data = x'ff'").ok());
  EXPECT_EQ(TrigramIndex::Candidates(*db_, "abc").code(), EIO);
  ASSERT_TRUE(db_->Exec("UPDATE tri_postings SET data = x'0261'").ok());  // 2 lists, 1 byte
  EXPECT_EQ(TrigramIndex::Candidates(*db_, "abc").code(), EIO);
}

TEST_F(TrigramIndexTest, StatsCountSegmentsAndRows) {
  Commit({{1, "aaaa bbbb"}});
  Commit({{2, "cccc"}});
  auto s = TrigramIndex::GetStats(*db_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->segments, 2u);
  EXPECT_GE(s->rows, 3u);  // buckets "aa", "a ", " b", "bb", "cc", ...
  EXPECT_GT(s->bytes, 0u);
}

}  // namespace
}  // namespace nexus::search
