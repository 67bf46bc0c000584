// ForksPart: nexusd's forks (feature "forks", docs/forks.md). Owns the
// ForkRegistry (DATA/forks/): the forks, reopened and attached at start, the
// /forks directory, and the hook that keeps every fork point pinned.
//
// Wiring: Open after the tree, the workspace and the access policy, and
// after the parts that subscribe to the change bus run (a merge a crash
// interrupted is finished there, and its changes are versioned and logged
// like any); it sets the namespace's PreChangeHook, so it must come before
// anything is served. Fill hands the registry to the control socket;
// SetKernelCache, once the mount exists, lets a discard drop the kernel's
// entry of /forks/NAME.
//
// Lifetime: the namespace, the tree, the workspace and the bus outlive the
// part; the mount, the socket server and their jobs stop before it.
//
// Threading: Open, SetKernelCache and the destructor run on nexusd's main
// thread; the registry is thread-safe; the discard callback runs on a
// socket job thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/status.h"
#include "forks/fork_registry.h"
#include "fs/kernel_cache.h"
#include "rpc/server/service.h"

namespace nexus {

class ForksPart {
 public:
  struct Deps {
    std::string data_dir;  // the daemon's DATA; the part uses DATA/forks
    Namespace* ns = nullptr;
    ChangeSink* sink = nullptr;
    NativeBackend* tree = nullptr;
    Backend* workspace = nullptr;  // null: no workspace
    int commit_interval_ms = 5;
  };
  // Opens the registry, finishes interrupted merges and hooks the
  // namespace.
  static Result<std::unique_ptr<ForksPart>> Open(const Deps& deps);
  ~ForksPart();

  // Sets ctx.forks.
  void Fill(ServiceContext& ctx);
  // The main mount (null: none, or gone).
  void SetKernelCache(KernelCache* cache) { cache_.store(cache); }
  forks::ForkRegistry* registry() const { return registry_.get(); }

 private:
  ForksPart() = default;
  void Discarded(const std::string& name);

  Namespace* ns_ = nullptr;
  std::unique_ptr<forks::ForkRegistry> registry_;
  std::atomic<KernelCache*> cache_{nullptr};
};

}  // namespace nexus
