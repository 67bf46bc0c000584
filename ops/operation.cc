#include "ops/operation.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace nexus::ops {
namespace {

constexpr std::array<std::pair<OpKind, std::string_view>, 15> kKinds = {{
    {OpKind::kCreate, "create"},
    {OpKind::kWrite, "write"},
    {OpKind::kTruncate, "truncate"},
    {OpKind::kRename, "rename"},
    {OpKind::kLink, "link"},
    {OpKind::kSymlink, "symlink"},
    {OpKind::kUnlink, "unlink"},
    {OpKind::kMkdir, "mkdir"},
    {OpKind::kRmdir, "rmdir"},
    {OpKind::kChmod, "chmod"},
    {OpKind::kChown, "chown"},
    {OpKind::kSetXattr, "setxattr"},
    {OpKind::kRemoveXattr, "removexattr"},
    {OpKind::kRestore, "restore"},
    {OpKind::kRollback, "rollback"},
}};

}  // namespace

std::string_view KindName(OpKind kind) {
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "unknown";
}

std::optional<OpKind> ParseKind(std::string_view name) {
  for (const auto& [k, n] : kKinds)
    if (n == name) return k;
  return std::nullopt;
}

bool PathIsUnder(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") return !path.empty();
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool OpFilter::Matches(const Operation& op) const {
  if (since_ns && op.time_ns < since_ns) return false;
  if (until_ns && op.time_ns > until_ns) return false;
  if (!path.empty() && !PathIsUnder(op.path, path) && !PathIsUnder(op.old_path, path)) return false;
  if (!subject.empty() && op.subject != subject) return false;
  if (!agent_id.empty() && op.agent_id != agent_id) return false;
  if (!task_id.empty() && op.task_id != task_id) return false;
  if (kind && op.kind != *kind) return false;
  if (!ids.empty() && std::find(ids.begin(), ids.end(), op.id) == ids.end()) return false;
  return true;
}

std::string ToJsonLine(const Operation& op) {
  nlohmann::ordered_json j;
  j["cursor"] = op.id;
  j["time_ns"] = op.time_ns;
  j["op"] = KindName(op.kind);
  j["path"] = op.path;
  j["old_path"] = op.old_path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(op.old_path);
  j["subject"] = op.subject;
  j["uid"] = op.uid;
  j["pid"] = op.pid;
  j["command"] = op.command;
  j["agent_id"] = op.agent_id;
  j["task_id"] = op.task_id;
  j["version"] = op.version_after ? nlohmann::ordered_json(op.version_after) : nlohmann::ordered_json();
  if (op.version_before) j["version_before"] = op.version_before;
  if (!op.detail.empty()) {
    auto detail = nlohmann::ordered_json::parse(op.detail, nullptr, /*allow_exceptions=*/false);
    if (!detail.is_discarded()) j["detail"] = std::move(detail);
  }
  // Paths are bytes: never fail on a name that is not UTF-8.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace nexus::ops
