// OpsPart: nexusd's operations log (feature "oplog"). Owns the log
// (DATA/oplog.db) and the feed that fills it from the ChangeBus and the
// version store's journal, runs the daily gc (--oplog-keep-days), and hands
// both to the control socket.
//
// Wiring order (the versions part needs the feed's observer before the feed
// can exist, since the feed needs the version store): Open, then
// VersionObserver() into VersionsPart::Open, then Connect with the store,
// then Run before the recorder starts. Open subscribes to the bus, so the
// feed hears every change before the recorder does: a change (a truncate)
// is queued before the version it causes can reach the journal, and the log
// keeps their order.
//
// Threading: Open, Connect, Run and the destructor run on nexusd's main
// thread; the observer and the bus subscriber on the recorder's worker and
// the bus's dispatcher, and both are safe to call after the part is gone
// (they then do nothing).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "daemon/options.h"
#include "fs/change_events.h"
#include "ops/op_feed.h"
#include "ops/op_log.h"
#include "rpc/server/service.h"

namespace nexus {

namespace versions {
class Recorder;
class VersionStore;
struct Applied;
}  // namespace versions

class OpsPart {
 public:
  // Opens DATA/oplog.db and subscribes to `bus` (before any other part that
  // reacts to changes, and before events flow).
  static Result<std::unique_ptr<OpsPart>> Open(const DaemonOptions& options, const std::string& data_dir,
                                               ChangeBus* bus);
  // Detaches the observer and the subscriber, appends what is queued, stops.
  ~OpsPart();

  // For versions::Recorder::Options::on_applied.
  std::function<void(const versions::Applied&)> VersionObserver();
  // Creates the feed. `store`/`recorder`: null when versioning is off.
  void Connect(ChangeBus* bus, versions::VersionStore* store, versions::Recorder* recorder);
  // Catches up from the journal and starts logging, and the daily gc.
  Status Run();
  void Fill(ServiceContext& ctx);
  ops::OpLog* log() const { return log_.get(); }

 private:
  // Where the observer and the subscriber reach the feed while it exists.
  struct Relay {
    Mutex mu;
    ops::OpFeed* feed GUARDED_BY(mu) = nullptr;
  };

  OpsPart() = default;
  void GcLoop();

  uint32_t keep_days_ = 30;
  std::shared_ptr<Relay> relay_ = std::make_shared<Relay>();
  std::unique_ptr<ops::OpLog> log_;
  std::unique_ptr<ops::OpFeed> feed_;
  Mutex gc_mu_;
  std::condition_variable gc_wake_;
  bool stop_ GUARDED_BY(gc_mu_) = false;
  std::thread gc_;
};

}  // namespace nexus
