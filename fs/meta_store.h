// MetaStore: the persistent form of the native tree's metadata, in SQLite.
//
// The native backend keeps its metadata in memory while running and hands
// the store consistent point-in-time batches (see NativeBackend's committer);
// the store writes each batch in one transaction. So the database always
// holds the tree as it was at some instant: never a torn state, whatever the
// moment of a crash.
//
// Schema (version 2):
//   meta(key, value)                      schema_version, next_ino, clean_shutdown
//   inodes(ino, mode, uid, gid, nlink, size, rdev, atime_ns, mtime_ns,
//          ctime_ns, btime_ns, target,    target: symlink target
//          origin, fork_flags)            forks: the source inode, kForkLazy...
//   dentries(parent, name, ino)           one row per name
//   xattrs(ino, name, value)
//   fork_points(parent, name, origin, mode, target, first)
//                                         forks: each name of an origin at the
//                                         fork point; first: the one Changes()
//                                         diffs against
// Inode numbers here are the backend-local numbers, but for origins and
// fork_points.parent (the source's inode numbers). Version 1 (no fork
// columns or table) is migrated in place on open.
//
// Threading: not thread-safe. Load runs before serving; afterwards only the
// committer thread calls Commit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

class SqliteDb;

struct InodeRecord {
  Ino ino = 0;  // local number
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  dev_t rdev = 0;
  timespec atime{}, mtime{}, ctime{}, btime{};
  std::string target;
  Ino origin = 0;           // forks: the source inode (0: none)
  uint32_t fork_flags = 0;  // kForkLazy | kForkLowerContent | kForkCopiedUp
};

constexpr uint32_t kForkLazy = 1;          // a directory not yet materialized
constexpr uint32_t kForkLowerContent = 2;  // a file reading its origin's content
constexpr uint32_t kForkCopiedUp = 4;      // a file given content of its own

struct ForkPointRecord {
  Ino origin = 0;
  Ino parent = 0;  // origin of its directory at the fork point
  std::string name;
  mode_t mode = 0;
  std::string target;
  bool first = true;  // the origin's first name met (a hard link has others)
};

struct DentryRecord {
  Ino parent = 0;
  std::string name;
  Ino ino = 0;
};

struct XattrRecord {
  Ino ino = 0;
  std::string name;
  std::string value;
};

// One transaction's worth of changes. Deletions are applied before puts.
struct MetaBatch {
  std::vector<InodeRecord> put_inodes;
  std::vector<Ino> delete_inodes;  // also deletes the inode's xattrs
  std::vector<DentryRecord> put_dentries;
  std::vector<std::pair<Ino, std::string>> delete_dentries;
  std::vector<XattrRecord> put_xattrs;
  std::vector<std::pair<Ino, std::string>> delete_xattrs;
  std::vector<ForkPointRecord> put_points;
  uint64_t next_ino = 0;  // 0: unchanged
  bool empty() const {
    return put_inodes.empty() && delete_inodes.empty() && put_dentries.empty() && delete_dentries.empty() &&
           put_xattrs.empty() && delete_xattrs.empty() && put_points.empty() && next_ino == 0;
  }
};

class MetaStore {
 public:
  // Opens (creating if needed) the database at `path` in WAL mode.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path);
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  struct Loaded {
    std::vector<InodeRecord> inodes;
    std::vector<DentryRecord> dentries;
    std::vector<XattrRecord> xattrs;
    std::vector<ForkPointRecord> points;
    uint64_t next_ino = 0;
    bool clean_shutdown = false;  // false also for a brand-new database
    bool fresh = false;           // the database was just created
  };
  Result<Loaded> LoadAll();

  // Writes `batch` in one transaction. With `durable`, the commit is synced to
  // stable storage before returning (synchronous=FULL); otherwise it survives
  // a crash of the process but not necessarily of the machine.
  Status Commit(const MetaBatch& batch, bool durable);

  // Records whether the daemon shut down cleanly (durable).
  Status SetCleanShutdown(bool clean);
  // PRAGMA integrity_check; OK when the database reports "ok".
  Status IntegrityCheck();
  // Bytes used by the database file and its WAL.
  uint64_t DiskBytes() const;

 private:
  MetaStore(std::unique_ptr<SqliteDb> db, std::string path);
  Status PutMeta(const char* key, int64_t value, const char* context);

  std::unique_ptr<SqliteDb> db_;
  std::string path_;
};

}  // namespace nexus
