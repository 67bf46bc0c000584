#include "daemon/rebac_part.h"

#include <spdlog/spdlog.h>

namespace nexus {
namespace {

// The delegation table sees the engine as each subject's own access.
DelegationTable::Options DelegationOptions(RebacPart& part, const RebacPart::Options& o) {
  RebacEngine* engine = part.engine();
  DelegationTable::Options d;
  d.own_access = [engine](std::string_view subject, Permission p, std::string_view path, bool is_dir) {
    auto allowed = engine->Decide(subject, Access::Of(p), RebacPolicy::ObjectFor(path, is_dir));
    return allowed.ok() && *allowed;
  };
  d.objects_of = [engine](std::string_view subject) {
    std::vector<std::pair<std::string, bool>> out;
    for (ObjectType type : {ObjectType::kFolder, ObjectType::kFile}) {
      auto objects = engine->ListObjects("read", subject, type);
      if (!objects.ok()) continue;
      for (const std::string& o : *objects) {
        auto view = ParseObjectView(o);
        if (view.ok()) out.emplace_back(std::string(view->id), type == ObjectType::kFolder);
      }
    }
    return out;
  };
  d.audit = part.audit();
  d.admin_subject = o.admin_subject;
  d.on_change = part.access_changed();
  return d;
}

}  // namespace

Result<std::unique_ptr<RebacPart>> RebacPart::Open(const Options& o) {
  std::unique_ptr<RebacPart> part(new RebacPart());
  part->admin_subject_ = o.admin_subject;
  auto audit = AuditLog::Open(o.data_dir + "/audit.db", {});
  if (!audit.ok()) return Status::Error(audit.code(), "audit log: " + audit.status().message());
  part->audit_ = std::move(audit).value();
  RebacOptions ro;
  ro.audit = part->audit_.get();
  ro.on_change = part->access_changed();
  ro.root_owner = o.admin_subject;
  ro.admin_subjects = {o.admin_subject};
  auto engine = RebacEngine::Open(o.data_dir + "/rebac.db", ro);
  if (!engine.ok()) return Status::Error(engine.code(), "tuples: " + engine.status().message());
  part->engine_ = std::move(engine).value();
  IdentityOptions io;
  io.operator_uid = o.operator_uid;
  io.admin_subject = o.admin_subject;
  io.on_change = part->access_changed();
  auto ids = IdentityMap::Open(o.data_dir + "/rebac.db", io);
  if (!ids.ok()) return Status::Error(ids.code(), "identities: " + ids.status().message());
  part->identities_ = std::move(ids).value();
  part->principals_ = std::make_unique<PrincipalTable>(
      PrincipalTable::Options{o.operator_uid, o.admin_subject}, part->identities_.get());
  auto delegations = DelegationTable::Open(o.data_dir + "/delegations.db", DelegationOptions(*part, o));
  if (!delegations.ok())
    return Status::Error(delegations.code(), "delegations: " + delegations.status().message());
  part->delegations_ = std::move(delegations).value();
  part->policy_ =
      std::make_unique<RebacPolicy>(part->engine_.get(), part->principals_.get(), part->audit_.get(),
                                    o.admin_subject, part->delegations_.get());
  part->policy_->RefreshViews(part->identities_.get());
  {
    MutexLock lk(part->link_->mu);
    part->link_->policy = part->policy_.get();
    part->link_->identities = part->identities_.get();
  }
  spdlog::info("rebac: {} tuples at revision {}, {} uid bindings; admin subject {}",
               part->engine_->tuple_count(), part->engine_->revision(), part->identities_->List().size(),
               o.admin_subject);
  return part;
}

std::function<void()> RebacPart::access_changed() const {
  return [link = link_] {
    MutexLock lk(link->mu);
    if (link->policy) link->policy->RefreshViews(link->identities);
    if (link->table) link->table->OnAccessChanged();
  };
}

RebacPart::~RebacPart() {
  StopMounts();
  {
    MutexLock lk(link_->mu);
    link_->policy = nullptr;
    link_->identities = nullptr;
  }
  policy_.reset();
  delegations_.reset();
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
  ctx.rebac.delegations = delegations_.get();
  ctx.access = policy_.get();
  ctx.rebac.admin_subject = admin_subject_;
  ctx.mounts = mounts_.get();
}

}  // namespace nexus
