// nexus_bench_smallfiles: times the metadata-heavy phases of working with many small
// files — create (open O_CREAT|O_EXCL + write + close), stat, read (open + read +
// close), readdir (list one directory of --readdir-names names and stat each name, as
// `ls -l` does) and unlink — under one directory, and prints ops/s per phase as one JSON
// object on stdout.
//
// Files are spread over --dirs subdirectories (file i lives in directory i / per_dir), so
// no single directory grows past a few hundred entries. Every file gets distinct,
// incompressible content derived from its index, and the read phase checks it: a
// filesystem that returns wrong data fails the run instead of looking fast.
//
// Single-threaded on purpose: it measures per-operation latency through the filesystem,
// which is what a FUSE daemon adds to. Exit status 0 on success, 1 on any failed syscall
// or content mismatch (message on stderr), 2 on bad usage.
//
// The readdir phase lists a directory of its own (--readdir-names empty files, created
// and removed untimed) --readdir-reps times; its ops are names listed and stat'ed.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  std::string dir;
  long files = 20000;
  long dirs = 100;
  long file_size = 4096;
  long readdir_names = 1000;
  long readdir_reps = 20;
};

struct PhaseResult {
  const char* name;
  long ops;
  double seconds;
};

[[noreturn]] void Die(const std::string& what, const std::string& path, int err) {
  std::fprintf(stderr, "nexus_bench_smallfiles: %s %s: %s\n", what.c_str(), path.c_str(), std::strerror(err));
  std::exit(1);
}

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "nexus_bench_smallfiles: %s\n"
               "usage: nexus_bench_smallfiles --dir DIR [--files N] [--dirs N] [--size BYTES]\n"
               "                               [--readdir-names N] [--readdir-reps N]\n"
               "  DIR must exist; the tool works in DIR/smallfiles and removes it at the end.\n",
               msg);
  std::exit(2);
}

long ParsePositive(std::string_view flag, const char* value) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v <= 0) {
    Usage(("bad value for " + std::string(flag)).c_str());
  }
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + std::string(arg)).c_str());
    const char* value = argv[++i];
    if (arg == "--dir") {
      opt.dir = value;
    } else if (arg == "--files") {
      opt.files = ParsePositive(arg, value);
    } else if (arg == "--dirs") {
      opt.dirs = ParsePositive(arg, value);
    } else if (arg == "--size") {
      opt.file_size = ParsePositive(arg, value);
    } else if (arg == "--readdir-names") {
      opt.readdir_names = ParsePositive(arg, value);
    } else if (arg == "--readdir-reps") {
      opt.readdir_reps = ParsePositive(arg, value);
    } else {
      Usage(("unknown option " + std::string(arg)).c_str());
    }
  }
  if (opt.dir.empty()) Usage("--dir is required");
  if (opt.dirs > opt.files) opt.dirs = opt.files;
  return opt;
}

// Deterministic content for file `index`: xorshift64 stream seeded by the index, so
// files differ from each other (no dedup) and do not compress.
void FillContent(long index, std::vector<char>& buf) {
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(index) * 0xBF58476D1CE4E5B9ull);
  for (size_t off = 0; off < buf.size(); off += sizeof(x)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(buf.data() + off, &x, std::min(sizeof(x), buf.size() - off));
  }
}

// Writes or reads exactly buf.size() bytes, retrying short transfers.
void WriteAll(int fd, const std::vector<char>& buf, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("write", path, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

// Reads until EOF into buf (which has room for one byte more than expected, so a file
// that is too long is detected). Returns the number of bytes read.
size_t ReadToEof(int fd, std::vector<char>& buf, const std::string& path) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die("read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

PhaseResult TimePhase(const char* name, long ops, const std::function<void()>& body) {
  auto start = std::chrono::steady_clock::now();
  body();
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return {name, ops, elapsed.count()};
}

// Lists `dir` once the way `ls -l` does: every entry, then an lstat of each name relative
// to the directory. Returns the number of names (dot entries excluded).
long ListAndStat(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) Die("opendir", dir, errno);
  const int dfd = ::dirfd(d);
  long names = 0;
  struct stat st;
  errno = 0;
  while (const struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      Die("fstatat", dir + "/" + e->d_name, errno);
    ++names;
    errno = 0;
  }
  if (errno != 0) Die("readdir", dir, errno);
  ::closedir(d);
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = ParseArgs(argc, argv);
  const std::string root = opt.dir + "/smallfiles";
  const long per_dir = (opt.files + opt.dirs - 1) / opt.dirs;

  // Paths are built once up front so string formatting stays out of the timed loops.
  std::vector<std::string> dirs;
  std::vector<std::string> paths;
  char name[64];
  for (long d = 0; d < opt.dirs; ++d) {
    std::snprintf(name, sizeof(name), "/d%04ld", d);
    dirs.push_back(root + name);
  }
  for (long i = 0; i < opt.files; ++i) {
    std::snprintf(name, sizeof(name), "/f%06ld", i);
    paths.push_back(dirs[static_cast<size_t>(i / per_dir)] + name);
  }

  // Setup, untimed.
  if (::mkdir(root.c_str(), 0755) != 0) Die("mkdir", root, errno);
  for (const auto& d : dirs) {
    if (::mkdir(d.c_str(), 0755) != 0) Die("mkdir", d, errno);
  }

  std::vector<char> content(static_cast<size_t>(opt.file_size));
  std::vector<char> readback(content.size() + 1);
  std::vector<PhaseResult> results;

  results.push_back(TimePhase("create", opt.files, [&] {
    for (long i = 0; i < opt.files; ++i) {
      const std::string& p = paths[static_cast<size_t>(i)];
      FillContent(i, content);
      int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) Die("create", p, errno);
      WriteAll(fd, content, p);
      if (::close(fd) != 0) Die("close", p, errno);
    }
  }));

  results.push_back(TimePhase("stat", opt.files, [&] {
    struct stat st;
    for (const auto& p : paths) {
      if (::stat(p.c_str(), &st) != 0) Die("stat", p, errno);
      if (st.st_size != opt.file_size) Die("stat (wrong st_size)", p, EIO);
    }
  }));

  results.push_back(TimePhase("read", opt.files, [&] {
    for (long i = 0; i < opt.files; ++i) {
      const std::string& p = paths[static_cast<size_t>(i)];
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) Die("open", p, errno);
      size_t n = ReadToEof(fd, readback, p);
      if (::close(fd) != 0) Die("close", p, errno);
      FillContent(i, content);
      if (n != content.size() || std::memcmp(readback.data(), content.data(), n) != 0) {
        Die("read (content mismatch)", p, EIO);
      }
    }
  }));

  // readdir: a directory of its own with readdir_names entries, made and removed untimed.
  const std::string listed = root + "/readdir";
  if (::mkdir(listed.c_str(), 0755) != 0) Die("mkdir", listed, errno);
  std::vector<std::string> listed_paths;
  for (long i = 0; i < opt.readdir_names; ++i) {
    std::snprintf(name, sizeof(name), "/entry-%06ld.txt", i);
    listed_paths.push_back(listed + name);
    int fd = ::open(listed_paths.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) Die("create", listed_paths.back(), errno);
    if (::close(fd) != 0) Die("close", listed_paths.back(), errno);
  }
  results.push_back(TimePhase("readdir", opt.readdir_names * opt.readdir_reps, [&] {
    for (long r = 0; r < opt.readdir_reps; ++r) {
      if (ListAndStat(listed) != opt.readdir_names) Die("readdir (wrong number of names)", listed, EIO);
    }
  }));
  for (const auto& p : listed_paths) {
    if (::unlink(p.c_str()) != 0) Die("unlink", p, errno);
  }
  if (::rmdir(listed.c_str()) != 0) Die("rmdir", listed, errno);

  results.push_back(TimePhase("unlink", opt.files, [&] {
    for (const auto& p : paths) {
      if (::unlink(p.c_str()) != 0) Die("unlink", p, errno);
    }
  }));

  // Teardown, untimed.
  for (const auto& d : dirs) {
    if (::rmdir(d.c_str()) != 0) Die("rmdir", d, errno);
  }
  if (::rmdir(root.c_str()) != 0) Die("rmdir", root, errno);

  std::printf(
      "{\"tool\":\"nexus_bench_smallfiles\",\"files\":%ld,\"dirs\":%ld,\"file_size\":%ld,"
      "\"readdir_names\":%ld,\"readdir_reps\":%ld,\"phases\":{",
      opt.files, opt.dirs, opt.file_size, opt.readdir_names, opt.readdir_reps);
  for (size_t k = 0; k < results.size(); ++k) {
    const PhaseResult& r = results[k];
    std::printf("%s\"%s\":{\"ops\":%ld,\"seconds\":%.6f,\"ops_per_sec\":%.1f}", k ? "," : "", r.name, r.ops,
                r.seconds, r.seconds > 0 ? r.ops / r.seconds : 0.0);
  }
  std::printf("}}\n");
  return 0;
}
