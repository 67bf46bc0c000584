// The text edits of the MCP server's nexus_edit_file tool: a list of
// {oldText, newText} replacements applied in order, in memory, all or
// nothing.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace nexus::mcp {

struct TextEdit {
  std::string old_text;
  std::string new_text;
};

// `content` with every edit applied in order, each to the result of the
// ones before it. An edit whose old_text is empty, or does not occur
// exactly once, fails the whole list (EINVAL naming the edit, 1-based, and
// how often it matched); nothing is returned then.
Result<std::string> ApplyEdits(std::string content, const std::vector<TextEdit>& edits);

}  // namespace nexus::mcp
