#include "perms/identity.h"

#include <gtest/gtest.h>

#include "tests/fs/test_util.h"

namespace nexus {
namespace {

class IdentityTest : public ::testing::Test {
 protected:
  std::unique_ptr<IdentityMap> Open(IdentityOptions o = {}) {
    auto m = IdentityMap::Open(dir_.path() + "/rebac.db", std::move(o));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(IdentityTest, UnboundAndAdminUids) {
  IdentityOptions o;
  o.operator_uid = 1000;
  auto m = Open(o);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->SubjectFor(0), "user:root");
  EXPECT_EQ(m->SubjectFor(1000), "user:root");
  EXPECT_EQ(m->SubjectFor(1001), "user:uid-1001");
  EXPECT_EQ(m->Bind(0, "agent:x").code(), EINVAL);
  EXPECT_EQ(m->Bind(1000, "agent:x").code(), EINVAL);
}

TEST_F(IdentityTest, BindListUnbindPersist) {
  {
    auto m = Open();
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->Bind(1001, "agent:alice").ok());
    ASSERT_TRUE(m->Bind(1002, "user:bob").ok());
    EXPECT_TRUE(m->Bind(1001, "agent:alice").ok());  // same binding: no-op
    EXPECT_EQ(m->Bind(1001, "agent:eve").code(), EEXIST);
    EXPECT_EQ(m->SubjectFor(1001), "agent:alice");
    ASSERT_TRUE(m->Bind(1003, "agent:tmp").ok());
    ASSERT_TRUE(m->Unbind(1003).ok());
    EXPECT_EQ(m->Unbind(1003).code(), ENOENT);
    EXPECT_EQ(m->SubjectFor(1003), "user:uid-1003");
  }
  auto m = Open();
  ASSERT_TRUE(m);
  using Binding = std::pair<uid_t, std::string>;
  EXPECT_EQ(m->List(), (std::vector<Binding>{{1001, "agent:alice"}, {1002, "user:bob"}}));
}

TEST_F(IdentityTest, OnlyUsersAndAgentsBind) {
  auto m = Open();
  ASSERT_TRUE(m);
  for (const char* bad : {"group:eng#member", "user:*", "zone:z#member", "alice", "agent:"}) {
    EXPECT_EQ(m->Bind(1001, bad).code(), EINVAL) << bad;
  }
  IdentityOptions o;
  o.admin_subject = "nonsense";
  EXPECT_EQ(IdentityMap::Open(dir_.path() + "/other.db", o).code(), EINVAL);
}

}  // namespace
}  // namespace nexus
