// PrincipalTable: resolves who is calling (base/principal.h), once per
// boundary, into interned principals.
//
//   FUSE request      ForUid: the kernel's uid through its identity binding
//                     (IdentityMap), the admin rule, else UidSubject(uid)
//   per-subject mount ForSubjectMount: every request acts as the mount's
//                     subject
//   socket peer       ForPeer: SO_PEERCRED uid/gid and the peer's groups,
//                     the same binding and admin rule as the mount
//   API key           ForKey: the key's user; an admin key acts as the
//                     admin subject
//
// Every principal is interned: the table hands out const pointers that stay
// valid as long as the table, so a Caller, an open file handle or a queued
// change event can carry one without copying strings. Principals are never
// freed; the table holds one per distinct principal ever seen (uid/gid
// pairs, keys, peers, mount subjects), which stays small on a host.
//
// ForUid is on the FUSE hot path: a shared lock and one hash lookup, no
// allocation once a uid/gid pair was seen. A binding that changes (the
// IdentityMap's revision moves) makes the next request from that uid
// resolve again; calls already in flight keep the principal they started
// with.
//
// Thread-safety: every method may be called concurrently. Lock order: mu_,
// then IdentityMap's own locks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/principal.h"
#include "base/status.h"
#include "perms/identity.h"
#include "perms/key_store.h"

namespace nexus {

class PrincipalTable final : public PrincipalResolver {
 public:
  struct Options {
    // Acts as the admin subject, like root (IsAdminUid).
    std::optional<uid_t> operator_uid;
    // The subject administrators act as; it owns zone:root.
    std::string admin_subject = "user:admin";
  };
  // `identities` may be null (ReBAC off: no bindings); not owned, must
  // outlive the table.
  PrincipalTable(Options options, const IdentityMap* identities);
  PrincipalTable(const PrincipalTable&) = delete;
  PrincipalTable& operator=(const PrincipalTable&) = delete;

  // PrincipalResolver: a FUSE request from `uid`/`gid` on the main mount.
  const Principal* ForUid(uid_t uid, gid_t gid) override;
  // A control-socket peer authenticated by its Unix credentials.
  // `groups`: its supplementary groups (read from /proc by the caller).
  const Principal* ForPeer(uid_t uid, gid_t gid, std::vector<gid_t> groups);
  // A caller authenticated by the API key `key` of `user`.
  const Principal* ForKey(const UserRecord& user, const KeyRecord& key);
  // A per-subject mount acting as `subject`: EINVAL unless it is a user or
  // agent subject ("user:ID", "agent:ID", not a wildcard).
  Result<const Principal*> ForSubjectMount(std::string_view subject);

  // `base` acting as the agent `agent_subject` ("agent:ID"; whether it may
  // is the registry's question, AgentRegistry::CheckActAs): the agent's
  // subject and grants only, never an admin; the account, uid, gid,
  // groups, method and key of `base`, which authenticated.
  const Principal* ForActingAs(const Principal& base, std::string_view agent_subject);
  // The daemon's own work done on behalf of `subject` (e.g. a fork's merge
  // applied as the fork's owner once the session's rights were checked):
  // that subject, with the daemon's rights (admin), authenticated by no one.
  const Principal* ForDaemonOnBehalfOf(std::string_view subject);

  const std::string& admin_subject() const { return options_.admin_subject; }
  bool IsAdminUid(uid_t uid) const { return nexus::IsAdminUid(uid, options_.operator_uid); }

 private:
  struct ByUid {
    uint64_t revision = 0;
    const Principal* principal = nullptr;
  };
  // The subject `uid` acts as (binding, admin rule, else UidSubject).
  std::string SubjectOfUid(uid_t uid) const;
  // The one stored principal equal to `p`.
  const Principal* InternLocked(Principal p) REQUIRES(mu_);
  const Principal* Intern(Principal p) EXCLUDES(mu_);

  const Options options_;
  const IdentityMap* const identities_;
  SharedMutex mu_;
  // Keyed by uid << 32 | gid.
  std::unordered_map<uint64_t, ByUid> by_uid_ GUARDED_BY(mu_);
  // Keyed by every field of the principal; values never move or die.
  std::unordered_map<std::string, std::unique_ptr<const Principal>> interned_ GUARDED_BY(mu_);
};

}  // namespace nexus
