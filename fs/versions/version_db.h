// The version index (DIR/versions.db): its schema, and how a connection to
// it is opened (base/sqlite_db.h is the layer every query goes through).
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
// Threading: as SqliteDb: a connection is used by one thread at a time (the
// store locks its writer and pools its readers). Several connections may be
// open on one file (WAL).
#pragma once

#include <memory>
#include <string>

#include "base/sqlite_db.h"
#include "base/status.h"

namespace nexus::versions {

// Opens (creating if needed) the index at `path` in WAL mode with
// synchronous=NORMAL (the store raises it around durable commits); with
// `create_schema`, creates the tables.
Result<std::unique_ptr<SqliteDb>> OpenVersionDb(const std::string& path, bool create_schema);

}  // namespace nexus::versions
