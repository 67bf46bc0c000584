// MeshPart: nexusd as a mesh director. Owns the director's store, its
// results (DIR/mesh/results/), the Director (mesh/director.h) and the
// office that hands lease tokens to nodes (rpc/mesh_office.h), and a
// housekeeping thread that once a second expires leases
// (mesh::Director::Tick) and places pending tasks when any node is ready.
// The director's store also holds the mesh's passport key directory
// (mesh/key_directory.h).
//
// The store is SQLite (DIR/mesh/mesh.db) by default, or etcd
// (--mesh-store etcd://...; mesh/etcd_store.h). On etcd several directors
// elect a leader (mesh/etcd_election.h) once this one's address is known
// (SetAddress): the leader reloads the state, extends every running lease
// by one TTL, then serves and keeps house; a standby writes nothing
// (mesh/fenced_store.h) and does no housekeeping. Nodes calling a standby
// are told the leader's address; the standby's own callers are served:
// reads from its state reloaded from the store, the other calls forwarded
// to the leader over its TLS listener (Nexus.meshForward), authenticated by
// a forwarding secret whose SHA-256 this director publishes in the
// election, and acting for the same caller.
//
// Threading: Open/Fill/SetAddress/destructor on nexusd's main thread; the
// housekeeping thread calls only thread-safe Director methods; the
// election's thread runs OnElection.
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
#include "mesh/etcd_election.h"
#include "mesh/etcd_store.h"
#include "mesh/fenced_store.h"
#include "mesh/key_directory.h"
#include "mesh/sqlite_store.h"
#include "rpc/server/mesh_office.h"
#include "rpc/server/service.h"

namespace nexus {

class MeshPart {
 public:
  static Result<std::unique_ptr<MeshPart>> Open(const DaemonOptions& options, const std::string& data_dir);
  ~MeshPart();  // stops housekeeping and resigns; the store is durable after every commit

  // Hands the director to the socket's services (before they serve) and
  // starts housekeeping.
  void Fill(ServiceContext& ctx);
  // The address nodes reach, once the listener is up (for status); on etcd
  // this director then stands for election under it.
  void SetAddress(const std::string& address);
  // The mesh's passport key directory, in the director's store.
  mesh::KeyDirectory* keys() const { return keys_.get(); }
  // The node keys the mesh vouches for (MeshOffice::TrustedKeys); Fill first.
  std::vector<mesh::NodeKeyEntry> TrustedKeys() const { return office_->TrustedKeys(); }

 private:
  MeshPart() = default;
  void Housekeeping();
  bool Leading() const;
  void OnElection(const mesh::ElectionView& view);
  MeshControlInfo Control() const;
  // The standby's hooks (MeshOffice::SetStandbyHooks); off the loop.
  Status StandbyRead(const std::function<Status()>& read);
  Result<std::shared_ptr<capnp::MallocMessageBuilder>> Forward(const MeshCallerInfo& caller, uint16_t method,
                                                               capnp::AnyPointer::Reader params);
  // etcd's health, member by member, as JSON (each member asked directly).
  std::string EtcdHealth() const;

  std::unique_ptr<mesh::SqliteStore> sqlite_;
  std::unique_ptr<mesh::EtcdStore> etcd_;
  std::unique_ptr<mesh::FencedStore> fenced_;  // over etcd_
  mesh::Store* store_ = nullptr;               // the one the director uses
  mesh::Duration election_ttl_{0};
  std::string forward_secret_;  // 256 random bits; only its SHA-256 is published
  std::string leader_ca_;       // the PEM the leader's certificate must chain to
  std::string address_;         // this director's, once SetAddress ran
  // Held by a standby's read across reload and read, and by a takeover's
  // reload: nobody reads a half-loaded state. Before mu_.
  Mutex reload_mu_;
  std::unique_ptr<mesh::Director> director_;
  std::unique_ptr<mesh::KeyDirectory> keys_;
  std::unique_ptr<MeshOffice> office_;
  std::unique_ptr<mesh::EtcdElection> election_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool leading_ GUARDED_BY(mu_) = true;  // SQLite: always
  std::string etcd_health_ GUARDED_BY(mu_);
  std::thread housekeeping_;
};

}  // namespace nexus
