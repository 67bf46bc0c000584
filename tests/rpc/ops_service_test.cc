// Ops.log/gc/stats over a real socket: who sees which operations (their own
// and their agents', on paths they may read), paging, and the admin rule.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ops/op_log.h"
#include "perms/agent_registry.h"
#include "rpc/server/background_jobs.h"
#include "service_rig.h"

namespace nexus {
namespace {

class OpsServiceTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", {}).value();
    ctx_.agents.registry = registry_.get();
    log_ = ops::OpLog::Open({.path = dir_.path() + "/oplog.db"}).value();
    ctx_.ops.log = log_.get();
    StartServer(/*tls=*/true);
    admin_ = Unix().value();

    AgentRegistration helper;
    helper.id = "helper";
    helper.name = "Helper";
    RegistryCaller alice;
    alice.subject = "user:alice";
    ASSERT_TRUE(registry_->Register(alice, helper).ok());

    Caller root{::getuid(), ::getgid(), 0, 022};
    for (auto [name, mode] : {std::pair{"pub.txt", 0644}, std::pair{"secret", 0600}}) {
      auto made = ns_->Create(root, kRootIno, name, static_cast<mode_t>(mode), O_WRONLY);
      ASSERT_TRUE(made.ok()) << made.status().ToString();
      ns_->Release(std::move(made->handle));
    }
    std::vector<ops::Operation> batch = {
        Op("user:alice", "/pub.txt"),     // 1
        Op("user:alice", "/secret"),      // 2: not readable by alice
        Op("agent:helper", "/pub.txt"),   // 3: alice's agent
        Op("user:bob", "/pub.txt"),       // 4
        Op("user:alice", "/gone/x.txt"),  // 5: gone; "/" is listable
    };
    ASSERT_TRUE(log_->Append(batch).ok());
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
  }

  static ops::Operation Op(std::string subject, std::string path) {
    ops::Operation op;
    op.kind = ops::OpKind::kWrite;
    op.subject = std::move(subject);
    op.path = std::move(path);
    op.time_ns = 1;
    return op;
  }

  std::unique_ptr<NexusClient> User(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "user";
    auto c = Tcp(keys_->CreateUser(u, 0).value().second.secret);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }

  static rpc::Ops::Client OpsOf(NexusClient& c) { return c.session().opsRequest().send().getOps(); }

  // The ids `c` sees, and the next page's bound in *next.
  std::vector<int64_t> Ids(NexusClient& c, int64_t before = 0, uint32_t limit = 0, int64_t* next = nullptr,
                           const std::string& kind = "") {
    auto req = OpsOf(c).logRequest();
    req.setBeforeId(before);
    req.setLimit(limit);
    req.initFilter().setKind(kind);
    auto r = c.Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::vector<int64_t> ids;
    if (CodeOf(r) != Code::OK) return ids;
    for (auto op : r->getOps()) ids.push_back(op.getId());
    if (next) *next = r->getNextBeforeId();
    return ids;
  }

  BackgroundJobs jobs_{2};
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<ops::OpLog> log_;
  std::unique_ptr<NexusClient> admin_;
};

TEST_F(OpsServiceTest, AdminsSeeEverythingOthersTheirOwnOnReadablePaths) {
  EXPECT_EQ(Ids(*admin_), (std::vector<int64_t>{5, 4, 3, 2, 1}));
  auto alice = User("alice");
  EXPECT_EQ(Ids(*alice), (std::vector<int64_t>{5, 3, 1}));
  auto bob = User("bob");
  EXPECT_EQ(Ids(*bob), (std::vector<int64_t>{4}));
}

TEST_F(OpsServiceTest, PagesByBeforeId) {
  auto alice = User("alice");
  int64_t next = 0;
  EXPECT_EQ(Ids(*alice, 0, 1, &next), (std::vector<int64_t>{5}));
  EXPECT_EQ(next, 5);
  EXPECT_EQ(Ids(*alice, next, 1, &next), (std::vector<int64_t>{3}));
  EXPECT_EQ(Ids(*alice, next, 1, &next), (std::vector<int64_t>{1}));
  EXPECT_EQ(Ids(*alice, next, 1, &next), (std::vector<int64_t>{}));
  EXPECT_EQ(next, 0);
  EXPECT_EQ(Ids(*admin_, 3, 0, &next), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(next, 0);
}

TEST_F(OpsServiceTest, BadFiltersAndTheAdminRule) {
  auto req = OpsOf(*admin_).logRequest();
  req.initFilter().setKind("frobnicate");
  auto r = admin_->Wait(req.send());
  EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
  auto alice = User("alice");
  auto gc = OpsOf(*alice).gcRequest();
  gc.setKeepDays(1);
  auto g = alice->Wait(gc.send());
  EXPECT_EQ(CodeOf(g), Code::PERMISSION_DENIED);
  auto admin_gc = OpsOf(*admin_).gcRequest();
  admin_gc.setKeepDays(1);
  auto ag = admin_->Wait(admin_gc.send());
  ASSERT_EQ(CodeOf(ag), Code::OK) << MessageOf(ag);
  EXPECT_EQ(ag->getRemoved(), 5u);  // all from 1970
  auto st = alice->Wait(OpsOf(*alice).statsRequest().send());
  ASSERT_EQ(CodeOf(st), Code::OK) << MessageOf(st);
  EXPECT_EQ(st->getNewestId(), 5);
  EXPECT_EQ(st->getOperations(), 0u);
}

}  // namespace
}  // namespace nexus
