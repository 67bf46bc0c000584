#include "base/layout.h"

#include <cerrno>

namespace nexus::layout {

Status ValidateZoneName(std::string_view zone) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EINVAL, "invalid zone name '" + std::string(zone.substr(0, 80)) + "': " + why);
  };
  if (zone.empty()) return bad("empty");
  if (zone.size() > kZoneNameMax) return bad("longer than " + std::to_string(kZoneNameMax) + " bytes");
  for (char c : zone) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return bad("only letters, digits, '.', '_' and '-' are allowed");
  }
  if (zone.front() == '.' || zone.front() == '-') return bad("must not start with '.' or '-'");
  if (zone.ends_with(".lock")) return bad("must not end in '.lock'");
  if (zone.find("..") != std::string_view::npos) return bad("must not contain '..'");
  if (zone == kRootZone) return bad("'root' names the tree outside /zone");
  return Status::Ok();
}

Status ValidateZone(std::string_view zone) {
  return zone == kRootZone ? Status::Ok() : ValidateZoneName(zone);
}

NsPath ZoneRoot(std::string_view zone) {
  if (zone == kRootZone || !IsZoneName(zone)) return NsPath();
  return NsPath::FromValidComponents({std::string(kZonesName), std::string(zone)});
}

std::string ZoneOf(const NsPath& path) { return std::string(ZoneOf(std::string_view(path.str()))); }

std::string_view ZoneOf(std::string_view path) {
  if (!path.starts_with(kZonesDir) || path.size() <= kZonesDir.size() + 1 || path[kZonesDir.size()] != '/')
    return kRootZone;
  std::string_view rest = path.substr(kZonesDir.size() + 1);
  std::string_view zone = rest.substr(0, rest.find('/'));
  return IsZoneName(zone) ? zone : kRootZone;
}

bool IsSystemPath(std::string_view path) { return PathIsUnder(path, kSystemDir); }

std::string AgentHome(std::string_view id) {
  std::string home(kAgentsDir);
  home += '/';
  home += id;
  return home;
}

namespace {
// Splits "/agents/<id>[/<rest>]" into id and rest; false for anything else.
bool SplitAgentPath(std::string_view path, std::string_view* id, std::string_view* rest) {
  if (!path.starts_with(kAgentsDir) || path.size() <= kAgentsDir.size() + 1 || path[kAgentsDir.size()] != '/')
    return false;
  std::string_view tail = path.substr(kAgentsDir.size() + 1);
  const size_t slash = tail.find('/');
  *id = tail.substr(0, slash);
  *rest = slash == std::string_view::npos ? std::string_view() : tail.substr(slash + 1);
  return !id->empty();
}
}  // namespace

std::string_view AgentOf(std::string_view path) {
  std::string_view id, rest;
  return SplitAgentPath(path, &id, &rest) ? id : std::string_view();
}

bool IsAgentStructure(std::string_view path) {
  if (path == kAgentsDir) return true;
  std::string_view id, rest;
  if (!SplitAgentPath(path, &id, &rest)) return false;
  if (rest.empty() || rest == kAgentRecordName) return true;
  for (std::string_view folder : kMailboxFolders)
    if (rest == folder) return true;
  return false;
}

bool IsAgentRecord(std::string_view path) {
  std::string_view id, rest;
  return SplitAgentPath(path, &id, &rest) && rest == kAgentRecordName;
}

}  // namespace nexus::layout
