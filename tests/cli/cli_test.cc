// The CLI's one mapping from a failure to what it prints and its exit
// status: 64 usage, 69 unavailable (EX_UNAVAILABLE), 1 anything else.
#include "cli/cli.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace nexus::cli {
namespace {

struct Outcome {
  int rc;
  std::string err, out;
};

Outcome FailWith(const Status& st, bool json, bool usage = false) {
  Cli cli;
  cli.json = json;
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  int rc = usage ? cli.Usage(st.message()) : cli.Fail(st);
  Outcome o;
  o.out = ::testing::internal::GetCapturedStdout();
  o.err = ::testing::internal::GetCapturedStderr();
  o.rc = rc;
  return o;
}

TEST(CliExitTest, UnavailableFeatureExits69AndSaysSo) {
  auto o = FailWith(Unavailable("search", "search is not enabled in this daemon"), false);
  EXPECT_EQ(o.rc, kExitUnavailable);
  EXPECT_EQ(o.rc, 69);
  EXPECT_EQ(o.err, "nexus: unavailable: search — search is not enabled in this daemon\n");
  EXPECT_EQ(o.out, "");
}

TEST(CliExitTest, UnavailableInJsonHasTheCode) {
  auto o = FailWith(Unavailable("versions", "versioning is off"), true);
  EXPECT_EQ(o.rc, 69);
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["error"]["code"], "unavailable");
  EXPECT_EQ(j["error"]["message"], "versions — versioning is off");
}

TEST(CliExitTest, UnreachableDaemonIsUnavailableToo) {
  // What NexusClient::Connect returns when nothing listens (rpc/client.cc).
  EXPECT_EQ(ExitCodeFor(Status::Error(EAGAIN, "cannot reach nexusd at /x.sock")), 69);
  // Through the client library's own error: "<feature> — <why>".
  ConnectOptions options;
  options.socket_path = "/nonexistent/nexusd.sock";
  auto st = NexusClient::Connect(options);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ExitCodeFor(st.status()), 69);
  EXPECT_EQ(ErrorText(st.status())
                .rfind("unavailable: nexusd — cannot reach nexusd at /nonexistent/nexusd.sock", 0),
            0u)
      << ErrorText(st.status());
}

TEST(CliExitTest, OtherFailuresExit1AndUsage64) {
  auto denied = FailWith(Status::Error(EACCES, "agent:a may not read /x"), true);
  EXPECT_EQ(denied.rc, 1);
  EXPECT_EQ(denied.err, "nexus: agent:a may not read /x\n");
  EXPECT_EQ(nlohmann::json::parse(denied.out)["error"]["code"], "permissionDenied");
  auto usage = FailWith(Status::Error(EINVAL, "unknown flag --x"), true, /*usage=*/true);
  EXPECT_EQ(usage.rc, 64);
  EXPECT_EQ(nlohmann::json::parse(usage.out)["error"]["code"], "usage");
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ErrorText(Status::Error(ENOENT, "/x: no such file")), "/x: no such file");
}

}  // namespace
}  // namespace nexus::cli
