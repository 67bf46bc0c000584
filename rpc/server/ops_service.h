// The Ops service (rpc/nexus.capnp Ops): the operations log over the
// socket. One class, its methods defined beside their parts:
//   ops_service.cc        log, gc, stats, and what they share (what a
//                         subject may see of the log)
//   ops_watch_service.cc  watch (the live stream)
//   ops_undo_service.cc   undo
// Only rpc/server/ops_*service.cc include this.
//
// Threading: the event-loop thread, as every Service (service_internal.h).
#pragma once

#include <set>
#include <string>
#include <unordered_map>

#include "ops/operation.h"
#include "rpc/server/service_internal.h"

namespace nexus {

// What one session may see of the operations log, the one rule for the log,
// the watch and the activity files: an admin sees everything; anyone else
// the operations made by its own subject or by an agent it owns (per the
// agent registry, read when this is made), on paths it may read now (the
// access policy and the file's permissions; a path gone: its nearest
// existing directory must be listable). Either path of a rename will do.
//
// Threading: one thread at a time (it caches answers per path); it reads
// the filesystem, so use it off the event loop for more than a few.
class OpVisibility {
 public:
  explicit OpVisibility(const Conn& conn);
  bool all() const { return admin_; }
  bool Visible(const ops::Operation& op);

 private:
  bool MayRead(const std::string& path);

  const Conn& conn_;
  const bool admin_;
  std::set<std::string> subjects_;
  std::unordered_map<std::string, bool> readable_;
};

// An operation as the socket sends it (Ops.log and Ops.watch).
void FillRecord(rpc::OpRecord::Builder b, const ops::Operation& op);

class OpsImpl final : public Service<rpc::Ops> {
 public:
  explicit OpsImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> log(LogContext context) override;      // ops_service.cc
  kj::Promise<void> gc(GcContext context) override;        // ops_service.cc
  kj::Promise<void> stats(StatsContext context) override;  // ops_service.cc
  kj::Promise<void> watch(WatchContext context) override;  // ops_watch_service.cc
  kj::Promise<void> undo(UndoContext context) override;    // ops_undo_service.cc
};

}  // namespace nexus
