// ReBAC enforced by the Namespace: a real native backend, a real engine and
// identity map on SQLite files, the RebacPolicy between them.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "perms/audit.h"
#include "perms/delegation.h"
#include "perms/identity.h"
#include "perms/principals.h"
#include "perms/rebac_policy.h"
#include "tests/perms/rebac_test_util.h"

namespace nexus {
namespace {

using testing::T;
using testing::TempDir;

constexpr uid_t kAlice = 1001, kBob = 1002, kNobody = 1003;

class EnforcementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/native";
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
    ASSERT_TRUE(ids_->Bind(kAlice, "agent:alice").ok());
    ASSERT_TRUE(ids_->Bind(kBob, "user:bob").ok());
    principals_ =
        std::make_unique<PrincipalTable>(PrincipalTable::Options{std::nullopt, "user:admin"}, ids_.get());
    policy_ = std::make_unique<RebacPolicy>(engine_.get(), principals_.get(), audit_.get(), "user:admin");
    // The tree, made by root before the policy is in force.
    Dir("/zone");
    Dir("/zone/eng");
    Dir("/zone/eng/docs");
    Dir("/zone/eng/src");
    File("/zone/eng/docs/a.txt");
    File("/zone/eng/docs/b.txt");
    File("/zone/eng/src/main.c");
    File("/top.txt");
    ns_->SetAccessPolicy(policy_.get());
  }

  Caller As(uid_t uid) {
    Caller c;
    c.uid = uid;
    c.gid = uid;
    return c;
  }
  void Dir(const std::string& path) {
    auto parent = ns_->Resolve(Caller{}, path.substr(0, std::max<size_t>(1, path.rfind('/'))));
    ASSERT_TRUE(parent.ok()) << path;
    auto d = ns_->MkDir(Caller{}, parent->ino, path.substr(path.rfind('/') + 1), 0777);
    ASSERT_TRUE(d.ok()) << path << ": " << d.status().ToString();
    ns_->Forget(d->ino, 1);
  }
  void File(const std::string& path) {
    auto parent = ns_->Resolve(Caller{}, path.substr(0, std::max<size_t>(1, path.rfind('/'))));
    ASSERT_TRUE(parent.ok()) << path;
    auto c = ns_->Create(Caller{}, parent->ino, path.substr(path.rfind('/') + 1), 0666, O_WRONLY);
    ASSERT_TRUE(c.ok()) << path << ": " << c.status().ToString();
    ns_->Release(std::move(c->handle));
    ns_->Forget(c->attr.ino, 1);
  }
  void Grant(std::vector<std::string_view> texts, UnixNanos expires_at = kNever) {
    std::vector<Tuple> adds;
    for (auto t : texts) adds.push_back(T(t, expires_at));
    ASSERT_TRUE(engine_->WriteUnchecked(adds, {}).ok());
  }
  void Revoke(std::string_view text) { ASSERT_TRUE(engine_->WriteUnchecked({}, {T(text)}).ok()); }
  int Code(const Caller& c, const std::string& path) { return ns_->Resolve(c, path).code(); }
  // Names `c` sees in `path`, sorted; "ERR <errno>" if it cannot list it.
  std::string List(const Caller& c, const std::string& path) {
    auto dir = ns_->Resolve(Caller{}, path);
    if (!dir.ok()) return "ERR resolve";
    auto entries = ns_->ReadDir(c, dir->ino);
    if (!entries.ok()) return "ERR " + std::to_string(entries.code());
    std::vector<std::string> names;
    for (auto& e : *entries) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    std::string out;
    for (auto& n : names) out += (out.empty() ? "" : " ") + n;
    return out;
  }
  int OpenCode(const Caller& c, const std::string& path, int flags) {
    auto a = ns_->ResolvePinned(Caller{}, path);
    if (!a.ok()) return a.code();
    auto fh = ns_->Open(c, a->ino, flags);
    int code = fh.code();
    if (fh.ok()) ns_->Release(std::move(*fh));
    ns_->Forget(a->ino, 1);
    return code;
  }
  int CreateCode(const Caller& c, const std::string& dir, const std::string& name) {
    auto d = ns_->Resolve(Caller{}, dir);
    if (!d.ok()) return d.code();
    auto cr = ns_->Create(c, d->ino, name, 0644, O_WRONLY);
    if (!cr.ok()) return cr.code();
    ns_->Release(std::move(cr->handle));
    ns_->Forget(cr->attr.ino, 1);
    return 0;
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RebacEngine> engine_;
  std::unique_ptr<IdentityMap> ids_;
  std::unique_ptr<PrincipalTable> principals_;
  std::unique_ptr<RebacPolicy> policy_;
};

TEST_F(EnforcementTest, WithoutTuplesNothingButTheRootIsSeen) {
  const Caller nobody = As(kNobody);
  EXPECT_EQ(Code(nobody, "/"), 0);
  EXPECT_EQ(Code(nobody, "/zone"), ENOENT);
  EXPECT_EQ(Code(nobody, "/top.txt"), ENOENT);
  EXPECT_EQ(List(nobody, "/"), "");
  EXPECT_EQ(CreateCode(nobody, "/", "new"), EACCES);
  EXPECT_EQ(OpenCode(nobody, "/top.txt", O_RDONLY), ENOENT);
  auto top = ns_->Resolve(Caller{}, "/top.txt");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(ns_->GetAttr(nobody, top->ino).code(), ENOENT);
  EXPECT_EQ(ns_->GetXattr(nobody, top->ino, "user.x").code(), ENOENT);
}

TEST_F(EnforcementTest, RootAndTheOperatorAreUnrestricted) {
  EXPECT_EQ(Code(As(0), "/zone/eng/docs/a.txt"), 0);
  EXPECT_EQ(List(As(0), "/zone/eng"), "docs src");
  EXPECT_EQ(CreateCode(As(0), "/", "made-by-root"), 0);
}

TEST_F(EnforcementTest, ASharedFileMakesItsFoldersPassableAndNothingElseVisible) {
  Grant({"agent:alice#viewer@file:/zone/eng/docs/a.txt"});
  const Caller alice = As(kAlice);
  EXPECT_EQ(List(alice, "/"), "zone");
  EXPECT_EQ(List(alice, "/zone"), "eng");
  EXPECT_EQ(List(alice, "/zone/eng"), "docs");
  EXPECT_EQ(List(alice, "/zone/eng/docs"), "a.txt");
  EXPECT_EQ(Code(alice, "/zone/eng/docs/b.txt"), ENOENT);
  EXPECT_EQ(Code(alice, "/zone/eng/src"), ENOENT);
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY), 0);
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_WRONLY), EACCES);
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY | O_TRUNC), EACCES);
  EXPECT_EQ(CreateCode(alice, "/zone/eng/docs", "c.txt"), EACCES);
  // bob has nothing.
  EXPECT_EQ(Code(As(kBob), "/zone"), ENOENT);
}

TEST_F(EnforcementTest, EditorOfAFolderChangesItsSubtreeOnly) {
  Grant({"user:bob#editor@folder:/zone/eng"});
  const Caller bob = As(kBob);
  EXPECT_EQ(List(bob, "/zone/eng"), "docs src");
  EXPECT_EQ(CreateCode(bob, "/zone/eng/src", "util.c"), 0);
  EXPECT_EQ(CreateCode(bob, "/zone", "x"), EACCES);
  auto eng = ns_->Resolve(Caller{}, "/zone/eng").value();
  auto src = ns_->Resolve(Caller{}, "/zone/eng/src").value();
  auto root = ns_->Resolve(Caller{}, "/").value();
  EXPECT_TRUE(ns_->Rename(bob, src.ino, "util.c", eng.ino, "util2.c", 0).ok());
  EXPECT_EQ(ns_->Rename(bob, eng.ino, "util2.c", root.ino, "stolen.c", 0).code(), EACCES);
  EXPECT_TRUE(ns_->Unlink(bob, eng.ino, "util2.c").ok());
  EXPECT_EQ(ns_->Unlink(bob, root.ino, "top.txt").code(), EACCES);
  EXPECT_EQ(OpenCode(bob, "/zone/eng/docs/a.txt", O_RDWR), 0);
}

TEST_F(EnforcementTest, ChmodOfAnotherUsersFileNeedsManage) {
  Grant({"user:bob#editor@folder:/zone/eng"});
  const Caller bob = As(kBob);
  auto a = ns_->ResolvePinned(Caller{}, "/zone/eng/docs/a.txt").value();  // owned by uid 0
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0600;
  EXPECT_EQ(ns_->SetAttr(bob, a.ino, chmod, nullptr).code(), EACCES);
  SetAttrRequest touch;
  touch.valid = SetAttrRequest::kMtimeNow;
  EXPECT_TRUE(ns_->SetAttr(bob, a.ino, touch, nullptr).ok());
  Grant({"user:bob#owner@folder:/zone/eng/docs"});
  EXPECT_TRUE(ns_->SetAttr(bob, a.ino, chmod, nullptr).ok());
  ns_->Forget(a.ino, 1);
}

TEST_F(EnforcementTest, ARevokeTakesEffectOnTheNextCall) {
  Grant({"agent:alice#viewer@folder:/zone/eng/docs"});
  const Caller alice = As(kAlice);
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY), 0);
  EXPECT_EQ(List(alice, "/zone/eng"), "docs");
  Revoke("agent:alice#viewer@folder:/zone/eng/docs");
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY), ENOENT);
  EXPECT_EQ(Code(alice, "/zone/eng/docs"), ENOENT);
  EXPECT_EQ(List(alice, "/zone"), "ERR 2");  // nothing below it any more: not seen
  EXPECT_EQ(List(alice, "/"), "");
}

TEST_F(EnforcementTest, AnExpiredGrantStopsAtItsInstant) {
  const UnixNanos until = clock_.Now() + 60'000'000'000;
  Grant({"agent:alice#viewer@file:/zone/eng/docs/a.txt"}, until);
  const Caller alice = As(kAlice);
  EXPECT_EQ(Code(alice, "/zone/eng/docs/a.txt"), 0);
  EXPECT_EQ(List(alice, "/zone"), "eng");
  clock_.Set(until);
  EXPECT_EQ(Code(alice, "/zone/eng/docs/a.txt"), ENOENT);
  EXPECT_EQ(List(alice, "/zone"), "ERR 2");
}

TEST_F(EnforcementTest, NestedGroupsGrantThroughEveryLevel) {
  Grant({"agent:alice#member@group:inner", "group:inner#member#member@group:middle",
         "group:middle#member#member@group:outer", "group:outer#member#editor@folder:/zone/eng/src"});
  const Caller alice = As(kAlice);
  EXPECT_EQ(List(alice, "/zone/eng"), "src");
  EXPECT_EQ(CreateCode(alice, "/zone/eng/src", "alice.c"), 0);
  Revoke("group:middle#member#member@group:outer");
  EXPECT_EQ(CreateCode(alice, "/zone/eng/src", "alice2.c"), ENOENT);
}

TEST_F(EnforcementTest, APrincipalOnTheCallerOverridesItsUid) {
  Grant({"agent:alice#viewer@folder:/zone/eng"});
  Caller container_root = As(0);  // uid 0 inside a sandbox mounted for alice
  container_root.principal = principals_->ForSubjectMount("agent:alice").value();
  EXPECT_EQ(Code(container_root, "/zone/eng/src/main.c"), 0);
  EXPECT_EQ(Code(container_root, "/top.txt"), ENOENT);
  EXPECT_EQ(CreateCode(container_root, "/zone/eng", "x"), EACCES);
}

TEST_F(EnforcementTest, PublicPathsAreSeenByEveryUser) {
  Grant({"user:*#viewer@file:/top.txt"});
  EXPECT_EQ(Code(As(kNobody), "/top.txt"), 0);
  EXPECT_EQ(Code(As(kBob), "/top.txt"), 0);
  EXPECT_EQ(Code(As(kAlice), "/top.txt"), ENOENT);  // user:* is users, not agents
}

TEST_F(EnforcementTest, AResolvedPrincipalDecidesAndIsAudited) {
  // The uid on the call is root's, the principal is bob's: bob's grants
  // decide and bob is the subject of the denial.
  Grant({"user:bob#viewer@folder:/zone/eng"});
  Caller c = As(0);
  c.principal = principals_->ForUid(kBob, kBob);
  EXPECT_EQ(Code(c, "/zone/eng/src/main.c"), 0);
  EXPECT_EQ(Code(c, "/top.txt"), ENOENT);
  ASSERT_TRUE(audit_->Flush().ok());
  AuditFilter f;
  f.subject = "user:bob";
  auto records = audit_->List(f).value();
  EXPECT_TRUE(std::any_of(records.begin(), records.end(), [](const AuditRecord& r) {
    return r.operation == "lookup" && r.object == "/top.txt" && !r.allowed;
  }));
}

TEST_F(EnforcementTest, DenialsAreAudited) {
  const Caller bob = As(kBob);
  EXPECT_EQ(CreateCode(bob, "/", "x"), EACCES);
  EXPECT_EQ(Code(bob, "/top.txt"), ENOENT);
  ASSERT_TRUE(audit_->Flush().ok());
  AuditFilter f;
  f.subject = "user:bob";
  auto records = audit_->List(f).value();
  auto has = [&](std::string_view op, std::string_view object) {
    return std::any_of(records.begin(), records.end(), [&](const AuditRecord& r) {
      return r.operation == op && r.object == object && !r.allowed;
    });
  };
  EXPECT_TRUE(has("create", "/"));
  EXPECT_TRUE(has("lookup", "/top.txt"));
}

// The policy with a delegation table: delegated access wherever the
// delegate is the caller, a clean delegation confining it, an expiry
// holding on the next call.
class DelegationEnforcementTest : public EnforcementTest {
 protected:
  void SetUp() override {
    EnforcementTest::SetUp();
    DelegationTable::Options o;
    o.own_access = [this](std::string_view s, Permission p, std::string_view path, bool is_dir) {
      auto r = engine_->Decide(s, Access::Of(p), RebacPolicy::ObjectFor(path, is_dir));
      return r.ok() && *r;
    };
    o.audit = audit_.get();
    o.clock = &clock_;
    table_ = DelegationTable::Open(dir_.path() + "/delegations.db", o).value();
    auto old = std::move(policy_);
    policy_ = std::make_unique<RebacPolicy>(engine_.get(), principals_.get(), audit_.get(), "user:admin",
                                            table_.get());
    ns_->SetAccessPolicy(policy_.get());
  }
  std::unique_ptr<DelegationTable> table_;
};

TEST_F(DelegationEnforcementTest, CleanConfinesTheDelegateUntilItExpires) {
  Grant({"user:bob#owner@folder:/zone/eng/docs", "agent:alice#viewer@file:/top.txt"});
  const Caller alice = As(kAlice);
  EXPECT_EQ(Code(alice, "/top.txt"), 0);
  DelegationRequest req;
  req.from = "user:bob";
  req.to = "alice";
  req.scope = {"/zone/eng/docs/*"};
  req.relation = "editor";
  req.ttl_seconds = 10;
  ASSERT_TRUE(table_->Create(DelegationCaller{"user:bob", false, nullptr}, req).ok());
  EXPECT_FALSE(policy_->Unrestricted(alice));
  EXPECT_EQ(Code(alice, "/top.txt"), ENOENT);  // its own grant is suspended
  EXPECT_EQ(List(alice, "/"), "zone");
  EXPECT_EQ(List(alice, "/zone/eng"), "docs");
  EXPECT_EQ(List(alice, "/zone/eng/docs"), "a.txt b.txt");
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_WRONLY), 0);
  EXPECT_EQ(CreateCode(alice, "/zone/eng/docs", "c.txt"), 0);
  EXPECT_EQ(Code(alice, "/zone/eng/src"), ENOENT);
  EXPECT_EQ(CreateCode(alice, "/zone/eng", "x.txt"), EACCES);  // seen (passable), not writable
  // Bob loses the folder: so does the delegate, at once.
  Revoke("user:bob#owner@folder:/zone/eng/docs");
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY), ENOENT);
  Grant({"user:bob#owner@folder:/zone/eng/docs"});
  EXPECT_EQ(OpenCode(alice, "/zone/eng/docs/a.txt", O_RDONLY), 0);
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_EQ(Code(alice, "/zone/eng/docs/a.txt"), ENOENT);
  EXPECT_EQ(Code(alice, "/top.txt"), 0);
  ASSERT_TRUE(audit_->Flush().ok());
  AuditFilter filter;
  filter.subject = "agent:alice";
  filter.allowed = false;
  auto denied = audit_->List(filter);
  ASSERT_TRUE(denied.ok());
  EXPECT_TRUE(std::any_of(denied->begin(), denied->end(),
                          [](const AuditRecord& r) { return r.operation == "delegation.deny"; }));
}

TEST_F(DelegationEnforcementTest, SharedAddsToTheDelegatesOwnGrants) {
  Grant({"user:bob#editor@folder:/zone/eng/src", "agent:alice#viewer@file:/top.txt"});
  DelegationRequest req;
  req.from = "user:bob";
  req.to = "agent:alice";
  req.scope = {"/zone/eng/src/*"};
  req.mode = DelegationMode::kShared;
  ASSERT_TRUE(table_->Create(DelegationCaller{"user:bob", false, nullptr}, req).ok());
  const Caller alice = As(kAlice);
  EXPECT_EQ(Code(alice, "/top.txt"), 0);
  EXPECT_EQ(OpenCode(alice, "/zone/eng/src/main.c", O_WRONLY), 0);
  EXPECT_EQ(Code(alice, "/zone/eng/docs"), ENOENT);
  EXPECT_EQ(List(alice, "/"), "top.txt zone");
}

// Names the kernel may cache for every uid (Namespace::SharedName over the
// policy's views), and the views themselves.
class SharedNamesTest : public EnforcementTest {
 protected:
  // SharedName for the entry at `path`, as the FUSE layer asks it.
  bool Shared(const std::string& path) {
    const size_t slash = path.rfind('/');
    auto parent = ns_->ResolvePinned(Caller{}, slash == 0 ? "/" : path.substr(0, slash));
    EXPECT_TRUE(parent.ok()) << path;
    if (!parent.ok()) return false;
    auto attr = ns_->Resolve(Caller{}, path);
    EXPECT_TRUE(attr.ok()) << path;
    const bool shared = attr.ok() && ns_->SharedName(parent->ino, path.substr(slash + 1), *attr);
    if (parent->ino != kRootIno) ns_->Forget(parent->ino, 1);
    return shared;
  }
  std::vector<std::string> Views() {
    std::vector<std::string> out;
    auto views = policy_->UidViews();
    if (!views) return {"null"};
    for (const Caller& c : *views) out.push_back(c.principal->subject);
    std::sort(out.begin(), out.end());
    return out;
  }
  void Refresh() { policy_->RefreshViews(ids_.get()); }
};

TEST_F(SharedNamesTest, ViewsAreTheSubjectsUidsMayActAs) {
  EXPECT_EQ(Views(), std::vector<std::string>{"null"});  // not computed yet: nothing is shared
  EXPECT_FALSE(Shared("/zone/eng"));
  Refresh();
  EXPECT_EQ(Views(), (std::vector<std::string>{"agent:alice", "user:*", "user:bob"}));
  // An unbound uid's own subject named in a tuple is a view of its own; a
  // user named in a tuple but bound by no uid is not (no uid acts as it).
  Grant({"user:uid-1003#viewer@file:/top.txt", "user:carol#viewer@file:/top.txt"});
  Refresh();
  EXPECT_EQ(Views(), (std::vector<std::string>{"agent:alice", "user:*", "user:bob", "user:uid-1003"}));
  // Admins are no views: they see everything.
  Grant({"user:bob#admin@zone:root"});
  Refresh();
  EXPECT_EQ(Views(), (std::vector<std::string>{"agent:alice", "user:*", "user:uid-1003"}));
  // Too many views: none are given, and nothing is shared.
  for (uid_t uid = 2000; uid < 2000 + RebacPolicy::kMaxViews; ++uid)
    ASSERT_TRUE(ids_->Bind(uid, "agent:a" + std::to_string(uid)).ok());
  Refresh();
  EXPECT_EQ(Views(), std::vector<std::string>{"null"});
  EXPECT_FALSE(Shared("/zone/eng/docs/a.txt"));
}

TEST_F(SharedNamesTest, ANameIsSharedWhenEveryViewThatSeesItsFolderSeesIt) {
  Refresh();
  // Nothing granted: user:* sees "/" but not /zone; below /zone no view
  // sees anything, so every name there is the same for all: shared.
  EXPECT_FALSE(Shared("/zone"));
  EXPECT_FALSE(Shared("/top.txt"));
  EXPECT_TRUE(Shared("/zone/eng"));
  EXPECT_TRUE(Shared("/zone/eng/docs/a.txt"));
  Grant({"user:*#viewer@folder:/zone/eng", "agent:alice#viewer@folder:/zone/eng/docs",
         "agent:alice#viewer@file:/top.txt"});
  Refresh();
  EXPECT_TRUE(Shared("/zone"));      // user:*, alice and bob all see /zone
  EXPECT_TRUE(Shared("/zone/eng"));  // and /zone/eng (alice passes it)
  EXPECT_TRUE(Shared("/zone/eng/docs"));
  EXPECT_FALSE(Shared("/zone/eng/src"));  // alice passes /zone/eng, does not see src
  EXPECT_TRUE(Shared("/zone/eng/docs/a.txt"));
  EXPECT_TRUE(Shared("/zone/eng/src/main.c"));  // only views that see src see main.c
  EXPECT_FALSE(Shared("/top.txt"));             // alice sees it, user:* does not
  // A file with two names follows its first name's visibility: never shared.
  auto a = ns_->ResolvePinned(Caller{}, "/zone/eng/docs/a.txt");
  auto docs = ns_->ResolvePinned(Caller{}, "/zone/eng/docs");
  ASSERT_TRUE(a.ok() && docs.ok());
  auto link = ns_->Link(Caller{}, a->ino, docs->ino, "a-link.txt");
  ASSERT_TRUE(link.ok());
  EXPECT_FALSE(ns_->SharedName(docs->ino, "a-link.txt", *link));
  EXPECT_FALSE(Shared("/zone/eng/docs/a.txt"));
  ns_->Forget(link->ino, 1);
  ns_->Forget(a->ino, 1);
  ns_->Forget(docs->ino, 1);
  // A revoke, once the views are refreshed, changes the answer.
  Revoke("agent:alice#viewer@folder:/zone/eng/docs");
  Refresh();
  EXPECT_TRUE(Shared("/zone/eng/src"));  // alice no longer passes /zone/eng
  EXPECT_FALSE(Shared("/zone"));         // nor sees /zone
}

TEST_F(SharedNamesTest, LookupSaysWhetherItsAnswerIsTheSameForEveryUid) {
  Grant({"agent:alice#viewer@folder:/zone/eng/docs"});
  Refresh();
  auto eng = ns_->ResolvePinned(Caller{}, "/zone/eng");
  ASSERT_TRUE(eng.ok());
  bool shared = true;
  // Hidden from alice: ENOENT for her, but not a name absent for everyone.
  auto src = ns_->Lookup(As(kAlice), eng->ino, "src", &shared);
  EXPECT_EQ(src.code(), ENOENT);
  EXPECT_FALSE(shared);
  // Absent for everyone.
  shared = false;
  EXPECT_EQ(ns_->Lookup(As(kAlice), eng->ino, "nothing", &shared).code(), ENOENT);
  EXPECT_TRUE(shared);
  // Found: the rule, whoever asks.
  auto docs = ns_->Lookup(As(kAlice), eng->ino, "docs", &shared);
  ASSERT_TRUE(docs.ok());
  EXPECT_TRUE(shared);
  ns_->Forget(docs->ino, 1);
  auto root_src = ns_->Lookup(Caller{}, eng->ino, "src", &shared);
  ASSERT_TRUE(root_src.ok());
  EXPECT_FALSE(shared);
  ns_->Forget(root_src->ino, 1);
  ns_->Forget(eng->ino, 1);
}

TEST_F(SharedNamesTest, ViewsDifferBelowAFolderWhereAViewIsGivenSomethingInside) {
  Grant({"user:*#viewer@folder:/zone/eng", "agent:alice#viewer@folder:/zone/eng/docs"});
  Refresh();
  EXPECT_TRUE(policy_->ViewsDifferBelow("/zone"));
  EXPECT_TRUE(policy_->ViewsDifferBelow("/zone/eng"));        // alice: docs only
  EXPECT_FALSE(policy_->ViewsDifferBelow("/zone/eng/docs"));  // each sees all of it or none
  EXPECT_FALSE(policy_->ViewsDifferBelow("/zone/eng/src"));
  // The answer after a rename that left a directory at `name`.
  auto eng = ns_->ResolvePinned(Caller{}, "/zone/eng");
  ASSERT_TRUE(eng.ok());
  auto docs = ns_->Resolve(Caller{}, "/zone/eng/docs");
  auto src = ns_->Resolve(Caller{}, "/zone/eng/src");
  ASSERT_TRUE(docs.ok() && src.ok());
  EXPECT_TRUE(ns_->NamesStayShared(eng->ino, "docs", *docs));
  EXPECT_FALSE(ns_->NamesStayShared(eng->ino, "src", *src));  // alice passes eng, not src
  ns_->Forget(eng->ino, 1);
}

TEST_F(SharedNamesTest, ViewsAreValidUntilTheFirstGrantOfOneExpires) {
  Refresh();
  EXPECT_EQ(policy_->ViewsValidUntil(), kNever);
  const UnixNanos soon = clock_.Now() + 5'000'000'000;
  Grant({"user:bob#viewer@folder:/zone/eng"}, soon);
  Refresh();
  EXPECT_EQ(policy_->ViewsValidUntil(), soon);
}

TEST_F(DelegationEnforcementTest, DelegatesAreViewsAndMakeEveryFolderDiffer) {
  Grant({"user:bob#owner@folder:/zone/eng/docs"});
  DelegationRequest req;
  req.from = "user:bob";
  req.to = "worker";
  req.scope = {"/zone/eng/docs/*.txt"};
  req.relation = "viewer";
  req.ttl_seconds = 10;
  ASSERT_TRUE(table_->Create(DelegationCaller{"user:bob", false, nullptr}, req).ok());
  policy_->RefreshViews(ids_.get());
  auto views = policy_->UidViews();
  ASSERT_TRUE(views);
  EXPECT_TRUE(std::any_of(views->begin(), views->end(),
                          [](const Caller& c) { return c.principal->subject == "agent:worker"; }));
  EXPECT_TRUE(policy_->ViewsDifferBelow("/zone/eng/src"));  // its scope is a glob
}

}  // namespace
}  // namespace nexus
