// Helpers shared by the parts of VersionStore (version_store.cc,
// snapshots.cc, version_gc.cc). Not part of the public interface.
//
// Threading: stateless; the SqliteDb passed in follows its own contract.
#pragma once

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "base/layout.h"
#include "base/mutex.h"
#include "base/ns_path.h"
#include "base/status.h"
#include "fs/versions/version_db.h"
#include "fs/versions/version_store.h"

namespace nexus::versions {

// A file's path within its zone as the store keys it: "/a/b/" -> "a/b";
// empty, ".", ".." components and the zone root itself are EINVAL
// (NsPath::FromRelative). Zones are checked with layout::ValidateZone.
Result<std::string> ZoneRelativePath(const std::string& path);

// A row of `files`.
struct FileRecord {
  int64_t id = 0;
  bool deleted = false;
  uint32_t last_n = 0;
  std::string last_blob;
  std::string path;
};
// The file identity at zone:path: the live one, else the newest deleted one.
std::optional<FileRecord> FindFile(SqliteDb& db, const std::string& zone, const std::string& path);

// Every object reachable from refs/heads/* and refs/snapshots/* (commits,
// trees, blobs), as hex ids.
Result<std::unordered_set<std::string>> ReachableObjects(git_repository* repo);

// The loose-object file of `hex` under the bare repository `git_dir`.
std::string LooseObjectPath(const std::string& git_dir, const std::string& hex);

// A pooled SQLite connection and repository handle, used by one query at a
// time; a lease returns it to the pool when destroyed.
struct VersionStore::Reader {
  std::unique_ptr<SqliteDb> db;
  RepoPtr repo;
};

class VersionStore::ReaderLease {
 public:
  explicit ReaderLease(ConnectionPool<Reader>::Lease lease) : lease_(std::move(lease)) {}
  SqliteDb& db() { return *lease_->db; }
  git_repository* repo() { return lease_->repo.get(); }

 private:
  ConnectionPool<Reader>::Lease lease_;
};

}  // namespace nexus::versions
