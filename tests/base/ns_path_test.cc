#include "base/ns_path.h"

#include <gtest/gtest.h>

#include "base/layout.h"

namespace nexus {
namespace {

TEST(NsPathTest, ParsesToCanonicalForm) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"/", "/"},
      {"//", "/"},
      {"/a", "/a"},
      {"/a/", "/a"},
      {"//a//b/", "/a/b"},
      {"/./a/./b/.", "/a/b"},
      {"/a b/c\td", "/a b/c\td"},
      {"/zone/local/x", "/zone/local/x"},
  };
  for (const auto& c : cases) {
    auto p = NsPath::Parse(c.in);
    ASSERT_TRUE(p.ok()) << c.in << ": " << p.status().ToString();
    EXPECT_EQ(p->str(), c.out) << c.in;
  }
}

TEST(NsPathTest, AnOptionalPathLeftOutIsTheRoot) {
  EXPECT_TRUE(NsPath::ParseOptional("")->IsRoot());
  EXPECT_EQ(NsPath::ParseOptional("/a/")->str(), "/a");
  EXPECT_EQ(NsPath::ParseOptional("a").code(), EINVAL);
}

TEST(NsPathTest, RefusesWhatIsNotAnAbsoluteCanonicalPath) {
  EXPECT_EQ(NsPath::Parse("").code(), EINVAL);
  EXPECT_EQ(NsPath::Parse("a/b").code(), EINVAL);
  EXPECT_EQ(NsPath::Parse("/a/../b").code(), EINVAL);
  EXPECT_EQ(NsPath::Parse("/..").code(), EINVAL);
  EXPECT_EQ(NsPath::Parse(std::string("/a\0b", 4)).code(), EINVAL);
  EXPECT_EQ(NsPath::Parse("/" + std::string(256, 'x')).code(), ENAMETOOLONG);
  EXPECT_TRUE(NsPath::Parse("/" + std::string(255, 'x')).ok());
  std::string deep;
  while (deep.size() <= kPathMax) deep += "/abcdefgh";
  EXPECT_EQ(NsPath::Parse(deep).code(), ENAMETOOLONG);
}

TEST(NsPathTest, StepsKeepDotDotForTheWalker) {
  auto steps = NsPath::ParseSteps("/a/./link/../b//");
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(*steps, (std::vector<std::string>{"a", "link", "..", "b"}));
  ASSERT_TRUE(NsPath::ParseSteps("/").ok());
  EXPECT_TRUE(NsPath::ParseSteps("/")->empty());
  EXPECT_EQ(NsPath::ParseSteps("rel/..").code(), EINVAL);
}

TEST(NsPathTest, ParentNameJoin) {
  auto p = *NsPath::Parse("/a/b/c");
  EXPECT_EQ(p.Parent().str(), "/a/b");
  EXPECT_EQ(p.Parent().Parent().Parent().str(), "/");
  EXPECT_EQ(NsPath().Parent().str(), "/");
  EXPECT_EQ(p.Name(), "c");
  EXPECT_EQ(NsPath().Name(), "");
  EXPECT_EQ(NsPath().Join("x")->str(), "/x");
  EXPECT_EQ(p.Join("d")->str(), "/a/b/c/d");
  EXPECT_EQ(p.Join("..").code(), EINVAL);
  EXPECT_EQ(p.Join("x/y").code(), EINVAL);
  EXPECT_EQ(p.Join("").code(), EINVAL);
  EXPECT_EQ(p.JoinRelative("x/y")->str(), "/a/b/c/x/y");
  EXPECT_EQ(NsPath().JoinRelative("x")->str(), "/x");
  EXPECT_EQ(p.JoinRelative("")->str(), "/a/b/c");
  EXPECT_EQ(p.JoinRelative("../x").code(), EINVAL);
}

TEST(NsPathTest, IsUnderIsByComponent) {
  auto a = *NsPath::Parse("/a");
  EXPECT_TRUE(NsPath::Parse("/a/b")->IsUnder(a));
  EXPECT_TRUE(a.IsUnder(a));
  EXPECT_FALSE(NsPath::Parse("/ab")->IsUnder(a));
  EXPECT_FALSE(NsPath().IsUnder(a));
  EXPECT_TRUE(a.IsUnder(NsPath()));
  EXPECT_EQ(NsPath::Parse("/a/b/c")->RelativeTo(a), "b/c");
  EXPECT_EQ(a.RelativeTo(a), "");
  EXPECT_EQ(a.RelativeTo(NsPath()), "a");
  const NsPath xyz = *NsPath::Parse("/x/y/z");
  auto comps = xyz.Components();
  EXPECT_EQ(comps, (std::vector<std::string_view>{"x", "y", "z"}));
  EXPECT_TRUE(NsPath().Components().empty());
}

TEST(NsPathTest, FromRelativeIsStrict) {
  EXPECT_EQ(NsPath::FromRelative("a/b")->str(), "/a/b");
  EXPECT_EQ(NsPath::FromRelative("/a/b/")->str(), "/a/b");
  EXPECT_TRUE(NsPath::FromRelative("")->IsRoot());
  EXPECT_TRUE(NsPath::FromRelative("/")->IsRoot());
  EXPECT_EQ(NsPath::FromRelative("a//b").code(), EINVAL);
  EXPECT_EQ(NsPath::FromRelative("a/./b").code(), EINVAL);
  EXPECT_EQ(NsPath::FromRelative("a/../b").code(), EINVAL);
  EXPECT_EQ(NsPath::FromRelative("a/" + std::string(256, 'n')).code(), ENAMETOOLONG);
}

TEST(NsPathTest, StringHelpersForCanonicalPaths) {
  EXPECT_EQ(PathParent("/a/b"), "/a");
  EXPECT_EQ(PathParent("/a"), "/");
  EXPECT_EQ(PathParent("/"), "/");
  EXPECT_EQ(PathJoin("/", "a"), "/a");
  EXPECT_EQ(PathJoin("/a", "b"), "/a/b");
  EXPECT_TRUE(IsCanonicalPath("/"));
  EXPECT_TRUE(IsCanonicalPath("/a/b"));
  EXPECT_FALSE(IsCanonicalPath("/a/"));
  EXPECT_FALSE(IsCanonicalPath("/a//b"));
  EXPECT_FALSE(IsCanonicalPath("/a/../b"));
  EXPECT_FALSE(IsCanonicalPath("a"));
}

TEST(NsPathTest, ValidateName) {
  EXPECT_TRUE(ValidateName("a.txt").ok());
  EXPECT_TRUE(ValidateName("...").ok());
  EXPECT_EQ(ValidateName(".").code(), EINVAL);
  EXPECT_EQ(ValidateName("..").code(), EINVAL);
  EXPECT_EQ(ValidateName("a/b").code(), EINVAL);
  EXPECT_EQ(ValidateName(std::string(256, 'n')).code(), ENAMETOOLONG);
}

TEST(LayoutTest, OneZoneNameRule) {
  for (const char* ok : {"local", "a", "team-1", "x.y", "A_B"}) EXPECT_TRUE(layout::IsZoneName(ok)) << ok;
  EXPECT_TRUE(layout::IsZoneName(std::string(64, 'z')));
  EXPECT_FALSE(layout::IsZoneName(std::string(65, 'z')));
  for (const char* bad : {"", "root", ".hidden", "-x", "a.lock", "a..b", "a/b", "a b", "é"})
    EXPECT_FALSE(layout::IsZoneName(bad)) << bad;
  EXPECT_NE(layout::ValidateZoneName("a.lock").message().find(".lock"), std::string::npos);
}

TEST(LayoutTest, ZonesOfPaths) {
  EXPECT_EQ(layout::ZoneOf(*NsPath::Parse("/zone/local/x")), "local");
  EXPECT_EQ(layout::ZoneOf(*NsPath::Parse("/zone/team")), "team");
  EXPECT_EQ(layout::ZoneOf(*NsPath::Parse("/zone")), "root");
  EXPECT_EQ(layout::ZoneOf(*NsPath::Parse("/zone/a.lock/x")), "root");
  EXPECT_EQ(layout::ZoneOf(*NsPath::Parse("/docs")), "root");
  EXPECT_EQ(layout::ZoneOf(std::string_view("/zone/eng/src")), "eng");
  EXPECT_EQ(layout::ZoneOf(std::string_view("/zonefoo/a")), "root");
  EXPECT_EQ(layout::ZoneOf(std::string_view("/zone/-x/a")), "root");
  EXPECT_TRUE(layout::ValidateZone("root").ok());
  EXPECT_TRUE(layout::ValidateZone("local").ok());
  EXPECT_EQ(layout::ValidateZone("a.lock").code(), EINVAL);
  EXPECT_EQ(layout::ZoneRoot("local").str(), "/zone/local");
  EXPECT_EQ(layout::ZoneRoot("root").str(), "/");
  EXPECT_TRUE(layout::IsSystemPath("/.nexus/versions/a"));
  EXPECT_TRUE(layout::IsSystemPath("/.nexus"));
  EXPECT_FALSE(layout::IsSystemPath("/.nexusx"));
}

}  // namespace
}  // namespace nexus
