// The read-only history tree (/.nexus) driven through the Backend interface
// over a real version store, and the store queries it is built on.
#include "fs/versions/history_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions {
namespace {

using testing::kStartNs;
using testing::VersionStoreTest;

std::vector<std::string> NamesOf(const std::vector<VersionedEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name + (e.file ? ":f" : "") + (e.dir ? ":d" : ""));
  return out;
}

// ---- store queries: the versioned paths of a zone ----

using VersionedPathsTest = VersionStoreTest;

TEST_F(VersionedPathsTest, ListsNamesOfADirectoryOnce) {
  Put("src/app.py", "a");
  Put("src/app.py", "a2");
  Put("src/lib/util.py", "u");
  Put("src/lib/more/deep.py", "d");
  Put("c", "file c");
  Put("c.txt", "sorts between c and c/");
  Put("c/x", "below c");
  Put("top.md", "t");
  Put("notes.md", "n", "local");

  auto top = store_->ListVersionedDir("root", "");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_EQ(NamesOf(*top), (std::vector<std::string>{"c:f:d", "c.txt:f", "src:d", "top.md:f"}));
  auto src = store_->ListVersionedDir("root", "/src/");
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(NamesOf(*src), (std::vector<std::string>{"app.py:f", "lib:d"}));
  auto lib = store_->ListVersionedDir("root", "src/lib");
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(NamesOf(*lib), (std::vector<std::string>{"more:d", "util.py:f"}));
  auto local = store_->ListVersionedDir("local", "");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(NamesOf(*local), (std::vector<std::string>{"notes.md:f"}));
  // Nothing below a file, an unknown directory or a zone without history.
  EXPECT_TRUE(store_->ListVersionedDir("root", "top.md")->empty());
  EXPECT_TRUE(store_->ListVersionedDir("root", "nope")->empty());
  EXPECT_TRUE(store_->ListVersionedDir("other", "")->empty());
  EXPECT_EQ(store_->ListVersionedDir("bad/zone", "").code(), EINVAL);
  EXPECT_EQ(store_->ListVersionedDir("root", "a/../b").code(), EINVAL);
}

TEST_F(VersionedPathsTest, DeletedAndRenamedFilesFollowTheirHistory) {
  Put("gone.txt", "bye");
  Put("old/name.txt", "moves");
  ASSERT_TRUE(store_->Remove("root", "gone.txt", who_).ok());
  ASSERT_TRUE(store_->Rename("root", "old", "new", who_).ok());
  auto top = store_->ListVersionedDir("root", "");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(NamesOf(*top), (std::vector<std::string>{"gone.txt:f", "new:d"}));
}

TEST_F(VersionedPathsTest, StatTellsFileDirectoryOrBoth) {
  Put("a", "file a");
  ASSERT_TRUE(store_->Remove("root", "a", who_).ok());
  Put("a/b", "a is a directory now");
  Put("f", "plain");
  auto a = store_->StatVersionedPath("root", "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "a");
  EXPECT_TRUE(a->file);
  EXPECT_TRUE(a->dir);
  auto b = store_->StatVersionedPath("root", "/a/b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->name, "b");
  EXPECT_TRUE(b->file);
  EXPECT_FALSE(b->dir);
  auto f = store_->StatVersionedPath("root", "f");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->file);
  EXPECT_FALSE(f->dir);
  auto zone = store_->StatVersionedPath("root", "");
  ASSERT_TRUE(zone.ok());
  EXPECT_TRUE(zone->dir);
  EXPECT_EQ(store_->StatVersionedPath("root", "f0").code(), ENOENT);
  EXPECT_EQ(store_->StatVersionedPath("root", "a/b/c").code(), ENOENT);
  EXPECT_EQ(store_->StatVersionedPath("local", "").code(), ENOENT);
}

TEST_F(VersionedPathsTest, ReadBlobToStreamsTheContent) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  auto r = Put("big.bin", big);
  const std::string out = dir_.path() + "/out";
  int fd = ::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(store_->ReadBlobTo(r.blob, fd).ok());
  std::string back(big.size(), '\0');
  EXPECT_EQ(::pread(fd, back.data(), back.size(), 0), static_cast<ssize_t>(big.size()));
  ::close(fd);
  EXPECT_TRUE(back == big);
  EXPECT_EQ(store_->ReadBlobTo("not-an-id", 1).code(), EINVAL);
}

// ---- the history tree ----

class HistoryBackendTest : public VersionStoreTest {
 protected:
  void SetUp() override {
    VersionStoreTest::SetUp();
    scratch_ = dir_.path() + "/scratch-dir";
    std::filesystem::create_directory(scratch_);
    MakeBackend(HistoryBackend::Options{scratch_, uint64_t{1} << 20});
  }

  void MakeBackend(HistoryBackend::Options options) {
    hb_.reset();
    auto hb = HistoryBackend::Create(kId, store_.get(), std::move(options));
    ASSERT_TRUE(hb.ok()) << hb.status().ToString();
    hb_ = std::move(hb).value();
  }

  // Looks up each component of `path` ("versions/src/app.py/1") from the
  // root, dropping the lookup references on the way.
  Result<Attr> Walk(const std::string& path) {
    Result<Attr> at = hb_->GetAttr(hb_->root());
    size_t pos = 0;
    while (at.ok() && pos < path.size()) {
      size_t end = std::min(path.find('/', pos), path.size());
      const std::string comp = path.substr(pos, end - pos);
      pos = end + 1;
      if (comp.empty()) continue;
      Ino parent = at->ino;
      at = hb_->Lookup(caller_, parent, comp);
      if (parent != hb_->root()) hb_->Forget(parent, 1);
    }
    return at;
  }

  std::vector<std::string> Names(const std::string& path) {
    auto at = Walk(path);
    EXPECT_TRUE(at.ok()) << path << ": " << at.status().ToString();
    if (!at.ok()) return {};
    auto entries = hb_->ReadDir(caller_, at->ino);
    EXPECT_TRUE(entries.ok()) << path << ": " << entries.status().ToString();
    std::vector<std::string> out;
    if (entries.ok())
      for (const auto& e : *entries) out.push_back(e.name + (S_ISDIR(e.type) ? "/" : ""));
    return out;
  }

  // The whole content of the file at `path`, read with pread on the handle.
  std::string Read(const std::string& path) {
    auto at = Walk(path);
    EXPECT_TRUE(at.ok()) << path << ": " << at.status().ToString();
    if (!at.ok()) return "<missing>";
    auto fh = hb_->Open(caller_, at->ino, O_RDONLY);
    EXPECT_TRUE(fh.ok()) << path << ": " << fh.status().ToString();
    if (!fh.ok()) return "<unopenable>";
    std::string out(at->size, '\0');
    EXPECT_EQ(::pread((*fh)->fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    char extra;
    EXPECT_EQ(::pread((*fh)->fd, &extra, 1, static_cast<off_t>(out.size())), 0);
    hb_->Release(std::move(*fh));
    return out;
  }

  static constexpr uint16_t kId = 2;
  Caller caller_;
  std::string scratch_;
  std::unique_ptr<HistoryBackend> hb_;
};

TEST_F(HistoryBackendTest, RootListsSnapshotsAndVersions) {
  EXPECT_EQ(Names(""), (std::vector<std::string>{"snapshots/", "versions/"}));
  auto root = hb_->GetAttr(hb_->root());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->ino, MakeIno(kId, 1));
  EXPECT_TRUE(root->IsDir());
  EXPECT_EQ(root->mode & 07777, 0555u);  // everyone reaches /.nexus/activity
  // Only the daemon's owner enters the history.
  for (const char* dir : {"snapshots", "versions"}) {
    auto d = hb_->Lookup(caller_, hb_->root(), dir);
    ASSERT_TRUE(d.ok()) << dir;
    EXPECT_EQ(d->mode & 07777, 0500u) << dir;
    hb_->Forget(d->ino, 1);
  }
  EXPECT_TRUE(Names("snapshots").empty());
  EXPECT_TRUE(Names("versions").empty());
  EXPECT_EQ(Walk("nope").code(), ENOENT);
}

TEST_F(HistoryBackendTest, VersionsOfAFileAreFilesNamedByNumber) {
  Put("src/app.py", "print(1)\n");
  const int64_t t2 = now_ns_;
  Put("src/app.py", "print(2)\nprint(22)\n", "root", 0755);
  Put("src/lib/util.py", "u");

  EXPECT_EQ(Names("versions"), (std::vector<std::string>{"src/"}));
  EXPECT_EQ(Names("versions/src"), (std::vector<std::string>{"app.py/", "lib/"}));
  EXPECT_EQ(Names("versions/src/app.py"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(Read("versions/src/app.py/1"), "print(1)\n");
  EXPECT_EQ(Read("versions/src/app.py/2"), "print(2)\nprint(22)\n");

  auto v1 = Walk("versions/src/app.py/1");
  ASSERT_TRUE(v1.ok());
  EXPECT_TRUE(v1->IsReg());
  EXPECT_EQ(v1->mode & 07777, 0444u);
  EXPECT_EQ(v1->size, 9u);
  EXPECT_EQ(ToNanos(v1->mtime), kStartNs);
  auto v2 = Walk("versions/src/app.py/2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->mode & 07777, 0555u);  // an executable version
  EXPECT_EQ(ToNanos(v2->mtime), t2);
  auto dir = Walk("versions/src/app.py");
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(dir->IsDir());
  EXPECT_EQ(dir->mode & 07777, 0555u);
}

TEST_F(HistoryBackendTest, MissingVersionsAndPathsAreEnoent) {
  Put("a.txt", "one");
  EXPECT_EQ(Walk("versions/a.txt/2").code(), ENOENT);
  EXPECT_EQ(Walk("versions/a.txt/0").code(), ENOENT);
  EXPECT_EQ(Walk("versions/a.txt/01").code(), ENOENT);
  EXPECT_EQ(Walk("versions/a.txt/x").code(), ENOENT);
  EXPECT_EQ(Walk("versions/b.txt").code(), ENOENT);
  EXPECT_EQ(Walk("versions/zone").code(), ENOENT);  // no other zone has history
  EXPECT_EQ(Walk("versions/a.txt/1/x").code(), ENOTDIR);
  EXPECT_EQ(Walk("snapshots/1").code(), ENOENT);
  EXPECT_EQ(Walk("snapshots/abc").code(), ENOENT);
  auto v = Walk("versions/a.txt/1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(hb_->ReadDir(caller_, v->ino).code(), ENOTDIR);
  EXPECT_EQ(hb_->GetAttr(MakeIno(kId, 999999)).code(), ENOENT);
}

TEST_F(HistoryBackendTest, DeletedFileIsStillBrowsable) {
  Put("gone.txt", "last words");
  ASSERT_TRUE(store_->Remove("root", "gone.txt", who_).ok());
  EXPECT_EQ(Names("versions"), (std::vector<std::string>{"gone.txt/"}));
  EXPECT_EQ(Read("versions/gone.txt/1"), "last words");
}

TEST_F(HistoryBackendTest, WorkspaceFilesAreUnderZoneLocal) {
  Put("notes.md", "workspace note", "local");
  Put("top.txt", "root file");
  EXPECT_EQ(Names("versions"), (std::vector<std::string>{"top.txt/", "zone/"}));
  EXPECT_EQ(Names("versions/zone"), (std::vector<std::string>{"local/"}));
  EXPECT_EQ(Names("versions/zone/local"), (std::vector<std::string>{"notes.md/"}));
  EXPECT_EQ(Read("versions/zone/local/notes.md/1"), "workspace note");
  EXPECT_EQ(Walk("versions/zone/other").code(), ENOENT);
}

TEST_F(HistoryBackendTest, FileReplacedByDirectoryListsBoth) {
  Put("a", "a was a file");
  ASSERT_TRUE(store_->Remove("root", "a", who_).ok());
  Put("a/b", "now a directory");
  Put("a/1", "a child named like a version");
  EXPECT_EQ(Names("versions/a"), (std::vector<std::string>{"1", "b/"}));
  // The version shadows the child of the same name.
  EXPECT_EQ(Read("versions/a/1"), "a was a file");
  EXPECT_EQ(Read("versions/a/b/1"), "now a directory");
}

TEST_F(HistoryBackendTest, NewVersionsAndSnapshotsAppearWithoutRestart) {
  Put("f.txt", "v1");
  auto dir = Walk("versions/f.txt");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(hb_->ReadDir(caller_, dir->ino)->size(), 1u);
  Put("f.txt", "v2");
  auto entries = hb_->ReadDir(caller_, dir->ino);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].name, "2");
  EXPECT_EQ(Read("versions/f.txt/2"), "v2");

  EXPECT_TRUE(Names("snapshots").empty());
  auto id = store_->CreateSnapshot({}, "first");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(Names("snapshots"), (std::vector<std::string>{*id + "/"}));
}

TEST_F(HistoryBackendTest, SnapshotIsBrowsableInTheNamespaceLayout) {
  Put("src/app.py", "app v1");
  Put("run.sh", "#!/bin/sh\n", "root", 0755);
  Put("notes.md", "note v1", "local");
  Put("deep/er/x.txt", "x", "local");
  const int64_t snap_time = now_ns_;
  auto id = store_->CreateSnapshot({}, "before the change");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Put("src/app.py", "app v2");  // later changes do not reach the snapshot
  Put("late.txt", "after");

  const std::string s = "snapshots/" + *id;
  EXPECT_EQ(Names(s), (std::vector<std::string>{"run.sh", "src/", "zone/"}));
  EXPECT_EQ(Names(s + "/src"), (std::vector<std::string>{"app.py"}));
  EXPECT_EQ(Names(s + "/zone"), (std::vector<std::string>{"local/"}));
  EXPECT_EQ(Names(s + "/zone/local"), (std::vector<std::string>{"deep/", "notes.md"}));
  EXPECT_EQ(Read(s + "/src/app.py"), "app v1");
  EXPECT_EQ(Read(s + "/zone/local/notes.md"), "note v1");
  EXPECT_EQ(Read(s + "/zone/local/deep/er/x.txt"), "x");
  EXPECT_EQ(Walk(s + "/late.txt").code(), ENOENT);
  EXPECT_EQ(Walk(s + "/zone/root").code(), ENOENT);

  auto app = Walk(s + "/src/app.py");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->mode & 07777, 0444u);
  EXPECT_EQ(app->size, 6u);
  EXPECT_EQ(ToNanos(app->mtime), snap_time);
  auto run = Walk(s + "/run.sh");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->mode & 07777, 0555u);
  auto top = Walk(s);
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE(top->IsDir());
  EXPECT_EQ(ToNanos(top->mtime), snap_time);

  // A deleted snapshot vanishes, and so do the numbers held on it.
  ASSERT_TRUE(store_->DeleteSnapshot(*id).ok());
  EXPECT_EQ(hb_->GetAttr(app->ino).code(), ENOENT);
  EXPECT_EQ(Walk(s).code(), ENOENT);
  EXPECT_TRUE(Names("snapshots").empty());
}

TEST_F(HistoryBackendTest, SnapshotOfOnlyTheWorkspaceHasJustZone) {
  Put("top.txt", "root file");
  Put("w.txt", "ws", "local");
  auto id = store_->CreateSnapshot({"local"}, "workspace only");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(Names("snapshots/" + *id), (std::vector<std::string>{"zone/"}));
  EXPECT_EQ(Read("snapshots/" + *id + "/zone/local/w.txt"), "ws");
}

TEST_F(HistoryBackendTest, EveryMutationIsErofs) {
  Put("src/a.txt", "content");
  auto id = store_->CreateSnapshot({}, "s");
  ASSERT_TRUE(id.ok());
  for (const std::string& dir_path :
       {std::string(""), std::string("versions/src"), std::string("versions/src/a.txt"), "snapshots/" + *id,
        "snapshots/" + *id + "/src"}) {
    SCOPED_TRACE(dir_path);
    auto d = Walk(dir_path);
    ASSERT_TRUE(d.ok());
    const Ino p = d->ino;
    EXPECT_EQ(hb_->MkDir(caller_, p, "new", 0755).code(), EROFS);
    EXPECT_EQ(hb_->MkNod(caller_, p, "new", S_IFREG | 0644, 0).code(), EROFS);
    EXPECT_EQ(hb_->Symlink(caller_, "t", p, "new").code(), EROFS);
    EXPECT_EQ(hb_->Create(caller_, p, "new", 0644, O_WRONLY | O_CREAT).code(), EROFS);
    EXPECT_EQ(hb_->Unlink(caller_, p, "a.txt").code(), EROFS);
    EXPECT_EQ(hb_->RmDir(caller_, p, "src").code(), EROFS);
    EXPECT_EQ(hb_->Rename(caller_, p, "a.txt", p, "b.txt", 0).code(), EROFS);
    EXPECT_EQ(hb_->SetXattr(caller_, p, "user.x", "v", 0).code(), EROFS);
    EXPECT_EQ(hb_->RemoveXattr(caller_, p, "user.x").code(), EROFS);
    SetAttrRequest req;
    req.valid = SetAttrRequest::kMode;
    req.mode = 0777;
    EXPECT_EQ(hb_->SetAttr(caller_, p, req, nullptr).code(), EROFS);
    EXPECT_EQ(hb_->Open(caller_, p, O_RDONLY).code(), EISDIR);
  }
  for (const std::string& file_path :
       {std::string("versions/src/a.txt/1"), "snapshots/" + *id + "/src/a.txt"}) {
    SCOPED_TRACE(file_path);
    auto f = Walk(file_path);
    ASSERT_TRUE(f.ok());
    for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND})
      EXPECT_EQ(hb_->Open(caller_, f->ino, flags).code(), EROFS) << flags;
    SetAttrRequest trunc;
    trunc.valid = SetAttrRequest::kSize;
    EXPECT_EQ(hb_->SetAttr(caller_, f->ino, trunc, nullptr).code(), EROFS);
    EXPECT_EQ(hb_->Link(caller_, f->ino, hb_->root(), "hard").code(), EROFS);
    auto fh = hb_->Open(caller_, f->ino, O_RDONLY);
    ASSERT_TRUE(fh.ok());
    EXPECT_EQ(hb_->Fallocate(**fh, 0, 0, 100).code(), EROFS);
    EXPECT_TRUE(hb_->Fsync(**fh, false).ok());
    // The handle's fd itself refuses writes.
    EXPECT_LT(::pwrite((*fh)->fd, "x", 1, 0), 0);
    hb_->Release(std::move(*fh));
    EXPECT_EQ(hb_->GetXattr(f->ino, "user.x").code(), ENODATA);
    EXPECT_TRUE(hb_->ListXattr(f->ino)->empty());
  }
  auto fs = hb_->StatFs();
  ASSERT_TRUE(fs.ok());
  EXPECT_TRUE(fs->f_flag & ST_RDONLY);
  EXPECT_EQ(Read("versions/src/a.txt/1"), "content");  // unchanged
}

TEST_F(HistoryBackendTest, InodeNumbersAreStablePerPath) {
  Put("d/f.txt", "1");
  Put("d/f.txt", "2");
  auto a = Walk("versions/d/f.txt/2");
  auto b = Walk("versions/d/f.txt/2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ino, b->ino);
  EXPECT_EQ(BackendOf(a->ino), kId);
  auto dir = Walk("versions/d/f.txt");
  ASSERT_TRUE(dir.ok());
  auto entries = hb_->ReadDir(caller_, dir->ino);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].ino, a->ino);  // readdir's d_ino and lookup agree
  EXPECT_EQ((*entries)[1].type, static_cast<mode_t>(S_IFREG));
  hb_->Forget(a->ino, 2);
  EXPECT_EQ(Walk("versions/d/f.txt/2")->ino, a->ino);
  EXPECT_NE(Walk("versions/d/f.txt/1")->ino, a->ino);

  // "." is the directory itself, ".." its parent; the root is its own parent.
  auto dot = hb_->Lookup(caller_, dir->ino, ".");
  ASSERT_TRUE(dot.ok());
  EXPECT_EQ(dot->ino, dir->ino);
  auto up = hb_->Lookup(caller_, dir->ino, "..");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->ino, Walk("versions/d")->ino);
  auto root_up = hb_->Lookup(caller_, hb_->root(), "..");
  ASSERT_TRUE(root_up.ok());
  EXPECT_EQ(root_up->ino, hb_->root());
}

TEST_F(HistoryBackendTest, LargeContentIsMaterialisedWhole) {
  std::string big(5 * 1024 * 1024 + 3, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
  Put("big.bin", big);
  EXPECT_TRUE(Read("versions/big.bin/1") == big);
  // Bigger than the 1 MiB cache: served, not kept.
  EXPECT_EQ(hb_->CacheUsage().first, 0u);
}

TEST_F(HistoryBackendTest, CacheIsBoundedAndOpenHandlesOutliveEviction) {
  MakeBackend(HistoryBackend::Options{scratch_, 10});
  Put("a", "aaaaaa");  // 6 bytes
  Put("b", "bbbbbb");
  auto a = Walk("versions/a/1");
  ASSERT_TRUE(a.ok());
  auto fa = hb_->Open(caller_, a->ino, O_RDONLY);
  ASSERT_TRUE(fa.ok());
  EXPECT_EQ(hb_->CacheUsage(), (std::pair<size_t, uint64_t>{1, 6}));
  // A second open of the same content reuses the copy.
  EXPECT_EQ(Read("versions/a/1"), "aaaaaa");
  EXPECT_EQ(hb_->CacheUsage(), (std::pair<size_t, uint64_t>{1, 6}));
  EXPECT_EQ(Read("versions/b/1"), "bbbbbb");  // evicts a's copy
  EXPECT_EQ(hb_->CacheUsage(), (std::pair<size_t, uint64_t>{1, 6}));
  char buf[8] = {};
  EXPECT_EQ(::pread((*fa)->fd, buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "aaaaaa");
  hb_->Release(std::move(*fa));
}

TEST_F(HistoryBackendTest, ConcurrentOpensOfOneContentAgree) {
  std::string content(2 * 1024 * 1024, 'q');
  Put("shared.bin", content);
  auto f = Walk("versions/shared.bin/1");
  ASSERT_TRUE(f.ok());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto fh = hb_->Open(caller_, f->ino, O_RDONLY);
      if (!fh.ok()) return;
      std::string out(content.size(), '\0');
      if (::pread((*fh)->fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()) && out == content)
        ++good;
      hb_->Release(std::move(*fh));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 6);
  auto cache = hb_->CacheUsage();
  EXPECT_LE(cache.first, 1u);
}

TEST_F(HistoryBackendTest, CreateChecksItsArguments) {
  EXPECT_EQ(HistoryBackend::Create(kId, nullptr, {scratch_, 1}).code(), EINVAL);
  EXPECT_EQ(HistoryBackend::Create(kId, store_.get(), {"", 1}).code(), EINVAL);
  EXPECT_EQ(HistoryBackend::Create(kId, store_.get(), {dir_.path() + "/missing", 1}).code(), ENOENT);
}

// Grafted hidden at /.nexus: reachable by path, not listed.
TEST_F(HistoryBackendTest, HiddenUnderTheNamespaceRoot) {
  nexus::testing::TempDir native_dir;
  NativeBackend::Options o;
  o.data_dir = native_dir.path();
  auto native = NativeBackend::Open(o);
  ASSERT_TRUE(native.ok()) << native.status().ToString();
  Namespace ns(native->get());
  ASSERT_TRUE(ns.AddMount(kRootIno, ".nexus", hb_.get(), /*hidden=*/true).ok());
  Put("src/app.py", "hello");

  auto root = ns.ReadDir(caller_, kRootIno);
  ASSERT_TRUE(root.ok());
  for (const auto& e : *root) EXPECT_NE(e.name, ".nexus");
  auto v = ns.Resolve(caller_, "/.nexus/versions/src/app.py/1");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->size, 5u);
  auto nexus_dir = ns.Lookup(caller_, kRootIno, ".nexus");
  ASSERT_TRUE(nexus_dir.ok());
  EXPECT_EQ(ns.MkDir(caller_, nexus_dir->ino, "x", 0755).code(), EROFS);
  EXPECT_EQ(ns.MkDir(caller_, kRootIno, ".nexus", 0755).code(), EEXIST);
}

}  // namespace
}  // namespace nexus::versions
