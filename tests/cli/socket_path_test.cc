// Where the CLI looks for the daemon (Cli::SocketPath): the flag, the
// environment, `nexus up`'s record, the current folder's daemon, and last
// the system service's socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/cli.h"
#include "tests/temp_dir.h"

namespace nexus::cli {
namespace {

// Cli::SocketPath from a fresh working directory, with none of the
// variables that name a daemon.
class SocketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_.path());
    for (const char* v : {"NEXUS_SOCKET", "NEXUS_DATA_DIR"}) ::unsetenv(v);
    ::setenv("NEXUS_HOME", (dir_.path() + "/home").c_str(), 1);
    cli_.system_socket = dir_.path() + "/run/nexusd.sock";
  }
  void TearDown() override {
    std::filesystem::current_path(old_cwd_);
    ::unsetenv("NEXUS_HOME");
    for (int fd : fds_) ::close(fd);
  }
  void Listen(const std::string& path) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
    ASSERT_EQ(::listen(fd, 1), 0);
    fds_.push_back(fd);
  }
  std::string Path() {
    source_.clear();
    return cli_.SocketPath(&source_);
  }

  nexus::testing::TempDir dir_;
  std::filesystem::path old_cwd_;
  std::vector<int> fds_;
  Cli cli_;
  std::string source_;
};

TEST_F(SocketPathTest, NoDaemonAnywhereNamesTheLocalSocket) {
  EXPECT_EQ(Path(), kLocalSocket);
  EXPECT_EQ(source_, "default");
}

TEST_F(SocketPathTest, TheSystemServiceComesLast) {
  Listen(cli_.system_socket);
  EXPECT_EQ(Path(), cli_.system_socket);
  EXPECT_EQ(source_, "system service");

  Listen(dir_.path() + "/" + kLocalSocket);  // a daemon of this folder
  EXPECT_EQ(Path(), kLocalSocket);

  std::filesystem::create_directories(dir_.path() + "/home");
  std::ofstream(dir_.path() + "/home/up.json") << R"({"socket": "/up/nexusd.sock"})";
  EXPECT_EQ(Path(), "/up/nexusd.sock");
  EXPECT_EQ(source_, "nexus up");

  ::setenv("NEXUS_DATA_DIR", "/data", 1);
  EXPECT_EQ(Path(), "/data/nexusd.sock");
  ::setenv("NEXUS_SOCKET", "/env.sock", 1);
  EXPECT_EQ(Path(), "/env.sock");
  cli_.socket = "/flag.sock";
  EXPECT_EQ(Path(), "/flag.sock");
  ::unsetenv("NEXUS_SOCKET");
  ::unsetenv("NEXUS_DATA_DIR");
}

TEST_F(SocketPathTest, ARegularFileIsNoSocket) {
  std::filesystem::create_directories(dir_.path() + "/run");
  std::ofstream(cli_.system_socket) << "not a socket";
  EXPECT_EQ(Path(), kLocalSocket);
}

}  // namespace
}  // namespace nexus::cli
