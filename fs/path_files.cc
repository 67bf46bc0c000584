#include "fs/path_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>

namespace nexus {
namespace {

constexpr int kMaxSymlinks = 40;  // as Linux's MAXSYMLINKS
constexpr size_t kMaxCachedIds = 100'000;
// Hashing runs on the caller's thread (the socket's event loop): bigger
// files get no content id here rather than stall every other client.
constexpr uint64_t kMaxHashedBytes = 16u << 20;

std::vector<std::string> Components(const std::string& normalized) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos < normalized.size()) {
    size_t end = normalized.find('/', pos);
    if (end == std::string::npos) end = normalized.size();
    out.push_back(normalized.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// Where a symlink found in `dir` leads, followed by the rest of the path.
std::string Redirect(const std::string& dir, const std::string& target, const std::string& rest) {
  std::string p = !target.empty() && target[0] == '/' ? target : Join(dir, target);
  return rest.empty() ? p : p + "/" + rest;
}

Status WriteAll(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
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

namespace {
// True for "/" and paths like "/a/b": no empty, ".", ".." or NUL parts.
bool IsNormal(const std::string& p) {
  if (p == "/") return true;
  if (p.size() < 2 || p[0] != '/' || p.back() == '/') return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\0') return false;
    if (p[i] != '/') continue;
    size_t end = p.find('/', i + 1);
    size_t len = (end == std::string::npos ? p.size() : end) - i - 1;
    if (len == 0 || (len == 1 && p[i + 1] == '.') || (len == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
      return false;
  }
  return true;
}
}  // namespace

Result<std::string> PathFiles::Normalize(const std::string& path) {
  if (IsNormal(path)) return path;
  if (path.empty() || path[0] != '/')
    return Status::Error(EINVAL, "'" + path + "': paths must be absolute (start with /)");
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    if (comp.find('\0') != std::string::npos)
      return Status::Error(EINVAL, "paths must not contain NUL bytes");
    parts.push_back(std::move(comp));
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? std::string("/") : out;
}

Result<PathFiles::Parent> PathFiles::ResolveParent(const Actor& actor, const std::string& path,
                                                   int* links_left) {
  auto norm = Normalize(path);
  if (!norm.ok()) return norm.status();
  std::vector<std::string> comps = Components(*norm);
  if (comps.empty()) return Status::Error(EINVAL, "'/' has no parent directory");
  Parent p{Pin(ns_), {}, "/", comps.back()};
  auto root = ns_->GetAttr(kRootIno);
  if (!root.ok()) return root.status();
  p.dir = *root;
  for (size_t i = 0; i + 1 < comps.size(); ++i) {
    NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p.dir, kMayExec));
    auto a = ns_->Lookup(actor.caller, p.dir.ino, comps[i]);
    if (!a.ok()) return a.status();
    Pin next(ns_);
    next.Set(a->ino);
    if (a->IsLnk()) {
      if (--*links_left < 0) return Status::Error(ELOOP, "too many symbolic links in " + path);
      auto target = ns_->ReadLink(a->ino);
      if (!target.ok()) return target.status();
      std::string rest;
      for (size_t j = i + 1; j < comps.size(); ++j) rest += (rest.empty() ? "" : "/") + comps[j];
      return ResolveParent(actor, Redirect(p.dir_path, *target, rest), links_left);
    }
    if (!a->IsDir()) return Status::Error(ENOTDIR, Join(p.dir_path, comps[i]) + " is not a directory");
    p.pin = std::move(next);
    p.dir = *a;
    p.dir_path = Join(p.dir_path, comps[i]);
  }
  return p;
}

Result<Attr> PathFiles::ResolveInto(const Actor& actor, const std::string& path, bool follow,
                                    Pin* pin, int* links_left) {
  auto norm = Normalize(path);
  if (!norm.ok()) return norm.status();
  if (*norm == "/") return ns_->GetAttr(kRootIno);
  auto p = ResolveParent(actor, *norm, links_left);
  if (!p.ok()) return p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayExec));
  auto a = ns_->Lookup(actor.caller, p->dir.ino, p->name);
  if (!a.ok()) return a.status();
  pin->Set(a->ino);
  if (follow && a->IsLnk()) {
    if (--*links_left < 0) return Status::Error(ELOOP, "too many symbolic links in " + path);
    auto target = ns_->ReadLink(a->ino);
    if (!target.ok()) return target.status();
    return ResolveInto(actor, Redirect(p->dir_path, *target, ""), follow, pin, links_left);
  }
  return a;
}

Result<Attr> PathFiles::Resolve(const Actor& actor, const std::string& path, bool follow,
                                Pin* pin) {
  int links_left = kMaxSymlinks;
  return ResolveInto(actor, path, follow, pin, &links_left);
}

Result<PathFiles::Parent> PathFiles::MakeParents(const Actor& actor, const std::string& path) {
  auto norm = Normalize(path);
  if (!norm.ok()) return norm.status();
  std::vector<std::string> comps = Components(*norm);
  std::string dir = "/";
  for (size_t i = 0; i + 1 < comps.size(); ++i) {
    dir = Join(dir, comps[i]);
    Pin pin(ns_);
    auto a = Resolve(actor, dir, true, &pin);
    if (a.ok() && !a->IsDir()) return Status::Error(ENOTDIR, dir + " is not a directory");
    if (a.ok()) continue;
    if (a.code() != ENOENT) return a.status();
    if (Status st = MkDir(actor, dir, 0755, false); !st.ok() && st.code() != EEXIST) return st;
  }
  int links_left = kMaxSymlinks;
  return ResolveParent(actor, *norm, &links_left);
}

Result<PathStat> PathFiles::Stat(const Actor& actor, const std::string& path, bool follow,
                                 bool with_content_id) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, follow, &pin);
  if (!a.ok()) return a.status();
  PathStat out;
  out.path = Normalize(path).value();
  out.attr = *a;
  if (a->IsLnk()) {
    auto t = ns_->ReadLink(a->ino);
    if (t.ok()) out.symlink_target = *t;
  }
  if (with_content_id && a->IsReg() && a->size <= kMaxHashedBytes &&
      CheckAccess(actor.cred, *a, kMayRead).ok()) {
    auto id = ContentId(*a);
    if (id.ok()) out.content_id = *id;
  }
  return out;
}

Result<std::string> PathFiles::Read(const Actor& actor, const std::string& path,
                                    uint64_t offset, uint64_t length, uint64_t max_bytes,
                                    uint64_t* size) {
  Pin pin(ns_);
  auto a = Resolve(actor, path, true, &pin);
  if (!a.ok()) return a.status();
  if (a->IsDir()) return Status::Error(EISDIR, path + " is a directory");
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, *a, kMayRead));
  auto fh = ns_->Open(actor.caller, a->ino, O_RDONLY);
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

Result<PathFiles::Opened> PathFiles::OpenForWrite(const Actor& actor, const std::string& path,
                                                  const WriteOptions& o) {
  int links_left = kMaxSymlinks;
  auto p = o.create_parents ? MakeParents(actor, path) : ResolveParent(actor, path, &links_left);
  if (!p.ok()) return p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayExec));
  Opened out{nullptr, {}, 0, Pin(ns_)};
  auto existing = Resolve(actor, Join(p->dir_path, p->name), true, &out.pin);
  const int flags = O_WRONLY | (o.truncate && !o.append ? O_TRUNC : 0);
  if (existing.ok()) {
    if (existing->IsDir()) return Status::Error(EISDIR, path + " is a directory");
    NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, *existing, kMayWrite));
    auto fh = ns_->Open(actor.caller, existing->ino, flags);
    if (!fh.ok()) return fh.status();
    out.fh = std::move(fh).value();
    out.attr = *existing;
    out.offset = o.append ? existing->size : (o.truncate ? 0 : o.offset);
    return out;
  }
  if (existing.code() != ENOENT) return existing.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayWrite | kMayExec));
  mode_t mode = S_IFREG | (o.mode & 07777 & ~actor.caller.umask);
  auto created = ns_->Create(actor.caller, p->dir.ino, p->name, mode, O_WRONLY);
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
    NEXUS_RETURN_IF_ERROR(WriteAll(o_.fh->fd, data, o_.offset));
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

Result<std::unique_ptr<PathWriter>> PathFiles::OpenWriter(const Actor& actor,
                                                          const std::string& path,
                                                          const WriteOptions& options) {
  auto o = OpenForWrite(actor, path, options);
  if (!o.ok()) return o.status();
  return std::unique_ptr<PathWriter>(new Writer(this, std::move(o).value()));
}

Result<Attr> PathFiles::Write(const Actor& actor, const std::string& path, std::string_view data,
                              const WriteOptions& options) {
  auto w = OpenWriter(actor, path, options);
  if (!w.ok()) return w.status();
  Status st = data.empty() ? Status::Ok() : (*w)->Write(data);
  auto attr = (*w)->Finish();
  if (!st.ok()) return st;
  return attr;
}

Result<std::vector<PathStat>> PathFiles::List(const Actor& actor, const std::string& path,
                                              bool long_form) {
  Pin pin(ns_);
  auto dir = Resolve(actor, path, true, &pin);
  if (!dir.ok()) return dir.status();
  if (!dir->IsDir()) return Status::Error(ENOTDIR, path + " is not a directory");
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, *dir, kMayRead));
  auto entries = ns_->ReadDir(actor.caller, dir->ino);
  if (!entries.ok()) return entries.status();
  std::string base = Normalize(path).value();
  std::vector<PathStat> out;
  out.reserve(entries->size());
  for (const DirEntry& e : *entries) {
    if (e.name == "." || e.name == "..") continue;
    PathStat ps;
    ps.path = Join(base, e.name);
    ps.attr.ino = e.ino;
    ps.attr.mode = e.type;
    if (long_form && CheckAccess(actor.cred, *dir, kMayExec).ok()) {
      auto a = ns_->Lookup(actor.caller, dir->ino, e.name);
      if (!a.ok()) continue;  // removed meanwhile
      ps.attr = *a;
      if (a->IsLnk())
        if (auto t = ns_->ReadLink(a->ino); t.ok()) ps.symlink_target = *t;
      ns_->Forget(a->ino, 1);
    }
    out.push_back(std::move(ps));
  }
  std::sort(out.begin(), out.end(),
            [](const PathStat& a, const PathStat& b) { return a.path < b.path; });
  return out;
}

Status PathFiles::MkDir(const Actor& actor, const std::string& path, mode_t mode, bool parents) {
  int links_left = kMaxSymlinks;
  auto p = parents ? MakeParents(actor, path) : ResolveParent(actor, path, &links_left);
  if (!p.ok()) {
    // "mkdir -p /" is fine; "mkdir /" is EEXIST as for mkdir(2).
    if (p.code() == EINVAL && Normalize(path).ok() && Normalize(path).value() == "/")
      return parents ? Status::Ok() : Status::Error(EEXIST, "/ exists");
    return p.status();
  }
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayExec));
  if (parents) {
    Pin pin(ns_);
    auto a = Resolve(actor, Join(p->dir_path, p->name), true, &pin);
    if (a.ok()) return a->IsDir() ? Status::Ok() : Status::Error(EEXIST, path + " exists and is not a directory");
  }
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayWrite | kMayExec));
  auto a = ns_->MkDir(actor.caller, p->dir.ino, p->name, (mode & 07777) & ~actor.caller.umask);
  if (!a.ok()) {
    if (a.code() == EEXIST) return Status::Error(EEXIST, path + " already exists");
    return a.status();
  }
  ns_->Forget(a->ino, 1);
  InvalidateEntry(p->dir.ino, p->name);
  InvalidateInode(p->dir.ino);
  return Status::Ok();
}

Status PathFiles::RmDir(const Actor& actor, const std::string& path) {
  int links_left = kMaxSymlinks;
  auto p = ResolveParent(actor, path, &links_left);
  if (!p.ok()) return p.code() == EINVAL ? Status::Error(EBUSY, "cannot remove /") : p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayExec));
  Pin pin(ns_);
  auto victim = ns_->Lookup(actor.caller, p->dir.ino, p->name);
  if (!victim.ok()) return victim.status();
  pin.Set(victim->ino);
  if (!victim->IsDir()) return Status::Error(ENOTDIR, path + " is not a directory");
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor.cred, p->dir, *victim));
  NEXUS_RETURN_IF_ERROR(ns_->RmDir(actor.caller, p->dir.ino, p->name));
  InvalidateEntry(p->dir.ino, p->name);
  InvalidateInode(p->dir.ino);
  return Status::Ok();
}

Status PathFiles::Unlink(const Actor& actor, const std::string& path) {
  int links_left = kMaxSymlinks;
  auto p = ResolveParent(actor, path, &links_left);
  if (!p.ok()) return p.code() == EINVAL ? Status::Error(EISDIR, "/ is a directory") : p.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, p->dir, kMayExec));
  Pin pin(ns_);
  auto victim = ns_->Lookup(actor.caller, p->dir.ino, p->name);
  if (!victim.ok()) return victim.status();
  pin.Set(victim->ino);
  if (victim->IsDir()) return Status::Error(EISDIR, path + " is a directory (use rmdir)");
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor.cred, p->dir, *victim));
  NEXUS_RETURN_IF_ERROR(ns_->Unlink(actor.caller, p->dir.ino, p->name));
  InvalidateEntry(p->dir.ino, p->name);
  InvalidateInode(p->dir.ino);
  InvalidateInode(victim->ino);
  return Status::Ok();
}

Status PathFiles::Rename(const Actor& actor, const std::string& from, const std::string& to) {
  int links_left = kMaxSymlinks;
  auto src = ResolveParent(actor, from, &links_left);
  if (!src.ok()) return src.code() == EINVAL ? Status::Error(EBUSY, "cannot move /") : src.status();
  auto dst = ResolveParent(actor, to, &links_left);
  if (!dst.ok()) return dst.code() == EINVAL ? Status::Error(EEXIST, "/ exists") : dst.status();
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, src->dir, kMayExec));
  NEXUS_RETURN_IF_ERROR(CheckAccess(actor.cred, dst->dir, kMayWrite | kMayExec));
  Pin src_pin(ns_), dst_pin(ns_);
  auto victim = ns_->Lookup(actor.caller, src->dir.ino, src->name);
  if (!victim.ok()) return victim.status();
  src_pin.Set(victim->ino);
  NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor.cred, src->dir, *victim));
  auto replaced = ns_->Lookup(actor.caller, dst->dir.ino, dst->name);
  if (replaced.ok()) {
    dst_pin.Set(replaced->ino);
    NEXUS_RETURN_IF_ERROR(CheckDeleteFromDir(actor.cred, dst->dir, *replaced));
  } else if (replaced.code() != ENOENT) {
    return replaced.status();
  }
  NEXUS_RETURN_IF_ERROR(
      ns_->Rename(actor.caller, src->dir.ino, src->name, dst->dir.ino, dst->name, 0));
  InvalidateEntry(src->dir.ino, src->name);
  InvalidateEntry(dst->dir.ino, dst->name);
  InvalidateInode(src->dir.ino);
  InvalidateInode(dst->dir.ino);
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

void GitBlobHasher::Update(const void* data, size_t len) {
  EVP_DigestUpdate(state_->ctx, data, len);
}

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
      {".txt", "text/plain"},        {".md", "text/markdown"},      {".json", "application/json"},
      {".yaml", "application/yaml"}, {".yml", "application/yaml"},  {".toml", "application/toml"},
      {".html", "text/html"},        {".css", "text/css"},          {".csv", "text/csv"},
      {".js", "text/javascript"},    {".ts", "text/x-typescript"},  {".py", "text/x-python"},
      {".c", "text/x-c"},            {".h", "text/x-c"},            {".cc", "text/x-c++"},
      {".cpp", "text/x-c++"},        {".hpp", "text/x-c++"},        {".rs", "text/x-rust"},
      {".go", "text/x-go"},          {".java", "text/x-java"},      {".sh", "text/x-shellscript"},
      {".xml", "application/xml"},   {".pdf", "application/pdf"},   {".png", "image/png"},
      {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},       {".gif", "image/gif"},
      {".svg", "image/svg+xml"},     {".zip", "application/zip"},   {".gz", "application/gzip"},
      {".tar", "application/x-tar"}, {".db", "application/vnd.sqlite3"},
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
