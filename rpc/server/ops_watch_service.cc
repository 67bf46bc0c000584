// Ops.watch: the live stream of the operations log.
//
// A watch holds no queue of its own: it keeps a cursor (the id of the last
// operation it read) and reads the durable log after it, kBatch at a time
// (off the loop), at the pace its client accepts them: `OpSink.ops` is a
// Cap'n Proto stream, so the next batch is read once the transport has room
// for it. A slow watcher therefore never slows the filesystem and costs at
// most one batch of memory. When it has read everything, it waits for the
// log's listener (called on the appending thread) to wake the loop through a
// cross-thread fulfiller.
//
// Bounded lag: a cursor older than what the log keeps (gc), or more than
// kMaxLag operations behind the newest, ends the stream with
// `fellBehind(resumeCursor, reason)`.
//
// Visibility: each batch is filtered off the loop by OpVisibility, so a
// revoke holds from the next batch on. The subscription's destructor
// removes the listener: dropping the subscription or closing the connection
// ends the watch.
#include <memory>
#include <optional>

#include "base/mutex.h"
#include "base/ns_path.h"
#include "ops/op_log.h"
#include "perms/agent_registry.h"
#include "rpc/server/ops_service.h"

namespace nexus {
namespace {

constexpr size_t kBatch = 256;
constexpr int64_t kMaxLag = 1'000'000;

// The newest id the log announced, and the loop's wake-up while it waits
// for one newer than its cursor.
class Waker {
 public:
  void Announce(int64_t newest) EXCLUDES(mu_) {
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake;
    {
      MutexLock lk(mu_);
      if (newest > newest_) newest_ = newest;
      wake = kj::mv(wake_);
    }
    if (wake) wake->fulfill();
  }
  // Resolves once the log holds an operation after `cursor` (at once when
  // it already does). One waiter at a time, on the loop.
  kj::Promise<void> After(int64_t cursor) EXCLUDES(mu_) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    MutexLock lk(mu_);
    if (newest_ > cursor) return kj::READY_NOW;
    wake_ = kj::mv(paf.fulfiller);
    return kj::mv(paf.promise);
  }

 private:
  Mutex mu_;
  int64_t newest_ GUARDED_BY(mu_) = 0;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake_ GUARDED_BY(mu_);
};

class OpWatchImpl final : public rpc::Subscription::Server {
 public:
  OpWatchImpl(ConnPtr conn, ops::OpLog& log, std::string prefix, int64_t cursor, rpc::OpSink::Client sink)
      : conn_(std::move(conn)),
        log_(log),
        prefix_(std::move(prefix)),
        cursor_(cursor),
        sink_(kj::mv(sink)),
        waker_(std::make_shared<Waker>()) {
    token_ = log_.AddListener([w = waker_](int64_t newest) { w->Announce(newest); });
    waker_->Announce(log_.NewestId());
    pump_ = Pump().eagerlyEvaluate([](kj::Exception&&) {});
  }
  ~OpWatchImpl() { log_.RemoveListener(token_); }

 private:
  struct Batch {
    std::vector<ops::Operation> ops;  // those the session may see
    size_t read = 0;                  // how many were read
    int64_t last = 0;                 // the id of the last one read
    int64_t oldest = 0;
    int64_t newest = 0;
    Status status;
  };

  kj::Promise<void> Pump() {
    return waker_->After(cursor_)
        .then([this]() { return Read(); })
        .then([this](Batch b) -> kj::Promise<void> {
          if (!b.status.ok()) return kj::READY_NOW;  // the log failed: the stream ends
          // Gone by retention: the oldest kept is more than one past the cursor.
          if (b.oldest > 0 && b.oldest > cursor_ + 1)
            return FellBehind(b.oldest - 1, "operations after cursor " + std::to_string(cursor_) +
                                                " were dropped by retention (the oldest kept is " +
                                                std::to_string(b.oldest) + ")");
          if (b.newest - cursor_ > kMaxLag)
            return FellBehind(b.newest, std::to_string(b.newest - cursor_) +
                                            " operations behind (the bound is " + std::to_string(kMaxLag) +
                                            "); read the ones in between with `nexus events replay`");
          if (b.read == 0) {
            // Everything up to the newest was read (or none matched the path).
            if (b.newest > cursor_) cursor_ = b.newest;
            return Pump();
          }
          const bool full = b.read == kBatch;
          cursor_ = b.last;
          if (!full && b.newest > cursor_ && b.ops.empty()) cursor_ = b.newest;
          if (b.ops.empty()) return Pump();
          auto req = sink_.opsRequest();
          auto out = req.initOps(b.ops.size());
          for (size_t i = 0; i < b.ops.size(); ++i) FillRecord(out[i], b.ops[i]);
          return req.send().then([this]() { return Pump(); });
        });
  }

  // The next batch after the cursor, with the log's bounds, read off the
  // loop. Bounds are read before the batch so a batch never looks newer
  // than `newest`.
  kj::Promise<Batch> Read() {
    auto out = std::make_shared<Batch>();
    auto work = [out, log = &log_, cursor = cursor_, prefix = prefix_, conn = conn_]() {
      out->oldest = log->OldestId();
      out->newest = log->NewestId();
      ops::OpFilter f;
      if (prefix != "/") f.path = prefix;
      auto r = log->After(cursor, f, kBatch);
      if (!r.ok()) {
        out->status = r.status();
        return;
      }
      out->read = r->size();
      if (!r->empty()) out->last = r->back().id;
      // What the session may see, decided afresh for every batch, so a
      // revoke holds from the next one.
      OpVisibility visibility(*conn);
      for (ops::Operation& op : *r)
        if (visibility.Visible(op)) out->ops.push_back(std::move(op));
    };
    kj::Promise<void> done = kj::READY_NOW;
    if (conn_->ctx->jobs) {
      done = RunOffLoop(*conn_->ctx, work);
    } else {
      work();
    }
    return done.then([out]() { return std::move(*out); });
  }

  kj::Promise<void> FellBehind(int64_t resume, std::string reason) {
    auto req = sink_.fellBehindRequest();
    req.setResumeCursor(resume);
    req.setReason(reason);
    return req.send().ignoreResult();
  }

  ConnPtr conn_;
  ops::OpLog& log_;
  const std::string prefix_;
  int64_t cursor_;
  rpc::OpSink::Client sink_;
  std::shared_ptr<Waker> waker_;
  uint64_t token_ = 0;
  kj::Promise<void> pump_ = nullptr;  // last: cancelled before the rest goes
};

}  // namespace

kj::Promise<void> OpsImpl::watch(WatchContext context) {
  return Serve(context, Feature::kOps, [&](auto p, auto results) -> Reply {
    ops::OpLog* log = ctx().ops.log;
    if (!log) return Unavailable("oplog", "the operations log is off");
    std::string prefix = "/";
    if (p.hasPath() && p.getPath().size() > 0 && p.getPath() != "/") {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      prefix = path.str();
    }
    const int64_t newest = log->NewestId();
    int64_t since = p.getSinceCursor();
    if (since < -1) return Status::Error(EINVAL, "sinceCursor must be -1 (the oldest), 0 (now) or a cursor");
    if (since == 0) since = newest;
    if (since == -1) since = 0;
    results.setCursor(newest);
    results.setSubscription(kj::heap<OpWatchImpl>(conn_, *log, prefix, since, p.getSink()));
    return Status::Ok();
  });
}

}  // namespace nexus
