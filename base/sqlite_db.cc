#include "base/sqlite_db.h"

namespace nexus {

int SqliteErrno(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return EBUSY;
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_CONSTRAINT:
      return EEXIST;
    case SQLITE_READONLY:
      return EROFS;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return EACCES;
    case SQLITE_TOOBIG:
      return EFBIG;
    case SQLITE_INTERRUPT:
      return EINTR;
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return EINVAL;
    default:  // IOERR, CORRUPT, NOTADB, CANTOPEN, ERROR, MISUSE, ...
      return EIO;
  }
}

// ---------------------------------------------------------------------------
// Statement

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    Release();
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
    busy_ = std::exchange(o.busy_, nullptr);
    next_ = o.next_;
    error_ = std::move(o.error_);
  }
  return *this;
}

void Statement::Release() {
  if (!stmt_) return;
  if (busy_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *busy_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
  stmt_ = nullptr;
  busy_ = nullptr;
}

Status Statement::StepError(int rc, std::string_view context) {
  Status st = db_->Error(rc, context.empty() ? std::string_view(sqlite3_sql(stmt_)) : context);
  sqlite3_reset(stmt_);
  return st;
}

Result<bool> Statement::Step() {
  if (!stmt_) return error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
    return false;
  }
  return StepError(rc, {});
}

bool Statement::Next() {
  if (!stmt_) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
  } else {
    error_ = StepError(rc, {});
  }
  return false;
}

Status Statement::Run(std::string_view context) {
  if (!stmt_) return error_;
  int rc = sqlite3_step(stmt_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return StepError(rc, context);
  sqlite3_reset(stmt_);
  return Status::Ok();
}

void Statement::Reset() {
  if (stmt_) sqlite3_reset(stmt_);
}

std::string_view Statement::TextView(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string_view(reinterpret_cast<const char*>(p),
                          static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Statement::BlobView(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (!p) return {};
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

// ---------------------------------------------------------------------------
// SqliteDb

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, const SqliteOptions& options) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // From here the SqliteDb owns the handle (also a failed open's).
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, path, options.what));
  if (rc != SQLITE_OK) {
    if (!raw)
      return Status::Error(SqliteErrno(rc), "open " + options.what + " " + path + ": " + sqlite3_errstr(rc));
    return db->Error(rc, "open " + path);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  NEXUS_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  NEXUS_RETURN_IF_ERROR(db->SetSynchronous(options.synchronous));
  if (options.cache_kib > 0)
    NEXUS_RETURN_IF_ERROR(db->Exec(("PRAGMA cache_size=-" + std::to_string(options.cache_kib)).c_str()));
  if (options.wal_autocheckpoint > 0)
    NEXUS_RETURN_IF_ERROR(
        db->Exec(("PRAGMA wal_autocheckpoint=" + std::to_string(options.wal_autocheckpoint)).c_str()));
  if (options.schema) NEXUS_RETURN_IF_ERROR(db->Exec(options.schema));
  if (options.query_only) NEXUS_RETURN_IF_ERROR(db->Exec("PRAGMA query_only=1"));
  return db;
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, c] : stmts_) sqlite3_finalize(c.stmt);
  sqlite3_close_v2(db_);
}

Status SqliteDb::Error(int rc, std::string_view context) const {
  std::string msg = what_;
  if (!context.empty()) {
    msg += ": ";
    msg += context;
  }
  msg += ": ";
  // The connection's message when it is about `rc`, else SQLite's text for rc.
  msg += db_ && sqlite3_extended_errcode(db_) == rc ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
    msg += " (" + path_ + " is damaged or not a SQLite database; restore it from a backup or move it aside)";
  return Status::Error(SqliteErrno(rc), std::move(msg));
}

Status SqliteDb::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  Status st = Status::Error(SqliteErrno(rc), what_ + ": " + (err ? err : sqlite3_errstr(rc)));
  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) st = Error(rc, {});
  sqlite3_free(err);
  return st;
}

Statement SqliteDb::Prepare(const char* sql) {
  Cached& c = stmts_[sql];
  if (c.stmt && !c.busy) {
    c.busy = true;
    return Statement(this, c.stmt, &c.busy);
  }
  const bool cache = !c.stmt;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (cache) stmts_.erase(sql);
    return Statement(Error(rc, std::string("prepare ") + sql));
  }
  if (!cache) return Statement(this, stmt, nullptr);  // nested use: a private one
  c.stmt = stmt;
  c.busy = true;
  return Statement(this, stmt, &c.busy);
}

Status SqliteDb::SetSynchronous(SqliteOptions::Sync sync) {
  const int want = sync == SqliteOptions::Sync::kFull ? 2 : 1;
  if (sync_ == want) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(Exec(want == 2 ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  sync_ = want;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Transaction

Result<Transaction> Transaction::Begin(SqliteDb& db) {
  NEXUS_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Status Transaction::Commit() {
  if (!db_) return Status::Error(EINVAL, "transaction already ended");
  Status st = db_->Exec("COMMIT");
  if (!st.ok()) {
    Rollback();
    return st;
  }
  db_ = nullptr;
  return Status::Ok();
}

void Transaction::Rollback() {
  if (!db_) return;
  (void)db_->Exec("ROLLBACK");
  db_ = nullptr;
}

}  // namespace nexus
