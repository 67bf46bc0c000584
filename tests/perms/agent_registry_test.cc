#include "perms/agent_registry.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/format.h"
#include "base/sqlite_db.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using Kind = AgentRegistry::ChangeKind;

constexpr AgentPhase kRegistered = AgentPhase::kRegistered;
constexpr AgentPhase kConnected = AgentPhase::kConnected;
constexpr AgentPhase kIdle = AgentPhase::kIdle;
constexpr AgentPhase kBusy = AgentPhase::kBusy;
constexpr AgentPhase kDisconnected = AgentPhase::kDisconnected;
constexpr AgentPhase kSuspended = AgentPhase::kSuspended;
constexpr AgentPhase kAllPhases[] = {kRegistered, kConnected, kIdle, kBusy, kDisconnected, kSuspended};

const RegistryCaller kAlice{"user:alice", false};
const RegistryCaller kBob{"user:bob", false};
const RegistryCaller kAdmin{"user:root", true};

class AgentRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_ = Open(); }

  std::string Path() const { return dir_.path() + "/agents.db"; }
  std::unique_ptr<AgentRegistry> Open() {
    auto r = AgentRegistry::Open(Path(), {.heartbeat_window = kWindow, .clock = &clock_});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  AgentRecord Register(const RegistryCaller& caller, const std::string& id,
                       std::map<std::string, std::string> metadata = {}) {
    auto r = registry_->Register(caller, {.id = id, .name = "Agent " + id, .metadata = std::move(metadata)});
    EXPECT_TRUE(r.ok()) << id << ": " << r.status().ToString();
    return r.ok() ? *r : AgentRecord{};
  }
  void Move(const std::string& id, AgentPhase to, const RegistryCaller& caller = kAlice) {
    auto r = registry_->Transition(caller, id, to);
    ASSERT_TRUE(r.ok()) << id << " to " << ToString(to) << ": " << r.status().ToString();
  }
  static std::vector<std::string> Ids(const std::vector<AgentRecord>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.id);
    return out;
  }

  static constexpr std::chrono::nanoseconds kWindow = 10s;
  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<AgentRegistry> registry_;
};

TEST_F(AgentRegistryTest, RegisterThenGetAndList) {
  clock_.Set(5 * kNanosPerSecond);
  AgentRecord a = Register(kAlice, "planner", {{"tier", "gold"}});
  EXPECT_EQ(a.id, "planner");
  EXPECT_EQ(a.Subject(), "agent:planner");
  EXPECT_EQ(a.name, "Agent planner");
  EXPECT_EQ(a.owner, "user:alice");
  EXPECT_EQ(a.phase, kRegistered);
  EXPECT_EQ(a.generation, 1u);
  EXPECT_EQ(a.created_at, 5 * kNanosPerSecond);
  EXPECT_EQ(a.updated_at, 5 * kNanosPerSecond);
  EXPECT_EQ(a.last_heartbeat, 0);
  EXPECT_EQ(a.metadata, (std::map<std::string, std::string>{{"tier", "gold"}}));

  auto got = registry_->Get("planner");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, a);
  auto by_subject = registry_->Get("agent:planner");
  ASSERT_TRUE(by_subject.ok());
  EXPECT_EQ(*by_subject, a);

  Register(kBob, "worker");
  Register(kAlice, "analyst");
  Move("analyst", kConnected);
  EXPECT_EQ(registry_->size(), 3u);
  EXPECT_EQ(Ids(registry_->List()), (std::vector<std::string>{"analyst", "planner", "worker"}));
  EXPECT_EQ(Ids(registry_->List({.owner = "user:alice"})), (std::vector<std::string>{"analyst", "planner"}));
  EXPECT_EQ(Ids(registry_->List({.owner = "user:bob"})), (std::vector<std::string>{"worker"}));
  EXPECT_TRUE(registry_->List({.owner = "user:carol"}).empty());
  EXPECT_EQ(Ids(registry_->List({.phase = kRegistered})), (std::vector<std::string>{"planner", "worker"}));
  EXPECT_EQ(Ids(registry_->List({.owner = "user:alice", .phase = kConnected})),
            (std::vector<std::string>{"analyst"}));
  EXPECT_TRUE(registry_->List({.owner = "user:bob", .phase = kConnected}).empty());
}

TEST_F(AgentRegistryTest, TakenIdIsExists) {
  Register(kAlice, "bot");
  auto again = registry_->Register(kBob, {.id = "agent:bot", .name = "mine"});
  EXPECT_EQ(again.code(), EEXIST);
  EXPECT_EQ(registry_->Get("bot")->owner, "user:alice");
}

TEST_F(AgentRegistryTest, AgentIdRule) {
  for (const char* good : {"a", "A-b_c.d", "bot.v2", "-x", "_", "0"}) {
    EXPECT_TRUE(ValidateAgentId(good).ok()) << good;
  }
  const std::string longest(kAgentIdMax, 'x');
  EXPECT_TRUE(ValidateAgentId(longest).ok());
  for (const std::string& bad :
       {std::string(""), std::string(".hidden"), std::string("."), std::string(".."), std::string("a/b"),
        std::string("a b"), std::string("a:b"), std::string("caf\xc3\xa9"), std::string(kAgentIdMax + 1, 'x'),
        std::string("a\0b", 3)}) {
    EXPECT_EQ(ValidateAgentId(bad).code(), EINVAL) << bad;
    EXPECT_EQ(registry_->Register(kAlice, {.id = bad, .name = "n"}).code(), EINVAL) << bad;
  }
  EXPECT_EQ(*ParseAgentId("agent:bot"), "bot");
  EXPECT_EQ(*ParseAgentId("bot"), "bot");
  EXPECT_EQ(ParseAgentId("user:bot").code(), EINVAL);
  EXPECT_EQ(ParseAgentId("agent:").code(), EINVAL);
  EXPECT_EQ(ParseAgentId("agent:.x").code(), EINVAL);
  EXPECT_EQ(AgentSubject("bot"), "agent:bot");
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(AgentRegistryTest, FieldsAreValidated) {
  auto reg = [&](AgentRegistration r) { return registry_->Register(kAlice, r).code(); };
  EXPECT_EQ(reg({.id = "a", .name = ""}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "two\nlines"}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = std::string(kAgentNameMax + 1, 'n')}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "bad \xff utf-8"}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "n", .description = std::string(kAgentDescriptionMax + 1, 'd')}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "n", .metadata = {{"k=v", "x"}}}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "n", .metadata = {{"", "x"}}}), EINVAL);
  EXPECT_EQ(reg({.id = "a", .name = "n", .metadata = {{"k", "\xc3"}}}), EINVAL);
  std::map<std::string, std::string> many;
  for (size_t i = 0; i <= kAgentMetadataEntriesMax; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(reg({.id = "a", .name = "n", .metadata = many}), EINVAL);
  EXPECT_EQ(registry_->size(), 0u);
  // Names are UTF-8 text; descriptions may span lines.
  EXPECT_EQ(reg({.id = "a", .name = "Recherche \xc3\xa9quipe", .description = "line 1\nline 2\tend"}), 0);
}

TEST_F(AgentRegistryTest, OwnerIsTheCallerUnlessAnAdminNamesOne) {
  auto own = registry_->Register(kAlice, {.id = "a1", .name = "n", .owner = "user:alice"});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->owner, "user:alice");

  auto other = registry_->Register(kAlice, {.id = "a2", .name = "n", .owner = "user:bob"});
  EXPECT_EQ(other.code(), EACCES);
  EXPECT_EQ(other.status().message(),
            "user:alice may not register an agent for user:bob: only an admin may name another owner");

  auto by_admin = registry_->Register(kAdmin, {.id = "a3", .name = "n", .owner = "user:bob"});
  ASSERT_TRUE(by_admin.ok());
  EXPECT_EQ(by_admin->owner, "user:bob");
  auto admin_own = registry_->Register(kAdmin, {.id = "a4", .name = "n"});
  ASSERT_TRUE(admin_own.ok());
  EXPECT_EQ(admin_own->owner, "user:root");

  // An agent may own a helper agent, but not itself.
  auto helper = registry_->Register({"agent:a1", false}, {.id = "helper", .name = "n"});
  ASSERT_TRUE(helper.ok());
  EXPECT_EQ(helper->owner, "agent:a1");
  EXPECT_EQ(registry_->Register({"agent:me", false}, {.id = "me", .name = "n"}).code(), EINVAL);

  for (const char* bad : {"user:*", "group:ops#member", "zone:eng", "alice", "agent:"}) {
    EXPECT_EQ(registry_->Register(kAdmin, {.id = "x", .name = "n", .owner = bad}).code(), EINVAL) << bad;
  }
  EXPECT_EQ(registry_->Register({"", false}, {.id = "x", .name = "n"}).code(), EINVAL);
  EXPECT_EQ(registry_->Get("a2").code(), ENOENT);
}

TEST_F(AgentRegistryTest, OnlyOwnerOrAdminChangesAnAgent) {
  Register(kAlice, "bot");
  auto update = registry_->Update(kBob, "bot", {.name = "stolen"});
  EXPECT_EQ(update.code(), EACCES);
  EXPECT_EQ(update.status().message(), "user:bob may not update agent bot: it is owned by user:alice");
  auto move = registry_->Transition(kBob, "bot", kConnected);
  EXPECT_EQ(move.code(), EACCES);
  EXPECT_EQ(move.status().message(), "user:bob may not transition agent bot: it is owned by user:alice");
  Status del = registry_->Delete(kBob, "bot");
  EXPECT_EQ(del.code(), EACCES);
  EXPECT_EQ(del.message(), "user:bob may not delete agent bot: it is owned by user:alice");
  // The agent itself is not its owner either.
  EXPECT_EQ(registry_->Update({"agent:bot", false}, "bot", {.name = "self"}).code(), EACCES);
  EXPECT_EQ(registry_->Get("bot")->generation, 1u);
  EXPECT_EQ(registry_->Get("bot")->name, "Agent bot");

  EXPECT_TRUE(registry_->Update(kAlice, "bot", {.name = "by owner"}).ok());
  EXPECT_TRUE(registry_->Update(kAdmin, "bot", {.description = "by admin"}).ok());
  EXPECT_TRUE(registry_->Transition(kAdmin, "agent:bot", kConnected).ok());
  EXPECT_TRUE(registry_->Delete(kAdmin, "bot").ok());
  EXPECT_EQ(registry_->Get("bot").code(), ENOENT);
}

TEST_F(AgentRegistryTest, UnknownIdIsNotFound) {
  Register(kAlice, "known");
  EXPECT_EQ(registry_->Get("ghost").code(), ENOENT);
  EXPECT_EQ(registry_->Update(kAdmin, "ghost", {.name = "x"}).code(), ENOENT);
  EXPECT_EQ(registry_->Transition(kAdmin, "ghost", kConnected).code(), ENOENT);
  EXPECT_EQ(registry_->Delete(kAdmin, "ghost").code(), ENOENT);
  EXPECT_EQ(registry_->Heartbeat(kAdmin, "ghost").code(), ENOENT);
  EXPECT_EQ(registry_->Get("ghost").status().message(), "agent 'ghost' not found");
  // A malformed id is invalid, not missing.
  EXPECT_EQ(registry_->Get("user:known").code(), EINVAL);
  EXPECT_EQ(registry_->Heartbeat(kAdmin, "a/b").code(), EINVAL);
}

TEST_F(AgentRegistryTest, UpdateMergesMetadataAndBumpsGeneration) {
  Register(kAlice, "bot", {{"tier", "gold"}, {"zone", "eng"}});
  EXPECT_EQ(registry_->Update(kAlice, "bot", {}).code(), EINVAL);
  clock_.Advance(1s);
  auto u = registry_->Update(
      kAlice, "bot",
      {.description = "plans", .metadata = {{"tier", "silver"}, {"zone", std::nullopt}, {"new", "1"}}});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "Agent bot");
  EXPECT_EQ(u->description, "plans");
  EXPECT_EQ(u->metadata, (std::map<std::string, std::string>{{"new", "1"}, {"tier", "silver"}}));
  EXPECT_EQ(u->generation, 2u);
  EXPECT_EQ(u->updated_at, u->created_at + kNanosPerSecond);
  EXPECT_EQ(*registry_->Get("bot"), *u);

  std::map<std::string, std::optional<std::string>> many;
  for (size_t i = 0; i < kAgentMetadataEntriesMax; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(registry_->Update(kAlice, "bot", {.metadata = many}).code(), EINVAL);  // 66 in all
  EXPECT_EQ(registry_->Update(kAlice, "bot", {.name = ""}).code(), EINVAL);
  EXPECT_EQ(registry_->Get("bot")->generation, 2u);
}

TEST(AgentPhaseTest, NamesParseInAnyCaseAndPrintUpperCase) {
  for (AgentPhase p : kAllPhases) {
    std::string name(ToString(p));
    EXPECT_EQ(*ParseAgentPhase(name), p);
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(*ParseAgentPhase(lower), p) << lower;
  }
  EXPECT_EQ(ToString(kDisconnected), "DISCONNECTED");
  EXPECT_EQ(*ParseAgentPhase("Busy"), kBusy);
  auto bad = ParseAgentPhase("sleeping");
  EXPECT_EQ(bad.code(), EINVAL);
  EXPECT_NE(bad.status().message().find("REGISTERED, CONNECTED"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(ParseAgentPhase("").code(), EINVAL);
  EXPECT_EQ(ParseAgentPhase("IDLE ").code(), EINVAL);
}

// The whole lifecycle table, written out independently of the code's.
TEST_F(AgentRegistryTest, TransitionTable) {
  enum Cell { N, Y, A };  // refused, allowed, admin only
  const Cell expected[6][6] = {
      //  REG CON IDLE BUSY DISC SUSP
      {N, Y, N, N, N, A},  // REGISTERED
      {N, N, Y, Y, Y, A},  // CONNECTED
      {N, Y, N, Y, Y, A},  // IDLE
      {N, Y, Y, N, Y, A},  // BUSY
      {N, Y, N, N, N, A},  // DISCONNECTED
      {N, N, N, N, A, N},  // SUSPENDED
  };
  // How to reach each phase from REGISTERED (as the admin).
  const std::map<AgentPhase, std::vector<AgentPhase>> path = {
      {kRegistered, {}},
      {kConnected, {kConnected}},
      {kIdle, {kConnected, kIdle}},
      {kBusy, {kConnected, kBusy}},
      {kDisconnected, {kConnected, kDisconnected}},
      {kSuspended, {kSuspended}},
  };
  int n = 0;
  for (AgentPhase from : kAllPhases) {
    for (AgentPhase to : kAllPhases) {
      const Cell cell = expected[static_cast<int>(from)][static_cast<int>(to)];
      const auto rule = AgentTransitionRuleFor(from, to);
      EXPECT_EQ(rule, cell == N   ? AgentTransitionRule::kRefused
                      : cell == Y ? AgentTransitionRule::kAllowed
                                  : AgentTransitionRule::kAdminOnly);
      for (const RegistryCaller& caller : {kAlice, kAdmin}) {
        const std::string id = "t" + std::to_string(n++);
        const std::string what = std::string(ToString(from)) + " -> " + std::string(ToString(to)) +
                                 (caller.admin ? " (admin)" : " (owner)");
        Register(kAlice, id);
        for (AgentPhase step : path.at(from)) Move(id, step, kAdmin);
        const uint64_t generation = registry_->Get(id)->generation;
        auto r = registry_->Transition(caller, id, to);
        if (cell == Y || (cell == A && caller.admin)) {
          ASSERT_TRUE(r.ok()) << what << ": " << r.status().ToString();
          EXPECT_EQ(r->phase, to) << what;
          EXPECT_EQ(r->generation, generation + 1) << what;
        } else if (cell == A) {
          EXPECT_EQ(r.code(), EACCES) << what;
        } else {
          EXPECT_EQ(r.code(), EINVAL) << what;
          std::string both = "from " + std::string(ToString(from)) + " to " + std::string(ToString(to));
          EXPECT_NE(r.status().message().find(both), std::string::npos) << r.status().message();
        }
        if (!r.ok()) {
          EXPECT_EQ(registry_->Get(id)->phase, from) << what;
          EXPECT_EQ(registry_->Get(id)->generation, generation) << what;
        }
      }
    }
  }
}

TEST_F(AgentRegistryTest, GenerationCompareAndSet) {
  Register(kAlice, "bot");                                                   // 1
  ASSERT_TRUE(registry_->Update(kAlice, "bot", {.description = "d"}).ok());  // 2
  ASSERT_TRUE(registry_->Transition(kAlice, "bot", kConnected, 2).ok());     // 3
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "bot").ok());                     // no change
  EXPECT_EQ(registry_->Get("bot")->generation, 3u);
  auto busy = registry_->Transition(kAlice, "bot", kBusy, 3);  // 4
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ(busy->generation, 4u);

  auto conflict = registry_->Transition(kAlice, "bot", kIdle, 3);
  EXPECT_EQ(conflict.code(), ESTALE);
  EXPECT_NE(conflict.status().message().find("generation is 4, not 3"), std::string::npos)
      << conflict.status().message();
  EXPECT_EQ(registry_->Get("bot")->phase, kBusy);
  EXPECT_EQ(registry_->Get("bot")->generation, 4u);
  // The generation is checked before the table: a stale caller hears so
  // first, whatever it asked for.
  EXPECT_EQ(registry_->Transition(kAlice, "bot", kRegistered, 1).code(), ESTALE);
  // And after ownership: a stranger learns nothing about the generation.
  EXPECT_EQ(registry_->Transition(kBob, "bot", kIdle, 1).code(), EACCES);
  EXPECT_TRUE(registry_->Transition(kAlice, "bot", kIdle, 4).ok());
}

TEST_F(AgentRegistryTest, StaleAfterTheWindowFreshAfterAHeartbeat) {
  Register(kAlice, "bot");
  auto stale = [&] { return registry_->IsStale(*registry_->Get("bot"), clock_.Now()); };
  clock_.Advance(1h);
  EXPECT_FALSE(stale()) << "a registered agent is never stale";

  Move("bot", kConnected);
  EXPECT_FALSE(stale()) << "connecting starts one window";
  clock_.Advance(kWindow);
  EXPECT_FALSE(stale()) << "exactly one window old";
  clock_.Advance(1ns);
  EXPECT_TRUE(stale()) << "never beat since connecting";

  ASSERT_TRUE(registry_->Heartbeat({"agent:bot", false}, "bot").ok());
  EXPECT_EQ(registry_->Get("bot")->last_heartbeat, clock_.Now());
  EXPECT_FALSE(stale());
  clock_.Advance(kWindow);
  EXPECT_FALSE(stale());
  clock_.Advance(1ns);
  EXPECT_TRUE(stale());

  Move("bot", kBusy);  // a live phase to a live phase: still no sign of life
  EXPECT_TRUE(stale());
  Move("bot", kConnected);
  EXPECT_TRUE(stale());

  Move("bot", kDisconnected);
  EXPECT_FALSE(stale()) << "only live phases are stale";
  EXPECT_EQ(registry_->Get("bot")->connected_at, 0);
  clock_.Advance(1h);
  Move("bot", kConnected);  // the old heartbeat is long past; reconnecting starts a window
  EXPECT_FALSE(stale());
  clock_.Advance(kWindow + 1ns);
  EXPECT_TRUE(stale());
  // The listing shows the same.
  auto listed = registry_->List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(registry_->IsStale(listed[0], clock_.Now()));
  EXPECT_TRUE(registry_->ToJson(listed[0], clock_.Now())["stale"].get<bool>());
}

TEST_F(AgentRegistryTest, WhoMayHeartbeat) {
  Register(kAlice, "a");
  Register(kAlice, "ab");
  Register(kBob, "b");
  EXPECT_TRUE(registry_->Heartbeat({"agent:a", false}, "a").ok());  // itself
  EXPECT_TRUE(registry_->Heartbeat(kAlice, "agent:a").ok());        // its owner
  EXPECT_TRUE(registry_->Heartbeat(kAdmin, "a").ok());              // an admin
  Status other = registry_->Heartbeat(kBob, "a");
  EXPECT_EQ(other.code(), EACCES);
  EXPECT_EQ(other.message(), "user:bob may not heartbeat agent a: it is owned by user:alice");
  EXPECT_EQ(registry_->Heartbeat({"agent:b", false}, "a").code(), EACCES);   // another agent
  EXPECT_EQ(registry_->Heartbeat({"agent:ab", false}, "a").code(), EACCES);  // a longer id
  EXPECT_EQ(registry_->Heartbeat({"agent:a", false}, "ab").code(), EACCES);  // a shorter one
  EXPECT_EQ(registry_->Heartbeat({"user:a", false}, "a").code(), EACCES);    // a user of that name

  // A suspended agent is told so.
  Move("a", kSuspended, kAdmin);
  const UnixNanos before = registry_->Get("a")->last_heartbeat;
  clock_.Advance(1s);
  EXPECT_EQ(registry_->Heartbeat({"agent:a", false}, "a").code(), EPERM);
  EXPECT_EQ(registry_->Get("a")->last_heartbeat, before);
}

TEST_F(AgentRegistryTest, WhoMayActAsAnAgent) {
  Register(kAlice, "a");
  EXPECT_EQ(registry_->CheckActAs(kAlice, "agent:a")->id, "a");  // its owner
  EXPECT_TRUE(registry_->CheckActAs(kAdmin, "a").ok());          // an admin
  EXPECT_TRUE(registry_->CheckActAs({"agent:a", false}, "a").ok());
  auto other = registry_->CheckActAs(kBob, "a");
  EXPECT_EQ(other.code(), EACCES);
  EXPECT_EQ(other.status().message(), "user:bob may not act as agent a: it is owned by user:alice");
  EXPECT_EQ(registry_->CheckActAs(kAlice, "ghost").code(), ENOENT);
  EXPECT_EQ(registry_->CheckActAs(kAlice, "user:alice").code(), EINVAL);
  Move("a", kSuspended, kAdmin);
  EXPECT_EQ(registry_->CheckActAs(kAlice, "a").code(), EPERM);
}

TEST_F(AgentRegistryTest, HeartbeatsAreFlushedInBatches) {
  Register(kAlice, "a");
  Register(kAlice, "b");
  Register(kAlice, "c");
  EXPECT_EQ(registry_->TEST_DirtyHeartbeats(), 0u);
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "a").ok());
  clock_.Advance(1s);
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "a").ok());
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "b").ok());
  EXPECT_EQ(registry_->TEST_DirtyHeartbeats(), 2u);
  ASSERT_TRUE(registry_->Flush().ok());
  EXPECT_EQ(registry_->TEST_DirtyHeartbeats(), 0u);
  ASSERT_TRUE(registry_->Flush().ok());  // nothing to do
  // A heartbeat of an agent deleted before the flush is dropped quietly.
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "c").ok());
  ASSERT_TRUE(registry_->Delete(kAlice, "c").ok());
  EXPECT_TRUE(registry_->Flush().ok());
  // Re-registered under the same id, it starts clean.
  AgentRecord again = Register(kAlice, "c");
  EXPECT_EQ(again.generation, 1u);
  EXPECT_EQ(again.last_heartbeat, 0);
  EXPECT_EQ(registry_->TEST_DirtyHeartbeats(), 0u);
}

TEST_F(AgentRegistryTest, ReopenKeepsCommittedChangesAndFlushedHeartbeats) {
  Register(kAlice, "kept", {{"k", "v"}});
  Register(kBob, "gone");
  ASSERT_TRUE(registry_->Update(kAlice, "kept", {.description = "d"}).ok());
  Move("kept", kConnected);
  Move("kept", kBusy);
  ASSERT_TRUE(registry_->Delete(kBob, "gone").ok());
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "kept").ok());
  const UnixNanos flushed = clock_.Now();
  ASSERT_TRUE(registry_->Flush().ok());
  clock_.Advance(5s);
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "kept").ok());  // not flushed yet
  const AgentRecord live = *registry_->Get("kept");
  EXPECT_EQ(live.last_heartbeat, flushed + 5 * kNanosPerSecond);

  {
    // What a crash now would leave: a second registry on the same file sees
    // every committed change and the flushed heartbeat, not the newer one.
    std::unique_ptr<AgentRegistry> after_crash = Open();
    ASSERT_TRUE(after_crash);
    auto r = after_crash->Get("kept");
    ASSERT_TRUE(r.ok());
    AgentRecord expected = live;
    expected.last_heartbeat = flushed;
    EXPECT_EQ(*r, expected);
    EXPECT_EQ(after_crash->Get("gone").code(), ENOENT);
    EXPECT_EQ(after_crash->size(), 1u);
  }

  registry_.reset();  // closing flushes
  registry_ = Open();
  ASSERT_TRUE(registry_);
  EXPECT_EQ(*registry_->Get("kept"), live);
  EXPECT_EQ(Ids(registry_->List({.owner = "user:alice", .phase = kBusy})),
            (std::vector<std::string>{"kept"}));
  EXPECT_TRUE(registry_->List({.owner = "user:bob"}).empty());
  // Generations go on from where they were.
  auto next = registry_->Transition(kAlice, "kept", kIdle, live.generation);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->generation, live.generation + 1);

  struct stat st;
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AgentRegistryTest, OpenRefusesANonPositiveWindow) {
  auto r = AgentRegistry::Open(dir_.path() + "/other.db", {.heartbeat_window = 0s, .clock = &clock_});
  EXPECT_EQ(r.code(), EINVAL);
}

TEST_F(AgentRegistryTest, DamagedRowsAreIoErrors) {
  registry_.reset();
  for (const char* damage : {"UPDATE agents SET phase = 'NAPPING'", "UPDATE agents SET metadata = '[1]'",
                             "UPDATE agents SET metadata = '{\"k\": 1}'", "UPDATE agents SET id = '.x'"}) {
    {
      auto db = SqliteDb::Open(Path(), {});
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      ASSERT_TRUE((*db)->Exec("DELETE FROM agents").ok());
    }
    registry_ = Open();
    ASSERT_TRUE(registry_);
    Register(kAlice, "bot");
    registry_.reset();
    {
      auto db = SqliteDb::Open(Path(), {});
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE((*db)->Exec(damage).ok()) << damage;
    }
    auto r = AgentRegistry::Open(Path(), {.heartbeat_window = kWindow, .clock = &clock_});
    EXPECT_EQ(r.code(), EIO) << damage;
  }
}

TEST_F(AgentRegistryTest, DeleteRemovesEverywhere) {
  Register(kAlice, "bot");
  Move("bot", kConnected);
  ASSERT_TRUE(registry_->Delete(kAlice, "agent:bot").ok());
  EXPECT_EQ(registry_->Get("bot").code(), ENOENT);
  EXPECT_TRUE(registry_->List().empty());
  EXPECT_TRUE(registry_->List({.owner = "user:alice"}).empty());
  EXPECT_EQ(registry_->Delete(kAlice, "bot").code(), ENOENT);
  EXPECT_EQ(registry_->Heartbeat(kAlice, "bot").code(), ENOENT);
  // The id is free again; another owner may take it.
  AgentRecord again = Register(kBob, "bot");
  EXPECT_EQ(again.owner, "user:bob");
  EXPECT_EQ(again.phase, kRegistered);
  EXPECT_EQ(again.generation, 1u);
  EXPECT_EQ(Ids(registry_->List({.owner = "user:bob"})), (std::vector<std::string>{"bot"}));
}

TEST_F(AgentRegistryTest, ChangeHookSeesEachCommittedChangeInOrder) {
  struct Event {
    Kind kind;
    std::string id;
    uint64_t generation;
    AgentPhase phase;
    bool visible;  // what Get said from inside the hook
  };
  std::vector<Event> events;
  registry_->SetOnChange([&](const AgentRecord& r, Kind kind) {
    auto now = registry_->Get(r.id);  // reads are allowed in the hook
    events.push_back({kind, r.id, r.generation, r.phase, now.ok() && *now == r});
  });
  Register(kAlice, "bot");
  ASSERT_TRUE(registry_->Update(kAlice, "bot", {.name = "renamed"}).ok());
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "bot").ok());  // not a change
  ASSERT_TRUE(registry_->Transition(kAlice, "bot", kConnected).ok());
  EXPECT_FALSE(registry_->Transition(kAlice, "bot", kRegistered).ok());  // refused: nothing
  EXPECT_FALSE(registry_->Update(kBob, "bot", {.name = "x"}).ok());      // refused: nothing
  ASSERT_TRUE(registry_->Flush().ok());                                  // not a change
  ASSERT_TRUE(registry_->Delete(kAlice, "bot").ok());

  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Kind::kRegistered);
  EXPECT_EQ(events[1].kind, Kind::kUpdated);
  EXPECT_EQ(events[2].kind, Kind::kTransitioned);
  EXPECT_EQ(events[3].kind, Kind::kDeleted);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].id, "bot");
    EXPECT_EQ(events[i].generation, i + 1);
    EXPECT_TRUE(events[i].visible) << "change " << i << " is committed before its hook runs";
  }
  EXPECT_EQ(events[2].phase, kConnected);
  // A delete reports the last record, already gone from the registry.
  EXPECT_EQ(events[3].generation, 3u);
  EXPECT_FALSE(events[3].visible);
  EXPECT_EQ(ToString(Kind::kTransitioned), "transitioned");

  registry_->SetOnChange(nullptr);
  Register(kAlice, "quiet");
  EXPECT_EQ(events.size(), 4u);
}

TEST_F(AgentRegistryTest, JsonShape) {
  clock_.Set(1'700'000'000 * kNanosPerSecond);
  Register(kAlice, "bot", {{"tier", "gold"}});
  const UnixNanos now = clock_.Now();
  nlohmann::json j = registry_->ToJson(*registry_->Get("bot"), now);
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"created_at", "description", "generation", "id", "last_heartbeat",
                                            "metadata", "name", "owner", "phase", "stale", "updated_at"}));
  EXPECT_EQ(j["id"], "bot");
  EXPECT_EQ(j["name"], "Agent bot");
  EXPECT_EQ(j["owner"], "user:alice");
  EXPECT_EQ(j["phase"], "REGISTERED");
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["stale"], false);
  EXPECT_TRUE(j["last_heartbeat"].is_null());
  EXPECT_EQ(j["metadata"], (nlohmann::json{{"tier", "gold"}}));
  EXPECT_EQ(j["description"], "");
  EXPECT_EQ(j["created_at"], FormatRfc3339(now));
  EXPECT_EQ(j["updated_at"], FormatRfc3339(now));

  Move("bot", kConnected);
  clock_.Advance(1500ms);
  ASSERT_TRUE(registry_->Heartbeat(kAlice, "bot").ok());
  ASSERT_TRUE(registry_->Update(kAlice, "bot", {.metadata = {{"tier", std::nullopt}}}).ok());
  j = registry_->ToJson(*registry_->Get("bot"), clock_.Now());
  EXPECT_EQ(j["phase"], "CONNECTED");
  EXPECT_EQ(j["generation"], 3);
  EXPECT_EQ(j["last_heartbeat"], FormatRfc3339(now + 1500 * 1'000'000LL));
  EXPECT_EQ(j["last_heartbeat"], "2023-11-14T22:13:21.500000000Z");
  EXPECT_TRUE(j["metadata"].is_object());
  EXPECT_TRUE(j["metadata"].empty());
  EXPECT_EQ(j["stale"], false);
  EXPECT_EQ(registry_->ToJson(*registry_->Get("bot"), clock_.Now() + kWindow.count() + 1)["stale"], true);
}

// Heartbeats and reads from many threads while agents change phase and
// heartbeats are flushed: every call succeeds and every listing is whole
// and sorted.
TEST_F(AgentRegistryTest, ConcurrentHeartbeatsListsAndChanges) {
  constexpr int kAgents = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kAgents; ++i) {
    const std::string id = (i < 10 ? "agent0" : "agent") + std::to_string(i);
    ids.push_back(id);
    Register(i % 2 ? kAlice : kBob, id);
    Move(id, kConnected, kAdmin);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> beats{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; !stop.load(); ++n) {
        const std::string& id = ids[(n * 7 + t) % kAgents];
        clock_.Advance(1us);
        if (!registry_->Heartbeat({"agent:" + id, false}, id).ok()) failures++;
        beats++;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto all = registry_->List();
        if (all.size() != kAgents ||
            !std::is_sorted(all.begin(), all.end(), [](auto& a, auto& b) { return a.id < b.id; })) {
          failures++;
        }
        if (registry_->List({.owner = "user:alice"}).size() != kAgents / 2) failures++;
        if (!registry_->Get(ids[3]).ok()) failures++;
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      if (!registry_->Flush().ok()) failures++;
      std::this_thread::sleep_for(1ms);
    }
  });
  // The owner flips one agent between CONNECTED and IDLE with compare-and-set.
  uint64_t transitions = 0;
  for (int i = 0; i < 50; ++i) {
    AgentRecord r = *registry_->Get(ids[0]);
    auto moved = registry_->Transition(kBob, ids[0], r.phase == kIdle ? kConnected : kIdle, r.generation);
    if (!moved.ok()) {
      ADD_FAILURE() << moved.status().ToString();
      break;
    }
    transitions++;
  }
  while (beats.load() < 20'000) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(registry_->Flush().ok());
  EXPECT_EQ(registry_->TEST_DirtyHeartbeats(), 0u);
  EXPECT_EQ(registry_->Get(ids[0])->generation, 2 + transitions);

  // Every agent's newest heartbeat reached the disk.
  std::vector<AgentRecord> before = registry_->List();
  registry_ = Open();
  ASSERT_TRUE(registry_);
  EXPECT_EQ(registry_->List(), before);
}

}  // namespace
}  // namespace nexus
