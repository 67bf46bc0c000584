// AgentRegistry: the durable registry of agents and their lifecycle.
//
// An agent is the subject `agent:<id>`. Its record holds a display name, a
// description, its owner (the subject that registered it, e.g. user:alice),
// free string metadata, a lifecycle phase, a generation, and its times. Every
// change to a record (register, update, transition) bumps the generation:
// register gives 1. A transition may name the generation it expects, which
// makes it a compare-and-set.
//
// Lifecycle (the written table; AgentTransitionRuleFor says the same):
//
//   from \ to      REGISTERED CONNECTED IDLE BUSY DISCONNECTED SUSPENDED
//   REGISTERED         -         yes     -    -        -         admin
//   CONNECTED          -          -     yes  yes      yes        admin
//   IDLE               -         yes     -   yes      yes        admin
//   BUSY               -         yes    yes   -       yes        admin
//   DISCONNECTED       -         yes     -    -        -         admin
//   SUSPENDED          -          -      -    -      admin         -
//
// IDLE and BUSY may go back to CONNECTED (the CONNECTED ⇄ IDLE/BUSY):
// an agent that finished its work and has no state to report is simply
// connected. Staying in a phase is not a transition. A pair that is not in
// the table is EINVAL naming both phases; an "admin" pair asked by someone
// who is not an admin is EACCES. Admins follow the same table otherwise.
//
// Staleness: CONNECTED, IDLE and BUSY are the live phases. A live agent is
// stale when its last sign of life is older than the heartbeat window
// (Options::heartbeat_window, 60 s by default): that sign is its last
// heartbeat, or its entering a live phase from REGISTERED or DISCONNECTED
// when it has not beaten since, so a freshly connected agent has one window
// to send its first heartbeat. Staleness is computed when read (IsStale,
// ToJson), never stored; other phases are never stale. A heartbeat records
// liveness only: it changes neither the phase nor the generation, and is
// refused (EPERM) for a SUSPENDED agent so the agent learns it was stopped.
//
// Who may do what (RegistryCaller names the asker once per call):
//   Register    anyone; the owner is the caller's subject, an admin may
//               name another owner. EEXIST for a taken id.
//   Update, Transition, Delete   the owner or an admin.
//   Heartbeat   the agent itself (agent:<id>), its owner or an admin.
//   Get, List   not checked here (the caller of the registry decides who
//               may see what).
// A refusal is EACCES ("user:eve may not update agent a: it is owned by
// user:alice"); an unknown id is ENOENT; a bad id, name, description,
// metadata or phase is EINVAL; a generation that is not the expected one is
// ESTALE ("generation is 8, not 7"), which the control socket reports as a
// conflict. Every id argument takes `ID` or `agent:ID`.
//
// Storage: its own SQLite file (the daemon uses DATA/agents.db, mode 0600),
// table agents(id, name, description, owner, metadata JSON, phase, generation,
// created_ns, updated_ns, connected_ns, heartbeat_ns). Everything is loaded
// into memory at Open; Get and List never touch SQLite. Register, Update,
// Transition and Delete commit at once (synchronous=FULL: they survive a
// crash and a power cut) before they return. Heartbeats are the hot path:
// Heartbeat updates memory in O(1) and marks the agent dirty; Flush writes
// every dirty heartbeat in one transaction. The daemon calls Flush
// periodically and the destructor calls it once more, so a crash loses at
// most the heartbeats since the last Flush, never a registration, update,
// transition or delete.
//
// Change hook: SetOnChange's function is called after each committed
// register, update, transition and delete (not heartbeats) with the record
// as committed (for a delete, the record as it was), so the daemon can
// rewrite /agents/<id>/AGENT.json and write the owner tuple. It runs on the
// changing thread, in commit order, outside the state lock but with the
// writer lock held: it may call Get, List, IsStale, ToJson and Heartbeat,
// and must not call Register, Update, Transition, Delete, Flush or
// SetOnChange (they would deadlock). A slow hook delays other changes and
// Flush, never heartbeats or reads.
//
// Thread-safety: every method may be called from any thread. Lock order:
// db_mu_ (writers: SQLite, the hook) before mu_ (the in-memory state).
// Heartbeat, Get and List take only mu_ (Get and List shared).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace nexus {

class SqliteDb;

enum class AgentPhase : uint8_t { kRegistered, kConnected, kIdle, kBusy, kDisconnected, kSuspended };
inline constexpr int kAgentPhaseCount = 6;

// "REGISTERED", "CONNECTED", "IDLE", "BUSY", "DISCONNECTED", "SUSPENDED".
std::string_view ToString(AgentPhase phase);
// A phase name in any case ("idle", "Busy"); EINVAL listing the phases.
Result<AgentPhase> ParseAgentPhase(std::string_view text);
// CONNECTED, IDLE and BUSY: the phases in which an agent can be stale.
bool IsLivePhase(AgentPhase phase);

// One cell of the lifecycle table above.
enum class AgentTransitionRule : uint8_t { kRefused, kAllowed, kAdminOnly };
AgentTransitionRule AgentTransitionRuleFor(AgentPhase from, AgentPhase to);

// Agent ids: 1 to 64 characters of [A-Za-z0-9._-], not starting with '.',
// so an id is also a file name (/agents/<id>/) and a ReBAC subject id.
// EINVAL with the reason otherwise.
inline constexpr size_t kAgentIdMax = 64;
Status ValidateAgentId(std::string_view id);
// The id in `text`, given as "ID" or "agent:ID": a view into `text`, or
// EINVAL (another subject type, or an invalid id).
Result<std::string_view> ParseAgentId(std::string_view text);
// "agent:<id>".
std::string AgentSubject(std::string_view id);

// Limits on the free-form fields (bytes). Names, descriptions, keys and
// values are UTF-8; names and keys hold no control characters (a name is one
// line of `agent list`), keys no '=' or space (the CLI's k=v form).
inline constexpr size_t kAgentNameMax = 256;
inline constexpr size_t kAgentDescriptionMax = 4096;
inline constexpr size_t kAgentMetadataKeyMax = 128;
inline constexpr size_t kAgentMetadataValueMax = 4096;
inline constexpr size_t kAgentMetadataEntriesMax = 64;

struct AgentRecord {
  std::string id = {};  // without "agent:"
  std::string name = {};
  std::string description = {};
  std::string owner = {};  // a user or agent subject: "user:alice"
  std::map<std::string, std::string> metadata = {};
  AgentPhase phase = AgentPhase::kRegistered;
  uint64_t generation = 0;  // 1 at registration, +1 per change
  UnixNanos created_at = 0;
  UnixNanos updated_at = 0;      // the last register, update or transition
  UnixNanos last_heartbeat = 0;  // 0: never
  // When it last entered a live phase from REGISTERED or DISCONNECTED; 0
  // while it is not live. Counts as a sign of life for staleness.
  UnixNanos connected_at = 0;

  std::string Subject() const { return AgentSubject(id); }
  bool operator==(const AgentRecord&) const = default;
};

// Who asks: the acting subject, and whether it is an administrator (by the
// rules of the boundary that authenticated it).
struct RegistryCaller {
  std::string subject = {};
  bool admin = false;
};

struct AgentRegistration {
  std::string id = {};  // "ID" or "agent:ID"
  std::string name = {};
  std::string description = {};
  std::map<std::string, std::string> metadata = {};
  // Empty: the caller's subject. Only an admin may name another subject.
  std::string owner = {};
};

// What an update changes; fields left empty stay as they are. A metadata
// entry with a value sets that key, one with nullopt removes it.
struct AgentUpdate {
  std::optional<std::string> name = {};
  std::optional<std::string> description = {};
  std::map<std::string, std::optional<std::string>> metadata = {};
  bool empty() const { return !name && !description && metadata.empty(); }
};

// List filters; both set: both must match.
struct AgentFilter {
  std::optional<std::string> owner = {};  // a subject, exactly as stored
  std::optional<AgentPhase> phase = {};
};

class AgentRegistry {
 public:
  struct Options {
    // A live agent whose last sign of life is older than this is stale.
    // Must be positive.
    std::chrono::nanoseconds heartbeat_window = std::chrono::seconds(60);
    const Clock* clock = nullptr;  // null: the system clock; must outlive the registry
  };
  enum class ChangeKind : uint8_t { kRegistered, kUpdated, kTransitioned, kDeleted };
  using ChangeHook = std::function<void(const AgentRecord&, ChangeKind)>;

  // Opens (creating) the registry in the SQLite file at `path` and loads
  // every agent. EINVAL for a window that is not positive; EIO for a damaged
  // file or row.
  static Result<std::unique_ptr<AgentRegistry>> Open(const std::string& path, Options options);
  // Flushes dirty heartbeats (errors are lost: call Flush first to see them).
  ~AgentRegistry();
  AgentRegistry(const AgentRegistry&) = delete;
  AgentRegistry& operator=(const AgentRegistry&) = delete;

  // Registers a new agent in phase REGISTERED, generation 1.
  Result<AgentRecord> Register(const RegistryCaller& caller, const AgentRegistration& registration)
      EXCLUDES(db_mu_, mu_);
  // EINVAL for an empty update. Returns the record as committed.
  Result<AgentRecord> Update(const RegistryCaller& caller, std::string_view id, const AgentUpdate& update)
      EXCLUDES(db_mu_, mu_);
  // Moves the agent to `to`. With `expected_generation`, ESTALE unless the
  // agent is at that generation (checked before the table).
  Result<AgentRecord> Transition(const RegistryCaller& caller, std::string_view id, AgentPhase to,
                                 std::optional<uint64_t> expected_generation = std::nullopt)
      EXCLUDES(db_mu_, mu_);
  Status Delete(const RegistryCaller& caller, std::string_view id) EXCLUDES(db_mu_, mu_);
  // Records a heartbeat at the clock's now: O(1), in memory; durable at the
  // next Flush.
  Status Heartbeat(const RegistryCaller& caller, std::string_view id) EXCLUDES(mu_);

  // Whether `caller` may act as the agent `id` ("ID" or "agent:ID"): the
  // agent itself, its owner, or an admin. ENOENT for an unknown id; EACCES
  // for anyone else ("user:bob may not act as agent a: it is owned by
  // user:alice"); EPERM while the agent is SUSPENDED. Returns the record.
  Result<AgentRecord> CheckActAs(const RegistryCaller& caller, std::string_view id) const EXCLUDES(mu_);
  // ENOENT for an unknown id.
  Result<AgentRecord> Get(std::string_view id) const EXCLUDES(mu_);
  // Matching agents sorted by id. With an owner, only that owner's agents
  // are visited.
  std::vector<AgentRecord> List(const AgentFilter& filter = {}) const EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

  // Writes every heartbeat recorded since the last Flush in one transaction.
  // On failure they stay dirty for the next Flush.
  Status Flush() EXCLUDES(db_mu_, mu_);

  // Replaces the change hook (null: none). See the header comment for what
  // the hook may call.
  void SetOnChange(ChangeHook hook) EXCLUDES(db_mu_);
  // Adds another function called like the change hook, after it (another
  // part of the daemon that follows changes: passports are revoked when
  // their agent is deleted or suspended). The same rules apply.
  void AddOnChange(ChangeHook hook) EXCLUDES(db_mu_);

  // Whether `record` is stale at `now` (see the header comment).
  bool IsStale(const AgentRecord& record, UnixNanos now) const;
  // The status object of `agent status --json` and of AGENT.json:
  // {"id","name","owner","phase","generation","stale","last_heartbeat"
  // (RFC 3339, or null when it never beat),"metadata" (an object),
  // "description","created_at","updated_at"}.
  nlohmann::json ToJson(const AgentRecord& record, UnixNanos now) const;
  // The registry's clock, for IsStale/ToJson callers.
  UnixNanos Now() const { return clock_.Now(); }
  std::chrono::nanoseconds heartbeat_window() const { return options_.heartbeat_window; }

  // Agents with a heartbeat not yet flushed.
  size_t TEST_DirtyHeartbeats() const EXCLUDES(mu_);

 private:
  struct Entry {
    AgentRecord record;
    bool heartbeat_dirty = false;  // on dirty_ with a heartbeat to flush
  };

  AgentRegistry(std::unique_ptr<SqliteDb> db, Options options);
  Status Load() EXCLUDES(db_mu_, mu_);
  // The committed record of `id` (with its newest heartbeat), or ENOENT.
  Result<AgentRecord> CurrentLocked(std::string_view id) const REQUIRES(db_mu_) EXCLUDES(mu_);
  // Writes `record` (all but its heartbeat) over its row.
  Status WriteRowLocked(const AgentRecord& record) REQUIRES(db_mu_);
  // Puts `record` in memory, keeping the newer in-memory heartbeat of an
  // existing entry (copied back into `record`).
  void StoreLocked(AgentRecord& record) REQUIRES(mu_);
  void EraseLocked(std::string_view id) REQUIRES(mu_);
  // Makes a committed change visible in memory (StoreLocked, or EraseLocked
  // for a delete), then calls the hook.
  void PublishLocked(AgentRecord& record, ChangeKind kind) REQUIRES(db_mu_) EXCLUDES(mu_);

  const Options options_;
  const Clock& clock_;

  // Serializes writers: SQLite, and the hook (so hooks see commit order).
  Mutex db_mu_ ACQUIRED_BEFORE(mu_);
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);
  ChangeHook on_change_ GUARDED_BY(db_mu_);
  std::vector<ChangeHook> listeners_ GUARDED_BY(db_mu_);

  // The in-memory registry. agents_ owns the entries, sorted by id (List's
  // order); index_ finds one in O(1) (Heartbeat) and by_owner_ lists an
  // owner's ids in order. The views in index_ and by_owner_ point into the
  // keys of agents_, whose nodes never move.
  mutable SharedMutex mu_;
  std::map<std::string, Entry, std::less<>> agents_ GUARDED_BY(mu_);
  std::unordered_map<std::string_view, Entry*> index_ GUARDED_BY(mu_);
  std::unordered_map<std::string, std::set<std::string_view>> by_owner_ GUARDED_BY(mu_);
  std::vector<std::string> dirty_ GUARDED_BY(mu_);  // ids whose heartbeat_dirty was set
};

std::string_view ToString(AgentRegistry::ChangeKind kind);

}  // namespace nexus
