// IdentityMap: which ReBAC subject a local uid acts as.
//
// A uid is bound to a user or agent subject (`agent:alice`). uid 0 and the
// configured operator uid always act as the admin subject (IsAdminUid in
// base/principal.h; by default user:root, which RebacEngine bootstraps as
// owner of zone:root). Any other unbound uid acts as UidSubject(uid)
// ("user:uid-N"). Callers do not ask this map per call: perms/principals.h
// resolves and interns principals from it, and re-resolves a uid once
// revision() moved.
//
// Storage: table identities(uid INTEGER PRIMARY KEY, subject TEXT) in the
// same SQLite file as the tuples, on its own connection. Bindings are read
// into memory at Open; SubjectFor never touches SQLite.
//
// Thread-safety: all methods may be called concurrently. SubjectFor takes a
// shared lock; revision() is a relaxed atomic read; Bind/Unbind write SQLite under db_mu_, then take mu_
// exclusively (lock order db_mu_ → mu_).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/principal.h"
#include "base/status.h"
#include "base/sqlite_db.h"

namespace nexus {

struct IdentityOptions {
  std::optional<uid_t> operator_uid;
  std::string admin_subject = "user:root";
  // Called after every Bind or Unbind that changed a binding, on the
  // caller's thread, with no lock of the map held (the kernel's name caches
  // must learn that a uid sees the tree differently).
  std::function<void()> on_change;
};

class IdentityMap {
 public:
  static Result<std::unique_ptr<IdentityMap>> Open(const std::string& db_path, IdentityOptions options);

  // The subject `uid` acts as.
  std::string SubjectFor(uid_t uid) const;
  // Binds `uid` to a user or agent subject (not user:*). EINVAL for another
  // form or for uid 0 / the operator uid (always the admin); EEXIST if the
  // uid is bound to a different subject (unbind first). Rebinding to the
  // same subject is a no-op.
  Status Bind(uid_t uid, std::string_view subject);
  // ENOENT if `uid` is not bound.
  Status Unbind(uid_t uid);
  // Bindings sorted by uid.
  std::vector<std::pair<uid_t, std::string>> List() const;
  // uid 0 and the operator uid: always the admin subject.
  bool IsAdminUid(uid_t uid) const { return nexus::IsAdminUid(uid, options_.operator_uid); }
  // Moves on every Bind/Unbind that changed a binding (after the change is
  // visible to SubjectFor).
  uint64_t revision() const { return revision_.load(std::memory_order_acquire); }
  const std::string& admin_subject() const { return options_.admin_subject; }

 private:
  IdentityMap(std::unique_ptr<SqliteDb> db, IdentityOptions options)
      : options_(std::move(options)), db_(std::move(db)) {}
  const IdentityOptions options_;
  Mutex db_mu_ ACQUIRED_BEFORE(mu_);
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);
  mutable SharedMutex mu_;
  std::unordered_map<uid_t, std::string> bound_ GUARDED_BY(mu_);
  std::atomic<uint64_t> revision_{0};
};

}  // namespace nexus
