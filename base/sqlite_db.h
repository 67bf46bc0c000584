// SqliteDb and Statement: the small RAII layer over SQLite that the daemon's
// stores (keys, locks, ...) share. Errors become Status(EIO) with SQLite's
// message, in one place.
//
// Threading: a SqliteDb is one connection; callers serialize its use (the
// stores hold a mutex around it). Statements belong to one SqliteDb.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nexus {

// Opens (creating) the database at `path` in WAL mode with a busy timeout:
// the one place every store of the daemon opens SQLite. The caller owns the
// returned connection (sqlite3_close). `what` names it in errors
// ("metadata database").
Result<sqlite3*> OpenSqliteConnection(const std::string& path, const std::string& what,
                                      int busy_timeout_ms = 5000);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    std::swap(db_, o.db_);
    std::swap(stmt_, o.stmt_);
    return *this;
  }

  // Binds are 1-based, as in SQLite. Each returns *this for chaining.
  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, std::string_view v);  // as TEXT
  Statement& BindNull(int i);
  // Steps once: true with a row, false when done. EIO on error.
  Result<bool> Step();
  // Steps to completion (for statements that return no rows) and resets.
  Status Run();
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  // Opens (creating) `path` in WAL mode with synchronous=NORMAL and runs
  // `schema` (CREATE ... IF NOT EXISTS statements).
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, const char* schema);
  ~SqliteDb() { sqlite3_close(db_); }
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  Status Exec(const char* sql);
  Result<Statement> Prepare(const char* sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  Status Error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace nexus
