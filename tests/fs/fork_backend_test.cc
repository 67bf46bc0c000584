// A NativeBackend's fork mode: real trees in temp dirs, changed through a
// Namespace whose pre-change hook is a double of the fork registry (it
// computes the chain with ForkSource::ParentOf and calls PreserveBefore on
// every fork of the changed backend, as the registry does).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "base/sqlite_db.h"
#include "fs/fork_point.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "tests/temp_dir.h"

namespace nexus {
namespace {

using testing::TempDir;

// What the fork registry does before a change, for the forks it is given.
class ForksHook final : public PreChangeHook {
 public:
  void Add(NativeBackend* source, NativeBackend* fork) { forks_[source->id()].push_back({source, fork}); }
  void Remove(NativeBackend* fork) {
    for (auto& [id, list] : forks_) std::erase_if(list, [&](const auto& p) { return p.second == fork; });
  }
  bool Watched(uint16_t id) const override {
    auto it = forks_.find(id);
    return it != forks_.end() && !it->second.empty();
  }
  Status BeforeChange(Backend& backend, PreChange kind, Ino ino, std::string_view name) override {
    auto it = forks_.find(backend.id());
    if (it == forks_.end() || it->second.empty()) return Status::Ok();
    NativeBackend* source = it->second.front().first;
    std::vector<Ino> chain;
    for (Ino i = ino; i != 0; i = source->ParentOf(i)) chain.push_back(i);
    for (auto& [src, fork] : it->second) NEXUS_RETURN_IF_ERROR(fork->PreserveBefore(kind, chain, name));
    return Status::Ok();
  }

 private:
  std::map<uint16_t, std::vector<std::pair<NativeBackend*, NativeBackend*>>> forks_;
};

class ForkBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = base_dir_.path();
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    base_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(base_.get());
    ns_->SetPreChangeHook(&hook_);
  }
  void TearDown() override {
    for (auto& f : forks_) ns_->DetachBackend(f.tree->id());
    forks_.clear();
  }

  struct Fork {
    std::unique_ptr<TempDir> dir;
    std::unique_ptr<NativeBackend> tree;
    NativeBackend* source = nullptr;
    Ino lower_root = 0;
  };

  // Forks directory `path` of `source` (the base by default) as backend `id`.
  NativeBackend* MakeFork(const std::string& path, NativeBackend* source = nullptr, uint16_t id = 0) {
    if (!source) source = base_.get();
    Fork f;
    f.dir = std::make_unique<TempDir>();
    f.source = source;
    f.lower_root = Walk(path);
    if (!id) id = static_cast<uint16_t>(forks_.size() + 1);
    OpenFork(f, id);
    forks_.push_back(std::move(f));
    return forks_.back().tree.get();
  }
  void OpenFork(Fork& f, uint16_t id) {
    NativeBackend::Options o;
    o.data_dir = f.dir->path();
    o.backend_id = id;
    o.lower = f.source;
    o.lower_root = f.lower_root;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    f.tree = std::move(b).value();
    ASSERT_TRUE(ns_->AttachBackend(f.tree.get()).ok());
    hook_.Add(f.source, f.tree.get());
  }
  // Closes and reopens fork `i` over the same source.
  void ReopenFork(size_t i) {
    Fork& f = forks_[i];
    const uint16_t id = f.tree->id();
    hook_.Remove(f.tree.get());
    ns_->DetachBackend(id);
    f.tree.reset();
    OpenFork(f, id);
  }

  // Paths: "/a/b" in the base, "1:/a/b" in the tree of backend 1.
  Ino Walk(const std::string& spec) {
    Ino ino = kRootIno;
    std::string path = spec;
    if (auto colon = spec.find(':'); colon != std::string::npos) {
      ino = MakeIno(static_cast<uint16_t>(std::stoi(spec.substr(0, colon))), 1);
      path = spec.substr(colon + 1);
    }
    size_t pos = 1;
    while (pos < path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      auto a = ns_->Lookup(caller_, ino, path.substr(pos, next - pos));
      if (!a.ok()) return 0;
      ino = a->ino;
      pos = next + 1;
    }
    return ino;
  }
  std::pair<Ino, std::string> Split(const std::string& spec) {
    size_t slash = spec.rfind('/');
    std::string dir = spec.substr(0, slash);
    if (dir.empty() || dir.back() == ':') dir += "/";
    return {Walk(dir), spec.substr(slash + 1)};
  }

  void Write(const std::string& spec, const std::string& data, int flags = O_WRONLY | O_TRUNC) {
    Ino ino = Walk(spec);
    std::unique_ptr<FileHandle> fh;
    if (!ino) {
      auto [dir, name] = Split(spec);
      ASSERT_NE(dir, 0u) << spec;
      auto c = ns_->Create(caller_, dir, name, 0644, O_WRONLY);
      ASSERT_TRUE(c.ok()) << spec << ": " << c.status().ToString();
      fh = std::move(c->handle);
    } else {
      auto o = ns_->Open(caller_, ino, flags);
      ASSERT_TRUE(o.ok()) << spec << ": " << o.status().ToString();
      fh = std::move(o).value();
    }
    off_t at = 0;
    if (flags & O_APPEND) {
      auto a = ns_->GetAttr(fh->ino);
      at = static_cast<off_t>(a->size);
    }
    ASSERT_EQ(::pwrite(fh->fd, data.data(), data.size(), at), static_cast<ssize_t>(data.size()));
    fh->written = true;
    ns_->OnWrite(*fh, at, data.size());
    ns_->Release(std::move(fh));
  }
  std::string Read(const std::string& spec) {
    Ino ino = Walk(spec);
    if (!ino) return "<missing>";
    auto o = ns_->Open(caller_, ino, O_RDONLY);
    if (!o.ok()) return "<" + o.status().ToString() + ">";
    std::string out = ReadFd((*o)->fd);
    ns_->Release(std::move(o).value());
    return out;
  }
  static std::string ReadFd(int fd) {
    std::string out;
    char buf[4096];
    for (off_t off = 0;;) {
      ssize_t n = ::pread(fd, buf, sizeof buf, off);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }
  std::vector<std::string> List(const std::string& spec) {
    auto e = ns_->ReadDir(caller_, Walk(spec));
    std::vector<std::string> names;
    if (!e.ok()) return {"<" + e.status().ToString() + ">"};
    for (const auto& d : *e) names.push_back(d.name);
    std::sort(names.begin(), names.end());
    return names;
  }
  void MkDir(const std::string& spec) {
    auto [dir, name] = Split(spec);
    ASSERT_TRUE(ns_->MkDir(caller_, dir, name, 0755).ok()) << spec;
  }
  Status Unlink(const std::string& spec) {
    auto [dir, name] = Split(spec);
    return ns_->Unlink(caller_, dir, name);
  }
  Status Rename(const std::string& from, const std::string& to, unsigned flags = 0) {
    auto [d1, n1] = Split(from);
    auto [d2, n2] = Split(to);
    return ns_->Rename(caller_, d1, n1, d2, n2, flags);
  }
  Attr Stat(const std::string& spec) { return *ns_->GetAttr(Walk(spec)); }
  std::string Describe(const std::vector<ForkChange>& changes) {
    std::string out;
    for (const auto& c : changes) {
      out += std::string(ForkChangeKindName(c.kind)) + " " + c.path;
      if (!c.old_path.empty()) out += " <- " + c.old_path;
      if (c.content_changed) out += " +content";
      if (c.mode && c.old_mode && c.mode != c.old_mode) out += " +mode";
      out += "\n";
    }
    return out;
  }

  // The source tree most tests fork: /src/{a,b,sub/{c,d},link->a}.
  void MakeSource() {
    MkDir("/src");
    Write("/src/a", "alpha\n");
    Write("/src/b", "beta\n");
    MkDir("/src/sub");
    Write("/src/sub/c", "gamma\n");
    Write("/src/sub/d", "delta\n");
    auto [dir, name] = Split("/src/link");
    ASSERT_TRUE(ns_->Symlink(caller_, "a", dir, name).ok());
  }

  TempDir base_dir_;
  std::unique_ptr<NativeBackend> base_;
  ForksHook hook_;
  std::unique_ptr<Namespace> ns_;
  std::vector<Fork> forks_;
  Caller caller_;
};

TEST_F(ForkBackendTest, ReadsFallThroughAndNothingIsCopied) {
  MakeSource();
  NativeBackend* f = MakeFork("/src");
  EXPECT_EQ(List("1:/"), (std::vector<std::string>{"a", "b", "link", "sub"}));
  EXPECT_EQ(Read("1:/a"), "alpha\n");
  EXPECT_EQ(Read("1:/sub/d"), "delta\n");
  auto link = ns_->ReadLink(Walk("1:/link"));
  EXPECT_EQ(*link, "a");
  EXPECT_EQ(Stat("1:/a").size, 6u);
  EXPECT_EQ(Stat("1:/a").mode, Stat("/src/a").mode);
  EXPECT_EQ(f->OwnBytes(), 0u);
  auto changes = f->Changes();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Describe(*changes), "");
}

TEST_F(ForkBackendTest, BaseChangesAfterForkTimeAreInvisible) {
  MakeSource();
  MkDir("/src/gone");
  Write("/src/gone/g", "g\n");
  Write("/src/sub/e", "epsilon\n");
  MakeFork("/src");              // nothing looked into yet: every change below hits lazy parts
  Write("/src/a", "changed\n");  // O_TRUNC + write
  Write("/src/b", "more\n", O_WRONLY | O_APPEND);  // append
  ASSERT_TRUE(Unlink("/src/sub/c").ok());          // unlink in a lazy subdir
  ASSERT_TRUE(Unlink("/src/gone/g").ok());
  ASSERT_TRUE(ns_->RmDir(caller_, Walk("/src"), "gone").ok());
  ASSERT_TRUE(Rename("/src/sub/d", "/moved").ok());  // out of the fork
  Write("/moved", "overwritten\n");
  Write("/outside", "o\n");
  ASSERT_TRUE(Rename("/outside", "/src/sub/e").ok());  // over a file
  Write("/src/new", "n\n");                            // create
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode | SetAttrRequest::kUid;
  chmod.mode = 0600;
  chmod.uid = 42;
  ASSERT_TRUE(ns_->SetAttr(caller_, Walk("/src/link"), chmod, nullptr).ok());
  ASSERT_TRUE(ns_->SetXattr(caller_, Walk("/src/sub"), "user.k", "v", 0).ok());
  auto [dir, name] = Split("/src/hard");
  ASSERT_TRUE(ns_->Link(caller_, Walk("/src/b"), dir, name).ok());
  SetAttrRequest trunc;
  trunc.valid = SetAttrRequest::kSize;
  trunc.size = 1;
  ASSERT_TRUE(ns_->SetAttr(caller_, Walk("/src/hard"), trunc, nullptr).ok());

  EXPECT_EQ(List("1:/"), (std::vector<std::string>{"a", "b", "gone", "link", "sub"}));
  EXPECT_EQ(Read("1:/a"), "alpha\n");
  EXPECT_EQ(Read("1:/b"), "beta\n");
  EXPECT_EQ(List("1:/sub"), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(Read("1:/sub/c"), "gamma\n");
  EXPECT_EQ(Read("1:/sub/d"), "delta\n");
  EXPECT_EQ(Read("1:/sub/e"), "epsilon\n");
  EXPECT_EQ(Read("1:/gone/g"), "g\n");
  EXPECT_EQ(Stat("1:/link").uid, 0u);
  EXPECT_EQ(Stat("1:/b").nlink, 1u);
  EXPECT_FALSE(ns_->GetXattr(Walk("1:/sub"), "user.k").ok());
  // And the base has every change.
  EXPECT_EQ(Read("/src/a"), "changed\n");
  EXPECT_EQ(Read("/src/b"), "b");
  EXPECT_EQ(Read("/src/sub/e"), "o\n");
}

TEST_F(ForkBackendTest, AnFdOpenForWritingBeforeTheForkCannotLeak) {
  MakeSource();
  auto o = ns_->Open(caller_, Walk("/src/a"), O_WRONLY);
  ASSERT_TRUE(o.ok());
  MakeFork("/src");
  ASSERT_EQ(::pwrite((*o)->fd, "ALPHA", 5, 0), 5);
  ns_->OnWrite(**o, 0, 5);
  ns_->Release(std::move(o).value());
  EXPECT_EQ(Read("/src/a"), "ALPHA\n");
  EXPECT_EQ(Read("1:/a"), "alpha\n");
}

TEST_F(ForkBackendTest, ForkChangesAreInvisibleInTheBase) {
  MakeSource();
  NativeBackend* f = MakeFork("/src");
  Write("1:/a", "fork a\n");
  Write("1:/sub/new", "new\n");
  ASSERT_TRUE(Unlink("1:/b").ok());
  ASSERT_TRUE(Rename("1:/sub/c", "1:/c2").ok());
  MkDir("1:/dir");
  EXPECT_EQ(Read("1:/a"), "fork a\n");
  EXPECT_EQ(Read("1:/c2"), "gamma\n");
  EXPECT_EQ(List("1:/"), (std::vector<std::string>{"a", "c2", "dir", "link", "sub"}));
  EXPECT_EQ(List("/src"), (std::vector<std::string>{"a", "b", "link", "sub"}));
  EXPECT_EQ(List("/src/sub"), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(Read("/src/a"), "alpha\n");
  EXPECT_GT(f->OwnBytes(), 0u);
}

TEST_F(ForkBackendTest, TruncateAndFallocateCopyUp) {
  MakeSource();
  MakeFork("/src");
  SetAttrRequest trunc;
  trunc.valid = SetAttrRequest::kSize;
  trunc.size = 3;
  ASSERT_TRUE(ns_->SetAttr(caller_, Walk("1:/a"), trunc, nullptr).ok());
  EXPECT_EQ(Read("1:/a"), "alp");
  EXPECT_EQ(Read("/src/a"), "alpha\n");
  Write("1:/b", "B", O_WRONLY);  // no O_TRUNC: the rest of the origin stays
  EXPECT_EQ(Read("1:/b"), "Beta\n");
}

TEST_F(ForkBackendTest, ReadersOfTheOriginSeeLaterWrites) {
  MakeSource();
  MakeFork("/src");
  auto reader = ns_->Open(caller_, Walk("1:/a"), O_RDONLY);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadFd((*reader)->fd), "alpha\n");
  Write("1:/a", "ALPHA\n", O_WRONLY);  // copy-up moves the reader onto the fork's content
  EXPECT_EQ(ReadFd((*reader)->fd), "ALPHA\n");
  ns_->Release(std::move(reader).value());

  // A reader of a file the base then rewrites keeps the fork point.
  auto r2 = ns_->Open(caller_, Walk("1:/b"), O_RDONLY);
  ASSERT_TRUE(r2.ok());
  Write("/src/b", "rewritten\n", O_WRONLY);
  EXPECT_EQ(ReadFd((*r2)->fd), "beta\n");
  ns_->Release(std::move(r2).value());
}

TEST_F(ForkBackendTest, HardLinksAndRenamesInsideTheFork) {
  MakeSource();
  auto [dir, name] = Split("/src/sub/a2");
  ASSERT_TRUE(ns_->Link(caller_, Walk("/src/a"), dir, name).ok());
  MakeFork("/src");
  EXPECT_EQ(List("1:/sub"), (std::vector<std::string>{"a2", "c", "d"}));
  EXPECT_EQ(Walk("1:/a"), Walk("1:/sub/a2"));  // one node, two names
  EXPECT_EQ(Stat("1:/a").nlink, 2u);
  Write("1:/sub/a2", "linked\n");
  EXPECT_EQ(Read("1:/a"), "linked\n");
  auto [fdir, fname] = Split("1:/third");
  ASSERT_TRUE(ns_->Link(caller_, Walk("1:/a"), fdir, fname).ok());
  EXPECT_EQ(Stat("1:/a").nlink, 3u);
  ASSERT_TRUE(Rename("1:/sub", "1:/renamed").ok());
  EXPECT_EQ(Read("1:/renamed/c"), "gamma\n");
  EXPECT_EQ(Read("1:/renamed/a2"), "linked\n");
  ASSERT_TRUE(Rename("1:/b", "1:/renamed/c").ok());  // over
  EXPECT_EQ(Read("1:/renamed/c"), "beta\n");
  ASSERT_TRUE(Rename("1:/a", "1:/link", RENAME_EXCHANGE).ok());
  EXPECT_EQ(Read("1:/link"), "linked\n");
  EXPECT_EQ(ns_->RmDir(caller_, Walk("1:/"), "renamed").code(), ENOTEMPTY);
  EXPECT_EQ(Read("/src/a"), "alpha\n");
}

TEST_F(ForkBackendTest, ChangesOfEveryKind) {
  MakeSource();
  MkDir("/src/olddir");
  Write("/src/same", "same\n");
  NativeBackend* f = MakeFork("/src");
  Write("1:/a", "alpha changed\n");                              // modified
  ASSERT_TRUE(Unlink("1:/b").ok());                              // deleted
  ASSERT_TRUE(Rename("1:/sub/c", "1:/c").ok());                  // renamed
  Write("1:/new", "new\n");                                      // added
  MkDir("1:/newdir");                                            // added dir
  ASSERT_TRUE(ns_->RmDir(caller_, Walk("1:/"), "olddir").ok());  // deleted dir
  Write("1:/same", "same\n");                                    // written, same bytes: no change
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0755;
  ASSERT_TRUE(ns_->SetAttr(caller_, Walk("1:/sub/d"), chmod, nullptr).ok());  // mode
  Write("/src/a", "base moved on\n");  // the base's own change is not the fork's
  auto changes = f->Changes();
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  EXPECT_EQ(Describe(*changes),
            "modified a +content\n"
            "deleted b\n"
            "renamed c <- sub/c\n"
            "added new +content\n"
            "added newdir\n"
            "deleted olddir\n"
            "modified sub/d +mode\n");
  for (const auto& c : *changes) {
    if (c.path == "newdir") {
      EXPECT_TRUE(S_ISDIR(c.mode));
    }
    if (c.path == "olddir") {
      EXPECT_TRUE(S_ISDIR(c.old_mode));
    }
    if (c.path == "a") {
      auto fd = f->OpenOrigin(c.origin);
      ASSERT_TRUE(fd.ok());
      EXPECT_EQ(ReadFd(*fd), "alpha\n");  // the fork point, not the live base
      ::close(*fd);
    }
  }
}

TEST_F(ForkBackendTest, AReplacedPathIsOneChange) {
  MakeSource();
  NativeBackend* f = MakeFork("/src");
  Write("1:/a.tmp", "alpha edited\n");
  ASSERT_TRUE(Rename("1:/a.tmp", "1:/a").ok());  // an editor's save
  ASSERT_TRUE(Unlink("1:/b").ok());
  Write("1:/b", "beta\n");                           // made again, same bytes
  ASSERT_TRUE(Rename("1:/sub/c", "1:/sub/d").ok());  // a rename over
  auto changes = f->Changes();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Describe(*changes), "modified a +content\nrenamed sub/d <- sub/c\n");
  for (const auto& c : *changes)
    if (c.path == "a") {
      auto fd = f->OpenOrigin(c.origin);
      ASSERT_TRUE(fd.ok());
      EXPECT_EQ(ReadFd(*fd), "alpha\n");
      ::close(*fd);
    }
}

TEST_F(ForkBackendTest, ChangesOfHardLinks) {
  MakeSource();
  for (const std::string file : {"/src/a", "/src/b"}) {
    auto [dir, n] = Split(file + "2");
    ASSERT_TRUE(ns_->Link(caller_, Walk(file), dir, n).ok());
  }
  NativeBackend* f = MakeFork("/src");
  EXPECT_EQ(Stat("1:/a").nlink, 2u);
  ReopenFork(0);  // both names of each at the fork point survive a reopen
  f = forks_[0].tree.get();
  ASSERT_TRUE(Unlink("1:/a2").ok());  // a second name goes
  ASSERT_TRUE(Unlink("1:/b").ok());   // a first name goes, the other stays
  auto [dir, n] = Split("1:/a3");
  ASSERT_TRUE(ns_->Link(caller_, Walk("1:/a"), dir, n).ok());  // a name the fork gives
  auto changes = f->Changes();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Describe(*changes), "deleted a2\nadded a3 +content\ndeleted b\n");
}

TEST_F(ForkBackendTest, ReopenContinuesExactly) {
  MakeSource();
  MakeFork("/src");
  Write("1:/a", "fork\n");
  EXPECT_EQ(List("1:/sub"), (std::vector<std::string>{"c", "d"}));
  Write("/src/b", "base\n");  // b's fork point is kept in origin/
  ASSERT_TRUE(Unlink("1:/sub/c").ok());
  ReopenFork(0);
  EXPECT_EQ(Read("1:/a"), "fork\n");
  EXPECT_EQ(Read("1:/b"), "beta\n");
  EXPECT_EQ(List("1:/sub"), (std::vector<std::string>{"d"}));
  EXPECT_EQ(Read("1:/sub/d"), "delta\n");
  Write("/src/sub/d", "changed after reopen\n");
  EXPECT_EQ(Read("1:/sub/d"), "delta\n");
  auto changes = forks_[0].tree->Changes();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Describe(*changes), "modified a +content\ndeleted sub/c\n");
}

TEST_F(ForkBackendTest, ForksOfForks) {
  MakeSource();
  MakeFork("/src");
  Write("1:/a", "one\n");
  NativeBackend* second = MakeFork("1:/", forks_[0].tree.get(), 2);
  EXPECT_EQ(Read("2:/a"), "one\n");
  EXPECT_EQ(Read("2:/sub/c"), "gamma\n");
  Write("1:/a", "one again\n");
  Write("1:/sub/c", "fork one's c\n");
  Write("/src/sub/d", "base d\n");  // the first fork keeps it; the second reads through it
  EXPECT_EQ(Read("2:/a"), "one\n");
  EXPECT_EQ(Read("2:/sub/c"), "gamma\n");
  EXPECT_EQ(Read("2:/sub/d"), "delta\n");
  Write("2:/b", "two\n");
  EXPECT_EQ(Read("1:/b"), "beta\n");
  auto changes = second->Changes();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Describe(*changes), "modified b +content\n");
}

TEST_F(ForkBackendTest, ConcurrentBaseWriterAndForkReaders) {
  MkDir("/src");
  constexpr int kFiles = 20;
  for (int i = 0; i < kFiles; ++i) Write("/src/f" + std::to_string(i), "v0:" + std::to_string(i));
  MakeFork("/src");
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread writer([&] {
    for (int round = 1; round < 30; ++round)
      for (int i = 0; i < kFiles; ++i)
        Write("/src/f" + std::to_string(i), "v" + std::to_string(round) + ":x");
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      for (int n = 0; !stop; ++n) {
        int i = (n + r) % kFiles;
        const std::string want = "v0:" + std::to_string(i);
        // A read already running when the fork's readers move onto the kept
        // copy may finish on the source's file: the next read may not.
        std::string got = Read("1:/f" + std::to_string(i));
        if (got != want) got = Read("1:/f" + std::to_string(i));
        if (got != want && wrong++ == 0) ADD_FAILURE() << "f" << i << ": " << got;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(Read("/src/f3"), "v29:x");
}

// A data dir of schema version 1 (before forks) opens unchanged.
TEST_F(ForkBackendTest, AVersionOneTreeMigrates) {
  TempDir old;
  {
    NativeBackend::Options o;
    o.data_dir = old.path();
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok());
    auto c = (*b)->Create(caller_, (*b)->root(), "kept", 0644, O_WRONLY);
    ASSERT_TRUE(c.ok());
    (*b)->Release(std::move(c->handle));
  }
  {
    auto db = SqliteDb::Open(old.path() + "/meta.db", {.what = "test"});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("ALTER TABLE inodes DROP COLUMN origin; ALTER TABLE inodes DROP COLUMN fork_flags;"
                           "DROP TABLE fork_points; UPDATE meta SET value=1 WHERE key='schema_version'")
                    .ok());
  }
  NativeBackend::Options o;
  o.data_dir = old.path();
  auto b = NativeBackend::Open(o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto a = (*b)->Lookup(caller_, (*b)->root(), "kept");
  EXPECT_TRUE(a.ok());
  auto db = SqliteDb::Open(old.path() + "/meta.db", {.what = "test"});
  Statement s = (*db)->Prepare("SELECT value FROM meta WHERE key='schema_version'");
  ASSERT_TRUE(s.Next());
  EXPECT_EQ(s.Int(0), 2);
}

TEST_F(ForkBackendTest, AnOrdinaryTreeIsNoFork) {
  EXPECT_EQ(base_->PreserveBefore(PreChange::kContent, {kRootIno}, {}).code(), EINVAL);
  EXPECT_EQ(base_->Changes().status().code(), EINVAL);
}

}  // namespace
}  // namespace nexus
