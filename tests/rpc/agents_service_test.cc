// The Agents interface over a real socket: a SocketServer in this process
// with a real AgentRegistry in a temp dir and real NexusClient connections
// (the Unix peer is the operator, so an admin; API keys over TLS are
// non-admin users alice and bob).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "perms/agent_registry.h"
#include "rpc/server/background_jobs.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

// CodeOf for a reply nobody reads further.
template <typename Reply>
Code CodeOfNow(Result<Reply> r) {
  return CodeOf(r);
}

class AgentsServiceTest : public ServiceRig {
 protected:
  virtual bool WithRegistry() const { return true; }

  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    if (WithRegistry()) {
      AgentRegistry::Options o;
      o.clock = &clock_;
      o.heartbeat_window = std::chrono::seconds(60);
      registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", o).value();
      ctx_.agents.registry = registry_.get();
    }
    StartServer(/*tls=*/true);
    auto admin = Unix();
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    admin_ = std::move(admin).value();
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
  }

  // A non-admin user:NAME over TLS with an API key.
  std::unique_ptr<NexusClient> User(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "user";
    auto c = Tcp(keys_->CreateUser(u, 0).value().second.secret);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_FALSE((*c)->is_admin());
    return std::move(c).value();
  }

  static rpc::Agents::Client AgentsOf(NexusClient& c) {
    return c.session().agentsRequest().send().getAgents();
  }

  auto Register(NexusClient& c, const std::string& id, const std::string& name) {
    auto req = AgentsOf(c).registerRequest();
    req.setId(id);
    req.setName(name);
    auto md = req.initMetadata(1);
    md[0].setKey("model");
    md[0].setValue("m1");
    return c.Wait(req.send());
  }
  auto Transition(NexusClient& c, const std::string& id, const std::string& phase, uint64_t expected = 0) {
    auto req = AgentsOf(c).transitionRequest();
    req.setId(id);
    req.setPhase(phase);
    req.setExpectedGeneration(expected);
    return c.Wait(req.send());
  }
  auto Get(NexusClient& c, const std::string& id) {
    auto req = AgentsOf(c).getRequest();
    req.setId(id);
    return c.Wait(req.send());
  }
  std::vector<std::string> List(NexusClient& c, const std::string& owner = "",
                                const std::string& phase = "") {
    auto req = AgentsOf(c).listRequest();
    req.setOwner(owner);
    req.setPhase(phase);
    auto r = c.Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::vector<std::string> ids;
    if (r.ok() && !r->hasError())
      for (auto a : r->getAgents()) ids.push_back(a.getId());
    return ids;
  }

  ManualClock clock_;
  std::unique_ptr<AgentRegistry> registry_;
  BackgroundJobs jobs_{2};
  std::unique_ptr<NexusClient> admin_;
};

TEST_F(AgentsServiceTest, RegisterGetAndList) {
  auto alice = User("alice");
  auto bob = User("bob");
  auto r = Register(*alice, "agent:scout", "Scout");
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto a = r->getAgent();
  EXPECT_EQ(std::string(a.getId()), "scout");
  EXPECT_EQ(std::string(a.getOwner()), "user:alice");
  EXPECT_EQ(std::string(a.getPhase()), "REGISTERED");
  EXPECT_EQ(a.getGeneration(), 1u);
  EXPECT_FALSE(a.getStale());
  ASSERT_EQ(a.getMetadata().size(), 1u);
  EXPECT_EQ(std::string(a.getMetadata()[0].getKey()), "model");
  EXPECT_EQ(a.getCreatedAtNs(), clock_.Now());
  ASSERT_EQ(CodeOf(r = Register(*bob, "helper", "Helper")), Code::OK) << MessageOf(r);
  EXPECT_EQ(CodeOf(r = Register(*bob, "scout", "Again")), Code::ALREADY_EXISTS);

  auto g = Get(*bob, "scout");  // reading is open to every session
  ASSERT_EQ(CodeOf(g), Code::OK) << MessageOf(g);
  EXPECT_EQ(std::string(g->getAgent().getName()), "Scout");
  EXPECT_EQ(List(*alice), (std::vector<std::string>{"helper", "scout"}));
  EXPECT_EQ(List(*alice, "user:bob"), (std::vector<std::string>{"helper"}));
  EXPECT_EQ(List(*alice, "", "registered").size(), 2u);
  EXPECT_TRUE(List(*alice, "", "BUSY").empty());

  auto bad = AgentsOf(*alice).listRequest();
  bad.setPhase("asleep");
  auto lr = alice->Wait(bad.send());
  EXPECT_EQ(CodeOf(lr), Code::INVALID_ARGUMENT);
}

TEST_F(AgentsServiceTest, TransitionCompareAndSetAndStaleness) {
  auto alice = User("alice");
  ASSERT_EQ(CodeOfNow(Register(*alice, "scout", "Scout")), Code::OK);
  auto t = Transition(*alice, "scout", "connected", 1);
  ASSERT_EQ(CodeOf(t), Code::OK) << MessageOf(t);
  EXPECT_EQ(std::string(t->getAgent().getPhase()), "CONNECTED");
  EXPECT_EQ(t->getAgent().getGeneration(), 2u);

  t = Transition(*alice, "scout", "BUSY", 1);  // generation is 2 now
  EXPECT_EQ(CodeOf(t), Code::CONFLICT);
  EXPECT_NE(MessageOf(t).find("generation is 2"), std::string::npos) << MessageOf(t);
  EXPECT_EQ(CodeOf(t = Transition(*alice, "scout", "REGISTERED")), Code::INVALID_ARGUMENT) << MessageOf(t);
  EXPECT_EQ(CodeOf(t = Transition(*alice, "scout", "SUSPENDED")), Code::PERMISSION_DENIED) << MessageOf(t);

  clock_.Advance(std::chrono::seconds(61));
  auto g = Get(*alice, "scout");
  ASSERT_EQ(CodeOf(g), Code::OK);
  EXPECT_TRUE(g->getAgent().getStale());
  auto hb = AgentsOf(*alice).heartbeatRequest();
  hb.setId("scout");
  auto h = alice->Wait(hb.send());
  ASSERT_EQ(CodeOf(h), Code::OK) << MessageOf(h);
  g = Get(*alice, "agent:scout");
  ASSERT_EQ(CodeOf(g), Code::OK);
  EXPECT_FALSE(g->getAgent().getStale());
  EXPECT_EQ(g->getAgent().getLastHeartbeatNs(), clock_.Now());
  EXPECT_EQ(g->getAgent().getGeneration(), 2u);  // a heartbeat is no change

  // An admin may suspend; a suspended agent's heartbeat is refused.
  ASSERT_EQ(CodeOf(t = Transition(*admin_, "scout", "SUSPENDED")), Code::OK) << MessageOf(t);
  auto again = AgentsOf(*alice).heartbeatRequest();
  again.setId("scout");
  EXPECT_EQ(CodeOf(h = alice->Wait(again.send())), Code::PERMISSION_DENIED);
}

TEST_F(AgentsServiceTest, OnlyTheOwnerOrAnAdminMayChange) {
  auto alice = User("alice");
  auto bob = User("bob");
  ASSERT_EQ(CodeOfNow(Register(*alice, "scout", "Scout")), Code::OK);
  auto t = Transition(*bob, "scout", "CONNECTED");
  EXPECT_EQ(CodeOf(t), Code::PERMISSION_DENIED);
  EXPECT_NE(MessageOf(t).find("user:bob"), std::string::npos) << MessageOf(t);

  auto up = AgentsOf(*bob).updateRequest();
  up.setId("scout");
  up.setName("Mine");
  auto u = bob->Wait(up.send());
  EXPECT_EQ(CodeOf(u), Code::PERMISSION_DENIED);
  auto del = AgentsOf(*bob).deleteRequest();
  del.setId("scout");
  auto d = bob->Wait(del.send());
  EXPECT_EQ(CodeOf(d), Code::PERMISSION_DENIED);
  auto hb = AgentsOf(*bob).heartbeatRequest();
  hb.setId("scout");
  auto h = bob->Wait(hb.send());
  EXPECT_EQ(CodeOf(h), Code::PERMISSION_DENIED);

  // A non-admin may not register for someone else; an admin may.
  auto reg = AgentsOf(*bob).registerRequest();
  reg.setId("planted");
  reg.setName("Planted");
  reg.setOwner("user:alice");
  auto rr = bob->Wait(reg.send());
  EXPECT_EQ(CodeOf(rr), Code::PERMISSION_DENIED);
  auto areg = AgentsOf(*admin_).registerRequest();
  areg.setId("planted");
  areg.setName("Planted");
  areg.setOwner("user:alice");
  rr = admin_->Wait(areg.send());
  ASSERT_EQ(CodeOf(rr), Code::OK) << MessageOf(rr);
  EXPECT_EQ(std::string(rr->getAgent().getOwner()), "user:alice");

  // The owner updates (description set, metadata removed) and deletes.
  auto own = AgentsOf(*alice).updateRequest();
  own.setId("scout");
  own.setDescription("");
  own.setSetDescription(true);
  own.initRemoveMetadata(1).set(0, "model");
  u = alice->Wait(own.send());
  ASSERT_EQ(CodeOf(u), Code::OK) << MessageOf(u);
  EXPECT_EQ(u->getAgent().getMetadata().size(), 0u);
  EXPECT_EQ(u->getAgent().getGeneration(), 2u);
  auto adel = AgentsOf(*alice).deleteRequest();
  adel.setId("agent:scout");
  d = alice->Wait(adel.send());
  ASSERT_EQ(CodeOf(d), Code::OK) << MessageOf(d);
  EXPECT_EQ(registry_->size(), 1u);
}

TEST_F(AgentsServiceTest, UnknownAndInvalidIds) {
  auto g = Get(*admin_, "ghost");
  EXPECT_EQ(CodeOf(g), Code::NOT_FOUND);
  EXPECT_NE(MessageOf(g).find("not found"), std::string::npos) << MessageOf(g);
  EXPECT_EQ(CodeOf(g = Get(*admin_, "user:alice")), Code::INVALID_ARGUMENT);
  auto t = Transition(*admin_, "ghost", "CONNECTED");
  EXPECT_EQ(CodeOf(t), Code::NOT_FOUND);
  auto r = Register(*admin_, ".hidden", "x");
  EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
}

class AgentsOffTest : public AgentsServiceTest {
 protected:
  bool WithRegistry() const override { return false; }
};

TEST_F(AgentsOffTest, EveryMethodIsUnavailable) {
  auto g = Get(*admin_, "scout");
  EXPECT_EQ(CodeOf(g), Code::UNAVAILABLE);
  EXPECT_NE(MessageOf(g).find("agent registry is not enabled"), std::string::npos) << MessageOf(g);
  EXPECT_EQ(CodeOfNow(Register(*admin_, "scout", "Scout")), Code::UNAVAILABLE);
  EXPECT_EQ(CodeOfNow(Transition(*admin_, "scout", "CONNECTED")), Code::UNAVAILABLE);
  auto l = admin_->Wait(AgentsOf(*admin_).listRequest().send());
  EXPECT_EQ(CodeOf(l), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
