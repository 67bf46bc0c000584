#include "fs/search/namespace_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "base/ns_path.h"

namespace nexus::search {
namespace {

int64_t MtimeNs(const Attr& a) { return int64_t{a.mtime.tv_sec} * 1'000'000'000 + a.mtime.tv_nsec; }

FileInfo InfoOf(std::string path, const Attr& a) { return FileInfo{std::move(path), a.size, MtimeNs(a)}; }

}  // namespace

bool NamespaceContentSource::Excluded(const std::string& path) const {
  for (const std::string& e : options_.exclude)
    if (!e.empty() && e != "/" && PathIsUnder(path, e)) return true;
  return false;
}

void NamespaceContentSource::Release(const Attr& attr) {
  if (attr.ino != kRootIno) ns_->Forget(attr.ino, 1);
}

Result<Attr> NamespaceContentSource::Pin(const std::string& path) {
  if (path.empty() || path[0] != '/') return Status::Error(EINVAL, "not an absolute path: " + path);
  if (path.find("/./") != std::string::npos || path.ends_with("/."))
    return Status::Error(EINVAL, "dot component in " + path);
  return ns_->ResolvePinned(root_, path);
}

Result<FileInfo> NamespaceContentSource::Stat(const std::string& path) {
  if (Excluded(path)) return Status::Error(ENOENT, path + " is not indexed");
  auto attr = Pin(path);
  if (!attr.ok()) return attr.status();
  Release(*attr);
  if (!attr->IsReg()) return Status::Error(EINVAL, "not a regular file: " + path);
  return InfoOf(path, *attr);
}

Result<std::string> NamespaceContentSource::Read(const std::string& path, size_t max_bytes) {
  if (Excluded(path)) return Status::Error(ENOENT, path + " is not indexed");
  auto attr = Pin(path);
  if (!attr.ok()) return attr.status();
  if (!attr->IsReg()) {
    Release(*attr);
    return Status::Error(EINVAL, "not a regular file: " + path);
  }
  auto fh = ns_->Open(root_, attr->ino, O_RDONLY);
  Release(*attr);  // the open handle keeps the inode alive from here on
  if (!fh.ok()) return fh.status();
  // The size now, not at lookup: the file may have grown in between.
  uint64_t size = attr->size;
  struct stat st;
  if (::fstat((*fh)->fd, &st) == 0) size = static_cast<uint64_t>(st.st_size);
  std::string out(std::min<uint64_t>(size, max_bytes), '\0');
  size_t got = 0;
  Status st_read;
  while (got < out.size()) {
    ssize_t n = ::pread((*fh)->fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st_read = Status::FromErrno("read " + path);
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ns_->Release(std::move(fh).value());
  if (!st_read.ok()) return st_read;
  out.resize(got);
  return out;
}

Result<std::vector<FileInfo>> NamespaceContentSource::List(const std::string& root) {
  std::vector<FileInfo> out;
  if (Excluded(root)) return out;
  auto top = Pin(root);
  if (!top.ok()) return top.status();
  if (top->IsReg()) out.push_back(InfoOf(root, *top));
  if (!top->IsDir()) {
    Release(*top);
    return out;
  }
  // Depth first; every directory on the stack holds one lookup reference,
  // dropped once it has been read.
  std::vector<std::pair<Attr, std::string>> stack;
  stack.emplace_back(*top, root == "/" ? "/" : root);
  while (!stack.empty()) {
    auto [dir, dir_path] = std::move(stack.back());
    stack.pop_back();
    auto entries = ns_->ReadDir(root_, dir.ino);
    if (entries.ok()) {
      for (const DirEntry& e : *entries) {
        if (e.name == "." || e.name == "..") continue;
        const mode_t type = e.type & S_IFMT;
        if (type != 0 && type != S_IFREG && type != S_IFDIR) continue;  // symlinks, nodes
        std::string path = PathJoin(dir_path, e.name);
        if (Excluded(path)) continue;
        auto child = ns_->Lookup(root_, dir.ino, e.name);
        if (!child.ok()) continue;  // gone since the listing
        if (child->IsDir()) {
          stack.emplace_back(*child, std::move(path));
          continue;
        }
        if (child->IsReg()) out.push_back(InfoOf(std::move(path), *child));
        Release(*child);
      }
    }
    Release(dir);
  }
  return out;
}

}  // namespace nexus::search
