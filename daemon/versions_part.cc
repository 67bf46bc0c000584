#include "daemon/versions_part.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <filesystem>

#include "base/layout.h"

namespace nexus {

Result<std::unique_ptr<VersionsPart>> VersionsPart::Open(
    const DaemonOptions& options, const std::string& data_dir, Namespace* ns, ChangeBus* bus,
    std::function<void(const versions::Applied&)> on_applied) {
  const std::string dir = data_dir + "/versions";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  versions::VersionStore::Options so;
  so.dir = dir;
  so.commit_window = std::chrono::milliseconds(options.versions_commit_window_ms);
  auto store = versions::VersionStore::Open(so);
  if (!store.ok()) return Status::Error(store.code(), "version store: " + store.status().message());
  std::unique_ptr<VersionsPart> part(new VersionsPart());
  part->store_ = std::move(store).value();
  versions::Recorder::Options ro;
  ro.store = part->store_.get();
  ro.ns = ns;
  ro.on_applied = std::move(on_applied);
  part->recorder_ = std::make_unique<versions::Recorder>(ro);
  part->keep_versions_ = options.versions_keep_versions;
  part->keep_days_ = options.versions_keep_days;
  // The history tree's scratch files (materialised versions) from a previous
  // run are garbage: start empty.
  const std::string scratch = dir + "/scratch";
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  if (::mkdir(scratch.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + scratch);
  versions::HistoryBackend::Options ho;
  ho.scratch_dir = scratch;
  auto history = versions::HistoryBackend::Create(kHistoryBackendId, part->store_.get(), ho);
  if (!history.ok()) return history.status();
  part->history_ = std::move(history).value();
  NEXUS_RETURN_IF_ERROR(
      ns->AddMount(kRootIno, std::string(layout::kSystemName), part->history_.get(), /*hidden=*/true));
  versions::Recorder* recorder = part->recorder_.get();
  bus->Subscribe([recorder](const ChangeEvent& ev) { recorder->OnChange(ev); });
  // Every close is a version: the backends keep what each close left until
  // the recorder has it (docs/versions.md "Exact capture").
  bus->SetKeepClosedContent(true);
  spdlog::info("versioning: history in {} (commit window {} ms)", dir, options.versions_commit_window_ms);
  return part;
}

VersionsPart::~VersionsPart() {
  recorder_.reset();  // stops; the queue is left to the next reconcile
  history_.reset();
  store_.reset();  // commits the journal
}

void VersionsPart::Run() { recorder_->Start(/*reconcile=*/true); }

void VersionsPart::Fill(ServiceContext& ctx) {
  ctx.versions.store = store_.get();
  ctx.versions.recorder = recorder_.get();
  ctx.versions.gc_keep_versions = keep_versions_;
  ctx.versions.gc_keep_days = keep_days_;
}

}  // namespace nexus
