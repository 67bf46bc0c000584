#include "fs/path_files.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "base/ns_path.h"
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

TEST_F(PathFilesTest, RejectsPathsThatAreNotAbsolute) {
  EXPECT_EQ(files_->Stat(root_, "rel").code(), EINVAL);
  EXPECT_EQ(files_->Stat(root_, "").code(), EINVAL);
  EXPECT_EQ(files_->Unlink(root_, "rel").code(), EINVAL);  // not "/ is a directory"
  EXPECT_EQ(files_->RmDir(root_, "").code(), EINVAL);
  EXPECT_TRUE(files_->Stat(root_, "//./").value().attr.IsDir());
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
  Status made = files_->MkDir(root_, "/a/b/c", 0755, true);
  ASSERT_TRUE(made.ok()) << made.ToString();
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

// ".." is taken where the walk is, as the kernel takes it: after a symlink
// it is the parent of where the link led, not the link's own directory.
class PathFilesDotDotTest : public PathFilesTest {
 protected:
  void SetUp() override {
    PathFilesTest::SetUp();
    ASSERT_TRUE(files_->MkDir(root_, "/a/b", 0755, true).ok());
    ASSERT_TRUE(files_->MkDir(root_, "/x/y", 0755, true).ok());
    ASSERT_TRUE(files_->Write(root_, "/a/file", "in a", WriteOptions{}).ok());
    ASSERT_TRUE(files_->Write(root_, "/x/file", "in x", WriteOptions{}).ok());
    ASSERT_TRUE(files_->Write(root_, "/file", "at root", WriteOptions{}).ok());
  }
  void Link(const std::string& dir, const std::string& name, const std::string& target) {
    Attr d = ns_->Resolve(root_, dir).value();
    auto l = ns_->Symlink(root_, target, d.ino, name);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ns_->Forget(l->ino, 1);
  }
};

TEST_F(PathFilesDotDotTest, DotDotAfterASymlinkIsTheTargetsParent) {
  Link("/a", "to_y", "/x/y");
  // Lexically /a/to_y/../file is /a/file; the kernel reads /x/file.
  EXPECT_EQ(ReadAll(root_, "/a/to_y/../file").value(), "in x");
  auto st = files_->Stat(root_, "/a/to_y/../file");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->path, "/x/file");
  // Without a symlink, ".." is the parent it spells.
  EXPECT_EQ(ReadAll(root_, "/a/b/../file").value(), "in a");
  // Writes and directory changes walk the same way.
  ASSERT_TRUE(files_->Write(root_, "/a/to_y/../new", "n", WriteOptions{}).ok());
  EXPECT_EQ(ReadAll(root_, "/x/new").value(), "n");
  EXPECT_EQ(files_->Stat(root_, "/a/new").code(), ENOENT);
  ASSERT_TRUE(files_->MkDir(root_, "/a/to_y/../made", 0755, false).ok());
  EXPECT_TRUE(files_->Stat(root_, "/x/made").value().attr.IsDir());
  auto list = files_->List(root_, "/a/to_y/..", false);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)[0].path, "/x/file");
}

TEST_F(PathFilesDotDotTest, DotDotThroughASymlinkChain) {
  Link("/", "l1", "a/l2");      // relative: from /
  Link("/a", "l2", "../x/l3");  // relative, with its own ".."
  Link("/x", "l3", "y");
  // /l1 -> /a/l2 -> /x/l3 -> /x/y; its ".." is /x.
  EXPECT_EQ(ReadAll(root_, "/l1/../file").value(), "in x");
  EXPECT_EQ(ReadAll(root_, "/l1/../../file").value(), "at root");
}

TEST_F(PathFilesDotDotTest, DotDotAboveTheRootStaysAtTheRoot) {
  EXPECT_EQ(ReadAll(root_, "/../../file").value(), "at root");
  EXPECT_EQ(ReadAll(root_, "/a/../../../a/file").value(), "in a");
  Link("/x", "up", "../../..");
  EXPECT_EQ(ReadAll(root_, "/x/up/file").value(), "at root");
  EXPECT_EQ(files_->MkDir(root_, "/..", 0755, false).code(), EEXIST);
  EXPECT_TRUE(files_->MkDir(root_, "/a/..", 0755, true).ok());
  EXPECT_EQ(files_->RmDir(root_, "/a/b/..").code(), EBUSY);
  EXPECT_EQ(files_->Unlink(root_, "/a/..").code(), EISDIR);
  EXPECT_EQ(files_->Rename(root_, "/a/..", "/z").code(), EBUSY);
  EXPECT_TRUE(files_->Stat(root_, "/a").ok());
}

TEST_F(PathFilesDotDotTest, DotDotAfterAFileIsNotADirectory) {
  EXPECT_EQ(ReadAll(root_, "/a/file/../file").code(), ENOTDIR);
  EXPECT_EQ(ReadAll(root_, "/nope/../file").code(), ENOENT);
}

TEST_F(PathFilesDotDotTest, SymlinkLoopsStopAtFortyLinks) {
  Link("/", "ping", "pong");
  Link("/", "pong", "ping");
  EXPECT_EQ(ReadAll(root_, "/ping").code(), ELOOP);
  EXPECT_EQ(files_->Stat(root_, "/ping/x").code(), ELOOP);
  EXPECT_EQ(files_->Write(root_, "/ping/x", "", WriteOptions{}).code(), ELOOP);
  // A chain of exactly 40 links resolves; 41 do not.
  for (int i = 0; i < 41; ++i)
    Link("/", "c" + std::to_string(i), i == 0 ? "file" : "c" + std::to_string(i - 1));
  EXPECT_EQ(ReadAll(root_, "/c39").value(), "at root");
  EXPECT_EQ(ReadAll(root_, "/c40").code(), ELOOP);
  // lstat of the last link follows nothing.
  EXPECT_TRUE(files_->Stat(root_, "/ping").value().attr.IsLnk());
}

TEST_F(PathFilesDotDotTest, NamesAndPathsTooLong) {
  const std::string long_name(kNameMax + 1, 'n');
  EXPECT_EQ(files_->Stat(root_, "/" + long_name).code(), ENAMETOOLONG);
  EXPECT_EQ(files_->Write(root_, "/a/" + long_name, "x", WriteOptions{}).code(), ENAMETOOLONG);
  EXPECT_EQ(files_->MkDir(root_, "/" + long_name, 0755, true).code(), ENAMETOOLONG);
  std::string long_path;
  while (long_path.size() <= kPathMax) long_path += "/a";
  EXPECT_EQ(files_->Stat(root_, long_path).code(), ENAMETOOLONG);
  // A name of exactly NAME_MAX bytes is fine.
  EXPECT_TRUE(files_->Write(root_, "/" + std::string(kNameMax, 'm'), "x", WriteOptions{}).ok());
}

TEST_F(PathFilesDotDotTest, SearchPermissionOnEveryDirectory) {
  ASSERT_TRUE(files_->MkDir(root_, "/closed", 0700, false).ok());
  ASSERT_TRUE(files_->MkDir(root_, "/closed/in", 0755, false).ok());
  // Through /closed, even only to leave it again by "..".
  EXPECT_EQ(ReadAll(user_, "/closed/in/../../file").code(), EACCES);
  EXPECT_EQ(ReadAll(user_, "/a/../file").value(), "at root");
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
