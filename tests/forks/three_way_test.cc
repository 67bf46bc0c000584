// The pure three-way decisions of `fork merge` (forks/three_way.h): the
// table of cases on plain states and the line-level text merge.
#include "forks/three_way.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace nexus::forks {
namespace {

PathState File(std::string content, mode_t perms = 0644) {
  return {true, S_IFREG | perms, std::move(content)};
}
PathState Link(std::string target) { return {true, S_IFLNK | 0777, std::move(target)}; }
PathState Gone() { return {}; }

const char kBase[] = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";

TEST(MergeText, ChangesToDifferentLinesCombine) {
  auto m = MergeText(kBase, "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\n",
                     "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n", Favor::kNone);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->clean);
  EXPECT_EQ(m->merged, "ONE\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n");
  EXPECT_TRUE(m->hunks.empty());
}

TEST(MergeText, ConflictHunkIsExact) {
  // Ours changes line 3, theirs replaces lines 3-4 with three lines; line 6
  // is changed by ours only and merges.
  auto m = MergeText(kBase, "one\ntwo\nTHREE\nfour\nfive\nSIX\nseven\n",
                     "one\ntwo\n3a\n3b\n3c\nfive\nsix\nseven\n", Favor::kNone);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->clean);
  ASSERT_EQ(m->hunks.size(), 1u);
  const ConflictHunk& h = m->hunks[0];
  EXPECT_EQ(h.base_start, 3u);
  EXPECT_EQ(h.base_lines, 2u);
  EXPECT_EQ(h.ours_start, 3u);
  EXPECT_EQ(h.ours_lines, 2u);
  EXPECT_EQ(h.theirs_start, 3u);
  EXPECT_EQ(h.theirs_lines, 3u);
  EXPECT_EQ(h.text, "<<<<<<< ours\nTHREE\nfour\n=======\n3a\n3b\n3c\n>>>>>>> theirs\n");
  EXPECT_NE(m->merged.find("<<<<<<< ours"), std::string::npos);
}

TEST(MergeText, HunkPositionsFollowEarlierChangesOnEachSide) {
  // Ours inserts two lines at the top; theirs deletes line 2; both change
  // line 6 differently.
  auto m = MergeText(kBase, "zero\nzero2\none\ntwo\nthree\nfour\nfive\nSIX-o\nseven\n",
                     "one\nthree\nfour\nfive\nSIX-t\nseven\n", Favor::kNone);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->hunks.size(), 1u);
  const ConflictHunk& h = m->hunks[0];
  EXPECT_EQ(h.base_start, 6u);
  EXPECT_EQ(h.base_lines, 1u);
  EXPECT_EQ(h.ours_start, 8u);
  EXPECT_EQ(h.ours_lines, 1u);
  EXPECT_EQ(h.theirs_start, 5u);
  EXPECT_EQ(h.theirs_lines, 1u);
  EXPECT_EQ(h.text, "<<<<<<< ours\nSIX-o\n=======\nSIX-t\n>>>>>>> theirs\n");
}

TEST(MergeText, FavorResolvesOnlyTheConflictingLines) {
  const std::string ours = "one\ntwo\nTHREE-o\nfour\nfive\nsix\nseven\n";
  const std::string theirs = "one\ntwo\nTHREE-t\nfour\nfive\nsix\nSEVEN\n";
  auto o = MergeText(kBase, ours, theirs, Favor::kOurs);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->clean);
  EXPECT_EQ(o->hunks.size(), 1u);
  EXPECT_EQ(o->merged, "one\ntwo\nTHREE-o\nfour\nfive\nsix\nSEVEN\n");
  auto t = MergeText(kBase, ours, theirs, Favor::kTheirs);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->merged, "one\ntwo\nTHREE-t\nfour\nfive\nsix\nSEVEN\n");
}

TEST(MergeText, IdenticalChangesAreNoConflict) {
  const std::string both = "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n";
  auto m = MergeText(kBase, both, both, Favor::kNone);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->clean);
  EXPECT_EQ(m->merged, both);
}

TEST(MergeText, AdjacentLinesConflictAsInGit) {
  auto m = MergeText(kBase, "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n",
                     "one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n", Favor::kNone);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->clean);
  ASSERT_EQ(m->hunks.size(), 1u);
  EXPECT_EQ(m->hunks[0].base_start, 3u);
  EXPECT_EQ(m->hunks[0].base_lines, 2u);
}

struct Case {
  const char* name;
  PathState point, ours, theirs;
  Favor favor;
  Outcome::Kind kind;
  std::string how;
  std::string conflict;
  std::string content;  // kSet
};

class DecidePathTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecidePathTable, Decides) {
  const Case& c = GetParam();
  auto o = DecidePath(c.point, c.ours, c.theirs, c.favor);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->kind, c.kind);
  EXPECT_EQ(o->how, c.how);
  EXPECT_EQ(o->conflict, c.conflict);
  if (c.kind == Outcome::Kind::kSet) {
    EXPECT_EQ(o->state.content, c.content);
  }
  EXPECT_EQ(o->resolved, !c.conflict.empty() && c.favor != Favor::kNone);
}

const std::string kB = "a\nb\nc\nd\ne\n";
const std::string kOurs = "A\nb\nc\nd\ne\n";
const std::string kTheirs = "a\nb\nc\nd\nE\n";
const std::string kBoth = "A\nb\nc\nd\nE\n";
const std::string kOursSame = "a\nB-o\nc\nd\ne\n";
const std::string kTheirsSame = "a\nB-t\nc\nd\ne\n";
const std::string kBin = std::string("\0bin", 4);
const std::string kBinO = std::string("\0bin-o", 6);
const std::string kBinT = std::string("\0bin-t", 6);

using K = Outcome::Kind;
INSTANTIATE_TEST_SUITE_P(
    Cases, DecidePathTable,
    ::testing::Values(
        Case{"fork_only_modifies", File(kB), File(kB), File(kTheirs), Favor::kNone, K::kSet, "fork", "",
             kTheirs},
        Case{"fork_only_deletes", File(kB), File(kB), Gone(), Favor::kNone, K::kDelete, "fork", "", ""},
        Case{"fork_only_adds", Gone(), Gone(), File(kTheirs), Favor::kNone, K::kSet, "fork", "", kTheirs},
        Case{"fork_unchanged", File(kB), File(kOurs), File(kB), Favor::kNone, K::kKeep, "", "", ""},
        Case{"same_change", File(kB), File(kTheirs), File(kTheirs), Favor::kNone, K::kKeep, "", "", ""},
        Case{"both_delete", File(kB), Gone(), Gone(), Favor::kNone, K::kKeep, "", "", ""},
        Case{"same_add", Gone(), File(kB), File(kB), Favor::kNone, K::kKeep, "", "", ""},
        Case{"lines_combine", File(kB), File(kOurs), File(kTheirs), Favor::kNone, K::kSet, "merged", "",
             kBoth},
        Case{"content", File(kB), File(kOursSame), File(kTheirsSame), Favor::kNone, K::kKeep, "", "content",
             ""},
        Case{"content_theirs", File(kB), File(kOursSame), File(kTheirsSame), Favor::kTheirs, K::kSet,
             "theirs", "content", kTheirsSame},
        Case{"content_ours", File(kB), File(kOursSame), File(kTheirsSame), Favor::kOurs, K::kKeep, "ours",
             "content", ""},
        Case{"binary", File(kBin), File(kBinO), File(kBinT), Favor::kNone, K::kKeep, "", "binary", ""},
        Case{"binary_theirs", File(kBin), File(kBinO), File(kBinT), Favor::kTheirs, K::kSet, "theirs",
             "binary", kBinT},
        Case{"modify_delete", File(kB), Gone(), File(kTheirs), Favor::kNone, K::kKeep, "", "modify/delete",
             ""},
        Case{"modify_delete_theirs", File(kB), Gone(), File(kTheirs), Favor::kTheirs, K::kSet, "theirs",
             "modify/delete", kTheirs},
        Case{"delete_modify", File(kB), File(kOurs), Gone(), Favor::kNone, K::kKeep, "", "delete/modify", ""},
        Case{"delete_modify_theirs", File(kB), File(kOurs), Gone(), Favor::kTheirs, K::kDelete, "theirs",
             "delete/modify", ""},
        Case{"delete_modify_ours", File(kB), File(kOurs), Gone(), Favor::kOurs, K::kKeep, "ours",
             "delete/modify", ""},
        Case{"add_add", Gone(), File("x\n"), File("y\n"), Favor::kNone, K::kKeep, "", "add/add", ""},
        Case{"add_add_theirs", Gone(), File("x\n"), File("y\n"), Favor::kTheirs, K::kSet, "theirs", "add/add",
             "y\n"},
        Case{"type", File(kB), Link("elsewhere"), File(kTheirs), Favor::kNone, K::kKeep, "", "type", ""},
        Case{"type_theirs", File(kB), Link("elsewhere"), File(kTheirs), Favor::kTheirs, K::kSet, "theirs",
             "type", kTheirs},
        Case{"symlinks", Link("a"), Link("b"), Link("c"), Favor::kNone, K::kKeep, "", "content", ""},
        Case{"mode_and_content", File(kB), File(kB, 0755), File(kTheirs), Favor::kNone, K::kSet, "merged", "",
             kTheirs},
        Case{"mode", File(kB), File(kB, 0600), File(kB, 0755), Favor::kNone, K::kKeep, "", "mode", ""}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(DecidePath, ModeAndContentCombine) {
  auto o = DecidePath(File(kB), File(kB, 0755), File(kTheirs), Favor::kNone);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->state.mode, S_IFREG | 0755);
  EXPECT_EQ(o->state.content, kTheirs);
}

TEST(DecidePath, ConflictHunksAreReported) {
  auto o = DecidePath(File(kB), File(kOursSame), File(kTheirsSame), Favor::kNone);
  ASSERT_TRUE(o.ok());
  ASSERT_EQ(o->hunks.size(), 1u);
  EXPECT_EQ(o->hunks[0].text, "<<<<<<< ours\nB-o\n=======\nB-t\n>>>>>>> theirs\n");
}

TEST(IsBinary, NulInTheFirst8000Bytes) {
  EXPECT_FALSE(IsBinary("plain\ntext\n"));
  EXPECT_TRUE(IsBinary(std::string("a\0b", 3)));
  EXPECT_FALSE(IsBinary(std::string(8000, 'x') + std::string(1, '\0')));
}

}  // namespace
}  // namespace nexus::forks
