#include "perms/rebac_types.h"

#include <gtest/gtest.h>

namespace nexus {
namespace {

struct TupleCase {
  const char* text;
  int want;  // 0 or the errno
};

class TupleParseTest : public ::testing::TestWithParam<TupleCase> {};

TEST_P(TupleParseTest, ParsesOrRejects) {
  auto t = Tuple::Parse(GetParam().text);
  EXPECT_EQ(t.code(), GetParam().want) << GetParam().text << ": " << t.status().ToString();
  // What parses formats back to the same text.
  if (t.ok()) {
    EXPECT_EQ(t->ToString(), GetParam().text);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TupleParseTest,
    ::testing::Values(
        TupleCase{"user:alice#viewer@file:/a/b.txt", 0}, TupleCase{"agent:bot-1#editor@folder:/", 0},
        TupleCase{"user:*#viewer@folder:/pub", 0}, TupleCase{"group:eng#member#owner@folder:/zone/eng", 0},
        TupleCase{"group:ops#member#member@group:eng", 0}, TupleCase{"zone:eng#member#viewer@tool:grep", 0},
        TupleCase{"user:alice#admin@zone:root", 0}, TupleCase{"user:bob#member@zone:eng", 0},
        TupleCase{"user:a#viewer@file:/odd name/with@and#", 0},
        TupleCase{"user:alice#viewer", EINVAL},             // no object
        TupleCase{"user:alice@file:/a", EINVAL},            // no relation
        TupleCase{"user:alice#reader@file:/a", EINVAL},     // unknown relation
        TupleCase{"robot:x#viewer@file:/a", EINVAL},        // unknown type
        TupleCase{"user:#viewer@file:/a", EINVAL},          // empty id
        TupleCase{"user:alice#viewer@file:a", EINVAL},      // relative path
        TupleCase{"user:alice#viewer@file:/a/", EINVAL},    // trailing slash
        TupleCase{"user:alice#viewer@file:/a//b", EINVAL},  // empty component
        TupleCase{"user:alice#viewer@file:/a/../b", EINVAL},
        TupleCase{"user:alice#member@file:/a", EINVAL},  // no member on files
        TupleCase{"user:alice#admin@group:g", EINVAL},   // admin only on zones
        TupleCase{"group:eng#viewer@file:/a", EINVAL},   // group needs #relation
        TupleCase{"user:alice#member#viewer@file:/a", EINVAL},
        TupleCase{"user:alice#viewer@user:bob", EINVAL},  // users are not objects
        TupleCase{"group:a/b#member#viewer@file:/a", EINVAL},
        // One zone-name rule (base/layout.h), for zone objects and subjects.
        TupleCase{"user:bob#member@zone:a.lock", EINVAL},
        TupleCase{"user:bob#member@zone:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                  EINVAL},
        TupleCase{"zone:-x#member#viewer@file:/a", EINVAL},
        TupleCase{"user:bob#member@zone:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                  0}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

TEST(Access, ParsesPermissionsAndRelations) {
  auto read = Access::Parse("read");
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->is_permission);
  EXPECT_EQ(read->permission, Permission::kRead);
  auto owner = Access::Parse("owner");
  ASSERT_TRUE(owner.ok());
  EXPECT_FALSE(owner->is_permission);
  EXPECT_EQ(owner->relation, Relation::kOwner);
  EXPECT_EQ(owner->Name(), "owner");
  EXPECT_EQ(Access::Parse("delete").code(), EINVAL);
  EXPECT_EQ(Access::Parse("").code(), EINVAL);
}

// The user guide's direct_viewer/direct_editor/direct_owner are ours.
TEST(Access, GuideDirectRelationNames) {
  for (auto [guide, ours] :
       {std::pair{"direct_viewer", Relation::kViewer}, std::pair{"direct_editor", Relation::kEditor},
        std::pair{"direct_owner", Relation::kOwner}}) {
    auto a = Access::Parse(guide);
    ASSERT_TRUE(a.ok()) << guide;
    EXPECT_EQ(a->relation, ours);
    auto t = Tuple::Parse(std::string("user:alice#") + guide + "@file:/a");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->ToString(), "user:alice#" + std::string(ToString(ours)) + "@file:/a");
  }
  EXPECT_EQ(Access::Parse("direct_member").code(), EINVAL);
  EXPECT_EQ(Access::Parse("direct_").code(), EINVAL);
  EXPECT_EQ(Tuple::Parse("user:alice#direct_admin@zone:eng").code(), EINVAL);
}

TEST(SubjectRef, WildcardAndUsersets) {
  auto all = SubjectRef::Parse("user:*");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->IsWildcard());
  EXPECT_EQ(SubjectRef::Parse("agent:*").code(), EINVAL);
  auto g = SubjectRef::Parse("group:eng#member");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->Node(), "group:eng");
  EXPECT_EQ(g->ToString(), "group:eng#member");
  EXPECT_EQ(SubjectRef::Parse("folder:/a#viewer").code(), EINVAL);
  auto bad = SubjectRef::Parse("user:al@ce");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("user:al@ce"), std::string::npos);
}

TEST(Paths, ParentsAndZones) {
  EXPECT_EQ(ParentPath("/a/b/c"), "/a/b");
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(ParentPath("/"), std::nullopt);
  EXPECT_EQ(layout::ZoneOf("/zone/eng/src/x.cc"), "eng");
  EXPECT_EQ(layout::ZoneOf("/zone/eng"), "eng");
  EXPECT_EQ(layout::ZoneOf("/zone"), "root");
  EXPECT_EQ(layout::ZoneOf("/zonefoo/a"), "root");
  EXPECT_EQ(layout::ZoneOf("/home/a"), "root");
  EXPECT_EQ(PathOf(ObjectType::kTool, "grep"), "/tools/grep");
  EXPECT_EQ(PathOf(ObjectType::kFile, "/a"), "/a");
  EXPECT_EQ(PathOf(ObjectType::kGroup, "eng"), std::nullopt);
}

}  // namespace
}  // namespace nexus
