#include "workflows/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <set>
#include <utility>

namespace nexus::workflows {
namespace {

// An in-memory tree: files by path with their xattrs, and which subject
// may write where (a path prefix per subject; "*" everything).
class FakeHost final : public ActionHost {
 public:
  struct File {
    std::string content;
    std::map<std::string, std::string> xattrs;
  };
  std::map<std::string, File> files;
  std::map<std::string, std::string> writable;  // subject -> prefix
  std::vector<std::string> labels;              // the label of every change
  std::vector<std::string> messages;

  bool MayWrite(const Owner& o, const std::string& path) {
    auto it = writable.find(o.subject);
    return it != writable.end() && path.rfind(it->second, 0) == 0;
  }
  Result<FileFacts> Stat(const Owner&, const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) {
      for (const auto& [p, f] : files)
        if (p.rfind(path + "/", 0) == 0) return FileFacts{0, "inode/directory", true};
      return Status::Error(ENOENT, path + ": no such file");
    }
    return FileFacts{it->second.content.size(), "text/plain", false};
  }
  Result<std::string> GetXattr(const Owner&, const std::string& path, const std::string& name) override {
    auto it = files.find(path);
    if (it == files.end()) return Status::Error(ENOENT, "gone");
    auto x = it->second.xattrs.find(name);
    if (x == it->second.xattrs.end()) return Status::Error(ENODATA, "not set");
    return x->second;
  }
  Status SetXattr(const Owner& o, const std::string& label, const std::string& path, const std::string& name,
                  const std::string& value) override {
    if (!MayWrite(o, path)) return Status::Error(EACCES, path + ": permission denied");
    auto it = files.find(path);
    if (it == files.end()) return Status::Error(ENOENT, "gone");
    it->second.xattrs[name] = value;
    labels.push_back(label);
    return Status::Ok();
  }
  Status Rename(const Owner& o, const std::string& label, const std::string& from,
                const std::string& to) override {
    if (!MayWrite(o, to)) return Status::Error(EACCES, to + ": permission denied");
    auto it = files.find(from);
    if (it == files.end()) return Status::Error(ENOENT, "gone");
    files[to] = it->second;
    files.erase(from);
    labels.push_back(label);
    return Status::Ok();
  }
  Status Copy(const Owner& o, const std::string& label, const std::string& from,
              const std::string& to) override {
    if (!MayWrite(o, to)) return Status::Error(EACCES, to + ": permission denied");
    files[to] = files.at(from);
    labels.push_back(label);
    return Status::Ok();
  }
  Result<std::string> SendIpc(const Owner&, const std::string&, const std::string& to,
                              const std::string& body) override {
    messages.push_back(to + ":" + body);
    return std::string("msg-1");
  }
  Result<std::string> SubmitTask(const Owner&, const std::string&, const std::string&) override {
    return Status::Error(ENOSYS, "unavailable: mesh — this daemon is in no mesh");
  }
};

class FakeRunner final : public CommandRunner {
 public:
  std::vector<CommandRequest> requests;
  int exit_code = 0;
  std::shared_future<void> gate;  // when valid, each run waits for it
  std::function<void()> during;   // called while the next command "runs", once
  Result<CommandResult> Run(const CommandRequest& r) override {
    if (gate.valid()) gate.wait();
    if (during) std::exchange(during, nullptr)();
    requests.push_back(r);
    CommandResult out;
    out.exit_code = exit_code;
    out.output = "ran " + r.command;
    return out;
  }
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("wf-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    host_.writable["user:alice"] = "/zone/local/";
    Open();
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(size_t queue_limit = 1024) {
    engine_.reset();
    Engine::Options o;
    o.schedules = false;
    o.queue_limit = queue_limit;
    o.keep_runs = 3;
    auto e = Engine::Open((dir_ / "workflows.db").string(), &host_, &runner_, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  Status Load(const std::string& yaml, const Owner& by = kAlice) {
    return engine_->Load(by, {by.subject, false}, yaml, "w.yaml", false).status();
  }
  static ChangeEvent Closed(const std::string& path, const std::string& command = "cp") {
    ChangeEvent e;
    e.kind = ChangeEvent::Kind::kContentClosed;
    e.path = path;
    auto info = std::make_shared<ProcessInfo>();
    info->command = command;
    e.process = info;
    clock_gettime(CLOCK_REALTIME, &e.when);
    return e;
  }
  std::vector<RunRecord> Runs(const std::string& name) {
    auto r = engine_->Runs(kAliceAsker, name, 0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<RunRecord>{};
  }

  static inline const Owner kAlice{"user:alice", 1001, 1001};
  static inline const Asker kAliceAsker{"user:alice", false};
  std::filesystem::path dir_;
  FakeHost host_;
  FakeRunner runner_;
  std::unique_ptr<Engine> engine_;
};

constexpr const char* kTagIncoming = R"(name: tag-incoming
triggers:
  - type: file_write
    pattern: /workspace/inbox/*
actions:
  - name: mark-processed
    type: metadata
    metadata:
      workflow_status: processed
  - type: tag
    tags: [incoming]
)";

TEST_F(EngineTest, AWriteTriggersTheActionsAsTheOwner) {
  ASSERT_TRUE(Load(kTagIncoming).ok());
  host_.files["/zone/local/inbox/a.txt"] = {"hello", {}};
  engine_->OnChange(Closed("/zone/local/inbox/a.txt"));
  engine_->OnChange(Closed("/zone/local/elsewhere/b.txt"));
  engine_->TEST_WaitIdle();
  auto& x = host_.files["/zone/local/inbox/a.txt"].xattrs;
  EXPECT_EQ(x["user.workflow_status"], "processed");
  EXPECT_EQ(x["user.tags"], "incoming");
  auto runs = Runs("tag-incoming");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[0].path, "/zone/local/inbox/a.txt");
  EXPECT_EQ(runs[0].trigger, "file_write /zone/local/inbox/*");
  EXPECT_GE(runs[0].started_ns, runs[0].triggered_ns);
  EXPECT_NE(runs[0].output.find("mark-processed: set user.workflow_status='processed'"), std::string::npos);
  EXPECT_EQ(host_.labels, (std::vector<std::string>{"workflow:tag-incoming", "workflow:tag-incoming"}));
}

TEST_F(EngineTest, ItsOwnChangesDoNotRetriggerIt) {
  // Copies every file of /zone/local/loop back into the same folder.
  ASSERT_TRUE(Load(R"(name: loop
triggers: [{type: file_write, pattern: /zone/local/loop/*}]
actions: [{type: copy, destination: "/zone/local/loop/{name}.copy"}]
)")
                  .ok());
  host_.files["/zone/local/loop/a"] = {"x", {}};
  engine_->OnChange(Closed("/zone/local/loop/a"));
  engine_->TEST_WaitIdle();
  ASSERT_TRUE(host_.files.count("/zone/local/loop/a.copy"));
  // The copy's close, as the bus reports it: labelled with the workflow.
  engine_->OnChange(Closed("/zone/local/loop/a.copy", RunLabel("loop")));
  // A command of a run action: NEXUS_TASK_ID carries the label.
  ChangeEvent by_task = Closed("/zone/local/loop/a.copy", "gzip");
  auto info = std::make_shared<ProcessInfo>(*by_task.process);
  info->task_id = RunLabel("loop");
  by_task.process = info;
  engine_->OnChange(by_task);
  engine_->TEST_WaitIdle();
  EXPECT_EQ(Runs("loop").size(), 1u);
  EXPECT_FALSE(host_.files.count("/zone/local/loop/a.copy.copy"));
}

// A command's last close may be published after its process is gone, with
// no label: a change through the owner's per-subject mount while the
// workflow's command runs (or just after) is still its own.
TEST_F(EngineTest, ChangesThroughTheOwnersMountWhileItsCommandRunsAreItsOwn) {
  ASSERT_TRUE(Load(R"(name: stamp
triggers: [{type: file_write, pattern: /zone/local/s/*}]
actions: [{type: run, command: "echo >> \"$NEXUS_FILE\""}]
)")
                  .ok());
  Principal alice_mount;
  alice_mount.subject = "user:alice";
  alice_mount.how = AuthMethod::kSubjectMount;
  Principal bob_mount = alice_mount;
  bob_mount.subject = "user:bob";
  host_.files["/zone/local/s/a"] = {"x", {}};
  auto unlabelled = [](const Principal* p) {
    ChangeEvent e = Closed("/zone/local/s/a", "sh");
    e.caller.principal = p;
    return e;
  };
  runner_.during = [&] {
    engine_->OnChange(unlabelled(&alice_mount));  // the command's own write
    engine_->OnChange(unlabelled(&bob_mount));    // someone else's, meanwhile
  };
  engine_->OnChange(Closed("/zone/local/s/a"));
  engine_->TEST_WaitIdle();
  // The first run, then bob's write's run (whose own write is ignored).
  EXPECT_EQ(Runs("stamp").size(), 2u);
  // Published just after the command ended: still its own.
  engine_->OnChange(unlabelled(&alice_mount));
  engine_->TEST_WaitIdle();
  EXPECT_EQ(Runs("stamp").size(), 2u);
}

TEST_F(EngineTest, AFailingActionFailsTheRunAndTheOthersStillRun) {
  host_.writable["user:alice"] = "/zone/local/inbox/";
  ASSERT_TRUE(Load(R"(name: out
triggers: [{type: file_write, pattern: /zone/local/inbox/*}]
actions:
  - {name: to-outbox, type: copy, destination: /zone/local/outbox/}
  - {name: mark, type: metadata, metadata: {done: "yes"}}
  - {name: mesh, type: task, command: make}
)")
                  .ok());
  host_.files["/zone/local/inbox/a"] = {"x", {}};
  engine_->OnChange(Closed("/zone/local/inbox/a"));
  engine_->TEST_WaitIdle();
  auto runs = Runs("out");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "failed");
  EXPECT_NE(runs[0].error.find("to-outbox: /zone/local/outbox/a: permission denied"), std::string::npos)
      << runs[0].error;
  EXPECT_NE(runs[0].error.find("mesh: unavailable: mesh"), std::string::npos) << runs[0].error;
  EXPECT_FALSE(host_.files.count("/zone/local/outbox/a"));
  EXPECT_EQ(host_.files["/zone/local/inbox/a"].xattrs["user.done"], "yes");
}

TEST_F(EngineTest, RunMoveIpcAndConditions) {
  ASSERT_TRUE(Load(R"(name: conv
triggers: [{type: file_create, pattern: "/zone/local/drop/**"}]
conditions: {min_size: 3, metadata: {ready: "1"}}
actions:
  - {type: run, command: gzip, timeout: 2}
  - {type: move, destination: /zone/local/done/}
  - {type: ipc, to: helper, message: "moved {path}"}
)")
                  .ok());
  host_.files["/zone/local/drop/small"] = {"x", {{"user.ready", "1"}}};
  host_.files["/zone/local/drop/unready"] = {"xxxx", {}};
  host_.files["/zone/local/drop/d/big"] = {"xxxx", {{"user.ready", "1"}}};
  for (const char* p : {"/zone/local/drop/small", "/zone/local/drop/unready", "/zone/local/drop/d/big"}) {
    ChangeEvent e = Closed(p);
    e.kind = ChangeEvent::Kind::kCreated;
    e.details.type = S_IFREG;
    engine_->OnChange(e);
  }
  engine_->TEST_WaitIdle();
  auto runs = Runs("conv");
  ASSERT_EQ(runs.size(), 1u) << "only the file meeting the conditions runs";
  EXPECT_EQ(runs[0].status, "succeeded") << runs[0].error;
  ASSERT_EQ(runner_.requests.size(), 1u);
  EXPECT_EQ(runner_.requests[0].path, "/zone/local/drop/d/big");
  EXPECT_EQ(runner_.requests[0].owner.subject, "user:alice");
  EXPECT_EQ(runner_.requests[0].label, "workflow:conv");
  EXPECT_EQ(runner_.requests[0].timeout, std::chrono::milliseconds(2000));
  EXPECT_TRUE(host_.files.count("/zone/local/done/big"));
  EXPECT_EQ(host_.messages, (std::vector<std::string>{"helper:moved /zone/local/done/big"}));

  runner_.exit_code = 3;
  host_.files["/zone/local/drop/e"] = {"xxxx", {{"user.ready", "1"}}};
  ChangeEvent e = Closed("/zone/local/drop/e");
  e.kind = ChangeEvent::Kind::kCreated;
  engine_->OnChange(e);
  engine_->TEST_WaitIdle();
  runs = Runs("conv");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "failed");
  EXPECT_NE(runs[0].error.find("run-1: exit status 3"), std::string::npos) << runs[0].error;
}

TEST_F(EngineTest, OwnershipVisibilityAndPersistence) {
  ASSERT_TRUE(Load(kTagIncoming).ok());
  const Owner bob{"user:bob", 1002, 1002};
  EXPECT_EQ(Load(kTagIncoming, bob).code(), EEXIST);
  EXPECT_TRUE(engine_->List({"user:bob", false}).empty());
  EXPECT_EQ(engine_->Get({"user:bob", false}, "tag-incoming").code(), ENOENT);
  EXPECT_EQ(engine_->Delete({"user:bob", false}, "tag-incoming").code(), ENOENT);
  EXPECT_EQ(engine_->List({"user:admin", true}).size(), 1u);
  ASSERT_TRUE(engine_->SetEnabled(kAliceAsker, "tag-incoming", false).ok());

  // A disabled workflow does not run.
  host_.files["/zone/local/inbox/a.txt"] = {"hello", {}};
  engine_->OnChange(Closed("/zone/local/inbox/a.txt"));
  engine_->TEST_WaitIdle();
  EXPECT_TRUE(Runs("tag-incoming").empty());

  Open();  // a restart
  auto w = engine_->Get(kAliceAsker, "tag-incoming");
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->enabled);
  EXPECT_EQ(w->owner.subject, "user:alice");
  EXPECT_EQ(w->owner.uid, 1001u);
  ASSERT_TRUE(engine_->SetEnabled(kAliceAsker, "tag-incoming", true).ok());
  for (int i = 0; i < 5; ++i) {
    engine_->OnChange(Closed("/zone/local/inbox/a.txt"));
    engine_->TEST_WaitIdle();
  }
  EXPECT_EQ(Runs("tag-incoming").size(), 3u) << "the history keeps the last keep_runs";
  EXPECT_EQ(engine_->Get(kAliceAsker, "tag-incoming")->runs, 5u);
  ASSERT_TRUE(engine_->Delete(kAliceAsker, "tag-incoming").ok());
  Open();
  EXPECT_TRUE(engine_->List({"user:admin", true}).empty());
}

TEST_F(EngineTest, AFullQueueDropsAndCounts) {
  Open(/*queue_limit=*/2);
  ASSERT_TRUE(Load(R"(name: slow
triggers: [{type: file_write, pattern: /zone/local/q/*}]
actions: [{type: run, command: sleep}]
)")
                  .ok());
  host_.files["/zone/local/q/a"] = {"x", {}};
  std::promise<void> release;
  runner_.gate = release.get_future().share();
  for (int i = 0; i < 50; ++i) engine_->OnChange(Closed("/zone/local/q/a"));
  release.set_value();
  engine_->TEST_WaitIdle();
  auto w = engine_->Get(kAliceAsker, "slow");
  ASSERT_TRUE(w.ok());
  // The worker holds at most one job while two wait: 47 or 48 of 50 dropped.
  EXPECT_GE(w->dropped, 47u);
  EXPECT_EQ(w->runs + w->dropped, 50u);
}

TEST_F(EngineTest, DryRunSaysWhatWouldHappen) {
  ASSERT_TRUE(Load(R"(name: t
triggers:
  - {type: file_write, pattern: /workspace/inbox/*}
  - {type: schedule, cron: "0 * * * *"}
conditions: {max_size: 2}
actions:
  - {type: move, destination: /zone/local/done/}
  - {type: tag, tags: seen}
)")
                  .ok());
  host_.files["/zone/local/inbox/demo.txt"] = {"hello", {}};
  auto r = engine_->Test(kAliceAsker, "t", "/workspace/inbox/demo.txt");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->path, "/zone/local/inbox/demo.txt");
  ASSERT_EQ(r->triggers.size(), 2u);
  EXPECT_TRUE(r->triggers[0].ok);
  EXPECT_FALSE(r->triggers[1].ok);
  ASSERT_EQ(r->conditions.size(), 1u);
  EXPECT_FALSE(r->conditions[0].ok);
  EXPECT_FALSE(r->would_run);
  ASSERT_EQ(r->actions.size(), 2u);
  EXPECT_EQ(r->actions[0].detail, "move /zone/local/inbox/demo.txt to /zone/local/done/demo.txt");
  EXPECT_EQ(r->actions[1].detail, "add tags seen to user.tags of /zone/local/done/demo.txt");
  EXPECT_TRUE(host_.files["/zone/local/inbox/demo.txt"].xattrs.empty()) << "a dry run changes nothing";
  EXPECT_TRUE(runner_.requests.empty());
}

TEST_F(EngineTest, SchedulesFireAtTheirMinute) {
  ASSERT_TRUE(Load(R"(name: tick
triggers: [{type: schedule, cron: "*/10 * * * *"}]
actions: [{type: run, command: date}]
)")
                  .ok());
  engine_->TEST_Tick(1'800'000'000 - 1'800'000'000 % 600);  // a multiple of ten minutes
  engine_->TEST_Tick(1'800'000'000 - 1'800'000'000 % 600 + 60);
  engine_->TEST_WaitIdle();
  auto runs = Runs("tick");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].trigger, "schedule */10 * * * *");
  EXPECT_EQ(runner_.requests.at(0).path, "");
}

}  // namespace
}  // namespace nexus::workflows
