#include "rpc/server/ops_service.h"

namespace nexus {

kj::Promise<void> OpsImpl::log(LogContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    return Status::Error(ENOSYS, "ops log: not built yet");
  });
}

kj::Promise<void> OpsImpl::gc(GcContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    return Status::Error(ENOSYS, "ops gc: not built yet");
  });
}

kj::Promise<void> OpsImpl::stats(StatsContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    return Status::Error(ENOSYS, "ops stats: not built yet");
  });
}

kj::Own<rpc::Ops::Server> MakeOpsService(ConnPtr conn) { return kj::heap<OpsImpl>(std::move(conn)); }

}  // namespace nexus
