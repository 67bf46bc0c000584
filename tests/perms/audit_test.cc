#include "perms/audit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/sqlite_db.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;

class AuditTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> Open(size_t capacity = 1024) {
    AuditLog::Options o;
    o.queue_capacity = capacity;
    o.clock = &clock_;
    auto log = AuditLog::Open(path(), o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }
  std::string path() const { return dir_.path() + "/audit.db"; }
  testing::TempDir dir_;
  ManualClock clock_{1'800'000'000'000'000'000};
};

TEST_F(AuditTest, RecordsAndFilters) {
  auto log = Open();
  ASSERT_TRUE(log);
  UnixNanos t0 = clock_.Now();
  log->Record({0, "user:a", "read", "file:/x", false, "no tuple grants it"});
  clock_.Advance(1s);
  log->Record({0, "user:b", "tuple.add", "user:b#viewer@file:/y", true, ""});
  clock_.Advance(1s);
  log->Record({0, "user:a", "write", "file:/z", false, "no tuple grants it"});
  ASSERT_TRUE(log->Flush().ok());
  auto all = log->List({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (AuditRecord{t0, "user:a", "read", "file:/x", false, "no tuple grants it"}));
  auto count = [&](std::optional<UnixNanos> since, std::optional<std::string> subject,
                   std::optional<bool> allowed, size_t limit) {
    AuditFilter f;
    f.since = since;
    f.subject = subject;
    f.allowed = allowed;
    f.limit = limit;
    return log->List(f)->size();
  };
  EXPECT_EQ(count({}, "user:a", {}, 100), 2u);
  EXPECT_EQ(count({}, {}, true, 100), 1u);
  EXPECT_EQ(count(t0 + 1'000'000'000, {}, {}, 100), 2u);
  EXPECT_EQ(count({}, "user:a", false, 1), 1u);
  EXPECT_EQ(count({}, "user:zz", {}, 100), 0u);
  EXPECT_EQ(log->dropped(), 0u);
}

TEST_F(AuditTest, SurvivesReopen) {
  {
    auto log = Open();
    ASSERT_TRUE(log);
    log->Record({0, "user:a", "read", "file:/x", false, "r"});
  }  // the destructor writes what is queued
  auto log = Open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->List({})->size(), 1u);
}

TEST_F(AuditTest, CsvQuotesWhatNeedsQuoting) {
  auto log = Open();
  ASSERT_TRUE(log);
  clock_.Set(1'767'225'600'123'456'789);  // 2026-01-01T00:00:00.123456789Z
  log->Record({0, "user:a", "read", "file:/a,b", false, "said \"no\"\nthen left"});
  ASSERT_TRUE(log->Flush().ok());
  std::ostringstream out;
  ASSERT_TRUE(log->ExportCsv({}, out).ok());
  EXPECT_EQ(out.str(),
            "time,subject,operation,object,decision,reason\r\n"
            "2026-01-01T00:00:00.123456789Z,user:a,read,\"file:/a,b\",deny,"
            "\"said \"\"no\"\"\nthen left\"\r\n");
}

TEST_F(AuditTest, JsonlHasOneObjectPerLine) {
  auto log = Open();
  ASSERT_TRUE(log);
  log->Record({0, "agent:x", "manage", "folder:/q", false, "depth limit reached"});
  log->Record({0, "user:y", "tuple.delete", "user:y#viewer@file:/\"q\"", true, ""});
  ASSERT_TRUE(log->Flush().ok());
  std::ostringstream out;
  ASSERT_TRUE(log->ExportJsonl({}, out).ok());
  std::istringstream in(out.str());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["subject"], "agent:x");
  EXPECT_EQ(rows[0]["decision"], "deny");
  EXPECT_EQ(rows[0]["time_ns"], clock_.Now());
  EXPECT_EQ(rows[1]["object"], "user:y#viewer@file:/\"q\"");
  EXPECT_EQ(rows[1]["decision"], "allow");
}

// With the database locked by another connection the writer stalls; Record
// must still return at once, dropping (and counting) what does not fit.
TEST_F(AuditTest, FullQueueDropsInsteadOfBlocking) {
  auto log = Open(/*capacity=*/8);
  ASSERT_TRUE(log);
  auto other = SqliteDb::Open(path(), {});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Exec("BEGIN IMMEDIATE").ok());
  constexpr int kTotal = 100;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kTotal; ++i) {
    log->Record({0, "user:a", "read", "file:/" + std::to_string(i), false, "x"});
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 500ms);
  // At most the queue plus one batch in the writer's hands got through.
  EXPECT_GE(log->dropped(), static_cast<uint64_t>(kTotal - 8 - 8));
  ASSERT_TRUE((*other)->Exec("COMMIT").ok());
  ASSERT_TRUE(log->Flush().ok());
  auto kept = log->List({});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size() + log->dropped(), static_cast<size_t>(kTotal));
}

}  // namespace
}  // namespace nexus
