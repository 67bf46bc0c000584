#include "perms/agent_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/format.h"
#include "base/sqlite_db.h"
#include "perms/rebac_types.h"

namespace nexus {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS agents(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, owner TEXT NOT NULL,
  metadata TEXT NOT NULL, phase TEXT NOT NULL, generation INTEGER NOT NULL,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, connected_ns INTEGER NOT NULL,
  heartbeat_ns INTEGER NOT NULL) WITHOUT ROWID;
)sql";

constexpr std::array<std::string_view, kAgentPhaseCount> kPhaseNames = {
    "REGISTERED", "CONNECTED", "IDLE", "BUSY", "DISCONNECTED", "SUSPENDED"};

constexpr std::string_view kAgentPrefix = "agent:";

// The lifecycle table of the header, row `from`, column `to`.
constexpr AgentTransitionRule kNo = AgentTransitionRule::kRefused;
constexpr AgentTransitionRule kYes = AgentTransitionRule::kAllowed;
constexpr AgentTransitionRule kAdmin = AgentTransitionRule::kAdminOnly;
// clang-format off
constexpr AgentTransitionRule kTransitions[kAgentPhaseCount][kAgentPhaseCount] = {
    //                  REGISTERED CONNECTED IDLE  BUSY  DISCONNECTED SUSPENDED
    /* REGISTERED   */ {kNo,       kYes,     kNo,  kNo,  kNo,         kAdmin},
    /* CONNECTED    */ {kNo,       kNo,      kYes, kYes, kYes,        kAdmin},
    /* IDLE         */ {kNo,       kYes,     kNo,  kYes, kYes,        kAdmin},
    /* BUSY         */ {kNo,       kYes,     kYes, kNo,  kYes,        kAdmin},
    /* DISCONNECTED */ {kNo,       kYes,     kNo,  kNo,  kNo,         kAdmin},
    /* SUSPENDED    */ {kNo,       kNo,      kNo,  kNo,  kAdmin,      kNo},
};
// clang-format on

char AsciiUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Checks a free-form text field: its length, UTF-8, and control characters
// (none, or only tab and newline when `multiline`).
Status CheckText(std::string_view what, std::string_view value, size_t min, size_t max, bool multiline) {
  if (value.size() < min || value.size() > max) {
    return Status::Error(EINVAL, std::string(what) + " must be " + std::to_string(min) + " to " +
                                     std::to_string(max) + " bytes, not " + std::to_string(value.size()));
  }
  if (!IsValidUtf8(value)) return Status::Error(EINVAL, std::string(what) + " is not valid UTF-8");
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 || u == 0x7f) && !(multiline && (c == '\n' || c == '\t'))) {
      return Status::Error(EINVAL, std::string(what) + " holds a control character");
    }
  }
  return Status::Ok();
}

Status CheckName(std::string_view name) { return CheckText("an agent name", name, 1, kAgentNameMax, false); }

Status CheckDescription(std::string_view d) {
  return CheckText("an agent description", d, 0, kAgentDescriptionMax, true);
}

Status CheckMetadataKey(std::string_view key) {
  NEXUS_RETURN_IF_ERROR(CheckText("a metadata key", key, 1, kAgentMetadataKeyMax, false));
  if (key.find_first_of("= ") != std::string_view::npos) {
    return Status::Error(EINVAL, "metadata key '" + std::string(key) + "' holds '=' or a space");
  }
  return Status::Ok();
}

Status CheckMetadataValue(std::string_view key, std::string_view value) {
  return CheckText("the value of metadata key '" + std::string(key) + "'", value, 0, kAgentMetadataValueMax,
                   true);
}

Status CheckMetadataSize(size_t entries) {
  if (entries > kAgentMetadataEntriesMax) {
    return Status::Error(EINVAL, "an agent holds at most " + std::to_string(kAgentMetadataEntriesMax) +
                                     " metadata entries, not " + std::to_string(entries));
  }
  return Status::Ok();
}

// An owner is one user or agent: not a wildcard, not a userset.
Status CheckOwner(std::string_view owner) {
  auto s = ParseSubjectView(owner);
  if (!s.ok()) return s.status();
  if ((s->type != ObjectType::kUser && s->type != ObjectType::kAgent) || s->id == "*" ||
      s->relation != Relation::kNone) {
    return Status::Error(EINVAL,
                         "an agent is owned by a user or an agent, not \"" + std::string(owner) + "\"");
  }
  if (!IsValidUtf8(owner)) return Status::Error(EINVAL, "owner is not valid UTF-8");
  return Status::Ok();
}

// Whether `subject` is agent:<id>, without building the string.
bool IsSubjectOf(std::string_view subject, std::string_view id) {
  return subject.size() == kAgentPrefix.size() + id.size() && subject.starts_with(kAgentPrefix) &&
         subject.substr(kAgentPrefix.size()) == id;
}

Status NotFound(std::string_view id) {
  return Status::Error(ENOENT, "agent '" + std::string(id) + "' not found");
}

Status NotOwner(const RegistryCaller& caller, std::string_view verb, const AgentRecord& r) {
  return Status::Error(EACCES, caller.subject + " may not " + std::string(verb) + " agent " + r.id +
                                   ": it is owned by " + r.owner);
}

Status CheckOwnerOrAdmin(const RegistryCaller& caller, std::string_view verb, const AgentRecord& r) {
  if (caller.admin || caller.subject == r.owner) return Status::Ok();
  return NotOwner(caller, verb, r);
}

std::string MetadataText(const std::map<std::string, std::string>& metadata) {
  nlohmann::json j = metadata;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::map<std::string, std::string>> ParseMetadata(std::string_view id, std::string_view text) {
  auto damaged = [&] {
    return Status::Error(EIO, "agent registry: damaged metadata of agent " + std::string(id));
  };
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return damaged();
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) return damaged();
    out.emplace(key, value.get_ref<const std::string&>());
  }
  return out;
}

}  // namespace

std::string_view ToString(AgentPhase phase) { return kPhaseNames[static_cast<int>(phase)]; }

Result<AgentPhase> ParseAgentPhase(std::string_view text) {
  for (size_t i = 0; i < kPhaseNames.size(); ++i) {
    std::string_view name = kPhaseNames[i];
    if (name.size() == text.size() && std::equal(name.begin(), name.end(), text.begin(),
                                                 [](char a, char b) { return a == AsciiUpper(b); })) {
      return static_cast<AgentPhase>(i);
    }
  }
  std::string all;
  for (std::string_view name : kPhaseNames) {
    if (!all.empty()) all += ", ";
    all += name;
  }
  return Status::Error(EINVAL, "unknown agent phase '" + std::string(text) + "' (one of " + all + ")");
}

bool IsLivePhase(AgentPhase phase) {
  return phase == AgentPhase::kConnected || phase == AgentPhase::kIdle || phase == AgentPhase::kBusy;
}

AgentTransitionRule AgentTransitionRuleFor(AgentPhase from, AgentPhase to) {
  return kTransitions[static_cast<int>(from)][static_cast<int>(to)];
}

std::string_view ToString(AgentRegistry::ChangeKind kind) {
  switch (kind) {
    case AgentRegistry::ChangeKind::kRegistered:
      return "registered";
    case AgentRegistry::ChangeKind::kUpdated:
      return "updated";
    case AgentRegistry::ChangeKind::kTransitioned:
      return "transitioned";
    case AgentRegistry::ChangeKind::kDeleted:
      return "deleted";
  }
  return "?";
}

Status ValidateAgentId(std::string_view id) {
  const std::string quoted = "agent id '" + std::string(id) + "'";
  if (id.empty() || id.size() > kAgentIdMax) {
    return Status::Error(EINVAL, quoted + " must be 1 to " + std::to_string(kAgentIdMax) + " characters");
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return Status::Error(EINVAL, quoted + " may hold only letters, digits, '.', '_' and '-'");
  }
  if (id.front() == '.') return Status::Error(EINVAL, quoted + " must not start with '.'");
  return Status::Ok();
}

Result<std::string_view> ParseAgentId(std::string_view text) {
  std::string_view id = text;
  if (id.starts_with(kAgentPrefix)) {
    id.remove_prefix(kAgentPrefix.size());
  } else if (id.find(':') != std::string_view::npos) {
    return Status::Error(EINVAL, "'" + std::string(text) + "' is not an agent (give ID or agent:ID)");
  }
  NEXUS_RETURN_IF_ERROR(ValidateAgentId(id));
  return id;
}

std::string AgentSubject(std::string_view id) {
  std::string out(kAgentPrefix);
  out += id;
  return out;
}

AgentRegistry::AgentRegistry(std::unique_ptr<SqliteDb> db, Options options)
    : options_(options), clock_(options.clock ? *options.clock : DefaultClock()), db_(std::move(db)) {}

AgentRegistry::~AgentRegistry() { (void)Flush(); }

Result<std::unique_ptr<AgentRegistry>> AgentRegistry::Open(const std::string& path, Options options) {
  if (options.heartbeat_window <= std::chrono::nanoseconds::zero()) {
    return Status::Error(EINVAL, "the agent heartbeat window must be positive");
  }
  // A registration and a transition are promises to the caller: FULL makes
  // them survive a power cut too. They are control-plane calls, and the
  // heartbeats share one transaction per Flush.
  auto db = SqliteDb::Open(
      path, {.what = "agent registry", .synchronous = SqliteOptions::Sync::kFull, .schema = kSchema});
  if (!db.ok()) return db.status();
  // Owners and metadata are only the daemon's to read (SQLite gives the -wal
  // and -shm files the same mode).
  if (::chmod(path.c_str(), 0600) != 0) return Status::FromErrno("chmod " + path);
  std::unique_ptr<AgentRegistry> registry(new AgentRegistry(std::move(*db), options));
  NEXUS_RETURN_IF_ERROR(registry->Load());
  return registry;
}

Status AgentRegistry::Load() {
  MutexLock dl(db_mu_);
  Statement q = db_->Prepare(
      "SELECT id, name, description, owner, metadata, phase, generation, created_ns, updated_ns,"
      " connected_ns, heartbeat_ns FROM agents");
  std::vector<AgentRecord> rows;
  while (q.Next()) {
    AgentRecord r;
    r.id = q.Text(0);
    r.name = q.Text(1);
    r.description = q.Text(2);
    r.owner = q.Text(3);
    auto metadata = ParseMetadata(r.id, q.TextView(4));
    if (!metadata.ok()) return metadata.status();
    r.metadata = std::move(metadata).value();
    auto phase = ParseAgentPhase(q.TextView(5));
    if (!phase.ok()) return Status::Error(EIO, "agent registry: damaged phase of agent " + r.id);
    r.phase = *phase;
    r.generation = static_cast<uint64_t>(q.Int(6));
    r.created_at = q.Int(7);
    r.updated_at = q.Int(8);
    r.connected_at = q.Int(9);
    r.last_heartbeat = q.Int(10);
    if (!ValidateAgentId(r.id).ok()) return Status::Error(EIO, "agent registry: damaged agent id " + r.id);
    rows.push_back(std::move(r));
  }
  NEXUS_RETURN_IF_ERROR(q.status());
  WriterLock lk(mu_);
  for (AgentRecord& r : rows) StoreLocked(r);
  return Status::Ok();
}

void AgentRegistry::StoreLocked(AgentRecord& record) {
  auto it = agents_.find(record.id);
  if (it != agents_.end()) {
    Entry& e = it->second;
    record.last_heartbeat = std::max(record.last_heartbeat, e.record.last_heartbeat);
    e.record = record;
    return;
  }
  it = agents_.emplace(record.id, Entry{record}).first;
  std::string_view key = it->first;
  index_.emplace(key, &it->second);
  by_owner_[record.owner].insert(key);
}

void AgentRegistry::EraseLocked(std::string_view id) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  std::string_view key = it->first;
  index_.erase(key);
  auto owned = by_owner_.find(it->second.record.owner);
  if (owned != by_owner_.end()) {
    owned->second.erase(key);
    if (owned->second.empty()) by_owner_.erase(owned);
  }
  // A pending id on dirty_ is skipped by Flush: it no longer finds an entry.
  agents_.erase(it);
}

Result<AgentRecord> AgentRegistry::CurrentLocked(std::string_view id) const {
  ReaderLock lk(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return NotFound(id);
  return it->second->record;
}

Status AgentRegistry::WriteRowLocked(const AgentRecord& r) {
  Statement st = db_->Prepare(
      "UPDATE agents SET name = ?2, description = ?3, metadata = ?4, phase = ?5, generation = ?6,"
      " updated_ns = ?7, connected_ns = ?8 WHERE id = ?1");
  st.Bind(1, r.id).Bind(2, r.name).Bind(3, r.description).Bind(4, MetadataText(r.metadata));
  st.Bind(5, ToString(r.phase)).Bind(6, static_cast<int64_t>(r.generation));
  st.Bind(7, r.updated_at).Bind(8, r.connected_at);
  NEXUS_RETURN_IF_ERROR(st.Run("write agent " + r.id));
  if (db_->Changes() != 1) {
    return Status::Error(EIO, "agent registry: agent " + r.id + " is missing from its database");
  }
  return Status::Ok();
}

void AgentRegistry::PublishLocked(AgentRecord& record, ChangeKind kind) {
  {
    WriterLock lk(mu_);
    if (kind == ChangeKind::kDeleted) {
      EraseLocked(record.id);
    } else {
      StoreLocked(record);
    }
  }
  if (on_change_) on_change_(record, kind);
  for (const ChangeHook& listener : listeners_) listener(record, kind);
}

void AgentRegistry::AddOnChange(ChangeHook hook) {
  MutexLock dl(db_mu_);
  listeners_.push_back(std::move(hook));
}

void AgentRegistry::SetOnChange(ChangeHook hook) {
  MutexLock dl(db_mu_);
  on_change_ = std::move(hook);
}

Result<AgentRecord> AgentRegistry::Register(const RegistryCaller& caller, const AgentRegistration& reg) {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(reg.id));
  NEXUS_RETURN_IF_ERROR(CheckName(reg.name));
  NEXUS_RETURN_IF_ERROR(CheckDescription(reg.description));
  NEXUS_RETURN_IF_ERROR(CheckMetadataSize(reg.metadata.size()));
  for (const auto& [key, value] : reg.metadata) {
    NEXUS_RETURN_IF_ERROR(CheckMetadataKey(key));
    NEXUS_RETURN_IF_ERROR(CheckMetadataValue(key, value));
  }
  const std::string& owner = reg.owner.empty() ? caller.subject : reg.owner;
  if (owner != caller.subject && !caller.admin) {
    return Status::Error(EACCES, caller.subject + " may not register an agent for " + owner +
                                     ": only an admin may name another owner");
  }
  NEXUS_RETURN_IF_ERROR(CheckOwner(owner));
  if (IsSubjectOf(owner, id)) return Status::Error(EINVAL, "agent " + std::string(id) + " cannot own itself");

  AgentRecord r;
  r.id = std::string(id);
  r.name = reg.name;
  r.description = reg.description;
  r.owner = owner;
  r.metadata = reg.metadata;
  r.phase = AgentPhase::kRegistered;
  r.generation = 1;
  r.created_at = r.updated_at = clock_.Now();

  MutexLock dl(db_mu_);
  {
    ReaderLock lk(mu_);
    if (index_.count(r.id)) return Status::Error(EEXIST, "agent '" + r.id + "' already exists");
  }
  Statement ins = db_->Prepare(
      "INSERT INTO agents(id, name, description, owner, metadata, phase, generation, created_ns,"
      " updated_ns, connected_ns, heartbeat_ns) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  ins.Bind(1, r.id).Bind(2, r.name).Bind(3, r.description).Bind(4, r.owner).Bind(5, MetadataText(r.metadata));
  ins.Bind(6, ToString(r.phase)).Bind(7, static_cast<int64_t>(r.generation)).Bind(8, r.created_at);
  ins.Bind(9, r.updated_at).Bind(10, r.connected_at).Bind(11, r.last_heartbeat);
  NEXUS_RETURN_IF_ERROR(ins.Run("register agent " + r.id));
  PublishLocked(r, ChangeKind::kRegistered);
  return r;
}

Result<AgentRecord> AgentRegistry::Update(const RegistryCaller& caller, std::string_view agent,
                                          const AgentUpdate& update) {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(agent));
  if (update.empty()) return Status::Error(EINVAL, "nothing to update for agent " + std::string(id));
  if (update.name) NEXUS_RETURN_IF_ERROR(CheckName(*update.name));
  if (update.description) NEXUS_RETURN_IF_ERROR(CheckDescription(*update.description));
  for (const auto& [key, value] : update.metadata) {
    NEXUS_RETURN_IF_ERROR(CheckMetadataKey(key));
    if (value) NEXUS_RETURN_IF_ERROR(CheckMetadataValue(key, *value));
  }

  MutexLock dl(db_mu_);
  NEXUS_ASSIGN_OR_RETURN(AgentRecord r, CurrentLocked(id));
  NEXUS_RETURN_IF_ERROR(CheckOwnerOrAdmin(caller, "update", r));
  if (update.name) r.name = *update.name;
  if (update.description) r.description = *update.description;
  for (const auto& [key, value] : update.metadata) {
    if (value) {
      r.metadata[key] = *value;
    } else {
      r.metadata.erase(key);
    }
  }
  NEXUS_RETURN_IF_ERROR(CheckMetadataSize(r.metadata.size()));
  ++r.generation;
  r.updated_at = clock_.Now();
  NEXUS_RETURN_IF_ERROR(WriteRowLocked(r));
  PublishLocked(r, ChangeKind::kUpdated);
  return r;
}

Result<AgentRecord> AgentRegistry::Transition(const RegistryCaller& caller, std::string_view agent,
                                              AgentPhase to, std::optional<uint64_t> expected_generation) {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(agent));
  MutexLock dl(db_mu_);
  NEXUS_ASSIGN_OR_RETURN(AgentRecord r, CurrentLocked(id));
  NEXUS_RETURN_IF_ERROR(CheckOwnerOrAdmin(caller, "transition", r));
  if (expected_generation && *expected_generation != r.generation) {
    return Status::Error(ESTALE, "agent " + r.id + " changed: generation is " + std::to_string(r.generation) +
                                     ", not " + std::to_string(*expected_generation));
  }
  const std::string move = std::string(ToString(r.phase)) + " to " + std::string(ToString(to));
  switch (AgentTransitionRuleFor(r.phase, to)) {
    case AgentTransitionRule::kRefused:
      return Status::Error(EINVAL, "agent " + r.id + " cannot go from " + move);
    case AgentTransitionRule::kAdminOnly:
      if (!caller.admin) {
        return Status::Error(
            EACCES, caller.subject + " may not move agent " + r.id + " from " + move + ": only an admin may");
      }
      break;
    case AgentTransitionRule::kAllowed:
      break;
  }
  const UnixNanos now = clock_.Now();
  if (!IsLivePhase(to)) {
    r.connected_at = 0;
  } else if (!IsLivePhase(r.phase)) {
    r.connected_at = now;
  }
  r.phase = to;
  ++r.generation;
  r.updated_at = now;
  NEXUS_RETURN_IF_ERROR(WriteRowLocked(r));
  PublishLocked(r, ChangeKind::kTransitioned);
  return r;
}

Status AgentRegistry::Delete(const RegistryCaller& caller, std::string_view agent) {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(agent));
  MutexLock dl(db_mu_);
  NEXUS_ASSIGN_OR_RETURN(AgentRecord r, CurrentLocked(id));
  NEXUS_RETURN_IF_ERROR(CheckOwnerOrAdmin(caller, "delete", r));
  NEXUS_RETURN_IF_ERROR(
      db_->Prepare("DELETE FROM agents WHERE id = ?1").Bind(1, r.id).Run("delete agent " + r.id));
  PublishLocked(r, ChangeKind::kDeleted);
  return Status::Ok();
}

Status AgentRegistry::Heartbeat(const RegistryCaller& caller, std::string_view agent) {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(agent));
  const UnixNanos now = clock_.Now();
  WriterLock lk(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return NotFound(id);
  Entry& e = *it->second;
  if (!caller.admin && caller.subject != e.record.owner && !IsSubjectOf(caller.subject, id)) {
    return NotOwner(caller, "heartbeat", e.record);
  }
  if (e.record.phase == AgentPhase::kSuspended) {
    return Status::Error(EPERM, "agent " + e.record.id + " is SUSPENDED; an admin must release it");
  }
  // Beats from several threads may read the clock out of order; keep the newest.
  e.record.last_heartbeat = std::max(e.record.last_heartbeat, now);
  if (!e.heartbeat_dirty) {
    e.heartbeat_dirty = true;
    dirty_.emplace_back(id);
  }
  return Status::Ok();
}

Result<AgentRecord> AgentRegistry::CheckActAs(const RegistryCaller& caller, std::string_view agent) const {
  NEXUS_ASSIGN_OR_RETURN(AgentRecord record, Get(agent));
  if (!caller.admin && caller.subject != record.owner && !IsSubjectOf(caller.subject, record.id))
    return NotOwner(caller, "act as", record);
  if (record.phase == AgentPhase::kSuspended)
    return Status::Error(EPERM, "agent " + record.id + " is SUSPENDED; an admin must release it");
  return record;
}

Status AgentRegistry::Flush() {
  MutexLock dl(db_mu_);
  std::vector<std::pair<std::string, UnixNanos>> batch;
  {
    WriterLock lk(mu_);
    batch.reserve(dirty_.size());
    for (std::string& id : dirty_) {
      auto it = index_.find(id);
      if (it == index_.end() || !it->second->heartbeat_dirty) continue;  // deleted meanwhile
      it->second->heartbeat_dirty = false;
      UnixNanos beat = it->second->record.last_heartbeat;
      batch.emplace_back(std::move(id), beat);
    }
    dirty_.clear();
  }
  if (batch.empty()) return Status::Ok();
  Status st = InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
    Statement up = db_->Prepare("UPDATE agents SET heartbeat_ns = ?2 WHERE id = ?1");
    for (const auto& [id, beat] : batch) {
      NEXUS_RETURN_IF_ERROR(up.Bind(1, id).Bind(2, beat).Run("write heartbeat of agent " + id));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // Nothing was written: mark them dirty again for the next Flush.
    WriterLock lk(mu_);
    for (auto& [id, beat] : batch) {
      auto it = index_.find(id);
      if (it == index_.end() || it->second->heartbeat_dirty) continue;
      it->second->heartbeat_dirty = true;
      dirty_.push_back(std::move(id));
    }
  }
  return st;
}

Result<AgentRecord> AgentRegistry::Get(std::string_view agent) const {
  NEXUS_ASSIGN_OR_RETURN(std::string_view id, ParseAgentId(agent));
  ReaderLock lk(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return NotFound(id);
  return it->second->record;
}

std::vector<AgentRecord> AgentRegistry::List(const AgentFilter& filter) const {
  std::vector<AgentRecord> out;
  auto keep = [&](const AgentRecord& r) { return !filter.phase || r.phase == *filter.phase; };
  ReaderLock lk(mu_);
  if (filter.owner) {
    auto owned = by_owner_.find(*filter.owner);
    if (owned == by_owner_.end()) return out;
    for (std::string_view id : owned->second) {
      const AgentRecord& r = index_.at(id)->record;
      if (keep(r)) out.push_back(r);
    }
    return out;
  }
  for (const auto& [id, e] : agents_) {
    if (keep(e.record)) out.push_back(e.record);
  }
  return out;
}

size_t AgentRegistry::size() const {
  ReaderLock lk(mu_);
  return agents_.size();
}

size_t AgentRegistry::TEST_DirtyHeartbeats() const {
  ReaderLock lk(mu_);
  size_t n = 0;
  for (const auto& [id, e] : agents_) n += e.heartbeat_dirty;
  return n;
}

bool AgentRegistry::IsStale(const AgentRecord& r, UnixNanos now) const {
  if (!IsLivePhase(r.phase)) return false;
  const UnixNanos last_sign = std::max(r.last_heartbeat, r.connected_at);
  return now - last_sign > options_.heartbeat_window.count();
}

nlohmann::json AgentRegistry::ToJson(const AgentRecord& r, UnixNanos now) const {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = r.id;
  j["name"] = r.name;
  j["owner"] = r.owner;
  j["phase"] = std::string(ToString(r.phase));
  j["generation"] = r.generation;
  j["stale"] = IsStale(r, now);
  j["last_heartbeat"] = r.last_heartbeat ? nlohmann::json(FormatRfc3339(r.last_heartbeat)) : nlohmann::json();
  j["metadata"] = r.metadata.empty() ? nlohmann::json::object() : nlohmann::json(r.metadata);
  j["description"] = r.description;
  j["created_at"] = FormatRfc3339(r.created_at);
  j["updated_at"] = FormatRfc3339(r.updated_at);
  return j;
}

}  // namespace nexus
