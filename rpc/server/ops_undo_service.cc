#include "rpc/server/ops_service.h"

namespace nexus {

kj::Promise<void> OpsImpl::undo(UndoContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    return Status::Error(ENOSYS, "undo: not built yet");
  });
}

}  // namespace nexus
