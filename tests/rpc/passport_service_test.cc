// The identity and passport methods of Agents over a real socket: a
// SocketServer in this process with a real AgentRegistry and
// PassportAuthority in a temp dir (the Unix peer is the operator, so an
// admin; API keys over TLS are the non-admin users alice and bob).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "perms/agent_registry.h"
#include "perms/passport_authority.h"
#include "rpc/server/background_jobs.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

// CodeOf for a reply nobody reads further.
template <typename Reply>
Code CodeOfNow(Result<Reply> r) {
  return CodeOf(r);
}

class PassportServiceTest : public ServiceRig {
 protected:
  virtual bool WithPassports() const { return true; }

  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    AgentRegistry::Options o;
    o.clock = &clock_;
    registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", o).value();
    ctx_.agents.registry = registry_.get();
    if (WithPassports()) {
      authority_ = PassportAuthority::Open(dir_.path() + "/node.key", dir_.path() + "/passports.db",
                                           registry_.get(), &clock_)
                       .value();
      authority_->SetNodeName([] { return "node-a"; });
      registry_->AddOnChange(
          [this](const AgentRecord& r, AgentRegistry::ChangeKind k) { authority_->OnAgentChange(r, k); });
      ctx_.agents.passports = authority_.get();
    }
    StartServer(/*tls=*/true);
    admin_ = Unix().value();
    alice_ = User("alice");
    bob_ = User("bob");
    auto reg = Agents(*alice_).registerRequest();
    reg.setId("scout");
    reg.setName("Scout");
    auto r = alice_->Wait(reg.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  }
  void TearDown() override {
    admin_.reset();
    alice_.reset();
    bob_.reset();
    ServiceRig::TearDown();
  }

  std::unique_ptr<NexusClient> User(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "user";
    return Tcp(keys_->CreateUser(u, 0).value().second.secret).value();
  }
  static rpc::Agents::Client Agents(NexusClient& c) { return c.session().agentsRequest().send().getAgents(); }

  auto Passport(NexusClient& c, const std::string& id, uint32_t ttl = 0,
                std::vector<std::string> scopes = {}) {
    auto req = Agents(c).passportRequest();
    req.setId(id);
    req.setTtlSeconds(ttl);
    auto list = req.initScopes(scopes.size());
    for (size_t i = 0; i < scopes.size(); ++i) list.set(i, scopes[i]);
    return c.Wait(req.send());
  }
  // The passport's text, issued by alice.
  std::string Issue(uint32_t ttl = 0) {
    auto r = Passport(*alice_, "scout", ttl, {"/proj"});
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    return r.ok() && !r->hasError() ? std::string(r->getPassport()) : std::string();
  }
  auto Verify(NexusClient& c, const std::string& text, const std::string& trust = "") {
    auto req = Agents(c).verifyPassportRequest();
    req.setPassport(text);
    req.setTrust(trust);
    return c.Wait(req.send());
  }
  Code VerifyCode(const std::string& text, const std::string& trust = "") {
    auto r = Verify(*bob_, text, trust);
    return CodeOf(r);
  }
  auto Revoke(NexusClient& c, const std::string& id) {
    auto req = Agents(c).revokePassportsRequest();
    req.setId(id);
    return c.Wait(req.send());
  }

  ManualClock clock_;
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<PassportAuthority> authority_;
  BackgroundJobs jobs_{2};
  std::unique_ptr<NexusClient> admin_, alice_, bob_;
};

TEST_F(PassportServiceTest, TheOwnerIssuesAndAnyoneVerifies) {
  auto r = Passport(*alice_, "agent:scout", 120, {"/proj/*", "ipc"});
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto c = r->getClaims();
  EXPECT_EQ(std::string(c.getAgentId()), "scout");
  EXPECT_EQ(std::string(c.getOwner()), "user:alice");
  EXPECT_EQ(std::string(c.getNode()), "node-a");
  ASSERT_EQ(c.getScopes().size(), 2u);
  EXPECT_EQ(std::string(c.getScopes()[0]), "/proj/*");
  EXPECT_EQ(c.getExpiresAtNs() - c.getIssuedAtNs(), 120 * kNanosPerSecond);
  EXPECT_EQ(std::string(r->getKeyId()), authority_->key().key_id());
  auto json = nlohmann::json::parse(std::string(r->getPassport()));
  EXPECT_EQ(json["claims"]["agent_id"], "scout");

  auto v = Verify(*bob_, std::string(r->getPassport()));
  ASSERT_EQ(CodeOf(v), Code::OK) << MessageOf(v);
  EXPECT_EQ(std::string(v->getClaims().getOwner()), "user:alice");
  EXPECT_EQ(std::string(v->getRevocation()), "checked on this node (the issuer)");
  EXPECT_EQ(VerifyCode(std::string(r->getPassport()), authority_->key().PublicKeyBase64()), Code::OK);

  EXPECT_EQ(CodeOf(r = Passport(*admin_, "scout")), Code::OK) << MessageOf(r);  // admins may
  EXPECT_EQ(r->getClaims().getExpiresAtNs() - r->getClaims().getIssuedAtNs(), kDefaultPassportTtl);
  EXPECT_EQ(CodeOf(r = Passport(*bob_, "scout")), Code::PERMISSION_DENIED);
  EXPECT_EQ(CodeOf(r = Passport(*alice_, "ghost")), Code::NOT_FOUND);
  EXPECT_EQ(CodeOf(r = Passport(*alice_, "scout", 0, {""})), Code::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf(r = Passport(*alice_, "scout", 8 * 24 * 3600)), Code::INVALID_ARGUMENT);
}

TEST_F(PassportServiceTest, RefusalsAreTyped) {
  const std::string text = Issue(2);
  std::string tampered = text;
  tampered.replace(tampered.find("user:alice"), 10, "user:mallo");
  EXPECT_EQ(VerifyCode(tampered), Code::UNTRUSTED);
  EXPECT_EQ(VerifyCode("{\"claims\":"), Code::MALFORMED);
  EXPECT_EQ(VerifyCode(text, NodeKey::Generate().value().PublicKeyBase64()), Code::UNTRUSTED);
  EXPECT_EQ(VerifyCode(text, "nonsense"), Code::INVALID_ARGUMENT);
  clock_.Advance(std::chrono::seconds(2));
  auto v = Verify(*bob_, text);
  EXPECT_EQ(CodeOf(v), Code::EXPIRED);
  EXPECT_NE(MessageOf(v).find("expired at"), std::string::npos) << MessageOf(v);
}

TEST_F(PassportServiceTest, RevokePassportsByTheOwnerOnly) {
  const std::string text = Issue();
  clock_.Advance(std::chrono::seconds(1));
  auto r = Revoke(*bob_, "scout");
  EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  EXPECT_EQ(CodeOf(r = Revoke(*alice_, "ghost")), Code::NOT_FOUND);
  ASSERT_EQ(CodeOf(r = Revoke(*alice_, "scout")), Code::OK) << MessageOf(r);
  EXPECT_EQ(r->getRevokedBeforeNs(), clock_.Now());
  EXPECT_FALSE(r->getReported());  // no mesh
  auto v = Verify(*bob_, text);
  EXPECT_EQ(CodeOf(v), Code::REVOKED);
  EXPECT_EQ(VerifyCode(Issue()), Code::OK);
  clock_.Advance(std::chrono::seconds(1));
  auto t = Agents(*admin_).transitionRequest();
  t.setId("scout");
  t.setPhase("SUSPENDED");
  ASSERT_EQ(CodeOfNow(admin_->Wait(t.send())), Code::OK);
  EXPECT_EQ(CodeOfNow(Passport(*alice_, "scout")), Code::PERMISSION_DENIED);
}

TEST_F(PassportServiceTest, IdentityAndCredentialsShowNoSecret) {
  UserRecord agent;
  agent.name = "scout";
  agent.subject_type = "agent";
  const std::string secret = keys_->CreateUser(agent, 0).value().second.secret;
  auto req = Agents(*alice_).identityRequest();
  req.setId("scout");
  auto r = alice_->Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto id = r->getIdentity();
  EXPECT_EQ(std::string(id.getSubject()), "agent:scout");
  EXPECT_EQ(std::string(id.getOwner()), "user:alice");
  EXPECT_EQ(std::string(id.getPhase()), "REGISTERED");
  ASSERT_EQ(id.getKeys().size(), 1u);
  EXPECT_EQ(id.getKeys()[0].getScope(), rpc::Identity::Scope::AGENT);
  EXPECT_EQ(id.getKeys()[0].getSecret().size(), 0u);
  EXPECT_EQ(id.getGrantCount(), 0u);  // no ReBAC in this rig

  // The agent itself may look too.
  auto self = Tcp(secret).value();
  auto creq = Agents(*self).credentialsRequest();
  creq.setId("scout");
  auto c = self->Wait(creq.send());
  ASSERT_EQ(CodeOf(c), Code::OK) << MessageOf(c);
  EXPECT_EQ(std::string(c->getCredentials().getNodeKeyId()), authority_->key().key_id());
  EXPECT_EQ(std::string(c->getCredentials().getNode()), "node-a");
  EXPECT_EQ(c->getCredentials().getKeys()[0].getSecret().size(), 0u);

  auto breq = Agents(*bob_).identityRequest();
  breq.setId("scout");
  auto b = bob_->Wait(breq.send());
  EXPECT_EQ(CodeOf(b), Code::PERMISSION_DENIED);
  auto greq = Agents(*admin_).credentialsRequest();
  greq.setId("ghost");
  auto g = admin_->Wait(greq.send());
  EXPECT_EQ(CodeOf(g), Code::NOT_FOUND);

  auto k = bob_->Wait(Agents(*bob_).nodeKeyRequest().send());
  ASSERT_EQ(CodeOf(k), Code::OK) << MessageOf(k);
  EXPECT_EQ(std::string(k->getKey().getKeyId()), authority_->key().key_id());
  EXPECT_EQ(std::string(k->getKey().getPublicKey()), authority_->key().PublicKeyBase64());
  EXPECT_NE(std::string(k->getKey().getPublicKeyPem()).find("BEGIN PUBLIC KEY"), std::string::npos);
}

class PassportsOffTest : public PassportServiceTest {
 protected:
  bool WithPassports() const override { return false; }
};

TEST_F(PassportsOffTest, PassportMethodsAreUnavailable) {
  auto r = Passport(*alice_, "scout");
  EXPECT_EQ(CodeOf(r), Code::UNAVAILABLE);
  EXPECT_EQ(VerifyCode("{}"), Code::UNAVAILABLE);
  EXPECT_EQ(CodeOfNow(Revoke(*alice_, "scout")), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
