#include "forks/fork_merge.h"

namespace nexus::forks {

Result<MergeReport> MergeFork(ForkRegistry&, const Caller&, const Caller&, const std::string&,
                              const MergeOptions&) {
  return Status::Error(ENOSYS, "forks are not built yet");
}

Status FinishInterruptedMerges(ForkRegistry&) { return Status::Ok(); }

}  // namespace nexus::forks
