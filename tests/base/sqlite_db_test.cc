#include "base/sqlite_db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace nexus {
namespace {

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nexus-sqlite-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name = "test.db") const { return dir_ + "/" + name; }

  std::unique_ptr<SqliteDb> OpenDb(SqliteOptions o = {}) {
    if (o.what == "database") o.what = "test db";
    if (!o.schema) o.schema = "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v)";
    auto db = SqliteDb::Open(Path(), o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  static int64_t Count(SqliteDb& db) {
    Statement s = db.Prepare("SELECT COUNT(*) FROM t");
    return s.Next() ? s.Int(0) : -1;
  }

  std::string dir_;
};

TEST(SqliteErrnoTest, MapsResultCodes) {
  const struct {
    int rc;
    int want;
  } cases[] = {
      {SQLITE_OK, 0},
      {SQLITE_DONE, 0},
      {SQLITE_BUSY, EBUSY},
      {SQLITE_BUSY_SNAPSHOT, EBUSY},
      {SQLITE_LOCKED, EBUSY},
      {SQLITE_FULL, ENOSPC},
      {SQLITE_CORRUPT, EIO},
      {SQLITE_NOTADB, EIO},
      {SQLITE_IOERR_WRITE, EIO},
      {SQLITE_CANTOPEN, EIO},
      {SQLITE_CONSTRAINT, EEXIST},
      {SQLITE_CONSTRAINT_PRIMARYKEY, EEXIST},
      {SQLITE_READONLY, EROFS},
      {SQLITE_NOMEM, ENOMEM},
      {SQLITE_PERM, EACCES},
      {SQLITE_TOOBIG, EFBIG},
      {SQLITE_INTERRUPT, EINTR},
      {SQLITE_RANGE, EINVAL},
      {SQLITE_ERROR, EIO},
  };
  for (const auto& c : cases) EXPECT_EQ(SqliteErrno(c.rc), c.want) << "rc " << c.rc;
}

TEST_F(SqliteDbTest, ConstraintViolationIsEexistAndNamesTheDatabase) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(2).Run().ok());
  Status st = db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(3).Run("insert row");
  EXPECT_EQ(st.code(), EEXIST);
  EXPECT_NE(st.message().find("test db: insert row: "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("UNIQUE"), std::string::npos) << st.message();
  // The statement was reset by the failure and can run again.
  EXPECT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(2).Bind(3).Run().ok());
  EXPECT_EQ(Count(*db), 2);
}

TEST_F(SqliteDbTest, LockedDatabaseIsEbusy) {
  auto a = OpenDb();
  auto b = OpenDb({.busy_timeout_ms = 0});
  ASSERT_TRUE(a && b);
  auto txn = Transaction::Begin(*a);
  ASSERT_TRUE(txn.ok());
  auto other = Transaction::Begin(*b);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code(), EBUSY);
  EXPECT_NE(other.status().message().find("test db"), std::string::npos);
}

TEST_F(SqliteDbTest, NotADatabaseIsEioWithAClearMessage) {
  {
    std::ofstream f(Path());
    f << std::string(8192, 'x');
  }
  auto db = SqliteDb::Open(Path(), {.what = "test db"});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.code(), EIO);
  EXPECT_NE(db.status().message().find(Path() + " is damaged or not a SQLite database"), std::string::npos)
      << db.status().message();
}

TEST_F(SqliteDbTest, QueryOnlyConnectionRefusesWritesWithErofs) {
  auto w = OpenDb();
  auto r = OpenDb({.query_only = true});
  ASSERT_TRUE(w && r);
  Status st = r->Prepare("INSERT INTO t(k, v) VALUES(1, 1)").Run();
  EXPECT_EQ(st.code(), EROFS) << st.ToString();
}

TEST_F(SqliteDbTest, BadSqlIsAnErrorNotACrash) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  Statement s = db->Prepare("SELEC nonsense");
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.Next());
  EXPECT_EQ(s.Run().code(), EIO);
  EXPECT_NE(s.status().message().find("prepare SELEC nonsense"), std::string::npos) << s.status().message();
  EXPECT_EQ(db->TEST_CachedStatements(), 0u);
}

TEST_F(SqliteDbTest, StatementsAreCachedAndResetWhenReleased) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(i).Bind(i * 10).Run().ok());
  const size_t cached = db->TEST_CachedStatements();
  for (int round = 0; round < 2; ++round) {
    // Released after one row: the next use starts from the first row again,
    // with the old bindings cleared.
    Statement s = db->Prepare("SELECT k FROM t WHERE k >= ? ORDER BY k");
    s.Bind(1, 0);
    ASSERT_TRUE(s.Next());
    EXPECT_EQ(s.Int(0), 0);
  }
  EXPECT_EQ(db->TEST_CachedStatements(), cached + 1);
  // Unbound parameters are NULL: no row.
  EXPECT_FALSE(db->Prepare("SELECT k FROM t WHERE k >= ? ORDER BY k").Next());
}

TEST_F(SqliteDbTest, NestedUseOfOneStatementGetsItsOwnHandle) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(i).Bind(i).Run().ok());
  static constexpr const char* kAll = "SELECT k FROM t ORDER BY k";
  int pairs = 0;
  Statement outer = db->Prepare(kAll);
  while (outer.Next()) {
    Statement inner = db->Prepare(kAll);
    while (inner.Next()) ++pairs;
    ASSERT_TRUE(inner.status().ok());
  }
  EXPECT_EQ(pairs, 9);
}

TEST_F(SqliteDbTest, LoopsEndResetSoTheStatementCanBeBoundAgain) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(5).Bind(5).Run().ok());
  Statement s = db->Prepare("SELECT v FROM t WHERE k = ?");
  for (int k : {5, 6, 5}) {
    s.Bind(1, k);
    int rows = 0;
    while (s.Next()) ++rows;
    EXPECT_EQ(rows, k == 5 ? 1 : 0);
  }
}

TEST_F(SqliteDbTest, BlobsAndTextKeepEveryByte) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  const std::string bytes("a\0b\xff\xfe\xc3\x28\x80z\0", 10);
  ASSERT_EQ(bytes.size(), 10u);
  ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1, 1).BindBlob(2, bytes).Run().ok());
  ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1, 2).Bind(2, bytes).Run().ok());
  ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1, 3).BindBlob(2, "").Run().ok());
  Statement s = db->Prepare("SELECT k, typeof(v), v, length(CAST(v AS BLOB)) FROM t ORDER BY k");
  const char* want_type[] = {"blob", "text", "blob"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Next());
    EXPECT_EQ(s.Text(1), want_type[i]);
    EXPECT_EQ(s.Blob(2), i < 2 ? bytes : std::string());
    EXPECT_EQ(s.Int(3), i < 2 ? 10 : 0);
  }
  EXPECT_FALSE(s.Next());
  EXPECT_TRUE(s.status().ok());
}

TEST_F(SqliteDbTest, TransactionRollsBackUnlessCommitted) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  {
    auto txn = Transaction::Begin(*db);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(1).Run().ok());
  }
  EXPECT_EQ(Count(*db), 0);
  {
    auto txn = Transaction::Begin(*db);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(1).Run().ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(Count(*db), 1);

  Status st = InTransaction(*db, [&]() -> Status {
    NEXUS_RETURN_IF_ERROR(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(2).Bind(2).Run());
    return Status::Error(ENOENT, "changed my mind");
  });
  EXPECT_EQ(st.code(), ENOENT);
  EXPECT_EQ(Count(*db), 1);
  // A failing statement inside rolls back everything before it.
  st = InTransaction(*db, [&]() -> Status {
    NEXUS_RETURN_IF_ERROR(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(3).Bind(3).Run());
    return db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(1).Run();
  });
  EXPECT_EQ(st.code(), EEXIST);
  EXPECT_EQ(Count(*db), 1);
  auto r = InTransaction(*db, [&]() -> Result<int64_t> {
    NEXUS_RETURN_IF_ERROR(db->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(4).Bind(4).Run());
    return db->LastInsertId();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(Count(*db), 2);
}

TEST_F(SqliteDbTest, OpensWithTheRequestedPragmas) {
  auto db = OpenDb({.synchronous = SqliteOptions::Sync::kFull, .cache_kib = 1234});
  ASSERT_TRUE(db);
  auto pragma = [&](const char* sql) {
    Statement s = db->Prepare(sql);
    return s.Next() ? s.Text(0) : std::string("?");
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA synchronous"), "2");
  EXPECT_EQ(pragma("PRAGMA cache_size"), "-1234");
  ASSERT_TRUE(db->SetSynchronous(SqliteOptions::Sync::kNormal).ok());
  EXPECT_EQ(pragma("PRAGMA synchronous"), "1");
}

TEST(ConnectionPoolTest, ReusesReturnedItemsAndMakesOnlyWhatIsNeeded) {
  std::atomic<int> made{0};
  ConnectionPool<int> pool([&]() -> Result<std::unique_ptr<int>> { return std::make_unique<int>(++made); });
  {
    auto a = pool.Borrow();
    auto b = pool.Borrow();
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(**a, **b);
    EXPECT_EQ(made, 2);
    EXPECT_EQ(pool.idle(), 0u);
  }
  EXPECT_EQ(pool.idle(), 2u);
  {
    auto c = pool.Borrow();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(made, 2);
    EXPECT_EQ(pool.idle(), 1u);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto l = pool.Borrow();
        ASSERT_TRUE(l.ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(made, 4);
  EXPECT_EQ(pool.idle(), static_cast<size_t>(made.load()));
}

TEST(ConnectionPoolTest, FactoryErrorsReachTheBorrower) {
  ConnectionPool<int> pool(
      []() -> Result<std::unique_ptr<int>> { return Status::Error(EMFILE, "no more files"); });
  auto l = pool.Borrow();
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.code(), EMFILE);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(SqliteDbTest, PoolOfReaderConnections) {
  auto w = OpenDb();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->Prepare("INSERT INTO t(k, v) VALUES(?, ?)").Bind(1).Bind(1).Run().ok());
  ConnectionPool<SqliteDb> pool([&] { return SqliteDb::Open(Path(), {.query_only = true}); });
  {
    auto r = pool.Borrow();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Count(**r), 1);
  }
  auto r = pool.Borrow();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_EQ(Count(**r), 1);
}

}  // namespace
}  // namespace nexus
