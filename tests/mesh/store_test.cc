#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mesh/etcd_store.h"
#include "mesh/memory_store.h"
#include "mesh/sqlite_store.h"
#include "tests/fs/test_util.h"
#include "tests/mesh/etcd_process.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

// Every semantic test runs against the embedded stores and against etcd (a
// real etcd started by the test; skipped, saying so, if etcd is not
// installed).
enum class Kind { kMemory, kSqlite, kEtcd };

std::string KindName(Kind k) {
  return k == Kind::kMemory ? "Memory" : k == Kind::kSqlite ? "Sqlite" : "Etcd";
}

// A fresh key prefix per test, so tests sharing the etcd do not see each other.
std::string UniquePrefix() {
  static int n = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "/nexus-test/" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-" + info->name() + "/";
}

class StoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kEtcd) {
      std::string why;
      etcd_ = testing::EtcdProcess::Shared(&why);
      if (etcd_ == nullptr) GTEST_SKIP() << "etcd store tests skipped: " << why;
      prefix_ = UniquePrefix();
    }
    Reopen();
  }
  // For SQLite, a new store over the same file; for etcd, a new client of
  // the same prefix; for memory, a fresh one.
  void Reopen() {
    store_.reset();
    if (GetParam() == Kind::kEtcd) {
      auto s = EtcdStore::Open(&clock_, {.etcd = {.endpoints = {etcd_->endpoint()}}, .prefix = prefix_});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    } else if (GetParam() == Kind::kMemory) {
      store_ = std::make_unique<MemoryStore>(&clock_);
    } else {
      auto s = SqliteStore::Open(dir_.path() + "/mesh.db", &clock_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    }
  }
  std::vector<WatchEvent> Collect(const std::string& prefix, const std::function<void()>& action) {
    std::vector<WatchEvent> events;
    WatchId id = store_->Watch(prefix, [&](const WatchEvent& ev) { events.push_back(ev); });
    action();
    store_->Unwatch(id);
    return events;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  testing::EtcdProcess* etcd_ = nullptr;
  std::string prefix_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, PutGetCarryRevisions) {
  auto r1 = store_->Put("a", "1");
  ASSERT_TRUE(r1.ok());
  auto r2 = store_->Put("a", "2");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, *r1 + 1);
  auto kv = store_->Get("a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, "2");
  EXPECT_EQ(kv->create_revision, *r1);
  EXPECT_EQ(kv->mod_revision, *r2);
  EXPECT_EQ(store_->Revision(), *r2);
  EXPECT_EQ(store_->Get("b").code(), ENOENT);
}

TEST_P(StoreTest, CompareAndSwapOnRevision) {
  struct Case {
    const char* name;
    std::function<int64_t(int64_t rev)> expected;
    int code;
  } cases[] = {
      {"current revision", [](int64_t rev) { return rev; }, 0},
      {"older revision", [](int64_t rev) { return rev - 1; }, ESTALE},
      {"must be absent", [](int64_t) { return kAbsent; }, ESTALE},
      {"unconditional", [](int64_t) { return kAnyRevision; }, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(store_->Put("k", "x").ok());
    auto rev = store_->Put("k", "y");
    ASSERT_TRUE(rev.ok());
    EXPECT_EQ(store_->Put("k", "z", c.expected(*rev)).code(), c.code);
    EXPECT_EQ(store_->Get("k")->value, c.code == 0 ? "z" : "y");
    EXPECT_EQ(store_->Delete("k", c.expected(*rev) == kAbsent ? 1 : kAnyRevision).code(),
              c.expected(*rev) == kAbsent ? ESTALE : 0);
  }
  EXPECT_TRUE(store_->Put("new", "v", kAbsent).ok());
  EXPECT_EQ(store_->Put("new", "v", kAbsent).code(), ESTALE);
}

TEST_P(StoreTest, TransactionIsAllOrNothing) {
  auto rev = store_->Put("a", "1");
  ASSERT_TRUE(rev.ok());
  std::vector<Op> ops;
  ops.push_back(Op::Put("b", "2"));
  ops.push_back(Op::Put("a", "changed", *rev - 1));  // stale condition
  EXPECT_EQ(store_->Commit(std::move(ops)).code(), ESTALE);
  EXPECT_EQ(store_->Get("b").code(), ENOENT);
  EXPECT_EQ(store_->Revision(), *rev);

  std::vector<Op> dup;
  dup.push_back(Op::Put("c", "1"));
  dup.push_back(Op::Delete("c"));
  EXPECT_EQ(store_->Commit(std::move(dup)).code(), EINVAL);

  std::vector<Op> good;
  good.push_back(Op::Put("b", "2"));
  good.push_back(Op::Put("a", "3", *rev));
  good.push_back(Op::Delete("absent"));
  auto r = store_->Commit(std::move(good));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, *rev + 1);  // one revision per transaction
  EXPECT_EQ(store_->Get("b")->mod_revision, *r);
  EXPECT_EQ(store_->Get("a")->mod_revision, *r);
}

TEST_P(StoreTest, RangeIsOrderedAndBoundedByPrefix) {
  for (const char* k : {"p/b", "p/a", "q/a", "p", "p/c/d"}) ASSERT_TRUE(store_->Put(k, k).ok());
  std::vector<std::string> keys;
  for (const KeyValue& kv : store_->Range("p/")) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/a", "p/b", "p/c/d"}));
  EXPECT_EQ(store_->Range("").size(), 5u);
}

TEST_P(StoreTest, LeasesExpireTheirKeysWithEvents) {
  std::vector<Op> ops;
  ops.push_back(Op::GrantLease(7, 10s));
  ops.push_back(Op::Put("l/a", "A", kAnyRevision, 7));
  ops.push_back(Op::Put("l/b", "B", kAnyRevision, 7));
  ops.push_back(Op::Put("l/c", "C"));
  ASSERT_TRUE(store_->Commit(std::move(ops)).ok());
  EXPECT_EQ(store_->Get("l/a")->lease, 7);
  EXPECT_EQ(*store_->LeaseDeadline(7), MeshNow(clock_) + 10s);

  clock_.Advance(9s);
  EXPECT_EQ(store_->ExpireLeases(MeshNow(clock_)), 0u);
  std::vector<Op> keep;
  keep.push_back(Op::KeepAlive(7, 10s));
  ASSERT_TRUE(store_->Commit(std::move(keep)).ok());
  clock_.Advance(9s);
  EXPECT_EQ(store_->ExpireLeases(MeshNow(clock_)), 0u) << "keep-alive moved the deadline";

  clock_.Advance(1s);
  std::vector<WatchEvent> events =
      Collect("l/", [&] { EXPECT_EQ(store_->ExpireLeases(MeshNow(clock_)), 1u); });
  ASSERT_EQ(events.size(), 2u);
  for (const WatchEvent& ev : events) EXPECT_EQ(ev.type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events[0].kv.value + events[1].kv.value, "AB") << "deletions carry the old value";
  EXPECT_EQ(store_->Get("l/a").code(), ENOENT);
  EXPECT_EQ(store_->Get("l/c")->value, "C");
  EXPECT_EQ(store_->LeaseDeadline(7).code(), ENOENT);
}

TEST_P(StoreTest, LeaseErrors) {
  EXPECT_EQ(store_->Put("k", "v", kAnyRevision, 99).code(), ENOENT);
  std::vector<Op> zero;
  zero.push_back(Op::GrantLease(0, 1s));
  EXPECT_EQ(store_->Commit(std::move(zero)).code(), EINVAL);
  std::vector<Op> grant;
  grant.push_back(Op::GrantLease(5, 1s));
  ASSERT_TRUE(store_->Commit(grant).ok());
  EXPECT_EQ(store_->Commit(grant).code(), EEXIST);
  std::vector<Op> keep;
  keep.push_back(Op::KeepAlive(6, 1s));
  EXPECT_EQ(store_->Commit(std::move(keep)).code(), ENOENT);
}

TEST_P(StoreTest, RevokeAndReattach) {
  std::vector<Op> ops;
  ops.push_back(Op::GrantLease(1, 10s));
  ops.push_back(Op::GrantLease(2, 10s));
  ops.push_back(Op::Put("a", "1", kAnyRevision, 1));
  ASSERT_TRUE(store_->Commit(std::move(ops)).ok());
  // Re-putting under another lease detaches it from the first.
  ASSERT_TRUE(store_->Put("a", "2", kAnyRevision, 2).ok());
  std::vector<Op> revoke;
  revoke.push_back(Op::RevokeLease(1));
  revoke.push_back(Op::RevokeLease(42));  // absent: fine
  ASSERT_TRUE(store_->Commit(std::move(revoke)).ok());
  EXPECT_EQ(store_->Get("a")->value, "2");
  std::vector<Op> revoke2;
  revoke2.push_back(Op::RevokeLease(2));
  ASSERT_TRUE(store_->Commit(std::move(revoke2)).ok());
  EXPECT_EQ(store_->Get("a").code(), ENOENT);
}

TEST_P(StoreTest, WatchDeliversPrefixChangesInOrder) {
  std::vector<WatchEvent> events = Collect("w/", [&] {
    ASSERT_TRUE(store_->Put("w/1", "a").ok());
    ASSERT_TRUE(store_->Put("x/1", "ignored").ok());
    ASSERT_TRUE(store_->Put("w/1", "b").ok());
    ASSERT_TRUE(store_->Delete("w/1").ok());
  });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[1].kv.value, "b");
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDelete);
  EXPECT_LT(events[0].revision, events[1].revision);
  EXPECT_LT(events[1].revision, events[2].revision);
  // After Unwatch nothing more arrives.
  size_t n = events.size();
  ASSERT_TRUE(store_->Put("w/2", "c").ok());
  EXPECT_EQ(events.size(), n);
}

TEST_P(StoreTest, ConcurrentCasIncrementsLoseNothing) {
  ASSERT_TRUE(store_->Put("counter", "0").ok());
  constexpr int kThreads = 4, kEach = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach;) {
        auto kv = store_->Get("counter");
        int v = std::stoi(kv->value);
        if (store_->Put("counter", std::to_string(v + 1), kv->mod_revision).ok()) ++i;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->Get("counter")->value, std::to_string(kThreads * kEach));
}

// Only the durable store can pass this.
class DurableStoreTest : public StoreTest {};

TEST_P(DurableStoreTest, StateSurvivesReopen) {
  std::vector<Op> ops;
  ops.push_back(Op::GrantLease(3, 30s));
  ops.push_back(Op::Put("leased", "L", kAnyRevision, 3));
  ops.push_back(Op::Put(std::string("bin\0ary", 7), std::string("v\0v", 3)));
  auto rev = store_->Commit(std::move(ops));
  ASSERT_TRUE(rev.ok());
  ASSERT_TRUE(store_->Delete(std::string("bin\0ary", 7)).ok());
  ASSERT_TRUE(store_->Put("plain", "P").ok());
  const int64_t last = store_->Revision();
  Reopen();
  EXPECT_EQ(store_->Revision(), last);
  EXPECT_EQ(store_->Get("plain")->value, "P");
  EXPECT_EQ(store_->Get(std::string("bin\0ary", 7)).code(), ENOENT);
  auto leased = store_->Get("leased");
  ASSERT_TRUE(leased.ok());
  EXPECT_EQ(leased->lease, 3);
  EXPECT_EQ(leased->mod_revision, *rev);
  EXPECT_EQ(*store_->LeaseDeadline(3), MeshNow(clock_) + 30s);
  // The reloaded lease still owns its key.
  clock_.Advance(31s);
  EXPECT_EQ(store_->ExpireLeases(MeshNow(clock_)), 1u);
  Reopen();
  EXPECT_EQ(store_->Get("leased").code(), ENOENT);
  EXPECT_EQ(store_->LeaseDeadline(3).code(), ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Durable, DurableStoreTest, ::testing::Values(Kind::kSqlite, Kind::kEtcd),
                         [](const auto& info) { return KindName(info.param); });
INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(Kind::kMemory, Kind::kSqlite, Kind::kEtcd),
                         [](const auto& info) { return KindName(info.param); });

}  // namespace
}  // namespace nexus::mesh
