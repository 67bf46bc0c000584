// Undo: takes back a selection of logged operations, newest first, through
// the version store and the namespace (docs/operations.md "Undo").
//
// Plan() decides, for each selected operation, the inverse step and whether
// it conflicts: a path changed after the operation by an operation outside
// the selection is a conflict and is left alone unless `force`. Apply()
// carries the plan out as the caller, labelled "undo" (so an undo is itself
// a set of logged operations that can be undone), and reports per step what
// was and was not done. Contents come back from the version store, deleted
// files are recreated, renames and mkdirs reversed, created files removed
// (they stay in history), modes, owners and xattrs set back. Undoing a mkdir
// removes what the selection created below it, unlogged contents (a .git
// folder made inside it) included.
//
// Only an admin, the subject itself, or the owner of the agent may undo an
// operation: the rest are reported `skipped` (or the whole call refused when
// nothing is left); every undo is audited.
//
// Threading: Plan and Apply block (store reads, file I/O): call them off the
// socket's event loop. Independent calls may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "fs/types.h"
#include "ops/operation.h"

namespace nexus {
class AccessPolicy;
class AgentRegistry;
class AuditSink;
class PathFiles;
class PrincipalTable;
namespace versions {
class VersionStore;
}
}  // namespace nexus

namespace nexus::ops {

class OpLog;

struct UndoStep {
  int64_t op_id = 0;
  std::string action;  // restore-content recreate rename-back remove rmdir mkdir chmod chown
                       // setxattr removexattr none
  std::string path;
  std::string to_path;
  uint32_t version = 0;
  std::string status;  // planned done conflict failed skipped
  std::string reason;
};

struct UndoReport {
  std::vector<UndoStep> steps;  // newest operation first
  uint32_t applied = 0, conflicts = 0, failed = 0, skipped = 0;
  bool dry_run = false;
};

class Undoer {
 public:
  struct Deps {
    OpLog* log = nullptr;
    versions::VersionStore* store = nullptr;  // null: content steps fail (versioning off)
    PathFiles* files = nullptr;
    AccessPolicy* access = nullptr;   // null: ReBAC off
    AgentRegistry* agents = nullptr;  // null: no agent owners
    // Who steps act as (see Apply); null: every step acts as the caller.
    PrincipalTable* principals = nullptr;
    AuditSink* audit = nullptr;  // the AuditLog; null: not audited
  };
  explicit Undoer(Deps deps) : deps_(deps) {}

  // `caller` is who asks (its principal decides what it may undo).
  // EINVAL for a selection naming nothing (no ids, agent, task or subject).
  Result<UndoReport> Plan(const Caller& caller, const OpFilter& selection, bool force) const;
  // Plans, then applies. `progress(done, total)` after each step. A step
  // acts with the rights the operation was made with — its subject (through
  // `principals`) and its uid — unless the caller made it: whoever may undo
  // an operation (checked when planning) is not refused by the modes of the
  // files its agent made. Steps never act as the daemon.
  Result<UndoReport> Apply(const Caller& caller, const OpFilter& selection, bool force,
                           const std::function<void(uint64_t, uint64_t)>& progress = {}) const;

 private:
  Deps deps_;
};

}  // namespace nexus::ops
