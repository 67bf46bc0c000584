// Where a search result lies, as JSON fields shared by every surface that
// prints results (the CLI's --json, the MCP tools).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "rpc/nexus.capnp.h"

namespace nexus {

// Adds to `j`: "zone" (the zone of `path`, "root" outside /zone) and, under
// `zone_path_key`, the path within that zone ("/zone/local/a.py" is "/a.py"
// of zone "local"); for a hit in a document, "page": N (PDF), "slide": N
// (presentation) or "sheet": NAME (spreadsheet; its number when unnamed).
void AddResultPlace(nlohmann::json& j, std::string_view path, rpc::DocumentPart::Reader part,
                    std::string_view zone_path_key = "zone_path");

// " (page 3)", " (sheet Budget)", " (slide 2)" or "" for text files.
std::string PartSuffix(rpc::DocumentPart::Reader part);

}  // namespace nexus
