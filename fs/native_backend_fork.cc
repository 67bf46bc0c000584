// NativeBackend's fork mode (fs/fork_point.h, docs/forks.md "How a fork pins
// its base"), and the ForkSource every NativeBackend is.
//
// A fork's node remembers its origin (the source inode it came from). A lazy
// directory has no children of its own yet: Materialize lists its origin
// into nodes (each lazy or reading its origin's content in turn). A regular
// file with lower_content has no backing file: reads get a descriptor on the
// origin's content (the kept copy in origin/ if there is one, else the
// source's live backing file) and the first write copies it up.
//
// Why the live content is the fork point's: the source never changes
// anything a fork still reads without calling PreserveBefore first, which
// materializes the directories the change alters and keeps (copies to
// origin/<origin ino>) the content a change would destroy.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "base/file_util.h"
#include "fs/native_backend.h"

namespace nexus {
namespace {

Status NotFork() { return Status::Error(EINVAL, "not a fork"); }

// Whether the two descriptors hold the same bytes.
Result<bool> SameContent(int a, int b) {
  struct stat sa, sb;
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0) return Status::FromErrno("stat for compare");
  if (sa.st_size != sb.st_size) return false;
  std::vector<char> x(size_t{1} << 18), y(size_t{1} << 18);
  for (off_t off = 0; off < sa.st_size;) {
    ssize_t n = ::pread(a, x.data(), x.size(), off);
    if (n < 0) return Status::FromErrno("read for compare");
    if (n == 0) return false;  // shrank meanwhile
    for (ssize_t got = 0; got < n;) {
      ssize_t m = ::pread(b, y.data() + got, static_cast<size_t>(n - got), off + got);
      if (m <= 0) return m < 0 ? Status::FromErrno("read for compare") : Result<bool>(false);
      got += m;
    }
    if (std::memcmp(x.data(), y.data(), static_cast<size_t>(n)) != 0) return false;
    off += n;
  }
  return true;
}

// A read-only descriptor holding `bytes` (a symlink's target as content).
Result<int> BytesFd(const std::string& bytes) {
  int fd = ::memfd_create("nexus-origin", MFD_CLOEXEC);
  if (fd < 0) return Status::FromErrno("memfd_create");
  for (size_t done = 0; done < bytes.size();) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      Status st = Status::FromErrno("write memfd");
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(w);
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

}  // namespace

int NativeBackend::OpenKept(Ino origin) const {
  return ::openat(origin_fd_, OriginPath(origin).c_str(), O_RDONLY | O_CLOEXEC);
}

Status NativeBackend::OpenOriginDir() {
  std::vector<std::string> names, stale;
  NEXUS_RETURN_IF_ERROR(OpenSubdir("origin", &origin_fd_, &names));
  for (const std::string& name : names) {
    char* end = nullptr;
    Ino origin = std::strtoull(name.c_str(), &end, 10);
    if (*end == '\0' && origin != 0)
      kept_.insert(origin);  // the rename made it whole: its existence is the truth
    else
      stale.push_back(name);  // a copy a crash interrupted
  }
  for (const std::string& name : stale) ::unlinkat(origin_fd_, name.c_str(), 0);
  return Status::Ok();
}

Status NativeBackend::CreateForkRoot() {
  auto st = lower_->StatForFork(lower_root_);
  if (!st.ok()) return st.status();
  if (!st->attr.IsDir()) return Status::Error(ENOTDIR, "a fork starts from a directory");
  auto root = std::make_unique<Node>();
  root->attr = st->attr;
  root->attr.ino = MakeIno(id_, 1);
  root->parent = 1;
  root->origin = lower_root_;
  root->lazy = true;
  for (auto& [k, v] : st->xattrs) {
    root->xattrs.emplace(k, v);
    MarkXattr(1, k);
  }
  by_origin_[lower_root_] = 1;
  nodes_[1] = std::move(root);
  MarkInode(1);
  // The fork's own nodes are numbered above every number the source has
  // given so far, so they never take an origin's number.
  auto* source = dynamic_cast<NativeBackend*>(lower_);
  next_ino_ = std::max<Ino>(next_ino_, source ? source->NextLocal() : kForeignOwnFirst);
  next_ino_dirty_ = true;
  own_first_ = next_ino_;
  own_first_dirty_ = true;
  return Status::Ok();
}

Status NativeBackend::KeepOpenForWriting() {
  MutexLock cl(copy_mu_);
  MutexLock lk(mu_);
  for (Ino ino : lower_->OpenForWriting(lower_root_))
    if (!kept_.count(ino)) NEXUS_RETURN_IF_ERROR(KeepOrigin(lk, ino));
  return Status::Ok();
}

void NativeBackend::NotePoint(Ino origin, Ino parent, const std::string& name, mode_t mode,
                              const std::string& target) {
  if (point_names_.try_emplace({parent, name}, origin).second) dirty_points_.emplace_back(parent, name);
  fork_points_.try_emplace(origin, ForkPoint{parent, name, mode, target});
}

Status NativeBackend::Materialize(Node* dir) {
  if (!dir->lazy) return Status::Ok();
  auto listed = lower_->ListForFork(dir->origin);
  if (!listed.ok()) return listed.status();
  const Ino dlocal = LocalOf(dir->attr.ino);
  for (SourceEntry& e : *listed) {
    const Ino origin = e.attr.ino;
    const bool fresh_origin = !fork_points_.count(origin);
    NotePoint(origin, dir->origin, e.name, e.attr.mode, e.target);
    if (dir->children.count(e.name)) continue;
    if (auto it = by_origin_.find(origin); it != by_origin_.end() && !e.attr.IsDir()) {
      // Another name of a file already met (a hard link): one node, two names.
      Node* n = nodes_[it->second].get();
      if (n->attr.nlink > 0) {
        dir->children[e.name] = it->second;
        MarkDentry(dlocal, e.name);
        ++n->attr.nlink;
        MarkInode(it->second);
        continue;
      }
    }
    // The origin's own number when it is free: tools that remember inode
    // numbers (git's index) then see the same file. An origin met before (a
    // node the fork since freed) gets a fresh number: numbers are never reused.
    Ino local = LocalOf(origin);
    if (!fresh_origin || local < 2 || local >= own_first_ || nodes_.count(local)) {
      local = next_ino_++;
      next_ino_dirty_ = true;
    }
    auto n = std::make_unique<Node>();
    n->attr = e.attr;
    n->attr.ino = MakeIno(id_, local);
    n->attr.blocks = 0;
    if (!e.attr.IsDir()) n->attr.nlink = 1;  // the names it has in the fork
    n->target = std::move(e.target);
    for (auto& [k, v] : e.xattrs) {
      n->xattrs.emplace(k, v);
      MarkXattr(local, k);
    }
    n->parent = dlocal;
    n->name = e.name;
    n->origin = origin;
    n->lazy = e.attr.IsDir();
    n->lower_content = e.attr.IsReg();
    by_origin_[origin] = local;
    dir->children[e.name] = local;
    nodes_[local] = std::move(n);
    MarkInode(local);
    MarkDentry(dlocal, e.name);
  }
  dir->lazy = false;
  MarkInode(dlocal);
  return Status::Ok();
}

Result<int> NativeBackend::OpenPointContent(Ino origin) {
  if (kept_.count(origin)) {
    int fd = OpenKept(origin);
    if (fd < 0) return Status::FromErrno("open kept origin " + OriginPath(origin));
    return fd;
  }
  return lower_->OpenContent(origin);
}

Result<std::unique_ptr<FileHandle>> NativeBackend::OpenOriginReader(const Caller& caller, Node* n,
                                                                    int flags) {
  auto fd = OpenPointContent(n->origin);
  if (!fd.ok()) return fd.status();
  ++n->open_count;
  n->lower_fds.push_back(*fd);
  auto fh = std::make_unique<FileHandle>();
  fh->fd = *fd;
  fh->ino = n->attr.ino;
  fh->flags = flags;
  fh->opener = caller;
  return fh;
}

Status NativeBackend::CopyUp(Ino local, bool empty) {
  {
    MutexLock lk(mu_);
    auto it = nodes_.find(local);
    if (it == nodes_.end() || !it->second->lower_content) return Status::Ok();  // the usual case
  }
  MutexLock cl(copy_mu_);  // one copy at a time: a second writer finds it done
  int src = -1;
  {
    MutexLock lk(mu_);
    auto it = nodes_.find(local);
    if (it == nodes_.end() || !it->second->lower_content) return Status::Ok();
    if (!empty) {
      auto fd = OpenPointContent(it->second->origin);
      if (!fd.ok()) return fd.status();
      src = *fd;
    }
  }
  int dst = OpenBacking(local, O_RDWR | O_CREAT | O_TRUNC);
  Status st = dst < 0 ? Status::FromErrno("create backing file") : Status::Ok();
  if (st.ok() && src >= 0) st = CopyFileContent(src, dst);
  if (src >= 0) ::close(src);
  if (!st.ok()) {
    if (dst >= 0) {
      if (::ftruncate(dst, 0) != 0) spdlog::warn("copy-up of {}: cannot drop the partial copy", local);
      ::close(dst);
    }
    return st;
  }
  MutexLock lk(mu_);
  auto it = nodes_.find(local);
  if (it != nodes_.end()) {
    Node* n = it->second.get();
    // Every open description now sees the fork's own content (and later writes).
    for (int fd : n->lower_fds) ::dup2(dst, fd);
    n->handle_fds.insert(n->handle_fds.end(), n->lower_fds.begin(), n->lower_fds.end());
    n->lower_fds.clear();
    n->lower_content = false;
    n->copied_up = true;
    MarkInode(local);
  }
  ::close(dst);
  return Status::Ok();
}

Status NativeBackend::KeepOrigin(MutexLock& lk, Ino origin) {
  auto src = lower_->OpenContent(origin);
  if (!src.ok()) return src.status();
  lk.Unlock();
  const std::string name = OriginPath(origin), tmp = name + ".tmp";
  int dst = ::openat(origin_fd_, tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Status st = dst < 0 ? Status::FromErrno("create origin/" + tmp) : CopyFileContent(*src, dst);
  ::close(*src);
  if (st.ok() && ::renameat(origin_fd_, tmp.c_str(), origin_fd_, name.c_str()) != 0)
    st = Status::FromErrno("rename origin/" + tmp);
  if (!st.ok()) ::unlinkat(origin_fd_, tmp.c_str(), 0);
  lk.Lock();
  if (st.ok()) {
    kept_.insert(origin);
    // Readers of the origin keep reading the fork point after the change.
    if (auto it = by_origin_.find(origin); it != by_origin_.end())
      for (int fd : nodes_[it->second]->lower_fds) ::dup2(dst, fd);
  }
  if (dst >= 0) ::close(dst);
  return st;
}

Status NativeBackend::PreserveBefore(PreChange kind, const std::vector<Ino>& chain, std::string_view name) {
  if (!lower_) return NotFork();
  if (chain.empty()) return Status::Ok();
  Ino keep = 0;
  bool pending = false;
  {
    MutexLock lk(mu_);
    NEXUS_RETURN_IF_ERROR(MaterializeChain(kind, chain));
    // Anything not yet committed (this call's or an earlier lookup's
    // materializing) must be before the source changes: a crash would
    // otherwise list the changed source again.
    pending = committed_seq_ != change_seq_;
    // Fork-point content the fork may still need (to read, or as the base of
    // a diff or merge), whether or not the fork has written the file since:
    // kept before the change can destroy it.
    if (kind == PreChange::kContent) {
      keep = chain[0];
    } else if (kind == PreChange::kEntries) {
      auto p = point_names_.find({chain[0], std::string(name)});
      if (p != point_names_.end()) keep = p->second;
    }
    auto point = keep ? fork_points_.find(keep) : fork_points_.end();
    if (point == fork_points_.end() || !S_ISREG(point->second.mode) || kept_.count(keep)) keep = 0;
  }
  if (keep) {
    // copy_mu_ also waits out a copy-up still reading the live content.
    MutexLock cl(copy_mu_);
    MutexLock lk(mu_);
    if (!kept_.count(keep)) NEXUS_RETURN_IF_ERROR(KeepOrigin(lk, keep));
  }
  return pending ? WaitCommitted(false) : Status::Ok();
}

Status NativeBackend::MaterializeChain(PreChange kind, const std::vector<Ino>& chain) {
  // The lowest element of the chain the fork holds a node for.
  size_t i = 0;
  Node* n = nullptr;
  for (; i < chain.size() && !n; ++i)
    if (auto it = by_origin_.find(chain[i]); it != by_origin_.end()) n = nodes_[it->second].get();
  if (!n) return Status::Ok();  // outside the fork
  --i;
  // Down to the changed inode through directories the fork still lists live.
  while (i > 0) {
    // A materialized directory would hold chain[i - 1] as a node found above.
    if (!n->attr.IsDir() || !n->lazy) return Status::Ok();
    NEXUS_RETURN_IF_ERROR(Materialize(n));
    auto it = by_origin_.find(chain[--i]);
    if (it == by_origin_.end()) return Status::Ok();
    n = nodes_[it->second].get();
  }
  // kAttrs and kContent: the node owns its attributes now.
  if (kind == PreChange::kEntries && n->attr.IsDir()) return Materialize(n);
  return Status::Ok();
}

std::string NativeBackend::PointPath(Ino origin) const {
  std::vector<const std::string*> parts;
  for (int depth = 0; depth < 4096 && origin != lower_root_; ++depth) {
    auto it = fork_points_.find(origin);
    if (it == fork_points_.end()) return {};
    parts.push_back(&it->second.name);
    origin = it->second.parent;
  }
  if (origin != lower_root_) return {};
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += **it;
  }
  return path;
}

std::string NativeBackend::PointPath(Ino parent, const std::string& name) const {
  if (parent == lower_root_) return name;
  std::string dir = PointPath(parent);
  return dir.empty() ? std::string() : dir + "/" + name;
}

Result<std::vector<ForkChange>> NativeBackend::Changes() {
  if (!lower_) return NotFork();
  struct Compare {
    size_t index;
    int own = -1, origin = -1;
  };
  std::vector<ForkChange> out;
  std::vector<Compare> compares;
  std::vector<bool> drop;
  {
    MutexLock lk(mu_);
    // Every name reachable from the root through materialized directories
    // (a lazy directory holds its fork point unchanged).
    std::map<Ino, std::vector<std::string>> names;  // local -> paths
    std::vector<std::pair<Ino, std::string>> stack{{1, std::string()}};
    while (!stack.empty()) {
      auto [dlocal, dpath] = std::move(stack.back());
      stack.pop_back();
      const Node& dir = *nodes_.at(dlocal);
      if (dir.lazy) continue;
      for (const auto& [cname, clocal] : dir.children) {
        std::string path = dpath.empty() ? cname : dpath + "/" + cname;
        if (nodes_.at(clocal)->attr.IsDir()) stack.emplace_back(clocal, path);
        names[clocal].push_back(std::move(path));
      }
    }
    // Every name of every origin at the fork point.
    std::unordered_map<Ino, std::vector<std::string>> point_paths;
    for (const auto& [key, origin] : point_names_) {
      std::string path = PointPath(key.first, key.second);
      if (!path.empty()) point_paths[origin].push_back(std::move(path));
    }
    auto deleted = [&](Ino origin, const std::string& path) REQUIRES(mu_) {
      ForkChange c;
      c.kind = ForkChange::Kind::kDeleted;
      c.path = path;
      c.old_mode = fork_points_.at(origin).mode;
      c.origin = origin;
      out.push_back(std::move(c));
    };
    std::set<Ino> present;
    for (auto& named : names) {
      const Ino local = named.first;
      std::vector<std::string>& paths = named.second;
      std::sort(paths.begin(), paths.end());
      const Node& n = *nodes_.at(local);
      auto added = [&](const std::string& path) {
        ForkChange c;
        c.kind = ForkChange::Kind::kAdded;
        c.path = path;
        c.mode = n.attr.mode;
        c.content_changed = n.attr.IsReg() || n.attr.IsLnk();
        c.local = n.attr.ino;
        out.push_back(std::move(c));
      };
      auto point = n.origin ? fork_points_.find(n.origin) : fork_points_.end();
      if (point == fork_points_.end()) {
        for (const auto& p : paths) added(p);
        continue;
      }
      present.insert(n.origin);
      const ForkPoint& fp = point->second;
      const std::vector<std::string>& was = point_paths[n.origin];
      auto had = [&](const std::string& p) { return std::find(was.begin(), was.end(), p) != was.end(); };
      auto has = [&](const std::string& p) {
        return std::find(paths.begin(), paths.end(), p) != paths.end();
      };
      const std::string old_path = PointPath(n.origin);
      ForkChange c;
      // The first name the fork gave it that is not another of its old names.
      auto fresh = std::find_if(paths.begin(), paths.end(), [&](const std::string& p) { return !had(p); });
      if (has(old_path)) {
        c.kind = ForkChange::Kind::kModified;
        c.path = old_path;
      } else if (fresh != paths.end()) {
        c.kind = ForkChange::Kind::kRenamed;
        c.path = *fresh;
        c.old_path = old_path;
      } else {  // its first name went, another stays
        c.kind = ForkChange::Kind::kModified;
        c.path = paths.front();
        deleted(n.origin, old_path);
      }
      c.mode = n.attr.mode;
      c.old_mode = fp.mode;
      c.local = n.attr.ino;
      c.origin = n.origin;
      if (n.attr.IsLnk()) c.content_changed = n.target != fp.target;
      for (const auto& p : paths)
        if (p != c.path && !had(p)) added(p);  // names the fork gave it (hard links)
      for (const auto& p : was)
        if (p != old_path && p != c.path && !has(p)) deleted(n.origin, p);  // other names it lost
      if (n.attr.IsReg() && n.copied_up && !n.lower_content) {
        // Written since the fork: compare the bytes (outside the lock).
        Compare cmp{out.size()};
        cmp.own = OpenBacking(local, O_RDONLY);
        auto origin_fd = OpenPointContent(n.origin);
        cmp.origin = origin_fd.ok() ? *origin_fd : -1;
        compares.push_back(cmp);
        out.push_back(std::move(c));
        continue;
      }
      if (c.kind == ForkChange::Kind::kRenamed || c.mode != c.old_mode || c.content_changed)
        out.push_back(std::move(c));
    }
    for (const auto& [origin, paths] : point_paths)
      if (!present.count(origin))
        for (const auto& p : paths) deleted(origin, p);
    // A path deleted and made again (an editor's write to a temp file and
    // rename over, rm then create) is one change of that path; a rename over
    // a path replaces what was there.
    std::map<std::string, size_t> deleted_at;
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].kind == ForkChange::Kind::kDeleted) deleted_at[out[i].path] = i;
    drop.assign(out.size(), false);
    for (size_t i = 0; i < out.size() && !deleted_at.empty(); ++i) {
      ForkChange& c = out[i];
      if (c.kind != ForkChange::Kind::kAdded && c.kind != ForkChange::Kind::kRenamed) continue;
      auto d = deleted_at.find(c.path);
      if (d == deleted_at.end()) continue;
      drop[d->second] = true;
      if (c.kind == ForkChange::Kind::kRenamed) continue;
      const ForkChange& gone = out[d->second];
      c.kind = ForkChange::Kind::kModified;
      c.origin = gone.origin;
      c.old_mode = gone.old_mode;
      c.content_changed = (c.mode & S_IFMT) != (c.old_mode & S_IFMT);
      const Node& n = *nodes_.at(LocalOf(c.local));
      if (n.attr.IsLnk() && S_ISLNK(c.old_mode))
        c.content_changed = n.target != fork_points_.at(c.origin).target;
      if (n.attr.IsReg() && S_ISREG(c.old_mode)) {
        Compare cmp{i};
        auto own = n.lower_content ? OpenPointContent(n.origin)
                                   : Result<int>(OpenBacking(LocalOf(c.local), O_RDONLY));
        cmp.own = own.ok() ? *own : -1;
        auto origin_fd = OpenPointContent(c.origin);
        cmp.origin = origin_fd.ok() ? *origin_fd : -1;
        compares.push_back(cmp);
      }
    }
  }
  // Written files whose bytes are the origin's after all are not changes
  // (unless renamed or their mode changed).
  for (const Compare& cmp : compares) {
    ForkChange& c = out[cmp.index];
    Result<bool> same =
        cmp.own >= 0 && cmp.origin >= 0 ? SameContent(cmp.own, cmp.origin) : Result<bool>(false);
    if (cmp.own >= 0) ::close(cmp.own);
    if (cmp.origin >= 0) ::close(cmp.origin);
    c.content_changed = !same.ok() || !*same;
    if (c.kind == ForkChange::Kind::kModified && !c.content_changed && c.mode == c.old_mode)
      drop[cmp.index] = true;
  }
  std::vector<ForkChange> kept;
  kept.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(out[i]));
  std::sort(kept.begin(), kept.end(),
            [](const ForkChange& a, const ForkChange& b) { return a.path < b.path; });
  return kept;
}

Result<int> NativeBackend::OpenOrigin(Ino origin) {
  if (!lower_) return NotFork();
  MutexLock lk(mu_);
  auto p = fork_points_.find(origin);
  if (p != fork_points_.end() && S_ISLNK(p->second.mode)) return BytesFd(p->second.target);
  if (kept_.count(origin)) {
    int fd = OpenKept(origin);
    if (fd < 0) return Status::FromErrno("open kept origin " + OriginPath(origin));
    return fd;
  }
  return lower_->OpenContent(origin);
}

uint64_t NativeBackend::OwnBytes() const {
  MutexLock lk(mu_);
  uint64_t bytes = 0;
  for (const auto& [local, n] : nodes_)
    if (n->attr.IsReg() && !n->lower_content) bytes += Stat(*n).blocks * 512;
  if (origin_fd_ >= 0) {
    for (Ino origin : kept_) {
      struct stat st;
      if (::fstatat(origin_fd_, OriginPath(origin).c_str(), &st, 0) == 0)
        bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

// ---- ForkSource: what forks of this tree read ----

Ino NativeBackend::ParentOf(Ino ino) const {
  MutexLock lk(mu_);
  if (BackendOf(ino) != id_ || LocalOf(ino) == 1) return 0;
  auto it = nodes_.find(LocalOf(ino));
  if (it == nodes_.end() || it->second->parent == 0) return 0;
  return MakeIno(id_, it->second->parent);
}

Result<std::vector<SourceEntry>> NativeBackend::ListForFork(Ino dir) {
  MutexLock lk(mu_);
  auto d = FindDir(dir);
  if (!d.ok()) return d.status();
  std::vector<SourceEntry> out;
  out.reserve((*d)->children.size());
  for (const auto& [name, local] : (*d)->children) {
    const Node& c = *nodes_.at(local);
    SourceEntry e;
    e.name = name;
    e.attr = c.attr;  // not Stat: a fork computes st_blocks itself, and a big listing costs no syscall
    e.target = c.target;
    for (const auto& [k, v] : c.xattrs) e.xattrs.emplace_back(k, v);
    out.push_back(std::move(e));
  }
  return out;
}

Result<SourceEntry> NativeBackend::StatForFork(Ino ino) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Status::Error(ENOENT, "no inode " + std::to_string(ino));
  SourceEntry e;
  e.attr = n->attr;
  e.target = n->target;
  for (const auto& [k, v] : n->xattrs) e.xattrs.emplace_back(k, v);
  return e;
}

Result<int> NativeBackend::OpenContent(Ino ino) {
  MutexLock lk(mu_);
  Node* n = Find(ino);
  if (!n) return Status::Error(ENOENT, "no inode " + std::to_string(ino));
  if (!n->attr.IsReg()) return Status::Error(EINVAL, "not a regular file");
  if (n->lower_content) return OpenPointContent(n->origin);
  int fd = OpenBacking(LocalOf(ino), O_RDONLY);
  if (fd < 0 && errno == ENOENT) {  // made by mknod, never opened: empty
    int made = OpenBacking(LocalOf(ino), O_RDWR | O_CREAT);
    if (made >= 0) ::close(made);
    fd = OpenBacking(LocalOf(ino), O_RDONLY);
  }
  if (fd < 0) return Status::FromErrno("open backing file");
  return fd;
}

std::vector<Ino> NativeBackend::OpenForWriting(Ino dir) {
  MutexLock lk(mu_);
  std::vector<Ino> out;
  if (BackendOf(dir) != id_) return out;
  for (const auto& [local, n] : nodes_)
    if (n->write_opens > 0 && n->attr.IsReg() && IsAncestor(LocalOf(dir), local)) out.push_back(n->attr.ino);
  return out;
}

}  // namespace nexus
