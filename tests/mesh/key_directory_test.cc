// KeyDirectory: node keys and passport revocations in the director's store,
// durable across a reopen, written only when they change.
#include "mesh/key_directory.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mesh/sqlite_store.h"
#include "tests/fs/test_util.h"

namespace nexus::mesh {
namespace {

class KeyDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    keys_.reset();
    store_.reset();
    store_ = SqliteStore::Open(dir_.path() + "/mesh.db", &clock_).value();
    auto k = KeyDirectory::Open(store_.get());
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    keys_ = std::move(k).value();
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<KeyDirectory> keys_;
};

TEST_F(KeyDirectoryTest, KeepsTheLatestKeyPerNodeDurably) {
  const std::string a(32, 'a'), b(32, 'b');
  ASSERT_TRUE(keys_->SetNodeKey("n-1", "edge", a).ok());
  const int64_t revision = store_->Revision();
  ASSERT_TRUE(keys_->SetNodeKey("n-1", "edge", a).ok());  // every heartbeat: no write
  EXPECT_EQ(store_->Revision(), revision);
  ASSERT_TRUE(keys_->SetNodeKey("n-2", "hq", b).ok());
  ASSERT_TRUE(keys_->SetNodeKey("n-1", "edge", b).ok());  // a new key replaces the old
  Reopen();
  auto all = keys_->Keys();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].node_id, "n-1");
  EXPECT_EQ(all[0].node, "edge");
  EXPECT_EQ(all[0].public_key, b);
  EXPECT_EQ(all[1].node, "hq");
}

TEST_F(KeyDirectoryTest, RefusesMalformedKeys) {
  EXPECT_EQ(keys_->SetNodeKey("n-1", "edge", "short").code(), EINVAL);
  EXPECT_EQ(keys_->SetNodeKey("n-1", "", std::string(32, 'a')).code(), EINVAL);
  EXPECT_TRUE(keys_->Keys().empty());
}

TEST_F(KeyDirectoryTest, KeepsTheLatestRevocationPerAgentAndNode) {
  ASSERT_TRUE(keys_->Revoke({"scout", "edge", 200}).ok());
  ASSERT_TRUE(keys_->Revoke({"scout", "edge", 100}).ok());  // an older report changes nothing
  ASSERT_TRUE(keys_->Revoke({"scout", "hq", 50}).ok());
  ASSERT_TRUE(keys_->Revoke({"runner", "edge", 300}).ok());
  EXPECT_EQ(keys_->Revoke({"", "edge", 1}).code(), EINVAL);
  Reopen();
  auto all = keys_->Revocations();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].agent_id, "runner");
  EXPECT_EQ(all[1].agent_id, "scout");
  EXPECT_EQ(all[1].node, "edge");
  EXPECT_EQ(all[1].revoked_before_ns, 200);
  EXPECT_EQ(all[2].node, "hq");
}

}  // namespace
}  // namespace nexus::mesh
