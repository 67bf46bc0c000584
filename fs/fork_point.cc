#include "fs/fork_point.h"

namespace nexus {

const char* ForkChangeKindName(ForkChange::Kind kind) {
  switch (kind) {
    case ForkChange::Kind::kAdded:
      return "added";
    case ForkChange::Kind::kDeleted:
      return "deleted";
    case ForkChange::Kind::kModified:
      return "modified";
    case ForkChange::Kind::kRenamed:
      return "renamed";
  }
  return "modified";
}

}  // namespace nexus
