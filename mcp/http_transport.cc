#include "mcp/http_transport.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <kj/compat/http.h>
#include <kj/debug.h>
#include <kj/compat/tls.h>
#include <spdlog/spdlog.h>

#include "base/crypto.h"
#include "base/file_util.h"

namespace nexus::mcp {
namespace {

constexpr std::string_view kEndpoint = "/mcp";
// Error codes of the transport's own JSON-RPC error bodies, in the
// implementation-defined server range of JSON-RPC 2.0 and agreeing with the
// session's: -32000 too many (there: requests in flight; here: sessions),
// -32603 nexusd failed or went away; -32001 is the transport's alone.
constexpr int kBusy = -32000;
constexpr int kUnauthorized = -32001;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of a Content-Type or one Accept entry, lowercased and
// without parameters.
std::string MediaType(std::string_view value) { return Lower(Trim(value.substr(0, value.find(';')))); }

// Whether an Accept header admits `type` ("application/json"), wildcards
// included.
bool Accepts(std::string_view accept, std::string_view type) {
  std::string_view major = type.substr(0, type.find('/'));
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string entry = MediaType(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    if (entry == type || entry == "*/*") return true;
    if (entry.size() == major.size() + 2 && entry.compare(0, major.size(), major) == 0 &&
        entry.compare(major.size(), 2, "/*") == 0)
      return true;
  }
  return false;
}

// http(s)://localhost, 127.0.0.1 or [::1], with any port.
bool IsLocalOrigin(std::string_view origin) {
  std::string o = Lower(origin);
  std::string_view rest = o;
  if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else
    return false;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host = rest;
  if (host.starts_with("[")) {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view after = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!after.empty() && !after.starts_with(":")) return false;
    after = after.empty() ? after : after.substr(1);
    if (!std::all_of(after.begin(), after.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    if (!std::all_of(port.begin(), port.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// The token of "Bearer <token>"; empty when the header is anything else.
std::string BearerToken(std::string_view header) {
  header = Trim(header);
  if (header.size() < 7 || Lower(header.substr(0, 7)) != "bearer ") return "";
  std::string_view token = Trim(header.substr(7));
  for (char c : token)
    if (c <= ' ' || c > '~') return "";
  return std::string(token);
}

Json ErrorBody(int code, std::string_view message) {
  return Json{{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", {{"code", code}, {"message", message}}}};
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

kj::StringPtr StatusText(uint code) {
  switch (code) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

bool IsSupportedVersion(std::string_view v) {
  return std::find(kProtocolVersions.begin(), kProtocolVersions.end(), v) != kProtocolVersions.end();
}

class StreamImpl;

// One MCP session of the transport: its handler, its owner and its SSE
// state. Shared by the session table and the requests running on it, so
// ending a session never frees a handler under a call in flight.
struct HttpSession {
  std::string id;
  std::string subject;  // whose key created it; no other subject may use it
  std::unique_ptr<MessageHandler> handler;
  kj::TimePoint last_used = kj::origin<kj::TimePoint>();
  size_t active = 0;  // requests running
  bool ended = false;
  uint64_t next_event_id = 1;
  std::deque<std::pair<uint64_t, std::string>> replay;  // (id, formatted event)
  size_t replay_bytes = 0;
  StreamImpl* stream = nullptr;  // the open GET stream, if any
};

// The session's GET stream: a bounded queue of SSE text written to the
// response body in order, with keep-alive comments when idle. Ended when
// the session ends, another GET replaces it, or the client stops reading.
class StreamImpl {
 public:
  StreamImpl(kj::Timer& timer, const HttpTuning& tuning, std::shared_ptr<HttpSession> session,
             kj::Own<kj::AsyncOutputStream> out)
      : timer_(timer), tuning_(tuning), session_(std::move(session)), out_(kj::mv(out)) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    ended_promise_ = kj::mv(paf.promise);
    end_ = kj::mv(paf.fulfiller);
  }
  ~StreamImpl() { Detach(); }

  void Push(std::string text) {
    if (ended_) return;
    if (queued_bytes_ + text.size() > tuning_.stream_queue_bytes) {
      spdlog::info("mcp http: session {}: SSE client is not reading; stream dropped", session_->id);
      End();
      return;
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
    Wake();
  }

  void End() {
    if (ended_) return;
    ended_ = true;
    Detach();
    end_->fulfill();
  }

  // Resolves when the stream is over (never rejects). Called once.
  kj::Promise<void> Run() {
    return Pump().exclusiveJoin(kj::mv(ended_promise_)).catch_([this](kj::Exception&& e) {
      spdlog::debug("mcp http: session {}: SSE stream closed: {}", session_->id, e.getDescription().cStr());
      Detach();
    });
  }

 private:
  void Wake() {
    if (wake_) {
      auto f = kj::mv(wake_);
      f->fulfill();
    }
  }

  void Detach() {
    if (session_ && session_->stream == this) session_->stream = nullptr;
  }

  kj::Promise<void> Pump() {
    if (queue_.empty()) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      wake_ = kj::mv(paf.fulfiller);
      return paf.promise
          .exclusiveJoin(timer_.afterDelay(tuning_.keepalive).then([this]() {
            wake_ = nullptr;
            queued_bytes_ += 3;
            queue_.push_back(":\n\n");
          }))
          .then([this]() { return Pump(); });
    }
    std::string text;
    for (auto& t : queue_) text += t;
    queue_.clear();
    queued_bytes_ = 0;
    auto data = kj::heapArray<kj::byte>(reinterpret_cast<const kj::byte*>(text.data()), text.size());
    auto write = out_->write(data.begin(), data.size()).attach(kj::mv(data));
    return timer_.timeoutAfter(tuning_.write_timeout, kj::mv(write)).then([this]() { return Pump(); });
  }

  kj::Timer& timer_;
  const HttpTuning& tuning_;
  std::shared_ptr<HttpSession> session_;
  kj::Own<kj::AsyncOutputStream> out_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool ended_ = false;
  kj::Own<kj::PromiseFulfiller<void>> wake_;
  kj::Promise<void> ended_promise_ = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> end_;
};

struct HeaderIds {
  kj::HttpHeaderId session_id, protocol_version, last_event_id, origin, authorization, accept, allow,
      www_authenticate, cache_control;
};

// A request's authentication: a daemon session and its subject, or the
// HTTP status to answer with.
struct Auth {
  uint status = 200;
  std::string message;
  std::optional<Caller> caller;  // when status is 200
};

class LogTaskErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    spdlog::debug("mcp http: connection ended: {}", e.getDescription().cStr());
  }
};

class ServerImpl final : public HttpServer, private kj::HttpService {
 public:
  ServerImpl(kj::AsyncIoContext& io, HttpOptions options, rpc::Nexus::Client daemon, HandlerFactory factory,
             HttpTuning tuning)
      : timer_(io.provider->getTimer()),
        options_(std::move(options)),
        daemon_(kj::mv(daemon)),
        factory_(std::move(factory)),
        tuning_(tuning) {
    kj::HttpHeaderTable::Builder builder;
    ids_.session_id = builder.add("Mcp-Session-Id");
    ids_.protocol_version = builder.add("MCP-Protocol-Version");
    ids_.last_event_id = builder.add("Last-Event-ID");
    ids_.origin = builder.add("Origin");
    ids_.authorization = builder.add("Authorization");
    ids_.accept = builder.add("Accept");
    ids_.allow = builder.add("Allow");
    ids_.www_authenticate = builder.add("WWW-Authenticate");
    ids_.cache_control = builder.add("Cache-Control");
    table_ = builder.build();
    http_ = kj::heap<kj::HttpServer>(timer_, *table_, static_cast<kj::HttpService&>(*this));
    tasks_ = kj::heap<kj::TaskSet>(task_errors_);
  }

  ~ServerImpl() noexcept override {
    tasks_ = nullptr;  // connections first: they use everything below
    while (!sessions_.empty()) EndSession(sessions_.begin()->second);
  }

  Status Bind(kj::AsyncIoContext& io) {
    try {
      if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
        if (options_.tls_cert.empty() || options_.tls_key.empty())
          return Status::Error(EINVAL, "TLS needs both a certificate and a key (--tls-cert, --tls-key)");
        NEXUS_ASSIGN_OR_RETURN(std::string cert, ReadTextFile(options_.tls_cert, "--tls-cert"));
        NEXUS_ASSIGN_OR_RETURN(std::string key, ReadTextFile(options_.tls_key, "--tls-key"));
        kj::Maybe<kj::TlsKeypair> keypair;
        try {
          keypair = kj::TlsKeypair{kj::TlsPrivateKey(key.c_str()), kj::TlsCertificate(cert.c_str())};
          kj::TlsContext::Options tls_options;
          tls_options.useSystemTrustStore = false;
          tls_options.defaultKeypair = KJ_ASSERT_NONNULL(keypair);
          tls_ = kj::heap<kj::TlsContext>(kj::mv(tls_options));
        } catch (const kj::Exception& e) {
          return Status::Error(EINVAL, "TLS certificate " + options_.tls_cert + " / key " + options_.tls_key +
                                           ": not a usable PEM certificate and key (" +
                                           e.getDescription().cStr() + ")");
        }
        keypair_ = kj::mv(keypair);
      }
      std::string host = options_.host.empty() ? "127.0.0.1" : options_.host;
      if (host.find(':') != std::string::npos && !host.starts_with("[")) host = "[" + host + "]";
      auto address = io.provider->getNetwork().parseAddress(host.c_str(), options_.port).wait(io.waitScope);
      listener_ = address->listen();
      port_ = static_cast<uint16_t>(listener_->getPort());
    } catch (const kj::Exception& e) {
      std::string why = e.getDescription().cStr();
      int code = why.find("in use") != std::string::npos ? EADDRINUSE : EINVAL;
      return Status::Error(code, "mcp http: cannot listen on " + options_.host + ":" +
                                     std::to_string(options_.port) + ": " + why);
    }
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }

  kj::Promise<void> Run() override { return AcceptLoop().exclusiveJoin(SweepLoop()); }

 private:
  // ---- connections ----

  kj::Promise<void> AcceptLoop() {
    return listener_->accept().then(
        [this](kj::Own<kj::AsyncIoStream> connection) {
          if (connections_ >= tuning_.max_connections) {
            spdlog::warn("mcp http: {} connections open; refusing another", connections_);
            return AcceptLoop();  // `connection` is closed here
          }
          ++connections_;
          auto done = kj::defer([this]() { --connections_; });
          if (tls_) {
            auto handshake =
                timer_.timeoutAfter(tuning_.tls_handshake_timeout, tls_->wrapServer(kj::mv(connection)));
            tasks_->add(handshake
                            .then([this](kj::Own<kj::AsyncIoStream> stream) {
                              return http_->listenHttp(kj::mv(stream));
                            })
                            .attach(kj::mv(done)));
          } else {
            tasks_->add(http_->listenHttp(kj::mv(connection)).attach(kj::mv(done)));
          }
          return AcceptLoop();
        },
        [this](kj::Exception&& e) {
          spdlog::warn("mcp http: accept failed: {}", e.getDescription().cStr());
          return timer_.afterDelay(100 * kj::MILLISECONDS).then([this]() { return AcceptLoop(); });
        });
  }

  kj::Promise<void> SweepLoop() {
    double interval_s = std::clamp(options_.session_idle_s / 4, 0.02, 30.0);
    return timer_.afterDelay(static_cast<int64_t>(interval_s * 1000) * kj::MILLISECONDS).then([this]() {
      SweepIdle();
      return SweepLoop();
    });
  }

  void SweepIdle() {
    kj::TimePoint now = timer_.now();
    auto idle = static_cast<int64_t>(options_.session_idle_s * 1000) * kj::MILLISECONDS;
    std::vector<std::shared_ptr<HttpSession>> expired;
    for (auto& [id, s] : sessions_)
      if (s->active == 0 && now - s->last_used >= idle) expired.push_back(s);
    for (auto& s : expired) {
      spdlog::info("mcp http: session {} ({}) idle; ended", s->id, s->subject);
      EndSession(s);
    }
  }

  // ---- responses ----

  kj::Promise<void> Send(Response& response, uint status, kj::HttpHeaders& headers, std::string body,
                         kj::StringPtr type = "application/json") {
    if (!body.empty()) headers.set(kj::HttpHeaderId::CONTENT_TYPE, type);
    auto out = response.send(status, StatusText(status), headers, uint64_t{body.size()});
    if (body.empty()) return kj::READY_NOW;
    auto data = kj::heapString(body.data(), body.size());
    auto write = out->write(data.begin(), data.size());
    return write.attach(kj::mv(out), kj::mv(data));
  }

  kj::Promise<void> SendError(Response& response, uint status, int code, std::string_view message) {
    kj::HttpHeaders headers(*table_);
    if (status == 401) headers.set(ids_.www_authenticate, "Bearer");
    if (status == 405) headers.set(ids_.allow, "GET, POST, DELETE");
    return Send(response, status, headers, Dump(ErrorBody(code, message)) + "\n");
  }

  // ---- requests ----

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                            kj::AsyncInputStream& body, Response& response) override {
    std::string_view path(url.cStr());
    path = path.substr(0, path.find('?'));
    if (path != kEndpoint)
      return SendError(response, 404, kInvalidRequest, "not found: the MCP endpoint is /mcp");
    KJ_IF_MAYBE (origin, headers.get(ids_.origin)) {
      std::string o(origin->cStr());
      bool allowed =
          IsLocalOrigin(o) || std::any_of(options_.allowed_origins.begin(), options_.allowed_origins.end(),
                                          [&](const std::string& a) { return Lower(a) == Lower(o); });
      if (!allowed) return SendError(response, 403, kInvalidRequest, "origin not allowed: " + o);
    }
    std::string key;
    KJ_IF_MAYBE (authorization, headers.get(ids_.authorization)) {
      key = BearerToken(authorization->cStr());
    }
    if (key.empty())
      return SendError(response, 401, kUnauthorized, "an API key is required: Authorization: Bearer <key>");
    std::string session_id, version;
    KJ_IF_MAYBE (v, headers.get(ids_.session_id)) {
      session_id = v->cStr();
    }
    KJ_IF_MAYBE (v, headers.get(ids_.protocol_version)) {
      version = v->cStr();
    }
    std::string accept;
    KJ_IF_MAYBE (v, headers.get(ids_.accept)) {
      accept = v->cStr();
    }
    switch (method) {
      case kj::HttpMethod::POST: {
        if (!Accepts(accept, "application/json") || !Accepts(accept, "text/event-stream"))
          return SendError(response, 406, kInvalidRequest,
                           "Accept must allow both application/json and text/event-stream");
        std::string type;
        KJ_IF_MAYBE (v, headers.get(kj::HttpHeaderId::CONTENT_TYPE)) {
          type = MediaType(v->cStr());
        }
        if (type != "application/json")
          return SendError(response, 415, kInvalidRequest, "Content-Type must be application/json");
        KJ_IF_MAYBE (length, body.tryGetLength()) {
          if (*length > options_.max_body_bytes) return TooLarge(response);
        }
        return Authenticate(key).then([this, &body, &response, session_id = std::move(session_id),
                                       version = std::move(version)](Auth auth) mutable -> kj::Promise<void> {
          if (auth.status != 200) return SendError(response, auth.status, AuthErrorCode(auth), auth.message);
          return ReadBody(body).then(
              [this, &response, session_id = std::move(session_id), version = std::move(version),
               auth = std::move(auth)](kj::Maybe<std::string> text) mutable -> kj::Promise<void> {
                KJ_IF_MAYBE (t, text) {
                  return Post(response, std::move(*t), session_id, version, std::move(*auth.caller));
                }
                return TooLarge(response);
              });
        });
      }
      case kj::HttpMethod::GET: {
        if (!Accepts(accept, "text/event-stream"))
          return SendError(response, 405, kInvalidRequest,
                           "GET /mcp opens an SSE stream: Accept must allow text/event-stream");
        std::string last_event;
        KJ_IF_MAYBE (v, headers.get(ids_.last_event_id)) {
          last_event = v->cStr();
        }
        return Authenticate(key).then([this, &response, session_id = std::move(session_id),
                                       version = std::move(version),
                                       last_event = std::move(last_event)](Auth auth) -> kj::Promise<void> {
          if (auth.status != 200) return SendError(response, auth.status, AuthErrorCode(auth), auth.message);
          return Get(response, session_id, version, auth.caller->subject, last_event);
        });
      }
      case kj::HttpMethod::DELETE:
        return Authenticate(key).then([this, &response, session_id = std::move(session_id),
                                       version = std::move(version)](Auth auth) -> kj::Promise<void> {
          if (auth.status != 200) return SendError(response, auth.status, AuthErrorCode(auth), auth.message);
          std::shared_ptr<HttpSession> s;
          uint status = Lookup(session_id, version, auth.caller->subject, &s);
          if (status != 200) return SessionError(response, status, session_id);
          spdlog::info("mcp http: session {} ({}) ended by the client", s->id, s->subject);
          EndSession(s);
          kj::HttpHeaders out(*table_);
          return Send(response, 204, out, "");
        });
      default:
        return SendError(response, 405, kInvalidRequest, "/mcp takes POST, GET and DELETE");
    }
  }

  static int AuthErrorCode(const Auth& auth) { return auth.status == 401 ? kUnauthorized : kInternalError; }

  kj::Promise<void> TooLarge(Response& response) {
    return SendError(response, 413, kInvalidRequest,
                     "message larger than " + std::to_string(options_.max_body_bytes) + " bytes");
  }

  // The body, or null when it is longer than max_body_bytes (reading stops
  // there).
  struct BodyRead {
    std::string text;
    kj::byte buffer[16384];
  };

  kj::Promise<kj::Maybe<std::string>> ReadBody(kj::AsyncInputStream& body) {
    auto read = kj::heap<BodyRead>();
    BodyRead& r = *read;
    return ReadMore(body, r).then([read = kj::mv(read)](bool complete) mutable -> kj::Maybe<std::string> {
      if (!complete) return nullptr;
      return std::move(read->text);
    });
  }

  kj::Promise<bool> ReadMore(kj::AsyncInputStream& body, BodyRead& r) {
    size_t room = options_.max_body_bytes + 1 - r.text.size();
    return body.tryRead(r.buffer, 1, std::min(sizeof(r.buffer), room))
        .then([this, &body, &r](size_t n) -> kj::Promise<bool> {
          if (n == 0) return true;
          r.text.append(reinterpret_cast<const char*>(r.buffer), n);
          if (r.text.size() > options_.max_body_bytes) return false;
          return ReadMore(body, r);
        });
  }

  kj::Promise<Auth> Authenticate(const std::string& key) {
    auto request = daemon_.authenticateRequest();
    request.setApiKey(key);
    request.setClient("nexus-mcp");
    request.setActAs("");
    return timer_.timeoutAfter(tuning_.auth_timeout, request.send())
        .then(
            [](capnp::Response<rpc::Nexus::AuthenticateResults> reply) {
              Auth auth;
              auto error = reply.getError();
              switch (error.getCode()) {
                case rpc::Error::Code::OK:
                  auth.caller = Caller{reply.getSession(), reply.getIdentity().getSubject().cStr()};
                  return auth;
                case rpc::Error::Code::UNAVAILABLE:
                case rpc::Error::Code::TIMED_OUT:
                case rpc::Error::Code::BUSY:
                case rpc::Error::Code::RESOURCE_EXHAUSTED:
                case rpc::Error::Code::IO_ERROR:
                case rpc::Error::Code::INTERNAL:
                  auth.status = 503;
                  auth.message = std::string("nexusd cannot authenticate now: ") + error.getMessage().cStr();
                  return auth;
                default:
                  // Which of "unknown", "revoked" or "expired" is not said.
                  auth.status = 401;
                  auth.message = "the API key is not valid";
                  return auth;
              }
            },
            [](kj::Exception&& e) {
              Auth auth;
              auth.status = 503;
              auth.message = std::string("nexusd is unreachable: ") + e.getDescription().cStr();
              return auth;
            });
  }

  // 200 and the session in *out, or the status to answer with: 400 without
  // a session id or with an unsupported protocol version, 404 for a session
  // that is unknown, ended, or another subject's.
  uint Lookup(const std::string& id, const std::string& version, const std::string& subject,
              std::shared_ptr<HttpSession>* out) {
    if (id.empty()) return 400;
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->subject != subject) return 404;
    if (!version.empty() && !IsSupportedVersion(version)) return 400;
    it->second->last_used = timer_.now();
    *out = it->second;
    return 200;
  }

  kj::Promise<void> SessionError(Response& response, uint status, const std::string& id) {
    if (status == 404)
      return SendError(response, 404, kInvalidRequest, "no such session; initialize a new one");
    if (id.empty()) return SendError(response, 400, kInvalidRequest, "Mcp-Session-Id header required");
    std::string supported;
    for (auto v : kProtocolVersions) supported += (supported.empty() ? "" : ", ") + std::string(v);
    return SendError(response, 400, kInvalidRequest,
                     "unsupported MCP-Protocol-Version; supported: " + supported);
  }

  kj::Promise<void> Post(Response& response, std::string text, const std::string& session_id,
                         const std::string& version, Caller caller) {
    Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded())
      return SendError(response, 400, kParseError, "parse error: the body is not JSON");
    if (message.is_array())
      return SendError(response, 400, kInvalidRequest,
                       "JSON-RPC batches are not supported; send one message");
    if (!message.is_object())
      return SendError(response, 400, kInvalidRequest, "the body is not a JSON-RPC message");
    bool is_request = message.contains("method") && message.contains("id");
    if (is_request && message["method"] == "initialize") {
      if (!session_id.empty())
        return SendError(response, 400, kInvalidRequest,
                         "initialize starts a session: send it without Mcp-Session-Id");
      return Initialize(response, std::move(message), std::move(caller));
    }
    std::shared_ptr<HttpSession> s;
    uint status = Lookup(session_id, version, caller.subject, &s);
    if (status != 200) return SessionError(response, status, session_id);
    return Dispatch(s, std::move(message), std::move(caller))
        .then([this, &response, is_request, s](Json reply) -> kj::Promise<void> {
          kj::HttpHeaders headers(*table_);
          if (reply.is_null()) return Send(response, 202, headers, "");
          return Send(response, is_request ? 200 : 400, headers, Dump(reply) + "\n");
        });
  }

  kj::Promise<void> Initialize(Response& response, Json message, Caller caller) {
    SweepIdle();
    if (sessions_.size() + initializing_ >= options_.max_sessions)
      return SendError(response, 503, kBusy, "too many MCP sessions; try again later");
    auto s = std::make_shared<HttpSession>();
    s->id = RandomHex(32);
    s->subject = caller.subject;
    s->last_used = timer_.now();
    HttpSession* raw = s.get();
    s->handler = factory_(timer_, [this, raw](Json m) { Notify(*raw, std::move(m)); });
    ++initializing_;
    return Dispatch(s, std::move(message), std::move(caller))
        .attach(kj::defer([this]() { --initializing_; }))
        .then([this, &response, s](Json reply) mutable -> kj::Promise<void> {
          kj::HttpHeaders headers(*table_);
          if (reply.contains("result") && !s->ended) {
            sessions_.emplace(s->id, s);
            headers.set(ids_.session_id, s->id);
            spdlog::info("mcp http: session {} opened by {}", s->id, s->subject);
          } else {
            s->ended = true;
            s->handler->Close();
          }
          return Send(response, 200, headers, Dump(reply) + "\n");
        });
  }

  // Runs one message on the session, bounded in time; the session lives at
  // least as long as the call.
  kj::Promise<Json> Dispatch(std::shared_ptr<HttpSession> s, Json message, Caller caller) {
    Json id = message.contains("id") ? message["id"] : Json(nullptr);
    ++s->active;
    auto call = kj::evalNow([&]() { return s->handler->Handle(std::move(message), std::move(caller)); });
    return timer_.timeoutAfter(tuning_.request_timeout, kj::mv(call))
        .then([](Json reply) { return reply; },
              [id](kj::Exception&& e) {
                Json reply =
                    ErrorBody(kInternalError, std::string("the call failed: ") + e.getDescription().cStr());
                reply["id"] = id;
                return reply;
              })
        .attach(kj::defer([this, s]() {
          --s->active;
          s->last_used = timer_.now();
        }));
  }

  kj::Promise<void> Get(Response& response, const std::string& session_id, const std::string& version,
                        const std::string& subject, const std::string& last_event) {
    std::shared_ptr<HttpSession> s;
    uint status = Lookup(session_id, version, subject, &s);
    if (status != 200) return SessionError(response, status, session_id);
    if (s->stream) s->stream->End();  // one GET stream per session: the newest wins
    kj::HttpHeaders headers(*table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, "text/event-stream");
    headers.set(ids_.cache_control, "no-cache");
    auto out = response.send(200, "OK", headers);
    auto stream = kj::heap<StreamImpl>(timer_, tuning_, s, kj::mv(out));
    s->stream = stream.get();
    stream->Push(": stream open\n\n");
    if (!last_event.empty()) {
      char* end = nullptr;
      uint64_t after = std::strtoull(last_event.c_str(), &end, 10);
      if (end && *end == '\0')
        for (auto& [id, text] : s->replay)
          if (id > after) stream->Push(text);
    }
    auto run = stream->Run();
    return run.attach(kj::mv(stream));
  }

  // A server-initiated message: numbered, kept for replay, sent on the
  // session's stream if one is open.
  void Notify(HttpSession& s, Json message) {
    if (s.ended) return;
    uint64_t id = s.next_event_id++;
    std::string text = "id: " + std::to_string(id) + "\ndata: " + Dump(message) + "\n\n";
    s.replay.emplace_back(id, text);
    s.replay_bytes += text.size();
    while (!s.replay.empty() &&
           (s.replay.size() > tuning_.replay_events || s.replay_bytes > tuning_.replay_bytes)) {
      s.replay_bytes -= s.replay.front().second.size();
      s.replay.pop_front();
    }
    if (s.stream) s.stream->Push(std::move(text));
  }

  void EndSession(std::shared_ptr<HttpSession> s) {
    if (!s->ended) {
      s->ended = true;
      s->handler->Close();
    }
    if (s->stream) s->stream->End();
    sessions_.erase(s->id);
  }

  kj::Timer& timer_;
  HttpOptions options_;
  rpc::Nexus::Client daemon_;
  HandlerFactory factory_;
  HttpTuning tuning_;
  HeaderIds ids_;
  kj::Own<kj::HttpHeaderTable> table_;
  kj::Maybe<kj::TlsKeypair> keypair_;
  kj::Own<kj::TlsContext> tls_;
  kj::Own<kj::ConnectionReceiver> listener_;
  uint16_t port_ = 0;
  std::map<std::string, std::shared_ptr<HttpSession>> sessions_;
  size_t initializing_ = 0;
  size_t connections_ = 0;
  kj::Own<kj::HttpServer> http_;
  LogTaskErrors task_errors_;
  kj::Own<kj::TaskSet> tasks_;  // the connections; destroyed first
};

}  // namespace

Result<std::unique_ptr<HttpServer>> ListenWithHandlers(kj::AsyncIoContext& io, HttpOptions options,
                                                       rpc::Nexus::Client daemon, HandlerFactory factory,
                                                       HttpTuning tuning) {
  auto server =
      std::make_unique<ServerImpl>(io, std::move(options), kj::mv(daemon), std::move(factory), tuning);
  NEXUS_RETURN_IF_ERROR(server->Bind(io));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace nexus::mcp
