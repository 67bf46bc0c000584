#include "fs/versions/version_db.h"

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

Result<std::unique_ptr<SqliteDb>> OpenVersionDb(const std::string& path, bool create_schema) {
  return SqliteDb::Open(path, {.what = "version index",
                               .synchronous = SqliteOptions::Sync::kNormal,
                               .busy_timeout_ms = 10000,
                               .schema = create_schema ? kSchema : nullptr});
}

}  // namespace nexus::versions
