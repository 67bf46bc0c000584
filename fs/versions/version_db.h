// VersionDb: one SQLite connection to the version index (DIR/versions.db)
// with a cache of prepared statements, and Query, a bound statement.
//
// Schema (version 1):
//   meta(key, value)        schema_version
//   files(id, zone, path, deleted, last_n, last_blob)
//       one row per file identity; a rename moves the row to the new path,
//       so its versions follow it. last_n/last_blob: its newest version.
//   changes(seq, zone, op, path, old_path, file_id, n, blob, size, mode,
//           time_ns, subject, uid, pid, command, agent_id, task_id, note,
//           commit_id)
//       the change log: op 'W' (version n of file_id, content blob),
//       'D' (path removed), 'R' (old_path renamed to path). commit_id is
//       NULL while the record is journaled and not yet in a commit, '' when
//       the record changed no tree (e.g. a rename of an unversioned file).
//   snapshots(id, description, time_ns, zones, commit_id, automatic)
//
// Threading: a connection is used by one thread at a time (callers lock or
// pool connections). Several connections may be open on one file (WAL).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "base/status.h"

namespace nexus::versions {

class VersionDb;

// A cached prepared statement with its bindings; reset when destroyed.
class Query {
 public:
  Query(VersionDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  template <typename T>
    requires std::is_integral_v<T>
  Query& Bind(T v) {
    sqlite3_bind_int64(stmt_, ++bound_, static_cast<int64_t>(v));
    return *this;
  }
  Query& Bind(std::string_view v);
  Query& BindNull();

  // Steps once: true when a row is available.
  bool Next();
  // Runs to completion; EIO with SQLite's message on failure.
  Status Run();
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  VersionDb* db_;
  sqlite3_stmt* stmt_;
  int bound_ = 0;
};

class VersionDb {
 public:
  // Opens (creating if needed) the index at `path` in WAL mode; with
  // `create_schema`, creates the tables.
  static Result<std::unique_ptr<VersionDb>> Open(const std::string& path, bool create_schema);
  ~VersionDb();
  VersionDb(const VersionDb&) = delete;
  VersionDb& operator=(const VersionDb&) = delete;

  Status Exec(const char* sql);
  // The statement for `sql`, prepared once per connection. `sql` must be a
  // string literal: statements are cached by its address.
  Query Prepare(const char* sql);
  // synchronous=FULL (each commit synced) or NORMAL (synced at checkpoints).
  Status SetDurable(bool durable);
  Status Begin() { return Exec("BEGIN IMMEDIATE"); }
  Status Commit() { return Exec("COMMIT"); }
  void Rollback() { (void)Exec("ROLLBACK"); }
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  Status Error(std::string_view what) const;

 private:
  explicit VersionDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  int durable_ = -1;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

}  // namespace nexus::versions
