#include "perms/key_store.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tests/fs/test_util.h"

namespace nexus {
namespace {

constexpr int64_t kDay = 86'400LL * 1'000'000'000LL;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = KeyStore::Open(dir_.path() + "/auth.db", &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  UserRecord User(const std::string& name, const std::string& type = "user") {
    UserRecord u;
    u.name = name;
    u.subject_type = type;
    return u;
  }
  testing::TempDir dir_;
  ManualClock clock_{1'000 * kDay};
  std::unique_ptr<KeyStore> store_;
};

TEST_F(KeyStoreTest, CreatedKeyAuthenticatesAsItsUser) {
  auto r = store_->CreateUser(User("alice", "agent"), 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first.Subject(), "agent:alice");
  EXPECT_EQ(r->second.scope, KeyScope::kAgent);
  auto auth = store_->Authenticate(r->second.secret);
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(auth->first.name, "alice");
  EXPECT_EQ(auth->second.id, r->second.id);
  EXPECT_TRUE(auth->second.secret.empty());
}

TEST_F(KeyStoreTest, DisplayNamesAreKeptAndChecked) {
  UserRecord u = User("alice");
  u.display_name = "Alice Laptop";
  ASSERT_TRUE(store_->CreateUser(u, 90).ok());
  ASSERT_TRUE(store_->CreateUser(User("bob"), 0).ok());
  auto got = store_->GetUser("alice");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->display_name, "Alice Laptop");
  auto all = store_->ListUsers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].display_name, "Alice Laptop");
  EXPECT_EQ((*all)[1].display_name, "");
  UserRecord bad = User("carol");
  bad.display_name = "two\nlines";
  EXPECT_EQ(store_->CreateUser(bad, 0).code(), EINVAL);
  bad.display_name = std::string(257, 'x');
  EXPECT_EQ(store_->CreateUser(bad, 0).code(), EINVAL);
  EXPECT_EQ(store_->GetUser("carol").code(), ENOENT);
}

TEST_F(KeyStoreTest, OnlyAHashOfTheSecretIsStored) {
  auto r = store_->CreateUser(User("bob"), 0);
  ASSERT_TRUE(r.ok());
  struct stat st;
  ASSERT_EQ(::stat((dir_.path() + "/auth.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  store_.reset();  // flush
  std::string secret = r->second.secret.substr(r->second.secret.rfind('_') + 1);
  for (const char* f : {"/auth.db", "/auth.db-wal"}) {
    std::ifstream in(dir_.path() + f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(secret), std::string::npos) << f;
  }
}

TEST_F(KeyStoreTest, BadKeysAreUnauthenticated) {
  auto r = store_->CreateUser(User("carol"), 0);
  ASSERT_TRUE(r.ok());
  std::string key = r->second.secret;
  std::string wrong = key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  for (const std::string& k : {std::string(""), std::string("garbage"), wrong,
                               std::string("nxk_0123456789abcdef_") + std::string(64, 'a')}) {
    auto a = store_->Authenticate(k);
    EXPECT_EQ(a.code(), ENOKEY) << k;
  }
}

TEST_F(KeyStoreTest, RevokedKeyIsRefusedOthersStillWork) {
  auto r = store_->CreateUser(User("dave"), 0);
  ASSERT_TRUE(r.ok());
  auto second = store_->CreateKey("dave", "ci", 0);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(store_->RevokeKey(r->second.id).ok());
  EXPECT_EQ(store_->Authenticate(r->second.secret).code(), ENOKEY);
  EXPECT_TRUE(store_->Authenticate(second->secret).ok());
  auto keys = store_->ListKeys("dave");
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  for (const auto& k : *keys) EXPECT_EQ(k.revoked, k.id == r->second.id) << k.id;
  EXPECT_EQ(store_->RevokeKey("0000000000000000").code(), ENOENT);
}

TEST_F(KeyStoreTest, KeysExpireAndUserExpiryBoundsKeys) {
  auto r = store_->CreateUser(User("erin"), 2);  // user expires in 2 days
  ASSERT_TRUE(r.ok());
  auto k = store_->CreateKey("erin", "long", 30);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->expires_ns, r->first.expires_ns);  // capped by the user
  clock_.Advance(std::chrono::hours(24));
  EXPECT_TRUE(store_->Authenticate(k->secret).ok());
  clock_.Advance(std::chrono::hours(24));
  EXPECT_EQ(store_->Authenticate(k->secret).code(), ENOKEY);
  EXPECT_EQ(store_->Authenticate(r->second.secret).code(), ENOKEY);
}

TEST_F(KeyStoreTest, UpdateKeyChangesNameAndExpiry) {
  auto r = store_->CreateUser(User("fay"), 0);
  ASSERT_TRUE(r.ok());
  auto u = store_->UpdateKey(r->second.id, std::string("renamed"), 1, false);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "renamed");
  EXPECT_EQ(u->expires_ns, clock_.Now() + kDay);
  clock_.Advance(std::chrono::hours(48));
  EXPECT_EQ(store_->Authenticate(r->second.secret).code(), ENOKEY);
  ASSERT_TRUE(store_->UpdateKey(r->second.id, std::nullopt, 0, true).ok());
  EXPECT_TRUE(store_->Authenticate(r->second.secret).ok());
  EXPECT_EQ(store_->UpdateKey(r->second.id, std::nullopt, 1, true).code(), EINVAL);
}

TEST_F(KeyStoreTest, RejectsDuplicateAndBadUsers) {
  ASSERT_TRUE(store_->CreateUser(User("gil"), 0).ok());
  EXPECT_EQ(store_->CreateUser(User("gil"), 0).code(), EEXIST);
  EXPECT_EQ(store_->CreateUser(User(""), 0).code(), EINVAL);
  EXPECT_EQ(store_->CreateUser(User("a b"), 0).code(), EINVAL);
  EXPECT_EQ(store_->CreateUser(User("uid-5"), 0).code(), EINVAL);
  EXPECT_EQ(store_->CreateUser(User("hal", "robot"), 0).code(), EINVAL);
  EXPECT_EQ(store_->CreateKey("nobody-here", "", 0).code(), ENOENT);
  EXPECT_EQ(store_->GetUser("nobody-here").code(), ENOENT);
}

TEST_F(KeyStoreTest, SurvivesReopen) {
  auto r = store_->CreateUser(User("ivy"), 0);
  ASSERT_TRUE(r.ok());
  store_.reset();
  auto s = KeyStore::Open(dir_.path() + "/auth.db", &clock_);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->Authenticate(r->second.secret).ok());
  auto users = (*s)->ListUsers();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].name, "ivy");
}

TEST_F(KeyStoreTest, EntitlementsDefaultOpenAndPersist) {
  auto r = store_->CreateUser(User("jo"), 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->second.can_submit_tasks);
  EXPECT_EQ(r->second.hourly_task_quota, 0);
  EXPECT_EQ(store_->SetEntitlements("nope", true, 1).code(), ENOENT);
  EXPECT_EQ(store_->SetEntitlements(r->second.id, true, -1).code(), EINVAL);
  ASSERT_TRUE(store_->SetEntitlements(r->second.id, false, 5).ok());
  store_.reset();
  auto s = KeyStore::Open(dir_.path() + "/auth.db", &clock_).value();
  auto auth = s->Authenticate(r->second.secret);
  ASSERT_TRUE(auth.ok());
  EXPECT_FALSE(auth->second.can_submit_tasks);
  EXPECT_EQ(auth->second.hourly_task_quota, 5);
  auto keys = s->ListKeys("jo").value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_FALSE(keys[0].can_submit_tasks);
}

}  // namespace
}  // namespace nexus
