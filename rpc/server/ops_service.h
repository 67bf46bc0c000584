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

#include "rpc/server/service_internal.h"

namespace nexus {

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
