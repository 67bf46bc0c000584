// The scenario table of nexus_posix_compare.
//
// A scenario is a named, deterministic sequence of Probe calls. It runs in a
// fresh empty directory that is its working directory, so every path in it is
// relative and the two runs (native root, mount) issue identical calls. It
// must not branch on anything but the results it records, and must not
// hard-code expected results: the native run is the expectation.
//
// Each scenarios_*.cc file contributes one family; AllScenarios() joins them.
#pragma once

#include <string_view>
#include <vector>

#include "probe.h"

namespace posix_compare {

// Who the scenario body runs as.
enum class Privilege {
  kAny,   // root in a root run; the --as-uid identity (from the start) in a user run
  kRoot,  // needs root (e.g. chown to another user); skipped in a user run
  kUser,  // sets up as root, then calls Probe::as_user(); needs --as-uid
};

struct Scenario {
  std::string_view name;     // "family.case", unique; also the directory name
  std::string_view summary;  // one line for --list
  Privilege privilege;
  void (*body)(Probe&);
};

std::vector<Scenario> FileScenarios();         // open, read/write, truncate, sparse, fallocate
std::vector<Scenario> NamespaceScenarios();    // mkdir/rmdir/unlink, rename, links, symlinks, readdir
std::vector<Scenario> MetadataScenarios();     // chmod/chown, timestamps, xattrs, statfs
std::vector<Scenario> ConcurrencyScenarios();  // flock, fcntl locks, mmap, fsync
std::vector<Scenario> PermissionScenarios();   // non-root permission checks (kUser)

// All families in a stable order.
std::vector<Scenario> AllScenarios();

}  // namespace posix_compare
