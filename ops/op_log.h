// OpLog: the durable operations log, a SQLite database (DATA/oplog.db, WAL).
//
// One table of operations keyed by id (the cursor of watches), indexed for
// the questions operators ask: by time, by subject, agent and task (each with
// time), and by path prefix. Appends come in batches, one transaction per
// batch (group commit): the feed (op_feed.h) appends what the change events
// of a dispatcher batch became. Queries run on pooled read connections and
// never wait for an append.
//
// Retention: Gc(keep_days) drops operations older than that (the daemon
// runs it daily with --oplog-keep-days, and `nexus ops gc` on demand).
//
// The log also keeps small named counters (meta), e.g. how far the feed
// has read the version store's journal, so a restart catches up exactly.
//
// Threading: every method is thread-safe. Appends serialise on one writer
// connection; queries use a pool of read connections. Listeners run on the
// appending thread after the batch is committed and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ops/operation.h"

namespace nexus::ops {

class OpLog {
 public:
  struct Options {
    std::string path;  // the database file
  };
  static Result<std::unique_ptr<OpLog>> Open(const Options& options);
  ~OpLog();
  OpLog(const OpLog&) = delete;
  OpLog& operator=(const OpLog&) = delete;

  // Appends `batch` in one transaction, assigning ids in order (the ids are
  // written back into `batch`). Listeners then hear the new newest id.
  Status Append(std::vector<Operation>& batch);

  // Newest first: operations matching `filter` with id < before_id
  // (before_id 0: from the newest), at most `limit`.
  Result<std::vector<Operation>> Query(const OpFilter& filter, int64_t before_id, size_t limit) const;
  // Oldest first: operations with id > after_id matching `filter`, at most
  // `limit` (watch, replay, activity files).
  Result<std::vector<Operation>> After(int64_t after_id, const OpFilter& filter, size_t limit) const;
  Result<Operation> Get(int64_t id) const;  // ENOENT when gone

  int64_t NewestId() const;
  int64_t OldestId() const;  // 0 when empty
  uint64_t Count() const;
  int64_t OldestTimeNs() const;

  // Called with the newest id after every committed append.
  using Listener = std::function<void(int64_t newest_id)>;
  // Returns a token for RemoveListener.
  uint64_t AddListener(Listener listener);
  void RemoveListener(uint64_t token);

  // Drops operations older than now - keep_days; the number dropped.
  Result<uint64_t> Gc(uint32_t keep_days);

  // Named counters kept with the log (0 when never set).
  int64_t Meta(const std::string& key) const;
  Status SetMeta(const std::string& key, int64_t value);

 private:
  struct Impl;
  explicit OpLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::ops
