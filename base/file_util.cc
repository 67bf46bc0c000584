#include "base/file_util.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace nexus {

Result<std::string> ReadTextFile(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(what + ": cannot open " + path);
  return ReadAndClose(fd, what + ": cannot read " + path);
}

Result<std::string> ReadAndClose(int fd, const std::string& what) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::FromErrno(what);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno("create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::FromErrno("write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
    Status st = Status::FromErrno("write " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = Status::FromErrno("rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
}

Status PwriteAll(int fd, std::string_view data, uint64_t offset, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(std::string(what));
    if (n == 0) return Status::Error(EIO, std::string(what) + ": nothing written");
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PreadAll(int fd, void* buf, size_t len, uint64_t offset, std::string_view what) {
  auto* p = static_cast<char*>(buf);
  for (size_t done = 0; done < len;) {
    ssize_t n = ::pread(fd, p + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(std::string(what));
    if (n == 0) return Status::Error(EIO, std::string(what) + ": unexpected end of file");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status CloneFileContent(int src, int dst) {
  if (::ioctl(dst, FICLONE, src) != 0) return Status::FromErrno("clone file extents");
  return Status::Ok();
}

// Copies all of `src` to `dst` (both at offset 0), in the kernel when it can.
Status CopyFileContent(int src, int dst) {
  loff_t in = 0, out = 0;
  for (;;) {
    ssize_t n = ::copy_file_range(src, &in, dst, &out, size_t{1} << 30, 0);
    if (n == 0) return Status::Ok();
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      return Status::FromErrno("copy_file_range");
    break;  // another filesystem or kernel: copy by hand from where it stopped
  }
  std::vector<char> buf(size_t{1} << 20);
  for (;;) {
    ssize_t n = ::pread(src, buf.data(), buf.size(), in);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read for a copy");
    if (n == 0) return Status::Ok();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(dst, buf.data() + done, static_cast<size_t>(n - done), out);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Status::FromErrno("write copy");
      done += w;
      out += w;
    }
    in += n;
  }
}

}  // namespace nexus
