// Mailboxes on a real native tree with ReBAC enforced by the namespace, a
// real agent registry, and the change bus for what is done on the mount.
#include "agents/mailbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>

#include "base/layout.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "perms/audit.h"
#include "perms/identity.h"
#include "perms/rebac_policy.h"
#include "tests/perms/rebac_test_util.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using testing::T;

constexpr uid_t kAlice = 1001, kBob = 1002, kEve = 1003;

class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/native";
    o.sink = &bus_;
    ASSERT_EQ(::mkdir(o.data_dir.c_str(), 0700), 0);
    backend_ = NativeBackend::Open(o).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    audit_ = AuditLog::Open(dir_.path() + "/audit.db", {}).value();
    RebacOptions ro;
    ro.clock = &clock_;
    ro.audit = audit_.get();
    ro.root_owner = "user:admin";
    engine_ = RebacEngine::Open(dir_.path() + "/rebac.db", ro).value();
    IdentityOptions io;
    io.admin_subject = "user:admin";
    ids_ = IdentityMap::Open(dir_.path() + "/rebac.db", io).value();
    ASSERT_TRUE(ids_->Bind(kAlice, "user:alice").ok());
    ASSERT_TRUE(ids_->Bind(kBob, "user:bob").ok());
    ASSERT_TRUE(ids_->Bind(kEve, "user:eve").ok());
    principals_ =
        std::make_unique<PrincipalTable>(PrincipalTable::Options{std::nullopt, "user:admin"}, ids_.get());
    policy_ = std::make_unique<RebacPolicy>(engine_.get(), principals_.get(), audit_.get(), "user:admin");
    ns_->SetAccessPolicy(policy_.get());
    files_ = std::make_unique<PathFiles>(ns_.get());
    registry_ = AgentRegistry::Open(dir_.path() + "/agents.db", {.clock = &clock_}).value();

    Register({"user:alice", false}, "a1");
    Register({"user:bob", false}, "b1");
    // bob lets a1 write into b1's inbox.
    Grant({"agent:a1#editor@folder:/agents/b1/inbox"});
    mailbox_ = OpenMailbox();
    mailbox_->Subscribe(&bus_);
  }

  std::unique_ptr<Mailbox> OpenMailbox() {
    auto m = Mailbox::Open(dir_.path() + "/mailbox.db", files_.get(), registry_.get(), principals_.get(),
                           {.default_ttl = 24h, .clock = &clock_, .sweep_interval = 0ms});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  // What daemon/agent_homes.cc does at registration.
  void Register(const RegistryCaller& owner, const std::string& id) {
    ASSERT_TRUE(registry_->Register(owner, {.id = id, .name = id}).ok());
    const std::string home = layout::AgentHome(id);
    ASSERT_TRUE(files_->MkDir(Daemon(), home, 0777, true).ok());
    for (auto folder : layout::kMailboxFolders)
      ASSERT_TRUE(files_->MkDir(Daemon(), home + "/" + std::string(folder), 0777, true).ok());
    Grant({owner.subject + "#owner@folder:" + home, "agent:" + id + "#editor@folder:" + home});
  }
  void Grant(std::vector<std::string> texts) {
    std::vector<Tuple> adds;
    for (const auto& t : texts) adds.push_back(T(t));
    ASSERT_TRUE(engine_->WriteUnchecked(adds, {}).ok());
  }

  Caller As(uid_t uid) {
    Caller c;
    c.uid = uid;
    c.gid = uid;
    c.principal = principals_->ForUid(uid, uid);
    return c;
  }
  // `uid` acting as agent `id`, as on a per-subject mount or with --as.
  Caller AsAgent(uid_t uid, const std::string& id) {
    Caller c = As(uid);
    c.principal = principals_->ForActingAs(*c.principal, "agent:" + id);
    return c;
  }
  Caller Daemon() {
    Caller c;
    c.umask = 0;
    c.principal = &daemon_;
    return c;
  }

  Result<Message> Send(const Caller& who, const std::string& to, const std::string& body,
                       const std::string& from = "", std::optional<int64_t> ttl = std::nullopt,
                       const std::string& client_id = "") {
    return mailbox_->Send(who, {.to = to, .body = body, .from = from, .ttl_s = ttl, .client_id = client_id});
  }
  std::vector<std::string> Bodies(const Result<std::vector<Message>>& r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> out;
    if (r.ok())
      for (const auto& m : *r) out.push_back(m.body);
    return out;
  }
  std::vector<std::string> Names(const std::string& dir) {
    std::vector<std::string> out;
    auto entries = files_->List(Daemon(), dir, false);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (entries.ok())
      for (const auto& e : *entries) out.push_back(e.path.substr(e.path.rfind('/') + 1));
    return out;
  }
  uint64_t Count(const std::string& id = "b1") { return mailbox_->Count(As(kBob), id).value(); }

  testing::TempDir dir_;
  ManualClock clock_;
  Principal daemon_ = [] {
    Principal p;
    p.subject = p.account = "user:admin";
    p.how = AuthMethod::kDaemon;
    p.admin = true;
    return p;
  }();
  ChangeBus bus_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RebacEngine> engine_;
  std::unique_ptr<IdentityMap> ids_;
  std::unique_ptr<PrincipalTable> principals_;
  std::unique_ptr<RebacPolicy> policy_;
  std::unique_ptr<PathFiles> files_;
  std::unique_ptr<AgentRegistry> registry_;
  std::unique_ptr<Mailbox> mailbox_;
};

TEST_F(MailboxTest, SendIsAFileInTheInboxAndInboxDoesNotConsume) {
  auto m = Send(As(kAlice), "agent:b1", "hello", "a1");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->from, "agent:a1");
  EXPECT_EQ(m->to, "b1");
  EXPECT_EQ(m->name, m->id);
  EXPECT_EQ(m->Path(), "/agents/b1/inbox/" + m->id);
  EXPECT_EQ(Names("/agents/b1/inbox"), std::vector<std::string>{m->id});
  EXPECT_EQ(files_->Read(Daemon(), m->Path(), 0, 0, 1 << 20, nullptr).value(), "hello");
  auto inbox = mailbox_->Inbox(As(kBob), "b1");
  EXPECT_EQ(Bodies(inbox), std::vector<std::string>{"hello"});
  EXPECT_EQ(inbox->at(0).from, "agent:a1");
  EXPECT_EQ(inbox->at(0).id, m->id);
  EXPECT_EQ(Bodies(mailbox_->Inbox(As(kBob), "b1")).size(), 1u);  // reading does not consume
  // The bus saw the file written; it is not a second message.
  bus_.Drain();
  EXPECT_EQ(Count(), 1u);
}

TEST_F(MailboxTest, PerSenderOrderIsSendOrderAndIdsSortByTime) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto m = Send(As(kAlice), "b1", "m" + std::to_string(i), "a1");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ids.push_back(m->id);
  }
  auto own = Send(As(kBob), "b1", "from bob");  // the owner may always write
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(Bodies(mailbox_->Inbox(As(kBob), "b1")),
            (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "from bob"}));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));  // same clock instant: still increasing
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
}

TEST_F(MailboxTest, UnknownRecipientIsNotFound) {
  auto m = Send(As(kAlice), "nobody", "x", "a1");
  EXPECT_EQ(m.code(), ENOENT);
  EXPECT_NE(m.status().message().find("agent 'nobody' not found"), std::string::npos) << m.status().message();
  EXPECT_EQ(mailbox_->Inbox(As(kBob), "nobody").code(), ENOENT);
  EXPECT_EQ(mailbox_->Count(As(kBob), "agent:nobody").code(), ENOENT);
}

TEST_F(MailboxTest, DeniedSendLeavesNothingBehind) {
  // eve has no grant; alice herself has none either (only a1 was shared).
  EXPECT_EQ(Send(As(kEve), "b1", "spam").code(), EACCES);
  EXPECT_EQ(Send(As(kAlice), "b1", "not as a1").code(), EACCES);
  // eve may not act as alice's agent.
  EXPECT_EQ(Send(As(kEve), "b1", "spoof", "a1").code(), EACCES);
  EXPECT_EQ(Send(As(kEve), "b1", "spoof", "user:alice").code(), EACCES);
  bus_.Drain();
  EXPECT_TRUE(Names("/agents/b1/inbox").empty());
  EXPECT_EQ(Count(), 0u);
  EXPECT_TRUE(Bodies(mailbox_->Inbox(As(kBob), "b1")).empty());
}

TEST_F(MailboxTest, ReadingAMailboxOneMayNotSeeIsNotFound) {
  ASSERT_TRUE(Send(As(kAlice), "b1", "private", "a1").ok());
  EXPECT_EQ(mailbox_->Inbox(As(kEve), "b1").code(), ENOENT);
  EXPECT_EQ(mailbox_->Count(As(kEve), "b1").code(), ENOENT);
  EXPECT_EQ(mailbox_->Dead(As(kEve), "b1").code(), ENOENT);
}

TEST_F(MailboxTest, DedupByClientIdPerSender) {
  auto first = Send(As(kAlice), "b1", "once", "a1", std::nullopt, "req-7");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = Send(As(kAlice), "b1", "once", "a1", std::nullopt, "req-7");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_EQ(Names("/agents/b1/inbox").size(), 1u);
  // Another sender's id space is its own.
  auto bobs = Send(As(kBob), "b1", "once", "", std::nullopt, "req-7");
  ASSERT_TRUE(bobs.ok()) << bobs.status().ToString();
  EXPECT_NE(bobs->id, first->id);
  EXPECT_EQ(Count(), 2u);
}

TEST_F(MailboxTest, TtlExpiresAtItsInstantIntoDeadLetters) {
  auto m = Send(As(kAlice), "b1", "short-lived", "a1", 10);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto keep = Send(As(kAlice), "b1", "forever", "a1", 0);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->expires_at, kNever);
  EXPECT_EQ(m->expires_at, m->time + 10 * kNanosPerSecond);
  clock_.Set(m->expires_at - 1);
  EXPECT_EQ(Count(), 2u);
  EXPECT_EQ(mailbox_->Sweep(), 0u);
  clock_.Set(m->expires_at);
  EXPECT_EQ(Count(), 1u);  // gone from the inbox at its instant, before any sweep
  EXPECT_EQ(mailbox_->Sweep(), 1u);
  EXPECT_EQ(Bodies(mailbox_->Inbox(As(kBob), "b1")), std::vector<std::string>{"forever"});
  auto dead = mailbox_->Dead(As(kBob), "b1");
  EXPECT_EQ(Bodies(dead), std::vector<std::string>{"short-lived"});
  EXPECT_EQ(dead->at(0).state, MessageState::kDead);
  EXPECT_EQ(Names("/agents/b1/dead_letter"), std::vector<std::string>{m->id});
  bus_.Drain();  // the daemon's move is not re-indexed
  EXPECT_EQ(Count(), 1u);
  EXPECT_EQ(Send(As(kAlice), "b1", "x", "a1", -1).code(), EINVAL);
}

TEST_F(MailboxTest, DeadListsWhatExpiredWithoutASweeper) {
  ASSERT_TRUE(Send(As(kAlice), "b1", "bye", "a1", 1).ok());
  clock_.Advance(1s);
  EXPECT_EQ(Bodies(mailbox_->Dead(As(kBob), "b1")), std::vector<std::string>{"bye"});
}

TEST_F(MailboxTest, AckMovesToProcessed) {
  auto m = Send(As(kAlice), "b1", "do it", "a1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(mailbox_->Ack(As(kBob), "b1", "msg-nope").code(), ENOENT);
  EXPECT_EQ(mailbox_->Ack(As(kEve), "b1", m->id).code(), ENOENT);  // cannot see the inbox
  auto acked = mailbox_->Ack(AsAgent(kBob, "b1"), "agent:b1", m->id);
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(acked->state, MessageState::kProcessed);
  EXPECT_TRUE(Names("/agents/b1/inbox").empty());
  EXPECT_EQ(Names("/agents/b1/processed"), std::vector<std::string>{m->id});
  EXPECT_EQ(Count(), 0u);
  EXPECT_EQ(mailbox_->Ack(As(kBob), "b1", m->id).code(), ENOENT);  // not twice
  bus_.Drain();
  EXPECT_EQ(Count(), 0u);
}

TEST_F(MailboxTest, AFileWrittenOnTheMountIsAMessage) {
  // a1 (alice acting as it, e.g. a per-subject mount) writes a file.
  WriteOptions wo;
  ASSERT_TRUE(
      files_->Write(AsAgent(kAlice, "a1"), "/agents/b1/inbox/hello.txt", "hi from the shell", wo).ok());
  bus_.Drain();
  auto inbox = mailbox_->Inbox(As(kBob), "b1");
  ASSERT_EQ(Bodies(inbox), std::vector<std::string>{"hi from the shell"});
  EXPECT_EQ(inbox->at(0).from, "agent:a1");
  EXPECT_EQ(inbox->at(0).name, "hello.txt");
  EXPECT_EQ(inbox->at(0).id.rfind("msg-", 0), 0u);
  EXPECT_EQ(inbox->at(0).ttl_s, 24 * 3600);
  // Rewriting it is the same message.
  ASSERT_TRUE(files_->Write(AsAgent(kAlice, "a1"), "/agents/b1/inbox/hello.txt", "hi again", wo).ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 1u);
  // eve may not write there: the namespace refuses (she does not even see
  // the folder), nothing is indexed.
  EXPECT_EQ(files_->Write(As(kEve), "/agents/b1/inbox/spam.txt", "x", wo).code(), ENOENT);
  bus_.Drain();
  EXPECT_EQ(Count(), 1u);
  // A move to processed/ on the mount is an ack; it can be acked by name too.
  ASSERT_TRUE(files_->Rename(As(kBob), "/agents/b1/inbox/hello.txt", "/agents/b1/processed/hello.txt").ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 0u);
  EXPECT_EQ(mailbox_->Ack(As(kBob), "b1", "hello.txt").code(), ENOENT);
  // Moved back: delivered again.
  ASSERT_TRUE(files_->Rename(As(kBob), "/agents/b1/processed/hello.txt", "/agents/b1/inbox/hello.txt").ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 1u);
  ASSERT_TRUE(mailbox_->Ack(As(kBob), "b1", "hello.txt").ok());
  // A file removed from the inbox is dropped.
  ASSERT_TRUE(files_->Write(AsAgent(kAlice, "a1"), "/agents/b1/inbox/gone.txt", "x", wo).ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 1u);
  ASSERT_TRUE(files_->Unlink(As(kBob), "/agents/b1/inbox/gone.txt").ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 0u);
}

TEST_F(MailboxTest, BodyThatIsNotUtf8RoundTrips) {
  const std::string body("\xff\xfe\x00\x01 bytes \xc3", 12);
  ASSERT_TRUE(Send(As(kAlice), "b1", body, "a1").ok());
  EXPECT_EQ(Bodies(mailbox_->Inbox(As(kBob), "b1")), std::vector<std::string>{body});
}

TEST_F(MailboxTest, WatchFiresWhenAMessageArrives) {
  std::atomic<int> fired{0};
  uint64_t token = mailbox_->Watch("agent:b1", [&] { ++fired; });
  EXPECT_EQ(fired, 0);
  ASSERT_TRUE(Send(As(kAlice), "b1", "wake", "a1").ok());
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(Send(As(kAlice), "b1", "again", "a1").ok());
  EXPECT_EQ(fired, 1);  // once
  mailbox_->Unwatch(token);
  // Only what arrives after Watch: the inbox being non-empty already is for
  // the listing that follows it.
  uint64_t later = mailbox_->Watch("b1", [&] { ++fired; });
  EXPECT_EQ(fired, 1);
  // A file written on the mount wakes it too (when the bus delivers it).
  WriteOptions wo;
  ASSERT_TRUE(files_->Write(AsAgent(kAlice, "a1"), "/agents/b1/inbox/note.txt", "hey", wo).ok());
  bus_.Drain();
  EXPECT_EQ(fired, 2);
  mailbox_->Unwatch(later);
  // Another mailbox's messages do not wake it.
  std::atomic<int> other{0};
  uint64_t t2 = mailbox_->Watch("a1", [&] { ++other; });
  ASSERT_TRUE(Send(As(kAlice), "b1", "not for a1", "a1").ok());
  EXPECT_EQ(other, 0);
  mailbox_->Unwatch(t2);
}

TEST_F(MailboxTest, ReopenRepairsAgainstTheFolders) {
  auto kept = Send(As(kAlice), "b1", "kept", "a1");
  auto lost = Send(As(kAlice), "b1", "lost", "a1");
  ASSERT_TRUE(kept.ok() && lost.ok());
  bus_.Drain();
  mailbox_.reset();
  // While the daemon was down: a file removed, one added by bob's uid.
  ASSERT_TRUE(files_->Unlink(Daemon(), lost->Path()).ok());
  Caller bob_raw;  // no principal: nobody indexes it now
  bob_raw.uid = bob_raw.gid = kBob;
  WriteOptions wo;
  ASSERT_TRUE(files_->Write(bob_raw, "/agents/b1/inbox/offline.txt", "written offline", wo).ok());
  mailbox_ = OpenMailbox();
  auto inbox = mailbox_->Inbox(As(kBob), "b1");
  EXPECT_EQ(Bodies(inbox), (std::vector<std::string>{"kept", "written offline"}));
  EXPECT_EQ(inbox->at(0).id, kept->id);
  EXPECT_EQ(inbox->at(1).from, "user:bob");
}

TEST_F(MailboxTest, TheDaemonRemovingAFileDropsItsMessage) {
  // What deleting an agent does to its home.
  auto m = Send(As(kAlice), "b1", "x", "a1");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(files_->Unlink(Daemon(), m->Path()).ok());
  bus_.Drain();
  EXPECT_EQ(Count(), 0u);
}

TEST_F(MailboxTest, ForgetDropsAnAgentsMessages) {
  ASSERT_TRUE(Send(As(kAlice), "b1", "x", "a1").ok());
  mailbox_->Forget("b1");
  EXPECT_EQ(Count(), 0u);
}

}  // namespace
}  // namespace nexus
