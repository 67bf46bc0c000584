// The one SQLite layer of the daemon: every store (metadata, version index,
// search index, mesh, ReBAC tuples, identities, keys, audit) opens, queries
// and maps errors through it.
//
//   SqliteDb     one connection, opened with the store's pragmas (WAL, busy
//                timeout, synchronous level, cache size), with a cache of
//                prepared statements.
//   Statement    a prepared statement borrowed from that cache; it is reset
//                and its bindings cleared when the handle goes away.
//   Transaction  BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
//   ConnectionPool<T>  idle reader connections (or anything holding one),
//                borrowed and returned.
//
// Errors: SQLite result codes become errno-carrying Status in one place,
// SqliteErrno: BUSY/LOCKED → EBUSY, FULL → ENOSPC, CONSTRAINT → EEXIST,
// READONLY → EROFS, NOMEM → ENOMEM, PERM/AUTH → EACCES, TOOBIG → EFBIG,
// INTERRUPT → EINTR, RANGE/MISMATCH → EINVAL, everything else (I/O errors,
// CORRUPT, NOTADB, CANTOPEN) → EIO. Messages name the database ("metadata
// database: write inode: disk I/O error"); a damaged file says so.
//
// Bytes: TEXT and BLOB bindings are distinct (Bind vs BindBlob) because the
// storage class is part of the on-disk format (names are BLOBs in meta.db);
// both carry any bytes, NUL and invalid UTF-8 included.
//
// Threading: a SqliteDb and its Statements are used by one thread at a time
// (the stores hold a mutex or pool connections). Several connections may be
// open on one file (WAL). ConnectionPool is thread-safe.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace nexus {

// The errno for a SQLite result code (primary or extended).
int SqliteErrno(int rc);

struct SqliteOptions {
  enum class Sync { kNormal, kFull };
  // Names the database in every error ("metadata database").
  std::string what = "database";
  // NORMAL: a commit survives a process crash; FULL: also a power cut.
  Sync synchronous = Sync::kNormal;
  int busy_timeout_ms = 5000;
  int cache_kib = 0;           // PRAGMA cache_size=-N when > 0
  int wal_autocheckpoint = 0;  // pages, when > 0
  bool query_only = false;     // a reader: writes fail with EROFS
  // CREATE ... IF NOT EXISTS statements run after the pragmas; may be null.
  const char* schema = nullptr;
};

class SqliteDb;

// A statement from SqliteDb::Prepare. Binds are 1-based as in SQLite; the
// one-argument Bind binds the parameter after the last one bound. Bound text
// and blobs are copied. A statement whose preparation failed carries the
// error: Step and Run return it, Next returns false and status() has it.
class Statement {
 public:
  Statement() = default;
  ~Statement() { Release(); }
  Statement(Statement&& o) noexcept { *this = std::move(o); }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  const Status& status() const { return error_; }

  template <typename T>
  requires std::is_integral_v<T> Statement& Bind(int i, T v) {
    next_ = i;
    sqlite3_bind_int64(stmt_, i, static_cast<int64_t>(v));
    return *this;
  }
  Statement& Bind(int i, double v) {
    next_ = i;
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& Bind(int i, std::string_view v) {  // as TEXT
    next_ = i;
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindBlob(int i, std::string_view v) {  // as BLOB
    next_ = i;
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindNull(int i) {
    next_ = i;
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  template <typename T>
  Statement& Bind(T&& v) {
    return Bind(next_ + 1, std::forward<T>(v));
  }
  Statement& BindBlob(std::string_view v) { return BindBlob(next_ + 1, v); }
  Statement& BindNull() { return BindNull(next_ + 1); }

  // Steps once: true with a row, false when done (the statement is then
  // reset, ready to be bound again).
  Result<bool> Step();
  // Step for loops: true with a row; false when done or failed (the error
  // is then in status()).
  bool Next();
  // Steps once (a row is success too), then resets so the statement can be
  // bound and run again. `context` names the operation in an error.
  Status Run(std::string_view context = {});
  // Ready to run again; bindings are kept.
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // Column bytes as stored (TEXT or BLOB; NULL reads as empty). The views
  // are valid until the next Step, Reset or the statement's end.
  std::string_view TextView(int col) const;
  std::string_view BlobView(int col) const;
  std::string Text(int col) const { return std::string(TextView(col)); }
  std::string Blob(int col) const { return std::string(BlobView(col)); }

 private:
  friend class SqliteDb;
  Statement(SqliteDb* db, sqlite3_stmt* stmt, bool* busy) : db_(db), stmt_(stmt), busy_(busy) {}
  explicit Statement(Status error) : error_(std::move(error)) {}
  void Release();
  Status StepError(int rc, std::string_view context);

  SqliteDb* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  bool* busy_ = nullptr;  // the cache entry's in-use flag; null: owned, finalized
  int next_ = 0;
  Status error_;
};

class SqliteDb {
 public:
  // Opens (creating) the database at `path` in WAL mode with `options`.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, const SqliteOptions& options);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs `sql` (one or more statements; rows are ignored).
  Status Exec(const char* sql);
  // The statement for `sql`, prepared once per connection and cached by the
  // address of `sql`, which must therefore have static storage (a literal).
  // While a handle for it is alive, preparing the same SQL again gives a
  // private statement, so nested uses never share one.
  Statement Prepare(const char* sql);
  // Changes the synchronous level (a no-op when it already is `sync`).
  Status SetSynchronous(SqliteOptions::Sync sync);

  int64_t Changes() const { return sqlite3_changes64(db_); }
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }
  size_t TEST_CachedStatements() const { return stmts_.size(); }

  // The Status for SQLite result `rc` on this connection: "<what>:
  // <context>: <SQLite's message>", with SqliteErrno(rc).
  Status Error(int rc, std::string_view context) const;
  // The same for the connection's last error.
  Status Error(std::string_view context) const { return Error(sqlite3_extended_errcode(db_), context); }

 private:
  SqliteDb(sqlite3* db, std::string path, std::string what)
      : db_(db), path_(std::move(path)), what_(std::move(what)) {}
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };

  sqlite3* db_;
  const std::string path_;
  const std::string what_;
  int sync_ = -1;  // the PRAGMA synchronous value set last
  std::unordered_map<const char*, Cached> stmts_;
};

// A write transaction (BEGIN IMMEDIATE), rolled back when destroyed
// uncommitted. The SqliteDb must outlive it.
class Transaction {
 public:
  static Result<Transaction> Begin(SqliteDb& db);
  Transaction(Transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() { Rollback(); }
  // Commits; on failure the transaction is rolled back.
  Status Commit();
  void Rollback();

 private:
  explicit Transaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;  // null once committed or rolled back
};

// Runs `f` (returning Status or Result) in a write transaction: committed
// when f succeeds, rolled back otherwise. Returns f's result, or the
// failure of BEGIN or COMMIT. Not analysed: f may require a lock its
// caller holds (annotated REQUIRES(mu)), which this template cannot name.
template <typename F>
NO_THREAD_SAFETY_ANALYSIS auto InTransaction(SqliteDb& db, F&& f) -> decltype(f()) {
  auto txn = Transaction::Begin(db);
  if (!txn.ok()) return txn.status();
  auto result = f();
  if (!result.ok()) return result;
  NEXUS_RETURN_IF_ERROR(txn->Commit());
  return result;
}

// Idle connections (or anything that owns one, e.g. a connection with a
// repository handle) kept for reuse. Borrow hands out an idle one or makes a
// new one with the factory; the Lease gives it back when destroyed. The pool
// must outlive its leases. Thread-safe.
template <typename T = SqliteDb>
class ConnectionPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<T>>()>;
  explicit ConnectionPool(Factory make) : make_(std::move(make)) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& o) noexcept : pool_(o.pool_), item_(std::move(o.item_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (item_) pool_->Return(std::move(item_));
    }
    T& operator*() const { return *item_; }
    T* operator->() const { return item_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
    ConnectionPool* pool_;
    std::unique_ptr<T> item_;
  };

  Result<Lease> Borrow() {
    {
      MutexLock lk(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<T> item = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(item));
      }
    }
    auto made = make_();
    if (!made.ok()) return made.status();
    return Lease(this, std::move(made).value());
  }

  size_t idle() const {
    MutexLock lk(mu_);
    return idle_.size();
  }

 private:
  void Return(std::unique_ptr<T> item) {
    MutexLock lk(mu_);
    idle_.push_back(std::move(item));
  }

  const Factory make_;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<T>> idle_ GUARDED_BY(mu_);
};

}  // namespace nexus
