// MCP tool profiles as data: named sets of tool ids, each built on the
// profiles it inherits (docs/mcp.md "Tool profiles"). A built-in YAML
// document compiled into the binary holds the default matrix (minimal,
// coding, search, execution, full); an operator file may add profiles or
// redefine built-in ones. Profiles only describe tool sets: granting them
// is writing `viewer` tuples on `tool:NAME` (rpc/server/tools_service.cc).
//
// The YAML form (the built-in document and an operator file alike):
//   profiles:
//     - name: coding
//       description: edit code and search text
//       inherits: [minimal]
//       tools: [nexus_write_file, nexus_grep]
//
// Thread-safety: a ToolProfiles is immutable after Load; share it freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus {

struct ToolProfile {
  std::string name;
  std::string description;
  std::vector<std::string> inherits;   // as written
  std::vector<std::string> tools;      // its own tools, as written
  std::vector<std::string> all_tools;  // its own and every inherited tool, sorted, once
};

class ToolProfiles {
 public:
  // The profile subjects without tool grants use unless configured.
  static constexpr std::string_view kDefaultProfile = "minimal";
  // The default profile name that means "no tools".
  static constexpr std::string_view kNoProfile = "none";

  // The built-in profiles, then `operator_file`'s (none when empty), with
  // `default_profile` (a profile's name, or "none"). EINVAL, naming the
  // file and the problem, for unreadable or bad YAML, an unknown inherited
  // profile, an inheritance cycle, an invalid tool id or an unknown default.
  static Result<ToolProfiles> Load(const std::string& operator_file = "",
                                   std::string_view default_profile = kDefaultProfile);
  // The same from text (`source` names it in errors), over the built-in set.
  static Result<ToolProfiles> LoadText(std::string_view yaml, const std::string& source,
                                       std::string_view default_profile = kDefaultProfile);

  // Every profile: the built-in ones in their order (redefined in place),
  // then the operator's new ones in theirs.
  const std::vector<ToolProfile>& profiles() const { return profiles_; }
  // Null for an unknown name.
  const ToolProfile* Find(std::string_view name) const;
  // "none" or a profile's name.
  const std::string& default_profile() const { return default_profile_; }
  // The default profile's tools (sorted); empty for "none".
  const std::vector<std::string>& default_tools() const { return default_tools_; }
  // Every tool some profile names, sorted, once.
  const std::vector<std::string>& known_tools() const { return known_tools_; }
  // "built-in", or "built-in + FILE".
  const std::string& source() const { return source_; }
  // The first profile whose tool set is exactly `sorted_tools`; "" if none.
  std::string ProfileWithTools(const std::vector<std::string>& sorted_tools) const;

  // OK when `id` can name a tool: 1-128 of letters, digits, '_', '-', '.'.
  static Status ValidToolId(std::string_view id);

 private:
  Status Merge(std::string_view yaml, const std::string& source);
  Status Resolve(const std::string& source, std::string_view default_profile);

  std::vector<ToolProfile> profiles_;
  std::string default_profile_;
  std::vector<std::string> default_tools_;
  std::vector<std::string> known_tools_;
  std::string source_ = "built-in";
};

}  // namespace nexus
