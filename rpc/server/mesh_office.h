// MeshOffice: what the control socket needs of this daemon's director.
//
// The director (mesh/director.h) returns each placement's lease token once,
// to whoever scheduled it. The office keeps the tokens of placements not yet
// handed to their node and gives them out when that node claims its work
// (MeshNode.claim); tokens of a director that restarts before a claim are
// lost, so those leases expire and the tasks are placed again.
//
// It also holds the mesh's passport key directory (mesh/key_directory.h),
// which the node-facing calls feed and read.
//
// With several directors on one etcd store, only the leader serves: the
// office's gate (set by MeshPart) refuses every director call on a standby
// with "unavailable: this director is a standby; the leader is ADDR", and
// its control info says who leads (nexus mesh status). A standby's own
// callers (its Unix socket, operators on its listener) are served all the
// same through its standby hooks: reads from the state as the store has
// it, everything else forwarded to the leader acting for the caller
// (Nexus.meshForward; docs/mesh.md "Standby").
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "mesh/director.h"
#include "mesh/key_directory.h"

namespace nexus {

// The control plane as this director sees it (nexus mesh status).
struct MeshControlInfo {
  std::string store = "sqlite";  // "sqlite" | "etcd"
  std::string role = "leader";   // "leader" | "standby"
  std::string leader;            // the leader's address
  std::vector<std::string> standbys;
  std::string etcd_json;  // etcd's health as JSON ("" with SQLite)
};

// The caller a standby acts for when it forwards (Nexus.meshForward).
struct MeshCallerInfo {
  std::string subject;
  std::string key_id;
  bool admin = false;
  bool can_submit_tasks = true;
  int hourly_task_quota = 0;
};

// How a standby serves its own callers (all run off the event loop).
struct MeshStandbyHooks {
  // Runs `read` on the director once its state is the store's current one;
  // no reload runs while `read` does.
  std::function<Status(const std::function<Status()>& read)> read;
  // Sends Mesh method `method` with `params` to the leader acting for
  // `caller` and returns its results (root: the method's results struct).
  // EAGAIN when the leader cannot be reached or does not answer.
  std::function<Result<std::shared_ptr<capnp::MallocMessageBuilder>>(
      const MeshCallerInfo& caller, uint16_t method, capnp::AnyPointer::Reader params)>
      forward;
  // OK when `director` is a director of this mesh presenting its own
  // forwarding `credential` (the leader's side of Nexus.meshForward).
  std::function<Status(const std::string& director, const std::string& credential)> verify_peer;
  // This director stands by (and a leader is known or not): its gate is
  // closed because another one leads, not because the store is down.
  std::function<bool()> standing_by;
};

class MeshOffice {
 public:
  // `keys` may be null (no passport key directory).
  explicit MeshOffice(mesh::Director* director, mesh::KeyDirectory* keys = nullptr)
      : director_(director), keys_(keys) {}

  mesh::Director* director() const { return director_; }
  mesh::KeyDirectory* keys() const { return keys_; }
  // The node keys the mesh vouches for: every key but those of revoked
  // nodes (an id the director does not know as a node, such as its own,
  // counts as not revoked).
  std::vector<mesh::NodeKeyEntry> TrustedKeys() const {
    std::vector<mesh::NodeKeyEntry> out;
    if (!keys_) return out;
    for (auto& k : keys_->Keys()) {
      auto node = director_->GetNode(k.node_id);
      if (node.ok() && node->state == mesh::NodeState::kRevoked) continue;
      out.push_back(std::move(k));
    }
    return out;
  }
  // Where nodes reach this director (known once the listener is up).
  std::string address() const {
    MutexLock lk(mu_);
    return address_;
  }
  void SetAddress(std::string address) {
    MutexLock lk(mu_);
    address_ = std::move(address);
  }

  // Several directors: `gate` says whether this one may serve now;
  // `info` describes the control plane. Set before serving.
  void SetControl(std::function<Status()> gate, std::function<MeshControlInfo()> info) {
    gate_ = std::move(gate);
    info_ = std::move(info);
  }
  Status Gate() const { return gate_ ? gate_() : Status::Ok(); }
  MeshControlInfo Control() const {
    if (info_) return info_();
    MeshControlInfo i;
    i.leader = address();
    return i;
  }

  void SetStandbyHooks(MeshStandbyHooks hooks) { standby_ = std::move(hooks); }
  const MeshStandbyHooks& standby_hooks() const { return standby_; }
  // The gate is closed because this director stands by, and it can serve
  // its callers through the hooks.
  bool StandingBy() const { return standby_.standing_by && standby_.standing_by(); }

  // Keeps the tokens of `placements` for their nodes.
  void Deliver(const std::vector<mesh::TaskInfo>& placements) {
    MutexLock lk(mu_);
    for (const auto& t : placements)
      if (!t.node_id.empty() && !t.lease_token.empty()) mailbox_[t.node_id][t.id] = t;
  }
  // The placements on `node_id` whose tokens it has not received, in task
  // order; each is handed out once.
  std::vector<mesh::TaskInfo> Claim(const std::string& node_id) {
    MutexLock lk(mu_);
    std::vector<mesh::TaskInfo> out;
    auto it = mailbox_.find(node_id);
    if (it == mailbox_.end()) return out;
    for (auto& [_, t] : it->second) out.push_back(std::move(t));
    mailbox_.erase(it);
    return out;
  }

 private:
  mesh::Director* const director_;
  mesh::KeyDirectory* const keys_;
  std::function<Status()> gate_;
  std::function<MeshControlInfo()> info_;
  MeshStandbyHooks standby_;
  mutable Mutex mu_;
  std::string address_ GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, mesh::TaskInfo>> mailbox_;  // node -> task -> info
};

}  // namespace nexus
