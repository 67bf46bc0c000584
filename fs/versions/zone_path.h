// Namespace paths and the version store's (zone, path) pairs.
//
// "/zone/Z/rest" is file "rest" of zone Z (so /zone/local, the workspace,
// is zone "local"); every other path belongs to zone "root" ("/a/b" is
// "a/b" there). A /zone/Z whose name is not a valid zone name
// (layout::ValidateZoneName) stays in zone "root". The rules live in
// base/layout.h; these are the store's (zone, relative path) view of them.
#pragma once

#include <string>
#include <string_view>

namespace nexus::versions {

struct ZonePath {
  std::string zone;
  std::string path;  // relative to the zone; "" for the zone's root
};

// A path that does not parse as a namespace path (NsPath::Parse) maps to
// the root of zone "root".
ZonePath SplitNamespacePath(std::string_view ns_path);
// The inverse: ("root", "a/b") -> "/a/b"; ("local", "x") -> "/zone/local/x".
std::string NamespacePath(const std::string& zone, const std::string& path);

}  // namespace nexus::versions
