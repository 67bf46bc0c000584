// The edit tool's matching: every oldText exactly once, applied in order,
// all or nothing.
#include "mcp/edit.h"

#include <gtest/gtest.h>

namespace nexus::mcp {
namespace {

TEST(ApplyEdits, ReplacesEachUniqueMatchInOrder) {
  auto r = ApplyEdits("alpha beta gamma\n", {{"beta", "BETA"}, {"BETA gamma", "delta"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "alpha delta\n");
}

TEST(ApplyEdits, NotFoundNamesTheEdit) {
  auto r = ApplyEdits("alpha\n", {{"alpha", "a"}, {"omega", "o"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EINVAL);
  EXPECT_NE(r.status().message().find("edit 2: oldText not found"), std::string::npos)
      << r.status().message();
}

TEST(ApplyEdits, SeveralMatchesFail) {
  auto r = ApplyEdits("x = 1\nx = 1\n", {{"x = 1", "x = 2"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("edit 1: oldText matches 2 times"), std::string::npos)
      << r.status().message();
}

TEST(ApplyEdits, OverlappingMatchesCount) {
  auto r = ApplyEdits("aaa", {{"aa", "b"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("matches 2 times"), std::string::npos);
}

TEST(ApplyEdits, EmptyOldTextFails) {
  auto r = ApplyEdits("abc", {{"", "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("edit 1: oldText is empty"), std::string::npos);
}

TEST(ApplyEdits, WhitespaceMustMatchExactly) {
  EXPECT_FALSE(ApplyEdits("if (x) {\n  y();\n}\n", {{"if (x) {\n    y();", "z"}}).ok());
  EXPECT_FALSE(ApplyEdits("a\r\nb\r\n", {{"a\nb", "c"}}).ok());
}

TEST(ApplyEdits, NewTextMayCreateWhatALaterEditMatches) {
  auto r = ApplyEdits("one\n", {{"one", "two two"}, {"two two", "three"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "three\n");
}

}  // namespace
}  // namespace nexus::mcp
