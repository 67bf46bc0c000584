// Glob patterns over namespace paths, `find -path` style.
//
// A pattern is matched against the whole path, byte by byte:
//   *       any run of bytes without '/' (may be empty)
//   ?       one byte other than '/'
//   [...]   one byte other than '/' in the set; ranges "a-z"; "!" or "^"
//           first negates; "]" first is literal; no closing "]" makes the
//           "[" a literal
//   **      as a whole component followed by '/' ("/a/**/b"): zero or more
//           whole directories, so "/a/**/b" matches "/a/b" and "/a/x/y/b";
//           anywhere else ("/a/**", "/a/x**"): any run of bytes, '/' included
//   {a,b}   alternatives, nested allowed ("{src,lib/{x,y}}"); "{a}" is "a"
//   \c      the byte c, literally
// Dotfiles get no special treatment ("*" matches ".git"), as with find.
//
// Threading: a compiled GlobPattern is immutable; Matches may be called from
// any number of threads.
#pragma once

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus::search {

class GlobPattern {
 public:
  // EINVAL for an unbalanced "{" or "}", a trailing "\", or more than 1024
  // brace alternatives.
  static Result<GlobPattern> Compile(std::string_view pattern);

  bool Matches(std::string_view path) const;

  // The longest directory every match lies under ("/src/lib" for
  // "/src/lib/**/*.h", "/" when the first component already has a wildcard):
  // listing it is enough to answer the glob.
  const std::string& LiteralDir() const { return literal_dir_; }

 private:
  struct Token {
    enum Kind : unsigned char { kByte, kOne, kStar, kAnyRun, kDirs, kSet } kind;
    unsigned char byte = 0;
    int set = -1;  // index into sets_ for kSet
  };
  using Alternative = std::vector<Token>;

  bool MatchAlt(const Alternative& alt, std::string_view s) const;
  Status AddAlternative(std::string_view expanded);

  std::vector<Alternative> alternatives_;
  std::vector<std::bitset<256>> sets_;
  std::string literal_dir_ = "/";
};

// One-shot convenience: an invalid pattern matches nothing.
bool GlobMatch(std::string_view pattern, std::string_view path);

}  // namespace nexus::search
