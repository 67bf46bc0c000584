#include "base/format.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>

namespace nexus {

std::string OctalMode(uint32_t mode, int width) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*o", width, mode);
  return buf;
}

std::string LsMode(uint32_t mode) {
  std::string s = "?rwxrwxrwx";
  switch (mode & S_IFMT) {
    case S_IFDIR:
      s[0] = 'd';
      break;
    case S_IFLNK:
      s[0] = 'l';
      break;
    case S_IFIFO:
      s[0] = 'p';
      break;
    case S_IFSOCK:
      s[0] = 's';
      break;
    case S_IFCHR:
      s[0] = 'c';
      break;
    case S_IFBLK:
      s[0] = 'b';
      break;
    default:
      s[0] = '-';
  }
  for (int i = 0; i < 9; ++i)
    if (!(mode & (1u << (8 - i)))) s[1 + i] = '-';
  return s;
}

std::string FormatRfc3339(UnixNanos t, int fraction_digits) {
  if (fraction_digits < 0) fraction_digits = 0;
  if (fraction_digits > 9) fraction_digits = 9;
  time_t secs = static_cast<time_t>(t / kNanosPerSecond);
  long nanos = static_cast<long>(t % kNanosPerSecond);
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (fraction_digits > 0) {
    long scaled = nanos;
    for (int i = fraction_digits; i < 9; ++i) scaled /= 10;
    n += std::snprintf(buf + n, sizeof buf - n, ".%0*ld", fraction_digits, scaled);
  }
  std::snprintf(buf + n, sizeof buf - n, "Z");
  return buf;
}

Result<UnixNanos> ParseRfc3339(std::string_view text) {
  const std::string s(text);
  auto bad = [&]() {
    return Status::Error(EINVAL, "\"" + s + "\" is not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)");
  };
  int y, mo, d, h, mi, sec, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
      used == 0)
    return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  size_t i = static_cast<size_t>(used);
  int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    int64_t scale = 100'000'000;
    size_t start = ++i;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      frac += (s[i] - '0') * scale;
      scale /= 10;
    }
    if (i == start) return bad();
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om, n = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
      return bad();
    offset_s = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 1 + static_cast<size_t>(n);
  } else {
    return bad();
  }
  if (i != s.size()) return bad();
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return secs * kNanosPerSecond + frac;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

std::string Base64Encode(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace nexus
