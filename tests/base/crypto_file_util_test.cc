// The digests of base/crypto.h and the full-transfer helpers of
// base/file_util.h.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/crypto.h"
#include "base/file_util.h"

namespace nexus {
namespace {

TEST(DigestTest, KnownVectorsInPiecesAndAtOnce) {
  Sha1 sha1;
  sha1.Update("a");
  sha1.Update("bc");
  EXPECT_EQ(sha1.FinishHex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  Sha1 raw;
  raw.Update("abc");
  EXPECT_EQ(raw.FinishRaw().size(), 20u);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileUtilTest, PwriteAllAndPreadAllMoveEveryByte) {
  char path[] = "/tmp/nexus-base-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  const std::string data(3 << 20, 'x');
  ASSERT_TRUE(PwriteAll(fd, data, 5, "test write").ok());
  std::string back(data.size(), '\0');
  ASSERT_TRUE(PreadAll(fd, back.data(), back.size(), 5, "test read").ok());
  EXPECT_EQ(back, data);
  Status past = PreadAll(fd, back.data(), 10, data.size(), "test read");
  EXPECT_EQ(past.code(), EIO);
  EXPECT_NE(past.message().find("test read"), std::string::npos);
  ::close(fd);
  EXPECT_EQ(PwriteAll(fd, "x", 0, "closed").code(), EBADF);
}

}  // namespace
}  // namespace nexus
