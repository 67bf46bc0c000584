#include "fs/versions/zone_path.h"

#include "base/layout.h"
#include "base/ns_path.h"

namespace nexus::versions {

ZonePath SplitNamespacePath(std::string_view ns_path) {
  auto p = NsPath::Parse(ns_path);
  if (!p.ok()) return {std::string(layout::kRootZone), ""};
  std::string zone = layout::ZoneOf(*p);
  return {zone, std::string(p->RelativeTo(layout::ZoneRoot(zone)))};
}

std::string NamespacePath(const std::string& zone, const std::string& path) {
  auto p = layout::ZoneRoot(zone).JoinRelative(path);
  return p.ok() ? p->str() : layout::ZoneRoot(zone).str();
}

}  // namespace nexus::versions
