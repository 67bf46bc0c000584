#include "fs/workspace_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>

namespace nexus {
namespace {

constexpr uint64_t kDirMask =
    FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR | FAN_EVENT_ON_CHILD;

// The file handle of `path` as fanotify reports it (type, then bytes).
bool HandleKey(const std::string& path, std::string* key) {
  union {
    file_handle fh;
    char buf[sizeof(file_handle) + MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (::name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mount_id, 0) != 0) return false;
  key->assign(reinterpret_cast<const char*>(&h.fh.handle_type), sizeof h.fh.handle_type);
  key->append(reinterpret_cast<const char*>(h.fh.f_handle), h.fh.handle_bytes);
  return true;
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace

Result<std::unique_ptr<WorkspaceWatcher>> WorkspaceWatcher::Start(WorkspaceBackend* backend,
                                                                  std::string mount_path, ChangeSink* sink) {
  // An unlimited queue (root's privilege, which fanotify with names needs
  // anyway): a burst larger than the default 16384 events (a host-side
  // `git checkout` of a large tree) is read late rather than lost.
  int fd = ::fanotify_init(
      FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_UNLIMITED_QUEUE,
      O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::Error(ENOSYS, std::string("host-side workspace changes — fanotify with names: ") +
                                     std::strerror(errno) + (errno == EPERM ? " (needs root)" : ""));
  int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    ::close(fd);
    return Status::FromErrno("eventfd");
  }
  std::unique_ptr<WorkspaceWatcher> w(new WorkspaceWatcher(backend, std::move(mount_path), sink, fd, stop));
  // FAN_RENAME needs Linux 5.17: try the root's mark here, to fail at once.
  if (::fanotify_mark(fd, FAN_MARK_ADD, kDirMask, AT_FDCWD, backend->host_dir().c_str()) != 0)
    return Status::Error(ENOSYS, std::string("host-side workspace changes — fanotify mark on ") +
                                     backend->host_dir() + ": " + std::strerror(errno));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

WorkspaceWatcher::WorkspaceWatcher(WorkspaceBackend* backend, std::string mount_path, ChangeSink* sink,
                                   int fan_fd, int stop_fd)
    : backend_(backend),
      mount_path_(std::move(mount_path)),
      sink_(sink),
      fan_fd_(fan_fd),
      stop_fd_(stop_fd) {}

WorkspaceWatcher::~WorkspaceWatcher() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(fan_fd_);
  ::close(stop_fd_);
}

void WorkspaceWatcher::SetKernelCache(KernelCache* cache) {
  MutexLock lk(mu_);
  cache_ = cache;
}

std::string WorkspaceWatcher::State() const {
  switch (state_.load()) {
    case 0:
      return "starting";
    case 1:
      return "watching";
    default:
      return "stopped";
  }
}

std::string WorkspaceWatcher::Abs(const std::string& rel) const {
  return rel.empty() ? backend_->host_dir() : backend_->host_dir() + "/" + rel;
}

bool WorkspaceWatcher::Mark(const std::string& rel) {
  const std::string abs = Abs(rel);
  std::string key;
  if (!HandleKey(abs, &key)) return false;
  if (::fanotify_mark(fan_fd_, FAN_MARK_ADD | FAN_MARK_ONLYDIR | FAN_MARK_DONT_FOLLOW, kDirMask, AT_FDCWD,
                      abs.c_str()) != 0) {
    spdlog::warn("workspace watch: cannot mark {}: {}", abs, std::strerror(errno));
    return false;
  }
  dirs_[key] = rel;
  return true;
}

void WorkspaceWatcher::MarkTree(const std::string& rel, bool publish) {
  if (!Mark(rel)) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(Abs(rel), ec)) {
    const std::string child = Join(rel, entry.path().filename().string());
    const bool dir = entry.is_directory(ec) && !entry.is_symlink(ec);
    if (publish) {
      Publish(ChangeEvent::Kind::kCreated, 0, child, {}, dir);
      if (entry.is_regular_file(ec) && !entry.is_symlink(ec))
        Publish(ChangeEvent::Kind::kContentClosed, 0, child);
    }
    if (dir) MarkTree(child, publish);
  }
}

std::string WorkspaceWatcher::RelPath(const Name& n, bool* ok) const {
  auto it = dirs_.find(n.dir_key);
  *ok = it != dirs_.end() && !n.name.empty() && n.name != "." && n.name.find('/') == std::string::npos;
  return *ok ? Join(it->second, n.name) : std::string();
}

void WorkspaceWatcher::Publish(ChangeEvent::Kind kind, pid_t pid, const std::string& rel,
                               const std::string& new_rel, bool dir) {
  using K = ChangeEvent::Kind;
  ChangeEvent e;
  e.kind = kind;
  const std::string& named = kind == K::kRenamed ? new_rel : rel;
  auto parent_of = [&](const std::string& r) {
    size_t slash = r.rfind('/');
    return slash == std::string::npos ? std::string() : r.substr(0, slash);
  };
  auto name_of = [&](const std::string& r) {
    size_t slash = r.rfind('/');
    return slash == std::string::npos ? r : r.substr(slash + 1);
  };
  auto known = [&](const std::string& r) -> Ino {
    struct stat st;
    return ::lstat(Abs(r).c_str(), &st) == 0 ? backend_->KnownIno(st) : 0;
  };
  e.ino = kind == K::kRemoved ? 0 : known(named);
  e.parent = known(parent_of(rel));
  e.name = name_of(rel);
  e.path = mount_path_ + "/" + rel;
  if (kind == K::kRenamed) {
    e.new_parent = known(parent_of(new_rel));
    e.new_name = name_of(new_rel);
    e.new_path = mount_path_ + "/" + new_rel;
  }
  if (kind == K::kCreated) e.details.type = dir ? S_IFDIR : 0;
  if (kind == K::kRemoved && dir) e.details.type = S_IFDIR;
  e.caller.pid = pid;
  struct stat proc;
  if (pid > 0 && ::stat(("/proc/" + std::to_string(pid)).c_str(), &proc) == 0) {
    e.caller.uid = proc.st_uid;
    e.caller.gid = proc.st_gid;
  }
  e.caller.mount = MountId::kNone;
  ::clock_gettime(CLOCK_REALTIME, &e.when);
  {
    // What the main mount's kernel holds of these names goes first, so a
    // reader woken by the bus sees the new state on the mount too.
    MutexLock lk(mu_);
    if (cache_) {
      if (e.parent) cache_->InvalidateEntry(e.parent, e.name);
      if (e.new_parent) cache_->InvalidateEntry(e.new_parent, e.new_name);
      if (e.ino) cache_->InvalidateInode(e.ino);
    }
  }
  sink_->Publish(std::move(e));
  published_.fetch_add(1);
}

void WorkspaceWatcher::HandleEvent(uint64_t mask, pid_t pid, const Name* name, const Name* old_name,
                                   const Name* new_name) {
  using K = ChangeEvent::Kind;
  const bool dir = mask & FAN_ONDIR;
  if (mask & FAN_RENAME) {
    bool from_ok = false, to_ok = false;
    std::string from = old_name ? RelPath(*old_name, &from_ok) : std::string();
    std::string to = new_name ? RelPath(*new_name, &to_ok) : std::string();
    if (from_ok && to_ok) {
      Publish(K::kRenamed, pid, from, to, dir);
      if (dir)  // every directory below moved with it
        for (auto& [key, rel] : dirs_)
          if (rel == from || rel.starts_with(from + "/")) rel = to + rel.substr(from.size());
    } else if (to_ok) {  // moved in from outside the workspace
      Publish(K::kCreated, pid, to, {}, dir);
      if (dir) {
        MarkTree(to, true);
      } else {
        Publish(K::kContentClosed, pid, to);
      }
    } else if (from_ok) {  // moved out
      Publish(K::kRemoved, pid, from, {}, dir);
    }
    return;
  }
  if (!name) return;
  bool ok = false;
  const std::string rel = RelPath(*name, &ok);
  if (!ok) return;
  if (mask & FAN_CREATE) {
    Publish(K::kCreated, pid, rel, {}, dir);
    if (dir) MarkTree(rel, true);  // what was made in it before its mark
  }
  if (mask & FAN_DELETE) {
    Publish(K::kRemoved, pid, rel, {}, dir);
    if (dir)
      for (auto it = dirs_.begin(); it != dirs_.end();)
        it = it->second == rel || it->second.starts_with(rel + "/") ? dirs_.erase(it) : std::next(it);
  }
  if ((mask & FAN_CLOSE_WRITE) && !dir) Publish(K::kContentClosed, pid, rel);
  if (mask & FAN_ATTRIB) Publish(K::kAttrChanged, pid, rel, {}, dir);
}

void WorkspaceWatcher::Run() {
  MarkTree("", false);
  state_.store(1);
  spdlog::info("workspace watch: {} directories of {} watched for host-side changes", dirs_.size(),
               backend_->host_dir());
  const pid_t self = ::getpid();
  alignas(fanotify_event_metadata) char buf[64 * 1024];
  for (;;) {
    pollfd p[2] = {{fan_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) {
      spdlog::error("workspace watch: poll: {}", std::strerror(errno));
      state_.store(2);
      return;
    }
    if (p[1].revents) return;
    ssize_t len = ::read(fan_fd_, buf, sizeof buf);
    if (len < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      spdlog::error("workspace watch: read: {}", std::strerror(errno));
      state_.store(2);
      return;
    }
    auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
      if (m->vers != FANOTIFY_METADATA_VERSION) continue;
      if (m->mask & FAN_Q_OVERFLOW) {
        spdlog::warn("workspace watch: the kernel's queue overflowed; host-side changes were missed");
        continue;
      }
      if (m->fd >= 0) ::close(m->fd);
      if (m->pid == self) continue;  // the mount's own changes, published by the backend
      Name names[3];
      const Name *name = nullptr, *old_name = nullptr, *new_name = nullptr;
      const char* p = reinterpret_cast<const char*>(m) + m->metadata_len;
      const char* end = reinterpret_cast<const char*>(m) + m->event_len;
      int i = 0;
      while (p + sizeof(fanotify_event_info_header) <= end && i < 3) {
        auto* hdr = reinterpret_cast<const fanotify_event_info_header*>(p);
        if (hdr->len == 0 || p + hdr->len > end) break;
        if (hdr->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
            hdr->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
            hdr->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
          auto* fid = reinterpret_cast<const fanotify_event_info_fid*>(p);
          auto* fh = reinterpret_cast<const file_handle*>(fid->handle);
          Name& n = names[i++];
          n.dir_key.assign(reinterpret_cast<const char*>(&fh->handle_type), sizeof fh->handle_type);
          n.dir_key.append(reinterpret_cast<const char*>(fh->f_handle), fh->handle_bytes);
          const char* nm = reinterpret_cast<const char*>(fh->f_handle) + fh->handle_bytes;
          n.name.assign(nm, strnlen(nm, end - nm));
          if (hdr->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) {
            old_name = &n;
          } else if (hdr->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
            new_name = &n;
          } else {
            name = &n;
          }
        }
        p += hdr->len;
      }
      HandleEvent(m->mask, m->pid, name, old_name, new_name);
    }
  }
}

}  // namespace nexus
