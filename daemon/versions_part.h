// VersionsPart: nexusd's versioning feature. Owns the version store
// (DATA/versions/: versions.git + versions.db), the Recorder that feeds it
// from the ChangeBus, and the read-only history tree grafted hidden at
// /.nexus (backend id kHistoryBackendId); hands the store to the control
// socket.
//
// Threading: Start and the destructor run on nexusd's main thread; the
// recorder's subscriber runs on the bus's dispatcher thread.
#pragma once

#include <memory>
#include <string>

#include "daemon/options.h"
#include "fs/change_events.h"
#include "fs/namespace.h"
#include "base/status.h"
#include "fs/versions/history_backend.h"
#include "fs/versions/recorder.h"
#include "fs/versions/version_store.h"
#include "rpc/server/service.h"

namespace nexus {

class VersionsPart {
 public:
  // Opens the store (committing what a previous run left journaled) and
  // subscribes the recorder to `bus` (before events flow). Call Run once
  // the namespace is complete (every backend grafted).
  // Also grafts /.nexus into `ns` (call before serving).
  // `on_applied`: the recorder's observer (the operations log); may be null.
  static Result<std::unique_ptr<VersionsPart>> Open(
      const DaemonOptions& options, const std::string& data_dir, Namespace* ns, ChangeBus* bus,
      std::function<void(const versions::Applied&)> on_applied = nullptr);
  static constexpr uint16_t kHistoryBackendId = 2;
  // Stops capturing (what is queued is left to the next start's reconcile)
  // and commits the journal.
  ~VersionsPart();
  // Stops capturing now, while every backend the recorder walks is still
  // mounted (a reconcile in progress walks the whole namespace).
  void StopRecorder() { recorder_->Stop(); }

  // Starts capturing; first reconciles the tree with the history in the
  // background (files changed while the daemon was down or not yet captured).
  void Run();
  void Fill(ServiceContext& ctx);
  versions::VersionStore* store() const { return store_.get(); }
  versions::Recorder* recorder() const { return recorder_.get(); }
  // The history tree grafted at /.nexus (the activity files go inside it).
  versions::HistoryBackend* history() const { return history_.get(); }

 private:
  VersionsPart() = default;
  std::unique_ptr<versions::VersionStore> store_;
  std::unique_ptr<versions::Recorder> recorder_;
  std::unique_ptr<versions::HistoryBackend> history_;
  uint32_t keep_versions_ = 10;
  uint32_t keep_days_ = 30;
};

}  // namespace nexus
