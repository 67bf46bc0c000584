// Text handling for the index: the binary rule, UTF-8 repair and chunking.
//
// Binary rule: a file is binary, and not indexed, if it contains a NUL byte
// anywhere (as git and grep decide), or if more than 10% of its first 64 KiB
// are bytes of invalid UTF-8 sequences. A text file with a few invalid
// bytes (Latin-1 accents in a UTF-8 tree) is indexed: the stored copy has
// each invalid byte replaced by U+FFFD, so FTS5 and snippets only ever see
// valid UTF-8. Grep verifies on the raw bytes, never on the stored copy.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nexus::search {

bool LooksBinary(std::string_view data);

// `data` with every byte that is not part of a valid UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF included) replaced by
// U+FFFD. Valid input comes back unchanged.
std::string SanitizeUtf8(std::string_view data);

// A run of whole lines of a text. Lines are numbered from 1; a final line
// without '\n' counts, an empty text has no chunks.
struct LineChunk {
  uint32_t start_line = 0;  // first line, inclusive
  uint32_t end_line = 0;    // last line, inclusive
  size_t offset = 0;        // byte range in the text
  size_t length = 0;
};

// Splits `text` at line boundaries into chunks of at most `max_lines` lines
// and, where lines allow it, at most `max_bytes` bytes: a chunk closes before
// the line that would take it over `max_bytes`, so a single longer line is a
// chunk of its own. A chunk never splits a line, which keeps every grep
// match (a match lies within one line) inside one chunk.
std::vector<LineChunk> ChunkLines(std::string_view text, size_t max_lines, size_t max_bytes);

}  // namespace nexus::search
