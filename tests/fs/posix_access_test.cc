#include "fs/posix_access.h"

#include <gtest/gtest.h>

#include <vector>

namespace nexus {
namespace {

Attr File(mode_t mode, uid_t uid, gid_t gid) {
  Attr a;
  a.mode = S_IFREG | mode;
  a.uid = uid;
  a.gid = gid;
  return a;
}

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;  // supplementary
};

// A caller as the socket builds one: uid and gid on the call, the
// supplementary groups on its principal. `who` must outlive the caller.
Caller CallerOf(const Credentials& cred, Principal& who) {
  who.uid = cred.uid;
  who.gid = cred.gid;
  who.groups = cred.groups;
  Caller c;
  c.uid = cred.uid;
  c.gid = cred.gid;
  c.principal = &who;
  return c;
}

struct AccessCase {
  const char* name;
  mode_t mode;
  uid_t owner;
  gid_t group;
  Credentials cred;
  int mask;
  int want;
};

class CheckAccessTest : public ::testing::TestWithParam<AccessCase> {};

TEST_P(CheckAccessTest, FollowsPosix) {
  const auto& c = GetParam();
  Principal who;
  EXPECT_EQ(CheckAccess(CallerOf(c.cred, who), File(c.mode, c.owner, c.group), c.mask).code(), c.want);
}

TEST(CheckAccess, WithoutPrincipalOnlyThePrimaryGroupCounts) {
  Caller c;
  c.uid = 2000;
  c.gid = 50;
  EXPECT_TRUE(CheckAccess(c, File(0640, 1000, 50), kMayRead).ok());
  EXPECT_EQ(CheckAccess(c, File(0640, 1000, 7), kMayRead).code(), EACCES);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CheckAccessTest,
    ::testing::Values(AccessCase{"OwnerRead", 0600, 1000, 1000, {1000, 1000, {}}, kMayRead, 0},
                      AccessCase{"OtherDenied", 0600, 1000, 1000, {2000, 2000, {}}, kMayRead, EACCES},
                      AccessCase{"GroupRead", 0640, 1000, 50, {2000, 50, {}}, kMayRead, 0},
                      AccessCase{"SupplementaryGroup", 0640, 1000, 50, {2000, 2000, {7, 50}}, kMayRead, 0},
                      AccessCase{"GroupNoWrite", 0640, 1000, 50, {2000, 50, {}}, kMayWrite, EACCES},
                      // The owner class decides even when group or other would allow it.
                      AccessCase{"OwnerClassWins", 0077, 1000, 1000, {1000, 1000, {}}, kMayRead, EACCES},
                      AccessCase{"RootReadsAnything", 0000, 1000, 1000, {0, 0, {}}, kMayRead | kMayWrite, 0},
                      AccessCase{"RootNeedsSomeExec", 0644, 1000, 1000, {0, 0, {}}, kMayExec, EACCES},
                      AccessCase{"RootExecWithOtherX", 0601, 1000, 1000, {0, 0, {}}, kMayExec, 0},
                      AccessCase{
                          "OtherReadWrite", 0666, 1000, 1000, {3000, 3000, {}}, kMayRead | kMayWrite, 0}),
    [](const auto& info) { return info.param.name; });

TEST(CheckDeleteFromDir, StickyDirectory) {
  Attr dir = File(01777, 0, 0);
  dir.mode = S_IFDIR | 01777;
  Attr mine = File(0644, 1000, 1000), theirs = File(0644, 2000, 2000);
  Principal p, root_p;
  Caller me = CallerOf({1000, 1000, {}}, p), root = CallerOf({0, 0, {}}, root_p);
  EXPECT_TRUE(CheckDeleteFromDir(me, dir, mine).ok());
  EXPECT_EQ(CheckDeleteFromDir(me, dir, theirs).code(), EPERM);
  EXPECT_TRUE(CheckDeleteFromDir(root, dir, theirs).ok());
  dir.mode = S_IFDIR | 0755;
  EXPECT_EQ(CheckDeleteFromDir(me, dir, mine).code(), EACCES);
}

TEST(CheckOwner, OnlyOwnerOrRoot) {
  Attr f = File(0644, 1000, 1000);
  EXPECT_TRUE(CheckOwner({1000, 1, {}}, f).ok());
  EXPECT_TRUE(CheckOwner({0, 0, {}}, f).ok());
  EXPECT_EQ(CheckOwner({1001, 1000, {}}, f).code(), EPERM);
}

}  // namespace
}  // namespace nexus
