#include "fs/versions/history_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "base/layout.h"
#include "fs/versions/zone_path.h"

namespace nexus::versions {
namespace {

constexpr char kRootZone[] = "root";
constexpr char kZoneDir[] = "zone";

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// The parent of a relative path ("a/b" -> "a", "a" -> "").
std::string ParentPath(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Canonical decimal version numbers only ("1", "12"; not "01", "+1", "0").
std::optional<uint32_t> ParseVersionNumber(const std::string& name) {
  if (name.empty() || name.size() > 10 || name[0] == '0') return std::nullopt;
  uint64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(n);
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The store answers EINVAL for names it could never hold (a zone name it
// refuses, a malformed snapshot id): on this tree that is "no such entry".
Status NotFound(const Status& st) {
  if (st.code() == EINVAL) return Status::Error(ENOENT, st.message());
  return st;
}

// The store's path of namespace path `path` inside a snapshot tree:
// "<zone>" or "<zone>/<rest>".
std::string SnapshotTreePath(const std::string& path) {
  ZonePath zp = SplitNamespacePath("/" + path);
  return zp.path.empty() ? zp.zone : zp.zone + "/" + zp.path;
}

}  // namespace

// Materialised content of one blob: an unlinked temporary file, closed when
// the cache and every opener have let go of it.
struct HistoryBackend::Blob {
  explicit Blob(std::string id) : id(std::move(id)) {}
  ~Blob() {
    if (fd >= 0) ::close(fd);
  }
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;

  const std::string id;
  Mutex fill_mu;      // held while the content is copied in
  int fd = -1;        // set once, under fill_mu, when the content is complete
  uint64_t size = 0;  // set with fd
  // Position in lru_ when in_lru; guarded by cache_mu_.
  std::list<std::shared_ptr<Blob>>::iterator lru_pos;
  bool in_lru = false;  // guarded by cache_mu_
};

std::string HistoryBackend::Target::Key() const {
  // snapshot ids and version numbers hold no '/', so the path comes last.
  return std::string(1, static_cast<char>(kind)) + snapshot + "/" + std::to_string(version) + "/" + path;
}

bool HistoryBackend::Target::IsDir() const {
  return kind == Kind::kRoot || kind == Kind::kSnapshots || kind == Kind::kSnapshotDir ||
         kind == Kind::kVersionsDir;
}

// ---- construction ----

Result<std::unique_ptr<HistoryBackend>> HistoryBackend::Create(uint16_t backend_id, VersionStore* store,
                                                               Options options) {
  if (!store) return Status::Error(EINVAL, "history tree: no version store");
  if (options.scratch_dir.empty()) return Status::Error(EINVAL, "history tree: no scratch directory");
  int fd = ::open(options.scratch_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("history tree: open scratch directory " + options.scratch_dir);
  return std::unique_ptr<HistoryBackend>(new HistoryBackend(backend_id, store, std::move(options), fd));
}

HistoryBackend::HistoryBackend(uint16_t id, VersionStore* store, Options options, int scratch_fd)
    : id_(id),
      store_(store),
      options_(std::move(options)),
      scratch_fd_(scratch_fd),
      created_ns_(ToNanos(NowTimespec())),
      uid_(::geteuid()),
      gid_(::getegid()) {
  nodes_.emplace(1, Node{Target{}, 0});
  numbers_.emplace(Target{}.Key(), 1);
}

HistoryBackend::~HistoryBackend() { ::close(scratch_fd_); }

size_t HistoryBackend::NodeCount() const {
  MutexLock lk(mu_);
  return nodes_.size();
}

std::pair<size_t, uint64_t> HistoryBackend::CacheUsage() const {
  MutexLock lk(cache_mu_);
  return {lru_.size(), cached_bytes_};
}

// ---- attributes ----

Attr HistoryBackend::DirAttr(int64_t time_ns) const {
  Attr a;
  a.mode = S_IFDIR | 0555;
  a.nlink = 2;
  a.uid = uid_;
  a.gid = gid_;
  a.atime = a.mtime = a.ctime = a.btime = FromNanos(time_ns);
  return a;
}

Attr HistoryBackend::FileAttr(mode_t type, uint32_t git_mode, uint64_t size, int64_t time_ns) const {
  Attr a;
  a.mode = type | (type == S_IFLNK ? 0777 : (git_mode & 0111) ? 0555 : 0444);
  a.nlink = 1;
  a.uid = uid_;
  a.gid = gid_;
  a.size = size;
  a.blocks = (size + 511) / 512;
  a.atime = a.mtime = a.ctime = a.btime = FromNanos(time_ns);
  return a;
}

// ---- resolution ----

Result<bool> HistoryBackend::HasOtherZones() {
  auto zones = store_->Zones();
  NEXUS_RETURN_IF_FAILED(zones);
  return std::any_of(zones->begin(), zones->end(), [](const std::string& z) { return z != kRootZone; });
}

Result<HistoryBackend::Resolved> HistoryBackend::ResolveSnapshotPath(const std::string& id,
                                                                     const std::string& path) {
  if (!AllDigits(id)) return Status::Error(ENOENT, "no snapshot " + id);
  auto info = store_->GetSnapshot(id);
  if (!info.ok()) return NotFound(info.status());
  Resolved r;
  r.target = Target{Kind::kSnapshotDir, id, path, 0};
  if (path.empty()) {
    r.attr = DirAttr(info->time_ns);
    return r;
  }
  auto entry = store_->StatSnapshotEntry(id, SnapshotTreePath(path));
  if (path == kZoneDir && !(entry.ok() && entry->IsDir())) {
    // "zone" holds the snapshot's other zones.
    auto zones = store_->ListSnapshotDir(id, "");
    NEXUS_RETURN_IF_FAILED(zones);
    if (std::any_of(zones->begin(), zones->end(), [](const EntryInfo& z) { return z.path != kRootZone; })) {
      r.attr = DirAttr(info->time_ns);
      return r;
    }
  }
  if (!entry.ok()) return NotFound(entry.status());
  if (entry->IsDir()) {
    r.attr = DirAttr(info->time_ns);
  } else if ((entry->mode & 0170000) == 0120000) {
    r.target.kind = Kind::kSnapshotLink;
    r.attr = FileAttr(S_IFLNK, entry->mode, entry->size, info->time_ns);
    r.blob = entry->oid;
  } else {
    r.target.kind = Kind::kSnapshotFile;
    r.attr = FileAttr(S_IFREG, entry->mode, entry->size, info->time_ns);
    r.blob = entry->oid;
  }
  return r;
}

Result<HistoryBackend::Resolved> HistoryBackend::ResolveVersionsDir(const std::string& path) {
  Resolved r;
  r.target = Target{Kind::kVersionsDir, "", path, 0};
  r.attr = DirAttr(created_ns_);
  if (path.empty()) {
    r.attr.mode = S_IFDIR | 0500;  // /versions: the history is closed (see Resolve)
    return r;
  }
  if (path == kZoneDir) {
    auto other = HasOtherZones();
    NEXUS_RETURN_IF_FAILED(other);
    if (*other) return r;
  }
  ZonePath zp = SplitNamespacePath("/" + path);
  auto e = store_->StatVersionedPath(zp.zone, zp.path);
  if (!e.ok()) return NotFound(e.status());
  return r;
}

Result<HistoryBackend::Resolved> HistoryBackend::ResolveVersion(const std::string& path, uint32_t n) {
  ZonePath zp = SplitNamespacePath("/" + path);
  if (zp.path.empty()) return Status::Error(ENOENT, "/" + path + " is not a file");
  auto v = store_->GetVersion(zp.zone, zp.path, n);
  if (!v.ok()) return NotFound(v.status());
  Resolved r;
  r.target = Target{Kind::kVersion, "", path, n};
  r.attr = FileAttr(S_IFREG, v->mode, v->size, v->time_ns);
  r.blob = v->blob;
  return r;
}

Result<HistoryBackend::Resolved> HistoryBackend::Resolve(const Target& t) {
  switch (t.kind) {
    case Kind::kRoot:
      // Open to all: /.nexus/activity (grafted here) is for every subject.
      return Resolved{t, DirAttr(created_ns_), ""};
    case Kind::kSnapshots: {
      // History holds old contents of files whose owners may have closed
      // them since: only the daemon's owner (root) enters /snapshots and
      // /versions. Other users read history through `nexus versions`,
      // which checks each path's current permissions.
      Attr a = DirAttr(created_ns_);
      a.mode = S_IFDIR | 0500;
      return Resolved{t, a, ""};
    }
    case Kind::kSnapshotDir:
    case Kind::kSnapshotFile:
    case Kind::kSnapshotLink: {
      auto r = ResolveSnapshotPath(t.snapshot, t.path);
      NEXUS_RETURN_IF_FAILED(r);
      // Same path, other type (a snapshot id reused): that node is gone.
      if (r->target.kind != t.kind)
        return Status::Error(ENOENT, "snapshot " + t.snapshot + " changed at /" + t.path);
      return r;
    }
    case Kind::kVersionsDir:
      return ResolveVersionsDir(t.path);
    case Kind::kVersion:
      return ResolveVersion(t.path, t.version);
  }
  return Status::Error(EIO, "history tree: bad node");
}

Result<HistoryBackend::Resolved> HistoryBackend::Child(const Target& dir, const std::string& name) {
  switch (dir.kind) {
    case Kind::kRoot:
      if (name == "snapshots") return Resolve(Target{Kind::kSnapshots, "", "", 0});
      if (name == "versions") return ResolveVersionsDir("");
      return Status::Error(ENOENT, "no " + name + " in the history tree");
    case Kind::kSnapshots:
      return ResolveSnapshotPath(name, "");
    case Kind::kSnapshotDir:
      return ResolveSnapshotPath(dir.snapshot, Join(dir.path, name));
    case Kind::kVersionsDir:
      // A version number of a versioned file shadows a child of that name.
      if (!dir.path.empty()) {
        if (auto n = ParseVersionNumber(name)) {
          auto v = ResolveVersion(dir.path, *n);
          if (v.ok() || v.code() != ENOENT) return v;
        }
      }
      return ResolveVersionsDir(Join(dir.path, name));
    default:
      return Status::Error(ENOTDIR, "not a directory");
  }
}

Result<std::vector<std::pair<std::string, HistoryBackend::Target>>> HistoryBackend::Children(
    const Target& dir) {
  std::map<std::string, Target> names;  // sorted, one entry per name
  switch (dir.kind) {
    case Kind::kRoot:
      names["snapshots"] = Target{Kind::kSnapshots, "", "", 0};
      names["versions"] = Target{Kind::kVersionsDir, "", "", 0};
      break;
    case Kind::kSnapshots: {
      auto snaps = store_->ListSnapshots();
      NEXUS_RETURN_IF_FAILED(snaps);
      for (const SnapshotInfo& s : *snaps) names[s.id] = Target{Kind::kSnapshotDir, s.id, "", 0};
      break;
    }
    case Kind::kSnapshotDir: {
      auto self = ResolveSnapshotPath(dir.snapshot, dir.path);
      NEXUS_RETURN_IF_FAILED(self);
      if (self->target.kind != Kind::kSnapshotDir) return Status::Error(ENOTDIR, "not a directory");
      auto entries = store_->ListSnapshotDir(dir.snapshot, SnapshotTreePath(dir.path));
      if (!entries.ok() && entries.code() != ENOENT) return entries.status();
      if (entries.ok()) {
        for (const EntryInfo& e : *entries) {
          Kind kind = e.IsDir()                       ? Kind::kSnapshotDir
                      : (e.mode & 0170000) == 0120000 ? Kind::kSnapshotLink
                                                      : Kind::kSnapshotFile;
          names[e.path] = Target{kind, dir.snapshot, Join(dir.path, e.path), 0};
        }
      }
      if (dir.path.empty() || dir.path == kZoneDir) {
        auto zones = store_->ListSnapshotDir(dir.snapshot, "");
        NEXUS_RETURN_IF_FAILED(zones);
        for (const EntryInfo& z : *zones) {
          if (z.path == kRootZone) continue;
          if (dir.path.empty()) {
            names[kZoneDir] = Target{Kind::kSnapshotDir, dir.snapshot, kZoneDir, 0};
            break;
          }
          names[z.path] = Target{Kind::kSnapshotDir, dir.snapshot, Join(kZoneDir, z.path), 0};
        }
      }
      break;
    }
    case Kind::kVersionsDir: {
      ZonePath zp = SplitNamespacePath("/" + dir.path);
      if (!zp.path.empty()) {
        auto h = store_->History(zp.zone, zp.path);
        if (!h.ok() && h.code() != ENOENT && h.code() != EINVAL) return h.status();
        if (h.ok())
          for (const Version& v : h->versions)
            names[std::to_string(v.number)] = Target{Kind::kVersion, "", dir.path, v.number};
      }
      auto kids = store_->ListVersionedDir(zp.zone, zp.path);
      if (!kids.ok() && kids.code() != EINVAL) return kids.status();
      if (kids.ok())
        for (const VersionedEntry& k : *kids)  // emplace: a version keeps its name
          names.emplace(k.name, Target{Kind::kVersionsDir, "", Join(dir.path, k.name), 0});
      if (dir.path.empty() || dir.path == kZoneDir) {
        auto zones = store_->Zones();
        NEXUS_RETURN_IF_FAILED(zones);
        for (const std::string& z : *zones) {
          if (z == kRootZone) continue;
          if (dir.path.empty()) {
            names[kZoneDir] = Target{Kind::kVersionsDir, "", kZoneDir, 0};
            break;
          }
          names[z] = Target{Kind::kVersionsDir, "", Join(kZoneDir, z), 0};
        }
      }
      if (names.empty() && !dir.path.empty())
        return Status::Error(ENOENT, "nothing versioned at /" + dir.path);
      break;
    }
    default:
      return Status::Error(ENOTDIR, "not a directory");
  }
  std::vector<std::pair<std::string, Target>> out;
  out.reserve(names.size());
  for (auto& [name, t] : names) out.emplace_back(name, std::move(t));
  return out;
}

// ---- node table ----

Result<HistoryBackend::Target> HistoryBackend::TargetOf(Ino ino) const {
  if (BackendOf(ino) != id_) return Status::Error(ENOENT, "inode not in the history tree");
  MutexLock lk(mu_);
  auto it = nodes_.find(LocalOf(ino));
  if (it == nodes_.end()) return Status::Error(ENOENT, "unknown inode " + std::to_string(ino));
  return it->second.target;
}

Ino HistoryBackend::Intern(const Target& t, bool reference) {
  MutexLock lk(mu_);
  std::string key = t.Key();
  auto it = numbers_.find(key);
  Ino local;
  if (it != numbers_.end()) {
    local = it->second;
  } else {
    local = next_local_++;
    numbers_.emplace(std::move(key), local);
    nodes_.emplace(local, Node{t, 0});
  }
  if (reference) ++nodes_[local].lookups;
  return MakeIno(id_, local);
}

void HistoryBackend::MaybePrune() {
  MutexLock lk(mu_);
  if (nodes_.size() <= kMaxRememberedNodes) return;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->first != 1 && it->second.lookups == 0) {
      numbers_.erase(it->second.target.Key());
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- lookups and listing ----

Result<Attr> HistoryBackend::Lookup(const Caller&, Ino parent, const std::string& name) {
  auto dir = TargetOf(parent);
  NEXUS_RETURN_IF_FAILED(dir);
  if (!dir->IsDir()) return Status::Error(ENOTDIR, "not a directory");
  Result<Resolved> r = Status::Error(ENOENT, name);
  if (name == ".") {
    r = Resolve(*dir);
  } else if (name == "..") {
    Target up;  // the root is its own parent
    switch (dir->kind) {
      case Kind::kSnapshotDir:
        up = dir->path.empty() ? Target{Kind::kSnapshots, "", "", 0}
                               : Target{Kind::kSnapshotDir, dir->snapshot, ParentPath(dir->path), 0};
        break;
      case Kind::kVersionsDir:
        if (!dir->path.empty()) up = Target{Kind::kVersionsDir, "", ParentPath(dir->path), 0};
        break;
      default:
        break;
    }
    r = Resolve(up);
  } else {
    r = Child(*dir, name);
  }
  NEXUS_RETURN_IF_FAILED(r);
  MaybePrune();
  r->attr.ino = Intern(r->target, /*reference=*/true);
  return r->attr;
}

void HistoryBackend::Forget(Ino ino, uint64_t nlookup) {
  if (BackendOf(ino) != id_ || LocalOf(ino) == 1) return;
  MutexLock lk(mu_);
  auto it = nodes_.find(LocalOf(ino));
  if (it == nodes_.end()) return;
  it->second.lookups -= std::min(it->second.lookups, nlookup);
}

std::string HistoryBackend::PathOf(Ino ino) const {
  // The root only: the namespace lets restricted callers through /.nexus to
  // the activity files and no further, so nothing below needs a name.
  return ino == root() ? std::string(layout::kSystemDir) : std::string();
}

Result<Attr> HistoryBackend::GetAttr(Ino ino) {
  auto t = TargetOf(ino);
  NEXUS_RETURN_IF_FAILED(t);
  auto r = Resolve(*t);
  NEXUS_RETURN_IF_FAILED(r);
  r->attr.ino = ino;
  return r->attr;
}

Result<std::vector<DirEntry>> HistoryBackend::ReadDir(const Caller&, Ino ino) {
  auto t = TargetOf(ino);
  NEXUS_RETURN_IF_FAILED(t);
  if (!t->IsDir()) return Status::Error(ENOTDIR, "not a directory");
  auto kids = Children(*t);
  NEXUS_RETURN_IF_FAILED(kids);
  MaybePrune();
  std::vector<DirEntry> out;
  out.reserve(kids->size());
  for (auto& [name, child] : *kids) {
    mode_t type = child.IsDir() ? S_IFDIR : child.kind == Kind::kSnapshotLink ? S_IFLNK : S_IFREG;
    out.push_back({name, Intern(child, /*reference=*/false), type});
  }
  return out;
}

Result<std::string> HistoryBackend::ReadLink(Ino ino) {
  auto t = TargetOf(ino);
  NEXUS_RETURN_IF_FAILED(t);
  if (t->kind != Kind::kSnapshotLink) return Status::Error(EINVAL, "not a symlink");
  auto r = Resolve(*t);
  NEXUS_RETURN_IF_FAILED(r);
  return store_->ReadBlob(r->blob, 0, r->attr.size);
}

// ---- contents ----

Result<int> HistoryBackend::OpenScratchFile() {
  int fd = ::openat(scratch_fd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return Status::FromErrno("history tree: scratch file in " + options_.scratch_dir);
  // No O_TMPFILE on this filesystem: a named file, unlinked at once.
  std::string name = options_.scratch_dir + "/.nexus-history-XXXXXX";
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("history tree: scratch file " + name);
  ::unlink(name.c_str());
  return fd;
}

Result<std::shared_ptr<HistoryBackend::Blob>> HistoryBackend::Materialize(const std::string& id,
                                                                          uint64_t size) {
  std::shared_ptr<Blob> blob;
  {
    MutexLock lk(cache_mu_);
    auto it = blobs_.find(id);
    if (it != blobs_.end()) {
      blob = it->second;
      if (blob->in_lru) lru_.splice(lru_.begin(), lru_, blob->lru_pos);
    } else {
      blob = std::make_shared<Blob>(id);
      blobs_.emplace(id, blob);
    }
  }
  MutexLock fill(blob->fill_mu);
  if (blob->fd >= 0) return blob;
  auto fd = OpenScratchFile();
  Status st = fd.status();
  if (st.ok()) st = store_->ReadBlobTo(id, *fd);
  if (st.ok()) {
    struct stat sb;
    if (::fstat(*fd, &sb) != 0) {
      st = Status::FromErrno("history tree: stat scratch file");
    } else if (static_cast<uint64_t>(sb.st_size) != size) {
      st = Status::Error(EIO, "history tree: blob " + id + " has " + std::to_string(sb.st_size) +
                                  " bytes, the index says " + std::to_string(size));
    }
  }
  if (!st.ok()) {
    if (fd.ok()) ::close(*fd);
    MutexLock lk(cache_mu_);
    if (auto it = blobs_.find(id); it != blobs_.end() && it->second == blob) blobs_.erase(it);
    spdlog::warn("{}", st.ToString());
    return st;
  }
  blob->fd = *fd;
  blob->size = size;
  // Evicted copies are closed (and their disk space freed) after cache_mu_
  // is released.
  std::vector<std::shared_ptr<Blob>> evicted;
  MutexLock lk(cache_mu_);
  auto it = blobs_.find(id);
  if (it == blobs_.end() || it->second != blob) return blob;
  if (size > options_.cache_bytes) {  // served to its openers only
    blobs_.erase(it);
    return blob;
  }
  lru_.push_front(blob);
  blob->lru_pos = lru_.begin();
  blob->in_lru = true;
  cached_bytes_ += size;
  while (cached_bytes_ > options_.cache_bytes && lru_.back() != blob) {
    evicted.push_back(std::move(lru_.back()));
    lru_.pop_back();
    Blob& old = *evicted.back();
    old.in_lru = false;
    cached_bytes_ -= old.size;
    blobs_.erase(old.id);
  }
  return blob;
}

Result<std::unique_ptr<FileHandle>> HistoryBackend::Open(const Caller& caller, Ino ino, int flags) {
  auto t = TargetOf(ino);
  NEXUS_RETURN_IF_FAILED(t);
  if (t->IsDir()) return Status::Error(EISDIR, "is a directory");
  if (t->kind == Kind::kSnapshotLink) return Status::Error(ELOOP, "is a symlink");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
    return Status::Error(EROFS, "the history tree is read-only");
  auto r = Resolve(*t);
  NEXUS_RETURN_IF_FAILED(r);
  auto blob = Materialize(r->blob, r->attr.size);
  NEXUS_RETURN_IF_FAILED(blob);
  // A read-only description of its own: the handle cannot write the cached
  // copy, and closing it leaves the cache's fd alone.
  int fd = ::open(("/proc/self/fd/" + std::to_string((*blob)->fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fd = ::fcntl((*blob)->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("history tree: open content");
  auto fh = std::make_unique<FileHandle>();
  fh->fd = fd;
  fh->ino = ino;
  fh->flags = flags;
  fh->opener = caller;
  return fh;
}

void HistoryBackend::Release(std::unique_ptr<FileHandle> fh) {
  if (fh && fh->fd >= 0) ::close(fh->fd);
}

void HistoryBackend::OnWrite(FileHandle&, uint64_t, uint64_t) {}

Status HistoryBackend::Fsync(FileHandle&, bool) { return Status::Ok(); }

Status HistoryBackend::FsyncDir(Ino) { return Status::Ok(); }

Result<struct statvfs> HistoryBackend::StatFs() {
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_namemax = 255;
  sv.f_flag = ST_RDONLY;
  return sv;
}

Result<std::string> HistoryBackend::GetXattr(Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(TargetOf(ino).status());
  return Status::Error(ENODATA, "no attribute " + name);
}

Result<std::vector<std::string>> HistoryBackend::ListXattr(Ino ino) {
  NEXUS_RETURN_IF_ERROR(TargetOf(ino).status());
  return std::vector<std::string>{};
}

// ---- mutations: all refused ----

namespace {
Status ReadOnly() { return Status::Error(EROFS, "the history tree is read-only"); }
}  // namespace

Result<Attr> HistoryBackend::SetAttr(const Caller&, Ino, const SetAttrRequest&, FileHandle*) {
  return ReadOnly();
}
Result<Attr> HistoryBackend::MkNod(const Caller&, Ino, const std::string&, mode_t, dev_t) {
  return ReadOnly();
}
Result<Attr> HistoryBackend::MkDir(const Caller&, Ino, const std::string&, mode_t) { return ReadOnly(); }
Result<Attr> HistoryBackend::Symlink(const Caller&, const std::string&, Ino, const std::string&) {
  return ReadOnly();
}
Result<Attr> HistoryBackend::Link(const Caller&, Ino, Ino, const std::string&) { return ReadOnly(); }
Status HistoryBackend::Unlink(const Caller&, Ino, const std::string&) { return ReadOnly(); }
Status HistoryBackend::RmDir(const Caller&, Ino, const std::string&) { return ReadOnly(); }
Status HistoryBackend::Rename(const Caller&, Ino, const std::string&, Ino, const std::string&, unsigned) {
  return ReadOnly();
}
Result<Backend::Created> HistoryBackend::Create(const Caller&, Ino, const std::string&, mode_t, int) {
  return ReadOnly();
}
Status HistoryBackend::Fallocate(FileHandle&, int, off_t, off_t) { return ReadOnly(); }
Status HistoryBackend::SetXattr(const Caller&, Ino, const std::string&, std::string_view, int) {
  return ReadOnly();
}
Status HistoryBackend::RemoveXattr(const Caller&, Ino, const std::string&) { return ReadOnly(); }

}  // namespace nexus::versions
