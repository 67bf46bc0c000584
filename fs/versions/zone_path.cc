#include "fs/versions/zone_path.h"

namespace nexus::versions {
namespace {

constexpr std::string_view kRoot = "root";
constexpr std::string_view kZonePrefix = "/zone/";

bool ValidZone(std::string_view z) {
  if (z.empty() || z.front() == '.' || z.size() > 128) return false;
  for (char c : z)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return z != kRoot;
}

std::string_view TrimSlashes(std::string_view p) {
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p;
}

}  // namespace

ZonePath SplitNamespacePath(std::string_view ns_path) {
  if (ns_path.substr(0, kZonePrefix.size()) == kZonePrefix) {
    std::string_view rest = ns_path.substr(kZonePrefix.size());
    size_t slash = rest.find('/');
    std::string_view zone = rest.substr(0, slash);
    if (ValidZone(zone))
      return {std::string(zone),
              std::string(TrimSlashes(slash == std::string_view::npos ? "" : rest.substr(slash)))};
  }
  return {std::string(kRoot), std::string(TrimSlashes(ns_path))};
}

std::string NamespacePath(const std::string& zone, const std::string& path) {
  std::string base = zone == kRoot ? "" : std::string(kZonePrefix) + zone;
  std::string rel(TrimSlashes(path));
  if (rel.empty()) return base.empty() ? "/" : base;
  return base + "/" + rel;
}

}  // namespace nexus::versions
