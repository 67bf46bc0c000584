// The Permissions and Mounts interfaces over a real socket: a SocketServer
// in this process with a real RebacEngine, IdentityMap and AuditLog in a
// temp dir, real NexusClient connections (the Unix peer is the operator,
// so an admin; API keys over TLS are non-admin agents), and a fake
// SubjectMounts that records what it is asked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "perms/audit.h"
#include "perms/identity.h"
#include "perms/rebac.h"
#include "rpc/server/background_jobs.h"
#include "rpc/bytes.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

// Records mounts in memory; mount points must be absolute, one per path.
class FakeMounts final : public SubjectMounts {
 public:
  Result<SubjectMountInfo> Add(const std::string& mountpoint, const std::string& subject,
                               const std::string& root, bool cache_names) override {
    std::lock_guard lk(mu_);
    if (mounts_.count(mountpoint)) return Status::Error(EBUSY, mountpoint + " is already mounted");
    SubjectMountInfo m{mountpoint, subject, root, 1234, cache_names};
    mounts_[mountpoint] = m;
    return m;
  }
  std::vector<SubjectMountInfo> List() override {
    std::lock_guard lk(mu_);
    std::vector<SubjectMountInfo> out;
    for (const auto& [_, m] : mounts_) out.push_back(m);
    return out;
  }
  Status Remove(const std::string& mountpoint) override {
    std::lock_guard lk(mu_);
    if (!mounts_.erase(mountpoint)) return Status::Error(ENOENT, mountpoint + " is not a per-subject mount");
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::map<std::string, SubjectMountInfo> mounts_;
};

class PermissionsServiceTest : public ServiceRig {
 protected:
  virtual bool WithRebac() const { return true; }

  void SetUp() override {
    InitContext();
    ctx_.jobs = &jobs_;
    if (WithRebac()) {
      audit_ = AuditLog::Open(dir_.path() + "/audit.db", {}).value();
      RebacOptions ro;
      ro.audit = audit_.get();
      ro.root_owner = ctx_.rebac.admin_subject;
      rebac_ = RebacEngine::Open(dir_.path() + "/rebac.db", ro).value();
      IdentityOptions io;
      io.admin_subject = ctx_.rebac.admin_subject;
      ids_ = IdentityMap::Open(dir_.path() + "/rebac.db", io).value();
      ctx_.rebac.engine = rebac_.get();
      ctx_.rebac.identities = ids_.get();
      ctx_.rebac.audit = audit_.get();
      ctx_.mounts = &mounts_;
    }
    StartServer(/*tls=*/true);
    auto admin = Unix();
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    admin_ = std::move(admin).value();
    ASSERT_TRUE(admin_->is_admin());
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
  }

  // A non-admin agent:NAME over TLS with an API key.
  std::unique_ptr<NexusClient> Agent(const std::string& name) {
    UserRecord u;
    u.name = name;
    u.subject_type = "agent";
    auto c = Tcp(keys_->CreateUser(u, 0).value().second.secret);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_FALSE((*c)->is_admin());
    return std::move(c).value();
  }

  static rpc::Permissions::Client Perms(NexusClient& c) {
    return c.session().permissionsRequest().send().getPermissions();
  }
  static rpc::Mounts::Client MountsOf(NexusClient& c) {
    return c.session().mountsRequest().send().getMounts();
  }

  // Writes one tuple as `c`; returns the error code.
  Code Write(NexusClient& c, const std::string& subject, const std::string& relation,
             const std::string& object, bool remove = false, uint64_t expect = 0, int64_t expires_ns = 0) {
    auto req = Perms(c).writeRequest();
    auto t = remove ? req.initDeletes(1)[0] : req.initAdds(1)[0];
    t.setSubject(subject);
    t.setRelation(relation);
    t.setObject(object);
    t.setExpiresAtNs(expires_ns);
    req.setExpectRevision(expect);
    auto r = c.Wait(req.send());
    return CodeOf(r);
  }

  // Checks as `c`; nullopt with the code in `code` on an error.
  std::optional<bool> Check(NexusClient& c, const std::string& subject, const std::string& access,
                            const std::string& object, Code* code = nullptr) {
    auto req = Perms(c).checkRequest();
    req.setSubject(subject);
    req.setAccess(access);
    req.setObject(object);
    auto r = c.Wait(req.send());
    Code got = CodeOf(r);
    if (code) *code = got;
    if (got != Code::OK) return std::nullopt;
    return r->getAllowed();
  }

  std::vector<std::string> ListTuples(NexusClient& c, const std::string& object_type = "") {
    auto req = Perms(c).listRequest();
    req.setObjectType(object_type);
    req.setIncludeExpired(true);
    auto r = c.Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::vector<std::string> out;
    if (!r.ok() || r->hasError()) return out;
    for (auto t : r->getTuples())
      out.push_back(std::string(t.getSubject()) + "#" + std::string(t.getRelation()) + "@" +
                    std::string(t.getObject()));
    return out;
  }

  uint64_t Revision() {
    auto r = admin_->Wait(Perms(*admin_).infoRequest().send());
    EXPECT_EQ(CodeOf(r), Code::OK);
    return r.ok() ? r->getRevision() : 0;
  }

  Caller Root() {
    Caller a;
    a.umask = 022;
    return a;
  }

  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RebacEngine> rebac_;
  std::unique_ptr<IdentityMap> ids_;
  FakeMounts mounts_;
  BackgroundJobs jobs_{2};
  std::unique_ptr<NexusClient> admin_;
};

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(PermissionsServiceTest, WriteCheckExplainListExpandAndDelete) {
  NexusClient& a = *admin_;
  const uint64_t rev0 = Revision();
  ASSERT_EQ(Write(a, "user:alice", "viewer", "folder:/proj"), Code::OK);
  ASSERT_EQ(Write(a, "group:eng#member", "editor", "folder:/proj"), Code::OK);
  ASSERT_EQ(Write(a, "user:bob", "member", "group:eng"), Code::OK);
  EXPECT_EQ(Revision(), rev0 + 3);

  EXPECT_EQ(Check(a, "user:alice", "read", "file:/proj/deep/a.txt"), true);
  EXPECT_EQ(Check(a, "user:alice", "write", "file:/proj/deep/a.txt"), false);
  EXPECT_EQ(Check(a, "user:bob", "write", "file:/proj/a.txt"), true);
  EXPECT_EQ(Check(a, "user:carol", "read", "file:/proj/a.txt"), false);
  Code code;
  EXPECT_EQ(Check(a, "user:alice", "fly", "file:/proj", &code), std::nullopt);
  EXPECT_EQ(code, Code::INVALID_ARGUMENT);

  {
    auto req = Perms(a).explainRequest();
    req.setSubject("user:bob");
    req.setAccess("write");
    req.setObject("file:/proj/a.txt");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    auto e = r->getExplanation();
    EXPECT_TRUE(e.getAllowed());
    EXPECT_EQ(std::string(e.getReason()), "");
    ASSERT_EQ(e.getPath().size(), 2u);  // the group's editor tuple, then bob's membership
    EXPECT_EQ(std::string(e.getPath()[0].getObject()), "folder:/proj");
    EXPECT_EQ(std::string(e.getPath()[1].getObject()), "group:eng");
    EXPECT_EQ(e.getValidUntilNs(), 0);
  }
  {
    auto req = Perms(a).explainRequest();
    req.setSubject("user:carol");
    req.setAccess("read");
    req.setObject("file:/proj/a.txt");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK);
    EXPECT_FALSE(r->getExplanation().getAllowed());
    EXPECT_EQ(std::string(r->getExplanation().getReason()), "no tuple");
    EXPECT_NE(std::string(r->getExplanation().getMessage()), "");
  }

  auto folders = ListTuples(a, "folder");
  EXPECT_EQ(folders.size(), 2u);
  EXPECT_TRUE(Contains(folders, "user:alice#viewer@folder:/proj"));
  EXPECT_TRUE(Contains(folders, "group:eng#member#editor@folder:/proj"));
  {
    auto req = Perms(a).listRequest();
    req.setSubjectType("user");
    req.setSubjectId("bob");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK);
    ASSERT_EQ(r->getTuples().size(), 1u);
    EXPECT_EQ(std::string(r->getTuples()[0].getObject()), "group:eng");
    EXPECT_EQ(std::string(r->getTuples()[0].getZone()), "root");
    EXPECT_FALSE(r->getTruncated());
  }
  {
    auto req = Perms(a).listRequest();
    req.setLimit(1);
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK);
    EXPECT_EQ(r->getTuples().size(), 1u);
    EXPECT_TRUE(r->getTruncated());
  }
  {
    auto req = Perms(a).listRequest();
    req.setRelation("boss");
    auto r = a.Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
  }
  {
    auto req = Perms(a).listObjectsRequest();
    req.setAccess("write");
    req.setSubject("user:bob");
    req.setObjectType("folder");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::vector<std::string> objects;
    for (auto o : r->getObjects()) objects.emplace_back(o);
    EXPECT_EQ(objects, std::vector<std::string>{"folder:/proj"});
  }
  {
    auto req = Perms(a).expandRequest();
    req.setAccess("write");
    req.setObject("folder:/proj");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::vector<std::string> subjects;
    for (auto s : r->getSubjects()) subjects.emplace_back(s);
    EXPECT_TRUE(Contains(subjects, "user:bob"));
    EXPECT_TRUE(Contains(subjects, "group:eng#member"));
    EXPECT_FALSE(Contains(subjects, "user:alice"));  // a viewer cannot write
    std::string tree = r->getTree();
    EXPECT_NE(tree.find("group:eng#member"), std::string::npos);
    EXPECT_NE(tree.find("\n  user:bob"), std::string::npos) << tree;  // indented under its group
  }

  ASSERT_EQ(Write(a, "user:alice", "viewer", "folder:/proj", /*remove=*/true), Code::OK);
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/proj/deep/a.txt"), false);
  EXPECT_EQ(Write(a, "user:alice", "viewer", "folder:/proj", /*remove=*/true), Code::NOT_FOUND);
  EXPECT_EQ(metrics_->Find("permissions.write")->count.load(), 5u);
  EXPECT_EQ(metrics_->Find("permissions.write")->errors.load(), 1u);
}

TEST_F(PermissionsServiceTest, BadTuplesAndEmptyWritesAreInvalid) {
  NexusClient& a = *admin_;
  EXPECT_EQ(Write(a, "user:alice", "member", "file:/x"), Code::INVALID_ARGUMENT);
  EXPECT_EQ(Write(a, "user:alice", "viewer", "file:relative"), Code::INVALID_ARGUMENT);
  EXPECT_EQ(Write(a, "alice", "viewer", "file:/x"), Code::INVALID_ARGUMENT);
  EXPECT_EQ(Write(a, "user:alice", "viewer", "file:/x", false, 0, -5), Code::INVALID_ARGUMENT);
  auto r = a.Wait(Perms(a).writeRequest().send());
  EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
  EXPECT_EQ(rebac_->tuple_count(), 1u);  // only the bootstrap owner of zone:root
}

TEST_F(PermissionsServiceTest, ExpectRevisionIsACompareAndSwap) {
  NexusClient& a = *admin_;
  const uint64_t rev = Revision();
  EXPECT_EQ(Write(a, "user:alice", "viewer", "file:/x", false, rev + 7), Code::CONFLICT);
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/x"), false);
  EXPECT_EQ(Write(a, "user:alice", "viewer", "file:/x", false, rev), Code::OK);
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/x"), true);
  EXPECT_EQ(Write(a, "user:bob", "viewer", "file:/x", false, rev), Code::CONFLICT);  // stale now
}

TEST_F(PermissionsServiceTest, ExpiredTuplesStopGrantingAndAreMarked) {
  NexusClient& a = *admin_;
  const int64_t soon = DefaultClock().Now() + 300'000'000;  // 0.3 s
  ASSERT_EQ(Write(a, "agent:temp", "viewer", "file:/job/log", false, 0, soon), Code::OK);
  EXPECT_EQ(Check(a, "agent:temp", "read", "file:/job/log"), true);
  usleep(400'000);
  EXPECT_EQ(Check(a, "agent:temp", "read", "file:/job/log"), false);
  auto req = Perms(a).listRequest();
  req.setObjectType("file");
  req.setIncludeExpired(true);
  auto r = a.Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::OK);
  ASSERT_EQ(r->getTuples().size(), 1u);
  EXPECT_TRUE(r->getTuples()[0].getExpired());
  EXPECT_EQ(r->getTuples()[0].getExpiresAtNs(), soon);
  auto active = Perms(a).listRequest();
  active.setObjectType("file");
  active.setIncludeExpired(false);
  auto r2 = a.Wait(active.send());
  ASSERT_EQ(CodeOf(r2), Code::OK);
  EXPECT_EQ(r2->getTuples().size(), 0u);
}

TEST_F(PermissionsServiceTest, NonAdminsWriteAndAskOnlyWhereTheyManage) {
  NexusClient& a = *admin_;
  auto bob = Agent("bob");
  ASSERT_EQ(Write(a, "user:alice", "viewer", "file:/other/x"), Code::OK);

  // Not its object: refused, nothing written.
  EXPECT_EQ(Write(*bob, "user:carol", "viewer", "file:/other/x"), Code::PERMISSION_DENIED);
  EXPECT_EQ(Check(a, "user:carol", "read", "file:/other/x"), false);
  EXPECT_EQ(Write(*bob, "agent:bob", "owner", "zone:root"), Code::PERMISSION_DENIED);

  // Owner of /team: may grant below it.
  ASSERT_EQ(Write(a, "agent:bob", "owner", "folder:/team"), Code::OK);
  EXPECT_EQ(Write(*bob, "user:carol", "viewer", "file:/team/doc"), Code::OK);
  EXPECT_EQ(Check(a, "user:carol", "read", "file:/team/doc"), true);

  // Questions: about itself, or about objects it manages.
  Code code;
  EXPECT_EQ(Check(*bob, "agent:bob", "write", "file:/team/doc"), true);
  EXPECT_EQ(Check(*bob, "agent:bob", "read", "file:/other/x"), false);
  EXPECT_EQ(Check(*bob, "user:carol", "read", "file:/team/doc"), true);
  EXPECT_EQ(Check(*bob, "user:alice", "read", "file:/other/x", &code), std::nullopt);
  EXPECT_EQ(code, Code::PERMISSION_DENIED);
  {
    auto req = Perms(*bob).expandRequest();
    req.setAccess("read");
    req.setObject("file:/other/x");
    auto r = bob->Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  }
  {
    auto req = Perms(*bob).explainRequest();
    req.setSubject("user:alice");
    req.setAccess("read");
    req.setObject("file:/other/x");
    auto r = bob->Wait(req.send());
    EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
    EXPECT_NE(MessageOf(r).find("agent:bob"), std::string::npos) << MessageOf(r);
  }

  // Refused questions are audited; answered ones are not bob's denials.
  ASSERT_TRUE(audit_->Flush().ok());
  AuditFilter mine;
  mine.subject = "agent:bob";
  mine.allowed = false;
  std::vector<std::string> refused;
  auto records = audit_->List(mine).value();
  for (const AuditRecord& r : records) refused.push_back(r.operation + " " + r.object);
  EXPECT_TRUE(Contains(refused, "permissions.check file:/other/x"));
  EXPECT_TRUE(Contains(refused, "permissions.expand file:/other/x"));
  EXPECT_TRUE(Contains(refused, "tuple.add user:carol#viewer@file:/other/x"));
  EXPECT_FALSE(Contains(refused, "read file:/other/x"));  // bob's check about himself was a question

  // Its listing: its own tuples and those on what it manages, not alice's.
  auto seen = ListTuples(*bob);
  EXPECT_TRUE(Contains(seen, "agent:bob#owner@folder:/team"));
  EXPECT_TRUE(Contains(seen, "user:carol#viewer@file:/team/doc"));
  EXPECT_FALSE(Contains(seen, "user:alice#viewer@file:/other/x"));
  EXPECT_EQ(seen.size(), 2u);

  // listObjects about someone else: only objects it manages.
  ASSERT_EQ(Write(a, "user:carol", "viewer", "file:/other/y"), Code::OK);
  auto req = Perms(*bob).listObjectsRequest();
  req.setAccess("read");
  req.setSubject("user:carol");
  req.setObjectType("file");
  auto r = bob->Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  std::vector<std::string> objects;
  for (auto o : r->getObjects()) objects.emplace_back(o);
  EXPECT_EQ(objects, std::vector<std::string>{"file:/team/doc"});
}

TEST_F(PermissionsServiceTest, ShareUnsharePublicPrivate) {
  NexusClient& a = *admin_;
  ASSERT_TRUE(files_->MkDir(Root(), "/proj/src", 0755, true).ok());
  WriteOptions wo;
  ASSERT_TRUE(files_->Write(Root(), "/proj/a.txt", "text", wo).ok());
  auto share = [&](const std::string& path, const std::string& subject, const std::string& role,
                   uint64_t ttl) {
    auto req = Perms(a).shareRequest();
    req.setPath(path);
    req.setSubject(subject);
    req.setRole(role);
    req.setTtlSeconds(ttl);
    return a.Wait(req.send());
  };
  {
    auto r = share("/proj//src/", "user:alice", "viewer", 0);  // normalized
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(std::string(r->getTuple().getObject()), "folder:/proj/src");
    EXPECT_EQ(r->getTuple().getExpiresAtNs(), 0);
    EXPECT_EQ(r->getRevision(), Revision());
  }
  {
    const int64_t before = DefaultClock().Now();
    auto r = share("/proj/a.txt", "agent:bot", "editor", 60);
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(std::string(r->getTuple().getObject()), "file:/proj/a.txt");
    EXPECT_GE(r->getTuple().getExpiresAtNs(), before + 60'000'000'000);
    EXPECT_LE(r->getTuple().getExpiresAtNs(), DefaultClock().Now() + 60'000'000'000);
  }
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/proj/src/main.c"), true);
  EXPECT_EQ(Check(a, "agent:bot", "write", "file:/proj/a.txt"), true);
  {
    auto r = share("/proj/missing", "user:alice", "viewer", 0);
    EXPECT_EQ(CodeOf(r), Code::NOT_FOUND);
    auto r2 = share("/proj/a.txt", "user:alice", "member", 0);
    EXPECT_EQ(CodeOf(r2), Code::INVALID_ARGUMENT);
    auto r3 = share("proj/a.txt", "user:alice", "viewer", 0);
    EXPECT_EQ(CodeOf(r3), Code::INVALID_ARGUMENT);
  }

  auto unshare = [&](const std::string& path, const std::string& subject, const std::string& role) {
    auto req = Perms(a).unshareRequest();
    req.setPath(path);
    req.setSubject(subject);
    req.setRole(role);
    return a.Wait(req.send());
  };
  {
    auto r = unshare("/proj/a.txt", "agent:bot", "viewer");  // it is an editor
    EXPECT_EQ(CodeOf(r), Code::NOT_FOUND);
    auto r2 = unshare("/proj/a.txt", "agent:bot", "");
    ASSERT_EQ(CodeOf(r2), Code::OK) << MessageOf(r2);
    EXPECT_EQ(r2->getRemoved(), 1u);
    EXPECT_EQ(Check(a, "agent:bot", "write", "file:/proj/a.txt"), false);
    auto r3 = unshare("/proj/a.txt", "agent:bot", "");
    EXPECT_EQ(CodeOf(r3), Code::NOT_FOUND);
  }

  auto set_public = [&](const std::string& path, bool pub) {
    auto req = Perms(a).setPublicRequest();
    req.setPath(path);
    req.setPublic(pub);
    return a.Wait(req.send());
  };
  EXPECT_EQ(Check(a, "user:zed", "read", "file:/proj/a.txt"), false);
  {
    auto r = set_public("/proj/a.txt", true);
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  }
  EXPECT_TRUE(Contains(ListTuples(a, "file"), "user:*#viewer@file:/proj/a.txt"));
  EXPECT_EQ(Check(a, "user:zed", "read", "file:/proj/a.txt"), true);
  EXPECT_EQ(Check(a, "agent:zed", "read", "file:/proj/a.txt"), false);  // agents are not users
  {
    auto r = set_public("/proj/a.txt", false);
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(Check(a, "user:zed", "read", "file:/proj/a.txt"), false);
    auto r2 = set_public("/proj/a.txt", false);
    EXPECT_EQ(CodeOf(r2), Code::NOT_FOUND);
    auto r3 = set_public("/nowhere", true);
    EXPECT_EQ(CodeOf(r3), Code::NOT_FOUND);
  }
}

TEST_F(PermissionsServiceTest, ZoneIdScopesChecksExplanationsAndListings) {
  NexusClient& a = *admin_;
  ASSERT_EQ(Write(a, "agent:bob", "viewer", "file:/zone/eng/plan.md"), Code::OK);
  {
    auto req = Perms(a).writeRequest();
    auto t = req.initAdds(1)[0];
    t.setSubject("agent:bob");
    t.setRelation("viewer");
    t.setObject("file:/team/report.csv");
    t.setZone("org_acme");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
  }
  auto check = [&](const std::string& object, const std::string& zone, Code* code = nullptr) {
    auto req = Perms(a).checkRequest();
    req.setSubject("agent:bob");
    req.setAccess("read");
    req.setObject(object);
    req.setZone(zone);
    auto r = a.Wait(req.send());
    if (code) *code = CodeOf(r);
    return CodeOf(r) == Code::OK && r->getAllowed();
  };
  EXPECT_TRUE(check("file:/zone/eng/plan.md", ""));
  EXPECT_TRUE(check("file:/zone/eng/plan.md", "eng"));
  EXPECT_FALSE(check("file:/zone/eng/plan.md", "org_acme"));
  EXPECT_TRUE(check("file:/team/report.csv", "org_acme"));  // by its label
  EXPECT_TRUE(check("file:/team/report.csv", "root"));      // by its path
  EXPECT_FALSE(check("file:/team/report.csv", "eng"));
  Code code;
  EXPECT_FALSE(check("file:/team/report.csv", "nowhere", &code));
  EXPECT_EQ(code, Code::NOT_FOUND);
  EXPECT_FALSE(check("file:/team/report.csv", "bad/zone", &code));
  EXPECT_EQ(code, Code::INVALID_ARGUMENT);
  {
    auto req = Perms(a).explainRequest();
    req.setSubject("agent:bob");
    req.setAccess("read");
    req.setObject("file:/zone/eng/plan.md");
    req.setZone("org_acme");
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_FALSE(r->getExplanation().getAllowed());
    EXPECT_EQ(std::string(r->getExplanation().getReason()), "other zone");
  }
  {
    auto req = Perms(a).listRequest();
    req.setZone("org_acme");
    req.setIncludeExpired(true);
    auto r = a.Wait(req.send());
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    ASSERT_EQ(r->getTuples().size(), 1u);
    EXPECT_EQ(std::string(r->getTuples()[0].getObject()), "file:/team/report.csv");
  }
}

TEST_F(PermissionsServiceTest, SharesIncomingAndOutgoing) {
  NexusClient& a = *admin_;
  auto bob = Agent("bob");
  auto eve = Agent("eve");
  ASSERT_EQ(Write(a, "agent:bob", "owner", "folder:/bob"), Code::OK);
  ASSERT_EQ(Write(a, "agent:eve", "viewer", "file:/shared.txt"), Code::OK);
  ASSERT_EQ(Write(*bob, "agent:eve", "editor", "file:/bob/notes.md"), Code::OK);
  ASSERT_EQ(Write(a, "agent:eve", "member", "group:ops"), Code::OK);  // not a share
  auto shares = [&](NexusClient& c, bool outgoing, const std::string& subject, Code* code = nullptr) {
    auto req = Perms(c).sharesRequest();
    req.setOutgoing(outgoing);
    req.setSubject(subject);
    auto r = c.Wait(req.send());
    if (code) *code = CodeOf(r);
    std::vector<std::string> out;
    if (CodeOf(r) != Code::OK) return out;
    for (auto t : r->getTuples())
      out.push_back(std::string(t.getSubject()) + "#" + std::string(t.getRelation()) + "@" +
                    std::string(t.getObject()));
    return out;
  };
  EXPECT_EQ(shares(*eve, false, ""), (std::vector<std::string>{"agent:eve#editor@file:/bob/notes.md",
                                                               "agent:eve#viewer@file:/shared.txt"}));
  EXPECT_EQ(shares(*bob, true, ""), (std::vector<std::string>{"agent:eve#editor@file:/bob/notes.md"}));
  EXPECT_EQ(shares(*eve, true, ""), std::vector<std::string>{});
  EXPECT_EQ(shares(a, false, "agent:eve").size(), 2u);  // admins may ask about anyone
  EXPECT_EQ(shares(a, true, "agent:bob"), shares(*bob, true, ""));
  Code code;
  EXPECT_TRUE(shares(*eve, false, "agent:bob", &code).empty());  // others may not
  EXPECT_EQ(code, Code::PERMISSION_DENIED);
  shares(a, false, "group:ops#member", &code);
  EXPECT_EQ(code, Code::INVALID_ARGUMENT);
}

TEST_F(PermissionsServiceTest, IdentitiesAreForAdminsAndAudited) {
  NexusClient& a = *admin_;
  auto bind = [&](NexusClient& c, uint32_t uid, const std::string& subject) {
    auto req = Perms(c).bindIdentityRequest();
    req.setUid(uid);
    req.setSubject(subject);
    auto r = c.Wait(req.send());
    return CodeOf(r);
  };
  auto unbind = [&](NexusClient& c, uint32_t uid) {
    auto req = Perms(c).unbindIdentityRequest();
    req.setUid(uid);
    auto r = c.Wait(req.send());
    return CodeOf(r);
  };
  EXPECT_EQ(bind(a, 1000, "agent:alice"), Code::OK);
  EXPECT_EQ(ids_->SubjectFor(1000), "agent:alice");
  EXPECT_EQ(bind(a, 1001, "group:eng#member"), Code::INVALID_ARGUMENT);
  EXPECT_EQ(bind(a, 1000, "user:other"), Code::ALREADY_EXISTS);
  EXPECT_EQ(bind(a, 0, "user:root"), Code::INVALID_ARGUMENT);
  {
    auto r = a.Wait(Perms(a).listIdentitiesRequest().send());
    ASSERT_EQ(CodeOf(r), Code::OK);
    ASSERT_EQ(r->getBindings().size(), 1u);
    EXPECT_EQ(r->getBindings()[0].getUid(), 1000u);
    EXPECT_EQ(std::string(r->getBindings()[0].getSubject()), "agent:alice");
    EXPECT_EQ(std::string(r->getAdminSubject()), "user:admin");
  }
  auto bob = Agent("bob");
  EXPECT_EQ(bind(*bob, 1002, "agent:bob"), Code::PERMISSION_DENIED);
  EXPECT_EQ(unbind(*bob, 1000), Code::PERMISSION_DENIED);
  EXPECT_EQ(ids_->SubjectFor(1000), "agent:alice");
  {
    auto r = bob->Wait(Perms(*bob).listIdentitiesRequest().send());
    EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  }
  EXPECT_EQ(unbind(a, 1000), Code::OK);
  EXPECT_EQ(ids_->SubjectFor(1000), "user:uid-1000");
  EXPECT_EQ(unbind(a, 1000), Code::NOT_FOUND);

  ASSERT_TRUE(audit_->Flush().ok());
  AuditFilter f;
  f.subject = "user:admin";
  auto records = audit_->List(f).value();
  std::vector<std::string> ops;
  for (const auto& r : records)
    if (r.operation.rfind("identity.", 0) == 0 && r.allowed) ops.push_back(r.operation + " " + r.object);
  EXPECT_EQ(ops, (std::vector<std::string>{"identity.bind uid:1000", "identity.unbind uid:1000"}));
}

TEST_F(PermissionsServiceTest, AuditListsChangesAndDenialsForAdminsOnly) {
  NexusClient& a = *admin_;
  auto bob = Agent("bob");
  ASSERT_EQ(Write(a, "user:alice", "viewer", "file:/audited"), Code::OK);
  ASSERT_EQ(Write(*bob, "agent:bob", "owner", "file:/audited"), Code::PERMISSION_DENIED);

  auto list = [&](NexusClient& c, const std::string& subject, bool denied, int64_t since = 0) {
    auto req = Perms(c).auditListRequest();
    req.setSubject(subject);
    req.setDeniedOnly(denied);
    req.setSinceNs(since);
    return c.Wait(req.send());
  };
  {
    auto r = list(a, "", false);
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    bool add = false, denied = false;
    for (auto e : r->getEntries()) {
      if (std::string(e.getOperation()) == "tuple.add" && e.getAllowed() &&
          std::string(e.getObject()) == "user:alice#viewer@file:/audited")
        add = true;
      if (std::string(e.getOperation()) == "tuple.add" && !e.getAllowed() &&
          std::string(e.getSubject()) == "agent:bob")
        denied = true;
    }
    EXPECT_TRUE(add);
    EXPECT_TRUE(denied);
    EXPECT_EQ(r->getDropped(), 0u);
  }
  {
    auto r = list(a, "agent:bob", true);
    ASSERT_EQ(CodeOf(r), Code::OK);
    ASSERT_GE(r->getEntries().size(), 1u);
    for (auto e : r->getEntries()) {
      EXPECT_FALSE(e.getAllowed());
      EXPECT_EQ(std::string(e.getSubject()), "agent:bob");
    }
  }
  {
    auto r = list(a, "", false, DefaultClock().Now() + 3'600'000'000'000);
    ASSERT_EQ(CodeOf(r), Code::OK);
    EXPECT_EQ(r->getEntries().size(), 0u);
  }
  {
    auto r = list(*bob, "", false);
    EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
  }

  auto do_export = [&](NexusClient& c, const std::string& format) {
    auto req = Perms(c).auditExportRequest();
    req.setFormat(format);
    return c.Wait(req.send());
  };
  {
    auto r = do_export(a, "csv");
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    std::string csv(AsView(r->getData()));
    EXPECT_EQ(csv.rfind("time,", 0), 0u) << csv.substr(0, 200);
    EXPECT_NE(csv.find("\r\n"), std::string::npos);
    EXPECT_NE(csv.find("user:alice#viewer@file:/audited"), std::string::npos);
  }
  {
    auto r = do_export(a, "jsonl");
    ASSERT_EQ(CodeOf(r), Code::OK);
    std::string jsonl(AsView(r->getData()));
    EXPECT_EQ(jsonl.rfind("{", 0), 0u);
    EXPECT_NE(jsonl.find("\"decision\":\"deny\""), std::string::npos) << jsonl.substr(0, 400);
  }
  {
    auto r = do_export(a, "xml");
    EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
    auto r2 = do_export(*bob, "csv");
    EXPECT_EQ(CodeOf(r2), Code::PERMISSION_DENIED);
  }
}

TEST_F(PermissionsServiceTest, InfoCountsTuplesAndCache) {
  NexusClient& a = *admin_;
  ASSERT_EQ(Write(a, "user:alice", "viewer", "file:/i"), Code::OK);
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/i"), true);
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/i"), true);
  auto r = a.Wait(Perms(a).infoRequest().send());
  ASSERT_EQ(CodeOf(r), Code::OK);
  EXPECT_EQ(r->getTuples(), 2u);  // with the bootstrap owner of zone:root
  EXPECT_EQ(r->getRevision(), rebac_->revision());
  EXPECT_GE(r->getCacheHits(), 1u);
  EXPECT_GE(r->getCacheMisses(), 1u);
}

TEST_F(PermissionsServiceTest, MountsGoThroughTheDaemonsImplementation) {
  NexusClient& a = *admin_;
  auto add = [&](NexusClient& c, const std::string& mnt, const std::string& subject,
                 const std::string& root) {
    auto req = MountsOf(c).addRequest();
    req.setMountpoint(mnt);
    req.setSubject(subject);
    req.setRoot(root);
    return c.Wait(req.send());
  };
  {
    auto r = add(a, "/mnt/alice/", "agent:alice", "");
    ASSERT_EQ(CodeOf(r), Code::OK) << MessageOf(r);
    EXPECT_EQ(std::string(r->getMount().getMountpoint()), "/mnt/alice");
    EXPECT_EQ(std::string(r->getMount().getRoot()), "/");
    EXPECT_EQ(std::string(r->getMount().getSubject()), "agent:alice");
    EXPECT_EQ(r->getMount().getCreatedNs(), 1234);
  }
  {
    auto r = add(a, "/mnt/alice", "agent:alice", "/");
    EXPECT_EQ(CodeOf(r), Code::BUSY);
  }
  {
    auto r = add(a, "/mnt/g", "group:eng#member", "/");
    EXPECT_EQ(CodeOf(r), Code::INVALID_ARGUMENT);
    auto r2 = add(a, "relative", "user:bob", "/");
    EXPECT_EQ(CodeOf(r2), Code::INVALID_ARGUMENT);
    auto r3 = add(a, "/mnt/x", "user:*", "/");
    EXPECT_EQ(CodeOf(r3), Code::INVALID_ARGUMENT);
  }
  {
    auto r = a.Wait(MountsOf(a).listRequest().send());
    ASSERT_EQ(CodeOf(r), Code::OK);
    ASSERT_EQ(r->getMounts().size(), 1u);
    EXPECT_EQ(std::string(r->getMounts()[0].getMountpoint()), "/mnt/alice");
  }
  auto bob = Agent("bob");
  {
    auto r = add(*bob, "/mnt/bob", "agent:bob", "/");
    EXPECT_EQ(CodeOf(r), Code::PERMISSION_DENIED);
    auto r2 = bob->Wait(MountsOf(*bob).listRequest().send());
    EXPECT_EQ(CodeOf(r2), Code::PERMISSION_DENIED);
  }
  auto remove = [&](const std::string& mnt) {
    auto req = MountsOf(a).removeRequest();
    req.setMountpoint(mnt);
    return a.Wait(req.send());
  };
  {
    auto r = remove("/mnt/alice");
    EXPECT_EQ(CodeOf(r), Code::OK);
    auto r2 = remove("/mnt/alice");
    EXPECT_EQ(CodeOf(r2), Code::NOT_FOUND);
  }
  EXPECT_TRUE(mounts_.List().empty());
}

// A daemon without ReBAC or per-subject mounts says so.
class PermissionsOffTest : public PermissionsServiceTest {
 protected:
  bool WithRebac() const override { return false; }
};

TEST_F(PermissionsOffTest, EveryMethodIsUnavailable) {
  NexusClient& a = *admin_;
  EXPECT_EQ(Write(a, "user:alice", "viewer", "file:/x"), Code::UNAVAILABLE);
  Code code;
  EXPECT_EQ(Check(a, "user:alice", "read", "file:/x", &code), std::nullopt);
  EXPECT_EQ(code, Code::UNAVAILABLE);
  auto info = a.Wait(Perms(a).infoRequest().send());
  EXPECT_EQ(CodeOf(info), Code::UNAVAILABLE);
  EXPECT_NE(MessageOf(info).find("rebac"), std::string::npos) << MessageOf(info);
  auto ids = a.Wait(Perms(a).listIdentitiesRequest().send());
  EXPECT_EQ(CodeOf(ids), Code::UNAVAILABLE);
  auto audit = a.Wait(Perms(a).auditListRequest().send());
  EXPECT_EQ(CodeOf(audit), Code::UNAVAILABLE);
  auto mounts = a.Wait(MountsOf(a).listRequest().send());
  EXPECT_EQ(CodeOf(mounts), Code::UNAVAILABLE);
  EXPECT_NE(MessageOf(mounts).find("per-subject mounts"), std::string::npos);
}

}  // namespace
}  // namespace nexus
