#include "mesh/sqlite_store.h"

#include "base/sqlite_db.h"

#include <sqlite3.h>

namespace nexus::mesh {
namespace {

constexpr int64_t kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL);
)sql";

void BindBlob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const char* p = static_cast<const char*>(sqlite3_column_blob(s, i));
  return std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

// Runs a prepared write statement once and readies it for the next use.
bool StepDone(sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc == SQLITE_DONE;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, const Clock* clock,
                                                       Options options) {
  auto opened = OpenSqliteConnection(path, "mesh database");
  if (!opened.ok()) return opened.status();
  sqlite3* db = *opened;
  std::unique_ptr<SqliteStore> store(new SqliteStore(clock, db));
  NEXUS_RETURN_IF_ERROR(
      store->Exec(options.full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  NEXUS_RETURN_IF_ERROR(store->Exec(kSchema));
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } statements[] = {
      {&store->put_kv_,
       "INSERT OR REPLACE INTO kv(key,value,create_rev,mod_rev,lease) VALUES(?,?,?,?,?)"},
      {&store->del_kv_, "DELETE FROM kv WHERE key=?"},
      {&store->put_lease_, "INSERT OR REPLACE INTO leases(id,ttl_ms,deadline_ms) VALUES(?,?,?)"},
      {&store->del_lease_, "DELETE FROM leases WHERE id=?"},
      {&store->put_meta_, "INSERT OR REPLACE INTO meta(name,value) VALUES(?,?)"},
  };
  for (auto& e : statements)
    if (sqlite3_prepare_v3(db, e.sql, -1, SQLITE_PREPARE_PERSISTENT, e.stmt, nullptr) != SQLITE_OK)
      return store->Error("prepare");
  NEXUS_RETURN_IF_ERROR(store->Load());
  return store;
}

SqliteStore::~SqliteStore() {
  for (sqlite3_stmt* s : {put_kv_, del_kv_, put_lease_, del_lease_, put_meta_}) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Status SqliteStore::Error(const char* what) const {
  return Status::Error(EIO, std::string("mesh database: ") + what + ": " + sqlite3_errmsg(db_));
}

Status SqliteStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Error(EIO, "mesh database: " + msg);
  }
  return Status::Ok();
}

Status SqliteStore::Load() {
  sqlite3_stmt* s = nullptr;
  auto query = [&](const char* sql) {
    sqlite3_finalize(s);
    s = nullptr;
    return sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK;
  };
  struct Finalizer {
    sqlite3_stmt*& s;
    ~Finalizer() { sqlite3_finalize(s); }
  } finalizer{s};

  int64_t schema = 0, revision = 0;
  if (!query("SELECT name, value FROM meta")) return Error("read meta");
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string name = ColumnBlob(s, 0);
    if (name == "schema_version") schema = sqlite3_column_int64(s, 1);
    if (name == "revision") revision = sqlite3_column_int64(s, 1);
  }
  if (schema == 0) {
    sqlite3_bind_text(put_meta_, 1, "schema_version", -1, SQLITE_STATIC);
    sqlite3_bind_int64(put_meta_, 2, kSchemaVersion);
    if (!StepDone(put_meta_)) return Error("write schema version");
  } else if (schema != kSchemaVersion) {
    return Status::Error(EINVAL, "mesh database schema version " + std::to_string(schema) +
                                     " is not supported (want " + std::to_string(kSchemaVersion) + ")");
  }
  LoadRevision(revision);

  if (!query("SELECT id, ttl_ms, deadline_ms FROM leases")) return Error("read leases");
  while (sqlite3_step(s) == SQLITE_ROW)
    LoadLease({sqlite3_column_int64(s, 0), Duration(sqlite3_column_int64(s, 1)),
               FromMillis(sqlite3_column_int64(s, 2))});

  if (!query("SELECT key, value, create_rev, mod_rev, lease FROM kv")) return Error("read keys");
  while (sqlite3_step(s) == SQLITE_ROW)
    LoadKey({ColumnBlob(s, 0), ColumnBlob(s, 1), sqlite3_column_int64(s, 2),
             sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4)});
  return Status::Ok();
}

Status SqliteStore::Persist(const Mutation& m) {
  NEXUS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  bool ok = true;
  for (const KeyValue* kv : m.puts) {
    BindBlob(put_kv_, 1, kv->key);
    BindBlob(put_kv_, 2, kv->value);
    sqlite3_bind_int64(put_kv_, 3, kv->create_revision);
    sqlite3_bind_int64(put_kv_, 4, kv->mod_revision);
    sqlite3_bind_int64(put_kv_, 5, kv->lease);
    ok = ok && StepDone(put_kv_);
  }
  for (std::string_view key : m.deletes) {
    BindBlob(del_kv_, 1, key);
    ok = ok && StepDone(del_kv_);
  }
  for (const LeaseRecord& l : m.lease_puts) {
    sqlite3_bind_int64(put_lease_, 1, l.id);
    sqlite3_bind_int64(put_lease_, 2, l.ttl.count());
    sqlite3_bind_int64(put_lease_, 3, ToMillis(l.deadline));
    ok = ok && StepDone(put_lease_);
  }
  for (LeaseId id : m.lease_deletes) {
    sqlite3_bind_int64(del_lease_, 1, id);
    ok = ok && StepDone(del_lease_);
  }
  sqlite3_bind_text(put_meta_, 1, "revision", -1, SQLITE_STATIC);
  sqlite3_bind_int64(put_meta_, 2, m.revision);
  ok = ok && StepDone(put_meta_);
  if (!ok) {
    Status st = Error("write transaction");
    (void)Exec("ROLLBACK");
    return st;
  }
  if (Status st = Exec("COMMIT"); !st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  return Status::Ok();
}

}  // namespace nexus::mesh
