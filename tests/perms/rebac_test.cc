#include "perms/rebac.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "perms/audit.h"
#include "tests/perms/rebac_test_util.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;
using testing::EngineFixture;
using testing::T;

class RebacTest : public EngineFixture {};

struct CheckCase {
  const char* subject;
  const char* access;
  const char* object;
  bool want;
};

// One small world, many questions: the table is the model in examples.
TEST_F(RebacTest, ModelTable) {
  Add({"user:alice#viewer@file:/docs/a.txt", "user:bob#editor@folder:/src",
       "user:carol#owner@folder:/zone/eng", "user:dave#admin@zone:eng",
       "group:eng#member#viewer@folder:/zone/eng/specs", "user:erin#member@group:eng",
       "agent:bot#editor@file:/src/main.cc", "user:*#viewer@folder:/pub", "user:frank#viewer@tool:grep",
       "user:gina#viewer@folder:/tools", "user:hank#member@zone:eng",
       "zone:eng#member#viewer@folder:/zone/eng/wiki", "user:ivan#owner@group:eng"});
  const CheckCase cases[] = {
      // Direct relations and the permission ladder.
      {"user:alice", "read", "file:/docs/a.txt", true},
      {"user:alice", "viewer", "file:/docs/a.txt", true},
      {"user:alice", "write", "file:/docs/a.txt", false},
      {"user:alice", "read", "file:/docs/b.txt", false},
      {"user:bob", "write", "folder:/src", true},
      {"user:bob", "read", "folder:/src", true},
      {"user:bob", "manage", "folder:/src", false},
      // Inherited from parent folders, at any depth; relations are not.
      {"user:bob", "write", "file:/src/a/b/c/d.cc", true},
      {"user:bob", "editor", "file:/src/a/b/c/d.cc", false},
      {"user:bob", "write", "file:/srcx", false},
      {"user:carol", "manage", "file:/zone/eng/x/y", true},
      {"user:carol", "read", "file:/zone/ops/x", false},
      // Zone admins manage everything in their zone, nothing outside.
      {"user:dave", "manage", "file:/zone/eng/deep/er/file", true},
      {"user:dave", "manage", "folder:/zone/eng", true},
      {"user:dave", "read", "file:/zone/ops/x", false},
      {"user:dave", "read", "file:/docs/a.txt", false},
      {"user:dave", "member", "zone:eng", true},
      {"user:dave", "manage", "zone:eng", true},
      // Groups.
      {"user:erin", "read", "file:/zone/eng/specs/s1.md", true},
      {"user:erin", "write", "file:/zone/eng/specs/s1.md", false},
      {"group:eng#member", "read", "file:/zone/eng/specs/s1.md", true},
      {"user:ivan", "read", "file:/zone/eng/specs/s1.md", false},
      {"user:ivan", "manage", "group:eng", true},
      // Agents are subjects of their own.
      {"agent:bot", "write", "file:/src/main.cc", true},
      {"agent:bot", "write", "file:/src/other.cc", false},
      // user:* is every user, not agents.
      {"user:anyone", "read", "file:/pub/readme", true},
      {"user:anyone", "write", "file:/pub/readme", false},
      {"agent:bot", "read", "file:/pub/readme", false},
      // Tools live at /tools/<name>.
      {"user:frank", "read", "tool:grep", true},
      {"user:frank", "read", "tool:sed", false},
      {"user:gina", "read", "tool:sed", true},
      // Zone members (and admins) through a zone userset.
      {"user:hank", "read", "file:/zone/eng/wiki/home", true},
      {"user:dave", "read", "file:/zone/eng/wiki/home", true},
      {"user:erin", "read", "file:/zone/eng/wiki/home", false},
      // The bootstrapped root owner administers everything.
      {"user:root", "manage", "file:/anything/at/all", true},
      {"user:root", "manage", "zone:eng", true},
      {"user:root", "manage", "group:eng", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Can(c.subject, c.access, c.object), c.want) << c.subject << " " << c.access << " " << c.object;
  }
}

TEST_F(RebacTest, BadInputIsEinval) {
  EXPECT_EQ(engine_->Check("alice", "read", "file:/a").code(), EINVAL);
  EXPECT_EQ(engine_->Check("user:alice", "fly", "file:/a").code(), EINVAL);
  EXPECT_EQ(engine_->Check("user:alice", "read", "file:a").code(), EINVAL);
  EXPECT_EQ(engine_->WriteUnchecked({T("user:a#viewer@file:/x")}, {}).code(), 0);
  Tuple bad = T("user:a#viewer@file:/x");
  bad.relation = Relation::kAdmin;
  EXPECT_EQ(engine_->WriteUnchecked({bad}, {}).code(), EINVAL);
}

TEST_F(RebacTest, NestedGroupsAndCycles) {
  Add({"group:g1#member#viewer@folder:/proj", "group:g2#member#member@group:g1",
       "group:g3#member#member@group:g2", "group:g4#member#member@group:g3",
       "group:g5#member#member@group:g4", "user:deep#member@group:g5",
       // A cycle: a ⊂ b ⊂ a, neither with a path to /proj.
       "group:a#member#member@group:b", "group:b#member#member@group:a", "user:cyc#member@group:a",
       "group:b#member#viewer@folder:/other"});
  EXPECT_TRUE(Can("user:deep", "read", "file:/proj/x/y"));
  EXPECT_FALSE(Can("user:cyc", "read", "file:/proj/x"));
  EXPECT_TRUE(Can("user:cyc", "read", "file:/other/x"));
  auto ex = engine_->Explain("user:cyc", "read", "file:/proj/x");
  ASSERT_TRUE(ex.ok());
  EXPECT_FALSE(ex->allowed);
  // A group in a cycle that does reach a grant still gets it.
  Add({"group:a#member#viewer@folder:/proj"});
  EXPECT_TRUE(Can("user:cyc", "read", "file:/proj/x"));
}

TEST_F(RebacTest, CycleIsReportedWhenNothingElseGrants) {
  Add({"group:a#member#member@group:b", "group:b#member#member@group:a", "group:a#member#viewer@file:/f"});
  auto ex = engine_->Explain("user:nobody", "read", "file:/f");
  ASSERT_TRUE(ex.ok());
  EXPECT_FALSE(ex->allowed);
  EXPECT_EQ(ex->reason, DenyReason::kCycle);
}

// A chain file <- g1 <- g2 <- ... <- gN <- user: N userset hops.
void Chain(RebacEngine& e, int n, const std::string& prefix) {
  std::vector<Tuple> adds{T("group:" + prefix + "1#member#viewer@file:/" + prefix)};
  for (int i = 2; i <= n; ++i) {
    adds.push_back(
        T("group:" + prefix + std::to_string(i) + "#member#member@group:" + prefix + std::to_string(i - 1)));
  }
  adds.push_back(T("user:u#member@group:" + prefix + std::to_string(n)));
  ASSERT_TRUE(e.WriteUnchecked(std::move(adds), {}).ok());
}

TEST_F(RebacTest, DepthLimitIs32Hops) {
  // Capture the warning the engine logs when it cuts a path.
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  Chain(*engine_, kMaxDepth, "ok");
  Chain(*engine_, kMaxDepth + 1, "over");
  Chain(*engine_, 40, "far");
  EXPECT_TRUE(Can("user:u", "read", "file:/ok"));
  EXPECT_FALSE(Can("user:u", "read", "file:/over"));
  EXPECT_FALSE(Can("user:u", "read", "file:/far"));
  spdlog::set_default_logger(previous);
  EXPECT_NE(log.str().find("user:u read file:/far"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find("file:/ok"), std::string::npos) << log.str();
  auto ex = engine_->Explain("user:u", "read", "file:/far");
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->reason, DenyReason::kDepthLimit);
  EXPECT_NE(ex->message.find("32"), std::string::npos) << ex->message;
}

TEST_F(RebacTest, ExpiryGrantsUntilTheInstantAndNeverAfter) {
  UnixNanos t0 = clock_.Now();
  Add({"user:tmp#viewer@folder:/a"}, t0 + 10'000'000'000);  // 10 s
  Add({"group:short#member#viewer@folder:/b", "user:tmp#member@group:short"});
  Add({"user:tmp#member@group:short"}, t0 + 5'000'000'000);  // shorten membership to 5 s
  EXPECT_TRUE(Can("user:tmp", "read", "file:/a/x"));
  EXPECT_TRUE(Can("user:tmp", "read", "file:/b/x"));
  // Cached answers must not outlive the tuples that made them.
  clock_.Advance(5s);
  EXPECT_TRUE(Can("user:tmp", "read", "file:/a/x"));
  EXPECT_FALSE(Can("user:tmp", "read", "file:/b/x"));
  clock_.Advance(5s);
  EXPECT_FALSE(Can("user:tmp", "read", "file:/a/x"));
  // Reading did not extend anything; going back in time shows the tuple
  // is still stored with its original expiry.
  auto ex = engine_->Explain("user:tmp", "read", "file:/a/x");
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->reason, DenyReason::kExpired);
  ASSERT_EQ(ex->path.size(), 1u);
  EXPECT_EQ(ex->path[0].expires_at, t0 + 10'000'000'000);
  EXPECT_NE(ex->message.find("expired at"), std::string::npos) << ex->message;
  clock_.Set(t0 + 9'000'000'000);
  EXPECT_TRUE(Can("user:tmp", "read", "file:/a/x"));
}

TEST_F(RebacTest, RevokeIsEffectiveOnTheNextCall) {
  Add({"user:a#editor@folder:/w"});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Can("user:a", "write", "file:/w/f"));
  EXPECT_GT(engine_->cache_hits(), 0u);
  Remove({"user:a#editor@folder:/w"});
  EXPECT_FALSE(Can("user:a", "write", "file:/w/f"));
  Add({"user:a#editor@folder:/w"});
  EXPECT_TRUE(Can("user:a", "write", "file:/w/f"));
}

TEST_F(RebacTest, WritesAreAtomicAndRevisioned) {
  uint64_t r0 = engine_->revision();
  Add({"user:a#viewer@file:/x"});
  EXPECT_EQ(engine_->revision(), r0 + 1);
  // A batch with a missing delete changes nothing.
  auto bad = engine_->WriteUnchecked({T("user:b#viewer@file:/x")}, {T("user:zz#viewer@file:/x")});
  EXPECT_EQ(bad.code(), ENOENT);
  EXPECT_EQ(engine_->revision(), r0 + 1);
  EXPECT_FALSE(Can("user:b", "read", "file:/x"));
  // Compare-and-swap on the revision.
  EXPECT_EQ(engine_->WriteUnchecked({T("user:b#viewer@file:/x")}, {}, r0).code(), ESTALE);
  auto ok = engine_->WriteUnchecked({T("user:b#viewer@file:/x")}, {T("user:a#viewer@file:/x")}, r0 + 1);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, r0 + 2);
  EXPECT_TRUE(Can("user:b", "read", "file:/x"));
  EXPECT_FALSE(Can("user:a", "read", "file:/x"));
}

TEST_F(RebacTest, TuplesAndRevisionSurviveReopen) {
  UnixNanos exp = clock_.Now() + 60'000'000'000;
  Add({"user:a#viewer@file:/x", "group:g#member#editor@folder:/y"});
  Add({"user:b#member@group:g"}, exp);
  auto zoned = T("user:c#viewer@file:/z");
  zoned.zone = "custom";
  ASSERT_TRUE(engine_->WriteUnchecked({zoned}, {}).ok());
  uint64_t rev = engine_->revision();
  size_t count = engine_->tuple_count();
  Reopen();
  EXPECT_EQ(engine_->revision(), rev);  // the bootstrap owner exists: no new write
  EXPECT_EQ(engine_->tuple_count(), count);
  EXPECT_TRUE(Can("user:a", "read", "file:/x"));
  EXPECT_TRUE(Can("user:b", "write", "file:/y/q"));
  TupleFilter f;
  f.subject_id = "b";
  auto listed = engine_->ListTuples(f);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].expires_at, exp);
  f = {};
  f.zone = "custom";
  ASSERT_EQ(engine_->ListTuples(f).size(), 1u);
}

TEST_F(RebacTest, ListTuplesFilters) {
  Add({"user:a#viewer@file:/zone/eng/x", "user:a#editor@folder:/zone/ops", "agent:b#viewer@file:/zone/eng/x",
       "group:g#member#owner@tool:grep"});
  auto count = [&](TupleFilter f) { return engine_->ListTuples(f).size(); };
  TupleFilter f;
  f.subject_type = ObjectType::kUser;
  f.subject_id = "a";
  EXPECT_EQ(count(f), 2u);
  f = {};
  f.object_type = ObjectType::kFile;
  f.object_id = "/zone/eng/x";
  EXPECT_EQ(count(f), 2u);
  f = {};
  f.relation = Relation::kOwner;
  EXPECT_EQ(count(f), 2u);  // tool:grep and the bootstrapped zone:root owner
  f = {};
  f.zone = "eng";
  EXPECT_EQ(count(f), 2u);
  f = {};
  f.subject_type = ObjectType::kGroup;
  EXPECT_EQ(count(f), 1u);
  EXPECT_EQ(engine_->ListTuples({}, 3).size(), 3u);
}

TEST_F(RebacTest, ZonesKnownAndObjectsInThem) {
  Add({"user:a#viewer@file:/zone/eng/x", "user:a#viewer@group:g"});
  Tuple labelled = T("agent:b#viewer@file:/workspace/r.csv");
  labelled.zone = "org_acme";
  ASSERT_TRUE(engine_->WriteUnchecked({labelled}, {}).ok());
  EXPECT_TRUE(engine_->KnowsZone("root"));
  EXPECT_TRUE(engine_->KnowsZone("eng"));       // a path under /zone/eng
  EXPECT_TRUE(engine_->KnowsZone("org_acme"));  // a label
  EXPECT_FALSE(engine_->KnowsZone("nowhere"));
  struct Case {
    const char* object;
    const char* zone;
    bool in;
  } cases[] = {
      {"file:/zone/eng/x", "eng", true},
      {"file:/zone/eng/new", "eng", true},
      {"file:/zone/eng/x", "root", false},
      {"file:/workspace/r.csv", "org_acme", true},
      {"file:/workspace/r.csv", "root", true},
      {"file:/workspace/other", "org_acme", false},
      {"zone:eng", "eng", true},
      {"group:g", "root", true},
      {"group:g", "eng", false},
  };
  for (const auto& c : cases) {
    auto in = engine_->InZone(c.object, c.zone);
    ASSERT_TRUE(in.ok()) << c.object;
    EXPECT_EQ(*in, c.in) << c.object << " in " << c.zone;
  }
  EXPECT_EQ(engine_->InZone("bogus", "eng").code(), EINVAL);
}

TEST_F(RebacTest, ExplainShowsThePath) {
  Add({"group:eng#member#viewer@folder:/zone/eng", "group:core#member#member@group:eng",
       "user:ann#member@group:core"});
  auto ex = engine_->Explain("user:ann", "read", "file:/zone/eng/a/b");
  ASSERT_TRUE(ex.ok());
  ASSERT_TRUE(ex->allowed);
  ASSERT_EQ(ex->path.size(), 3u);
  EXPECT_EQ(ex->path[0].ToString(), "group:eng#member#viewer@folder:/zone/eng");
  EXPECT_EQ(ex->path[1].ToString(), "group:core#member#member@group:eng");
  EXPECT_EQ(ex->path[2].ToString(), "user:ann#member@group:core");
  auto no = engine_->Explain("user:ann", "write", "file:/zone/eng/a/b");
  ASSERT_TRUE(no.ok());
  EXPECT_EQ(no->reason, DenyReason::kNoTuple);
  EXPECT_NE(no->message.find("no tuple"), std::string::npos);
}

TEST_F(RebacTest, ExpandTreeAndFlatSet) {
  Add({"user:a#viewer@folder:/p", "group:g#member#editor@folder:/p/q", "user:b#member@group:g",
       "group:h#member#member@group:g", "agent:c#member@group:h", "user:d#admin@zone:root"});
  auto ex = engine_->Expand("read", "file:/p/q/r");
  ASSERT_TRUE(ex.ok());
  auto flat = ex->Flatten();
  std::vector<std::string> want = {"agent:c", "group:g#member", "group:h#member", "user:a",
                                   "user:b",  "user:d",         "user:root"};
  EXPECT_EQ(flat, want);
  auto direct = engine_->Expand("editor", "folder:/p/q");
  ASSERT_TRUE(direct.ok());
  ASSERT_EQ(direct->trees.size(), 1u);
  EXPECT_EQ(direct->trees[0].subject.ToString(), "group:g#member");
  EXPECT_EQ(direct->trees[0].members.size(), 2u);
}

TEST_F(RebacTest, ExpandCutsCycles) {
  Add({"group:a#member#viewer@file:/f", "group:b#member#member@group:a", "group:a#member#member@group:b",
       "user:x#member@group:b"});
  auto ex = engine_->Expand("viewer", "file:/f");
  ASSERT_TRUE(ex.ok());
  ASSERT_EQ(ex->trees.size(), 1u);
  const SubjectTree& a = ex->trees[0];
  EXPECT_EQ(a.subject.ToString(), "group:a#member");
  ASSERT_EQ(a.members.size(), 1u);
  const SubjectTree& b = a.members[0];
  EXPECT_EQ(b.via.ToString(), "group:b#member#member@group:a");
  bool cut = false;
  for (const SubjectTree& m : b.members) cut |= m.truncated;
  EXPECT_TRUE(cut);
  EXPECT_EQ(ex->Flatten(), (std::vector<std::string>{"group:a#member", "group:b#member", "user:x"}));
  auto none = engine_->Expand("viewer", "file:/unknown");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->trees.empty());
}

TEST_F(RebacTest, ListObjectsFollowsInheritanceAndGroups) {
  Add({"user:a#viewer@folder:/p", "group:g#member#editor@file:/q/y", "user:a#member@group:g",
       "user:z#viewer@file:/p/sub/z", "user:a#viewer@tool:grep"});
  auto files = engine_->ListObjects("read", "user:a", ObjectType::kFile);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  std::vector<std::string> want = {"file:/p/sub/z", "file:/q/y"};
  EXPECT_EQ(*files, want);
  auto writable = engine_->ListObjects("write", "user:a");
  ASSERT_TRUE(writable.ok());
  EXPECT_EQ(*writable, std::vector<std::string>{"file:/q/y"});
  auto tools = engine_->ListObjects("read", "user:a", ObjectType::kTool);
  ASSERT_TRUE(tools.ok());
  EXPECT_EQ(*tools, std::vector<std::string>{"tool:grep"});
}

TEST_F(RebacTest, CheckedWriteNeedsManage) {
  Add({"user:own#owner@folder:/team", "user:ed#editor@folder:/team"});
  // An owner may grant within its folder, including ownership.
  EXPECT_TRUE(engine_->Write("user:own", {T("user:new#owner@file:/team/a")}, {}).ok());
  EXPECT_TRUE(Can("user:new", "manage", "file:/team/a"));
  // An editor may not grant at all; outside its folder nobody may.
  EXPECT_EQ(engine_->Write("user:ed", {T("user:x#viewer@file:/team/a")}, {}).code(), EACCES);
  EXPECT_EQ(engine_->Write("user:own", {T("user:x#viewer@file:/elsewhere")}, {}).code(), EACCES);
  // Nor revoke.
  EXPECT_EQ(engine_->Write("user:ed", {}, {T("user:new#owner@file:/team/a")}).code(), EACCES);
  // One forbidden tuple rejects the whole batch.
  EXPECT_EQ(engine_->Write("user:own", {T("user:y#viewer@file:/team/b"), T("user:y#viewer@file:/other")}, {})
                .code(),
            EACCES);
  EXPECT_FALSE(Can("user:y", "read", "file:/team/b"));
  // Zone admin: manage on the zone, its paths and its membership.
  Add({"user:za#admin@zone:eng"});
  EXPECT_TRUE(engine_->Write("user:za", {T("user:m#member@zone:eng")}, {}).ok());
  EXPECT_EQ(engine_->Write("user:za", {T("user:m#admin@zone:ops")}, {}).code(), EACCES);
  // The root owner and admins of zone:root may write anything.
  EXPECT_TRUE(engine_->Write("user:root", {T("user:m#admin@zone:ops")}, {}).ok());
  Add({"user:boss#admin@zone:root"});
  EXPECT_TRUE(*engine_->IsAdmin("user:boss"));
  EXPECT_TRUE(engine_->Write("user:boss", {T("user:q#owner@group:g")}, {}).ok());
  EXPECT_FALSE(*engine_->IsAdmin("user:own"));
}

TEST_F(RebacTest, ConfiguredAdminsAndRootOwner) {
  RebacOptions o;
  o.admin_subjects = {"agent:ops"};
  o.root_owner = "user:op";
  Reopen(o);
  EXPECT_TRUE(*engine_->IsAdmin("agent:ops"));
  EXPECT_TRUE(*engine_->IsAdmin("user:op"));
  EXPECT_TRUE(*engine_->IsAdmin("user:root"));  // from the first open
  EXPECT_TRUE(engine_->Write("agent:ops", {T("user:x#owner@folder:/")}, {}).ok());
  o.admin_subjects = {"not a subject"};
  EXPECT_EQ(RebacEngine::Open(db_path(), o).code(), EINVAL);
}

TEST_F(RebacTest, DenialsAndChangesAreAudited) {
  AuditLog::Options lo;
  lo.clock = &clock_;
  auto log = AuditLog::Open(dir_.path() + "/audit.db", lo);
  ASSERT_TRUE(log.ok());
  RebacOptions o;
  o.audit = log->get();
  Reopen(o);
  Add({"user:a#viewer@file:/x"});
  EXPECT_FALSE(Can("user:b", "read", "file:/x"));
  EXPECT_FALSE(Can("user:b", "read", "file:/x"));  // cached denials are recorded too
  EXPECT_EQ(engine_->Write("user:b", {T("user:b#owner@file:/x")}, {}).code(), EACCES);
  ASSERT_TRUE((*log)->Flush().ok());
  AuditFilter denied;
  denied.allowed = false;
  auto d = (*log)->List(denied);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 4u);  // two reads, the manage check, the refused add
  EXPECT_EQ((*d)[0].subject, "user:b");
  EXPECT_EQ((*d)[0].operation, "read");
  EXPECT_EQ((*d)[0].object, "file:/x");
  EXPECT_EQ((*d)[0].reason, "no tuple grants it");
  EXPECT_EQ((*d)[3].operation, "tuple.add");
  AuditFilter changes;
  changes.allowed = true;
  auto c = (*log)->List(changes);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].subject, "system");
  EXPECT_EQ((*c)[0].object, "user:a#viewer@file:/x");
  engine_.reset();  // before the log it writes to
}

}  // namespace
}  // namespace nexus
