#include "rpc/server/ops_service.h"

namespace nexus {

kj::Promise<void> OpsImpl::watch(WatchContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    return Status::Error(ENOSYS, "ops watch: not built yet");
  });
}

}  // namespace nexus
