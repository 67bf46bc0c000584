// AgentHomes: every registered agent's home on the mount.
//
//   /agents/<id>/              the agent's home: the agent and its owner may
//                              use it (editor tuples), nobody else sees it
//   /agents/<id>/AGENT.json    the registry record, rewritten by the daemon on
//                              every committed change (not on heartbeats);
//                              read-only for everyone else
//   /agents/<id>/inbox/        its mailbox (docs/agents.md "Mailboxes")
//   /agents/<id>/processed/
//   /agents/<id>/dead_letter/
//
// Registration writes `OWNER#owner@folder:/agents/<id>` (the owner tuple:
// the registering subject owns the agent's home) and
// `agent:<id>#editor@folder:/agents/<id>`; deletion removes the home with
// everything in it, every tuple on it or below and every tuple granting
// the agent anything, so an id registered again starts empty and
// ungranted. The namespace keeps the structure
// (Namespace::ReserveAgentHomes): only the daemon's own calls create,
// rename or remove it, or write a record.
//
// With ReBAC the homes are mode 0777 (ReBAC decides who may use them, the
// kernel's mode check must not refuse a bound uid first); without it they
// are 0755, owned by root.
//
// Threading: Start runs on nexusd's main thread before the socket serves;
// OnChange is the registry's change hook (called under the registry's
// writer lock, in commit order; lock order: AgentRegistry::mu_ → the
// native tree → the ReBAC engine).
#pragma once

#include <string>

#include "base/principal.h"
#include "base/status.h"
#include "fs/path_files.h"
#include "perms/agent_registry.h"
#include "perms/rebac.h"

namespace nexus {

class AgentHomes {
 public:
  // Not owned; all must outlive this. `rebac` may be null (ReBAC off).
  AgentHomes(PathFiles* files, Namespace* ns, RebacEngine* rebac, std::string admin_subject);
  AgentHomes(const AgentHomes&) = delete;
  AgentHomes& operator=(const AgentHomes&) = delete;

  // Creates /agents, reserves it in the namespace, makes every registered
  // agent's home as it should be (idempotent: after a crash between a
  // commit and its home, or from a data dir older than homes) and removes
  // homes of ids no longer registered.
  Status Start(AgentRegistry& registry);
  // Applies one committed registry change; errors are logged (Start
  // repairs them at the next start).
  void OnChange(const AgentRecord& agent, AgentRegistry::ChangeKind kind);

  // The record as AGENT.json shows it (no liveness: that changes without
  // a commit; `nexus agent status` has it).
  static std::string RecordJson(const AgentRecord& agent);

 private:
  Status Provision(const AgentRecord& agent);
  Status WriteRecord(const AgentRecord& agent);
  Status Remove(const std::string& id);
  Status RemoveTree(const std::string& path);

  PathFiles* const files_;
  Namespace* const ns_;
  RebacEngine* const rebac_;
  const Principal daemon_;
  const Caller caller_;
};

}  // namespace nexus
