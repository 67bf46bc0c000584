#include "forks/fork_registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "base/layout.h"
#include "base/mutex.h"
#include "base/ns_path.h"
#include "base/sqlite_db.h"
#include "forks/folder_copy.h"
#include "forks/forks_dir.h"

namespace nexus::forks {
namespace {

constexpr int kSchemaVersion = 1;
constexpr size_t kBackendIds = size_t{1} << 16;
// A chain longer than this is a cycle in a damaged tree, not a real depth.
constexpr size_t kMaxChain = 1 << 16;
constexpr std::string_view kForksDir = "/forks";

// One row per fork not yet collected. `source` is how it reads its fork
// point: "root" (the native tree), "fork" (the fork whose row id is
// source_fork) or "copy" (its own copy in <n>/point, backend point_id);
// source_ino is the directory it starts from in that source.
constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS forks (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  base TEXT NOT NULL,
  parent_fork TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  pin TEXT NOT NULL,
  state TEXT NOT NULL,
  backend_id INTEGER NOT NULL,
  source TEXT NOT NULL,
  source_fork INTEGER NOT NULL DEFAULT 0,
  source_ino INTEGER NOT NULL,
  point_id INTEGER NOT NULL DEFAULT 0,
  point_bytes INTEGER NOT NULL DEFAULT 0,
  own_bytes INTEGER NOT NULL DEFAULT 0,
  merges INTEGER NOT NULL DEFAULT 0,
  last_merge_ns INTEGER NOT NULL DEFAULT 0,
  discarded_ns INTEGER NOT NULL DEFAULT 0
);
)";

std::string SubjectOf(const Caller& caller) {
  return caller.principal ? caller.principal->subject : UidSubject(caller.uid);
}

// Bytes a directory holds on disk (allocated blocks), for gc's report.
uint64_t DiskBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) total += uint64_t(st.st_blocks) * 512;
  }
  return total;
}

// The row number a directory of DATA/forks is named by, if it is one.
std::optional<int64_t> DirNumber(const std::string& name) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
  if (ec != std::errc() || p != name.data() + name.size() || n <= 0) return std::nullopt;
  return n;
}

}  // namespace

struct Fork {
  int64_t id = 0;  // row id; data dir DATA/forks/<id>
  ForkInfo info;
  std::string source;  // "root", "fork", "copy"
  int64_t source_fork = 0;
  Ino source_ino = 0;
  uint16_t point_id = 0;
  uint64_t point_bytes = 0;
  NativeBackend* tree = nullptr;   // owned by Impl::backends
  NativeBackend* point = nullptr;  // "copy" only
  uint16_t source_backend = 0;     // the backend id it reads from (watch key)
};

// The forks of one source backend, replaced whole when one is added or
// removed, so BeforeChange uses a copy without a lock.
struct Watch {
  ForkSource* source = nullptr;
  std::vector<NativeBackend*> forks;
};

struct ForkRegistry::Impl final : public ForksDir::Source {
  Options options;
  std::string data_dir;
  std::unique_ptr<SqliteDb> db;  // ops_mu
  std::unique_ptr<ForksDir> dir;

  Mutex ops_mu;  // Create, Discard, Gc, NoteMerged
  mutable Mutex mu;
  std::vector<std::shared_ptr<Fork>> forks GUARDED_BY(mu);  // creation order
  // Every backend ever opened, in opening order (sources before their
  // forks); destroyed in reverse when the registry goes.
  std::vector<std::unique_ptr<NativeBackend>> backends GUARDED_BY(mu);
  int64_t next_row GUARDED_BY(ops_mu) = 1;
  uint32_t next_backend GUARDED_BY(ops_mu) = 0;

  mutable SharedMutex watch_mu;
  std::unordered_map<uint16_t, std::shared_ptr<const Watch>> watches GUARDED_BY(watch_mu);
  std::unique_ptr<std::atomic<uint32_t>[]> watched { new std::atomic<uint32_t>[ kBackendIds ] };

  Impl() {
    for (size_t i = 0; i < kBackendIds; ++i) watched[i].store(0, std::memory_order_relaxed);
  }
  ~Impl() override {
    MutexLock lk(mu);
    forks.clear();
    while (!backends.empty()) backends.pop_back();
  }

  std::string DirOf(int64_t id) const { return data_dir + "/" + std::to_string(id); }

  // ForksDir::Source.
  std::vector<ForksDir::Source::Entry> ActiveForks() const override {
    MutexLock lk(mu);
    std::vector<Entry> out;
    for (const auto& f : forks)
      if (f->info.state == "active") out.push_back({f->info.name, f->tree});
    return out;
  }
  Backend* FindActive(std::string_view name) const override {
    MutexLock lk(mu);
    for (const auto& f : forks)
      if (f->info.state == "active" && f->info.name == name) return f->tree;
    return nullptr;
  }

  std::shared_ptr<Fork> Active(std::string_view name) const REQUIRES(mu) {
    for (const auto& f : forks)
      if (f->info.state == "active" && f->info.name == name) return f;
    return nullptr;
  }

  // What Info reports of `f`, read under mu; Info completes it outside.
  struct Listed {
    ForkInfo info;
    std::shared_ptr<const Fork> fork;
  };
  Listed ListedOf(const std::shared_ptr<Fork>& f) const REQUIRES(mu) { return {f->info, f}; }
  // Own bytes of an active fork are measured now (outside mu: the fork
  // takes its own lock).
  static ForkInfo Info(Listed l) {
    if (l.info.state == "active") l.info.own_bytes = l.fork->tree->OwnBytes() + l.fork->point_bytes;
    return std::move(l.info);
  }

  void AddWatch(uint16_t source_id, ForkSource* source, NativeBackend* fork) {
    WriterLock lk(watch_mu);
    auto next = std::make_shared<Watch>();
    if (auto it = watches.find(source_id); it != watches.end()) *next = *it->second;
    next->source = source;
    next->forks.push_back(fork);
    watches[source_id] = std::move(next);
    watched[source_id].fetch_add(1, std::memory_order_acq_rel);
  }
  void RemoveWatch(uint16_t source_id, NativeBackend* fork) {
    WriterLock lk(watch_mu);
    auto it = watches.find(source_id);
    if (it == watches.end()) return;
    auto next = std::make_shared<Watch>(*it->second);
    if (std::erase(next->forks, fork) == 0) return;
    watched[source_id].fetch_sub(1, std::memory_order_acq_rel);
    if (next->forks.empty())
      watches.erase(it);
    else
      it->second = std::move(next);
  }

  // The inode about to change and its ancestors up to the source's root.
  static std::vector<Ino> ChainOf(ForkSource& source, Ino ino) {
    std::vector<Ino> chain;
    for (Ino i = ino; i != 0 && chain.size() < kMaxChain; i = source.ParentOf(i)) chain.push_back(i);
    return chain;
  }

  Result<uint16_t> AllocateBackendId() REQUIRES(ops_mu) {
    std::set<uint16_t> used;
    {
      MutexLock lk(mu);
      for (const auto& b : backends) used.insert(b->id());
    }
    const uint32_t first = options.first_backend_id;
    const uint32_t span = kBackendIds - first;
    for (uint32_t k = 0; k < span; ++k) {
      const uint32_t id = first + (next_backend - first + k) % span;
      if (id == options.forks_dir_id || used.count(id)) continue;
      next_backend = id + 1 < kBackendIds ? id + 1 : first;
      return static_cast<uint16_t>(id);
    }
    return Status::Error(ENOSPC, "no backend id left for another fork");
  }

  NativeBackend::Options BackendOptions(uid_t uid, gid_t gid, mode_t mode) const {
    NativeBackend::Options o;
    o.commit_interval_ms = options.commit_interval_ms;
    o.root_uid = uid;
    o.root_gid = gid;
    o.root_mode = mode;
    return o;
  }

  // Makes DATA/forks/<n>; for a copy fork, also opens its copy (<n>/point),
  // which then becomes the fork's source.
  Status OpenPoint(Fork& f, uid_t uid, gid_t gid, mode_t mode) REQUIRES(ops_mu) {
    const std::string dir = DirOf(f.id);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
    if (f.source != "copy") return Status::Ok();
    const std::string point = dir + "/point";
    if (::mkdir(point.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + point);
    NativeBackend::Options o = BackendOptions(uid, gid, mode);
    o.data_dir = point;
    o.backend_id = f.point_id;
    o.mount_path = f.info.base;
    NEXUS_ASSIGN_OR_RETURN(auto opened, NativeBackend::Open(o));
    f.point = opened.get();
    f.source_ino = f.point->root();
    MutexLock lk(mu);
    backends.push_back(std::move(opened));
    return Status::Ok();
  }

  // Opens fork `f`'s tree over `source` (backend `source_id`; for a copy
  // fork, its copy); the caller then watches that source (a copy never
  // changes: nothing to watch).
  Status OpenTree(Fork& f, ForkSource* source, uint16_t source_id, uid_t uid, gid_t gid, mode_t mode)
      REQUIRES(ops_mu) {
    if (f.source == "copy") {
      source = f.point;
      source_id = f.point_id;
    }
    NativeBackend::Options o = BackendOptions(uid, gid, mode);
    o.data_dir = DirOf(f.id);
    o.backend_id = f.info.backend_id;
    o.sink = options.sink;
    o.mount_path = f.info.path;
    o.lower = source;
    o.lower_root = f.source_ino;
    NEXUS_ASSIGN_OR_RETURN(auto opened, NativeBackend::Open(o));
    f.tree = opened.get();
    f.source_backend = source_id;
    {
      MutexLock lk(mu);
      backends.push_back(std::move(opened));
    }
    return Status::Ok();
  }

  Status Insert(const Fork& f) REQUIRES(ops_mu) {
    auto st = db->Prepare(
        "INSERT INTO forks (id, name, base, parent_fork, owner, created_by, created_ns, pin, state, "
        "backend_id, source, source_fork, source_ino, point_id, point_bytes) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    st.Bind(f.id)
        .Bind(f.info.name)
        .Bind(f.info.base)
        .Bind(f.info.parent_fork)
        .Bind(f.info.owner)
        .Bind(f.info.created_by)
        .Bind(f.info.created_ns)
        .Bind(f.info.pin)
        .Bind(f.info.state)
        .Bind(f.info.backend_id)
        .Bind(f.source)
        .Bind(f.source_fork)
        .Bind(static_cast<int64_t>(f.source_ino))
        .Bind(f.point_id)
        .Bind(static_cast<int64_t>(f.point_bytes));
    return st.Run("insert fork");
  }

  void Invalidate(const std::string& name) {
    dir->Touch();
    if (options.invalidate_entry) options.invalidate_entry(dir->root(), name);
  }

  Status Load() REQUIRES(ops_mu);
};

Status ForkRegistry::Impl::Load() {
  {
    auto v = db->Prepare("PRAGMA user_version");
    NEXUS_ASSIGN_OR_RETURN(bool row, v.Step());
    const int64_t version = row ? v.Int(0) : 0;
    if (version > kSchemaVersion)
      return Status::Error(EINVAL, "forks database: schema version " + std::to_string(version) +
                                       " is newer than this nexusd's (" + std::to_string(kSchemaVersion) +
                                       ")");
    if (version < kSchemaVersion) NEXUS_RETURN_IF_ERROR(db->Exec("PRAGMA user_version = 1"));
  }
  std::vector<std::shared_ptr<Fork>> rows;
  auto q = db->Prepare(
      "SELECT id, name, base, parent_fork, owner, created_by, created_ns, pin, state, backend_id, source, "
      "source_fork, source_ino, point_id, point_bytes, own_bytes, merges, last_merge_ns FROM forks ORDER BY "
      "id");
  while (q.Next()) {
    auto f = std::make_shared<Fork>();
    f->id = q.Int(0);
    f->info.name = q.Text(1);
    f->info.path = PathJoin(kForksDir, f->info.name);
    f->info.base = q.Text(2);
    f->info.parent_fork = q.Text(3);
    f->info.owner = q.Text(4);
    f->info.created_by = q.Text(5);
    f->info.created_ns = q.Int(6);
    f->info.pin = q.Text(7);
    f->info.state = q.Text(8);
    f->info.backend_id = static_cast<uint16_t>(q.Int(9));
    f->source = q.Text(10);
    f->source_fork = q.Int(11);
    f->source_ino = static_cast<Ino>(q.Int(12));
    f->point_id = static_cast<uint16_t>(q.Int(13));
    f->point_bytes = static_cast<uint64_t>(q.Int(14));
    f->info.own_bytes = static_cast<uint64_t>(q.Int(15));
    f->info.merges = static_cast<uint32_t>(q.Int(16));
    f->info.last_merge_ns = q.Int(17);
    rows.push_back(std::move(f));
  }
  NEXUS_RETURN_IF_ERROR(q.status());
  uint32_t max_backend = 0;
  for (const auto& f : rows) {
    next_row = std::max(next_row, f->id + 1);
    max_backend = std::max<uint32_t>(max_backend, std::max(f->info.backend_id, f->point_id));
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir, ec))
    if (auto n = DirNumber(e.path().filename().string())) next_row = std::max(next_row, *n + 1);
  next_backend = std::max<uint32_t>(options.first_backend_id, max_backend + 1);
  if (next_backend >= kBackendIds) next_backend = options.first_backend_id;

  // Sources come first: a fork's row id is larger than its source's.
  std::unordered_map<int64_t, Fork*> opened;
  for (const auto& f : rows) {
    if (f->info.state == "active") {
      ForkSource* source = nullptr;
      uint16_t source_id = 0;
      if (f->source == "root") {
        source = options.root_tree;
        source_id = options.root_tree->id();
      } else if (f->source == "fork") {
        auto it = opened.find(f->source_fork);
        if (it == opened.end())
          return Status::Error(EIO, "fork " + f->info.name + ": its source fork (#" +
                                        std::to_string(f->source_fork) + ") is gone");
        source = it->second->tree;
        source_id = it->second->tree->id();
      } else if (f->source != "copy") {
        return Status::Error(EIO, "fork " + f->info.name + ": unknown source '" + f->source + "'");
      }
      Status st = OpenPoint(*f, 0, 0, 0755);
      if (st.ok()) st = OpenTree(*f, source, source_id, 0, 0, 0755);
      if (!st.ok()) return Status::Error(st.code(), "reopening fork " + f->info.name + ": " + st.message());
      if (f->source != "copy") AddWatch(f->source_backend, source, f->tree);
      NEXUS_RETURN_IF_ERROR(options.ns->AttachBackend(f->tree));
      opened[f->id] = f.get();
    }
    MutexLock lk(mu);
    forks.push_back(f);
  }
  return Status::Ok();
}

ForkRegistry::ForkRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ForkRegistry::~ForkRegistry() = default;

Result<std::unique_ptr<ForkRegistry>> ForkRegistry::Open(const Options& options) {
  if (!options.ns || !options.root_tree)
    return Status::Error(EINVAL, "fork registry: a namespace and the native tree are required");
  if (options.first_backend_id <= options.forks_dir_id || options.first_backend_id == 0)
    return Status::Error(EINVAL, "fork registry: fork backend ids must start above the /forks directory's");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->data_dir = options.data_dir;
  std::error_code ec;
  std::filesystem::create_directories(impl->data_dir, ec);
  if (ec) return Status::Error(ec.value(), "mkdir " + impl->data_dir + ": " + ec.message());
  SqliteOptions so;
  so.what = "forks database";
  so.synchronous = SqliteOptions::Sync::kFull;
  so.schema = kSchema;
  NEXUS_ASSIGN_OR_RETURN(impl->db, SqliteDb::Open(impl->data_dir + "/forks.db", so));
  impl->dir = std::make_unique<ForksDir>(options.forks_dir_id, impl.get(), options.ns);
  Status st;
  {
    MutexLock lk(impl->ops_mu);
    st = impl->Load();
  }
  if (st.ok()) st = options.ns->AddMount(kRootIno, std::string(layout::kForksName), impl->dir.get());
  if (!st.ok()) {  // the backends go with impl: nothing may route to them
    MutexLock lk(impl->mu);
    for (const auto& b : impl->backends) options.ns->DetachBackend(b->id());
    return st;
  }
  return std::unique_ptr<ForkRegistry>(new ForkRegistry(std::move(impl)));
}

Result<ForkInfo> ForkRegistry::Create(const Caller& caller, const std::string& name, const std::string& from,
                                      const std::string& owner) {
  Impl& m = *impl_;
  if (Status st = layout::ValidateZoneName(name); !st.ok())
    return Status::Error(EINVAL, "fork name '" + name + "': " + st.message());
  NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(from));
  const NsPath forks_dir = NsPath::FromValidComponents({std::string(layout::kForksName)});
  const NsPath agents_dir = NsPath::FromValidComponents({std::string(layout::kAgentsName)});
  if (layout::IsSystemPath(path.str()) || path.IsUnder(agents_dir) || path == forks_dir)
    return Status::Error(EINVAL, "cannot fork " + path.str() +
                                     ": /.nexus, /agents and /forks itself are nexusd's (a folder inside a "
                                     "fork can be forked)");
  MutexLock ops(m.ops_mu);
  {
    MutexLock lk(m.mu);
    if (m.Active(name)) return Status::Error(EEXIST, "a fork named '" + name + "' exists");
  }
  // Pinned while the fork is made: the workspace forgets an unreferenced
  // inode number.
  NEXUS_ASSIGN_OR_RETURN(Attr attr, m.options.ns->ResolvePinned(caller, path.str()));
  struct Unpin {
    Namespace* ns;
    Ino ino;
    ~Unpin() {
      if (ino != kRootIno) ns->Forget(ino, 1);
    }
  } unpin{m.options.ns, attr.ino};
  if (!attr.IsDir()) return Status::Error(ENOTDIR, path.str() + " is not a directory");

  auto f = std::make_shared<Fork>();
  f->info.name = name;
  f->info.path = PathJoin(kForksDir, name);
  f->info.base = path.str();
  f->info.created_by = SubjectOf(caller);
  f->info.owner = owner.empty() ? f->info.created_by : owner;
  f->info.created_ns = DefaultClock().Now();
  f->info.state = "active";
  ForkSource* source = nullptr;
  const uint16_t from_id = BackendOf(attr.ino);
  std::shared_ptr<Fork> parent;
  if (from_id == m.options.root_tree->id()) {
    f->source = "root";
    source = m.options.root_tree;
  } else if (m.options.workspace && from_id == m.options.workspace->id()) {
    f->source = "copy";
  } else {
    MutexLock lk(m.mu);
    for (const auto& g : m.forks)
      if (g->info.state == "active" && g->tree->id() == from_id) parent = g;
    if (!parent)
      return Status::Error(EINVAL, "cannot fork " + path.str() +
                                       ": only folders of the tree, of "
                                       "the workspace and of forks can be forked");
    f->source = "fork";
    f->source_fork = parent->id;
    f->info.parent_fork = parent->info.name;
    source = parent->tree;
  }
  f->info.pin = f->source == "copy" ? "copy" : "live";
  f->source_ino = attr.ino;
  f->id = m.next_row++;
  NEXUS_ASSIGN_OR_RETURN(f->info.backend_id, m.AllocateBackendId());
  if (f->source == "copy") {
    NEXUS_ASSIGN_OR_RETURN(f->point_id, m.AllocateBackendId());
  }

  // From here on a failure leaves DATA/forks/<n> without a row (gc removes
  // it) and the backend objects alive (a call may have reached them).
  const uid_t uid = attr.uid;
  const gid_t gid = attr.gid;
  const mode_t mode = attr.mode & 07777;
  NEXUS_RETURN_IF_ERROR(m.OpenPoint(*f, uid, gid, mode));
  if (f->source == "copy") {
    auto copied = CopyFolder(*m.options.workspace, attr.ino, *f->point, f->point->root());
    if (!copied.ok())
      return Status::Error(copied.code(), "copying " + path.str() + ": " + copied.status().message());
    f->point_bytes = copied->bytes;
    NEXUS_RETURN_IF_ERROR(f->point->Sync());
  }
  NEXUS_RETURN_IF_ERROR(m.OpenTree(*f, source, from_id, uid, gid, mode));
  bool attached = false;
  auto fail = [&](Status st) {
    if (attached) m.options.ns->DetachBackend(f->tree->id());
    if (f->source != "copy") m.RemoveWatch(f->source_backend, f->tree);
    return st;
  };
  if (f->source != "copy") {
    // The fork point is the moment the fork is watched, with no change
    // half done: every change is then either wholly before it or reaches
    // the hook. Files open for writing now change without another call to
    // the hook: the fork keeps their content as it is now.
    Status st = m.options.ns->HoldChanges([&] {
      m.AddWatch(f->source_backend, source, f->tree);
      for (Ino ino : source->OpenForWriting(attr.ino))
        NEXUS_RETURN_IF_ERROR(f->tree->PreserveBefore(PreChange::kContent, Impl::ChainOf(*source, ino), {}));
      return Status::Ok();
    });
    if (!st.ok()) return fail(st);
  }
  if (Status st = f->tree->Sync(); !st.ok()) return fail(st);
  if (Status st = m.options.ns->AttachBackend(f->tree); !st.ok()) return fail(st);
  attached = true;
  if (Status st = m.Insert(*f); !st.ok()) return fail(st);
  {
    MutexLock lk(m.mu);
    m.forks.push_back(f);
  }
  m.Invalidate(name);
  spdlog::info("fork {} of {} created by {} ({}, backend {})", name, f->info.base, f->info.created_by,
               f->info.pin, f->info.backend_id);
  return Impl::Info({f->info, f});
}

std::vector<ForkInfo> ForkRegistry::List() const {
  std::vector<Impl::Listed> listed;
  {
    MutexLock lk(impl_->mu);
    for (const auto& f : impl_->forks) listed.push_back(impl_->ListedOf(f));
  }
  std::vector<ForkInfo> out;
  out.reserve(listed.size());
  for (auto& l : listed) out.push_back(Impl::Info(std::move(l)));
  return out;
}

Result<ForkInfo> ForkRegistry::Get(const std::string& name) const {
  Impl::Listed listed;
  {
    MutexLock lk(impl_->mu);
    std::shared_ptr<Fork> found = impl_->Active(name);
    if (!found)
      for (const auto& f : impl_->forks)
        if (f->info.name == name) found = f;
    if (!found) return Status::Error(ENOENT, "no fork named '" + name + "'");
    listed = impl_->ListedOf(found);
  }
  return Impl::Info(std::move(listed));
}

Result<NativeBackend*> ForkRegistry::Tree(const std::string& name) {
  MutexLock lk(impl_->mu);
  auto f = impl_->Active(name);
  if (!f) return Status::Error(ENOENT, "no active fork named '" + name + "'");
  return f->tree;
}

Status ForkRegistry::Discard(const std::string& name) {
  Impl& m = *impl_;
  MutexLock ops(m.ops_mu);
  std::shared_ptr<Fork> f;
  {
    MutexLock lk(m.mu);
    f = m.Active(name);
    if (!f) return Status::Error(ENOENT, "no active fork named '" + name + "'");
    for (const auto& g : m.forks)
      if (g->info.state == "active" && g->source == "fork" && g->source_fork == f->id)
        return Status::Error(EBUSY,
                             "fork " + g->info.name + " is made from fork " + name + ": discard it first");
  }
  const uint64_t own = f->tree->OwnBytes() + f->point_bytes;
  const int64_t now = DefaultClock().Now();
  auto st =
      m.db->Prepare("UPDATE forks SET state = 'discarded', own_bytes = ?, discarded_ns = ? WHERE id = ?");
  st.Bind(static_cast<int64_t>(own)).Bind(now).Bind(f->id);
  NEXUS_RETURN_IF_ERROR(st.Run("discard fork"));
  m.options.ns->DetachBackend(f->tree->id());
  if (f->source != "copy") m.RemoveWatch(f->source_backend, f->tree);
  {
    MutexLock lk(m.mu);
    f->info.state = "discarded";
    f->info.own_bytes = own;
  }
  m.Invalidate(name);
  spdlog::info("fork {} discarded", name);
  return Status::Ok();
}

Result<ForkRegistry::GcReport> ForkRegistry::Gc() {
  Impl& m = *impl_;
  MutexLock ops(m.ops_mu);
  std::vector<std::shared_ptr<Fork>> gone;
  std::set<int64_t> rows;
  {
    MutexLock lk(m.mu);
    for (const auto& f : m.forks) {
      rows.insert(f->id);
      if (f->info.state == "discarded") gone.push_back(f);
    }
  }
  GcReport report;
  auto remove = [&](const std::string& dir) -> Status {
    const uint64_t bytes = DiskBytes(dir);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) return Status::Error(ec.value(), "removing " + dir + ": " + ec.message());
    report.freed_bytes += bytes;
    ++report.removed;
    return Status::Ok();
  };
  for (const auto& f : gone) {
    auto st = m.db->Prepare("DELETE FROM forks WHERE id = ?");
    st.Bind(f->id);
    NEXUS_RETURN_IF_ERROR(st.Run("collect fork"));
    {
      MutexLock lk(m.mu);
      std::erase(m.forks, f);
    }
    NEXUS_RETURN_IF_ERROR(remove(m.DirOf(f->id)));
  }
  // A creation a crash (or an error) cut short left a data dir without a row.
  std::error_code ec;
  std::vector<std::string> orphans;
  for (const auto& e : std::filesystem::directory_iterator(m.data_dir, ec)) {
    auto n = DirNumber(e.path().filename().string());
    if (n && !rows.count(*n) && e.is_directory()) orphans.push_back(e.path().string());
  }
  for (const auto& dir : orphans) NEXUS_RETURN_IF_ERROR(remove(dir));
  if (report.removed) spdlog::info("fork gc: {} removed, {} bytes freed", report.removed, report.freed_bytes);
  return report;
}

Backend* ForkRegistry::forks_dir() { return impl_->dir.get(); }
Namespace* ForkRegistry::ns() const { return impl_->options.ns; }
const std::string& ForkRegistry::data_dir() const { return impl_->data_dir; }

Status ForkRegistry::NoteMerged(const std::string& name, int64_t time_ns) {
  Impl& m = *impl_;
  MutexLock ops(m.ops_mu);
  std::shared_ptr<Fork> f;
  {
    MutexLock lk(m.mu);
    f = m.Active(name);
  }
  if (!f) return Status::Error(ENOENT, "no active fork named '" + name + "'");
  auto st = m.db->Prepare("UPDATE forks SET merges = merges + 1, last_merge_ns = ? WHERE id = ?");
  st.Bind(time_ns).Bind(f->id);
  NEXUS_RETURN_IF_ERROR(st.Run("note merge"));
  MutexLock lk(m.mu);
  ++f->info.merges;
  f->info.last_merge_ns = time_ns;
  return Status::Ok();
}

bool ForkRegistry::Watched(uint16_t backend_id) const {
  return impl_->watched[backend_id].load(std::memory_order_acquire) != 0;
}

Status ForkRegistry::BeforeChange(Backend& backend, PreChange kind, Ino ino, std::string_view name) {
  std::shared_ptr<const Watch> w;
  {
    ReaderLock lk(impl_->watch_mu);
    auto it = impl_->watches.find(backend.id());
    if (it == impl_->watches.end()) return Status::Ok();
    w = it->second;
  }
  const std::vector<Ino> chain = Impl::ChainOf(*w->source, ino);
  for (NativeBackend* fork : w->forks) NEXUS_RETURN_IF_ERROR(fork->PreserveBefore(kind, chain, name));
  return Status::Ok();
}

}  // namespace nexus::forks
