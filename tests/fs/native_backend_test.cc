#include "fs/native_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sqlite3.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "base/sqlite_db.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using testing::RecordingSink;
using testing::TempDir;

class NativeBackendTest : public testing::NativeBackendFixture {
 protected:
  Ino Root() { return backend_->root(); }

  // Where the backing file of `ino` lives (see native_backend.h).
  std::string BackingPath(Ino ino) {
    char rel[64];
    std::snprintf(rel, sizeof rel, "/data/%llx/%llu", static_cast<unsigned long long>(ino >> 12),
                  static_cast<unsigned long long>(ino));
    return dir_.path() + rel;
  }

  Attr MustCreate(Ino parent, const std::string& name, const std::string& data = "") {
    auto c = backend_->Create(caller_, parent, name, 0644, O_WRONLY);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!data.empty()) {
      EXPECT_EQ(::pwrite(c->handle->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
      c->handle->written = true;
      backend_->OnWrite(*c->handle, 0, data.size());
    }
    Attr a = c->attr;
    backend_->Release(std::move(c->handle));
    return *backend_->GetAttr(a.ino);
  }

  std::string ReadAll(Ino ino) {
    auto fh = backend_->Open(caller_, ino, O_RDONLY);
    EXPECT_TRUE(fh.ok());
    auto attr = backend_->GetAttr(ino);
    std::string out(attr->size, '\0');
    EXPECT_EQ(::pread((*fh)->fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    backend_->Release(std::move(fh).value());
    return out;
  }
};

TEST_F(NativeBackendTest, FreshRootIsEmptyDirectory) {
  auto root = backend_->GetAttr(Root());
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->IsDir());
  EXPECT_EQ(root->nlink, 2u);
  EXPECT_TRUE(backend_->ReadDir(caller_, Root())->empty());
}

TEST_F(NativeBackendTest, CreateWriteReadAndOwnership) {
  Attr a = MustCreate(Root(), "hello.txt", "hello world");
  EXPECT_EQ(a.size, 11u);
  EXPECT_EQ(a.uid, 1000u);
  EXPECT_EQ(a.gid, 1000u);
  EXPECT_EQ(a.mode, S_IFREG | 0644);
  EXPECT_EQ(ReadAll(a.ino), "hello world");
  auto looked = backend_->Lookup(caller_, Root(), "hello.txt");
  ASSERT_TRUE(looked.ok());
  EXPECT_EQ(looked->ino, a.ino);
  EXPECT_EQ(backend_->Lookup(caller_, Root(), "missing").code(), ENOENT);
}

TEST_F(NativeBackendTest, SetgidDirectoryPassesGroupDown) {
  auto d = backend_->MkDir(caller_, Root(), "shared", 0775);
  ASSERT_TRUE(d.ok());
  SetAttrRequest r;
  r.valid = SetAttrRequest::kMode | SetAttrRequest::kGid;
  r.mode = 02775;
  r.gid = 4242;
  ASSERT_TRUE(backend_->SetAttr(caller_, d->ino, r, nullptr).ok());
  Attr f = MustCreate(d->ino, "f");
  EXPECT_EQ(f.gid, 4242u);
  auto sub = backend_->MkDir(caller_, d->ino, "sub", 0755);
  EXPECT_EQ(sub->gid, 4242u);
  EXPECT_TRUE(sub->mode & S_ISGID);
}

struct RenameCase {
  const char* name;
  const char* setup;  // "f:a f:b d:x d:y d:y/z" creates files (f) and dirs (d)
  const char* from;
  const char* to;
  unsigned flags;
  int want;  // errno, 0 for success
};

class RenameTest : public NativeBackendTest, public ::testing::WithParamInterface<RenameCase> {};

TEST_P(RenameTest, MatchesPosix) {
  const RenameCase& c = GetParam();
  std::map<std::string, Ino> inos{{"", Root()}};
  std::istringstream setup(c.setup);
  for (std::string item; setup >> item;) {
    std::string path = item.substr(2);
    auto slash = path.rfind('/');
    Ino parent = slash == std::string::npos ? Root() : inos[path.substr(0, slash)];
    std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    if (item[0] == 'd')
      inos[path] = backend_->MkDir(caller_, parent, leaf, 0755)->ino;
    else
      inos[path] = MustCreate(parent, leaf, path).ino;
  }
  auto split = [&](const std::string& p) {
    auto slash = p.rfind('/');
    if (slash == std::string::npos) return std::make_pair(Root(), p);
    return std::make_pair(inos[p.substr(0, slash)], p.substr(slash + 1));
  };
  auto [fp, fn] = split(c.from);
  auto [tp, tn] = split(c.to);
  Status st = backend_->Rename(caller_, fp, fn, tp, tn, c.flags);
  EXPECT_EQ(st.code(), c.want) << st.ToString();
  if (c.want == 0 && !(c.flags & RENAME_EXCHANGE) && std::string(c.from) != c.to) {
    EXPECT_EQ(backend_->Lookup(caller_, fp, fn).code(), ENOENT);
    EXPECT_EQ(backend_->Lookup(caller_, tp, tn)->ino, inos[c.from]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RenameTest,
    ::testing::Values(RenameCase{"FileToNew", "f:a", "a", "b", 0, 0},
                      RenameCase{"FileOverFile", "f:a f:b", "a", "b", 0, 0},
                      RenameCase{"FileOverDir", "f:a d:b", "a", "b", 0, EISDIR},
                      RenameCase{"DirOverFile", "d:a f:b", "a", "b", 0, ENOTDIR},
                      RenameCase{"DirOverEmptyDir", "d:a d:b", "a", "b", 0, 0},
                      RenameCase{"DirOverNonEmptyDir", "d:a d:b f:b/c", "a", "b", 0, ENOTEMPTY},
                      RenameCase{"DirIntoItself", "d:a d:a/b", "a", "a/b/c", 0, EINVAL},
                      RenameCase{"MissingSource", "", "a", "b", 0, ENOENT},
                      RenameCase{"NoReplaceExisting", "f:a f:b", "a", "b", RENAME_NOREPLACE, EEXIST},
                      RenameCase{"NoReplaceFree", "f:a", "a", "b", RENAME_NOREPLACE, 0},
                      RenameCase{"ExchangeMissing", "f:a", "a", "b", RENAME_EXCHANGE, ENOENT},
                      RenameCase{"ExchangeFileDir", "f:a d:b", "a", "b", RENAME_EXCHANGE, 0},
                      RenameCase{"SameName", "f:a", "a", "a", 0, 0},
                      RenameCase{"AcrossDirs", "d:x d:y f:x/a", "x/a", "y/a", 0, 0},
                      RenameCase{"BothFlags", "f:a f:b", "a", "b", RENAME_EXCHANGE | RENAME_NOREPLACE,
                                 EINVAL}),
    [](const auto& info) { return info.param.name; });

TEST_F(NativeBackendTest, RenameDirAcrossParentsFixesLinkCounts) {
  auto x = backend_->MkDir(caller_, Root(), "x", 0755);
  auto y = backend_->MkDir(caller_, Root(), "y", 0755);
  auto d = backend_->MkDir(caller_, x->ino, "d", 0755);
  EXPECT_EQ(backend_->GetAttr(x->ino)->nlink, 3u);
  ASSERT_TRUE(backend_->Rename(caller_, x->ino, "d", y->ino, "d", 0).ok());
  EXPECT_EQ(backend_->GetAttr(x->ino)->nlink, 2u);
  EXPECT_EQ(backend_->GetAttr(y->ino)->nlink, 3u);
  auto dotdot = backend_->Lookup(caller_, d->ino, "..");
  EXPECT_EQ(dotdot->ino, y->ino);
}

TEST_F(NativeBackendTest, ExchangeSwapsBothNames) {
  Attr a = MustCreate(Root(), "a", "AAA");
  auto b = backend_->MkDir(caller_, Root(), "b", 0755);
  ASSERT_TRUE(backend_->Rename(caller_, Root(), "a", Root(), "b", RENAME_EXCHANGE).ok());
  EXPECT_EQ(backend_->Lookup(caller_, Root(), "a")->ino, b->ino);
  EXPECT_EQ(backend_->Lookup(caller_, Root(), "b")->ino, a.ino);
}

TEST_F(NativeBackendTest, HardLinksShareDataAndCount) {
  Attr a = MustCreate(Root(), "a", "shared");
  auto l = backend_->Link(caller_, a.ino, Root(), "b");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->nlink, 2u);
  EXPECT_EQ(backend_->Link(caller_, a.ino, Root(), "b").code(), EEXIST);
  auto d = backend_->MkDir(caller_, Root(), "d", 0755);
  EXPECT_EQ(backend_->Link(caller_, d->ino, Root(), "dl").code(), EPERM);
  ASSERT_TRUE(backend_->Unlink(caller_, Root(), "a").ok());
  EXPECT_EQ(backend_->GetAttr(a.ino)->nlink, 1u);
  EXPECT_EQ(ReadAll(a.ino), "shared");
}

TEST_F(NativeBackendTest, UnlinkedOpenFileLivesUntilReleaseAndForget) {
  Attr a = MustCreate(Root(), "tmp", "data");
  auto fh = backend_->Open(caller_, a.ino, O_RDONLY);
  ASSERT_TRUE(fh.ok());
  ASSERT_TRUE(backend_->Unlink(caller_, Root(), "tmp").ok());
  char buf[4];
  EXPECT_EQ(::pread((*fh)->fd, buf, 4, 0), 4);
  EXPECT_TRUE(backend_->GetAttr(a.ino).ok());
  backend_->Release(std::move(fh).value());
  EXPECT_TRUE(backend_->GetAttr(a.ino).ok());  // kernel still holds a lookup
  backend_->Forget(a.ino, 1);                  // Create's reference
  EXPECT_EQ(backend_->GetAttr(a.ino).code(), ENOENT);
  ASSERT_TRUE(backend_->Sync().ok());
  std::string rel = BackingPath(a.ino);
  EXPECT_NE(::access(rel.c_str(), F_OK), 0) << "backing file should be gone";
}

TEST_F(NativeBackendTest, DirectoryErrors) {
  auto d = backend_->MkDir(caller_, Root(), "d", 0755);
  MustCreate(d->ino, "f");
  EXPECT_EQ(backend_->MkDir(caller_, Root(), "d", 0755).code(), EEXIST);
  EXPECT_EQ(backend_->RmDir(caller_, Root(), "d").code(), ENOTEMPTY);
  EXPECT_EQ(backend_->Unlink(caller_, Root(), "d").code(), EISDIR);
  EXPECT_EQ(backend_->RmDir(caller_, d->ino, "f").code(), ENOTDIR);
  EXPECT_EQ(backend_->Create(caller_, Root(), "d", 0644, O_CREAT | O_EXCL).code(), EEXIST);
  EXPECT_EQ(backend_->MkDir(caller_, Root(), std::string(256, 'x'), 0755).code(), ENAMETOOLONG);
  ASSERT_TRUE(backend_->Unlink(caller_, d->ino, "f").ok());
  ASSERT_TRUE(backend_->RmDir(caller_, Root(), "d").ok());
  EXPECT_EQ(backend_->GetAttr(Root())->nlink, 2u);
}

TEST_F(NativeBackendTest, XattrFlagsAndErrors) {
  Attr a = MustCreate(Root(), "x");
  EXPECT_EQ(backend_->GetXattr(a.ino, "user.k").code(), ENODATA);
  EXPECT_EQ(backend_->SetXattr(caller_, a.ino, "user.k", "v", XATTR_REPLACE).code(), ENODATA);
  EXPECT_TRUE(backend_->SetXattr(caller_, a.ino, "user.k", "v1", XATTR_CREATE).ok());
  EXPECT_EQ(backend_->SetXattr(caller_, a.ino, "user.k", "v2", XATTR_CREATE).code(), EEXIST);
  EXPECT_TRUE(backend_->SetXattr(caller_, a.ino, "user.k", "v2", XATTR_REPLACE).ok());
  EXPECT_EQ(*backend_->GetXattr(a.ino, "user.k"), "v2");
  EXPECT_EQ(backend_->ListXattr(a.ino)->size(), 1u);
  EXPECT_TRUE(backend_->RemoveXattr(caller_, a.ino, "user.k").ok());
  EXPECT_EQ(backend_->RemoveXattr(caller_, a.ino, "user.k").code(), ENODATA);
}

TEST_F(NativeBackendTest, SetAttrTruncateAndTimes) {
  Attr a = MustCreate(Root(), "t", "0123456789");
  SetAttrRequest r;
  r.valid = SetAttrRequest::kSize;
  r.size = 4;
  auto t = backend_->SetAttr(caller_, a.ino, r, nullptr);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size, 4u);
  EXPECT_EQ(ReadAll(a.ino), "0123");
  r = {};
  r.valid = SetAttrRequest::kMtime;
  r.mtime = {1000, 5};
  t = backend_->SetAttr(caller_, a.ino, r, nullptr);
  EXPECT_EQ(t->mtime.tv_sec, 1000);
  EXPECT_EQ(t->mtime.tv_nsec, 5);
  EXPECT_EQ(t->atime.tv_sec, a.atime.tv_sec);  // atime omitted: unchanged
  auto d = backend_->MkDir(caller_, Root(), "d", 0755);
  r = {};
  r.valid = SetAttrRequest::kSize;
  EXPECT_EQ(backend_->SetAttr(caller_, d->ino, r, nullptr).code(), EISDIR);
}

TEST_F(NativeBackendTest, RestartRestoresIdenticalTree) {
  auto d = backend_->MkDir(caller_, Root(), "dir", 0750);
  Attr f = MustCreate(d->ino, "file", "contents");
  ASSERT_TRUE(backend_->Link(caller_, f.ino, Root(), "hard").ok());
  ASSERT_TRUE(backend_->Symlink(caller_, "dir/file", Root(), "sym").ok());
  ASSERT_TRUE(backend_->MkNod(caller_, Root(), "fifo", S_IFIFO | 0600, 0).ok());
  ASSERT_TRUE(backend_->SetXattr(caller_, f.ino, "user.tag", std::string("a\0b", 3), 0).ok());
  SetAttrRequest r;
  r.valid = SetAttrRequest::kMtime | SetAttrRequest::kUid;
  r.mtime = {123456, 789};
  r.uid = 4321;
  ASSERT_TRUE(backend_->SetAttr(caller_, f.ino, r, nullptr).ok());
  Attr before = *backend_->GetAttr(f.ino);

  Reopen();
  auto dir = backend_->Lookup(caller_, Root(), "dir");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->mode, S_IFDIR | 0750);
  auto file = backend_->Lookup(caller_, dir->ino, "file");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->ino, before.ino);
  EXPECT_EQ(file->nlink, 2u);
  EXPECT_EQ(file->uid, 4321u);
  EXPECT_EQ(file->mtime.tv_sec, 123456);
  EXPECT_EQ(file->mtime.tv_nsec, 789);
  EXPECT_EQ(file->ctime.tv_nsec, before.ctime.tv_nsec);
  EXPECT_EQ(ReadAll(file->ino), "contents");
  EXPECT_EQ(*backend_->GetXattr(file->ino, "user.tag"), std::string("a\0b", 3));
  EXPECT_EQ(backend_->Lookup(caller_, Root(), "hard")->ino, file->ino);
  EXPECT_EQ(*backend_->ReadLink(backend_->Lookup(caller_, Root(), "sym")->ino), "dir/file");
  EXPECT_TRUE(S_ISFIFO(backend_->Lookup(caller_, Root(), "fifo")->mode));
  // New inodes never reuse old numbers.
  Attr g = MustCreate(Root(), "new");
  EXPECT_GT(g.ino, file->ino);
}

TEST_F(NativeBackendTest, OrphanOfUncleanStopIsRemovedAtStart) {
  Attr a = MustCreate(Root(), "o", "xyz");
  auto fh = backend_->Open(caller_, a.ino, O_RDONLY);
  ASSERT_TRUE(backend_->Unlink(caller_, Root(), "o").ok());
  ASSERT_TRUE(backend_->Sync().ok());
  // The daemon stops while the file is still open: the inode is an orphan.
  ::close((*fh)->fd);
  (*fh)->fd = -1;
  fh->release();  // the FUSE handle is lost with the daemon
  Reopen();
  EXPECT_EQ(backend_->GetAttr(a.ino).code(), ENOENT);
}

TEST_F(NativeBackendTest, UncleanStartTrimsBackingFilesToCommittedSize) {
  Attr a = MustCreate(Root(), "f", "12345");
  ASSERT_TRUE(backend_->Sync().ok());
  backend_.reset();
  // Simulate a crash: bytes written to the backing file after the last
  // commit, and no clean-shutdown mark.
  std::string rel = BackingPath(a.ino);
  int fd = ::open(rel.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(::write(fd, "garbage", 7), 7);
  ::close(fd);
  std::string stray = BackingPath(999999);
  ::mkdir(stray.substr(0, stray.rfind('/')).c_str(), 0700);
  ::close(::open(stray.c_str(), O_CREAT | O_WRONLY, 0600));
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/meta.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value=0 WHERE key='clean_shutdown'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Reopen();
  EXPECT_EQ(ReadAll(a.ino), "12345");
  struct stat st;
  ASSERT_EQ(::stat(rel.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_NE(::access(stray.c_str(), F_OK), 0);
}

TEST_F(NativeBackendTest, ChangeEventsAreEmitted) {
  auto c = backend_->Create(caller_, Root(), "e", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(::pwrite(c->handle->fd, "x", 1, 0), 1);
  c->handle->written = true;
  backend_->OnWrite(*c->handle, 0, 1);
  ASSERT_TRUE(backend_->Fsync(*c->handle, false).ok());
  backend_->Release(std::move(c->handle));
  ASSERT_TRUE(backend_->Rename(caller_, Root(), "e", Root(), "f", 0).ok());
  ASSERT_TRUE(backend_->Unlink(caller_, Root(), "f").ok());
  EXPECT_EQ(sink_.Count(ChangeEvent::Kind::kCreated), 1u);
  EXPECT_EQ(sink_.Count(ChangeEvent::Kind::kContentSynced), 1u);
  EXPECT_EQ(sink_.Count(ChangeEvent::Kind::kContentClosed), 1u);
  EXPECT_EQ(sink_.Count(ChangeEvent::Kind::kRenamed), 1u);
  EXPECT_EQ(sink_.Count(ChangeEvent::Kind::kRemoved), 1u);
  auto events = sink_.Events();
  EXPECT_EQ(events.front().caller.pid, 42);
  EXPECT_EQ(events.front().name, "e");
}

// The last event of `kind` in `sink`.
ChangeEvent LastOf(RecordingSink& sink, ChangeEvent::Kind kind) {
  auto events = sink.Events();
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if (it->kind == kind) return *it;
  ADD_FAILURE() << "no such event";
  return {};
}

TEST_F(NativeBackendTest, EventsCarryNamespacePaths) {
  auto d = backend_->MkDir(caller_, Root(), "d", 0755);
  ASSERT_TRUE(d.ok());
  auto sub = backend_->MkDir(caller_, d->ino, "sub", 0755);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kCreated).path, "/d/sub");
  Attr f = MustCreate(sub->ino, "f.txt", "hi");
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kContentClosed).path, "/d/sub/f.txt");

  // Moving the parent directory moves every path below it.
  ASSERT_TRUE(backend_->Rename(caller_, Root(), "d", Root(), "e", 0).ok());
  ChangeEvent mv = LastOf(sink_, ChangeEvent::Kind::kRenamed);
  EXPECT_EQ(mv.path, "/d");
  EXPECT_EQ(mv.new_path, "/e");
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0600;
  ASSERT_TRUE(backend_->SetAttr(caller_, f.ino, chmod, nullptr).ok());
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kAttrChanged).path, "/e/sub/f.txt");

  // A hard link: the first name stays the path until it goes away.
  ASSERT_TRUE(backend_->Link(caller_, f.ino, Root(), "alias").ok());
  ASSERT_TRUE(backend_->SetAttr(caller_, f.ino, chmod, nullptr).ok());
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kAttrChanged).path, "/e/sub/f.txt");
  ASSERT_TRUE(backend_->Unlink(caller_, sub->ino, "f.txt").ok());
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kRemoved).path, "/e/sub/f.txt");
  ASSERT_TRUE(backend_->SetAttr(caller_, f.ino, chmod, nullptr).ok());
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kAttrChanged).path, "/alias");

  // Replacing a name by a rename says so on the removal.
  MustCreate(Root(), "new", "n");
  ASSERT_TRUE(backend_->Rename(caller_, Root(), "new", Root(), "alias", 0).ok());
  ChangeEvent replaced = LastOf(sink_, ChangeEvent::Kind::kRemoved);
  EXPECT_EQ(replaced.path, "/alias");
  EXPECT_TRUE(replaced.by_rename);

  // Names survive a restart.
  Reopen();
  auto e = backend_->Lookup(caller_, Root(), "e");
  ASSERT_TRUE(e.ok());
  auto s2 = backend_->Lookup(caller_, e->ino, "sub");
  ASSERT_TRUE(s2.ok());
  Attr g = MustCreate(s2->ino, "g", "x");
  EXPECT_EQ(LastOf(sink_, ChangeEvent::Kind::kContentClosed).path, "/e/sub/g");
  (void)g;
}

TEST_F(NativeBackendTest, SyncMakesChangesVisibleInDatabase) {
  MustCreate(Root(), "durable", "d");
  ASSERT_TRUE(backend_->Sync().ok());
  sqlite3* db;
  ASSERT_EQ(sqlite3_open_v2((dir_.path() + "/meta.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* s;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM dentries WHERE CAST(name AS TEXT)='durable'", -1, &s,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

// meta.db stores names, symlink targets and xattrs as BLOBs: any bytes
// (invalid UTF-8, NUL in values) come back exactly after a restart.
TEST_F(NativeBackendTest, NamesAndXattrsKeepTheirBytesAcrossRestart) {
  const std::string name = "bad\xff\xc3\x28name";
  const std::string value("v\0\xfe", 3);
  Attr a = MustCreate(Root(), name, "x");
  ASSERT_TRUE(backend_->SetXattr(caller_, a.ino, "user.\xff", value, 0).ok());
  ASSERT_TRUE(backend_->Sync().ok());
  Reopen();
  auto e = backend_->Lookup(caller_, Root(), name);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto got = backend_->GetXattr(e->ino, "user.\xff");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, value);
  backend_.reset();
  auto db = SqliteDb::Open(dir_.path() + "/meta.db", {});
  ASSERT_TRUE(db.ok());
  Statement s = (*db)->Prepare(
      "SELECT (SELECT typeof(name) FROM dentries WHERE name = ?1),"
      " (SELECT typeof(name) || typeof(value) FROM xattrs WHERE value = ?2)");
  s.BindBlob(1, name).BindBlob(2, value);
  ASSERT_TRUE(s.Next());
  EXPECT_EQ(s.Text(0), "blob");
  EXPECT_EQ(s.Text(1), "blobblob");
}

TEST_F(NativeBackendTest, ConcurrentCreatesAllPersist) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) MustCreate(Root(), "f" + std::to_string(t) + "_" + std::to_string(i));
    });
  for (auto& th : threads) th.join();
  Reopen();
  EXPECT_EQ(backend_->ReadDir(caller_, Root())->size(), 1000u);
}

}  // namespace
}  // namespace nexus
