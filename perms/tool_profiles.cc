#include "perms/tool_profiles.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "base/file_util.h"

namespace nexus {
namespace {

// The default matrix (the user guide's §9.5).
constexpr std::string_view kBuiltin = R"yaml(
profiles:
  - name: minimal
    description: read and inspect workspace files
    inherits: []
    tools: [nexus_read_file, nexus_list_files, nexus_file_info, nexus_glob]
  - name: coding
    description: edit code, search text, use file history and mailboxes
    inherits: [minimal]
    tools: [nexus_write_file, nexus_edit_file, nexus_delete_file, nexus_mkdir, nexus_rmdir,
            nexus_rename_file, nexus_grep, nexus_file_history, nexus_file_diff, nexus_file_rollback,
            nexus_ipc_send, nexus_ipc_inbox]
  - name: search
    description: search without mutation rights
    inherits: [minimal]
    tools: [nexus_grep, nexus_semantic_search]
  - name: execution
    description: create and use a sandbox runtime
    inherits: [coding]
    tools: [nexus_python, nexus_bash, nexus_sandbox_create, nexus_sandbox_list, nexus_sandbox_stop]
  - name: full
    description: inspect tools, workflows and hub admin surfaces
    inherits: [execution]
    tools: [nexus_discovery_search_tools, nexus_discovery_get_tool_details, nexus_list_workflows,
            nexus_execute_workflow, nexus_hub_admin]
)yaml";

Status Bad(const std::string& source, const std::string& what) {
  return Status::Error(EINVAL, source + ": " + what);
}

Result<std::vector<std::string>> Strings(const YAML::Node& n, const std::string& source,
                                         const std::string& where) {
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) return Bad(source, where + " must be a list");
  for (const auto& item : n) {
    if (!item.IsScalar()) return Bad(source, where + " must be a list of names");
    out.push_back(item.as<std::string>());
  }
  return out;
}

}  // namespace

Status ToolProfiles::ValidToolId(std::string_view id) {
  bool ok = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
  if (ok && id != "." && id != "..") return Status::Ok();
  return Status::Error(
      EINVAL, "invalid tool id \"" + std::string(id) + "\" (1-128 of letters, digits, '_', '-', '.')");
}

Status ToolProfiles::Merge(std::string_view yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Bad(source, std::string("bad YAML: ") + e.what());
  }
  if (!root.IsMap() || !root["profiles"] || !root["profiles"].IsSequence())
    return Bad(source, "needs a top-level `profiles:` list");
  std::set<std::string> seen;
  for (const auto& n : root["profiles"]) {
    if (!n.IsMap()) return Bad(source, "every profile must be a map with name, description, inherits, tools");
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      if (key != "name" && key != "description" && key != "inherits" && key != "tools")
        return Bad(source, "unknown profile key `" + key + "`");
    }
    ToolProfile p;
    if (!n["name"] || !n["name"].IsScalar()) return Bad(source, "a profile has no name");
    p.name = n["name"].as<std::string>();
    if (p.name == kNoProfile || ValidToolId(p.name).code() != 0)
      return Bad(source, "invalid profile name \"" + p.name + "\"");
    if (!seen.insert(p.name).second) return Bad(source, "profile " + p.name + " is defined twice");
    if (n["description"]) {
      if (!n["description"].IsScalar())
        return Bad(source, "profile " + p.name + ": description must be text");
      p.description = n["description"].as<std::string>();
    }
    NEXUS_ASSIGN_OR_RETURN(p.inherits, Strings(n["inherits"], source, "profile " + p.name + ": inherits"));
    NEXUS_ASSIGN_OR_RETURN(p.tools, Strings(n["tools"], source, "profile " + p.name + ": tools"));
    for (const auto& t : p.tools) {
      Status st = ValidToolId(t);
      if (!st.ok()) return Bad(source, "profile " + p.name + ": " + st.message());
    }
    auto it = std::find_if(profiles_.begin(), profiles_.end(),
                           [&](const ToolProfile& q) { return q.name == p.name; });
    if (it != profiles_.end()) {
      *it = std::move(p);
    } else {
      profiles_.push_back(std::move(p));
    }
  }
  return Status::Ok();
}

Status ToolProfiles::Resolve(const std::string& source, std::string_view default_profile) {
  std::map<std::string, ToolProfile*> by_name;
  for (auto& p : profiles_) by_name[p.name] = &p;
  // Depth-first over the inheritance graph; `state` 1 = on the stack, 2 = done.
  std::map<std::string, int> state;
  std::function<Status(ToolProfile&, std::vector<std::string>&)> visit =
      [&](ToolProfile& p, std::vector<std::string>& stack) -> Status {
    int& s = state[p.name];
    if (s == 2) return Status::Ok();
    stack.push_back(p.name);
    if (s == 1) {
      std::string cycle;
      for (const auto& n : stack) cycle += (cycle.empty() ? "" : " -> ") + n;
      return Bad(source, "profile inheritance cycle: " + cycle);
    }
    s = 1;
    std::set<std::string> all(p.tools.begin(), p.tools.end());
    for (const auto& parent : p.inherits) {
      auto it = by_name.find(parent);
      if (it == by_name.end())
        return Bad(source, "profile " + p.name + " inherits unknown profile " + parent);
      NEXUS_RETURN_IF_ERROR(visit(*it->second, stack));
      all.insert(it->second->all_tools.begin(), it->second->all_tools.end());
    }
    p.all_tools.assign(all.begin(), all.end());
    state[p.name] = 2;
    stack.pop_back();
    return Status::Ok();
  };
  std::set<std::string> known;
  for (auto& p : profiles_) {
    std::vector<std::string> stack;
    NEXUS_RETURN_IF_ERROR(visit(p, stack));
    known.insert(p.all_tools.begin(), p.all_tools.end());
  }
  known_tools_.assign(known.begin(), known.end());
  default_profile_ = std::string(default_profile);
  default_tools_.clear();
  if (default_profile != kNoProfile) {
    const ToolProfile* d = Find(default_profile);
    if (!d)
      return Status::Error(
          EINVAL, "default MCP tool profile \"" + default_profile_ + "\" is not a profile (nor \"none\")");
    default_tools_ = d->all_tools;
  }
  return Status::Ok();
}

Result<ToolProfiles> ToolProfiles::LoadText(std::string_view yaml, const std::string& source,
                                            std::string_view default_profile) {
  ToolProfiles out;
  NEXUS_RETURN_IF_ERROR(out.Merge(kBuiltin, "built-in tool profiles"));
  NEXUS_RETURN_IF_ERROR(out.Merge(yaml, source));
  out.source_ = "built-in + " + source;
  NEXUS_RETURN_IF_ERROR(out.Resolve(source, default_profile));
  return out;
}

Result<ToolProfiles> ToolProfiles::Load(const std::string& operator_file, std::string_view default_profile) {
  if (operator_file.empty()) {
    ToolProfiles out;
    NEXUS_RETURN_IF_ERROR(out.Merge(kBuiltin, "built-in tool profiles"));
    NEXUS_RETURN_IF_ERROR(out.Resolve("built-in tool profiles", default_profile));
    return out;
  }
  auto text = ReadTextFile(operator_file, "tool profiles");
  if (!text.ok()) return Bad(operator_file, text.status().message());
  return LoadText(*text, operator_file, default_profile);
}

const ToolProfile* ToolProfiles::Find(std::string_view name) const {
  for (const auto& p : profiles_)
    if (p.name == name) return &p;
  return nullptr;
}

std::string ToolProfiles::ProfileWithTools(const std::vector<std::string>& sorted_tools) const {
  for (const auto& p : profiles_)
    if (p.all_tools == sorted_tools) return p.name;
  return "";
}

}  // namespace nexus
