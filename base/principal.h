// Principal: who is calling. One value for every boundary — a FUSE request,
// the control socket's Unix peer, an API key, a per-subject mount — so access
// checks, the audit log and version provenance all name the same subject.
//
// Why here: fs/ carries the principal in every Caller (fs/types.h) and the
// recorder writes it into versions, but fs/ sits below perms/ (perms/
// implements fs/'s AccessPolicy), so the type lives under both, in base/.
// The value is plain data; the rules that produce it (identity bindings, the
// admin rule, API keys) are perms/'s: perms/principals.h resolves each
// boundary's facts into an interned Principal once, and everything above
// only reads it. The two text rules every layer must agree on — the subject
// of an unbound uid, and which uids are the administrators — are written
// here, once.
//
// Threading: Principal is an immutable value once resolved; resolvers hand
// out const pointers that stay valid for the resolver's lifetime and may be
// read from any thread. PrincipalResolver implementations are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nexus {

// How a principal was authenticated.
enum class AuthMethod : uint8_t {
  kDaemon,           // the daemon's own work: no outside caller
  kUid,              // a FUSE request: the kernel's uid, through its identity binding
  kPeerCredentials,  // the control socket's Unix peer (SO_PEERCRED)
  kApiKey,           // an API key (TLS listener, or the Unix socket with a key)
  kSubjectMount,     // a per-subject mount: every request acts as its subject
};
// "daemon", "uid", "peer", "key", "mount" (for logs and messages).
std::string_view AuthMethodName(AuthMethod how);

struct Principal {
  // The ReBAC subject every access check, audit record and version uses
  // ("agent:alice", "user:admin", "user:uid-1001").
  std::string subject;
  // The account that authenticated, as a subject: the key's user for an API
  // key ("user:bob" even when bob's admin key acts as user:admin), else
  // `subject`. Reported by `whoami`, and the owner of the locks it takes.
  std::string account;
  // The account's name: the key's user name, "admin", "uid-N", or the
  // subject's id for a per-subject mount.
  std::string name;
  // The POSIX identity its calls are checked with where the kernel does not
  // check them (the control socket): the peer's or the key's uid and gid,
  // and the peer's supplementary groups. On the mount the kernel checks each
  // request's own credentials (Caller::uid/gid).
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  AuthMethod how = AuthMethod::kDaemon;
  // An administrator by the rules of its boundary: an admin uid, an admin
  // key, or the admin subject itself. (ReBAC may make more subjects admins;
  // the access policy asks the engine about those.)
  bool admin = false;
  std::string key_id;  // the API key used; empty otherwise

  bool InGroup(gid_t g) const;
};

// The subject of a local uid bound to no user or agent: "user:uid-N". It has
// no tuples, so no grants until someone writes some.
std::string UidSubject(uid_t uid);

// The admin rule: root and the uid that started nexusd (the operator) act as
// the admin subject, on the mount and on the socket alike.
inline bool IsAdminUid(uid_t uid, std::optional<uid_t> operator_uid) {
  return uid == 0 || uid == operator_uid;
}

// Resolves the principal of a FUSE request. Called once per request on the
// FUSE hot path: an implementation answers from memory without allocating
// on the common path, and returns a pointer valid for its own lifetime.
class PrincipalResolver {
 public:
  virtual ~PrincipalResolver() = default;
  // The principal a request from `uid`/`gid` acts as (never null).
  virtual const Principal* ForUid(uid_t uid, gid_t gid) = 0;
};

}  // namespace nexus
