#include "sandbox/sandbox_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <set>
#include <thread>

#include "sandbox/bwrap_provider.h"
#include "tests/temp_dir.h"

namespace nexus::sandbox {
namespace {

// Records mounts; refuses roots under /hidden as the per-subject mounts
// would for a subject that cannot see them.
class FakeMounts final : public WorkspaceMounts {
 public:
  Status Mount(const std::string& mountpoint, const std::string& subject, const std::string& root) override {
    if (root.starts_with("/hidden")) return Status::Error(EACCES, subject + " cannot see " + root);
    mounted.insert(mountpoint);
    return Status::Ok();
  }
  Status Unmount(const std::string& mountpoint) override {
    return mounted.erase(mountpoint) ? Status::Ok() : Status::Error(ENOENT, "not mounted");
  }
  std::set<std::string> mounted;
};

// Its liveness outlives it (the table destroys an instance it stopped).
class FakeInstance final : public Instance {
 public:
  explicit FakeInstance(std::shared_ptr<std::atomic<bool>> a) : alive_(std::move(a)) {}
  Result<mesh::RunOutput> Run(const mesh::SessionRun& run, const mesh::OutputFn& on_output) override {
    if (!*alive_) return Status::Error(ESRCH, "stopped");
    if (on_output) on_output(mesh::OutputStream::kStdout, run.command);
    mesh::RunOutput out;
    out.exit_code = 0;
    out.stdout_data = run.command;
    return out;
  }
  void Stop() override { *alive_ = false; }
  bool Alive() override { return *alive_; }

 private:
  std::shared_ptr<std::atomic<bool>> alive_;
};

class FakeProvider final : public Provider {
 public:
  std::string name() const override { return "fake"; }
  Status Available() override { return available; }
  Status LimitsAvailable() override { return limits; }
  Result<std::unique_ptr<Instance>> Start(const InstanceSpec& spec) override {
    last_spec = spec;
    started.push_back(std::make_shared<std::atomic<bool>>(true));
    return std::unique_ptr<Instance>(std::make_unique<FakeInstance>(started.back()));
  }
  Status available = Status::Ok();
  Status limits = Status::Error(ENOSYS, "sandbox resource limits — no cgroup v2 here");
  InstanceSpec last_spec;
  std::vector<std::shared_ptr<std::atomic<bool>>> started;  // each instance's liveness
};

class SandboxTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = std::make_unique<FakeProvider>();
    provider_ = p.get();
    std::vector<std::unique_ptr<Provider>> providers;
    providers.push_back(std::move(p));
    SandboxTable::Options o;
    o.dir = dir_.path() + "/sandboxes";
    o.keep_ended = 2;
    table_ = std::make_unique<SandboxTable>(o, &mounts_, std::move(providers), &clock_);
  }
  CreateRequest Req(const std::string& name) {
    CreateRequest r;
    r.name = name;
    r.subject = "agent:bot";
    return r;
  }
  testing::TempDir dir_;
  FakeMounts mounts_;
  ManualClock clock_;
  FakeProvider* provider_ = nullptr;
  std::unique_ptr<SandboxTable> table_;
};

TEST_F(SandboxTableTest, CreateRunStop) {
  auto s = table_->Create(Req("work"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, "running");
  EXPECT_EQ(s->root, "/zone/local");
  EXPECT_EQ(s->uid, 65534u);
  EXPECT_EQ(mounts_.mounted.size(), 1u);
  const auto& env = provider_->last_spec.env;
  EXPECT_NE(std::find(env.begin(), env.end(), "NEXUS_AGENT_ID=bot"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "NEXUS_TASK_ID=sandbox:" + s->id), env.end());

  std::string streamed;
  auto r = table_->Run("work", {"echo hi", {}, {}},
                       [&](mesh::OutputStream, std::string_view d) { streamed.append(d); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_data, "echo hi");
  EXPECT_EQ(streamed, "echo hi");

  auto stopped = table_->Stop(s->id);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_FALSE(*provider_->started[0]);
  EXPECT_TRUE(mounts_.mounted.empty());
  EXPECT_EQ(table_->Run(s->id, {"true", {}, {}}, nullptr).code(), ESRCH);
  // A stopped sandbox is listed and its name is free again.
  EXPECT_EQ(table_->List().size(), 1u);
  EXPECT_TRUE(table_->Create(Req("work")).ok());
}

TEST_F(SandboxTableTest, RunDetachedAnswersOnItsOwnThread) {
  auto s = table_->Create(Req("work"));
  ASSERT_TRUE(s.ok());
  std::promise<std::pair<std::thread::id, std::string>> got;
  table_->RunDetached(s->id, {"echo x", {}, {}}, nullptr, [&](Result<mesh::RunOutput> r) {
    got.set_value({std::this_thread::get_id(), r.ok() ? r->stdout_data : r.status().message()});
  });
  auto [thread, out] = got.get_future().get();
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_EQ(out, "echo x");
  std::promise<int> missing;
  table_->RunDetached("sb-none", {"true", {}, {}}, nullptr,
                      [&](Result<mesh::RunOutput> r) { missing.set_value(r.code()); });
  EXPECT_EQ(missing.get_future().get(), ENOENT);
}

TEST_F(SandboxTableTest, BadInputIsRefused) {
  EXPECT_EQ(table_->Create(Req("")).code(), EINVAL);
  EXPECT_EQ(table_->Create(Req("a/b")).code(), EINVAL);
  EXPECT_EQ(table_->Create(Req("..")).code(), EINVAL);
  EXPECT_EQ(table_->Create(Req(std::string(65, 'a'))).code(), EINVAL);
  auto ttl = Req("t");
  ttl.ttl_s = -1;
  EXPECT_EQ(table_->Create(ttl).code(), EINVAL);
  auto provider = Req("p");
  provider.provider = "docker";
  EXPECT_EQ(table_->Create(provider).code(), ENOENT);
  auto hidden = Req("h");
  hidden.root = "/hidden/x";
  EXPECT_EQ(table_->Create(hidden).code(), EACCES);
  ASSERT_TRUE(table_->Create(Req("dup")).ok());
  EXPECT_EQ(table_->Create(Req("dup")).code(), EEXIST);
  EXPECT_EQ(table_->Info("sb-nothere").code(), ENOENT);
  EXPECT_EQ(table_->Stop("sb-nothere").code(), ENOENT);
  EXPECT_EQ(mounts_.mounted.size(), 1u);  // the failures left no mount behind
}

TEST_F(SandboxTableTest, LimitsAndProvidersThatCannotRunAreUnavailable) {
  auto limited = Req("l");
  limited.limits.memory_bytes = 64 << 20;
  auto r = table_->Create(limited);
  EXPECT_EQ(r.code(), ENOSYS);
  EXPECT_NE(r.status().message().find("resource limits"), std::string::npos);
  provider_->limits = Status::Ok();
  EXPECT_TRUE(table_->Create(limited).ok());
  EXPECT_EQ(provider_->last_spec.limits.memory_bytes, 64u << 20);

  provider_->available = Status::Error(ENOSYS, "the fake sandbox provider — off");
  EXPECT_EQ(table_->Create(Req("x")).code(), ENOSYS);
  EXPECT_FALSE(table_->Providers()[0].status.ok());
}

TEST_F(SandboxTableTest, TtlExpiresAndDeadSandboxesStop) {
  auto ttl = Req("brief");
  ttl.ttl_s = 5;
  auto s = table_->Create(ttl);
  ASSERT_TRUE(s.ok());
  auto other = table_->Create(Req("other"));
  ASSERT_TRUE(other.ok());
  clock_.Advance(std::chrono::seconds(6));
  for (int i = 0; i < 100 && table_->Info(s->id)->state == "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(table_->Info(s->id)->state, "expired");
  EXPECT_FALSE(*provider_->started[0]);

  *provider_->started[1] = false;  // its processes died on their own
  for (int i = 0; i < 100 && table_->Info(other->id)->state == "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(table_->Info(other->id)->state, "stopped");
  EXPECT_TRUE(mounts_.mounted.empty());
}

TEST_F(SandboxTableTest, KeepsTheNewestEnded) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto s = table_->Create(Req("s" + std::to_string(i)));
    ASSERT_TRUE(s.ok());
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(table_->Stop(s->id).ok());
    ids.push_back(s->id);
  }
  auto list = table_->List();
  ASSERT_EQ(list.size(), 2u);  // keep_ended
  EXPECT_EQ(list[0].name, "s3");
  EXPECT_EQ(list[1].name, "s2");
}

// A subject's own fork is its sandboxes' default root; an explicit root
// wins; several forks must be chosen between.
TEST(SandboxTableForks, DefaultRootIsTheSubjectsOwnFork) {
  testing::TempDir dir;
  FakeMounts mounts;
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::make_unique<FakeProvider>());
  SandboxTable::Options o;
  o.dir = dir.path() + "/sandboxes";
  o.own_fork = [](const std::string& subject) -> Result<std::string> {
    if (subject == "agent:bot") return std::string("/forks/bot-try");
    if (subject == "agent:busy") return Status::Error(EINVAL, "agent:busy has several forks");
    return std::string();
  };
  SandboxTable table(o, &mounts, std::move(providers));
  CreateRequest r;
  r.name = "a";
  r.subject = "agent:bot";
  auto a = table.Create(r);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->root, "/forks/bot-try");
  r.name = "b";
  r.root = "/zone/local/proj";
  auto b = table.Create(r);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->root, "/zone/local/proj");
  r.name = "c";
  r.root.clear();
  r.subject = "agent:other";
  auto c = table.Create(r);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->root, "/zone/local");
  r.name = "d";
  r.subject = "agent:busy";
  EXPECT_EQ(table.Create(r).code(), EINVAL);
  EXPECT_EQ(table.List().size(), 3u);  // the refused one left nothing behind
}

TEST(CgroupProbe, SaysWhyNot) {
  auto none = ProbeCgroups("", "");
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.why.find("no cgroup v2"), std::string::npos) << none.why;
  EXPECT_NE(none.why.find("no cgroup v1 hierarchy has the memory controller"), std::string::npos) << none.why;
  testing::TempDir d;
  // A "cgroup2 mount" whose controllers lack memory and pids, and no v1.
  ASSERT_EQ(std::system(("echo cpu io > " + d.path() + "/cgroup.controllers").c_str()), 0);
  auto p = ProbeCgroups("40 25 0:35 / " + d.path() + " rw - cgroup2 cgroup2 rw\n", "0::/\n");
  EXPECT_FALSE(p.ok());
  EXPECT_NE(p.why.find("not memory, cpu and pids"), std::string::npos) << p.why;
}

TEST(CgroupProbe, FindsAV2HierarchyWithTheControllers) {
  testing::TempDir d;
  ASSERT_EQ(std::system(("echo cpuset cpu io memory pids > " + d.path() + "/cgroup.controllers").c_str()), 0);
  auto p = ProbeCgroups("40 25 0:35 / " + d.path() + " rw - cgroup2 cgroup2 rw\n", "0::/\n");
  ASSERT_TRUE(p.ok()) << p.why;
  EXPECT_EQ(p.kind, CgroupProbe::Kind::kV2);
  EXPECT_EQ(p.dir, d.path());
}

// A hybrid host: the controllers on v1 hierarchies (cpu shared with
// cpuacct), an empty unified hierarchy, nexusd in a memory cgroup of its
// own; one hierarchy mounted from a sub-tree (as in a container).
TEST(CgroupProbe, FallsBackToTheDaemonsOwnV1Cgroups) {
  testing::TempDir d;
  const std::string m = d.path() + "/memory", c = d.path() + "/cpu", p = d.path() + "/pids",
                    u = d.path() + "/unified";
  for (const std::string& dir : {m + "/box/nexusd", c, p + "/inner", u})
    ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  ASSERT_EQ(std::system(("touch " + u + "/cgroup.controllers").c_str()), 0);
  const std::string mountinfo = "31 23 0:28 / " + d.path() + " rw - tmpfs tmpfs rw\n" +                  //
                                "32 31 0:29 / " + c + " rw,relatime - cgroup cgroup rw,cpu,cpuacct\n" +  //
                                "35 31 0:32 / " + m + " rw,relatime - cgroup cgroup rw,memory\n" +       //
                                "39 31 0:36 /ctr " + p + " rw,relatime - cgroup cgroup rw,pids\n" +      //
                                "41 31 0:38 / " + u + " rw,relatime - cgroup2 cgroup2 rw\n";
  const std::string self =
      "9:name=systemd:/\n8:pids:/ctr/inner\n4:memory:/box/nexusd\n1:cpu,cpuacct:/\n0::/\n";
  auto probe = ProbeCgroups(mountinfo, self);
  ASSERT_TRUE(probe.ok()) << probe.why;
  EXPECT_EQ(probe.kind, CgroupProbe::Kind::kV1);
  EXPECT_EQ(probe.memory, m + "/box/nexusd");
  EXPECT_EQ(probe.cpu, c);
  EXPECT_EQ(probe.pids, p + "/inner");

  // Without a pids hierarchy there are no limits, and the reason says so.
  const std::string no_pids =
      mountinfo.substr(0, mountinfo.find("39 31")) + mountinfo.substr(mountinfo.find("41 31"));
  auto partial = ProbeCgroups(no_pids, self);
  EXPECT_FALSE(partial.ok());
  EXPECT_NE(partial.why.find("no cgroup v1 hierarchy has the pids controller"), std::string::npos)
      << partial.why;
}

}  // namespace
}  // namespace nexus::sandbox
