#include "fs/workspace_backend.h"

#include "base/ns_path.h"
#include "fs/names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <functional>

#include <spdlog/spdlog.h>

namespace nexus {
namespace {

constexpr unsigned kStatxMask = STATX_BASIC_STATS | STATX_BTIME;
// Bounds the walk of InsideRoot (deeper trees are refused, not followed).
constexpr int kMaxDepth = 4096;
// Create retries when a name appears and vanishes between O_EXCL and open.
constexpr int kCreateAttempts = 3;
// getxattr/listxattr retries when the value grows between size and read.
constexpr int kXattrAttempts = 4;

// "/proc/self/fd/N" for one of our fds, without allocating. Opening it (or
// passing it to a path syscall that follows) reaches exactly the inode the
// fd holds; for an O_PATH fd on a symlink that is the symlink itself.
class ProcFdPath {
 public:
  explicit ProcFdPath(int fd) { std::snprintf(buf_, sizeof buf_, "/proc/self/fd/%d", fd); }
  const char* c_str() const { return buf_; }

 private:
  char buf_[32];
};

// The Status of the host syscall that just failed. Reads errno before
// anything else can clobber it; `name` is the path component involved.
Status HostError(const char* op, std::string_view name = {}) {
  const int code = errno;
  std::string context = op;
  if (!name.empty()) {
    context += " '";
    context += name;
    context += "'";
  }
  return Status::FromErrno(code, context);
}

bool HasPrefix(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

Status StatFd(int fd, struct statx* stx) {
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, kStatxMask, stx) != 0) return HostError("stat");
  return Status::Ok();
}

timespec ToTimespec(const struct statx_timestamp& t) {
  timespec ts;
  ts.tv_sec = t.tv_sec;
  ts.tv_nsec = t.tv_nsec;
  return ts;
}

Attr ToAttr(Ino ino, const struct statx& s) {
  Attr a;
  a.ino = ino;
  a.mode = s.stx_mode;
  a.nlink = s.stx_nlink;
  a.uid = s.stx_uid;
  a.gid = s.stx_gid;
  a.size = s.stx_size;
  a.blocks = s.stx_blocks;
  a.rdev = makedev(s.stx_rdev_major, s.stx_rdev_minor);
  a.atime = ToTimespec(s.stx_atime);
  a.mtime = ToTimespec(s.stx_mtime);
  a.ctime = ToTimespec(s.stx_ctime);
  if (s.stx_mask & STATX_BTIME) a.btime = ToTimespec(s.stx_btime);
  return a;
}

// Host open(2) flags for a caller's: see WorkspaceBackend::Open. Only flags
// that mean something for a regular file's data are kept.
int HostOpenFlags(int flags) {
  int access = flags & O_ACCMODE;
  if (access == O_WRONLY) access = O_RDWR;
  return access | (flags & (O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)) | O_CLOEXEC;
}

Status CheckOpenable(mode_t type) {
  if (S_ISLNK(type)) return Status::Error(ELOOP, "is a symbolic link");
  if (S_ISDIR(type)) return Status::Error(EISDIR, "is a directory");
  if (!S_ISREG(type)) return Status::Error(EINVAL, "not a regular file");
  return Status::Ok();
}

// Extended attribute names this backend lets a caller change; see the
// header. Names reach host calls as C strings, so an embedded NUL is refused.
Status CheckXattrWrite(const Caller& caller, const std::string& name) {
  if (name.find('\0') != std::string::npos) return Status::Error(EINVAL, "attribute name contains NUL");
  if (HasPrefix(name, "system.")) return Status::Error(EOPNOTSUPP, "system.* attributes are not supported");
  if ((HasPrefix(name, "trusted.") || HasPrefix(name, "security.")) && !caller.IsRoot())
    return Status::Error(EPERM, "only root may change " + name);
  return Status::Ok();
}

// Reads a size-probed value (getxattr/listxattr protocol) into a string.
Result<std::string> ReadSized(const std::function<ssize_t(char*, size_t)>& call, const char* op,
                              std::string_view name) {
  for (int attempt = 0; attempt < kXattrAttempts; ++attempt) {
    ssize_t size = call(nullptr, 0);
    if (size < 0) return HostError(op, name);
    std::string out(static_cast<size_t>(size), '\0');
    if (size == 0) return out;
    ssize_t got = call(out.data(), out.size());
    if (got >= 0) {
      out.resize(static_cast<size_t>(got));
      return out;
    }
    if (errno != ERANGE) return HostError(op, name);
  }
  return Status::Error(EAGAIN, std::string(op) + ": value keeps changing size");
}

}  // namespace

struct WorkspaceBackend::Handle final : FileHandle {
  InodeRef inode;
  // Opened for writing, truncating or creating: only such handles make a
  // close. A reader (`cat`, a version capture) neither delays another
  // writer's close nor becomes its author by closing last.
  bool writer = false;
  bool changed = false;  // truncated or created by its open
};

namespace {
bool OpensForWriting(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }
}  // namespace

size_t WorkspaceBackend::HostKeyHash::operator()(const HostKey& k) const noexcept {
  return std::hash<uint64_t>()(static_cast<uint64_t>(k.ino) * 0x9e3779b97f4a7c15ULL ^
                               static_cast<uint64_t>(k.dev));
}

WorkspaceBackend::HostKey WorkspaceBackend::KeyOf(const struct statx& stx) {
  return HostKey{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino};
}

WorkspaceBackend::HostKey WorkspaceBackend::KeyOf(const struct stat& st) {
  return HostKey{st.st_dev, st.st_ino};
}

WorkspaceBackend::Inode::~Inode() { ::close(fd); }

WorkspaceBackend::WorkspaceBackend(uint16_t id, std::string host_dir, ChangeSink* sink, InodeRef root)
    : id_(id), host_dir_(std::move(host_dir)), sink_(sink), root_(std::move(root)) {
  numbers_[root_->key] = 1;
  inodes_[1] = root_;
}

WorkspaceBackend::~WorkspaceBackend() = default;

Result<std::unique_ptr<WorkspaceBackend>> WorkspaceBackend::Open(uint16_t backend_id,
                                                                 const std::string& host_dir,
                                                                 ChangeSink* sink) {
  if (host_dir.empty()) return Status::Error(EINVAL, "no workspace directory given");
  // The only host path the backend ever resolves: the operator's, once.
  int fd = ::open(host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return HostError("workspace directory", host_dir);
  struct statx stx;
  if (Status st = StatFd(fd, &stx); !st.ok()) {
    ::close(fd);
    return st;
  }
  // Every inode-level operation reaches its inode through /proc/self/fd.
  struct statx via_proc;
  if (::statx(AT_FDCWD, ProcFdPath(fd).c_str(), 0, STATX_INO, &via_proc) != 0 ||
      KeyOf(via_proc) != KeyOf(stx)) {
    ::close(fd);
    return Status::Error(EOPNOTSUPP, "workspace backend needs /proc/self/fd (is /proc mounted?)");
  }
  auto root = std::make_shared<Inode>(MakeIno(backend_id, 1), KeyOf(stx), S_IFDIR, fd);
  root->lookups = 1;  // pinned
  std::unique_ptr<WorkspaceBackend> b(new WorkspaceBackend(backend_id, host_dir, sink, std::move(root)));
  spdlog::info("workspace backend {} serves host directory {}", backend_id, host_dir);
  return b;
}

// ---- inode table ----

Result<WorkspaceBackend::InodeRef> WorkspaceBackend::Get(Ino ino) const {
  if (BackendOf(ino) != id_)
    return Status::Error(ENOENT, "inode " + std::to_string(ino) + " is not in this workspace");
  MutexLock lk(mu_);
  auto it = inodes_.find(LocalOf(ino));
  if (it == inodes_.end()) return Status::Error(ENOENT, "no inode " + std::to_string(ino));
  return it->second;
}

Ino WorkspaceBackend::KnownIno(const struct stat& st) const {
  MutexLock lk(mu_);
  auto it = numbers_.find(KeyOf(st));
  return it == numbers_.end() ? 0 : MakeIno(id_, it->second);
}

Ino WorkspaceBackend::LocalFor(const HostKey& key) {
  auto it = numbers_.find(key);
  if (it != numbers_.end()) return it->second;
  if (numbers_.size() >= kMaxRememberedNumbers) PruneNumbers();
  Ino local = next_local_++;
  numbers_.emplace(key, local);
  return local;
}

void WorkspaceBackend::PruneNumbers() {
  const size_t before = numbers_.size();
  std::erase_if(numbers_, [&](const auto& kv) REQUIRES(mu_) { return !inodes_.count(kv.second); });
  spdlog::debug("workspace {}: forgot {} remembered inode numbers", id_, before - numbers_.size());
}

void WorkspaceBackend::MaybeFree(Inode& inode) {
  Ino local = LocalOf(inode.ino);
  if (local == 1 || inode.lookups > 0 || inode.open_count > 0) return;
  auto it = inodes_.find(local);
  if (it != inodes_.end() && it->second.get() == &inode) inodes_.erase(it);
}

WorkspaceBackend::InodeRef WorkspaceBackend::Register(int path_fd, const struct statx& stx, bool opened) {
  const HostKey key = KeyOf(stx);
  InodeRef ref;
  bool known;
  {
    MutexLock lk(mu_);
    const Ino local = LocalFor(key);
    auto [it, inserted] = inodes_.try_emplace(local);
    if (inserted)
      it->second = std::make_shared<Inode>(MakeIno(id_, local), key, stx.stx_mode & S_IFMT, path_fd);
    known = !inserted;
    ref = it->second;
    ++ref->lookups;
    if (opened) ++ref->open_count;
  }
  if (known) ::close(path_fd);
  return ref;
}

Result<Attr> WorkspaceBackend::Reference(const Inode& inode) {
  int fd = ::fcntl(inode.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return HostError("dup");
  struct statx stx;
  if (Status st = StatFd(fd, &stx); !st.ok()) {
    ::close(fd);
    return st;
  }
  return ToAttr(Register(fd, stx)->ino, stx);
}

Result<Attr> WorkspaceBackend::LookupName(const Inode& dir, const std::string& name) {
  int fd = ::openat(dir.fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return HostError("lookup", name);
  struct statx stx;
  if (Status st = StatFd(fd, &stx); !st.ok()) {
    ::close(fd);
    return st;
  }
  return ToAttr(Register(fd, stx)->ino, stx);
}

Result<bool> WorkspaceBackend::InsideRoot(int fd) const {
  struct statx stx;
  NEXUS_RETURN_IF_ERROR(StatFd(fd, &stx));
  HostKey key = KeyOf(stx);
  int cur = fd;
  Result<bool> inside = Status::Error(ELOOP, "directory nesting too deep");
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (key == root_->key) {
      inside = true;
      break;
    }
    int up = ::openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0) {
      inside = HostError("lookup", "..");
      break;
    }
    if (cur != fd) ::close(cur);
    cur = up;
    if (Status st = StatFd(cur, &stx); !st.ok()) {
      inside = st;
      break;
    }
    const HostKey up_key = KeyOf(stx);
    if (up_key == key) {  // the top of the host tree, and WS was not on the way
      inside = false;
      break;
    }
    key = up_key;
  }
  if (cur != fd) ::close(cur);
  return inside;
}

Result<Attr> WorkspaceBackend::LookupDotDot(const Inode& dir) {
  if (LocalOf(dir.ino) == 1) return Reference(dir);  // WS is its own parent
  int fd = ::openat(dir.fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return HostError("lookup", "..");
  auto inside = InsideRoot(fd);
  if (!inside.ok() || !*inside) {
    ::close(fd);
    if (!inside.ok()) return inside.status();
    return Status::Error(ENOENT, "parent directory is outside the workspace");
  }
  struct statx stx;
  if (Status st = StatFd(fd, &stx); !st.ok()) {
    ::close(fd);
    return st;
  }
  return ToAttr(Register(fd, stx)->ino, stx);
}

Status WorkspaceBackend::SetOwnerAndMode(int path_fd, const Caller& caller, const struct statx& dir_stx,
                                         mode_t mode, struct statx* stx) {
  const bool inherit_group = dir_stx.stx_mode & S_ISGID;
  const uid_t uid = caller.uid;
  const gid_t gid = inherit_group ? dir_stx.stx_gid : caller.gid;
  const bool is_dir = S_ISDIR(stx->stx_mode);
  if (is_dir && inherit_group) mode |= S_ISGID;
  bool changed = false;
  if (stx->stx_uid != uid || stx->stx_gid != gid) {
    if (::fchownat(path_fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
      return HostError("chown new node");
    changed = true;
  }
  // chown clears set-id bits of non-directories, and the daemon's umask
  // applied at creation: restore the mode asked for. Symlinks have no mode.
  const bool setid_lost = changed && !is_dir && (mode & (S_ISUID | S_ISGID));
  if (!S_ISLNK(stx->stx_mode) && ((stx->stx_mode & 07777) != mode || setid_lost)) {
    if (::fchmodat(AT_FDCWD, ProcFdPath(path_fd).c_str(), mode, 0) != 0) return HostError("chmod new node");
    changed = true;
  }
  if (changed) return StatFd(path_fd, stx);
  return Status::Ok();
}

Result<Attr> WorkspaceBackend::AdoptCreated(const Caller& caller, const Inode& dir,
                                            const struct statx& dir_stx, const std::string& name,
                                            mode_t mode) {
  int fd = ::openat(dir.fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return HostError("open new node", name);
  struct statx stx;
  Status st = StatFd(fd, &stx);
  if (st.ok()) st = SetOwnerAndMode(fd, caller, dir_stx, mode, &stx);
  if (!st.ok()) {
    ::close(fd);
    spdlog::warn("workspace {}: '{}' was created but not handed to uid {}: {}", id_, name, caller.uid,
                 st.ToString());
    return st;
  }
  return ToAttr(Register(fd, stx)->ino, stx);
}

Ino WorkspaceBackend::Identify(const Inode& dir, const std::string& name) {
  struct stat st;
  if (::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  const HostKey key = KeyOf(st);
  MutexLock lk(mu_);
  return MakeIno(id_, LocalFor(key));
}

std::string WorkspaceBackend::PathOf(Ino ino) const {
  auto inode = Get(ino);
  if (!inode.ok()) return {};
  auto host = [](int fd) -> std::string {
    char buf[PATH_MAX + 1];
    ssize_t n = ::readlink(ProcFdPath(fd).c_str(), buf, PATH_MAX);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  const std::string root = host(root_->fd);
  const std::string mine = host((*inode)->fd);
  if (root.empty() || mine.empty()) return {};
  if (mine == root) return mount_path_;
  if (mine.size() <= root.size() || mine.compare(0, root.size(), root) != 0 ||
      (root != "/" && mine[root.size()] != '/'))
    return {};
  return PathJoin(mount_path_, mine.substr(root == "/" ? 1 : root.size() + 1));
}

void WorkspaceBackend::Publish(ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                               const std::string& name, Ino new_parent, const std::string& new_name,
                               bool by_rename, ChangeDetails details) {
  PublishChangeAt(
      sink_, kind, caller, ino, parent, name, new_parent, new_name, by_rename,
      [this](Ino i) { return PathOf(i); }, std::move(details));
}

void WorkspaceBackend::XattrBefore(int fd, const std::string& name, ChangeDetails::Xattr op,
                                   ChangeDetails* details) const {
  const ProcFdPath path(fd);
  // Capped: a larger value is read only to learn it is larger.
  std::string value(ChangeDetails::kMaxValueBefore + 1, '\0');
  ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0 && errno == ERANGE) n = static_cast<ssize_t>(value.size());
  if (n < 0) {
    details->SetXattrBefore(op, name, nullptr);
    return;
  }
  value.resize(static_cast<size_t>(n));
  std::string_view before = value;
  details->SetXattrBefore(op, name, &before);
}

size_t WorkspaceBackend::InodeCount() const {
  MutexLock lk(mu_);
  return inodes_.size();
}

// ---- operations ----

Result<Attr> WorkspaceBackend::Lookup(const Caller&, Ino parent, const std::string& name) {
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  if (name == ".") return Reference(**dir);
  if (name == "..") return LookupDotDot(**dir);
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  return LookupName(**dir, name);
}

void WorkspaceBackend::Forget(Ino ino, uint64_t nlookup) {
  if (BackendOf(ino) != id_ || LocalOf(ino) == 1) return;
  MutexLock lk(mu_);
  auto it = inodes_.find(LocalOf(ino));
  if (it == inodes_.end()) return;
  Inode& inode = *it->second;
  inode.lookups -= std::min(inode.lookups, nlookup);
  MaybeFree(inode);
}

Result<Attr> WorkspaceBackend::GetAttr(Ino ino) {
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  struct statx stx;
  NEXUS_RETURN_IF_ERROR(StatFd((*inode)->fd, &stx));
  return ToAttr((*inode)->ino, stx);
}

Result<Attr> WorkspaceBackend::SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& r,
                                       FileHandle* fh) {
  auto got = Get(ino);
  if (!got.ok()) return got.status();
  const Inode& inode = **got;
  const int open_fd = fh && fh->fd >= 0 ? fh->fd : -1;
  const uint32_t v = r.valid;
  ChangeDetails details;
  details.attrs =
      v & (SetAttrRequest::kMode | SetAttrRequest::kUid | SetAttrRequest::kGid | SetAttrRequest::kSize);
  if (details.attrs && Listened()) {
    struct statx before;
    NEXUS_RETURN_IF_ERROR(StatFd(inode.fd, &before));
    details.mode_before = before.stx_mode;
    details.uid_before = before.stx_uid;
    details.gid_before = before.stx_gid;
    details.size_before = before.stx_size;
  } else {
    details.attrs = 0;
  }
  // Owner before mode: chown clears set-id bits the new mode may ask for.
  if (v & (SetAttrRequest::kUid | SetAttrRequest::kGid)) {
    const uid_t uid = (v & SetAttrRequest::kUid) ? r.uid : static_cast<uid_t>(-1);
    const gid_t gid = (v & SetAttrRequest::kGid) ? r.gid : static_cast<gid_t>(-1);
    if (::fchownat(inode.fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
      return HostError("chown");
  }
  if (v & SetAttrRequest::kMode) {
    // On a symlink this fails EOPNOTSUPP, as lchmod does.
    if (::fchmodat(AT_FDCWD, ProcFdPath(inode.fd).c_str(), r.mode & 07777, 0) != 0) return HostError("chmod");
  }
  if (v & SetAttrRequest::kSize) {
    if (S_ISDIR(inode.type)) return Status::Error(EISDIR, "is a directory");
    if (!S_ISREG(inode.type)) return Status::Error(EINVAL, "not a regular file");
    int fd = open_fd;
    if (fd < 0) {
      fd = ::open(ProcFdPath(inode.fd).c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return HostError("open for truncate");
    }
    Status st = ::ftruncate(fd, static_cast<off_t>(r.size)) == 0 ? Status::Ok() : HostError("truncate");
    if (fd != open_fd) ::close(fd);
    NEXUS_RETURN_IF_ERROR(st);
  }
  constexpr uint32_t kTimes =
      SetAttrRequest::kAtime | SetAttrRequest::kAtimeNow | SetAttrRequest::kMtime | SetAttrRequest::kMtimeNow;
  if (v & kTimes) {
    auto pick = [v](uint32_t now_bit, uint32_t set_bit, const timespec& given) {
      if (v & now_bit) return timespec{0, UTIME_NOW};
      if (v & set_bit) return given;
      return timespec{0, UTIME_OMIT};
    };
    const timespec times[2] = {
        pick(SetAttrRequest::kAtimeNow, SetAttrRequest::kAtime, r.atime),
        pick(SetAttrRequest::kMtimeNow, SetAttrRequest::kMtime, r.mtime),
    };
    // Through the magic link a symlink's own times are set (as lutimes).
    int rc = open_fd >= 0 ? ::futimens(open_fd, times)
                          : ::utimensat(AT_FDCWD, ProcFdPath(inode.fd).c_str(), times, 0);
    if (rc != 0) return HostError("utimens");
  }
  // kCtime: the host keeps ctime itself.
  struct statx stx;
  NEXUS_RETURN_IF_ERROR(StatFd(inode.fd, &stx));
  details.mode_after = stx.stx_mode;
  details.uid_after = stx.stx_uid;
  details.gid_after = stx.stx_gid;
  details.size_after = stx.stx_size;
  Publish(ChangeEvent::Kind::kAttrChanged, caller, inode.ino, 0, {}, 0, {}, false, std::move(details));
  return ToAttr(inode.ino, stx);
}

Result<std::string> WorkspaceBackend::ReadLink(Ino ino) {
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  if (!S_ISLNK((*inode)->type)) return Status::Error(EINVAL, "not a symbolic link");
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat((*inode)->fd, "", target.data(), target.size());
  if (n < 0) return HostError("readlink");
  if (static_cast<size_t>(n) == target.size()) return Status::Error(ENAMETOOLONG, "symlink target too long");
  target.resize(static_cast<size_t>(n));
  return target;
}

Result<Attr> WorkspaceBackend::MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                                     dev_t rdev) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFIFO:
    case S_IFSOCK:
      break;
    case S_IFCHR:
    case S_IFBLK:
      // The daemon is root: do not create devices for callers the kernel
      // would refuse (CAP_MKNOD), e.g. when called from the control socket.
      if (!caller.IsRoot()) return Status::Error(EPERM, "only root may create device nodes");
      break;
    case 0:
      mode |= S_IFREG;
      break;
    default:
      return Status::Error(EINVAL, "unsupported file type for mknod");
  }
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  struct statx dir_stx;
  NEXUS_RETURN_IF_ERROR(StatFd((*dir)->fd, &dir_stx));
  if (::mknodat((*dir)->fd, name.c_str(), mode & (S_IFMT | 07777), rdev) != 0)
    return HostError("mknod", name);
  auto attr = AdoptCreated(caller, **dir, dir_stx, name, mode & 07777);
  if (attr.ok())
    Publish(ChangeEvent::Kind::kCreated, caller, attr->ino, parent, name, 0, {}, false,
            ChangeDetails::Created(mode));
  return attr;
}

Result<Attr> WorkspaceBackend::MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) {
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  struct statx dir_stx;
  NEXUS_RETURN_IF_ERROR(StatFd((*dir)->fd, &dir_stx));
  // As mkdir(2): set-id bits in the mode are ignored (setgid is inherited).
  mode &= 01777;
  if (::mkdirat((*dir)->fd, name.c_str(), mode) != 0) return HostError("mkdir", name);
  auto attr = AdoptCreated(caller, **dir, dir_stx, name, mode);
  if (attr.ok())
    Publish(ChangeEvent::Kind::kCreated, caller, attr->ino, parent, name, 0, {}, false,
            ChangeDetails::Created(S_IFDIR));
  return attr;
}

Result<Attr> WorkspaceBackend::Symlink(const Caller& caller, const std::string& target, Ino parent,
                                       const std::string& name) {
  if (target.find('\0') != std::string::npos) return Status::Error(EINVAL, "symlink target contains NUL");
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  struct statx dir_stx;
  NEXUS_RETURN_IF_ERROR(StatFd((*dir)->fd, &dir_stx));
  // The target is stored, never resolved here.
  if (::symlinkat(target.c_str(), (*dir)->fd, name.c_str()) != 0) return HostError("symlink", name);
  auto attr = AdoptCreated(caller, **dir, dir_stx, name, 0777);
  if (attr.ok())
    Publish(ChangeEvent::Kind::kCreated, caller, attr->ino, parent, name, 0, {}, false,
            ChangeDetails::Created(S_IFLNK, false, Listened() ? target : std::string()));
  return attr;
}

Result<Attr> WorkspaceBackend::Link(const Caller& caller, Ino ino, Ino new_parent,
                                    const std::string& new_name) {
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  auto dir = Get(new_parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  // Through the magic link, linkat links the held inode itself (a symlink
  // stays a symlink) and needs no CAP_DAC_READ_SEARCH as AT_EMPTY_PATH would.
  if (::linkat(AT_FDCWD, ProcFdPath((*inode)->fd).c_str(), (*dir)->fd, new_name.c_str(), AT_SYMLINK_FOLLOW) !=
      0)
    return HostError("link", new_name);
  auto attr = Reference(**inode);
  if (attr.ok())
    Publish(ChangeEvent::Kind::kCreated, caller, attr->ino, new_parent, new_name, 0, {}, false,
            ChangeDetails::Created((*inode)->type, /*hard_link=*/true));
  return attr;
}

Status WorkspaceBackend::Unlink(const Caller& caller, Ino parent, const std::string& name) {
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  const Ino victim = sink_ ? Identify(**dir, name) : 0;
  if (::unlinkat((*dir)->fd, name.c_str(), 0) != 0) return HostError("unlink", name);
  Publish(ChangeEvent::Kind::kRemoved, caller, victim, parent, name);
  return Status::Ok();
}

Status WorkspaceBackend::RmDir(const Caller& caller, Ino parent, const std::string& name) {
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  const Ino victim = sink_ ? Identify(**dir, name) : 0;
  if (::unlinkat((*dir)->fd, name.c_str(), AT_REMOVEDIR) != 0) return HostError("rmdir", name);
  Publish(ChangeEvent::Kind::kRemoved, caller, victim, parent, name, 0, {}, false,
          ChangeDetails::Created(S_IFDIR));
  return Status::Ok();
}

Status WorkspaceBackend::Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                                const std::string& new_name, unsigned flags) {
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE))
    return Status::Error(EINVAL, "unsupported rename flags");
  auto from = Get(parent);
  if (!from.ok()) return from.status();
  auto to = Get(new_parent);
  if (!to.ok()) return to.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  NEXUS_RETURN_IF_ERROR(ValidateName(new_name));
  Ino src = 0, dst = 0;
  if (sink_) {
    src = Identify(**from, name);
    dst = Identify(**to, new_name);
  }
  if (::renameat2((*from)->fd, name.c_str(), (*to)->fd, new_name.c_str(), flags) != 0)
    return HostError("rename", name);
  if (flags & RENAME_EXCHANGE) {
    Publish(ChangeEvent::Kind::kRenamed, caller, src, parent, name, new_parent, new_name);
    Publish(ChangeEvent::Kind::kRenamed, caller, dst, new_parent, new_name, parent, name);
    return Status::Ok();
  }
  if (src != 0 && src == dst) return Status::Ok();  // two names of one inode: nothing moved
  if (dst != 0)
    Publish(ChangeEvent::Kind::kRemoved, caller, dst, new_parent, new_name, 0, {},
            /*by_rename=*/true);
  Publish(ChangeEvent::Kind::kRenamed, caller, src, parent, name, new_parent, new_name);
  return Status::Ok();
}

Result<std::unique_ptr<FileHandle>> WorkspaceBackend::Open(const Caller& caller, Ino ino, int flags) {
  auto got = Get(ino);
  if (!got.ok()) return got.status();
  InodeRef inode = std::move(got).value();
  // The type of a held inode cannot change, so this also keeps FIFOs and
  // devices (which would block or reach hardware) from being opened here.
  NEXUS_RETURN_IF_ERROR(CheckOpenable(inode->type));
  const bool writer = OpensForWriting(flags);
  {
    MutexLock lk(mu_);
    ++inode->open_count;  // keeps the entry while the host file is opened
    if (writer) ++inode->writer_handles;
  }
  int fd = ::open(ProcFdPath(inode->fd).c_str(), HostOpenFlags(flags));
  if (fd < 0) {
    Status st = HostError("open");
    MutexLock lk(mu_);
    --inode->open_count;
    if (writer) --inode->writer_handles;
    MaybeFree(*inode);
    return st;
  }
  if (flags & O_TRUNC) inode->content_dirty = true;
  auto fh = std::make_unique<Handle>();
  fh->fd = fd;
  fh->ino = inode->ino;
  fh->flags = flags;
  fh->opener = caller;
  fh->writer = writer;
  fh->changed = (flags & O_TRUNC) != 0;
  fh->inode = std::move(inode);
  return std::unique_ptr<FileHandle>(std::move(fh));
}

Result<Backend::Created> WorkspaceBackend::Create(const Caller& caller, Ino parent, const std::string& name,
                                                  mode_t mode, int flags) {
  auto dir = Get(parent);
  if (!dir.ok()) return dir.status();
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  struct statx dir_stx;
  NEXUS_RETURN_IF_ERROR(StatFd((*dir)->fd, &dir_stx));
  const int dir_fd = (*dir)->fd;
  const int oflags = HostOpenFlags(flags) | O_NOFOLLOW;
  int fd = -1;
  bool created = false;
  for (int attempt = 0; fd < 0 && attempt < kCreateAttempts; ++attempt) {
    fd = ::openat(dir_fd, name.c_str(), oflags | O_CREAT | O_EXCL, mode & 07777);
    if (fd >= 0) {
      created = true;
      break;
    }
    if (errno != EEXIST || (flags & O_EXCL)) return HostError("create", name);
    // The name appeared since the kernel's lookup: open what is there, but
    // never block on a FIFO a host process may have put there.
    fd = ::openat(dir_fd, name.c_str(), oflags | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT) return HostError("open", name);
  }
  if (fd < 0) return HostError("create", name);

  struct statx stx;
  Status st = StatFd(fd, &stx);
  if (st.ok() && !created) {
    st = CheckOpenable(stx.stx_mode & S_IFMT);
    if (st.ok() && ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) st = HostError("fcntl");
  }
  int path_fd = -1;
  if (st.ok()) {
    path_fd = ::open(ProcFdPath(fd).c_str(), O_PATH | O_CLOEXEC);
    if (path_fd < 0) st = HostError("reopen", name);
  }
  if (st.ok() && created) st = SetOwnerAndMode(path_fd, caller, dir_stx, mode & 07777, &stx);
  if (!st.ok()) {
    if (path_fd >= 0) ::close(path_fd);
    ::close(fd);
    if (created)
      spdlog::warn("workspace {}: '{}' was created but not handed to uid {}: {}", id_, name, caller.uid,
                   st.ToString());
    return st;
  }
  InodeRef inode = Register(path_fd, stx, /*opened=*/true);
  // A new file's last close is its first content, as is a truncation.
  const bool changed = created || (flags & O_TRUNC);
  const bool writer = changed || OpensForWriting(flags);
  if (writer) {
    MutexLock lk(mu_);
    ++inode->writer_handles;
  }
  if (changed) inode->content_dirty = true;
  auto fh = std::make_unique<Handle>();
  fh->fd = fd;
  fh->ino = inode->ino;
  fh->flags = flags;
  fh->opener = caller;
  fh->writer = writer;
  fh->changed = changed;
  fh->inode = inode;
  if (created)
    Publish(ChangeEvent::Kind::kCreated, caller, inode->ino, parent, name, 0, {}, false,
            ChangeDetails::Created(S_IFREG));
  return Created{ToAttr(inode->ino, stx), std::move(fh)};
}

void WorkspaceBackend::OnWrite(FileHandle& fh, uint64_t, uint64_t) {
  if (auto* h = dynamic_cast<Handle*>(&fh); h && h->inode)
    h->inode->content_dirty.store(true, std::memory_order_relaxed);
}

Status WorkspaceBackend::Fsync(FileHandle& fh, bool datasync) {
  if ((datasync ? ::fdatasync(fh.fd) : ::fsync(fh.fd)) != 0) return HostError("fsync");
  if (fh.written) Publish(ChangeEvent::Kind::kContentSynced, fh.opener, fh.ino, 0, {});
  return Status::Ok();
}

Status WorkspaceBackend::Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) {
  if (::fallocate(fh.fd, mode, offset, length) != 0) return HostError("fallocate");
  OnWrite(fh, static_cast<uint64_t>(offset), static_cast<uint64_t>(length));
  return Status::Ok();
}

void WorkspaceBackend::Release(std::unique_ptr<FileHandle> fh) {
  ::close(fh->fd);
  fh->fd = -1;
  auto* h = dynamic_cast<Handle*>(fh.get());
  if (!h || !h->inode) return;
  Inode& inode = *h->inode;
  if (fh->written) inode.content_dirty = true;
  bool last_close_of_modified = false;
  Caller who;
  {
    MutexLock lk(mu_);
    if (inode.open_count > 0) --inode.open_count;
    if (h->writer) {
      if (inode.writer_handles > 0) --inode.writer_handles;
      if (fh->written || h->changed) inode.last_writer = fh->opener;
      if (inode.writer_handles == 0) {
        last_close_of_modified = inode.content_dirty.exchange(false);
        who = inode.last_writer.value_or(fh->opener);
        inode.last_writer.reset();
      }
    }
    MaybeFree(inode);
  }
  if (last_close_of_modified) Publish(ChangeEvent::Kind::kContentClosed, who, fh->ino, 0, {});
}

Result<std::vector<DirEntry>> WorkspaceBackend::ReadDir(const Caller&, Ino ino) {
  auto got = Get(ino);
  if (!got.ok()) return got.status();
  const Inode& inode = **got;
  int fd = ::openat(inode.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return HostError("opendir");
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    Status st = HostError("opendir");
    ::close(fd);
    return st;
  }
  struct Raw {
    std::string name;
    ino_t host_ino;
    mode_t type;
  };
  std::vector<Raw> raw;
  for (;;) {
    errno = 0;
    const dirent* de = ::readdir(dir);
    if (!de) {
      if (errno != 0) {
        Status st = HostError("readdir");
        ::closedir(dir);
        return st;
      }
      break;
    }
    const std::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    mode_t type = DTTOIF(de->d_type);
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(::dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = st.st_mode & S_IFMT;
    }
    raw.push_back({std::string(name), de->d_ino, type});
  }
  ::closedir(dir);
  // d_ino is the host's; hand out the numbers lookups give (a mount point
  // inside WS shows the covered directory, as readdir does natively).
  std::vector<DirEntry> out;
  out.reserve(raw.size());
  MutexLock lk(mu_);
  for (auto& r : raw)
    out.push_back({std::move(r.name), MakeIno(id_, LocalFor({inode.key.dev, r.host_ino})), r.type});
  return out;
}

Status WorkspaceBackend::FsyncDir(Ino ino) {
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  int fd = ::openat((*inode)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return HostError("open directory");
  Status st = ::fsync(fd) == 0 ? Status::Ok() : HostError("fsync directory");
  ::close(fd);
  return st;
}

Result<struct statvfs> WorkspaceBackend::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(root_->fd, &sv) != 0) return HostError("statvfs");
  return sv;
}

Status WorkspaceBackend::SetXattr(const Caller& caller, Ino ino, const std::string& name,
                                  std::string_view value, int flags) {
  NEXUS_RETURN_IF_ERROR(CheckXattrWrite(caller, name));
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  ChangeDetails details;
  if (Listened()) XattrBefore((*inode)->fd, name, ChangeDetails::Xattr::kSet, &details);
  if (::setxattr(ProcFdPath((*inode)->fd).c_str(), name.c_str(), value.data(), value.size(), flags) != 0)
    return HostError("setxattr", name);
  Publish(ChangeEvent::Kind::kAttrChanged, caller, (*inode)->ino, 0, {}, 0, {}, false, std::move(details));
  return Status::Ok();
}

Result<std::string> WorkspaceBackend::GetXattr(Ino ino, const std::string& name) {
  if (name.find('\0') != std::string::npos) return Status::Error(EINVAL, "attribute name contains NUL");
  if (HasPrefix(name, "system.")) return Status::Error(ENODATA, "no such attribute");
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  const ProcFdPath path((*inode)->fd);
  return ReadSized([&](char* buf, size_t size) { return ::getxattr(path.c_str(), name.c_str(), buf, size); },
                   "getxattr", name);
}

Result<std::vector<std::string>> WorkspaceBackend::ListXattr(Ino ino) {
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  const ProcFdPath path((*inode)->fd);
  auto packed = ReadSized([&](char* buf, size_t size) { return ::listxattr(path.c_str(), buf, size); },
                          "listxattr", {});
  if (!packed.ok()) return packed.status();
  std::vector<std::string> names;
  for (size_t pos = 0; pos < packed->size();) {
    size_t end = packed->find('\0', pos);
    if (end == std::string::npos) end = packed->size();
    std::string name = packed->substr(pos, end - pos);
    pos = end + 1;
    if (name.empty() || HasPrefix(name, "system.") || HasPrefix(name, "trusted.")) continue;
    names.push_back(std::move(name));
  }
  return names;
}

Status WorkspaceBackend::RemoveXattr(const Caller& caller, Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(CheckXattrWrite(caller, name));
  auto inode = Get(ino);
  if (!inode.ok()) return inode.status();
  ChangeDetails details;
  if (Listened()) XattrBefore((*inode)->fd, name, ChangeDetails::Xattr::kRemoved, &details);
  if (::removexattr(ProcFdPath((*inode)->fd).c_str(), name.c_str()) != 0)
    return HostError("removexattr", name);
  Publish(ChangeEvent::Kind::kAttrChanged, caller, (*inode)->ino, 0, {}, 0, {}, false, std::move(details));
  return Status::Ok();
}

}  // namespace nexus
