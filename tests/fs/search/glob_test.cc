#include "fs/search/glob.h"

#include <gtest/gtest.h>

namespace nexus::search {
namespace {

struct GlobCase {
  const char* pattern;
  const char* path;
  bool match;
};

TEST(GlobTest, MatchesTable) {
  const GlobCase cases[] = {
      // literal
      {"/a/b.c", "/a/b.c", true},
      {"/a/b.c", "/a/b.cc", false},
      {"/a/b.c", "/a/b", false},
      // * stays within a component
      {"/src/*.c", "/src/main.c", true},
      {"/src/*.c", "/src/.c", true},
      {"/src/*.c", "/src/sub/main.c", false},
      {"/src/*", "/src/a/b", false},
      {"/*/*.h", "/inc/x.h", true},
      {"/*/*.h", "/inc/sys/x.h", false},
      {"/src/a*b*c", "/src/aXbYc", true},
      {"/src/a*b*c", "/src/aXbY/c", false},
      {"*", "/x", false},  // relative patterns do not start with '/'
      // ? is one byte, never '/'
      {"/a?c", "/abc", true},
      {"/a?c", "/ac", false},
      {"/a?c", "/a/c", false},
      // ** as a component crosses zero or more directories
      {"/a/**/b", "/a/b", true},
      {"/a/**/b", "/a/x/b", true},
      {"/a/**/b", "/a/x/y/z/b", true},
      {"/a/**/b", "/a/xb", false},
      {"/a/**/b", "/ab", false},
      {"/**/*.py", "/x.py", true},
      {"/**/*.py", "/zone/local/x.py", true},
      {"/**/*.py", "/zone/local/x.pyc", false},
      {"/a/**", "/a/b/c/d", true},
      {"/a/**", "/a", false},
      {"/a/**", "/a/", true},
      {"/a/x**", "/a/xy/z", true},
      {"/a/**.h", "/a/b/c.h", true},
      // classes
      {"/f[abc].txt", "/fb.txt", true},
      {"/f[abc].txt", "/fd.txt", false},
      {"/f[a-c].txt", "/fc.txt", true},
      {"/f[!a-c].txt", "/fd.txt", true},
      {"/f[!a-c].txt", "/fa.txt", false},
      {"/f[^a-c].txt", "/fz.txt", true},
      {"/f[]x].txt", "/f].txt", true},
      {"/f[!x]y", "/f/y", false},  // a class never matches '/'
      {"/f[ab", "/f[ab", true},    // unclosed: literal '['
      {"/v[0-9][0-9]", "/v42", true},
      // braces
      {"/src/*.{c,h}", "/src/a.h", true},
      {"/src/*.{c,h}", "/src/a.cc", false},
      {"/{src,lib/{x,y}}/*.c", "/lib/y/m.c", true},
      {"/{src,lib/{x,y}}/*.c", "/lib/z/m.c", false},
      {"/{a}", "/a", true},
      {"/x{,.bak}", "/x", true},
      {"/x{,.bak}", "/x.bak", true},
      // escapes
      {"/a\\*b", "/a*b", true},
      {"/a\\*b", "/aXb", false},
      {"/a\\{b\\}", "/a{b}", true},
      // dotfiles are not special
      {"/**/*", "/.git/config", true},
      // many stars stay fast (memoised backtracking)
      {"/*a*a*a*a*a*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
      {"/**/**/**/**/**/z", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.path), c.match) << c.pattern << " vs " << c.path;
  }
}

TEST(GlobTest, RejectsMalformedPatterns) {
  for (const char* p : {"/a{b", "/a}b", "/a\\", "/{a,{b}"}) {
    auto g = GlobPattern::Compile(p);
    ASSERT_FALSE(g.ok()) << p;
    EXPECT_EQ(g.code(), EINVAL) << p;
    EXPECT_FALSE(GlobMatch(p, "/a")) << p;
  }
  // 2^11 alternatives exceeds the cap.
  std::string big = "/";
  for (int i = 0; i < 11; ++i) big += "{a,b}";
  EXPECT_EQ(GlobPattern::Compile(big).code(), EINVAL);
}

TEST(GlobTest, LiteralDir) {
  const std::pair<const char*, const char*> cases[] = {
      {"/src/lib/**/*.h", "/src/lib"}, {"/src/*.c", "/src"},         {"/*.c", "/"},   {"/a/b.c", "/a"},
      {"/x/{a,b}/*.c", "/x"},          {"/x/{a/c,a/d}/*.c", "/x/a"}, {"**/*.c", "/"}, {"/s[rc]/x", "/"},
  };
  for (const auto& [pattern, dir] : cases) {
    auto g = GlobPattern::Compile(pattern);
    ASSERT_TRUE(g.ok()) << pattern;
    EXPECT_EQ(g->LiteralDir(), dir) << pattern;
  }
}

}  // namespace
}  // namespace nexus::search
