#include "fs/workspace_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using testing::RecordingSink;
using testing::TempDir;
using Kind = ChangeEvent::Kind;

// ---- host-side helpers: the test's own view of the real files ----

void HostWrite(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string HostRead(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HostExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

struct stat HostLstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// Every file under `root` (not following symlinks) with its content, mode
// and mtime, to prove that nothing outside the workspace changed.
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    struct stat st = HostLstat(e.path());
    std::string v = std::to_string(st.st_mode) + ":" + std::to_string(st.st_uid) + ":" +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) v += ":" + HostRead(e.path());
    out[e.path().string()] = v;
  }
  return out;
}

// The daemon's umask must never reach the files it creates for callers:
// every test runs under a umask that would visibly change their modes.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

class WorkspaceBackendTest : public ::testing::Test {
 protected:
  static constexpr uint16_t kId = 3;

  void SetUp() override {
    base_ = tmp_.path();
    ws_ = base_ + "/ws";
    outside_ = base_ + "/outside";
    ASSERT_EQ(::mkdir(ws_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    HostWrite(outside_ + "/secret", "outside secret");
    HostWrite(base_ + "/secret", "parent secret");
    auto b = WorkspaceBackend::Open(kId, ws_, &sink_);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    outside_before_ = Snapshot(outside_);
    parent_secret_before_ = HostRead(base_ + "/secret");
  }

  void TearDown() override {
    if (HasFatalFailure()) return;
    EXPECT_EQ(Snapshot(outside_), outside_before_) << "a file outside the workspace changed";
    EXPECT_EQ(HostRead(base_ + "/secret"), parent_secret_before_);
  }

  static bool Root() { return ::geteuid() == 0; }
  Ino RootIno() const { return backend_->root(); }

  Attr MustLookup(Ino parent, const std::string& name) {
    auto a = backend_->Lookup(caller_, parent, name);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }

  // Creates `name` through the backend with `data`, closes it, returns attrs.
  Attr MustCreate(Ino parent, const std::string& name, const std::string& data = "", mode_t mode = 0644) {
    auto c = backend_->Create(caller_, parent, name, mode, O_WRONLY | O_CREAT);
    EXPECT_TRUE(c.ok()) << name << ": " << c.status().ToString();
    if (!c.ok()) return Attr{};
    if (!data.empty()) {
      EXPECT_EQ(::pwrite(c->handle->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
      c->handle->written = true;
      backend_->OnWrite(*c->handle, 0, data.size());
    }
    Ino ino = c->attr.ino;
    backend_->Release(std::move(c->handle));
    auto a = backend_->GetAttr(ino);
    return a.ok() ? *a : Attr{};
  }

  std::vector<ChangeEvent> EventsOf(Kind kind) {
    std::vector<ChangeEvent> out;
    for (auto& e : sink_.Events())
      if (e.kind == kind) out.push_back(e);
    return out;
  }

  TempDir tmp_;
  ScopedUmask umask_{077};
  std::string base_, ws_, outside_;
  std::map<std::string, std::string> outside_before_;
  std::string parent_secret_before_;
  RecordingSink sink_;
  // As root the caller is someone else, so ownership hand-over is visible;
  // otherwise it is us (a non-root daemon can only create files as itself).
  Caller caller_ = Root() ? Caller{1234, 5678, 42, 022} : Caller{::geteuid(), ::getegid(), 42, 022};
  std::unique_ptr<WorkspaceBackend> backend_;
};

// ---- opening the workspace ----

TEST(WorkspaceBackendOpenTest, RefusesMissingOrNonDirectory) {
  TempDir tmp;
  HostWrite(tmp.path() + "/file", "x");
  struct Case {
    std::string path;
    int want;
  } const cases[] = {
      {tmp.path() + "/missing", ENOENT},
      {tmp.path() + "/file", ENOTDIR},
      {"", EINVAL},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    auto b = WorkspaceBackend::Open(1, c.path, nullptr);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.code(), c.want) << b.status().ToString();
  }
}

TEST_F(WorkspaceBackendTest, RootIsTheWorkspaceDirectory) {
  auto root = backend_->GetAttr(RootIno());
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->ino, MakeIno(kId, 1));
  EXPECT_TRUE(root->IsDir());
  struct stat st = HostLstat(ws_);
  EXPECT_EQ(root->mode, st.st_mode);
  EXPECT_EQ(root->nlink, st.st_nlink);
  EXPECT_EQ(backend_->InodeCount(), 1u);
}

// ---- lookup and attributes ----

TEST_F(WorkspaceBackendTest, LookupReportsHostAttributesUnderOurInodeNumbers) {
  HostWrite(ws_ + "/a", "hello");
  Attr a = MustLookup(RootIno(), "a");
  struct stat st = HostLstat(ws_ + "/a");
  EXPECT_EQ(BackendOf(a.ino), kId);
  EXPECT_NE(LocalOf(a.ino), 1u);
  EXPECT_EQ(a.size, 5u);
  EXPECT_EQ(a.mode, st.st_mode);
  EXPECT_EQ(a.nlink, 1u);
  EXPECT_EQ(a.uid, st.st_uid);
  EXPECT_EQ(a.blocks, static_cast<uint64_t>(st.st_blocks));
  EXPECT_EQ(ToNanos(a.mtime), ToNanos(st.st_mtim));

  EXPECT_EQ(MustLookup(RootIno(), "a").ino, a.ino);
  EXPECT_EQ(backend_->InodeCount(), 2u);
  backend_->Forget(a.ino, 1);
  EXPECT_EQ(backend_->InodeCount(), 2u);
  backend_->Forget(a.ino, 1);
  EXPECT_EQ(backend_->InodeCount(), 1u) << "entry must be freed at zero references";
  EXPECT_EQ(backend_->GetAttr(a.ino).code(), ENOENT);
  EXPECT_EQ(MustLookup(RootIno(), "a").ino, a.ino) << "a host file keeps its number";

  // A change made on the host is visible at once.
  HostWrite(ws_ + "/a", "hello, world");
  EXPECT_EQ(backend_->GetAttr(a.ino)->size, 12u);

  EXPECT_EQ(backend_->Lookup(caller_, RootIno(), "missing").code(), ENOENT);
  EXPECT_EQ(backend_->Lookup(caller_, a.ino, "x").code(), ENOTDIR);
  EXPECT_EQ(backend_->GetAttr(MakeIno(kId + 1, 1)).code(), ENOENT);
  EXPECT_EQ(backend_->GetAttr(MakeIno(kId, 999999)).code(), ENOENT);
  backend_->Forget(RootIno(), 100);  // the root is pinned
  EXPECT_TRUE(backend_->GetAttr(RootIno()).ok());
}

TEST_F(WorkspaceBackendTest, DotLookupsStayOnTheirDirectory) {
  ASSERT_EQ(::mkdir((ws_ + "/d").c_str(), 0755), 0);
  Attr d = MustLookup(RootIno(), "d");
  EXPECT_EQ(MustLookup(d.ino, ".").ino, d.ino);
  EXPECT_EQ(MustLookup(d.ino, "..").ino, RootIno());
}

// ---- files ----

TEST_F(WorkspaceBackendTest, CreateWritesThroughToTheHostFile) {
  auto c = backend_->Create(caller_, RootIno(), "new.txt", 0640, O_WRONLY | O_CREAT | O_EXCL);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->attr.mode, S_IFREG | 0640u) << "the daemon's umask must not apply";
  ASSERT_EQ(::pwrite(c->handle->fd, "data", 4, 0), 4);
  char buf[4] = {};
  EXPECT_EQ(::pread(c->handle->fd, buf, 4, 0), 4) << "write-only opens are O_RDWR on the host";
  c->handle->written = true;
  backend_->Release(std::move(c->handle));

  EXPECT_EQ(HostRead(ws_ + "/new.txt"), "data");
  struct stat st = HostLstat(ws_ + "/new.txt");
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
  if (Root()) {
    EXPECT_EQ(st.st_uid, caller_.uid);
    EXPECT_EQ(st.st_gid, caller_.gid);
  }

  auto again = backend_->Create(caller_, RootIno(), "new.txt", 0600, O_RDWR | O_CREAT | O_EXCL);
  EXPECT_EQ(again.code(), EEXIST);
  // Without O_EXCL an existing file is opened (and O_TRUNC honoured).
  auto reopen = backend_->Create(caller_, RootIno(), "new.txt", 0600, O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(reopen.ok()) << reopen.status().ToString();
  EXPECT_EQ(reopen->attr.ino, c->attr.ino);
  EXPECT_EQ(reopen->attr.size, 0u);
  EXPECT_EQ(HostLstat(ws_ + "/new.txt").st_mode, S_IFREG | 0640u) << "existing mode kept";
  backend_->Release(std::move(reopen->handle));
  EXPECT_EQ(EventsOf(Kind::kCreated).size(), 1u);

  ASSERT_EQ(::mkdir((ws_ + "/dir").c_str(), 0755), 0);
  EXPECT_EQ(backend_->Create(caller_, RootIno(), "dir", 0600, O_RDWR | O_CREAT).code(), EISDIR);
}

TEST_F(WorkspaceBackendTest, SetIdBitsSurviveTheHandOverToTheCaller) {
  if (!Root()) GTEST_SKIP() << "needs root to chown";
  // With no umask the host creates the exact mode; the chown to the caller
  // then clears the set-id bits, which must be put back.
  ScopedUmask no_umask(0);
  Attr f = MustCreate(RootIno(), "tool", "", 04755);
  EXPECT_EQ(f.mode, S_IFREG | 04755u);
  EXPECT_EQ(HostLstat(ws_ + "/tool").st_mode, S_IFREG | 04755u);
  EXPECT_EQ(f.uid, caller_.uid);
  auto n = backend_->MkNod(caller_, RootIno(), "node", S_IFREG | 02750, 0);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(HostLstat(ws_ + "/node").st_mode, S_IFREG | 02750u);
}

TEST_F(WorkspaceBackendTest, OpenGivesAHostFdWithAdjustedFlags) {
  struct Case {
    const char* label;
    int flags;
    std::function<void(int fd)> check;
    std::string want_content;
  } const cases[] = {
      {"write-only is readable", O_WRONLY,
       [](int fd) {
         char b[5];
         EXPECT_EQ(::pread(fd, b, 5, 0), 5);
       },
       "hello"},
      {"append is left to the kernel", O_WRONLY | O_APPEND,
       [](int fd) { EXPECT_EQ(::pwrite(fd, "J", 1, 0), 1); }, "Jello"},
      {"truncate", O_RDWR | O_TRUNC, [](int) {}, ""},
      {"read-only stays read-only", O_RDONLY,
       [](int fd) {
         EXPECT_EQ(::pwrite(fd, "x", 1, 0), -1);
         EXPECT_EQ(errno, EBADF);
       },
       "hello"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    HostWrite(ws_ + "/f", "hello");
    Attr f = MustLookup(RootIno(), "f");
    auto fh = backend_->Open(caller_, f.ino, c.flags);
    ASSERT_TRUE(fh.ok()) << fh.status().ToString();
    EXPECT_EQ((*fh)->flags, c.flags);
    EXPECT_EQ((*fh)->ino, f.ino);
    c.check((*fh)->fd);
    backend_->Release(std::move(fh).value());
    EXPECT_EQ(HostRead(ws_ + "/f"), c.want_content);
    backend_->Forget(f.ino, 1);
  }
  EXPECT_EQ(backend_->InodeCount(), 1u);
}

TEST_F(WorkspaceBackendTest, OpenRefusesWhatIsNotARegularFile) {
  ASSERT_EQ(::mkdir((ws_ + "/dir").c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo((ws_ + "/fifo").c_str(), 0644), 0);
  ASSERT_EQ(::symlink("dir", (ws_ + "/link").c_str()), 0);
  struct Case {
    const char* name;
    int want;
  } const cases[] = {{"dir", EISDIR}, {"fifo", EINVAL}, {"link", ELOOP}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Attr a = MustLookup(RootIno(), c.name);
    EXPECT_EQ(backend_->Open(caller_, a.ino, O_RDONLY).code(), c.want);  // must not block
  }
}

TEST_F(WorkspaceBackendTest, UnlinkedOpenFileStaysUsableUntilReleased) {
  auto c = backend_->Create(caller_, RootIno(), "tmp", 0600, O_RDWR | O_CREAT);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(backend_->Unlink(caller_, RootIno(), "tmp").ok());
  EXPECT_FALSE(HostExists(ws_ + "/tmp"));
  EXPECT_EQ(::pwrite(c->handle->fd, "abc", 3, 0), 3);
  auto a = backend_->GetAttr(c->attr.ino);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->nlink, 0u);
  EXPECT_EQ(a->size, 3u);
  EXPECT_EQ(backend_->Link(caller_, c->attr.ino, RootIno(), "back").code(), ENOENT);
  backend_->Forget(c->attr.ino, 1);
  EXPECT_EQ(backend_->InodeCount(), 2u) << "open handle keeps the entry";
  backend_->Release(std::move(c->handle));
  EXPECT_EQ(backend_->InodeCount(), 1u);
}

TEST_F(WorkspaceBackendTest, FsyncFallocateAndStatFs) {
  auto c = backend_->Create(caller_, RootIno(), "f", 0600, O_RDWR | O_CREAT);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(backend_->Fallocate(*c->handle, 0, 0, 8192).ok());
  EXPECT_EQ(HostLstat(ws_ + "/f").st_size, 8192);
  EXPECT_EQ(backend_->Fallocate(*c->handle, 0, -1, 10).code(), EINVAL);
  EXPECT_TRUE(backend_->Fsync(*c->handle, false).ok());
  EXPECT_TRUE(backend_->Fsync(*c->handle, true).ok());
  backend_->Release(std::move(c->handle));
  EXPECT_TRUE(backend_->FsyncDir(RootIno()).ok());

  auto sv = backend_->StatFs();
  ASSERT_TRUE(sv.ok()) << sv.status().ToString();
  struct statvfs host;
  ASSERT_EQ(::statvfs(ws_.c_str(), &host), 0);
  EXPECT_EQ(sv->f_bsize, host.f_bsize);
  EXPECT_EQ(sv->f_blocks, host.f_blocks);
  EXPECT_EQ(sv->f_fsid, host.f_fsid);
}

// ---- directories and names ----

TEST_F(WorkspaceBackendTest, DirectoryOperationsAndTheirErrors) {
  auto d = backend_->MkDir(caller_, RootIno(), "d", 0750);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->IsDir());
  struct stat st = HostLstat(ws_ + "/d");
  EXPECT_EQ(st.st_mode, S_IFDIR | 0750u);
  if (Root()) {
    EXPECT_EQ(st.st_uid, caller_.uid);
    EXPECT_EQ(st.st_gid, caller_.gid);
  }
  Attr f = MustCreate(d->ino, "f", "x");
  ASSERT_TRUE(HostExists(ws_ + "/d/f"));

  EXPECT_EQ(backend_->MkDir(caller_, RootIno(), "d", 0755).code(), EEXIST);
  EXPECT_EQ(backend_->RmDir(caller_, RootIno(), "d").code(), ENOTEMPTY);
  EXPECT_EQ(backend_->Unlink(caller_, RootIno(), "d").code(), EISDIR);
  EXPECT_EQ(backend_->RmDir(caller_, d->ino, "f").code(), ENOTDIR);
  EXPECT_EQ(backend_->Unlink(caller_, d->ino, "missing").code(), ENOENT);
  EXPECT_EQ(backend_->MkDir(caller_, f.ino, "sub", 0755).code(), ENOTDIR);

  ASSERT_TRUE(backend_->Unlink(caller_, d->ino, "f").ok());
  EXPECT_FALSE(HostExists(ws_ + "/d/f"));
  ASSERT_TRUE(backend_->RmDir(caller_, RootIno(), "d").ok());
  EXPECT_FALSE(HostExists(ws_ + "/d"));
  // The removed directory's inode is still held: creating in it fails.
  EXPECT_EQ(backend_->Create(caller_, d->ino, "g", 0644, O_RDWR | O_CREAT).code(), ENOENT);
}

TEST_F(WorkspaceBackendTest, ReadDirListsHostEntriesWithLookupNumbers) {
  HostWrite(ws_ + "/file", "x");
  ASSERT_EQ(::mkdir((ws_ + "/dir").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (ws_ + "/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((ws_ + "/fifo").c_str(), 0644), 0);
  auto entries = backend_->ReadDir(caller_, RootIno());
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::map<std::string, DirEntry> by_name;
  for (const auto& e : *entries) by_name[e.name] = e;
  ASSERT_EQ(by_name.size(), 4u) << "no '.' or '..', nothing else";
  EXPECT_EQ(by_name["file"].type, static_cast<mode_t>(S_IFREG));
  EXPECT_EQ(by_name["dir"].type, static_cast<mode_t>(S_IFDIR));
  EXPECT_EQ(by_name["link"].type, static_cast<mode_t>(S_IFLNK));
  EXPECT_EQ(by_name["fifo"].type, static_cast<mode_t>(S_IFIFO));
  for (const auto& [name, e] : by_name) {
    SCOPED_TRACE(name);
    EXPECT_EQ(BackendOf(e.ino), kId);
    EXPECT_EQ(MustLookup(RootIno(), name).ino, e.ino) << "d_ino must match st_ino";
  }
  EXPECT_EQ(backend_->ReadDir(caller_, by_name["file"].ino).code(), ENOTDIR);
}

// Renames inside one directory; each case runs in a fresh one.
TEST_F(WorkspaceBackendTest, RenameMatchesRenameat2) {
  static const std::string kAbsent = "<absent>", kDir = "<dir>";
  struct Case {
    const char* label;
    std::vector<std::string> setup;  // "name=content" files, "name/" dirs
    const char* from;
    const char* to;
    unsigned flags;
    int want;
    std::map<std::string, std::string> after;  // path -> content, kDir or kAbsent
  } const cases[] = {
      {"to a new name", {"a=alpha"}, "a", "b", 0, 0, {{"a", kAbsent}, {"b", "alpha"}}},
      {"over a file", {"a=alpha", "b=beta"}, "a", "b", 0, 0, {{"a", kAbsent}, {"b", "alpha"}}},
      {"noreplace over a file",
       {"a=alpha", "b=beta"},
       "a",
       "b",
       RENAME_NOREPLACE,
       EEXIST,
       {{"a", "alpha"}, {"b", "beta"}}},
      {"noreplace to a new name",
       {"a=alpha"},
       "a",
       "b",
       RENAME_NOREPLACE,
       0,
       {{"a", kAbsent}, {"b", "alpha"}}},
      {"exchange", {"a=alpha", "b=beta"}, "a", "b", RENAME_EXCHANGE, 0, {{"a", "beta"}, {"b", "alpha"}}},
      {"exchange file and dir",
       {"a=alpha", "d/", "d/x=in"},
       "a",
       "d",
       RENAME_EXCHANGE,
       0,
       {{"d", "alpha"}, {"a/x", "in"}}},
      {"exchange with nothing",
       {"a=alpha"},
       "a",
       "b",
       RENAME_EXCHANGE,
       ENOENT,
       {{"a", "alpha"}, {"b", kAbsent}}},
      {"missing source", {}, "a", "b", 0, ENOENT, {{"b", kAbsent}}},
      {"file over dir", {"a=alpha", "d/"}, "a", "d", 0, EISDIR, {{"a", "alpha"}, {"d", kDir}}},
      {"dir over file", {"d/", "a=alpha"}, "d", "a", 0, ENOTDIR, {{"d", kDir}, {"a", "alpha"}}},
      {"dir over non-empty dir",
       {"d/", "e/", "e/x=in"},
       "d",
       "e",
       0,
       ENOTEMPTY,
       {{"d", kDir}, {"e/x", "in"}}},
      {"dir over empty dir", {"d/", "d/x=in", "e/"}, "d", "e", 0, 0, {{"d", kAbsent}, {"e/x", "in"}}},
      {"whiteout is refused", {"a=alpha"}, "a", "b", RENAME_WHITEOUT, EINVAL, {{"a", "alpha"}}},
      {"noreplace with exchange",
       {"a=alpha", "b=beta"},
       "a",
       "b",
       RENAME_NOREPLACE | RENAME_EXCHANGE,
       EINVAL,
       {{"a", "alpha"}, {"b", "beta"}}},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string dir_name = "case" + std::to_string(n++);
    const std::string dir = ws_ + "/" + dir_name;
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    for (const auto& s : c.setup) {
      if (s.back() == '/') {
        ASSERT_EQ(::mkdir((dir + "/" + s).c_str(), 0755), 0);
      } else {
        size_t eq = s.find('=');
        HostWrite(dir + "/" + s.substr(0, eq), s.substr(eq + 1));
      }
    }
    Attr d = MustLookup(RootIno(), dir_name);
    Status st = backend_->Rename(caller_, d.ino, c.from, d.ino, c.to, c.flags);
    EXPECT_EQ(st.code(), c.want) << st.ToString();
    for (const auto& [path, want] : c.after) {
      SCOPED_TRACE(path);
      const std::string p = dir + "/" + path;
      if (want == kAbsent) {
        EXPECT_FALSE(HostExists(p));
      } else if (want == kDir) {
        EXPECT_TRUE(S_ISDIR(HostLstat(p).st_mode));
      } else {
        EXPECT_EQ(HostRead(p), want);
      }
    }
  }
}

TEST_F(WorkspaceBackendTest, RenameAcrossDirectories) {
  Attr a = *backend_->MkDir(caller_, RootIno(), "a", 0755);
  Attr b = *backend_->MkDir(caller_, RootIno(), "b", 0755);
  Attr f = MustCreate(a.ino, "f", "moved");
  ASSERT_TRUE(backend_->Rename(caller_, a.ino, "f", b.ino, "g", 0).ok());
  EXPECT_EQ(HostRead(ws_ + "/b/g"), "moved");
  EXPECT_EQ(backend_->GetAttr(f.ino)->size, 5u) << "inode survives the move";
  EXPECT_EQ(MustLookup(b.ino, "g").ino, f.ino);
  Attr sub = *backend_->MkDir(caller_, a.ino, "sub", 0755);
  EXPECT_EQ(backend_->Rename(caller_, RootIno(), "a", sub.ino, "loop", 0).code(), EINVAL);
  EXPECT_EQ(backend_->Rename(caller_, a.ino, "sub", MakeIno(kId + 1, 1), "x", 0).code(), ENOENT);
}

TEST_F(WorkspaceBackendTest, HardLinksShareTheInodeAndCountLinks) {
  Attr f = MustCreate(RootIno(), "f", "shared");
  auto l = backend_->Link(caller_, f.ino, RootIno(), "g");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->ino, f.ino);
  EXPECT_EQ(l->nlink, 2u);
  EXPECT_EQ(HostLstat(ws_ + "/g").st_ino, HostLstat(ws_ + "/f").st_ino);
  EXPECT_EQ(HostLstat(ws_ + "/f").st_nlink, 2u);
  EXPECT_EQ(MustLookup(RootIno(), "g").ino, f.ino);
  EXPECT_EQ(backend_->Link(caller_, f.ino, RootIno(), "g").code(), EEXIST);
  Attr d = *backend_->MkDir(caller_, RootIno(), "d", 0755);
  EXPECT_EQ(backend_->Link(caller_, d.ino, RootIno(), "d2").code(), EPERM);
  // Linking a symlink links the symlink, not what it points to.
  Attr s = *backend_->Symlink(caller_, "f", RootIno(), "s");
  auto sl = backend_->Link(caller_, s.ino, RootIno(), "s2");
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  EXPECT_TRUE(sl->IsLnk());
  EXPECT_TRUE(S_ISLNK(HostLstat(ws_ + "/s2").st_mode));
  ASSERT_TRUE(backend_->Unlink(caller_, RootIno(), "f").ok());
  EXPECT_EQ(backend_->GetAttr(f.ino)->nlink, 1u);
}

TEST_F(WorkspaceBackendTest, SymlinksAreStoredNotFollowed) {
  auto s = backend_->Symlink(caller_, "../outside/secret", RootIno(), "l");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->IsLnk());
  EXPECT_EQ(s->size, std::string("../outside/secret").size());
  char buf[64] = {};
  ASSERT_GT(::readlink((ws_ + "/l").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "../outside/secret");
  if (Root()) {
    EXPECT_EQ(HostLstat(ws_ + "/l").st_uid, caller_.uid);
  }
  EXPECT_EQ(*backend_->ReadLink(s->ino), "../outside/secret");
  Attr f = MustCreate(RootIno(), "f");
  EXPECT_EQ(backend_->ReadLink(f.ino).code(), EINVAL);
  EXPECT_EQ(backend_->Symlink(caller_, "x", RootIno(), "l").code(), EEXIST);
  EXPECT_EQ(backend_->Symlink(caller_, "", RootIno(), "empty").code(), ENOENT);
  EXPECT_EQ(backend_->Symlink(caller_, std::string("a\0b", 3), RootIno(), "nul").code(), EINVAL);
}

TEST_F(WorkspaceBackendTest, MkNodCreatesNodesOwnedByTheCaller) {
  struct Case {
    const char* name;
    mode_t mode;
    int want;
    mode_t want_type;
  } const cases[] = {
      {"fifo", S_IFIFO | 0640, 0, S_IFIFO},  {"sock", S_IFSOCK | 0600, 0, S_IFSOCK},
      {"reg", S_IFREG | 0604, 0, S_IFREG},   {"untyped", 0644, 0, S_IFREG},
      {"chardev", S_IFCHR | 0600, EPERM, 0},  // caller is not root
      {"dir", S_IFDIR | 0755, EINVAL, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto a = backend_->MkNod(caller_, RootIno(), c.name, c.mode, 0);
    EXPECT_EQ(a.code(), c.want) << a.status().ToString();
    if (c.want != 0) {
      EXPECT_FALSE(HostExists(ws_ + "/" + c.name));
      continue;
    }
    struct stat st = HostLstat(ws_ + "/" + c.name);
    EXPECT_EQ(st.st_mode & S_IFMT, c.want_type);
    EXPECT_EQ(st.st_mode & 07777, c.mode & 07777);
    EXPECT_EQ(a->mode, st.st_mode);
    if (Root()) {
      EXPECT_EQ(st.st_uid, caller_.uid);
    }
  }
  EXPECT_EQ(backend_->MkNod(caller_, RootIno(), "fifo", S_IFIFO | 0600, 0).code(), EEXIST);
}

TEST_F(WorkspaceBackendTest, SetgidDirectoryPassesItsGroupDown) {
  if (!Root()) GTEST_SKIP() << "needs root to chown";
  constexpr gid_t kGroup = 777;
  const std::string shared = ws_ + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0755), 0);
  ASSERT_EQ(::chown(shared.c_str(), 0, kGroup), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 02775), 0);
  Attr d = MustLookup(RootIno(), "shared");
  Attr f = MustCreate(d.ino, "f");
  EXPECT_EQ(f.uid, caller_.uid);
  EXPECT_EQ(f.gid, kGroup);
  auto sub = backend_->MkDir(caller_, d.ino, "sub", 0755);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->gid, kGroup);
  EXPECT_EQ(sub->mode, S_IFDIR | 02755u);
  EXPECT_EQ(backend_->Symlink(caller_, "f", d.ino, "l")->gid, kGroup);
  // Without setgid the caller's group applies.
  EXPECT_EQ(MustCreate(RootIno(), "plain").gid, caller_.gid);
}

// ---- setattr ----

TEST_F(WorkspaceBackendTest, SetAttrChangesTheHostFile) {
  Attr f = MustCreate(RootIno(), "f", "0123456789");
  const std::string path = ws_ + "/f";
  auto set = [&](const SetAttrRequest& r, FileHandle* fh = nullptr) {
    auto a = backend_->SetAttr(caller_, f.ino, r, fh);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : Attr{};
  };

  SetAttrRequest trunc;
  trunc.valid = SetAttrRequest::kSize;
  trunc.size = 3;
  EXPECT_EQ(set(trunc).size, 3u);
  EXPECT_EQ(HostRead(path), "012");

  auto fh = backend_->Open(caller_, f.ino, O_RDWR);
  ASSERT_TRUE(fh.ok());
  trunc.size = 1;
  EXPECT_EQ(set(trunc, fh->get()).size, 1u);
  EXPECT_EQ(HostRead(path), "0");
  backend_->Release(std::move(fh).value());

  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = S_IFREG | 0600;
  EXPECT_EQ(set(chmod).mode, S_IFREG | 0600u);
  EXPECT_EQ(HostLstat(path).st_mode, S_IFREG | 0600u);

  if (Root()) {
    SetAttrRequest chown;
    chown.valid = SetAttrRequest::kUid;
    chown.uid = 4242;
    Attr a = set(chown);
    EXPECT_EQ(a.uid, 4242u);
    EXPECT_EQ(a.gid, caller_.gid) << "gid not in the request stays";
    EXPECT_EQ(HostLstat(path).st_uid, 4242u);
  }

  const timespec mtime_before = HostLstat(path).st_mtim;
  SetAttrRequest atime;
  atime.valid = SetAttrRequest::kAtime;
  atime.atime = {1000, 5};
  atime.mtime = {1, 1};  // not in `valid`: must be omitted
  Attr a = set(atime);
  EXPECT_EQ(ToNanos(a.atime), ToNanos({1000, 5}));
  EXPECT_EQ(ToNanos(HostLstat(path).st_atim), ToNanos({1000, 5}));
  EXPECT_EQ(ToNanos(HostLstat(path).st_mtim), ToNanos(mtime_before));

  SetAttrRequest mtime_now;
  mtime_now.valid = SetAttrRequest::kMtime | SetAttrRequest::kMtimeNow;
  mtime_now.mtime = {1, 1};
  const int64_t before = ToNanos(NowTimespec()) - 1'000'000'000;
  a = set(mtime_now);
  EXPECT_GE(ToNanos(a.mtime), before);
  EXPECT_EQ(ToNanos(a.atime), ToNanos({1000, 5})) << "atime omitted";

  EXPECT_EQ(EventsOf(Kind::kAttrChanged).size(), Root() ? 6u : 5u);

  Attr d = *backend_->MkDir(caller_, RootIno(), "d", 0755);
  trunc.size = 0;
  EXPECT_EQ(backend_->SetAttr(caller_, d.ino, trunc, nullptr).code(), EISDIR);
  ASSERT_EQ(::mkfifo((ws_ + "/fifo").c_str(), 0644), 0);
  EXPECT_EQ(backend_->SetAttr(caller_, MustLookup(RootIno(), "fifo").ino, trunc, nullptr).code(), EINVAL);
}

// ---- extended attributes ----

TEST_F(WorkspaceBackendTest, XattrsHonourFlagsAndNamespaces) {
  Attr f = MustCreate(RootIno(), "f");
  Caller root{0, 0, 1, 022};
  struct Step {
    const char* label;
    std::function<Status()> op;
    int want;
  };
  auto set = [&](const Caller& c, const char* name, const char* value, int flags) {
    return [&, name, value, flags] { return backend_->SetXattr(c, f.ino, name, value, flags); };
  };
  auto remove = [&](const char* name) {
    return [&, name] { return backend_->RemoveXattr(caller_, f.ino, name); };
  };
  const Step steps[] = {
      {"create", set(caller_, "user.k", "v1", XATTR_CREATE), 0},
      {"create again", set(caller_, "user.k", "v1", XATTR_CREATE), EEXIST},
      {"replace", set(caller_, "user.k", "v2", XATTR_REPLACE), 0},
      {"replace missing", set(caller_, "user.missing", "v", XATTR_REPLACE), ENODATA},
      {"plain set", set(caller_, "user.empty", "", 0), 0},
      {"system.*", set(caller_, "system.posix_acl_access", "x", 0), EOPNOTSUPP},
      {"trusted.* by a user", set(caller_, "trusted.t", "x", 0), EPERM},
      {"security.* by a user", set(caller_, "security.s", "x", 0), EPERM},
      {"trusted.* by root", set(root, "trusted.t", "x", 0), Root() ? 0 : EPERM},
      {"unknown namespace", set(caller_, "bogus.k", "x", 0), EOPNOTSUPP},
      {"remove missing", remove("user.missing"), ENODATA},
  };
  for (const auto& s : steps) {
    SCOPED_TRACE(s.label);
    Status st = s.op();
    EXPECT_EQ(st.code(), s.want) << st.ToString();
  }
  EXPECT_EQ(*backend_->GetXattr(f.ino, "user.k"), "v2");
  EXPECT_EQ(*backend_->GetXattr(f.ino, "user.empty"), "");
  EXPECT_EQ(backend_->GetXattr(f.ino, "user.missing").code(), ENODATA);
  char buf[8] = {};
  EXPECT_EQ(::getxattr((ws_ + "/f").c_str(), "user.k", buf, sizeof buf), 2) << "on the host";
  EXPECT_STREQ(buf, "v2");

  auto names = backend_->ListXattr(f.ino);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  std::set<std::string> listed(names->begin(), names->end());
  EXPECT_TRUE(listed.count("user.k"));
  EXPECT_TRUE(listed.count("user.empty"));
  EXPECT_FALSE(listed.count("trusted.t")) << "trusted.* names are not listed";

  ASSERT_TRUE(backend_->RemoveXattr(caller_, f.ino, "user.k").ok());
  EXPECT_EQ(backend_->RemoveXattr(caller_, f.ino, "user.k").code(), ENODATA);
  EXPECT_EQ(backend_->GetXattr(f.ino, "user.k").code(), ENODATA);
  EXPECT_EQ(EventsOf(Kind::kAttrChanged).size(), Root() ? 5u : 4u);

  // As on the host: user.* attributes are for files and directories only.
  Attr l = *backend_->Symlink(caller_, "f", RootIno(), "l");
  EXPECT_EQ(backend_->SetXattr(caller_, l.ino, "user.k", "v", 0).code(), EPERM);
  EXPECT_EQ(backend_->GetXattr(l.ino, "user.k").code(), ENODATA);
  EXPECT_EQ(backend_->GetXattr(f.ino, "user.k").code(), ENODATA) << "target untouched";
  Attr d = *backend_->MkDir(caller_, RootIno(), "d", 0755);
  EXPECT_TRUE(backend_->SetXattr(caller_, d.ino, "user.k", "v", 0).ok());
}

// ---- change events ----

TEST_F(WorkspaceBackendTest, ChangesArePublishedWithParentAndName) {
  Attr d = *backend_->MkDir(caller_, RootIno(), "d", 0755);
  auto c = backend_->Create(caller_, d.ino, "f", 0644, O_WRONLY | O_CREAT);
  ASSERT_TRUE(c.ok());
  const Ino f = c->attr.ino;
  auto second = backend_->Open(caller_, f, O_RDONLY);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(::pwrite(c->handle->fd, "x", 1, 0), 1);
  c->handle->written = true;
  backend_->OnWrite(*c->handle, 0, 1);
  ASSERT_TRUE(backend_->Fsync(*c->handle, false).ok());
  ASSERT_TRUE(backend_->Fsync(**second, false).ok());  // not written: no event
  backend_->Release(std::move(c->handle));
  EXPECT_EQ(EventsOf(Kind::kContentClosed).size(), 1u) << "the last writer's close; a reader is no writer";
  backend_->Release(std::move(second).value());
  ASSERT_TRUE(backend_->Rename(caller_, d.ino, "f", d.ino, "g", 0).ok());
  ASSERT_TRUE(backend_->Unlink(caller_, d.ino, "g").ok());
  ASSERT_TRUE(backend_->RmDir(caller_, RootIno(), "d").ok());
  // Creating a file and closing it publishes its (empty) content; a
  // read-only open and close afterwards publishes nothing.
  Attr h = MustCreate(RootIno(), "h");
  auto ro = backend_->Open(caller_, h.ino, O_RDONLY);
  ASSERT_TRUE(ro.ok());
  backend_->Release(std::move(ro).value());

  struct Want {
    Kind kind;
    Ino ino, parent;
    std::string name;
    Ino new_parent;
    std::string new_name;
  };
  const std::vector<Want> want = {
      {Kind::kCreated, d.ino, RootIno(), "d", 0, ""}, {Kind::kCreated, f, d.ino, "f", 0, ""},
      {Kind::kContentSynced, f, 0, "", 0, ""},        {Kind::kContentClosed, f, 0, "", 0, ""},
      {Kind::kRenamed, f, d.ino, "f", d.ino, "g"},    {Kind::kRemoved, f, d.ino, "g", 0, ""},
      {Kind::kRemoved, d.ino, RootIno(), "d", 0, ""}, {Kind::kCreated, h.ino, RootIno(), "h", 0, ""},
      {Kind::kContentClosed, h.ino, 0, "", 0, ""},  // a new file's first close, even empty
  };
  auto events = sink_.Events();
  ASSERT_EQ(events.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].kind, want[i].kind);
    EXPECT_EQ(events[i].ino, want[i].ino);
    EXPECT_EQ(events[i].parent, want[i].parent);
    EXPECT_EQ(events[i].name, want[i].name);
    EXPECT_EQ(events[i].new_parent, want[i].new_parent);
    EXPECT_EQ(events[i].new_name, want[i].new_name);
    EXPECT_EQ(events[i].caller.uid, caller_.uid);
  }
}

// A reader holding the file (a version capture, `cat`) while another
// process appends neither delays that close nor takes it over: the close
// event is the writer's, with the writer's caller, at the writer's release.
TEST_F(WorkspaceBackendTest, CloseBelongsToTheLastWriterNotTheLastCloser) {
  Attr f = MustCreate(RootIno(), "f", "first\n");
  sink_.Clear();
  Caller reader;  // a reader of its own uid, to tell its close from the writer's
  reader.uid = 4242;
  auto ro = backend_->Open(reader, f.ino, O_RDONLY);
  ASSERT_TRUE(ro.ok());
  auto w = backend_->Open(caller_, f.ino, O_WRONLY | O_APPEND);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(::write((*w)->fd, "stamped\n", 8), 8);
  (*w)->written = true;
  backend_->OnWrite(**w, 6, 8);
  backend_->Release(std::move(w).value());
  auto closed = EventsOf(Kind::kContentClosed);
  ASSERT_EQ(closed.size(), 1u) << "the append's close, though a reader still holds the file";
  EXPECT_EQ(closed[0].caller.uid, caller_.uid);
  backend_->Release(std::move(ro).value());
  EXPECT_EQ(EventsOf(Kind::kContentClosed).size(), 1u) << "the reader's close is no change";

  // Two writers: the close comes when the last closes, credited to the one
  // that wrote, not to a writer that only held the file.
  Caller idle;
  idle.uid = 5151;
  auto held = backend_->Open(idle, f.ino, O_RDWR);
  auto w2 = backend_->Open(caller_, f.ino, O_WRONLY | O_APPEND);
  ASSERT_TRUE(held.ok() && w2.ok());
  ASSERT_EQ(::write((*w2)->fd, "x", 1), 1);
  (*w2)->written = true;
  backend_->OnWrite(**w2, 14, 1);
  backend_->Release(std::move(w2).value());
  EXPECT_EQ(EventsOf(Kind::kContentClosed).size(), 1u) << "another writer still holds it";
  backend_->Release(std::move(held).value());
  closed = EventsOf(Kind::kContentClosed);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[1].caller.uid, caller_.uid) << "the writer's, not the idle holder's";
}

TEST_F(WorkspaceBackendTest, ExchangeAndReplacePublishBothSides) {
  Attr a = MustCreate(RootIno(), "a", "alpha");
  Attr b = MustCreate(RootIno(), "b", "beta");
  size_t before = sink_.Events().size();
  ASSERT_TRUE(backend_->Rename(caller_, RootIno(), "a", RootIno(), "b", RENAME_EXCHANGE).ok());
  auto ev = sink_.Events();
  ASSERT_EQ(ev.size(), before + 2);
  EXPECT_EQ(ev[before].ino, a.ino);
  EXPECT_EQ(ev[before].new_name, "b");
  EXPECT_EQ(ev[before + 1].ino, b.ino);
  EXPECT_EQ(ev[before + 1].new_name, "a");
  // "a" now names b's inode; replacing "b" (a's inode) removes it.
  before = ev.size();
  ASSERT_TRUE(backend_->Rename(caller_, RootIno(), "a", RootIno(), "b", 0).ok());
  ev = sink_.Events();
  ASSERT_EQ(ev.size(), before + 2);
  EXPECT_EQ(ev[before].kind, Kind::kRemoved);
  EXPECT_EQ(ev[before].ino, a.ino);
  EXPECT_EQ(ev[before + 1].kind, Kind::kRenamed);
  EXPECT_EQ(ev[before + 1].ino, b.ino);
}

// ---- confinement: nothing may escape the workspace ----

TEST_F(WorkspaceBackendTest, SymlinksLeavingTheWorkspaceAreNeverFollowed) {
  const std::string targets[] = {outside_,    "../outside", outside_ + "/secret", "../outside/secret",
                                 "../secret", "/"};
  int n = 0;
  for (const auto& target : targets) {
    SCOPED_TRACE(target);
    const std::string name = "link" + std::to_string(n++);
    ASSERT_EQ(::symlink(target.c_str(), (ws_ + "/" + name).c_str()), 0);
    Attr l = MustLookup(RootIno(), name);
    ASSERT_TRUE(l.IsLnk());
    EXPECT_EQ(backend_->Lookup(caller_, l.ino, "secret").code(), ENOTDIR);
    EXPECT_EQ(backend_->Open(caller_, l.ino, O_RDWR | O_TRUNC).code(), ELOOP);
    EXPECT_EQ(backend_->Open(caller_, l.ino, O_RDONLY).code(), ELOOP);
    EXPECT_EQ(backend_->Create(caller_, l.ino, "x", 0644, O_RDWR | O_CREAT).code(), ENOTDIR);
    EXPECT_EQ(backend_->MkDir(caller_, l.ino, "x", 0755).code(), ENOTDIR);
    EXPECT_EQ(backend_->Symlink(caller_, "y", l.ino, "x").code(), ENOTDIR);
    EXPECT_EQ(backend_->Unlink(caller_, l.ino, "secret").code(), ENOTDIR);
    EXPECT_EQ(backend_->ReadDir(caller_, l.ino).code(), ENOTDIR);
    EXPECT_EQ(backend_->Rename(caller_, l.ino, "secret", RootIno(), "stolen", 0).code(), ENOTDIR);
    EXPECT_EQ(backend_->Link(caller_, l.ino, RootIno(), name + ".hard").ok(), true)
        << "a hard link to the symlink itself is fine";
    EXPECT_TRUE(S_ISLNK(HostLstat(ws_ + "/" + name + ".hard").st_mode));

    SetAttrRequest r;
    r.valid = SetAttrRequest::kSize;
    EXPECT_EQ(backend_->SetAttr(caller_, l.ino, r, nullptr).code(), EINVAL);
    r.valid = SetAttrRequest::kMode;
    r.mode = 0777;
    EXPECT_EQ(backend_->SetAttr(caller_, l.ino, r, nullptr).code(), EOPNOTSUPP);
    r.valid = SetAttrRequest::kMtime;
    r.mtime = {12345, 0};
    auto a = backend_->SetAttr(caller_, l.ino, r, nullptr);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(HostLstat(ws_ + "/" + name).st_mtim.tv_sec, 12345) << "the link's own time";
    if (Root()) {
      r.valid = SetAttrRequest::kUid;
      r.uid = 4242;
      ASSERT_TRUE(backend_->SetAttr(caller_, l.ino, r, nullptr).ok());
      EXPECT_EQ(HostLstat(ws_ + "/" + name).st_uid, 4242u) << "the link's own owner";
    }
    EXPECT_EQ(backend_->SetXattr(caller_, l.ino, "user.k", "v", 0).code(), EPERM);
    EXPECT_EQ(*backend_->ReadLink(l.ino), target);
  }
  EXPECT_FALSE(HostExists(ws_ + "/stolen"));
  EXPECT_FALSE(HostExists(outside_ + "/x"));
  // TearDown checks that nothing outside changed (content, mode, owner, mtime).
}

TEST_F(WorkspaceBackendTest, DotDotAtTheRootDoesNotReachTheParent) {
  auto up = backend_->Lookup(caller_, RootIno(), "..");
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->ino, RootIno());
  // base/secret exists only in the workspace's parent.
  EXPECT_EQ(backend_->Lookup(caller_, up->ino, "secret").code(), ENOENT);
  EXPECT_EQ(backend_->Lookup(caller_, up->ino, "outside").code(), ENOENT);
  auto up2 = backend_->Lookup(caller_, up->ino, "..");
  ASSERT_TRUE(up2.ok());
  EXPECT_EQ(up2->ino, RootIno());
}

TEST_F(WorkspaceBackendTest, DotDotOfADirectoryMovedOutIsRefused) {
  ASSERT_EQ(::mkdir((ws_ + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((ws_ + "/sub/inner").c_str(), 0755), 0);
  Attr sub = MustLookup(RootIno(), "sub");
  Attr inner = MustLookup(sub.ino, "inner");
  EXPECT_EQ(MustLookup(inner.ino, "..").ino, sub.ino);
  // A host process moves the tree out of the workspace.
  ASSERT_EQ(::rename((ws_ + "/sub").c_str(), (base_ + "/sub").c_str()), 0);
  EXPECT_EQ(backend_->Lookup(caller_, inner.ino, "..").code(), ENOENT);
  EXPECT_EQ(backend_->Lookup(caller_, sub.ino, "..").code(), ENOENT);
  ASSERT_EQ(::rename((base_ + "/sub").c_str(), (ws_ + "/sub").c_str()), 0);
  EXPECT_EQ(MustLookup(sub.ino, "..").ino, RootIno());
}

TEST_F(WorkspaceBackendTest, NamesThatAreNotOneComponentAreRefused) {
  HostWrite(ws_ + "/f", "x");
  Attr f = MustLookup(RootIno(), "f");
  const std::string bad[] = {
      "a/b",       "../outside",
      "../secret", "/etc",
      "x/..",      "sub/",
      "",          ".",
      "..",        std::string("f\0/../secret", 12),  // c_str() would see just "f"
  };
  const Ino root = RootIno();
  for (const auto& name : bad) {
    SCOPED_TRACE("name '" + name + "'");
    EXPECT_EQ(backend_->Create(caller_, root, name, 0644, O_RDWR | O_CREAT).code(), EINVAL);
    EXPECT_EQ(backend_->MkDir(caller_, root, name, 0755).code(), EINVAL);
    EXPECT_EQ(backend_->MkNod(caller_, root, name, S_IFIFO | 0644, 0).code(), EINVAL);
    EXPECT_EQ(backend_->Symlink(caller_, "t", root, name).code(), EINVAL);
    EXPECT_EQ(backend_->Link(caller_, f.ino, root, name).code(), EINVAL);
    EXPECT_EQ(backend_->Unlink(caller_, root, name).code(), EINVAL);
    EXPECT_EQ(backend_->RmDir(caller_, root, name).code(), EINVAL);
    EXPECT_EQ(backend_->Rename(caller_, root, name, root, "g", 0).code(), EINVAL);
    EXPECT_EQ(backend_->Rename(caller_, root, "f", root, name, 0).code(), EINVAL);
    if (name != "." && name != "..") {  // the two dot names Lookup resolves itself
      EXPECT_EQ(backend_->Lookup(caller_, root, name).code(), EINVAL);
    }
  }
  EXPECT_EQ(HostRead(ws_ + "/f"), "x");
  EXPECT_EQ(backend_->SetXattr(caller_, f.ino, std::string("user.a\0b", 8), "v", 0).code(), EINVAL);
}

TEST_F(WorkspaceBackendTest, ReplacingTheWorkspaceByASymlinkChangesNothing) {
  HostWrite(ws_ + "/kept", "kept");
  const std::string moved = base_ + "/ws.moved";
  ASSERT_EQ(::rename(ws_.c_str(), moved.c_str()), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), ws_.c_str()), 0);

  Attr f = MustCreate(RootIno(), "after", "inside");
  EXPECT_EQ(HostRead(moved + "/after"), "inside");
  EXPECT_FALSE(HostExists(outside_ + "/after"));
  EXPECT_EQ(backend_->Lookup(caller_, RootIno(), "secret").code(), ENOENT);
  auto entries = backend_->ReadDir(caller_, RootIno());
  ASSERT_TRUE(entries.ok());
  std::set<std::string> names;
  for (const auto& e : *entries) names.insert(e.name);
  EXPECT_EQ(names, (std::set<std::string>{"after", "kept"}));
  ASSERT_TRUE(backend_->Unlink(caller_, RootIno(), "kept").ok());
  EXPECT_FALSE(HostExists(moved + "/kept"));
  EXPECT_EQ(backend_->StatFs().ok(), true);
  (void)f;
}

TEST_F(WorkspaceBackendTest, SameNameOutsideIsNeverTouched) {
  // outside/secret and base/secret exist; the workspace gets its own.
  Attr f = MustCreate(RootIno(), "secret", "workspace copy");
  SetAttrRequest r;
  r.valid =
      SetAttrRequest::kMode | SetAttrRequest::kSize | SetAttrRequest::kMtimeNow | SetAttrRequest::kMtime;
  r.mode = 0600;
  r.size = 2;
  ASSERT_TRUE(backend_->SetAttr(caller_, f.ino, r, nullptr).ok());
  ASSERT_TRUE(backend_->SetXattr(caller_, f.ino, "user.k", "v", 0).ok());
  ASSERT_TRUE(backend_->Rename(caller_, RootIno(), "secret", RootIno(), "secret2", 0).ok());
  ASSERT_TRUE(backend_->Unlink(caller_, RootIno(), "secret2").ok());
  EXPECT_FALSE(HostExists(ws_ + "/secret"));
  // TearDown compares outside/ and base/secret with their state at SetUp.
}

TEST_F(WorkspaceBackendTest, InodesOfOtherBackendsAreRefused) {
  const Ino foreign = MakeIno(kId + 1, 1);
  EXPECT_EQ(backend_->Lookup(caller_, foreign, "x").code(), ENOENT);
  EXPECT_EQ(backend_->Open(caller_, foreign, O_RDONLY).code(), ENOENT);
  EXPECT_EQ(backend_->MkDir(caller_, foreign, "x", 0755).code(), ENOENT);
  HostWrite(ws_ + "/f", "x");
  EXPECT_EQ(backend_->Link(caller_, MustLookup(RootIno(), "f").ino, foreign, "x").code(), ENOENT);
}

// ---- concurrency ----

TEST_F(WorkspaceBackendTest, ConcurrentLookupsForgetsAndCreatesKeepTheTableConsistent) {
  HostWrite(ws_ + "/shared", "x");
  const Ino shared = MustLookup(RootIno(), "shared").ino;
  backend_->Forget(shared, 1);
  constexpr int kThreads = 4, kRounds = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto a = backend_->Lookup(caller_, RootIno(), "shared");
        if (!a.ok() || a->ino != shared) ++failures;
        if (a.ok()) {
          if (!backend_->GetAttr(a->ino).ok()) ++failures;
          backend_->Forget(a->ino, 1);
        }
        const std::string name = "t" + std::to_string(t) + "_" + std::to_string(i % 10);
        auto c = backend_->Create(caller_, RootIno(), name, 0644, O_RDWR | O_CREAT);
        if (!c.ok()) {
          ++failures;
          continue;
        }
        Ino ino = c->attr.ino;
        backend_->Release(std::move(c->handle));
        if (!backend_->Unlink(caller_, RootIno(), name).ok()) ++failures;
        backend_->Forget(ino, 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(backend_->InodeCount(), 1u) << "every reference was given back";
  EXPECT_TRUE(backend_->ReadDir(caller_, RootIno())->size() == 1u);
}

}  // namespace
}  // namespace nexus
