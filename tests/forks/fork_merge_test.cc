// `fork diff` and `fork merge` end to end on a real registry, real
// NativeBackends and a real Namespace (no FUSE): the fork and its base are
// changed through PathFiles as a user would, then the fork is diffed and
// merged back.
#include "forks/fork_merge.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "forks/fork_diff.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/path_files.h"
#include "tests/temp_dir.h"

namespace nexus::forks {
namespace {

using nexus::testing::TempDir;

// Records each change's path and the task id its caller carried.
class TaskSink final : public ChangeSink {
 public:
  void Publish(ChangeEvent ev) override {
    std::lock_guard lk(mu_);
    tasks_.emplace_back(ev.path, ev.caller.origin ? ev.caller.origin->task_id : std::string());
    subjects_.push_back(ev.caller.principal ? ev.caller.principal->subject : std::string());
    commands_.push_back(ev.caller.origin ? ev.caller.origin->command : std::string());
  }
  std::vector<std::pair<std::string, std::string>> Tasks() {
    std::lock_guard lk(mu_);
    return tasks_;
  }
  std::vector<std::string> Commands() {
    std::lock_guard lk(mu_);
    return commands_;
  }
  std::vector<std::string> Subjects() {
    std::lock_guard lk(mu_);
    return subjects_;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> tasks_;
  std::vector<std::string> commands_;
  std::vector<std::string> subjects_;
};

const char kLines[] = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";

class ForkMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    me_.uid = ::getuid();
    me_.gid = ::getgid();
    me_.umask = 022;
    std::filesystem::create_directories(tmp_.path() + "/root");
    NativeBackend::Options o;
    o.data_dir = tmp_.path() + "/root";
    o.sink = &sink_;
    o.commit_interval_ms = 1;
    o.root_uid = me_.uid;
    o.root_gid = me_.gid;
    root_ = std::move(NativeBackend::Open(o)).value();
    ns_ = std::make_unique<Namespace>(root_.get());
    ForkRegistry::Options ro;
    ro.data_dir = tmp_.path() + "/forks";
    ro.ns = ns_.get();
    ro.sink = &sink_;
    ro.root_tree = root_.get();
    ro.commit_interval_ms = 1;
    auto reg = ForkRegistry::Open(ro);
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    reg_ = std::move(reg).value();
    ns_->SetPreChangeHook(reg_.get());
    files_ = std::make_unique<PathFiles>(ns_.get());

    Put("/src/a.txt", kLines);
    Put("/src/b.txt", "bee\n");
    Put("/src/c.txt", "sea\n");
    Put("/src/bin.dat", std::string("\0\1\2", 3));
    Put("/src/sub/d.txt", "dee\n");
    ASSERT_TRUE(reg_->Create(me_, "f", "/src", "").ok());
  }
  void TearDown() override {
    files_.reset();
    reg_.reset();
    ns_.reset();
    root_.reset();
  }

  void Put(const std::string& path, const std::string& text) {
    WriteOptions w;
    w.create_parents = true;
    auto r = files_->Write(me_, path, text, w);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  }
  std::string Get(const std::string& path) {
    uint64_t size = 0;
    auto r = files_->Read(me_, path, 0, 0, 1 << 20, &size);
    return r.ok() ? *r : "<" + r.status().ToString() + ">";
  }
  bool Exists(const std::string& path) { return files_->Stat(me_, path, false, false).ok(); }
  mode_t Mode(const std::string& path) {
    auto st = files_->Stat(me_, path, false, false);
    return st.ok() ? st->attr.mode & 07777 : 0;
  }
  void Chmod(const std::string& path, mode_t mode) {
    SetAttrRequest r;
    r.valid = SetAttrRequest::kMode;
    r.mode = mode;
    ASSERT_TRUE(files_->SetAttr(me_, path, r).ok());
  }
  void Symlink(const std::string& target, const std::string& path) {
    auto dir = ns_->ResolvePinned(me_, std::filesystem::path(path).parent_path().string());
    ASSERT_TRUE(dir.ok()) << path;
    auto made = ns_->Symlink(me_, target, dir->ino, std::filesystem::path(path).filename().string());
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    ns_->Forget(made->ino, 1);
    if (dir->ino != kRootIno) ns_->Forget(dir->ino, 1);
  }
  std::string Target(const std::string& path) {
    auto st = files_->Stat(me_, path, false, false);
    return st.ok() ? st->symlink_target : "<" + st.status().ToString() + ">";
  }
  Result<MergeReport> Merge(MergeOptions options = {}) { return MergeFork(*reg_, me_, me_, "f", options); }
  NativeBackend& Tree(const std::string& name = "f") { return *reg_->Tree(name).value(); }
  const MergeConflict* ConflictAt(const MergeReport& r, const std::string& path) {
    for (const auto& c : r.conflicts)
      if (c.path == path) return &c;
    return nullptr;
  }

  TempDir tmp_;
  Caller me_;
  TaskSink sink_;
  std::unique_ptr<NativeBackend> root_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<ForkRegistry> reg_;
  std::unique_ptr<PathFiles> files_;
};

TEST_F(ForkMergeTest, DiffReadsLikeGit) {
  Put("/forks/f/a.txt", "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n");
  Put("/forks/f/new.txt", "new\n");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/b.txt").ok());
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c2.txt").ok());
  Put("/src/a.txt", "base moved on\n");  // the fork point stays
  auto d = DiffFork(Tree(), DiffOptions{});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 4u);
  EXPECT_EQ((*d)[0].change.path, "a.txt");
  EXPECT_EQ((*d)[0].patch,
            "diff --git a/a.txt b/a.txt\n"
            "index 2019eda..f893115 100644\n"
            "--- a/a.txt\n"
            "+++ b/a.txt\n"
            "@@ -1,6 +1,6 @@\n"
            " one\n"
            " two\n"
            "-three\n"
            "+THREE\n"
            " four\n"
            " five\n"
            " six\n");
  EXPECT_EQ((*d)[1].change.path, "b.txt");
  EXPECT_EQ((*d)[1].change.kind, ForkChange::Kind::kDeleted);
  EXPECT_EQ((*d)[2].change.path, "c2.txt");
  EXPECT_EQ((*d)[2].patch,
            "diff --git a/c.txt b/c2.txt\nsimilarity index 100%\nrename from c.txt\nrename to c2.txt\n");
  EXPECT_EQ((*d)[3].change.path, "new.txt");
  EXPECT_EQ(FormatStat(*d),
            " a.txt           | 2 +-\n"
            " b.txt           | 1 -\n"
            " c.txt => c2.txt | 0\n"
            " new.txt         | 1 +\n"
            " 4 files changed, 2 insertions(+), 2 deletions(-)\n");
}

TEST_F(ForkMergeTest, Symlinks) {
  Symlink("a.txt", "/src/link");
  Symlink("b.txt", "/src/other");
  ASSERT_TRUE(reg_->Create(me_, "s", "/src", "").ok());
  Symlink("sub/d.txt", "/forks/s/new-link");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/s/link").ok());
  Symlink("c.txt", "/forks/s/link");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/s/other").ok());
  Symlink("fork.txt", "/forks/s/other");
  ASSERT_TRUE(files_->Unlink(me_, "/src/other").ok());
  Symlink("base.txt", "/src/other");
  auto d = DiffFork(Tree("s"), DiffOptions{});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].patch,
            "diff --git a/link b/link\nindex 8d14cbf..f632129 120000\n--- a/link\n+++ b/link\n@@ -1 +1 @@\n"
            "-a.txt\n\\ No newline at end of file\n+c.txt\n\\ No newline at end of file\n");
  EXPECT_EQ((*d)[1].change.kind, ForkChange::Kind::kAdded);
  EXPECT_EQ((*d)[1].patch.rfind("diff --git a/new-link b/new-link\nnew file mode 120000\nindex 0000000..", 0),
            0u);
  auto r = MergeFork(*reg_, me_, me_, "s", MergeOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Target("/src/link"), "c.txt");
  EXPECT_EQ(Target("/src/new-link"), "sub/d.txt");
  ASSERT_EQ(r->conflicts.size(), 1u);
  EXPECT_EQ(r->conflicts[0].path, "other");
  EXPECT_EQ(r->conflicts[0].kind, "content");
  EXPECT_EQ(Target("/src/other"), "base.txt");
}

TEST_F(ForkMergeTest, TakesTheForksChanges) {
  Put("/forks/f/a.txt", "fork\n");
  Put("/forks/f/newdir/n.txt", "new\n");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/b.txt").ok());
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/sub/c.txt").ok());
  Chmod("/forks/f/sub/d.txt", 0755);
  MergeOptions o;
  o.files = files_.get();  // the daemon's, as the service passes it
  auto r = Merge(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->applied);
  EXPECT_TRUE(r->conflicts.empty());
  EXPECT_EQ(r->task_id, "fork-merge:f:1");
  EXPECT_EQ(Get("/src/a.txt"), "fork\n");
  EXPECT_EQ(Get("/src/newdir/n.txt"), "new\n");
  EXPECT_FALSE(Exists("/src/b.txt"));
  EXPECT_FALSE(Exists("/src/c.txt"));
  EXPECT_EQ(Get("/src/sub/c.txt"), "sea\n");
  EXPECT_EQ(Mode("/src/sub/d.txt"), 0755u);
  for (const MergeEntry& e : r->entries) EXPECT_EQ(e.how, "fork") << e.path;
  EXPECT_EQ(reg_->Get("f")->merges, 1u);
  // Every change the merge made carries its task id and command.
  size_t tagged = 0;
  for (const auto& [path, task] : sink_.Tasks()) {
    if (task.empty()) continue;
    EXPECT_EQ(task, "fork-merge:f:1") << path;
    EXPECT_TRUE(path.rfind("/src", 0) == 0) << path;
    ++tagged;
  }
  EXPECT_GE(tagged, 5u);
  bool command = false;
  for (const auto& c : sink_.Commands()) command |= c == "nexus fork merge f";
  EXPECT_TRUE(command);
  // Nothing of the merge is left behind.
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/forks/merges/f.1"));
  auto listing = files_->List(me_, "/src", false);
  ASSERT_TRUE(listing.ok());
  for (const auto& e : *listing) {
    EXPECT_EQ(e.path.find(".nexus-merge"), std::string::npos) << e.path;
    EXPECT_EQ(e.path.find(".nexus-aside"), std::string::npos) << e.path;
  }
}

TEST_F(ForkMergeTest, CombinesChangesToDifferentLines) {
  Put("/src/a.txt", "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\n");
  Put("/forks/f/a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n");
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->conflicts.empty());
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].how, "merged");
  EXPECT_EQ(Get("/src/a.txt"), "ONE\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n");
}

TEST_F(ForkMergeTest, ConflictsAreReportedWithHunksAndNotWritten) {
  Put("/src/a.txt", "one\ntwo\nTHREE-base\nfour\nfive\nsix\nseven\n");
  Put("/forks/f/a.txt", "one\ntwo\nTHREE-fork\nfour\nfive\nsix\nSEVEN\n");
  Put("/forks/f/new.txt", "new\n");
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->applied);  // the non-conflicting change landed
  ASSERT_EQ(r->conflicts.size(), 1u);
  const MergeConflict& c = r->conflicts[0];
  EXPECT_EQ(c.path, "a.txt");
  EXPECT_EQ(c.kind, "content");
  EXPECT_EQ(c.resolved_by, "");
  ASSERT_EQ(c.hunks.size(), 1u);
  EXPECT_EQ(c.hunks[0].base_start, 3u);
  EXPECT_EQ(c.hunks[0].base_lines, 1u);
  EXPECT_EQ(c.hunks[0].ours_start, 3u);
  EXPECT_EQ(c.hunks[0].theirs_start, 3u);
  EXPECT_EQ(c.hunks[0].text, "<<<<<<< ours\nTHREE-base\n=======\nTHREE-fork\n>>>>>>> theirs\n");
  EXPECT_EQ(Get("/src/a.txt"), "one\ntwo\nTHREE-base\nfour\nfive\nsix\nseven\n");
  EXPECT_EQ(Get("/src/new.txt"), "new\n");
}

TEST_F(ForkMergeTest, TheirsAndOursResolveLineByLine) {
  Put("/src/a.txt", "one\ntwo\nTHREE-base\nfour\nfive\nsix\nseven\n");
  Put("/forks/f/a.txt", "one\ntwo\nTHREE-fork\nfour\nfive\nsix\nSEVEN\n");
  MergeOptions ours;
  ours.strategy = Favor::kOurs;
  auto r = Merge(ours);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->conflicts.size(), 1u);
  EXPECT_EQ(r->conflicts[0].resolved_by, "ours");
  EXPECT_EQ(Get("/src/a.txt"), "one\ntwo\nTHREE-base\nfour\nfive\nsix\nSEVEN\n");
  // Again from a fresh base state, the fork's side.
  Put("/src/a.txt", "one\ntwo\nTHREE-base\nfour\nfive\nsix\nseven\n");
  MergeOptions theirs;
  theirs.strategy = Favor::kTheirs;
  r = Merge(theirs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->conflicts.size(), 1u);
  EXPECT_EQ(r->conflicts[0].resolved_by, "theirs");
  EXPECT_EQ(r->entries[0].how, "theirs");
  EXPECT_EQ(Get("/src/a.txt"), "one\ntwo\nTHREE-fork\nfour\nfive\nsix\nSEVEN\n");
  EXPECT_EQ(r->task_id, "fork-merge:f:2");
}

TEST_F(ForkMergeTest, ConflictKinds) {
  // modify/delete: the fork modified, the base deleted.
  Put("/forks/f/b.txt", "bee fork\n");
  ASSERT_TRUE(files_->Unlink(me_, "/src/b.txt").ok());
  // delete/modify: the fork deleted, the base modified.
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/c.txt").ok());
  Put("/src/c.txt", "sea base\n");
  // binary changed on both sides.
  Put("/forks/f/bin.dat", std::string("\0fork", 5));
  Put("/src/bin.dat", std::string("\0base", 5));
  // add/add with different content.
  Put("/forks/f/both.txt", "fork\n");
  Put("/src/both.txt", "base\n");
  // add/add with the same content: no conflict.
  Put("/forks/f/same.txt", "same\n");
  Put("/src/same.txt", "same\n");
  // rename/delete: the fork renamed, the base deleted.
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/sub/d.txt", "/forks/f/sub/e.txt").ok());
  ASSERT_TRUE(files_->Unlink(me_, "/src/sub/d.txt").ok());
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::map<std::string, std::string> kinds;
  for (const auto& c : r->conflicts) kinds[c.path] = c.kind;
  EXPECT_EQ(kinds, (std::map<std::string, std::string>{{"b.txt", "modify/delete"},
                                                       {"c.txt", "delete/modify"},
                                                       {"bin.dat", "binary"},
                                                       {"both.txt", "add/add"},
                                                       {"sub/e.txt", "rename/delete"}}));
  EXPECT_TRUE(r->entries.empty());
  EXPECT_FALSE(r->applied);
  EXPECT_FALSE(Exists("/src/b.txt"));
  EXPECT_EQ(Get("/src/c.txt"), "sea base\n");
  EXPECT_EQ(Get("/src/both.txt"), "base\n");
  EXPECT_FALSE(Exists("/src/sub/e.txt"));

  MergeOptions theirs;
  theirs.strategy = Favor::kTheirs;
  r = Merge(theirs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& c : r->conflicts) EXPECT_EQ(c.resolved_by, "theirs") << c.path;
  EXPECT_EQ(Get("/src/b.txt"), "bee fork\n");
  EXPECT_FALSE(Exists("/src/c.txt"));
  EXPECT_EQ(Get("/src/bin.dat"), std::string("\0fork", 5));
  EXPECT_EQ(Get("/src/both.txt"), "fork\n");
  EXPECT_EQ(Get("/src/sub/e.txt"), "dee\n");
}

TEST_F(ForkMergeTest, ADirectoryInTheBaseIsNeverReplaced) {
  Put("/forks/f/a.txt", "fork\n");
  ASSERT_TRUE(files_->Unlink(me_, "/src/a.txt").ok());
  Put("/src/a.txt/inside", "base\n");
  MergeOptions theirs;
  theirs.strategy = Favor::kTheirs;
  auto r = Merge(theirs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->conflicts.size(), 1u);
  EXPECT_EQ(r->conflicts[0].kind, "type");
  EXPECT_EQ(r->conflicts[0].resolved_by, "");
  EXPECT_EQ(Get("/src/a.txt/inside"), "base\n");
}

TEST_F(ForkMergeTest, AFileTheForkReplacedByADirectory) {
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/sub/d.txt").ok());
  Put("/forks/f/sub/d.txt/inner", "inner\n");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/c.txt").ok());
  Put("/forks/f/c.txt/inner", "inner\n");
  Put("/src/c.txt", "sea changed in the base\n");
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Taken where the base kept the file as it was...
  EXPECT_EQ(Get("/src/sub/d.txt/inner"), "inner\n");
  // ...a conflict where the base changed it, and nothing written below it.
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& c : r->conflicts) kinds.emplace_back(c.path, c.kind);
  EXPECT_EQ(kinds, (std::vector<std::pair<std::string, std::string>>{
                       {"c.txt", "delete/modify"}, {"c.txt", "type"}, {"c.txt/inner", "type"}}));
  EXPECT_EQ(Get("/src/c.txt"), "sea changed in the base\n");
}

TEST_F(ForkMergeTest, FollowsARenameInTheBase) {
  Put("/forks/f/a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n");
  ASSERT_TRUE(files_->Rename(me_, "/src/a.txt", "/src/moved.txt").ok());
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->conflicts.empty());
  EXPECT_FALSE(Exists("/src/a.txt"));
  EXPECT_EQ(Get("/src/moved.txt"), "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n");
}

TEST_F(ForkMergeTest, RenameRenameConflicts) {
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/a.txt", "/forks/f/fork-name.txt").ok());
  ASSERT_TRUE(files_->Rename(me_, "/src/a.txt", "/src/base-name.txt").ok());
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->conflicts.size(), 1u);
  EXPECT_EQ(r->conflicts[0].kind, "rename/rename");
  EXPECT_TRUE(Exists("/src/base-name.txt"));
  EXPECT_FALSE(Exists("/src/fork-name.txt"));
}

TEST_F(ForkMergeTest, RenamedDirectoryMovesWithTheBasesNewFiles) {
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/sub", "/forks/f/lib").ok());
  Put("/forks/f/lib/d.txt", "dee fork\n");
  Put("/src/sub/base-only.txt", "base\n");
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->conflicts.empty());
  EXPECT_FALSE(Exists("/src/sub"));
  EXPECT_EQ(Get("/src/lib/d.txt"), "dee fork\n");
  EXPECT_EQ(Get("/src/lib/base-only.txt"), "base\n");
}

TEST_F(ForkMergeTest, PathsSelectWhatMerges) {
  Put("/forks/f/a.txt", "fork a\n");
  Put("/forks/f/sub/d.txt", "fork d\n");
  Put("/forks/f/sub/x.c", "int x;\n");
  MergeOptions o;
  o.paths = {"sub"};
  auto r = Merge(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(Get("/src/a.txt"), kLines);
  EXPECT_EQ(Get("/src/sub/d.txt"), "fork d\n");
  o.paths = {"*.txt"};
  r = Merge(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Get("/src/a.txt"), "fork a\n");
}

bool SameReport(const MergeReport& a, const MergeReport& b) {
  if (a.entries.size() != b.entries.size() || a.conflicts.size() != b.conflicts.size()) return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const auto &x = a.entries[i], &y = b.entries[i];
    if (x.path != y.path || x.old_path != y.old_path || x.action != y.action || x.how != y.how) return false;
  }
  for (size_t i = 0; i < a.conflicts.size(); ++i) {
    const auto &x = a.conflicts[i], &y = b.conflicts[i];
    if (x.path != y.path || x.kind != y.kind || x.resolved_by != y.resolved_by ||
        x.hunks.size() != y.hunks.size())
      return false;
    for (size_t h = 0; h < x.hunks.size(); ++h)
      if (x.hunks[h].text != y.hunks[h].text) return false;
  }
  return a.task_id == b.task_id;
}

TEST_F(ForkMergeTest, DryRunPredictsTheMerge) {
  Put("/src/a.txt", "one\ntwo\nTHREE-base\nfour\nfive\nsix\nseven\n");
  Put("/forks/f/a.txt", "one\ntwo\nTHREE-fork\nfour\nfive\nsix\nSEVEN\n");
  Put("/forks/f/n/new.txt", "new\n");
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c2.txt").ok());
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/b.txt").ok());
  MergeOptions dry;
  dry.dry_run = true;
  auto planned = Merge(dry);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  EXPECT_TRUE(planned->dry_run);
  EXPECT_FALSE(planned->applied);
  EXPECT_FALSE(Exists("/src/n/new.txt"));
  EXPECT_TRUE(Exists("/src/b.txt"));
  EXPECT_EQ(reg_->Get("f")->merges, 0u);
  auto real = Merge();
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_TRUE(SameReport(*planned, *real));
  EXPECT_EQ(real->entries.size(), 4u);  // mkdir n, delete b, rename c, write n/new
}

TEST_F(ForkMergeTest, RefusedWithoutWritePermissionWritesNothing) {
  Put("/forks/f/a.txt", "fork\n");
  Put("/forks/f/sub/new.txt", "new\n");
  Chmod("/src/sub", 0755);
  Caller other;
  other.uid = 12345;
  other.gid = 12345;
  auto r = MergeFork(*reg_, other, other, "f", MergeOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EACCES);
  EXPECT_NE(r.status().message().find("/src/a.txt"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("/src/sub/new.txt"), std::string::npos) << r.status().message();
  EXPECT_EQ(Get("/src/a.txt"), kLines);
  EXPECT_FALSE(Exists("/src/sub/new.txt"));
  EXPECT_EQ(reg_->Get("f")->merges, 0u);
}

// Denies write below one folder to everyone but administrators.
class DenyBelow final : public AccessPolicy {
 public:
  explicit DenyBelow(std::string dir) : dir_(std::move(dir)) {}
  bool Unrestricted(const Caller& c) override { return c.principal && c.principal->admin; }
  bool CanSee(const Caller&, std::string_view, bool) override { return true; }
  bool Can(const Caller&, Need need, std::string_view path, bool) override {
    return need != Need::kWrite || path.substr(0, dir_.size()) != dir_;
  }
  void Denied(const Caller&, std::string_view, std::string_view, std::string_view) override {}
  std::string SubjectOf(const Caller& c) override { return "user:uid-" + std::to_string(c.uid); }

 private:
  std::string dir_;
};

TEST_F(ForkMergeTest, RefusedByTheAccessPolicyWritesNothing) {
  DenyBelow policy("/src/sub");
  ns_->SetAccessPolicy(&policy);
  Put("/forks/f/a.txt", "fork\n");
  Put("/forks/f/sub/d.txt", "fork d\n");
  auto r = Merge();
  ns_->SetAccessPolicy(nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EACCES);
  EXPECT_EQ(r.status().message(), "user:uid-" + std::to_string(me_.uid) + " may not write /src/sub/d.txt");
  EXPECT_EQ(Get("/src/a.txt"), kLines);
  EXPECT_EQ(Get("/src/sub/d.txt"), "dee\n");
}

// Lets one subject write nothing, everyone else everything.
class DenySubject final : public AccessPolicy {
 public:
  bool Unrestricted(const Caller& c) override { return c.principal && c.principal->admin; }
  bool CanSee(const Caller&, std::string_view, bool) override { return true; }
  bool Can(const Caller& c, Need need, std::string_view, bool) override {
    return need != Need::kWrite || !c.principal || c.principal->subject != "agent:bot";
  }
  void Denied(const Caller&, std::string_view, std::string_view, std::string_view) override {}
  std::string SubjectOf(const Caller& c) override { return c.principal ? c.principal->subject : "user:me"; }
};

TEST_F(ForkMergeTest, TheAuthorNeedsNoRightsOutsideItsFork) {
  Put("/forks/f/a.txt", "by the bot\n");
  DenySubject policy;
  ns_->SetAccessPolicy(&policy);
  Principal bot;
  bot.subject = "agent:bot";
  Caller author = me_;
  author.principal = &bot;
  // The bot alone may not merge...
  auto refused = MergeFork(*reg_, author, author, "f", MergeOptions{});
  EXPECT_EQ(refused.code(), EACCES);
  // ...but a caller who may write the base merges what the bot did, as the bot.
  auto r = MergeFork(*reg_, me_, author, "f", MergeOptions{});
  ns_->SetAccessPolicy(nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Get("/src/a.txt"), "by the bot\n");
  auto tasks = sink_.Tasks();
  auto subjects = sink_.Subjects();
  size_t merged = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].second != r->task_id) continue;
    EXPECT_EQ(subjects[i], "agent:bot") << tasks[i].first;
    ++merged;
  }
  EXPECT_GT(merged, 0u);
}

TEST_F(ForkMergeTest, InterruptedMergeIsFinishedFromItsJournal) {
  Put("/forks/f/a.txt", "fork a\n");
  Put("/forks/f/n/new.txt", "new\n");
  ASSERT_TRUE(files_->Unlink(me_, "/forks/f/b.txt").ok());
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c2.txt").ok());
  Chmod("/forks/f/sub/d.txt", 0700);
  MergeOptions crash;
  crash.TEST_stop_after_steps = 2;
  auto r = Merge(crash);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EINTR);
  ASSERT_TRUE(std::filesystem::exists(tmp_.path() + "/forks/merges/f.1/journal"));
  // Half applied: the delete and the mkdir ran, nothing else.
  EXPECT_FALSE(Exists("/src/b.txt"));
  EXPECT_TRUE(Exists("/src/c.txt"));
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_EQ(Get("/src/a.txt"), "fork a\n");
  EXPECT_EQ(Get("/src/n/new.txt"), "new\n");
  EXPECT_FALSE(Exists("/src/c.txt"));
  EXPECT_EQ(Get("/src/c2.txt"), "sea\n");
  EXPECT_EQ(Mode("/src/sub/d.txt"), 0700u);
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/forks/merges/f.1"));
  EXPECT_EQ(reg_->Get("f")->merges, 1u);
  // The replay carried the merge's task id too (a rename's event names its source).
  bool tagged = false;
  for (const auto& [path, task] : sink_.Tasks()) tagged |= path == "/src/c.txt" && task == "fork-merge:f:1";
  EXPECT_TRUE(tagged);
}

TEST_F(ForkMergeTest, ReplayRedoesTheStepACrashCutShort) {
  Put("/forks/f/a.txt", "fork a\n");
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c2.txt").ok());
  MergeOptions crash;
  crash.TEST_stop_after_steps = 1;  // the rename ran; its "done" is lost below
  ASSERT_EQ(Merge(crash).code(), EINTR);
  std::filesystem::remove(tmp_.path() + "/forks/merges/f.1/progress");
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_EQ(Get("/src/c2.txt"), "sea\n");
  EXPECT_FALSE(Exists("/src/c.txt"));
  EXPECT_EQ(Get("/src/a.txt"), "fork a\n");
}

TEST_F(ForkMergeTest, JournalKeepsNamesThatAreNotUtf8) {
  const std::string odd = "/odd\xff name%\n.txt";
  Put("/forks/f" + odd, "odd\n");
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c\x80.txt").ok());
  MergeOptions crash;
  crash.TEST_stop_after_steps = 0;
  ASSERT_EQ(Merge(crash).code(), EINTR);
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_EQ(Get("/src" + odd), "odd\n");
  EXPECT_EQ(Get("/src/c\x80.txt"), "sea\n");
}

TEST_F(ForkMergeTest, AMergeIsCountedOnceWhateverTheCrash) {
  Put("/forks/f/a.txt", "fork a\n");
  MergeOptions crash;
  crash.TEST_stop_after_steps = 0;
  ASSERT_EQ(Merge(crash).code(), EINTR);
  const std::string dir = tmp_.path() + "/forks/merges/f.1";
  const std::string saved = tmp_.path() + "/saved";
  std::filesystem::copy(dir, saved);
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_EQ(reg_->Get("f")->merges, 1u);
  // A crash after the count but before the journal was removed.
  std::filesystem::rename(saved, dir);
  std::ofstream(dir + "/progress") << "0\n";
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_EQ(reg_->Get("f")->merges, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(Get("/src/a.txt"), "fork a\n");
}

TEST_F(ForkMergeTest, TheNextMergeFinishesAPendingOneFirst) {
  Put("/forks/f/a.txt", "fork a\n");
  ASSERT_TRUE(files_->Rename(me_, "/forks/f/c.txt", "/forks/f/c2.txt").ok());
  MergeOptions crash;
  crash.TEST_stop_after_steps = 1;
  ASSERT_EQ(Merge(crash).code(), EINTR);
  Put("/forks/f/b.txt", "bee fork\n");
  auto r = Merge();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->task_id, "fork-merge:f:2");
  ASSERT_EQ(r->entries.size(), 1u);  // a.txt and the rename landed with merge 1
  EXPECT_EQ(r->entries[0].path, "b.txt");
  EXPECT_EQ(Get("/src/a.txt"), "fork a\n");
  EXPECT_EQ(Get("/src/c2.txt"), "sea\n");
  EXPECT_EQ(Get("/src/b.txt"), "bee fork\n");
  EXPECT_EQ(reg_->Get("f")->merges, 2u);
}

TEST_F(ForkMergeTest, JournalNeverReadyIsDropped) {
  const std::string dir = tmp_.path() + "/forks/merges/f.1";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/journal") << R"({"journal":1,"fork":"f","task":"fork-merge:f:1","author":"user:x"})"
                                  << "\n"
                                  << R"({"action":"delete","path":"/src/a.txt","mode":0})"
                                  << "\n";
  ASSERT_TRUE(FinishInterruptedMerges(*reg_).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(Get("/src/a.txt"), kLines);
  EXPECT_EQ(reg_->Get("f")->merges, 0u);
}

TEST_F(ForkMergeTest, ForkOfAForkMergesIntoItsFork) {
  Put("/forks/f/sub/d.txt", "dee in f\n");
  ASSERT_TRUE(reg_->Create(me_, "g", "/forks/f/sub", "").ok());
  Put("/forks/g/d.txt", "dee in f\nand g\n");
  Put("/forks/g/g.txt", "g\n");
  auto r = MergeFork(*reg_, me_, me_, "g", MergeOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->conflicts.empty());
  EXPECT_EQ(r->task_id, "fork-merge:g:1");
  EXPECT_EQ(Get("/forks/f/sub/d.txt"), "dee in f\nand g\n");
  EXPECT_EQ(Get("/forks/f/sub/g.txt"), "g\n");
  EXPECT_EQ(Get("/src/sub/d.txt"), "dee\n");  // the root tree is untouched
  EXPECT_FALSE(Exists("/src/sub/g.txt"));
}

}  // namespace
}  // namespace nexus::forks
