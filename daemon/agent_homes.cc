#include "daemon/agent_homes.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "base/format.h"
#include "base/layout.h"

namespace nexus {
namespace {

Principal DaemonPrincipal(std::string admin_subject) {
  Principal p;
  p.subject = admin_subject;
  p.account = std::move(admin_subject);
  p.name = "nexusd";
  p.how = AuthMethod::kDaemon;
  p.admin = true;
  return p;
}

Tuple HomeTuple(std::string_view subject, Relation relation, const std::string& home) {
  Tuple t;
  auto s = SubjectRef::Parse(subject);
  if (s.ok()) t.subject = *s;
  t.relation = relation;
  t.object = ObjectRef{ObjectType::kFolder, home};
  return t;
}

}  // namespace

AgentHomes::AgentHomes(PathFiles* files, Namespace* ns, RebacEngine* rebac, std::string admin_subject)
    : files_(files),
      ns_(ns),
      rebac_(rebac),
      daemon_(DaemonPrincipal(std::move(admin_subject))),
      caller_{.uid = 0, .gid = 0, .pid = 0, .umask = 0, .principal = &daemon_} {}

std::string AgentHomes::RecordJson(const AgentRecord& r) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["subject"] = r.Subject();
  j["name"] = r.name;
  j["description"] = r.description;
  j["owner"] = r.owner;
  j["phase"] = std::string(ToString(r.phase));
  j["generation"] = r.generation;
  j["metadata"] = r.metadata.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json(r.metadata);
  j["created_at"] = FormatRfc3339(r.created_at);
  j["updated_at"] = FormatRfc3339(r.updated_at);
  return j.dump(2) + "\n";
}

Status AgentHomes::Start(AgentRegistry& registry) {
  const std::string agents(layout::kAgentsDir);
  NEXUS_RETURN_IF_ERROR(files_->MkDir(caller_, agents, 0755, true));
  NEXUS_ASSIGN_OR_RETURN(PathStat dir, files_->Stat(caller_, agents, false, false));
  if (!dir.attr.IsDir()) return Status::Error(ENOTDIR, agents + " is not a directory");
  NEXUS_RETURN_IF_ERROR(
      ns_->SetXattr(caller_, dir.attr.ino, std::string(layout::kReservedXattr), layout::kAgentsName, 0));
  ns_->ReserveAgentHomes(dir.attr.ino);

  std::set<std::string> registered;
  for (const AgentRecord& agent : registry.List({})) {
    registered.insert(agent.id);
    if (Status st = Provision(agent); !st.ok())
      return Status::Error(st.code(), "home of " + agent.Subject() + ": " + st.message());
  }
  NEXUS_ASSIGN_OR_RETURN(auto entries, files_->List(caller_, agents, false));
  for (const PathStat& e : entries) {
    std::string id = e.path.substr(e.path.rfind('/') + 1);
    if (registered.count(id)) continue;
    spdlog::info("agents: removing the home of {}, no longer registered", e.path);
    NEXUS_RETURN_IF_ERROR(Remove(id));
  }
  return Status::Ok();
}

void AgentHomes::OnChange(const AgentRecord& agent, AgentRegistry::ChangeKind kind) {
  Status st;
  switch (kind) {
    case AgentRegistry::ChangeKind::kRegistered:
      st = Provision(agent);
      break;
    case AgentRegistry::ChangeKind::kUpdated:
    case AgentRegistry::ChangeKind::kTransitioned:
      st = WriteRecord(agent);
      break;
    case AgentRegistry::ChangeKind::kDeleted:
      st = Remove(agent.id);
      break;
  }
  if (!st.ok())
    spdlog::error("agents: home of {} after {}: {} (repaired at the next start)", agent.Subject(),
                  ToString(kind), st.ToString());
}

Status AgentHomes::Provision(const AgentRecord& agent) {
  const std::string home = layout::AgentHome(agent.id);
  const mode_t mode = rebac_ ? 0777 : 0755;
  NEXUS_RETURN_IF_ERROR(files_->MkDir(caller_, home, mode, true));
  for (std::string_view folder : layout::kMailboxFolders)
    NEXUS_RETURN_IF_ERROR(files_->MkDir(caller_, home + "/" + std::string(folder), mode, true));
  if (rebac_) {
    std::vector<Tuple> adds = {HomeTuple(agent.owner, Relation::kOwner, home),
                               HomeTuple(agent.Subject(), Relation::kEditor, home)};
    NEXUS_RETURN_IF_ERROR(rebac_->WriteUnchecked(std::move(adds), {}).status());
  }
  return WriteRecord(agent);
}

Status AgentHomes::WriteRecord(const AgentRecord& agent) {
  WriteOptions options;
  options.mode = 0444;
  const std::string path = layout::AgentHome(agent.id) + "/" + std::string(layout::kAgentRecordName);
  return files_->Write(caller_, path, RecordJson(agent), options).status();
}

Status AgentHomes::Remove(const std::string& id) {
  const std::string home = layout::AgentHome(id);
  if (rebac_) {
    std::vector<Tuple> deletes;
    for (ObjectType type : {ObjectType::kFolder, ObjectType::kFile}) {
      TupleFilter filter;
      filter.object_type = type;
      for (Tuple& t : rebac_->ListTuples(filter))
        if (PathIsUnder(t.object.id, home) && !(t.subject.type == ObjectType::kAgent && t.subject.id == id))
          deletes.push_back(std::move(t));
    }
    // The agent's own grants go with it, so an id registered again holds
    // nothing it did not get anew.
    TupleFilter mine;
    mine.subject_type = ObjectType::kAgent;
    mine.subject_id = id;
    for (Tuple& t : rebac_->ListTuples(mine)) deletes.push_back(std::move(t));
    if (!deletes.empty()) NEXUS_RETURN_IF_ERROR(rebac_->WriteUnchecked({}, std::move(deletes)).status());
  }
  return RemoveTree(home);
}

Status AgentHomes::RemoveTree(const std::string& path) {
  auto stat = files_->Stat(caller_, path, false, false);
  if (!stat.ok()) return stat.code() == ENOENT ? Status::Ok() : stat.status();
  if (!stat->attr.IsDir()) return files_->Unlink(caller_, path);
  NEXUS_ASSIGN_OR_RETURN(auto entries, files_->List(caller_, path, false));
  for (const PathStat& e : entries) NEXUS_RETURN_IF_ERROR(RemoveTree(e.path));
  return files_->RmDir(caller_, path);
}

}  // namespace nexus
