// The Delegations interface over a real socket: a SocketServer in this
// process with a real DelegationTable (and agent registry) in a temp dir,
// the subjects' own access faked, and real NexusClient connections (the
// Unix peer is the operator, so an admin; API keys over TLS are non-admin
// users alice and bob).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/ns_path.h"
#include "perms/agent_registry.h"
#include "perms/delegation.h"
#include "rpc/server/background_jobs.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

// CodeOf for a reply nobody reads further.
template <typename Reply>
Code CodeOfNow(Result<Reply> r) {
  return CodeOf(r);
}

class DelegationServiceTest : public ServiceRig {
 protected:
  virtual bool WithTable() const { return true; }

  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    AgentRegistry::Options ro;
    ro.clock = &clock_;
    registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", ro).value();
    ctx_.agents.registry = registry_.get();
    if (WithTable()) {
      DelegationTable::Options o;
      // alice owns /proj; nobody else holds anything.
      o.own_access = [](std::string_view s, Permission, std::string_view path, bool) {
        return s == "user:alice" && PathIsUnder(path, "/proj");
      };
      o.clock = &clock_;
      table_ = DelegationTable::Open(dir_.path() + "/delegations.db", o).value();
      ctx_.rebac.delegations = table_.get();
    }
    StartServer(/*tls=*/true);
    admin_ = Unix().value();
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
  }

  std::unique_ptr<NexusClient> User(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "user";
    auto c = Tcp(keys_->CreateUser(u, 0).value().second.secret);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  static rpc::Delegations::Client Of(NexusClient& c) {
    return c.session().delegationsRequest().send().getDelegations();
  }
  auto Create(NexusClient& c, const std::string& from, const std::string& to, const std::string& scope,
              const std::string& mode = "", const std::string& relation = "", uint32_t max_depth = 0) {
    auto req = Of(c).createRequest();
    req.setFrom(from);
    req.setTo(to);
    req.initScope(1).set(0, scope);
    req.setMode(mode);
    req.setRelation(relation);
    req.setMaxDepth(max_depth);
    return c.Wait(req.send());
  }
  auto Show(NexusClient& c, const std::string& id) {
    auto req = Of(c).showRequest();
    req.setId(id);
    return c.Wait(req.send());
  }
  auto Revoke(NexusClient& c, const std::string& id) {
    auto req = Of(c).revokeRequest();
    req.setId(id);
    return c.Wait(req.send());
  }

  ManualClock clock_;
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<DelegationTable> table_;
  BackgroundJobs jobs_{2};
  std::unique_ptr<NexusClient> admin_;
};

TEST_F(DelegationServiceTest, CreateShowChainRevoke) {
  auto alice = User("alice");
  auto bob = User("bob");
  auto r = Create(*alice, "user:alice", "helper", "/proj/*", "CLEAN", "editor", 1);
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto d = r->getDelegation();
  const std::string id = d.getId();
  EXPECT_EQ(std::string(d.getFrom()), "user:alice");
  EXPECT_EQ(std::string(d.getTo()), "agent:helper");
  EXPECT_EQ(std::string(d.getMode()), "clean");
  EXPECT_EQ(std::string(d.getRelation()), "editor");
  EXPECT_EQ(std::string(d.getState()), "active");
  EXPECT_EQ(std::string(d.getCreatedBy()), "user:alice");
  EXPECT_EQ(d.getExpiresAtNs(), 0);
  EXPECT_EQ(d.getMaxDepth(), 1u);

  auto s = Show(*bob, id);
  EXPECT_EQ(CodeOf(s), Code::NOT_FOUND);
  ASSERT_EQ(CodeOf(s = Show(*admin_, id)), Code::OK) << MessageOf(s);
  EXPECT_EQ(std::string(s->getDelegation().getScope()[0]), "/proj/*");

  auto list = admin_->Wait(Of(*admin_).listRequest().send());
  ASSERT_EQ(CodeOf(list), Code::OK) << MessageOf(list);
  EXPECT_EQ(list->getDelegations().size(), 1u);
  auto bobs = bob->Wait(Of(*bob).listRequest().send());
  ASSERT_EQ(CodeOf(bobs), Code::OK);
  EXPECT_EQ(bobs->getDelegations().size(), 0u);

  // The admin re-delegates for helper (acting for anyone), under alice's.
  auto child = Create(*admin_, "helper", "helper2", "/proj/src/*", "shared");
  ASSERT_EQ(CodeOf(child), Code::OK) << MessageOf(child);
  EXPECT_EQ(std::string(child->getDelegation().getParent()), id);
  auto chain = Of(*alice).chainRequest();
  chain.setId(child->getDelegation().getId());
  auto c = alice->Wait(chain.send());
  ASSERT_EQ(CodeOf(c), Code::OK) << MessageOf(c);
  ASSERT_EQ(c->getDelegations().size(), 2u);
  EXPECT_EQ(std::string(c->getDelegations()[0].getId()), id);

  auto v = Revoke(*bob, id);
  EXPECT_EQ(CodeOf(v), Code::NOT_FOUND);
  ASSERT_EQ(CodeOf(v = Revoke(*alice, id)), Code::OK) << MessageOf(v);
  ASSERT_EQ(v->getRevoked().size(), 2u);
  EXPECT_EQ(std::string(v->getRevoked()[0]), id);
  EXPECT_EQ(CodeOf(v = Revoke(*alice, id)), Code::INVALID_ARGUMENT);
  ASSERT_EQ(CodeOf(s = Show(*alice, id)), Code::OK);
  EXPECT_EQ(std::string(s->getDelegation().getState()), "revoked");
}

TEST_F(DelegationServiceTest, RefusalsAreTyped) {
  auto alice = User("alice");
  auto bob = User("bob");
  auto r = Create(*bob, "user:alice", "helper", "/proj/*");
  EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  EXPECT_NE(MessageOf(r).find("may not delegate for user:alice"), std::string::npos) << MessageOf(r);
  EXPECT_EQ(CodeOf(r = Create(*alice, "user:alice", "helper", "/other/*")), Code::PERMISSION_DENIED);
  EXPECT_NE(MessageOf(r).find("cannot delegate more than is held"), std::string::npos) << MessageOf(r);
  EXPECT_EQ(CodeOf(r = Create(*alice, "user:alice", "helper", "proj")), Code::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf(r = Create(*alice, "user:alice", "helper", "/proj/*", "borrow")), Code::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf(r = Create(*alice, "user:alice", "user:alice", "/proj/*")), Code::INVALID_ARGUMENT);
  auto ttl = Of(*alice).createRequest();
  ttl.setFrom("user:alice");
  ttl.setTo("helper");
  ttl.initScope(1).set(0, "/proj/*");
  ttl.setHasTtl(true);
  ttl.setTtlSeconds(0);
  auto t = alice->Wait(ttl.send());
  EXPECT_EQ(CodeOf(t), Code::INVALID_ARGUMENT);
  // Beyond the depth: helper2 under a delegation that allows none.
  ASSERT_EQ(CodeOf(r = Create(*alice, "user:alice", "helper", "/proj/*")), Code::OK) << MessageOf(r);
  EXPECT_EQ(CodeOf(r = Create(*admin_, "helper", "helper2", "/proj/*")), Code::PERMISSION_DENIED);
  EXPECT_EQ(CodeOfNow(Show(*alice, "dlg-000000000000")), Code::NOT_FOUND);
}

TEST_F(DelegationServiceTest, AnOwnerDelegatesForItsAgent) {
  auto alice = User("alice");
  auto bob = User("bob");
  // alice holds /proj and delegates shared to her agent, which re-delegates
  // through its owner's session.
  AgentRegistration reg;
  reg.id = "mine";
  reg.name = "Mine";
  ASSERT_TRUE(registry_->Register(RegistryCaller{"user:alice", false}, reg).ok());
  auto r = Create(*alice, "user:alice", "mine", "/proj/*", "shared", "", 1);
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto c = Create(*alice, "mine", "helper", "/proj/*", "clean");
  ASSERT_EQ(CodeOf(c), Code::OK) << MessageOf(c);
  EXPECT_EQ(std::string(c->getDelegation().getFrom()), "agent:mine");
  EXPECT_EQ(std::string(c->getDelegation().getCreatedBy()), "user:alice");
  EXPECT_EQ(CodeOfNow(Create(*bob, "mine", "helper", "/proj/*")), Code::PERMISSION_DENIED);
}

class DelegationOffTest : public DelegationServiceTest {
 protected:
  bool WithTable() const override { return false; }
};

TEST_F(DelegationOffTest, EveryMethodIsUnavailable) {
  auto r = Create(*admin_, "user:alice", "helper", "/proj/*");
  EXPECT_EQ(CodeOf(r), Code::UNAVAILABLE);
  EXPECT_NE(MessageOf(r).find("delegations come with ReBAC"), std::string::npos) << MessageOf(r);
  EXPECT_EQ(CodeOfNow(Show(*admin_, "x")), Code::UNAVAILABLE);
  EXPECT_EQ(CodeOfNow(Revoke(*admin_, "x")), Code::UNAVAILABLE);
  auto l = admin_->Wait(Of(*admin_).listRequest().send());
  EXPECT_EQ(CodeOf(l), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
