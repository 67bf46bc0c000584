// The fork registry on real NativeBackends, a real WorkspaceBackend and a
// real Namespace (no FUSE): create, list, discard, gc, /forks, the
// pre-change hook keeping fork points, forks of forks, workspace copies and
// reopening.
#include "forks/fork_registry.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <filesystem>
#include <fstream>

#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/workspace_backend.h"
#include "tests/fs/test_util.h"
#include "tests/temp_dir.h"

namespace nexus::forks {
namespace {

using nexus::testing::RecordingSink;

// A policy double: uid kStranger sees /forks and what is under /forks/mine
// only; everyone else is unrestricted.
class StrangerPolicy final : public AccessPolicy {
 public:
  static constexpr uid_t kStranger = 4242;
  bool Unrestricted(const Caller& c) override { return c.uid != kStranger; }
  bool CanSee(const Caller&, std::string_view path, bool) override {
    return path == "/forks" || PathIsUnder(path, "/forks/mine");
  }
  bool Can(const Caller& c, Need, std::string_view path, bool d) override { return CanSee(c, path, d); }
  void Denied(const Caller&, std::string_view, std::string_view, std::string_view) override {}
  std::string SubjectOf(const Caller& c) override { return UidSubject(c.uid); }
};
using nexus::testing::TempDir;

class ForkRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    me_.uid = ::getuid();
    me_.gid = ::getgid();
    me_.umask = 022;
    std::filesystem::create_directories(tmp_.path() + "/root");
    std::filesystem::create_directories(tmp_.path() + "/host/app/sub");
    Start();
  }
  void TearDown() override { Stop(); }

  // The daemon's start: the tree, the workspace at /zone/local, the
  // registry, then the hook.
  void Start() {
    NativeBackend::Options o;
    o.data_dir = tmp_.path() + "/root";
    o.sink = &sink_;
    o.commit_interval_ms = 1;
    o.root_uid = me_.uid;
    o.root_gid = me_.gid;
    root_ = std::move(NativeBackend::Open(o)).value();
    ns_ = std::make_unique<Namespace>(root_.get());
    ws_ = std::move(WorkspaceBackend::Open(1, tmp_.path() + "/host", nullptr)).value();
    ws_->SetMountPath("/zone/local");
    auto zone = ns_->Lookup(me_, kRootIno, "zone");
    if (!zone.ok()) zone = ns_->MkDir(me_, kRootIno, "zone", 0755);
    ASSERT_TRUE(zone.ok()) << zone.status().ToString();
    ns_->Forget(zone->ino, 1);
    ASSERT_TRUE(ns_->AddMount(zone->ino, "local", ws_.get()).ok());
    ForkRegistry::Options ro;
    ro.data_dir = tmp_.path() + "/forks";
    ro.ns = ns_.get();
    ro.sink = &sink_;
    ro.root_tree = root_.get();
    ro.workspace = ws_.get();
    ro.commit_interval_ms = 1;
    ro.invalidate_entry = [this](Ino, const std::string& name) { invalidated_.push_back(name); };
    auto reg = ForkRegistry::Open(ro);
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    reg_ = std::move(reg).value();
    ns_->SetPreChangeHook(reg_.get());
  }
  void Stop() {
    reg_.reset();
    ns_.reset();
    ws_.reset();
    root_.reset();
  }

  // `path`'s attributes (unpinned: fine for the namespace's own callers in
  // a test, where nothing forgets inodes behind our back).
  Attr Dir(const std::string& path) {
    auto a = ns_->Resolve(me_, path);
    EXPECT_TRUE(a.ok()) << path << ": " << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }
  std::string Parent(const std::string& path) { return std::filesystem::path(path).parent_path().string(); }
  std::string Name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

  Status MkDir(const std::string& path) {
    auto a = ns_->MkDir(me_, Dir(Parent(path)).ino, Name(path), 0755);
    if (a.ok()) ns_->Forget(a->ino, 1);
    return a.status();
  }
  // Writes `text` as the whole content of `path` (created if missing).
  Status Write(const std::string& path, const std::string& text) {
    std::unique_ptr<FileHandle> fh;
    auto existing = ns_->Resolve(me_, path);
    if (existing.ok()) {
      auto pinned = ns_->ResolvePinned(me_, path);
      if (!pinned.ok()) return pinned.status();
      auto opened = ns_->Open(me_, pinned->ino, O_WRONLY | O_TRUNC);
      ns_->Forget(pinned->ino, 1);
      if (!opened.ok()) return opened.status();
      fh = std::move(opened).value();
    } else {
      auto created = ns_->Create(me_, Dir(Parent(path)).ino, Name(path), 0644, O_WRONLY);
      if (!created.ok()) return created.status();
      ns_->Forget(created->attr.ino, 1);
      fh = std::move(created->handle);
    }
    if (::pwrite(fh->fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      return Status::FromErrno("pwrite");
    ns_->OnWrite(*fh, 0, text.size());
    fh->written = true;
    ns_->Release(std::move(fh));
    return Status::Ok();
  }
  Result<std::string> Read(const std::string& path) {
    auto a = ns_->ResolvePinned(me_, path);
    if (!a.ok()) return a.status();
    auto fh = ns_->Open(me_, a->ino, O_RDONLY);
    ns_->Forget(a->ino, 1);
    if (!fh.ok()) return fh.status();
    std::string out(a->size + 4096, '\0');
    ssize_t n = ::pread((*fh)->fd, out.data(), out.size(), 0);
    ns_->Release(std::move(fh).value());
    if (n < 0) return Status::FromErrno("pread");
    out.resize(n);
    return out;
  }
  Status Unlink(const std::string& path) { return ns_->Unlink(me_, Dir(Parent(path)).ino, Name(path)); }
  std::vector<std::string> List(const std::string& path) {
    auto entries = ns_->ReadDir(me_, Dir(path).ino);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    std::vector<std::string> names;
    if (entries.ok())
      for (const auto& e : *entries) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
  }
  void MakeSource() {
    ASSERT_TRUE(MkDir("/src").ok());
    ASSERT_TRUE(MkDir("/src/lib").ok());
    ASSERT_TRUE(Write("/src/a.txt", "one\n").ok());
    ASSERT_TRUE(Write("/src/lib/b.txt", "bee\n").ok());
  }

  TempDir tmp_;
  Caller me_;
  RecordingSink sink_;
  std::unique_ptr<NativeBackend> root_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<WorkspaceBackend> ws_;
  std::unique_ptr<ForkRegistry> reg_;
  std::vector<std::string> invalidated_;
};

TEST_F(ForkRegistryTest, CreateListGetDiscardGc) {
  MakeSource();
  auto info = reg_->Create(me_, "work", "/src/", "");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "work");
  EXPECT_EQ(info->path, "/forks/work");
  EXPECT_EQ(info->base, "/src");
  EXPECT_EQ(info->parent_fork, "");
  EXPECT_EQ(info->owner, "user:uid-" + std::to_string(me_.uid));
  EXPECT_EQ(info->created_by, info->owner);
  EXPECT_EQ(info->pin, "live");
  EXPECT_EQ(info->state, "active");
  EXPECT_GE(info->backend_id, 16);
  EXPECT_GT(info->created_ns, 0);
  EXPECT_EQ(invalidated_, std::vector<std::string>{"work"});

  auto other = reg_->Create(me_, "other", "/src/lib", "agent:bot");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->owner, "agent:bot");
  EXPECT_NE(other->backend_id, info->backend_id);

  auto list = reg_->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "work");
  EXPECT_EQ(list[1].name, "other");
  EXPECT_EQ(List("/forks"), (std::vector<std::string>{"other", "work"}));
  auto root = ns_->Resolve(me_, "/forks/work");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_TRUE(root->IsDir());
  EXPECT_EQ(BackendOf(root->ino), info->backend_id);
  EXPECT_EQ(ns_->PathOf(root->ino), "/forks/work");
  EXPECT_TRUE(reg_->Watched(0));
  ASSERT_TRUE(reg_->Tree("work").ok());

  ASSERT_TRUE(reg_->Discard("work").ok());
  EXPECT_EQ(ns_->Resolve(me_, "/forks/work").code(), ENOENT);
  EXPECT_EQ(ns_->GetAttr(root->ino).code(), ENOENT);  // detached
  EXPECT_EQ(List("/forks"), std::vector<std::string>{"other"});
  EXPECT_EQ(reg_->Get("work")->state, "discarded");
  EXPECT_EQ(reg_->Tree("work").code(), ENOENT);
  EXPECT_EQ(reg_->Discard("work").code(), ENOENT);
  EXPECT_EQ(invalidated_.back(), "work");
  const std::string data = tmp_.path() + "/forks/1";
  EXPECT_TRUE(std::filesystem::exists(data));

  // A discarded fork's name is free again; Get answers the active one.
  auto again = reg_->Create(me_, "work", "/src", "");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(reg_->Get("work")->state, "active");
  EXPECT_NE(again->backend_id, info->backend_id);  // never reused while the daemon runs

  auto gc = reg_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_GT(gc->freed_bytes, 0u);
  EXPECT_FALSE(std::filesystem::exists(data));
  EXPECT_EQ(reg_->List().size(), 2u);
  EXPECT_EQ(reg_->Gc()->removed, 0u);
  ASSERT_TRUE(reg_->Discard("other").ok());
  ASSERT_TRUE(reg_->Discard("work").ok());
  EXPECT_FALSE(reg_->Watched(0));
}

TEST_F(ForkRegistryTest, BadNamesAndPaths) {
  MakeSource();
  ASSERT_TRUE(MkDir("/agents").ok());
  ASSERT_TRUE(MkDir("/agents/bot").ok());
  for (const std::string& name :
       std::vector<std::string>{"", ".hidden", "-x", "a/b", "root", "x.lock", "a..b", std::string(65, 'n')})
    EXPECT_EQ(reg_->Create(me_, name, "/src", "").code(), EINVAL) << name;
  EXPECT_EQ(reg_->Create(me_, "f", "/nope", "").code(), ENOENT);
  EXPECT_EQ(reg_->Create(me_, "f", "/src/a.txt", "").code(), ENOTDIR);
  EXPECT_EQ(reg_->Create(me_, "f", "src", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/src/../src", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/.nexus", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/agents", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/agents/bot", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/forks", "").code(), EINVAL);
  EXPECT_EQ(reg_->Create(me_, "f", "/forks/", "").code(), EINVAL);
  ASSERT_TRUE(reg_->Create(me_, "f", "/src", "").ok());
  EXPECT_EQ(reg_->Create(me_, "f", "/src/lib", "").code(), EEXIST);
  EXPECT_EQ(reg_->Get("nope").code(), ENOENT);
  EXPECT_EQ(reg_->NoteMerged("nope", 1).code(), ENOENT);
  EXPECT_EQ(reg_->List().size(), 1u);
}

TEST_F(ForkRegistryTest, ForksDirIsReadOnly) {
  MakeSource();
  ASSERT_TRUE(reg_->Create(me_, "f", "/src", "").ok());
  auto forks = ns_->Resolve(me_, "/forks");
  ASSERT_TRUE(forks.ok());
  EXPECT_EQ(forks->mode, S_IFDIR | 0755);
  EXPECT_EQ(forks->uid, ::geteuid());
  EXPECT_EQ(ns_->PathOf(forks->ino), "/forks");
  auto mk = ns_->MkDir(me_, forks->ino, "g", 0755);
  EXPECT_EQ(mk.code(), EPERM);
  EXPECT_NE(mk.status().message().find("nexus fork create"), std::string::npos) << mk.status().message();
  EXPECT_EQ(ns_->Create(me_, forks->ino, "g", 0644, O_WRONLY).code(), EPERM);
  EXPECT_EQ(ns_->Symlink(me_, "x", forks->ino, "g").code(), EPERM);
  Status rm = ns_->RmDir(me_, forks->ino, "f");
  EXPECT_EQ(rm.code(), EPERM);
  EXPECT_NE(rm.message().find("nexus fork discard"), std::string::npos) << rm.message();
  EXPECT_EQ(ns_->Unlink(me_, forks->ino, "f").code(), EPERM);
  EXPECT_EQ(ns_->Rename(me_, forks->ino, "f", forks->ino, "g", 0).code(), EPERM);
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0777;
  EXPECT_EQ(ns_->SetAttr(me_, forks->ino, chmod, nullptr).code(), EPERM);
  EXPECT_EQ(ns_->SetXattr(me_, forks->ino, "user.x", "1", 0).code(), EPERM);
  EXPECT_EQ(ns_->Lookup(me_, forks->ino, "nope").code(), ENOENT);
  // Out of a fork into /forks, or across forks: another backend.
  auto root = ns_->Resolve(me_, "/forks/f");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(ns_->Rename(me_, kRootIno, "src", forks->ino, "g", 0).code(), EXDEV);
  EXPECT_EQ(ns_->MkDir(me_, kRootIno, "forks", 0755).code(), EEXIST);
}

TEST_F(ForkRegistryTest, TheForkKeepsItsForkPoint) {
  MakeSource();
  ASSERT_TRUE(reg_->Create(me_, "f", "/src", "").ok());
  EXPECT_EQ(List("/forks/f"), (std::vector<std::string>{"a.txt", "lib"}));
  EXPECT_EQ(*Read("/forks/f/a.txt"), "one\n");

  // The base goes on changing; the fork does not see it.
  ASSERT_TRUE(Write("/src/a.txt", "two\n").ok());
  ASSERT_TRUE(Write("/src/lib/b.txt", "changed\n").ok());
  ASSERT_TRUE(Write("/src/new.txt", "new\n").ok());
  ASSERT_TRUE(MkDir("/src/lib/deeper").ok());
  EXPECT_EQ(*Read("/src/a.txt"), "two\n");
  EXPECT_EQ(*Read("/forks/f/a.txt"), "one\n");
  EXPECT_EQ(*Read("/forks/f/lib/b.txt"), "bee\n");
  EXPECT_EQ(List("/forks/f"), (std::vector<std::string>{"a.txt", "lib"}));
  EXPECT_EQ(List("/forks/f/lib"), std::vector<std::string>{"b.txt"});
  ASSERT_TRUE(Unlink("/src/lib/b.txt").ok());
  EXPECT_EQ(*Read("/forks/f/lib/b.txt"), "bee\n");

  // And the fork's own changes stay in the fork, published under /forks/f.
  ASSERT_TRUE(Write("/forks/f/a.txt", "mine\n").ok());
  EXPECT_EQ(*Read("/forks/f/a.txt"), "mine\n");
  EXPECT_EQ(*Read("/src/a.txt"), "two\n");
  bool published = false;
  for (const auto& ev : sink_.Events()) published |= ev.path == "/forks/f/a.txt";
  EXPECT_TRUE(published);
  EXPECT_GT(reg_->Get("f")->own_bytes, 0u);
}

TEST_F(ForkRegistryTest, AFileOpenForWritingIsKeptAtCreation) {
  MakeSource();
  auto a = ns_->ResolvePinned(me_, "/src/a.txt");
  ASSERT_TRUE(a.ok());
  auto fh = ns_->Open(me_, a->ino, O_WRONLY);
  ns_->Forget(a->ino, 1);
  ASSERT_TRUE(fh.ok()) << fh.status().ToString();
  ASSERT_TRUE(reg_->Create(me_, "f", "/src", "").ok());
  // A write through a handle opened before the fork: no hook call.
  ASSERT_EQ(::pwrite((*fh)->fd, "TWO", 3, 0), 3);
  ns_->OnWrite(**fh, 0, 3);
  (*fh)->written = true;
  ns_->Release(std::move(fh).value());
  EXPECT_EQ(*Read("/src/a.txt"), "TWO\n");
  EXPECT_EQ(*Read("/forks/f/a.txt"), "one\n");
}

TEST_F(ForkRegistryTest, AForkOfAFork) {
  MakeSource();
  ASSERT_TRUE(reg_->Create(me_, "a", "/src", "").ok());
  ASSERT_TRUE(Write("/forks/a/lib/b.txt", "in a\n").ok());
  auto b = reg_->Create(me_, "b", "/forks/a/lib", "");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->parent_fork, "a");
  EXPECT_EQ(b->base, "/forks/a/lib");
  EXPECT_TRUE(reg_->Watched(reg_->Get("a")->backend_id));
  EXPECT_EQ(*Read("/forks/b/b.txt"), "in a\n");

  // a changes after b was made: b keeps its fork point.
  ASSERT_TRUE(Write("/forks/a/lib/b.txt", "a again\n").ok());
  ASSERT_TRUE(Write("/src/lib/b.txt", "base\n").ok());
  EXPECT_EQ(*Read("/forks/b/b.txt"), "in a\n");
  EXPECT_EQ(*Read("/forks/a/lib/b.txt"), "a again\n");

  EXPECT_EQ(reg_->Discard("a").code(), EBUSY);
  ASSERT_TRUE(reg_->Discard("b").ok());
  EXPECT_FALSE(reg_->Watched(reg_->Get("a")->backend_id));
  ASSERT_TRUE(reg_->Discard("a").ok());
  EXPECT_EQ(reg_->Gc()->removed, 2u);
}

TEST_F(ForkRegistryTest, AWorkspaceForkIsACopy) {
  const std::string host = tmp_.path() + "/host/app";
  std::ofstream(host + "/main.c") << "int main;\n";
  std::ofstream(host + "/sub/data.bin") << std::string(10000, 'x');
  ::chmod((host + "/main.c").c_str(), 0640);
  ASSERT_EQ(::symlink("main.c", (host + "/link").c_str()), 0);
  ASSERT_EQ(::link((host + "/main.c").c_str(), (host + "/hard.c").c_str()), 0);
  const bool xattrs = ::setxattr((host + "/main.c").c_str(), "user.tag", "v", 1, 0) == 0;
  timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (host + "/sub/data.bin").c_str(), old, 0), 0);

  auto info = reg_->Create(me_, "ws", "/zone/local/app", "");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->pin, "copy");
  EXPECT_EQ(info->base, "/zone/local/app");
  EXPECT_GE(info->own_bytes, 10000u);
  EXPECT_EQ(List("/forks/ws"), (std::vector<std::string>{"hard.c", "link", "main.c", "sub"}));
  EXPECT_EQ(*Read("/forks/ws/main.c"), "int main;\n");
  EXPECT_EQ(Read("/forks/ws/sub/data.bin")->size(), 10000u);
  auto main = ns_->Resolve(me_, "/forks/ws/main.c");
  ASSERT_TRUE(main.ok());
  EXPECT_EQ(main->mode, S_IFREG | 0640);
  EXPECT_EQ(main->nlink, 2u);
  EXPECT_EQ(main->uid, me_.uid);
  auto hard = ns_->Resolve(me_, "/forks/ws/hard.c");
  ASSERT_TRUE(hard.ok());
  EXPECT_EQ(hard->ino, main->ino);
  auto data = ns_->Resolve(me_, "/forks/ws/sub/data.bin");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->mtime.tv_sec, 1000000000);
  auto link = ns_->Resolve(me_, "/forks/ws/link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(*ns_->ReadLink(link->ino), "main.c");
  if (xattrs) {
    EXPECT_EQ(*ns_->GetXattr(main->ino, "user.tag"), "v");
  }

  // The host folder changes behind nexusd's back: the fork does not.
  std::ofstream(host + "/main.c") << "changed\n";
  std::filesystem::remove(host + "/sub/data.bin");
  EXPECT_EQ(*Read("/forks/ws/main.c"), "int main;\n");
  EXPECT_EQ(Read("/forks/ws/sub/data.bin")->size(), 10000u);
  EXPECT_FALSE(reg_->Watched(1));
}

TEST_F(ForkRegistryTest, ForksAreReopened) {
  MakeSource();
  std::ofstream(tmp_.path() + "/host/app/w.txt") << "ws\n";
  ASSERT_TRUE(reg_->Create(me_, "a", "/src", "agent:x").ok());
  ASSERT_TRUE(Write("/forks/a/a.txt", "fork a\n").ok());
  ASSERT_TRUE(reg_->Create(me_, "b", "/forks/a", "").ok());
  ASSERT_TRUE(reg_->Create(me_, "w", "/zone/local/app", "").ok());
  ASSERT_TRUE(reg_->Create(me_, "gone", "/src", "").ok());
  ASSERT_TRUE(reg_->Discard("gone").ok());
  ASSERT_TRUE(reg_->NoteMerged("a", 12345).ok());
  const auto before = reg_->List();

  Stop();
  Start();
  const auto after = reg_->List();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].name, before[i].name);
    EXPECT_EQ(after[i].base, before[i].base);
    EXPECT_EQ(after[i].owner, before[i].owner);
    EXPECT_EQ(after[i].state, before[i].state);
    EXPECT_EQ(after[i].pin, before[i].pin);
    EXPECT_EQ(after[i].backend_id, before[i].backend_id);
    EXPECT_EQ(after[i].created_ns, before[i].created_ns);
  }
  EXPECT_EQ(reg_->Get("a")->merges, 1u);
  EXPECT_EQ(reg_->Get("a")->last_merge_ns, 12345);
  EXPECT_EQ(reg_->Get("b")->parent_fork, "a");
  EXPECT_EQ(List("/forks"), (std::vector<std::string>{"a", "b", "w"}));
  EXPECT_EQ(*Read("/forks/a/a.txt"), "fork a\n");
  EXPECT_EQ(*Read("/forks/b/a.txt"), "fork a\n");
  EXPECT_EQ(*Read("/forks/w/w.txt"), "ws\n");
  EXPECT_EQ(*Read("/forks/a/lib/b.txt"), "bee\n");

  // The hook is back in force after the restart.
  EXPECT_TRUE(reg_->Watched(0));
  ASSERT_TRUE(Write("/src/lib/b.txt", "after restart\n").ok());
  ASSERT_TRUE(Write("/forks/a/a.txt", "a changed\n").ok());
  EXPECT_EQ(*Read("/forks/a/lib/b.txt"), "bee\n");
  EXPECT_EQ(*Read("/forks/b/a.txt"), "fork a\n");
  // New forks get fresh ids.
  auto c = reg_->Create(me_, "c", "/src", "");
  ASSERT_TRUE(c.ok());
  for (const auto& f : after) EXPECT_NE(c->backend_id, f.backend_id);
  EXPECT_EQ(reg_->Gc()->removed, 1u);
}

TEST_F(ForkRegistryTest, AForkOfALargeFolderTakesConstantTime) {
  constexpr int kFiles = 50000;
  ASSERT_TRUE(MkDir("/big").ok());
  Attr big = Dir("/big");
  Caller c = me_;
  for (int d = 0; d < kFiles / 1000; ++d) {
    auto dir = root_->MkDir(c, big.ino, "d" + std::to_string(d), 0755);
    ASSERT_TRUE(dir.ok());
    for (int i = 0; i < 1000; ++i) {  // symlinks: names without backing files, quick to make
      auto f = root_->Symlink(c, "target", dir->ino, "f" + std::to_string(i));
      ASSERT_TRUE(f.ok());
      root_->Forget(f->ino, 1);
    }
    root_->Forget(dir->ino, 1);
  }
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(reg_->Create(me_, "big", "/big", "").ok());
  const auto took = std::chrono::steady_clock::now() - start;
  RecordProperty("create_us",
                 std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  EXPECT_LT(took, std::chrono::milliseconds(500))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(List("/forks/big").size(), static_cast<size_t>(kFiles / 1000));
}

TEST_F(ForkRegistryTest, ForksListsWhatTheCallerMaySee) {
  MakeSource();
  ASSERT_TRUE(reg_->Create(me_, "mine", "/src", "").ok());
  ASSERT_TRUE(reg_->Create(me_, "theirs", "/src", "").ok());
  StrangerPolicy policy;
  ns_->SetAccessPolicy(&policy);
  Caller stranger = me_;
  stranger.uid = StrangerPolicy::kStranger;
  auto forks = ns_->Resolve(stranger, "/forks");
  ASSERT_TRUE(forks.ok()) << forks.status().ToString();
  auto entries = ns_->ReadDir(stranger, forks->ino);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "mine");
  EXPECT_TRUE(ns_->Resolve(stranger, "/forks/mine/a.txt").ok());
  EXPECT_EQ(ns_->Resolve(stranger, "/forks/theirs").code(), ENOENT);
  EXPECT_EQ(List("/forks"), (std::vector<std::string>{"mine", "theirs"}));
  ns_->SetAccessPolicy(nullptr);
}

TEST_F(ForkRegistryTest, GcRemovesWhatACreationCutShortLeft) {
  MakeSource();
  const std::string orphan = tmp_.path() + "/forks/99";
  std::filesystem::create_directories(orphan + "/data");
  std::ofstream(orphan + "/data/x") << std::string(8192, 'o');
  std::filesystem::create_directories(tmp_.path() + "/forks/merges");  // not a fork's: left alone
  Stop();
  Start();
  auto made = reg_->Create(me_, "f", "/src", "");
  ASSERT_TRUE(made.ok());
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() + "/forks/100"));  // numbers are not reused
  auto gc = reg_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_GE(gc->freed_bytes, 8192u);
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() + "/forks/merges"));
  EXPECT_TRUE(std::filesystem::exists(tmp_.path() + "/forks/100"));
}

TEST_F(ForkRegistryTest, AWorkspaceForkHasAForkPointToDiffAgainst) {
  const std::string host = tmp_.path() + "/host/app";
  std::ofstream(host + "/keep.txt") << "keep\n";
  std::ofstream(host + "/edit.txt") << "before\n";
  ASSERT_TRUE(reg_->Create(me_, "ws", "/zone/local/app", "").ok());
  ASSERT_TRUE(Write("/forks/ws/edit.txt", "after\n").ok());
  ASSERT_TRUE(Write("/forks/ws/new.txt", "new\n").ok());
  auto tree = reg_->Tree("ws");
  ASSERT_TRUE(tree.ok());
  auto changes = (*tree)->Changes();
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  std::vector<std::string> seen;
  for (const auto& c : *changes)
    if (!S_ISDIR(c.mode)) seen.push_back(std::string(ForkChangeKindName(c.kind)) + " " + c.path);
  EXPECT_EQ(seen, (std::vector<std::string>{"modified edit.txt", "added new.txt"}));
}

// Changes to the base run on other threads while forks are made and
// discarded: each fork sees the base as it was at one moment, and keeps it.
TEST_F(ForkRegistryTest, ForksAreMadeWhileTheBaseChanges) {
  MakeSource();
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      ASSERT_TRUE(Write("/src/a.txt", "v" + std::to_string(i) + "\n").ok());
      ++writes;
    }
  });
  for (int n = 0; n < 20; ++n) {
    const std::string name = "f" + std::to_string(n);
    ASSERT_TRUE(reg_->Create(me_, name, "/src", "").ok());
    auto first = Read("/forks/" + name + "/a.txt");
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    const int until = writes.load() + 3;
    while (writes.load() < until) std::this_thread::yield();
    EXPECT_EQ(*Read("/forks/" + name + "/a.txt"), *first) << name;
    if (n % 2) ASSERT_TRUE(reg_->Discard(name).ok());
  }
  stop = true;
  writer.join();
  for (const auto& f : reg_->List())
    if (f.state == "active") EXPECT_TRUE(Read(f.path + "/a.txt").ok());
}

}  // namespace
}  // namespace nexus::forks
