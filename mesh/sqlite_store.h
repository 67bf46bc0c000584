// SqliteStore: the durable embedded Store. The state is served from memory
// (MemoryStore) and every transaction is written to SQLite in one SQLite
// transaction before it becomes visible, so a reopened store holds exactly
// the committed transactions.
//
// Schema (version 1):
//   meta(name, value)                          schema_version, revision
//   kv(key, value, create_rev, mod_rev, lease) one row per key
//   leases(id, ttl_ms, deadline_ms)            deadlines in Unix ms
//
// Durability: WAL; synchronous=FULL by default (a Commit that returned
// survives power loss), NORMAL on request (survives a process crash; the last
// transactions may be lost on power loss).
//
// Thread-safety: as Store. The SQLite connection is used only under
// MemoryStore's mutex (from Persist), never concurrently.
#pragma once

#include <memory>
#include <string>

#include "mesh/memory_store.h"

namespace nexus {
class SqliteDb;
}

namespace nexus::mesh {

class SqliteStore final : public MemoryStore {
 public:
  struct Options {
    bool full_sync = true;
  };
  // Opens (creating if needed) the database at `path` and loads it.
  // `clock` (not owned) must outlive the store. EIO on database errors,
  // EINVAL on an unknown schema version.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const Clock* clock,
                                                   Options options);
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const Clock* clock) {
    return Open(path, clock, Options());
  }
  ~SqliteStore() override;

 protected:
  Status Persist(const Mutation& m) override;

 private:
  SqliteStore(const Clock* clock, std::unique_ptr<SqliteDb> db);
  Status Load();
  Status PutMeta(const char* name, int64_t value);

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace nexus::mesh
