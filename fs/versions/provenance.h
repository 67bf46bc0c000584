// Provenance: who made a change the version store records, and the helper
// that reads it from /proc for a process id.
//
// Threading: value type; ReadProcessProvenance is reentrant.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "fs/process_info.h"
#include "fs/types.h"

namespace nexus::versions {

struct Provenance {
  std::string subject;  // the subject the change's access check used, e.g. "agent:alice"
  uid_t uid = 0;
  pid_t pid = 0;
  std::string command;   // the process's comm name
  std::string agent_id;  // NEXUS_AGENT_ID of the process, when known
  std::string task_id;   // NEXUS_TASK_ID of the process, when known
};

// `v` reduced to what is safe in a commit trailer and a git signature:
// printable ASCII without '<' and '>', at most 256 bytes.
std::string SanitizeField(std::string_view v);

// Builds the provenance of a change made by `caller`: the subject of its
// principal (the one its access checks used; a caller no boundary resolved
// falls back to UidSubject), its uid and pid, the command from
// /proc/PID/comm, NEXUS_AGENT_ID and NEXUS_TASK_ID from /proc/PID/environ
// (first kMaxEnvironBytes only, values capped at 256 bytes). A process that
// is gone or unreadable yields what could be read; this never fails.
// `proc_root` is for tests.
Provenance ReadProcessProvenance(const Caller& caller, const std::string& proc_root = "/proc");
// The same from what was already read (fields sanitized).
Provenance MakeProvenance(const Caller& caller, const ProcessInfo& info);

}  // namespace nexus::versions
