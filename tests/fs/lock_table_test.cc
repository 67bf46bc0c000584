#include "fs/lock_table.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/fs/test_util.h"

namespace nexus {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(LockTableTest, ExclusiveUntilReleased) {
  LockTable t;
  ASSERT_TRUE(t.Acquire("/a", "agent:x", 10 * kSec, 0).ok());
  auto again = t.Acquire("/a", "agent:x", 10 * kSec, 1);
  EXPECT_EQ(again.code(), EBUSY);  // not even the holder twice
  EXPECT_NE(again.status().message().find("agent:x"), std::string::npos);
  EXPECT_EQ(t.Acquire("/a", "agent:y", 10 * kSec, 1).code(), EBUSY);
  EXPECT_TRUE(t.Acquire("/b", "agent:y", 10 * kSec, 1).ok());
  EXPECT_EQ(t.Release("/a", "agent:y", false, 2).code(), EACCES);
  EXPECT_TRUE(t.Release("/a", "agent:x", false, 2).ok());
  EXPECT_EQ(t.Release("/a", "agent:x", false, 2).code(), ENOENT);
  EXPECT_TRUE(t.Acquire("/a", "agent:y", 10 * kSec, 3).ok());
}

TEST(LockTableTest, ExpiredLocksFreeThemselves) {
  LockTable t;
  ASSERT_TRUE(t.Acquire("/a", "x", 5 * kSec, 0).ok());
  ASSERT_TRUE(t.Acquire("/b", "x", 50 * kSec, 0).ok());
  EXPECT_EQ(t.Acquire("/a", "y", kSec, 5 * kSec - 1).code(), EBUSY);
  EXPECT_EQ(t.size(5 * kSec - 1), 2u);
  EXPECT_EQ(t.Info("/a", 5 * kSec).code(), ENOENT);
  EXPECT_EQ(t.size(5 * kSec), 1u);
  auto l = t.Acquire("/a", "y", kSec, 5 * kSec);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->holder, "y");
  EXPECT_EQ(l->expires_ns, 6 * kSec);
  auto all = t.List(5 * kSec);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].path, "/a");
}

TEST(LockTableTest, ForceReleasesAnyonesLock) {
  LockTable t;
  ASSERT_TRUE(t.Acquire("/a", "x", kSec, 0).ok());
  EXPECT_TRUE(t.Release("/a", "admin", true, 0).ok());
  EXPECT_EQ(t.size(0), 0u);
}

TEST(LockTableTest, RejectsNonPositiveTtl) {
  LockTable t;
  EXPECT_EQ(t.Acquire("/a", "x", 0, 0).code(), EINVAL);
  EXPECT_EQ(t.Acquire("/a", "x", -1, 0).code(), EINVAL);
}

// Kept in a file: a new table on the same file has the same locks and
// expiries (the time left), releases too; expired ones are gone.
TEST(LockTableTest, PersistedLocksSurviveARestart) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/locks";
  {
    LockTable t;
    ASSERT_TRUE(t.Persist(file, 0).ok());  // no file yet
    ASSERT_TRUE(t.Acquire("/a", "agent:x", 10 * kSec, 0).ok());
    ASSERT_TRUE(t.Acquire("/odd name\nwith newline", "user:y", 20 * kSec, 0).ok());
    ASSERT_TRUE(t.Acquire("/short", "user:y", 2 * kSec, 0).ok());
    ASSERT_TRUE(t.Acquire("/gone", "user:y", 20 * kSec, 0).ok());
    ASSERT_TRUE(t.Release("/gone", "user:y", false, 1).ok());
  }
  LockTable t;
  ASSERT_TRUE(t.Persist(file, 5 * kSec).ok());
  auto locks = t.List(5 * kSec);
  ASSERT_EQ(locks.size(), 2u);  // /short expired, /gone released
  EXPECT_EQ(locks[0].path, "/a");
  EXPECT_EQ(locks[0].holder, "agent:x");
  EXPECT_EQ(locks[0].expires_ns, 10 * kSec);
  EXPECT_EQ(locks[1].path, "/odd name\nwith newline");
  EXPECT_EQ(t.Acquire("/a", "agent:z", kSec, 6 * kSec).code(), EBUSY);
  EXPECT_TRUE(t.Acquire("/a", "agent:z", kSec, 11 * kSec).ok());  // the old one ran out
}

TEST(LockTableTest, UnreadableLockFileIsMovedAside) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/locks";
  std::ofstream(file) << "nexus-locks 1\n12 0 7 2\nagent";  // truncated
  LockTable t;
  Status st = t.Persist(file, 0);
  EXPECT_EQ(st.code(), EINVAL) << st.ToString();
  EXPECT_EQ(t.List(0).size(), 0u);
  EXPECT_TRUE(std::ifstream(file + ".bad").good());
  ASSERT_TRUE(t.Acquire("/a", "agent:x", kSec, 0).ok());  // kept again from now on
  LockTable again;
  ASSERT_TRUE(again.Persist(file, 0).ok());
  EXPECT_EQ(again.List(0).size(), 1u);
}

}  // namespace
}  // namespace nexus
