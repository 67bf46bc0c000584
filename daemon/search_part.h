// SearchPart: nexusd's search feature. Owns the search index over the
// mounted namespace (DATA/search.db), its optional embedding provider, and
// the Indexer fed from the ChangeBus; hands them to the control socket.
//
// Wiring:
//  - Start opens the index (a NamespaceContentSource reading the tree as
//    root, "/.nexus" excluded), subscribes to the bus and starts one
//    background thread running Indexer::IndexPath("/"): the catch-up with
//    whatever changed while the daemon was down. State() is "indexing" until
//    that pass (and anything the Indexer has queued) is done, then "ready".
//    DATA/search.model records the embedding model of the stored vectors;
//    when a provider is configured and that file names another model (or
//    none), the catch-up re-reads every file (Reindex) to embed it again.
//  - Change events map to the Indexer: kContentClosed, kContentSynced,
//    kCreated, kAttrChanged -> Upsert(path); kRemoved -> Remove(path);
//    kRenamed -> Rename(path, new_path). Events without a path, and paths
//    under "/.nexus", are ignored. Which paths are text files to index is
//    the library's business (a directory upsert is a no-op).
//
// Lifetime: the Namespace must outlive the part. The bus may outlive it
// (subscribers are never removed): once the part is destroyed its subscriber
// drops events. Destruction waits for the catch-up pass to finish.
//
// Threading: Start and the destructor run on nexusd's main thread; the
// subscriber runs on the bus's dispatcher thread; the rest is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "daemon/options.h"
#include "fs/change_events.h"
#include "fs/namespace.h"
#include "base/status.h"
#include "rpc/server/service.h"

namespace nexus {

class SearchPart {
 public:
  // Opens the index and subscribes to `bus` (before events flow). The
  // initial catch-up of the tree runs in the background. EINVAL for a bad
  // --search-embeddings value or a model that cannot be loaded.
  static Result<std::unique_ptr<SearchPart>> Start(const DaemonOptions& options, const std::string& data_dir,
                                                   Namespace* ns, ChangeBus* bus);
  virtual ~SearchPart() = default;

  // Sets ctx.search.
  virtual void Fill(ServiceContext& ctx) = 0;
  // "ready" or "indexing", for /health.
  virtual std::string State() const = 0;
};

}  // namespace nexus
