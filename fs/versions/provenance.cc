#include "fs/versions/provenance.h"

#include <string_view>

namespace nexus::versions {

std::string SanitizeField(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 256))
    if (c >= 0x20 && c < 0x7f && c != '<' && c != '>') out += c;
  return out;
}

Provenance ReadProcessProvenance(const Caller& caller, const std::string& proc_root) {
  return MakeProvenance(caller, ReadProcessInfo(caller.pid, proc_root));
}

Provenance MakeProvenance(const Caller& caller, const ProcessInfo& info) {
  Provenance p;
  p.subject = caller.principal ? caller.principal->subject : UidSubject(caller.uid);
  p.uid = caller.uid;
  p.pid = caller.pid;
  p.command = SanitizeField(info.command);
  p.agent_id = SanitizeField(info.agent_id);
  p.task_id = SanitizeField(info.task_id);
  return p;
}

}  // namespace nexus::versions
