#include <gtest/gtest.h>

#include <filesystem>

#include "fs/versions/version_store.h"
#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions {
namespace {

using testing::kDayNs;
using testing::VersionStoreTest;

class GcExportTest : public VersionStoreTest {
 protected:
  std::string GitDir() const { return dir_.path() + "/versions.git"; }
  // True when git can still read object `oid` in the store.
  bool HasObject(const std::string& oid) {
    int st = -1;
    Git(GitDir(), "cat-file -e " + oid, &st);
    return st == 0;
  }
};

TEST_F(GcExportTest, KeepsNewestVersionsAndDropsUnreachableContent) {
  std::vector<std::string> blobs;
  for (int i = 1; i <= 5; ++i) blobs.push_back(Put("log.txt", "entry " + std::to_string(i)).blob);
  Put("other.txt", "untouched");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string untouched_head = Git(GitDir(), "rev-parse root~4");
  now_ns_ += 40 * kDayNs;

  auto r = store_->Gc(GcPolicy{2, 30});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->versions_dropped, 3u);
  EXPECT_GT(r->objects_removed, 3u);  // three blobs plus old trees and commits
  EXPECT_GT(r->bytes_removed, 0u);

  auto h = store_->History("root", "log.txt");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(h->versions[0].number, 4u) << "numbers stay stable";
  EXPECT_EQ(h->versions[1].number, 5u);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(HasObject(blobs[i])) << i;
  for (int i = 3; i < 5; ++i) EXPECT_TRUE(HasObject(blobs[i])) << i;
  EXPECT_EQ(*store_->Get("root", "log.txt", 4), "entry 4");
  EXPECT_EQ(store_->Get("root", "log.txt", 1).code(), ENOENT);
  EXPECT_NE(Git(GitDir(), "rev-parse root~1"), untouched_head);
  int st = -1;
  Git(GitDir(), "fsck --strict --no-dangling", &st);
  EXPECT_EQ(st, 0);
  // Every commit still in history is the one its versions name.
  for (const Version& v : h->versions) EXPECT_TRUE(HasObject(v.commit));
  EXPECT_EQ(Git(GitDir(), "show root:log.txt"), "entry 5");
}

TEST_F(GcExportTest, YoungVersionsAndSnapshotContentAreKept) {
  std::vector<std::string> blobs;
  for (int i = 1; i <= 4; ++i) blobs.push_back(Put("a.txt", std::to_string(i)).blob);
  auto snap = store_->CreateSnapshot({}, "pins v4? no: pins the tree now");
  ASSERT_TRUE(snap.ok());
  auto r = store_->Gc(GcPolicy{1, 30});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->versions_dropped, 0u) << "all younger than 30 days";

  now_ns_ += 31 * kDayNs;
  Put("a.txt", "5");
  ASSERT_TRUE(store_->Flush().ok());
  r = store_->Gc(GcPolicy{1, 30});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->versions_dropped, 4u);
  EXPECT_FALSE(HasObject(blobs[0]));
  EXPECT_TRUE(HasObject(blobs[3])) << "the snapshot shows version 4";
  ASSERT_TRUE(store_->DeleteSnapshot(*snap).ok());
  ASSERT_TRUE(store_->Gc(GcPolicy{1, 30}).ok());
  EXPECT_FALSE(HasObject(blobs[3]));
}

TEST_F(GcExportTest, ExportIsAnOrdinaryRepositoryForStockGit) {
  who_ = Provenance{"agent:alice", 1000, 321, "python3", "alice", "task-7"};
  Put("src/app.py", "print('v1')\n");
  Put("src/app.py", "print('v2')\n");
  who_ = Provenance{"user:uid-1000", 1000, 99, "vim", "", ""};
  Put("README", "hello\n");
  Put("w.txt", "workspace\n", "local");
  auto snap = store_->CreateSnapshot({}, "release");
  ASSERT_TRUE(snap.ok());

  const std::string dest = dir_.path() + "/export";
  ASSERT_TRUE(store_->Export(dest).ok());
  EXPECT_EQ(store_->Export(dest).code(), EEXIST);

  int st = -1;
  Git(dest, "fsck --strict", &st);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(Git(dest, "rev-parse --abbrev-ref HEAD"), "root\n");
  EXPECT_EQ(Git(dest, "log --format='%an|%ae|%s' root"),
            "user:uid-1000|user:uid-1000@nexus|Add README (v1)\n"
            "agent:alice|agent:alice@nexus|Update src/app.py (v2)\n"
            "agent:alice|agent:alice@nexus|Add src/app.py (v1)\n");
  EXPECT_EQ(Git(dest, "log -1 --skip=1 --format='%(trailers:only,unfold)' root"),
            "Nexus-Zone: root\nNexus-Author: agent:alice\nNexus-Uid: 1000\nNexus-Pid: 321\n"
            "Nexus-Command: python3\nNexus-Agent-Id: alice\nNexus-Task-Id: task-7\n\n");
  EXPECT_EQ(Git(dest, "show root~1:src/app.py"), "print('v2')\n");
  EXPECT_NE(Git(dest, "diff root~2 root~1").find("-print('v1')\n+print('v2')"), std::string::npos);
  EXPECT_EQ(Git(dest, "log --format=%s local"), "Add w.txt (v1)\n");
  EXPECT_EQ(Git(dest, "rev-parse snapshot/" + *snap + "^{tree}"),
            Git(GitDir(), "rev-parse refs/snapshots/" + *snap + "^{tree}"));
  EXPECT_TRUE(std::filesystem::exists(dest + "/src/app.py")) << "HEAD is checked out";
  EXPECT_EQ(Git(dest, "status --porcelain"), "");

  // git bisect walks the exported history: find the commit that added v2.
  std::string bisect = Git(dest, "bisect start root root~2 && git -C '" + dest +
                                     "' bisect run sh -c '! grep -q v2 src/app.py 2>/dev/null'");
  EXPECT_NE(bisect.find("Update src/app.py (v2)"), std::string::npos) << bisect;
}

}  // namespace
}  // namespace nexus::versions
