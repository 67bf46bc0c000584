// The Recorder over a real NativeBackend, Namespace, ChangeBus and
// VersionStore in temp dirs.
#include "fs/versions/recorder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "fs/native_backend.h"
#include "fs/process_info.h"
#include "../test_util.h"

namespace nexus::versions {
namespace {

using nexus::testing::TempDir;

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir_.path() + "/meta").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((dir_.path() + "/versions").c_str(), 0700), 0);
    OpenBackend(&bus_);
    VersionStore::Options so;
    so.dir = dir_.path() + "/versions";
    so.commit_window = std::chrono::milliseconds(5);
    auto store = VersionStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  void TearDown() override {
    bus_.Drain();
    recorder_.reset();
  }

  void OpenBackend(ChangeSink* sink) {
    ns_.reset();
    backend_.reset();
    NativeBackend::Options o;
    o.data_dir = dir_.path() + "/meta";
    o.sink = sink;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
  }

  // Subscribes a recorder (once per bus) and starts it.
  void StartRecorder(bool reconcile) {
    Recorder::Options ro;
    ro.store = store_.get();
    ro.ns = ns_.get();
    recorder_ = std::make_unique<Recorder>(ro);
    if (!subscribed_) {
      bus_.Subscribe([this](const ChangeEvent& ev) {
        if (recorder_) recorder_->OnChange(ev);
      });
      subscribed_ = true;
    }
    recorder_->Start(reconcile);
  }

  void Settle() {
    bus_.Drain();
    ASSERT_TRUE(recorder_->Flush().ok());
  }

  Ino Dir(const std::string& name, Ino parent = kRootIno) {
    auto a = ns_->Lookup(caller_, parent, name);
    if (!a.ok()) a = ns_->MkDir(caller_, parent, name, 0755);
    EXPECT_TRUE(a.ok());
    return a->ino;
  }

  // Writes `data` to `name` in `parent` (created or truncated) and closes it.
  void Write(Ino parent, const std::string& name, const std::string& data) {
    std::unique_ptr<FileHandle> fh;
    auto existing = ns_->Lookup(caller_, parent, name);
    if (existing.ok()) {
      auto h = ns_->Open(caller_, existing->ino, O_WRONLY | O_TRUNC);
      ASSERT_TRUE(h.ok());
      fh = std::move(h).value();
    } else {
      auto c = ns_->Create(caller_, parent, name, 0644, O_WRONLY);
      ASSERT_TRUE(c.ok());
      fh = std::move(c->handle);
    }
    ASSERT_EQ(::pwrite(fh->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    fh->written = true;
    ns_->OnWrite(*fh, 0, data.size());
    ns_->Release(std::move(fh));
  }

  std::vector<std::string> Contents(const std::string& path) {
    std::vector<std::string> out;
    auto h = store_->History("root", path);
    if (!h.ok()) return out;
    for (const Version& v : h->versions) out.push_back(*store_->Get("root", path, v.number));
    return out;
  }

  TempDir dir_;
  ChangeBus bus_;
  bool subscribed_ = false;
  Caller caller_{1000, 1000, ::getpid(), 022};
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<VersionStore> store_;
  std::unique_ptr<Recorder> recorder_;
};

TEST_F(RecorderTest, ClosedFilesBecomeVersionsWithProvenance) {
  StartRecorder(false);
  Ino src = Dir("src");
  Write(src, "a.c", "one\n");
  Settle();
  Write(src, "a.c", "two\n");
  Settle();
  EXPECT_EQ(Contents("src/a.c"), (std::vector<std::string>{"one\n", "two\n"}));
  auto h = store_->History("root", "src/a.c");
  ASSERT_TRUE(h.ok());
  const Version& v = h->versions.back();
  EXPECT_EQ(v.provenance.uid, 1000u);
  EXPECT_EQ(v.provenance.pid, ::getpid());
  EXPECT_EQ(v.provenance.subject, "user:uid-1000");
  EXPECT_FALSE(v.provenance.command.empty());  // this test binary's comm
  EXPECT_FALSE(v.commit.empty());
}

// A caller with an origin (a labelled socket session) records it, not the
// calling process.
TEST_F(RecorderTest, OriginNamesTheCommandAndAgent) {
  StartRecorder(false);
  ProcessInfo origin;
  origin.command = "mcp:nexus_write_file";
  origin.agent_id = "bot";
  const Caller plain = caller_;
  caller_.origin = &origin;
  Write(kRootIno, "labelled.txt", "by a tool\n");
  caller_ = plain;
  Settle();
  auto h = store_->History("root", "labelled.txt");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->versions.size(), 1u);
  EXPECT_EQ(h->versions[0].provenance.command, "mcp:nexus_write_file");
  EXPECT_EQ(h->versions[0].provenance.agent_id, "bot");
  Write(kRootIno, "labelled.txt", "by hand\n");
  Settle();
  h = store_->History("root", "labelled.txt");
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_NE(h->versions[1].provenance.command, "mcp:nexus_write_file");
}

TEST_F(RecorderTest, AtomicSaveKeepsHistoryWithoutRemoval) {
  StartRecorder(false);
  Write(kRootIno, "notes.md", "v1\n");
  Settle();
  Write(kRootIno, "notes.md.tmp", "v2\n");
  ASSERT_TRUE(ns_->Rename(caller_, kRootIno, "notes.md.tmp", kRootIno, "notes.md", 0).ok());
  Settle();
  EXPECT_EQ(Contents("notes.md"), (std::vector<std::string>{"v1\n", "v2\n"}));
  auto h = store_->History("root", "notes.md");
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->deleted);
}

TEST_F(RecorderTest, RemoveRenameAndDirectories) {
  StartRecorder(false);
  Ino d = Dir("d");
  Write(d, "x", "x1");
  Write(d, "y", "y1");
  Settle();
  ASSERT_TRUE(ns_->Rename(caller_, kRootIno, "d", kRootIno, "e", 0).ok());
  Settle();
  EXPECT_EQ(Contents("e/x"), (std::vector<std::string>{"x1"}));
  auto e = ns_->Lookup(caller_, kRootIno, "e");
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(ns_->Unlink(caller_, e->ino, "y").ok());
  Settle();
  auto h = store_->History("root", "e/y");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->deleted);
  // Moving a file into another zone ends its history there and starts one
  // in the new zone.
  Ino zone = Dir("zone");
  Ino team = Dir("team", zone);
  ASSERT_TRUE(ns_->Rename(caller_, e->ino, "x", team, "x", 0).ok());
  Settle();
  EXPECT_TRUE(store_->History("root", "e/x")->deleted);
  auto moved = store_->History("team", "x");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->versions.size(), 1u);
}

TEST_F(RecorderTest, ReconcileCatchesChangesMadeWhileNotRecording) {
  StartRecorder(false);
  Write(kRootIno, "kept", "same");
  Write(kRootIno, "changed", "before");
  Write(kRootIno, "gone", "bye");
  Settle();
  bus_.Drain();
  recorder_.reset();

  // Changes nobody records (as if the daemon had died before capturing).
  OpenBackend(nullptr);
  Write(kRootIno, "changed", "after!");
  Write(kRootIno, "fresh", "new");
  ASSERT_TRUE(ns_->Unlink(caller_, kRootIno, "gone").ok());

  OpenBackend(&bus_);
  StartRecorder(true);
  Settle();
  EXPECT_EQ(Contents("kept"), (std::vector<std::string>{"same"}));
  EXPECT_EQ(Contents("changed"), (std::vector<std::string>{"before", "after!"}));
  EXPECT_EQ(Contents("fresh"), (std::vector<std::string>{"new"}));
  EXPECT_TRUE(store_->History("root", "gone")->deleted);
}

TEST_F(RecorderTest, ModeSetBeforeTheContentRecordsOnlyTheContent) {
  // sed -i's temporary file: created, its mode set, then filled and closed.
  StartRecorder(false);
  auto c = ns_->Create(caller_, kRootIno, "sedtmp", 0600, O_WRONLY);
  ASSERT_TRUE(c.ok());
  SetAttrRequest chmod;
  chmod.valid = SetAttrRequest::kMode;
  chmod.mode = 0644;
  ASSERT_TRUE(ns_->SetAttr(caller_, c->attr.ino, chmod, c->handle.get()).ok());
  Settle();  // the mode change is applied while the file is still empty
  const std::string data = "filled\n";
  ASSERT_EQ(::pwrite(c->handle->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  c->handle->written = true;
  ns_->OnWrite(*c->handle, 0, data.size());
  ns_->Release(std::move(c->handle));
  Settle();
  EXPECT_EQ(Contents("sedtmp"), (std::vector<std::string>{"filled\n"}));
}

TEST_F(RecorderTest, TruncateWithoutOpenIsCapturedButChmodAloneIsNot) {
  StartRecorder(false);
  Write(kRootIno, "f", "0123456789");
  Settle();
  auto a = ns_->Lookup(caller_, kRootIno, "f");
  ASSERT_TRUE(a.ok());
  SetAttrRequest times;
  times.valid = SetAttrRequest::kMtimeNow | SetAttrRequest::kAtimeNow;
  ASSERT_TRUE(ns_->SetAttr(caller_, a->ino, times, nullptr).ok());
  SetAttrRequest trunc;
  trunc.valid = SetAttrRequest::kSize;
  trunc.size = 4;
  ASSERT_TRUE(ns_->SetAttr(caller_, a->ino, trunc, nullptr).ok());
  Settle();
  EXPECT_EQ(Contents("f"), (std::vector<std::string>{"0123456789", "0123"}));
  ns_->Forget(a->ino, 1);
}

}  // namespace
}  // namespace nexus::versions
