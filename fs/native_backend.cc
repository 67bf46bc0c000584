#include "fs/native_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "base/ns_path.h"

namespace nexus {
namespace {

constexpr size_t kSymlinkMax = 4095;
constexpr size_t kXattrValueMax = 65536;
constexpr int kMaxDepth = 4096;

// Backing files are grouped by runs of kInodesPerDir consecutive numbers, so
// a burst of creates lands in one directory (and one ext4 block group).
constexpr int kInodesPerDirShift = 12;

void Rel(Ino local, char (&buf)[40]) {
  std::snprintf(buf, sizeof buf, "%" PRIx64 "/%" PRIu64, local >> kInodesPerDirShift, local);
}

}  // namespace

Status NativeBackend::Enoent(Ino ino) { return Status::Error(ENOENT, "no inode " + std::to_string(ino)); }

void NativeBackend::BackingRel(Ino local, char (&buf)[40]) { Rel(local, buf); }

Status NativeBackend::OpenSubdir(const std::string& name, int* fd, std::vector<std::string>* names) const {
  const std::string dir = data_dir_ + "/" + name;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  *fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*fd < 0) return Status::FromErrno("open " + dir);
  int dup = ::dup(*fd);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (!d) return Status::FromErrno("opendir " + dir);
  while (dirent* de = ::readdir(d))
    if (de->d_name[0] != '.') names->emplace_back(de->d_name);
  ::closedir(d);
  return Status::Ok();
}

NativeBackend::NativeBackend(const Options& o, std::unique_ptr<MetaStore> store, int data_fd)
    : id_(o.backend_id),
      data_dir_(o.data_dir),
      mount_path_(o.mount_path.empty() ? "/" : o.mount_path),
      sink_(o.sink),
      commit_interval_ms_(o.commit_interval_ms),
      store_(std::move(store)),
      data_fd_(data_fd),
      lower_(o.lower),
      lower_root_(o.lower_root) {}

Result<std::unique_ptr<NativeBackend>> NativeBackend::Open(const Options& o) {
  const std::string data = o.data_dir + "/data";
  if (::mkdir(data.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + data);
  int data_fd = ::open(data.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (data_fd < 0) return Status::FromErrno("open " + data);
  auto store = MetaStore::Open(o.data_dir + "/meta.db");
  if (!store.ok()) {
    ::close(data_fd);
    return store.status();
  }
  std::unique_ptr<NativeBackend> b(new NativeBackend(o, std::move(store).value(), data_fd));
  if (o.lower) {
    if (o.lower_root == 0) return Status::Error(EINVAL, "a fork needs the source directory it starts from");
    NEXUS_RETURN_IF_ERROR(b->OpenOriginDir());
  }
  NEXUS_RETURN_IF_ERROR(b->OpenClosedDir());
  bool unclean = false;
  bool new_fork = false;
  {
    MutexLock lk(b->mu_);
    Status st = b->LoadTree(&unclean);
    if (!st.ok()) return st;
    if (!b->nodes_.count(1) && o.lower) {
      NEXUS_RETURN_IF_ERROR(b->CreateForkRoot());
      new_fork = true;
    } else if (!b->nodes_.count(1)) {
      auto root = std::make_unique<Node>();
      timespec now = NowTimespec();
      root->attr = Attr{};
      root->attr.ino = b->root();
      root->attr.mode = S_IFDIR | (o.root_mode & 07777);
      root->attr.nlink = 2;
      root->attr.uid = o.root_uid;
      root->attr.gid = o.root_gid;
      root->attr.atime = root->attr.mtime = root->attr.ctime = root->attr.btime = now;
      root->parent = 1;
      b->nodes_[1] = std::move(root);
      b->MarkInode(1);
    }
    b->nodes_[1]->lookups = 1;  // pinned
    b->AdoptLeftClosed();
  }
  if (unclean) {
    spdlog::warn("data dir {} was not shut down cleanly; reconciling backing files", o.data_dir);
    NEXUS_RETURN_IF_ERROR(b->Reconcile());
  }
  // Files the source has open for writing change without another open: keep
  // their fork-point content now.
  if (new_fork) NEXUS_RETURN_IF_ERROR(b->KeepOpenForWriting());
  NEXUS_RETURN_IF_ERROR(b->store_->SetCleanShutdown(false));
  b->committer_ = std::thread([p = b.get()] { p->CommitLoop(); });
  NEXUS_RETURN_IF_ERROR(b->Sync());
  return b;
}

NativeBackend::~NativeBackend() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  bool clean;
  {
    MutexLock lk(mu_);
    clean = commit_error_.ok() && dirty_inodes_.empty() && dirty_dentries_.empty() && dirty_xattrs_.empty() &&
            dirty_points_.empty();
  }
  if (clean) {
    Status st = store_->SetCleanShutdown(true);
    if (!st.ok()) spdlog::error("marking clean shutdown: {}", st.ToString());
  } else {
    spdlog::error("metadata not fully committed at shutdown; next start will reconcile");
  }
  ::close(data_fd_);
  if (origin_fd_ >= 0) ::close(origin_fd_);
  if (closed_fd_ >= 0) ::close(closed_fd_);
}

Status NativeBackend::LoadTree(bool* unclean) {
  auto loaded = store_->LoadAll();
  if (!loaded.ok()) return loaded.status();
  auto& L = loaded.value();
  *unclean = !L.clean_shutdown && !L.fresh;
  Ino max_ino = 1;
  for (auto& r : L.inodes) {
    auto n = std::make_unique<Node>();
    n->attr.ino = MakeIno(id_, r.ino);
    n->attr.mode = r.mode;
    n->attr.uid = r.uid;
    n->attr.gid = r.gid;
    n->attr.nlink = r.nlink;
    n->attr.size = r.size;
    n->attr.rdev = r.rdev;
    n->attr.atime = r.atime;
    n->attr.mtime = r.mtime;
    n->attr.ctime = r.ctime;
    n->attr.btime = r.btime;
    n->target = std::move(r.target);
    n->origin = r.origin;
    n->lazy = r.fork_flags & kForkLazy;
    n->lower_content = r.fork_flags & kForkLowerContent;
    n->copied_up = r.fork_flags & kForkCopiedUp;
    if (r.origin) by_origin_[r.origin] = r.ino;
    max_ino = std::max(max_ino, r.ino);
    nodes_[r.ino] = std::move(n);
  }
  size_t dangling = 0;
  for (auto& d : L.dentries) {
    auto p = nodes_.find(d.parent);
    auto c = nodes_.find(d.ino);
    if (p == nodes_.end() || c == nodes_.end() || !p->second->attr.IsDir()) {
      ++dangling;
      MarkDentry(d.parent, d.name);
      continue;
    }
    if (c->second->attr.IsDir() || c->second->parent == 0) {
      c->second->parent = d.parent;
      c->second->name = d.name;
    }
    p->second->children.emplace(std::move(d.name), d.ino);
  }
  if (dangling) spdlog::warn("dropped {} names pointing at missing inodes", dangling);
  for (auto& x : L.xattrs) {
    auto n = nodes_.find(x.ino);
    if (n != nodes_.end()) n->second->xattrs.emplace(std::move(x.name), std::move(x.value));
  }
  for (auto& p : L.points) {
    point_names_[{p.parent, p.name}] = p.origin;
    if (p.first) fork_points_[p.origin] = ForkPoint{p.parent, std::move(p.name), p.mode, std::move(p.target)};
  }
  if (nodes_.count(1)) nodes_[1]->parent = 1;
  // Inodes unlinked while still open when the daemon stopped.
  std::vector<Ino> orphans;
  for (auto& [ino, n] : nodes_)
    if (ino != 1 && n->attr.nlink == 0) orphans.push_back(ino);
  for (Ino ino : orphans) {
    if (nodes_[ino]->attr.IsReg()) freed_data_.push_back(ino);
    if (Ino o = nodes_[ino]->origin) by_origin_.erase(o);
    nodes_.erase(ino);
    MarkInode(ino);
  }
  if (!orphans.empty()) spdlog::info("removed {} orphaned inodes", orphans.size());
  next_ino_ = std::max<Ino>({L.next_ino, max_ino + 1, 2});
  own_first_ = L.fork_own_first;
  return Status::Ok();
}

Status NativeBackend::Reconcile() {
  size_t removed = 0, resized = 0;
  int top_fd = ::openat(data_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* top = top_fd < 0 ? nullptr : ::fdopendir(top_fd);
  if (!top) return Status::FromErrno("open data directory");
  std::vector<std::string> groups;
  while (dirent* de = ::readdir(top))
    if (de->d_name[0] != '.') groups.emplace_back(de->d_name);
  ::closedir(top);
  for (const std::string& group : groups) {
    int fd = ::openat(data_fd_, group.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;  // not a group directory
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return Status::FromErrno("opendir data/" + group);
    }
    while (dirent* de = ::readdir(dir)) {
      if (de->d_name[0] == '.') continue;
      char* end = nullptr;
      Ino local = std::strtoull(de->d_name, &end, 10);
      MutexLock lk(mu_);
      auto it = nodes_.find(local);
      bool pending_free = std::find(freed_data_.begin(), freed_data_.end(), local) != freed_data_.end();
      if (*end != '\0' || it == nodes_.end() || !it->second->attr.IsReg() || it->second->lower_content) {
        if (!pending_free) {
          ::unlinkat(fd, de->d_name, 0);
          ++removed;
        }
        continue;
      }
      struct stat st;
      if (::fstatat(fd, de->d_name, &st, 0) != 0) continue;
      if (static_cast<uint64_t>(st.st_size) != it->second->attr.size) {
        int f = ::openat(fd, de->d_name, O_WRONLY | O_CLOEXEC);
        if (f >= 0) {
          if (::ftruncate(f, static_cast<off_t>(it->second->attr.size)) == 0) ++resized;
          ::close(f);
        }
      }
    }
    ::closedir(dir);
  }
  spdlog::info("reconcile: removed {} stray backing files, resized {}", removed, resized);
  return Status::Ok();
}

// ---- helpers (mu_ held) ----

NativeBackend::Node* NativeBackend::Find(Ino fuse_ino) {
  if (BackendOf(fuse_ino) != id_) return nullptr;
  auto it = nodes_.find(LocalOf(fuse_ino));
  return it == nodes_.end() ? nullptr : it->second.get();
}

Result<NativeBackend::Node*> NativeBackend::FindDir(Ino fuse_ino) {
  Node* n = Find(fuse_ino);
  if (!n) return Enoent(fuse_ino);
  if (!n->attr.IsDir()) return Status::Error(ENOTDIR, "not a directory");
  if (n->lazy) NEXUS_RETURN_IF_ERROR(Materialize(n));
  return n;
}

Result<NativeBackend::Node*> NativeBackend::FindChild(Node* dir, const std::string& name) {
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return Status::Error(ENOENT, "no entry '" + name + "'");
  return nodes_[it->second].get();
}

void NativeBackend::MarkInode(Ino local) {
  if (auto it = nodes_.find(local); it != nodes_.end()) it->second->blocks_valid = false;
  dirty_inodes_.insert(local);
  if (++change_seq_ == committed_seq_ + 1) commit_cv_.notify_one();
}

void NativeBackend::MarkDentry(Ino parent_local, const std::string& name) {
  dirty_dentries_.emplace(parent_local, name);
  if (++change_seq_ == committed_seq_ + 1) commit_cv_.notify_one();
}

void NativeBackend::MarkXattr(Ino local, const std::string& name) {
  dirty_xattrs_.emplace(local, name);
  if (++change_seq_ == committed_seq_ + 1) commit_cv_.notify_one();
}

int NativeBackend::OpenBacking(Ino local, int flags) const {
  char rel[40];
  Rel(local, rel);
  flags |= O_CLOEXEC;
  auto open_once = [&] {
    // O_NOATIME is refused (EPERM) for files the daemon does not own.
    int fd = ::openat(data_fd_, rel, flags | O_NOATIME, 0600);
    return fd < 0 && errno == EPERM ? ::openat(data_fd_, rel, flags, 0600) : fd;
  };
  int fd = open_once();
  if (fd < 0 && errno == ENOENT && (flags & O_CREAT)) {
    std::string group(rel, std::strchr(rel, '/'));
    if (::mkdirat(data_fd_, group.c_str(), 0700) != 0 && errno != EEXIST) return -1;
    fd = open_once();
  }
  return fd;
}

Attr NativeBackend::Stat(const Node& n) const {
  Attr a = n.attr;
  if (a.IsReg()) {
    // Allocation is the backing file's (sparse files, fallocate KEEP_SIZE).
    if (n.lower_content) {
      n.blocks = (a.size + 511) / 512;  // the origin's, not read until copied up
      n.blocks_valid = true;
    } else if (!n.blocks_valid) {
      char rel[40];
      Rel(LocalOf(a.ino), rel);
      struct stat st;
      n.blocks = ::fstatat(data_fd_, rel, &st, 0) == 0 ? static_cast<uint64_t>(st.st_blocks) : 0;
      n.blocks_valid = true;
    }
    a.blocks = n.blocks;
  } else if (a.IsDir()) {
    a.size = 4096;
    a.blocks = 8;
  } else if (a.IsLnk()) {
    a.size = n.target.size();
  }
  return a;
}

bool NativeBackend::IsAncestor(Ino ancestor, Ino local) const {
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (local == ancestor) return true;
    if (local == 1) return false;
    auto it = nodes_.find(local);
    if (it == nodes_.end()) return false;
    local = it->second->parent;
  }
  return true;  // refuse on a (corrupt) cycle
}

std::string NativeBackend::PathOf(const Node& node) const {
  std::vector<const std::string*> parts;
  const Node* n = &node;
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (LocalOf(n->attr.ino) == 1) {
      std::string path = mount_path_;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) path = PathJoin(path, **it);
      return path;
    }
    if (n->parent == 0) return {};
    parts.push_back(&n->name);
    auto it = nodes_.find(n->parent);
    if (it == nodes_.end()) return {};
    n = it->second.get();
  }
  return {};  // a (corrupt) cycle
}

std::string NativeBackend::PathOf(Ino ino) const {
  if (BackendOf(ino) != id_) return {};
  MutexLock lk(mu_);
  return PathOfLocal(LocalOf(ino));
}

std::string NativeBackend::PathOfLocal(Ino local) const {
  auto it = nodes_.find(local);
  return it == nodes_.end() ? std::string() : PathOf(*it->second);
}

void NativeBackend::FindOtherName(Node* node) {
  node->parent = 0;
  node->name.clear();
  if (node->attr.nlink == 0) return;
  // Rare (the first name of a hard-linked file went away): scan every
  // directory for another name of this inode.
  const Ino local = LocalOf(node->attr.ino);
  for (const auto& [dir_local, dir] : nodes_) {
    if (!dir->attr.IsDir()) continue;
    for (const auto& [child_name, child] : dir->children) {
      if (child != local) continue;
      node->parent = dir_local;
      node->name = child_name;
      return;
    }
  }
}

void NativeBackend::Publish(ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                            const std::string& name, Ino new_parent, const std::string& new_name,
                            bool by_rename, ChangeDetails details) {
  PublishChangeAt(
      sink_, kind, caller, ino, parent, name, new_parent, new_name, by_rename,
      [this](Ino i) REQUIRES(mu_) { return PathOfLocal(LocalOf(i)); }, std::move(details));
}

Result<NativeBackend::Node*> NativeBackend::NewNode(const Caller& caller, Node* parent,
                                                    const std::string& name, mode_t mode, Ino local) {
  if (!parent->attr.IsDir()) return Status::Error(ENOTDIR, "not a directory");
  if (parent->attr.nlink == 0) return Status::Error(ENOENT, "directory was removed");
  if (name.size() > kNameMax) return Status::Error(ENAMETOOLONG, "name too long");
  if (parent->children.count(name)) return Status::Error(EEXIST, "'" + name + "' exists");
  if (local == 0) {
    local = next_ino_++;
    next_ino_dirty_ = true;
  }
  auto n = std::make_unique<Node>();
  timespec now = NowTimespec();
  n->attr.ino = MakeIno(id_, local);
  n->attr.mode = mode;
  n->attr.uid = caller.uid;
  n->attr.gid = caller.gid;
  if (parent->attr.mode & S_ISGID) {
    n->attr.gid = parent->attr.gid;
    if (S_ISDIR(mode)) n->attr.mode |= S_ISGID;
  }
  n->attr.nlink = S_ISDIR(mode) ? 2 : 1;
  n->attr.atime = n->attr.mtime = n->attr.ctime = n->attr.btime = now;
  n->lookups = 1;
  Node* raw = n.get();
  nodes_[local] = std::move(n);
  MarkInode(local);
  LinkName(parent, name, raw);
  return raw;
}

void NativeBackend::LinkName(Node* parent, const std::string& name, Node* child) {
  Ino plocal = LocalOf(parent->attr.ino), clocal = LocalOf(child->attr.ino);
  parent->children[name] = clocal;
  MarkDentry(plocal, name);
  parent->attr.mtime = parent->attr.ctime = NowTimespec();
  if (child->attr.IsDir()) ++parent->attr.nlink;
  if (child->attr.IsDir() || child->parent == 0) {
    child->parent = plocal;
    child->name = name;
  }
  MarkInode(plocal);
}

void NativeBackend::UnlinkName(Node* parent, const std::string& name, Node* child, const timespec& now) {
  // The file's last name goes: a close not numbered yet is numbered while
  // it still has a path.
  if (child->attr.IsReg() && child->attr.nlink == 1) NumberPendingClose(child);
  Ino plocal = LocalOf(parent->attr.ino);
  parent->children.erase(name);
  MarkDentry(plocal, name);
  parent->attr.mtime = parent->attr.ctime = now;
  if (child->attr.IsDir()) {
    --parent->attr.nlink;
    child->attr.nlink = 0;
  } else if (child->attr.nlink > 0) {
    --child->attr.nlink;
    if (child->parent == plocal && child->name == name) FindOtherName(child);
  }
  child->attr.ctime = now;
  MarkInode(plocal);
  MarkInode(LocalOf(child->attr.ino));
  MaybeFree(child);
}

void NativeBackend::MaybeFree(Node* n) {
  Ino local = LocalOf(n->attr.ino);
  if (local == 1 || n->attr.nlink > 0 || n->lookups > 0 || n->open_count > 0) return;
  if (n->attr.IsReg() && !n->lower_content) {
    KeepClosedOnFree(n);
    freed_data_.push_back(local);
  }
  if (n->origin) {
    auto it = by_origin_.find(n->origin);
    if (it != by_origin_.end() && it->second == local) by_origin_.erase(it);
  }
  nodes_.erase(local);
  MarkInode(local);
}

// ---- operations ----

Result<Attr> NativeBackend::Lookup(const Caller&, Ino parent, const std::string& name) {
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  Node* n = nullptr;
  if (name == ".") {
    n = *dir;
  } else if (name == "..") {
    n = nodes_[(*dir)->parent].get();
  } else {
    auto child = FindChild(*dir, name);
    if (!child.ok()) return child.status();
    n = *child;
  }
  ++n->lookups;
  return Stat(*n);
}

void NativeBackend::Forget(Ino ino, uint64_t nlookup) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n || LocalOf(ino) == 1) return;
  n->lookups -= std::min(n->lookups, nlookup);
  MaybeFree(n);
}

Result<Attr> NativeBackend::GetAttr(Ino ino) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  return Stat(*n);
}

Result<Attr> NativeBackend::SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& r, FileHandle* fh) {
  if (lower_ && (r.valid & SetAttrRequest::kSize) && BackendOf(ino) == id_)
    NEXUS_RETURN_IF_ERROR(CopyUp(LocalOf(ino), r.size == 0));
  if (fh && (r.valid & SetAttrRequest::kSize)) Unidle(*fh);
  if ((r.valid & SetAttrRequest::kSize) && BackendOf(ino) == id_)
    NEXUS_RETURN_IF_ERROR(KeepClosedBefore(LocalOf(ino), r.size == 0, true));
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  timespec now = NowTimespec();
  Attr& a = n->attr;
  ChangeDetails details;
  if (Listened()) {
    details.attrs = r.valid & (SetAttrRequest::kMode | SetAttrRequest::kUid | SetAttrRequest::kGid |
                               SetAttrRequest::kSize);
    details.mode_before = a.mode;
    details.uid_before = a.uid;
    details.gid_before = a.gid;
    details.size_before = a.size;
  }
  if (r.valid & SetAttrRequest::kSize) {
    if (a.IsDir()) return Status::Error(EISDIR, "is a directory");
    if (!a.IsReg()) return Status::Error(EINVAL, "not a regular file");
    int fd = fh ? fh->fd : -1;
    bool own = false;
    if (fd < 0) {
      fd = OpenBacking(LocalOf(ino), O_WRONLY | O_CREAT);
      if (fd < 0) return Status::FromErrno("open backing file");
      own = true;
    }
    int rc = ::ftruncate(fd, static_cast<off_t>(r.size));
    Status st = rc == 0 ? Status::Ok() : Status::FromErrno("truncate");
    if (own) ::close(fd);
    NEXUS_RETURN_IF_ERROR(st);
    a.size = r.size;
    a.mtime = now;
  }
  if (r.valid & SetAttrRequest::kMode) a.mode = (a.mode & S_IFMT) | (r.mode & 07777);
  if (r.valid & SetAttrRequest::kUid) a.uid = r.uid;
  if (r.valid & SetAttrRequest::kGid) a.gid = r.gid;
  if (r.valid & SetAttrRequest::kAtimeNow)
    a.atime = now;
  else if (r.valid & SetAttrRequest::kAtime)
    a.atime = r.atime;
  if (r.valid & SetAttrRequest::kMtimeNow)
    a.mtime = now;
  else if (r.valid & SetAttrRequest::kMtime)
    a.mtime = r.mtime;
  a.ctime = (r.valid & SetAttrRequest::kCtime) ? r.ctime : now;
  MarkInode(LocalOf(ino));
  details.mode_after = a.mode;
  details.uid_after = a.uid;
  details.gid_after = a.gid;
  details.size_after = a.size;
  Publish(ChangeEvent::Kind::kAttrChanged, caller, ino, 0, {}, 0, {}, false, std::move(details));
  return Stat(*n);
}

Result<std::string> NativeBackend::ReadLink(Ino ino) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  if (!n->attr.IsLnk()) return Status::Error(EINVAL, "not a symbolic link");
  return n->target;
}

Result<Attr> NativeBackend::MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                                  dev_t rdev) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
      break;
    case 0:
      mode |= S_IFREG;
      break;
    default:
      return Status::Error(EINVAL, "unsupported file type for mknod");
  }
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  auto n = NewNode(caller, *dir, name, mode);
  if (!n.ok()) return n.status();
  (*n)->attr.rdev = rdev;
  Publish(ChangeEvent::Kind::kCreated, caller, (*n)->attr.ino, parent, name, 0, {}, false,
          ChangeDetails::Created(mode));
  return Stat(**n);
}

Result<Attr> NativeBackend::MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) {
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  auto n = NewNode(caller, *dir, name, S_IFDIR | (mode & 07777));
  if (!n.ok()) return n.status();
  Publish(ChangeEvent::Kind::kCreated, caller, (*n)->attr.ino, parent, name, 0, {}, false,
          ChangeDetails::Created(S_IFDIR));
  return Stat(**n);
}

Result<Attr> NativeBackend::Symlink(const Caller& caller, const std::string& target, Ino parent,
                                    const std::string& name) {
  if (target.empty()) return Status::Error(ENOENT, "empty symlink target");
  if (target.size() > kSymlinkMax) return Status::Error(ENAMETOOLONG, "symlink target too long");
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  auto n = NewNode(caller, *dir, name, S_IFLNK | 0777);
  if (!n.ok()) return n.status();
  (*n)->target = target;
  (*n)->attr.size = target.size();
  Publish(ChangeEvent::Kind::kCreated, caller, (*n)->attr.ino, parent, name, 0, {}, false,
          ChangeDetails::Created(S_IFLNK, false, Listened() ? target : std::string()));
  return Stat(**n);
}

Result<Attr> NativeBackend::Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  if (n->attr.IsDir()) return Status::Error(EPERM, "hard link to a directory");
  if (n->attr.nlink == 0) return Status::Error(ENOENT, "file was removed");
  auto dir = FindDir(new_parent);
  if (!dir.ok()) return dir.status();
  if ((*dir)->attr.nlink == 0) return Status::Error(ENOENT, "directory was removed");
  if (new_name.size() > kNameMax) return Status::Error(ENAMETOOLONG, "name too long");
  if ((*dir)->children.count(new_name)) return Status::Error(EEXIST, "'" + new_name + "' exists");
  ++n->attr.nlink;
  n->attr.ctime = NowTimespec();
  ++n->lookups;
  MarkInode(LocalOf(ino));
  LinkName(*dir, new_name, n);
  Publish(ChangeEvent::Kind::kCreated, caller, ino, new_parent, new_name, 0, {}, false,
          ChangeDetails::Created(n->attr.mode, /*hard_link=*/true));
  return Stat(*n);
}

Status NativeBackend::Unlink(const Caller& caller, Ino parent, const std::string& name) {
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  auto child = FindChild(*dir, name);
  if (!child.ok()) return child.status();
  Node* n = *child;
  if (n->attr.IsDir()) return Status::Error(EISDIR, "'" + name + "' is a directory");
  Ino ino = n->attr.ino;
  const ChangeDetails details = ChangeDetails::Removed(n->attr.mode, n->attr.uid, n->attr.gid);
  UnlinkName(*dir, name, n, NowTimespec());
  Publish(ChangeEvent::Kind::kRemoved, caller, ino, parent, name, 0, {}, false, details);
  return Status::Ok();
}

Status NativeBackend::RmDir(const Caller& caller, Ino parent, const std::string& name) {
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  if (!dir.ok()) return dir.status();
  auto child = FindChild(*dir, name);
  if (!child.ok()) return child.status();
  Node* n = *child;
  if (!n->attr.IsDir()) return Status::Error(ENOTDIR, "'" + name + "' is not a directory");
  if (n->lazy) NEXUS_RETURN_IF_ERROR(Materialize(n));
  if (!n->children.empty()) return Status::Error(ENOTEMPTY, "'" + name + "' is not empty");
  Ino ino = n->attr.ino;
  const ChangeDetails details = ChangeDetails::Removed(n->attr.mode, n->attr.uid, n->attr.gid);
  UnlinkName(*dir, name, n, NowTimespec());
  Publish(ChangeEvent::Kind::kRemoved, caller, ino, parent, name, 0, {}, false, details);
  return Status::Ok();
}

Status NativeBackend::Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                             const std::string& new_name, unsigned flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status::Error(EINVAL, "unsupported rename flags");
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
    return Status::Error(EINVAL, "RENAME_NOREPLACE with RENAME_EXCHANGE");
  if (new_name.size() > kNameMax) return Status::Error(ENAMETOOLONG, "name too long");
  MutexLock lk(mu_);
  auto od = FindDir(parent);
  if (!od.ok()) return od.status();
  auto nd = FindDir(new_parent);
  if (!nd.ok()) return nd.status();
  Node* op = *od;
  Node* np = *nd;
  auto sit = op->children.find(name);
  if (sit == op->children.end()) return Status::Error(ENOENT, "no entry '" + name + "'");
  Node* src = nodes_[sit->second].get();
  auto dit = np->children.find(new_name);
  Node* dst = dit == np->children.end() ? nullptr : nodes_[dit->second].get();
  Ino sl = LocalOf(src->attr.ino), opl = LocalOf(op->attr.ino), npl = LocalOf(np->attr.ino);
  if (np->attr.nlink == 0) return Status::Error(ENOENT, "directory was removed");
  timespec now = NowTimespec();

  if (flags & RENAME_EXCHANGE) {
    if (!dst) return Status::Error(ENOENT, "no entry '" + new_name + "'");
    if (src == dst) return Status::Ok();
    Ino dl = LocalOf(dst->attr.ino);
    if ((src->attr.IsDir() && IsAncestor(sl, npl)) || (dst->attr.IsDir() && IsAncestor(dl, opl)))
      return Status::Error(EINVAL, "cannot move a directory into itself");
    op->children[name] = dl;
    np->children[new_name] = sl;
    const bool src_primary = src->parent == opl && src->name == name;
    const bool dst_primary = dst->parent == npl && dst->name == new_name;
    if (src_primary) src->parent = npl, src->name = new_name;
    if (dst_primary) dst->parent = opl, dst->name = name;
    if (op != np) {
      if (src->attr.IsDir()) {
        --op->attr.nlink;
        ++np->attr.nlink;
      }
      if (dst->attr.IsDir()) {
        --np->attr.nlink;
        ++op->attr.nlink;
      }
    }
    MarkDentry(opl, name);
    MarkDentry(npl, new_name);
    src->attr.ctime = dst->attr.ctime = now;
    op->attr.mtime = op->attr.ctime = np->attr.mtime = np->attr.ctime = now;
    for (Ino l : {sl, dl, opl, npl}) MarkInode(l);
    Publish(ChangeEvent::Kind::kRenamed, caller, src->attr.ino, parent, name, new_parent, new_name);
    Publish(ChangeEvent::Kind::kRenamed, caller, dst->attr.ino, new_parent, new_name, parent, name);
    return Status::Ok();
  }

  if (dst) {
    if (flags & RENAME_NOREPLACE) return Status::Error(EEXIST, "'" + new_name + "' exists");
    if (src == dst) return Status::Ok();
    if (src->attr.IsDir()) {
      if (!dst->attr.IsDir()) return Status::Error(ENOTDIR, "'" + new_name + "' is not a directory");
      if (dst->lazy) NEXUS_RETURN_IF_ERROR(Materialize(dst));
      if (!dst->children.empty()) return Status::Error(ENOTEMPTY, "'" + new_name + "' is not empty");
    } else if (dst->attr.IsDir()) {
      return Status::Error(EISDIR, "'" + new_name + "' is a directory");
    }
  }
  if (src->attr.IsDir() && IsAncestor(sl, npl))
    return Status::Error(EINVAL, "cannot move a directory into itself");

  if (dst) {
    Ino dino = dst->attr.ino;
    const ChangeDetails details = ChangeDetails::Removed(dst->attr.mode, dst->attr.uid, dst->attr.gid);
    UnlinkName(np, new_name, dst, now);
    Publish(ChangeEvent::Kind::kRemoved, caller, dino, new_parent, new_name, 0, {},
            /*by_rename=*/true, details);
  }
  op->children.erase(name);
  MarkDentry(opl, name);
  np->children[new_name] = sl;
  MarkDentry(npl, new_name);
  if (src->attr.IsDir() && op != np) {
    --op->attr.nlink;
    ++np->attr.nlink;
  }
  if (src->parent == opl && src->name == name) {
    src->parent = npl;
    src->name = new_name;
  }
  src->attr.ctime = now;
  op->attr.mtime = op->attr.ctime = np->attr.mtime = np->attr.ctime = now;
  for (Ino l : {sl, opl, npl}) MarkInode(l);
  Publish(ChangeEvent::Kind::kRenamed, caller, src->attr.ino, parent, name, new_parent, new_name);
  return Status::Ok();
}

Result<std::unique_ptr<FileHandle>> NativeBackend::Open(const Caller& caller, Ino ino, int flags) {
  const bool writes = (flags & O_ACCMODE) != O_RDONLY;
  if (lower_ && (writes || (flags & O_TRUNC)) && BackendOf(ino) == id_)
    NEXUS_RETURN_IF_ERROR(CopyUp(LocalOf(ino), flags & O_TRUNC));
  if ((writes || (flags & O_TRUNC)) && BackendOf(ino) == id_)
    NEXUS_RETURN_IF_ERROR(KeepClosedBefore(LocalOf(ino), flags & O_TRUNC, true));
  {
    MutexLock lk(mu_);
    Node* n = Find(ino);
    if (!n) return Enoent(ino);
    if (n->attr.IsDir()) return Status::Error(EISDIR, "is a directory");
    if (!n->attr.IsReg()) return Status::Error(EINVAL, "not a regular file");
    if (n->lower_content) return OpenOriginReader(caller, n, flags);  // a fork's, for reading
    ++n->open_count;  // pins the node while the backing file is opened
  }
  // Always read-write: with the writeback cache the kernel reads pages of
  // files opened write-only. Appends are positioned by the kernel.
  int fd = OpenBacking(LocalOf(ino), O_RDWR | O_CREAT);
  Status st = fd < 0 ? Status::FromErrno("open backing file") : Status::Ok();
  if (st.ok() && (flags & O_TRUNC) && ::ftruncate(fd, 0) != 0) st = Status::FromErrno("truncate");
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!st.ok()) {
    if (fd >= 0) ::close(fd);
    if (n) {
      --n->open_count;
      MaybeFree(n);
    }
    return st;
  }
  if (flags & O_TRUNC) n->blocks_valid = false;  // allocation past EOF goes too
  if ((flags & O_TRUNC) && n->attr.size != 0) {
    n->attr.size = 0;
    n->attr.mtime = n->attr.ctime = NowTimespec();
    n->content_dirty = true;
    MarkInode(LocalOf(ino));
  }
  if (writes) ++n->write_opens;
  if (Writer(flags)) {
    ++n->active_writers;
    ++n->writer_handles;
  }
  n->handle_fds.push_back(fd);
  auto fh = std::make_unique<FileHandle>();
  fh->fd = fd;
  fh->ino = ino;
  fh->flags = flags;
  fh->opener = caller;
  return fh;
}

Result<Backend::Created> NativeBackend::Create(const Caller& caller, Ino parent, const std::string& name,
                                               mode_t mode, int flags) {
  Ino local;
  {
    MutexLock lk(mu_);
    auto dir = FindDir(parent);
    if (!dir.ok()) return dir.status();
    auto it = (*dir)->children.find(name);
    if (it != (*dir)->children.end()) {
      if (flags & O_EXCL) return Status::Error(EEXIST, "'" + name + "' exists");
      Node* existing = nodes_[it->second].get();
      if (existing->attr.IsDir()) return Status::Error(EISDIR, "is a directory");
      local = it->second;
      ++existing->lookups;
    } else {
      local = 0;
    }
  }
  if (local != 0) {  // raced with another creator: open what is there
    auto fh = Open(caller, MakeIno(id_, local), flags);
    if (!fh.ok()) return fh.status();
    auto attr = GetAttr(MakeIno(id_, local));
    if (!attr.ok()) return attr.status();
    return Created{*attr, std::move(fh).value()};
  }
  // Create the backing file first, outside the lock, under a fresh number.
  {
    MutexLock lk(mu_);
    local = next_ino_++;
    next_ino_dirty_ = true;
  }
  int fd = OpenBacking(local, O_RDWR | O_CREAT | O_TRUNC);
  if (fd < 0) return Status::FromErrno("create backing file");
  MutexLock lk(mu_);
  auto dir = FindDir(parent);
  Status st = dir.status();
  Node* n = nullptr;
  if (st.ok()) {
    auto made = NewNode(caller, *dir, name, S_IFREG | (mode & 07777), local);
    if (made.ok())
      n = *made;
    else
      st = made.status();
  }
  if (!st.ok()) {
    ::close(fd);
    char rel[40];
    Rel(local, rel);
    ::unlinkat(data_fd_, rel, 0);
    return st;
  }
  n->open_count = 1;
  n->handle_fds.push_back(fd);
  if ((flags & O_ACCMODE) != O_RDONLY) n->write_opens = 1;
  n->active_writers = n->writer_handles = Writer(flags) ? 1 : 0;
  n->content_dirty = true;  // a new file's last close is its first content
  auto fh = std::make_unique<FileHandle>();
  fh->fd = fd;
  fh->ino = n->attr.ino;
  fh->flags = flags;
  fh->opener = caller;
  Publish(ChangeEvent::Kind::kCreated, caller, n->attr.ino, parent, name, 0, {}, false,
          ChangeDetails::Created(n->attr.mode));
  return Created{Stat(*n), std::move(fh)};
}

void NativeBackend::OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) {
  MutexLock lk(mu_);
  Node* n = Find(fh.ino);
  if (!n) return;
  n->attr.size = std::max(n->attr.size, offset + len);
  n->attr.mtime = n->attr.ctime = NowTimespec();
  n->content_dirty = true;
  n->wrote = true;
  n->last_writer = fh.opener;
  MarkInode(LocalOf(fh.ino));
}

Status NativeBackend::Fsync(FileHandle& fh, bool datasync) {
  if ((datasync ? ::fdatasync(fh.fd) : ::fsync(fh.fd)) != 0) return Status::FromErrno("fsync");
  NEXUS_RETURN_IF_ERROR(WaitCommitted(true));
  if (!fh.written) return Status::Ok();
  // The handle stays open and may write on: the content this fsync made
  // durable is kept by a copy when it is small enough to cost no more than
  // the fsync itself, by a reflink (shared extents, O(1)) when larger on a
  // filesystem that has them; otherwise a larger file is captured as the
  // recorder finds it.
  ChangeDetails details;
  mode_t mode = 0;
  bool clone_only = false;
  {
    MutexLock lk(mu_);
    Node* n = Find(fh.ino);
    if (n && sink_ && sink_->KeepsClosedContent() && !n->lower_content && n->attr.nlink > 0 &&
        BackendOf(fh.ino) == id_ &&
        (n->attr.size <= kSyncKeepMax || !no_reflinks_.load(std::memory_order_relaxed))) {
      details.content_gen = ++next_closed_gen_;
      mode = n->attr.mode;
      clone_only = n->attr.size > kSyncKeepMax;
    }
  }
  if (details.content_gen != 0) {
    Status kept = CopyClosed(fh.fd, LocalOf(fh.ino), details.content_gen, mode, false, clone_only);
    if (!kept.ok()) {
      details.content_gen = 0;
      if (clone_only && (kept.code() == EOPNOTSUPP || kept.code() == EXDEV || kept.code() == EINVAL ||
                         kept.code() == ENOTTY))
        no_reflinks_.store(true, std::memory_order_relaxed);
    }
  }
  MutexLock lk(mu_);
  Publish(ChangeEvent::Kind::kContentSynced, fh.opener, fh.ino, 0, {}, 0, {}, false, std::move(details));
  return Status::Ok();
}

Status NativeBackend::Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) {
  Unidle(fh);
  if (BackendOf(fh.ino) == id_) NEXUS_RETURN_IF_ERROR(KeepClosedBefore(LocalOf(fh.ino), false, false));
  if (::fallocate(fh.fd, mode, offset, length) != 0) return Status::FromErrno("fallocate");
  MutexLock lk(mu_);
  Node* n = Find(fh.ino);
  if (!n) return Enoent(fh.ino);
  if (!(mode & FALLOC_FL_KEEP_SIZE))
    n->attr.size = std::max<uint64_t>(n->attr.size, static_cast<uint64_t>(offset + length));
  n->attr.mtime = n->attr.ctime = NowTimespec();
  n->content_dirty = true;
  n->wrote = true;
  MarkInode(LocalOf(fh.ino));
  return Status::Ok();
}

void NativeBackend::Release(std::unique_ptr<FileHandle> fh) {
  MutexLock lk(mu_);
  Node* n = Find(fh->ino);
  // A descriptor leaves lower_fds and handle_fds before its number can be
  // reused (a copy-up or a kept close dup2()s onto every number listed).
  if (n) {
    if (!n->lower_fds.empty()) std::erase(n->lower_fds, fh->fd);
    std::erase(n->handle_fds, fh->fd);
  }
  ::close(fh->fd);
  if (!n) return;
  if ((fh->flags & O_ACCMODE) != O_RDONLY && n->write_opens > 0) --n->write_opens;
  const bool writer = Writer(fh->flags);
  if (writer && !fh->flushed.load(std::memory_order_relaxed) && n->active_writers > 0) --n->active_writers;
  if (writer && n->writer_handles > 0) --n->writer_handles;
  if (n->open_count > 0) --n->open_count;
  // The last writer gone: its content (or a truncation alone) is a close,
  // unless another handle changed it first (NumberPendingClose numbered it).
  if (n->writer_handles == 0 && n->content_dirty) {
    const Caller who = n->wrote ? n->last_writer : fh->opener;
    n->content_dirty = false;
    n->wrote = false;
    ChangeDetails details;
    details.content_gen = NumberClosed(n);
    Publish(ChangeEvent::Kind::kContentClosed, who, fh->ino, 0, {}, 0, {}, false, std::move(details));
  }
  MaybeFree(n);
}

Status NativeBackend::Flush(FileHandle& fh) {
  if (!sink_ || !sink_->KeepsClosedContent()) return Status::Error(ENOSYS, "no flush needed");
  if (!Writer(fh.flags)) return Status::Ok();  // a reader's close changes nothing
  MutexLock lk(mu_);
  Node* n = Find(fh.ino);
  if (!n) return Status::Ok();
  if (!fh.flushed.exchange(true) && n->active_writers > 0) --n->active_writers;
  // Not numbered here: a descriptor closed may have copies (a shell's
  // dup2, a child's inherited descriptor at exec or exit) that write on.
  // The content stays as this close left it until the release numbers it,
  // or another handle changes it and numbers it first (NumberPendingClose).
  return Status::Ok();
}

void NativeBackend::Unidle(FileHandle& fh) {
  if (!fh.flushed.load(std::memory_order_relaxed) || !fh.flushed.exchange(false)) return;
  MutexLock lk(mu_);
  if (Node* n = Find(fh.ino)) ++n->active_writers;
}

void NativeBackend::BeforeWrite(FileHandle& fh) {
  Unidle(fh);
  if (BackendOf(fh.ino) != id_) return;
  Status st = KeepClosedBefore(LocalOf(fh.ino), false, false);
  if (!st.ok()) spdlog::warn("keeping closed content of inode {}: {}", fh.ino, st.ToString());
}

Result<std::vector<DirEntry>> NativeBackend::ReadDir(const Caller&, Ino ino) {
  MutexLock lk(mu_);
  auto dir = FindDir(ino);
  if (!dir.ok()) return dir.status();
  std::vector<DirEntry> out;
  out.reserve((*dir)->children.size());
  for (const auto& [name, local] : (*dir)->children) {
    const Node& c = *nodes_[local];
    out.push_back({name, c.attr.ino, static_cast<mode_t>(c.attr.mode & S_IFMT)});
  }
  return out;
}

Status NativeBackend::FsyncDir(Ino) { return WaitCommitted(true); }

Result<struct statvfs> NativeBackend::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(data_fd_, &sv) != 0) return Status::FromErrno("statvfs");
  MutexLock lk(mu_);
  sv.f_namemax = kNameMax;
  sv.f_files = std::max<fsfilcnt_t>(sv.f_files, nodes_.size());
  sv.f_ffree = sv.f_files - std::min<fsfilcnt_t>(sv.f_files, nodes_.size());
  sv.f_favail = sv.f_ffree;
  return sv;
}

Status NativeBackend::SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                               int flags) {
  if (name.rfind("system.", 0) == 0)
    return Status::Error(EOPNOTSUPP, "system.* attributes are not supported");
  if (name.empty() || name.size() > XATTR_NAME_MAX) return Status::Error(ERANGE, "bad name");
  if (value.size() > kXattrValueMax) return Status::Error(E2BIG, "value too large");
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  auto it = n->xattrs.find(name);
  if ((flags & XATTR_CREATE) && it != n->xattrs.end()) return Status::Error(EEXIST, "attribute exists");
  if ((flags & XATTR_REPLACE) && it == n->xattrs.end()) return Status::Error(ENODATA, "no such attribute");
  ChangeDetails details;
  if (Listened()) {
    std::string_view before;
    if (it != n->xattrs.end()) before = it->second;
    details.SetXattrBefore(ChangeDetails::Xattr::kSet, name, it != n->xattrs.end() ? &before : nullptr);
  }
  n->xattrs[name] = std::string(value);
  n->attr.ctime = NowTimespec();
  MarkXattr(LocalOf(ino), name);
  MarkInode(LocalOf(ino));
  Publish(ChangeEvent::Kind::kAttrChanged, caller, ino, 0, {}, 0, {}, false, std::move(details));
  return Status::Ok();
}

Result<std::string> NativeBackend::GetXattr(Ino ino, const std::string& name) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return Status::Error(ENODATA, "no such attribute");
  return it->second;
}

Result<std::vector<std::string>> NativeBackend::ListXattr(Ino ino) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  std::vector<std::string> names;
  for (const auto& [k, v] : n->xattrs) names.push_back(k);
  return names;
}

Status NativeBackend::RemoveXattr(const Caller& caller, Ino ino, const std::string& name) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Enoent(ino);
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return Status::Error(ENODATA, "no such attribute");
  ChangeDetails details;
  if (Listened()) {
    std::string_view before = it->second;
    details.SetXattrBefore(ChangeDetails::Xattr::kRemoved, name, &before);
  }
  n->xattrs.erase(it);
  n->attr.ctime = NowTimespec();
  MarkXattr(LocalOf(ino), name);
  MarkInode(LocalOf(ino));
  Publish(ChangeEvent::Kind::kAttrChanged, caller, ino, 0, {}, 0, {}, false, std::move(details));
  return Status::Ok();
}

uint64_t NativeBackend::InodeCount() const {
  MutexLock lk(mu_);
  return nodes_.size();
}

// ---- committer ----

Status NativeBackend::Sync() { return WaitCommitted(true); }

Status NativeBackend::WaitCommitted(bool durable) {
  MutexLock lk(mu_);
  const uint64_t target = change_seq_;
  if (durable) {
    if (durable_seq_ >= target) return Status::Ok();
    durable_wanted_ = std::max(durable_wanted_, target);
    commit_cv_.notify_one();
    lk.Wait(committed_cv_, [&]() REQUIRES(mu_) { return durable_seq_ >= target || !commit_error_.ok(); });
  } else {
    commit_now_ = true;
    commit_cv_.notify_one();
    lk.Wait(committed_cv_, [&]() REQUIRES(mu_) { return committed_seq_ >= target || !commit_error_.ok(); });
  }
  if (!commit_error_.ok()) return commit_error_;
  return Status::Ok();
}

MetaBatch NativeBackend::TakeBatch(std::vector<Ino>* freed) {
  MetaBatch b;
  for (Ino local : dirty_inodes_) {
    auto it = nodes_.find(local);
    if (it == nodes_.end()) {
      b.delete_inodes.push_back(local);
      continue;
    }
    const Node& n = *it->second;
    InodeRecord r;
    r.ino = local;
    r.mode = n.attr.mode;
    r.uid = n.attr.uid;
    r.gid = n.attr.gid;
    r.nlink = n.attr.nlink;
    r.size = n.attr.size;
    r.rdev = n.attr.rdev;
    r.atime = n.attr.atime;
    r.mtime = n.attr.mtime;
    r.ctime = n.attr.ctime;
    r.btime = n.attr.btime;
    r.target = n.target;
    r.origin = n.origin;
    r.fork_flags = (n.lazy ? kForkLazy : 0) | (n.lower_content ? kForkLowerContent : 0) |
                   (n.copied_up ? kForkCopiedUp : 0);
    b.put_inodes.push_back(std::move(r));
  }
  for (auto& [parent, name] : dirty_dentries_) {
    auto p = nodes_.find(parent);
    const std::map<std::string, Ino, std::less<>>* children =
        p == nodes_.end() ? nullptr : &p->second->children;
    auto c = children ? children->find(name) : decltype(children->end()){};
    if (children && c != children->end())
      b.put_dentries.push_back({parent, name, c->second});
    else
      b.delete_dentries.emplace_back(parent, name);
  }
  for (auto& [local, name] : dirty_xattrs_) {
    auto it = nodes_.find(local);
    if (it == nodes_.end()) continue;  // removed with the inode
    auto x = it->second->xattrs.find(name);
    if (x != it->second->xattrs.end())
      b.put_xattrs.push_back({local, name, x->second});
    else
      b.delete_xattrs.emplace_back(local, name);
  }
  for (const auto& key : dirty_points_) {
    const Ino origin = point_names_.at(key);
    const ForkPoint& p = fork_points_.at(origin);
    b.put_points.push_back(
        {origin, key.first, key.second, p.mode, p.target, p.parent == key.first && p.name == key.second});
  }
  dirty_points_.clear();
  if (next_ino_dirty_) b.next_ino = next_ino_;
  if (own_first_dirty_) b.fork_own_first = own_first_;
  own_first_dirty_ = false;
  dirty_inodes_.clear();
  dirty_dentries_.clear();
  dirty_xattrs_.clear();
  next_ino_dirty_ = false;
  freed->swap(freed_data_);
  return b;
}

void NativeBackend::CommitLoop() {
  MutexLock lk(mu_);
  auto has_work = [&]() REQUIRES(mu_) {
    return !dirty_inodes_.empty() || !dirty_dentries_.empty() || !dirty_xattrs_.empty() ||
           !dirty_points_.empty() || next_ino_dirty_ || !freed_data_.empty() ||
           durable_wanted_ > durable_seq_;
  };
  for (;;) {
    lk.Wait(commit_cv_, [&]() REQUIRES(mu_) { return stop_ || has_work(); });
    if (!stop_ && !commit_now_ && durable_wanted_ <= durable_seq_) {
      // Group window: let a burst of changes share one transaction.
      lk.WaitFor(commit_cv_, std::chrono::milliseconds(commit_interval_ms_),
                 [&]() REQUIRES(mu_) { return stop_ || commit_now_ || durable_wanted_ > durable_seq_; });
    }
    const bool durable = stop_ || durable_wanted_ > durable_seq_;
    commit_now_ = false;
    const uint64_t seq = change_seq_;
    std::vector<Ino> freed;
    MetaBatch batch = TakeBatch(&freed);
    lk.Unlock();
    Status st = Status::Ok();
    if (!batch.empty() || durable) st = store_->Commit(batch, durable);
    if (st.ok()) {
      for (Ino local : freed) {
        char rel[40];
        Rel(local, rel);
        ::unlinkat(data_fd_, rel, 0);
      }
    }
    lk.Lock();
    if (st.ok()) {
      commit_error_ = Status::Ok();
      committed_seq_ = std::max(committed_seq_, seq);
      if (durable) durable_seq_ = std::max(durable_seq_, seq);
    } else {
      spdlog::error("metadata commit failed, will retry: {}", st.ToString());
      commit_error_ = st;
      for (auto& r : batch.put_inodes) dirty_inodes_.insert(r.ino);
      for (Ino i : batch.delete_inodes) dirty_inodes_.insert(i);
      for (auto& d : batch.put_dentries) dirty_dentries_.emplace(d.parent, d.name);
      for (auto& d : batch.delete_dentries) dirty_dentries_.insert(d);
      for (auto& x : batch.put_xattrs) dirty_xattrs_.emplace(x.ino, x.name);
      for (auto& x : batch.delete_xattrs) dirty_xattrs_.insert(x);
      for (auto& p : batch.put_points) dirty_points_.emplace_back(p.parent, p.name);
      if (batch.next_ino) next_ino_dirty_ = true;
      if (batch.fork_own_first) own_first_dirty_ = true;
      freed_data_.insert(freed_data_.end(), freed.begin(), freed.end());
    }
    committed_cv_.notify_all();
    if (stop_ && (!has_work() || !st.ok())) return;
    if (!st.ok())
      lk.WaitFor(commit_cv_, std::chrono::milliseconds(200), [&]() REQUIRES(mu_) { return stop_; });
  }
}

}  // namespace nexus
