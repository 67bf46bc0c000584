// Helpers shared by the ReBAC unit tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "perms/rebac.h"
#include "tests/fs/test_util.h"

namespace nexus::testing {

// Parses a tuple written as text; a bad literal fails the calling test.
inline Tuple T(std::string_view text, UnixNanos expires_at = kNever) {
  auto t = Tuple::Parse(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  if (!t.ok()) return Tuple{};
  t->expires_at = expires_at;
  return *t;
}

// A RebacEngine on a fresh SQLite file with a manual clock.
class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(RebacOptions options = {}) {
    engine_.reset();
    options.clock = &clock_;
    auto e = RebacEngine::Open(db_path(), std::move(options));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }
  std::string db_path() const { return dir_.path() + "/rebac.db"; }

  void Add(std::vector<std::string_view> texts, UnixNanos expires_at = kNever) {
    std::vector<Tuple> adds;
    for (auto t : texts) adds.push_back(T(t, expires_at));
    auto rev = engine_->WriteUnchecked(std::move(adds), {});
    ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  }
  void Remove(std::vector<std::string_view> texts) {
    std::vector<Tuple> dels;
    for (auto t : texts) dels.push_back(T(t));
    auto rev = engine_->WriteUnchecked({}, std::move(dels));
    ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  }
  // Check that must not fail with an error.
  bool Can(std::string_view subject, std::string_view access, std::string_view object) {
    auto r = engine_->Check(subject, access, object);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<RebacEngine> engine_;
};

}  // namespace nexus::testing
