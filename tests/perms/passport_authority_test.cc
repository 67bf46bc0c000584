// PassportAuthority: issuing for registry agents, verifying with the node's
// own key and a remote (mesh) trust source, revocation by revoke-passports,
// suspension and deletion, durability, and reporting revocations.
#include "perms/passport_authority.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using Json = nlohmann::json;
constexpr UnixNanos kSecond = kNanosPerSecond;
const RegistryCaller kAlice{"user:alice", false};
const RegistryCaller kAdmin{"user:root", true};

class PassportAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(1'796'550'300LL * kSecond);
    AgentRegistry::Options o;
    o.clock = &clock_;
    registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", o).value();
    Reopen();
    ASSERT_TRUE(registry_->Register(kAlice, {.id = "scout", .name = "Scout"}).ok());
  }
  void Reopen() {
    authority_.reset();
    auto a = PassportAuthority::Open(dir_.path() + "/node.key", dir_.path() + "/passports.db",
                                     registry_.get(), &clock_);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    authority_ = std::move(a).value();
    authority_->SetNodeName([] { return "node-a"; });
    if (!hooked_) {
      registry_->AddOnChange(
          [this](const AgentRecord& r, AgentRegistry::ChangeKind k) { authority_->OnAgentChange(r, k); });
      hooked_ = true;
    }
  }
  std::string Issue(const std::string& id = "scout", UnixNanos ttl = 60 * kSecond,
                    std::vector<std::string> scopes = {"/proj"}) {
    auto agent = registry_->Get(id);
    EXPECT_TRUE(agent.ok());
    auto issued = authority_->Issue(*agent, std::move(scopes), ttl);
    EXPECT_TRUE(issued.ok()) << issued.status().ToString();
    return issued.ok() ? issued->first : "";
  }
  int VerifyCode(const std::string& text, const std::optional<std::string>& trust = std::nullopt) {
    return authority_->Verify(text, trust).code();
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<PassportAuthority> authority_;
  bool hooked_ = false;
};

TEST_F(PassportAuthorityTest, IssuesSignedClaimsOfTheAgent) {
  auto agent = registry_->Get("scout").value();
  auto issued = authority_->Issue(agent, {"/proj", "ipc"}, 3600 * kSecond);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  const PassportClaims& c = issued->second;
  EXPECT_EQ(c.agent_id, "scout");
  EXPECT_EQ(c.owner, "user:alice");
  EXPECT_EQ(c.node, "node-a");
  EXPECT_EQ(c.scopes, (std::vector<std::string>{"/proj", "ipc"}));
  EXPECT_EQ(c.issued_at, clock_.Now());
  EXPECT_EQ(c.expires_at, clock_.Now() + 3600 * kSecond);
  auto v = authority_->Verify(issued->first, std::nullopt);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->claims, c);
  EXPECT_EQ(v->key_id, authority_->key().key_id());
  EXPECT_EQ(v->revocation, "checked on this node (the issuer)");
  struct stat st;
  ASSERT_EQ(::stat((dir_.path() + "/node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_.path() + "/passports.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PassportAuthorityTest, RefusesBadTtlsAndSuspendedAgents) {
  auto agent = registry_->Get("scout").value();
  EXPECT_EQ(authority_->Issue(agent, {}, 0).code(), EINVAL);
  EXPECT_EQ(authority_->Issue(agent, {}, kMaxPassportTtl + kSecond).code(), EINVAL);
  EXPECT_TRUE(authority_->Issue(agent, {}, kMaxPassportTtl).ok());
  EXPECT_EQ(authority_->Issue(agent, {""}, kSecond).code(), EINVAL);
  ASSERT_TRUE(registry_->Transition(kAdmin, "scout", AgentPhase::kSuspended).ok());
  agent = registry_->Get("scout").value();
  EXPECT_EQ(authority_->Issue(agent, {}, kSecond).code(), EACCES);
}

TEST_F(PassportAuthorityTest, ExpiresAtItsInstant) {
  const std::string text = Issue("scout", 2 * kSecond);
  clock_.Advance(std::chrono::milliseconds(1999));
  EXPECT_EQ(VerifyCode(text), 0);
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(VerifyCode(text), EKEYEXPIRED);
}

TEST_F(PassportAuthorityTest, TrustsOnlyTheGivenKeyWhenOneIsGiven) {
  const std::string text = Issue();
  EXPECT_EQ(VerifyCode(text, authority_->key().PublicKeyBase64()), 0);
  EXPECT_EQ(VerifyCode(text, authority_->key().PublicKeyPem().value()), 0);
  auto other = NodeKey::Generate().value();
  EXPECT_EQ(VerifyCode(text, other.PublicKeyBase64()), EKEYREJECTED);
  EXPECT_EQ(VerifyCode(text, std::string("not a key")), EINVAL);
  EXPECT_EQ(VerifyCode("{"), EBADMSG);
}

TEST_F(PassportAuthorityTest, RevokePassportsRefusesEarlierOnesOnlyAndLasts) {
  const std::string before = Issue();
  clock_.Advance(std::chrono::microseconds(300));  // same millisecond as the revocation
  auto at = authority_->RevokePassports("scout");
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, clock_.Now());
  auto v = authority_->Verify(before, std::nullopt);
  EXPECT_EQ(v.code(), EKEYREVOKED);
  EXPECT_NE(v.status().message().find("were revoked"), std::string::npos) << v.status().message();
  // Issued in the millisecond of the revocation: still after it.
  const std::string after = Issue();
  EXPECT_EQ(VerifyCode(after), 0);
  Reopen();
  EXPECT_EQ(VerifyCode(before), EKEYREVOKED);
  EXPECT_EQ(VerifyCode(after), 0);
  EXPECT_EQ(authority_->RevokedBefore("scout"), *at);
}

TEST_F(PassportAuthorityTest, SuspensionAndDeletionRevoke) {
  const std::string first = Issue();
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Transition(kAdmin, "scout", AgentPhase::kSuspended).ok());
  auto v = authority_->Verify(first, std::nullopt);
  EXPECT_EQ(v.code(), EKEYREVOKED);
  EXPECT_NE(v.status().message().find("SUSPENDED"), std::string::npos);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Transition(kAdmin, "scout", AgentPhase::kDisconnected).ok());
  EXPECT_EQ(VerifyCode(first), EKEYREVOKED);  // the suspension revoked it for good
  const std::string second = Issue();
  EXPECT_EQ(VerifyCode(second), 0);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Delete(kAlice, "scout").ok());
  EXPECT_EQ(VerifyCode(second), EKEYREVOKED);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Register(kAlice, {.id = "scout", .name = "Scout again"}).ok());
  EXPECT_EQ(VerifyCode(second), EKEYREVOKED);  // another agent now holds the id
  EXPECT_EQ(VerifyCode(Issue()), 0);
}

// Another node's authority, and a remote source standing for the director.
class RemotePassportTest : public PassportAuthorityTest {
 protected:
  void SetUp() override {
    PassportAuthorityTest::SetUp();
    AgentRegistry::Options o;
    o.clock = &clock_;
    other_registry_ = AgentRegistry::Open(dir_.path() + "/agents-b.db", o).value();
    other_ = PassportAuthority::Open(dir_.path() + "/node-b.key", dir_.path() + "/passports-b.db",
                                     other_registry_.get(), &clock_)
                 .value();
    other_->SetNodeName([] { return "node-b"; });
    other_registry_->AddOnChange(
        [this](const AgentRecord& r, AgentRegistry::ChangeKind k) { other_->OnAgentChange(r, k); });
    ASSERT_TRUE(other_registry_->Register(kAlice, {.id = "runner", .name = "Runner"}).ok());
    // Both nodes publish their keys; revocations go to the directory.
    directory_.keys = {{"node-a", authority_->key().public_key()}, {"node-b", other_->key().public_key()}};
    auto fetch = [this]() -> Result<RemoteTrust> {
      ++fetches_;
      if (!reachable_) return Status::Error(ECONNREFUSED, "director unreachable");
      return directory_;
    };
    auto report = [this](const std::vector<PassportRevocation>& rs) -> Status {
      if (!reachable_) return Status::Error(ECONNREFUSED, "director unreachable");
      for (const auto& r : rs) directory_.revocations.push_back(r);
      return Status::Ok();
    };
    authority_->SetRemote(fetch, report);
    other_->SetRemote(fetch, report);
  }
  std::string IssueOnB(UnixNanos ttl = 60 * kSecond) {
    return other_->Issue(other_registry_->Get("runner").value(), {}, ttl).value().first;
  }

  std::unique_ptr<AgentRegistry> other_registry_;
  std::unique_ptr<PassportAuthority> other_;
  RemoteTrust directory_;
  bool reachable_ = true;
  int fetches_ = 0;
};

TEST_F(RemotePassportTest, VerifiesPassportsOfOtherNodesThroughTheDirectory) {
  const std::string text = IssueOnB();
  auto v = authority_->Verify(text, std::nullopt);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->claims.node, "node-b");
  EXPECT_EQ(v->revocation, "checked against the mesh director");
  // Own passports need no director.
  reachable_ = false;
  const int before = fetches_;
  EXPECT_EQ(VerifyCode(Issue()), 0);
  EXPECT_EQ(fetches_, before);
}

TEST_F(RemotePassportTest, RevocationsReportedByTheIssuerAreHonoured) {
  const std::string text = IssueOnB();
  EXPECT_EQ(VerifyCode(text), 0);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(other_->RevokePassports("runner").ok());
  EXPECT_TRUE(other_->HasUnreported());
  ASSERT_TRUE(other_->ReportPending().ok());
  EXPECT_FALSE(other_->HasUnreported());
  ASSERT_EQ(directory_.revocations.size(), 1u);
  EXPECT_EQ(directory_.revocations[0].node, "node-b");
  // The cache may hold the old answer for a moment, not longer.
  std::this_thread::sleep_for(PassportAuthority::kRemoteCacheTtl + std::chrono::milliseconds(50));
  EXPECT_EQ(VerifyCode(text), EKEYREVOKED);
  // A deletion on the issuer is reported too.
  clock_.Advance(std::chrono::seconds(1));
  const std::string later = IssueOnB();
  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(other_registry_->Delete(kAlice, "runner").ok());
  EXPECT_TRUE(other_->HasUnreported());
  ASSERT_TRUE(other_->ReportPending().ok());
  std::this_thread::sleep_for(PassportAuthority::kRemoteCacheTtl + std::chrono::milliseconds(50));
  EXPECT_EQ(VerifyCode(later), EKEYREVOKED);
}

TEST_F(RemotePassportTest, AKeyVouchesOnlyForItsOwnNode) {
  directory_.keys = {{"node-a", authority_->key().public_key()}, {"node-c", other_->key().public_key()}};
  auto v = authority_->Verify(IssueOnB(), std::nullopt);
  EXPECT_EQ(v.code(), EKEYREJECTED);
  EXPECT_NE(v.status().message().find("node-c"), std::string::npos) << v.status().message();
}

TEST_F(RemotePassportTest, AnUnknownKeyIsFetchedAgainAndAnUnreachableDirectoryRefuses) {
  directory_.keys = {{"node-a", authority_->key().public_key()}};
  const std::string text = IssueOnB();
  EXPECT_EQ(VerifyCode(text), EKEYREJECTED);
  // The key appears (the node's first heartbeat): fetched again at once
  // after the refetch gap, not after the cache's lifetime.
  directory_.keys.push_back({"node-b", other_->key().public_key()});
  std::this_thread::sleep_for(PassportAuthority::kRemoteRefetchGap + std::chrono::milliseconds(20));
  EXPECT_EQ(VerifyCode(text), 0);
  reachable_ = false;
  std::this_thread::sleep_for(PassportAuthority::kRemoteCacheTtl + std::chrono::milliseconds(50));
  auto v = authority_->Verify(text, std::nullopt);
  EXPECT_EQ(v.code(), EKEYREJECTED);
  EXPECT_NE(v.status().message().find("director unreachable"), std::string::npos) << v.status().message();
  // Reports wait for the director.
  ASSERT_TRUE(authority_->RevokePassports("scout").ok());
  EXPECT_FALSE(authority_->ReportPending().ok());
  EXPECT_TRUE(authority_->HasUnreported());
  reachable_ = true;
  EXPECT_TRUE(authority_->ReportPending().ok());
  EXPECT_FALSE(authority_->HasUnreported());
}

TEST_F(PassportAuthorityTest, WithoutAMeshForeignPassportsAreCheckedByKeyOnly) {
  AgentRegistry::Options o;
  o.clock = &clock_;
  auto reg = AgentRegistry::Open(dir_.path() + "/agents-b.db", o).value();
  auto other = PassportAuthority::Open(dir_.path() + "/node-b.key", dir_.path() + "/passports-b.db",
                                       reg.get(), &clock_)
                   .value();
  ASSERT_TRUE(reg->Register(kAlice, {.id = "runner", .name = "Runner"}).ok());
  const std::string text = other->Issue(reg->Get("runner").value(), {}, 60 * kSecond).value().first;
  EXPECT_EQ(VerifyCode(text), EKEYREJECTED);  // not trusted here
  auto v = authority_->Verify(text, other->key().PublicKeyBase64());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->revocation.rfind("not checked", 0), 0u) << v->revocation;
  EXPECT_EQ(authority_->ReportPending().code(), ENOSYS);
}

}  // namespace
}  // namespace nexus
