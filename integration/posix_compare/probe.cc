#include "probe.h"

#include <grp.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

namespace posix_compare {
namespace {

// ---- Formatting of call labels and values ----

// Printable, quoted rendering of bytes. Long strings are abbreviated so a
// 255-byte file name does not flood the report; the length stays visible.
std::string Quote(std::string_view s) {
  constexpr size_t kShown = 24;
  std::string out = "\"";
  const size_t shown = s.size() > 2 * kShown ? kShown : s.size();
  for (size_t i = 0; i < shown; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  if (shown < s.size()) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string Oct(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", static_cast<unsigned>(mode));
  return buf;
}

std::string Call(std::string_view name, std::initializer_list<std::string> args) {
  std::string out(name);
  out += '(';
  bool first = true;
  for (const auto& a : args) {
    if (!first) out += ", ";
    out += a;
    first = false;
  }
  out += ')';
  return out;
}

std::string Num(long long v) { return std::to_string(v); }

uint64_t Fnv1a(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// "N bytes", then the content itself when short, "all zero" for holes, or a
// hash plus a prefix for bulk data.
std::string DescribeBytes(std::string_view data) {
  std::string out = std::to_string(data.size()) + (data.size() == 1 ? " byte" : " bytes");
  if (data.empty()) return out;
  if (std::all_of(data.begin(), data.end(), [](char c) { return c == 0; })) {
    return out + ", all zero";
  }
  if (data.size() <= 64) return out + ": " + Quote(data);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, Fnv1a(data));
  return out + ", fnv1a=" + buf + ", starts " + Quote(data.substr(0, 16));
}

const char* TypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "reg";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "lnk";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "sock";
    case S_IFCHR:
      return "chr";
    case S_IFBLK:
      return "blk";
    default:
      return "?";
  }
}

const char* DirentTypeName(unsigned char t) {
  switch (t) {
    case DT_REG:
      return "reg";
    case DT_DIR:
      return "dir";
    case DT_LNK:
      return "lnk";
    case DT_FIFO:
      return "fifo";
    case DT_SOCK:
      return "sock";
    case DT_CHR:
      return "chr";
    case DT_BLK:
      return "blk";
    case DT_UNKNOWN:
      return "unknown";
    default:
      return "?";
  }
}

std::string DescribeStat(const struct stat& st) {
  std::string out = TypeName(st.st_mode);
  out += " mode=" + Oct(st.st_mode & 07777);
  out += " nlink=" + Num(st.st_nlink);
  if (!S_ISDIR(st.st_mode)) out += " size=" + Num(st.st_size);
  out += " uid=" + Num(st.st_uid) + " gid=" + Num(st.st_gid);
  return out;
}

std::string DescribeBlocks(blkcnt_t blocks) {
  const long long bytes = static_cast<long long>(blocks) * 512;
  constexpr long long kBucket = 64 * 1024;
  if (bytes == 0) return "allocated 0";
  if (bytes < kBucket) return "allocated <64KiB";
  const long long rounded = (bytes + kBucket / 2) / kBucket * kBucket;
  return "allocated ~" + Num(rounded / 1024) + "KiB";
}

std::string Timespec(const struct timespec& ts) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%09ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
  return buf;
}

std::string TimeArg(const struct timespec& ts) {
  if (ts.tv_nsec == UTIME_NOW) return "UTIME_NOW";
  if (ts.tv_nsec == UTIME_OMIT) return "UTIME_OMIT";
  return Timespec(ts);
}

int Cmp(const struct timespec& a, const struct timespec& b) {
  if (a.tv_sec != b.tv_sec) return a.tv_sec < b.tv_sec ? -1 : 1;
  if (a.tv_nsec != b.tv_nsec) return a.tv_nsec < b.tv_nsec ? -1 : 1;
  return 0;
}

const char* Relation(const struct timespec& now, const struct timespec& before) {
  const int c = Cmp(now, before);
  return c == 0 ? "same" : c > 0 ? "later" : "earlier";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

// ---- Pipe protocol: "call\tvalue\terr\n" with \\, \t, \n escaped ----

void Escape(std::string_view s, std::string& out) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

std::vector<std::string> SplitEscaped(std::string_view line) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      const char n = line[++i];
      fields.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n;
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

}  // namespace

bool WriteStep(int fd, const Step& step) {
  std::string line;
  Escape(step.call, line);
  line += '\t';
  Escape(step.value, line);
  line += '\t';
  line += std::to_string(step.err);
  line += '\n';
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<Step> ParseStep(std::string_view line) {
  auto fields = SplitEscaped(line);
  if (fields.size() != 3) return std::nullopt;
  Step step{std::move(fields[0]), std::move(fields[1]), 0};
  step.err = std::atoi(fields[2].c_str());
  return step;
}

int DropPrivileges(const Identity& id) {
  const gid_t groups[] = {id.gid};
  if (::setgroups(1, groups) != 0) return -1;
  if (::setresgid(id.gid, id.gid, id.gid) != 0) return -1;
  return ::setresuid(id.uid, id.uid, id.uid);
}

Probe::Probe(int out_fd, std::optional<Identity> user) : out_fd_(out_fd), user_(user) {}

void Probe::record(std::string call, std::string value, int err) {
  if (!WriteStep(out_fd_, Step{prefix_ + call, std::move(value), err})) _exit(3);
}

int Probe::record_rc(std::string call, long rc, int err) {
  if (rc == -1) {
    record(std::move(call), "-1", err);
  } else {
    record(std::move(call), Num(rc), 0);
  }
  errno = err;
  return static_cast<int>(rc);
}

std::string Probe::fd_name(int fd) const {
  auto it = fd_names_.find(fd);
  return it == fd_names_.end() ? "fd(" + Num(fd) + ")" : it->second;
}

void Probe::remember_fd(int fd) {
  if (fd >= 0) fd_names_[fd] = "fd" + Num(++opened_);
}

// ---- Composite setup helpers ----

bool Probe::make_file(const char* path, std::string_view content, mode_t mode) {
  std::string call = "make_file(" + Quote(path) + ", " + DescribeBytes(content) + ", " + Oct(mode) + ")";
  const int fd = ::open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
  if (fd < 0) {
    record(call + " [open]", "-1", errno);
    return false;
  }
  const ssize_t n = ::write(fd, content.data(), content.size());
  const int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    record(call + " [write]", n < 0 ? "-1" : "short write " + Num(n), n < 0 ? e : 0);
    return false;
  }
  record(call, "ok", 0);
  return true;
}

bool Probe::make_files(const char* prefix, int count) {
  std::string call = "make_files(" + Quote(prefix) + ", " + Num(count) + ")";
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + std::to_string(i);
    const int fd = ::open(name.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644);
    if (fd < 0) {
      record(call + " [open " + Quote(name) + "]", "-1", errno);
      return false;
    }
    ::close(fd);
  }
  record(call, "ok", 0);
  return true;
}

std::string Probe::cat(const char* path) {
  std::string call = "cat(" + Quote(path) + ")";
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) {
    record(call + " [open]", "-1", errno);
    return {};
  }
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      record(call + " [read]", "-1", e);
      return {};
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  record(call, DescribeBytes(data), 0);
  return data;
}

// ---- Descriptors and data ----

int Probe::open(const char* path, Flags flags, mode_t mode) {
  const int fd = ::open(path, static_cast<int>(flags.value), mode);
  const int e = errno;
  // O_TMPFILE contains the O_DIRECTORY bit, so test it as a whole.
  const bool takes_mode = (flags.value & O_CREAT) || (flags.value & O_TMPFILE) == O_TMPFILE;
  std::string call = takes_mode ? Call("open", {Quote(path), flags.text, Oct(mode)})
                                : Call("open", {Quote(path), flags.text});
  remember_fd(fd);
  record(std::move(call), fd < 0 ? "-1" : fd_name(fd), fd < 0 ? e : 0);
  errno = e;
  return fd;
}

int Probe::close(int fd) {
  const int rc = ::close(fd);
  const int e = errno;
  std::string name = fd_name(fd);
  fd_names_.erase(fd);
  return record_rc(Call("close", {name}), rc, e);
}

ssize_t Probe::write(int fd, std::string_view data) {
  const ssize_t n = ::write(fd, data.data(), data.size());
  const int e = errno;
  record_rc(Call("write", {fd_name(fd), Quote(data)}), n, e);
  return n;
}

ssize_t Probe::pwrite(int fd, std::string_view data, off_t offset) {
  const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
  const int e = errno;
  record_rc(Call("pwrite", {fd_name(fd), Quote(data), Num(offset)}), n, e);
  return n;
}

std::string Probe::read(int fd, size_t count) {
  std::string buf(count, '\0');
  const ssize_t n = ::read(fd, buf.data(), count);
  const int e = errno;
  std::string call = Call("read", {fd_name(fd), Num(static_cast<long long>(count))});
  if (n < 0) {
    record(std::move(call), "-1", e);
    return {};
  }
  buf.resize(static_cast<size_t>(n));
  record(std::move(call), DescribeBytes(buf), 0);
  return buf;
}

std::string Probe::pread(int fd, size_t count, off_t offset) {
  std::string buf(count, '\0');
  const ssize_t n = ::pread(fd, buf.data(), count, offset);
  const int e = errno;
  std::string call = Call("pread", {fd_name(fd), Num(static_cast<long long>(count)), Num(offset)});
  if (n < 0) {
    record(std::move(call), "-1", e);
    return {};
  }
  buf.resize(static_cast<size_t>(n));
  record(std::move(call), DescribeBytes(buf), 0);
  return buf;
}

off_t Probe::lseek(int fd, off_t offset, Flags whence) {
  const off_t r = ::lseek(fd, offset, static_cast<int>(whence.value));
  const int e = errno;
  record_rc(Call("lseek", {fd_name(fd), Num(offset), whence.text}), r, e);
  return r;
}

int Probe::ftruncate(int fd, off_t length) {
  const int rc = ::ftruncate(fd, length);
  return record_rc(Call("ftruncate", {fd_name(fd), Num(length)}), rc, errno);
}

int Probe::truncate(const char* path, off_t length) {
  const int rc = ::truncate(path, length);
  return record_rc(Call("truncate", {Quote(path), Num(length)}), rc, errno);
}

int Probe::fallocate(int fd, Flags mode, off_t offset, off_t length) {
  const int rc = ::fallocate(fd, static_cast<int>(mode.value), offset, length);
  return record_rc(Call("fallocate", {fd_name(fd), mode.text, Num(offset), Num(length)}), rc, errno);
}

int Probe::fsync(int fd) {
  const int rc = ::fsync(fd);
  return record_rc(Call("fsync", {fd_name(fd)}), rc, errno);
}

int Probe::fdatasync(int fd) {
  const int rc = ::fdatasync(fd);
  return record_rc(Call("fdatasync", {fd_name(fd)}), rc, errno);
}

// ---- Names ----

int Probe::mkdir(const char* path, mode_t mode) {
  const int rc = ::mkdir(path, mode);
  return record_rc(Call("mkdir", {Quote(path), Oct(mode)}), rc, errno);
}

int Probe::rmdir(const char* path) {
  const int rc = ::rmdir(path);
  return record_rc(Call("rmdir", {Quote(path)}), rc, errno);
}

int Probe::unlink(const char* path) {
  const int rc = ::unlink(path);
  return record_rc(Call("unlink", {Quote(path)}), rc, errno);
}

int Probe::rename(const char* from, const char* to) {
  const int rc = ::rename(from, to);
  return record_rc(Call("rename", {Quote(from), Quote(to)}), rc, errno);
}

int Probe::renameat2(const char* from, const char* to, Flags flags) {
  const int rc = ::renameat2(AT_FDCWD, from, AT_FDCWD, to, static_cast<unsigned>(flags.value));
  return record_rc(Call("renameat2", {Quote(from), Quote(to), flags.text}), rc, errno);
}

int Probe::link(const char* from, const char* to) {
  const int rc = ::link(from, to);
  return record_rc(Call("link", {Quote(from), Quote(to)}), rc, errno);
}

int Probe::symlink(const char* target, const char* path) {
  const int rc = ::symlink(target, path);
  return record_rc(Call("symlink", {Quote(target), Quote(path)}), rc, errno);
}

std::string Probe::readlink(const char* path, size_t buffer_size) {
  std::string buf(buffer_size, '\0');
  const ssize_t n = ::readlink(path, buf.data(), buffer_size);
  const int e = errno;
  std::string call = Call("readlink", {Quote(path), Num(static_cast<long long>(buffer_size))});
  if (n < 0) {
    record(std::move(call), "-1", e);
    return {};
  }
  buf.resize(static_cast<size_t>(n));
  record(std::move(call), Num(n) + ": " + Quote(buf), 0);
  return buf;
}

int Probe::mknod(const char* path, Flags type, mode_t perm) {
  const int rc = ::mknod(path, static_cast<mode_t>(type.value) | perm, 0);
  return record_rc(Call("mknod", {Quote(path), std::string(type.text) + " | " + Oct(perm)}), rc, errno);
}

int Probe::access(const char* path, Flags mode) {
  const int rc = ::access(path, static_cast<int>(mode.value));
  return record_rc(Call("access", {Quote(path), mode.text}), rc, errno);
}

void Probe::unix_socket_roundtrip(const char* path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
  const int server = ::socket(AF_UNIX, SOCK_STREAM, 0);
  int rc = ::bind(server, sa, sizeof addr);
  record_rc(Call("bind", {"AF_UNIX", Quote(path)}), rc, errno);
  rc = ::listen(server, 1);
  record_rc("listen()", rc, errno);
  const int client = ::socket(AF_UNIX, SOCK_STREAM, 0);
  rc = ::connect(client, sa, sizeof addr);
  record_rc(Call("connect", {"AF_UNIX", Quote(path)}), rc, errno);
  ::close(client);
  ::close(server);
}

// ---- Directory streams ----

DIR* Probe::opendir(const char* path) {
  DIR* dir = ::opendir(path);
  const int e = errno;
  record(Call("opendir", {Quote(path)}), dir ? "ok" : "-1", dir ? 0 : e);
  return dir;
}

void Probe::readdir_all(DIR* dir) {
  if (dir == nullptr) {
    record("readdir(NULL)", "skipped", 0);
    return;
  }
  std::vector<std::string> entries;
  for (;;) {
    errno = 0;
    const dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      if (errno != 0) {
        record("readdir()", "-1", errno);
        return;
      }
      break;
    }
    entries.push_back(std::string(ent->d_name) + ":" + DirentTypeName(ent->d_type));
  }
  std::sort(entries.begin(), entries.end());
  record("readdir()", Num(static_cast<long long>(entries.size())) + " entries: " + Join(entries), 0);
}

void Probe::rewinddir(DIR* dir) {
  if (dir != nullptr) ::rewinddir(dir);
  record("rewinddir()", "ok", 0);
}

int Probe::closedir(DIR* dir) {
  const int rc = dir ? ::closedir(dir) : 0;
  return record_rc("closedir()", rc, errno);
}

void Probe::readdir(const char* path) {
  DIR* dir = opendir(path);
  if (dir == nullptr) return;
  readdir_all(dir);
  closedir(dir);
}

// ---- Attributes ----

void Probe::stat(const char* path) {
  struct stat st;
  const int rc = ::stat(path, &st);
  const int e = errno;
  record(Call("stat", {Quote(path)}), rc < 0 ? "-1" : DescribeStat(st), rc < 0 ? e : 0);
}

void Probe::lstat(const char* path) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  record(Call("lstat", {Quote(path)}), rc < 0 ? "-1" : DescribeStat(st), rc < 0 ? e : 0);
}

void Probe::fstat(int fd) {
  struct stat st;
  const int rc = ::fstat(fd, &st);
  const int e = errno;
  record(Call("fstat", {fd_name(fd)}), rc < 0 ? "-1" : DescribeStat(st), rc < 0 ? e : 0);
}

void Probe::same_inode(const char* a, const char* b) {
  struct stat sa, sb;
  std::string call = Call("same_inode", {Quote(a), Quote(b)});
  if (::lstat(a, &sa) < 0 || ::lstat(b, &sb) < 0) {
    record(std::move(call), "-1", errno);
    return;
  }
  const bool same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  record(std::move(call), same ? "same inode" : "different inodes", 0);
}

void Probe::blocks(const char* path) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  record(Call("blocks", {Quote(path)}), rc < 0 ? "-1" : DescribeBlocks(st.st_blocks), rc < 0 ? e : 0);
}

void Probe::fblocks(int fd) {
  struct stat st;
  const int rc = ::fstat(fd, &st);
  const int e = errno;
  record(Call("fblocks", {fd_name(fd)}), rc < 0 ? "-1" : DescribeBlocks(st.st_blocks), rc < 0 ? e : 0);
}

void Probe::statfs(const char* path) {
  struct statfs sf;
  const int rc = ::statfs(path, &sf);
  const int e = errno;
  std::string call = Call("statfs", {Quote(path)});
  if (rc < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  // Absolute sizes differ between any two filesystems; the relations and the
  // name limit must not.
  std::vector<std::string> facts;
  facts.push_back(sf.f_bsize > 0 ? "f_bsize>0" : "f_bsize<=0");
  facts.push_back(sf.f_blocks > 0 ? "f_blocks>0" : "f_blocks=0");
  facts.push_back(sf.f_bfree <= sf.f_blocks ? "f_bfree<=f_blocks" : "f_bfree>f_blocks");
  facts.push_back(sf.f_bavail <= sf.f_bfree ? "f_bavail<=f_bfree" : "f_bavail>f_bfree");
  facts.push_back(sf.f_ffree <= sf.f_files ? "f_ffree<=f_files" : "f_ffree>f_files");
  facts.push_back("f_namelen=" + Num(sf.f_namelen));
  record(std::move(call), Join(facts), 0);
}

int Probe::chmod(const char* path, mode_t mode) {
  const int rc = ::chmod(path, mode);
  return record_rc(Call("chmod", {Quote(path), Oct(mode)}), rc, errno);
}

int Probe::chown(const char* path, uid_t uid, gid_t gid) {
  const int rc = ::chown(path, uid, gid);
  return record_rc(Call("chown", {Quote(path), Num(static_cast<int>(uid)), Num(static_cast<int>(gid))}), rc,
                   errno);
}

int Probe::lchown(const char* path, uid_t uid, gid_t gid) {
  const int rc = ::lchown(path, uid, gid);
  return record_rc(Call("lchown", {Quote(path), Num(static_cast<int>(uid)), Num(static_cast<int>(gid))}), rc,
                   errno);
}

int Probe::utimensat(const char* path, const struct timespec* times, Flags flags) {
  const int rc = ::utimensat(AT_FDCWD, path, times, static_cast<int>(flags.value));
  const int e = errno;
  const std::string arg =
      times ? "{" + TimeArg(times[0]) + ", " + TimeArg(times[1]) + "}" : std::string("NULL");
  return record_rc(Call("utimensat", {Quote(path), arg, flags.text}), rc, e);
}

// ---- Timestamps ----

FileTimes Probe::times(const char* path) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  record(Call("times", {Quote(path)}), rc < 0 ? "-1" : "ok", rc < 0 ? e : 0);
  if (rc < 0) return {};
  return FileTimes{st.st_atim, st.st_mtim, st.st_ctim};
}

void Probe::times_changed(const char* path, const FileTimes& before, unsigned fields) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  std::string call = Call("times_changed", {Quote(path)});
  if (rc < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  std::vector<std::string> facts;
  if (fields & kAtime) facts.push_back(std::string("atime=") + Relation(st.st_atim, before.atime));
  if (fields & kMtime) facts.push_back(std::string("mtime=") + Relation(st.st_mtim, before.mtime));
  if (fields & kCtime) facts.push_back(std::string("ctime=") + Relation(st.st_ctim, before.ctime));
  record(std::move(call), Join(facts), 0);
}

void Probe::times_exact(const char* path, unsigned fields) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  std::string call = Call("times_exact", {Quote(path)});
  if (rc < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  std::vector<std::string> facts;
  if (fields & kAtime) facts.push_back("atime=" + Timespec(st.st_atim));
  if (fields & kMtime) facts.push_back("mtime=" + Timespec(st.st_mtim));
  if (fields & kCtime) facts.push_back("ctime=" + Timespec(st.st_ctim));
  record(std::move(call), Join(facts), 0);
}

void Probe::times_recent(const char* path, unsigned fields) {
  struct stat st;
  const int rc = ::lstat(path, &st);
  const int e = errno;
  std::string call = Call("times_recent", {Quote(path)});
  if (rc < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  const time_t now = ::time(nullptr);
  auto recent = [now](const struct timespec& ts) {
    return ts.tv_sec >= now - 2 && ts.tv_sec <= now + 2 ? "recent" : "not recent";
  };
  std::vector<std::string> facts;
  if (fields & kAtime) facts.push_back(std::string("atime=") + recent(st.st_atim));
  if (fields & kMtime) facts.push_back(std::string("mtime=") + recent(st.st_mtim));
  if (fields & kCtime) facts.push_back(std::string("ctime=") + recent(st.st_ctim));
  record(std::move(call), Join(facts), 0);
}

void Probe::clock_tick() {
  // Kernel timestamps come from a coarse clock that advances once per jiffy
  // (at most 10 ms); 25 ms guarantees a visible step.
  const struct timespec pause { 0, 25 * 1000 * 1000 };
  ::nanosleep(&pause, nullptr);
}

// ---- Extended attributes ----

int Probe::setxattr(const char* path, const char* name, std::string_view value, Flags flags) {
  const int rc = ::setxattr(path, name, value.data(), value.size(), static_cast<int>(flags.value));
  return record_rc(Call("setxattr", {Quote(path), Quote(name), Quote(value), flags.text}), rc, errno);
}

int Probe::lsetxattr(const char* path, const char* name, std::string_view value, Flags flags) {
  const int rc = ::lsetxattr(path, name, value.data(), value.size(), static_cast<int>(flags.value));
  return record_rc(Call("lsetxattr", {Quote(path), Quote(name), Quote(value), flags.text}), rc, errno);
}

void Probe::getxattr(const char* path, const char* name, size_t buffer_size) {
  std::string buf(buffer_size, '\0');
  const ssize_t n = ::getxattr(path, name, buffer_size ? buf.data() : nullptr, buffer_size);
  const int e = errno;
  std::string call = Call("getxattr", {Quote(path), Quote(name), Num(static_cast<long long>(buffer_size))});
  if (n < 0) {
    record(std::move(call), "-1", e);
  } else if (buffer_size == 0) {
    record(std::move(call), Num(n), 0);
  } else {
    buf.resize(static_cast<size_t>(n));
    record(std::move(call), Num(n) + ": " + Quote(buf), 0);
  }
}

void Probe::listxattr(const char* path, size_t buffer_size) {
  std::string buf(buffer_size, '\0');
  const ssize_t n = ::listxattr(path, buffer_size ? buf.data() : nullptr, buffer_size);
  const int e = errno;
  std::string call = Call("listxattr", {Quote(path), Num(static_cast<long long>(buffer_size))});
  if (n < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  if (buffer_size == 0) {
    record(std::move(call), Num(n), 0);
    return;
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    const size_t len = ::strnlen(buf.data() + i, static_cast<size_t>(n) - i);
    names.emplace_back(buf.data() + i, len);
    i += len + 1;
  }
  std::sort(names.begin(), names.end());
  record(std::move(call), Num(n) + ": [" + Join(names) + "]", 0);
}

int Probe::removexattr(const char* path, const char* name) {
  const int rc = ::removexattr(path, name);
  return record_rc(Call("removexattr", {Quote(path), Quote(name)}), rc, errno);
}

// ---- Locks ----

int Probe::flock(int fd, Flags operation) {
  const int rc = ::flock(fd, static_cast<int>(operation.value));
  return record_rc(Call("flock", {fd_name(fd), operation.text}), rc, errno);
}

int Probe::setlk(int fd, Flags type, off_t start, off_t length) {
  struct flock fl {};
  fl.l_type = static_cast<short>(type.value);
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = length;
  const int rc = ::fcntl(fd, F_SETLK, &fl);
  return record_rc(
      Call("fcntl", {fd_name(fd), "F_SETLK", std::string(type.text) + " " + Num(start) + "+" + Num(length)}),
      rc, errno);
}

void Probe::getlk(int fd, Flags type, off_t start, off_t length) {
  struct flock fl {};
  fl.l_type = static_cast<short>(type.value);
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = length;
  const int rc = ::fcntl(fd, F_GETLK, &fl);
  const int e = errno;
  std::string call =
      Call("fcntl", {fd_name(fd), "F_GETLK", std::string(type.text) + " " + Num(start) + "+" + Num(length)});
  if (rc < 0) {
    record(std::move(call), "-1", e);
    return;
  }
  if (fl.l_type == F_UNLCK) {
    record(std::move(call), "F_UNLCK", 0);
    return;
  }
  const char* kind = fl.l_type == F_WRLCK ? "F_WRLCK" : fl.l_type == F_RDLCK ? "F_RDLCK" : "?";
  const char* holder = fl.l_pid == ::getpid() ? "self" : fl.l_pid == ::getppid() ? "parent" : "other";
  record(std::move(call), std::string(kind) + " " + Num(fl.l_start) + "+" + Num(fl.l_len) + " pid=" + holder,
         0);
}

// ---- Memory maps ----

char* Probe::mmap(int fd, size_t length, Flags prot, Flags flags) {
  void* p = ::mmap(nullptr, length, static_cast<int>(prot.value), static_cast<int>(flags.value), fd, 0);
  const int e = errno;
  std::string call = Call("mmap", {Num(static_cast<long long>(length)), prot.text, flags.text, fd_name(fd)});
  if (p == MAP_FAILED) {
    record(std::move(call), "-1", e);
    return nullptr;
  }
  std::string name = "map" + Num(static_cast<long long>(map_names_.size() + 1));
  map_names_[p] = name;
  record(std::move(call), name, 0);
  return static_cast<char*>(p);
}

void Probe::poke(char* map, size_t offset, std::string_view data) {
  std::string call =
      Call("memcpy", {map ? map_names_[map] : "NULL", Num(static_cast<long long>(offset)), Quote(data)});
  if (map == nullptr) {
    record(std::move(call), "skipped (no map)", 0);
    return;
  }
  std::memcpy(map + offset, data.data(), data.size());  // may SIGBUS: that is a result too
  record(std::move(call), "ok", 0);
}

void Probe::peek(char* map, size_t offset, size_t count) {
  std::string call = Call("peek", {map ? map_names_[map] : "NULL", Num(static_cast<long long>(offset)),
                                   Num(static_cast<long long>(count))});
  if (map == nullptr) {
    record(std::move(call), "skipped (no map)", 0);
    return;
  }
  record(std::move(call), DescribeBytes(std::string_view(map + offset, count)), 0);
}

int Probe::msync(char* map, size_t length, Flags flags) {
  const int rc = map ? ::msync(map, length, static_cast<int>(flags.value)) : -1;
  const int e = map ? errno : EINVAL;
  return record_rc(
      Call("msync", {map ? map_names_[map] : "NULL", Num(static_cast<long long>(length)), flags.text}), rc,
      e);
}

int Probe::munmap(char* map, size_t length) {
  const int rc = map ? ::munmap(map, length) : -1;
  const int e = map ? errno : EINVAL;
  std::string name = map ? map_names_[map] : "NULL";
  return record_rc(Call("munmap", {name, Num(static_cast<long long>(length))}), rc, e);
}

// ---- Processes and identity ----

void Probe::as_user() {
  if (!user_) {
    record("as_user()", "no --as-uid given", 0);
    _exit(4);
  }
  const int rc = DropPrivileges(*user_);
  // The identity is the same on both roots, so it is not part of the value.
  record_rc("as_user()", rc, errno);
  if (rc != 0) _exit(4);
}

void Probe::in_child(const std::function<void(Probe&)>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    record("fork()", "-1", errno);
    return;
  }
  if (pid == 0) {
    prefix_ = "child: " + prefix_;
    body(*this);
    _exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  std::string value = WIFEXITED(status) ? "exit " + Num(WEXITSTATUS(status))
                                        : std::string("killed by SIG") + sigabbrev_np(WTERMSIG(status));
  record("wait(child)", value, 0);
}

}  // namespace posix_compare
