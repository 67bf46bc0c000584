// ContentSource: how the search library reads the tree it indexes.
//
// Files are named by their path in the mounted namespace ("/src/a.c"): an
// absolute path with '/' separators, no "." or ".." components, no trailing
// '/'. The daemon supplies a source over its namespace; DirectoryContentSource
// serves a host directory, with namespace "/" at its root (tests, benchmarks,
// and the CLI working on a plain checkout).
//
// Threading: implementations must allow concurrent calls from any thread
// (queries verify grep candidates while the indexer reads files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace nexus::search {

struct FileInfo {
  std::string path;  // namespace path
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

class ContentSource {
 public:
  virtual ~ContentSource() = default;
  // The first `max_bytes` bytes of the regular file at `path`.
  // ENOENT if it does not exist, EINVAL if it is not a regular file.
  virtual Result<std::string> Read(const std::string& path, size_t max_bytes) = 0;
  // Size and mtime of the regular file at `path` (errors as for Read).
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Every regular file at or below `root` (a file lists itself), symlinks not
  // followed, in no particular order. ENOENT if `root` does not exist.
  virtual Result<std::vector<FileInfo>> List(const std::string& root) = 0;
};

// A host directory served as a namespace: "/x/y" is `root_dir`/x/y.
class DirectoryContentSource final : public ContentSource {
 public:
  explicit DirectoryContentSource(std::string root_dir);
  Result<std::string> Read(const std::string& path, size_t max_bytes) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Result<std::vector<FileInfo>> List(const std::string& root) override;

 private:
  // Host path for a namespace path; EINVAL for a path NsPath::Parse
  // refuses (not absolute, or a ".." that could leave the root).
  Result<std::string> HostPath(const std::string& path) const;
  std::string root_;
};

}  // namespace nexus::search
