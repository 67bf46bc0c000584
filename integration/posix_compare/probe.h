// Probe: the recording syscall layer of nexus_posix_compare.
//
// A scenario is ordinary code that calls Probe methods instead of raw
// syscalls. Every method performs exactly one observable operation (or one
// documented composite), turns the outcome into a normalized Step and streams
// it to the parent process. Normalized means: two filesystems that behave the
// same produce byte-identical steps, whatever their inode numbers, descriptor
// numbers, block sizes or absolute paths. The scenario runs once on the native
// root and once on the mount; the parent compares the two step streams.
//
// Nothing here knows what the "right" answer is: the native filesystem's
// answer is the expectation.
//
// Threading: single-threaded. A Probe lives in one forked scenario process;
// in_child() forks again and the child shares the output stream (the parent
// waits for it, so steps never interleave).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace posix_compare {

// One recorded syscall outcome. `call` names the operation with its
// (root-relative) arguments; `value` is the normalized result ("-1" when the
// call failed); `err` is errno when it failed, else 0.
struct Step {
  std::string call;
  std::string value;
  int err = 0;
};

// Writes `step` as one line of the pipe protocol. Returns false on I/O error.
bool WriteStep(int fd, const Step& step);
// Parses one protocol line (without the trailing newline).
std::optional<Step> ParseStep(std::string_view line);

// A flag word together with the source text that produced it, so step labels
// show "O_CREAT | O_EXCL" rather than a number. Build with FLAGS(expr).
struct Flags {
  long value;
  const char* text;
};
#define FLAGS(expr) (::posix_compare::Flags{static_cast<long>(expr), #expr})

// The unprivileged identity a scenario may switch to (--as-uid/--as-gid).
struct Identity {
  uid_t uid;
  gid_t gid;
};

// Switches the calling process to `id` for good: setgroups({gid}), then
// setresgid, then setresuid. Returns 0, or -1 with errno set.
int DropPrivileges(const Identity& id);

// Timestamps of one inode, captured by Probe::times() for later comparison.
struct FileTimes {
  struct timespec atime {};
  struct timespec mtime {};
  struct timespec ctime {};
};

// Which timestamps a times_*() step reports.
enum TimeField : unsigned { kAtime = 1u << 0, kMtime = 1u << 1, kCtime = 1u << 2 };

class Probe {
 public:
  // `out_fd` is the write end of the step pipe (not owned). `user` is the
  // identity as_user() switches to; empty when the run is root-only.
  Probe(int out_fd, std::optional<Identity> user);

  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // ---- Composite setup helpers (one step each) ----
  // open(O_CREAT|O_WRONLY|O_TRUNC, mode) + write + close.
  bool make_file(const char* path, std::string_view content, mode_t mode = 0644);
  // Creates `count` empty files named prefix0..prefix<count-1>.
  bool make_files(const char* prefix, int count);
  // Reads the whole file and records its content.
  std::string cat(const char* path);

  // ---- Descriptors and data ----
  int open(const char* path, Flags flags, mode_t mode = 0644);
  int close(int fd);
  ssize_t write(int fd, std::string_view data);
  ssize_t pwrite(int fd, std::string_view data, off_t offset);
  std::string read(int fd, size_t count);
  std::string pread(int fd, size_t count, off_t offset);
  off_t lseek(int fd, off_t offset, Flags whence);
  int ftruncate(int fd, off_t length);
  int truncate(const char* path, off_t length);
  int fallocate(int fd, Flags mode, off_t offset, off_t length);
  int fsync(int fd);
  int fdatasync(int fd);

  // ---- Names ----
  int mkdir(const char* path, mode_t mode = 0755);
  int rmdir(const char* path);
  int unlink(const char* path);
  int rename(const char* from, const char* to);
  int renameat2(const char* from, const char* to, Flags flags);
  int link(const char* from, const char* to);
  int symlink(const char* target, const char* path);
  std::string readlink(const char* path, size_t buffer_size = 4096);
  int mknod(const char* path, Flags type, mode_t perm);
  int access(const char* path, Flags mode);
  // socket(AF_UNIX) + bind(path) + listen + connect from a second socket.
  void unix_socket_roundtrip(const char* path);

  // ---- Directory streams ----
  // opendir + readdir to the end + closedir; records the sorted
  // "name:d_type" set including "." and "..".
  void readdir(const char* path);
  DIR* opendir(const char* path);
  void readdir_all(DIR* dir);  // records the sorted set read from `dir`
  void rewinddir(DIR* dir);
  int closedir(DIR* dir);

  // ---- Attributes ----
  // Records "type mode nlink [size] uid gid" (size omitted for directories,
  // whose size is filesystem-specific).
  void stat(const char* path);
  void lstat(const char* path);
  void fstat(int fd);
  void same_inode(const char* a, const char* b);  // "same inode" / "different"
  // Records the allocated size bucketed ("0", "<64KiB", "~N KiB" rounded to
  // 64 KiB) so allocation-granularity noise does not count.
  void blocks(const char* path);
  void fblocks(int fd);
  void statfs(const char* path);
  int chmod(const char* path, mode_t mode);
  int chown(const char* path, uid_t uid, gid_t gid);
  int lchown(const char* path, uid_t uid, gid_t gid);
  // times == nullptr sets both to now, like utimensat(2).
  int utimensat(const char* path, const struct timespec* times, Flags flags);

  // ---- Timestamps ----
  // lstat() snapshot, recorded as a step ("ok" or the error).
  FileTimes times(const char* path);
  // Compares the current lstat() times to `before`: "same", "later", "earlier".
  void times_changed(const char* path, const FileTimes& before, unsigned fields = kMtime | kCtime);
  // Records exact seconds.nanoseconds of the chosen fields.
  void times_exact(const char* path, unsigned fields);
  // Records whether each chosen field is within 2 s of the wall clock.
  void times_recent(const char* path, unsigned fields);
  // Sleeps long enough that the next timestamp differs from the last one even
  // on a coarse (jiffy) clock.
  static void clock_tick();

  // ---- Extended attributes ----
  int setxattr(const char* path, const char* name, std::string_view value, Flags flags);
  int lsetxattr(const char* path, const char* name, std::string_view value, Flags flags);
  // buffer_size 0 is the size query; records the size, or "N: value".
  void getxattr(const char* path, const char* name, size_t buffer_size);
  // buffer_size 0 is the size query; else records the sorted name list.
  void listxattr(const char* path, size_t buffer_size);
  int removexattr(const char* path, const char* name);

  // ---- Locks ----
  int flock(int fd, Flags operation);
  int setlk(int fd, Flags type, off_t start, off_t length);  // F_SETLK
  // F_GETLK; records "F_UNLCK" or "type start+len pid=self|parent|other".
  void getlk(int fd, Flags type, off_t start, off_t length);

  // ---- Memory maps ----
  char* mmap(int fd, size_t length, Flags prot, Flags flags);
  void poke(char* map, size_t offset, std::string_view data);  // memcpy
  void peek(char* map, size_t offset, size_t count);
  int msync(char* map, size_t length, Flags flags);
  int munmap(char* map, size_t length);

  // ---- Processes and identity ----
  // Drops to the --as-uid identity (setgroups, setresgid, setresuid). Only
  // scenarios marked kUser call it; they do setup as root first.
  void as_user();
  // Runs `body` in a forked child that records into the same stream, with
  // "child: " prefixed to its calls, then waits for it.
  void in_child(const std::function<void(Probe&)>& body);
  // The --as-uid identity, if any (for calls such as chown to one's own group).
  const std::optional<Identity>& user() const { return user_; }

 private:
  void record(std::string call, std::string value, int err);
  // Records "0"/"-1"+errno for an int-returning call; preserves errno.
  int record_rc(std::string call, long rc, int err);
  std::string fd_name(int fd) const;
  void remember_fd(int fd);

  int out_fd_;
  std::optional<Identity> user_;
  std::string prefix_;
  std::map<int, std::string> fd_names_;  // descriptor -> "fdN" by open order
  int opened_ = 0;
  std::map<const void*, std::string> map_names_;
};

}  // namespace posix_compare
