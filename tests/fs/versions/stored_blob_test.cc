// Large content that does not compress is written as a loose object with
// stored deflate blocks: it must read back identically through the store and
// through stock git, and deduplicate like any other blob.
#include <random>

#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions::testing {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

TEST_F(VersionStoreTest, IncompressibleLargeContentIsStoredAndReadable) {
  const std::string random = RandomBytes((3 << 20) + 12345, 7);  // 3 MiB and a bit
  CaptureResult r = Put("media/clip.bin", random);
  ASSERT_TRUE(r.recorded);
  auto back = store_->Get("root", "media/clip.bin", r.version);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == random);

  // The object is an ordinary loose object: stock git agrees on its id and
  // its content.
  const std::string git_dir = dir_.path() + "/versions.git";
  int status = -1;
  std::string type = Shell("git --git-dir='" + git_dir + "' cat-file -t " + r.blob, &status);
  EXPECT_EQ(status, 0) << type;
  EXPECT_EQ(type, "blob\n");
  std::string content = Shell("git --git-dir='" + git_dir + "' cat-file blob " + r.blob, &status);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(content == random);
  std::string fsck = Shell("git --git-dir='" + git_dir + "' fsck --strict 2>&1", &status);
  EXPECT_EQ(status, 0) << fsck;

  // The same content again records nothing; compressible large content
  // still goes through deflate and reads back too.
  EXPECT_FALSE(Put("media/clip.bin", random).recorded);
  const std::string text(2 << 20, 'a');
  CaptureResult t = Put("logs/big.log", text);
  auto text_back = store_->Get("root", "logs/big.log", t.version);
  ASSERT_TRUE(text_back.ok());
  EXPECT_TRUE(*text_back == text);
}

TEST_F(VersionStoreTest, CancelledCaptureRecordsNothingUntilResumed) {
  const std::string random = RandomBytes(4 << 20, 9);
  store_->CancelCaptures();
  const std::string scratch = dir_.path() + "/scratch-cancel";
  int fd = ::open(scratch.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, random.data(), random.size()), static_cast<ssize_t>(random.size()));
  auto r = store_->Capture("root", "big.bin", fd, who_);
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ECANCELED);
  EXPECT_FALSE(store_->History("root", "big.bin").ok());

  // A store that outlives the recorder that cancelled may capture again.
  store_->ResumeCaptures();
  fd = ::open(scratch.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto again = store_->Capture("root", "big.bin", fd, who_);
  ::close(fd);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->recorded);
}

}  // namespace
}  // namespace nexus::versions::testing
