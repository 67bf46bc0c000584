// Text forms shared by every layer: file modes (octal and `ls -l`), instants
// in RFC 3339 (both directions), UTF-8 validity and base64. One function per
// form, named for the form, so two spellings of the same thing cannot drift.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"

namespace nexus {

// The mode in octal, zero-padded to `width` digits: OctalMode(0100644, 6) is
// "100644" (git's form), OctalMode(0755) is "755".
std::string OctalMode(uint32_t mode, int width = 0);

// The mode as `ls -l` shows it: "-rw-r--r--", "drwxr-xr-x", "lrwxrwxrwx".
std::string LsMode(uint32_t mode);

// `t` in RFC 3339, UTC, with `fraction_digits` (0 to 9) digits of the second:
// FormatRfc3339(t, 0) "2026-11-24T06:30:00Z", (t, 3) "2026-11-24T06:30:00.123Z",
// (t) "2026-11-24T06:30:00.123456789Z". Instants before 1970 are exact too.
std::string FormatRfc3339(UnixNanos t, int fraction_digits = 9);

// Parses an RFC 3339 instant: "2026-12-01T00:00:00Z", "2026-12-01t01:00:00.5+01:00",
// a space for the 'T'. EINVAL naming the text otherwise.
Result<UnixNanos> ParseRfc3339(std::string_view text);

// True when `s` is well-formed UTF-8 (shortest forms not enforced).
bool IsValidUtf8(std::string_view s);

// Standard base64 with padding (RFC 4648, section 4).
std::string Base64Encode(std::string_view bytes);

}  // namespace nexus
