#include "perms/key_store.h"

#include <sys/stat.h>

#include <memory>

#include "base/crypto.h"
#include "base/sqlite_db.h"

namespace nexus {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY, subject_type TEXT NOT NULL, is_admin INTEGER NOT NULL,
  uid INTEGER NOT NULL, gid INTEGER NOT NULL, created_ns INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys(
  id TEXT PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
  created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL, revoked INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_user ON keys(user);
CREATE TABLE IF NOT EXISTS key_entitlements(
  id TEXT PRIMARY KEY, can_submit_tasks INTEGER NOT NULL, hourly_task_quota INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_display_names(
  name TEXT PRIMARY KEY, display_name TEXT NOT NULL) WITHOUT ROWID;
)sql";

constexpr int64_t kNsPerDay = 86'400LL * 1'000'000'000LL;
constexpr size_t kIdHex = 16;
constexpr size_t kSecretHex = 64;

bool IsHex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

Status ValidateDisplayName(const std::string& name) {
  if (name.size() > 256) return Status::Error(EINVAL, "a display name must be at most 256 bytes");
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status::Error(EINVAL, "a display name must not hold control characters");
  return Status::Ok();
}

Status ValidateUserName(const std::string& name) {
  if (name.empty() || name.size() > 64) return Status::Error(EINVAL, "user name must be 1 to 64 characters");
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return Status::Error(EINVAL,
                           "user name '" + name + "' may hold only letters, digits, '-', '_' and '.'");
  if (name.rfind("uid-", 0) == 0)
    return Status::Error(EINVAL, "user names starting with 'uid-' are reserved for local uids");
  return Status::Ok();
}

UserRecord ReadUser(const Statement& s) {
  UserRecord u;
  u.name = s.Text(0);
  u.subject_type = s.Text(1);
  u.is_admin = s.Int(2) != 0;
  u.uid = static_cast<uid_t>(s.Int(3));
  u.gid = static_cast<gid_t>(s.Int(4));
  u.created_ns = s.Int(5);
  u.expires_ns = s.Int(6);
  u.display_name = s.Text(7);
  return u;
}

// Macros, so each query is one literal (statements are cached by address).
// Users with their display names (a user with no row has none).
#define NEXUS_USER_COLUMNS                                                                                  \
  "u.name, u.subject_type, u.is_admin, u.uid, u.gid, u.created_ns, u.expires_ns, COALESCE(d.display_name, " \
  "'')"
#define NEXUS_USER_FROM " FROM users u LEFT JOIN user_display_names d ON d.name = u.name"
// Keys with their entitlements (a key with no row has the defaults).
#define NEXUS_KEY_COLUMNS                                         \
  "k.id, k.user, k.name, k.created_ns, k.expires_ns, k.revoked, " \
  "COALESCE(e.can_submit_tasks, 1), COALESCE(e.hourly_task_quota, 0)"
#define NEXUS_KEY_FROM " FROM keys k LEFT JOIN key_entitlements e ON e.id = k.id"

KeyRecord ReadKey(const Statement& s) {
  KeyRecord k;
  k.id = s.Text(0);
  k.user = s.Text(1);
  k.name = s.Text(2);
  k.created_ns = s.Int(3);
  k.expires_ns = s.Int(4);
  k.revoked = s.Int(5) != 0;
  k.can_submit_tasks = s.Int(6) != 0;
  k.hourly_task_quota = static_cast<int>(s.Int(7));
  return k;
}

}  // namespace

KeyScope UserRecord::Scope() const {
  if (is_admin) return KeyScope::kAdmin;
  return subject_type == "agent" ? KeyScope::kAgent : KeyScope::kUser;
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& db_path, const Clock* clock) {
  auto db = SqliteDb::Open(db_path, {.what = "key store", .schema = kSchema});
  if (!db.ok()) return db.status();
  // Only the daemon reads it (SQLite gives its -wal and -shm files the same
  // mode). The secrets are hashes, the user list is still nobody's business.
  if (::chmod(db_path.c_str(), 0600) != 0) return Status::FromErrno("chmod " + db_path);
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(db).value(), clock ? clock : &DefaultClock()));
}

KeyStore::KeyStore(std::unique_ptr<SqliteDb> db, const Clock* clock) : db_(std::move(db)), clock_(clock) {}
KeyStore::~KeyStore() = default;

Status KeyStore::SplitKey(const std::string& key, std::string* id, std::string* secret) {
  // nxk_<16 hex>_<64 hex>
  if (key.size() != 4 + kIdHex + 1 + kSecretHex || key.compare(0, 4, "nxk_") != 0 || key[4 + kIdHex] != '_')
    return Status::Error(EINVAL, "malformed API key (expected nxk_<id>_<secret>)");
  *id = key.substr(4, kIdHex);
  *secret = key.substr(4 + kIdHex + 1);
  if (!IsHex(*id) || !IsHex(*secret)) return Status::Error(EINVAL, "malformed API key");
  return Status::Ok();
}

Result<KeyRecord> KeyStore::InsertKey(const UserRecord& user, const std::string& name, int expires_days) {
  if (expires_days < 0) return Status::Error(EINVAL, "expiry must not be negative");
  const std::string id = RandomHex(kIdHex / 2);
  const std::string secret = RandomHex(kSecretHex / 2);
  KeyRecord k;
  k.id = id;
  k.user = user.name;
  k.name = name.empty() ? "default" : name;
  k.scope = user.Scope();
  k.created_ns = clock_->Now();
  k.expires_ns = expires_days ? k.created_ns + expires_days * kNsPerDay : 0;
  if (user.expires_ns && (!k.expires_ns || k.expires_ns > user.expires_ns)) k.expires_ns = user.expires_ns;
  k.secret = "nxk_" + id + "_" + secret;
  Statement st = db_->Prepare(
      "INSERT INTO keys(id, user, name, secret_sha256, created_ns, expires_ns, revoked) "
      "VALUES(?,?,?,?,?,?,0)");
  st.Bind(1, k.id).Bind(2, k.user).Bind(3, k.name).Bind(4, Sha256Hex(secret));
  st.Bind(5, k.created_ns).Bind(6, k.expires_ns);
  NEXUS_RETURN_IF_ERROR(st.Run("insert key"));
  return k;
}

Result<std::pair<UserRecord, KeyRecord>> KeyStore::CreateUser(UserRecord user, int expires_days) {
  NEXUS_RETURN_IF_ERROR(ValidateUserName(user.name));
  NEXUS_RETURN_IF_ERROR(ValidateDisplayName(user.display_name));
  if (user.subject_type != "user" && user.subject_type != "agent")
    return Status::Error(EINVAL, "subject type must be 'user' or 'agent', not '" + user.subject_type + "'");
  if (expires_days < 0) return Status::Error(EINVAL, "expiry must not be negative");
  MutexLock lock(mu_);
  user.created_ns = clock_->Now();
  user.expires_ns = expires_days ? user.created_ns + expires_days * kNsPerDay : 0;
  auto txn = Transaction::Begin(*db_);
  if (!txn.ok()) return txn.status();
  {
    Statement exists = db_->Prepare("SELECT 1 FROM users WHERE name = ?");
    auto found = exists.Bind(1, user.name).Step();
    if (!found.ok()) return found.status();
    if (*found) return Status::Error(EEXIST, "user '" + user.name + "' already exists");
  }
  Statement ins = db_->Prepare(
      "INSERT INTO users(name, subject_type, is_admin, uid, gid, created_ns, expires_ns) "
      "VALUES(?,?,?,?,?,?,?)");
  ins.Bind(1, user.name).Bind(2, user.subject_type).Bind(3, user.is_admin ? 1 : 0);
  ins.Bind(4, static_cast<int64_t>(user.uid)).Bind(5, static_cast<int64_t>(user.gid));
  ins.Bind(6, user.created_ns).Bind(7, user.expires_ns);
  NEXUS_RETURN_IF_ERROR(ins.Run("insert user"));
  if (!user.display_name.empty()) {
    Statement named = db_->Prepare("INSERT INTO user_display_names(name, display_name) VALUES(?,?)");
    NEXUS_RETURN_IF_ERROR(named.Bind(1, user.name).Bind(2, user.display_name).Run("insert display name"));
  }
  auto key = InsertKey(user, "initial", 0);
  if (!key.ok()) return key.status();
  NEXUS_RETURN_IF_ERROR(txn->Commit());
  return std::make_pair(user, std::move(key).value());
}

Result<UserRecord> KeyStore::GetUserLocked(const std::string& name) {
  Statement st = db_->Prepare("SELECT " NEXUS_USER_COLUMNS NEXUS_USER_FROM " WHERE u.name = ?");
  auto row = st.Bind(1, name).Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Error(ENOENT, "no user '" + name + "'");
  return ReadUser(st);
}

Result<UserRecord> KeyStore::GetUser(const std::string& name) {
  MutexLock lock(mu_);
  return GetUserLocked(name);
}

Result<KeyRecord> KeyStore::CreateKey(const std::string& user, const std::string& name, int expires_days) {
  MutexLock lock(mu_);
  auto u = GetUserLocked(user);
  if (!u.ok()) return u.status();
  return InsertKey(*u, name, expires_days);
}

Result<std::vector<UserRecord>> KeyStore::ListUsers() {
  MutexLock lock(mu_);
  Statement st = db_->Prepare("SELECT " NEXUS_USER_COLUMNS NEXUS_USER_FROM " ORDER BY u.name");
  std::vector<UserRecord> out;
  while (st.Next()) out.push_back(ReadUser(st));
  NEXUS_RETURN_IF_ERROR(st.status());
  return out;
}

Result<std::vector<KeyRecord>> KeyStore::ListKeys(const std::string& user) {
  MutexLock lock(mu_);
  auto u = GetUserLocked(user);
  if (!u.ok()) return u.status();
  Statement st = db_->Prepare("SELECT " NEXUS_KEY_COLUMNS NEXUS_KEY_FROM
                              " WHERE k.user = ? ORDER BY k.created_ns, k.id");
  st.Bind(1, user);
  std::vector<KeyRecord> out;
  while (st.Next()) {
    out.push_back(ReadKey(st));
    out.back().scope = u->Scope();
  }
  NEXUS_RETURN_IF_ERROR(st.status());
  return out;
}

Result<KeyRecord> KeyStore::LoadKeyLocked(const std::string& key_id) {
  KeyRecord k;
  {
    Statement st = db_->Prepare("SELECT " NEXUS_KEY_COLUMNS NEXUS_KEY_FROM " WHERE k.id = ?");
    auto row = st.Bind(1, key_id).Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Error(ENOENT, "no API key '" + key_id + "'");
    k = ReadKey(st);
  }
  auto u = GetUserLocked(k.user);
  if (u.ok()) k.scope = u->Scope();
  return k;
}

Status KeyStore::RevokeKey(const std::string& key_id) {
  MutexLock lock(mu_);
  auto k = LoadKeyLocked(key_id);
  if (!k.ok()) return k.status();
  return db_->Prepare("UPDATE keys SET revoked = 1 WHERE id = ?").Bind(1, key_id).Run("revoke key");
}

Result<KeyRecord> KeyStore::UpdateKey(const std::string& key_id, const std::optional<std::string>& name,
                                      int expires_days, bool clear_expiry) {
  if (expires_days < 0) return Status::Error(EINVAL, "expiry must not be negative");
  if (expires_days > 0 && clear_expiry)
    return Status::Error(EINVAL, "give a new expiry or clear it, not both");
  MutexLock lock(mu_);
  auto k = LoadKeyLocked(key_id);
  if (!k.ok()) return k.status();
  if (name) k->name = *name;
  if (expires_days > 0) k->expires_ns = clock_->Now() + expires_days * kNsPerDay;
  if (clear_expiry) k->expires_ns = 0;
  NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE keys SET name = ?, expires_ns = ? WHERE id = ?")
                            .Bind(1, k->name)
                            .Bind(2, k->expires_ns)
                            .Bind(3, key_id)
                            .Run("update key"));
  return k;
}

Result<KeyRecord> KeyStore::SetEntitlements(const std::string& key_id, bool can_submit_tasks,
                                            int hourly_task_quota) {
  if (hourly_task_quota < 0) return Status::Error(EINVAL, "a quota must not be negative");
  MutexLock lock(mu_);
  auto k = LoadKeyLocked(key_id);
  if (!k.ok()) return k.status();
  Statement st = db_->Prepare(
      "INSERT INTO key_entitlements(id, can_submit_tasks, hourly_task_quota) VALUES(?,?,?) "
      "ON CONFLICT(id) DO UPDATE SET can_submit_tasks = excluded.can_submit_tasks, "
      "hourly_task_quota = excluded.hourly_task_quota");
  st.Bind(1, key_id).Bind(2, int64_t{can_submit_tasks}).Bind(3, int64_t{hourly_task_quota});
  NEXUS_RETURN_IF_ERROR(st.Run("set entitlements"));
  k->can_submit_tasks = can_submit_tasks;
  k->hourly_task_quota = hourly_task_quota;
  return k;
}

Result<std::pair<UserRecord, KeyRecord>> KeyStore::Authenticate(const std::string& key) {
  std::string id, secret;
  if (Status st = SplitKey(key, &id, &secret); !st.ok()) return Status::Error(ENOKEY, st.message());
  MutexLock lock(mu_);
  {
    Statement st = db_->Prepare("SELECT secret_sha256 FROM keys WHERE id = ?");
    auto row = st.Bind(1, id).Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Error(ENOKEY, "unknown API key " + id);
    // Both sides are fixed-length hex digests: compare without early exit.
    if (!SecretEquals(st.Text(0), Sha256Hex(secret)))
      return Status::Error(ENOKEY, "wrong secret for API key " + id);
  }
  auto k = LoadKeyLocked(id);
  if (!k.ok()) return k.status();
  if (k->revoked) return Status::Error(ENOKEY, "API key " + id + " was revoked");
  int64_t now = clock_->Now();
  if (k->expires_ns && k->expires_ns <= now) return Status::Error(ENOKEY, "API key " + id + " has expired");
  auto u = GetUserLocked(k->user);
  if (!u.ok()) return Status::Error(ENOKEY, "API key " + id + " has no user");
  if (u->expires_ns && u->expires_ns <= now) return Status::Error(ENOKEY, "user " + u->name + " has expired");
  return std::make_pair(std::move(u).value(), std::move(k).value());
}

}  // namespace nexus
