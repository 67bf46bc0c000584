#include "daemon/agents_part.h"

#include <spdlog/spdlog.h>

namespace nexus {
namespace {
void LogChange(const AgentRecord& agent, AgentRegistry::ChangeKind kind) {
  spdlog::info("agents: {} {} (owner {}, phase {}, generation {})", agent.Subject(), ToString(kind),
               agent.owner, ToString(agent.phase), agent.generation);
}
}  // namespace

Result<std::unique_ptr<AgentsPart>> AgentsPart::Open(const std::string& data_dir) {
  const std::string path = data_dir + "/agents.db";
  auto registry = AgentRegistry::Open(path, {});
  if (!registry.ok()) return Status::Error(registry.code(), "agent registry: " + registry.status().message());
  std::unique_ptr<AgentsPart> part(new AgentsPart());
  part->registry_ = std::move(registry).value();
  part->registry_->SetOnChange(LogChange);
  part->flusher_ = std::thread([p = part.get()] { p->FlushLoop(); });
  spdlog::info("agents: registry in {} ({} agents)", path, part->registry_->size());
  return part;
}

AgentsPart::~AgentsPart() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (Status st = registry_->Flush(); !st.ok())
    spdlog::error("agents: flushing heartbeats at stop: {}", st.ToString());
}

void AgentsPart::Fill(ServiceContext& ctx) { ctx.agents.registry = registry_.get(); }

void AgentsPart::AttachHomes(AgentHomes* homes) {
  registry_->SetOnChange([homes](const AgentRecord& agent, AgentRegistry::ChangeKind kind) {
    LogChange(agent, kind);
    homes->OnChange(agent, kind);
  });
}

void AgentsPart::FlushLoop() {
  MutexLock lk(mu_);
  while (!lk.WaitFor(cv_, kFlushInterval, [this]() REQUIRES(mu_) { return stop_; })) {
    lk.Unlock();
    if (Status st = registry_->Flush(); !st.ok())
      spdlog::warn("agents: flushing heartbeats: {}", st.ToString());
    lk.Lock();
  }
}

}  // namespace nexus
