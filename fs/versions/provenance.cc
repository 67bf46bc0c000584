#include "fs/versions/provenance.h"

#include <string_view>

namespace nexus::versions {

std::string SanitizeField(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 256))
    if (c >= 0x20 && c < 0x7f && c != '<' && c != '>') out += c;
  return out;
}

std::string UserSubject(uid_t uid) { return "user:uid-" + std::to_string(uid); }

Provenance ReadProcessProvenance(pid_t pid, uid_t uid, const std::string& proc_root) {
  return MakeProvenance(pid, uid, ReadProcessInfo(pid, proc_root));
}

Provenance MakeProvenance(pid_t pid, uid_t uid, const ProcessInfo& info) {
  Provenance p;
  p.subject = UserSubject(uid);
  p.uid = uid;
  p.pid = pid;
  p.command = SanitizeField(info.command);
  p.agent_id = SanitizeField(info.agent_id);
  p.task_id = SanitizeField(info.task_id);
  return p;
}

}  // namespace nexus::versions
