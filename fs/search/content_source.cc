#include "fs/search/content_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ns_path.h"

namespace nexus::search {
namespace {

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Appends every regular file below the open directory `dfd` (which it
// closes), named under namespace directory `ns_dir`.
void ListDir(int dfd, const std::string& ns_dir, std::vector<FileInfo>* out) {
  DIR* dir = ::fdopendir(dfd);
  if (dir == nullptr) {
    ::close(dfd);
    return;
  }
  const std::string base = ns_dir == "/" ? "" : ns_dir;
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = e->d_type;
    struct stat st;
    if (type == DT_UNKNOWN || type == DT_REG) {
      if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
    }
    std::string child = base + "/" + e->d_name;
    if (type == DT_REG) {
      out->push_back({std::move(child), static_cast<uint64_t>(st.st_size), MtimeNs(st)});
    } else if (type == DT_DIR) {
      int cfd = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd >= 0) ListDir(cfd, child, out);
    }
  }
  ::closedir(dir);
}

}  // namespace

DirectoryContentSource::DirectoryContentSource(std::string root_dir) : root_(std::move(root_dir)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Result<std::string> DirectoryContentSource::HostPath(const std::string& path) const {
  auto p = NsPath::Parse(path);  // refuses "..", which could leave the root
  if (!p.ok()) return p.status();
  return p->IsRoot() ? root_ : root_ + p->str();
}

Result<FileInfo> DirectoryContentSource::Stat(const std::string& path) {
  auto host = HostPath(path);
  if (!host.ok()) return host.status();
  struct stat st;
  if (::lstat(host->c_str(), &st) != 0) return Status::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Status::Error(EINVAL, "not a regular file: " + path);
  return FileInfo{path, static_cast<uint64_t>(st.st_size), MtimeNs(st)};
}

Result<std::string> DirectoryContentSource::Read(const std::string& path, size_t max_bytes) {
  auto host = HostPath(path);
  if (!host.ok()) return host.status();
  int fd = ::open(host->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(EINVAL, "not a regular file: " + path);
  }
  std::string data;
  // Size from fstat is a hint: the file may grow or shrink while we read.
  data.resize(std::min<size_t>(max_bytes, static_cast<size_t>(st.st_size) + 1));
  size_t got = 0;
  while (got < max_bytes) {
    if (got == data.size()) data.resize(std::min(max_bytes, data.size() * 2 + 4096));
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st_err = Status::FromErrno("read " + path);
      ::close(fd);
      return st_err;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

Result<std::vector<FileInfo>> DirectoryContentSource::List(const std::string& root) {
  auto host = HostPath(root);
  if (!host.ok()) return host.status();
  struct stat st;
  if (::lstat(host->c_str(), &st) != 0) return Status::FromErrno("stat " + root);
  std::vector<FileInfo> out;
  if (S_ISREG(st.st_mode)) {
    out.push_back({root, static_cast<uint64_t>(st.st_size), MtimeNs(st)});
  } else if (S_ISDIR(st.st_mode)) {
    int dfd = ::open(host->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Status::FromErrno("open " + root);
    ListDir(dfd, root, &out);
  }
  return out;
}

}  // namespace nexus::search
