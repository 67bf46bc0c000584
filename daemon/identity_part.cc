#include "daemon/identity_part.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/mesh_part.h"

namespace nexus {

Result<std::unique_ptr<IdentityPart>> IdentityPart::Open(const std::string& data_dir, AgentRegistry* registry,
                                                         const std::string& node_name) {
  auto authority = PassportAuthority::Open(data_dir + "/node.key", data_dir + "/passports.db", registry);
  if (!authority.ok()) return Status::Error(authority.code(), "passports: " + authority.status().message());
  std::unique_ptr<IdentityPart> part(new IdentityPart());
  part->authority_ = std::move(authority).value();
  part->configured_name_ = node_name;
  if (part->configured_name_.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) part->configured_name_ = host;
  }
  PassportAuthority* a = part->authority_.get();
  registry->AddOnChange(
      [a](const AgentRecord& agent, AgentRegistry::ChangeKind kind) { a->OnAgentChange(agent, kind); });
  spdlog::info("passports: node key {} ({}/node.key)", a->key().key_id(), data_dir);
  return part;
}

IdentityPart::~IdentityPart() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (reporter_.joinable()) reporter_.join();
}

void IdentityPart::Connect(MeshMembership* member, MeshPart* director) {
  member_ = member;
  authority_->SetNodeName([this] {
    if (member_) {
      MeshMemberInfo i = member_->Current();
      if (i.joined && !i.name.empty()) return i.name;
    }
    return configured_name_;
  });
  PassportAuthority* a = authority_.get();
  if (director) {
    // The director is a signer of the mesh too: its key is in the set it
    // serves, its revocations beside the nodes'.
    if (Status st = director->keys()->SetNodeKey("director", a->NodeName(), a->key().public_key()); !st.ok())
      spdlog::error("passports: publishing the director's key: {}", st.ToString());
    a->SetRemote(
        [director]() -> Result<RemoteTrust> {
          RemoteTrust t;
          for (const auto& k : director->TrustedKeys()) t.keys.push_back({k.node, k.public_key});
          for (const auto& r : director->keys()->Revocations())
            t.revocations.push_back({r.agent_id, r.node, r.revoked_before_ns});
          return t;
        },
        [director](const std::vector<PassportRevocation>& revocations) -> Status {
          for (const auto& r : revocations)
            NEXUS_RETURN_IF_ERROR(director->keys()->Revoke({r.agent_id, r.node, r.revoked_before}));
          return Status::Ok();
        });
  } else if (member) {
    a->SetRemote([member]() { return member->FetchTrust(); },
                 [member](const std::vector<PassportRevocation>& r) { return member->ReportRevocations(r); });
  }
  reporter_ = std::thread([this] { ReportLoop(); });
}

void IdentityPart::ReportLoop() {
  std::string last_error;
  MutexLock lk(mu_);
  while (!lk.WaitFor(cv_, kReportInterval, [this]() REQUIRES(mu_) { return stop_; })) {
    lk.Unlock();
    if (authority_->HasUnreported()) {
      Status st = authority_->ReportPending();
      // Not joined yet: they wait, quietly, for a mesh to report to.
      if (!st.ok() && st.code() != ENOSYS && st.ToString() != last_error)
        spdlog::warn("passports: revocations not reported to the mesh yet: {}", st.ToString());
      last_error = st.ok() ? "" : st.ToString();
    }
    lk.Lock();
  }
}

}  // namespace nexus
