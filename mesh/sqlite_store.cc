#include "mesh/sqlite_store.h"

#include "base/sqlite_db.h"

namespace nexus::mesh {
namespace {

constexpr int64_t kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL);
)sql";

}  // namespace

SqliteStore::SqliteStore(const Clock* clock, std::unique_ptr<SqliteDb> db)
    : MemoryStore(clock), db_(std::move(db)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, const Clock* clock,
                                                       Options options) {
  auto db = SqliteDb::Open(
      path, {.what = "mesh database",
             .synchronous = options.full_sync ? SqliteOptions::Sync::kFull : SqliteOptions::Sync::kNormal,
             .schema = kSchema});
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteStore> store(new SqliteStore(clock, std::move(db).value()));
  NEXUS_RETURN_IF_ERROR(store->Load());
  return store;
}

Status SqliteStore::PutMeta(const char* name, int64_t value) {
  return db_->Prepare("INSERT OR REPLACE INTO meta(name,value) VALUES(?,?)")
      .Bind(1, std::string_view(name))
      .Bind(2, value)
      .Run("write meta");
}

Status SqliteStore::Load() {
  int64_t schema = 0, revision = 0;
  {
    Statement s = db_->Prepare("SELECT name, value FROM meta");
    while (s.Next()) {
      std::string_view name = s.BlobView(0);
      if (name == "schema_version") schema = s.Int(1);
      if (name == "revision") revision = s.Int(1);
    }
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  if (schema == 0) {
    NEXUS_RETURN_IF_ERROR(PutMeta("schema_version", kSchemaVersion));
  } else if (schema != kSchemaVersion) {
    return Status::Error(EINVAL, "mesh database schema version " + std::to_string(schema) +
                                     " is not supported (want " + std::to_string(kSchemaVersion) + ")");
  }
  LoadRevision(revision);
  {
    Statement s = db_->Prepare("SELECT id, ttl_ms, deadline_ms FROM leases");
    while (s.Next()) LoadLease({s.Int(0), Duration(s.Int(1)), FromMillis(s.Int(2))});
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  Statement s = db_->Prepare("SELECT key, value, create_rev, mod_rev, lease FROM kv");
  while (s.Next()) LoadKey({s.Blob(0), s.Blob(1), s.Int(2), s.Int(3), s.Int(4)});
  return s.status();
}

Status SqliteStore::Persist(const Mutation& m) {
  return InTransaction(*db_, [&]() -> Status {
    if (!m.puts.empty()) {
      Statement s =
          db_->Prepare("INSERT OR REPLACE INTO kv(key,value,create_rev,mod_rev,lease) VALUES(?,?,?,?,?)");
      for (const KeyValue* kv : m.puts) {
        s.BindBlob(1, kv->key).BindBlob(2, kv->value).Bind(3, kv->create_revision);
        NEXUS_RETURN_IF_ERROR(s.Bind(4, kv->mod_revision).Bind(5, kv->lease).Run("write key"));
      }
    }
    if (!m.deletes.empty()) {
      Statement s = db_->Prepare("DELETE FROM kv WHERE key=?");
      for (std::string_view key : m.deletes) NEXUS_RETURN_IF_ERROR(s.BindBlob(1, key).Run("delete key"));
    }
    if (!m.lease_puts.empty()) {
      Statement s = db_->Prepare("INSERT OR REPLACE INTO leases(id,ttl_ms,deadline_ms) VALUES(?,?,?)");
      for (const LeaseRecord& l : m.lease_puts) {
        NEXUS_RETURN_IF_ERROR(
            s.Bind(1, l.id).Bind(2, l.ttl.count()).Bind(3, ToMillis(l.deadline)).Run("write lease"));
      }
    }
    if (!m.lease_deletes.empty()) {
      Statement s = db_->Prepare("DELETE FROM leases WHERE id=?");
      for (LeaseId id : m.lease_deletes) NEXUS_RETURN_IF_ERROR(s.Bind(1, id).Run("delete lease"));
    }
    return PutMeta("revision", m.revision);
  });
}

}  // namespace nexus::mesh
