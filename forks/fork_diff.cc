#include "forks/fork_diff.h"

namespace nexus::forks {

Result<std::vector<DiffFile>> DiffFork(NativeBackend&, const DiffOptions&) {
  return Status::Error(ENOSYS, "forks are not built yet");
}

std::string FormatStat(const std::vector<DiffFile>&) { return {}; }

}  // namespace nexus::forks
