// KeyDirectory: the mesh's passport trust root, kept by the director. Each
// node presents its Ed25519 identity public key when it registers and
// heartbeats; the directory keeps the latest per node, with the node's name
// (what its passports' `node` claim says). Nodes report the passport
// revocations they make (agent, node, revoked-before); the directory keeps
// the latest instant per (agent, node). Nodes verifying a passport issued
// elsewhere ask for both (perms/passport_authority.h).
//
// State lives in the director's Store, beside the director's own records:
// mesh/nodekey/<node id> (fields node, key) and
// mesh/revoked/<node>/<agent> (fields agent, node, before), each written
// through at once (durable as the store is); a copy is kept in memory, so
// an unchanged key (every heartbeat) costs no write. The directory does not
// interpret keys beyond their length: key ids and signatures are perms/'s.
//
// Errors: EINVAL for a key that is not 32 bytes, an empty node, agent or
// name; the store's errors (EIO) as they are.
//
// Thread-safety: every method may be called concurrently (one mutex, held
// across the store commit so memory and store change in the same order;
// lock order: mu_ -> the store's locks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "mesh/store.h"

namespace nexus::mesh {

inline constexpr size_t kNodeKeyBytes = 32;

struct NodeKeyEntry {
  std::string node_id;     // "n-<k>", or another id the director chooses for itself
  std::string node;        // the node's name
  std::string public_key;  // raw Ed25519, 32 bytes
};

struct AgentRevocation {
  std::string agent_id;
  std::string node;
  int64_t revoked_before_ns = 0;
};

class KeyDirectory {
 public:
  // Loads what `store` (not owned; must outlive the directory) holds.
  // EIO for a damaged record.
  static Result<std::unique_ptr<KeyDirectory>> Open(Store* store);
  KeyDirectory(const KeyDirectory&) = delete;
  KeyDirectory& operator=(const KeyDirectory&) = delete;

  // Keeps `public_key` as node `node_id`'s, published under `node`; a no-op
  // when that is what it holds already.
  Status SetNodeKey(const std::string& node_id, const std::string& node, std::string_view public_key);
  // Records `r`, keeping the later instant of an earlier one for the same
  // agent and node.
  Status Revoke(const AgentRevocation& r);

  // Forgets the cached state and loads the store's again (a director that
  // takes over from another).
  Status Reload() EXCLUDES(mu_);

  std::vector<NodeKeyEntry> Keys() const;            // by node id
  std::vector<AgentRevocation> Revocations() const;  // by node, then agent

 private:
  explicit KeyDirectory(Store* store) : store_(store) {}
  Status Load() EXCLUDES(mu_);

  Store* const store_;
  mutable Mutex mu_;
  std::map<std::string, NodeKeyEntry> keys_ GUARDED_BY(mu_);                                // by node id
  std::map<std::pair<std::string, std::string>, AgentRevocation> revoked_ GUARDED_BY(mu_);  // (node, agent)
};

}  // namespace nexus::mesh
