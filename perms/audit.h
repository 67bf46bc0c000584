// AuditLog: the record of every permission denial and every tuple change.
//
// A record is {time, subject, operation, object, decision, reason}. For a
// denied check the operation is the permission or relation asked for; for a
// tuple change it is "tuple.add" or "tuple.delete", the object is the tuple
// text and the subject the actor ("system" for unchecked bootstrap writes).
//
// Storage: its own SQLite file (WAL), separate from the tuples so audit
// volume never slows tuple commits:
//   audit(id INTEGER PRIMARY KEY, time_ns, subject, operation, object,
//         decision 'allow'|'deny', reason)   indexed by time_ns and subject
//
// Record() never waits for SQLite: it appends to a bounded in-memory queue
// that a writer thread drains in one transaction per batch. When the queue
// is full the record is dropped and counted (dropped()), never blocked on.
//
// Thread-safety: Record, Flush, List, Export* and dropped() may be called
// from any thread. Lock order: db_mu_ is never taken while holding mu_.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/clock.h"
#include "base/sqlite_db.h"

namespace nexus {

struct AuditRecord {
  UnixNanos time = 0;  // 0: stamped by the log's clock on Record
  std::string subject;
  std::string operation;
  std::string object;
  bool allowed = false;
  std::string reason;
  bool operator==(const AuditRecord&) const = default;
};

// Where the engine sends audit records. Implementations must not block.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void Record(AuditRecord r) = 0;
};

struct AuditFilter {
  std::optional<UnixNanos> since;  // time >= since
  std::optional<std::string> subject;
  std::optional<bool> allowed;
  size_t limit = 1000;
};

class AuditLog final : public AuditSink {
 public:
  struct Options {
    size_t queue_capacity = 1 << 16;
    const Clock* clock = nullptr;  // nullptr: the system clock; must outlive the log
  };
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, Options options);
  // Writes what is queued, then stops the writer.
  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Record(AuditRecord r) override;
  // Waits until every record queued before the call is in SQLite; returns
  // the writer's last error, if any.
  Status Flush();
  uint64_t dropped() const;

  // Oldest first.
  Result<std::vector<AuditRecord>> List(const AuditFilter& filter);
  // One JSON object per line: time (RFC 3339, UTC), time_ns, subject,
  // operation, object, decision, reason.
  Status ExportJsonl(const AuditFilter& filter, std::ostream& out);
  // RFC 4180 CSV with a header row; fields quoted when they hold a comma,
  // quote, CR or LF, with quotes doubled.
  Status ExportCsv(const AuditFilter& filter, std::ostream& out);

 private:
  AuditLog(std::unique_ptr<SqliteDb> db, Options options);
  void WriterLoop() EXCLUDES(mu_);
  Status WriteBatch(const std::vector<AuditRecord>& batch);

  const Options options_;
  const Clock& clock_;

  Mutex db_mu_ ACQUIRED_BEFORE(mu_);
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(db_mu_);

  mutable Mutex mu_;
  std::condition_variable wake_;     // writer: work or stop
  std::condition_variable written_;  // Flush: progress
  std::deque<AuditRecord> queue_ GUARDED_BY(mu_);
  uint64_t queued_ GUARDED_BY(mu_) = 0;  // records ever accepted
  uint64_t done_ GUARDED_BY(mu_) = 0;    // records handled by the writer
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  Status last_error_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace nexus
