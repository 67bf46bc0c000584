// The Undoer over a real NativeBackend, Namespace, ChangeBus, Recorder,
// VersionStore and OpLog in a temp dir. The operations are logged here as
// the feed would log them (with the versions the recorder made).
#include "ops/undo.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "base/format.h"
#include "base/principal.h"
#include "fs/change_events.h"
#include "fs/native_backend.h"
#include "fs/path_files.h"
#include "fs/process_info.h"
#include "fs/versions/recorder.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"
#include "ops/op_feed.h"
#include "ops/op_log.h"
#include "perms/audit.h"
#include "tests/temp_dir.h"

namespace nexus::ops {
namespace {

Principal Make(std::string subject, uid_t uid, bool admin = false) {
  Principal p;
  p.subject = subject;
  p.account = subject;
  p.uid = uid;
  p.gid = uid;
  p.admin = admin;
  return p;
}

class CollectingAudit final : public AuditSink {
 public:
  void Record(AuditRecord r) override { records.push_back(std::move(r)); }
  std::vector<AuditRecord> records;
};

class UndoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir_.path() + "/meta").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((dir_.path() + "/versions").c_str(), 0700), 0);
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/meta";
    o.sink = &bus_;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    versions::VersionStore::Options so;
    so.dir = dir_.path() + "/versions";
    so.commit_window = std::chrono::milliseconds(5);
    auto store = versions::VersionStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    versions::Recorder::Options ro;
    ro.store = store_.get();
    ro.ns = ns_.get();
    recorder_ = std::make_unique<versions::Recorder>(ro);
    bus_.Subscribe([this](const ChangeEvent& ev) {
      if (recorder_) recorder_->OnChange(ev);
      if (ev.process) commands_.push_back(ev.process->command);
    });
    recorder_->Start(false);
    auto log = OpLog::Open({dir_.path() + "/oplog.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    files_ = std::make_unique<PathFiles>(ns_.get());
    Caller root;
    auto w = ns_->MkDir(root, kRootIno, "w", 0777);
    ASSERT_TRUE(w.ok());
    Undoer::Deps deps;
    deps.log = log_.get();
    deps.store = store_.get();
    deps.files = files_.get();
    deps.audit = &audit_;
    undoer_ = std::make_unique<Undoer>(deps);
  }

  void TearDown() override {
    bus_.Drain();
    recorder_.reset();
  }

  Caller As(const Principal& p) {
    Caller c{p.uid, p.gid, ::getpid(), 022};
    c.principal = &p;
    return c;
  }

  void Settle() {
    bus_.Drain();
    ASSERT_TRUE(recorder_->Flush().ok());
  }

  uint32_t Latest(const std::string& path) {
    Settle();
    versions::ZonePath zp = versions::SplitNamespacePath(path);
    auto n = store_->LatestNumber(zp.zone, zp.path);
    return n.ok() ? *n : 0;
  }

  int64_t Log(const Principal& who, OpKind kind, const std::string& path, uint32_t before = 0,
              uint32_t after = 0, std::string detail = "", std::string old_path = "") {
    Operation op;
    op.kind = kind;
    op.path = path;
    op.old_path = std::move(old_path);
    op.subject = who.subject;
    op.uid = who.uid;
    op.command = "sh";
    op.agent_id = who.subject.starts_with("agent:") ? who.subject.substr(6) : "";
    op.version_before = before;
    op.version_after = after;
    op.detail = std::move(detail);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    op.time_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    std::vector<Operation> batch{op};
    EXPECT_TRUE(log_->Append(batch).ok());
    return batch[0].id;
  }

  // Writes `data` as `who` and logs it (a create first for a new file).
  int64_t Write(const Principal& who, const std::string& path, const std::string& data) {
    const bool existed = files_->Stat(As(who), path).ok();
    const uint32_t before = Latest(path);
    WriteOptions o;
    auto w = files_->Write(As(who), path, data, o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!existed) Log(who, OpKind::kCreate, path);
    return Log(who, OpKind::kWrite, path, existed ? before : 0, Latest(path));
  }

  // Writes without logging (setup, or a change the log never saw).
  void Put(const Principal& who, const std::string& path, const std::string& data) {
    auto w = files_->Write(As(who), path, data, WriteOptions{});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    Settle();
  }

  std::string Read(const std::string& path) {
    Caller root;
    uint64_t size = 0;
    auto r = files_->Read(root, path, 0, 0, 1 << 20, &size);
    return r.ok() ? *r : "<" + r.status().message() + ">";
  }
  // Lets everyone write `path` (unlogged).
  void OpenUp(const std::string& path) {
    SetAttrRequest r;
    r.valid = SetAttrRequest::kMode;
    r.mode = 0777;
    ASSERT_TRUE(files_->SetAttr(Caller{}, path, r).ok());
  }
  bool Exists(const std::string& path) {
    Caller root;
    return files_->Stat(root, path).ok();
  }

  OpFilter ByAgent(const std::string& id) {
    OpFilter f;
    f.agent_id = id;
    return f;
  }

  const UndoStep* StepOf(const UndoReport& r, int64_t id) {
    for (const UndoStep& s : r.steps)
      if (s.op_id == id) return &s;
    return nullptr;
  }

  nexus::testing::TempDir dir_;
  ChangeBus bus_;
  std::vector<std::string> commands_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<versions::VersionStore> store_;
  std::unique_ptr<versions::Recorder> recorder_;
  std::unique_ptr<OpLog> log_;
  std::unique_ptr<PathFiles> files_;
  CollectingAudit audit_;
  std::unique_ptr<Undoer> undoer_;
  Principal agent_ = Make("agent:bot", 1000);
  Principal alice_ = Make("user:alice", 1001);
  Principal admin_ = Make("user:admin", 0, true);
};

TEST_F(UndoTest, EveryKindIsTakenBackNewestFirst) {
  // The tree before the agent.
  Put(agent_, "/w/keep.txt", "one\n");
  Put(agent_, "/w/gone.txt", "bye\n");
  Put(agent_, "/w/old.txt", "old\n");
  Put(agent_, "/w/x.txt", "x\n");
  ASSERT_TRUE(files_->MkDir(As(agent_), "/w/rmme", 0755, false).ok());
  ASSERT_TRUE(files_->SetXattr(As(agent_), "/w/x.txt", "user.tag", "one").ok());
  Settle();

  // The agent's session.
  const int64_t w1 = Write(agent_, "/w/keep.txt", "two\n");
  const int64_t w2 = Write(agent_, "/w/new.txt", "new\n");
  const uint32_t gone_v = Latest("/w/gone.txt");
  ASSERT_TRUE(files_->Unlink(As(agent_), "/w/gone.txt").ok());
  const int64_t un = Log(agent_, OpKind::kUnlink, "/w/gone.txt", gone_v);
  ASSERT_TRUE(files_->Rename(As(agent_), "/w/old.txt", "/w/moved.txt").ok());
  const int64_t mv = Log(agent_, OpKind::kRename, "/w/moved.txt", 0, 0, "", "/w/old.txt");
  ASSERT_TRUE(files_->MkDir(As(agent_), "/w/d", 0755, false).ok());
  const int64_t md = Log(agent_, OpKind::kMkdir, "/w/d");
  Write(agent_, "/w/d/f.txt", "f\n");
  // Unlogged: a .git folder made inside it.
  ASSERT_TRUE(files_->MkDir(As(agent_), "/w/d/.git/objects", 0755, true).ok());
  Put(agent_, "/w/d/.git/HEAD", "ref: refs/heads/main\n");
  ASSERT_TRUE(files_->RmDir(As(agent_), "/w/rmme").ok());
  const int64_t rd = Log(agent_, OpKind::kRmdir, "/w/rmme");
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0600;
  ASSERT_TRUE(files_->SetAttr(As(agent_), "/w/x.txt", chmod).ok());
  const int64_t cm = Log(agent_, OpKind::kChmod, "/w/x.txt", 0, 0, R"({"mode_before":420,"mode_after":384})");
  ASSERT_TRUE(files_->SetXattr(As(agent_), "/w/x.txt", "user.tag", "two").ok());
  const int64_t sx = Log(agent_, OpKind::kSetXattr, "/w/x.txt", 0, 0,
                         R"({"name":"user.tag","value_before":")" + Base64Encode("one") + R"("})");
  ASSERT_TRUE(files_->SetXattr(As(agent_), "/w/x.txt", "user.new", "v").ok());
  const int64_t sx2 = Log(agent_, OpKind::kSetXattr, "/w/x.txt", 0, 0, R"({"name":"user.new"})");
  auto dir = ns_->Resolve(Caller{}, "/w");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(ns_->Symlink(As(agent_), "keep.txt", dir->ino, "ln").ok());
  const int64_t sl = Log(agent_, OpKind::kSymlink, "/w/ln", 0, 0, R"({"target":"keep.txt"})");
  Settle();

  auto plan = undoer_->Plan(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_FALSE(plan->steps.empty());
  for (size_t i = 1; i < plan->steps.size(); ++i) EXPECT_GT(plan->steps[i - 1].op_id, plan->steps[i].op_id);
  for (const UndoStep& s : plan->steps) EXPECT_EQ(s.status, "planned") << s.op_id << " " << s.reason;
  EXPECT_EQ(StepOf(*plan, sl)->action, "remove");
  EXPECT_EQ(StepOf(*plan, sx)->action, "setxattr");
  EXPECT_EQ(StepOf(*plan, sx2)->action, "removexattr");
  EXPECT_EQ(StepOf(*plan, cm)->action, "chmod");
  EXPECT_EQ(StepOf(*plan, rd)->action, "mkdir");
  EXPECT_EQ(StepOf(*plan, md)->action, "rmdir");
  EXPECT_EQ(StepOf(*plan, mv)->action, "rename-back");
  EXPECT_EQ(StepOf(*plan, mv)->to_path, "/w/old.txt");
  EXPECT_EQ(StepOf(*plan, un)->action, "recreate");
  EXPECT_EQ(StepOf(*plan, un)->version, gone_v);
  EXPECT_EQ(StepOf(*plan, w2)->action, "none");  // its create's undo removes it
  EXPECT_EQ(StepOf(*plan, w1)->action, "restore-content");
  EXPECT_EQ(StepOf(*plan, w1)->version, 1u);

  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  for (const UndoStep& s : done->steps)
    EXPECT_EQ(s.status, "done") << s.op_id << " " << s.action << " " << s.reason;
  EXPECT_EQ(done->conflicts, 0u);
  EXPECT_EQ(done->failed, 0u);
  EXPECT_FALSE(done->dry_run);
  EXPECT_EQ(Read("/w/keep.txt"), "one\n");
  EXPECT_FALSE(Exists("/w/new.txt"));
  EXPECT_EQ(Read("/w/gone.txt"), "bye\n");
  EXPECT_EQ(Read("/w/old.txt"), "old\n");
  EXPECT_FALSE(Exists("/w/moved.txt"));
  EXPECT_FALSE(Exists("/w/d"));
  EXPECT_TRUE(Exists("/w/rmme"));
  EXPECT_FALSE(Exists("/w/ln"));
  auto x = files_->Stat(Caller{}, "/w/x.txt");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->attr.mode & 07777, 0644u);
  EXPECT_EQ(*files_->GetXattr(Caller{}, "/w/x.txt", "user.tag"), "one");
  EXPECT_FALSE(files_->GetXattr(Caller{}, "/w/x.txt", "user.new").ok());
  // Audited, with the counts.
  ASSERT_FALSE(audit_.records.empty());
  EXPECT_EQ(audit_.records.back().subject, "agent:bot");
  EXPECT_EQ(audit_.records.back().operation, "undo");
  EXPECT_TRUE(audit_.records.back().allowed);
  // The undo's own changes carry the command "undo".
  Settle();
  auto h = store_->History("root", "w/keep.txt");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->versions.back().provenance.command, "undo");
}

TEST_F(UndoTest, OwnershipIsSetBackByAnAdmin) {
  Put(agent_, "/w/o.txt", "o\n");
  SetAttrRequest r;
  r.valid = SetAttrRequest::kUid | SetAttrRequest::kGid;
  r.uid = 1001;
  r.gid = 1001;
  ASSERT_TRUE(files_->SetAttr(As(admin_), "/w/o.txt", r).ok());
  const int64_t id = Log(admin_, OpKind::kChown, "/w/o.txt", 0, 0,
                         R"({"uid_before":1000,"gid_before":1000,"uid_after":1001,"gid_after":1001})");
  ASSERT_TRUE(files_->SetXattr(As(admin_), "/w/o.txt", "user.k", "v").ok());
  ASSERT_TRUE(files_->RemoveXattr(As(admin_), "/w/o.txt", "user.k").ok());
  const int64_t rx = Log(admin_, OpKind::kRemoveXattr, "/w/o.txt", 0, 0,
                         R"({"name":"user.k","value_before":")" + Base64Encode("v") + R"("})");
  OpFilter f;
  f.ids = {id, rx};
  auto done = undoer_->Apply(As(admin_), f, false);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->applied, 2u);
  auto st = files_->Stat(Caller{}, "/w/o.txt");
  EXPECT_EQ(st->attr.uid, 1000u);
  EXPECT_EQ(st->attr.gid, 1000u);
  EXPECT_EQ(*files_->GetXattr(Caller{}, "/w/o.txt", "user.k"), "v");
}

TEST_F(UndoTest, ALaterChangeBySomeoneElseIsAConflictUnlessForced) {
  Put(agent_, "/w/a.txt", "a1\n");
  Put(agent_, "/w/b.txt", "b1\n");
  OpenUp("/w/a.txt");
  const int64_t wa = Write(agent_, "/w/a.txt", "a2\n");
  const int64_t wb = Write(agent_, "/w/b.txt", "b2\n");
  Write(alice_, "/w/a.txt", "a3 alice\n");

  auto plan = undoer_->Plan(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(StepOf(*plan, wa)->status, "conflict");
  EXPECT_NE(StepOf(*plan, wa)->reason.find("user:alice"), std::string::npos) << StepOf(*plan, wa)->reason;
  EXPECT_EQ(StepOf(*plan, wb)->status, "planned");
  EXPECT_EQ(plan->conflicts, 1u);

  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(StepOf(*done, wa)->status, "conflict");
  EXPECT_EQ(StepOf(*done, wb)->status, "done");
  EXPECT_EQ(done->applied, 1u);
  EXPECT_EQ(done->conflicts, 1u);
  EXPECT_EQ(Read("/w/a.txt"), "a3 alice\n");  // kept
  EXPECT_EQ(Read("/w/b.txt"), "b1\n");

  OpFilter only_a;
  only_a.ids = {wa};
  auto forced = undoer_->Apply(As(agent_), only_a, true);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(StepOf(*forced, wa)->status, "done");
  EXPECT_EQ(Read("/w/a.txt"), "a1\n");
}

TEST_F(UndoTest, ContentThatIsNoLongerWhatTheOperationLeftIsAConflict) {
  Put(agent_, "/w/a.txt", "a1\n");
  OpenUp("/w/a.txt");
  const int64_t wa = Write(agent_, "/w/a.txt", "a2\n");
  Put(alice_, "/w/a.txt", "changed behind the log\n");
  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(StepOf(*done, wa)->status, "conflict");
  EXPECT_NE(StepOf(*done, wa)->reason.find("content"), std::string::npos);
  EXPECT_EQ(Read("/w/a.txt"), "changed behind the log\n");
}

TEST_F(UndoTest, AMkdirWithSomeoneElsesFileInsideIsAConflict) {
  ASSERT_TRUE(files_->MkDir(As(agent_), "/w/d", 0777, false).ok());
  const int64_t md = Log(agent_, OpKind::kMkdir, "/w/d");
  OpenUp("/w/d");
  Write(alice_, "/w/d/hers.txt", "mine\n");
  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(StepOf(*done, md)->status, "conflict");
  EXPECT_EQ(Read("/w/d/hers.txt"), "mine\n");
}

TEST_F(UndoTest, AMkdirHoldingAnUnloggedFileIsAConflict) {
  ASSERT_TRUE(files_->MkDir(As(agent_), "/w/d", 0777, false).ok());
  const int64_t md = Log(agent_, OpKind::kMkdir, "/w/d");
  OpenUp("/w/d");
  Put(alice_, "/w/d/unlogged.txt", "?\n");
  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(StepOf(*done, md)->status, "conflict") << StepOf(*done, md)->reason;
  EXPECT_TRUE(Exists("/w/d/unlogged.txt"));
}

TEST_F(UndoTest, OthersOperationsAreSkippedAndNoneIsRefused) {
  Put(agent_, "/w/a.txt", "a1\n");
  Put(alice_, "/w/h.txt", "h1\n");
  const int64_t mine = Write(agent_, "/w/a.txt", "a2\n");
  const int64_t hers = Write(alice_, "/w/h.txt", "h2\n");
  OpFilter f;
  f.ids = {mine, hers};
  auto done = undoer_->Apply(As(agent_), f, false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(StepOf(*done, mine)->status, "done");
  EXPECT_EQ(StepOf(*done, hers)->status, "skipped");
  EXPECT_NE(StepOf(*done, hers)->reason.find("not yours"), std::string::npos);
  EXPECT_EQ(done->skipped, 1u);
  EXPECT_EQ(Read("/w/h.txt"), "h2\n");

  OpFilter only_hers;
  only_hers.ids = {hers};
  auto refused = undoer_->Apply(As(agent_), only_hers, false);
  EXPECT_EQ(refused.code(), EACCES);
  EXPECT_FALSE(audit_.records.back().allowed);
  EXPECT_EQ(Read("/w/h.txt"), "h2\n");

  // An admin may.
  auto by_admin = undoer_->Apply(As(admin_), only_hers, false);
  ASSERT_TRUE(by_admin.ok());
  EXPECT_EQ(by_admin->applied, 1u);
  EXPECT_EQ(Read("/w/h.txt"), "h1\n");
}

TEST_F(UndoTest, ADryRunChangesNothing) {
  Put(agent_, "/w/a.txt", "a1\n");
  Write(agent_, "/w/a.txt", "a2\n");
  Write(agent_, "/w/n.txt", "n\n");
  auto plan = undoer_->Plan(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->dry_run);
  EXPECT_EQ(plan->applied, 0u);
  EXPECT_EQ(plan->steps.size(), 3u);
  EXPECT_EQ(Read("/w/a.txt"), "a2\n");
  EXPECT_EQ(Read("/w/n.txt"), "n\n");
}

TEST_F(UndoTest, ASelectionNamingNothingIsInvalid) {
  OpFilter f;
  f.since_ns = 1;
  EXPECT_EQ(undoer_->Plan(As(agent_), f, false).code(), EINVAL);
  EXPECT_EQ(undoer_->Apply(As(agent_), f, false).code(), EINVAL);
}

TEST_F(UndoTest, AnUndoCanBeUndone) {
  Put(agent_, "/w/a.txt", "a1\n");
  Write(agent_, "/w/a.txt", "a2\n");
  const uint32_t before = Latest("/w/a.txt");
  commands_.clear();
  auto done = undoer_->Apply(As(agent_), ByAgent("bot"), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(Read("/w/a.txt"), "a1\n");
  Settle();
  EXPECT_FALSE(commands_.empty());
  for (const std::string& c : commands_) EXPECT_EQ(c, "undo");
  // The undo's write, as the feed logs it.
  Operation op;
  op.kind = OpKind::kWrite;
  op.path = "/w/a.txt";
  op.subject = "agent:bot";
  op.command = "undo";
  op.version_before = before;
  op.version_after = Latest("/w/a.txt");
  std::vector<Operation> batch{op};
  ASSERT_TRUE(log_->Append(batch).ok());
  OpFilter f;
  f.ids = {batch[0].id};
  auto again = undoer_->Apply(As(agent_), f, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->applied, 1u);
  EXPECT_EQ(Read("/w/a.txt"), "a2\n");
}

// The whole chain: changes through PathFiles, logged by the real feed from
// the bus and the recorder, undone by agent, and the undo undone in turn.
class UndoWithFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir_.path() + "/meta").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((dir_.path() + "/versions").c_str(), 0700), 0);
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/meta";
    o.sink = &bus_;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    versions::VersionStore::Options so;
    so.dir = dir_.path() + "/versions";
    so.commit_window = std::chrono::milliseconds(5);
    auto store = versions::VersionStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto log = OpLog::Open({dir_.path() + "/oplog.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    bus_.Subscribe([this](const ChangeEvent& ev) {
      if (recorder_) recorder_->OnChange(ev);
      if (feed_) feed_->OnChange(ev);
    });
    OpFeed::Options fo;
    fo.log = log_.get();
    fo.store = store_.get();
    fo.drain_upstream = [this] {
      bus_.Drain();
      if (recorder_) recorder_->Drain();
    };
    auto feed = std::make_unique<OpFeed>(fo);
    ASSERT_TRUE(feed->Start().ok());
    feed_ = std::move(feed);
    versions::Recorder::Options ro;
    ro.store = store_.get();
    ro.ns = ns_.get();
    ro.on_applied = [this](const versions::Applied& a) {
      if (feed_) feed_->OnVersionApplied(a);
    };
    recorder_ = std::make_unique<versions::Recorder>(ro);
    recorder_->Start(false);
    files_ = std::make_unique<PathFiles>(ns_.get());
    Caller root;
    ASSERT_TRUE(ns_->MkDir(root, kRootIno, "w", 0777).ok());
    Undoer::Deps deps;
    deps.log = log_.get();
    deps.store = store_.get();
    deps.files = files_.get();
    undoer_ = std::make_unique<Undoer>(deps);
    agent_origin_.command = "sh";
    agent_origin_.agent_id = "bot";
    human_origin_.command = "vim";
  }

  void TearDown() override {
    bus_.Drain();
    feed_.reset();
    recorder_.reset();
  }

  void Settle() {
    bus_.Drain();
    ASSERT_TRUE(recorder_->Flush().ok());
    ASSERT_TRUE(feed_->Flush().ok());
  }

  Caller Agent() {
    Caller c{1000, 1000, ::getpid(), 022};
    c.principal = &agent_;
    c.origin = &agent_origin_;
    return c;
  }
  Caller Human() {
    Caller c{1001, 1001, ::getpid(), 022};
    c.principal = &alice_;
    c.origin = &human_origin_;
    return c;
  }

  void Put(const Caller& who, const std::string& path, const std::string& data) {
    auto w = files_->Write(who, path, data, WriteOptions{});
    ASSERT_TRUE(w.ok()) << path << ": " << w.status().ToString();
  }
  std::string Read(const std::string& path) {
    uint64_t size = 0;
    auto r = files_->Read(Caller{}, path, 0, 0, 1 << 20, &size);
    return r.ok() ? *r : "<" + r.status().message() + ">";
  }
  bool Exists(const std::string& path) { return files_->Stat(Caller{}, path).ok(); }

  nexus::testing::TempDir dir_;
  ChangeBus bus_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<versions::VersionStore> store_;
  std::unique_ptr<OpLog> log_;
  std::unique_ptr<versions::Recorder> recorder_;
  std::unique_ptr<OpFeed> feed_;
  std::unique_ptr<PathFiles> files_;
  std::unique_ptr<Undoer> undoer_;
  Principal agent_ = Make("agent:bot", 1000);
  Principal alice_ = Make("user:alice", 1001);
  ProcessInfo agent_origin_, human_origin_;
};

TEST_F(UndoWithFeedTest, AnAgentsSessionIsUndoneAndTheUndoToo) {
  // Before: the agent's files and the human's.
  Put(Agent(), "/w/notes.txt", "one\n");
  Put(Agent(), "/w/doomed.txt", "keep me\n");
  Put(Agent(), "/w/old.txt", "old\n");
  Put(Human(), "/w/human.txt", "h1\n");
  Put(Agent(), "/w/cfg.txt", "cfg1\n");
  Settle();
  const int64_t start = log_->NewestId();
  ::usleep(2000);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t since = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;

  // The agent's session, and the human editing meanwhile.
  Put(Agent(), "/w/notes.txt", "two\n");
  Put(Agent(), "/w/fresh.txt", "fresh\n");
  ASSERT_TRUE(files_->Unlink(Agent(), "/w/doomed.txt").ok());
  ASSERT_TRUE(files_->Rename(Agent(), "/w/old.txt", "/w/new.txt").ok());
  ASSERT_TRUE(files_->MkDir(Agent(), "/w/proj", 0755, false).ok());
  Put(Agent(), "/w/proj/main.c", "int main;\n");
  ASSERT_TRUE(files_->MkDir(Agent(), "/w/proj/.git/objects", 0755, true).ok());
  Put(Agent(), "/w/proj/.git/HEAD", "ref: refs/heads/main\n");
  Put(Human(), "/w/human.txt", "h2\n");
  // An atomic save (as sed -i and editors do): a new file renamed over.
  Put(Agent(), "/w/.cfg.tmp", "cfg2\n");
  ASSERT_TRUE(files_->Rename(Agent(), "/w/.cfg.tmp", "/w/cfg.txt").ok());
  Settle();

  OpFilter by_agent;
  by_agent.agent_id = "bot";
  by_agent.since_ns = since;
  auto agent_ops = log_->After(start, by_agent, 1000);
  ASSERT_TRUE(agent_ops.ok());
  ASSERT_FALSE(agent_ops->empty());
  for (const Operation& op : *agent_ops) EXPECT_FALSE(op.path.find("/.git") != std::string::npos) << op.path;

  auto done = undoer_->Apply(Agent(), by_agent, false);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  for (const UndoStep& s : done->steps)
    EXPECT_EQ(s.status, "done") << s.op_id << " " << s.action << " " << s.path << ": " << s.reason;
  EXPECT_EQ(Read("/w/notes.txt"), "one\n");
  EXPECT_FALSE(Exists("/w/fresh.txt"));
  EXPECT_EQ(Read("/w/doomed.txt"), "keep me\n");
  EXPECT_EQ(Read("/w/old.txt"), "old\n");
  EXPECT_FALSE(Exists("/w/new.txt"));
  EXPECT_FALSE(Exists("/w/proj"));
  EXPECT_EQ(Read("/w/human.txt"), "h2\n");  // the human's edit stays
  EXPECT_EQ(Read("/w/cfg.txt"), "cfg1\n");
  EXPECT_FALSE(Exists("/w/.cfg.tmp"));

  // The undo is logged, as command "undo", and can itself be undone.
  Settle();
  const int64_t undo_start = agent_ops->back().id;
  OpFilter all;
  auto after = log_->After(undo_start, all, 1000);
  ASSERT_TRUE(after.ok());
  OpFilter undo_ops;
  for (const Operation& op : *after) {
    if (op.command != "undo") continue;
    undo_ops.ids.push_back(op.id);
  }
  ASSERT_FALSE(undo_ops.ids.empty());
  auto redo = undoer_->Apply(Agent(), undo_ops, false);
  ASSERT_TRUE(redo.ok()) << redo.status().ToString();
  for (const UndoStep& s : redo->steps)
    EXPECT_EQ(s.status, "done") << s.op_id << " " << s.action << " " << s.path << ": " << s.reason;
  EXPECT_EQ(Read("/w/notes.txt"), "two\n");
  EXPECT_EQ(Read("/w/fresh.txt"), "fresh\n");
  EXPECT_FALSE(Exists("/w/doomed.txt"));
  EXPECT_EQ(Read("/w/new.txt"), "old\n");
  EXPECT_EQ(Read("/w/proj/main.c"), "int main;\n");
  EXPECT_EQ(Read("/w/cfg.txt"), "cfg2\n");
  EXPECT_FALSE(Exists("/w/.cfg.tmp"));
}

}  // namespace
}  // namespace nexus::ops
