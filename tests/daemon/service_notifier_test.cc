// ServiceNotifier against a fake service manager: a datagram socket named
// by NOTIFY_SOCKET, as systemd passes to a Type=notify unit.
#include "daemon/service_notifier.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/temp_dir.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;

// Receives what the notifier sends; sets (and clears) the environment
// sd_notify and sd_watchdog_enabled read.
class FakeManager {
 public:
  explicit FakeManager(const std::string& dir, std::chrono::microseconds watchdog = 0us) {
    path_ = dir + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    if (watchdog.count()) {
      ::setenv("WATCHDOG_USEC", std::to_string(watchdog.count()).c_str(), 1);
      ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    }
  }
  ~FakeManager() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    ::close(fd_);
  }
  // The next message, or "" after `timeout`.
  std::string Next(std::chrono::milliseconds timeout = 2000ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(ServiceNotifierTest, NothingWithoutAServiceManager) {
  ::unsetenv("NOTIFY_SOCKET");
  bool probed = false;
  auto n = ServiceNotifier::Start({[&] { return probed = true; }, [] { return true; }, "x"});
  EXPECT_EQ(n, nullptr);
  EXPECT_FALSE(probed);
}

TEST(ServiceNotifierTest, ReadyOnlyOnceTheProbePasses) {
  testing::TempDir dir;
  FakeManager manager(dir.path());
  std::atomic<bool> serving{false};
  auto n = ServiceNotifier::Start({[&] { return serving.load(); }, [] { return true; }, "serving /d at /m"});
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(manager.Next(200ms), "") << "READY=1 before the mount and socket serve";
  serving = true;
  EXPECT_EQ(manager.Next(), "READY=1\nSTATUS=serving /d at /m");
  n->Stop();
  EXPECT_EQ(manager.Next(), "STOPPING=1\nSTATUS=stopping");
  n->Stop();  // once
  EXPECT_EQ(manager.Next(100ms), "");
}

TEST(ServiceNotifierTest, StopBeforeReadyNeverSaysReady) {
  testing::TempDir dir;
  FakeManager manager(dir.path());
  auto n = ServiceNotifier::Start({[] { return false; }, [] { return true; }, ""});
  ASSERT_NE(n, nullptr);
  n->Stop();
  EXPECT_EQ(manager.Next(), "STOPPING=1\nSTATUS=stopping");
}

TEST(ServiceNotifierTest, WatchdogIsFedOnlyWhileAlive) {
  testing::TempDir dir;
  FakeManager manager(dir.path(), 100ms);
  std::atomic<bool> alive{true};
  auto n = ServiceNotifier::Start({[] { return true; }, [&] { return alive.load(); }, "up"});
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(manager.Next(), "READY=1\nSTATUS=up");
  EXPECT_EQ(manager.Next(), "WATCHDOG=1");  // every 50 ms
  EXPECT_EQ(manager.Next(), "WATCHDOG=1");
  alive = false;
  manager.Next(100ms);  // one may have been on its way
  EXPECT_EQ(manager.Next(300ms), "") << "fed the watchdog while the probe failed";
  alive = true;
  EXPECT_EQ(manager.Next(), "WATCHDOG=1");
}

TEST(ServiceNotifierTest, ProbesOfARunningDaemon) {
  testing::TempDir dir;
  EXPECT_FALSE(FuseMountLive(dir.path())) << "a plain directory is no FUSE mount";
  EXPECT_FALSE(UnixSocketAccepts(dir.path() + "/none.sock"));
  std::string path = dir.path() + "/s.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_FALSE(UnixSocketAccepts(path)) << "bound but not listening";
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_TRUE(UnixSocketAccepts(path));
  ::close(fd);
}

}  // namespace
}  // namespace nexus
