// The rendering of a fork's changes (forks/fork_diff.h): every patch must
// read exactly like `git diff` of the same change, so each case is also made
// in a real git repository and the two outputs compared.
#include "forks/fork_diff.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace nexus::forks {
namespace {

namespace fs = std::filesystem;

std::string Run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// One side of a change in the work tree of a git repository.
struct Entry {
  std::string path;
  mode_t mode = 0;  // 0: absent
  std::string content;
};

void Put(const std::string& root, const Entry& e) {
  const fs::path p = fs::path(root) / e.path;
  fs::create_directories(p.parent_path());
  if (S_ISLNK(e.mode)) {
    ASSERT_EQ(::symlink(e.content.c_str(), p.c_str()), 0);
    return;
  }
  std::ofstream(p, std::ios::binary) << e.content;
  ::chmod(p.c_str(), e.mode & 0777);
}

// `git diff --cached -M` of old -> new in a fresh repository.
std::string GitDiff(const Entry& before, const Entry& after) {
  testing::TempDir dir;
  const std::string git = "git -C " + dir.path() + " -c core.fileMode=true ";
  Run(git + "init -q . && " + git + "config user.email t@example && " + git + "config user.name t");
  if (before.mode) Put(dir.path(), before);
  Run(git + "add -A && " + git + "commit -q --allow-empty -m base");
  if (before.mode) fs::remove(fs::path(dir.path()) / before.path);
  if (after.mode) Put(dir.path(), after);
  Run(git + "add -A");
  return Run(git + "diff --cached -M --no-color --no-ext-diff");
}

std::string Ours(const Entry& before, const Entry& after) {
  ForkChange c;
  if (!before.mode) {
    c.kind = ForkChange::Kind::kAdded;
  } else if (!after.mode) {
    c.kind = ForkChange::Kind::kDeleted;
  } else if (before.path != after.path) {
    c.kind = ForkChange::Kind::kRenamed;
    c.old_path = before.path;
  }
  c.path = after.mode ? after.path : before.path;
  c.mode = after.mode;
  c.old_mode = before.mode;
  c.content_changed = before.content != after.content;
  auto d = DiffContents(c, before.content, after.content, DiffOptions{});
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? d->patch : "";
}

struct Case {
  const char* name;
  Entry before, after;
};

class MatchesGit : public ::testing::TestWithParam<Case> {};

TEST_P(MatchesGit, SamePatch) {
  const Case& c = GetParam();
  EXPECT_EQ(Ours(c.before, c.after), GitDiff(c.before, c.after));
}

const std::string kText = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
const std::string kEdited = "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, MatchesGit,
    ::testing::Values(
        Case{"modified", {"src/a.txt", S_IFREG | 0644, kText}, {"src/a.txt", S_IFREG | 0644, kEdited}},
        Case{"added", {}, {"new.txt", S_IFREG | 0644, kText}},
        Case{"added_empty", {}, {"empty", S_IFREG | 0644, ""}},
        Case{"deleted", {"gone.txt", S_IFREG | 0644, kText}, {}},
        Case{"mode_only", {"run.sh", S_IFREG | 0644, kText}, {"run.sh", S_IFREG | 0755, kText}},
        Case{"mode_and_content", {"run.sh", S_IFREG | 0644, kText}, {"run.sh", S_IFREG | 0755, kEdited}},
        Case{"renamed", {"old/name.txt", S_IFREG | 0644, kText}, {"new/name.txt", S_IFREG | 0644, kText}},
        Case{"no_newline_at_end", {"a", S_IFREG | 0644, "x\ny"}, {"a", S_IFREG | 0644, "x\nz"}},
        Case{"binary",
             {"b.bin", S_IFREG | 0644, std::string("\0\1\2", 3)},
             {"b.bin", S_IFREG | 0644, std::string("\0\1\3", 3)}},
        Case{"binary_added", {}, {"b.bin", S_IFREG | 0644, std::string("\0\1\2", 3)}},
        Case{"symlink", {"link", S_IFLNK | 0777, "target/a"}, {"link", S_IFLNK | 0777, "target/b"}},
        Case{"symlink_added", {}, {"link", S_IFLNK | 0777, "target/a"}},
        Case{"permission_git_keeps_not", {"a", S_IFREG | 0644, kText}, {"a", S_IFREG | 0600, kText}},
        Case{"file_to_symlink", {"a", S_IFREG | 0644, kText}, {"a", S_IFLNK | 0777, "b"}},
        Case{"renamed_and_edited", {"d/a.txt", S_IFREG | 0644, kText}, {"e/a.txt", S_IFREG | 0644, kEdited}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(DiffContents, CountsLines) {
  ForkChange c;
  c.path = "a";
  c.mode = c.old_mode = S_IFREG | 0644;
  c.content_changed = true;
  auto d = DiffContents(c, kText, kEdited, DiffOptions{.patch = false});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->insertions, 2u);
  EXPECT_EQ(d->deletions, 1u);
  EXPECT_TRUE(d->patch.empty());
}

TEST(FormatStat, ReadsLikeGit) {
  std::vector<DiffFile> files(3);
  files[0].change.path = "src/a.c";
  files[0].insertions = 3;
  files[0].deletions = 1;
  files[1].change.path = "img.png";
  files[1].binary = true;
  files[2].change.kind = ForkChange::Kind::kRenamed;
  files[2].change.old_path = "x";
  files[2].change.path = "y";
  EXPECT_EQ(FormatStat(files),
            " src/a.c | 4 +++-\n"
            " img.png | Bin\n"
            " x => y  | 0\n"
            " 3 files changed, 3 insertions(+), 1 deletion(-)\n");
  EXPECT_EQ(FormatStat({}), "");
}

}  // namespace
}  // namespace nexus::forks
