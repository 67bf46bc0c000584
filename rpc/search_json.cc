#include "rpc/search_json.h"

#include <string>

#include "base/layout.h"

namespace nexus {

void AddResultPlace(nlohmann::json& j, std::string_view path, rpc::DocumentPart::Reader part,
                    std::string_view zone_path_key) {
  const std::string_view zone = layout::ZoneOf(path);
  std::string_view inside = path;
  if (zone != layout::kRootZone) {
    inside.remove_prefix(std::min(inside.size(), layout::kZonesDir.size() + 1 + zone.size()));
    if (inside.empty()) inside = "/";
  }
  j["zone"] = std::string(zone);
  j[std::string(zone_path_key)] = std::string(inside);
  switch (part.getKind()) {
    case rpc::DocumentPart::Kind::PAGE:
      j["page"] = part.getNumber();
      break;
    case rpc::DocumentPart::Kind::SLIDE:
      j["slide"] = part.getNumber();
      break;
    case rpc::DocumentPart::Kind::SHEET:
      if (part.getName().size() > 0)
        j["sheet"] = std::string(part.getName());
      else
        j["sheet"] = part.getNumber();
      break;
    default:
      break;
  }
}

std::string PartSuffix(rpc::DocumentPart::Reader part) {
  switch (part.getKind()) {
    case rpc::DocumentPart::Kind::PAGE:
      return " (page " + std::to_string(part.getNumber()) + ")";
    case rpc::DocumentPart::Kind::SLIDE:
      return " (slide " + std::to_string(part.getNumber()) + ")";
    case rpc::DocumentPart::Kind::SHEET:
      return " (sheet " +
             (part.getName().size() > 0 ? std::string(part.getName()) : std::to_string(part.getNumber())) +
             ")";
    default:
      return "";
  }
}

}  // namespace nexus
