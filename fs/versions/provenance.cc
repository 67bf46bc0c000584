#include "fs/versions/provenance.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace nexus::versions {
namespace {

// Reads up to `limit` bytes of `path`; empty when unreadable.
std::string ReadLimited(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  std::string out;
  char buf[16384];
  while (out.size() < limit) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string SanitizeField(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 256))
    if (c >= 0x20 && c < 0x7f && c != '<' && c != '>') out += c;
  return out;
}

std::string UserSubject(uid_t uid) { return "user:uid-" + std::to_string(uid); }

Provenance ReadProcessProvenance(pid_t pid, uid_t uid, const std::string& proc_root) {
  Provenance p;
  p.subject = UserSubject(uid);
  p.uid = uid;
  p.pid = pid;
  const std::string dir = proc_root + "/" + std::to_string(pid);
  std::string comm = ReadLimited(dir + "/comm", 64);
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  p.command = SanitizeField(comm);

  std::string env = ReadLimited(dir + "/environ", kMaxEnvironBytes);
  std::string_view rest(env);
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    std::string_view var = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    // A variable cut by the size limit has no terminating NUL: ignore it.
    if (end == std::string_view::npos && env.size() >= kMaxEnvironBytes) break;
    if (var.starts_with("NEXUS_AGENT_ID=")) p.agent_id = SanitizeField(var.substr(15));
    if (var.starts_with("NEXUS_TASK_ID=")) p.task_id = SanitizeField(var.substr(14));
  }
  return p;
}

}  // namespace nexus::versions
