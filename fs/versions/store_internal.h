// Helpers shared by the parts of VersionStore (version_store.cc,
// snapshots.cc, version_gc.cc). Not part of the public interface.
//
// Threading: stateless; the VersionDb passed in follows its own contract.
#pragma once

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "base/mutex.h"
#include "base/status.h"
#include "fs/versions/version_db.h"
#include "fs/versions/version_store.h"

namespace nexus::versions {

Status ValidateZone(const std::string& zone);
// "/a//b/" is invalid, "/a/b/" → "a/b"; "", ".", ".." components → EINVAL.
Result<std::string> NormalizePath(const std::string& path);

// A row of `files`.
struct FileRecord {
  int64_t id = 0;
  bool deleted = false;
  uint32_t last_n = 0;
  std::string last_blob;
  std::string path;
};
// The file identity at zone:path: the live one, else the newest deleted one.
std::optional<FileRecord> FindFile(VersionDb& db, const std::string& zone, const std::string& path);

// Runs `f` in a write transaction: committed when f succeeds, rolled back
// otherwise. Returns f's result. Not analysed: the caller holds the lock f
// requires (f is annotated REQUIRES(db_mu_)), which this template cannot name.
template <typename F>
NO_THREAD_SAFETY_ANALYSIS auto InTransaction(VersionDb& db, F&& f) -> decltype(f()) {
  NEXUS_RETURN_IF_ERROR(db.Begin());
  auto result = f();
  if (!result.ok()) {
    db.Rollback();
    return result;
  }
  NEXUS_RETURN_IF_ERROR(db.Commit());
  return result;
}

// Every object reachable from refs/heads/* and refs/snapshots/* (commits,
// trees, blobs), as hex ids.
Result<std::unordered_set<std::string>> ReachableObjects(git_repository* repo);

// The loose-object file of `hex` under the bare repository `git_dir`.
std::string LooseObjectPath(const std::string& git_dir, const std::string& hex);

std::string FormatTime(int64_t ns);

// A pooled SQLite connection and repository handle, used by one query at a
// time; a lease returns it to the pool when destroyed.
struct VersionStore::Reader {
  std::unique_ptr<VersionDb> db;
  RepoPtr repo;
};

class VersionStore::ReaderLease {
 public:
  ReaderLease(VersionStore* store, std::unique_ptr<Reader> r) : store_(store), r_(std::move(r)) {}
  ReaderLease(ReaderLease&&) = default;
  ~ReaderLease() {
    if (!r_) return;
    MutexLock lk(store_->pool_mu_);
    store_->idle_readers_.push_back(std::move(r_));
  }
  VersionDb& db() { return *r_->db; }
  git_repository* repo() { return r_->repo.get(); }

 private:
  VersionStore* store_;
  std::unique_ptr<Reader> r_;
};


}  // namespace nexus::versions
