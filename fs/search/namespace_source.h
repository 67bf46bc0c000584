// NamespaceContentSource: the search library's view of nexusd's mounted
// namespace (see content_source.h).
//
// Everything is read as root (the index covers the whole tree; queries
// filter results per caller afterwards). Paths are walked component by
// component with Namespace::Lookup, and every lookup reference taken is
// dropped with Forget before the call returns (the reference contract of
// fs/backend.h): an inode is only touched while this source holds a
// reference on it. Read opens the file read-only through the namespace and
// preads the handle's fd, so it sees what the mount shows, workspace files
// included. Symlinks are never followed.
//
// Excluded subtrees (by default layout::kSystemDir, the read-only history tree) are
// invisible: List skips them, Read and Stat answer ENOENT.
//
// Threading: thread-safe (the Namespace is); no state besides the options.
#pragma once

#include <string>
#include <vector>

#include "base/layout.h"
#include "fs/namespace.h"
#include "fs/search/content_source.h"
#include "fs/types.h"

namespace nexus::search {

class NamespaceContentSource final : public ContentSource {
 public:
  struct Options {
    std::vector<std::string> exclude = {std::string(layout::kSystemDir)};  // subtrees never listed or read
  };
  // `ns` must outlive the source.
  explicit NamespaceContentSource(Namespace* ns) : NamespaceContentSource(ns, Options{}) {}
  NamespaceContentSource(Namespace* ns, Options options) : ns_(ns), options_(std::move(options)) {}

  Result<std::string> Read(const std::string& path, size_t max_bytes) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Result<std::vector<FileInfo>> List(const std::string& root) override;

  // True if `path` lies in an excluded subtree.
  bool Excluded(const std::string& path) const;

 private:
  // Resolves `path` (no symlink followed) and returns its attributes with one
  // lookup reference held on the inode (none for the root), which the caller
  // must drop with Release. EINVAL for a relative path or a "."/".."
  // component.
  Result<Attr> Pin(const std::string& path);
  void Release(const Attr& attr);

  Namespace* const ns_;
  const Options options_;
  const Caller root_{};
};

}  // namespace nexus::search
