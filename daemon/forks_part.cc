#include "daemon/forks_part.h"

#include <spdlog/spdlog.h>

#include "forks/fork_merge.h"

namespace nexus {

Result<std::unique_ptr<ForksPart>> ForksPart::Open(const Deps& deps) {
  forks::ForkRegistry::Options o;
  o.data_dir = deps.data_dir + "/forks";
  o.ns = deps.ns;
  o.sink = deps.sink;
  o.root_tree = deps.tree;
  o.workspace = deps.workspace;
  o.commit_interval_ms = deps.commit_interval_ms;
  std::unique_ptr<ForksPart> part(new ForksPart());
  part->ns_ = deps.ns;
  NEXUS_ASSIGN_OR_RETURN(part->registry_, forks::ForkRegistry::Open(o));
  deps.ns->SetPreChangeHook(part->registry_.get());
  NEXUS_RETURN_IF_ERROR(forks::FinishInterruptedMerges(*part->registry_));
  spdlog::info("forks: {} in {}", part->registry_->List().size(), o.data_dir);
  return part;
}

ForksPart::~ForksPart() {
  // Nothing is served any more: no change needs its fork point kept.
  if (ns_ && registry_) ns_->SetPreChangeHook(nullptr);
}

void ForksPart::Fill(ServiceContext& ctx) {
  ctx.forks.registry = registry_.get();
  ctx.forks.discarded = [this](const std::string& name) { Discarded(name); };
}

void ForksPart::Discarded(const std::string& name) {
  KernelCache* cache = cache_.load();
  Backend* dir = registry_->forks_dir();
  if (!cache || !dir) return;
  cache->InvalidateEntry(dir->root(), name);
}

}  // namespace nexus
