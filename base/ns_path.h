// NsPath: a path in the mounted namespace ("/docs/a.txt", "/zone/local/x"),
// validated once where it enters (a FUSE name, a socket argument, a CLI
// argument) and carried as a value after that.
//
// The canonical form: starts with '/', components separated by one '/', no
// empty, "." or ".." component, no trailing '/' (except the root "/"), no NUL
// byte, every component at most NAME_MAX (255) bytes, the whole at most
// PATH_MAX (4096) bytes. Any other byte is allowed in a name, as on Linux.
//
// ".." has no lexical meaning here: after a symlink it names the parent of
// the link's target, so only a walk of the tree can resolve it. Parse
// refuses it; ParseSteps keeps it, for the walker (fs/path_files.h) that
// resolves each step as the kernel does.
//
// Thread-safety: a value type; distinct objects may be used concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus {

inline constexpr size_t kNameMax = 255;
inline constexpr size_t kPathMax = 4096;

// Checks one name of a directory entry: not empty, not "." or "..", no '/'
// or NUL, at most kNameMax bytes. EINVAL or ENAMETOOLONG otherwise.
Status ValidateName(std::string_view name);

class NsPath {
 public:
  NsPath() : text_("/") {}  // the root

  // Parses an absolute path, folding repeated '/', "." components and a
  // trailing '/'. EINVAL for an empty or relative path, a ".." component or
  // a NUL byte; ENAMETOOLONG past kNameMax or kPathMax.
  static Result<NsPath> Parse(std::string_view text);

  // Parse, with "" meaning the root: an optional path argument left out.
  static Result<NsPath> ParseOptional(std::string_view text);

  // The steps a walk takes for `text`: its components in order, with ".."
  // kept (and "." and empty ones dropped). The same errors as Parse, but
  // ".." is a step, not an error. An empty vector is the root.
  static Result<std::vector<std::string>> ParseSteps(std::string_view text);

  // A path relative to some root as it is stored ("a/b", e.g. a file of a
  // zone in the version store): every component must be a name
  // (ValidateName), so "a//b", "." and ".." are EINVAL; a leading or
  // trailing '/' is tolerated. "" and "/" are the root.
  static Result<NsPath> FromRelative(std::string_view relative);

  // Builds a path from components already known to be valid names.
  static NsPath FromValidComponents(const std::vector<std::string>& names);

  const std::string& str() const { return text_; }
  const char* c_str() const { return text_.c_str(); }
  bool IsRoot() const { return text_.size() == 1; }

  // The parent directory; the root's parent is the root.
  NsPath Parent() const;
  // The last component; "" for the root.
  std::string_view Name() const;
  // This path with `name` appended, after ValidateName.
  Result<NsPath> Join(std::string_view name) const;
  // Appends a relative path of valid names ("a/b"), e.g. a stored
  // zone-relative path; the same checks as Parse.
  Result<NsPath> JoinRelative(std::string_view relative) const;
  // True when this path is `ancestor` or lies below it ("/a/b" is under
  // "/a" and "/a/b", not under "/a/bc").
  bool IsUnder(const NsPath& ancestor) const;
  // The part below `ancestor` without a leading '/' ("" when equal); only
  // meaningful when IsUnder(ancestor).
  std::string_view RelativeTo(const NsPath& ancestor) const;
  // The components, root first; empty for the root. Views into this path.
  std::vector<std::string_view> Components() const;

  friend bool operator==(const NsPath&, const NsPath&) = default;
  friend auto operator<=>(const NsPath&, const NsPath&) = default;

 private:
  explicit NsPath(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

// For string paths known to be canonical (stored, or made by NsPath), where
// a hot path cannot afford a parse:
// whether `path` is `ancestor` or below it;
bool PathIsUnder(std::string_view path, std::string_view ancestor);
// the parent directory ("/" for "/" and for "/a");
std::string_view PathParent(std::string_view path);
// `dir` with the valid name `name` appended.
std::string PathJoin(std::string_view dir, std::string_view name);
// Whether `text` is already in the canonical form (NsPath::Parse(text)
// succeeds and changes nothing).
bool IsCanonicalPath(std::string_view text);

}  // namespace nexus
