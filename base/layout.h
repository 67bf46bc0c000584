// The namespace's reserved layout: the names NexusFS itself serves, in one
// place, and the one rule for zone names.
//
//   /.nexus            read-only history (versions, snapshots; root only) and
//                      activity files (everyone, filtered); hidden
//   /zone/<z>          zone <z>'s tree (/zone/local is the workspace)
//   /agents            the agent registry: /agents/<id>/ is agent <id>'s home
//                      (AGENT.json, its record, read-only; inbox/,
//                      processed/, dead_letter/, its mailbox)
//   /forks             copy-on-write forks
//   /tools             tools served to agents
//
// A top-level user folder found at start with a name NexusFS now reserves is
// renamed aside to "<name>.user-<n>" (the smallest free n), never lost or
// shadowed; the folders NexusFS makes there carry kReservedXattr and stay.
//
// Thread-safety: constants and pure functions.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "base/ns_path.h"
#include "base/status.h"

namespace nexus::layout {

inline constexpr std::string_view kSystemName = ".nexus";
inline constexpr std::string_view kSystemDir = "/.nexus";
inline constexpr std::string_view kVersionsDir = "/.nexus/versions";
inline constexpr std::string_view kSnapshotsDir = "/.nexus/snapshots";
inline constexpr std::string_view kActivityDir = "/.nexus/activity";
inline constexpr std::string_view kZonesName = "zone";
inline constexpr std::string_view kZonesDir = "/zone";
inline constexpr std::string_view kAgentsName = "agents";
inline constexpr std::string_view kAgentsDir = "/agents";
inline constexpr std::string_view kForksName = "forks";
inline constexpr std::string_view kToolsName = "tools";

// The zone of every path outside /zone/<z>.
inline constexpr std::string_view kRootZone = "root";
// The zone of the host workspace, mounted at /zone/local.
inline constexpr std::string_view kLocalZone = "local";
inline constexpr size_t kZoneNameMax = 64;

// Top-level names reserved for what NexusFS serves there. ".nexus" and
// "zone" have always been NexusFS's; the rest are renamed aside at start
// when a user folder holds them.
inline constexpr std::array<std::string_view, 3> kRenamedAsideNames = {kAgentsName, kForksName, kToolsName};
// The xattr (value: the name) of a top-level folder NexusFS made at a
// reserved name; only privileged processes may set trusted.* xattrs, so a
// user's folder cannot pass for one.
inline constexpr std::string_view kReservedXattr = "trusted.nexus.reserved";
// A fork merge writes each file's merged content under a temporary name
// beginning with this, beside its target, and renames it over the target:
// such names are never versioned nor logged (the target is, at the rename).
// (Files a merge moves aside to break a cycle of renames keep their
// history: they are named kMergeAsidePrefix...)
inline constexpr std::string_view kMergeTempPrefix = ".nexus-merge-";
inline constexpr std::string_view kMergeAsidePrefix = ".nexus-aside-";

// The one zone-name rule, used by every part (versions, ReBAC, the socket,
// the CLI, the mesh): 1 to 64 bytes of ASCII letters, digits, '.', '_' and
// '-'; not starting with '.' or '-'; not ending in ".lock" and holding no
// ".." (a zone name is also a git ref component); not "root", which names
// the tree outside /zone. EINVAL with the reason otherwise.
Status ValidateZoneName(std::string_view zone);
inline bool IsZoneName(std::string_view zone) { return ValidateZoneName(zone).ok(); }
// A zone a path can belong to: kRootZone or a valid zone name.
Status ValidateZone(std::string_view zone);

// "/zone/<zone>" for a valid zone; "/" for kRootZone.
NsPath ZoneRoot(std::string_view zone);

// The zone `path` belongs to: <z> for "/zone/<z>" and below when <z> is a
// valid zone name, else kRootZone.
std::string ZoneOf(const NsPath& path);
// The same for a string path known to be canonical; a view into `path`
// (or kRootZone).
std::string_view ZoneOf(std::string_view path);

// An agent's home and what NexusFS keeps in it: the record (written by the
// daemon on every committed change, read-only for everyone else) and the
// mailbox folders.
inline constexpr std::string_view kAgentRecordName = "AGENT.json";
inline constexpr std::string_view kInboxName = "inbox";
inline constexpr std::string_view kProcessedName = "processed";
inline constexpr std::string_view kDeadLetterName = "dead_letter";
inline constexpr std::array<std::string_view, 3> kMailboxFolders = {kInboxName, kProcessedName,
                                                                    kDeadLetterName};

// "/agents/<id>" (the id is not checked here; perms/ owns the agent-id rule).
std::string AgentHome(std::string_view id);
// The agent id of a path at or below "/agents/<id>"; empty otherwise.
std::string_view AgentOf(std::string_view path);
// What only the daemon creates, renames or removes: "/agents", every
// "/agents/<id>", and in a home its record and its mailbox folders.
bool IsAgentStructure(std::string_view path);
// "/agents/<id>/AGENT.json": nobody but the daemon writes it.
bool IsAgentRecord(std::string_view path);

// Whether `path` is inside the read-only history tree /.nexus.
bool IsSystemPath(std::string_view path);

}  // namespace nexus::layout
