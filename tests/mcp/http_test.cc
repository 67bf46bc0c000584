// The Streamable HTTP transport (mcp/http_transport.h) in-process on a kj
// loop, spoken to in raw HTTP over TCP: authentication, Origin, limits,
// session headers, SSE streams with replay, idle expiry and TLS. nexusd is a
// double of rpc::Nexus that knows two keys; the MCP session is an echo
// double of mcp::Session.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>
#include <kj/compat/tls.h>
#include <kj/debug.h>

#include "base/file_util.h"
#include "mcp/http_transport.h"
#include "rpc/tls_gen.h"
#include "tests/temp_dir.h"

namespace nexus::mcp {
namespace {

constexpr char kAliceKey[] = "nx_alice_key";
constexpr char kBobKey[] = "nx_bob_key";
constexpr char kHangKey[] = "nx_hang_key";  // nexusd never answers
constexpr char kDownKey[] = "nx_down_key";  // the connection to nexusd is gone

class FakeSession final : public rpc::Session::Server {};

// nexusd as the transport sees it: authenticate knows alice's and bob's keys.
class FakeNexus final : public rpc::Nexus::Server {
 public:
  explicit FakeNexus(int* calls) : calls_(calls) {}
  kj::Promise<void> authenticate(AuthenticateContext context) override {
    ++*calls_;
    std::string key = context.getParams().getApiKey().cStr();
    if (key == kHangKey) return kj::NEVER_DONE;
    if (key == kDownKey) return KJ_EXCEPTION(DISCONNECTED, "connection to nexusd lost");
    auto results = context.getResults();
    if (key == kAliceKey || key == kBobKey) {
      results.setSession(kj::heap<FakeSession>());
      results.initIdentity().setSubject(key == kAliceKey ? "user:alice" : "user:bob");
      results.initError().setCode(rpc::Error::Code::OK);
    } else {
      results.initError().setCode(rpc::Error::Code::UNAUTHENTICATED);
      results.getError().setMessage("unknown API key");
    }
    return kj::READY_NOW;
  }

 private:
  int* calls_;
};

struct Counters {
  int created = 0;
  int closed = 0;
  std::vector<std::string> subjects;  // Caller.subject of each message
};

// mcp::Session's behaviour as far as the transport cares: initialize, echo,
// a request that notifies ("emit"), one that never ends ("hang").
class EchoHandler final : public MessageHandler {
 public:
  EchoHandler(Counters& counters, Notify notify) : counters_(counters), notify_(std::move(notify)) {
    ++counters_.created;
  }
  kj::Promise<Json> Handle(Json message, Caller caller) override {
    counters_.subjects.push_back(caller.subject);
    if (!message.contains("method")) return Json(nullptr);
    std::string method = message["method"].get<std::string>();
    if (!message.contains("id")) return Json(nullptr);
    Json reply = {{"jsonrpc", "2.0"}, {"id", message["id"]}};
    if (method == "initialize") {
      reply["result"] = {{"protocolVersion", "2025-06-18"}};
    } else if (method == "fail-init") {
      reply["error"] = {{"code", kInvalidParams}, {"message", "no"}};
    } else if (method == "emit") {
      int n = message["params"].value("count", 1);
      for (int i = 0; i < n; ++i)
        notify_(
            Json{{"jsonrpc", "2.0"}, {"method", "notifications/resources/updated"}, {"params", {{"n", i}}}});
      reply["result"] = Json::object();
    } else if (method == "hang") {
      return kj::NEVER_DONE;
    } else {
      reply["result"] = message.value("params", Json::object());
    }
    return reply;
  }
  void Close() override { ++counters_.closed; }

 private:
  Counters& counters_;
  Notify notify_;
};

struct Reply {
  uint status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

using nexus::testing::TempDir;

class HttpTransportTest : public ::testing::Test {
 protected:
  HttpTransportTest() : io_(kj::setupAsyncIo()) {}

  ~HttpTransportTest() noexcept override {
    run_ = nullptr;
    server_.reset();
  }

  void Start(HttpOptions options = {}, HttpTuning tuning = {}) {
    options.port = 0;
    auto started = Listen(std::move(options), tuning);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
    run_ =
        server_->Run().eagerlyEvaluate([](kj::Exception&& e) { ADD_FAILURE() << e.getDescription().cStr(); });
  }

  Result<std::unique_ptr<HttpServer>> Listen(HttpOptions options, HttpTuning tuning) {
    rpc::Nexus::Client daemon = kj::heap<FakeNexus>(&auth_calls_);
    return ListenWithHandlers(
        io_, std::move(options), daemon,
        [this](kj::Timer&, Notify notify) {
          return std::make_unique<EchoHandler>(counters_, std::move(notify));
        },
        tuning);
  }

  kj::Timer& timer() { return io_.provider->getTimer(); }

  kj::Own<kj::AsyncIoStream> Connect() {
    auto address = io_.provider->getNetwork().parseAddress("127.0.0.1", server_->port()).wait(io_.waitScope);
    return address->connect().wait(io_.waitScope);
  }

  static std::string Raw(const std::string& method, const std::string& body,
                         const std::vector<std::string>& headers) {
    std::string r = method + " /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    if (method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + body;
  }

  // Reads one response with a Content-Length body (the transport's JSON
  // and empty answers) from `conn`.
  Reply ReadReply(kj::AsyncIoStream& conn) {
    std::string in;
    size_t header_end;
    while ((header_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(conn, in)) return Reply{};
    }
    Reply r = ParseHead(in.substr(0, header_end));
    size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (in.size() < header_end + 4 + length)
      if (!ReadSome(conn, in)) break;
    r.body = in.substr(header_end + 4, length);
    return r;
  }

  static Reply ParseHead(const std::string& head) {
    Reply r;
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    r.status = std::stoul(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = end + 2;
    }
    return r;
  }

  enum class Read { kData, kEnd, kTimeout };
  // Appends what arrives within `ms`.
  Read ReadMore(kj::AsyncIoStream& conn, std::string& in, int ms = 5000) {
    char buf[4096];
    size_t n = 0;
    try {
      n = timer().timeoutAfter(ms * kj::MILLISECONDS, conn.tryRead(buf, 1, sizeof(buf))).wait(io_.waitScope);
    } catch (const kj::Exception& e) {
      return e.getType() == kj::Exception::Type::DISCONNECTED ? Read::kEnd : Read::kTimeout;
    }
    in.append(buf, n);
    return n > 0 ? Read::kData : Read::kEnd;
  }
  bool ReadSome(kj::AsyncIoStream& conn, std::string& in) { return ReadMore(conn, in) == Read::kData; }

  // A GET stream and what it has received so far.
  struct Stream {
    kj::Own<kj::AsyncIoStream> conn;
    std::string text;
  };

  Stream OpenStream(const std::string& id, const std::string& last_event = "",
                    const std::string& key = kAliceKey) {
    Stream s{Connect(), ""};
    std::vector<std::string> h = {"Accept: text/event-stream", "Authorization: Bearer " + key,
                                  "Mcp-Session-Id: " + id};
    if (!last_event.empty()) h.push_back("Last-Event-ID: " + last_event);
    std::string raw = Raw("GET", "", h);
    s.conn->write(raw.data(), raw.size()).wait(io_.waitScope);
    return s;
  }

  // Reads until `needle` has arrived (true) or 5 s pass or the stream ends.
  bool WaitFor(Stream& s, const std::string& needle) {
    while (s.text.find(needle) == std::string::npos)
      if (ReadMore(*s.conn, s.text) != Read::kData) return false;
    return true;
  }

  // Reads until the server ends the response: the chunked terminator or the
  // connection's end (true), or 5 s of silence (false).
  bool WaitEnded(Stream& s) {
    while (s.text.find("\r\n0\r\n\r\n") == std::string::npos) {
      Read r = ReadMore(*s.conn, s.text);
      if (r == Read::kEnd) return true;
      if (r == Read::kTimeout) return false;
    }
    return true;
  }

  void Emit(const std::string& id, int count) {
    EXPECT_EQ(Do("POST", Message("emit", 1, {{"count", count}}), PostHeaders(kAliceKey, id)).status, 200u);
  }

  static std::string Auth(const std::string& key = kAliceKey) { return "Authorization: Bearer " + key; }

  Reply Send(kj::AsyncIoStream& conn, const std::string& raw) {
    conn.write(raw.data(), raw.size()).wait(io_.waitScope);
    return ReadReply(conn);
  }

  Reply Do(const std::string& method, const std::string& body, const std::vector<std::string>& headers) {
    auto conn = Connect();
    return Send(*conn, Raw(method, body, headers));
  }

  static std::vector<std::string> PostHeaders(const std::string& key, const std::string& session = "") {
    std::vector<std::string> h = {"Accept: application/json, text/event-stream",
                                  "Content-Type: application/json"};
    if (!key.empty()) h.push_back("Authorization: Bearer " + key);
    if (!session.empty()) h.push_back("Mcp-Session-Id: " + session);
    return h;
  }

  static std::string Message(const std::string& method, int id, Json params = Json::object()) {
    return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
  }

  std::string Initialize(const std::string& key = kAliceKey) {
    Reply r = Do("POST", Message("initialize", 1), PostHeaders(key));
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.headers["mcp-session-id"];
  }

  // Waits on the loop for `ms` milliseconds (the server keeps running).
  void Sleep(int ms) { timer().afterDelay(ms * kj::MILLISECONDS).wait(io_.waitScope); }

  kj::AsyncIoContext io_;
  int auth_calls_ = 0;
  Counters counters_;
  std::unique_ptr<HttpServer> server_;
  kj::Promise<void> run_ = nullptr;
};

TEST_F(HttpTransportTest, EveryRequestNeedsABearerKey) {
  Start();
  struct Case {
    std::vector<std::string> auth;
  };
  for (const auto& auth : std::vector<std::vector<std::string>>{
           {},
           {"Authorization: Basic YWxpY2U6c2VjcmV0"},
           {"Authorization: Bearer"},
           {"Authorization: Bearer not-a-key"},
           {"Authorization: Bearer " + std::string(kAliceKey) + " trailing"},
       }) {
    auto headers = PostHeaders("");
    headers.insert(headers.end(), auth.begin(), auth.end());
    Reply r = Do("POST", Message("initialize", 1), headers);
    EXPECT_EQ(r.status, 401u) << (auth.empty() ? "no header" : auth[0]);
    EXPECT_EQ(r.headers["www-authenticate"], "Bearer");
    EXPECT_EQ(r.json()["error"]["code"], -32001) << r.body;
  }
  EXPECT_EQ(counters_.created, 0);
  // GET and DELETE too.
  EXPECT_EQ(Do("GET", "", {"Accept: text/event-stream"}).status, 401u);
  EXPECT_EQ(Do("DELETE", "", {"Authorization: Bearer nope"}).status, 401u);
}

TEST_F(HttpTransportTest, KeyIsAuthenticatedOnEveryRequest) {
  Start();
  std::string id = Initialize();
  int before = auth_calls_;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(Do("POST", Message("echo", 2 + i), PostHeaders(kAliceKey, id)).status, 200u);
  EXPECT_EQ(auth_calls_, before + 3);
  // A key nexusd no longer accepts is 401 on the session it created.
  EXPECT_EQ(Do("POST", Message("echo", 9), PostHeaders("nx_revoked", id)).status, 401u);
}

TEST_F(HttpTransportTest, DaemonDownOrSilentIs503NotAHang) {
  HttpTuning tuning;
  tuning.auth_timeout = 200 * kj::MILLISECONDS;
  Start({}, tuning);
  Reply down = Do("POST", Message("initialize", 1), PostHeaders(kDownKey));
  EXPECT_EQ(down.status, 503u);
  EXPECT_TRUE(down.json().contains("error")) << down.body;
  Reply silent = Do("POST", Message("initialize", 1), PostHeaders(kHangKey));
  EXPECT_EQ(silent.status, 503u);
  EXPECT_EQ(silent.json()["jsonrpc"], "2.0");
  EXPECT_EQ(silent.json()["error"]["code"], kInternalError);
}

TEST_F(HttpTransportTest, ForeignOriginIs403) {
  HttpOptions options;
  options.allowed_origins = {"https://app.example.com"};
  Start(options);
  for (std::string origin : {"http://localhost", "http://localhost:6274", "http://127.0.0.1:3000",
                             "https://[::1]:8443", "https://app.example.com"}) {
    auto headers = PostHeaders(kAliceKey);
    headers.push_back("Origin: " + origin);
    EXPECT_EQ(Do("POST", Message("initialize", 1), headers).status, 200u) << origin;
  }
  for (std::string origin :
       {"http://evil.example", "http://localhost.evil.example", "http://127.0.0.1.nip.io", "null",
        "https://app.example.com:444", "file://localhost"}) {
    auto headers = PostHeaders(kAliceKey);
    headers.push_back("Origin: " + origin);
    EXPECT_EQ(Do("POST", Message("initialize", 1), headers).status, 403u) << origin;
  }
}

TEST_F(HttpTransportTest, AcceptContentTypeMethodAndPath) {
  Start();
  auto with = [](std::vector<std::string> h) {
    h.push_back("Authorization: Bearer " + std::string(kAliceKey));
    return h;
  };
  EXPECT_EQ(Do("POST", Message("initialize", 1), with({"Content-Type: application/json"})).status, 406u);
  EXPECT_EQ(Do("POST", Message("initialize", 1),
               with({"Accept: application/json", "Content-Type: application/json"}))
                .status,
            406u);
  EXPECT_EQ(
      Do("POST", Message("initialize", 1), with({"Accept: */*", "Content-Type: application/json"})).status,
      200u);
  EXPECT_EQ(
      Do("POST", Message("initialize", 1), with({"Accept: application/json, text/event-stream"})).status,
      415u);
  EXPECT_EQ(Do("POST", Message("initialize", 1),
               with({"Accept: application/json, text/event-stream", "Content-Type: text/plain"}))
                .status,
            415u);
  EXPECT_EQ(Do("POST", Message("initialize", 1),
               with({"Accept: application/json, text/event-stream",
                     "Content-Type: application/json; charset=utf-8"}))
                .status,
            200u);
  EXPECT_EQ(Do("PUT", "", with({})).status, 405u);
  EXPECT_EQ(Do("GET", "", with({"Accept: application/json"})).status, 405u);
  auto conn = Connect();
  std::string raw = Raw("POST", Message("initialize", 1), PostHeaders(kAliceKey));
  raw.replace(raw.find("/mcp"), 4, "/other");
  EXPECT_EQ(Send(*conn, raw).status, 404u);
}

TEST_F(HttpTransportTest, BodyOverTheLimitIs413) {
  HttpOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  std::string big = Message("echo", 1, {{"pad", std::string(2000, 'x')}});
  EXPECT_EQ(Do("POST", big, PostHeaders(kAliceKey)).status, 413u);
  // Without a length (chunked), reading stops at the limit.
  auto conn = Connect();
  std::string raw =
      "POST /mcp HTTP/1.1\r\nHost: x\r\nAccept: application/json, text/event-stream\r\n"
      "Content-Type: application/json\r\nAuthorization: Bearer " +
      std::string(kAliceKey) + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) raw += "200\r\n" + std::string(512, ' ') + "\r\n";
  Reply r = Send(*conn, raw);
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(Do("POST", Message("initialize", 1), PostHeaders(kAliceKey)).status, 200u);
}

TEST_F(HttpTransportTest, GarbageGetsJsonRpcErrors) {
  Start();
  std::string id = Initialize();
  Reply parse = Do("POST", "{not json", PostHeaders(kAliceKey, id));
  EXPECT_EQ(parse.status, 400u);
  EXPECT_EQ(parse.json()["error"]["code"], kParseError);
  EXPECT_TRUE(parse.json()["id"].is_null());
  Reply batch = Do("POST", "[" + Message("echo", 1) + "]", PostHeaders(kAliceKey, id));
  EXPECT_EQ(batch.status, 400u);
  EXPECT_EQ(batch.json()["error"]["code"], kInvalidRequest);
  EXPECT_EQ(Do("POST", "42", PostHeaders(kAliceKey, id)).status, 400u);
  // A flood of junk, raw and framed, is refused and leaves the server
  // serving.
  std::string junk;
  for (int i = 0; i < 4000; ++i) junk.push_back(static_cast<char>((i * 7919) % 256));
  for (int i = 0; i < 20; ++i) {
    auto conn = Connect();
    std::string raw = i % 2 ? junk.substr(i * 100) + "\r\n\r\n"
                            : Raw("POST", junk.substr(i * 100, 500), PostHeaders(kAliceKey, id));
    Reply r = Send(*conn, raw);
    if (i % 2)
      EXPECT_TRUE(r.status == 400 || r.status == 501) << r.status;  // kj's parser: bad request or method
    else
      EXPECT_EQ(r.status, 400u) << r.body;
  }
  // Headers without end are cut off by the parser, not buffered.
  {
    auto conn = Connect();
    std::string raw = "POST /mcp HTTP/1.1\r\nX-Big: " + std::string(1u << 20, 'a') + "\r\n\r\n";
    conn->write(raw.data(), raw.size()).then([]() {}, [](kj::Exception&&) {}).wait(io_.waitScope);
    std::string in;
    while (ReadSome(*conn, in)) {}
    EXPECT_EQ(in.find("HTTP/1.1 200"), std::string::npos);
  }
  Reply ok = Do("POST", Message("echo", 5, {{"x", 1}}), PostHeaders(kAliceKey, id));
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.json()["result"]["x"], 1);
}

TEST_F(HttpTransportTest, SessionLifecycle) {
  Start();
  std::string id = Initialize();
  ASSERT_EQ(id.size(), 64u);
  for (char c : id) EXPECT_TRUE(c > 0x20 && c < 0x7f);
  EXPECT_NE(Initialize(), id);  // every initialize is a new session
  // Later requests need the header; an unknown one is 404.
  EXPECT_EQ(Do("POST", Message("echo", 2), PostHeaders(kAliceKey)).status, 400u);
  EXPECT_EQ(Do("POST", Message("echo", 2), PostHeaders(kAliceKey, "0123abcd")).status, 404u);
  Reply echo = Do("POST", Message("echo", 3, {{"a", "b"}}), PostHeaders(kAliceKey, id));
  EXPECT_EQ(echo.status, 200u);
  EXPECT_EQ(echo.headers["content-type"], "application/json");
  EXPECT_EQ(echo.json()["id"], 3);
  EXPECT_EQ(echo.json()["result"]["a"], "b");
  // A notification is 202 with no body.
  Reply note =
      Do("POST", R"({"jsonrpc":"2.0","method":"notifications/initialized"})", PostHeaders(kAliceKey, id));
  EXPECT_EQ(note.status, 202u);
  EXPECT_EQ(note.body, "");
  // Protocol version: a supported one or none; anything else 400.
  auto versioned = [&](const std::string& v) {
    auto h = PostHeaders(kAliceKey, id);
    h.push_back("MCP-Protocol-Version: " + v);
    return Do("POST", Message("echo", 4), h).status;
  };
  EXPECT_EQ(versioned("2025-06-18"), 200u);
  EXPECT_EQ(versioned("2025-11-25"), 200u);
  EXPECT_EQ(versioned("1900-01-01"), 400u);
  // Another subject never sees the session.
  EXPECT_EQ(Do("POST", Message("echo", 5), PostHeaders(kBobKey, id)).status, 404u);
  EXPECT_EQ(
      Do("DELETE", "", {"Authorization: Bearer " + std::string(kBobKey), "Mcp-Session-Id: " + id}).status,
      404u);
  // initialize with a session header is refused; one that fails opens none.
  EXPECT_EQ(Do("POST", Message("initialize", 6), PostHeaders(kAliceKey, id)).status, 400u);
  // DELETE ends it: the handler is closed, the id is 404 from then on.
  int closed = counters_.closed;
  Reply del = Do("DELETE", "", {"Authorization: Bearer " + std::string(kAliceKey), "Mcp-Session-Id: " + id});
  EXPECT_EQ(del.status, 204u);
  EXPECT_EQ(counters_.closed, closed + 1);
  EXPECT_EQ(Do("POST", Message("echo", 7), PostHeaders(kAliceKey, id)).status, 404u);
  EXPECT_EQ(
      Do("DELETE", "", {"Authorization: Bearer " + std::string(kAliceKey), "Mcp-Session-Id: " + id}).status,
      404u);
  // Each message acted as the key's subject.
  for (const auto& s : counters_.subjects) EXPECT_EQ(s, "user:alice");
}

TEST_F(HttpTransportTest, SessionLimitAnd503) {
  HttpOptions options;
  options.max_sessions = 2;
  Start(options);
  std::string a = Initialize();
  Initialize();
  Reply third = Do("POST", Message("initialize", 1), PostHeaders(kAliceKey));
  EXPECT_EQ(third.status, 503u);
  EXPECT_EQ(third.json()["error"]["code"], -32000);
  EXPECT_EQ(
      Do("DELETE", "", {"Authorization: Bearer " + std::string(kAliceKey), "Mcp-Session-Id: " + a}).status,
      204u);
  EXPECT_FALSE(Initialize().empty());
}

TEST_F(HttpTransportTest, IdleSessionsAreEnded) {
  HttpOptions options;
  options.session_idle_s = 0.3;
  Start(options);
  std::string id = Initialize();
  for (int i = 0; i < 4; ++i) {  // used every 150 ms: stays
    Sleep(150);
    EXPECT_EQ(Do("POST", Message("echo", i), PostHeaders(kAliceKey, id)).status, 200u);
  }
  Sleep(600);
  EXPECT_EQ(counters_.closed, 1);
  EXPECT_EQ(Do("POST", Message("echo", 9), PostHeaders(kAliceKey, id)).status, 404u);
}

TEST_F(HttpTransportTest, CallInFlightKeepsItsSessionAndTimesOut) {
  HttpOptions options;
  options.session_idle_s = 0.1;
  HttpTuning tuning;
  tuning.request_timeout = 500 * kj::MILLISECONDS;
  Start(options, tuning);
  std::string id = Initialize();
  Reply r = Do("POST", Message("hang", 3), PostHeaders(kAliceKey, id));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["id"], 3);
  EXPECT_EQ(r.json()["error"]["code"], kInternalError);
  EXPECT_EQ(counters_.closed, 0);  // not idle while the call ran
}

TEST_F(HttpTransportTest, ACallThatHangsStallsNoOtherSession) {
  Start();
  std::string a = Initialize();
  std::string b = Initialize(kBobKey);
  auto stuck = Connect();
  std::string raw = Raw("POST", Message("hang", 1), PostHeaders(kAliceKey, a));
  stuck->write(raw.data(), raw.size()).wait(io_.waitScope);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Do("POST", Message("echo", i), PostHeaders(kBobKey, b)).status, 200u);
    EXPECT_EQ(Do("POST", Message("echo", i), PostHeaders(kAliceKey, a)).status, 200u);
  }
  // DELETE while the call is in flight ends the session at once.
  EXPECT_EQ(Do("DELETE", "", {Auth(), "Mcp-Session-Id: " + a}).status, 204u);
  EXPECT_EQ(counters_.closed, 1);
}

TEST_F(HttpTransportTest, ConnectionsAreBounded) {
  HttpTuning tuning;
  tuning.max_connections = 3;
  Start({}, tuning);
  std::vector<kj::Own<kj::AsyncIoStream>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(Connect());
  Sleep(50);
  auto extra = Connect();
  std::string in;
  EXPECT_EQ(ReadMore(*extra, in, 2000), Read::kEnd);  // closed at once
  idle.pop_back();
  Sleep(50);
  EXPECT_EQ(Do("POST", Message("initialize", 1), PostHeaders(kAliceKey)).status, 200u);
}

TEST_F(HttpTransportTest, StreamCarriesNumberedNotifications) {
  Start();
  std::string id = Initialize();
  Stream s = OpenStream(id);
  ASSERT_TRUE(WaitFor(s, "stream open"));
  EXPECT_NE(s.text.find("200 OK"), std::string::npos);
  EXPECT_NE(s.text.find("Content-Type: text/event-stream"), std::string::npos);
  Emit(id, 2);
  ASSERT_TRUE(WaitFor(s, "id: 2\n"));
  EXPECT_NE(s.text.find("id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\""),
            std::string::npos)
      << s.text;
  // The POST that caused them was answered as JSON, not on the stream.
  EXPECT_EQ(s.text.find("\"result\""), std::string::npos);
}

TEST_F(HttpTransportTest, LastEventIdReplaysWhatWasMissed) {
  Start();
  std::string id = Initialize();
  Emit(id, 3);  // no stream open: kept for replay only
  Stream s = OpenStream(id, "1");
  ASSERT_TRUE(WaitFor(s, "id: 3\n"));
  EXPECT_NE(s.text.find("id: 2\n"), std::string::npos);
  EXPECT_EQ(s.text.find("id: 1\n"), std::string::npos);
  Emit(id, 1);  // and it continues live
  EXPECT_TRUE(WaitFor(s, "id: 4\n"));
  // Without Last-Event-ID a stream starts with what comes next.
  Stream fresh = OpenStream(id);
  ASSERT_TRUE(WaitFor(fresh, "stream open"));
  Emit(id, 1);
  ASSERT_TRUE(WaitFor(fresh, "id: 5\n"));
  EXPECT_EQ(fresh.text.find("id: 4\n"), std::string::npos);
}

TEST_F(HttpTransportTest, NewStreamReplacesTheOld) {
  Start();
  std::string id = Initialize();
  Stream first = OpenStream(id);
  ASSERT_TRUE(WaitFor(first, "stream open"));
  Stream second = OpenStream(id);
  ASSERT_TRUE(WaitFor(second, "stream open"));
  EXPECT_TRUE(WaitEnded(first));
  Emit(id, 1);
  EXPECT_TRUE(WaitFor(second, "id: 1\n"));
  EXPECT_EQ(first.text.find("id: 1\n"), std::string::npos);
}

TEST_F(HttpTransportTest, StreamRules) {
  Start();
  std::string id = Initialize();
  EXPECT_EQ(Do("GET", "", {"Accept: text/event-stream", Auth()}).status, 400u);
  EXPECT_EQ(Do("GET", "", {"Accept: text/event-stream", Auth(), "Mcp-Session-Id: nope"}).status, 404u);
  EXPECT_EQ(Do("GET", "", {"Accept: text/event-stream", Auth(kBobKey), "Mcp-Session-Id: " + id}).status,
            404u);
  // DELETE ends the open stream with the session.
  Stream s = OpenStream(id);
  ASSERT_TRUE(WaitFor(s, "stream open"));
  EXPECT_EQ(Do("DELETE", "", {Auth(), "Mcp-Session-Id: " + id}).status, 204u);
  EXPECT_TRUE(WaitEnded(s));
}

TEST_F(HttpTransportTest, IdleStreamGetsKeepAlives) {
  HttpTuning tuning;
  tuning.keepalive = 100 * kj::MILLISECONDS;
  Start({}, tuning);
  std::string id = Initialize();
  Stream s = OpenStream(id);
  ASSERT_TRUE(WaitFor(s, "stream open"));
  EXPECT_TRUE(WaitFor(s, ":\n\n\r\n"));  // a bare comment in its own chunk
}

TEST_F(HttpTransportTest, ClientThatDoesNotReadLosesTheStreamNotTheSession) {
  HttpTuning tuning;
  tuning.stream_queue_bytes = 4096;
  tuning.replay_events = 5;
  Start({}, tuning);
  std::string id = Initialize();
  Stream s = OpenStream(id);
  ASSERT_TRUE(WaitFor(s, "stream open"));
  Emit(id, 200);  // ~20 KiB queued at once: over the stream's bound
  EXPECT_TRUE(WaitEnded(s));
  // The replay buffer kept the last five; the session works.
  Stream again = OpenStream(id, "0");
  ASSERT_TRUE(WaitFor(again, "id: 200\n"));
  EXPECT_NE(again.text.find("id: 196\n"), std::string::npos);
  EXPECT_EQ(again.text.find("id: 195\n"), std::string::npos);
  EXPECT_EQ(Do("POST", Message("echo", 2), PostHeaders(kAliceKey, id)).status, 200u);
}

TEST_F(HttpTransportTest, IdleExpiryEndsTheStream) {
  HttpOptions options;
  options.session_idle_s = 0.2;
  Start(options);
  std::string id = Initialize();
  Stream s = OpenStream(id);
  ASSERT_TRUE(WaitFor(s, "stream open"));
  EXPECT_TRUE(WaitEnded(s));
  EXPECT_EQ(counters_.closed, 1);
}

TEST_F(HttpTransportTest, ServesTls) {
  TempDir dir;
  auto pair = GenerateSelfSignedTls({"localhost", "127.0.0.1"}, 1);
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/cert.pem", pair->cert_pem, 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/key.pem", pair->key_pem, 0600).ok());
  HttpOptions options;
  options.tls_cert = dir.path() + "/cert.pem";
  options.tls_key = dir.path() + "/key.pem";
  Start(options);
  kj::TlsCertificate ca(pair->cert_pem.c_str());
  kj::TlsContext::Options client_options;
  client_options.useSystemTrustStore = false;
  client_options.trustedCertificates = kj::arrayPtr(&ca, 1);
  kj::TlsContext client(kj::mv(client_options));
  auto conn = client.wrapClient(Connect(), "localhost").wait(io_.waitScope);
  Reply r = Send(*conn, Raw("POST", Message("initialize", 1), PostHeaders(kAliceKey)));
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.headers["mcp-session-id"].empty());
  // Plain HTTP on the TLS port gets nothing.
  auto plain = Connect();
  std::string raw = Raw("POST", Message("initialize", 1), PostHeaders(kAliceKey));
  plain->write(raw.data(), raw.size()).wait(io_.waitScope);
  std::string in;
  while (ReadSome(*plain, in)) {}
  EXPECT_EQ(in.find("HTTP/1.1 200"), std::string::npos);
}

TEST_F(HttpTransportTest, BadTlsFilesFailListen) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/junk.pem", "not a certificate\n", 0644).ok());
  auto pair = GenerateSelfSignedTls({"localhost"}, 1);
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/key.pem", pair->key_pem, 0600).ok());
  HttpOptions options;
  options.tls_cert = dir.path() + "/junk.pem";
  options.tls_key = dir.path() + "/key.pem";
  auto bad = Listen(options, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("junk.pem"), std::string::npos) << bad.status().ToString();
  options.tls_cert = dir.path() + "/missing.pem";
  auto missing = Listen(options, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("missing.pem"), std::string::npos);
  options.tls_key.clear();
  EXPECT_FALSE(Listen(options, {}).ok());
}

TEST_F(HttpTransportTest, PortInUseFailsListen) {
  Start();
  HttpOptions options;
  options.port = server_->port();
  auto second = Listen(options, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EADDRINUSE) << second.status().ToString();
}

}  // namespace
}  // namespace nexus::mcp
