// What an MCP server needs from the socket, over a real socket: the Tools
// interface (profiles as ReBAC grants on tool:NAME), labelled sessions
// (their changes carry the label as the command), Files.replace
// (compare-and-replace) and Files.watch (batched, filtered by access,
// coalesced, overflow, unsubscribe). A SocketServer in this process with a
// real RebacEngine and policy, a ChangeBus feeding a WatchHub, and real
// NexusClient connections: the Unix peer is the operator (an admin); API
// keys over TLS are non-admin agents.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <atomic>
#include <string>
#include <vector>

#include "fs/change_events.h"
#include "perms/audit.h"
#include "perms/rebac.h"
#include "perms/rebac_policy.h"
#include "perms/tool_profiles.h"
#include "rpc/bytes.h"
#include "rpc/server/background_jobs.h"
#include "rpc/server/watch_hub.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

template <typename List>
std::vector<std::string> Strings(List list) {
  std::vector<std::string> out;
  for (auto s : list) out.emplace_back(s);
  return out;
}

// A watch's client: records every change; with `hold`, leaves each call
// unanswered until Release (to test that only one is outstanding).
class RecordingWatcher final : public rpc::FileWatcher::Server {
 public:
  struct State {
    std::vector<WatchedChange> changes;
    int calls = 0;
    int outstanding = 0;
    int max_outstanding = 0;
    bool hold = false;
    kj::Own<kj::PromiseFulfiller<void>> held;
  };
  explicit RecordingWatcher(State* s) : s_(s) {}

  kj::Promise<void> changed(ChangedContext context) override {
    for (auto c : context.getParams().getChanges())
      s_->changes.push_back({c.getPath(), c.getKind(), c.getNewPath(), c.getTimeNs()});
    ++s_->calls;
    if (!s_->hold) return kj::READY_NOW;
    ++s_->outstanding;
    s_->max_outstanding = std::max(s_->max_outstanding, s_->outstanding);
    auto paf = kj::newPromiseAndFulfiller<void>();
    s_->held = kj::mv(paf.fulfiller);
    State* s = s_;
    return paf.promise.then([s]() { --s->outstanding; });
  }

 private:
  State* s_;
};

class McpSocketTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    // The tree again, publishing to the bus.
    files_.reset();
    ns_.reset();
    backend_.reset();
    NativeBackend::Options o;
    o.data_dir = dir_.path();
    o.sink = &bus_;
    backend_ = NativeBackend::Open(o).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    files_ = std::make_unique<PathFiles>(ns_.get());
    ctx_.files = files_.get();
    ctx_.jobs = &jobs_;

    audit_ = AuditLog::Open(dir_.path() + "/audit.db", {}).value();
    RebacOptions ro;
    ro.audit = audit_.get();
    ro.root_owner = ctx_.rebac.admin_subject;
    rebac_ = RebacEngine::Open(dir_.path() + "/rebac.db", ro).value();
    ctx_.rebac.engine = rebac_.get();
    ctx_.rebac.audit = audit_.get();
    policy_ = std::make_unique<RebacPolicy>(rebac_.get(), principals_.get(), audit_.get(),
                                            ctx_.rebac.admin_subject);
    ns_->SetAccessPolicy(policy_.get());
    ctx_.access = policy_.get();
    profiles_ = std::make_unique<ToolProfiles>(ToolProfiles::Load().value());
    ctx_.rebac.tool_profiles = profiles_.get();
    ctx_.watches = &hub_;
    bus_.Subscribe([this](const ChangeEvent& ev) {
      hub_.OnChange(ev);
      std::lock_guard lk(events_mu_);
      events_.push_back(
          {ev.path, ev.process ? ev.process->command : "", ev.process ? ev.process->agent_id : ""});
    });

    StartServer(/*tls=*/true);
    admin_ = Unix().value();
    ASSERT_TRUE(admin_->is_admin());
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
    bus_.Drain();
    files_.reset();
    ns_.reset();
    backend_.reset();
  }

  std::unique_ptr<NexusClient> Agent(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "agent";
    auto c = Tcp(keys_->CreateUser(u, 0).value().second.secret);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  static rpc::Tools::Client ToolsOf(NexusClient& c) { return c.session().toolsRequest().send().getTools(); }
  static rpc::Files::Client FilesOf(rpc::Session::Client s) { return s.filesRequest().send().getFiles(); }

  auto Visible(NexusClient& c, const std::vector<std::string>& names) {
    auto req = ToolsOf(c).visibleRequest();
    auto list = req.initNames(names.size());
    for (size_t i = 0; i < names.size(); ++i) list.set(i, names[i]);
    return c.Wait(req.send());
  }
  auto Assign(NexusClient& c, const std::string& subject, const std::string& profile,
              const std::string& zone = "") {
    auto req = ToolsOf(c).assignRequest();
    req.setSubject(subject);
    req.setProfile(profile);
    req.setZone(zone);
    return c.Wait(req.send());
  }
  auto Inspect(NexusClient& c, const std::string& subject, const std::string& zone = "") {
    auto req = ToolsOf(c).inspectRequest();
    req.setSubject(subject);
    req.setZone(zone);
    return c.Wait(req.send());
  }
  void Write(NexusClient& c, rpc::Files::Client files, const std::string& path, const std::string& data) {
    auto req = files.writeRequest();
    req.setPath(path);
    req.setData(AsBytes(data));
    req.setTruncate(true);
    req.setCreateParents(true);
    auto r = c.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  }
  void Grant(const std::string& tuple) {
    ASSERT_TRUE(rebac_->WriteUnchecked({Tuple::Parse(tuple).value()}, {}).ok());
  }
  void Revoke(const std::string& tuple) {
    ASSERT_TRUE(rebac_->WriteUnchecked({}, {Tuple::Parse(tuple).value()}).ok());
  }
  // Runs `c`'s loop until `done` or 3 s passed.
  template <typename Pred>
  bool PumpUntil(NexusClient& c, Pred done, int ms = 3000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      c.timer().afterDelay(10 * kj::MILLISECONDS).wait(c.wait_scope());
    }
    return true;
  }

  struct Seen {
    std::string path, command, agent_id;
  };
  std::vector<Seen> EventsFor(const std::string& path) {
    bus_.Drain();
    std::lock_guard lk(events_mu_);
    std::vector<Seen> out;
    for (const auto& e : events_)
      if (e.path == path) out.push_back(e);
    return out;
  }

  WatchHub hub_{8};
  BackgroundJobs jobs_{2};
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RebacEngine> rebac_;
  std::unique_ptr<RebacPolicy> policy_;
  std::unique_ptr<ToolProfiles> profiles_;
  std::unique_ptr<NexusClient> admin_;
  std::mutex events_mu_;
  std::vector<Seen> events_;
  ChangeBus bus_;  // last: its subscriber uses the members above
};

// CodeOf for a reply nobody reads further.
template <typename Reply>
Code CodeOfNow(Result<Reply> r) {
  return CodeOf(r);
}

const std::vector<std::string> kMinimal = {"nexus_file_info", "nexus_glob", "nexus_list_files",
                                           "nexus_read_file"};

// ---------------------------------------------------------------- tools

TEST_F(McpSocketTest, ProfilesAndProfile) {
  auto r = admin_->Wait(ToolsOf(*admin_).profilesRequest().send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  EXPECT_EQ(r->getProfiles().size(), 5u);
  EXPECT_EQ(std::string(r->getDefaultProfile()), "minimal");
  EXPECT_EQ(std::string(r->getSource()), "built-in");
  auto req = ToolsOf(*admin_).profileRequest();
  req.setName("search");
  auto p = admin_->Wait(req.send());
  ASSERT_EQ(CodeOf(p), Code::OK);
  EXPECT_EQ(Strings(p->getProfile().getInherits()), std::vector<std::string>{"minimal"});
  EXPECT_EQ(p->getProfile().getAllTools().size(), 6u);
  auto missing = ToolsOf(*admin_).profileRequest();
  missing.setName("nosuch");
  auto m = admin_->Wait(missing.send());
  EXPECT_EQ(CodeOf(m), Code::NOT_FOUND);
}

TEST_F(McpSocketTest, VisibleDefaultsThenFollowsAssignAndRevoke) {
  auto bot = Agent("bot");
  const std::vector<std::string> ask = {"nexus_write_file", "nexus_read_file", "nexus_bash", "nexus_glob",
                                        "nope"};
  auto v = Visible(*bot, ask);
  ASSERT_EQ(CodeOf(v), Code::OK) << MessageOf(v);
  EXPECT_TRUE(v->getDefaulted());
  EXPECT_EQ(Strings(v->getVisible()), (std::vector<std::string>{"nexus_read_file", "nexus_glob"}));

  // A non-admin may not assign, not even to itself.
  auto refused = Assign(*bot, "agent:bot", "full");
  EXPECT_EQ(CodeOf(refused), Code::PERMISSION_DENIED) << MessageOf(refused);

  auto a = Assign(*admin_, "agent:bot", "coding", "sandbox-1");
  ASSERT_EQ(CodeOf(a), Code::OK) << MessageOf(a);
  EXPECT_EQ(a->getGranted().size(), 16u);
  EXPECT_EQ(a->getRemoved().size(), 0u);
  v = Visible(*bot, ask);
  ASSERT_EQ(CodeOf(v), Code::OK);
  EXPECT_FALSE(v->getDefaulted());
  EXPECT_EQ(Strings(v->getVisible()),
            (std::vector<std::string>{"nexus_write_file", "nexus_read_file", "nexus_glob"}));
  EXPECT_EQ(v->getRevision(), rebac_->revision());

  // A revoke holds from the next call on.
  Revoke("agent:bot#viewer@tool:nexus_write_file");
  v = Visible(*bot, ask);
  EXPECT_EQ(Strings(v->getVisible()), (std::vector<std::string>{"nexus_read_file", "nexus_glob"}));
  EXPECT_FALSE(v->getDefaulted());

  // Re-assigning a smaller profile removes the rest, in one write.
  a = Assign(*admin_, "agent:bot", "minimal");
  ASSERT_EQ(CodeOf(a), Code::OK) << MessageOf(a);
  EXPECT_EQ(a->getRemoved().size(), 11u);  // coding's 12 own tools, write_file already gone
  TupleFilter mine;
  mine.subject_type = ObjectType::kAgent;
  mine.subject_id = "bot";
  auto tuples = rebac_->ListTuples(mine);
  EXPECT_EQ(tuples.size(), 4u);

  // A tool outside every profile, granted directly, is visible when asked.
  Grant("agent:bot#viewer@tool:team_deploy");
  v = Visible(*bot, {"team_deploy", "nexus_bash"});
  EXPECT_EQ(Strings(v->getVisible()), std::vector<std::string>{"team_deploy"});
}

TEST_F(McpSocketTest, InspectSelfAdminNotOthers) {
  auto bot = Agent("bot");
  auto eve = Agent("eve");
  auto self = Inspect(*bot, "agent:bot");
  ASSERT_EQ(CodeOf(self), Code::OK) << MessageOf(self);
  EXPECT_TRUE(self->getDefaulted());
  EXPECT_EQ(Strings(self->getTools()), kMinimal);
  EXPECT_EQ(std::string(self->getProfile()), "minimal");
  auto other = Inspect(*eve, "agent:bot");
  EXPECT_EQ(CodeOf(other), Code::PERMISSION_DENIED);

  ASSERT_EQ(CodeOfNow(Assign(*admin_, "agent:bot", "search", "z1")), Code::OK);
  auto i = Inspect(*admin_, "agent:bot");
  ASSERT_EQ(CodeOf(i), Code::OK) << MessageOf(i);
  EXPECT_FALSE(i->getDefaulted());
  EXPECT_EQ(std::string(i->getProfile()), "search");
  EXPECT_EQ(i->getTools().size(), 6u);
  EXPECT_EQ(i->getGrants().size(), 6u);
  EXPECT_EQ(std::string(i->getGrants()[0].getZone()), "z1");
  EXPECT_EQ(Inspect(*admin_, "agent:bot", "other-zone")->getGrants().size(), 0u);
  EXPECT_EQ(CodeOfNow(Inspect(*admin_, "group:ops")), Code::INVALID_ARGUMENT);
}

TEST_F(McpSocketTest, VisibleOfAThousandNamesIsCheap) {
  auto bot = Agent("bot");
  std::vector<Tuple> grants;
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    names.push_back("tool_" + std::to_string(i));
    grants.push_back(Tuple::Parse("agent:bot#viewer@tool:tool_" + std::to_string(i)).value());
  }
  ASSERT_TRUE(rebac_->WriteUnchecked(grants, {}).ok());
  auto v = Visible(*bot, names);  // warms the decision cache
  ASSERT_EQ(v->getVisible().size(), 1000u);
  const int kRounds = 20;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) ASSERT_EQ(Visible(*bot, names)->getVisible().size(), 1000u);
  auto per_call_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
          .count() /
      kRounds;
  std::printf("visible of 1000 names: %lld us per call (round trip)\n", static_cast<long long>(per_call_us));
  EXPECT_LT(per_call_us, 20000);  // well under a frame of an MCP tools/list
}

// ---------------------------------------------------------------- labelled

TEST_F(McpSocketTest, LabelledSessionRecordsItsCommand) {
  auto req = admin_->session().labelledRequest();
  req.setCommand("mcp:nexus_write_file");
  rpc::Session::Client labelled = req.send().getSession();
  Write(*admin_, FilesOf(labelled), "/l/a.txt", "one");
  Write(*admin_, FilesOf(admin_->session()), "/l/b.txt", "two");
  auto a = EventsFor("/l/a.txt");
  ASSERT_FALSE(a.empty());
  for (const auto& e : a) EXPECT_EQ(e.command, "mcp:nexus_write_file");
  auto b = EventsFor("/l/b.txt");
  ASSERT_FALSE(b.empty());
  for (const auto& e : b) EXPECT_NE(e.command, "mcp:nexus_write_file");

  // An agent's labelled session names the agent too.
  Caller root;
  root.umask = 0;
  ASSERT_TRUE(files_->MkDir(root, "/l2", 0777, false).ok());
  Grant("agent:bot#editor@folder:/l2");
  auto bot = Agent("bot");
  auto bot_req = bot->session().labelledRequest();
  bot_req.setCommand("mcp:nexus_edit_file");
  Write(*bot, FilesOf(bot_req.send().getSession()), "/l2/c.txt", "three");
  auto c = EventsFor("/l2/c.txt");
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0].command, "mcp:nexus_edit_file");
  EXPECT_EQ(c[0].agent_id, "bot");

  auto empty = admin_->session().labelledRequest();
  empty.setCommand("");
  auto r = admin_->Wait(empty.send());
  ASSERT_FALSE(r.ok());  // Session.labelled has no error field: the call fails
}

// ---------------------------------------------------------------- replace

TEST_F(McpSocketTest, ReplaceComparesContentIds) {
  auto files = FilesOf(admin_->session());
  auto replace = [&](const std::string& path, const std::string& data, const std::string& expected) {
    auto req = files.replaceRequest();
    req.setPath(path);
    req.setData(AsBytes(data));
    req.setExpectedContentId(expected);
    return admin_->Wait(req.send());
  };
  auto created = replace("/r.txt", "v1", "");
  ASSERT_EQ(CodeOf(created), Code::OK) << MessageOf(created);
  std::string id1 = created->getStat().getContentId();
  ASSERT_FALSE(id1.empty());
  EXPECT_EQ(CodeOfNow(replace("/r.txt", "again", "")), Code::CONFLICT);  // exists
  auto v2 = replace("/r.txt", "v2", id1);
  ASSERT_EQ(CodeOf(v2), Code::OK) << MessageOf(v2);
  auto stale = replace("/r.txt", "v3", id1);
  EXPECT_EQ(CodeOf(stale), Code::CONFLICT) << MessageOf(stale);
  auto read = files.readRequest();
  read.setPath("/r.txt");
  EXPECT_EQ(AsView(admin_->Wait(read.send())->getData()), "v2");  // nothing changed
  EXPECT_EQ(CodeOfNow(replace("/gone.txt", "x", id1)), Code::CONFLICT);
}

TEST_F(McpSocketTest, ConcurrentReplacesOnlyOneWins) {
  auto files = FilesOf(admin_->session());
  auto w = files.writeRequest();
  w.setPath("/c.txt");
  w.setData(AsBytes(std::string("base")));
  w.setTruncate(true);
  std::string id = admin_->Wait(w.send())->getStat().getContentId();
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i]() {
      Caller c;
      auto r = files_->Replace(c, "/c.txt", "writer " + std::to_string(i), id);
      (r.ok() ? wins : conflicts)++;
      if (!r.ok()) {
        EXPECT_EQ(r.code(), ESTALE);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
}

// ---------------------------------------------------------------- watch

TEST(WatchHubTest, WhatAWatchReports) {
  ChangeEvent ev;
  ev.kind = ChangeEvent::Kind::kContentClosed;
  ev.path = "/w/a.txt";
  ev.when = {2, 5};
  auto c = ToWatchedChange(ev);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->kind, "content");
  EXPECT_EQ(c->time_ns, 2'000'000'005);
  EXPECT_TRUE(ChangeIsUnder(*c, "/w"));
  EXPECT_TRUE(ChangeIsUnder(*c, "/"));
  EXPECT_TRUE(ChangeIsUnder(*c, "/w/a.txt"));
  EXPECT_FALSE(ChangeIsUnder(*c, "/w/a"));
  EXPECT_FALSE(ChangeIsUnder(*c, "/ww"));
  for (const char* hidden : {"/.nexus/versions/x", "/repo/.git/HEAD", "/.git", ""}) {
    ev.path = hidden;
    EXPECT_FALSE(ToWatchedChange(ev).has_value()) << hidden;
  }
  ev.path = "/repo/.gitignore";
  EXPECT_TRUE(ToWatchedChange(ev).has_value());
  // A rename into a watched folder concerns it.
  ev.kind = ChangeEvent::Kind::kRenamed;
  ev.path = "/tmp/x";
  ev.new_path = "/w/x";
  c = ToWatchedChange(ev);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->kind, "renamed");
  EXPECT_TRUE(ChangeIsUnder(*c, "/w"));
  // A removal a rename follows is the rename's.
  ev.kind = ChangeEvent::Kind::kRemoved;
  ev.by_rename = true;
  EXPECT_FALSE(ToWatchedChange(ev).has_value());
}

TEST(WatchHubTest, QueueOverflowsIntoOneChange) {
  WatchHub hub(3);
  auto w = hub.Add("/w");
  ChangeEvent ev;
  ev.kind = ChangeEvent::Kind::kCreated;
  for (int i = 0; i < 3; ++i) {
    ev.path = "/w/" + std::to_string(i);
    hub.OnChange(ev);
  }
  ev.path = "/other";
  hub.OnChange(ev);
  auto taken = w->Take();
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ(taken[2].path, "/w/2");
  for (int i = 0; i < 5; ++i) {
    ev.path = "/w/" + std::to_string(i);
    hub.OnChange(ev);
  }
  taken = w->Take();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].kind, "overflow");
  EXPECT_EQ(taken[0].path, "/w");
  EXPECT_TRUE(w->Take().empty());
  hub.Remove(w.get());
  EXPECT_EQ(hub.size(), 0u);
  hub.OnChange(ev);  // nobody listens: nothing happens
}

TEST_F(McpSocketTest, WatchDeliversFiltersAndEnds) {
  auto files = FilesOf(admin_->session());
  Write(*admin_, files, "/w/seed.txt", "s");
  Grant("agent:bot#viewer@folder:/w");
  auto bot = Agent("bot");
  RecordingWatcher::State state;
  auto req = FilesOf(bot->session()).watchRequest();
  req.setPath("/w");
  req.setWatcher(kj::heap<RecordingWatcher>(&state));
  // Only this client holds the subscription (not a reply that carried it).
  kj::Maybe<rpc::Subscription::Client> subscription;
  {
    auto sub = bot->Wait(req.send());
    ASSERT_EQ(CodeOf(sub), Code::OK) << MessageOf(sub);
    subscription = sub->getSubscription();
  }

  Write(*admin_, files, "/w/a.txt", "a");
  Write(*admin_, files, "/elsewhere.txt", "x");
  auto saw = [&](const std::string& path) {
    return std::any_of(state.changes.begin(), state.changes.end(),
                       [&](const WatchedChange& c) { return c.path == path; });
  };
  ASSERT_TRUE(PumpUntil(*bot, [&]() { return saw("/w/a.txt"); }));
  EXPECT_FALSE(saw("/elsewhere.txt"));
  bool created = false;
  for (const auto& c : state.changes) created = created || (c.path == "/w/a.txt" && c.kind == "created");
  EXPECT_TRUE(created);

  // Nothing inside a .git folder.
  Write(*admin_, files, "/w/.git/HEAD", "ref");
  // A revoke stops notifications from the next change on.
  Revoke("agent:bot#viewer@folder:/w");
  Write(*admin_, files, "/w/b.txt", "b");
  PumpUntil(
      *bot, [&]() { return saw("/w/b.txt"); }, 300);
  EXPECT_FALSE(saw("/w/b.txt"));
  EXPECT_FALSE(saw("/w/.git/HEAD"));

  // A path the subject may not see cannot be watched.
  auto hidden = FilesOf(bot->session()).watchRequest();
  hidden.setPath("/w");
  hidden.setWatcher(kj::heap<RecordingWatcher>(&state));
  auto h = bot->Wait(hidden.send());
  EXPECT_EQ(CodeOf(h), Code::NOT_FOUND) << MessageOf(h);

  // Dropping the subscription ends the watch.
  EXPECT_EQ(hub_.size(), 1u);
  subscription = nullptr;
  ASSERT_TRUE(PumpUntil(*bot, [&]() { return hub_.size() == 0; }));
}

TEST_F(McpSocketTest, WatchCoalescesAndOverflows) {
  auto files = FilesOf(admin_->session());
  Write(*admin_, files, "/o/seed.txt", "s");
  RecordingWatcher::State state;
  state.hold = true;
  auto req = FilesOf(admin_->session()).watchRequest();
  req.setPath("/o");
  req.setWatcher(kj::heap<RecordingWatcher>(&state));
  auto sub = admin_->Wait(req.send());
  ASSERT_EQ(CodeOf(sub), Code::OK) << MessageOf(sub);
  rpc::Subscription::Client subscription = sub->getSubscription();

  Write(*admin_, files, "/o/first.txt", "1");
  ASSERT_TRUE(PumpUntil(*admin_, [&]() { return state.calls == 1; }));
  // While the first call is unanswered, far more changes than the queue
  // holds (8 in this hub).
  for (int i = 0; i < 20; ++i) Write(*admin_, files, "/o/f" + std::to_string(i), "x");
  PumpUntil(
      *admin_, [&]() { return state.calls > 1; }, 200);
  EXPECT_EQ(state.calls, 1);  // one at a time
  state.hold = false;
  state.held->fulfill();
  ASSERT_TRUE(PumpUntil(*admin_, [&]() { return state.calls >= 2; }));
  EXPECT_EQ(state.max_outstanding, 1);
  ASSERT_FALSE(state.changes.empty());
  const WatchedChange& last = state.changes.back();
  EXPECT_EQ(last.kind, "overflow");
  EXPECT_EQ(last.path, "/o");
}

}  // namespace
}  // namespace nexus
