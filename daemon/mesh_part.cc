#include "daemon/mesh_part.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <chrono>

namespace nexus {

Result<std::unique_ptr<MeshPart>> MeshPart::Open(const DaemonOptions& options, const std::string& data_dir) {
  const std::string dir = data_dir + "/mesh";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  std::unique_ptr<MeshPart> part(new MeshPart());
  auto store = mesh::SqliteStore::Open(dir + "/mesh.db", &DefaultClock());
  if (!store.ok()) return Status::Error(store.code(), "mesh store: " + store.status().message());
  part->store_ = std::move(store).value();
  mesh::DirectorOptions dopts;
  dopts.registration_key = options.registration_key;
  dopts.results_dir = dir + "/results";
  dopts.lease_ttl = std::chrono::milliseconds(static_cast<int64_t>(options.mesh_lease_ttl * 1000));
  dopts.heartbeat_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options.mesh_heartbeat_timeout * 1000));
  auto director = mesh::Director::Open(part->store_.get(), &DefaultClock(), dopts);
  if (!director.ok()) return Status::Error(director.code(), "mesh director: " + director.status().message());
  part->director_ = std::move(director).value();
  auto keys = mesh::KeyDirectory::Open(part->store_.get());
  if (!keys.ok()) return Status::Error(keys.code(), "mesh key directory: " + keys.status().message());
  part->keys_ = std::move(keys).value();
  spdlog::info("mesh: directing {} nodes, {} tasks (state in {})", part->director_->ListNodes().size(),
               part->director_->ListTasks().size(), dir);
  return part;
}

MeshPart::~MeshPart() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  keys_.reset();
  director_.reset();
  store_.reset();
}

void MeshPart::Fill(ServiceContext& ctx) {
  office_ = std::make_unique<MeshOffice>(director_.get(), keys_.get());
  ctx.mesh.office = office_.get();
  housekeeping_ = std::thread([this] { Housekeeping(); });
}

void MeshPart::Housekeeping() {
  MutexLock lk(mu_);
  while (!lk.WaitFor(cv_, std::chrono::seconds(1), [this]() REQUIRES(mu_) { return stop_; })) {
    lk.Unlock();
    director_->Tick(mesh::MeshNow(DefaultClock()));
    // Every second, also with no node ready: the round only visits pending
    // tasks, and records why each one waits ("no eligible node: 2
    // drained, 1 down").
    auto placed = director_->ScheduleAll();
    if (placed.ok()) {
      office_->Deliver(placed->placements);
      if (placed->assigned) spdlog::info("mesh: placed {} tasks", placed->assigned);
    } else {
      spdlog::warn("mesh: scheduling failed: {}", placed.status().ToString());
    }
    lk.Lock();
  }
}

}  // namespace nexus
