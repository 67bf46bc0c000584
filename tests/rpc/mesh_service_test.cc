// The mesh over real sockets: a SocketServer in this process whose context
// holds a real Director (on an in-memory store), real NexusClient
// connections for the operator and for a node.
#include <gtest/gtest.h>

#include "mesh/director.h"
#include "mesh/key_directory.h"
#include "mesh/memory_store.h"
#include "rpc/server/background_jobs.h"
#include "rpc/bytes.h"
#include "rpc/server/mesh_office.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

// CodeOf for a reply nobody reads further.
template <typename Reply>
Code CodeOfNow(Result<Reply> r) {
  return CodeOf(r);
}

class MeshServiceTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    store_ = std::make_unique<mesh::MemoryStore>(&DefaultClock());
    mesh::DirectorOptions d;
    d.registration_key = "reg-key";
    d.results_dir = dir_.path() + "/results";
    director_ = mesh::Director::Open(store_.get(), &DefaultClock(), d).value();
    node_keys_ = mesh::KeyDirectory::Open(store_.get()).value();
    office_ = std::make_unique<MeshOffice>(director_.get(), node_keys_.get());
    office_->SetAddress("127.0.0.1:7400");
    ctx_.mesh.office = office_.get();
    jobs_ = std::make_unique<BackgroundJobs>(2);
    ctx_.jobs = jobs_.get();
    StartServer(/*tls=*/false);
    op_ = Connect("");
    mesh_ptr_ = std::make_unique<rpc::Mesh::Client>(op_->session().meshRequest().send().getMesh());
    mesh_ = mesh_ptr_.get();
  }
  void TearDown() override {
    mesh_ptr_.reset();
    op_.reset();
    ServiceRig::TearDown();
    jobs_.reset();
  }

  std::unique_ptr<NexusClient> Connect(const std::string& key) {
    auto c = Unix(key);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  // Registers a node; returns {id, credential}.
  std::pair<std::string, std::string> Register(const std::string& name) {
    auto req = op_->bootstrap().meshRegisterRequest();
    req.setRegistrationKey("reg-key");
    req.setName(name);
    req.setAddress(name + ":7400");
    req.setCapacity(4);
    auto r = op_->Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    if (CodeOf(r) != Code::OK) return {};
    return {r->getCredential().getNodeId(), r->getCredential().getCredential()};
  }
  rpc::MeshNode::Client Node(const std::string& id, const std::string& cred, Code* code = nullptr) {
    auto req = op_->bootstrap().meshNodeRequest();
    req.setNodeId(id);
    req.setCredential(cred);
    auto r = op_->Wait(req.send());
    if (code) *code = CodeOf(r);
    return r.ok() ? r->getNode() : rpc::MeshNode::Client(nullptr);
  }
  Code Heartbeat(rpc::MeshNode::Client& node) {
    auto req = node.heartbeatRequest();
    req.setQueueDepth(0);
    req.setFreeCapacity(4);
    auto r = op_->Wait(req.send());
    return CodeOf(r);
  }
  Code Trust(const std::string& id) {
    auto req = mesh_->trustRequest();
    req.setNode(id);
    req.setTrusted(true);
    auto r = op_->Wait(req.send());
    return CodeOf(r);
  }
  std::string CreateTask(const std::string& name) {
    auto req = mesh_->createTaskRequest();
    auto s = req.initSpec();
    s.setName(name);
    s.setCommand("echo hi");
    auto r = op_->Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    return r.ok() && !r->hasError() ? std::string(r->getTask().getId()) : "";
  }

  std::unique_ptr<mesh::MemoryStore> store_;
  std::unique_ptr<mesh::Director> director_;
  std::unique_ptr<mesh::KeyDirectory> node_keys_;
  std::unique_ptr<MeshOffice> office_;
  std::unique_ptr<BackgroundJobs> jobs_;
  std::unique_ptr<NexusClient> op_;
  std::unique_ptr<rpc::Mesh::Client> mesh_ptr_;
  rpc::Mesh::Client* mesh_ = nullptr;
};

TEST_F(MeshServiceTest, AWrongRegistrationKeyIsRefused) {
  auto req = op_->bootstrap().meshRegisterRequest();
  req.setRegistrationKey("an operator's api key is not it");
  req.setName("n1");
  req.setAddress("n1:7400");
  auto r = op_->Wait(req.send());
  EXPECT_EQ(CodeOf(r), Code::UNAUTHENTICATED) << MessageOf(r);
  auto nodes = op_->Wait(mesh_->nodesRequest().send());
  ASSERT_EQ(CodeOf(nodes), Code::OK);
  EXPECT_EQ(nodes->getNodes().size(), 0u);  // the director does not list itself
  Code code;
  Node("n-1", "nxn_bogus", &code);
  EXPECT_EQ(code, Code::UNAUTHENTICATED);
}

TEST_F(MeshServiceTest, ATaskRunsItsCourseUnderALease) {
  auto [id, cred] = Register("n1");
  ASSERT_FALSE(id.empty());
  auto node = Node(id, cred);
  EXPECT_EQ(Heartbeat(node), Code::OK);
  const std::string t = CreateTask("build");
  // Untrusted nodes get no trusted work: the task stays pending, with why.
  {
    auto req = mesh_->scheduleRequest();
    req.setId(t);
    auto r = op_->Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(r->getPending(), 1u);
    EXPECT_NE(std::string(r->getPlacements()[0].getReason()).find("untrusted"), std::string::npos)
        << r->getPlacements()[0].getReason().cStr();
  }
  ASSERT_EQ(Trust(id), Code::OK);
  std::string token;
  {
    auto r = op_->Wait(mesh_->scheduleRequest().send());  // every pending task
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    ASSERT_EQ(r->getPlacements().size(), 1u);
    EXPECT_EQ(std::string(r->getPlacements()[0].getNodeId()), id);
    token = r->getPlacements()[0].getLeaseToken();
    EXPECT_FALSE(token.empty());
  }
  // The node claims its placement, with the token, exactly once.
  {
    auto r = op_->Wait(node.claimRequest().send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    ASSERT_EQ(r->getTasks().size(), 1u);
    EXPECT_EQ(std::string(r->getTasks()[0].getLeaseToken()), token);
    auto again = op_->Wait(node.claimRequest().send());
    EXPECT_EQ(again->getTasks().size(), 0u);
  }
  {
    auto req = node.startRequest();
    req.setId(t);
    req.setToken("not-the-token");
    auto r = op_->Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::CONFLICT) << MessageOf(r);
    auto right = node.startRequest();
    right.setId(t);
    right.setToken(token);
    auto ok = op_->Wait(right.send());
    EXPECT_EQ(CodeOf(ok), Code::OK) << MessageOf(ok);
  }
  {
    auto req = node.extendRequest();
    req.setId(t);
    req.setToken(token);
    req.setTtlSeconds(120);
    auto r = op_->Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_GT(r->getLeaseExpiresNs(), DefaultClock().Now() + 100'000'000'000);
  }
  {
    auto req = node.completeRequest();
    req.setId(t);
    req.setToken(token);
    req.setExitCode(0);
    req.setStdout(AsBytes("hi\n"));
    auto f = req.initFiles(1);
    f[0].setName("report.txt");
    f[0].setContent(AsBytes("all good"));
    auto r = op_->Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(std::string(r->getTask().getState()), "succeeded");
  }
  {
    auto req = mesh_->resultRequest();
    req.setId(t);
    auto r = op_->Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(r->getResult().getExitCode(), 0);
    auto rf = mesh_->resultFileRequest();
    rf.setId(t);
    rf.setName("files/report.txt");
    auto content = op_->Wait(rf.send());
    ASSERT_EQ(CodeOf(content), Code::OK) << MessageOf(content);
    EXPECT_EQ(AsView(content->getContent()), "all good");
    EXPECT_EQ(content->getSha256().size(), 64u);
  }
  // The token is spent: a replay is a conflict.
  auto replay = node.failRequest();
  replay.setId(t);
  replay.setToken(token);
  replay.setReason("late");
  auto rr = op_->Wait(replay.send());
  EXPECT_EQ(CodeOf(rr), Code::CONFLICT);
}

TEST_F(MeshServiceTest, RevokeRefusesANodeAndAdmitRestoresIt) {
  auto [id, cred] = Register("n1");
  auto node = Node(id, cred);
  auto req = mesh_->revokeRequest();
  req.setNode(id);
  auto r = op_->Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  EXPECT_EQ(Heartbeat(node), Code::PERMISSION_DENIED);
  Code code;
  Node(id, cred, &code);
  EXPECT_EQ(code, Code::PERMISSION_DENIED);
  auto admit = mesh_->admitRequest();
  admit.setNode(id);
  auto ar = op_->Wait(admit.send());
  ASSERT_EQ(CodeOf(ar), Code::OK) << MessageOf(ar);
  EXPECT_EQ(Heartbeat(node), Code::OK);
}

TEST_F(MeshServiceTest, ARotatedCredentialReplacesTheOldOne) {
  auto [id, cred] = Register("n1");
  auto node = Node(id, cred);
  auto r = op_->Wait(node.rotateCredentialRequest().send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  std::string fresh = r->getCredential().getCredential();
  EXPECT_NE(fresh, cred);
  EXPECT_EQ(Heartbeat(node), Code::OK);  // this session goes on with the new one
  Code code;
  Node(id, cred, &code);
  EXPECT_EQ(code, Code::UNAUTHENTICATED);
  auto again = Node(id, fresh, &code);
  EXPECT_EQ(code, Code::OK);
  EXPECT_EQ(Heartbeat(again), Code::OK);
}

TEST_F(MeshServiceTest, FleetChangesAreForAdmins) {
  auto [id, cred] = Register("n1");
  UserRecord u;
  u.name = "bob";
  u.subject_type = "user";
  auto key = keys_->CreateUser(u, 0).value().second.secret;
  auto bob = Connect(key);
  auto mesh = bob->session().meshRequest().send().getMesh();
  auto req = mesh.trustRequest();
  req.setNode(id);
  req.setTrusted(true);
  auto r = bob->Wait(req.send());
  EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  // ... but anyone may submit and read tasks.
  auto create = mesh.createTaskRequest();
  auto s = create.initSpec();
  s.setName("t");
  s.setCommand("true");
  auto c = bob->Wait(create.send());
  EXPECT_EQ(CodeOf(c), Code::OK) << MessageOf(c);
}

TEST_F(MeshServiceTest, KeysWithoutSubmissionOrPastTheirQuotaAreRefused) {
  UserRecord u;
  u.name = "carol";
  u.subject_type = "agent";
  auto created = keys_->CreateUser(u, 0).value();
  const std::string key_id = created.second.id, secret = created.second.secret;
  ASSERT_TRUE(keys_->SetEntitlements(key_id, false, 0).ok());
  auto submit = [&](NexusClient& c) {
    auto mesh = c.session().meshRequest().send().getMesh();
    auto req = mesh.createTaskRequest();
    auto s = req.initSpec();
    s.setName("t");
    s.setCommand("true");
    auto r = c.Wait(req.send());
    return CodeOf(r);
  };
  {
    auto carol = Connect(secret);
    EXPECT_EQ(submit(*carol), Code::PERMISSION_DENIED);
  }
  // The admin sets it over the socket: two per hour.
  auto req = op_->session().adminRequest().send().getAdmin().setKeyEntitlementsRequest();
  req.setKeyId(key_id);
  req.setCanSubmitTasks(true);
  req.setHourlyTaskQuota(2);
  auto r = op_->Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  EXPECT_EQ(r->getKey().getHourlyTaskQuota(), 2u);
  auto carol = Connect(secret);  // entitlements are read when a session opens
  EXPECT_EQ(submit(*carol), Code::OK);
  EXPECT_EQ(submit(*carol), Code::OK);
  EXPECT_EQ(submit(*carol), Code::RESOURCE_EXHAUSTED);
  EXPECT_EQ(submit(*op_), Code::OK);  // the operator has no quota
}

TEST_F(MeshServiceTest, NodesPublishPassportKeysAndRevocations) {
  const std::string key1(32, 'a'), key2(32, 'b');
  auto reg = op_->bootstrap().meshRegisterRequest();
  reg.setRegistrationKey("reg-key");
  reg.setName("n1");
  reg.setAddress("n1:7400");
  reg.setNodeKey(AsBytes(key1));
  auto r = op_->Wait(reg.send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  auto n1 = Node(r->getCredential().getNodeId(), r->getCredential().getCredential());
  auto [id2, cred2] = Register("n2");
  auto n2 = Node(id2, cred2);
  auto hb = n2.heartbeatRequest();
  hb.setNodeKey(AsBytes(key2));
  ASSERT_EQ(CodeOfNow(op_->Wait(hb.send())), Code::OK);
  auto bad = n2.heartbeatRequest();
  bad.setNodeKey(AsBytes(std::string("short")));
  EXPECT_EQ(CodeOfNow(op_->Wait(bad.send())), Code::OK);  // a bad key costs no liveness

  auto report = n1.reportRevocationsRequest();
  auto list = report.initRevocations(1);
  list[0].setAgentId("scout");
  list[0].setNode("n2");  // a node speaks only for itself
  list[0].setRevokedBeforeNs(100);
  ASSERT_EQ(CodeOfNow(op_->Wait(report.send())), Code::OK);

  auto set = op_->Wait(n1.trustSetRequest().send());
  ASSERT_EQ(CodeOf(set), Code::OK) << MessageOf(set);
  ASSERT_EQ(set->getKeys().size(), 2u);
  EXPECT_EQ(std::string(set->getKeys()[0].getNode()), "n1");
  EXPECT_EQ(AsView(set->getKeys()[0].getPublicKey()), key1);
  EXPECT_EQ(std::string(set->getKeys()[1].getNode()), "n2");
  EXPECT_EQ(AsView(set->getKeys()[1].getPublicKey()), key2);
  EXPECT_EQ(std::string(set->getKeys()[1].getKeyId()).size(), 16u);
  ASSERT_EQ(set->getRevocations().size(), 1u);
  EXPECT_EQ(std::string(set->getRevocations()[0].getNode()), "n1");
  EXPECT_EQ(set->getRevocations()[0].getRevokedBeforeNs(), 100);

  // A revoked node's key leaves the set.
  auto revoke = mesh_->revokeRequest();
  revoke.setNode(id2);
  ASSERT_EQ(CodeOfNow(op_->Wait(revoke.send())), Code::OK);
  auto after = op_->Wait(n1.trustSetRequest().send());
  ASSERT_EQ(CodeOf(after), Code::OK) << MessageOf(after);
  ASSERT_EQ(after->getKeys().size(), 1u);
  EXPECT_EQ(std::string(after->getKeys()[0].getNode()), "n1");
  Code code = CodeOfNow(op_->Wait(n2.trustSetRequest().send()));
  EXPECT_EQ(code, Code::PERMISSION_DENIED);  // and the node itself is refused
}

TEST_F(MeshServiceTest, WithoutADirectorTheMeshIsUnavailable) {
  server_.reset();
  ctx_.mesh.office = nullptr;
  SocketServer::Options so;
  so.unix_path = dir_.path() + "/s2.sock";
  server_ = SocketServer::Start(&ctx_, so).value();
  ConnectOptions o;
  o.socket_path = dir_.path() + "/s2.sock";
  auto c = NexusClient::Connect(o).value();
  auto mesh = c->session().meshRequest().send().getMesh();
  auto r = c->Wait(mesh.nodesRequest().send());
  EXPECT_EQ(CodeOf(r), Code::UNAVAILABLE);
  auto reg = c->bootstrap().meshRegisterRequest();
  reg.setRegistrationKey("reg-key");
  auto rr = c->Wait(reg.send());
  EXPECT_EQ(CodeOf(rr), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
