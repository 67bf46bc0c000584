// The Model Context Protocol server of NexusFS: one MCP session's protocol
// state (lifecycle, tools, resources, subscriptions), independent of the
// transport that carries its messages (mcp/stdio.h, mcp/http.h).
//
// The server is a client of nexusd: every tool call is made on the daemon
// session of the subject the message acts as (Caller), so the daemon's
// checks (ReBAC, POSIX modes, tool grants) decide what it may do, exactly
// as on the mount and the socket. See docs/mcp.md.
//
// Threading: everything here lives on one kj event loop thread (the
// NexusClient's) and is called only there.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <kj/async.h>
#include <kj/timer.h>
#include <nlohmann/json.hpp>

#include "rpc/nexus.capnp.h"

namespace nexus::mcp {

using Json = nlohmann::json;

// The protocol revisions this server speaks, newest first; initialize
// answers with the client's revision when it is one of these, else the
// newest.
inline constexpr std::array<std::string_view, 2> kProtocolVersions = {"2025-11-25", "2025-06-18"};

// JSON-RPC 2.0 error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

// Who a message acts as: a daemon session and its subject.
struct Caller {
  rpc::Session::Client daemon;
  std::string subject;  // "agent:ID", "user:NAME"
};

struct SessionOptions {
  std::string server_name = "nexusfs";
  std::string server_version;
  // Requests of one session running at once; more are answered with a
  // JSON-RPC error (never queued without bound).
  size_t max_in_flight = 32;
  // The execution tools (nexus_bash, nexus_python, nexus_sandbox_*) are
  // offered only when a sandbox provider is available.
  bool sandbox_available = false;
};

// Sends a server-initiated message (a notification) to the session's
// client; the transport queues or streams it. Called on the loop thread.
using Notify = std::function<void(Json message)>;

class Session {
 public:
  Session(SessionOptions options, kj::Timer& timer, Notify notify);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One JSON-RPC message, already parsed. A request resolves to its
  // response (a result or an error object, never an exception); a
  // notification or a response resolves to a null Json. Anything that is
  // not a JSON-RPC 2.0 message resolves to an invalid-request error.
  kj::Promise<Json> Handle(Json message, Caller caller);

  // The response to a line or body that is not JSON (-32700, id null).
  static Json ParseErrorResponse(std::string_view why);

  bool initialized() const;
  // The revision agreed at initialize; empty before.
  const std::string& protocol_version() const;
  // Ends every resource subscription (drops the daemon watches).
  void Close();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace nexus::mcp
