// The Ipc interface over a real socket: a SocketServer in this process with
// a real AgentRegistry and Mailbox on the rig's tree (no ReBAC: the Unix
// peer is the operator, an admin), real NexusClient connections.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agents/mailbox.h"
#include "base/layout.h"
#include "perms/agent_registry.h"
#include "rpc/server/background_jobs.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class IpcServiceTest : public ServiceRig {
 protected:
  virtual bool WithMailbox() const { return true; }

  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    if (WithMailbox()) {
      registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", {}).value();
      ASSERT_TRUE(registry_->Register({"user:admin", true}, {.id = "b1", .name = "b1"}).ok());
      Caller root;
      root.umask = 0;
      for (auto folder : layout::kMailboxFolders)
        ASSERT_TRUE(files_->MkDir(root, "/agents/b1/" + std::string(folder), 0777, true).ok());
      mailbox_ = Mailbox::Open(dir_.path() + "/mailbox.db", files_.get(), registry_.get(), principals_.get(),
                               {.sweep_interval = 0ms})
                     .value();
      ctx_.agents.registry = registry_.get();
      ctx_.agents.mailbox = mailbox_.get();
    }
    StartServer(/*tls=*/false);
    client_ = Unix().value();
  }
  void TearDown() override {
    client_.reset();
    ServiceRig::TearDown();
  }

  static rpc::Ipc::Client IpcOf(NexusClient& c) { return c.session().ipcRequest().send().getIpc(); }

  auto Send(NexusClient& c, const std::string& to, const std::string& body) {
    auto req = IpcOf(c).sendRequest();
    req.setTo(to);
    req.setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
    return c.Wait(req.send());
  }
  auto Inbox(NexusClient& c, const std::string& id, double wait = 0) {
    auto req = IpcOf(c).inboxRequest();
    req.setId(id);
    req.setWaitSeconds(wait);
    return c.Wait(req.send());
  }

  BackgroundJobs jobs_{2};
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<Mailbox> mailbox_;
  std::unique_ptr<NexusClient> client_;
};

TEST_F(IpcServiceTest, SendInboxCountAck) {
  const std::string body("\xff\x00 not text", 11);
  auto sent = Send(*client_, "agent:b1", body);
  ASSERT_EQ(CodeOf(sent), Code::OK) << MessageOf(sent);
  auto m = sent->getMessage();
  EXPECT_EQ(std::string(m.getTo()), "b1");
  EXPECT_EQ(std::string(m.getState()), "inbox");
  EXPECT_EQ(std::string(m.getPath()), "/agents/b1/inbox/" + std::string(m.getId()));
  EXPECT_EQ(m.getExpiresAtNs(), m.getTimeNs() + m.getTtlSeconds() * kNanosPerSecond);
  const std::string id = m.getId();

  auto inbox = Inbox(*client_, "b1");
  ASSERT_EQ(CodeOf(inbox), Code::OK) << MessageOf(inbox);
  ASSERT_EQ(inbox->getMessages().size(), 1u);
  auto got = inbox->getMessages()[0].getBody();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.begin()), got.size()), body);

  auto count = IpcOf(*client_).countRequest();
  count.setId("b1");
  auto n = client_->Wait(count.send());
  ASSERT_EQ(CodeOf(n), Code::OK);
  EXPECT_EQ(n->getCount(), 1u);

  auto ack = IpcOf(*client_).ackRequest();
  ack.setId("b1");
  ack.setMessageId(id);
  auto acked = client_->Wait(ack.send());
  ASSERT_EQ(CodeOf(acked), Code::OK) << MessageOf(acked);
  EXPECT_EQ(std::string(acked->getMessage().getState()), "processed");
  auto ack2 = IpcOf(*client_).ackRequest();
  ack2.setId("b1");
  ack2.setMessageId(id);
  auto again = client_->Wait(ack2.send());
  EXPECT_EQ(CodeOf(again), Code::NOT_FOUND);

  auto dead = IpcOf(*client_).deadRequest();
  dead.setId("b1");
  auto none = client_->Wait(dead.send());
  ASSERT_EQ(CodeOf(none), Code::OK);
  EXPECT_EQ(none->getMessages().size(), 0u);
}

TEST_F(IpcServiceTest, UnknownRecipientIsNotFound) {
  auto sent = Send(*client_, "ghost", "x");
  EXPECT_EQ(CodeOf(sent), Code::NOT_FOUND);
  EXPECT_NE(MessageOf(sent).find("agent 'ghost' not found"), std::string::npos) << MessageOf(sent);
  auto inbox = Inbox(*client_, "agent:ghost");
  EXPECT_EQ(CodeOf(inbox), Code::NOT_FOUND);
  auto bad = Inbox(*client_, "b1", -1);
  EXPECT_EQ(CodeOf(bad), Code::INVALID_ARGUMENT);
}

TEST_F(IpcServiceTest, InboxWaitReturnsWhenAMessageArrives) {
  auto t0 = SteadyClock::now();
  std::thread sender([&] {
    auto other = Unix().value();  // a client lives on its own thread
    std::this_thread::sleep_for(300ms);
    auto sent = Send(*other, "b1", "wake");
    EXPECT_EQ(CodeOf(sent), Code::OK) << MessageOf(sent);
  });
  auto inbox = Inbox(*client_, "b1", 10);
  auto took = SteadyClock::now() - t0;
  sender.join();
  ASSERT_EQ(CodeOf(inbox), Code::OK) << MessageOf(inbox);
  ASSERT_EQ(inbox->getMessages().size(), 1u);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  // Non-empty: at once, whatever the wait.
  t0 = SteadyClock::now();
  auto now = Inbox(*client_, "b1", 10);
  EXPECT_EQ(now->getMessages().size(), 1u);
  EXPECT_LT(SteadyClock::now() - t0, 2s);
}

TEST_F(IpcServiceTest, InboxWaitRunsOutEmpty) {
  auto t0 = SteadyClock::now();
  auto inbox = Inbox(*client_, "b1", 0.3);
  ASSERT_EQ(CodeOf(inbox), Code::OK) << MessageOf(inbox);
  EXPECT_EQ(inbox->getMessages().size(), 0u);
  EXPECT_GE(SteadyClock::now() - t0, 280ms);
}

class IpcOffTest : public IpcServiceTest {
 protected:
  bool WithMailbox() const override { return false; }
};

TEST_F(IpcOffTest, UnavailableWithoutMailboxes) {
  auto sent = Send(*client_, "b1", "x");
  EXPECT_EQ(CodeOf(sent), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
