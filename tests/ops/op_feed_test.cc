// The OpFeed over a real NativeBackend, Namespace, ChangeBus, VersionStore,
// Recorder and OpLog in temp dirs.
#include "ops/op_feed.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/format.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/versions/recorder.h"
#include "fs/versions/version_store.h"
#include "ops/op_log.h"
#include "tests/temp_dir.h"

namespace nexus::ops {
namespace {

using nexus::testing::TempDir;

class OpFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir_.path() + "/meta").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((dir_.path() + "/versions").c_str(), 0700), 0);
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/meta";
    o.sink = &bus_;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    OpenLog();
    // The feed hears a change before the recorder, as in nexusd.
    bus_.Subscribe([this](const ChangeEvent& ev) {
      if (feed_) feed_->OnChange(ev);
      if (recorder_) recorder_->OnChange(ev);
    });
  }

  void TearDown() override {
    bus_.Drain();
    feed_.reset();
    recorder_.reset();
  }

  void OpenLog() {
    auto log = OpLog::Open({.path = dir_.path() + "/oplog.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  void OpenStore() {
    versions::VersionStore::Options so;
    so.dir = dir_.path() + "/versions";
    so.commit_window = std::chrono::milliseconds(5);
    auto store = versions::VersionStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // The feed, with the recorder when versions are on (store_ set).
  void StartFeed() {
    OpFeed::Options fo;
    fo.log = log_.get();
    fo.store = store_.get();
    fo.drain_upstream = [this] {
      bus_.Drain();
      if (recorder_) recorder_->Drain();
    };
    auto feed = std::make_unique<OpFeed>(fo);
    ASSERT_TRUE(feed->Start().ok());
    if (store_ && !recorder_) {
      versions::Recorder::Options ro;
      ro.store = store_.get();
      ro.ns = ns_.get();
      ro.on_applied = [this](const versions::Applied& a) {
        if (feed_) feed_->OnVersionApplied(a);
      };
      recorder_ = std::make_unique<versions::Recorder>(ro);
      recorder_->Start(false);
    }
    feed_ = std::move(feed);
  }

  Ino Dir(const std::string& name, Ino parent = kRootIno) {
    auto a = ns_->MkDir(caller_, parent, name, 0755);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->ino : 0;
  }

  Ino Write(Ino parent, const std::string& name, const std::string& data) {
    std::unique_ptr<FileHandle> fh;
    auto existing = ns_->Lookup(caller_, parent, name);
    if (existing.ok()) {
      auto h = ns_->Open(caller_, existing->ino, O_WRONLY | O_TRUNC);
      EXPECT_TRUE(h.ok());
      fh = std::move(h).value();
    } else {
      auto c = ns_->Create(caller_, parent, name, 0644, O_WRONLY);
      EXPECT_TRUE(c.ok());
      fh = std::move(c->handle);
    }
    EXPECT_EQ(::pwrite(fh->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    fh->written = true;
    ns_->OnWrite(*fh, 0, data.size());
    Ino ino = fh->ino;
    ns_->Release(std::move(fh));
    return ino;
  }

  std::vector<Operation> All() {
    EXPECT_TRUE(feed_->Flush().ok());
    auto r = log_->After(0, {}, 1000);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<Operation>{};
  }

  static std::vector<std::string> Kinds(const std::vector<Operation>& ops) {
    std::vector<std::string> out;
    for (const Operation& op : ops) out.push_back(std::string(KindName(op.kind)) + " " + op.path);
    return out;
  }

  TempDir dir_;
  ChangeBus bus_;
  Caller caller_{1000, 1000, ::getpid(), 022};
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<versions::VersionStore> store_;
  std::unique_ptr<OpLog> log_;
  std::unique_ptr<versions::Recorder> recorder_;
  std::unique_ptr<OpFeed> feed_;
};

TEST_F(OpFeedTest, NamespaceChangesBecomeOperationsWithDetails) {
  OpenStore();
  StartFeed();
  Ino d = Dir("d");
  Ino f = Write(d, "f", "one");
  ASSERT_TRUE(feed_->Flush().ok());  // captured before it changes again
  ASSERT_TRUE(ns_->Symlink(caller_, "f", d, "s").ok());
  ASSERT_TRUE(ns_->Link(caller_, f, d, "hard").ok());
  ASSERT_TRUE(feed_->Flush().ok());  // the link's first version, before what follows
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0600;
  ASSERT_TRUE(ns_->SetAttr(caller_, f, chmod, nullptr).ok());
  ASSERT_TRUE(ns_->SetXattr(caller_, f, "user.k", "v1", 0).ok());
  ASSERT_TRUE(ns_->SetXattr(caller_, f, "user.k", "v2", 0).ok());
  ASSERT_TRUE(ns_->RemoveXattr(caller_, f, "user.k").ok());
  // Attribute changes ask the recorder for a capture if the content
  // changed; let them settle so none reads the truncated content.
  ASSERT_TRUE(feed_->Flush().ok());
  SetAttrRequest trunc;
  trunc.valid = SetAttrRequest::kSize;
  trunc.size = 1;
  ASSERT_TRUE(ns_->SetAttr(caller_, f, trunc, nullptr).ok());
  ASSERT_TRUE(feed_->Flush().ok());
  ASSERT_TRUE(ns_->Rename(caller_, d, "f", d, "g", 0).ok());
  ASSERT_TRUE(ns_->Unlink(caller_, d, "hard").ok());
  ASSERT_TRUE(ns_->Unlink(caller_, d, "g").ok());
  ASSERT_TRUE(ns_->Unlink(caller_, d, "s").ok());
  ASSERT_TRUE(ns_->RmDir(caller_, kRootIno, "d").ok());

  std::vector<Operation> ops = All();
  std::vector<std::string> kinds = Kinds(ops);
  // A hard link starts a history of its own (a write of its first version);
  // the truncate's capture (a new version) is a write too.
  std::vector<std::string> want = {
      "mkdir /d",    "create /d/f",    "write /d/f",    "symlink /d/s",     "link /d/hard",  "write /d/hard",
      "chmod /d/f",  "setxattr /d/f",  "setxattr /d/f", "removexattr /d/f", "truncate /d/f", "write /d/f",
      "rename /d/g", "unlink /d/hard", "unlink /d/g",   "unlink /d/s",      "rmdir /d"};
  ASSERT_EQ(kinds, want);
  auto detail = [&](size_t i) { return nlohmann::json::parse(ops[i].detail); };
  EXPECT_EQ(ops[2].version_after, 1u);
  EXPECT_EQ(ops[2].version_before, 0u);
  EXPECT_EQ(detail(3)["target"], "f");
  EXPECT_EQ(detail(6)["mode_before"], 0644);
  EXPECT_EQ(detail(6)["mode_after"], 0600);
  EXPECT_EQ(detail(7)["name"], "user.k");
  EXPECT_FALSE(detail(7).contains("value_before"));
  EXPECT_EQ(detail(8)["value_before"], Base64Encode("v1"));
  EXPECT_EQ(detail(9)["value_before"], Base64Encode("v2"));
  EXPECT_EQ(detail(10)["size_before"], 3);
  EXPECT_EQ(detail(10)["size_after"], 1);
  EXPECT_EQ(ops[11].version_before, 1u);
  EXPECT_EQ(ops[11].version_after, 2u);
  EXPECT_EQ(ops[12].old_path, "/d/f");
  EXPECT_EQ(ops[14].version_before, 2u);  // the unlinked file's last version
  for (const Operation& op : ops) {
    EXPECT_EQ(op.uid, 1000u) << KindName(op.kind);
    EXPECT_FALSE(op.subject.empty());
    EXPECT_GT(op.time_ns, 0);
  }
  EXPECT_EQ(feed_->Logged(), ops.size());
  EXPECT_EQ(feed_->Dropped(), 0u);
}

TEST_F(OpFeedTest, GitFoldersAndTheHistoryTreeAreNotLogged) {
  OpenStore();
  StartFeed();
  Ino repo = Dir("repo");
  Ino git = Dir(".git", repo);
  Write(git, "index.lock", "x");
  ASSERT_TRUE(ns_->Rename(caller_, git, "index.lock", git, "index", 0).ok());
  Write(repo, "a", "y");
  // Events naming /.nexus (the history tree publishes none; a backend might).
  ChangeEvent ev;
  ev.kind = ChangeEvent::Kind::kCreated;
  ev.path = "/.nexus/x";
  ev.caller = caller_;
  feed_->OnChange(ev);
  EXPECT_EQ(Kinds(All()), (std::vector<std::string>{"mkdir /repo", "create /repo/a", "write /repo/a"}));
}

// A file moved into sight (here out of .git; a fork merge's temporary file
// alike) is a create where nothing was, and its content a write; moved over
// a file, only the write.
TEST_F(OpFeedTest, AFileMovedIntoSightIsACreateAndItsContentAWrite) {
  OpenStore();
  StartFeed();
  Ino repo = Dir("repo");
  Ino git = Dir(".git", repo);
  Write(git, "new", "x");
  ASSERT_TRUE(ns_->Rename(caller_, git, "new", repo, "new", 0).ok());
  ASSERT_TRUE(feed_->Flush().ok());  // its capture, before what follows
  Write(repo, "old", "1");
  Write(git, "tmp", "2");
  ASSERT_TRUE(feed_->Flush().ok());
  ASSERT_TRUE(ns_->Rename(caller_, git, "tmp", repo, "old", 0).ok());
  std::vector<Operation> ops = All();
  EXPECT_EQ(Kinds(ops), (std::vector<std::string>{"mkdir /repo", "create /repo/new", "write /repo/new",
                                                  "create /repo/old", "write /repo/old", "write /repo/old"}));
  ASSERT_EQ(ops.size(), 6u);
  EXPECT_EQ(ops[5].version_before, 1u);
  EXPECT_EQ(ops[5].version_after, 2u);
}

TEST_F(OpFeedTest, WithoutVersionsAWriteIsLoggedAtItsClose) {
  StartFeed();
  Write(kRootIno, "f", "one");
  Write(kRootIno, "f", "two");
  std::vector<Operation> ops = All();
  EXPECT_EQ(Kinds(ops), (std::vector<std::string>{"create /f", "write /f", "write /f"}));
  EXPECT_EQ(ops[1].version_after, 0u);
}

TEST_F(OpFeedTest, RollbacksAndRestoresAreLoggedFromTheJournal) {
  OpenStore();
  StartFeed();
  Write(kRootIno, "f", "one");
  ASSERT_TRUE(feed_->Flush().ok());  // two versions, not one coalesced capture
  Write(kRootIno, "f", "two");
  ASSERT_TRUE(feed_->Flush().ok());
  versions::Provenance who;
  who.subject = "user:admin";
  auto back = store_->Rollback("root", "/f", 1, who);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::vector<Operation> ops = All();
  ASSERT_EQ(Kinds(ops), (std::vector<std::string>{"create /f", "write /f", "write /f", "rollback /f"}));
  EXPECT_EQ(ops[3].version_after, 3u);
  EXPECT_EQ(ops[3].subject, "user:admin");
  EXPECT_EQ(nlohmann::json::parse(ops[3].detail)["note"], "rollback to v1");
}

TEST_F(OpFeedTest, StartCatchesUpJournaledWritesAfterACrash) {
  OpenStore();
  StartFeed();
  Write(kRootIno, "f", "one");
  ASSERT_EQ(All().size(), 2u);
  // A crash: the feed goes away, and what the store journals meanwhile
  // never reaches it (as when nexusd is killed between capture and append).
  feed_.reset();
  Write(kRootIno, "f", "two");
  Write(kRootIno, "g", "three");
  ASSERT_TRUE(log_->SetMeta("unrelated", 1).ok());
  bus_.Drain();
  ASSERT_TRUE(recorder_->Flush().ok());
  recorder_.reset();
  log_.reset();
  OpenLog();
  StartFeed();
  std::vector<Operation> ops = All();
  ASSERT_EQ(Kinds(ops), (std::vector<std::string>{"create /f", "write /f", "write /f", "write /g"}));
  EXPECT_EQ(ops[2].version_after, 2u);
  EXPECT_EQ(ops[3].version_after, 1u);
  // Nothing twice on the next start.
  feed_.reset();
  StartFeed();
  EXPECT_EQ(All().size(), 4u);
}

TEST_F(OpFeedTest, AFirstStartDoesNotReplayEarlierHistory) {
  OpenStore();
  std::string scratch = dir_.path() + "/scratch";
  {
    int fd = ::open(scratch.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "x", 1), 1);
    ::close(fd);
  }
  ASSERT_TRUE(store_->CaptureFile("root", "/old", scratch, {}).ok());
  StartFeed();
  EXPECT_TRUE(All().empty());
}

}  // namespace
}  // namespace nexus::ops
