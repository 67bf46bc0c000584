#include "base/sqlite_db.h"

namespace nexus {

Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Statement& Statement::Bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status::Error(EIO, std::string("database: ") + sqlite3_errmsg(db_));
}

Status Statement::Run() {
  auto r = Step();
  Reset();
  if (!r.ok()) return r.status();
  return Status::Ok();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col))
           : std::string();
}

Result<sqlite3*> OpenSqliteConnection(const std::string& path, const std::string& what,
                                      int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Error(EIO, "open " + what + " " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  char* err = nullptr;
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    sqlite3_close(db);
    return Status::Error(EIO, what + " " + path + ": WAL mode: " + msg);
  }
  return db;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, const char* schema) {
  auto db = OpenSqliteConnection(path, "database");
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteDb> out(new SqliteDb(*db));
  NEXUS_RETURN_IF_ERROR(out->Exec("PRAGMA synchronous=NORMAL"));
  NEXUS_RETURN_IF_ERROR(out->Exec(schema));
  return out;
}

Status SqliteDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Status::Error(EIO, "database: " + msg);
  }
  return Status::Ok();
}

Result<Statement> SqliteDb::Prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return Error("prepare");
  return Statement(db_, s);
}

Status SqliteDb::Error(std::string_view what) const {
  return Status::Error(EIO, "database: " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

}  // namespace nexus
