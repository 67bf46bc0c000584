#include "ops/activity_backend.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "base/file_util.h"

namespace nexus::ops {
namespace {

constexpr int64_t kDayNs = int64_t{86'400} * 1'000'000'000;
constexpr size_t kRefreshBatch = 1024;
constexpr std::string_view kSuffix = ".jsonl";
constexpr size_t kMaxDays = 3660;  // days a listing walks back at most

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Status Erofs() { return Status::Error(EROFS, "/.nexus/activity is read-only"); }

// The filter of one day's operations (of one subject, when given).
OpFilter DayFilter(int64_t start, const std::string& subject = "") {
  OpFilter f;
  f.since_ns = start;
  f.until_ns = start + kDayNs - 1;
  f.subject = subject;
  return f;
}

}  // namespace

ActivityBackend::File::~File() {
  if (fd >= 0) close(fd);
}

std::string ActivityBackend::DayOf(int64_t time_ns) {
  time_t secs = static_cast<time_t>(time_ns / 1'000'000'000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &t);
  return buf;
}

std::optional<int64_t> ActivityBackend::DayStart(const std::string& day) {
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (day[i] < '0' || day[i] > '9') return std::nullopt;
  tm t{};
  t.tm_year = std::stoi(day.substr(0, 4)) - 1900;
  t.tm_mon = std::stoi(day.substr(5, 2)) - 1;
  t.tm_mday = std::stoi(day.substr(8, 2));
  const int64_t start = static_cast<int64_t>(timegm(&t)) * 1'000'000'000;
  if (DayOf(start) != day) return std::nullopt;  // 2026-02-30
  return start;
}

Result<std::unique_ptr<ActivityBackend>> ActivityBackend::Create(uint16_t id, OpLog* log, Options options) {
  if (!log) return Status::Error(EINVAL, "activity files need the operations log");
  return std::unique_ptr<ActivityBackend>(new ActivityBackend(id, log, std::move(options)));
}

ActivityBackend::ActivityBackend(uint16_t id, OpLog* log, Options options)
    : id_(id),
      log_(log),
      options_(std::move(options)),
      created_ns_(NowNs()),
      uid_(geteuid()),
      gid_(getegid()) {
  MutexLock lk(mu_);
  Node root;
  root.kind = options_.system_root ? Kind::kSystem : Kind::kActivity;
  nodes_[1] = root;
  numbers_[KeyOf(root)] = 1;
  if (options_.system_root) {
    Node activity;
    activity.kind = Kind::kActivity;
    nodes_[2] = activity;
    numbers_[KeyOf(activity)] = 2;
  }
}

ActivityBackend::~ActivityBackend() = default;

std::string ActivityBackend::KeyOf(const Node& n) {
  std::string key(1, static_cast<char>(n.kind));
  if (n.kind == Kind::kDay || n.kind == Kind::kFile) key += "|" + n.day;
  if (n.kind == Kind::kFile) key += "|" + n.reader + "|" + n.subject;
  return key;
}

size_t ActivityBackend::NodeCount() const {
  MutexLock lk(mu_);
  return nodes_.size();
}

bool ActivityBackend::SeesAll(const Caller& caller) const {
  return !options_.sees_all || options_.sees_all(caller);
}

std::string ActivityBackend::ReaderKey(const Caller& caller) const {
  if (SeesAll(caller)) return "*";
  return options_.subject_of ? options_.subject_of(caller) : "uid:" + std::to_string(caller.uid);
}

bool ActivityBackend::MayList(const Caller& caller, const std::string& subject) const {
  if (SeesAll(caller)) return true;
  return options_.may_list && options_.may_list(caller, subject);
}

Result<bool> ActivityBackend::DayHasOps(const std::string& day) const {
  auto start = DayStart(day);
  if (!start) return false;
  NEXUS_ASSIGN_OR_RETURN(auto ops, log_->After(0, DayFilter(*start), 1));
  return !ops.empty();
}

Result<std::vector<std::string>> ActivityBackend::Days() const {
  std::vector<std::string> days;
  const int64_t oldest = log_->OldestTimeNs();
  if (oldest <= 0 || log_->NewestId() == 0) return days;
  const int64_t now = std::max(NowNs(), oldest);
  int64_t start = *DayStart(DayOf(oldest));
  const int64_t first = std::max(start, *DayStart(DayOf(now)) - static_cast<int64_t>(kMaxDays) * kDayNs);
  for (start = first; start <= now; start += kDayNs) {
    const std::string day = DayOf(start);
    NEXUS_ASSIGN_OR_RETURN(bool has, DayHasOps(day));
    if (has) days.push_back(day);
  }
  return days;
}

Result<std::set<std::string>> ActivityBackend::SubjectsOf(const std::string& day) {
  auto start = DayStart(day);
  if (!start) return Status::Error(ENOENT, "no day " + day);
  int64_t last = 0;
  std::set<std::string> subjects;
  {
    MutexLock lk(mu_);
    auto it = days_.find(day);
    if (it != days_.end()) {
      last = it->second.last_id;
      subjects = it->second.subjects;
    }
  }
  const int64_t before = last;
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(auto ops, log_->After(last, DayFilter(*start), kRefreshBatch));
    for (const auto& op : ops) subjects.insert(op.subject);
    if (!ops.empty()) last = ops.back().id;
    if (ops.size() < kRefreshBatch) break;
  }
  if (last != before) {
    MutexLock lk(mu_);
    DaySubjects& d = days_[day];
    if (d.last_id < last) {
      d.last_id = last;
      d.subjects.insert(subjects.begin(), subjects.end());
    }
  }
  return subjects;
}

Status ActivityBackend::Refresh(const Node& node) {
  File& f = *node.file;
  auto start = DayStart(node.day);
  if (!start) return Status::Error(ENOENT, "no day " + node.day);
  const bool all = node.reader == "*";
  MutexLock lk(f.mu);
  if (f.fd < 0) {
    f.fd = memfd_create("nexus-activity", MFD_CLOEXEC);
    if (f.fd < 0) return Status::FromErrno("activity: memfd_create");
  }
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(auto ops, log_->After(f.last_id, DayFilter(*start, node.subject), kRefreshBatch));
    std::string lines;
    for (const auto& op : ops) {
      f.last_id = op.id;
      if (!all && !(options_.may_see && options_.may_see(node.caller, op))) continue;
      lines += ToJsonLine(op);
      lines += '\n';
      f.mtime_ns = op.time_ns;
    }
    if (!lines.empty()) {
      NEXUS_RETURN_IF_ERROR(PwriteAll(f.fd, lines, f.size, "activity: writing a file's lines"));
      f.size += lines.size();
    }
    if (ops.size() < kRefreshBatch) break;
  }
  return Status::Ok();
}

Attr ActivityBackend::DirAttr() const {
  Attr a;
  a.mode = S_IFDIR | 0555;
  a.nlink = 2;
  a.uid = uid_;
  a.gid = gid_;
  a.atime = a.mtime = a.ctime = a.btime = FromNanos(created_ns_);
  return a;
}

Result<Attr> ActivityBackend::AttrOf(Ino ino, const Node& node) {
  if (node.kind != Kind::kFile) {
    Attr a = DirAttr();
    a.ino = ino;
    return a;
  }
  NEXUS_RETURN_IF_ERROR(Refresh(node));
  Attr a;
  a.ino = ino;
  a.mode = S_IFREG | 0444;
  a.nlink = 1;
  a.uid = uid_;
  a.gid = gid_;
  {
    MutexLock lk(node.file->mu);
    a.size = node.file->size;
    a.mtime = FromNanos(node.file->mtime_ns ? node.file->mtime_ns : *DayStart(node.day));
  }
  a.blocks = (a.size + 511) / 512;
  a.atime = a.ctime = a.btime = a.mtime;
  return a;
}

Result<ActivityBackend::Node> ActivityBackend::NodeOf(Ino ino) const {
  if (BackendOf(ino) != id_) return Status::Error(ENOENT, "not an activity inode");
  MutexLock lk(mu_);
  auto it = nodes_.find(LocalOf(ino));
  if (it == nodes_.end()) return Status::Error(ENOENT, "activity inode " + std::to_string(ino) + " is gone");
  return it->second;
}

Ino ActivityBackend::Intern(const std::string& key, const Node& make, bool reference) {
  MutexLock lk(mu_);
  Ino local;
  if (auto it = numbers_.find(key); it != numbers_.end()) {
    local = it->second;
  } else {
    if (nodes_.size() >= kMaxRememberedNodes) {
      // Forget the unreferenced numbers (the structural folders stay).
      for (auto n = nodes_.begin(); n != nodes_.end();) {
        if (n->first > 2 && n->second.lookups == 0) {
          numbers_.erase(KeyOf(n->second));
          n = nodes_.erase(n);
        } else {
          ++n;
        }
      }
    }
    local = next_local_++;
    nodes_[local] = make;
    // One content per (day, subject, reader), made with its node.
    if (make.kind == Kind::kFile) nodes_[local].file = std::make_shared<File>();
    numbers_[key] = local;
  }
  if (reference) ++nodes_[local].lookups;
  return MakeIno(id_, local);
}

Result<Attr> ActivityBackend::Lookup(const Caller& caller, Ino parent, const std::string& name) {
  NEXUS_ASSIGN_OR_RETURN(Node dir, NodeOf(parent));
  Node child;
  switch (dir.kind) {
    case Kind::kSystem:
      if (name != "activity") return Status::Error(ENOENT, "no " + name + " in /.nexus");
      child.kind = Kind::kActivity;
      break;
    case Kind::kActivity: {
      NEXUS_ASSIGN_OR_RETURN(bool has, DayHasOps(name));
      if (!has) return Status::Error(ENOENT, "no activity on " + name);
      child.kind = Kind::kDay;
      child.day = name;
      break;
    }
    case Kind::kDay: {
      if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix))
        return Status::Error(ENOENT, "no " + name + " in " + dir.day);
      const std::string subject = name.substr(0, name.size() - kSuffix.size());
      NEXUS_ASSIGN_OR_RETURN(auto subjects, SubjectsOf(dir.day));
      if (!subjects.count(subject) || !MayList(caller, subject))
        return Status::Error(ENOENT, "no activity of " + subject + " on " + dir.day);
      child.kind = Kind::kFile;
      child.day = dir.day;
      child.subject = subject;
      child.reader = ReaderKey(caller);
      child.caller = caller;
      child.caller.origin = nullptr;
      break;
    }
    case Kind::kFile:
      return Status::Error(ENOTDIR, "not a directory");
  }
  Ino ino = Intern(KeyOf(child), child, /*reference=*/true);
  NEXUS_ASSIGN_OR_RETURN(Node node, NodeOf(ino));
  auto attr = AttrOf(ino, node);
  if (!attr.ok()) Forget(ino, 1);
  return attr;
}

void ActivityBackend::Forget(Ino ino, uint64_t nlookup) {
  if (BackendOf(ino) != id_ || LocalOf(ino) <= 2) return;
  MutexLock lk(mu_);
  auto it = nodes_.find(LocalOf(ino));
  if (it == nodes_.end()) return;
  it->second.lookups -= std::min(it->second.lookups, nlookup);
  if (it->second.lookups == 0 && it->second.kind == Kind::kFile) {
    // Open handles read their own dup of the content.
    numbers_.erase(KeyOf(it->second));
    nodes_.erase(it);
  }
}

Result<Attr> ActivityBackend::GetAttr(Ino ino) {
  NEXUS_ASSIGN_OR_RETURN(Node node, NodeOf(ino));
  return AttrOf(ino, node);
}

Result<std::vector<DirEntry>> ActivityBackend::ReadDir(const Caller& caller, Ino ino) {
  NEXUS_ASSIGN_OR_RETURN(Node dir, NodeOf(ino));
  std::vector<DirEntry> out;
  switch (dir.kind) {
    case Kind::kSystem:
      out.push_back({"activity", MakeIno(id_, 2), S_IFDIR});
      break;
    case Kind::kActivity: {
      NEXUS_ASSIGN_OR_RETURN(auto days, Days());
      for (const auto& day : days) {
        Node n;
        n.kind = Kind::kDay;
        n.day = day;
        out.push_back({day, Intern(KeyOf(n), n, false), S_IFDIR});
      }
      break;
    }
    case Kind::kDay: {
      NEXUS_ASSIGN_OR_RETURN(auto subjects, SubjectsOf(dir.day));
      const std::string reader = ReaderKey(caller);
      for (const auto& subject : subjects) {
        if (!MayList(caller, subject)) continue;
        Node n;
        n.kind = Kind::kFile;
        n.day = dir.day;
        n.subject = subject;
        n.reader = reader;
        n.caller = caller;
        n.caller.origin = nullptr;
        out.push_back({subject + std::string(kSuffix), Intern(KeyOf(n), n, false), S_IFREG});
      }
      break;
    }
    case Kind::kFile:
      return Status::Error(ENOTDIR, "not a directory");
  }
  return out;
}

Result<std::unique_ptr<FileHandle>> ActivityBackend::Open(const Caller&, Ino ino, int flags) {
  NEXUS_ASSIGN_OR_RETURN(Node node, NodeOf(ino));
  if (node.kind != Kind::kFile) return Status::Error(EISDIR, "a folder");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return Erofs();
  NEXUS_RETURN_IF_ERROR(Refresh(node));
  auto fh = std::make_unique<FileHandle>();
  {
    MutexLock lk(node.file->mu);
    fh->fd = fcntl(node.file->fd, F_DUPFD_CLOEXEC, 0);
  }
  if (fh->fd < 0) return Status::FromErrno("activity: dup");
  fh->ino = ino;
  fh->flags = flags;
  return fh;
}

void ActivityBackend::Release(std::unique_ptr<FileHandle> fh) {
  if (fh && fh->fd >= 0) close(fh->fd);
}

std::string ActivityBackend::PathOf(Ino ino) const {
  auto node = NodeOf(ino);
  if (!node.ok()) return {};
  const std::string top = "/.nexus/activity";
  switch (node->kind) {
    case Kind::kSystem:
      return "/.nexus";
    case Kind::kActivity:
      return top;
    case Kind::kDay:
      return top + "/" + node->day;
    case Kind::kFile:
      return top + "/" + node->day + "/" + node->subject + std::string(kSuffix);
  }
  return {};
}

Result<struct statvfs> ActivityBackend::StatFs() {
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_namemax = 255;
  sv.f_flag = ST_RDONLY;
  return sv;
}

Result<std::string> ActivityBackend::GetXattr(Ino ino, const std::string& name) {
  NEXUS_RETURN_IF_ERROR(NodeOf(ino).status());
  return Status::Error(ENODATA, "no attribute " + name);
}

Result<std::vector<std::string>> ActivityBackend::ListXattr(Ino ino) {
  NEXUS_RETURN_IF_ERROR(NodeOf(ino).status());
  return std::vector<std::string>{};
}

Result<std::string> ActivityBackend::ReadLink(Ino) { return Status::Error(EINVAL, "not a symlink"); }
Result<Attr> ActivityBackend::SetAttr(const Caller&, Ino, const SetAttrRequest&, FileHandle*) {
  return Erofs();
}
Result<Attr> ActivityBackend::MkNod(const Caller&, Ino, const std::string&, mode_t, dev_t) { return Erofs(); }
Result<Attr> ActivityBackend::MkDir(const Caller&, Ino, const std::string&, mode_t) { return Erofs(); }
Result<Attr> ActivityBackend::Symlink(const Caller&, const std::string&, Ino, const std::string&) {
  return Erofs();
}
Result<Attr> ActivityBackend::Link(const Caller&, Ino, Ino, const std::string&) { return Erofs(); }
Status ActivityBackend::Unlink(const Caller&, Ino, const std::string&) { return Erofs(); }
Status ActivityBackend::RmDir(const Caller&, Ino, const std::string&) { return Erofs(); }
Status ActivityBackend::Rename(const Caller&, Ino, const std::string&, Ino, const std::string&, unsigned) {
  return Erofs();
}
Result<Backend::Created> ActivityBackend::Create(const Caller&, Ino, const std::string&, mode_t, int) {
  return Erofs();
}
void ActivityBackend::OnWrite(FileHandle&, uint64_t, uint64_t) {}
Status ActivityBackend::Fsync(FileHandle&, bool) { return Status::Ok(); }
Status ActivityBackend::Fallocate(FileHandle&, int, off_t, off_t) { return Erofs(); }
Status ActivityBackend::FsyncDir(Ino) { return Status::Ok(); }
Status ActivityBackend::SetXattr(const Caller&, Ino, const std::string&, std::string_view, int) {
  return Erofs();
}
Status ActivityBackend::RemoveXattr(const Caller&, Ino, const std::string&) { return Erofs(); }

}  // namespace nexus::ops
