// TupleStore: the durable copy of the ReBAC tuples, in SQLite.
//
// Schema (in the database file given to RebacEngine::Open, shared with the
// identity table):
//   rebac_meta(key TEXT PRIMARY KEY, value INTEGER)   schema_version, revision
//   rebac_tuples(object, relation, subject, expires_at, zone)
//       PRIMARY KEY(object, relation, subject); expires_at is Unix
//       nanoseconds or NULL for never; zone '' when none.
// Each Commit is one transaction (synchronous=FULL) that also bumps the
// revision, so the revision counts committed write batches.
//
// Thread-safety: not thread-safe; the engine calls it under its writer mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "perms/rebac_types.h"
#include "base/sqlite_db.h"

namespace nexus {

class TupleStore {
 public:
  static Result<std::unique_ptr<TupleStore>> Open(const std::string& path);

  uint64_t revision() const { return revision_; }
  // Calls `fn` for every stored tuple. A row that no longer parses is EIO.
  Status Load(const std::function<Status(Tuple)>& fn);
  // Deletes then upserts, in one transaction; returns the new revision.
  Result<uint64_t> Commit(const std::vector<Tuple>& deletes, const std::vector<Tuple>& puts);

 private:
  TupleStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Status CommitLocked(const std::vector<Tuple>& deletes, const std::vector<Tuple>& puts);

  std::unique_ptr<SqliteDb> db_;
  uint64_t revision_ = 0;
};

}  // namespace nexus
