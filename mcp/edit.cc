#include "mcp/edit.h"

#include <cerrno>

namespace nexus::mcp {

Result<std::string> ApplyEdits(std::string content, const std::vector<TextEdit>& edits) {
  for (size_t i = 0; i < edits.size(); ++i) {
    const std::string name = "edit " + std::to_string(i + 1);
    const std::string& old_text = edits[i].old_text;
    if (old_text.empty()) return Status::Error(EINVAL, name + ": oldText is empty");
    const size_t at = content.find(old_text);
    if (at == std::string::npos)
      return Status::Error(EINVAL, name +
                                       ": oldText not found (it must match the file exactly, "
                                       "whitespace and line breaks included); nothing was changed");
    // Overlapping occurrences count too: "aa" occurs twice in "aaa".
    size_t matches = 1;
    for (size_t next = content.find(old_text, at + 1); next != std::string::npos;
         next = content.find(old_text, next + 1))
      ++matches;
    if (matches > 1)
      return Status::Error(EINVAL, name + ": oldText matches " + std::to_string(matches) +
                                       " times; include more surrounding lines so it matches once; "
                                       "nothing was changed");
    content.replace(at, old_text.size(), edits[i].new_text);
  }
  return content;
}

}  // namespace nexus::mcp
