// The Streamable HTTP transport (mcp/http.h) with the MCP session behind a
// small interface: HttpServer::Listen plugs in mcp::Session; unit tests
// plug in a double so the transport's rules (authentication, session
// headers, SSE streams and their replay, limits) are tested on their own.
//
// Threading: everything here runs on the kj event loop of the `io` given to
// ListenWithHandlers and is called only there.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include <kj/async-io.h>
#include <kj/time.h>

#include "base/status.h"
#include "mcp/http.h"
#include "mcp/session.h"

namespace nexus::mcp {

// What the transport needs of one MCP session (mcp::Session's contract).
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  // A request resolves to its response; a notification or a response to
  // null. Never rejects (a rejection is answered as an internal error).
  virtual kj::Promise<Json> Handle(Json message, Caller caller) = 0;
  // Ends the session's subscriptions; called once, when the session ends.
  virtual void Close() = 0;
};

// Makes the handler of a new session; `notify` sends a server-initiated
// message on the session's SSE stream and stays valid as long as the
// handler lives.
using HandlerFactory = std::function<std::unique_ptr<MessageHandler>(kj::Timer& timer, Notify notify)>;

// Timings and bounds that are not the operator's business; tests shorten
// them.
struct HttpTuning {
  // nexusd must answer an authenticate within this (else 503).
  kj::Duration auth_timeout = 10 * kj::SECONDS;
  // A message is answered within this (else 503 with a JSON-RPC error).
  kj::Duration request_timeout = 300 * kj::SECONDS;
  // An SSE stream with nothing to send gets a comment this often.
  kj::Duration keepalive = 15 * kj::SECONDS;
  // An SSE write the client does not take within this drops the stream.
  kj::Duration write_timeout = 30 * kj::SECONDS;
  kj::Duration tls_handshake_timeout = 10 * kj::SECONDS;
  // Events kept per session for Last-Event-ID replay: at most this many and
  // this many bytes (the oldest go first).
  size_t replay_events = 1000;
  size_t replay_bytes = 4u << 20;
  // Bytes queued on one SSE stream for a client that does not read; past
  // this the stream is dropped (the replay buffer stays).
  size_t stream_queue_bytes = 1u << 20;
  // Connections open at once (open SSE streams included); more are closed
  // as soon as they are accepted.
  size_t max_connections = 1024;
};

Result<std::unique_ptr<HttpServer>> ListenWithHandlers(kj::AsyncIoContext& io, HttpOptions options,
                                                       rpc::Nexus::Client daemon, HandlerFactory factory,
                                                       HttpTuning tuning = {});

}  // namespace nexus::mcp
