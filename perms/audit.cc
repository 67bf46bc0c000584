#include "perms/audit.h"

#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/format.h"

namespace nexus {
namespace {

void AppendCsvField(std::string& line, std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    line += v;
    return;
  }
  line += '"';
  for (char c : v) {
    if (c == '"') line += '"';
    line += c;
  }
  line += '"';
}

const char* DecisionName(bool allowed) { return allowed ? "allow" : "deny"; }

}  // namespace

AuditLog::AuditLog(std::unique_ptr<SqliteDb> db, Options options)
    : options_(options), clock_(options.clock ? *options.clock : DefaultClock()), db_(std::move(db)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, Options options) {
  if (options.queue_capacity == 0) return Status::Error(EINVAL, "audit queue capacity is 0");
  auto db = SqliteDb::Open(
      path, {.what = "audit log",
             .schema = "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
                       " subject TEXT NOT NULL, operation TEXT NOT NULL, object TEXT NOT NULL,"
                       " decision TEXT NOT NULL, reason TEXT NOT NULL);"
                       "CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ns);"
                       "CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject, time_ns);"});
  if (!db.ok()) return db.status();
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(*db), options));
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  return log;
}

AuditLog::~AuditLog() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void AuditLog::Record(AuditRecord r) {
  if (r.time == 0) r.time = clock_.Now();
  {
    MutexLock lk(mu_);
    if (queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(r));
    ++queued_;
  }
  wake_.notify_one();
}

uint64_t AuditLog::dropped() const {
  MutexLock lk(mu_);
  return dropped_;
}

Status AuditLog::Flush() {
  MutexLock lk(mu_);
  uint64_t target = queued_;
  lk.Wait(written_, [&]() REQUIRES(mu_) { return done_ >= target; });
  return last_error_;
}

void AuditLog::WriterLoop() {
  std::vector<AuditRecord> batch;
  MutexLock lk(mu_);
  for (;;) {
    lk.Wait(wake_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lk.Unlock();
    Status st = WriteBatch(batch);
    lk.Lock();
    if (!st.ok()) last_error_ = st;
    done_ += batch.size();
    written_.notify_all();
  }
}

Status AuditLog::WriteBatch(const std::vector<AuditRecord>& batch) {
  MutexLock lk(db_mu_);
  return InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
    Statement ins = db_->Prepare(
        "INSERT INTO audit(time_ns, subject, operation, object, decision, reason)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    for (const AuditRecord& r : batch) {
      NEXUS_RETURN_IF_ERROR(ins.Bind(1, static_cast<int64_t>(r.time))
                                .Bind(2, r.subject)
                                .Bind(3, r.operation)
                                .Bind(4, r.object)
                                .Bind(5, std::string_view(DecisionName(r.allowed)))
                                .Bind(6, r.reason)
                                .Run("write record"));
    }
    return Status::Ok();
  });
}

Result<std::vector<AuditRecord>> AuditLog::List(const AuditFilter& f) {
  MutexLock lk(db_mu_);
  Statement q = db_->Prepare(
      "SELECT time_ns, subject, operation, object, decision, reason FROM audit"
      " WHERE (?1 IS NULL OR time_ns >= ?1) AND (?2 IS NULL OR subject = ?2)"
      " AND (?3 IS NULL OR decision = ?3) ORDER BY id LIMIT ?4");
  f.since ? q.Bind(1, static_cast<int64_t>(*f.since)) : q.BindNull(1);
  f.subject ? q.Bind(2, *f.subject) : q.BindNull(2);
  f.allowed ? q.Bind(3, std::string_view(DecisionName(*f.allowed))) : q.BindNull(3);
  q.Bind(4, static_cast<int64_t>(std::min<size_t>(f.limit, INT64_MAX)));
  std::vector<AuditRecord> out;
  while (q.Next()) {
    out.push_back(
        AuditRecord{q.Int(0), q.Text(1), q.Text(2), q.Text(3), q.TextView(4) == "allow", q.Text(5)});
  }
  NEXUS_RETURN_IF_ERROR(q.status());
  return out;
}

Status AuditLog::ExportJsonl(const AuditFilter& filter, std::ostream& out) {
  auto records = List(filter);
  if (!records.ok()) return records.status();
  for (const AuditRecord& r : *records) {
    nlohmann::json j = {{"time", FormatRfc3339(r.time)},
                        {"time_ns", r.time},
                        {"subject", r.subject},
                        {"operation", r.operation},
                        {"object", r.object},
                        {"decision", DecisionName(r.allowed)},
                        {"reason", r.reason}};
    // Replace invalid UTF-8 rather than throw: names are arbitrary bytes.
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  return out ? Status::Ok() : Status::Error(EIO, "audit export: write failed");
}

Status AuditLog::ExportCsv(const AuditFilter& filter, std::ostream& out) {
  auto records = List(filter);
  if (!records.ok()) return records.status();
  out << "time,subject,operation,object,decision,reason\r\n";
  std::string line;
  for (const AuditRecord& r : *records) {
    std::string time = FormatRfc3339(r.time);
    const std::string_view fields[] = {time,    r.subject, r.operation, r.object, DecisionName(r.allowed),
                                       r.reason};
    line.clear();
    for (size_t i = 0; i < std::size(fields); ++i) {
      if (i > 0) line += ',';
      AppendCsvField(line, fields[i]);
    }
    out << line << "\r\n";
  }
  return out ? Status::Ok() : Status::Error(EIO, "audit export: write failed");
}

}  // namespace nexus
