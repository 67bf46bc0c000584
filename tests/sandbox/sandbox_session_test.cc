// mesh::SandboxSession, the long-lived runner, with real bwrap (as root).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "mesh/task_runner.h"
#include "tests/temp_dir.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

class SandboxSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "a session gives its processes their own uid: root only";
    ::chmod(dir_.path().c_str(), 0777);  // the sandbox's uid writes there
    SessionSpec spec;
    spec.workspace_dir = dir_.path();
    spec.env = {"NEXUS_SANDBOX_ID=test"};
    auto s = SandboxSession::Start({}, spec);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    session_ = std::move(s).value();
  }
  RunOutput Run(const std::string& cmd, std::chrono::milliseconds timeout = 0ms) {
    auto r = session_->Run({cmd, {}, timeout});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunOutput{};
  }
  testing::TempDir dir_;
  std::unique_ptr<SandboxSession> session_;
};

TEST_F(SandboxSessionTest, RunsAsNobodyInTheWorkspace) {
  auto r = Run("id -u; id -G; pwd; echo made > file; grep -c Cap.*0000000000000000 /proc/self/status");
  EXPECT_EQ(r.stdout_data, "65534\n65534\n/workspace\n5\n");
  std::ifstream f(dir_.path() + "/file");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "made\n");
}

TEST_F(SandboxSessionTest, TmpAndProcessesPersistBetweenRuns) {
  EXPECT_EQ(Run("echo kept > /tmp/x; sleep 600 >/dev/null 2>&1 & echo $! > /tmp/pid").exit_code, 0);
  auto r = Run("cat /tmp/x; kill -0 $(cat /tmp/pid) && echo alive");
  EXPECT_EQ(r.stdout_data, "kept\nalive\n");
  // A host directory of the test is not there.
  EXPECT_EQ(Run("test -e " + dir_.path()).exit_code, 1);
}

TEST_F(SandboxSessionTest, StreamsExitCodesAndTimeouts) {
  std::vector<std::pair<OutputStream, std::string>> chunks;
  auto r = session_->Run({"echo a; echo b >&2; exit 3", {"K=v"}, 0ms},
                         [&](OutputStream s, std::string_view d) { chunks.emplace_back(s, std::string(d)); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stdout_data, "a\n");
  EXPECT_EQ(r->stderr_data, "b\n");
  EXPECT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Run("echo \"[$K]\" $NEXUS_SANDBOX_ID").stdout_data, "[] test\n");  // a run's env is its own
  auto env = session_->Run({"echo $K", {"K=v"}, 0ms});
  EXPECT_EQ(env->stdout_data, "v\n");
  auto start = std::chrono::steady_clock::now();
  auto slow = Run("sleep 30", 300ms);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(SandboxSessionTest, StopKillsEverything) {
  EXPECT_EQ(Run("sleep 600 >/dev/null 2>&1 & echo $!").exit_code, 0);
  pid_t init = session_->init_pid();
  ASSERT_GT(init, 0);
  EXPECT_TRUE(session_->Alive());
  session_->Stop();
  EXPECT_FALSE(session_->Alive());
  EXPECT_EQ(session_->Run({"true", {}, 0ms}).code(), ESRCH);
  // Gone, or a zombie waiting for the host's init to reap it.
  auto dead = [init] {
    std::ifstream stat("/proc/" + std::to_string(init) + "/stat");
    std::string pid, comm, state;
    return !(stat >> pid >> comm >> state) || state == "Z";
  };
  for (int i = 0; i < 100 && !dead(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(dead());
}

TEST(SandboxSessionStart, BadWorkspaceAndBadBwrap) {
  if (::geteuid() != 0) GTEST_SKIP() << "root only";
  SessionSpec spec;
  spec.workspace_dir = "/nonexistent/dir";
  EXPECT_EQ(SandboxSession::Start({}, spec).code(), EINVAL);
  testing::TempDir d;
  spec.workspace_dir = d.path();
  SandboxSession::Options o;
  o.bwrap = "/nonexistent/bwrap";
  EXPECT_EQ(SandboxSession::Start(o, spec).code(), EAGAIN);
}

}  // namespace
}  // namespace nexus::mesh
