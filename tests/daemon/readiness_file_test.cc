#include "daemon/readiness_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

TEST(ReadinessFileTest, WrittenWithTheEndpointsAndRemoved) {
  testing::TempDir dir;
  DaemonInfo info;
  info.version = "1.2.3";
  info.pid = 4242;
  info.data_dir = dir.path();
  info.mountpoint = "/mnt/x";
  info.socket_path = dir.path() + "/nexusd.sock";
  info.http = "127.0.0.1:2026";
  info.profile = "sandbox";
  ASSERT_TRUE(WriteReadinessFile(info).ok());
  const std::string path = ReadinessFilePath(dir.path());
  EXPECT_EQ(path, dir.path() + "/nexusd.ready");
  auto text = ReadTextFile(path, "readiness file");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["profile"], "sandbox");
  EXPECT_EQ(j["socket"], info.socket_path);
  EXPECT_EQ(j["mount"], "/mnt/x");
  EXPECT_EQ(j["http"], "127.0.0.1:2026");
  EXPECT_EQ(j["listen"], "");
  EXPECT_EQ(j["version"], "1.2.3");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  RemoveReadinessFile(dir.path());
  EXPECT_NE(::stat(path.c_str(), &st), 0);
  RemoveReadinessFile(dir.path());  // already gone: fine
}

}  // namespace
}  // namespace nexus
