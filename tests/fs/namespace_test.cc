#include "fs/namespace.h"

#include <fcntl.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "base/layout.h"
#include "fs/native_backend.h"
#include "fs/path_files.h"
#include "fs/workspace_backend.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using testing::TempDir;

// Two native backends: the root tree (id 0) and a second tree (id 1)
// grafted at /zone/other, standing in for any mounted zone.
class NamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = root_dir_.path();
    root_ = std::move(NativeBackend::Open(o)).value();
    o.data_dir = zone_dir_.path();
    o.backend_id = 1;
    zone_ = std::move(NativeBackend::Open(o)).value();
    ns_ = std::make_unique<Namespace>(root_.get());
    zone_parent_ = ns_->MkDir(caller_, kRootIno, "zone", 0755)->ino;
    ASSERT_TRUE(ns_->AddMount(zone_parent_, "other", zone_.get()).ok());
  }

  TempDir root_dir_, zone_dir_;
  Caller caller_;
  std::unique_ptr<NativeBackend> root_, zone_;
  std::unique_ptr<Namespace> ns_;
  Ino zone_parent_ = 0;
};

TEST_F(NamespaceTest, LookupCrossesIntoMountedBackend) {
  auto m = ns_->Lookup(caller_, zone_parent_, "other");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(BackendOf(m->ino), 1);
  auto f = ns_->Create(caller_, m->ino, "inside", 0644, O_WRONLY);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(BackendOf(f->attr.ino), 1);
  ns_->Release(std::move(f->handle));
  auto resolved = ns_->Resolve(caller_, "/zone/other/inside");
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->ino, f->attr.ino);
}

TEST_F(NamespaceTest, ReadDirListsMountPoint) {
  auto entries = ns_->ReadDir(caller_, zone_parent_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "other");
  EXPECT_EQ((*entries)[0].type, static_cast<mode_t>(S_IFDIR));
}

TEST_F(NamespaceTest, MountPointCannotBeRemovedOrReplaced) {
  EXPECT_EQ(ns_->RmDir(caller_, zone_parent_, "other").code(), EBUSY);
  EXPECT_EQ(ns_->Unlink(caller_, zone_parent_, "other").code(), EBUSY);
  EXPECT_EQ(ns_->Rename(caller_, zone_parent_, "other", kRootIno, "x", 0).code(), EBUSY);
  EXPECT_EQ(ns_->MkDir(caller_, zone_parent_, "other", 0755).code(), EEXIST);
  auto f = ns_->Create(caller_, kRootIno, "f", 0644, O_WRONLY);
  ns_->Release(std::move(f->handle));
  EXPECT_EQ(ns_->Rename(caller_, kRootIno, "f", zone_parent_, "other", 0).code(), EBUSY);
}

TEST_F(NamespaceTest, RenameAndLinkAcrossBackendsAreExdev) {
  auto f = ns_->Create(caller_, kRootIno, "f", 0644, O_WRONLY);
  ns_->Release(std::move(f->handle));
  Ino zroot = zone_->root();
  EXPECT_EQ(ns_->Rename(caller_, kRootIno, "f", zroot, "f", 0).code(), EXDEV);
  EXPECT_EQ(ns_->Link(caller_, f->attr.ino, zroot, "f").code(), EXDEV);
}

TEST_F(NamespaceTest, InvalidNamesAreRefused) {
  for (const char* bad : {"", ".", "..", "a/b"})
    EXPECT_EQ(ns_->MkDir(caller_, kRootIno, bad, 0755).code(), EINVAL) << bad;
  EXPECT_EQ(ns_->MkDir(caller_, kRootIno, std::string(256, 'n'), 0755).code(), ENAMETOOLONG);
  EXPECT_EQ(ns_->GetAttr(MakeIno(7, 1)).code(), ENOENT);
}

// Mounts may be added while other threads walk the namespace (nexusd's
// background walks start before its last part grafts its tree): a reader
// sees each mount whole or not at all, never a table being moved under it,
// and the table's bound is an error, not an overflow.
TEST_F(NamespaceTest, MountsAddedWhileOthersLookUpAppearWhole) {
  constexpr size_t kAdded = Namespace::kMaxMounts - 1;  // after zone/other
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<NativeBackend>> backends;
  for (size_t i = 0; i < kAdded; ++i) {
    dirs.push_back(std::make_unique<TempDir>());
    NativeBackend::Options o;
    o.data_dir = dirs.back()->path();
    o.backend_id = static_cast<uint16_t>(10 + i);
    backends.push_back(std::move(NativeBackend::Open(o)).value());
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < kAdded; ++i) names.push_back("m" + std::to_string(i));
  // Many rounds on fresh namespaces, two readers each, so that adds land
  // while a reader is inside the table.
  std::atomic<int> wrong{0};
  std::atomic<long> seen{0};
  for (int round = 0; round < 200; ++round) {
    Namespace ns(root_.get());
    ASSERT_TRUE(ns.AddMount(zone_parent_, "other", zone_.get()).ok());
    std::atomic<bool> done{false};
    std::atomic<int> ready{0};
    auto read = [&] {
      ++ready;
      while (!done.load()) {
        for (size_t i = 0; i < kAdded; ++i) {
          auto a = ns.Lookup(caller_, kRootIno, names[i]);
          if (a.ok() ? a->ino != backends[i]->root() : a.code() != ENOENT) ++wrong;
          if (a.ok()) ++seen;
        }
        auto other = ns.Lookup(caller_, zone_parent_, "other");  // there all along
        if (!other.ok() || other->ino != zone_->root()) ++wrong;
      }
    };
    std::thread r1(read), r2(read);
    while (ready.load() < 2) std::this_thread::yield();
    for (size_t i = 0; i < kAdded; ++i) {
      EXPECT_TRUE(ns.AddMount(kRootIno, names[i], backends[i].get()).ok());
      std::this_thread::yield();
    }
    done = true;
    r1.join();
    r2.join();
    if (round == 0) {
      auto entries = ns.ReadDir(caller_, kRootIno);
      ASSERT_TRUE(entries.ok());
      EXPECT_EQ(entries->size(), 1 + kAdded);  // "zone" and every mount
      TempDir extra_dir;
      NativeBackend::Options o;
      o.data_dir = extra_dir.path();
      o.backend_id = 9;
      auto extra = std::move(NativeBackend::Open(o)).value();
      Status full = ns.AddMount(kRootIno, "one-too-many", extra.get());
      EXPECT_EQ(full.code(), ENOSPC) << full.ToString();
      EXPECT_EQ(ns.Lookup(caller_, kRootIno, "one-too-many").code(), ENOENT);
    }
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(seen.load(), 0);
}

// A hidden mount (like ZFS's .zfs) is reachable by name but not listed, and
// its name cannot be taken by a real entry.
TEST_F(NamespaceTest, HiddenMountIsReachableButNotListed) {
  TempDir dir;
  NativeBackend::Options o;
  o.data_dir = dir.path();
  o.backend_id = 2;
  auto hidden = std::move(NativeBackend::Open(o)).value();
  ASSERT_TRUE(ns_->AddMount(kRootIno, ".hidden", hidden.get(), /*hidden=*/true).ok());

  auto entries = ns_->ReadDir(caller_, kRootIno);
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_EQ(names, std::vector<std::string>{"zone"});

  auto m = ns_->Lookup(caller_, kRootIno, ".hidden");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ino, hidden->root());
  auto made = ns_->MkDir(caller_, m->ino, "inside", 0755);
  ASSERT_TRUE(made.ok());
  auto resolved = ns_->Resolve(caller_, "/.hidden/inside");
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(resolved->ino, made->ino);

  EXPECT_EQ(ns_->MkDir(caller_, kRootIno, ".hidden", 0755).code(), EEXIST);
  EXPECT_EQ(ns_->Create(caller_, kRootIno, ".hidden", 0644, O_WRONLY).code(), EISDIR);
  EXPECT_EQ(ns_->RmDir(caller_, kRootIno, ".hidden").code(), EBUSY);
  // A visible mount in the same directory is still listed.
  auto zone_entries = ns_->ReadDir(caller_, zone_parent_);
  ASSERT_TRUE(zone_entries.ok());
  ASSERT_EQ(zone_entries->size(), 1u);
  EXPECT_EQ((*zone_entries)[0].name, "other");
}

// A workspace forgets unreferenced inode numbers, so resolving a deep path
// must hold each component until the next one is found.
// A user folder at a name NexusFS now reserves is moved aside at start,
// content intact, to the smallest free "<name>.user-<n>".
TEST_F(NamespaceTest, ReservedTopLevelNamesAreRenamedAside) {
  PathFiles files(ns_.get());
  Caller root;
  ASSERT_TRUE(files.Write(root, "/tools/x", "tool bytes", WriteOptions{.create_parents = true}).ok());
  ASSERT_TRUE(files.Write(root, "/tools.user-1", "already here", WriteOptions{}).ok());
  ASSERT_TRUE(files.Write(root, "/agents", "a file, not a folder", WriteOptions{}).ok());
  ASSERT_TRUE(files.MkDir(root, "/keep/tools", 0755, true).ok());  // not top level

  auto moved = RenameReservedAside(*ns_);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  ASSERT_EQ(moved->size(), 2u);
  EXPECT_EQ((*moved)[0].from, "/agents");
  EXPECT_EQ((*moved)[0].to, "/agents.user-1");
  EXPECT_EQ((*moved)[1].from, "/tools");
  EXPECT_EQ((*moved)[1].to, "/tools.user-2");

  EXPECT_EQ(files.Read(root, "/tools.user-2/x", 0, 0, 1 << 20, nullptr).value(), "tool bytes");
  EXPECT_EQ(files.Read(root, "/tools.user-1", 0, 0, 1 << 20, nullptr).value(), "already here");
  EXPECT_EQ(files.Read(root, "/agents.user-1", 0, 0, 1 << 20, nullptr).value(), "a file, not a folder");
  EXPECT_EQ(files.Stat(root, "/tools").code(), ENOENT);
  EXPECT_EQ(files.Stat(root, "/agents").code(), ENOENT);
  EXPECT_EQ(files.Stat(root, "/forks").code(), ENOENT);
  EXPECT_TRUE(files.Stat(root, "/keep/tools").ok());

  // Nothing left to move the second time.
  auto again = RenameReservedAside(*ns_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(NamespaceTest, ReservedFolderMarkedAsNexusFSsOwnStays) {
  PathFiles files(ns_.get());
  Caller root;
  ASSERT_TRUE(files.Write(root, "/agents/a/AGENT.json", "{}", WriteOptions{.create_parents = true}).ok());
  auto dir = files.Stat(root, "/agents");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(ns_->SetXattr(root, dir->attr.ino, std::string(layout::kReservedXattr), "agents", 0).ok());
  auto moved = RenameReservedAside(*ns_);
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(moved->empty());
  EXPECT_TRUE(files.Stat(root, "/agents/a/AGENT.json").ok());
}

// Once reserved, the agents' homes are the daemon's: nobody else, root
// included, makes, renames or removes their structure or writes a record.
TEST_F(NamespaceTest, AgentHomesAreKeptByTheDaemonOnly) {
  PathFiles files(ns_.get());
  Principal daemon_principal;
  daemon_principal.how = AuthMethod::kDaemon;
  daemon_principal.admin = true;
  Caller daemon;
  daemon.principal = &daemon_principal;
  Caller root;  // no principal: root, but not the daemon
  WriteOptions record;
  record.create_parents = true;
  record.mode = 0444;
  ASSERT_TRUE(files.Write(daemon, "/agents/a/AGENT.json", "{}", record).ok());
  ASSERT_TRUE(files.MkDir(daemon, "/agents/a/inbox", 0777, false).ok());
  auto agents = files.Stat(root, "/agents");
  ASSERT_TRUE(agents.ok());
  ns_->ReserveAgentHomes(agents->attr.ino);

  EXPECT_EQ(files.Write(root, "/agents/a/AGENT.json", "x", WriteOptions{}).code(), EPERM);
  EXPECT_EQ(files.Unlink(root, "/agents/a/AGENT.json").code(), EPERM);
  EXPECT_EQ(files.Rename(root, "/agents/a/AGENT.json", "/agents/a/inbox/r").code(), EPERM);
  EXPECT_EQ(files.RmDir(root, "/agents/a/inbox").code(), EPERM);
  EXPECT_EQ(files.MkDir(root, "/agents/b", 0755, false).code(), EPERM);
  EXPECT_EQ(files.Rename(root, "/agents/a", "/agents/c").code(), EPERM);
  EXPECT_EQ(files.Rename(root, "/agents", "/elsewhere").code(), EPERM);
  EXPECT_EQ(files.MkDir(root, "/agents/a/processed", 0755, false).code(), EPERM);
  auto rec = files.Stat(root, "/agents/a/AGENT.json");
  ASSERT_TRUE(rec.ok());
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0644;
  EXPECT_EQ(ns_->SetAttr(root, rec->attr.ino, chmod, nullptr).code(), EPERM);
  EXPECT_EQ(ns_->SetXattr(root, rec->attr.ino, "user.x", "1", 0).code(), EPERM);
  EXPECT_EQ(ns_->Open(root, rec->attr.ino, O_WRONLY).code(), EPERM);
  EXPECT_EQ(ns_->RemoveXattr(root, agents->attr.ino, std::string(layout::kReservedXattr)).code(), EPERM);

  // Inside the mailbox folders files come and go as anywhere.
  ASSERT_TRUE(files.Write(root, "/agents/a/inbox/m1", "hi", WriteOptions{}).ok());
  EXPECT_TRUE(files.Rename(root, "/agents/a/inbox/m1", "/agents/a/inbox/m2").ok());
  EXPECT_TRUE(files.Unlink(root, "/agents/a/inbox/m2").ok());
  // And the daemon keeps the record.
  EXPECT_TRUE(files.Write(daemon, "/agents/a/AGENT.json", "{\"v\":2}", WriteOptions{}).ok());
  EXPECT_TRUE(files.Unlink(daemon, "/agents/a/AGENT.json").ok());
}

TEST(NamespaceResolve, DeepPathInsideWorkspace) {
  TempDir root_dir, ws_dir;
  std::filesystem::create_directories(ws_dir.path() + "/a/b/c");
  NativeBackend::Options o;
  o.data_dir = root_dir.path();
  auto root = std::move(NativeBackend::Open(o)).value();
  auto ws = std::move(WorkspaceBackend::Open(1, ws_dir.path(), nullptr)).value();
  Namespace ns(root.get());
  Caller caller;
  ASSERT_TRUE(ns.AddMount(kRootIno, "ws", ws.get()).ok());
  auto c = ns.Resolve(caller, "/ws/a/b/c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->IsDir());
  EXPECT_EQ(ns.Resolve(caller, "/ws/a/missing/c").code(), ENOENT);
  EXPECT_EQ(ns.Resolve(caller, "/ws/a/../a").code(), EINVAL);
  EXPECT_EQ(ns.Resolve(caller, "relative").code(), EINVAL);
}

struct XattrNameCase {
  const char* name;
  int want;
};

TEST(ValidateXattrName, Namespaces) {
  const XattrNameCase cases[] = {
      {"user.k", 0},     {"trusted.k", 0},        {"security.selinux", 0}, {"system.posix_acl", 0},
      {"user.", EINVAL}, {"foo.bar", EOPNOTSUPP}, {"user", EOPNOTSUPP},    {"", EOPNOTSUPP},
  };
  for (const auto& c : cases) EXPECT_EQ(ValidateXattrName(c.name).code(), c.want) << c.name;
  EXPECT_EQ(ValidateXattrName("user." + std::string(251, 'x')).code(), ERANGE);
}

}  // namespace
}  // namespace nexus
