#include "mesh/key_directory.h"

#include "mesh/record.h"

namespace nexus::mesh {
namespace {

constexpr std::string_view kKeyPrefix = "mesh/nodekey/";
constexpr std::string_view kRevokedPrefix = "mesh/revoked/";

std::string RevokedKey(const AgentRevocation& r) {
  return std::string(kRevokedPrefix) + r.node + "/" + r.agent_id;
}

}  // namespace

Result<std::unique_ptr<KeyDirectory>> KeyDirectory::Open(Store* store) {
  std::unique_ptr<KeyDirectory> d(new KeyDirectory(store));
  NEXUS_RETURN_IF_ERROR(d->Load());
  return d;
}

Status KeyDirectory::Reload() {
  {
    MutexLock lk(mu_);
    keys_.clear();
    revoked_.clear();
  }
  return Load();
}

Status KeyDirectory::Load() {
  MutexLock lk(mu_);
  for (const KeyValue& kv : store_->Range(kKeyPrefix)) {
    auto rec = Record::Parse(kv.value);
    if (!rec.ok()) return Status::Error(EIO, "corrupt node key record '" + kv.key + "'");
    NodeKeyEntry e{kv.key.substr(kKeyPrefix.size()), rec->Str("node"), rec->Str("key")};
    if (e.public_key.size() != kNodeKeyBytes)
      return Status::Error(EIO, "corrupt node key in '" + kv.key + "'");
    keys_[e.node_id] = std::move(e);
  }
  for (const KeyValue& kv : store_->Range(kRevokedPrefix)) {
    auto rec = Record::Parse(kv.value);
    if (!rec.ok()) return Status::Error(EIO, "corrupt revocation record '" + kv.key + "'");
    AgentRevocation r{rec->Str("agent"), rec->Str("node"), rec->Int("before")};
    revoked_[{r.node, r.agent_id}] = std::move(r);
  }
  return Status::Ok();
}

Status KeyDirectory::SetNodeKey(const std::string& node_id, const std::string& node,
                                std::string_view public_key) {
  if (node_id.empty() || node.empty())
    return Status::Error(EINVAL, "a node key needs the node's id and name");
  if (public_key.size() != kNodeKeyBytes)
    return Status::Error(EINVAL,
                         "a node key is 32 raw Ed25519 bytes, not " + std::to_string(public_key.size()));
  MutexLock lk(mu_);
  auto it = keys_.find(node_id);
  if (it != keys_.end() && it->second.node == node && it->second.public_key == public_key)
    return Status::Ok();
  NEXUS_RETURN_IF_ERROR(store_
                            ->Put(std::string(kKeyPrefix) + node_id,
                                  RecordWriter().Add("node", node).Add("key", public_key).Finish())
                            .status());
  keys_[node_id] = NodeKeyEntry{node_id, node, std::string(public_key)};
  return Status::Ok();
}

Status KeyDirectory::Revoke(const AgentRevocation& r) {
  if (r.agent_id.empty() || r.node.empty())
    return Status::Error(EINVAL, "a revocation names an agent and a node");
  MutexLock lk(mu_);
  auto it = revoked_.find({r.node, r.agent_id});
  if (it != revoked_.end() && it->second.revoked_before_ns >= r.revoked_before_ns) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(store_
                            ->Put(RevokedKey(r), RecordWriter()
                                                     .Add("agent", r.agent_id)
                                                     .Add("node", r.node)
                                                     .Add("before", r.revoked_before_ns)
                                                     .Finish())
                            .status());
  revoked_[{r.node, r.agent_id}] = r;
  return Status::Ok();
}

std::vector<NodeKeyEntry> KeyDirectory::Keys() const {
  MutexLock lk(mu_);
  std::vector<NodeKeyEntry> out;
  out.reserve(keys_.size());
  for (const auto& [id, e] : keys_) out.push_back(e);
  return out;
}

std::vector<AgentRevocation> KeyDirectory::Revocations() const {
  MutexLock lk(mu_);
  std::vector<AgentRevocation> out;
  out.reserve(revoked_.size());
  for (const auto& [key, r] : revoked_) out.push_back(r);
  return out;
}

}  // namespace nexus::mesh
