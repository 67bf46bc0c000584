#include "fs/versions/recorder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>
#include <unordered_set>

#include "base/layout.h"
#include "base/ns_path.h"
#include "base/thread_priority.h"

namespace nexus::versions {
namespace {

constexpr int kCaptureAttempts = 3;
constexpr size_t kMaxRemembered = 1 << 20;  // entries of last_

bool Excluded(const std::string& path) { return IsExcludedPath(path); }

// The inode at a namespace path, resolved as root and pinned (one lookup
// reference, see Namespace::ResolvePinned) until destruction.
class Pinned {
 public:
  Pinned(Namespace* ns, const std::string& path) : ns_(ns), attr(ns->ResolvePinned(Caller{}, path)) {}
  ~Pinned() {
    if (attr.ok() && attr->ino != kRootIno) ns_->Forget(attr->ino, 1);
  }
  Pinned(const Pinned&) = delete;
  Pinned& operator=(const Pinned&) = delete;

 private:
  Namespace* ns_;

 public:
  const Result<Attr> attr;
};

}  // namespace

// Paths that are never versioned: the history tree itself, and anything in a
// git repository's own .git directory (a workspace checkout keeps its history
// there already; versioning its object files would double every commit).
bool IsExcludedPath(const std::string& path) {
  if (layout::IsSystemPath(path)) return true;
  if (size_t slash = path.rfind('/');
      slash != std::string::npos &&
      std::string_view(path).substr(slash + 1).starts_with(layout::kMergeTempPrefix))
    return true;
  size_t pos = path.find("/.git");
  while (pos != std::string::npos) {
    size_t end = pos + 5;
    if (end == path.size() || path[end] == '/') return true;
    pos = path.find("/.git", end);
  }
  return false;
}

Recorder::Recorder(Options options) : options_(std::move(options)) {}

Recorder::~Recorder() { Stop(); }

void Recorder::Stop() {
  {
    MutexLock lk(mu_);
    if (stop_ && !worker_.joinable()) return;
    stop_ = true;
  }
  stopping_.store(true, std::memory_order_relaxed);
  options_.store->CancelCaptures();
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  options_.store->ResumeCaptures();  // the store may outlive this recorder
}

void Recorder::Start(bool reconcile) {
  {
    MutexLock lk(mu_);
    running_ = true;
    if (reconcile) ++queued_seq_;  // Drain waits for the reconcile too
  }
  worker_ = std::thread([this, reconcile] { Run(reconcile); });
}

void Recorder::OnChange(const ChangeEvent& ev) {
  if (ev.path.empty()) return;
  // A name moved into sight (out of a .git directory, a merge's temporary
  // file) is captured where it lands (Apply); other excluded paths are not.
  const bool into_sight =
      ev.kind == ChangeEvent::Kind::kRenamed && !ev.new_path.empty() && !Excluded(ev.new_path);
  if (Excluded(ev.path) && !into_sight) return;
  Item item;
  item.path = ev.path;
  switch (ev.kind) {
    case ChangeEvent::Kind::kContentClosed:
    case ChangeEvent::Kind::kContentSynced:
      item.op = Item::Op::kCapture;
      item.ino = ev.ino;
      item.gen = ev.details.content_gen;
      break;
    case ChangeEvent::Kind::kCreated:
      // A new file is captured at its last close; a new name for an existing
      // file (a hard link) has content now.
      item.op = Item::Op::kCaptureLink;
      break;
    case ChangeEvent::Kind::kAttrChanged:
      item.op = Item::Op::kCaptureIfChanged;
      break;
    case ChangeEvent::Kind::kRemoved:
      // A name replaced by a rename keeps its history: the kRenamed that
      // follows records the new content on the same file.
      if (ev.by_rename) return;
      item.op = Item::Op::kRemove;
      break;
    case ChangeEvent::Kind::kRenamed:
      if (ev.new_path.empty()) return;
      if (Excluded(ev.new_path)) {
        if (Excluded(ev.path)) return;
        item.op = Item::Op::kRemove;  // moved out of sight: its history ends here
        break;
      }
      item.op = Item::Op::kRename;
      item.new_path = ev.new_path;
      break;
  }
  // The bus read the process when the change was made; a sink that did not
  // leaves the command and agent/task unknown (the process may be gone now).
  item.who = MakeProvenance(ev.caller, ev.process ? *ev.process : ProcessInfo{});
  item.time_ns = ToNanos(ev.when);
  Push(std::move(item));
}

void Recorder::Push(Item item) {
  {
    MutexLock lk(mu_);
    if (item.op == Item::Op::kCapture || item.op == Item::Op::kCaptureIfChanged) {
      // A capture right behind a capture of the same path reads the same
      // file, unless the one queued is of a numbered close: that content
      // is a version of its own.
      if (!queue_.empty() && queue_.back().path == item.path && queue_.back().gen == 0 &&
          (queue_.back().op == Item::Op::kCapture || queue_.back().op == Item::Op::kCaptureIfChanged)) {
        // The capture reads the file as the later event left it.
        if (item.op == Item::Op::kCapture)
          queue_.back() = std::move(item);
        else
          queue_.back().time_ns = item.time_ns;
        return;
      }
    }
    if (queue_.size() >= options_.max_queue) {
      if (dropped_.fetch_add(1) == 0)
        spdlog::warn("version capture queue full ({} events): dropping; a reconcile catches up",
                     options_.max_queue);
      return;
    }
    if (item.op == Item::Op::kRename) ++queued_renames_;
    queue_.push_back(std::move(item));
    ++queued_seq_;
  }
  wake_.notify_one();
}

size_t Recorder::Pending() const {
  MutexLock lk(mu_);
  return queue_.size() + (busy_ ? 1 : 0);
}

void Recorder::Drain() {
  MutexLock lk(mu_);
  if (!running_) return;
  const uint64_t target = queued_seq_;
  lk.Wait(done_, [&]() REQUIRES(mu_) { return applied_seq_ >= target || !running_; });
}

Status Recorder::Flush() {
  Drain();
  return options_.store->Flush();
}

void Recorder::Run(bool reconcile) {
  LowerThreadPriority();
  if (reconcile) {
    {
      MutexLock lk(mu_);
      busy_ = true;
    }
    ReconcileAll();
    MutexLock lk(mu_);
    busy_ = false;
    ++applied_seq_;
    done_.notify_all();
  }
  MutexLock lk(mu_);
  for (;;) {
    lk.Wait(wake_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, nothing left
    if (stop_) {
      // Shutting down: what is queued is left to the next start's
      // reconcile (it compares every file with its latest version).
      spdlog::info("versions: {} queued changes left for the next start's reconcile", queue_.size());
      queue_.clear();
      queued_renames_ = 0;
      break;
    }
    std::deque<Item> batch;
    batch.swap(queue_);
    batch_renames_ = queued_renames_;
    queued_renames_ = 0;
    busy_ = true;
    lk.Unlock();
    const std::vector<Item> items(std::make_move_iterator(batch.begin()),
                                  std::make_move_iterator(batch.end()));
    for (size_t i = 0; i < items.size(); ++i) {
      if (stopping_.load(std::memory_order_relaxed)) break;
      if (items[i].op == Item::Op::kRename) --batch_renames_;
      Apply(items[i], std::span<const Item>(items).subspan(i + 1));
    }
    bool catch_up = dropped_.exchange(0) != 0;
    if (catch_up) ReconcileAll();
    lk.Lock();
    busy_ = false;
    applied_seq_ += batch.size();
    done_.notify_all();
  }
  applied_seq_ = queued_seq_;
  running_ = false;
  done_.notify_all();
}

void Recorder::Report(Applied applied) {
  if (!options_.on_applied) return;
  if (applied.time_ns == 0) applied.time_ns = applying_time_ns_;
  if (applied.time_ns == 0) applied.time_ns = ToNanos(NowTimespec());
  auto seq = options_.store->LastSeq();
  applied.journal_seq = seq.ok() ? *seq : 0;
  options_.on_applied(applied);
}

std::string Recorder::RenamedBy(std::string path, std::span<const Item> later) {
  auto follow = [&path](const Item& it) {
    if (it.op == Item::Op::kRename && it.path == path) path = it.new_path;
  };
  if (batch_renames_ > 0)
    for (const Item& it : later) follow(it);
  MutexLock lk(mu_);
  if (queued_renames_ > 0)
    for (const Item& it : queue_) follow(it);
  return path;
}

void Recorder::Apply(const Item& item, std::span<const Item> later) {
  VersionStore* store = options_.store;
  applying_time_ns_ = item.time_ns;
  switch (item.op) {
    case Item::Op::kCapture:
    case Item::Op::kCaptureIfChanged:
      if (item.gen != 0) {
        // A new file closed and then renamed (a temporary file saved over
        // another, `sed -i`, an editor's atomic save): its content is a
        // version of where it went, as if captured after the rename, so the
        // history and the operations log read create, rename, write.
        std::string path = item.path;
        if (std::string to = RenamedBy(path, later); to != path && !Excluded(to)) {
          ZonePath zp = SplitNamespacePath(path);
          auto n = zp.path.empty() ? Result<uint32_t>(0u) : store->LatestNumber(zp.zone, zp.path, true);
          if (n.ok() && *n == 0) path = std::move(to);
        }
        if (CaptureClosed(path, item.who, item.ino, item.gen)) return;
      }
      CaptureNs(item.path, item.who, item.op == Item::Op::kCaptureIfChanged);
      return;
    case Item::Op::kCaptureLink: {
      Pinned pinned(options_.ns, item.path);
      const auto& attr = pinned.attr;
      if (attr.ok() && attr->IsReg() && attr->nlink > 1) CaptureNs(item.path, item.who, false);
      return;
    }
    case Item::Op::kRemove: {
      ZonePath zp = SplitNamespacePath(item.path);
      if (zp.path.empty()) return;
      last_.erase(item.path);
      uint32_t before = 0;
      if (options_.on_applied) {
        auto n = store->LatestNumber(zp.zone, zp.path);
        before = n.ok() ? *n : 0;
      }
      Status st = store->Remove(zp.zone, zp.path, item.who);
      if (st.ok()) {
        Applied a;
        a.op = Applied::Op::kRemove;
        a.path = item.path;
        a.version_before = before;
        a.who = item.who;
        Report(std::move(a));
      }
      if (!st.ok() && st.code() != ENOENT)
        spdlog::warn("versions: recording removal of {}: {}", item.path, st.ToString());
      return;
    }
    case Item::Op::kRename: {
      ZonePath from = SplitNamespacePath(item.path);
      ZonePath to = SplitNamespacePath(item.new_path);
      last_.erase(item.path);
      last_.erase(item.new_path);
      if (Excluded(item.path)) {
        CaptureTree(item.new_path, item.who);  // came into sight
        return;
      }
      if (from.zone == to.zone && !from.path.empty() && !to.path.empty()) {
        Status st = store->Rename(from.zone, from.path, to.path, item.who);
        if (st.ok()) {
          Applied a;
          a.op = Applied::Op::kRename;
          a.path = item.new_path;
          a.old_path = item.path;
          a.who = item.who;
          Report(std::move(a));
          // The history moved with the last content recorded for the source;
          // the file may have changed since (its close not yet captured):
          // record what it holds now (nothing when it is the same).
          Pinned pinned(options_.ns, item.new_path);
          const auto& attr = pinned.attr;
          if (attr.ok() && attr->IsReg()) CaptureNs(item.new_path, item.who, false);
          return;
        }
        if (st.code() != ENOENT)
          spdlog::warn("versions: recording rename {} -> {}: {}", item.path, item.new_path, st.ToString());
        // Never versioned (or the rename failed): record the target as it is.
      } else if (!from.path.empty()) {
        Status st = store->Remove(from.zone, from.path, item.who);
        if (st.ok()) {
          Applied a;
          a.op = Applied::Op::kRemove;
          a.path = item.path;
          a.who = item.who;
          Report(std::move(a));
        }
        if (!st.ok() && st.code() != ENOENT)
          spdlog::warn("versions: recording removal of {}: {}", item.path, st.ToString());
      }
      CaptureTree(item.new_path, item.who);
      return;
    }
  }
}

void Recorder::CaptureNs(const std::string& ns_path, const Provenance& who, bool only_if_changed) {
  ZonePath zp = SplitNamespacePath(ns_path);
  if (zp.path.empty()) return;
  Namespace* ns = options_.ns;
  Pinned pinned(ns, ns_path);
  const auto& attr = pinned.attr;
  if (!attr.ok() || !attr->IsReg()) return;  // gone or not a file: a later event says what
  const bool exec = (attr->mode & 0111) != 0;
  if (only_if_changed) {
    auto it = last_.find(ns_path);
    if (it != last_.end() && it->second == std::make_pair(attr->size, exec)) return;
    // A file with no history yet is still being written (sed -i sets the
    // mode of its temporary file before filling it): its close records it.
    if (it == last_.end()) {
      auto n = options_.store->LatestNumber(zp.zone, zp.path);
      if (n.ok() && *n == 0) return;
    }
  }
  Caller root;
  Status last_error;
  for (int attempt = 0; attempt < kCaptureAttempts; ++attempt) {
    auto fh = ns->Open(root, attr->ino, O_RDONLY);
    if (!fh.ok()) {
      last_error = fh.status();
      break;
    }
    auto r = options_.store->Capture(zp.zone, zp.path, (*fh)->fd, who, attr->mode);
    ns->Release(std::move(fh).value());
    if (r.ok()) {
      auto now = ns->GetAttr(attr->ino);
      NoteCaptured(ns_path, *r, who, now.ok() ? now->size : attr->size, exec);
      return;
    }
    last_error = r.status();
    if (r.code() != EAGAIN) break;  // EAGAIN: written meanwhile; read it again
  }
  if (last_error.code() == ENOENT || last_error.code() == ECANCELED) return;
  failed_.fetch_add(1);
  spdlog::warn("versions: capturing {}: {}", ns_path, last_error.ToString());
}

bool Recorder::CaptureClosed(const std::string& ns_path, const Provenance& who, Ino ino, uint64_t gen) {
  ZonePath zp = SplitNamespacePath(ns_path);
  if (zp.path.empty()) return true;
  Namespace* ns = options_.ns;
  Status last_error;
  for (int attempt = 0; attempt < kCaptureAttempts; ++attempt) {
    auto content = ns->OpenClosed(ino, gen);
    if (!content.ok()) {
      if (attempt == 0) return false;  // not kept (any more): capture the file as it is
      last_error = content.status();
      break;
    }
    const int fd = content->fd;
    const bool live = content->live;
    struct stat st {};
    ::fstat(fd, &st);
    // Read from the file itself, the capture holds only if nothing changed
    // it meanwhile (the backend then kept the close's content: read again).
    auto r = options_.store->Capture(zp.zone, zp.path, fd, who, content->mode,
                                     [&] { return !live || ns->ClosedStillLive(ino, gen); });
    ::close(fd);
    if (r.ok()) {
      ns->ClosedCaptured(ino, gen);
      NoteCaptured(ns_path, *r, who, static_cast<uint64_t>(st.st_size), (content->mode & 0111) != 0);
      return true;
    }
    last_error = r.status();
    if (r.code() != EAGAIN) break;
  }
  ns->ClosedCaptured(ino, gen);
  if (last_error.code() == ECANCELED) return true;
  failed_.fetch_add(1);
  spdlog::warn("versions: capturing {} as closed: {}", ns_path, last_error.ToString());
  return true;
}

void Recorder::NoteCaptured(const std::string& ns_path, const CaptureResult& r, const Provenance& who,
                            uint64_t size, bool exec) {
  if (last_.size() >= kMaxRemembered) last_.clear();
  last_[ns_path] = {size, exec};
  captured_.fetch_add(1);
  if (!options_.on_applied) return;
  Applied a;
  a.op = Applied::Op::kCapture;
  a.path = ns_path;
  a.recorded = r.recorded;
  a.version_after = r.version;
  a.version_before = r.recorded && r.version > 0 ? r.version - 1 : r.version;
  a.who = who;
  Report(std::move(a));
}

void Recorder::CaptureTree(const std::string& ns_path, const Provenance& who) {
  Namespace* ns = options_.ns;
  std::vector<std::string> stack{ns_path};
  Caller root;
  while (!stack.empty()) {
    std::string path = std::move(stack.back());
    stack.pop_back();
    Pinned pinned(ns, path);
    const auto& attr = pinned.attr;
    if (!attr.ok()) continue;
    if (attr->IsReg()) {
      CaptureNs(path, who, false);
      continue;
    }
    if (!attr->IsDir()) continue;
    auto entries = ns->ReadDir(root, attr->ino);
    if (!entries.ok()) continue;
    for (const DirEntry& e : *entries) {
      if (e.name == "." || e.name == "..") continue;
      std::string child = PathJoin(path, e.name);
      if (!Excluded(child)) stack.push_back(std::move(child));
    }
  }
}

void Recorder::ReconcileAll() {
  const auto started = std::chrono::steady_clock::now();
  applying_time_ns_ = 0;  // captures found by the walk: reported at their capture time
  VersionStore* store = options_.store;
  Namespace* ns = options_.ns;
  Caller root;
  Provenance who;
  who.subject = "system:nexusd";
  who.command = "reconcile";

  // Latest versions of each zone, loaded when the walk first enters it.
  std::map<std::string, std::unordered_map<std::string, const Version*>> latest;
  std::map<std::string, std::vector<Version>> loaded;
  std::unordered_set<std::string> seen;  // "zone\0path" of live files met
  auto zone_table = [&](const std::string& zone) -> auto& {
    auto it = latest.find(zone);
    if (it != latest.end()) return it->second;
    auto& table = latest[zone];
    auto versions = store->LatestVersions(zone);
    if (versions.ok()) {
      loaded[zone] = std::move(versions).value();
      for (const Version& v : loaded[zone]) table[v.path] = &v;
    }
    return table;
  };

  uint64_t checked = 0, captured = 0, removed = 0;
  // Closes the last run kept and did not capture come first, in order (the
  // walk below then finds the files as they are now).
  for (const Backend::LeftClose& left : ns->ClosedLeftOver()) {
    if (Excluded(left.path)) {
      ns->ClosedCaptured(left.ino, left.gen);
      continue;
    }
    const uint64_t before = captured_.load();
    if (!CaptureClosed(left.path, who, left.ino, left.gen)) ns->ClosedCaptured(left.ino, left.gen);
    if (captured_.load() != before) ++captured;
  }
  std::vector<std::string> stack{"/"};
  while (!stack.empty()) {
    {
      MutexLock lk(mu_);
      if (stop_) return;
    }
    std::string path = std::move(stack.back());
    stack.pop_back();
    Pinned pinned(ns, path);
    const auto& attr = pinned.attr;
    if (!attr.ok()) continue;
    ZonePath zp = SplitNamespacePath(path);
    if (attr->IsDir()) {
      zone_table(zp.zone);  // a zone whose root we visit is reconciled
      auto entries = ns->ReadDir(root, attr->ino);
      if (!entries.ok()) continue;
      for (const DirEntry& e : *entries) {
        if (e.name == "." || e.name == "..") continue;
        std::string child = PathJoin(path, e.name);
        if (!Excluded(child)) stack.push_back(std::move(child));
      }
      continue;
    }
    if (!attr->IsReg() || zp.path.empty()) continue;
    ++checked;
    auto& table = zone_table(zp.zone);
    seen.insert(zp.zone + '\0' + zp.path);
    auto it = table.find(zp.path);
    const bool exec = (attr->mode & 0111) != 0;
    if (it != table.end()) {
      const Version& v = *it->second;
      const bool same_mode = (v.mode == kModeExecutable) == exec;
      if (v.size == attr->size && ToNanos(attr->mtime) <= v.time_ns && same_mode) {
        last_[path] = {attr->size, exec};
        continue;
      }
    }
    const uint64_t before = captured_.load();
    CaptureNs(path, who, false);
    if (captured_.load() != before) ++captured;
  }
  for (const auto& [zone, table] : latest) {
    for (const auto& [path, version] : table) {
      if (seen.count(zone + '\0' + path)) continue;
      Status st = store->Remove(zone, path, who);
      if (st.ok()) ++removed;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("versions: reconciled {} files in {:.2f} s ({} captured, {} marked deleted)", checked, secs,
               captured, removed);
}

}  // namespace nexus::versions
