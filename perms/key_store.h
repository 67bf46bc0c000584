// KeyStore: the users and API keys the control socket authenticates.
//
// A key is shown once, when it is created: "nxk_<id>_<secret>", where <id>
// (16 hex digits) names the key and <secret> (64 hex digits, 256 random bits)
// proves it. Only SHA-256(secret) is stored, so a copy of the database
// reveals no key. Keys can expire, can be revoked, and carry the scope of
// their user (admin, user or agent). A user's expiry bounds all its keys.
//
// Storage: SQLite file DIR/auth.db (WAL), tables `users` and `keys`.
//
// Threading: thread-safe (one connection behind a mutex); every call is a
// few indexed statements. Time comes from an injectable clock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"

namespace nexus {

class SqliteDb;

enum class KeyScope { kAdmin = 0, kUser = 1, kAgent = 2 };

struct UserRecord {
  std::string name;
  std::string subject_type;  // "user" or "agent"
  bool is_admin = false;
  uid_t uid = 65534;  // POSIX identity of the user's file calls
  gid_t gid = 65534;
  int64_t created_ns = 0;
  int64_t expires_ns = 0;    // 0: never
  std::string display_name;  // free text for people; "" if none
  std::string Subject() const { return subject_type + ":" + name; }
  KeyScope Scope() const;
};

struct KeyRecord {
  std::string id;
  std::string user;
  std::string name;
  KeyScope scope = KeyScope::kUser;
  int64_t created_ns = 0;
  int64_t expires_ns = 0;  // 0: never
  bool revoked = false;
  // Entitlements for the mesh: may this key submit tasks, and how many in
  // any sliding hour (0: no limit).
  bool can_submit_tasks = true;
  int hourly_task_quota = 0;
  std::string secret;  // the whole key, only right after creation
};

class KeyStore {
 public:
  // `clock` (null: the system clock) must outlive the store.
  static Result<std::unique_ptr<KeyStore>> Open(const std::string& db_path, const Clock* clock = nullptr);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // EEXIST if the name is taken; EINVAL for a bad name, display name (over
  // 256 bytes or with control characters) or subject type.
  // `expires_days` 0: never. Returns the user and its first key.
  Result<std::pair<UserRecord, KeyRecord>> CreateUser(UserRecord user, int expires_days);
  Result<KeyRecord> CreateKey(const std::string& user, const std::string& name, int expires_days);
  Result<std::vector<UserRecord>> ListUsers();
  Result<UserRecord> GetUser(const std::string& name);
  Result<std::vector<KeyRecord>> ListKeys(const std::string& user);
  Status RevokeKey(const std::string& key_id);
  // ENOENT for an unknown key; EINVAL for a negative quota.
  Result<KeyRecord> SetEntitlements(const std::string& key_id, bool can_submit_tasks, int hourly_task_quota);
  // expires_days > 0 sets a new expiry from now; clear_expiry removes it.
  Result<KeyRecord> UpdateKey(const std::string& key_id, const std::optional<std::string>& name,
                              int expires_days, bool clear_expiry);

  // ENOKEY for a malformed, unknown, revoked or expired key (the message
  // says which, for the log; callers show clients only "invalid API key").
  Result<std::pair<UserRecord, KeyRecord>> Authenticate(const std::string& key);

  // Parses "nxk_<id>_<secret>"; EINVAL if malformed.
  static Status SplitKey(const std::string& key, std::string* id, std::string* secret);

 private:
  KeyStore(std::unique_ptr<SqliteDb> db, const Clock* clock);
  // All three require mu_.
  Result<KeyRecord> InsertKey(const UserRecord& user, const std::string& name, int expires_days)
      REQUIRES(mu_);
  Result<KeyRecord> LoadKeyLocked(const std::string& key_id) REQUIRES(mu_);
  Result<UserRecord> GetUserLocked(const std::string& name) REQUIRES(mu_);

  Mutex mu_;
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(mu_);
  const Clock* clock_;
};

}  // namespace nexus
