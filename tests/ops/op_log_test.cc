#include "ops/op_log.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/sqlite_db.h"
#include "tests/temp_dir.h"

namespace nexus::ops {
namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Operation Op(OpKind kind, std::string path, std::string subject = "user:alice", std::string agent = "",
             std::string task = "", int64_t time_ns = 0) {
  Operation op;
  op.kind = kind;
  op.path = std::move(path);
  op.subject = std::move(subject);
  op.agent_id = std::move(agent);
  op.task_id = std::move(task);
  op.time_ns = time_ns ? time_ns : NowNs();
  op.uid = 1000;
  op.pid = 42;
  op.command = "touch";
  return op;
}

std::vector<int64_t> Ids(const std::vector<Operation>& ops) {
  std::vector<int64_t> ids;
  for (const Operation& op : ops) ids.push_back(op.id);
  return ids;
}

// OpFilter with setters, so a test names only the fields it sets.
struct F : OpFilter {
  F& Subject(std::string v) {
    subject = std::move(v);
    return *this;
  }
  F& Agent(std::string v) {
    agent_id = std::move(v);
    return *this;
  }
  F& Task(std::string v) {
    task_id = std::move(v);
    return *this;
  }
  F& Path(std::string v) {
    path = std::move(v);
    return *this;
  }
  F& Kind(OpKind v) {
    kind = v;
    return *this;
  }
  F& Since(int64_t v) {
    since_ns = v;
    return *this;
  }
  F& Until(int64_t v) {
    until_ns = v;
    return *this;
  }
  F& Ids(std::vector<int64_t> v) {
    ids = std::move(v);
    return *this;
  }
};

class OpLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    log_.reset();
    auto log = OpLog::Open({.path = dir_.path() + "/oplog.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }
  void Append(std::vector<Operation> batch) { ASSERT_TRUE(log_->Append(batch).ok()); }
  std::vector<int64_t> QueryIds(const OpFilter& f, int64_t before = 0, size_t limit = 100) {
    auto r = log_->Query(f, before, limit);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? Ids(*r) : std::vector<int64_t>{};
  }

  testing::TempDir dir_;
  std::unique_ptr<OpLog> log_;
};

TEST_F(OpLogTest, AppendAssignsIdsInOrderAndKeepsEveryField) {
  EXPECT_EQ(log_->NewestId(), 0);
  EXPECT_EQ(log_->OldestId(), 0);
  std::vector<Operation> batch = {Op(OpKind::kCreate, "/a"), Op(OpKind::kWrite, "/a")};
  batch[1].version_before = 1;
  batch[1].version_after = 2;
  batch[1].detail = R"({"k":1})";
  batch[1].old_path = "/z";
  ASSERT_TRUE(log_->Append(batch).ok());
  EXPECT_EQ(batch[0].id, 1);
  EXPECT_EQ(batch[1].id, 2);
  EXPECT_EQ(log_->NewestId(), 2);
  EXPECT_EQ(log_->OldestId(), 1);
  EXPECT_EQ(log_->Count(), 2u);
  auto got = log_->Get(2);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, OpKind::kWrite);
  EXPECT_EQ(got->path, "/a");
  EXPECT_EQ(got->old_path, "/z");
  EXPECT_EQ(got->subject, "user:alice");
  EXPECT_EQ(got->uid, 1000u);
  EXPECT_EQ(got->pid, 42);
  EXPECT_EQ(got->command, "touch");
  EXPECT_EQ(got->version_before, 1u);
  EXPECT_EQ(got->version_after, 2u);
  EXPECT_EQ(got->detail, R"({"k":1})");
  EXPECT_EQ(got->time_ns, batch[1].time_ns);
  EXPECT_EQ(log_->OldestTimeNs(), batch[0].time_ns);
  EXPECT_EQ(log_->Get(3).status().code(), ENOENT);
  std::vector<Operation> empty;
  EXPECT_TRUE(log_->Append(empty).ok());
}

TEST_F(OpLogTest, QueryIsNewestFirstAndPagesByBeforeId) {
  std::vector<Operation> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Op(OpKind::kWrite, "/f" + std::to_string(i)));
  Append(batch);
  EXPECT_EQ(QueryIds({}, 0, 3), (std::vector<int64_t>{10, 9, 8}));
  EXPECT_EQ(QueryIds({}, 8, 3), (std::vector<int64_t>{7, 6, 5}));
  EXPECT_EQ(QueryIds({}, 2, 3), (std::vector<int64_t>{1}));
  EXPECT_TRUE(QueryIds({}, 1, 3).empty());
  EXPECT_TRUE(QueryIds({}, 0, 0).empty());
  auto after = log_->After(7, {}, 100);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Ids(*after), (std::vector<int64_t>{8, 9, 10}));
  after = log_->After(0, {}, 2);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Ids(*after), (std::vector<int64_t>{1, 2}));
}

TEST_F(OpLogTest, FiltersSelectBySubjectAgentTaskKindAndTime) {
  Append({Op(OpKind::kCreate, "/a", "user:alice", "", "", 1000),
          Op(OpKind::kWrite, "/a", "agent:bot", "bot", "t1", 2000),
          Op(OpKind::kUnlink, "/b", "agent:bot", "bot", "t2", 3000),
          Op(OpKind::kWrite, "/c", "user:bob", "", "t1", 4000),
          Op(OpKind::kWrite, "/d", "agent:bot", "bot", "t1", 5000)});
  EXPECT_EQ(QueryIds(F().Subject("agent:bot")), (std::vector<int64_t>{5, 3, 2}));
  EXPECT_EQ(QueryIds(F().Agent("bot")), (std::vector<int64_t>{5, 3, 2}));
  EXPECT_EQ(QueryIds(F().Agent("bot"), 5), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(QueryIds(F().Task("t1")), (std::vector<int64_t>{5, 4, 2}));
  EXPECT_EQ(QueryIds(F().Agent("bot").Task("t1")), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(QueryIds(F().Subject("user:bob").Task("t1")), (std::vector<int64_t>{4}));
  EXPECT_EQ(QueryIds(F().Kind(OpKind::kWrite)), (std::vector<int64_t>{5, 4, 2}));
  EXPECT_EQ(QueryIds(F().Agent("bot").Kind(OpKind::kUnlink)), (std::vector<int64_t>{3}));
  EXPECT_EQ(QueryIds(F().Since(2000).Until(4000)), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(QueryIds(F().Since(4500)), (std::vector<int64_t>{5}));
  EXPECT_EQ(QueryIds(F().Until(1000)), (std::vector<int64_t>{1}));
  EXPECT_EQ(QueryIds(F().Agent("nobody")), (std::vector<int64_t>{}));
  EXPECT_EQ(QueryIds(F().Ids(std::vector<int64_t>{4, 1, 5, 99})), (std::vector<int64_t>{5, 4, 1}));
  EXPECT_EQ(QueryIds(F().Ids(std::vector<int64_t>{4, 1, 5}), 5), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(QueryIds(F().Agent("bot").Ids(std::vector<int64_t>{4, 3})), (std::vector<int64_t>{3}));
  auto after = log_->After(2, F().Agent("bot"), 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Ids(*after), (std::vector<int64_t>{3, 5}));
  after = log_->After(0, F().Ids(std::vector<int64_t>{5, 2}), 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Ids(*after), (std::vector<int64_t>{2, 5}));
}

TEST_F(OpLogTest, PathFilterIsThePathOrBelowItEitherSideOfARename) {
  Operation rename_in = Op(OpKind::kRename, "/proj/moved");
  rename_in.old_path = "/tmp/x";
  Operation rename_out = Op(OpKind::kRename, "/elsewhere");
  rename_out.old_path = "/proj/old";
  Append({Op(OpKind::kCreate, "/proj"),       // 1
          Op(OpKind::kWrite, "/proj/a"),      // 2
          Op(OpKind::kWrite, "/proj/sub/b"),  // 3
          Op(OpKind::kWrite, "/project"),     // 4: a sibling, not below
          Op(OpKind::kWrite, "/proj-x/c"),    // 5: likewise
          Op(OpKind::kWrite, "/pro"),         // 6
          rename_in,                          // 7
          rename_out});                       // 8
  EXPECT_EQ(QueryIds(F().Path("/proj")), (std::vector<int64_t>{8, 7, 3, 2, 1}));
  EXPECT_EQ(QueryIds(F().Path("/proj/")), (std::vector<int64_t>{8, 7, 3, 2, 1}));
  EXPECT_EQ(QueryIds(F().Path("/proj/sub")), (std::vector<int64_t>{3}));
  EXPECT_EQ(QueryIds(F().Path("/tmp")), (std::vector<int64_t>{7}));
  EXPECT_EQ(QueryIds(F().Path("/")).size(), 8u);
  EXPECT_EQ(QueryIds(F().Path("/proj"), 7, 2), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(QueryIds(F().Path("/proj").Kind(OpKind::kRename)), (std::vector<int64_t>{8, 7}));
  EXPECT_EQ(QueryIds(F().Path("/proj").Subject("user:alice")), (std::vector<int64_t>{8, 7, 3, 2, 1}));
  EXPECT_EQ(QueryIds(F().Path("/proj").Subject("user:bob")), (std::vector<int64_t>{}));
  auto after = log_->After(2, F().Path("/proj"), 2);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Ids(*after), (std::vector<int64_t>{3, 7}));
}

TEST_F(OpLogTest, GcDropsOldOperationsAndNeverReusesIds) {
  const int64_t day = 86'400'000'000'000;
  const int64_t now = NowNs();
  Append({Op(OpKind::kWrite, "/old", "user:alice", "", "", now - 40 * day),
          Op(OpKind::kWrite, "/old2", "user:alice", "", "", now - 31 * day),
          Op(OpKind::kWrite, "/new", "user:alice", "", "", now - 1 * day)});
  auto dropped = log_->Gc(30);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 2u);
  EXPECT_EQ(QueryIds({}), (std::vector<int64_t>{3}));
  EXPECT_EQ(log_->OldestId(), 3);
  dropped = log_->Gc(0);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1u);
  EXPECT_EQ(log_->Count(), 0u);
  EXPECT_EQ(log_->NewestId(), 3);
  Reopen();
  EXPECT_EQ(log_->NewestId(), 3);
  std::vector<Operation> batch = {Op(OpKind::kWrite, "/again")};
  ASSERT_TRUE(log_->Append(batch).ok());
  EXPECT_EQ(batch[0].id, 4);
}

TEST_F(OpLogTest, MetaIsKeptAcrossReopen) {
  EXPECT_EQ(log_->Meta("journal_seq"), 0);
  ASSERT_TRUE(log_->SetMeta("journal_seq", 17).ok());
  EXPECT_EQ(log_->Meta("journal_seq"), 17);
  ASSERT_TRUE(log_->SetMeta("journal_seq", 18).ok());
  ASSERT_TRUE(log_->SetMeta("other", -5).ok());
  Reopen();
  EXPECT_EQ(log_->Meta("journal_seq"), 18);
  EXPECT_EQ(log_->Meta("other"), -5);
}

TEST_F(OpLogTest, OperationsSurviveReopen) {
  Append({Op(OpKind::kMkdir, "/d"), Op(OpKind::kCreate, "/d/f")});
  Reopen();
  EXPECT_EQ(log_->NewestId(), 2);
  EXPECT_EQ(QueryIds(F().Path("/d")), (std::vector<int64_t>{2, 1}));
}

TEST_F(OpLogTest, ListenersHearTheNewestIdAfterCommit) {
  std::vector<int64_t> heard;
  int64_t visible = -1;
  uint64_t token = log_->AddListener([&](int64_t newest) {
    heard.push_back(newest);
    // Committed: a reader sees it.
    visible = static_cast<int64_t>(log_->Count());
  });
  Append({Op(OpKind::kWrite, "/a"), Op(OpKind::kWrite, "/b")});
  Append({Op(OpKind::kWrite, "/c")});
  EXPECT_EQ(heard, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(visible, 3);
  log_->RemoveListener(token);
  Append({Op(OpKind::kWrite, "/d")});
  EXPECT_EQ(heard.size(), 2u);
}

TEST_F(OpLogTest, RefusesANewerSchema) {
  log_.reset();
  {
    auto db = SqliteDb::Open(dir_.path() + "/oplog.db", {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 99").ok());
  }
  auto log = OpLog::Open({.path = dir_.path() + "/oplog.db"});
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), EINVAL);
  EXPECT_EQ(OpLog::Open({}).status().code(), EINVAL);
}

TEST_F(OpLogTest, ConcurrentReadersAndOneWriter) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto r = log_->Query(F().Agent("bot"), 0, 50);
      if (!r.ok()) ++failures;
    }
  });
  for (int b = 0; b < 50; ++b) {
    std::vector<Operation> batch;
    for (int i = 0; i < 20; ++i) batch.push_back(Op(OpKind::kWrite, "/f", "agent:bot", "bot"));
    ASSERT_TRUE(log_->Append(batch).ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(log_->Count(), 1000u);
  EXPECT_EQ(QueryIds(F().Agent("bot"), 0, 1000).size(), 1000u);
}

}  // namespace
}  // namespace nexus::ops
