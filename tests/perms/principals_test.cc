// PrincipalTable: one principal per boundary, resolved by the same rules on
// the mount and on the socket, interned, and fresh after a binding changes.
#include "perms/principals.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/fs/test_util.h"

namespace nexus {
namespace {

constexpr uid_t kOperator = 1000;

class PrincipalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IdentityOptions io;
    io.operator_uid = kOperator;
    io.admin_subject = "user:admin";
    ids_ = IdentityMap::Open(dir_.path() + "/rebac.db", io).value();
    table_ = std::make_unique<PrincipalTable>(PrincipalTable::Options{kOperator, "user:admin"}, ids_.get());
  }
  testing::TempDir dir_;
  std::unique_ptr<IdentityMap> ids_;
  std::unique_ptr<PrincipalTable> table_;
};

TEST(UidSubject, IsTheOneSpellingOfAnUnboundUid) {
  EXPECT_EQ(UidSubject(1001), "user:uid-1001");
  EXPECT_EQ(UidSubject(0), "user:uid-0");
}

TEST(AdminRule, RootAndTheOperator) {
  EXPECT_TRUE(IsAdminUid(0, std::nullopt));
  EXPECT_TRUE(IsAdminUid(0, 1000));
  EXPECT_TRUE(IsAdminUid(1000, 1000));
  EXPECT_FALSE(IsAdminUid(1001, 1000));
  EXPECT_FALSE(IsAdminUid(1000, std::nullopt));
}

TEST_F(PrincipalsTest, RootAndTheOperatorAreTheAdminOnTheMount) {
  for (uid_t uid : {uid_t{0}, kOperator}) {
    const Principal* p = table_->ForUid(uid, uid);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->subject, "user:admin") << uid;
    EXPECT_TRUE(p->admin);
    EXPECT_EQ(p->name, "admin");
    EXPECT_EQ(p->how, AuthMethod::kUid);
    EXPECT_EQ(p->uid, uid);
  }
}

TEST_F(PrincipalsTest, AnUnboundUidIsItsUidSubject) {
  const Principal* p = table_->ForUid(1002, 1002);
  EXPECT_EQ(p->subject, "user:uid-1002");
  EXPECT_EQ(p->account, "user:uid-1002");
  EXPECT_EQ(p->name, "uid-1002");
  EXPECT_FALSE(p->admin);
}

TEST_F(PrincipalsTest, ABoundUidIsItsSubjectAndABindIsSeenOnTheNextRequest) {
  ASSERT_TRUE(ids_->Bind(1001, "agent:alice").ok());
  const Principal* alice = table_->ForUid(1001, 1001);
  EXPECT_EQ(alice->subject, "agent:alice");
  EXPECT_FALSE(alice->admin);
  // The same request again: the same interned principal, not a new one.
  EXPECT_EQ(table_->ForUid(1001, 1001), alice);

  ASSERT_TRUE(ids_->Unbind(1001).ok());
  const Principal* unbound = table_->ForUid(1001, 1001);
  EXPECT_EQ(unbound->subject, "user:uid-1001");
  // A principal handed out before stays valid and unchanged.
  EXPECT_EQ(alice->subject, "agent:alice");

  ASSERT_TRUE(ids_->Bind(1001, "user:bob").ok());
  EXPECT_EQ(table_->ForUid(1001, 1001)->subject, "user:bob");
}

TEST_F(PrincipalsTest, ThePeerOfTheSocketFollowsTheSameRules) {
  ASSERT_TRUE(ids_->Bind(1001, "agent:alice").ok());
  const Principal* alice = table_->ForPeer(1001, 1001, {7, 50});
  EXPECT_EQ(alice->subject, table_->ForUid(1001, 1001)->subject);
  EXPECT_EQ(alice->how, AuthMethod::kPeerCredentials);
  EXPECT_TRUE(alice->InGroup(50));
  EXPECT_TRUE(alice->InGroup(1001));
  EXPECT_FALSE(alice->InGroup(8));
  const Principal* root = table_->ForPeer(0, 0, {});
  EXPECT_EQ(root->subject, "user:admin");
  EXPECT_TRUE(root->admin);
  EXPECT_EQ(table_->ForPeer(kOperator, kOperator, {})->subject, "user:admin");
  EXPECT_EQ(table_->ForPeer(1002, 1002, {})->subject, "user:uid-1002");
}

TEST_F(PrincipalsTest, AnAdminKeyActsAsTheAdminSubjectButKeepsItsAccount) {
  UserRecord bob{"bob", "user", /*is_admin=*/true, 2000, 2000};
  KeyRecord key;
  key.id = "k1";
  const Principal* p = table_->ForKey(bob, key);
  EXPECT_EQ(p->subject, "user:admin");
  EXPECT_EQ(p->account, "user:bob");
  EXPECT_EQ(p->name, "bob");
  EXPECT_TRUE(p->admin);
  EXPECT_EQ(p->key_id, "k1");
  EXPECT_EQ(p->how, AuthMethod::kApiKey);
  EXPECT_EQ(p->uid, 2000u);

  UserRecord alice{"alice", "agent", false, 3000, 3000};
  key.id = "k2";
  const Principal* a = table_->ForKey(alice, key);
  EXPECT_EQ(a->subject, "agent:alice");
  EXPECT_EQ(a->account, "agent:alice");
  EXPECT_FALSE(a->admin);
  EXPECT_EQ(table_->ForKey(alice, key), a);  // interned
}

TEST_F(PrincipalsTest, APerSubjectMountActsAsItsSubject) {
  auto p = table_->ForSubjectMount("agent:alice");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->subject, "agent:alice");
  EXPECT_EQ((*p)->name, "alice");
  EXPECT_EQ((*p)->how, AuthMethod::kSubjectMount);
  EXPECT_FALSE((*p)->admin);
  EXPECT_TRUE(table_->ForSubjectMount("user:admin").value()->admin);
  for (const char* bad : {"folder:/x", "user:*", "group:eng#member", "alice", ""})
    EXPECT_EQ(table_->ForSubjectMount(bad).code(), EINVAL) << bad;
}

TEST_F(PrincipalsTest, WithoutBindingsOnlyTheAdminRuleApplies) {
  PrincipalTable bare(PrincipalTable::Options{kOperator, "user:admin"}, nullptr);
  EXPECT_EQ(bare.ForUid(0, 0)->subject, "user:admin");
  EXPECT_EQ(bare.ForUid(kOperator, 5)->subject, "user:admin");
  EXPECT_EQ(bare.ForUid(1001, 1001)->subject, "user:uid-1001");
}

TEST_F(PrincipalsTest, ConcurrentResolutionAndBinding) {
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const std::string& s = table_->ForUid(1001 + i % 3, 1001)->subject;
        EXPECT_TRUE(s.rfind("user:", 0) == 0 || s.rfind("agent:", 0) == 0) << s;
      }
    });
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ids_->Bind(1001, "agent:alice").ok());
    ASSERT_TRUE(ids_->Unbind(1001).ok());
  }
  for (auto& r : readers) r.join();
  ASSERT_TRUE(ids_->Bind(1001, "agent:alice").ok());
  EXPECT_EQ(table_->ForUid(1001, 1001)->subject, "agent:alice");
}

TEST_F(PrincipalsTest, ActingAsAnAgentIsItsSubjectOnlyAndKeepsWhoAuthenticated) {
  const Principal* root = table_->ForPeer(0, 0, {});
  ASSERT_TRUE(root->admin);
  const Principal* as = table_->ForActingAs(*root, "agent:scout");
  EXPECT_EQ(as->subject, "agent:scout");
  EXPECT_FALSE(as->admin);  // the agent's grants only, never the admin's
  EXPECT_EQ(as->account, root->account);
  EXPECT_EQ(as->how, AuthMethod::kPeerCredentials);
  EXPECT_EQ(as->uid, 0u);
  EXPECT_EQ(table_->ForActingAs(*root, "agent:scout"), as);  // interned
  EXPECT_NE(table_->ForActingAs(*root, "agent:other"), as);
}

}  // namespace
}  // namespace nexus
