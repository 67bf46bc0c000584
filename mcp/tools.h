// The MCP server's tools, in one table: each tool's name, a description an
// LLM can act on, its input and output JSON schemas, its annotations and
// the handler that does the work on nexusd (docs/mcp.md "Tools").
//
// A handler runs on the daemon session it is given (the caller's, labelled
// "mcp:<tool>" so versions name the tool); the daemon's checks decide what
// it may do. A domain failure (not found, permission denied, conflict) is a
// tool result with isError; a broken connection is an exception, which the
// session turns into a JSON-RPC error.
//
// Threading: the table is immutable; handlers run on the session's loop.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <kj/async.h>

#include "base/status.h"
#include "mcp/session.h"
#include "rpc/nexus.capnp.h"

namespace nexus::mcp {

// What a handler works with.
struct ToolContext {
  rpc::Session::Client session;  // the caller's session, labelled for the tool
  std::string subject;           // the caller ("agent:ID", "user:NAME")
  // The names of the tools the caller may use, in table order (for the
  // discovery tools).
  std::function<kj::Promise<std::vector<std::string>>()> visible_tools;
};

// A tool's answer: structured content (null when the tool has no output
// schema or on error) and the text for people and LLMs.
struct ToolOutcome {
  Json structured;
  std::string text;
  bool is_error = false;

  // The CallToolResult: {content: [{type: text}], structuredContent?, isError}.
  Json ToResult() const;
};

using ToolHandler = std::function<kj::Promise<ToolOutcome>(ToolContext ctx, Json args)>;

struct ToolDef {
  std::string name;
  std::string title;
  std::string description;
  Json input_schema;
  Json output_schema;  // null: the result is text only
  bool read_only = false;
  bool destructive = false;
  bool idempotent = false;
  // Offered only when a sandbox provider is available.
  bool needs_sandbox = false;
  ToolHandler handler;
};

// Every tool this server implements, in the order tools/list shows them.
const std::vector<ToolDef>& ToolTable();
// The tool named `name`, or nullptr.
const ToolDef* FindTool(std::string_view name);
// The tool as tools/list describes it.
Json ToolListEntry(const ToolDef& tool);

// OK when `args` fits the tool's input schema (the subset of JSON Schema the
// table uses: types, required, enum, minimum, array items, no unknown
// properties); EINVAL naming the argument otherwise.
Status CheckArguments(const ToolDef& tool, const Json& args);

// The isError outcome for a failed daemon call about `what` (a path, an
// agent): "not found: /a", "permission denied: /a", "conflict: ...".
ToolOutcome ToolFailure(const Status& st, std::string_view what = {});

// A namespace path from a tool argument: "a/b" and "nexus:///a/b" are
// "/a/b".
std::string NamespacePath(std::string_view arg);

// The git blob id of `data` (what FileStat.contentId holds).
std::string ContentId(std::string_view data);

}  // namespace nexus::mcp
