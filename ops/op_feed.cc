#include "ops/op_feed.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "base/format.h"
#include "base/mutex.h"
#include "base/thread_priority.h"
#include "fs/types.h"
#include "fs/versions/change_log.h"
#include "fs/versions/provenance.h"
#include "fs/versions/recorder.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"
#include "ops/op_log.h"

namespace nexus::ops {
namespace {

constexpr char kJournalSeqKey[] = "journal_seq";
constexpr size_t kJournalPage = 4096;
constexpr size_t kMaxEventTimes = 1 << 16;
// How long the writer waits for more before it appends (group commit).
constexpr std::chrono::milliseconds kBatchWindow{3};

// An operation from the bus; an unlink's version before is looked up on
// the writer (the version store is not for the dispatcher thread).
struct Pending {
  Operation op;
  bool lookup_version_before = false;
};

void SetWho(Operation& op, const versions::Provenance& who) {
  op.subject = who.subject;
  op.uid = who.uid;
  op.pid = who.pid;
  op.command = who.command;
  op.agent_id = who.agent_id;
  op.task_id = who.task_id;
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The key of a version in the reports' event times.
std::string VersionKey(const std::string& ns_path, uint32_t n) { return ns_path + '\0' + std::to_string(n); }

// The operations one attribute change made (a setattr can change several).
void AttrOperations(const ChangeEvent& ev, const Operation& base, std::vector<Pending>& out) {
  const ChangeDetails& d = ev.details;
  auto add = [&](OpKind kind, nlohmann::json detail) {
    Pending p;
    p.op = base;
    p.op.kind = kind;
    p.op.detail = Dump(detail);
    out.push_back(std::move(p));
  };
  if (d.xattr != ChangeDetails::Xattr::kNone) {
    nlohmann::json j = {{"name", d.xattr_name}};
    if (d.had_value) j["value_before"] = Base64Encode(d.value_before);
    if (d.value_truncated) j["value_before_truncated"] = true;
    add(d.xattr == ChangeDetails::Xattr::kSet ? OpKind::kSetXattr : OpKind::kRemoveXattr, std::move(j));
    return;
  }
  if ((d.attrs & SetAttrRequest::kMode) && (d.mode_before & 07777) != (d.mode_after & 07777))
    add(OpKind::kChmod, {{"mode_before", d.mode_before & 07777}, {"mode_after", d.mode_after & 07777}});
  if ((d.attrs & (SetAttrRequest::kUid | SetAttrRequest::kGid)) &&
      (d.uid_before != d.uid_after || d.gid_before != d.gid_after)) {
    add(OpKind::kChown, {{"uid_before", d.uid_before},
                         {"gid_before", d.gid_before},
                         {"uid_after", d.uid_after},
                         {"gid_after", d.gid_after}});
  }
  if (d.attrs & SetAttrRequest::kSize)
    add(OpKind::kTruncate, {{"size_before", d.size_before}, {"size_after", d.size_after}});
}

}  // namespace

struct OpFeed::Impl {
  explicit Impl(Options o) : options(std::move(o)) {}

  void Run();
  // Builds the operations of the journal's new versions after `watermark`
  // (advanced past every row read).
  Status TailJournal(int64_t& watermark, std::vector<Operation>& out);
  // Appends `batch` and moves the journal watermark; logs failures.
  Status Commit(std::vector<Operation>& batch, int64_t watermark, int64_t& saved_watermark);

  const Options options;
  // The name a rename just replaced (its kRemoved comes right before the
  // kRenamed) and its permission bits: bus dispatcher thread only.
  std::string replaced_path;
  mode_t replaced_mode = 0;
  Mutex mu;
  std::condition_variable wake;
  std::condition_variable done;
  std::deque<Pending> queue GUARDED_BY(mu);
  bool journal_moved GUARDED_BY(mu) = false;
  std::unordered_map<std::string, int64_t> event_times GUARDED_BY(mu);
  uint64_t queued GUARDED_BY(mu) = 0;     // items handed in (events and reports)
  uint64_t committed GUARDED_BY(mu) = 0;  // of those, how many are in the log
  uint64_t flush_requests GUARDED_BY(mu) = 0;
  uint64_t flushes_done GUARDED_BY(mu) = 0;
  bool stop GUARDED_BY(mu) = false;
  bool running GUARDED_BY(mu) = false;
  Status last_error GUARDED_BY(mu);
  std::atomic<uint64_t> logged{0};
  std::atomic<uint64_t> dropped{0};
  int64_t watermark = 0;  // the writer's (Start, then the writer thread only)
  std::thread writer;
};

OpFeed::OpFeed(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

OpFeed::~OpFeed() {
  {
    MutexLock lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

Status OpFeed::Start() {
  Impl& f = *impl_;
  if (!f.options.log) return Status::Error(EINVAL, "operations feed: no log");
  if (f.options.store) {
    NEXUS_ASSIGN_OR_RETURN(int64_t end, f.options.store->LastSeq());
    int64_t mark = f.options.log->Meta(kJournalSeqKey);
    // First start (nothing logged yet): begin at the journal's end. A
    // journal behind the mark was made anew: follow it from its end too.
    if ((mark == 0 && f.options.log->NewestId() == 0) || mark > end) {
      mark = end;
      NEXUS_RETURN_IF_ERROR(f.options.log->SetMeta(kJournalSeqKey, mark));
    }
    f.watermark = mark;
    int64_t saved = mark;
    for (;;) {
      std::vector<Operation> batch;
      const int64_t before = f.watermark;
      NEXUS_RETURN_IF_ERROR(f.TailJournal(f.watermark, batch));
      if (f.watermark == before) break;
      if (!batch.empty())
        spdlog::info("operations log: {} journaled writes caught up after journal seq {}", batch.size(),
                     before);
      NEXUS_RETURN_IF_ERROR(f.Commit(batch, f.watermark, saved));
    }
  }
  {
    MutexLock lk(f.mu);
    f.running = true;
  }
  f.writer = std::thread([&f] { f.Run(); });
  return Status::Ok();
}

void OpFeed::OnChange(const ChangeEvent& ev) {
  Impl& f = *impl_;
  if (ev.path.empty()) return;
  const bool excluded = versions::IsExcludedPath(ev.path);
  Operation base;
  base.time_ns = ToNanos(ev.when);
  base.path = ev.path;
  SetWho(base, versions::MakeProvenance(ev.caller, ev.process ? *ev.process : ProcessInfo{}));
  std::vector<Pending> ops;
  auto add = [&](OpKind kind) -> Pending& {
    Pending p;
    p.op = base;
    p.op.kind = kind;
    ops.push_back(std::move(p));
    return ops.back();
  };
  switch (ev.kind) {
    case ChangeEvent::Kind::kContentClosed:
      // With versions on, the journal says what the close produced.
      if (excluded || f.options.store) return;
      add(OpKind::kWrite);
      break;
    case ChangeEvent::Kind::kContentSynced:
      return;  // the close that follows is the write
    case ChangeEvent::Kind::kCreated: {
      if (excluded) return;
      const ChangeDetails& d = ev.details;
      if (d.hard_link) {
        add(OpKind::kLink);
      } else if (d.type == S_IFDIR) {
        add(OpKind::kMkdir);
      } else if (d.type == S_IFLNK) {
        add(OpKind::kSymlink).op.detail = Dump({{"target", d.symlink_target}});
      } else {
        Pending& p = add(OpKind::kCreate);
        if (d.type != 0 && d.type != S_IFREG) {
          const char* type = S_ISFIFO(d.type)   ? "fifo"
                             : S_ISSOCK(d.type) ? "socket"
                             : S_ISCHR(d.type)  ? "char"
                             : S_ISBLK(d.type)  ? "block"
                                                : "other";
          p.op.detail = Dump({{"type", type}});
        }
      }
      break;
    }
    case ChangeEvent::Kind::kRemoved: {
      // A name replaced by a rename: the rename (next) is the operation; it
      // keeps the replaced name's mode, for undo.
      if (ev.by_rename) {
        f.replaced_path = ev.path;
        f.replaced_mode = ev.details.has_before ? ev.details.mode_before & 07777 : 0;
        return;
      }
      if (excluded) return;
      Pending& p = ev.details.type == S_IFDIR ? add(OpKind::kRmdir) : add(OpKind::kUnlink);
      if (p.op.kind == OpKind::kUnlink) p.lookup_version_before = f.options.store != nullptr;
      if (ev.details.has_before)
        p.op.detail = Dump({{"mode_before", ev.details.mode_before & 07777},
                            {"uid_before", ev.details.uid_before},
                            {"gid_before", ev.details.gid_before}});
      break;
    }
    case ChangeEvent::Kind::kRenamed: {
      const bool replaced = !f.replaced_path.empty() && f.replaced_path == ev.new_path;
      const mode_t replaced_mode = f.replaced_mode;
      f.replaced_path.clear();
      if (ev.new_path.empty() || (excluded && versions::IsExcludedPath(ev.new_path))) return;
      if (excluded) {
        // Moved into sight (a fork merge's temporary file, a name out of
        // .git): the tree saw new content at the target (a write, from the
        // journal), and a create when no file was there.
        if (replaced) return;
        Pending& p = add(OpKind::kCreate);
        p.op.path = ev.new_path;
        break;
      }
      Pending& p = add(OpKind::kRename);
      p.op.path = ev.new_path;
      p.op.old_path = ev.path;
      if (replaced && replaced_mode) p.op.detail = Dump({{"replaced_mode", replaced_mode}});
      break;
    }
    case ChangeEvent::Kind::kAttrChanged:
      if (excluded) return;
      AttrOperations(ev, base, ops);
      break;
  }
  if (ops.empty()) return;
  {
    MutexLock lk(f.mu);
    if (f.queue.size() + ops.size() > f.options.max_queue) {
      if (f.dropped.fetch_add(ops.size()) == 0)
        spdlog::warn("operations log: queue full ({} operations): dropping operations", f.options.max_queue);
      return;
    }
    for (Pending& p : ops) f.queue.push_back(std::move(p));
    f.queued += ops.size();
  }
  f.wake.notify_one();
}

void OpFeed::OnVersionApplied(const versions::Applied& applied) {
  Impl& f = *impl_;
  if (applied.op != versions::Applied::Op::kCapture || !applied.recorded) return;
  {
    MutexLock lk(f.mu);
    if (f.event_times.size() >= kMaxEventTimes) f.event_times.clear();
    f.event_times[VersionKey(applied.path, applied.version_after)] = applied.time_ns;
    f.journal_moved = true;
  }
  f.wake.notify_one();
}

Status OpFeed::Flush() {
  Impl& f = *impl_;
  if (f.options.drain_upstream) f.options.drain_upstream();
  MutexLock lk(f.mu);
  if (!f.running) return f.last_error;
  // The writer reads the journal once more for every flush request, so a
  // version journaled before this call is logged when it returns.
  const uint64_t ticket = ++f.flush_requests;
  const uint64_t target = f.queued;
  f.wake.notify_one();
  lk.Wait(f.done,
          [&]() REQUIRES(f.mu) { return (f.committed >= target && f.flushes_done >= ticket) || !f.running; });
  return f.last_error;
}

uint64_t OpFeed::Logged() const { return impl_->logged.load(); }
uint64_t OpFeed::Dropped() const { return impl_->dropped.load(); }

Status OpFeed::Impl::TailJournal(int64_t& mark, std::vector<Operation>& out) {
  NEXUS_ASSIGN_OR_RETURN(auto changes, options.store->ChangesAfter(mark, kJournalPage));
  for (const versions::Change& c : changes) {
    mark = std::max(mark, c.seq);
    if (c.op != 'W') continue;  // removals and renames: from the bus
    Operation op;
    op.path = versions::NamespacePath(c.zone, c.path);
    if (versions::IsExcludedPath(op.path)) continue;
    op.kind = c.note.starts_with("rollback") ? OpKind::kRollback
              : c.note == "restore"          ? OpKind::kRestore
                                             : OpKind::kWrite;
    op.time_ns = c.time_ns;
    SetWho(op, c.who);
    op.version_after = c.n;
    op.version_before = c.n > 0 ? c.n - 1 : 0;
    if (!c.note.empty()) op.detail = Dump({{"note", c.note}});
    out.push_back(std::move(op));
  }
  if (!out.empty()) {
    MutexLock lk(mu);
    for (Operation& op : out) {
      auto it = event_times.find(VersionKey(op.path, op.version_after));
      if (it == event_times.end()) continue;
      op.time_ns = it->second;
      event_times.erase(it);
    }
  }
  return Status::Ok();
}

Status OpFeed::Impl::Commit(std::vector<Operation>& batch, int64_t mark, int64_t& saved) {
  if (!batch.empty()) {
    // Event order within the batch: a file's creation before its first write.
    std::stable_sort(batch.begin(), batch.end(),
                     [](const Operation& a, const Operation& b) { return a.time_ns < b.time_ns; });
    NEXUS_RETURN_IF_ERROR(options.log->Append(batch));
    logged.fetch_add(batch.size());
  }
  // After the append: a crash in between logs a write twice, never zero times.
  if (mark != saved) {
    NEXUS_RETURN_IF_ERROR(options.log->SetMeta(kJournalSeqKey, mark));
    saved = mark;
  }
  return Status::Ok();
}

void OpFeed::Impl::Run() {
  LowerThreadPriority();
  int64_t saved = watermark;
  MutexLock lk(mu);
  for (;;) {
    lk.Wait(wake, [&]() REQUIRES(mu) {
      return stop || !queue.empty() || journal_moved || flush_requests != flushes_done;
    });
    const bool stopping = stop;
    if (!stopping && flush_requests == flushes_done) {
      // Group commit: let a burst gather for one window.
      lk.Unlock();
      std::this_thread::sleep_for(kBatchWindow);
      lk.Lock();
    }
    std::deque<Pending> taken;
    taken.swap(queue);
    const bool tail = journal_moved || flush_requests != flushes_done || stopping;
    journal_moved = false;
    const uint64_t flush_ticket = flush_requests;
    lk.Unlock();

    // Wait for the recorder to apply what came before these operations,
    // off the bus and the FUSE path, when their order against its versions
    // matters: an unlink's version before is the store's once a rename just
    // before has moved the history the unlink ends, and a write captured
    // before a rename (a temporary file saved over another) must be logged
    // before it, not in a later batch after it.
    // The bus queued every event before the recorder saw it, so what the
    // drain captured has its earlier events (a folder's mkdir before the
    // write of a file in it) in our queue by now: take them into this batch
    // too, or the journal's writes would be logged ahead of them. Newly
    // taken renames and unlinks drain again, a few rounds at most.
    auto needs_drain = [](const Pending& p) {
      return p.lookup_version_before || p.op.kind == OpKind::kRename;
    };
    bool drained = false;
    for (size_t from = 0, round = 0; !stopping && options.drain_upstream && round < 4; ++round) {
      if (!std::any_of(taken.begin() + static_cast<std::ptrdiff_t>(from), taken.end(), needs_drain)) break;
      options.drain_upstream();
      drained = true;
      from = taken.size();
      MutexLock more(mu);
      while (!queue.empty()) {
        taken.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    std::vector<Operation> batch;
    batch.reserve(taken.size());
    for (Pending& p : taken) {
      if (p.lookup_version_before) {
        versions::ZonePath zp = versions::SplitNamespacePath(p.op.path);
        if (!zp.path.empty()) {
          auto n = options.store->LatestNumber(zp.zone, zp.path, /*even_if_deleted=*/true);
          if (n.ok()) p.op.version_before = *n;
        }
      }
      batch.push_back(std::move(p.op));
    }
    Status st;
    int64_t mark = watermark;
    if ((tail || drained) && options.store) {
      for (;;) {
        const int64_t before = mark;
        st = TailJournal(mark, batch);
        if (!st.ok() || mark == before || batch.size() >= kJournalPage * 4) break;
      }
    }
    if (st.ok()) st = Commit(batch, mark, saved);
    if (st.ok()) watermark = mark;
    if (!st.ok()) spdlog::warn("operations log: {}", st.ToString());

    lk.Lock();
    if (!st.ok()) last_error = st;
    committed += taken.size();
    flushes_done = std::max(flushes_done, flush_ticket);
    done.notify_all();
    if (stopping && queue.empty()) break;
  }
  running = false;
  done.notify_all();
}

}  // namespace nexus::ops
