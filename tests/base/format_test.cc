#include "base/format.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

namespace nexus {
namespace {

TEST(FormatTest, Modes) {
  EXPECT_EQ(OctalMode(0100644, 6), "100644");
  EXPECT_EQ(OctalMode(0755), "755");
  EXPECT_EQ(OctalMode(040000, 6), "040000");
  EXPECT_EQ(LsMode(S_IFREG | 0644), "-rw-r--r--");
  EXPECT_EQ(LsMode(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(LsMode(S_IFLNK | 0777), "lrwxrwxrwx");
  EXPECT_EQ(LsMode(S_IFIFO | 0600), "prw-------");
}

TEST(FormatTest, Rfc3339Out) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(FormatRfc3339(1'767'225'600'000'000'001), "2026-01-01T00:00:00.000000001Z");
  EXPECT_EQ(FormatRfc3339(1'767'225'600'123'456'789, 3), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(FormatRfc3339(1'767'225'600'999'999'999, 0), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(FormatTest, Rfc3339RoundTrip) {
  for (UnixNanos t :
       {UnixNanos{0}, UnixNanos{1'767'225'600'000'000'001}, UnixNanos{1'700'000'000'5'0000'0000}}) {
    auto back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(back.ok()) << FormatRfc3339(t);
    EXPECT_EQ(*back, t);
  }
}

TEST(FormatTest, Rfc3339In) {
  EXPECT_EQ(*ParseRfc3339("2026-12-01T00:00:00Z"), 1'796'083'200 * kNanosPerSecond);
  EXPECT_EQ(*ParseRfc3339("2026-12-01T01:00:00.5+01:00"), 1'796'083'200 * kNanosPerSecond + 500'000'000);
  EXPECT_EQ(*ParseRfc3339("2026-12-01 00:00:00z"), 1'796'083'200 * kNanosPerSecond);
  for (const char* bad : {"", "2026-12-01", "2026-13-01T00:00:00Z", "2026-12-01T00:00:00",
                          "2026-12-01T00:00:00.Z", "2026-12-01T00:00:00+1:00", "2026-12-01T00:00:00Zjunk"})
    EXPECT_EQ(ParseRfc3339(bad).code(), EINVAL) << bad;
}

TEST(FormatTest, Utf8AndBase64) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("caf\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode(std::string("\0\xff", 2)), "AP8=");
}

}  // namespace
}  // namespace nexus
