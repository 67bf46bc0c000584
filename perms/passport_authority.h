// PassportAuthority: a node's passports (perms/passport.h). It issues them
// for the agents of its registry with the node's identity key, keeps the
// revocations made here, and verifies passports issued here or, through a
// remote trust source (the mesh director's key set), on other nodes.
//
// Issuing: the claims are {agent_id (the registry id, without "agent:"),
// owner (the agent's owner), node (NodeName()), scopes, issued_at (now),
// expires_at (now + ttl)}; ttl from 1 s to kMaxPassportTtl. A SUSPENDED
// agent gets none (EACCES). Who may ask is the caller's business.
//
// Trust: without a key given to Verify, a passport verifies against this
// node's own key and, when a remote source is set, the keys it returns. The
// remote answer is cached for kRemoteCacheTtl and fetched again at once,
// at most every kRemoteRefetchGap, when a passport names a key id the cache
// lacks. A remote key vouches only for passports whose `node` claim is the
// name it was published under, so one node cannot speak for another.
//
// Revocation:
//   - a passport signed with this node's key: revoked when its agent is not
//     in the registry (deleted), is SUSPENDED, or was revoked here
//     (RevokePassports: issued_at before its revoked-before instant);
//   - a passport signed elsewhere: revoked when the remote source lists a
//     revocation for (agent, issuing node) later than its issued_at; without
//     a remote source its revocation cannot be checked, and Verify says so.
//   Deleting or suspending an agent records a revocation too (the daemon
//   routes registry changes to OnAgentChange), so other nodes learn of it.
//
// Reporting: every revocation is recorded durably, marked unreported, and
// sent to the remote reporter (the director) by ReportPending, which the
// daemon calls after each revocation and periodically until it succeeds.
//
// Storage: its own SQLite file (the daemon uses DATA/passports.db, mode
// 0600): revocations(agent_id PRIMARY KEY, revoked_before_ns, reported).
// A revocation commits (synchronous=FULL) before RevokePassports returns.
//
// Errors: ENOENT unknown agent; EINVAL bad ttl or scope; EACCES suspended
// agent; VerifyPassport's EBADMSG, EKEYREJECTED, EKEYEXPIRED, EKEYREVOKED;
// EIO storage. A remote source that fails is named inside EKEYREJECTED (a
// key it could not supply) or makes EAGAIN (the revocations of another
// node's passport could not be checked: it is not accepted); ENOSYS from
// it means "no mesh" (not checked, accepted on signature and expiry).
//
// Thread-safety: every method may be called from any thread. Fetching and
// reporting may block on the network (the remote functions): call Verify,
// RevokePassports and ReportPending off the event loop. Lock order:
// db_mu_ (SQLite) and cache_mu_ are never held together; the remote
// functions are called with neither held.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "perms/agent_registry.h"
#include "perms/passport.h"

namespace nexus {

class SqliteDb;

inline constexpr UnixNanos kDefaultPassportTtl = 3600 * kNanosPerSecond;
inline constexpr UnixNanos kMaxPassportTtl = 7 * 24 * 3600 * kNanosPerSecond;

// Passports of `agent_id` issued on `node` before `revoked_before` are
// revoked.
struct PassportRevocation {
  std::string agent_id;
  std::string node;
  UnixNanos revoked_before = 0;
};

// What the remote source (the mesh director) vouches for.
struct RemoteTrust {
  struct Key {
    std::string node;        // the node's name
    std::string public_key;  // raw Ed25519, 32 bytes
  };
  std::vector<Key> keys;
  std::vector<PassportRevocation> revocations;
};

// What Verify found.
struct VerifiedPassport {
  PassportClaims claims;
  std::string key_id;
  // How revocation was checked: "checked on this node (the issuer)",
  // "checked against the mesh director", or "not checked: ...".
  std::string revocation;
};

class PassportAuthority {
 public:
  static constexpr std::chrono::seconds kRemoteCacheTtl{3};
  static constexpr std::chrono::milliseconds kRemoteRefetchGap{500};

  using FetchRemote = std::function<Result<RemoteTrust>()>;
  using ReportRemote = std::function<Status(const std::vector<PassportRevocation>&)>;

  // Loads or creates the node key at `key_path` (NodeKey::LoadOrCreate)
  // and opens the revocations at `db_path`. `registry` (not owned) must
  // outlive the authority; `clock` null: the system clock.
  static Result<std::unique_ptr<PassportAuthority>> Open(const std::string& key_path,
                                                         const std::string& db_path, AgentRegistry* registry,
                                                         const Clock* clock = nullptr);
  ~PassportAuthority();
  PassportAuthority(const PassportAuthority&) = delete;
  PassportAuthority& operator=(const PassportAuthority&) = delete;

  // Wiring, before the authority is used from several threads.
  // The name this node signs as (asked at each issue and verify).
  void SetNodeName(std::function<std::string()> name);
  // The mesh: where other nodes' keys and revocations come from, and where
  // revocations made here go. Either may be null.
  void SetRemote(FetchRemote fetch, ReportRemote report);

  const NodeKey& key() const { return key_; }
  std::string NodeName() const;

  // A passport for `agent` (see the top of the file); returns its text and
  // its claims as signed.
  Result<std::pair<std::string, PassportClaims>> Issue(const AgentRecord& agent,
                                                       std::vector<std::string> scopes, UnixNanos ttl);
  // Checks `text`: against `trusted_key` alone when given (ParsePublicKey's
  // forms), else against this node's trust set.
  Result<VerifiedPassport> Verify(const std::string& text, const std::optional<std::string>& trusted_key);

  // Revokes every passport of agent `id` issued here before now; returns
  // the instant (durable; ReportPending sends it on).
  Result<UnixNanos> RevokePassports(const std::string& id);
  // Sends the unreported revocations to the reporter. OK when there were
  // none or they were all acknowledged; ENOSYS without a reporter.
  Status ReportPending();
  // Whether revocations wait to be reported (and a reporter is set).
  bool HasUnreported() const;
  // The registry's change hook: a delete or a move to SUSPENDED revokes
  // the agent's passports (durably; reported later by ReportPending).
  void OnAgentChange(const AgentRecord& agent, AgentRegistry::ChangeKind kind);

  // The revoked-before instant of agent `id` here, if any.
  std::optional<UnixNanos> RevokedBefore(const std::string& id) const;

 private:
  struct Cache {
    bool valid = false;
    std::chrono::steady_clock::time_point fetched{};
    RemoteTrust trust;
    Status error;  // of the last fetch
  };

  PassportAuthority(NodeKey key, std::unique_ptr<SqliteDb> db, AgentRegistry* registry, const Clock* clock);
  Status Load() EXCLUDES(db_mu_);
  Result<UnixNanos> Record(const std::string& id, UnixNanos before) EXCLUDES(db_mu_);
  // The remote trust, from the cache or fetched (`refetch`: unless fetched
  // within kRemoteRefetchGap). ENOSYS without a remote source.
  Result<RemoteTrust> Remote(bool refetch) EXCLUDES(cache_mu_);
  Status CheckLocal(const PassportClaims& claims) const;

  NodeKey key_;
  AgentRegistry* const registry_;
  const Clock& clock_;
  std::function<std::string()> node_name_;  // set before use, then read-only
  FetchRemote fetch_;
  ReportRemote report_;

  mutable Mutex db_mu_;
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);
  // agent id -> (revoked before, reported)
  std::map<std::string, std::pair<UnixNanos, bool>> revoked_ GUARDED_BY(db_mu_);

  Mutex cache_mu_;
  Cache cache_ GUARDED_BY(cache_mu_);
};

}  // namespace nexus
