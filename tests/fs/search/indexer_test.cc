#include "fs/search/indexer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>

#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::TempDir;
using testing::WriteFile;
using namespace std::chrono_literals;

// A directory source whose next read of `gate_path` blocks until Open(), so
// a test can hold the indexer's worker in the middle of a batch.
class GatedSource final : public ContentSource {
 public:
  explicit GatedSource(const std::string& dir) : inner_(dir) {}
  void Arm(std::string path) {
    std::lock_guard lk(mu_);
    gate_path_ = std::move(path);
    armed_ = true;
    entered_ = false;
  }
  void WaitEntered() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard lk(mu_);
    armed_ = false;
    cv_.notify_all();
  }
  Result<std::string> Read(const std::string& path, size_t max_bytes) override {
    std::unique_lock lk(mu_);
    if (armed_ && !entered_ && path == gate_path_) {
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lk, [&] { return !armed_; });
    }
    lk.unlock();
    return inner_.Read(path, max_bytes);
  }
  Result<FileInfo> Stat(const std::string& path) override { return inner_.Stat(path); }
  Result<std::vector<FileInfo>> List(const std::string& root) override { return inner_.List(root); }

 private:
  DirectoryContentSource inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string gate_path_;
  bool armed_ = false, entered_ = false;
};

class IndexerTest : public ::testing::Test {
 protected:
  IndexerTest() : source_(tree_.path()) {
    SearchIndex::Options o;
    o.sync_batch = 100;
    auto idx = SearchIndex::Open(db_.path() + "/search.db", &source_, o);
    EXPECT_TRUE(idx.ok());
    index_ = std::move(*idx);
    indexer_ = std::make_unique<Indexer>(index_.get());
  }
  ~IndexerTest() override { source_.Open(); }

  void Write(const std::string& rel, const std::string& data) { WriteFile(tree_.path(), rel, data); }
  void Move(const std::string& from, const std::string& to) {
    std::filesystem::rename(tree_.path() + from, tree_.path() + to);
  }
  std::set<std::string> Found(const std::string& word) {
    QueryOptions o;
    o.limit = 100;
    auto r = index_->Query(word, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::set<std::string> out;
    if (r.ok()) {
      for (const auto& h : *r) out.insert(h.path);
    }
    return out;
  }
  // Holds the worker inside a batch that upserts /gate.txt.
  void HoldWorker() {
    Write("/gate.txt", "gate\n");
    source_.Arm("/gate.txt");
    indexer_->Upsert("/gate.txt");
    source_.WaitEntered();
  }

  TempDir tree_, db_;
  GatedSource source_;
  std::unique_ptr<SearchIndex> index_;
  std::unique_ptr<Indexer> indexer_;
};

TEST_F(IndexerTest, EnqueuedFileIsSearchableWithinOneSecond) {
  Write("/fresh.txt", "quasar telemetry\n");
  auto start = std::chrono::steady_clock::now();
  indexer_->Upsert("/fresh.txt");
  while (Found("quasar").empty() && std::chrono::steady_clock::now() - start < 2s) {
    std::this_thread::sleep_for(2ms);
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(Found("quasar"), std::set<std::string>{"/fresh.txt"});
  EXPECT_LT(elapsed, 1s);
}

TEST_F(IndexerTest, CoalescesQueueAndGrepSeesPendingFiles) {
  HoldWorker();
  Write("/hot.txt", "hotword\n");
  Write("/pending/new.txt", "pendingword here\n");
  for (int i = 0; i < 1000; ++i) indexer_->Upsert("/hot.txt");
  indexer_->Upsert("/pending/new.txt");
  indexer_->Remove("/never-existed");
  auto st = indexer_->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->queue_depth, 3u);  // one entry per distinct path
  EXPECT_EQ(st->state, IndexStats::State::kIndexing);
  EXPECT_STREQ(StateName(st->state), "indexing");

  // Not indexed yet: the bare index misses it, the indexer's grep does not.
  EXPECT_TRUE(index_->Grep("pendingword", "/", {})->empty());
  auto g = indexer_->Grep("pendingword", "/", {});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, (std::vector<GrepMatch>{{"/pending/new.txt", 1, "pendingword here"}}));
  // The in-flight batch is covered too.
  EXPECT_EQ(indexer_->Grep("gate", "/", {})->size(), 1u);

  source_.Open();
  indexer_->Flush();
  st = indexer_->Stats();
  EXPECT_EQ(st->queue_depth, 0u);
  EXPECT_EQ(st->state, IndexStats::State::kReady);
  EXPECT_EQ(st->files, 3u);
  EXPECT_GT(st->last_update_ns, 0);
  EXPECT_EQ(Found("hotword"), std::set<std::string>{"/hot.txt"});
  EXPECT_EQ(index_->Grep("pendingword", "/", {})->size(), 1u);
}

TEST_F(IndexerTest, RenamesKeepEventOrder) {
  Write("/d/x.txt", "dirword x\n");
  Write("/d/y.txt", "dirword y\n");
  Write("/t.txt", "target old\n");
  indexer_->Upsert("/d/x.txt");
  indexer_->Upsert("/d/y.txt");
  indexer_->Upsert("/t.txt");
  indexer_->Flush();
  ASSERT_EQ(Found("dirword").size(), 2u);

  HoldWorker();
  // A file created and renamed before the worker sees either event.
  Write("/a.txt", "moved file\n");
  indexer_->Upsert("/a.txt");
  Move("/a.txt", "/b.txt");
  indexer_->Rename("/a.txt", "/b.txt");
  // A directory rename, then a change inside the new directory.
  Move("/d", "/e");
  indexer_->Rename("/d", "/e");
  Write("/e/x.txt", "dirword x changed\n");
  indexer_->Upsert("/e/x.txt");
  // A queued change to /t.txt, then a rename over it.
  Write("/t.txt", "target changed\n");
  indexer_->Upsert("/t.txt");
  Write("/s.txt", "source replaces target\n");
  Move("/s.txt", "/t.txt");
  indexer_->Rename("/s.txt", "/t.txt");
  source_.Open();
  indexer_->Flush();

  EXPECT_EQ(Found("moved"), std::set<std::string>{"/b.txt"});
  EXPECT_EQ(Found("dirword"), (std::set<std::string>{"/e/x.txt", "/e/y.txt"}));
  EXPECT_EQ(Found("changed"), std::set<std::string>{"/e/x.txt"});
  EXPECT_EQ(Found("replaces"), std::set<std::string>{"/t.txt"});
  EXPECT_TRUE(Found("old").empty());
  EXPECT_EQ(index_->Counts()->files, 5u);  // gate, b, e/x, e/y, t

  std::filesystem::remove_all(tree_.path() + "/e");
  indexer_->Remove("/e");
  indexer_->Flush();
  EXPECT_TRUE(Found("dirword").empty());
}

TEST_F(IndexerTest, IndexPathReportsProgressAndReindexRereads) {
  for (int i = 0; i < 600; ++i)
    Write("/bulk/" + std::to_string(i) + ".txt", "bulkword " + std::to_string(i) + "\n");
  std::vector<size_t> done;
  size_t total = 0;
  ASSERT_TRUE(indexer_
                  ->IndexPath("/bulk",
                              [&](size_t d, size_t t) {
                                done.push_back(d);
                                total = t;
                              })
                  .ok());
  EXPECT_EQ(total, 600u);
  ASSERT_GE(done.size(), 3u);
  EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
  EXPECT_EQ(done.back(), 600u);
  EXPECT_EQ(indexer_->Stats()->files, 600u);

  // Same size and mtime: IndexPath skips the file, Reindex reads it again.
  auto path = tree_.path() + "/bulk/0.txt";
  auto mtime = std::filesystem::last_write_time(path);
  Write("/bulk/0.txt", "newwordq 0\n");  // same length as "bulkword 0\n"
  std::filesystem::last_write_time(path, mtime);
  ASSERT_TRUE(indexer_->IndexPath("/").ok());
  EXPECT_TRUE(Found("newwordq").empty());
  ASSERT_TRUE(indexer_->Reindex().ok());
  EXPECT_EQ(Found("newwordq"), std::set<std::string>{"/bulk/0.txt"});
  EXPECT_EQ(indexer_->Stats()->state, IndexStats::State::kReady);
}

}  // namespace
}  // namespace nexus::search
