#include "daemon/rebac_part.h"

#include <spdlog/spdlog.h>

namespace nexus {

Result<std::unique_ptr<RebacPart>> RebacPart::Open(const Options& o) {
  std::unique_ptr<RebacPart> part(new RebacPart());
  part->admin_subject_ = o.admin_subject;
  auto audit = AuditLog::Open(o.data_dir + "/audit.db", {});
  if (!audit.ok()) return Status::Error(audit.code(), "audit log: " + audit.status().message());
  part->audit_ = std::move(audit).value();
  RebacOptions ro;
  ro.audit = part->audit_.get();
  ro.on_change = [link = part->link_] {
    MutexLock lk(link->mu);
    if (link->table) link->table->OnAccessChanged();
  };
  ro.root_owner = o.admin_subject;
  ro.admin_subjects = {o.admin_subject};
  auto engine = RebacEngine::Open(o.data_dir + "/rebac.db", ro);
  if (!engine.ok()) return Status::Error(engine.code(), "tuples: " + engine.status().message());
  part->engine_ = std::move(engine).value();
  IdentityOptions io;
  io.operator_uid = o.operator_uid;
  io.admin_subject = o.admin_subject;
  auto ids = IdentityMap::Open(o.data_dir + "/rebac.db", io);
  if (!ids.ok()) return Status::Error(ids.code(), "identities: " + ids.status().message());
  part->identities_ = std::move(ids).value();
  part->principals_ = std::make_unique<PrincipalTable>(
      PrincipalTable::Options{o.operator_uid, o.admin_subject}, part->identities_.get());
  part->policy_ = std::make_unique<RebacPolicy>(part->engine_.get(), part->principals_.get(),
                                                part->audit_.get(), o.admin_subject);
  spdlog::info("rebac: {} tuples at revision {}, {} uid bindings; admin subject {}",
               part->engine_->tuple_count(), part->engine_->revision(), part->identities_->List().size(),
               o.admin_subject);
  return part;
}

RebacPart::~RebacPart() {
  StopMounts();
  policy_.reset();
  principals_.reset();
  identities_.reset();
  engine_.reset();
  audit_.reset();  // writes what is queued
}

void RebacPart::EnableSubjectMounts(Namespace* ns, FuseContext* main, unsigned threads, ChangeBus* bus) {
  mounts_ = std::make_unique<SubjectMountTable>(ns, policy_.get(), principals_.get(), main, threads);
  {
    MutexLock lk(link_->mu);
    link_->table = mounts_.get();
  }
  bus->Subscribe([link = link_](const ChangeEvent& e) {
    MutexLock lk(link->mu);
    if (link->table) link->table->OnChange(e);
  });
}

void RebacPart::StopMounts() {
  {
    MutexLock lk(link_->mu);
    link_->table = nullptr;
  }
  mounts_.reset();
}

void RebacPart::Fill(ServiceContext& ctx) {
  ctx.rebac.engine = engine_.get();
  ctx.rebac.identities = identities_.get();
  ctx.rebac.audit = audit_.get();
  ctx.access = policy_.get();
  ctx.rebac.admin_subject = admin_subject_;
  ctx.mounts = mounts_.get();
}

}  // namespace nexus
