#include "fs/versions/pack_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions {
namespace {

namespace fs = std::filesystem;
using testing::Shell;

class PackStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_dir_ = dir_.path() + "/versions.git";
    auto repo = OpenOrInitBare(git_dir_);
    ASSERT_TRUE(repo.ok());
    Open();
  }
  void Open() {
    odb_.reset();
    store_.reset();
    auto s = PackStore::Open(git_dir_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto odb = store_->NewOdb();
    ASSERT_TRUE(odb.ok()) << odb.status().ToString();
    odb_ = std::move(odb).value();
  }
  git_oid Add(const std::string& content, git_object_t type = GIT_OBJECT_BLOB) {
    git_oid oid;
    EXPECT_EQ(git_odb_hash(&oid, content.data(), content.size(), type), 0);
    Status st = store_->Append(oid, type, content);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return oid;
  }
  // The content of `oid` read through a fresh odb (what a new reader sees).
  std::string Read(const git_oid& oid) {
    git_odb_object* obj = nullptr;
    if (git_odb_read(&obj, odb_.get(), &oid) != 0) return "<missing>";
    std::string out(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
    git_odb_object_free(obj);
    return out;
  }
  std::string Git(const std::string& args, int* status = nullptr) {
    return Shell("git -C '" + git_dir_ + "' " + args + " 2>&1", status);
  }
  void ExpectFsckClean() {
    int st = -1;
    std::string out = Git("fsck --strict --no-dangling", &st);
    EXPECT_EQ(st, 0) << out;
    for (const auto& e : fs::directory_iterator(git_dir_ + "/objects/pack")) {
      if (e.path().extension() != ".idx") continue;
      int vst = -1;
      std::string v = Shell("git verify-pack '" + e.path().string() + "' 2>&1", &vst);
      EXPECT_EQ(vst, 0) << v;
    }
  }
  std::vector<std::string> Pending() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(git_dir_ + "/nexus-pending"))
      out.push_back(e.path().string());
    return out;
  }

  GitLibrary git_library_;
  nexus::testing::TempDir dir_;
  std::string git_dir_;
  std::shared_ptr<PackStore> store_;
  OdbPtr odb_;
};

TEST_F(PackStoreTest, PendingObjectsReadAtOnceAndAsAPackAfterFinish) {
  const git_oid a = Add("alpha\n");
  const git_oid empty = Add("");
  const git_oid big = Add(std::string(300000, 'x') + "end");
  EXPECT_EQ(store_->PendingObjects(), 3u);
  EXPECT_EQ(Read(a), "alpha\n");
  EXPECT_EQ(Read(empty), "");
  EXPECT_EQ(Read(big).size(), 300003u);
  EXPECT_EQ(store_->PackCount(), 0u);
  // Appending the same id again is a no-op.
  ASSERT_TRUE(store_->Append(a, GIT_OBJECT_BLOB, "alpha\n").ok());
  EXPECT_EQ(store_->PendingObjects(), 3u);

  ASSERT_TRUE(store_->Finish().ok());
  EXPECT_EQ(store_->PendingObjects(), 0u);
  EXPECT_EQ(store_->PackCount(), 1u);
  EXPECT_EQ(Read(a), "alpha\n");  // now from the pack (the odb refreshes on a miss)
  EXPECT_EQ(Git("cat-file -p " + OidHex(a)), "alpha\n");
  EXPECT_EQ(Git("cat-file -s " + OidHex(big)), "300003\n");
  EXPECT_TRUE(Pending().empty());
  ExpectFsckClean();
  ASSERT_TRUE(store_->Finish().ok());  // nothing pending: no new pack
  EXPECT_EQ(store_->PackCount(), 1u);
}

TEST_F(PackStoreTest, LibgitWritesThroughARepositoryGoToThePendingPack) {
  auto repo = OpenRepo(git_dir_);
  ASSERT_TRUE(repo.ok());
  ASSERT_TRUE(store_->AttachTo(repo->get()).ok());
  git_oid blob;
  ASSERT_EQ(git_blob_create_from_buffer(&blob, repo->get(), "data", 4), 0);
  git_treebuilder* tb = nullptr;
  ASSERT_EQ(git_treebuilder_new(&tb, repo->get(), nullptr), 0);
  ASSERT_EQ(git_treebuilder_insert(nullptr, tb, "f", &blob, GIT_FILEMODE_BLOB), 0);
  git_oid tree;
  ASSERT_EQ(git_treebuilder_write(&tree, tb), 0);
  git_treebuilder_free(tb);
  EXPECT_TRUE(store_->IsPending(blob));
  EXPECT_TRUE(store_->IsPending(tree));
  EXPECT_FALSE(fs::exists(git_dir_ + "/objects/" + OidHex(blob).substr(0, 2))) << "no loose object";
  ASSERT_TRUE(store_->Finish().ok());
  EXPECT_EQ(Git("ls-tree " + OidHex(tree)), "100644 blob " + OidHex(blob) + "\tf\n");
}

TEST_F(PackStoreTest, CrashLeavesAPendingPackThatOpenFinishesDroppingATornTail) {
  const git_oid a = Add("first");
  const git_oid b = Add(std::string(5000, 'b'));
  // The process dies: no Finish. A torn entry follows the complete ones.
  const auto pending = Pending();
  ASSERT_EQ(pending.size(), 1u);
  { std::ofstream(pending[0], std::ios::app | std::ios::binary) << std::string("\x35\x78\x9c\x01", 4); }
  Open();
  EXPECT_TRUE(Pending().empty());
  EXPECT_EQ(store_->PackCount(), 1u);
  EXPECT_EQ(Read(a), "first");
  EXPECT_EQ(Read(b), std::string(5000, 'b'));
  ExpectFsckClean();
}

TEST_F(PackStoreTest, GarbagePendingFileIsDropped) {
  std::ofstream(git_dir_ + "/nexus-pending/pending-1.pack") << "not a pack";
  Open();
  EXPECT_TRUE(Pending().empty());
  EXPECT_EQ(store_->PackCount(), 0u);
}

TEST_F(PackStoreTest, PackRenamedWithoutItsIndexIsCompletedAtOpen) {
  const git_oid a = Add("one");
  ASSERT_TRUE(store_->Finish().ok());
  std::string idx;
  for (const auto& e : fs::directory_iterator(git_dir_ + "/objects/pack"))
    if (e.path().extension() == ".idx") idx = e.path().string();
  ASSERT_FALSE(idx.empty());
  // Crash between the two renames: the index still waits in the pending dir.
  fs::rename(idx, git_dir_ + "/nexus-pending/" + fs::path(idx).filename().string());
  Open();
  EXPECT_TRUE(fs::exists(idx));
  EXPECT_EQ(Read(a), "one");
  // And with the index lost altogether, the pack is parsed again.
  fs::remove(idx);
  Open();
  EXPECT_EQ(store_->PackCount(), 1u);
  EXPECT_EQ(Read(a), "one");
  ExpectFsckClean();
}

TEST_F(PackStoreTest, ManyGroupsAreMergedIntoFewPacks) {
  std::vector<git_oid> ids;
  for (size_t g = 0; g < PackStore::kMaxPacks * 3; ++g) {
    ids.push_back(Add("group " + std::to_string(g)));
    ASSERT_TRUE(store_->Finish().ok());
    EXPECT_LE(store_->PackCount(), PackStore::kMaxPacks);
  }
  Open();
  for (size_t g = 0; g < ids.size(); ++g) EXPECT_EQ(Read(ids[g]), "group " + std::to_string(g));
  ExpectFsckClean();
}

TEST_F(PackStoreTest, SweepRewritesPacksWithoutTheDroppedObjects) {
  const git_oid keep = Add("keep me");
  const git_oid drop = Add("drop me");
  ASSERT_TRUE(store_->Finish().ok());
  const git_oid alone = Add("alone");
  ASSERT_TRUE(store_->Finish().ok());
  ASSERT_EQ(store_->PackCount(), 2u);
  auto r = store_->Sweep(
      [&](const git_oid& id) { return !git_oid_equal(&id, &drop) && !git_oid_equal(&id, &alone); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->objects_removed, 2u);
  EXPECT_GT(r->bytes_removed, 0u);
  EXPECT_EQ(store_->PackCount(), 1u);  // the pack left empty is gone
  Open();
  EXPECT_EQ(Read(keep), "keep me");
  EXPECT_EQ(Read(drop), "<missing>");
  EXPECT_EQ(Read(alone), "<missing>");
  ExpectFsckClean();
}

TEST_F(PackStoreTest, CorruptPendingDataIsAReadErrorNotACrash) {
  const git_oid a = Add(std::string(4096, 'q'));
  const auto pending = Pending();
  ASSERT_EQ(pending.size(), 1u);
  {
    int fd = ::open(pending[0].c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "\xff\xff\xff\xff", 4, 20), 4);
    ::close(fd);
  }
  git_odb_object* obj = nullptr;
  EXPECT_NE(git_odb_read(&obj, odb_.get(), &a), 0);
  EXPECT_EQ(store_->Append(a, static_cast<git_object_t>(6), "x").code(), EINVAL) << "no deltas";
}

}  // namespace
}  // namespace nexus::versions
