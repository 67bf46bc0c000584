#include "fs/path_files.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "fs/native_backend.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

// Records what the kernel would have been told to drop.
class RecordingCache final : public KernelCache {
 public:
  void InvalidateInode(Ino ino) override {
    std::lock_guard lk(mu_);
    inodes.insert(ino);
  }
  void InvalidateEntry(Ino parent, const std::string& name) override {
    std::lock_guard lk(mu_);
    entries.insert({parent, name});
  }
  std::mutex mu_;
  std::set<Ino> inodes;
  std::set<std::pair<Ino, std::string>> entries;
};

Caller ActorOf(uid_t uid, gid_t gid) {
  Caller a;
  a.uid = uid;
  a.gid = gid;
  return a;
}

class PathFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = dir_.path();
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    files_ = std::make_unique<PathFiles>(ns_.get());
    files_->SetKernelCache(&cache_);
  }
  Result<std::string> ReadAll(const Caller& a, const std::string& path) {
    return files_->Read(a, path, 0, 0, 1 << 20, nullptr);
  }

  testing::TempDir dir_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<PathFiles> files_;
  RecordingCache cache_;
  Caller root_ = ActorOf(0, 0);
  Caller user_ = ActorOf(1000, 1000);
};

TEST_F(PathFilesTest, NormalizesPaths) {
  EXPECT_EQ(PathFiles::Normalize("/").value(), "/");
  EXPECT_EQ(PathFiles::Normalize("//a/./b/../c/").value(), "/a/c");
  EXPECT_EQ(PathFiles::Normalize("/..").value(), "/");
  EXPECT_EQ(PathFiles::Normalize("rel").code(), EINVAL);
  EXPECT_EQ(PathFiles::Normalize("").code(), EINVAL);
}

TEST_F(PathFilesTest, WriteReadStatAndRanges) {
  WriteOptions o;
  ASSERT_TRUE(files_->Write(root_, "/a.txt", "hello world", o).ok());
  EXPECT_EQ(ReadAll(root_, "/a.txt").value(), "hello world");
  uint64_t size = 0;
  EXPECT_EQ(files_->Read(root_, "/a.txt", 6, 3, 1 << 20, &size).value(), "wor");
  EXPECT_EQ(size, 11u);
  EXPECT_EQ(files_->Read(root_, "/a.txt", 8, 100, 1 << 20, nullptr).value(), "rld");
  EXPECT_EQ(files_->Read(root_, "/a.txt", 100, 5, 1 << 20, nullptr).value(), "");
  EXPECT_EQ(files_->Read(root_, "/a.txt", 0, 0, 4, nullptr).value(), "hell");  // capped
  o.append = true;
  ASSERT_TRUE(files_->Write(root_, "/a.txt", "!", o).ok());
  EXPECT_EQ(ReadAll(root_, "/a.txt").value(), "hello world!");
  WriteOptions at;
  at.truncate = false;
  at.offset = 0;
  ASSERT_TRUE(files_->Write(root_, "/a.txt", "J", at).ok());
  EXPECT_EQ(ReadAll(root_, "/a.txt").value(), "Jello world!");
  auto st = files_->Stat(root_, "/a.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->attr.size, 12u);
  // git hash-object of "Jello world!"
  GitBlobHasher h(12);
  h.Update("Jello world!", 12);
  EXPECT_EQ(st->content_id, h.HexDigest());
  EXPECT_EQ(st->content_id.size(), 40u);
}

TEST_F(PathFilesTest, GitBlobHasherMatchesGit) {
  GitBlobHasher empty(0);
  EXPECT_EQ(empty.HexDigest(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  GitBlobHasher hi(3);
  hi.Update("hi\n", 3);
  EXPECT_EQ(hi.HexDigest(), "45b983be36b73c0788dc9cbcb76cbb80fc7bb057");
}

TEST_F(PathFilesTest, ChangesInvalidateTheKernelCache) {
  ASSERT_TRUE(files_->Write(root_, "/new.txt", "x", WriteOptions{}).ok());
  EXPECT_TRUE(cache_.entries.count({kRootIno, "new.txt"}));
  auto st = files_->Stat(root_, "/new.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(cache_.inodes.count(st->attr.ino));
  cache_.entries.clear();
  ASSERT_TRUE(files_->Rename(root_, "/new.txt", "/moved.txt").ok());
  EXPECT_TRUE(cache_.entries.count({kRootIno, "new.txt"}));
  EXPECT_TRUE(cache_.entries.count({kRootIno, "moved.txt"}));
  cache_.entries.clear();
  ASSERT_TRUE(files_->Unlink(root_, "/moved.txt").ok());
  EXPECT_TRUE(cache_.entries.count({kRootIno, "moved.txt"}));
}

TEST_F(PathFilesTest, DirectoriesAndErrors) {
  EXPECT_EQ(files_->MkDir(root_, "/a/b/c", 0755, false).code(), ENOENT);
  ASSERT_TRUE(files_->MkDir(root_, "/a/b/c", 0755, true).ok());
  ASSERT_TRUE(files_->MkDir(root_, "/a/b/c", 0755, true).ok());  // -p accepts existing
  EXPECT_EQ(files_->MkDir(root_, "/a/b/c", 0755, false).code(), EEXIST);
  ASSERT_TRUE(files_->Write(root_, "/a/f", "1", WriteOptions{}).ok());
  EXPECT_EQ(files_->MkDir(root_, "/a/f/x", 0755, true).code(), ENOTDIR);
  EXPECT_EQ(ReadAll(root_, "/a").code(), EISDIR);
  EXPECT_EQ(files_->Unlink(root_, "/a/b").code(), EISDIR);
  EXPECT_EQ(files_->RmDir(root_, "/a/f").code(), ENOTDIR);
  EXPECT_EQ(files_->RmDir(root_, "/a/b").code(), ENOTEMPTY);
  EXPECT_EQ(files_->Stat(root_, "/a/nope").code(), ENOENT);
  EXPECT_EQ(files_->Stat(root_, "/a/f/x").code(), ENOTDIR);
  auto list = files_->List(root_, "/a", true);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].path, "/a/b");
  EXPECT_TRUE((*list)[0].attr.IsDir());
  EXPECT_EQ((*list)[1].path, "/a/f");
  EXPECT_EQ((*list)[1].attr.size, 1u);
  ASSERT_TRUE(files_->RmDir(root_, "/a/b/c").ok());
  EXPECT_EQ(files_->Stat(root_, "/a/b/c").code(), ENOENT);
}

TEST_F(PathFilesTest, WriteWithParentsCreatesThem) {
  EXPECT_EQ(files_->Write(root_, "/x/y/z.txt", "1", WriteOptions{}).code(), ENOENT);
  WriteOptions o;
  o.create_parents = true;
  ASSERT_TRUE(files_->Write(root_, "/x/y/z.txt", "1", o).ok());
  EXPECT_TRUE(files_->Stat(root_, "/x/y").value().attr.IsDir());
}

TEST_F(PathFilesTest, FollowsSymlinks) {
  ASSERT_TRUE(files_->MkDir(root_, "/real", 0755, false).ok());
  ASSERT_TRUE(files_->Write(root_, "/real/f", "data", WriteOptions{}).ok());
  auto l = ns_->Symlink(root_, "real", kRootIno, "link");
  ASSERT_TRUE(l.ok());
  ns_->Forget(l->ino, 1);
  auto abs = ns_->Symlink(root_, "/real/f", kRootIno, "flink");
  ASSERT_TRUE(abs.ok());
  ns_->Forget(abs->ino, 1);
  EXPECT_EQ(ReadAll(root_, "/link/f").value(), "data");
  EXPECT_EQ(ReadAll(root_, "/flink").value(), "data");
  auto st = files_->Stat(root_, "/flink");  // lstat
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->attr.IsLnk());
  EXPECT_EQ(st->symlink_target, "/real/f");
  auto loop = ns_->Symlink(root_, "/loop", kRootIno, "loop");
  ASSERT_TRUE(loop.ok());
  ns_->Forget(loop->ino, 1);
  EXPECT_EQ(ReadAll(root_, "/loop").code(), ELOOP);
}

TEST_F(PathFilesTest, PosixPermissionsApplyToOtherUsers) {
  ASSERT_TRUE(files_->MkDir(root_, "/private", 0700, false).ok());
  ASSERT_TRUE(files_->Write(root_, "/private/secret", "s", WriteOptions{}).ok());
  ASSERT_TRUE(files_->Write(root_, "/public.txt", "p", WriteOptions{}).ok());
  EXPECT_EQ(ReadAll(user_, "/private/secret").code(), EACCES);
  EXPECT_EQ(files_->Stat(user_, "/private/secret").code(), EACCES);
  EXPECT_EQ(files_->List(user_, "/private", false).code(), EACCES);
  EXPECT_EQ(ReadAll(user_, "/public.txt").value(), "p");
  EXPECT_EQ(files_->Write(user_, "/public.txt", "x", WriteOptions{}).code(), EACCES);
  EXPECT_EQ(files_->Write(user_, "/mine.txt", "x", WriteOptions{}).code(), EACCES);
  EXPECT_EQ(files_->Unlink(user_, "/public.txt").code(), EACCES);
  // In a directory the user owns, everything works and files are theirs.
  Caller no_umask = root_;
  no_umask.umask = 0;
  ASSERT_TRUE(files_->MkDir(no_umask, "/home", 0777, false).ok());
  ASSERT_TRUE(files_->Write(user_, "/home/mine.txt", "x", WriteOptions{}).ok());
  auto st = files_->Stat(user_, "/home/mine.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->attr.uid, 1000u);
  EXPECT_EQ(st->attr.mode & 0777, 0644u);
}

TEST_F(PathFilesTest, StreamedWriter) {
  auto w = files_->OpenWriter(root_, "/stream.bin", WriteOptions{});
  ASSERT_TRUE(w.ok());
  std::string expect;
  for (int i = 0; i < 100; ++i) {
    std::string chunk(1000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE((*w)->Write(chunk).ok());
    expect += chunk;
  }
  auto attr = (*w)->Finish();
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->size, expect.size());
  EXPECT_EQ((*w)->Finish().code(), EBADF);
  EXPECT_EQ(ReadAll(root_, "/stream.bin").value(), expect);
}

TEST(MimeTest, Classifies) {
  EXPECT_EQ(GuessMimeType("/a.JSON", "", false), "application/json");
  EXPECT_EQ(GuessMimeType("/noext", "plain words", false), "text/plain");
  EXPECT_EQ(GuessMimeType("/noext", std::string_view("\0\1", 2), false), "application/octet-stream");
  EXPECT_EQ(GuessMimeType("/d", "", true), "inode/directory");
}

}  // namespace
}  // namespace nexus
