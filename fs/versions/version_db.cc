#include "fs/versions/version_db.h"

#include "base/sqlite_db.h"

namespace nexus::versions {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 1);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY, zone TEXT NOT NULL, path TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0, last_n INTEGER NOT NULL DEFAULT 0, last_blob TEXT);
CREATE INDEX IF NOT EXISTS files_by_path ON files(zone, path);
CREATE TABLE IF NOT EXISTS changes(
  seq INTEGER PRIMARY KEY, zone TEXT NOT NULL, op TEXT NOT NULL, path TEXT NOT NULL,
  old_path TEXT, file_id INTEGER, n INTEGER, blob TEXT, size INTEGER, mode INTEGER,
  time_ns INTEGER NOT NULL, subject TEXT NOT NULL, uid INTEGER, pid INTEGER,
  command TEXT, agent_id TEXT, task_id TEXT, note TEXT, commit_id TEXT);
CREATE INDEX IF NOT EXISTS changes_by_file ON changes(file_id, n);
CREATE INDEX IF NOT EXISTS changes_by_zone ON changes(zone, seq);
CREATE INDEX IF NOT EXISTS changes_pending ON changes(seq) WHERE commit_id IS NULL;
CREATE TABLE IF NOT EXISTS snapshots(
  id INTEGER PRIMARY KEY, description TEXT NOT NULL, time_ns INTEGER NOT NULL,
  zones TEXT NOT NULL, commit_id TEXT NOT NULL, automatic INTEGER NOT NULL);
)sql";

}  // namespace

Query::~Query() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::Bind(std::string_view v) {
  sqlite3_bind_text(stmt_, ++bound_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Query& Query::BindNull() {
  sqlite3_bind_null(stmt_, ++bound_);
  return *this;
}

bool Query::Next() { return stmt_ && sqlite3_step(stmt_) == SQLITE_ROW; }

Status Query::Run() {
  if (!stmt_) return db_->Error("prepare");
  int rc = sqlite3_step(stmt_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_->Error("step");
  return Status::Ok();
}

std::string Query::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col))
           : std::string();
}

Result<std::unique_ptr<VersionDb>> VersionDb::Open(const std::string& path, bool create_schema) {
  auto opened = OpenSqliteConnection(path, "version index", 10000);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<VersionDb> db(new VersionDb(*opened));
  NEXUS_RETURN_IF_ERROR(db->SetDurable(false));
  if (create_schema) NEXUS_RETURN_IF_ERROR(db->Exec(kSchema));
  return db;
}

VersionDb::~VersionDb() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status VersionDb::Error(std::string_view what) const {
  return Status::Error(EIO, "version index: " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status VersionDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Error(EIO, "version index: " + msg);
  }
  return Status::Ok();
}

Query VersionDb::Prepare(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return Query(this, it->second);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
    return Query(this, nullptr);
  stmts_.emplace(sql, stmt);
  return Query(this, stmt);
}

Status VersionDb::SetDurable(bool durable) {
  if (durable_ == static_cast<int>(durable)) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(Exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  durable_ = durable;
  return Status::Ok();
}

}  // namespace nexus::versions
