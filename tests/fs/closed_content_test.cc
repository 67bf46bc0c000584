// NativeBackend keeps what each close left until it is captured
// (fs/native_backend_closed.cc): numbering at the last writer's release or
// before another handle changes the file, kept by a rename for truncations
// and by a copy for partial overwrites, handles following the file, and
// closes left by a killed run handed out at the next start.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "fs/native_backend.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using testing::RecordingSink;
using testing::TempDir;

class ClosedContentTest : public testing::NativeBackendFixture {
 protected:
  void SetUp() override {
    sink_.keep_closed = true;
    Reopen();
  }

  // Writes `data` at offset 0 through `fh` as the FUSE layer does.
  void Write(FileHandle& fh, const std::string& data, uint64_t off = 0) {
    ASSERT_EQ(::pwrite(fh.fd, data.data(), data.size(), static_cast<off_t>(off)),
              static_cast<ssize_t>(data.size()));
    fh.written = true;
    backend_->OnWrite(fh, off, data.size());
  }

  // close(2) of the handle's last descriptor: a flush, then the release.
  void Close(std::unique_ptr<FileHandle> fh) {
    ASSERT_TRUE(backend_->Flush(*fh).ok());
    backend_->Release(std::move(fh));
  }

  std::unique_ptr<FileHandle> Open(Ino ino, int flags) {
    auto fh = backend_->Open(caller_, ino, flags);
    EXPECT_TRUE(fh.ok()) << fh.status().ToString();
    return fh.ok() ? std::move(fh).value() : nullptr;
  }

  // The generations of the kContentClosed events so far, in order.
  std::vector<uint64_t> Closes() {
    std::vector<uint64_t> out;
    for (const ChangeEvent& e : sink_.Events())
      if (e.kind == ChangeEvent::Kind::kContentClosed) out.push_back(e.details.content_gen);
    return out;
  }

  std::string ReadClosed(Ino ino, uint64_t gen, bool* live = nullptr) {
    auto c = backend_->OpenClosed(ino, gen);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return "<gone>";
    if (live) *live = c->live;
    char buf[256];
    ssize_t n = ::pread(c->fd, buf, sizeof buf, 0);
    ::close(c->fd);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
};

TEST_F(ClosedContentTest, EachRewriteKeepsThePreviousCloseByARename) {
  auto c = backend_->Create(caller_, backend_->root(), "f", 0644, O_WRONLY | O_TRUNC);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "one");
  Close(std::move(c->handle));
  ASSERT_EQ(Closes().size(), 1u);
  const uint64_t g1 = Closes()[0];
  ASSERT_NE(g1, 0u);
  bool live = false;
  EXPECT_EQ(ReadClosed(ino, g1, &live), "one");
  EXPECT_TRUE(live);  // nothing changed it: the file itself
  EXPECT_TRUE(backend_->ClosedStillLive(ino, g1));

  // A rewrite before the recorder captured it: "one" moves aside.
  auto w = Open(ino, O_WRONLY | O_TRUNC);
  EXPECT_FALSE(backend_->ClosedStillLive(ino, g1));
  Write(*w, "two!");
  Close(std::move(w));
  EXPECT_EQ(ReadClosed(ino, g1, &live), "one");
  EXPECT_FALSE(live);
  const uint64_t g2 = Closes().back();
  EXPECT_GT(g2, g1);
  EXPECT_EQ(ReadClosed(ino, g2), "two!");

  // Captured: what was kept goes, older generations with it.
  backend_->ClosedCaptured(ino, g2);
  EXPECT_EQ(backend_->OpenClosed(ino, g1).code(), ENOENT);
  EXPECT_EQ(backend_->OpenClosed(ino, g2).code(), ENOENT);
}

TEST_F(ClosedContentTest, APartialOverwriteKeepsACopy) {
  auto c = backend_->Create(caller_, backend_->root(), "p", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "aaaa");
  Close(std::move(c->handle));
  const uint64_t g1 = Closes().back();
  auto w = Open(ino, O_WRONLY);
  Write(*w, "b", 1);
  Close(std::move(w));
  EXPECT_EQ(ReadClosed(ino, g1), "aaaa");
  EXPECT_EQ(ReadClosed(ino, Closes().back()), "abaa");
}

TEST_F(ClosedContentTest, AReleaseOnItsWayIsNumberedBeforeTheNextOpenChangesTheFile) {
  auto c = backend_->Create(caller_, backend_->root(), "r", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "first");
  // close(2) returned (flush) but the release has not come yet.
  ASSERT_TRUE(backend_->Flush(*c->handle).ok());
  EXPECT_TRUE(Closes().empty());  // a flush alone numbers nothing
  auto reader = Open(ino, O_RDONLY);
  auto w = Open(ino, O_WRONLY | O_TRUNC);  // numbers "first", then truncates
  ASSERT_EQ(Closes().size(), 1u);
  const uint64_t g1 = Closes()[0];
  EXPECT_EQ(ReadClosed(ino, g1), "first");
  // The late release numbers nothing more; the handles open follow the file.
  backend_->Release(std::move(c->handle));
  EXPECT_EQ(Closes().size(), 1u);
  Write(*w, "second");
  char buf[16] = {};
  EXPECT_EQ(::pread(reader->fd, buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "second");
  Close(std::move(w));
  backend_->Release(std::move(reader));
  ASSERT_EQ(Closes().size(), 2u);
  EXPECT_EQ(ReadClosed(ino, Closes()[1]), "second");
}

TEST_F(ClosedContentTest, AWriterInUseHoldsBackAnotherWritersClose) {
  auto c = backend_->Create(caller_, backend_->root(), "h", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "x");  // still open and in use
  auto other = Open(ino, O_WRONLY | O_APPEND);
  Write(*other, "y", 1);
  Close(std::move(other));
  EXPECT_TRUE(Closes().empty());
  Close(std::move(c->handle));
  ASSERT_EQ(Closes().size(), 1u);
  EXPECT_EQ(ReadClosed(ino, Closes()[0]), "xy");
}

TEST_F(ClosedContentTest, ADuplicateDescriptorWritingAfterAFlushKeepsNothingStale) {
  auto c = backend_->Create(caller_, backend_->root(), "d", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "12");
  ASSERT_TRUE(backend_->Flush(*c->handle).ok());  // one descriptor closed
  // The duplicate writes on: the FUSE layer calls BeforeWrite first.
  ASSERT_TRUE(c->handle->flushed.load());
  backend_->BeforeWrite(*c->handle);
  EXPECT_FALSE(c->handle->flushed.load());
  Write(*c->handle, "34", 2);
  Close(std::move(c->handle));
  ASSERT_EQ(Closes().size(), 1u);
  EXPECT_EQ(ReadClosed(ino, Closes()[0]), "1234");
}

TEST_F(ClosedContentTest, TheLastNameGoingNumbersAPendingCloseWhileItHasAPath) {
  auto c = backend_->Create(caller_, backend_->root(), "gone", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "last words");
  ASSERT_TRUE(backend_->Flush(*c->handle).ok());
  ASSERT_TRUE(backend_->Unlink(caller_, backend_->root(), "gone").ok());
  auto events = sink_.Events();
  ASSERT_GE(events.size(), 2u);
  const ChangeEvent& closed = events[events.size() - 2];
  EXPECT_EQ(closed.kind, ChangeEvent::Kind::kContentClosed);
  EXPECT_EQ(closed.ino, ino);
  backend_->Release(std::move(c->handle));
  backend_->Forget(ino, 1);
  EXPECT_EQ(ReadClosed(ino, closed.details.content_gen), "last words");
}

TEST_F(ClosedContentTest, ClosesAKilledRunKeptAreHandedOutAtTheNextStart) {
  auto c = backend_->Create(caller_, backend_->root(), "k", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  const Ino ino = c->attr.ino;
  Write(*c->handle, "v1");
  Close(std::move(c->handle));
  const uint64_t g1 = Closes().back();
  auto w = Open(ino, O_WRONLY | O_TRUNC);  // "v1" kept in closed/
  Write(*w, "v2");
  Close(std::move(w));
  ASSERT_TRUE(backend_->Sync().ok());
  Reopen();  // nothing captured before the stop
  auto left = backend_->ClosedLeftOver();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].gen, g1);
  EXPECT_EQ(left[0].path, "/k");
  EXPECT_EQ(ReadClosed(left[0].ino, g1), "v1");
  EXPECT_TRUE(backend_->ClosedLeftOver().empty());  // handed out once
}

TEST_F(ClosedContentTest, NothingIsKeptWhileNobodyRecords) {
  sink_.keep_closed = false;
  auto c = backend_->Create(caller_, backend_->root(), "n", 0644, O_WRONLY);
  ASSERT_TRUE(c.ok());
  Write(*c->handle, "x");
  EXPECT_EQ(backend_->Flush(*c->handle).code(), ENOSYS);  // the kernel stops flushing
  backend_->Release(std::move(c->handle));
  ASSERT_EQ(Closes().size(), 1u);
  EXPECT_EQ(Closes()[0], 0u);
}

}  // namespace
}  // namespace nexus
