// The Forks service (rpc/nexus.capnp Forks): forks of folders over the
// socket (docs/forks.md).
#include "forks/fork_registry.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

Status NotBuilt() { return Status::Error(ENOSYS, "forks are not built yet"); }

class ForksImpl final : public Service<rpc::Forks> {
 public:
  explicit ForksImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> create(CreateContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> info(InfoContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> diff(DiffContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> merge(MergeContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> discard(DiscardContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
  kj::Promise<void> gc(GcContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto) -> Reply { return NotBuilt(); });
  }
};

}  // namespace

kj::Own<rpc::Forks::Server> MakeForksService(ConnPtr conn) { return kj::heap<ForksImpl>(std::move(conn)); }

}  // namespace nexus
