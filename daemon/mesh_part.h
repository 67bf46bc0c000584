// MeshPart: nexusd as a mesh director. Owns the director's store
// (DIR/mesh/mesh.db, SQLite), its results (DIR/mesh/results/), the
// Director (mesh/director.h) and the office that hands lease tokens to
// nodes (rpc/mesh_office.h), and a housekeeping thread that once a second
// expires leases (mesh::Director::Tick) and places pending tasks when any
// node is ready. The director's store also holds the mesh's passport key
// directory (mesh/key_directory.h).
//
// Threading: Open/Fill/destructor on nexusd's main thread; the
// housekeeping thread calls only thread-safe Director methods.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "daemon/options.h"
#include "mesh/clock.h"
#include "mesh/director.h"
#include "mesh/key_directory.h"
#include "mesh/sqlite_store.h"
#include "rpc/server/mesh_office.h"
#include "rpc/server/service.h"

namespace nexus {

class MeshPart {
 public:
  static Result<std::unique_ptr<MeshPart>> Open(const DaemonOptions& options, const std::string& data_dir);
  ~MeshPart();  // stops housekeeping; the store is durable after every commit

  // Hands the director to the socket's services (before they serve) and
  // starts housekeeping.
  void Fill(ServiceContext& ctx);
  // The address nodes reach, once the listener is up (for status).
  void SetAddress(const std::string& address) { office_->SetAddress(address); }
  // The mesh's passport key directory, in the director's store.
  mesh::KeyDirectory* keys() const { return keys_.get(); }
  // The node keys the mesh vouches for (MeshOffice::TrustedKeys); Fill first.
  std::vector<mesh::NodeKeyEntry> TrustedKeys() const { return office_->TrustedKeys(); }

 private:
  MeshPart() = default;
  void Housekeeping();

  std::unique_ptr<mesh::SqliteStore> store_;
  std::unique_ptr<mesh::Director> director_;
  std::unique_ptr<mesh::KeyDirectory> keys_;
  std::unique_ptr<MeshOffice> office_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread housekeeping_;
};

}  // namespace nexus
