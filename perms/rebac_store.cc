#include "perms/rebac_store.h"

namespace nexus {
namespace {

constexpr int64_t kSchemaVersion = 1;

}  // namespace

Result<std::unique_ptr<TupleStore>> TupleStore::Open(const std::string& path) {
  // A revoke that returned must survive a power cut: synchronous=FULL.
  auto db = SqliteDb::Open(
      path, {.what = "ReBAC database",
             .synchronous = SqliteOptions::Sync::kFull,
             .schema = "CREATE TABLE IF NOT EXISTS rebac_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS rebac_tuples(object TEXT NOT NULL, relation TEXT NOT NULL,"
                       " subject TEXT NOT NULL, expires_at INTEGER, zone TEXT NOT NULL DEFAULT '',"
                       " PRIMARY KEY(object, relation, subject)) WITHOUT ROWID;"
                       "INSERT OR IGNORE INTO rebac_meta VALUES('schema_version', 1), ('revision', 0);"});
  if (!db.ok()) return db.status();
  std::unique_ptr<TupleStore> store(new TupleStore(std::move(*db)));
  Statement q = store->db_->Prepare("SELECT key, value FROM rebac_meta");
  while (q.Next()) {
    std::string_view key = q.TextView(0);
    if (key == "schema_version" && q.Int(1) != kSchemaVersion) {
      return Status::Error(EINVAL, path + ": unknown ReBAC schema version " + std::to_string(q.Int(1)));
    }
    if (key == "revision") store->revision_ = static_cast<uint64_t>(q.Int(1));
  }
  NEXUS_RETURN_IF_ERROR(q.status());
  return store;
}

Status TupleStore::Load(const std::function<Status(Tuple)>& fn) {
  Statement q = db_->Prepare("SELECT subject, relation, object, expires_at, zone FROM rebac_tuples");
  while (q.Next()) {
    std::string text = q.Text(0) + "#" + q.Text(1) + "@" + q.Text(2);
    auto t = Tuple::Parse(text);
    if (!t.ok()) return Status::Error(EIO, "corrupt tuple row: " + t.status().message());
    t->expires_at = q.IsNull(3) ? kNever : q.Int(3);
    t->zone = q.Text(4);
    NEXUS_RETURN_IF_ERROR(fn(std::move(*t)));
  }
  return q.status();
}

Result<uint64_t> TupleStore::Commit(const std::vector<Tuple>& deletes, const std::vector<Tuple>& puts) {
  NEXUS_RETURN_IF_ERROR(InTransaction(*db_, [&] { return CommitLocked(deletes, puts); }));
  return ++revision_;
}

Status TupleStore::CommitLocked(const std::vector<Tuple>& deletes, const std::vector<Tuple>& puts) {
  Statement del =
      db_->Prepare("DELETE FROM rebac_tuples WHERE object = ?1 AND relation = ?2 AND subject = ?3");
  for (const Tuple& t : deletes) {
    NEXUS_RETURN_IF_ERROR(del.Bind(1, t.object.ToString())
                              .Bind(2, ToString(t.relation))
                              .Bind(3, t.subject.ToString())
                              .Run("delete tuple"));
  }
  Statement put = db_->Prepare("INSERT OR REPLACE INTO rebac_tuples VALUES(?1, ?2, ?3, ?4, ?5)");
  for (const Tuple& t : puts) {
    put.Bind(1, t.object.ToString()).Bind(2, ToString(t.relation)).Bind(3, t.subject.ToString());
    if (t.expires_at == kNever) {
      put.BindNull(4);
    } else {
      put.Bind(4, static_cast<int64_t>(t.expires_at));
    }
    NEXUS_RETURN_IF_ERROR(put.Bind(5, t.zone).Run("write tuple"));
  }
  return db_->Prepare("UPDATE rebac_meta SET value = value + 1 WHERE key = 'revision'").Run("bump revision");
}

}  // namespace nexus
