#include "fs/path_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "base/file_util.h"
#include "base/ns_path.h"

namespace nexus {
namespace {

constexpr int kMaxSymlinks = 40;  // as Linux's MAXSYMLINKS
constexpr size_t kMaxCachedIds = 100'000;
// Hashing runs on the caller's thread (the socket's event loop): bigger
// files get no content id here rather than stall every other client.
constexpr uint64_t kMaxHashedBytes = 16u << 20;

std::string Join(const std::string& dir, std::string_view name) {
  return (dir == "/" ? "/" : dir + "/") + std::string(name);
}

// "/" and "/a/..": paths that name no entry of a directory.
bool NamesNoEntry(const std::vector<std::string>& steps) { return steps.empty() || steps.back() == ".."; }

// The parse error of `path`, or `code` when it names no entry (the errno
// the kernel gives for that operation on "/").
Status RefuseNoEntry(const std::string& path, int code, const std::string& message) {
  auto steps = NsPath::ParseSteps(path);
  if (!steps.ok()) return steps.status();
  return NamesNoEntry(*steps) ? Status::Error(code, message) : Status::Ok();
}

}  // namespace

// A lookup reference on an inode, dropped on destruction.
class PathFiles::Pin {
 public:
  explicit Pin(Namespace* ns) : ns_(ns) {}
  ~Pin() { Reset(); }
  Pin(Pin&& o) noexcept : ns_(o.ns_), ino_(o.ino_) { o.ino_ = 0; }
  Pin& operator=(Pin&& o) noexcept {
    Reset();
    ns_ = o.ns_;
    ino_ = o.ino_;
    o.ino_ = 0;
    return *this;
  }
  void Set(Ino ino) {
    Reset();
    ino_ = ino;
  }
  void Reset() {
    if (ino_) ns_->Forget(ino_, 1);
    ino_ = 0;
  }

 private:
  Namespace* ns_;
  Ino ino_ = 0;
};

struct PathFiles::Parent {
  Pin pin;
  Attr dir;
  std::string dir_path;
  std::string name;
};

struct PathFiles::Opened {
  std::unique_ptr<FileHandle> fh;
  Attr attr;
  uint64_t offset = 0;
  Pin pin;
};

// Where a walk stands: the directories it has entered, the root first.
// ".." steps back one (at the root it stays); an absolute symlink starts
// again from the root. The last entry is the object the walk reached.
struct PathFiles::Walk {
  struct Dir {
    Pin pin;
    Attr attr;
    std::string name;
  };
  std::vector<Dir> dirs;
  // Set when some step came from a symlink or was "..": the caller's text
  // then no longer spells where the walk is.
  bool moved = false;

  const Attr& Here() const { return dirs.back().attr; }
  std::string Path() const {
    std::string out;
    for (size_t i = 1; i < dirs.size(); ++i) out += "/" + dirs[i].name;
    return out.empty() ? "/" : out;
  }
};

Status PathFiles::WalkSteps(const Caller& actor, std::vector<std::string> steps, bool follow, bool make_dirs,
                            int* links_left, Walk* walk) {
  auto root = ns_->GetAttr(kRootIno);
  if (!root.ok()) return root.status();
  walk->dirs.clear();
  walk->dirs.push_back({Pin(ns_), *root, ""});
  // Steps are taken from the back; the first `from_links` of them (from the
  // back) were spelled by a symlink's target, not by the caller.
  std::reverse(steps.begin(), steps.end());
  size_t from_links = 0;
  while (!steps.empty()) {
    const std::string step = std::move(steps.back());
    steps.pop_back();
    const bool by_caller = from_links == 0;
    if (!by_caller) --from_links;
    const bool last = steps.empty();
    const Attr dir = walk->Here();
    if (!dir.IsDir()) return Status::Error(ENOTDIR, walk->Path() + " is not a directory");
    NEXUS_RETURN_IF_ERROR(CheckAccess(actor, dir, kMayExec));
    if (step == "..") {
      if (walk->dirs.size() > 1) walk->dirs.pop_back();
      walk->moved = true;
      continue;
    }
    auto a = ns_->Lookup(actor, dir.ino, step);
    if (!a.ok() && a.code() == ENOENT && make_dirs && by_caller) {
      auto made = MakeDir(actor, dir, step, 0755);
      if (!made.ok() && made.code() != EEXIST) return made.status();
      a = ns_->Lookup(actor, dir.ino, step);
    }
    if (!a.ok()) return a.status();
    Pin pin(ns_);
    pin.Set(a->ino);
    if (a->IsLnk() && (follow || !last)) {
      if (--*links_left < 0)
        return Status::Error(ELOOP, "too many levels of symbolic links at " + Join(walk->Path(), step));
      auto target = ns_->ReadLink(a->ino);
      if (!target.ok()) return target.status();
      if (target->empty()) return Status::Error(ENOENT, Join(walk->Path(), step) + " is an empty symlink");
      auto more = NsPath::ParseSteps((*target)[0] == '/' ? *target : "/" + *target);
      if (!more.ok()) return more.status();
      if ((*target)[0] == '/') walk->dirs.erase(walk->dirs.begin() + 1, walk->dirs.end());
      steps.insert(steps.end(), more->rbegin(), more->rend());
      from_links += more->size();
      walk->moved = true;
      continue;
    }
    walk->dirs.push_back({std::move(pin), *a, step});
  }
  return Status::Ok();
}

Result<PathFiles::Parent> PathFiles::ResolveParent(const Caller& actor, const std::string& path,
                                                   int* links_left, bool make_dirs) {
  auto steps = NsPath::ParseSteps(path);
  if (!steps.ok()) return steps.status();
  if (NamesNoEntry(*steps)) return Status::Error(EINVAL, "'" + path + "' names no entry of a directory");
  std::string name = std::move(steps->back());
  steps->pop_back();
  Walk w;
  NEXUS_RETURN_IF_ERROR(WalkSteps(actor, std::move(*steps), /*follow=*/true, make_dirs, links_left, &w));
  if (!w.Here().IsDir()) return Status::Error(ENOTDIR, w.Path() + " is not a directory");
  std::string dir_path = w.Path();
  Walk::Dir& d = w.dirs.back();
  return Parent{std::move(d.pin), d.attr, std::move(dir_path), std::move(name)};
}

Result<Attr> PathFiles::Resolve(const Caller& actor, const std::string& path, bool follow, Pin* pin,
                                std::string* where) {
  auto steps = NsPath::ParseSteps(path);
  if (!steps.ok()) return steps.status();
  int links_left = kMaxSymlinks;
  Walk w;
  NEXUS_RETURN_IF_ERROR(WalkSteps(actor, std::move(*steps), follow, /*make_dirs=*/false, &links_left, &w));
  if (where) *where = w.moved ? w.Path() : NsPath::Parse(path).value().str();
  *pin = std::move(w.dirs.back().pin);
  return w.Here();
}

Result<Attr> PathFiles::MakeDir(const Caller& actor, const Attr& dir, const std::string& name, mode_t mode) {
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, dir, kMayWrite | kMayExec));
  auto a = ns_->MkDir(actor, dir.ino, name, (mode & 07777) & ~actor.umask);
  if (!a.ok()) return a.status();
  ns_->Forget(a->ino, 1);
  InvalidateEntry(dir.ino, name);
  InvalidateInode(dir.ino);
  return a;
}

Result<PathStat> PathFiles::Stat(const Caller& actor, const std::string& path, bool follow,
                                 bool with_content_id) {
  Pin pin(ns_);
  PathStat out;
  auto a = Resolve(actor, path, follow, &pin, &out.path);
  if (!a.ok()) return a.status();
  out.attr = *a;
  if (a->IsLnk()) {
    auto t = ns_->ReadLink(a->ino);
    if (t.ok()) out.symlink_target = *t;
  }
  if (with_content_id && a->IsReg() && a->size <= kMaxHashedBytes && CheckAccess(actor, *a, kMayRead).ok()) {
    auto id = ContentId(*a);
    if (id.ok()) out.content_id = *id;
  }
  return out;
}

Result<Attr> PathFiles::Replace(const Caller& actor, const std::string& path, std::string_view data,
                                const std::string& expected_id, bool create_parents) {
  MutexLock lk(replace_mu_[std::hash<std::string>{}(path) % kReplaceStripes]);
  auto st = Stat(actor, path, /*follow=*/true, /*with_content_id=*/true);
  if (expected_id.empty()) {
    if (st.ok()) return Status::Error(ESTALE, path + " exists; replace expected it not to");
    if (st.code() != ENOENT) return st.status();
  } else {
    if (!st.ok()) {
      if (st.code() == ENOENT)
        return Status::Error(ESTALE, path + " is gone; replace expected " + expected_id);
      return st.status();
    }
    if (st->attr.IsDir()) return Status::Error(EISDIR, path + " is a directory");
    if (!st->attr.IsReg()) return Status::Error(EINVAL, path + " is not a regular file");
    if (st->content_id.empty()) {
      if (st->attr.size > kMaxHashedBytes)
        return Status::Error(EFBIG, path + " is too large to compare (over 16 MiB)");
      NEXUS_RETURN_IF_ERROR(CheckAccess(actor, st->attr, kMayRead));
      return Status::Error(EIO, "could not hash " + path);
    }
    if (st->content_id != expected_id)
      return Status::Error(ESTALE,
                           path + " changed: its content id is " + st->content_id + ", not " + expected_id);
  }
  WriteOptions o;
  o.truncate = true;
  o.create_parents = create_parents;
  return Write(actor, path, data, o);
}

Result<std::string> PathFiles::Read(const Caller& actor, const std::string& path, uint64_t offset,
                                    uint64_t length, uint64_t max_bytes, uint64_t* size) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, true, &pin);
  if (!a.ok()) return a.status();
  if (a->IsDir()) return Status::Error(EISDIR, path + " is a directory");
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, *a, kMayRead));
  auto fh = ns_->Open(actor, a->ino, O_RDONLY);
  if (!fh.ok()) return fh.status();
  auto attr = ns_->GetAttr(a->ino);
  uint64_t file_size = attr.ok() ? attr->size : a->size;
  if (size) *size = file_size;
  uint64_t want = length == 0 ? max_bytes : std::min(length, max_bytes);
  want = offset >= file_size ? 0 : std::min(want, file_size - offset);
  std::string out(want, '\0');
  size_t got = 0;
  Status st;
  while (got < want) {
    ssize_t n = ::pread((*fh)->fd, out.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::FromErrno("read " + path);
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ns_->Release(std::move(fh).value());
  if (!st.ok()) return st;
  out.resize(got);
  return out;
}

Result<PathFiles::Opened> PathFiles::OpenForWrite(const Caller& actor, const std::string& path,
                                                  const WriteOptions& o) {
  int links_left = kMaxSymlinks;
  auto p = ResolveParent(actor, path, &links_left, o.create_parents);
  if (!p.ok()) return p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, p->dir, kMayExec));
  Opened out{nullptr, {}, 0, Pin(ns_)};
  auto existing = Resolve(actor, Join(p->dir_path, p->name), true, &out.pin);
  const int flags = O_WRONLY | (o.truncate && !o.append ? O_TRUNC : 0);
  if (existing.ok()) {
    if (existing->IsDir()) return Status::Error(EISDIR, path + " is a directory");
    NEXUS_RETURN_IF_ERROR(CheckAccess(actor, *existing, kMayWrite));
    auto fh = ns_->Open(actor, existing->ino, flags);
    if (!fh.ok()) return fh.status();
    out.fh = std::move(fh).value();
    out.attr = *existing;
    out.offset = o.append ? existing->size : (o.truncate ? 0 : o.offset);
    return out;
  }
  if (existing.code() != ENOENT) return existing.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, p->dir, kMayWrite | kMayExec));
  mode_t mode = S_IFREG | (o.mode & 07777 & ~actor.umask);
  auto created = ns_->Create(actor, p->dir.ino, p->name, mode, O_WRONLY);
  if (!created.ok()) return created.status();
  out.pin.Set(created->attr.ino);
  out.fh = std::move(created->handle);
  out.attr = created->attr;
  out.offset = o.append || o.truncate ? 0 : o.offset;
  InvalidateEntry(p->dir.ino, p->name);
  InvalidateInode(p->dir.ino);
  return out;
}

class PathFiles::Writer final : public PathWriter {
 public:
  Writer(PathFiles* files, Opened opened) : files_(files), o_(std::move(opened)) {}
  ~Writer() override {
    if (o_.fh) (void)Finish();
  }
  Status Write(std::string_view data) override {
    if (!o_.fh) return Status::Error(EBADF, "stream already finished");
    NEXUS_RETURN_IF_ERROR(PwriteAll(o_.fh->fd, data, o_.offset, "write"));
    o_.fh->written = true;
    files_->ns_->OnWrite(*o_.fh, o_.offset, data.size());
    o_.offset += data.size();
    return Status::Ok();
  }
  Result<Attr> Finish() override {
    if (!o_.fh) return Status::Error(EBADF, "stream already finished");
    Ino ino = o_.fh->ino;
    files_->ns_->Release(std::move(o_.fh));
    files_->InvalidateInode(ino);
    return files_->ns_->GetAttr(ino);
  }

 private:
  PathFiles* files_;
  Opened o_;
};

Result<std::unique_ptr<PathWriter>> PathFiles::OpenWriter(const Caller& actor, const std::string& path,
                                                          const WriteOptions& options) {
  auto o = OpenForWrite(actor, path, options);
  if (!o.ok()) return o.status();
  return std::unique_ptr<PathWriter>(new Writer(this, std::move(o).value()));
}

Result<Attr> PathFiles::Write(const Caller& actor, const std::string& path, std::string_view data,
                              const WriteOptions& options) {
  auto w = OpenWriter(actor, path, options);
  if (!w.ok()) return w.status();
  Status st = data.empty() ? Status::Ok() : (*w)->Write(data);
  auto attr = (*w)->Finish();
  if (!st.ok()) return st;
  return attr;
}

Result<std::vector<PathStat>> PathFiles::List(const Caller& actor, const std::string& path, bool long_form) {
  Pin pin(ns_);
  std::string base;
  auto dir = Resolve(actor, path, true, &pin, &base);
  if (!dir.ok()) return dir.status();
  if (!dir->IsDir()) return Status::Error(ENOTDIR, path + " is not a directory");
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, *dir, kMayRead));
  auto entries = ns_->ReadDir(actor, dir->ino);
  if (!entries.ok()) return entries.status();
  std::vector<PathStat> out;
  out.reserve(entries->size());
  for (const DirEntry& e : *entries) {
    if (e.name == "." || e.name == "..") continue;
    PathStat ps;
    ps.path = Join(base, e.name);
    ps.attr.ino = e.ino;
    ps.attr.mode = e.type;
    if (long_form && CheckAccess(actor, *dir, kMayExec).ok()) {
      auto a = ns_->Lookup(actor, dir->ino, e.name);
      if (!a.ok()) continue;  // removed meanwhile
      ps.attr = *a;
      if (a->IsLnk())
        if (auto t = ns_->ReadLink(a->ino); t.ok()) ps.symlink_target = *t;
      ns_->Forget(a->ino, 1);
    }
    out.push_back(std::move(ps));
  }
  std::sort(out.begin(), out.end(), [](const PathStat& a, const PathStat& b) { return a.path < b.path; });
  return out;
}

Status PathFiles::MkDir(const Caller& actor, const std::string& path, mode_t mode, bool parents) {
  auto steps = NsPath::ParseSteps(path);
  if (!steps.ok()) return steps.status();
  if (NamesNoEntry(*steps)) {
    // "/" and "/a/.." exist when they resolve: EEXIST as for mkdir(2), fine for mkdir -p.
    Pin pin(ns_);
    auto a = Resolve(actor, path, true, &pin);
    if (!a.ok()) return a.status();
    return parents ? Status::Ok() : Status::Error(EEXIST, path + " exists");
  }
  int links_left = kMaxSymlinks;
  auto p = ResolveParent(actor, path, &links_left, parents);
  if (!p.ok()) return p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, p->dir, kMayExec));
  if (parents) {
    Pin pin(ns_);
    auto a = Resolve(actor, Join(p->dir_path, p->name), true, &pin);
    if (a.ok())
      return a->IsDir() ? Status::Ok() : Status::Error(EEXIST, path + " exists and is not a directory");
  }
  auto a = MakeDir(actor, p->dir, p->name, mode);
  if (!a.ok()) {
    if (a.code() == EEXIST) return Status::Error(EEXIST, path + " already exists");
    return a.status();
  }
  return Status::Ok();
}

struct PathFiles::Victim {
  Parent parent;
  Pin pin;
  Attr attr;
};

Result<PathFiles::Victim> PathFiles::ResolveVictim(const Caller& actor, const std::string& path,
                                                   int no_entry_code, const std::string& no_entry_message) {
  NEXUS_RETURN_IF_ERROR(RefuseNoEntry(path, no_entry_code, no_entry_message));
  int links_left = kMaxSymlinks;
  auto p = ResolveParent(actor, path, &links_left);
  if (!p.ok()) return p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, p->dir, kMayExec));
  Victim v{std::move(p).value(), Pin(ns_), {}};
  auto a = ns_->Lookup(actor, v.parent.dir.ino, v.parent.name);
  if (!a.ok()) return a.status();
  v.pin.Set(a->ino);
  v.attr = *a;
  return v;
}

Status PathFiles::RmDir(const Caller& actor, const std::string& path) {
  auto v = ResolveVictim(actor, path, EBUSY, "cannot remove " + path);
  if (!v.ok()) return v.status();
  const Parent& p = v->parent;
  if (!v->attr.IsDir()) return Status::Error(ENOTDIR, path + " is not a directory");
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor, p.dir, v->attr));
  NEXUS_RETURN_IF_ERROR(ns_->RmDir(actor, p.dir.ino, p.name));
  InvalidateEntry(p.dir.ino, p.name);
  InvalidateInode(p.dir.ino);
  return Status::Ok();
}

Status PathFiles::Unlink(const Caller& actor, const std::string& path) {
  auto v = ResolveVictim(actor, path, EISDIR, path + " is a directory");
  if (!v.ok()) return v.status();
  const Parent& p = v->parent;
  if (v->attr.IsDir()) return Status::Error(EISDIR, path + " is a directory (use rmdir)");
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor, p.dir, v->attr));
  NEXUS_RETURN_IF_ERROR(ns_->Unlink(actor, p.dir.ino, p.name));
  InvalidateEntry(p.dir.ino, p.name);
  InvalidateInode(p.dir.ino);
  InvalidateInode(v->attr.ino);
  return Status::Ok();
}

Status PathFiles::Rename(const Caller& actor, const std::string& from, const std::string& to) {
  NEXUS_RETURN_IF_ERROR(RefuseNoEntry(from, EBUSY, "cannot move " + from));
  NEXUS_RETURN_IF_ERROR(RefuseNoEntry(to, EEXIST, to + " exists"));
  int links_left = kMaxSymlinks;
  auto src = ResolveParent(actor, from, &links_left);
  if (!src.ok()) return src.status();
  auto dst = ResolveParent(actor, to, &links_left);
  if (!dst.ok()) return dst.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, src->dir, kMayExec));
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, dst->dir, kMayWrite | kMayExec));
  Pin src_pin(ns_), dst_pin(ns_);
  auto victim = ns_->Lookup(actor, src->dir.ino, src->name);
  if (!victim.ok()) return victim.status();
  src_pin.Set(victim->ino);
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor, src->dir, *victim));
  auto replaced = ns_->Lookup(actor, dst->dir.ino, dst->name);
  if (replaced.ok()) {
    dst_pin.Set(replaced->ino);
    NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor, dst->dir, *replaced));
  } else if (replaced.code() != ENOENT) {
    return replaced.status();
  }
  NEXUS_RETURN_IF_ERROR(ns_->Rename(actor, src->dir.ino, src->name, dst->dir.ino, dst->name, 0));
  InvalidateEntry(src->dir.ino, src->name);
  InvalidateEntry(dst->dir.ino, dst->name);
  InvalidateInode(src->dir.ino);
  InvalidateInode(dst->dir.ino);
  return Status::Ok();
}

Result<Attr> PathFiles::SetAttr(const Caller& actor, const std::string& path, const SetAttrRequest& request) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, /*follow=*/false, &pin);
  if (!a.ok()) return a.status();
  SetAttrRequest req;
  req.valid = request.valid & (SetAttrRequest::kMode | SetAttrRequest::kUid | SetAttrRequest::kGid);
  req.mode = request.mode;
  req.uid = request.uid;
  req.gid = request.gid;
  if (req.valid == 0) return a;
  if (!actor.IsRoot()) {
    if ((req.valid & SetAttrRequest::kMode) && actor.uid != a->uid)
      return Status::Error(EPERM, "only the owner may change the mode of " + path);
    const bool new_owner = (req.valid & SetAttrRequest::kUid) && req.uid != a->uid;
    const bool new_group = (req.valid & SetAttrRequest::kGid) && req.gid != a->gid;
    if (new_owner || new_group) return Status::Error(EPERM, "only root may change the owner of " + path);
  }
  auto out = ns_->SetAttr(actor, a->ino, req, nullptr);
  if (!out.ok()) return out;
  InvalidateInode(a->ino);
  return out;
}

Result<std::string> PathFiles::GetXattr(const Caller& actor, const std::string& path,
                                        const std::string& name) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, /*follow=*/false, &pin);
  if (!a.ok()) return a.status();
  return ns_->GetXattr(actor, a->ino, name);
}

Status PathFiles::SetXattr(const Caller& actor, const std::string& path, const std::string& name,
                           std::string_view value) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, /*follow=*/false, &pin);
  if (!a.ok()) return a.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, *a, kMayWrite));
  NEXUS_RETURN_IF_ERROR(ns_->SetXattr(actor, a->ino, name, value, 0));
  InvalidateInode(a->ino);
  return Status::Ok();
}

Status PathFiles::RemoveXattr(const Caller& actor, const std::string& path, const std::string& name) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, /*follow=*/false, &pin);
  if (!a.ok()) return a.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor, *a, kMayWrite));
  NEXUS_RETURN_IF_ERROR(ns_->RemoveXattr(actor, a->ino, name));
  InvalidateInode(a->ino);
  return Status::Ok();
}

Result<std::string> PathFiles::ContentId(const Attr& attr) {
  const int64_t mtime = ToNanos(attr.mtime);
  {
    MutexLock lock(ids_mu_);
    auto it = ids_.find(attr.ino);
    if (it != ids_.end() && it->second.mtime_ns == mtime && it->second.size == attr.size)
      return it->second.id;
  }
  Caller daemon;
  auto fh = ns_->Open(daemon, attr.ino, O_RDONLY);
  if (!fh.ok()) return fh.status();
  GitBlobHasher hasher(attr.size);
  std::string buf(1 << 20, '\0');
  uint64_t off = 0;
  Status st;
  while (off < attr.size) {
    ssize_t n = ::pread((*fh)->fd, buf.data(), std::min<uint64_t>(buf.size(), attr.size - off),
                        static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      st = n < 0 ? Status::FromErrno("read") : Status::Error(EIO, "file shrank while hashing");
      break;
    }
    hasher.Update(buf.data(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  ns_->Release(std::move(fh).value());
  if (!st.ok()) return st;
  std::string id = hasher.HexDigest();
  MutexLock lock(ids_mu_);
  if (ids_.size() >= kMaxCachedIds) ids_.clear();
  ids_[attr.ino] = CachedId{mtime, attr.size, id};
  return id;
}

void PathFiles::InvalidateEntry(Ino parent, const std::string& name) {
  if (KernelCache* c = cache_.load()) c->InvalidateEntry(parent, name);
}

void PathFiles::InvalidateInode(Ino ino) {
  if (KernelCache* c = cache_.load()) c->InvalidateInode(ino);
}

struct GitBlobHasher::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

GitBlobHasher::GitBlobHasher(uint64_t size) : state_(new State) {
  EVP_DigestInit_ex(state_->ctx, EVP_sha1(), nullptr);
  std::string header = "blob " + std::to_string(size);
  EVP_DigestUpdate(state_->ctx, header.c_str(), header.size() + 1);  // with the NUL
}

GitBlobHasher::~GitBlobHasher() = default;

void GitBlobHasher::Update(const void* data, size_t len) { EVP_DigestUpdate(state_->ctx, data, len); }

std::string GitBlobHasher::HexDigest() {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(state_->ctx, d, &len);
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += kDigits[d[i] >> 4];
    s += kDigits[d[i] & 15];
  }
  return s;
}

std::string GuessMimeType(const std::string& path, std::string_view head, bool is_dir) {
  if (is_dir) return "inode/directory";
  static const std::pair<const char*, const char*> kByExt[] = {
      {".txt", "text/plain"},
      {".md", "text/markdown"},
      {".json", "application/json"},
      {".yaml", "application/yaml"},
      {".yml", "application/yaml"},
      {".toml", "application/toml"},
      {".html", "text/html"},
      {".css", "text/css"},
      {".csv", "text/csv"},
      {".js", "text/javascript"},
      {".ts", "text/x-typescript"},
      {".py", "text/x-python"},
      {".c", "text/x-c"},
      {".h", "text/x-c"},
      {".cc", "text/x-c++"},
      {".cpp", "text/x-c++"},
      {".hpp", "text/x-c++"},
      {".rs", "text/x-rust"},
      {".go", "text/x-go"},
      {".java", "text/x-java"},
      {".sh", "text/x-shellscript"},
      {".xml", "application/xml"},
      {".pdf", "application/pdf"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".svg", "image/svg+xml"},
      {".zip", "application/zip"},
      {".gz", "application/gzip"},
      {".tar", "application/x-tar"},
      {".db", "application/vnd.sqlite3"},
  };
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    std::string ext = path.substr(dot);
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    for (const auto& [e, m] : kByExt)
      if (ext == e) return m;
  }
  if (head.empty()) return "application/octet-stream";
  return head.find('\0') == std::string_view::npos ? "text/plain" : "application/octet-stream";
}

}  // namespace nexus
