#include "ops/op_log.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "base/mutex.h"
#include "base/sqlite_db.h"

namespace nexus::ops {
namespace {

// The schema's version, in PRAGMA user_version: a later layout migrates from
// the version it finds. 0 is a database this code has not set up yet.
constexpr int kSchemaVersion = 1;

// AUTOINCREMENT: ids are never reused, even when Gc empties the table, so a
// watcher's cursor stays meaningful across retention.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS ops(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, path TEXT NOT NULL, old_path TEXT NOT NULL, subject TEXT NOT NULL,"
    " uid INTEGER NOT NULL, pid INTEGER NOT NULL, command TEXT NOT NULL, agent_id TEXT NOT NULL,"
    " task_id TEXT NOT NULL, version_before INTEGER NOT NULL, version_after INTEGER NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ops_time ON ops(time_ns);"
    "CREATE INDEX IF NOT EXISTS ops_subject ON ops(subject, id);"
    "CREATE INDEX IF NOT EXISTS ops_agent ON ops(agent_id, id);"
    "CREATE INDEX IF NOT EXISTS ops_task ON ops(task_id, id);"
    "CREATE INDEX IF NOT EXISTS ops_path ON ops(path);"
    "CREATE INDEX IF NOT EXISTS ops_old_path ON ops(old_path);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

#define NEXUS_OPS_COLUMNS                                                                    \
  "SELECT id, time_ns, kind, path, old_path, subject, uid, pid, command, agent_id, task_id," \
  " version_before, version_after, detail FROM ops "

// Every query binds the same parameters:
//   ?1 since_ns (0: any)   ?2 until_ns (0: any)   ?3 subject   ?4 agent_id
//   ?5 task_id   ?6 kind (-1: any)   ?7 path   ?8 path + "/"   ?9 path + "0"
//   ?10 the id bound (before / after)   ?11 limit
// The conditions other than the driving one are filters on the rows the
// driving index yields.
#define NEXUS_OPS_REST                                                                         \
  " AND (?1 = 0 OR time_ns >= ?1) AND (?2 = 0 OR time_ns <= ?2) AND (?3 = '' OR subject = ?3)" \
  " AND (?4 = '' OR agent_id = ?4) AND (?5 = '' OR task_id = ?5) AND (?6 < 0 OR kind = ?6)"
// The path condition, usable by the path and old_path indexes (OR by union):
// the path itself, or between "P/" and "P0" ('0' follows '/'): below it.
#define NEXUS_OPS_PATH                                                   \
  "(?7 = '' OR path = ?7 OR (path >= ?8 AND path < ?9) OR old_path = ?7" \
  " OR (old_path >= ?8 AND old_path < ?9))"

// Which index drives a query: the most selective filter set. An equality on
// (agent_id, id) read backwards from the id bound gives the first page
// without touching other agents' rows.
enum class Drive { kTask, kAgent, kSubject, kPath, kScan };

struct DrivenSql {
  const char* newest_first;
  const char* oldest_first;
};

constexpr DrivenSql kSql[] = {
    // kTask
    {NEXUS_OPS_COLUMNS "INDEXED BY ops_task WHERE task_id = ?5 AND id < ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id DESC LIMIT ?11",
     NEXUS_OPS_COLUMNS "INDEXED BY ops_task WHERE task_id = ?5 AND id > ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id LIMIT ?11"},
    // kAgent
    {NEXUS_OPS_COLUMNS "INDEXED BY ops_agent WHERE agent_id = ?4 AND id < ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id DESC LIMIT ?11",
     NEXUS_OPS_COLUMNS "INDEXED BY ops_agent WHERE agent_id = ?4 AND id > ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id LIMIT ?11"},
    // kSubject
    {NEXUS_OPS_COLUMNS "INDEXED BY ops_subject WHERE subject = ?3 AND id < ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id DESC LIMIT ?11",
     NEXUS_OPS_COLUMNS "INDEXED BY ops_subject WHERE subject = ?3 AND id > ?10" NEXUS_OPS_REST
                       " AND " NEXUS_OPS_PATH " ORDER BY id LIMIT ?11"},
    // kPath: the rows of the subtree (both indexes), sorted by id.
    {NEXUS_OPS_COLUMNS "WHERE " NEXUS_OPS_PATH " AND id < ?10" NEXUS_OPS_REST " ORDER BY id DESC LIMIT ?11",
     NEXUS_OPS_COLUMNS "WHERE " NEXUS_OPS_PATH " AND id > ?10" NEXUS_OPS_REST " ORDER BY id LIMIT ?11"},
    // kScan: by id (time filters are residual: ids follow time closely, and
    // a page stops at its limit).
    {NEXUS_OPS_COLUMNS "WHERE id < ?10" NEXUS_OPS_REST " AND " NEXUS_OPS_PATH " ORDER BY id DESC LIMIT ?11",
     NEXUS_OPS_COLUMNS "WHERE id > ?10" NEXUS_OPS_REST " AND " NEXUS_OPS_PATH " ORDER BY id LIMIT ?11"},
};

Drive DriveFor(const OpFilter& f, bool path_set) {
  if (!f.task_id.empty()) return Drive::kTask;
  if (!f.agent_id.empty()) return Drive::kAgent;
  if (!f.subject.empty()) return Drive::kSubject;
  if (path_set) return Drive::kPath;
  return Drive::kScan;
}

// "/" and "" select everything.
std::string EffectivePath(const OpFilter& f) {
  std::string p = f.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") p.clear();
  return p;
}

Operation ReadRow(const Statement& s) {
  Operation op;
  op.id = s.Int(0);
  op.time_ns = s.Int(1);
  op.kind = static_cast<OpKind>(s.Int(2));
  op.path = s.Text(3);
  op.old_path = s.Text(4);
  op.subject = s.Text(5);
  op.uid = static_cast<uid_t>(s.Int(6));
  op.pid = static_cast<pid_t>(s.Int(7));
  op.command = s.Text(8);
  op.agent_id = s.Text(9);
  op.task_id = s.Text(10);
  op.version_before = static_cast<uint32_t>(s.Int(11));
  op.version_after = static_cast<uint32_t>(s.Int(12));
  op.detail = s.Text(13);
  return op;
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t ClampLimit(size_t limit) { return static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)); }

}  // namespace

struct OpLog::Impl {
  explicit Impl(std::string p)
      : path(std::move(p)), readers([this]() -> Result<std::unique_ptr<SqliteDb>> {
          // A first page reads up to a thousand scattered rows: keep the
          // recent end of the table in memory (cache, and mmap to skip the
          // copy through read()).
          NEXUS_ASSIGN_OR_RETURN(
              auto db,
              SqliteDb::Open(path, {.what = "operations log", .cache_kib = 32 * 1024, .query_only = true}));
          NEXUS_RETURN_IF_ERROR(db->Exec("PRAGMA mmap_size = 268435456"));
          return db;
        }) {}

  // The rows matching `filter` beyond `bound` in the given order.
  Result<std::vector<Operation>> Select(const OpFilter& filter, int64_t bound, size_t limit,
                                        bool newest_first) const;

  const std::string path;
  Mutex write_mu;  // the writer connection and its transactions
  std::unique_ptr<SqliteDb> writer GUARDED_BY(write_mu);
  mutable ConnectionPool<SqliteDb> readers;
  std::atomic<int64_t> newest{0};

  // Held while listeners run, so none runs after RemoveListener returns.
  Mutex listen_mu;
  uint64_t next_token GUARDED_BY(listen_mu) = 1;
  std::map<uint64_t, Listener> listeners GUARDED_BY(listen_mu);
};

Result<std::vector<Operation>> OpLog::Impl::Select(const OpFilter& filter, int64_t bound, size_t limit,
                                                   bool newest_first) const {
  std::vector<Operation> out;
  if (limit == 0) return out;
  if (!filter.ids.empty()) {
    // By id: a handful of rows, each by primary key.
    NEXUS_ASSIGN_OR_RETURN(auto db, readers.Borrow());
    Statement q = db->Prepare(NEXUS_OPS_COLUMNS "WHERE id = ?1");
    for (int64_t id : filter.ids) {
      if (newest_first ? (bound > 0 && id >= bound) : id <= bound) continue;
      q.Bind(1, id);
      if (q.Next()) {
        Operation op = ReadRow(q);
        if (filter.Matches(op)) out.push_back(std::move(op));
        q.Reset();
      }
      NEXUS_RETURN_IF_ERROR(q.status());
    }
    std::sort(out.begin(), out.end(), [&](const Operation& a, const Operation& b) {
      return newest_first ? a.id > b.id : a.id < b.id;
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const Operation& a, const Operation& b) { return a.id == b.id; }),
              out.end());
    if (out.size() > limit) out.resize(limit);
    return out;
  }
  std::string path = EffectivePath(filter);
  const DrivenSql& sql = kSql[static_cast<int>(DriveFor(filter, !path.empty()))];
  NEXUS_ASSIGN_OR_RETURN(auto db, readers.Borrow());
  Statement q = db->Prepare(newest_first ? sql.newest_first : sql.oldest_first);
  q.Bind(1, filter.since_ns)
      .Bind(2, filter.until_ns)
      .Bind(3, std::string_view(filter.subject))
      .Bind(4, std::string_view(filter.agent_id))
      .Bind(5, std::string_view(filter.task_id))
      .Bind(6, filter.kind ? static_cast<int64_t>(*filter.kind) : int64_t{-1})
      .Bind(7, std::string_view(path))
      .Bind(8, std::string_view(path + "/"))
      .Bind(9, std::string_view(path + "0"))
      .Bind(10, newest_first && bound <= 0 ? INT64_MAX : bound)
      .Bind(11, ClampLimit(limit));
  while (q.Next()) out.push_back(ReadRow(q));
  NEXUS_RETURN_IF_ERROR(q.status());
  return out;
}

OpLog::OpLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpLog::~OpLog() = default;

Result<std::unique_ptr<OpLog>> OpLog::Open(const Options& options) {
  if (options.path.empty()) return Status::Error(EINVAL, "operations log: no database path");
  NEXUS_ASSIGN_OR_RETURN(
      auto db,
      SqliteDb::Open(options.path, {.what = "operations log", .cache_kib = 16 * 1024, .schema = kSchema}));
  int version = 0;
  {
    Statement q = db->Prepare("PRAGMA user_version");
    if (q.Next()) version = static_cast<int>(q.Int(0));
    NEXUS_RETURN_IF_ERROR(q.status());
  }
  if (version > kSchemaVersion) {
    return Status::Error(EINVAL, "operations log: " + options.path + " has schema version " +
                                     std::to_string(version) + ", newer than this nexusd (" +
                                     std::to_string(kSchemaVersion) + ")");
  }
  if (version < kSchemaVersion) {
    // 0: just created by the schema above. Later versions migrate here.
    NEXUS_RETURN_IF_ERROR(db->Exec("PRAGMA user_version = 1"));
  }
  int64_t newest = 0;
  {
    Statement q = db->Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'ops'");
    if (q.Next()) newest = q.Int(0);
    NEXUS_RETURN_IF_ERROR(q.status());
  }
  auto impl = std::make_unique<Impl>(options.path);
  {
    MutexLock lk(impl->write_mu);
    impl->writer = std::move(db);
  }
  impl->newest.store(newest);
  return std::unique_ptr<OpLog>(new OpLog(std::move(impl)));
}

Status OpLog::Append(std::vector<Operation>& batch) {
  if (batch.empty()) return Status::Ok();
  int64_t newest = 0;
  {
    MutexLock lk(impl_->write_mu);
    SqliteDb& db = *impl_->writer;
    NEXUS_RETURN_IF_ERROR(InTransaction(db, [&]() -> Status {
      Statement ins = db.Prepare(
          "INSERT INTO ops(time_ns, kind, path, old_path, subject, uid, pid, command, agent_id, task_id,"
          " version_before, version_after, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
          "?13)");
      for (Operation& op : batch) {
        NEXUS_RETURN_IF_ERROR(ins.Bind(1, op.time_ns)
                                  .Bind(2, static_cast<int64_t>(op.kind))
                                  .Bind(3, std::string_view(op.path))
                                  .Bind(4, std::string_view(op.old_path))
                                  .Bind(5, std::string_view(op.subject))
                                  .Bind(6, static_cast<int64_t>(op.uid))
                                  .Bind(7, static_cast<int64_t>(op.pid))
                                  .Bind(8, std::string_view(op.command))
                                  .Bind(9, std::string_view(op.agent_id))
                                  .Bind(10, std::string_view(op.task_id))
                                  .Bind(11, static_cast<int64_t>(op.version_before))
                                  .Bind(12, static_cast<int64_t>(op.version_after))
                                  .Bind(13, std::string_view(op.detail))
                                  .Run("append operation"));
        op.id = db.LastInsertId();
      }
      return Status::Ok();
    }));
    newest = batch.back().id;
    impl_->newest.store(newest);
  }
  MutexLock lk(impl_->listen_mu);
  for (auto& [token, listener] : impl_->listeners) listener(newest);
  return Status::Ok();
}

Result<std::vector<Operation>> OpLog::Query(const OpFilter& filter, int64_t before_id, size_t limit) const {
  return impl_->Select(filter, before_id, limit, /*newest_first=*/true);
}

Result<std::vector<Operation>> OpLog::After(int64_t after_id, const OpFilter& filter, size_t limit) const {
  return impl_->Select(filter, after_id, limit, /*newest_first=*/false);
}

Result<Operation> OpLog::Get(int64_t id) const {
  NEXUS_ASSIGN_OR_RETURN(auto db, impl_->readers.Borrow());
  Statement q = db->Prepare(NEXUS_OPS_COLUMNS "WHERE id = ?1");
  q.Bind(1, id);
  if (q.Next()) return ReadRow(q);
  NEXUS_RETURN_IF_ERROR(q.status());
  return Status::Error(ENOENT, "operation " + std::to_string(id) + " is not in the log");
}

int64_t OpLog::NewestId() const { return impl_->newest.load(); }

namespace {
// One integer from a one-row query on a reader; 0 on error or NULL.
int64_t ScalarQuery(ConnectionPool<SqliteDb>& readers, const char* sql) {
  auto db = readers.Borrow();
  if (!db.ok()) return 0;
  Statement q = (*db)->Prepare(sql);
  return q.Next() ? q.Int(0) : 0;
}
}  // namespace

int64_t OpLog::OldestId() const { return ScalarQuery(impl_->readers, "SELECT min(id) FROM ops"); }
uint64_t OpLog::Count() const {
  return static_cast<uint64_t>(ScalarQuery(impl_->readers, "SELECT count(*) FROM ops"));
}
int64_t OpLog::OldestTimeNs() const { return ScalarQuery(impl_->readers, "SELECT min(time_ns) FROM ops"); }

uint64_t OpLog::AddListener(Listener listener) {
  MutexLock lk(impl_->listen_mu);
  uint64_t token = impl_->next_token++;
  impl_->listeners.emplace(token, std::move(listener));
  return token;
}

void OpLog::RemoveListener(uint64_t token) {
  MutexLock lk(impl_->listen_mu);
  impl_->listeners.erase(token);
}

Result<uint64_t> OpLog::Gc(uint32_t keep_days) {
  const int64_t cutoff = NowNs() - static_cast<int64_t>(keep_days) * 86'400 * 1'000'000'000;
  uint64_t dropped = 0;
  // In slices, so appends are not held back by one long transaction.
  for (;;) {
    MutexLock lk(impl_->write_mu);
    SqliteDb& db = *impl_->writer;
    Statement del = db.Prepare(
        "DELETE FROM ops WHERE id IN (SELECT id FROM ops INDEXED BY ops_time WHERE time_ns < ?1 LIMIT "
        "10000)");
    NEXUS_RETURN_IF_ERROR(del.Bind(1, cutoff).Run("gc"));
    int64_t n = db.Changes();
    dropped += static_cast<uint64_t>(n);
    if (n < 10000) break;
  }
  return dropped;
}

int64_t OpLog::Meta(const std::string& key) const {
  auto db = impl_->readers.Borrow();
  if (!db.ok()) return 0;
  Statement q = (*db)->Prepare("SELECT value FROM meta WHERE key = ?1");
  q.Bind(1, std::string_view(key));
  return q.Next() ? q.Int(0) : 0;
}

Status OpLog::SetMeta(const std::string& key, int64_t value) {
  MutexLock lk(impl_->write_mu);
  Statement q = impl_->writer->Prepare(
      "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  return q.Bind(1, std::string_view(key)).Bind(2, value).Run("set meta");
}

}  // namespace nexus::ops
