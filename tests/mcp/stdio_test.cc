// The stdio transport on pipes, against the daemon double: one message a
// line, garbage and oversize lines answered with errors and skipped, the
// calls in flight at end of input still answered.
#include "mcp/stdio.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "tests/mcp/fake_daemon.h"

namespace nexus::mcp {
namespace {

// Runs ServeStdio over pipes with `input` (closed after it) and returns the
// output lines, parsed.
std::vector<Json> Serve(const std::string& input, size_t max_line = 1 << 20, fake::World* world = nullptr) {
  auto io = std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo());
  fake::World local;
  if (!world) world = &local;
  int in[2], out[2];
  EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  // The input fits the pipe's buffer: write it all, then end it.
  EXPECT_EQ(write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  close(in[1]);
  StdioOptions options;
  options.in_fd = in[0];
  options.out_fd = out[1];
  options.max_line_bytes = max_line;
  rpc::Session::Client daemon = kj::heap<fake::FakeSession>(*world, "client");
  ServeStdio(*io, options, Caller{daemon, "user:test"}).wait(io->waitScope);
  close(out[1]);
  close(in[0]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  std::vector<Json> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    Json j = Json::parse(text.substr(start, nl - start), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << text.substr(start, nl - start);
    lines.push_back(j);
  }
  EXPECT_EQ(start, text.size()) << "output ends without a newline";
  return lines;
}

const Json* ById(const std::vector<Json>& lines, const Json& id) {
  for (const Json& l : lines)
    if (l.contains("id") && l["id"] == id) return &l;
  return nullptr;
}

const char* kInit =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})"
    "\n";

TEST(Stdio, AnswersEachRequestOnItsOwnLine) {
  fake::World world;
  world.files["/a.txt"] = "hi\n";
  for (const ToolDef& t : ToolTable()) world.visible_tools.push_back(t.name);
  auto lines = Serve(
      std::string(kInit) +
          R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
          "\r\n" +
          "\n   \n" +
          R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nexus_read_file","arguments":{"path":"/a.txt"}}})",
      1 << 20, &world);  // the last line has no newline: end of input ends it
  ASSERT_EQ(lines.size(), 2u);
  ASSERT_NE(ById(lines, 0), nullptr);
  ASSERT_NE(ById(lines, 1), nullptr);
  EXPECT_EQ((*ById(lines, 1))["result"]["structuredContent"]["content"], "hi\n");
}

TEST(Stdio, GarbageAndOversizeLinesGetErrors) {
  const std::string big =
      R"({"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":")" + std::string(5000, 'x') + "\"}}\n";
  auto lines = Serve(std::string(kInit) + "not json\n" + big +
                         R"({"jsonrpc":"2.0","id":6,"method":"ping"})"
                         "\n",
                     1024);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(ById(lines, 5), nullptr);  // skipped, never parsed
  ASSERT_NE(ById(lines, 6), nullptr);
  std::vector<int> codes;
  for (const Json& l : lines)
    if (l["id"].is_null()) codes.push_back(l["error"]["code"]);
  std::sort(codes.begin(), codes.end());
  EXPECT_EQ(codes, (std::vector<int>{kParseError, kInvalidRequest}));
}

TEST(Stdio, CallsInFlightAtEndOfInputAreAnswered) {
  fake::World world;
  world.files["/a.txt"] = "late\n";
  world.tools_available = false;
  world.hang_reads = true;
  auto io = std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo());
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const std::string input =
      std::string(kInit) +
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nexus_read_file","arguments":{"path":"/a.txt"}}})"
      "\n";
  ASSERT_EQ(write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  close(in[1]);
  StdioOptions options;
  options.in_fd = in[0];
  options.out_fd = out[1];
  rpc::Session::Client daemon = kj::heap<fake::FakeSession>(world, "client");
  auto done = ServeStdio(*io, options, Caller{daemon, "user:test"}).fork();
  auto finished = done.addBranch();
  // The read hangs after end of input: serving goes on until it answers.
  for (int i = 0; i < 20 && world.hung.empty(); ++i) kj::evalLater([] {}).wait(io->waitScope);
  ASSERT_EQ(world.hung.size(), 1u);
  EXPECT_FALSE(finished.poll(io->waitScope));
  world.hung[0]->fulfill();
  finished.wait(io->waitScope);
  close(out[1]);
  close(in[0]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  EXPECT_NE(text.find(R"("content":"late\n")"), std::string::npos) << text;
}

}  // namespace
}  // namespace nexus::mcp
