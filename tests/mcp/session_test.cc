// The MCP session against an in-process double of the daemon (a small
// capnp server of the Session, Files and Tools interfaces): lifecycle and
// JSON-RPC errors, tool visibility, tool calls, resources and
// subscriptions, cancellation and the in-flight limit.
#include "mcp/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <capnp/capability.h>
#include <kj/async-io.h>

#include "mcp/tools.h"
#include "rpc/errors.h"
#include "tests/mcp/fake_daemon.h"

namespace nexus::mcp {
namespace {

using fake::FakeSession;
using fake::World;

class McpSession : public ::testing::Test {
 protected:
  McpSession()
      : io_(std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo())),
        daemon_(kj::heap<FakeSession>(world_, "client")),
        session_(Options(), io_->provider->getTimer(), [this](Json m) { notes_.push_back(std::move(m)); }) {
    world_.files["/a.txt"] = "hello\nworld\n";
    world_.files["/secret.txt"] = "nope\n";
    world_.hidden.insert("/secret.txt");
    for (const ToolDef& t : ToolTable()) world_.visible_tools.push_back(t.name);
  }

  ~McpSession() noexcept override {}

  static SessionOptions Options() {
    SessionOptions o;
    o.server_version = "9.9";
    o.max_in_flight = 4;
    return o;
  }

  Json Send(Json message) {
    return session_.Handle(std::move(message), Caller{daemon_, "agent:bot"}).wait(io_->waitScope);
  }

  Json Request(const std::string& method, Json params = Json::object()) {
    return Send({{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", method}, {"params", params}});
  }

  void Initialize(const std::string& version = "2025-06-18") {
    Json r = Request("initialize", {{"protocolVersion", version},
                                    {"capabilities", Json::object()},
                                    {"clientInfo", {{"name", "test"}, {"version", "1"}}}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
    Send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }

  Json Call(const std::string& tool, Json args) {
    return Request("tools/call", {{"name", tool}, {"arguments", args}});
  }

  static int Code(const Json& r) { return r.contains("error") ? r["error"]["code"].get<int>() : 0; }

  World world_;
  std::unique_ptr<kj::AsyncIoContext> io_;
  rpc::Session::Client daemon_;
  std::vector<Json> notes_;
  Session session_;
  int id_ = 0;
};

TEST_F(McpSession, InitializeNegotiatesTheRevision) {
  Json r = Request("initialize", {{"protocolVersion", "2025-06-18"}, {"capabilities", Json::object()}});
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["serverInfo"]["version"], "9.9");
  EXPECT_EQ(r["result"]["capabilities"]["resources"]["subscribe"], true);
  EXPECT_EQ(r["result"]["capabilities"]["tools"]["listChanged"], false);
  EXPECT_FALSE(r["result"]["instructions"].get<std::string>().empty());
  EXPECT_TRUE(session_.initialized());
  EXPECT_EQ(session_.protocol_version(), "2025-06-18");
  EXPECT_EQ(Code(Request("initialize", {{"protocolVersion", "2025-06-18"}})), kInvalidRequest);
}

TEST_F(McpSession, UnknownRevisionGetsTheNewest) {
  Json r = Request("initialize", {{"protocolVersion", "2024-01-01"}});
  EXPECT_EQ(r["result"]["protocolVersion"], std::string(kProtocolVersions[0]));
}

TEST_F(McpSession, InitializeNeedsAVersion) {
  EXPECT_EQ(Code(Request("initialize", Json::object())), kInvalidParams);
}

TEST_F(McpSession, OnlyPingBeforeInitialize) {
  EXPECT_EQ(Request("ping")["result"], Json::object());
  EXPECT_EQ(Code(Request("tools/list")), kInvalidRequest);
  EXPECT_EQ(Code(Call("nexus_read_file", {{"path", "/a.txt"}})), kInvalidRequest);
}

TEST_F(McpSession, MalformedMessagesGetErrors) {
  Initialize();
  Json batch = Send(Json::array({{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}}));
  EXPECT_EQ(Code(batch), kInvalidRequest);
  EXPECT_TRUE(batch["id"].is_null());
  EXPECT_EQ(Code(Send(42)), kInvalidRequest);
  Json wrong = Send({{"jsonrpc", "1.0"}, {"id", 7}, {"method", "ping"}});
  EXPECT_EQ(Code(wrong), kInvalidRequest);
  EXPECT_EQ(wrong["id"], 7);
  EXPECT_EQ(Code(Send({{"jsonrpc", "2.0"}, {"id", 8}})), kInvalidRequest);
  EXPECT_EQ(Code(Send({{"jsonrpc", "2.0"}, {"id", 9}, {"method", 5}})), kInvalidRequest);
  EXPECT_EQ(Code(Send({{"jsonrpc", "2.0"}, {"id", nullptr}, {"method", "ping"}})), kInvalidRequest);
  EXPECT_EQ(Code(Send({{"jsonrpc", "2.0"}, {"id", 1.5}, {"method", "ping"}})), kInvalidRequest);
  EXPECT_EQ(Code(Send({{"jsonrpc", "2.0"}, {"id", 10}, {"method", "ping"}, {"params", Json::array()}})),
            kInvalidParams);
  EXPECT_EQ(Code(Request("no/such/method")), kMethodNotFound);
  // Notifications and responses are never answered.
  EXPECT_TRUE(Send({{"jsonrpc", "2.0"}, {"method", "no/such/notification"}}).is_null());
  EXPECT_TRUE(Send({{"jsonrpc", "2.0"}, {"id", 3}, {"result", Json::object()}}).is_null());
  Json parse = Session::ParseErrorResponse("bad");
  EXPECT_EQ(Code(parse), kParseError);
  EXPECT_TRUE(parse["id"].is_null());
  // Still serving.
  EXPECT_EQ(Request("ping")["result"], Json::object());
}

TEST_F(McpSession, ToolsListShowsOnlyVisibleTools) {
  world_.visible_tools = {"nexus_read_file", "nexus_list_files", "nexus_no_such_tool"};
  Initialize();
  Json r = Request("tools/list");
  std::vector<std::string> names;
  for (auto& t : r["result"]["tools"]) names.push_back(t["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"nexus_read_file", "nexus_list_files"}));
}

TEST_F(McpSession, WithoutToolProfilesEveryToolIsListed) {
  world_.tools_available = false;
  Initialize();
  // Every tool but the execution tools, which need a sandbox provider.
  EXPECT_EQ(Request("tools/list")["result"]["tools"].size(),
            std::count_if(ToolTable().begin(), ToolTable().end(),
                          [](const ToolDef& t) { return !t.needs_sandbox; }));
}

TEST_F(McpSession, HiddenToolAnswersExactlyAsAnUnknownOne) {
  world_.visible_tools = {"nexus_read_file"};
  Initialize();
  id_ = 99;
  Json hidden = Call("nexus_write_file", {{"path", "/x"}, {"content", "y"}});
  id_ = 99;
  Json unknown = Call("nexus_wrote_file", {{"path", "/x"}, {"content", "y"}});
  std::string h = hidden.dump(), u = unknown.dump();
  h.replace(h.find("nexus_write_file"), 16, "NAME");
  u.replace(u.find("nexus_wrote_file"), 16, "NAME");
  EXPECT_EQ(h, u);
  EXPECT_EQ(Code(hidden), kInvalidParams);
  EXPECT_EQ(world_.files.count("/x"), 0u);
  // Hidden read-only tool (pipelined with its read): the same.
  world_.visible_tools = {};
  id_ = 50;
  Json hidden_read = Call("nexus_read_file", {{"path", "/a.txt"}});
  EXPECT_EQ(hidden_read.dump(),
            R"({"error":{"code":-32602,"message":"Unknown tool: nexus_read_file"},"id":51,"jsonrpc":"2.0"})");
  // A revoke holds on the next call.
  world_.visible_tools = {"nexus_read_file"};
  EXPECT_EQ(Call("nexus_read_file", {{"path", "/a.txt"}})["result"]["isError"], false);
  world_.visible_tools = {};
  EXPECT_EQ(Code(Call("nexus_read_file", {{"path", "/a.txt"}})), kInvalidParams);
}

TEST_F(McpSession, ReadFileWholeRangeHeadTail) {
  Initialize();
  Json r = Call("nexus_read_file", {{"path", "/a.txt"}});
  EXPECT_EQ(r["result"]["structuredContent"]["content"], "hello\nworld\n");
  EXPECT_EQ(r["result"]["content"][0]["text"], "hello\nworld\n");
  EXPECT_EQ(Call("nexus_read_file",
                 {{"path", "a.txt"}, {"offset", 6}, {"length", 3}})["result"]["structuredContent"]["content"],
            "wor");
  EXPECT_EQ(
      Call("nexus_read_file", {{"path", "/a.txt"}, {"head", 1}})["result"]["structuredContent"]["content"],
      "hello\n");
  EXPECT_EQ(
      Call("nexus_read_file", {{"path", "/a.txt"}, {"tail", 1}})["result"]["structuredContent"]["content"],
      "world\n");
  world_.files["/bin"] = std::string("\xff\x00\x01", 3);
  Json bin = Call("nexus_read_file", {{"path", "/bin"}});
  EXPECT_EQ(bin["result"]["structuredContent"]["encoding"], "base64");
  EXPECT_EQ(bin["result"]["structuredContent"]["content"], "/wAB");
}

TEST_F(McpSession, ReadsLargerThanOneReply) {
  std::string big;
  for (int i = 0; i < 100; ++i) big += "line " + std::to_string(i) + "\n";
  world_.files["/big"] = big;
  world_.max_read = 64;
  Initialize();
  Json whole = Call("nexus_read_file", {{"path", "/big"}});
  EXPECT_EQ(whole["result"]["structuredContent"]["truncated"], true);
  EXPECT_EQ(whole["result"]["structuredContent"]["length"], 64);
  EXPECT_NE(whole["result"]["content"][0]["text"].get<std::string>().find("read more with offset 64"),
            std::string::npos);
  Json tail = Call("nexus_read_file", {{"path", "/big"}, {"tail", 2}});
  EXPECT_EQ(tail["result"]["structuredContent"]["content"], "line 98\nline 99\n");
  EXPECT_EQ(tail["result"]["structuredContent"]["offset"], big.size() - 16);
  Json range = Call("nexus_read_file", {{"path", "/big"}, {"offset", 7}, {"length", 4}});
  EXPECT_EQ(range["result"]["structuredContent"]["content"], "line");
  EXPECT_EQ(range["result"]["structuredContent"]["truncated"], false);
}

TEST_F(McpSession, HiddenFileIsNotFound) {
  Initialize();
  Json r = Call("nexus_read_file", {{"path", "/secret.txt"}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"], "not found: /secret.txt");
  EXPECT_FALSE(r["result"].contains("structuredContent"));
  Json missing = Call("nexus_read_file", {{"path", "/missing.txt"}});
  EXPECT_EQ(missing["result"]["content"][0]["text"], "not found: /missing.txt");
}

TEST_F(McpSession, BadArgumentsAreToolErrors) {
  Initialize();
  Json r = Call("nexus_read_file", {{"path", 5}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"], "invalid argument: path must be a string, not an integer");
  r = Call("nexus_read_file", {{"file_path", "/a.txt"}});
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("path is required"), std::string::npos);
  r = Call("nexus_read_file", {{"path", "/a.txt"}, {"bogus", 1}});
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("unknown argument bogus"),
            std::string::npos);
  r = Call("nexus_read_file", {{"path", "/a.txt"}, {"head", 0}});
  EXPECT_EQ(r["result"]["isError"], true);
  r = Call("nexus_read_file", {{"path", "/a.txt"}, {"head", int64_t{1} << 40}});
  EXPECT_EQ(r["result"]["content"][0]["text"], "invalid argument: head must be at most 4294967295");
  r = Call("nexus_read_file", {{"path", "/a.txt"}, {"head", 1}, {"tail", 1}});
  EXPECT_EQ(r["result"]["isError"], true);
  r = Call("nexus_edit_file", {{"path", "/a.txt"}, {"edits", {{{"oldText", "x"}}}}});
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find("edits[0].newText is required"),
            std::string::npos);
  r = Request("tools/call", {{"name", "nexus_read_file"}, {"arguments", "x"}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(Code(Request("tools/call", {{"arguments", Json::object()}})), kInvalidParams);
}

TEST_F(McpSession, WriteRunsOnTheLabelledSession) {
  Initialize();
  Json r = Call("nexus_write_file", {{"path", "/new.txt"}, {"content", "fresh\n"}});
  EXPECT_EQ(r["result"]["isError"], false) << r.dump();
  EXPECT_EQ(r["result"]["structuredContent"]["size"], 6);
  EXPECT_EQ(world_.files["/new.txt"], "fresh\n");
  EXPECT_EQ(world_.writer["/new.txt"], "mcp:nexus_write_file");
  // The labelled session is made once per tool.
  Call("nexus_write_file", {{"path", "/new.txt"}, {"content", "again\n"}});
  EXPECT_EQ(std::count(world_.labels.begin(), world_.labels.end(), "mcp:nexus_write_file"), 1);
}

TEST_F(McpSession, EditAppliesAllOrNothing) {
  Initialize();
  Json dry =
      Call("nexus_edit_file",
           {{"path", "/a.txt"}, {"edits", {{{"oldText", "world"}, {"newText", "there"}}}}, {"dryRun", true}});
  EXPECT_EQ(dry["result"]["structuredContent"]["diff"],
            "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n hello\n-world\n+there\n");
  EXPECT_EQ(world_.files["/a.txt"], "hello\nworld\n");
  Json bad = Call(
      "nexus_edit_file",
      {{"path", "/a.txt"},
       {"edits", {{{"oldText", "hello"}, {"newText", "hi"}}, {{"oldText", "absent"}, {"newText", "x"}}}}});
  EXPECT_EQ(bad["result"]["isError"], true);
  EXPECT_NE(bad["result"]["content"][0]["text"].get<std::string>().find("edit 2"), std::string::npos);
  EXPECT_EQ(world_.files["/a.txt"], "hello\nworld\n");
  Json ok = Call("nexus_edit_file",
                 {{"path", "/a.txt"}, {"edits", {{{"oldText", "world"}, {"newText", "there"}}}}});
  EXPECT_EQ(ok["result"]["isError"], false) << ok.dump();
  EXPECT_EQ(world_.files["/a.txt"], "hello\nthere\n");
  EXPECT_EQ(world_.writer["/a.txt"], "mcp:nexus_edit_file");
}

TEST_F(McpSession, EditConflictsWithAChangeInBetween) {
  Initialize();
  world_.after_read = [this]() { world_.files["/a.txt"] = "hello\nworld\nand a line from someone else\n"; };
  Json r =
      Call("nexus_edit_file", {{"path", "/a.txt"}, {"edits", {{{"oldText", "world"}, {"newText", "x"}}}}});
  EXPECT_EQ(r["result"]["isError"], true) << r.dump();
  EXPECT_EQ(r["result"]["content"][0]["text"].get<std::string>().rfind(
                "conflict: /a.txt changed since it was read", 0),
            0u)
      << r.dump();
  EXPECT_EQ(world_.files["/a.txt"], "hello\nworld\nand a line from someone else\n");
}

TEST_F(McpSession, InFlightLimitAndCancellation) {
  Initialize();
  world_.hang_reads = true;
  std::vector<kj::Promise<Json>> pending;
  for (int i = 0; i < 4; ++i)
    pending.push_back(
        session_.Handle({{"jsonrpc", "2.0"},
                         {"id", 100 + i},
                         {"method", "tools/call"},
                         {"params", {{"name", "nexus_read_file"}, {"arguments", {{"path", "/a.txt"}}}}}},
                        Caller{daemon_, "agent:bot"}));
  Json busy = Request("ping");
  EXPECT_EQ(Code(busy), -32000);
  // A duplicate id in flight is refused.
  // Cancel the first: it is never answered.
  Send({{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 100}}}});
  EXPECT_TRUE(pending[0].wait(io_->waitScope).is_null());
  world_.hang_reads = false;
  for (auto& f : world_.hung) f->fulfill();
  for (int i = 1; i < 4; ++i) {
    Json r = pending[i].wait(io_->waitScope);
    EXPECT_EQ(r["id"], 100 + i);
    EXPECT_EQ(r["result"]["structuredContent"]["content"], "hello\nworld\n");
  }
  EXPECT_EQ(Request("ping")["result"], Json::object());
}

TEST_F(McpSession, ResourcesListReadAndTemplates) {
  Initialize();
  Json list = Request("resources/list");
  std::vector<std::string> uris;
  for (auto& r : list["result"]["resources"]) uris.push_back(r["uri"]);
  EXPECT_EQ(uris, (std::vector<std::string>{"nexus:///a.txt"}));
  Json read = Request("resources/read", {{"uri", "nexus:///a.txt"}});
  EXPECT_EQ(read["result"]["contents"][0]["text"], "hello\nworld\n");
  EXPECT_EQ(read["result"]["contents"][0]["mimeType"], "text/x-test");
  world_.files["/bin"] = std::string("\x00\xff", 2);
  Json blob = Request("resources/read", {{"uri", "nexus:///bin"}});
  EXPECT_EQ(blob["result"]["contents"][0]["blob"], "AP8=");
  EXPECT_EQ(Code(Request("resources/read", {{"uri", "nexus:///secret.txt"}})), -32002);
  EXPECT_EQ(Code(Request("resources/read", {{"uri", "file:///etc/passwd"}})), kInvalidParams);
  EXPECT_EQ(Request("resources/templates/list")["result"]["resourceTemplates"][0]["uriTemplate"],
            "nexus:///{+path}");
}

TEST_F(McpSession, ResourcesListPages) {
  for (int i = 0; i < 250; ++i) world_.files["/f" + std::to_string(1000 + i)] = "x";
  Initialize();
  size_t seen = 0;
  Json params = Json::object();
  for (int page = 0; page < 10; ++page) {
    Json r = Request("resources/list", params);
    seen += r["result"]["resources"].size();
    if (!r["result"].contains("nextCursor")) break;
    params = {{"cursor", r["result"]["nextCursor"]}};
  }
  EXPECT_EQ(seen, 251u);  // and /a.txt
}

TEST_F(McpSession, SubscriptionsNotifyAndCloseDropsThem) {
  Initialize();
  EXPECT_EQ(Request("resources/subscribe", {{"uri", "nexus:///a.txt"}})["result"], Json::object());
  EXPECT_EQ(Code(Request("resources/subscribe", {{"uri", "nexus:///secret.txt"}})), -32002);
  ASSERT_EQ(world_.watchers.size(), 1u);
  EXPECT_EQ(world_.live_subscriptions, 1);
  auto req = world_.watchers[0].changedRequest();
  auto changes = req.initChanges(2);
  changes[0].setPath("/a.txt");
  changes[0].setKind("content");
  changes[1].setPath("/a.txt");
  changes[1].setKind("attr");
  req.send().wait(io_->waitScope);
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_EQ(notes_[0]["method"], "notifications/resources/updated");
  EXPECT_EQ(notes_[0]["params"]["uri"], "nexus:///a.txt");
  session_.Close();
  kj::evalLater([] {}).wait(io_->waitScope);
  EXPECT_EQ(world_.live_subscriptions, 0);
}

TEST_F(McpSession, UnsubscribeDropsTheWatch) {
  Initialize();
  Request("resources/subscribe", {{"uri", "nexus:///a.txt"}});
  EXPECT_EQ(world_.live_subscriptions, 1);
  Request("resources/unsubscribe", {{"uri", "nexus:///a.txt"}});
  kj::evalLater([] {}).wait(io_->waitScope);
  EXPECT_EQ(world_.live_subscriptions, 0);
}

TEST_F(McpSession, DiscoveryToolsSeeOnlyVisibleTools) {
  world_.visible_tools = {"nexus_discovery_search_tools", "nexus_discovery_get_tool_details",
                          "nexus_read_file"};
  Initialize();
  Json r = Call("nexus_discovery_search_tools", {{"query", "file"}});
  std::set<std::string> names;
  for (auto& t : r["result"]["structuredContent"]["tools"]) names.insert(t["name"]);
  EXPECT_TRUE(names.count("nexus_read_file"));
  EXPECT_FALSE(names.count("nexus_write_file"));
  EXPECT_EQ(Call("nexus_discovery_get_tool_details", {{"name", "nexus_write_file"}})["result"]["isError"],
            true);
  EXPECT_EQ(Call("nexus_discovery_get_tool_details",
                 {{"name", "nexus_read_file"}})["result"]["structuredContent"]["tool"]["name"],
            "nexus_read_file");
}

TEST(ToolTable, EveryToolIsComplete) {
  std::set<std::string> names;
  for (const ToolDef& t : ToolTable()) {
    SCOPED_TRACE(t.name);
    EXPECT_TRUE(names.insert(t.name).second) << "duplicate";
    EXPECT_EQ(t.name.rfind("nexus_", 0), 0u);
    EXPECT_GT(t.description.size(), 30u);
    EXPECT_FALSE(t.title.empty());
    EXPECT_EQ(t.input_schema["type"], "object");
    EXPECT_TRUE(t.input_schema["properties"].is_object());
    EXPECT_TRUE(t.output_schema.is_object());
    EXPECT_EQ(t.output_schema["type"], "object");
    for (auto& r : t.input_schema.value("required", Json::array()))
      EXPECT_TRUE(t.input_schema["properties"].contains(r.get<std::string>())) << r;
    for (auto& r : t.output_schema.value("required", Json::array()))
      EXPECT_TRUE(t.output_schema["properties"].contains(r.get<std::string>())) << r;
    EXPECT_FALSE(t.read_only && t.destructive);
    EXPECT_TRUE(static_cast<bool>(t.handler));
    Json entry = ToolListEntry(t);
    EXPECT_EQ(entry["annotations"]["openWorldHint"], false);
    EXPECT_TRUE(entry["annotations"].contains("readOnlyHint"));
    EXPECT_TRUE(entry["annotations"].contains("destructiveHint"));
    EXPECT_TRUE(entry["annotations"].contains("idempotentHint"));
  }
  for (const char* n :
       {"nexus_read_file", "nexus_write_file", "nexus_edit_file", "nexus_delete_file", "nexus_list_files",
        "nexus_file_info", "nexus_mkdir", "nexus_rmdir", "nexus_rename_file", "nexus_glob", "nexus_grep",
        "nexus_semantic_search", "nexus_file_history", "nexus_file_diff", "nexus_file_rollback",
        "nexus_ipc_send", "nexus_ipc_inbox"})
    EXPECT_TRUE(names.count(n)) << n;
  // The execution tools are in the table, offered only with a sandbox
  // provider (needs_sandbox); no workflow tool.
  for (const char* n :
       {"nexus_bash", "nexus_python", "nexus_sandbox_create", "nexus_sandbox_list", "nexus_sandbox_stop"}) {
    ASSERT_TRUE(names.count(n)) << n;
    EXPECT_TRUE(FindTool(n)->needs_sandbox) << n;
  }
  EXPECT_FALSE(FindTool("nexus_read_file")->needs_sandbox);
  EXPECT_FALSE(names.count("nexus_execute_workflow"));
  // The reference server's argument names.
  EXPECT_TRUE(FindTool("nexus_rename_file")->input_schema["properties"].contains("source"));
  EXPECT_TRUE(FindTool("nexus_rename_file")->input_schema["properties"].contains("destination"));
  EXPECT_TRUE(FindTool("nexus_edit_file")->input_schema["properties"].contains("dryRun"));
  EXPECT_TRUE(FindTool("nexus_glob")->input_schema["properties"].contains("pattern"));
  EXPECT_TRUE(FindTool("nexus_semantic_search")->input_schema["properties"].contains("query"));
  EXPECT_TRUE(FindTool("nexus_grep")->input_schema["properties"].contains("searchMode"));
  EXPECT_TRUE(FindTool("nexus_grep")->input_schema["properties"].contains("fileGlob"));
  EXPECT_TRUE(
      FindTool("nexus_grep")->output_schema["properties"]["matches"]["items"]["properties"].contains("page"));
}

TEST(NamespacePath, Forms) {
  EXPECT_EQ(NamespacePath("a/b"), "/a/b");
  EXPECT_EQ(NamespacePath("/a"), "/a");
  EXPECT_EQ(NamespacePath("nexus:///a/b"), "/a/b");
}

TEST(ContentId, IsTheGitBlobId) {
  EXPECT_EQ(ContentId(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  EXPECT_EQ(ContentId("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
}

}  // namespace
}  // namespace nexus::mcp
