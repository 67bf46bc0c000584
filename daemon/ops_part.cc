#include "daemon/ops_part.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "fs/versions/recorder.h"

namespace nexus {
namespace {
constexpr std::chrono::hours kGcInterval{24};
constexpr std::chrono::minutes kFirstGc{1};
}  // namespace

Result<std::unique_ptr<OpsPart>> OpsPart::Open(const DaemonOptions& options, const std::string& data_dir,
                                               ChangeBus* bus) {
  auto log = ops::OpLog::Open({.path = data_dir + "/oplog.db"});
  if (!log.ok()) return log.status();
  std::unique_ptr<OpsPart> part(new OpsPart());
  part->log_ = std::move(log).value();
  part->keep_days_ = options.oplog_keep_days;
  bus->Subscribe([relay = part->relay_](const ChangeEvent& ev) {
    MutexLock lk(relay->mu);
    if (relay->feed) relay->feed->OnChange(ev);
  });
  return part;
}

OpsPart::~OpsPart() {
  {
    MutexLock lk(gc_mu_);
    stop_ = true;
  }
  gc_wake_.notify_all();
  if (gc_.joinable()) gc_.join();
  {
    MutexLock lk(relay_->mu);
    relay_->feed = nullptr;
  }
  feed_.reset();  // appends what is queued
  log_.reset();
}

std::function<void(const versions::Applied&)> OpsPart::VersionObserver() {
  return [relay = relay_](const versions::Applied& applied) {
    MutexLock lk(relay->mu);
    if (relay->feed) relay->feed->OnVersionApplied(applied);
  };
}

void OpsPart::Connect(ChangeBus* bus, versions::VersionStore* store, versions::Recorder* recorder) {
  ops::OpFeed::Options fo;
  fo.log = log_.get();
  fo.store = store;
  fo.drain_upstream = [bus, recorder] {
    bus->Drain();
    if (recorder) recorder->Drain();
  };
  feed_ = std::make_unique<ops::OpFeed>(fo);
  MutexLock lk(relay_->mu);
  relay_->feed = feed_.get();
}

Status OpsPart::Run() {
  NEXUS_RETURN_IF_ERROR(feed_->Start());
  spdlog::info("operations log: {} operations (newest {}), kept {} days", log_->Count(), log_->NewestId(),
               keep_days_);
  gc_ = std::thread([this] { GcLoop(); });
  return Status::Ok();
}

void OpsPart::GcLoop() {
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstGc);
  MutexLock lk(gc_mu_);
  for (;;) {
    if (lk.WaitFor(gc_wake_, wait, [&]() REQUIRES(gc_mu_) { return stop_; })) return;
    lk.Unlock();
    auto dropped = log_->Gc(keep_days_);
    if (!dropped.ok())
      spdlog::warn("operations log gc: {}", dropped.status().ToString());
    else if (*dropped > 0)
      spdlog::info("operations log gc: dropped {} operations older than {} days", *dropped, keep_days_);
    lk.Lock();
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(kGcInterval);
  }
}

void OpsPart::Fill(ServiceContext& ctx) {
  ctx.ops.log = log_.get();
  ctx.ops.feed = feed_.get();
  ctx.ops.keep_days = keep_days_;
}

}  // namespace nexus
