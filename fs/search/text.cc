#include "fs/search/text.h"

#include <cstdint>
#include <cstring>

namespace nexus::search {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

constexpr size_t kBinarySample = 64 * 1024;

// The first index >= i of a non-ASCII byte (or s.size()), eight bytes a step.
size_t SkipAscii(std::string_view s, size_t i) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  while (i + 8 <= s.size()) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & kHigh) break;
    i += 8;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

}  // namespace

bool LooksBinary(std::string_view data) {
  if (std::memchr(data.data(), '\0', data.size()) != nullptr) return true;
  std::string_view sample = data.substr(0, kBinarySample);
  size_t invalid = 0;
  for (size_t i = SkipAscii(sample, 0); i < sample.size(); i = SkipAscii(sample, i)) {
    size_t len = Utf8SequenceLength(sample, i);
    if (len == 0) {
      // A sequence cut by the sample's end is not evidence of binary data.
      if (sample.size() < data.size() && i + 4 > sample.size()) break;
      ++invalid;
      len = 1;
    }
    i += len;
  }
  return invalid * 10 > sample.size();
}

std::string SanitizeUtf8(std::string_view data) {
  std::string out;
  size_t i = 0, copied = 0;
  while ((i = SkipAscii(data, i)) < data.size()) {
    size_t len = Utf8SequenceLength(data, i);
    if (len > 0) {
      i += len;
      continue;
    }
    if (out.empty()) out.reserve(data.size() + 16);
    out.append(data.substr(copied, i - copied)).append("\xEF\xBF\xBD");
    copied = ++i;
  }
  if (copied == 0) return std::string(data);
  out.append(data.substr(copied));
  return out;
}

std::vector<LineChunk> ChunkLines(std::string_view text, size_t max_lines, size_t max_bytes) {
  std::vector<LineChunk> chunks;
  LineChunk cur;
  uint32_t line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const char* nl = static_cast<const char*>(std::memchr(text.data() + pos, '\n', text.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - text.data()) + 1 : text.size();
    ++line;
    size_t lines_in = cur.length ? cur.end_line - cur.start_line + 1 : 0;
    if (cur.length > 0 && (lines_in >= max_lines || cur.length + (end - pos) > max_bytes)) {
      chunks.push_back(cur);
      cur = LineChunk{};
    }
    if (cur.length == 0) {
      cur.start_line = line;
      cur.offset = pos;
    }
    cur.end_line = line;
    cur.length = end - cur.offset;
    pos = end;
  }
  if (cur.length > 0) chunks.push_back(cur);
  return chunks;
}

}  // namespace nexus::search
