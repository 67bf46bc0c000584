// Indexer: keeps a SearchIndex current in the background.
//
// The filesystem reports changes with Upsert / Remove / Rename; they are
// queued without blocking (a mutex held for a map operation) and applied by
// one worker thread, a batch per transaction, right away: a file enqueued is
// searchable as soon as its batch commits (well under a second unless a bulk
// operation holds the writer).
//
// Coalescing keeps memory bounded by the number of distinct paths touched,
// not the number of events: the queue holds at most one operation per path
// (the last one wins). A Rename moves the queued operations under `from` to
// `to` and drops those under `to` (the rename replaced them), then records
// the rename itself; the worker applies renames before per-path operations,
// which gives the same index as applying every event in order.
//
// Grep through the Indexer never misses a file changed but not yet indexed:
// every queued or in-flight upsert path and rename target is scanned in full
// besides the trigram candidates (see SearchIndex::Grep).
//
// Threading: every method may be called from any thread. mu_ guards only
// the queue and is never held while calling into the SearchIndex.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "fs/search/search_index.h"

namespace nexus::search {

struct IndexStats {
  enum class State { kReady, kIndexing };
  uint64_t files = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  uint64_t embedded = 0;  // chunks with a vector
  int64_t last_update_ns = 0;
  State state = State::kReady;
  size_t queue_depth = 0;  // queued paths and renames, not yet applied
};

class Indexer {
 public:
  struct Options {
    size_t max_batch = 512;  // changes per transaction
  };
  // Starts the worker. `index` must outlive the Indexer.
  explicit Indexer(SearchIndex* index) : Indexer(index, Options{}) {}
  Indexer(SearchIndex* index, Options options);
  // Stops the worker after the batch in flight; queued changes are dropped
  // (a later Sync of the tree catches up).
  ~Indexer();
  Indexer(const Indexer&) = delete;
  Indexer& operator=(const Indexer&) = delete;

  void Upsert(const std::string& path);
  void Remove(const std::string& path);                         // a file or a whole directory
  void Rename(const std::string& from, const std::string& to);  // directories too

  // Returns once every change enqueued before the call is applied.
  void Flush();

  // Synchronous bulk work on the calling thread (see SearchIndex::Sync):
  // IndexPath indexes new and changed files under `root`, Reindex re-reads
  // the whole tree.
  Status IndexPath(const std::string& root, const ProgressFn& progress = {});
  Status Reindex(const ProgressFn& progress = {});

  Result<IndexStats> Stats() const;

  // SearchIndex::Grep plus every path the queue has not applied yet.
  Result<std::vector<GrepMatch>> Grep(const std::string& pattern, const std::string& under,
                                      GrepOptions options) const;

 private:
  enum class Op : unsigned char { kUpsert, kRemove };
  struct Batch {
    std::vector<std::pair<std::string, std::string>> renames;  // in order
    std::map<std::string, Op> ops;                             // by path
    bool empty() const { return renames.empty() && ops.empty(); }
  };

  void Enqueue(const std::string& path, Op op);
  void Run();
  Status Bulk(const std::string& root, bool force, const ProgressFn& progress);

  SearchIndex* const index_;
  const Options options_;

  mutable Mutex mu_;
  std::condition_variable wake_;  // work queued or stopping
  std::condition_variable done_;  // a batch applied
  Batch queued_ GUARDED_BY(mu_);
  Batch in_flight_ GUARDED_BY(mu_);            // being applied by the worker
  uint64_t enqueued_seq_ GUARDED_BY(mu_) = 0;  // changes ever enqueued
  uint64_t applied_seq_ GUARDED_BY(mu_) = 0;   // changes applied (or failed)
  int bulk_running_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread worker_;
};

const char* StateName(IndexStats::State state);

}  // namespace nexus::search
