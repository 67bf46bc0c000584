#include "fs/process_info.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "base/clock.h"

namespace nexus {
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

ProcessInfo ReadProcessInfo(pid_t pid, const std::string& proc_root) {
  ProcessInfo p;
  const std::string dir = proc_root + "/" + std::to_string(pid);
  p.command = ReadLimited(dir + "/comm", 64);
  while (!p.command.empty() && p.command.back() == '\n') p.command.pop_back();
  std::string env = ReadLimited(dir + "/environ", kMaxEnvironBytes);
  std::string_view rest(env);
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    std::string_view var = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    // A variable cut by the size limit has no terminating NUL: ignore it.
    if (end == std::string_view::npos && env.size() >= kMaxEnvironBytes) break;
    if (var.starts_with("NEXUS_AGENT_ID=")) p.agent_id = std::string(var.substr(15));
    if (var.starts_with("NEXUS_TASK_ID=")) p.task_id = std::string(var.substr(14));
  }
  return p;
}

std::shared_ptr<const ProcessInfo> ProcessInfoCache::Get(pid_t pid) {
  const int64_t now = DefaultClock().Now();
  {
    MutexLock lk(mu_);
    auto it = entries_.find(pid);
    if (it != entries_.end() && now < it->second.until_ns) return it->second.info;
  }
  auto info = std::make_shared<const ProcessInfo>(ReadProcessInfo(pid));
  MutexLock lk(mu_);
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[pid] = {info, now + ttl_ns_};
  return info;
}

}  // namespace nexus
