// The stdio transport of the MCP server: newline-delimited JSON-RPC
// messages on stdin, responses and notifications on stdout, one message per
// line (the way desktop clients and agent runtimes launch tools). Nothing
// but MCP messages is ever written to stdout; diagnostics go to stderr.
//
// Threading: runs on the caller's kj event loop.
#pragma once

#include <kj/async-io.h>

#include "mcp/session.h"

namespace nexus::mcp {

struct StdioOptions {
  int in_fd = 0;
  int out_fd = 1;
  // A longer line is answered with an error and skipped, never buffered.
  size_t max_line_bytes = 16u << 20;
  SessionOptions session;
};

// Serves one session on the two descriptors, every message acting as
// `caller`, until end of input (then waits for the calls in flight).
kj::Promise<void> ServeStdio(kj::AsyncIoContext& io, StdioOptions options, Caller caller);

}  // namespace nexus::mcp
