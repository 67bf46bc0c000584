// Ops.undo: plans (dry run) or applies an undo off the loop, with progress.
#include <atomic>
#include <memory>

#include "fs/versions/recorder.h"
#include "ops/op_feed.h"
#include "ops/undo.h"
#include "rpc/errors.h"
#include "rpc/server/ops_service.h"

namespace nexus {
namespace {

Result<ops::OpFilter> UndoSelection(rpc::OpFilter::Reader f) {
  ops::OpFilter out;
  out.since_ns = f.getSinceNs();
  out.until_ns = f.getUntilNs();
  out.path = f.getPath();
  out.subject = f.getSubject();
  out.agent_id = f.getAgentId();
  out.task_id = f.getTaskId();
  std::string kind = f.getKind();
  if (!kind.empty()) {
    out.kind = ops::ParseKind(kind);
    if (!out.kind) return Status::Error(EINVAL, "unknown operation kind '" + kind + "'");
  }
  for (int64_t id : f.getIds()) out.ids.push_back(id);
  return out;
}

void FillReport(rpc::UndoReport::Builder b, const ops::UndoReport& r) {
  auto steps = b.initSteps(static_cast<unsigned>(r.steps.size()));
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const ops::UndoStep& s = r.steps[i];
    auto o = steps[static_cast<unsigned>(i)];
    o.setOpId(s.op_id);
    o.setAction(s.action);
    o.setPath(s.path);
    o.setToPath(s.to_path);
    o.setVersion(s.version);
    o.setStatus(s.status);
    o.setReason(s.reason);
  }
  b.setApplied(r.applied);
  b.setConflicts(r.conflicts);
  b.setFailed(r.failed);
  b.setSkipped(r.skipped);
  b.setDryRun(r.dry_run);
}

struct UndoProgress {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};
};

}  // namespace

kj::Promise<void> OpsImpl::undo(UndoContext context) {
  return Serve(context, Feature::kOps, [&](auto p, auto) -> Reply {
    ops::Undoer* undoer = ctx().ops.undoer;
    if (!undoer) return Unavailable("undo", "this daemon runs the operations log without undo");
    NEXUS_ASSIGN_OR_RETURN(ops::OpFilter selection, UndoSelection(p.getFilter()));
    const bool dry_run = p.getDryRun();
    const bool force = p.getForce();
    // An admin acts as root (every mode bit passes), still as its principal.
    Caller actor = conn_->actor;
    if (conn_->admin()) {
      actor.uid = 0;
      actor.gid = 0;
    }
    std::shared_ptr<const ProcessInfo> origin = conn_->origin;  // keeps actor.origin valid
    versions::Recorder* recorder = ctx().versions.recorder;
    ops::OpFeed* feed = ctx().ops.feed;
    auto progress = std::make_shared<UndoProgress>();
    auto job = Job<ops::UndoReport>(
        context,
        [=]() -> Result<ops::UndoReport> {
          (void)origin;
          // The log holds every change made before the call.
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          if (feed) NEXUS_RETURN_IF_ERROR(feed->Flush());
          if (dry_run) return undoer->Plan(actor, selection, force);
          return undoer->Apply(actor, selection, force, [progress](uint64_t done, uint64_t total) {
            progress->total.store(total);
            progress->done.store(done);
          });
        },
        [](auto results, ops::UndoReport& report) { FillReport(results.initReport(), report); });
    if (dry_run || !p.hasProgress() || !ctx().timer) return job;
    rpc::Progress::Client client = p.getProgress();
    ProgressFn read = [progress] { return std::make_pair(progress->done.load(), progress->total.load()); };
    return job.exclusiveJoin(PumpProgress(*ctx().timer, client, read, "operations undone"))
        .then([client, progress]() mutable {
          // The final count, before the reply (calls are delivered in order).
          auto req = client.updateRequest();
          req.setDone(progress->done.load());
          req.setTotal(progress->total.load());
          req.setWhat("operations undone");
          req.send().detach([](kj::Exception&&) {});
        });
  });
}

}  // namespace nexus
