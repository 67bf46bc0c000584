#include "perms/passport_authority.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/format.h"
#include "base/sqlite_db.h"

namespace nexus {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS revocations(
  agent_id TEXT PRIMARY KEY, revoked_before_ns INTEGER NOT NULL, reported INTEGER NOT NULL) WITHOUT ROWID;
)sql";

constexpr UnixNanos kNanosPerMilli = 1'000'000;
// Mirrors VerifyPassport's own bound: a key id is only peeked at in text it
// would read.
constexpr size_t kMaxPeekBytes = 64 * 1024;

UnixNanos FloorMillis(UnixNanos t) { return t - ((t % kNanosPerMilli) + kNanosPerMilli) % kNanosPerMilli; }
UnixNanos CeilMillis(UnixNanos t) {
  const UnixNanos f = FloorMillis(t);
  return f == t ? t : f + kNanosPerMilli;
}

// The key id a passport names, or "" when it has none (VerifyPassport says
// why).
std::string PeekKeyId(const std::string& text) {
  if (text.size() > kMaxPeekBytes) return "";
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return "";
  auto it = doc.find("key_id");
  if (it == doc.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

Status Revoked(const std::string& why) { return Status::Error(EKEYREVOKED, why); }

}  // namespace

PassportAuthority::PassportAuthority(NodeKey key, std::unique_ptr<SqliteDb> db, AgentRegistry* registry,
                                     const Clock* clock)
    : key_(std::move(key)),
      registry_(registry),
      clock_(clock ? *clock : DefaultClock()),
      db_(std::move(db)) {}

PassportAuthority::~PassportAuthority() = default;

Result<std::unique_ptr<PassportAuthority>> PassportAuthority::Open(const std::string& key_path,
                                                                   const std::string& db_path,
                                                                   AgentRegistry* registry,
                                                                   const Clock* clock) {
  NEXUS_ASSIGN_OR_RETURN(NodeKey key, NodeKey::LoadOrCreate(key_path));
  // A revocation is a promise to whoever asked for it: FULL makes it survive
  // a power cut.
  auto db = SqliteDb::Open(
      db_path,
      {.what = "passport revocations", .synchronous = SqliteOptions::Sync::kFull, .schema = kSchema});
  if (!db.ok()) return db.status();
  if (::chmod(db_path.c_str(), 0600) != 0) return Status::FromErrno("chmod " + db_path);
  std::unique_ptr<PassportAuthority> a(
      new PassportAuthority(std::move(key), std::move(*db), registry, clock));
  NEXUS_RETURN_IF_ERROR(a->Load());
  return a;
}

Status PassportAuthority::Load() {
  MutexLock lk(db_mu_);
  Statement q = db_->Prepare("SELECT agent_id, revoked_before_ns, reported FROM revocations");
  while (q.Next()) revoked_[q.Text(0)] = {q.Int(1), q.Int(2) != 0};
  return q.status();
}

void PassportAuthority::SetNodeName(std::function<std::string()> name) { node_name_ = std::move(name); }

void PassportAuthority::SetRemote(FetchRemote fetch, ReportRemote report) {
  fetch_ = std::move(fetch);
  report_ = std::move(report);
}

std::string PassportAuthority::NodeName() const {
  std::string name = node_name_ ? node_name_() : std::string();
  return name.empty() ? "node-" + key_.key_id() : name;
}

std::optional<UnixNanos> PassportAuthority::RevokedBefore(const std::string& id) const {
  MutexLock lk(db_mu_);
  auto it = revoked_.find(id);
  if (it == revoked_.end()) return std::nullopt;
  return it->second.first;
}

Result<std::pair<std::string, PassportClaims>> PassportAuthority::Issue(const AgentRecord& agent,
                                                                        std::vector<std::string> scopes,
                                                                        UnixNanos ttl) {
  if (agent.phase == AgentPhase::kSuspended)
    return Status::Error(EACCES, "agent " + agent.id + " is SUSPENDED: it gets no passport");
  if (ttl < kNanosPerSecond || ttl > kMaxPassportTtl)
    return Status::Error(EINVAL, "a passport lives from 1 s to 7 days (604800 s), not " +
                                     std::to_string(ttl / kNanosPerSecond) + " s");
  PassportClaims c;
  c.agent_id = agent.id;
  c.owner = agent.owner;
  c.node = NodeName();
  c.scopes = std::move(scopes);
  c.issued_at = FloorMillis(clock_.Now());
  // A passport issued in the millisecond of a revocation would carry an
  // issued_at before it: start it at the next millisecond instead.
  if (auto before = RevokedBefore(agent.id); before && c.issued_at < *before)
    c.issued_at = CeilMillis(*before);
  c.expires_at = c.issued_at + ttl;
  NEXUS_ASSIGN_OR_RETURN(std::string text, IssuePassport(key_, c));
  c.expires_at = FloorMillis(c.expires_at);
  return std::make_pair(std::move(text), std::move(c));
}

Status PassportAuthority::CheckLocal(const PassportClaims& c) const {
  auto agent = registry_->Get(c.agent_id);
  if (!agent.ok()) {
    if (agent.code() == ENOENT) return Revoked("agent " + c.agent_id + " was deleted on " + c.node);
    return agent.status();
  }
  if (agent->phase == AgentPhase::kSuspended) return Revoked("agent " + c.agent_id + " is SUSPENDED");
  if (auto before = RevokedBefore(c.agent_id); before && c.issued_at < *before)
    return Revoked("the passports of " + c.agent_id + " issued before " + FormatRfc3339(*before, 3) +
                   " were revoked");
  return Status::Ok();
}

Result<RemoteTrust> PassportAuthority::Remote(bool refetch) {
  if (!fetch_) return Status::Error(ENOSYS, "this node is not in a mesh");
  const auto now = std::chrono::steady_clock::now();
  {
    MutexLock lk(cache_mu_);
    const bool fresh = cache_.valid && now - cache_.fetched < kRemoteCacheTtl;
    const bool recent = cache_.valid && now - cache_.fetched < kRemoteRefetchGap;
    if (fresh && (!refetch || recent)) {
      if (!cache_.error.ok()) return cache_.error;
      return cache_.trust;
    }
  }
  // Fetched without the lock: two callers may both fetch; the later answer
  // wins, and both are fresh.
  Result<RemoteTrust> got = fetch_();
  MutexLock lk(cache_mu_);
  cache_.valid = true;
  cache_.fetched = std::chrono::steady_clock::now();
  cache_.error = got.status();
  if (got.ok()) cache_.trust = *got;
  return got;
}

Result<VerifiedPassport> PassportAuthority::Verify(const std::string& text,
                                                   const std::optional<std::string>& trusted_key) {
  const std::string key_id = PeekKeyId(text);
  const bool own = !key_id.empty() && key_id == key_.key_id();
  TrustSet trust;
  std::map<std::string, std::string> key_node;  // remote key id -> its node's name
  std::optional<RemoteTrust> remote;
  Status remote_error;
  auto use_remote = [&](Result<RemoteTrust> r) {
    if (!r.ok()) {
      remote_error = r.status();
      return;
    }
    for (const RemoteTrust::Key& k : r->keys) {
      auto id = KeyIdOf(k.public_key);
      key_node[id] = k.node;
      if (!trusted_key) (void)trust.Add(k.public_key);  // a malformed key is simply not trusted
    }
    remote = std::move(r).value();
  };
  if (trusted_key) {
    NEXUS_ASSIGN_OR_RETURN(std::string raw, ParsePublicKey(*trusted_key));
    NEXUS_RETURN_IF_ERROR(trust.Add(raw).status());
  } else {
    NEXUS_RETURN_IF_ERROR(trust.Add(key_.public_key()).status());
    if (!own && !key_id.empty() && fetch_) {
      Result<RemoteTrust> r = Remote(false);
      bool known = false;
      if (r.ok())
        for (const RemoteTrust::Key& k : r->keys) known = known || KeyIdOf(k.public_key) == key_id;
      use_remote(known ? std::move(r) : Remote(true));
    }
  }

  std::string how;
  auto revoked = [&](const PassportClaims& c) -> Status {
    if (own) {
      how = "checked on this node (the issuer)";
      return CheckLocal(c);
    }
    if (!trusted_key) {
      auto it = key_node.find(key_id);
      if (it != key_node.end() && it->second != c.node)
        return Status::Error(EKEYREJECTED, "passport signed with the key of node " + it->second +
                                               " claims to be issued by node " + c.node);
    }
    if (!remote && remote_error.ok() && fetch_) use_remote(Remote(false));
    if (!remote) {
      if (!fetch_ || remote_error.code() == ENOSYS) {
        how = "not checked: issued on node " + c.node + ", and this node is in no mesh to ask";
        return Status::Ok();
      }
      return Status::Error(EAGAIN, "cannot check the revocation of a passport issued on node " + c.node +
                                       ": " + remote_error.message());
    }
    how = "checked against the mesh director";
    for (const PassportRevocation& r : remote->revocations)
      if (r.agent_id == c.agent_id && r.node == c.node && c.issued_at < r.revoked_before)
        return Revoked("the passports of " + c.agent_id + " issued on " + c.node + " before " +
                       FormatRfc3339(r.revoked_before, 3) + " were revoked");
    return Status::Ok();
  };

  auto claims = VerifyPassport(text, trust, clock_.Now(), revoked);
  if (!claims.ok()) {
    if (claims.code() == EKEYREJECTED && !remote_error.ok() && remote_error.code() != ENOSYS)
      return Status::Error(EKEYREJECTED, claims.status().message() + " (the mesh director's key set: " +
                                             remote_error.message() + ")");
    return claims.status();
  }
  return VerifiedPassport{std::move(claims).value(), key_id, how};
}

Result<UnixNanos> PassportAuthority::Record(const std::string& id, UnixNanos before) {
  MutexLock lk(db_mu_);
  auto it = revoked_.find(id);
  if (it != revoked_.end()) before = std::max(before, it->second.first);
  NEXUS_RETURN_IF_ERROR(
      db_->Prepare(
             "INSERT OR REPLACE INTO revocations(agent_id, revoked_before_ns, reported) VALUES(?1, ?2, 0)")
          .Bind(1, id)
          .Bind(2, before)
          .Run("revoke the passports of " + id));
  revoked_[id] = {before, false};
  return before;
}

Result<UnixNanos> PassportAuthority::RevokePassports(const std::string& id) {
  return Record(id, clock_.Now());
}

bool PassportAuthority::HasUnreported() const {
  if (!report_) return false;
  MutexLock lk(db_mu_);
  for (const auto& [id, entry] : revoked_)
    if (!entry.second) return true;
  return false;
}

Status PassportAuthority::ReportPending() {
  if (!report_) return Status::Error(ENOSYS, "this node is not in a mesh");
  const std::string node = NodeName();
  std::vector<PassportRevocation> pending;
  {
    MutexLock lk(db_mu_);
    for (const auto& [id, entry] : revoked_)
      if (!entry.second) pending.push_back({id, node, entry.first});
  }
  if (pending.empty()) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(report_(pending));
  MutexLock lk(db_mu_);
  for (const PassportRevocation& r : pending) {
    auto it = revoked_.find(r.agent_id);
    if (it == revoked_.end() || it->second.first != r.revoked_before) continue;  // revoked again since
    NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE revocations SET reported = 1 WHERE agent_id = ?1")
                              .Bind(1, r.agent_id)
                              .Run("mark the revocation of " + r.agent_id + " reported"));
    it->second.second = true;
  }
  return Status::Ok();
}

void PassportAuthority::OnAgentChange(const AgentRecord& agent, AgentRegistry::ChangeKind kind) {
  const bool deleted = kind == AgentRegistry::ChangeKind::kDeleted;
  const bool suspended =
      kind == AgentRegistry::ChangeKind::kTransitioned && agent.phase == AgentPhase::kSuspended;
  if (!deleted && !suspended) return;
  auto r = Record(agent.id, clock_.Now());
  if (!r.ok())
    spdlog::error("passports: agent {} was {} but its passports could not be revoked: {}", agent.id,
                  deleted ? "deleted" : "suspended", r.status().ToString());
}

}  // namespace nexus
