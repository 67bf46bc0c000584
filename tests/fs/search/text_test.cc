#include "fs/search/text.h"

#include <gtest/gtest.h>

namespace nexus::search {
namespace {

TEST(TextTest, BinaryRule) {
  EXPECT_FALSE(LooksBinary(""));
  EXPECT_FALSE(LooksBinary("int main() {}\n"));
  EXPECT_FALSE(LooksBinary("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n"));  // valid UTF-8
  EXPECT_TRUE(LooksBinary(std::string("abc\0def", 7)));
  std::string late_nul(200000, 'a');
  late_nul[150000] = '\0';
  EXPECT_TRUE(LooksBinary(late_nul));  // a NUL anywhere
  // A Latin-1 accent in a long text is text; mostly invalid bytes are not.
  EXPECT_FALSE(LooksBinary("na\xEFve text with one Latin-1 byte in it\n"));
  EXPECT_TRUE(LooksBinary("\xFF\xFE\xFD\xFC\x80\x81 ab"));
  // A multi-byte sequence cut by the 64 KiB sample is not counted.
  std::string cut(65535, 'x');
  cut += "\xE2\x82\xAC rest";
  EXPECT_FALSE(LooksBinary(cut));
}

TEST(TextTest, SanitizeUtf8) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "plain"},
      {"caf\xC3\xA9", "caf\xC3\xA9"},
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
      {"a\xFF"
       "b",
       "a\xEF\xBF\xBD"
       "b"},
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                  // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},                  // surrogate
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
      {"end\xE2\x82", "end\xEF\xBF\xBD\xEF\xBF\xBD"},                            // truncated
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(SanitizeUtf8(in), want);
}

TEST(TextTest, ChunkLinesKeepsWholeLines) {
  std::string text;
  for (int i = 1; i <= 10; ++i) text += "line " + std::to_string(i) + "\n";
  auto chunks = ChunkLines(text, 4, 1 << 20);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].start_line, 1u);
  EXPECT_EQ(chunks[0].end_line, 4u);
  EXPECT_EQ(chunks[2].start_line, 9u);
  EXPECT_EQ(chunks[2].end_line, 10u);
  size_t covered = 0;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.offset, covered);
    covered += c.length;
    EXPECT_EQ(text[c.offset + c.length - 1], '\n');
  }
  EXPECT_EQ(covered, text.size());

  // Byte budget: a chunk closes before the line that would overflow it; an
  // overlong line is a chunk of its own; a final line without '\n' counts.
  std::string t2 = "aaaa\nbbbb\n" + std::string(50, 'c') + "\ndd";
  auto c2 = ChunkLines(t2, 100, 8);
  ASSERT_EQ(c2.size(), 4u);
  EXPECT_EQ(c2[0].end_line, 1u);
  EXPECT_EQ(c2[1].start_line, 2u);
  EXPECT_EQ(c2[2].length, 51u);
  EXPECT_EQ(c2[3].start_line, 4u);
  EXPECT_EQ(c2[3].length, 2u);
  EXPECT_TRUE(ChunkLines("", 10, 10).empty());
}

}  // namespace
}  // namespace nexus::search
