// The Permissions and Mounts interfaces of the control socket: not served
// yet (every method answers `unimplemented`).
#include "rpc/errors.h"
#include "rpc/service_internal.h"

namespace nexus {
namespace {

class PermissionsImpl final : public rpc::Permissions::Server {
 public:
  explicit PermissionsImpl(ConnPtr conn) : conn_(std::move(conn)) {}

 private:
  ConnPtr conn_;
};

class MountsImpl final : public rpc::Mounts::Server {
 public:
  explicit MountsImpl(ConnPtr conn) : conn_(std::move(conn)) {}

 private:
  ConnPtr conn_;
};

}  // namespace

kj::Own<rpc::Permissions::Server> MakePermissionsService(ConnPtr conn) {
  return kj::heap<PermissionsImpl>(std::move(conn));
}
kj::Own<rpc::Mounts::Server> MakeMountsService(ConnPtr conn) {
  return kj::heap<MountsImpl>(std::move(conn));
}
std::vector<std::string> PermissionsMethodNames() { return {}; }

}  // namespace nexus
