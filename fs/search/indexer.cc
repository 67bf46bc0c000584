#include "fs/search/indexer.h"

#include <spdlog/spdlog.h>

#include "base/ns_path.h"
#include "base/thread_priority.h"

namespace nexus::search {
namespace {

// The canonical form of `path` (NsPath); a path that does not parse is
// kept as it is and refused when the index applies it.
std::string Canonical(const std::string& path) {
  auto p = NsPath::Parse(path);
  return p.ok() ? p->str() : path;
}

// Keys of `ops` at or below `prefix`: the key itself, then the contiguous
// run of keys starting with prefix + "/".
template <typename Map>
std::vector<typename Map::iterator> KeysUnder(Map& ops, const std::string& prefix) {
  std::vector<typename Map::iterator> out;
  if (prefix == "/") {
    for (auto it = ops.begin(); it != ops.end(); ++it) out.push_back(it);
    return out;
  }
  if (auto it = ops.find(prefix); it != ops.end()) out.push_back(it);
  for (auto it = ops.lower_bound(prefix + "/"); it != ops.end() && PathIsUnder(it->first, prefix); ++it) {
    out.push_back(it);
  }
  return out;
}

}  // namespace

const char* StateName(IndexStats::State state) {
  return state == IndexStats::State::kReady ? "ready" : "indexing";
}

Indexer::Indexer(SearchIndex* index, Options options) : index_(index), options_(options) {
  worker_ = std::thread([this] { Run(); });
}

Indexer::~Indexer() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  done_.notify_all();
  worker_.join();
}

void Indexer::Enqueue(const std::string& path_in, Op op) {
  std::string path = Canonical(path_in);
  {
    MutexLock lk(mu_);
    if (op == Op::kRemove) {
      // Earlier operations below a removed directory are moot.
      for (auto it : KeysUnder(queued_.ops, path)) queued_.ops.erase(it);
    }
    queued_.ops[std::move(path)] = op;
    ++enqueued_seq_;
  }
  wake_.notify_one();
}

void Indexer::Upsert(const std::string& path) { Enqueue(path, Op::kUpsert); }
void Indexer::Remove(const std::string& path) { Enqueue(path, Op::kRemove); }

void Indexer::Rename(const std::string& from_in, const std::string& to_in) {
  std::string from = Canonical(from_in), to = Canonical(to_in);
  {
    MutexLock lk(mu_);
    auto& ops = queued_.ops;
    for (auto it : KeysUnder(ops, to)) ops.erase(it);  // the rename replaced them
    std::vector<std::pair<std::string, Op>> moved;
    for (auto it : KeysUnder(ops, from)) {
      moved.emplace_back(to + it->first.substr(from.size()), it->second);
      ops.erase(it);
    }
    for (auto& [path, op] : moved) ops[std::move(path)] = op;
    queued_.renames.emplace_back(std::move(from), std::move(to));
    ++enqueued_seq_;
  }
  wake_.notify_one();
}

// The worker reads in_flight_ with mu_ released (only this thread writes it),
// which the analysis cannot follow.
void Indexer::Run() NO_THREAD_SAFETY_ANALYSIS {
  LowerThreadPriority();
  MutexLock lk(mu_);
  for (;;) {
    lk.Wait(wake_, [&]() REQUIRES(mu_) { return stop_ || !queued_.empty(); });
    if (stop_) return;
    in_flight_ = std::move(queued_);
    queued_ = Batch{};
    const uint64_t seq = enqueued_seq_;
    // in_flight_ changes only on this thread, under mu_: reading it unlocked
    // here is safe while Grep reads it under mu_.
    lk.Unlock();
    std::vector<Change> changes;
    changes.reserve(in_flight_.renames.size() + in_flight_.ops.size());
    for (const auto& [from, to] : in_flight_.renames) changes.push_back({Change::Kind::kRename, from, to});
    for (const auto& [path, op] : in_flight_.ops) {
      changes.push_back({op == Op::kUpsert ? Change::Kind::kUpsert : Change::Kind::kRemove, path, {}});
    }

    for (size_t i = 0; i < changes.size(); i += options_.max_batch) {
      std::span<const Change> part(changes.data() + i, std::min(options_.max_batch, changes.size() - i));
      if (index_->Apply(part).ok()) continue;
      // One bad change must not cost the others: retry one by one.
      for (const Change& c : part) {
        Status st = index_->Apply({&c, 1});
        if (!st.ok()) spdlog::warn("search: indexing {} failed: {}", c.path, st.ToString());
      }
    }

    lk.Lock();
    in_flight_ = Batch{};
    applied_seq_ = seq;
    done_.notify_all();
  }
}

void Indexer::Flush() {
  MutexLock lk(mu_);
  const uint64_t target = enqueued_seq_;
  lk.Wait(done_, [&]() REQUIRES(mu_) { return stop_ || applied_seq_ >= target; });
}

Status Indexer::Bulk(const std::string& root, bool force, const ProgressFn& progress) {
  {
    MutexLock lk(mu_);
    ++bulk_running_;
  }
  Status st = index_->Sync(root, force, progress);
  MutexLock lk(mu_);
  --bulk_running_;
  return st;
}

Status Indexer::IndexPath(const std::string& root, const ProgressFn& progress) {
  return Bulk(root, /*force=*/false, progress);
}

Status Indexer::Reindex(const ProgressFn& progress) { return Bulk("/", /*force=*/true, progress); }

Result<IndexStats> Indexer::Stats() const {
  auto counts = index_->Counts();
  if (!counts.ok()) return counts.status();
  IndexStats s;
  s.files = counts->files;
  s.chunks = counts->chunks;
  s.bytes = counts->bytes;
  s.embedded = counts->embedded;
  s.last_update_ns = counts->last_update_ns;
  MutexLock lk(mu_);
  s.queue_depth = queued_.ops.size() + queued_.renames.size();
  bool busy = s.queue_depth > 0 || !in_flight_.empty() || bulk_running_ > 0;
  s.state = busy ? IndexStats::State::kIndexing : IndexStats::State::kReady;
  return s;
}

Result<std::vector<GrepMatch>> Indexer::Grep(const std::string& pattern, const std::string& under,
                                             GrepOptions options) const {
  {
    MutexLock lk(mu_);
    for (const Batch* b : {&queued_, &in_flight_}) {
      for (const auto& [from, to] : b->renames) options.also_scan.push_back(to);
      for (const auto& [path, op] : b->ops) {
        if (op == Op::kUpsert) options.also_scan.push_back(path);
      }
    }
  }
  return index_->Grep(pattern, under, options);
}

}  // namespace nexus::search
