// IpcPart: nexusd's agent mailboxes. Owns the Mailbox (agents/mailbox.h)
// and its index DATA/mailbox.db (mode 0600), which starts its sweeper (expired
// messages to dead_letter/ every second) and indexes what the change bus
// reports from the mailbox folders; hands the mailbox to the control socket.
// On when the agent registry is (it needs the registry and the homes).
//
// Threading: Open, Fill and the destructor run on nexusd's main thread. The
// destructor stops the sweeper and detaches from the bus; the socket server
// and its jobs stop before it.
#pragma once

#include <memory>
#include <string>

#include "agents/mailbox.h"
#include "base/status.h"
#include "rpc/server/service.h"

namespace nexus {

class IpcPart {
 public:
  // `files`, `registry`, `principals` and `bus` must outlive the part; the
  // homes must exist (AgentHomes::Start) so the index can be repaired
  // against them.
  static Result<std::unique_ptr<IpcPart>> Open(const std::string& data_dir, double default_ttl_s,
                                               PathFiles* files, AgentRegistry* registry,
                                               PrincipalTable* principals, ChangeBus* bus);
  IpcPart(const IpcPart&) = delete;
  IpcPart& operator=(const IpcPart&) = delete;

  void Fill(ServiceContext& ctx) { ctx.agents.mailbox = mailbox_.get(); }

 private:
  IpcPart() = default;
  std::unique_ptr<Mailbox> mailbox_;
};

}  // namespace nexus
