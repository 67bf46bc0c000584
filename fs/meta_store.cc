#include "fs/meta_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "base/sqlite_db.h"

namespace nexus {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inodes(
  ino INTEGER PRIMARY KEY, mode INTEGER NOT NULL, uid INTEGER NOT NULL,
  gid INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL,
  rdev INTEGER NOT NULL, atime_ns INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL, btime_ns INTEGER NOT NULL, target BLOB);
CREATE TABLE IF NOT EXISTS dentries(
  parent INTEGER NOT NULL, name BLOB NOT NULL, ino INTEGER NOT NULL,
  PRIMARY KEY(parent, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS xattrs(
  ino INTEGER NOT NULL, name BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(ino, name)) WITHOUT ROWID;
)sql";

void BindBlob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

// Runs a prepared statement that returns no rows, then resets it.
bool StepDone(sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc == SQLITE_DONE;
}

}  // namespace

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path) {
  auto db = OpenSqliteConnection(path, "metadata database");
  if (!db.ok()) return db.status();
  std::unique_ptr<MetaStore> store(new MetaStore(*db, path));
  NEXUS_RETURN_IF_ERROR(store->SetSynchronous(false));
  NEXUS_RETURN_IF_ERROR(store->Exec("PRAGMA cache_size=-65536"));
  NEXUS_RETURN_IF_ERROR(store->Exec("PRAGMA wal_autocheckpoint=4096"));
  NEXUS_RETURN_IF_ERROR(store->Exec(kSchema));
  NEXUS_RETURN_IF_ERROR(store->Prepare());
  return store;
}

MetaStore::~MetaStore() {
  for (sqlite3_stmt* s : {put_inode_, del_inode_, del_inode_xattrs_, put_dentry_, del_dentry_,
                          put_xattr_, del_xattr_, put_meta_})
    sqlite3_finalize(s);
  sqlite3_close(db_);
}

Status MetaStore::Error(const char* what) const {
  return Status::Error(EIO, std::string("metadata database: ") + what + ": " +
                                sqlite3_errmsg(db_));
}

Status MetaStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Error(EIO, std::string("metadata database: ") + msg);
  }
  return Status::Ok();
}

Status MetaStore::SetSynchronous(bool full) {
  int want = full ? 2 : 1;
  if (synchronous_ == want) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(Exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  synchronous_ = want;
  return Status::Ok();
}

Status MetaStore::Prepare() {
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } table[] = {
      {&put_inode_,
       "INSERT OR REPLACE INTO inodes(ino,mode,uid,gid,nlink,size,rdev,atime_ns,mtime_ns,"
       "ctime_ns,btime_ns,target) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"},
      {&del_inode_, "DELETE FROM inodes WHERE ino=?"},
      {&del_inode_xattrs_, "DELETE FROM xattrs WHERE ino=?"},
      {&put_dentry_, "INSERT OR REPLACE INTO dentries(parent,name,ino) VALUES(?,?,?)"},
      {&del_dentry_, "DELETE FROM dentries WHERE parent=? AND name=?"},
      {&put_xattr_, "INSERT OR REPLACE INTO xattrs(ino,name,value) VALUES(?,?,?)"},
      {&del_xattr_, "DELETE FROM xattrs WHERE ino=? AND name=?"},
      {&put_meta_, "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)"},
  };
  for (auto& e : table)
    if (sqlite3_prepare_v3(db_, e.sql, -1, SQLITE_PREPARE_PERSISTENT, e.stmt, nullptr) !=
        SQLITE_OK)
      return Error("prepare");
  return Status::Ok();
}

Result<MetaStore::Loaded> MetaStore::LoadAll() {
  Loaded out;
  sqlite3_stmt* s = nullptr;
  auto finalize = [&] {
    sqlite3_finalize(s);
    s = nullptr;
  };

  int64_t schema = 0;
  if (sqlite3_prepare_v2(db_, "SELECT key, value FROM meta", -1, &s, nullptr) != SQLITE_OK)
    return Error("read meta");
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string key = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    int64_t v = sqlite3_column_int64(s, 1);
    if (key == "schema_version") schema = v;
    if (key == "next_ino") out.next_ino = static_cast<uint64_t>(v);
    if (key == "clean_shutdown") out.clean_shutdown = v != 0;
  }
  finalize();
  if (schema == 0) {
    out.fresh = true;
    sqlite3_bind_text(put_meta_, 1, "schema_version", -1, SQLITE_STATIC);
    sqlite3_bind_int64(put_meta_, 2, kSchemaVersion);
    if (!StepDone(put_meta_)) return Error("write schema version");
  } else if (schema != kSchemaVersion) {
    return Status::Error(EINVAL, "metadata database " + path_ + " has schema version " +
                                     std::to_string(schema) + ", this nexusd understands " +
                                     std::to_string(kSchemaVersion));
  }

  if (sqlite3_prepare_v2(db_,
                         "SELECT ino,mode,uid,gid,nlink,size,rdev,atime_ns,mtime_ns,ctime_ns,"
                         "btime_ns,target FROM inodes",
                         -1, &s, nullptr) != SQLITE_OK)
    return Error("read inodes");
  while (sqlite3_step(s) == SQLITE_ROW) {
    InodeRecord r;
    r.ino = static_cast<Ino>(sqlite3_column_int64(s, 0));
    r.mode = static_cast<mode_t>(sqlite3_column_int64(s, 1));
    r.uid = static_cast<uid_t>(sqlite3_column_int64(s, 2));
    r.gid = static_cast<gid_t>(sqlite3_column_int64(s, 3));
    r.nlink = static_cast<uint32_t>(sqlite3_column_int64(s, 4));
    r.size = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
    r.rdev = static_cast<dev_t>(sqlite3_column_int64(s, 6));
    r.atime = FromNanos(sqlite3_column_int64(s, 7));
    r.mtime = FromNanos(sqlite3_column_int64(s, 8));
    r.ctime = FromNanos(sqlite3_column_int64(s, 9));
    r.btime = FromNanos(sqlite3_column_int64(s, 10));
    r.target = ColumnBlob(s, 11);
    out.inodes.push_back(std::move(r));
  }
  finalize();

  if (sqlite3_prepare_v2(db_, "SELECT parent,name,ino FROM dentries", -1, &s, nullptr) !=
      SQLITE_OK)
    return Error("read dentries");
  while (sqlite3_step(s) == SQLITE_ROW)
    out.dentries.push_back({static_cast<Ino>(sqlite3_column_int64(s, 0)), ColumnBlob(s, 1),
                            static_cast<Ino>(sqlite3_column_int64(s, 2))});
  finalize();

  if (sqlite3_prepare_v2(db_, "SELECT ino,name,value FROM xattrs", -1, &s, nullptr) !=
      SQLITE_OK)
    return Error("read xattrs");
  while (sqlite3_step(s) == SQLITE_ROW)
    out.xattrs.push_back(
        {static_cast<Ino>(sqlite3_column_int64(s, 0)), ColumnBlob(s, 1), ColumnBlob(s, 2)});
  finalize();
  return out;
}

Status MetaStore::Commit(const MetaBatch& b, bool durable) {
  NEXUS_RETURN_IF_ERROR(SetSynchronous(durable));
  NEXUS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    Status st = Error(what);
    (void)Exec("ROLLBACK");
    return st;
  };
  for (Ino ino : b.delete_inodes) {
    sqlite3_bind_int64(del_inode_, 1, static_cast<int64_t>(ino));
    if (!StepDone(del_inode_)) return fail("delete inode");
    sqlite3_bind_int64(del_inode_xattrs_, 1, static_cast<int64_t>(ino));
    if (!StepDone(del_inode_xattrs_)) return fail("delete inode xattrs");
  }
  for (const auto& [parent, name] : b.delete_dentries) {
    sqlite3_bind_int64(del_dentry_, 1, static_cast<int64_t>(parent));
    BindBlob(del_dentry_, 2, name);
    if (!StepDone(del_dentry_)) return fail("delete dentry");
  }
  for (const auto& [ino, name] : b.delete_xattrs) {
    sqlite3_bind_int64(del_xattr_, 1, static_cast<int64_t>(ino));
    BindBlob(del_xattr_, 2, name);
    if (!StepDone(del_xattr_)) return fail("delete xattr");
  }
  for (const auto& r : b.put_inodes) {
    sqlite3_stmt* s = put_inode_;
    sqlite3_bind_int64(s, 1, static_cast<int64_t>(r.ino));
    sqlite3_bind_int64(s, 2, r.mode);
    sqlite3_bind_int64(s, 3, r.uid);
    sqlite3_bind_int64(s, 4, r.gid);
    sqlite3_bind_int64(s, 5, r.nlink);
    sqlite3_bind_int64(s, 6, static_cast<int64_t>(r.size));
    sqlite3_bind_int64(s, 7, static_cast<int64_t>(r.rdev));
    sqlite3_bind_int64(s, 8, ToNanos(r.atime));
    sqlite3_bind_int64(s, 9, ToNanos(r.mtime));
    sqlite3_bind_int64(s, 10, ToNanos(r.ctime));
    sqlite3_bind_int64(s, 11, ToNanos(r.btime));
    if (r.target.empty())
      sqlite3_bind_null(s, 12);
    else
      BindBlob(s, 12, r.target);
    if (!StepDone(s)) return fail("write inode");
  }
  for (const auto& d : b.put_dentries) {
    sqlite3_bind_int64(put_dentry_, 1, static_cast<int64_t>(d.parent));
    BindBlob(put_dentry_, 2, d.name);
    sqlite3_bind_int64(put_dentry_, 3, static_cast<int64_t>(d.ino));
    if (!StepDone(put_dentry_)) return fail("write dentry");
  }
  for (const auto& x : b.put_xattrs) {
    sqlite3_bind_int64(put_xattr_, 1, static_cast<int64_t>(x.ino));
    BindBlob(put_xattr_, 2, x.name);
    BindBlob(put_xattr_, 3, x.value);
    if (!StepDone(put_xattr_)) return fail("write xattr");
  }
  if (b.next_ino) {
    sqlite3_bind_text(put_meta_, 1, "next_ino", -1, SQLITE_STATIC);
    sqlite3_bind_int64(put_meta_, 2, static_cast<int64_t>(b.next_ino));
    if (!StepDone(put_meta_)) return fail("write next_ino");
  }
  if (durable) {
    // Always write a frame so a durable commit syncs the WAL, which also makes
    // every earlier (non-durable) commit durable.
    static thread_local int64_t counter = 0;
    sqlite3_bind_text(put_meta_, 1, "commit_counter", -1, SQLITE_STATIC);
    sqlite3_bind_int64(put_meta_, 2, ++counter);
    if (!StepDone(put_meta_)) return fail("write commit counter");
  }
  NEXUS_RETURN_IF_ERROR(Exec("COMMIT"));
  return Status::Ok();
}

Status MetaStore::SetCleanShutdown(bool clean) {
  NEXUS_RETURN_IF_ERROR(SetSynchronous(true));
  sqlite3_bind_text(put_meta_, 1, "clean_shutdown", -1, SQLITE_STATIC);
  sqlite3_bind_int64(put_meta_, 2, clean ? 1 : 0);
  if (!StepDone(put_meta_)) return Error("write clean_shutdown");
  if (clean) return Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return Status::Ok();
}

Status MetaStore::IntegrityCheck() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA integrity_check", -1, &s, nullptr) != SQLITE_OK)
    return Error("integrity_check");
  std::string result;
  while (sqlite3_step(s) == SQLITE_ROW) {
    if (!result.empty()) result += "; ";
    result += reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
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
