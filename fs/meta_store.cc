#include "fs/meta_store.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "base/sqlite_db.h"

namespace nexus {
namespace {

constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY, mode INTEGER NOT NULL, uid INTEGER NOT NULL,
  gid INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL,
  rdev INTEGER NOT NULL, atime_ns INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL, btime_ns INTEGER NOT NULL, target BLOB,
  origin INTEGER NOT NULL DEFAULT 0, fork_flags INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dentries(
  parent INTEGER NOT NULL, name BLOB NOT NULL, ino INTEGER NOT NULL,
  PRIMARY KEY(parent, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS xattrs(
  ino INTEGER NOT NULL, name BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(ino, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fork_points(
  parent INTEGER NOT NULL, name BLOB NOT NULL, origin INTEGER NOT NULL,
  mode INTEGER NOT NULL, target BLOB, first INTEGER NOT NULL,
  PRIMARY KEY(parent, name)) WITHOUT ROWID;
)sql";

// Version 1 -> 2: the fork columns (fork_points is created by kSchema).
constexpr const char* kMigrate1To2 = R"sql(
ALTER TABLE inodes ADD COLUMN origin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inodes ADD COLUMN fork_flags INTEGER NOT NULL DEFAULT 0;
)sql";

}  // namespace

MetaStore::MetaStore(std::unique_ptr<SqliteDb> db, std::string path)
    : db_(std::move(db)), path_(std::move(path)) {}

MetaStore::~MetaStore() = default;

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path) {
  auto db = SqliteDb::Open(path, {.what = "metadata database",
                                  .synchronous = SqliteOptions::Sync::kNormal,
                                  .cache_kib = 65536,
                                  .wal_autocheckpoint = 4096,
                                  .schema = kSchema});
  if (!db.ok()) return db.status();
  return std::unique_ptr<MetaStore>(new MetaStore(std::move(db).value(), path));
}

Status MetaStore::PutMeta(const char* key, int64_t value, const char* context) {
  return db_->Prepare("INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)")
      .Bind(1, std::string_view(key))
      .Bind(2, value)
      .Run(context);
}

Result<MetaStore::Loaded> MetaStore::LoadAll() {
  Loaded out;
  int64_t schema = 0;
  {
    Statement s = db_->Prepare("SELECT key, value FROM meta");
    while (s.Next()) {
      std::string_view key = s.TextView(0);
      int64_t v = s.Int(1);
      if (key == "schema_version") schema = v;
      if (key == "next_ino") out.next_ino = static_cast<uint64_t>(v);
      if (key == "clean_shutdown") out.clean_shutdown = v != 0;
    }
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  if (schema == 0) {
    out.fresh = true;
    NEXUS_RETURN_IF_ERROR(PutMeta("schema_version", kSchemaVersion, "write schema version"));
  } else if (schema == 1) {
    auto txn = Transaction::Begin(*db_);
    if (!txn.ok()) return txn.status();
    NEXUS_RETURN_IF_ERROR(db_->Exec(kMigrate1To2));
    NEXUS_RETURN_IF_ERROR(PutMeta("schema_version", kSchemaVersion, "write schema version"));
    NEXUS_RETURN_IF_ERROR(txn->Commit());
    spdlog::info("metadata database {} migrated to schema version {}", path_, kSchemaVersion);
  } else if (schema != kSchemaVersion) {
    return Status::Error(EINVAL, "metadata database " + path_ + " has schema version " +
                                     std::to_string(schema) + ", this nexusd understands " +
                                     std::to_string(kSchemaVersion));
  }

  {
    Statement s = db_->Prepare(
        "SELECT ino,mode,uid,gid,nlink,size,rdev,atime_ns,mtime_ns,ctime_ns,"
        "btime_ns,target,origin,fork_flags FROM inodes");
    while (s.Next()) {
      InodeRecord r;
      r.ino = static_cast<Ino>(s.Int(0));
      r.mode = static_cast<mode_t>(s.Int(1));
      r.uid = static_cast<uid_t>(s.Int(2));
      r.gid = static_cast<gid_t>(s.Int(3));
      r.nlink = static_cast<uint32_t>(s.Int(4));
      r.size = static_cast<uint64_t>(s.Int(5));
      r.rdev = static_cast<dev_t>(s.Int(6));
      r.atime = FromNanos(s.Int(7));
      r.mtime = FromNanos(s.Int(8));
      r.ctime = FromNanos(s.Int(9));
      r.btime = FromNanos(s.Int(10));
      r.target = s.Blob(11);
      r.origin = static_cast<Ino>(s.Int(12));
      r.fork_flags = static_cast<uint32_t>(s.Int(13));
      out.inodes.push_back(std::move(r));
    }
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  {
    Statement s = db_->Prepare("SELECT parent,name,ino FROM dentries");
    while (s.Next())
      out.dentries.push_back({static_cast<Ino>(s.Int(0)), s.Blob(1), static_cast<Ino>(s.Int(2))});
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  {
    Statement s = db_->Prepare("SELECT ino,name,value FROM xattrs");
    while (s.Next()) out.xattrs.push_back({static_cast<Ino>(s.Int(0)), s.Blob(1), s.Blob(2)});
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  {
    Statement s = db_->Prepare("SELECT origin,parent,name,mode,target,first FROM fork_points");
    while (s.Next())
      out.points.push_back({static_cast<Ino>(s.Int(0)), static_cast<Ino>(s.Int(1)), s.Blob(2),
                            static_cast<mode_t>(s.Int(3)), s.Blob(4), s.Int(5) != 0});
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  return out;
}

Status MetaStore::Commit(const MetaBatch& b, bool durable) {
  NEXUS_RETURN_IF_ERROR(
      db_->SetSynchronous(durable ? SqliteOptions::Sync::kFull : SqliteOptions::Sync::kNormal));
  auto txn = Transaction::Begin(*db_);
  if (!txn.ok()) return txn.status();
  if (!b.delete_inodes.empty()) {
    Statement del_inode = db_->Prepare("DELETE FROM inodes WHERE ino=?");
    Statement del_xattrs = db_->Prepare("DELETE FROM xattrs WHERE ino=?");
    for (Ino ino : b.delete_inodes) {
      NEXUS_RETURN_IF_ERROR(del_inode.Bind(1, ino).Run("delete inode"));
      NEXUS_RETURN_IF_ERROR(del_xattrs.Bind(1, ino).Run("delete inode xattrs"));
    }
  }
  if (!b.delete_dentries.empty()) {
    Statement del = db_->Prepare("DELETE FROM dentries WHERE parent=? AND name=?");
    for (const auto& [parent, name] : b.delete_dentries)
      NEXUS_RETURN_IF_ERROR(del.Bind(1, parent).BindBlob(2, name).Run("delete dentry"));
  }
  if (!b.delete_xattrs.empty()) {
    Statement del = db_->Prepare("DELETE FROM xattrs WHERE ino=? AND name=?");
    for (const auto& [ino, name] : b.delete_xattrs)
      NEXUS_RETURN_IF_ERROR(del.Bind(1, ino).BindBlob(2, name).Run("delete xattr"));
  }
  if (!b.put_inodes.empty()) {
    Statement s = db_->Prepare(
        "INSERT OR REPLACE INTO inodes(ino,mode,uid,gid,nlink,size,rdev,atime_ns,mtime_ns,"
        "ctime_ns,btime_ns,target,origin,fork_flags) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    for (const auto& r : b.put_inodes) {
      s.Bind(1, r.ino).Bind(2, r.mode).Bind(3, r.uid).Bind(4, r.gid).Bind(5, r.nlink);
      s.Bind(6, r.size).Bind(7, r.rdev).Bind(8, ToNanos(r.atime)).Bind(9, ToNanos(r.mtime));
      s.Bind(10, ToNanos(r.ctime)).Bind(11, ToNanos(r.btime));
      if (r.target.empty())
        s.BindNull(12);
      else
        s.BindBlob(12, r.target);
      s.Bind(13, r.origin).Bind(14, r.fork_flags);
      NEXUS_RETURN_IF_ERROR(s.Run("write inode"));
    }
  }
  if (!b.put_dentries.empty()) {
    Statement s = db_->Prepare("INSERT OR REPLACE INTO dentries(parent,name,ino) VALUES(?,?,?)");
    for (const auto& d : b.put_dentries)
      NEXUS_RETURN_IF_ERROR(s.Bind(1, d.parent).BindBlob(2, d.name).Bind(3, d.ino).Run("write dentry"));
  }
  if (!b.put_xattrs.empty()) {
    Statement s = db_->Prepare("INSERT OR REPLACE INTO xattrs(ino,name,value) VALUES(?,?,?)");
    for (const auto& x : b.put_xattrs)
      NEXUS_RETURN_IF_ERROR(s.Bind(1, x.ino).BindBlob(2, x.name).BindBlob(3, x.value).Run("write xattr"));
  }
  if (!b.put_points.empty()) {
    Statement s = db_->Prepare(
        "INSERT OR REPLACE INTO fork_points(parent,name,origin,mode,target,first) VALUES(?,?,?,?,?,?)");
    for (const auto& p : b.put_points) {
      s.Bind(1, p.parent).BindBlob(2, p.name).Bind(3, p.origin).Bind(4, p.mode);
      if (p.target.empty())
        s.BindNull(5);
      else
        s.BindBlob(5, p.target);
      NEXUS_RETURN_IF_ERROR(s.Bind(6, p.first ? 1 : 0).Run("write fork point"));
    }
  }
  if (b.next_ino)
    NEXUS_RETURN_IF_ERROR(PutMeta("next_ino", static_cast<int64_t>(b.next_ino), "write next_ino"));
  if (durable) {
    // Always write a frame so a durable commit syncs the WAL, which also makes
    // every earlier (non-durable) commit durable.
    static thread_local int64_t counter = 0;
    NEXUS_RETURN_IF_ERROR(PutMeta("commit_counter", ++counter, "write commit counter"));
  }
  return txn->Commit();
}

Status MetaStore::SetCleanShutdown(bool clean) {
  NEXUS_RETURN_IF_ERROR(db_->SetSynchronous(SqliteOptions::Sync::kFull));
  NEXUS_RETURN_IF_ERROR(PutMeta("clean_shutdown", clean ? 1 : 0, "write clean_shutdown"));
  if (clean) return db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return Status::Ok();
}

Status MetaStore::IntegrityCheck() {
  Statement s = db_->Prepare("PRAGMA integrity_check");
  std::string result;
  while (s.Next()) {
    if (!result.empty()) result += "; ";
    result += s.TextView(0);
  }
  NEXUS_RETURN_IF_ERROR(s.status());
  if (result != "ok") return Status::Error(EIO, "metadata integrity check failed: " + result);
  return Status::Ok();
}

uint64_t MetaStore::DiskBytes() const {
  uint64_t total = 0;
  for (const std::string& p : {path_, path_ + "-wal"}) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace nexus
