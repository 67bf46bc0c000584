#include "forks/fork_registry.h"

namespace nexus::forks {

struct ForkRegistry::Impl {
  Options options;
  std::string data_dir;
};

ForkRegistry::ForkRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ForkRegistry::~ForkRegistry() = default;

Result<std::unique_ptr<ForkRegistry>> ForkRegistry::Open(const Options& options) {
  return Status::Error(ENOSYS, "forks are not built yet");
}

Result<ForkInfo> ForkRegistry::Create(const Caller&, const std::string&, const std::string&,
                                      const std::string&) {
  return Status::Error(ENOSYS, "forks are not built yet");
}
std::vector<ForkInfo> ForkRegistry::List() const { return {}; }
Result<ForkInfo> ForkRegistry::Get(const std::string&) const {
  return Status::Error(ENOSYS, "forks are not built yet");
}
Result<NativeBackend*> ForkRegistry::Tree(const std::string&) {
  return Status::Error(ENOSYS, "forks are not built yet");
}
Status ForkRegistry::Discard(const std::string&) { return Status::Error(ENOSYS, "forks are not built yet"); }
Result<ForkRegistry::GcReport> ForkRegistry::Gc() { return Status::Error(ENOSYS, "forks are not built yet"); }
Backend* ForkRegistry::forks_dir() { return nullptr; }
Namespace* ForkRegistry::ns() const { return impl_->options.ns; }
const std::string& ForkRegistry::data_dir() const { return impl_->data_dir; }
Status ForkRegistry::NoteMerged(const std::string&, int64_t) {
  return Status::Error(ENOSYS, "forks are not built yet");
}
bool ForkRegistry::Watched(uint16_t) const { return false; }
Status ForkRegistry::BeforeChange(Backend&, PreChange, Ino, std::string_view) { return Status::Ok(); }

}  // namespace nexus::forks
