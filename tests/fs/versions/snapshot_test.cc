#include <gtest/gtest.h>

#include "fs/versions/version_store.h"
#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions {
namespace {

using testing::MemoryTree;
using testing::VersionStoreTest;

class SnapshotTest : public VersionStoreTest {
 protected:
  // Mirrors the captures into `tree_`, as the filesystem would hold them.
  void PutBoth(const std::string& zone, const std::string& path, const std::string& content) {
    Put(path, content, zone);
    tree_.files[zone + ":" + path] = content;
  }
  void RemoveBoth(const std::string& zone, const std::string& path) {
    ASSERT_TRUE(store_->Remove(zone, path, who_).ok());
    tree_.files.erase(zone + ":" + path);
  }
  // Feeds the restore's writes back as captures, as the daemon would.
  void CaptureBack(const RestoreResult& r) {
    for (const RestoreChange& c : r.changes) {
      if (c.kind == RestoreChange::Kind::kWrite)
        Put(c.path, tree_.files[c.zone + ":" + c.path], c.zone);
      else
        ASSERT_TRUE(store_->Remove(c.zone, c.path, who_).ok());
    }
  }
  MemoryTree tree_;
};

TEST_F(SnapshotTest, CreateListInfoEntries) {
  PutBoth("root", "a.txt", "alpha");
  PutBoth("root", "dir/b.txt", "beta!");
  PutBoth("local", "w.txt", "work");
  auto id = store_->CreateSnapshot({}, "before refactor");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto one = store_->CreateSnapshot({"local"}, "just local");
  ASSERT_TRUE(one.ok());

  auto list = store_->ListSnapshots();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, *id);
  EXPECT_EQ((*list)[0].description, "before refactor");
  EXPECT_EQ((*list)[0].zones, (std::vector<std::string>{"local", "root"}));
  EXPECT_FALSE((*list)[0].automatic);
  EXPECT_EQ((*list)[1].zones, (std::vector<std::string>{"local"}));

  auto info = store_->GetSnapshot(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->commit.size(), 40u);
  EXPECT_EQ(info->time_ns, now_ns_.load());

  auto entries = store_->SnapshotEntries(*id);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].path, "local/w.txt");
  EXPECT_EQ((*entries)[1].path, "root/a.txt");
  EXPECT_EQ((*entries)[1].size, 5u);
  EXPECT_EQ((*entries)[1].mode, kModeFile);
  EXPECT_EQ((*entries)[2].path, "root/dir/b.txt");
  EXPECT_EQ((*entries)[1].oid, store_->GetVersion("root", "a.txt", 1)->blob);

  const std::string git_dir = dir_.path() + "/versions.git";
  EXPECT_EQ(Git(git_dir, "rev-list --count refs/snapshots/" + *id), "1\n") << "parentless";
}

TEST_F(SnapshotTest, BrowseDirectoriesStatAndReadRanges) {
  PutBoth("root", "dir/b.txt", "0123456789");
  PutBoth("root", "dir/sub/c.txt", "c");
  auto id = store_->CreateSnapshot({"root"}, "");
  ASSERT_TRUE(id.ok());

  auto top = store_->ListSnapshotDir(*id, "");
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].path, "root");
  EXPECT_TRUE((*top)[0].IsDir());

  auto dir = store_->ListSnapshotDir(*id, "/root/dir/");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  ASSERT_EQ(dir->size(), 2u);
  EXPECT_EQ((*dir)[0].path, "b.txt");
  EXPECT_EQ((*dir)[0].size, 10u);
  EXPECT_EQ((*dir)[1].path, "sub");
  EXPECT_TRUE((*dir)[1].IsDir());

  auto st = store_->StatSnapshotEntry(*id, "root/dir/b.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 10u);
  EXPECT_EQ(*store_->ReadBlob(st->oid, 3, 4), "3456");
  EXPECT_EQ(*store_->ReadBlob(st->oid, 8, 100), "89");
  EXPECT_EQ(*store_->ReadBlob(st->oid, 50, 1), "");
  EXPECT_TRUE(store_->StatSnapshotEntry(*id, "")->IsDir());

  EXPECT_EQ(store_->StatSnapshotEntry(*id, "root/nope").code(), ENOENT);
  EXPECT_EQ(store_->ListSnapshotDir(*id, "root/dir/b.txt").code(), EINVAL);
  EXPECT_EQ(store_->ListSnapshotDir("999", "").code(), ENOENT);
}

TEST_F(SnapshotTest, RestoreBringsTheTreeBackAndCanBeUndone) {
  PutBoth("root", "keep.txt", "same");
  PutBoth("root", "edit.txt", "old");
  PutBoth("root", "gone.txt", "deleted later");
  auto id = store_->CreateSnapshot({"root"}, "good state");
  ASSERT_TRUE(id.ok());

  PutBoth("root", "edit.txt", "new");
  PutBoth("root", "added.txt", "added later");
  RemoveBoth("root", "gone.txt");
  const auto broken = tree_.files;

  auto r = store_->RestoreSnapshot(*id, tree_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_EQ(tree_.files,
            (std::map<std::string, std::string>{
                {"root:keep.txt", "same"}, {"root:edit.txt", "old"}, {"root:gone.txt", "deleted later"}}));
  EXPECT_EQ(r->changes.back().kind, RestoreChange::Kind::kDelete) << "deletions come last";
  EXPECT_EQ(r->changes.back().path, "added.txt");
  auto undo = store_->GetSnapshot(r->undo_snapshot);
  ASSERT_TRUE(undo.ok());
  EXPECT_TRUE(undo->automatic);
  CaptureBack(*r);
  EXPECT_EQ(store_->History("root", "edit.txt")->versions.size(), 3u);
  EXPECT_FALSE(store_->History("root", "gone.txt")->deleted);

  auto back = store_->RestoreSnapshot(r->undo_snapshot, tree_);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(tree_.files, broken);
}

TEST_F(SnapshotTest, DeleteRemovesRefAndRow) {
  PutBoth("root", "a", "a");
  auto id = store_->CreateSnapshot({}, "tmp");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store_->DeleteSnapshot(*id).ok());
  EXPECT_EQ(store_->GetSnapshot(*id).code(), ENOENT);
  EXPECT_EQ(store_->DeleteSnapshot(*id).code(), ENOENT);
  EXPECT_TRUE(store_->ListSnapshots()->empty());
  int st = 0;
  Git(dir_.path() + "/versions.git", "rev-parse --verify -q refs/snapshots/" + *id, &st);
  EXPECT_NE(st, 0);
}

}  // namespace
}  // namespace nexus::versions
