// Line diffs for the MCP server's edit tool: a unified diff (as `diff -u`
// prints it, 3 lines of context) between two texts.
//
// Lines are compared with their terminators, so a missing final newline is
// a change and is marked "\ No newline at end of file" as GNU diff does.
// The line matching is Myers' O((N+M)D) algorithm after the common prefix
// and suffix are set aside, so a small edit of a large file is cheap.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace nexus::mcp {

// The unified diff turning `before` into `after`, with headers
// "--- a<path>" / "+++ b<path>" (`path` starting with '/'), or "" when the
// texts are equal.
std::string UnifiedDiff(std::string_view before, std::string_view after, std::string_view path,
                        int context = 3);

}  // namespace nexus::mcp
