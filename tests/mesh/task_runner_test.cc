#include "mesh/task_runner.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/fs/test_util.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A TCP listener on the host's loopback: reachable from a sandbox that
// shares the host network, not from one with its own network namespace.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class TaskRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Do not fake success where sandboxes cannot exist: say why instead.
    Status probe = TaskRunner::Probe();
    if (!probe.ok())
      GTEST_SKIP() << "bubblewrap cannot create a sandbox in this environment (user/mount "
                      "namespaces unavailable?): "
                   << probe.ToString();
    zone_ = dir_.path() + "/zone";
    std::filesystem::create_directories(zone_);
  }

  RunOutput RunOk(const std::string& command, bool allow_network = false) {
    TaskRunner runner(options_, {command, zone_, allow_network, {}});
    auto r = runner.Run();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunOutput{};
  }

  testing::TempDir dir_;
  std::string zone_;
  TaskRunner::Options options_;
};

TEST_F(TaskRunnerTest, SucceedsAndCapturesOutput) {
  RunOutput r = RunOk("echo hello; echo oops >&2; pwd; echo \"$HOME\"");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "hello\n/zone\n/zone\n");
  EXPECT_EQ(r.stderr_data, "oops\n");
  EXPECT_FALSE(r.cancelled || r.timed_out || r.stdout_truncated);
}

TEST_F(TaskRunnerTest, ReportsTheExitCode) {
  RunOutput r = RunOk("echo failing >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stderr_data, "failing\n");
  EXPECT_EQ(RunOk("kill -9 $$").exit_code, 128 + 9);
}

TEST_F(TaskRunnerTest, NoNetworkUnlessAllowed) {
  LoopbackListener listener;
  const std::string connect =
      "bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(listener.port()) + "' && echo connected";
  RunOutput denied = RunOk(connect);
  EXPECT_NE(denied.exit_code, 0) << denied.stdout_data;
  EXPECT_EQ(denied.stdout_data, "");
  RunOutput allowed = RunOk(connect, /*allow_network=*/true);
  EXPECT_EQ(allowed.exit_code, 0) << allowed.stderr_data;
  EXPECT_EQ(allowed.stdout_data, "connected\n");
  // Without network the namespace has nothing but loopback.
  RunOutput links = RunOk("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
  EXPECT_EQ(links.stdout_data, "lo\n");
}

TEST_F(TaskRunnerTest, WritesLandInTheZone) {
  std::filesystem::create_directories(zone_ + "/src");
  std::ofstream(zone_ + "/src/in.txt") << "input";
  RunOutput r = RunOk("cat src/in.txt > out.txt && echo more >> /zone/out.txt");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(ReadFile(zone_ + "/out.txt"), "inputmore\n");
}

TEST_F(TaskRunnerTest, CannotWriteOutsideTheZone) {
  const std::string outside = dir_.path() + "/outside.txt";
  std::ofstream(outside) << "host";
  struct Case {
    const char* name;
    std::string command;
  } cases[] = {
      {"system dir", "echo x > /usr/evil"},
      {"etc", "echo x > /etc/evil"},
      {"root", "echo x > /evil"},
      {"host path", "echo x > " + outside},
      {"escape via ..", "echo x > /zone/../evil"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RunOutput r = RunOk(c.command);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_FALSE(r.stderr_data.empty());
  }
  EXPECT_EQ(ReadFile(outside), "host");
  EXPECT_FALSE(std::filesystem::exists("/usr/evil"));
  EXPECT_FALSE(std::filesystem::exists("/etc/evil"));
  // The host's files outside the zone are not even visible.
  EXPECT_NE(RunOk("cat " + outside).exit_code, 0);
}

TEST_F(TaskRunnerTest, TmpIsPrivate) {
  const std::string name = "nexus-mesh-private-" + std::to_string(::getpid());
  RunOutput r = RunOk("echo x > /tmp/" + name + " && ls /tmp");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data, name + "\n") << "the sandbox sees an empty /tmp of its own";
  EXPECT_FALSE(std::filesystem::exists("/tmp/" + name));
}

TEST_F(TaskRunnerTest, CancelKillsTheWholeTask) {
  TaskRunner runner(options_, {"sleep 30 & sleep 30; echo never", zone_, false, {}});
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    runner.Cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = runner.Run();
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->stdout_data, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(TaskRunnerTest, TimeoutKills) {
  TaskRunner runner(options_, {"sleep 30", zone_, false, 200ms});
  auto r = runner.Run();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_NE(r->exit_code, 0);
}

TEST_F(TaskRunnerTest, CallsBackWhileRunning) {
  options_.interval = 50ms;
  TaskRunner runner(options_, {"sleep 0.4", zone_, false, {}});
  int calls = 0;
  auto start = std::chrono::steady_clock::now();
  auto r = runner.Run([&] { ++calls; });
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_GE(calls, 3);
  EXPECT_LE(calls, elapsed / 50ms) << "one call per interval, not more";
}

TEST_F(TaskRunnerTest, OutputIsBounded) {
  options_.max_output_bytes = 1000;
  RunOutput r = RunOk("head -c 100000 /dev/zero; echo done >&2");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stderr_data, "done\n");
  EXPECT_FALSE(r.stderr_truncated);
}

TEST_F(TaskRunnerTest, SetupErrorsAreReported) {
  TaskRunner missing_zone(options_, {"true", dir_.path() + "/nope", false, {}});
  EXPECT_EQ(missing_zone.Run().code(), EINVAL);
  options_.bwrap = dir_.path() + "/no-bwrap";
  TaskRunner no_bwrap(options_, {"true", zone_, false, {}});
  EXPECT_EQ(no_bwrap.Run().code(), EAGAIN);
  EXPECT_EQ(TaskRunner::Probe(options_.bwrap).code(), EAGAIN);
}

TEST(TaskRunnerArgvTest, SandboxShape) {
  TaskRunner runner({}, {"make", "/srv/zone", false, {}});
  std::vector<std::string> a = runner.Argv();
  auto has = [&](std::vector<std::string> seq) {
    return std::search(a.begin(), a.end(), seq.begin(), seq.end()) != a.end();
  };
  EXPECT_TRUE(has({"--unshare-all"}));
  EXPECT_FALSE(has({"--share-net"}));
  EXPECT_TRUE(has({"--tmpfs", "/tmp"}));
  EXPECT_TRUE(has({"--ro-bind", "/usr", "/usr"}));
  EXPECT_TRUE(has({"--bind", "/srv/zone", "/zone"}));
  EXPECT_TRUE(has({"--chdir", "/zone"}));
  EXPECT_TRUE(has({"--", "/bin/sh", "-c", "make"}));
  TaskRunner net({}, {"make", "/srv/zone", true, {}});
  a = net.Argv();
  EXPECT_TRUE(has({"--share-net"}));
}

// Declared outputs are read below the zone without following a link a
// task planted, bounded per file and in all.
TEST(CollectOutputsTest, ReadsRegularFilesBelowTheZoneOnly) {
  testing::TempDir dir;
  const std::string zone = dir.path() + "/zone";
  std::filesystem::create_directories(zone + "/a/deep");
  std::filesystem::create_directories(dir.path() + "/elsewhere");
  std::ofstream(zone + "/b.txt") << "flat";
  std::ofstream(zone + "/a/b.txt") << "nested";
  std::ofstream(zone + "/a/deep/c") << "deeper";
  std::ofstream(zone + "/big") << std::string(100, 'x');
  std::ofstream(dir.path() + "/secret") << "host secret";
  std::ofstream(dir.path() + "/elsewhere/s") << "host secret";
  std::filesystem::create_symlink(dir.path() + "/secret", zone + "/link");
  std::filesystem::create_symlink(dir.path() + "/elsewhere", zone + "/linkdir");
  ASSERT_EQ(::mkfifo((zone + "/fifo").c_str(), 0600), 0);

  CollectedOutputs out = CollectOutputs(
      zone, {"b.txt", "a/b.txt", "a/deep/c", "gone", "link", "linkdir/s", "a", "fifo", "big", "b.txt/x"}, 64,
      1024);
  std::map<std::string, std::string> files(out.files.begin(), out.files.end());
  EXPECT_EQ(files, (std::map<std::string, std::string>{
                       {"b.txt", "flat"}, {"a/b.txt", "nested"}, {"a/deep/c", "deeper"}}));
  std::map<std::string, std::string> missing(out.missing.begin(), out.missing.end());
  EXPECT_EQ(missing.size(), 7u);
  EXPECT_EQ(missing["gone"], "no such file");
  EXPECT_EQ(missing["link"], "a symbolic link (not followed)");
  EXPECT_EQ(missing["linkdir/s"], "a symbolic link (not followed)");
  EXPECT_EQ(missing["a"], "not a regular file");
  EXPECT_EQ(missing["fifo"], "not a regular file") << "and the read did not block";
  EXPECT_EQ(missing["big"], "larger than 64 bytes");
  EXPECT_EQ(missing["b.txt/x"], "a component on the way is not a directory");
  for (const auto& [path, content] : out.files) EXPECT_EQ(content.find("secret"), std::string::npos);
}

TEST(CollectOutputsTest, TheTotalIsBounded) {
  testing::TempDir dir;
  for (const char* f : {"one", "two", "three"}) std::ofstream(dir.path() + "/" + f) << std::string(40, 'x');
  CollectedOutputs out = CollectOutputs(dir.path(), {"one", "two", "three"}, 64, 100);
  ASSERT_EQ(out.files.size(), 2u);
  ASSERT_EQ(out.missing.size(), 1u);
  EXPECT_EQ(out.missing[0].first, "three");
  EXPECT_EQ(out.missing[0].second, "past the 100-byte limit of all outputs");

  CollectedOutputs none = CollectOutputs(dir.path() + "/no-zone", {"one"}, 64, 100);
  ASSERT_EQ(none.missing.size(), 1u);
  EXPECT_EQ(none.missing[0].second, "the zone cannot be opened: no such file");
}

}  // namespace
}  // namespace nexus::mesh
