// Checks from several threads while tuples change: no stale allow after a
// revoke returns, no stale deny after a grant returns.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "perms/rebac.h"
#include "tests/perms/rebac_test_util.h"

namespace nexus {
namespace {

using testing::EngineFixture;
using testing::T;

class RebacConcurrencyTest : public EngineFixture {};

TEST_F(RebacConcurrencyTest, NoStaleDecisionAcrossWrites) {
  Add({"group:g#member#viewer@folder:/c", "group:h#member#member@group:g"});
  // phase % 4: 0 absent, 1 granting, 2 present, 3 revoking.
  std::atomic<uint64_t> phase{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> checked_absent{0}, checked_present{0}, wrong{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&, i] {
      const std::string object = "file:/c/d" + std::to_string(i) + "/f";
      while (!stop.load()) {
        uint64_t p1 = phase.load();
        auto allowed = engine_->Check("user:r", "read", object);
        uint64_t p2 = phase.load();
        if (!allowed.ok()) {
          ++wrong;
          continue;
        }
        if (p1 != p2) continue;
        if (p1 % 4 == 0) {
          ++checked_absent;
          if (*allowed) ++wrong;
        } else if (p1 % 4 == 2) {
          ++checked_present;
          if (!*allowed) ++wrong;
        }
      }
    });
  }
  // Unrelated writes too, so revisions move while readers cache.
  std::thread noise([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto t = T("user:n" + std::to_string(i) + "#viewer@file:/noise/" + std::to_string(i));
      ASSERT_TRUE(engine_->WriteUnchecked({t}, {}).ok());
    }
  });
  const Tuple grant = T("user:r#member@group:h");
  for (int round = 0; round < 150; ++round) {
    phase.fetch_add(1);
    ASSERT_TRUE(engine_->WriteUnchecked({grant}, {}).ok());
    phase.fetch_add(1);
    std::this_thread::yield();
    phase.fetch_add(1);
    ASSERT_TRUE(engine_->WriteUnchecked({}, {grant}).ok());
    phase.fetch_add(1);
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : readers) t.join();
  noise.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(checked_absent.load(), 0u);
  EXPECT_GT(checked_present.load(), 0u);
  EXPECT_FALSE(Can("user:r", "read", "file:/c/d0/f"));
}

TEST_F(RebacConcurrencyTest, ParallelWritersAllLand) {
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i) {
        auto t = T("user:w" + std::to_string(w) + "#viewer@file:/p/" + std::to_string(i));
        ASSERT_TRUE(engine_->WriteUnchecked({t}, {}).ok());
        auto ok = engine_->Check(t.subject.ToString(), "read", t.object.ToString());
        ASSERT_TRUE(ok.ok());
        EXPECT_TRUE(*ok);
      }
    });
  }
  for (auto& t : writers) t.join();
  TupleFilter f;
  f.object_type = ObjectType::kFile;
  EXPECT_EQ(engine_->ListTuples(f).size(), 200u);
  uint64_t rev = engine_->revision();
  Reopen();
  EXPECT_EQ(engine_->revision(), rev);
  EXPECT_EQ(engine_->ListTuples(f).size(), 200u);
}

}  // namespace
}  // namespace nexus
