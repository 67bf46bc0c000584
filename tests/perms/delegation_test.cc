#include "perms/delegation.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "base/ns_path.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using V = DelegationDecision::Verdict;
constexpr Permission kRead = Permission::kRead;
constexpr Permission kWrite = Permission::kWrite;
constexpr Permission kManage = Permission::kManage;

// ---------------------------------------------------------------- globs

struct CoverCase {
  const char* glob;
  const char* path;
  bool covered;
};

TEST(ScopeGlobTest, Covers) {
  const CoverCase cases[] = {
      {"/proj/*", "/proj", true},  // a trailing * covers its directory
      {"/proj/*", "/proj/a", true},
      {"/proj/*", "/proj/a/b/c", true},  // below a match
      {"/proj/*", "/projx", false},
      {"/proj/*", "/", false},
      {"/proj/*", "/other/a", false},
      {"/proj", "/proj/a", true},
      {"/proj/*.md", "/proj/a.md", true},
      {"/proj/*.md", "/proj/a.txt", false},
      {"/proj/*.md", "/proj", false},
      {"/proj/?.c", "/proj/x.c", true},
      {"/proj/?.c", "/proj/xy.c", false},
      {"/proj/[ab]*", "/proj/apple", true},
      {"/proj/[!ab]*", "/proj/apple", false},
      {"/proj/[a-c]x", "/proj/bx", true},
      {"/proj/**/x.c", "/proj/x.c", true},
      {"/proj/**/x.c", "/proj/a/b/x.c", true},
      {"/proj/**/x.c", "/proj/a/b/y.c", false},
      {"/proj/**", "/proj", true},
      {"/proj/**", "/proj/deep/er", true},
      {"/*/docs", "/a/docs/x", true},
      {"/*/docs", "/a/src", false},
      {"/proj/*/*", "/proj", false},
      {"/proj/*/*", "/proj/a", true},  // the directory of the last `*`
      {"/", "/anything/at/all", true},
      {"/*", "/", true},
  };
  for (const CoverCase& c : cases) {
    auto g = ScopeGlob::Parse(c.glob);
    ASSERT_TRUE(g.ok()) << c.glob << ": " << g.status().ToString();
    EXPECT_EQ(g->Covers(c.path), c.covered) << c.glob << " vs " << c.path;
  }
}

TEST(ScopeGlobTest, Roots) {
  EXPECT_EQ(ScopeGlob::Parse("/proj/*")->root(), "/proj");
  EXPECT_EQ(ScopeGlob::Parse("/proj/src/*.c")->root(), "/proj/src");
  EXPECT_EQ(ScopeGlob::Parse("/proj/a.txt")->root(), "/proj/a.txt");
  EXPECT_EQ(ScopeGlob::Parse("/*/docs")->root(), "/");
  EXPECT_EQ(ScopeGlob::Parse("/")->root(), "/");
}

TEST(ScopeGlobTest, RejectsBadGlobs) {
  for (const char* bad : {"", "proj/*", "/proj/", "/proj//a", "/proj/../x", "/./x", "/a**b", "/proj/[ab",
                          "/a\nb", "/**/**/**/**/**"}) {
    auto g = ScopeGlob::Parse(bad);
    EXPECT_FALSE(g.ok()) << "'" << bad << "' parsed";
    if (!g.ok()) {
      EXPECT_EQ(g.code(), EINVAL) << bad;
    }
  }
}

TEST(DelegationSubjectTest, Forms) {
  EXPECT_EQ(*ParseDelegationSubject("helper"), "agent:helper");
  EXPECT_EQ(*ParseDelegationSubject("agent:helper"), "agent:helper");
  EXPECT_EQ(*ParseDelegationSubject("user:alice"), "user:alice");
  for (const char* bad : {"group:ops", "user:*", "zone:eng", "", "a b", "group:ops#member"})
    EXPECT_EQ(ParseDelegationSubject(bad).code(), EINVAL) << bad;
  EXPECT_EQ(*ParseDelegationMode("CLEAN"), DelegationMode::kClean);
  EXPECT_EQ(ParseDelegationMode("borrow").code(), EINVAL);
}

// ---------------------------------------------------------------- the table

// The engine, in miniature: grants of a permission on a path, inherited
// below it; a permission implies the weaker ones.
class FakeEngine {
 public:
  void Grant(const std::string& subject, const std::string& path, Permission p) {
    std::lock_guard lk(mu_);
    grants_[{subject, path}] = p;
  }
  void Take(const std::string& subject, const std::string& path) {
    std::lock_guard lk(mu_);
    grants_.erase({subject, path});
  }
  bool Holds(std::string_view subject, Permission p, std::string_view path) {
    std::lock_guard lk(mu_);
    for (const auto& [key, granted] : grants_)
      if (key.first == subject && granted >= p && PathIsUnder(path, key.second)) return true;
    return false;
  }
  std::vector<std::pair<std::string, bool>> Objects(std::string_view subject) {
    std::lock_guard lk(mu_);
    std::vector<std::pair<std::string, bool>> out;
    for (const auto& [key, granted] : grants_)
      if (key.first == subject) out.emplace_back(key.second, true);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Permission> grants_;
};

class RecordingAudit final : public AuditSink {
 public:
  void Record(AuditRecord r) override {
    std::lock_guard lk(mu_);
    records.push_back(std::move(r));
  }
  size_t Count(std::string_view op, bool allowed) {
    std::lock_guard lk(mu_);
    size_t n = 0;
    for (const auto& r : records) n += r.operation == op && r.allowed == allowed;
    return n;
  }
  std::mutex mu_;
  std::vector<AuditRecord> records;
};

const DelegationCaller kAlice{"user:alice", false, nullptr};
const DelegationCaller kBob{"user:bob", false, nullptr};
const DelegationCaller kAdmin{"user:admin", true, nullptr};

class DelegationTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_.Grant("user:alice", "/proj", kManage);
    engine_.Grant("user:alice", "/other", kManage);
    engine_.Grant("agent:helper", "/helper-home", kWrite);
    table_ = Open();
  }
  std::unique_ptr<DelegationTable> Open() {
    DelegationTable::Options o;
    o.own_access = [this](std::string_view s, Permission p, std::string_view path, bool) {
      return engine_.Holds(s, p, path);
    };
    o.objects_of = [this](std::string_view s) { return engine_.Objects(s); };
    o.audit = &audit_;
    o.clock = &clock_;
    o.on_change = [this] { ++changes_; };
    auto t = DelegationTable::Open(dir_.path() + "/delegations.db", o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  }
  DelegationRequest Req(std::string from, std::string to, std::vector<std::string> scope, DelegationMode mode,
                        std::string relation = "") {
    DelegationRequest r;
    r.from = std::move(from);
    r.to = std::move(to);
    r.scope = std::move(scope);
    r.mode = mode;
    r.relation = std::move(relation);
    return r;
  }
  DelegationRecord Create(const DelegationCaller& caller, const DelegationRequest& req) {
    auto r = table_->Create(caller, req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : DelegationRecord{};
  }
  // The policy's combination: delegations, then (unless confined) own grants.
  bool Allowed(const std::string& subject, Permission p, const std::string& path) {
    DelegationDecision d = table_->Decide(subject, p, path, false);
    if (d.exclusive || d.verdict == V::kAllow) return d.verdict == V::kAllow;
    return engine_.Holds(subject, p, path);
  }

  nexus::testing::TempDir dir_;
  ManualClock clock_;
  FakeEngine engine_;
  RecordingAudit audit_;
  int changes_ = 0;
  std::unique_ptr<DelegationTable> table_;
};

TEST_F(DelegationTableTest, NoDelegationIsNoAnswer) {
  DelegationDecision d = table_->Decide("agent:helper", kRead, "/proj/a", false);
  EXPECT_EQ(d.verdict, V::kNone);
  EXPECT_FALSE(d.exclusive);
  EXPECT_FALSE(table_->PassableFor("agent:helper", "/"));
}

TEST_F(DelegationTableTest, RejectsBadInput) {
  auto code = [&](DelegationRequest r) { return table_->Create(kAlice, r).code(); };
  auto ok = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean, "editor");
  EXPECT_EQ(code(ok), 0);
  auto r = ok;
  r.to = "user:alice";
  EXPECT_EQ(code(r), EINVAL);  // from == to
  r = ok;
  r.scope = {};
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.scope = {"proj/*"};
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.readonly = {"/proj/[x"};
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.relation = "owner";
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.relation = "member";
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.ttl_seconds = 0;
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.ttl_seconds = -5;
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.max_depth = 99;
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.to = "group:ops";
  EXPECT_EQ(code(r), EINVAL);
  r = ok;
  r.to = "user:admin";
  EXPECT_EQ(code(r), EINVAL);
}

TEST_F(DelegationTableTest, WhoMayCreateAndRevoke) {
  auto req = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean);
  EXPECT_EQ(table_->Create(kBob, req).code(), EACCES);
  EXPECT_EQ(audit_.Count("delegation.create", false), 1u);
  // The owner of an agent delegates for it.
  engine_.Grant("agent:scout", "/proj", kRead);
  DelegationCaller owner{"user:alice", false, [](std::string_view s) -> std::optional<std::string> {
                           if (s == "agent:scout") return "user:alice";
                           return std::nullopt;
                         }};
  DelegationRecord d = Create(owner, Req("scout", "helper", {"/proj/*"}, DelegationMode::kShared));
  EXPECT_EQ(d.from, "agent:scout");
  EXPECT_EQ(d.created_by, "user:alice");
  EXPECT_EQ(audit_.Count("delegation.create", true), 1u);
  // Reading: parties and admins; others do not learn it exists.
  EXPECT_TRUE(table_->Get(owner, d.id).ok());
  EXPECT_TRUE(table_->Get(DelegationCaller{"agent:helper", false, nullptr}, d.id).ok());
  EXPECT_TRUE(table_->Get(kAdmin, d.id).ok());
  EXPECT_EQ(table_->Get(kBob, d.id).code(), ENOENT);
  EXPECT_EQ(table_->List(kBob, {})->size(), 0u);
  EXPECT_EQ(table_->List(kAdmin, {})->size(), 1u);
  // Revoking: the delegating side; the delegate may read but not revoke.
  EXPECT_EQ(table_->Revoke(kBob, d.id).code(), ENOENT);
  EXPECT_EQ(table_->Revoke(DelegationCaller{"agent:helper", false, nullptr}, d.id).code(), EACCES);
  EXPECT_TRUE(table_->Revoke(owner, d.id).ok());
  EXPECT_EQ(table_->Revoke(owner, d.id).code(), EINVAL);  // already revoked
  EXPECT_EQ(table_->Revoke(kAdmin, "dlg-nothere").code(), ENOENT);
  EXPECT_EQ(changes_, 2);
}

TEST_F(DelegationTableTest, CleanGivesOnlyTheRelationOnTheScope) {
  DelegationRecord d =
      Create(kAlice, Req("user:alice", "agent:helper", {"/proj/*"}, DelegationMode::kClean, "editor"));
  EXPECT_EQ(d.relation, Relation::kEditor);
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/a.txt"));
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj/a.txt"));
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj"));  // creating files in it
  EXPECT_FALSE(Allowed("agent:helper", kManage, "/proj/a.txt"));
  EXPECT_FALSE(Allowed("agent:helper", kRead, "/other/x"));
  // Its own grants are suspended while it is confined.
  EXPECT_FALSE(Allowed("agent:helper", kRead, "/helper-home/notes"));
  DelegationDecision out = table_->Decide("agent:helper", kRead, "/helper-home/notes", false);
  EXPECT_EQ(out.verdict, V::kDeny);
  EXPECT_TRUE(out.exclusive);
  EXPECT_NE(out.reason.find("outside the scope"), std::string::npos) << out.reason;
  EXPECT_TRUE(table_->Confined("agent:helper"));
  // It sees the scope root and the folders above, nothing else.
  EXPECT_TRUE(table_->PassableFor("agent:helper", "/"));
  EXPECT_TRUE(table_->PassableFor("agent:helper", "/proj"));
  EXPECT_FALSE(table_->PassableFor("agent:helper", "/other"));
  ASSERT_TRUE(table_->Revoke(kAlice, d.id).ok());
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/helper-home/notes"));
  EXPECT_FALSE(Allowed("agent:helper", kRead, "/proj/a.txt"));
  EXPECT_FALSE(table_->Confined("agent:helper"));
}

TEST_F(DelegationTableTest, CleanViewerDefault) {
  DelegationRecord d = Create(kAlice, Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean));
  EXPECT_EQ(d.relation, Relation::kViewer);
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/a"));
  DelegationDecision w = table_->Decide("agent:helper", kWrite, "/proj/a", false);
  EXPECT_EQ(w.verdict, V::kDeny);
  EXPECT_EQ(w.id, d.id);
}

TEST_F(DelegationTableTest, AttenuationAtCreationAndAtUse) {
  engine_.Grant("user:carol", "/proj/docs", kRead);
  DelegationCaller carol{"user:carol", false, nullptr};
  auto editor = Req("user:carol", "helper", {"/proj/docs/*"}, DelegationMode::kClean, "editor");
  EXPECT_EQ(table_->Create(carol, editor).code(), EACCES);  // carol only reads there
  auto wider = Req("user:carol", "helper", {"/proj/*"}, DelegationMode::kShared);
  EXPECT_EQ(table_->Create(carol, wider).code(), EACCES);  // nor holds /proj
  DelegationRecord d = Create(carol, Req("user:carol", "helper", {"/proj/docs/*"}, DelegationMode::kShared));
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/docs/a"));
  EXPECT_FALSE(Allowed("agent:helper", kWrite, "/proj/docs/a"));  // shared: no more than carol
  engine_.Take("user:carol", "/proj/docs");
  DelegationDecision gone = table_->Decide("agent:helper", kRead, "/proj/docs/a", false);
  EXPECT_EQ(gone.verdict, V::kDeny);
  EXPECT_NE(gone.reason.find("does not hold"), std::string::npos) << gone.reason;
  // Shared follows FROM's access as it grows.
  engine_.Grant("user:carol", "/proj/docs", kWrite);
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj/docs/a"));
  (void)d;
}

TEST_F(DelegationTableTest, CopyIsTheAccessAtCreation) {
  engine_.Grant("user:carol", "/proj", kRead);
  engine_.Grant("user:carol", "/proj/src", kWrite);
  DelegationCaller carol{"user:carol", false, nullptr};
  DelegationRecord d = Create(carol, Req("user:carol", "helper", {"/proj/*"}, DelegationMode::kCopy));
  EXPECT_EQ(d.snapshot, (std::vector<SnapshotEntry>{{"/proj", kRead}, {"/proj/src", kWrite}}));
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/readme"));
  EXPECT_FALSE(Allowed("agent:helper", kWrite, "/proj/readme"));
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj/src/main.c"));
  // The helper keeps its own grants (copy does not confine).
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/helper-home/x"));
  // What carol gains later is not copied ...
  engine_.Grant("user:carol", "/proj", kWrite);
  EXPECT_FALSE(Allowed("agent:helper", kWrite, "/proj/readme"));
  // ... and what she loses is lost (attenuation at use).
  engine_.Take("user:carol", "/proj/src");
  engine_.Take("user:carol", "/proj");
  EXPECT_FALSE(Allowed("agent:helper", kRead, "/proj/src/main.c"));
}

TEST_F(DelegationTableTest, ReadonlyGlobsRefuseWrites) {
  auto req = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean, "editor");
  req.readonly = {"/proj/docs"};
  DelegationRecord d = Create(kAlice, req);
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj/src/a"));
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/docs/a"));
  DelegationDecision w = table_->Decide("agent:helper", kWrite, "/proj/docs/a", false);
  EXPECT_EQ(w.verdict, V::kDeny);
  EXPECT_NE(w.reason.find("read-only under /proj/docs"), std::string::npos) << w.reason;
  (void)d;
}

TEST_F(DelegationTableTest, ExpiresAtItsInstant) {
  auto req = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kShared);
  req.ttl_seconds = 2;
  DelegationRecord d = Create(kAlice, req);
  EXPECT_EQ(d.expires_at, d.created_at + 2'000'000'000);
  EXPECT_EQ(table_->ValidUntil("agent:helper"), d.expires_at);
  clock_.Set(d.expires_at - 1);
  EXPECT_TRUE(Allowed("agent:helper", kRead, "/proj/a"));
  clock_.Set(d.expires_at);
  EXPECT_FALSE(Allowed("agent:helper", kRead, "/proj/a"));
  EXPECT_EQ(table_->Get(kAlice, d.id)->State(clock_.Now()), "expired");
  EXPECT_EQ(table_->ValidUntil("agent:helper"), kNever);
}

TEST_F(DelegationTableTest, ChainsDepthAndCascade) {
  auto first = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean, "editor");
  first.max_depth = 1;
  first.ttl_seconds = 100;
  DelegationRecord a = Create(kAlice, first);
  // helper re-delegates a part of what it was given: the parent is found.
  DelegationCaller helper{"agent:helper", false, nullptr};
  auto second = Req("helper", "helper2", {"/proj/src/*"}, DelegationMode::kClean, "editor");
  second.max_depth = 5;  // capped by the parent's budget
  DelegationRecord b = Create(helper, second);
  EXPECT_EQ(b.parent, a.id);
  EXPECT_EQ(b.depth, 1u);
  EXPECT_EQ(b.max_depth, 0u);
  EXPECT_EQ(b.expires_at, a.expires_at);
  EXPECT_TRUE(Allowed("agent:helper2", kWrite, "/proj/src/x"));
  EXPECT_FALSE(Allowed("agent:helper2", kRead, "/proj/readme"));
  // Beyond the depth: refused.
  DelegationCaller helper2{"agent:helper2", false, nullptr};
  EXPECT_EQ(
      table_->Create(helper2, Req("helper2", "helper3", {"/proj/src/*"}, DelegationMode::kShared)).code(),
      EPERM);
  // A confined delegator cannot hand out more than its delegation.
  EXPECT_EQ(table_->Create(helper, Req("helper", "helper4", {"/other/*"}, DelegationMode::kShared)).code(),
            EACCES);
  EXPECT_EQ(
      table_->Create(helper, Req("helper", "helper4", {"/helper-home/*"}, DelegationMode::kShared)).code(),
      EACCES);
  // The chain, from the first.
  auto chain = table_->Chain(kAlice, b.id);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].id, a.id);
  EXPECT_EQ((*chain)[1].id, b.id);
  chain = table_->Chain(kAlice, a.id);
  ASSERT_EQ(chain->size(), 2u);
  // Attenuation through the chain: alice loses /proj, helper2 loses it too.
  engine_.Take("user:alice", "/proj");
  EXPECT_FALSE(Allowed("agent:helper2", kWrite, "/proj/src/x"));
  engine_.Grant("user:alice", "/proj", kManage);
  // Revoking the first revokes what was made from it.
  auto revoked = table_->Revoke(kAlice, a.id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, (std::vector<std::string>{a.id, b.id}));
  EXPECT_FALSE(Allowed("agent:helper2", kWrite, "/proj/src/x"));
  EXPECT_EQ(table_->Get(kAlice, b.id)->revoked_by, "user:alice");
  EXPECT_EQ(audit_.Count("delegation.revoke", true), 2u);
}

TEST_F(DelegationTableTest, NoReDelegationByDefault) {
  Create(kAlice, Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kClean));
  DelegationCaller helper{"agent:helper", false, nullptr};
  EXPECT_EQ(table_->Create(helper, Req("helper", "h2", {"/proj/*"}, DelegationMode::kClean)).code(), EPERM);
}

TEST_F(DelegationTableTest, SurvivesReopen) {
  auto req = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kCopy, "editor");
  req.readonly = {"/proj/docs"};
  req.ttl_seconds = 60;
  req.max_depth = 2;
  DelegationRecord a = Create(kAlice, req);
  clock_.Advance(1s);
  DelegationRecord b = Create(kAlice, Req("user:alice", "other", {"/other/*"}, DelegationMode::kShared));
  ASSERT_TRUE(table_->Revoke(kAlice, b.id).ok());
  table_.reset();
  table_ = Open();
  auto all = table_->List(kAdmin, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0], a);
  EXPECT_NE((*all)[1].revoked_at, 0);
  EXPECT_TRUE(Allowed("agent:helper", kWrite, "/proj/a"));
  EXPECT_FALSE(Allowed("agent:other", kRead, "/other/a"));
  auto to_helper = table_->List(kAdmin, {.from = std::nullopt, .to = "helper"});
  ASSERT_EQ(to_helper->size(), 1u);
  EXPECT_EQ((*to_helper)[0].id, a.id);
}

TEST_F(DelegationTableTest, CascadeSurvivesReopen) {
  // All made at the same instant: the load order of parent and child is
  // left to their ids.
  auto first = Req("user:alice", "helper", {"/proj/*"}, DelegationMode::kShared);
  first.max_depth = 3;
  DelegationRecord a = Create(kAlice, first);
  std::vector<std::string> ids{a.id};
  std::string from = "helper";
  for (const char* to : {"h2", "h3", "h4"}) {
    auto req = Req(from, to, {"/proj/*"}, DelegationMode::kShared);
    req.max_depth = 3;
    ids.push_back(Create(kAdmin, req).id);
    from = to;
  }
  table_.reset();
  table_ = Open();
  auto chain = table_->Chain(kAlice, a.id);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 4u);
  auto revoked = table_->Revoke(kAlice, a.id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, ids);
  EXPECT_FALSE(Allowed("agent:h4", kRead, "/proj/a"));
}

}  // namespace
}  // namespace nexus
