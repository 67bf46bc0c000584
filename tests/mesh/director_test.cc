#include "mesh/director.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "base/crypto.h"
#include "mesh/etcd_store.h"
#include "mesh/memory_store.h"
#include "mesh/sqlite_store.h"
#include "tests/fs/test_util.h"
#include "tests/mesh/etcd_process.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The etcd runs start a real etcd (skipped, saying so, if it is not installed).
enum class Kind { kMemory, kSqlite, kEtcd };

std::string KindName(Kind k) {
  return k == Kind::kMemory ? "Memory" : k == Kind::kSqlite ? "Sqlite" : "Etcd";
}

class DirectorTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kEtcd) {
      std::string why;
      etcd_ = testing::EtcdProcess::Shared(&why);
      if (etcd_ == nullptr) GTEST_SKIP() << "etcd director tests skipped: " << why;
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      static int n = 0;
      prefix_ =
          "/nexus-test/" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-" + info->name() + "/";
    }
    Reopen();
  }

  // Destroys the director and its store and opens both again (over the
  // same database file for SQLite, the same prefix for etcd).
  void Reopen() {
    director_.reset();
    store_.reset();
    if (GetParam() == Kind::kEtcd) {
      auto s = EtcdStore::Open(&clock_, {.etcd = {.endpoints = {etcd_->endpoint()}}, .prefix = prefix_});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    } else if (GetParam() == Kind::kMemory) {
      store_ = std::make_unique<MemoryStore>(&clock_);
    } else {
      auto s = SqliteStore::Open(dir_.path() + "/mesh.db", &clock_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    }
    auto d = Director::Open(store_.get(), &clock_, Options());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    director_ = std::move(*d);
  }

  DirectorOptions Options() const {
    DirectorOptions o;
    o.registration_key = "registration-secret";
    o.results_dir = dir_.path() + "/results";
    o.heartbeat_timeout = 15s;
    o.lease_ttl = 30s;
    o.retry_backoff_base = 1s;
    o.retry_backoff_cap = 4s;
    return o;
  }

  NodeCredential Join(const std::string& name, TrustTier trust = TrustTier::kTrusted) {
    auto c = director_->Register("registration-secret", name, "http://" + name + ":8080", 4);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    joined_.push_back(*c);
    if (trust == TrustTier::kTrusted) {
      EXPECT_TRUE(director_->SetTrust(c->node_id, trust).ok());
    }
    return *c;
  }

  TaskInfo Submit(const std::string& name, TrustTier required = TrustTier::kTrusted, int max_attempts = 3) {
    TaskSpec spec{name, "echo " + name, "zone-a", required, max_attempts, false};
    auto t = director_->Create(spec, full_key_);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return *t;
  }

  TaskInfo Sched(const std::string& id) {
    auto t = director_->Schedule(id);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return *t;
  }

  TaskState StateOf(const std::string& id) { return director_->GetTask(id)->state; }

  // Moves time on while every joined node keeps heartbeating.
  void AdvanceAlive(Duration d) {
    for (Duration step = std::min<Duration>(d, 10s); d.count() > 0; d -= step) {
      step = std::min(step, d);
      clock_.Advance(step);
      for (const NodeCredential& n : joined_) (void)director_->Heartbeat(n.node_id, n.credential, 0, 4);
    }
  }

  testing::TempDir dir_;
  testing::EtcdProcess* etcd_ = nullptr;
  std::string prefix_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Director> director_;
  std::vector<NodeCredential> joined_;
  Submitter full_key_{"key-full", Submitter::kScopeSubmitTasks, 0};
};

// ---- nodes ----

TEST_P(DirectorTest, RegistrationNeedsTheRegistrationKey) {
  EXPECT_TRUE(director_->ListNodes().empty()) << "a director that is not a worker lists no node";
  EXPECT_EQ(director_->Register("wrong", "peer-b", "http://peer-b:8080", 4).code(), ENOKEY);
  EXPECT_EQ(director_->Register("", "peer-b", "http://peer-b:8080", 4).code(), ENOKEY);
  auto c = director_->Register("registration-secret", "peer-b", "http://peer-b:8080", 4);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(c->node_id, StartsWith("n-"));
  EXPECT_THAT(c->fingerprint, StartsWith("sha256:"));
  EXPECT_GE(c->credential.size(), 64u);
  EXPECT_TRUE(director_->Authenticate(c->node_id, c->credential).ok());
  EXPECT_EQ(director_->Authenticate(c->node_id, c->credential + "x").code(), ENOKEY);
  EXPECT_EQ(director_->Authenticate("n-999", c->credential).code(), ENOKEY);

  auto nodes = director_->ListNodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].id, c->node_id);
  EXPECT_EQ(nodes[0].name, "peer-b");
  EXPECT_EQ(nodes[0].address, "http://peer-b:8080");
  EXPECT_EQ(nodes[0].trust, TrustTier::kUntrusted) << "nodes join untrusted";
  EXPECT_EQ(nodes[0].state, NodeState::kReady);
  EXPECT_EQ(nodes[0].fingerprint, c->fingerprint);

  // The credential itself is never stored: only its hash is.
  for (const KeyValue& kv : store_->Range(""))
    EXPECT_EQ(kv.value.find(c->credential), std::string::npos) << kv.key;
}

TEST_P(DirectorTest, RegistrationValidatesItsArguments) {
  Join("a");
  EXPECT_EQ(director_->Register("registration-secret", "a", "http://x", 1).code(), EEXIST);
  EXPECT_EQ(director_->Register("registration-secret", "", "http://x", 1).code(), EINVAL);
  EXPECT_EQ(director_->Register("registration-secret", "b", "", 1).code(), EINVAL);
  EXPECT_EQ(director_->Register("registration-secret", "b", "http://x", -1).code(), EINVAL);
}

TEST_P(DirectorTest, RotationRefusesTheOldCredential) {
  NodeCredential old = Join("a");
  auto fresh = director_->RotateCredential(old.node_id);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->credential, old.credential);
  EXPECT_NE(fresh->fingerprint, old.fingerprint);
  EXPECT_EQ(director_->Authenticate(old.node_id, old.credential).code(), ENOKEY);
  EXPECT_EQ(director_->Heartbeat(old.node_id, old.credential, 0, 4).code(), ENOKEY);
  EXPECT_TRUE(director_->Authenticate(old.node_id, fresh->credential).ok());
  EXPECT_EQ(director_->GetNode(old.node_id)->fingerprint, fresh->fingerprint);
  EXPECT_EQ(director_->RotateCredential("n-77").code(), ENOENT);
}

TEST_P(DirectorTest, MissedHeartbeatsMarkANodeDown) {
  NodeCredential a = Join("a");
  clock_.Advance(15s);
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kReady);
  clock_.Advance(1ms);
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kDown);
  TaskInfo t = Submit("t");
  EXPECT_EQ(Sched(t.id).reason, "no eligible node: 1 down");
  ASSERT_TRUE(director_->Heartbeat(a.node_id, a.credential, 2, 3).ok());
  auto n = director_->GetNode(a.node_id);
  EXPECT_EQ(n->state, NodeState::kReady);
  EXPECT_EQ(n->queue_depth, 2);
  EXPECT_EQ(n->free_capacity, 3);
  EXPECT_EQ(Sched(t.id).state, TaskState::kAssigned);
}

TEST_P(DirectorTest, ALeavingNodeGetsNoMoreWorkUntilItHeartbeats) {
  NodeCredential a = Join("a");
  NodeCredential b = Join("b");
  EXPECT_EQ(director_->Leave(a.node_id, "not-the-credential").code(), ENOKEY);
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kReady);
  ASSERT_TRUE(director_->Leave(a.node_id, a.credential).ok());
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kDown);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Sched(Submit("t" + std::to_string(i)).id).node_id, b.node_id);
  ASSERT_TRUE(director_->Leave(b.node_id, b.credential).ok());
  EXPECT_EQ(Sched(Submit("none").id).reason, "no eligible node: 2 down");
  ASSERT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 4).ok());  // back
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kReady);
  EXPECT_EQ(Sched(Submit("again").id).node_id, a.node_id);
}

TEST_P(DirectorTest, RevokeBlocksPlacementAndCallsUntilAdmit) {
  NodeCredential a = Join("a");
  TaskInfo running = Sched(Submit("running").id);
  ASSERT_EQ(running.node_id, a.node_id);
  ASSERT_TRUE(director_->Start(running.id, running.lease_token).ok());

  ASSERT_TRUE(director_->Revoke(a.node_id).ok());
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kRevoked);
  EXPECT_EQ(director_->Heartbeat(a.node_id, a.credential, 0, 4).code(), EACCES);
  EXPECT_EQ(director_->Authenticate(a.node_id, a.credential).code(), EACCES);
  // Its work is fenced and back in the queue.
  EXPECT_EQ(director_->Progress(running.id, running.lease_token, "50%", "").code(), ESTALE);
  auto requeued = director_->GetTask(running.id);
  EXPECT_EQ(requeued->state, TaskState::kPending);
  EXPECT_THAT(requeued->reason, HasSubstr("revoked"));
  EXPECT_EQ(Sched(running.id).reason, "no eligible node: 1 revoked");

  ASSERT_TRUE(director_->Admit(a.node_id).ok());
  EXPECT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 4).ok());
  TaskInfo placed = Sched(running.id);
  EXPECT_EQ(placed.state, TaskState::kAssigned);
  EXPECT_EQ(placed.node_id, a.node_id);
}

TEST_P(DirectorTest, DrainStopsNewPlacementsButLetsRunningTasksFinish) {
  NodeCredential a = Join("a");
  TaskInfo t = Sched(Submit("t").id);
  ASSERT_TRUE(director_->Start(t.id, t.lease_token).ok());
  ASSERT_TRUE(director_->Drain(a.node_id).ok());
  EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kDrained);
  EXPECT_EQ(Sched(Submit("u").id).reason, "no eligible node: 1 drained");
  EXPECT_TRUE(director_->Heartbeat(a.node_id, a.credential, 1, 3).ok());
  auto done = director_->Complete(t.id, t.lease_token, {0, "ok", "", {}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
}

// ---- placement ----

TEST_P(DirectorTest, TrustedOnlyByDefaultWithAReasonWhenNothingFits) {
  for (const char* n : {"d1", "d2", "d3"}) ASSERT_TRUE(director_->Drain(Join(n).node_id).ok());
  NodeCredential u = Join("untrusted", TrustTier::kUntrusted);
  TaskInfo t = Submit("needs-trust");
  TaskInfo pending = Sched(t.id);
  EXPECT_EQ(pending.state, TaskState::kPending);
  EXPECT_EQ(pending.reason, "no eligible node: 3 drained, 1 untrusted");
  EXPECT_TRUE(pending.lease_token.empty());

  // A task that accepts untrusted nodes goes to the untrusted one.
  TaskInfo any = Sched(Submit("any", TrustTier::kUntrusted).id);
  EXPECT_EQ(any.state, TaskState::kAssigned);
  EXPECT_EQ(any.node_id, u.node_id);

  ASSERT_TRUE(director_->SetTrust(u.node_id, TrustTier::kTrusted).ok());
  TaskInfo placed = Sched(t.id);
  EXPECT_EQ(placed.state, TaskState::kAssigned);
  EXPECT_EQ(placed.node_id, u.node_id);
  EXPECT_EQ(placed.node_address, "http://untrusted:8080");
  EXPECT_EQ(placed.lease_token.size(), 32u);
  EXPECT_EQ(placed.lease_expires, MeshNow(clock_) + 30s);
  EXPECT_EQ(placed.attempts, 1);
  EXPECT_TRUE(director_->GetTask(t.id)->lease_token.empty()) << "the token is shown only once";
  EXPECT_EQ(director_->Schedule(t.id).code(), EINVAL);
  EXPECT_EQ(director_->Schedule("t-999").code(), ENOENT);
  EXPECT_EQ(Sched(Submit("x").id).reason.empty(), true) << "a second trusted task fits too";
}

TEST_P(DirectorTest, LeastQueueDepthWins) {
  std::map<std::string, NodeCredential> nodes;
  for (auto [name, depth] : {std::pair{"a", 5}, {"b", 1}, {"c", 3}}) {
    nodes[name] = Join(name);
    ASSERT_TRUE(director_->Heartbeat(nodes[name].node_id, nodes[name].credential, depth, 4).ok());
  }
  // Loads a5 b1 c3: b, b, then ties go to the earlier node: b, c, b, c;
  // only then is a (5) among the least loaded.
  std::vector<std::string> order;
  for (int i = 0; i < 7; ++i) order.push_back(Sched(Submit("t" + std::to_string(i)).id).node_id);
  const std::string a = nodes["a"].node_id, b = nodes["b"].node_id, c = nodes["c"].node_id;
  EXPECT_EQ(order, (std::vector<std::string>{b, b, b, c, b, c, a}));
  EXPECT_EQ(director_->GetNode(b)->active_tasks, 4);
  // A heartbeat replaces the estimate with the node's own count.
  ASSERT_TRUE(director_->Heartbeat(nodes["a"].node_id, nodes["a"].credential, 0, 4).ok());
  EXPECT_EQ(Sched(Submit("after").id).node_id, nodes["a"].node_id);
}

TEST_P(DirectorTest, ScheduleAllSpreadsAcrossALargeFleet) {
  for (int i = 0; i < 100; ++i) Join("n" + std::to_string(i));
  for (int i = 0; i < 1000; ++i) Submit("t" + std::to_string(i));
  auto sum = director_->ScheduleAll();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->assigned, 1000u);
  EXPECT_EQ(sum->pending, 0u);
  ASSERT_EQ(sum->placements.size(), 1000u);
  std::set<std::string> tokens;
  for (const TaskInfo& t : sum->placements) tokens.insert(t.lease_token);
  EXPECT_EQ(tokens.size(), 1000u) << "every lease has its own token";
  int64_t max = 0, min = 1 << 30, total = 0;
  for (const NodeInfo& n : director_->ListNodes()) {
    max = std::max(max, n.active_tasks);
    min = std::min(min, n.active_tasks);
    total += n.active_tasks;
  }
  EXPECT_EQ(total, 1000);
  EXPECT_LE(max, 15);  // mean 10; power of two choices keeps the tail short
  EXPECT_GE(min, 4);
}

// Placement batches commit several at a time; when one fails, the ones
// in flight still land and are returned, nothing more is sent, and the
// director's books match the store's.
TEST_P(DirectorTest, PipelinedBatchesLandAndAFailedOneChangesNothing) {
  DirectorOptions o = Options();
  o.schedule_batch = 2;
  o.schedule_pipeline = 3;
  director_.reset();
  auto d = Director::Open(store_.get(), &clock_, o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  director_ = std::move(*d);
  for (int i = 0; i < 3; ++i) Join("n" + std::to_string(i));
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Submit("t" + std::to_string(i)).id);
  // The fifth task's record changes behind the director's back: its batch
  // (the third) fails its compare-and-set.
  auto record = store_->Get("mesh/task/" + ids[4]);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  ASSERT_TRUE(store_->Put(record->key, record->value).ok());

  // What landed is returned, with its tokens, for its holders to hear of.
  auto sum = director_->ScheduleAll();
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->placements.size(), 8u);
  for (const TaskInfo& t : sum->placements) EXPECT_FALSE(t.lease_token.empty()) << t.id;
  std::map<std::string, TaskState> before;
  for (const TaskInfo& t : director_->ListTasks()) before[t.id] = t.state;
  for (int i : {0, 1, 2, 3, 6, 7, 8, 9}) EXPECT_EQ(before[ids[i]], TaskState::kAssigned) << ids[i];
  EXPECT_EQ(before[ids[4]], TaskState::kPending);
  EXPECT_EQ(before[ids[5]], TaskState::kPending) << "in the failed batch";
  int64_t active = 0;
  for (const NodeInfo& n : director_->ListNodes()) active += n.active_tasks;
  EXPECT_EQ(active, 8);

  director_.reset();  // a director loaded from what the store holds
  d = Director::Open(store_.get(), &clock_, Options());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  director_ = std::move(*d);
  for (const TaskInfo& t : director_->ListTasks()) EXPECT_EQ(t.state, before[t.id]) << t.id;
  auto rest = director_->ScheduleAll();
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(rest->assigned, 2u);
}

// ---- leases ----

TEST_P(DirectorTest, LifecycleNeedsTheLeaseToken) {
  Join("a");
  TaskInfo t = Sched(Submit("job").id);
  EXPECT_EQ(director_->Start(t.id, "0123456789abcdef0123456789abcdef").code(), ESTALE);
  EXPECT_EQ(director_->Start(t.id, "").code(), ESTALE);
  EXPECT_EQ(director_->Start("t-999", t.lease_token).code(), ENOENT);
  ASSERT_TRUE(director_->Start(t.id, t.lease_token).ok());
  EXPECT_EQ(StateOf(t.id), TaskState::kRunning);
  ASSERT_TRUE(director_->Progress(t.id, t.lease_token, "step 2/3", "ckpt-1").ok());
  EXPECT_EQ(director_->GetTask(t.id)->progress, "step 2/3");
  EXPECT_EQ(director_->GetTask(t.id)->checkpoint_ref, "ckpt-1");
  EXPECT_EQ(director_->Complete(t.id, "bad", {0, "", "", {}}).code(), ESTALE);
  auto done = director_->Complete(t.id, t.lease_token, {0, "out", "err", {}});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_TRUE(done->node_id.empty()) << "a terminal task holds no lease";
  EXPECT_EQ(done->lease_expires, TimePoint{});
  EXPECT_EQ(director_->Start(t.id, t.lease_token).code(), ESTALE);
  EXPECT_EQ(store_->Range("mesh/lease/").size(), 0u);
}

TEST_P(DirectorTest, ExtendKeepsTheLeaseAlive) {
  Join("a");
  TaskInfo t = Sched(Submit("long").id);
  clock_.Advance(20s);
  auto until = director_->Extend(t.id, t.lease_token, 30s);
  ASSERT_TRUE(until.ok());
  EXPECT_EQ(*until, MeshNow(clock_) + 30s);
  EXPECT_EQ(director_->Extend(t.id, t.lease_token, 0s).code(), EINVAL);
  EXPECT_EQ(director_->Extend(t.id, "nope", 30s).code(), ESTALE);
  clock_.Advance(20s);  // past the first deadline
  director_->Tick(MeshNow(clock_));
  EXPECT_EQ(StateOf(t.id), TaskState::kAssigned);
  clock_.Advance(10s);  // past the extended one
  EXPECT_EQ(director_->Start(t.id, t.lease_token).code(), ESTALE) << "expired even before a tick";
  director_->Tick(MeshNow(clock_));
  EXPECT_EQ(StateOf(t.id), TaskState::kPending);
}

// A standby taking over (Reload, then ExtendActiveLeases) keeps a running
// task's attempt: its lease ends one TTL after the takeover, not at the
// deadline the old leader gave it.
TEST_P(DirectorTest, TakeOverExtendsRunningLeasesBeforeExpiringAny) {
  Join("a");
  TaskInfo t = Sched(Submit("through-failover").id);
  ASSERT_TRUE(director_->Start(t.id, t.lease_token).ok());
  auto standby = Director::Open(store_.get(), &clock_, Options());
  ASSERT_TRUE(standby.ok()) << standby.status().ToString();
  clock_.Advance(25s);  // the old leader stopped extending
  director_.reset();
  ASSERT_TRUE((*standby)->Reload().ok());
  auto extended = (*standby)->ExtendActiveLeases();
  ASSERT_TRUE(extended.ok()) << extended.status().ToString();
  EXPECT_EQ(*extended, 1u);
  clock_.Advance(10s);  // past the old deadline
  (*standby)->Tick(MeshNow(clock_));
  auto after = (*standby)->GetTask(t.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, TaskState::kRunning);
  EXPECT_EQ(after->attempts, 1);
  ASSERT_TRUE((*standby)->Complete(t.id, t.lease_token, {0, "done", "", {}}).ok())
      << "the holder's token still counts under the new leader";
  EXPECT_EQ((*standby)->GetTask(t.id)->attempts, 1);
}

TEST_P(DirectorTest, ExpiredLeasesRetryWithBackoffUntilMaxAttempts) {
  NodeCredential a = Join("a");
  TaskInfo t = Submit("flaky", TrustTier::kTrusted, 3);
  std::vector<Duration> backoffs;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    TaskInfo placed = Sched(t.id);
    ASSERT_EQ(placed.state, TaskState::kAssigned) << placed.reason;
    ASSERT_EQ(placed.attempts, attempt);
    AdvanceAlive(30s);
    director_->Tick(MeshNow(clock_));
    TaskInfo after = *director_->GetTask(t.id);
    if (attempt < 3) {
      ASSERT_EQ(after.state, TaskState::kPending);
      EXPECT_THAT(after.reason, HasSubstr("lease expired"));
      // The holder let the lease lapse: down until it is heard from again.
      EXPECT_EQ(director_->GetNode(a.node_id)->state, NodeState::kDown);
      backoffs.push_back(std::chrono::duration_cast<Duration>(after.not_before - MeshNow(clock_)));
      EXPECT_EQ(Sched(t.id).state, TaskState::kPending) << "still backing off";
      clock_.Set(ToUnixNanos(after.not_before));
      EXPECT_EQ(Sched(t.id).reason, "no eligible node: 1 down");
      ASSERT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 4).ok());
    } else {
      EXPECT_EQ(after.state, TaskState::kFailed);
      EXPECT_THAT(after.reason, StartsWith("max attempts reached"));
    }
  }
  EXPECT_EQ(backoffs, (std::vector<Duration>{1s, 2s}));

  // Retry re-queues with a fresh attempt count.
  auto retried = director_->Retry(t.id);
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried->state, TaskState::kPending);
  EXPECT_EQ(retried->attempts, 0);
  ASSERT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 4).ok());
  EXPECT_EQ(Sched(t.id).attempts, 1);
  EXPECT_EQ(director_->Retry(t.id).code(), EINVAL);
}

TEST_P(DirectorTest, BackoffIsCapped) {
  Join("a");
  TaskInfo t = Submit("flaky", TrustTier::kTrusted, 10);
  Duration last{};
  for (int attempt = 1; attempt <= 6; ++attempt) {
    TaskInfo placed = Sched(t.id);
    ASSERT_TRUE(director_->Fail(t.id, placed.lease_token, "sandbox error").ok());
    TaskInfo after = *director_->GetTask(t.id);
    ASSERT_EQ(after.state, TaskState::kPending);
    EXPECT_THAT(after.reason, HasSubstr("sandbox error"));
    last = std::chrono::duration_cast<Duration>(after.not_before - MeshNow(clock_));
    clock_.Set(ToUnixNanos(after.not_before));
  }
  EXPECT_EQ(last, 4s);
}

TEST_P(DirectorTest, StaleTokenReplayAfterReassignmentIsFenced) {
  Join("a");
  Join("b");
  TaskInfo first = Sched(Submit("job").id);
  ASSERT_TRUE(director_->Start(first.id, first.lease_token).ok());
  AdvanceAlive(31s);
  director_->Tick(MeshNow(clock_));
  AdvanceAlive(1s);  // back-off
  TaskInfo second = Sched(first.id);
  ASSERT_EQ(second.state, TaskState::kAssigned);
  ASSERT_NE(second.lease_token, first.lease_token);
  // The first holder comes back and replays everything it had.
  EXPECT_EQ(director_->Start(first.id, first.lease_token).code(), ESTALE);
  EXPECT_EQ(director_->Progress(first.id, first.lease_token, "x", "").code(), ESTALE);
  EXPECT_EQ(director_->Extend(first.id, first.lease_token, 30s).code(), ESTALE);
  EXPECT_EQ(director_->Fail(first.id, first.lease_token, "x").code(), ESTALE);
  EXPECT_EQ(director_->Migrate(first.id, first.lease_token, "c").code(), ESTALE);
  EXPECT_EQ(director_->Complete(first.id, first.lease_token, {0, "stale", "", {}}).code(), ESTALE);
  EXPECT_FALSE(director_->GetTask(first.id)->has_result);
  EXPECT_TRUE(director_->Start(second.id, second.lease_token).ok());
  // The old lease's expiry event must not disturb the new lease.
  director_->Tick(MeshNow(clock_));
  EXPECT_EQ(StateOf(first.id), TaskState::kRunning);
}

TEST_P(DirectorTest, MigrateMovesWithACheckpointAndFencesTheOldToken) {
  NodeCredential a = Join("a");
  NodeCredential b = Join("b");
  TaskInfo t = Sched(Submit("job").id);
  ASSERT_TRUE(director_->Start(t.id, t.lease_token).ok());
  auto moved = director_->Migrate(t.id, t.lease_token, "git:abc123");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->state, TaskState::kAssigned);
  EXPECT_NE(moved->node_id, t.node_id);
  EXPECT_EQ(moved->checkpoint_ref, "git:abc123");
  EXPECT_EQ(moved->attempts, 1) << "a migration is not a failed attempt";
  EXPECT_FALSE(moved->lease_token.empty());
  EXPECT_EQ(director_->Start(t.id, t.lease_token).code(), ESTALE);
  ASSERT_TRUE(director_->Start(t.id, moved->lease_token).ok());
  EXPECT_EQ(director_->GetNode(t.node_id)->active_tasks, 0);
  EXPECT_EQ(director_->GetNode(moved->node_id)->active_tasks, 1);

  // With no other node it goes back to the queue, checkpoint kept.
  ASSERT_TRUE(director_->Drain(t.node_id).ok());
  auto stuck = director_->Migrate(t.id, moved->lease_token, "git:def456");
  ASSERT_TRUE(stuck.ok());
  EXPECT_EQ(stuck->state, TaskState::kPending);
  EXPECT_EQ(stuck->reason, "migrating: no eligible node: 1 drained");
  EXPECT_EQ(stuck->checkpoint_ref, "git:def456");
  EXPECT_TRUE(stuck->lease_token.empty());
}

TEST_P(DirectorTest, CancelFencesTheLease) {
  Join("a");
  TaskInfo t = Sched(Submit("job").id);
  auto c = director_->Cancel(t.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
  EXPECT_EQ(director_->Start(t.id, t.lease_token).code(), ESTALE);
  EXPECT_TRUE(director_->Cancel(t.id).ok());
  EXPECT_EQ(director_->GetNode(t.node_id)->active_tasks, 0);
  TaskInfo done = Sched(Submit("done").id);
  ASSERT_TRUE(director_->Complete(done.id, done.lease_token, {0, "", "", {}}).ok());
  EXPECT_EQ(director_->Cancel(done.id).code(), EINVAL);
  EXPECT_EQ(director_->Retry(t.id)->state, TaskState::kPending);
}

// ---- results ----

TEST_P(DirectorTest, ResultsAreStoredWithVerifiableHashes) {
  Join("a");
  TaskInfo t = Sched(Submit("build").id);
  TaskOutput out{
      3, "compiling\n", "error: x\n", {{"report.txt", "3 errors"}, {"bin", std::string("\0\1\2", 3)}}};
  auto done = director_->Complete(t.id, t.lease_token, out);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, "exit code 3");
  EXPECT_TRUE(done->has_result);

  auto r = director_->GetResult(t.id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  ASSERT_EQ(r->files.size(), 4u);
  std::map<std::string, std::string> want = {{"stdout", out.stdout_data},
                                             {"stderr", out.stderr_data},
                                             {"files/report.txt", "3 errors"},
                                             {"files/bin", std::string("\0\1\2", 3)}};
  for (const ResultFile& f : r->files) {
    SCOPED_TRACE(f.name);
    ASSERT_TRUE(want.count(f.name));
    EXPECT_EQ(f.size, want[f.name].size());
    EXPECT_EQ(f.sha256, Sha256Hex(want[f.name]));
    EXPECT_THAT(f.path, StartsWith(dir_.path() + "/results/" + t.id + "/"));
    EXPECT_EQ(*director_->ReadResultFile(t.id, f.name), want[f.name]);
  }
  EXPECT_EQ(director_->ReadResultFile(t.id, "files/none").code(), ENOENT);

  // A tampered file no longer verifies.
  std::ofstream(r->files[0].path, std::ios::trunc) << "tampered";
  EXPECT_EQ(director_->ReadResultFile(t.id, r->files[0].name).code(), EIO);

  // Retried and completed again: the new result replaces the old one.
  ASSERT_TRUE(director_->Retry(t.id).ok());
  TaskInfo again = Sched(t.id);
  ASSERT_TRUE(director_->Complete(again.id, again.lease_token, {0, "fine", "", {}}).ok());
  EXPECT_EQ(*director_->ReadResultFile(t.id, "stdout"), "fine");
  EXPECT_FALSE(std::filesystem::exists(r->files[0].path)) << "the old result dir is removed";
  EXPECT_EQ(StateOf(t.id), TaskState::kSucceeded);
}

TEST_P(DirectorTest, ResultFileNamesAreChecked) {
  Join("a");
  TaskInfo t = Sched(Submit("job").id);
  for (const char* bad : {"", ".", "..", "../x", "/abs", "a//b", "a/", "a/./b", "a/../b"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(director_->Complete(t.id, t.lease_token, {0, "", "", {{bad, "x"}}}).code(), EINVAL);
  }
  EXPECT_EQ(director_->Complete(t.id, t.lease_token, {0, "", "", {{"a", "1"}, {"a", "2"}}}).code(), EINVAL);
  // A file cannot also be a directory of another.
  EXPECT_EQ(
      director_->Complete(t.id, t.lease_token, {0, "", "", {{"a", "1"}, {"a-b", "2"}, {"a/b", "3"}}}).code(),
      EINVAL);
  EXPECT_EQ(StateOf(t.id), TaskState::kAssigned);
  EXPECT_EQ(director_->GetResult(t.id).code(), ENOENT);
}

// The one zone-name rule: a task's zone becomes a path under /zone on the
// node, so "../x" must never get that far.
TEST_P(DirectorTest, TaskZonesFollowTheZoneNameRule) {
  for (const char* bad : {"../etc", "a/b", "root", ".hidden", "x.lock"}) {
    TaskSpec spec{"t", "true", bad, TrustTier::kTrusted, 3, false};
    EXPECT_EQ(director_->Create(spec, full_key_).code(), EINVAL) << bad;
  }
  TaskSpec spec{"t", "true", "local", TrustTier::kTrusted, 3, false};
  EXPECT_TRUE(director_->Create(spec, full_key_).ok());
}

// ---- zones ----

TEST_P(DirectorTest, TasksGoOnlyToNodesThatHaveTheirZone) {
  auto with = [&](const std::string& name, std::vector<std::string> zones) {
    auto c = director_->Register("registration-secret", name, "http://" + name, 4, std::move(zones));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(director_->SetTrust(c->node_id, TrustTier::kTrusted).ok());
    joined_.push_back(*c);
    return *c;
  };
  NodeCredential a = with("a", {"zone-a", "shared"});
  NodeCredential b = with("b", {"shared"});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Sched(Submit("in-a" + std::to_string(i)).id).node_id, a.node_id);
  // b is less loaded now: a task of a zone both have goes there.
  TaskSpec shared{"s", "true", "shared", TrustTier::kTrusted, 3, false};
  EXPECT_EQ(Sched(director_->Create(shared, full_key_)->id).node_id, b.node_id);

  // A zone no node has: pending, saying so, until a node reports it.
  TaskSpec nowhere{"n", "true", "zone-c", TrustTier::kTrusted, 3, false};
  TaskInfo t = *director_->Create(nowhere, full_key_);
  TaskInfo pending = Sched(t.id);
  EXPECT_EQ(pending.state, TaskState::kPending);
  EXPECT_EQ(pending.reason, "no ready node has zone 'zone-c'");
  auto sum = director_->ScheduleAll();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->assigned, 0u);
  EXPECT_EQ(director_->GetTask(t.id)->reason, "no ready node has zone 'zone-c'");
  ASSERT_TRUE(
      director_->Heartbeat(b.node_id, b.credential, 0, 4, std::vector<std::string>{"shared", "zone-c"}).ok());
  EXPECT_EQ(director_->GetNode(b.node_id)->zones.names, (std::vector<std::string>{"shared", "zone-c"}));
  TaskInfo placed = Sched(t.id);
  EXPECT_EQ(placed.state, TaskState::kAssigned);
  EXPECT_EQ(placed.node_id, b.node_id);

  // Only an untrusted node has it: the reason says so.
  auto u = director_->Register("registration-secret", "u", "http://u", 4, std::vector<std::string>{"zone-u"});
  ASSERT_TRUE(u.ok());
  TaskSpec in_u{"u", "true", "zone-u", TrustTier::kTrusted, 3, false};
  EXPECT_EQ(Sched(director_->Create(in_u, full_key_)->id).reason,
            "no ready trusted node has zone 'zone-u' (an untrusted one has)");

  // A node that does not report zones (an older build) takes any.
  NodeCredential old = Join("old");
  EXPECT_FALSE(director_->GetNode(old.node_id)->zones.reported);
  ASSERT_TRUE(director_->Drain(a.node_id).ok());
  ASSERT_TRUE(director_->Drain(b.node_id).ok());
  TaskSpec anywhere{"x", "true", "zone-x", TrustTier::kTrusted, 3, false};
  EXPECT_EQ(Sched(director_->Create(anywhere, full_key_)->id).node_id, old.node_id);
}

TEST_P(DirectorTest, MigrationStaysInTheZone) {
  auto with = [&](const std::string& name, std::vector<std::string> zones) {
    auto c = director_->Register("registration-secret", name, "http://" + name, 4, std::move(zones));
    EXPECT_TRUE(director_->SetTrust(c->node_id, TrustTier::kTrusted).ok());
    return *c;
  };
  NodeCredential a = with("a", {"zone-a"});
  with("b", {"zone-b"});
  TaskInfo t = Sched(Submit("job").id);
  ASSERT_EQ(t.node_id, a.node_id);
  auto moved = director_->Migrate(t.id, t.lease_token, "ckpt-1");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->state, TaskState::kPending);
  EXPECT_EQ(moved->reason, "migrating: no ready node has zone 'zone-a'");
}

TEST_P(DirectorTest, ZoneReportsAreChecked) {
  EXPECT_EQ(
      director_->Register("registration-secret", "bad", "http://bad", 1, std::vector<std::string>{"../x"})
          .code(),
      EINVAL);
  NodeCredential a = Join("a");
  EXPECT_EQ(director_->Heartbeat(a.node_id, a.credential, 0, 1, std::vector<std::string>{"a/b"}).code(),
            EINVAL);
  std::vector<std::string> many(Director::kMaxNodeZones + 1, "z");
  EXPECT_EQ(director_->Heartbeat(a.node_id, a.credential, 0, 1, many).code(), EINVAL);
  EXPECT_EQ(director_->Heartbeat(a.node_id, "wrong", 0, 1, std::vector<std::string>{"z"}).code(), ENOKEY);
  EXPECT_FALSE(director_->GetNode(a.node_id)->zones.reported) << "a refused report changes nothing";
  // An empty report is a report: the node has no zone at all.
  ASSERT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 1, std::vector<std::string>{}).ok());
  EXPECT_TRUE(director_->GetNode(a.node_id)->zones.reported);
  EXPECT_EQ(Sched(Submit("t").id).reason, "no ready node has zone 'zone-a'");
}

// ---- declared outputs ----

TEST(OutputPathsTest, RelativeUniqueAndBounded) {
  for (const char* good : {"out.txt", "a/b.txt", "dir/sub/file", "..x", "x.."}) {
    EXPECT_TRUE(ValidateOutputPath(good).ok()) << good;
  }
  for (std::string bad : std::vector<std::string>{
           "", "/etc/passwd", "../x", "a/../b", "./a", "a//b", "a/", std::string("a\0b", 3), "a\nb",
           std::string(kMaxOutputPathBytes + 1, 'x'), std::string(256, 'y')}) {
    EXPECT_EQ(ValidateOutputPath(bad).code(), EINVAL) << bad;
  }
  EXPECT_TRUE(ValidateOutputPaths({"a/b.txt", "b.txt", "a-b", "a.b/c"}).ok());
  EXPECT_EQ(ValidateOutputPaths({"a.txt", "a.txt"}).code(), EINVAL);
  EXPECT_EQ(ValidateOutputPaths({"a", "a-1", "a.x", "a/b"}).code(), EINVAL) << "a is a directory of a/b";
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxTaskOutputs; ++i) many.push_back("f" + std::to_string(i));
  EXPECT_EQ(ValidateOutputPaths(many).code(), EINVAL);
  many.pop_back();
  EXPECT_TRUE(ValidateOutputPaths(many).ok());
}

TEST_P(DirectorTest, DeclaredOutputsAreStoredByTheirPathsAndMissingOnesListed) {
  Join("a");
  TaskSpec bad{"t", "true", "zone-a", TrustTier::kTrusted, 3, false, {"../secret"}};
  EXPECT_EQ(director_->Create(bad, full_key_).code(), EINVAL);
  TaskSpec spec{"t", "true", "zone-a", TrustTier::kTrusted, 3, false, {"a/b.txt", "b.txt", "gone.txt"}};
  TaskInfo created = *director_->Create(spec, full_key_);
  EXPECT_EQ(director_->GetTask(created.id)->spec.outputs, spec.outputs);
  TaskInfo t = Sched(created.id);
  TaskOutput out{0, "out", "err", {{"a/b.txt", "nested"}, {"b.txt", "flat"}}, {{"gone.txt", "no such file"}}};
  auto done = director_->Complete(t.id, t.lease_token, out);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(done->reason, "1 declared output(s) not collected (see the result)");
  auto r = director_->GetResult(t.id);
  ASSERT_TRUE(r.ok());
  std::map<std::string, std::string> files;
  for (const ResultFile& f : r->files) files[f.name] = *director_->ReadResultFile(t.id, f.name);
  EXPECT_EQ(files,
            (std::map<std::string, std::string>{
                {"stdout", "out"}, {"stderr", "err"}, {"files/a/b.txt", "nested"}, {"files/b.txt", "flat"}}));
  EXPECT_EQ(r->missing, out.missing);
}

// ---- node submissions ----

TEST_P(DirectorTest, NodesSubmitOnlyWhenAllowedAndWithinTheirQuota) {
  NodeCredential n = Join("worker");
  TaskSpec spec{"wf", "true", "local", TrustTier::kTrusted, 3, false};
  auto refused = director_->CreateFromNode(n.node_id, n.credential, spec, "alice (workflow:build)");
  EXPECT_EQ(refused.code(), EACCES);
  EXPECT_THAT(refused.status().message(), HasSubstr("may not submit"));
  EXPECT_EQ(director_->SetNodeSubmit("n-999", true, 0).code(), ENOENT);
  EXPECT_EQ(director_->SetNodeSubmit(n.node_id, true, -1).code(), EINVAL);
  ASSERT_TRUE(director_->SetNodeSubmit(n.node_id, true, 2).ok());
  EXPECT_TRUE(director_->GetNode(n.node_id)->may_submit);
  EXPECT_EQ(director_->CreateFromNode(n.node_id, "wrong", spec, "x").code(), ENOKEY);
  auto t = director_->CreateFromNode(n.node_id, n.credential, spec, "alice (workflow:build)");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->submitter, "node:" + n.node_id);
  EXPECT_EQ(t->on_behalf, "alice (workflow:build)");
  EXPECT_EQ(Sched(t->id).state, TaskState::kAssigned) << "placed like any other";
  ASSERT_TRUE(director_->CreateFromNode(n.node_id, n.credential, spec, "alice").ok());
  EXPECT_EQ(director_->CreateFromNode(n.node_id, n.credential, spec, "alice").code(), EDQUOT);
  clock_.Advance(61min);
  EXPECT_TRUE(director_->CreateFromNode(n.node_id, n.credential, spec, "alice").ok());
  // Denied again: refused on the next call; a revoked node too.
  ASSERT_TRUE(director_->SetNodeSubmit(n.node_id, false, 0).ok());
  EXPECT_EQ(director_->CreateFromNode(n.node_id, n.credential, spec, "alice").code(), EACCES);
  ASSERT_TRUE(director_->SetNodeSubmit(n.node_id, true, 0).ok());
  ASSERT_TRUE(director_->Revoke(n.node_id).ok());
  EXPECT_EQ(director_->CreateFromNode(n.node_id, n.credential, spec, "alice").code(), EACCES);
}

// ---- entitlements ----

TEST_P(DirectorTest, KeyScopesAndHourlyQuota) {
  TaskSpec spec{"t", "true", "zone-a", TrustTier::kTrusted, 3, false};
  Submitter scoped{"key-copilot", 0, 0};
  EXPECT_EQ(director_->Create(spec, scoped).code(), EACCES);

  Submitter limited{"key-limited", Submitter::kScopeSubmitTasks, 3};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(director_->Create(spec, limited).ok());
    clock_.Advance(10min);
  }
  auto over = director_->Create(spec, limited);
  EXPECT_EQ(over.code(), EDQUOT);
  EXPECT_THAT(over.status().message(), HasSubstr("next in 1800 s"));
  EXPECT_TRUE(director_->Create(spec, full_key_).ok()) << "quotas are per key";
  // Sliding window: the first submission leaves it an hour after it was made.
  clock_.Advance(30min);
  EXPECT_TRUE(director_->Create(spec, limited).ok());
  EXPECT_EQ(director_->Create(spec, limited).code(), EDQUOT);

  TaskSpec bad = spec;
  bad.max_attempts = 0;
  EXPECT_EQ(director_->Create(bad, full_key_).code(), EINVAL);
  bad = spec;
  bad.command = "";
  EXPECT_EQ(director_->Create(bad, full_key_).code(), EINVAL);
}

// ---- persistence ----

// Restart tests: only the durable store can pass them.
class DirectorRestartTest : public DirectorTest {};

TEST_P(DirectorRestartTest, StateSurvivesRestart) {
  NodeCredential a = Join("a");
  NodeCredential b = Join("b", TrustTier::kUntrusted);
  NodeCredential c = Join("c");
  ASSERT_TRUE(director_->Revoke(c.node_id).ok());
  TaskInfo live = Sched(Submit("live").id);
  ASSERT_TRUE(director_->Start(live.id, live.lease_token).ok());
  TaskInfo done = Sched(Submit("done").id);
  ASSERT_TRUE(director_->Complete(done.id, done.lease_token, {0, "hello", "", {{"f", "data"}}}).ok());
  TaskInfo queued = Submit("queued", TrustTier::kTrusted);
  Submitter limited{"key-limited", Submitter::kScopeSubmitTasks, 1};
  ASSERT_TRUE(director_->Create({"q", "true", "z", TrustTier::kTrusted, 1, false}, limited).ok());
  ASSERT_TRUE(
      director_->Heartbeat(a.node_id, a.credential, 0, 4, std::vector<std::string>{"zone-a", "z"}).ok());
  ASSERT_TRUE(director_->SetNodeSubmit(b.node_id, true, 7).ok());
  TaskSpec with_outputs{"o", "true", "zone-a", TrustTier::kTrusted, 3, false, {"out/x.txt"}};
  TaskInfo outputs = *director_->CreateFromNode(b.node_id, b.credential, with_outputs, "bob (workflow:w)");
  const std::vector<NodeInfo> nodes_before = director_->ListNodes();

  clock_.Advance(5s);
  Reopen();

  EXPECT_EQ(director_->GetNode(a.node_id)->zones, NodeZones::Of({"z", "zone-a"})) << "zones survive";
  EXPECT_FALSE(director_->GetNode(c.node_id)->zones.reported);
  EXPECT_TRUE(director_->GetNode(b.node_id)->may_submit);
  EXPECT_EQ(director_->GetNode(b.node_id)->submit_hourly_quota, 7);
  EXPECT_EQ(director_->GetTask(outputs.id)->spec.outputs, with_outputs.outputs);
  EXPECT_EQ(director_->GetTask(outputs.id)->on_behalf, "bob (workflow:w)");
  EXPECT_EQ(director_->GetTask(outputs.id)->submitter, "node:" + b.node_id);

  std::vector<NodeInfo> nodes = director_->ListNodes();
  ASSERT_EQ(nodes.size(), 3u);
  for (size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(nodes[i].id, nodes_before[i].id);
    EXPECT_EQ(nodes[i].name, nodes_before[i].name);
    EXPECT_EQ(nodes[i].trust, nodes_before[i].trust);
    EXPECT_EQ(nodes[i].fingerprint, nodes_before[i].fingerprint);
  }
  EXPECT_EQ(director_->GetNode(c.node_id)->state, NodeState::kRevoked);
  EXPECT_EQ(director_->GetNode(b.node_id)->trust, TrustTier::kUntrusted);
  EXPECT_TRUE(director_->Heartbeat(a.node_id, a.credential, 0, 4).ok()) << "credentials survive";
  EXPECT_EQ(director_->GetNode(a.node_id)->active_tasks, 1);

  // The valid lease is honoured with the same token and deadline.
  auto l = director_->GetTask(live.id);
  EXPECT_EQ(l->state, TaskState::kRunning);
  EXPECT_EQ(l->lease_expires, live.lease_expires);
  EXPECT_TRUE(director_->Progress(live.id, live.lease_token, "resumed", "").ok());
  EXPECT_EQ(*director_->ReadResultFile(done.id, "files/f"), "data");
  EXPECT_EQ(*director_->ReadResultFile(done.id, "stdout"), "hello");
  EXPECT_EQ(StateOf(queued.id), TaskState::kPending);
  EXPECT_EQ(director_->Create({"q", "true", "z", TrustTier::kTrusted, 1, false}, limited).code(), EDQUOT)
      << "the quota window survives too";
  // New ids continue after the old ones.
  EXPECT_NE(Submit("next").id, queued.id);
  auto d = director_->Register("registration-secret", "d", "http://d", 1);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->node_id, c.node_id);

  // The lease still expires on time after the restart.
  clock_.Set(ToUnixNanos(live.lease_expires));
  director_->Tick(MeshNow(clock_));
  EXPECT_EQ(StateOf(live.id), TaskState::kPending);
  EXPECT_EQ(director_->Progress(live.id, live.lease_token, "x", "").code(), ESTALE);
}

TEST_P(DirectorRestartTest, LeaseThatEndsWhileTheDirectorIsDownIsExpiredAtTheNextTick) {
  Join("a");
  TaskInfo t = Sched(Submit("job").id);
  director_.reset();
  store_.reset();
  clock_.Advance(10min);
  Reopen();
  EXPECT_EQ(director_->Start(t.id, t.lease_token).code(), ESTALE);
  director_->Tick(MeshNow(clock_));
  auto after = director_->GetTask(t.id);
  EXPECT_EQ(after->state, TaskState::kPending);
  EXPECT_THAT(after->reason, HasSubstr("lease expired"));
  EXPECT_EQ(director_->GetNode(t.node_id)->active_tasks, 0);
}

// ---- concurrency ----

TEST_P(DirectorTest, ConcurrentCallsKeepTheBooksStraight) {
  std::vector<NodeCredential> nodes;
  for (int i = 0; i < 8; ++i) nodes.push_back(Join("n" + std::to_string(i)));
  constexpr int kSubmitters = 3, kEach = 100;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubmitters; ++s)
    threads.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) Submit("s" + std::to_string(s) + "-" + std::to_string(i));
    });
  std::thread scheduler([&] {
    while (!stop) ASSERT_TRUE(director_->ScheduleAll().ok());
  });
  std::thread heartbeats([&] {
    while (!stop)
      for (const auto& n : nodes) ASSERT_TRUE(director_->Heartbeat(n.node_id, n.credential, 0, 4).ok());
  });
  for (auto& t : threads) t.join();
  stop = true;
  scheduler.join();
  heartbeats.join();
  ASSERT_TRUE(director_->ScheduleAll().ok());

  std::vector<TaskInfo> tasks = director_->ListTasks();
  ASSERT_EQ(tasks.size(), size_t{kSubmitters * kEach});
  std::set<std::string> ids;
  for (const TaskInfo& t : tasks) {
    ids.insert(t.id);
    EXPECT_EQ(t.state, TaskState::kAssigned);
    EXPECT_EQ(t.attempts, 1);
  }
  EXPECT_EQ(ids.size(), tasks.size());
  int64_t active = 0;
  for (const NodeInfo& n : director_->ListNodes()) active += n.active_tasks;
  EXPECT_EQ(active, kSubmitters * kEach);
  EXPECT_EQ(store_->Range("mesh/lease/").size(), size_t{kSubmitters * kEach});
}

INSTANTIATE_TEST_SUITE_P(Durable, DirectorRestartTest, ::testing::Values(Kind::kSqlite, Kind::kEtcd),
                         [](const auto& info) { return KindName(info.param); });
INSTANTIATE_TEST_SUITE_P(Stores, DirectorTest, ::testing::Values(Kind::kMemory, Kind::kSqlite, Kind::kEtcd),
                         [](const auto& info) { return KindName(info.param); });

TEST(DirectorOpenTest, RequiresKeyAndResultsDir) {
  ManualClock clock;
  MemoryStore store(&clock);
  EXPECT_EQ(Director::Open(&store, &clock, {}).code(), EINVAL);
  DirectorOptions o;
  o.registration_key = "k";
  EXPECT_EQ(Director::Open(&store, &clock, o).code(), EINVAL);
}

// A store whose next task write has an unknown outcome, as an etcd call
// cut off by a quorum loss: EAGAIN, after committing or without.
class InDoubtStore final : public MemoryStore {
 public:
  enum class Next { kNormal, kCommitThenLose, kLose };
  using MemoryStore::MemoryStore;
  Next next = Next::kNormal;
  Result<int64_t> Commit(std::vector<Op> ops) override {
    const bool task_write =
        std::any_of(ops.begin(), ops.end(), [](const Op& op) { return op.key.starts_with("mesh/task/"); });
    const Next now = task_write ? std::exchange(next, Next::kNormal) : Next::kNormal;
    if (now == Next::kLose) return Status::Error(EAGAIN, "etcd unavailable: request timed out");
    auto rev = MemoryStore::Commit(std::move(ops));
    if (now == Next::kCommitThenLose && rev.ok())
      return Status::Error(EAGAIN, "etcd unavailable: request timed out");
    return rev;
  }
};

class DirectorInDoubtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DirectorOptions o;
    o.registration_key = "k";
    o.results_dir = dir_.path() + "/results";
    o.lease_ttl = 30s;
    auto d = Director::Open(&store_, &clock_, o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    director_ = std::move(*d);
  }
  Result<TaskInfo> Create(const std::string& name) {
    return director_->Create({name, "true", "local", TrustTier::kTrusted, 3, false}, key_);
  }
  size_t Named(const std::string& name) {
    size_t n = 0;
    for (const TaskInfo& t : director_->ListTasks()) n += t.spec.name == name;
    size_t stored = 0;
    for (const KeyValue& kv : store_.Range("mesh/task/")) stored += kv.value.find(name) != std::string::npos;
    EXPECT_EQ(n, stored) << "the director's view and the store differ on " << name;
    return n;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  InDoubtStore store_{&clock_};
  std::unique_ptr<Director> director_;
  Submitter key_{"key", Submitter::kScopeSubmitTasks, 0};
};

TEST_F(DirectorInDoubtTest, RetryOfACreateThatCommittedAnswersWithThatTask) {
  store_.next = InDoubtStore::Next::kCommitThenLose;
  auto first = Create("job");
  ASSERT_EQ(first.code(), EAGAIN);
  EXPECT_TRUE(director_->ListTasks().empty());  // not known yet (the store has it)
  auto retried = Create("job");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->id, "t-1");
  EXPECT_EQ(Named("job"), 1u);
  // Ids move on; nothing else is in doubt.
  auto other = Create("other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->id, "t-2");
}

TEST_F(DirectorInDoubtTest, RetryOfACreateThatDidNotCommitCreatesItOnce) {
  store_.next = InDoubtStore::Next::kLose;
  ASSERT_EQ(Create("job").code(), EAGAIN);
  auto other = Create("other");  // another create in between takes the next id
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->id, "t-2");
  auto retried = Create("job");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->id, "t-1");
  EXPECT_EQ(Named("job"), 1u);
  // A later identical create is a new task, not a retry.
  auto again = Create("job");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, "t-3");
}

TEST_F(DirectorInDoubtTest, ACreateThatCommittedWithNoRetryIsAdoptedAtTick) {
  auto c = director_->Register("k", "w1", "http://w1", 4);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(director_->SetTrust(c->node_id, TrustTier::kTrusted).ok());
  store_.next = InDoubtStore::Next::kCommitThenLose;
  ASSERT_EQ(Create("job").code(), EAGAIN);
  EXPECT_TRUE(director_->ListTasks().empty());
  director_->Tick(MeshNow(clock_));
  ASSERT_EQ(Named("job"), 1u);
  auto placed = director_->ScheduleAll();
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed->assigned, 1u);
  // Its retry now is answered with it.
  auto retried = Create("job");
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(Named("job"), 1u);
}

TEST_F(DirectorInDoubtTest, ACreateThatNeverCommittedIsGivenUpAfterTwoLeaseTtls) {
  store_.next = InDoubtStore::Next::kLose;
  ASSERT_EQ(Create("job").code(), EAGAIN);
  director_->Tick(MeshNow(clock_));
  clock_.Advance(61s);
  director_->Tick(MeshNow(clock_));
  // No longer in doubt: the same create is a new task with a new id.
  auto again = Create("job");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, "t-2");
  EXPECT_EQ(Named("job"), 1u);
}

}  // namespace
}  // namespace nexus::mesh
