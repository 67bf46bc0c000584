// IdentityPart: nexusd's identity key and passports. Owns the
// PassportAuthority (perms/passport_authority.h) over the node key
// DATA/node.key (Ed25519, PEM, 0600, created on first start) and the
// revocations in DATA/passports.db; follows the agent registry (a delete
// or a suspension revokes the agent's passports); hands the authority to
// the control socket.
//
// The mesh: on a node, the authority asks the director for the mesh's key
// set and revocations and reports its own revocations there (MeshMembership);
// on a director, it reads and writes the director's key directory directly,
// where it also publishes its own key under the node id "director". A
// reporter thread sends revocations not yet reported every kReportInterval.
//
// The node's name (the `node` claim): the name it joined the mesh with,
// else --node-name, else the host name.
//
// Threading: Open, Connect, Fill and the destructor run on nexusd's main
// thread; the reporter calls only the authority (thread-safe).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "perms/passport_authority.h"
#include "rpc/server/service.h"

namespace nexus {

class MeshPart;

class IdentityPart {
 public:
  static constexpr std::chrono::seconds kReportInterval{5};

  // `registry` (not owned) must outlive the part. `node_name`: the
  // configured name (empty: the host name).
  static Result<std::unique_ptr<IdentityPart>> Open(const std::string& data_dir, AgentRegistry* registry,
                                                    const std::string& node_name);
  ~IdentityPart();  // stops the reporter
  IdentityPart(const IdentityPart&) = delete;
  IdentityPart& operator=(const IdentityPart&) = delete;

  // Wires the mesh (either may be null; both outlive the part) and starts
  // the reporter.
  void Connect(MeshMembership* member, MeshPart* director);
  void Fill(ServiceContext& ctx) { ctx.agents.passports = authority_.get(); }
  // The raw public key nodes present to their director.
  const std::string& public_key() const { return authority_->key().public_key(); }

 private:
  IdentityPart() = default;
  void ReportLoop();

  std::unique_ptr<PassportAuthority> authority_;
  std::string configured_name_;
  MeshMembership* member_ = nullptr;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread reporter_;
};

}  // namespace nexus
