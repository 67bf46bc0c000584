// The Streamable HTTP transport of the MCP server (MCP 2025-06-18 and
// 2025-11-25): one endpoint, /mcp. POST carries a client message and is
// answered with JSON or an SSE stream; GET opens the session's SSE stream
// for server-initiated messages; DELETE ends the session. Sessions are
// named by the Mcp-Session-Id header; SSE events carry ids so a client
// reconnecting with Last-Event-ID is replayed what it missed.
//
// Every request needs `Authorization: Bearer <API key>` (401 otherwise) and
// acts as the key's subject: the key is authenticated with nexusd on each
// request, so a revoked key fails on its next request. Limits on body
// size, sessions and requests in flight answer with an HTTP or JSON-RPC
// error and never hurt other sessions.
//
// Threading: runs on the caller's kj event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "base/status.h"
#include "mcp/session.h"
#include "rpc/nexus.capnp.h"

namespace nexus::mcp {

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;     // 0: any free port (see HttpServer::port)
  std::string tls_cert;  // PEM files; both or neither (then plain HTTP)
  std::string tls_key;
  size_t max_body_bytes = 4u << 20;
  size_t max_sessions = 256;
  double session_idle_s = 3600;  // a session unused this long is ended
  // Origins a browser-sent request may come from besides localhost ones
  // (DNS-rebinding protection); a request with another Origin is 403.
  std::vector<std::string> allowed_origins;
  SessionOptions session;
};

class HttpServer {
 public:
  // Binds the listener (errors: EADDRINUSE, a bad certificate, ...).
  // `daemon` is the bootstrap capability used to authenticate each
  // request's bearer key.
  static Result<std::unique_ptr<HttpServer>> Listen(kj::AsyncIoContext& io, HttpOptions options,
                                                    rpc::Nexus::Client daemon);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  // Serves until the promise is dropped.
  virtual kj::Promise<void> Run() = 0;
};

}  // namespace nexus::mcp
