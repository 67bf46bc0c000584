// The HTTP endpoints served by a real SocketServer, fetched with curl.
#include "daemon/http_status.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "tests/fs/test_util.h"
#include "rpc/server/socket_server.h"

namespace nexus {
namespace {

// "CODE BODY" of a GET, via the curl binary.
std::string Get(const std::string& url) {
  std::string cmd = "curl -s -w ' %{http_code}' '" + url + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(HttpStatusTest, ReadyFollowsTheMountAndMetricsRender) {
  testing::TempDir dir;
  DaemonInfo info;
  info.version = "9.9.9";
  info.profile = "lite";
  OpMetrics fuse_metrics("nexus_fuse", "op", FuseOpNames());
  FuseContext fuse;
  fuse.metrics = &fuse_metrics;
  fuse_metrics.Find("lookup")->Record(1500, false);
  fuse.bytes_written = 4096;
  ServiceContext ctx;
  ctx.info = &info;
  StatusSources sources;
  sources.info = &info;
  sources.fuse = &fuse;
  SocketServer::Options o;
  o.unix_path = dir.path() + "/s.sock";
  o.http = "127.0.0.1:0";
  auto server = SocketServer::Start(
      &ctx, o, [sources](kj::HttpHeaderTable& t) { return MakeHttpStatusService(t, sources); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::string base = "http://" + (*server)->http_address();
  std::string ready = Get(base + "/ready");
  EXPECT_NE(ready.find(" 503"), std::string::npos) << ready;
  EXPECT_NE(Get(base + "/health").find("\"status\":\"starting\""), std::string::npos);
  info.mounted = true;
  EXPECT_NE(Get(base + "/ready").find(" 200"), std::string::npos);
  std::string health = Get(base + "/health");
  EXPECT_NE(health.find("\"version\":\"9.9.9\""), std::string::npos) << health;
  EXPECT_NE(health.find("\"profile\":\"lite\""), std::string::npos);
  std::string metrics = Get(base + "/metrics");
  EXPECT_NE(metrics.find("nexus_fuse_requests_total{op=\"lookup\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("nexus_fuse_written_bytes_total 4096\n"), std::string::npos);
  EXPECT_NE(metrics.find("nexus_mounted 1\n"), std::string::npos);
  EXPECT_NE(Get(base + "/other").find(" 404"), std::string::npos);
}

TEST(HttpStatusTest, HealthShowsTheSearchIndexState) {
  testing::TempDir dir;
  DaemonInfo info;
  info.version = "9.9.9";
  FuseContext fuse;
  ServiceContext ctx;
  ctx.info = &info;
  StatusSources off;
  off.info = &info;
  off.fuse = &fuse;
  auto state = std::make_shared<std::string>("indexing");
  StatusSources on = off;
  on.search_state = [state]() { return *state; };
  SocketServer::Options o;
  o.unix_path = dir.path() + "/s.sock";
  o.http = "127.0.0.1:0";
  auto server =
      SocketServer::Start(&ctx, o, [on](kj::HttpHeaderTable& t) { return MakeHttpStatusService(t, on); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::string base = "http://" + (*server)->http_address();
  std::string health = Get(base + "/health");
  EXPECT_NE(health.find("\"search\":{\"index\":\"indexing\"}"), std::string::npos) << health;
  *state = "ready";
  health = Get(base + "/health");
  EXPECT_NE(health.find("\"search\":{\"index\":\"ready\"}"), std::string::npos) << health;

  o.unix_path = dir.path() + "/t.sock";
  auto plain =
      SocketServer::Start(&ctx, o, [off](kj::HttpHeaderTable& t) { return MakeHttpStatusService(t, off); });
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  health = Get("http://" + (*plain)->http_address() + "/health");
  EXPECT_EQ(health.find("\"search\""), std::string::npos) << health;
}

}  // namespace
}  // namespace nexus
