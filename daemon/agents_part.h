// AgentsPart: nexusd's agent registry. Owns the AgentRegistry
// (DATA/agents.db, perms/agent_registry.h) and a flusher thread that writes
// the heartbeats recorded in memory every 5 seconds, and once more when the
// part stops; hands the registry to the control socket.
//
// Owner tuples: the ReBAC model has no object type for an agent ("users
// and agents are subjects, not objects", perms/rebac_types.h); the owner
// tuple a registration writes is on the agent's home
// (`OWNER#owner@folder:/agents/<id>`, daemon/agent_homes.h). The registry
// record is what the registry checks.
//
// Threading: Open, Fill and the destructor run on nexusd's main thread; the
// flusher calls only AgentRegistry::Flush (thread-safe).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "daemon/agent_homes.h"
#include "perms/agent_registry.h"
#include "rpc/server/service.h"

namespace nexus {

class AgentsPart {
 public:
  static constexpr std::chrono::seconds kFlushInterval{5};

  // Opens (creating, mode 0600) DATA/agents.db and starts the flusher.
  static Result<std::unique_ptr<AgentsPart>> Open(const std::string& data_dir);
  // Stops the flusher and flushes the last heartbeats.
  ~AgentsPart();
  AgentsPart(const AgentsPart&) = delete;
  AgentsPart& operator=(const AgentsPart&) = delete;

  void Fill(ServiceContext& ctx);
  // From now on every committed change also goes to `homes` (which must
  // outlive the registry's last change: the socket stops first).
  void AttachHomes(AgentHomes* homes);
  AgentRegistry* registry() const { return registry_.get(); }

 private:
  AgentsPart() = default;
  void FlushLoop();

  std::unique_ptr<AgentRegistry> registry_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread flusher_;
};

}  // namespace nexus
