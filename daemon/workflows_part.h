// WorkflowsPart: nexusd's workflows (docs/workflows.md). Owns the engine
// (workflows/engine.h, DATA/workflows.db) and what it acts through: the
// files as each workflow's owner (PathFiles under the access policy), the
// mailboxes, and the sandboxes `run` actions execute in — mesh::TaskRunner
// (the runner the mesh worker uses) over a per-subject mount of the whole
// namespace as the owner (DATA/workflows/mnt/SUBJECT, made on the owner's
// first run), bound at /zone inside the sandbox.
//
// Wiring: Open after the control socket's PathFiles, the mailboxes and the
// per-subject mounts exist and before anything is served (it subscribes to
// the change bus). Fill hands the engine to the control socket.
//
// Lifetime: PathFiles, the principal table, the mailbox, the mount table
// and the bus outlive the part; the socket server and its jobs stop before
// it. The destructor detaches from the bus, kills a running command and
// stops the engine's worker, then removes its mounts.
//
// Threading: Open, Fill and the destructor on nexusd's main thread; the
// host and the runner are called on the engine's worker thread.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "fs/change_events.h"
#include "rpc/server/service.h"
#include "workflows/engine.h"

namespace nexus {

class Mailbox;
class PrincipalTable;

class WorkflowsPart {
 public:
  struct Deps {
    std::string data_dir;
    PathFiles* files = nullptr;
    PrincipalTable* principals = nullptr;
    Mailbox* mailbox = nullptr;            // null: ipc actions are unavailable
    SubjectMounts* mounts = nullptr;       // null: run actions are unavailable
    MeshMembership* membership = nullptr;  // this daemon as a mesh node
    MeshOffice* office = nullptr;          // this daemon's director (null: not one)
    ChangeBus* bus = nullptr;
    std::string bwrap = "bwrap";
  };
  static Result<std::unique_ptr<WorkflowsPart>> Open(const Deps& deps);
  ~WorkflowsPart();
  WorkflowsPart(const WorkflowsPart&) = delete;
  WorkflowsPart& operator=(const WorkflowsPart&) = delete;

  void Fill(ServiceContext& ctx) { ctx.workflows.engine = engine_.get(); }

 private:
  class Host;
  class Sandbox;
  struct Feed;
  WorkflowsPart() = default;
  std::unique_ptr<Host> host_;
  std::unique_ptr<Sandbox> sandbox_;
  std::shared_ptr<Feed> feed_;
  std::unique_ptr<workflows::Engine> engine_;
};

}  // namespace nexus
