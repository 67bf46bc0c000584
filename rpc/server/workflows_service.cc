// The Workflows service (rpc/nexus.capnp Workflows): workflows over the
// socket (docs/workflows.md).
//
// Who may do what: any session loads workflows, which it then owns (its
// subject and its uid/gid on the socket, which the workflow's actions act
// as); a session sees, tests, enables, disables, deletes and reads the runs
// of the workflows it owns, admins all of them; to others a workflow does
// not exist (notFound).
//
// Threading: the Impl lives on the event-loop thread. The engine's calls are
// short (its lock, one small SQLite write); `test` reads the file's facts
// through the engine's host and runs off the loop.
#include "rpc/server/service_internal.h"
#include "workflows/engine.h"

namespace nexus {
namespace {

using workflows::Asker;
using workflows::Engine;
using workflows::WorkflowRecord;

void FillInfo(rpc::WorkflowInfo::Builder b, const WorkflowRecord& r) {
  const workflows::Workflow& w = r.workflow;
  b.setName(w.name);
  b.setVersion(w.version);
  b.setDescription(w.description);
  b.setOwner(r.owner.subject);
  b.setEnabled(r.enabled);
  b.setSource(r.source);
  b.setYaml(r.yaml);
  b.setLoadedAtNs(r.loaded_ns);
  auto triggers = b.initTriggers(w.triggers.size());
  for (size_t i = 0; i < w.triggers.size(); ++i) triggers.set(i, w.triggers[i].Describe());
  auto actions = b.initActions(w.actions.size());
  for (size_t i = 0; i < w.actions.size(); ++i)
    actions.set(i, w.actions[i].name + " (" + workflows::ActionTypeName(w.actions[i].type) + ")");
  b.setRuns(r.runs);
  b.setDropped(r.dropped);
  b.setLastRunNs(r.last_run_ns);
  b.setLastStatus(r.last_status);
}

void FillLines(capnp::List<rpc::WorkflowTestLine>::Builder out,
               const std::vector<workflows::TestLine>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    out[i].setWhat(lines[i].what);
    out[i].setOk(lines[i].ok);
    out[i].setDetail(lines[i].detail);
  }
}

class WorkflowsImpl final : public Service<rpc::Workflows> {
 public:
  explicit WorkflowsImpl(ConnPtr conn) : Service(std::move(conn)), engine_(ctx().workflows.engine) {}

  kj::Promise<void> load(LoadContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto p, auto results) -> Reply {
      workflows::Owner by{conn_->subject(), conn_->actor.uid, conn_->actor.gid};
      NEXUS_ASSIGN_OR_RETURN(WorkflowRecord w,
                             engine_->Load(by, Asking(), p.getYaml(), p.getSource(), p.getDryRun()));
      FillInfo(results.initWorkflow(), w);
      return Status::Ok();
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto, auto results) -> Reply {
      std::vector<WorkflowRecord> all = engine_->List(Asking());
      auto out = results.initWorkflows(all.size());
      for (size_t i = 0; i < all.size(); ++i) FillInfo(out[i], all[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> show(ShowContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(WorkflowRecord w, engine_->Get(Asking(), p.getName()));
      FillInfo(results.initWorkflow(), w);
      return Status::Ok();
    });
  }

  kj::Promise<void> test(TestContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto p, auto) -> Reply {
      std::string file = p.getFile();
      if (file.empty() || file[0] != '/')
        return Status::Error(
            EINVAL, "--file takes an absolute path (e.g. /workspace/inbox/a.txt), not '" + file + "'");
      return Job<workflows::TestReport>(
          context,
          [engine = engine_, asker = Asking(), name = std::string(p.getName()), file] {
            return engine->Test(asker, name, file);
          },
          [](auto results, workflows::TestReport& r) {
            results.setPath(r.path);
            FillLines(results.initTriggers(r.triggers.size()), r.triggers);
            FillLines(results.initConditions(r.conditions.size()), r.conditions);
            results.setWouldRun(r.would_run);
            FillLines(results.initActions(r.actions.size()), r.actions);
          });
    });
  }

  kj::Promise<void> setEnabled(SetEnabledContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(WorkflowRecord w, engine_->SetEnabled(Asking(), p.getName(), p.getEnabled()));
      FillInfo(results.initWorkflow(), w);
      return Status::Ok();
    });
  }

  kj::Promise<void> delete_(DeleteContext context) override {
    return Serve(context, Feature::kWorkflows,
                 [&](auto p, auto) -> Reply { return engine_->Delete(Asking(), p.getName()); });
  }

  kj::Promise<void> runs(RunsContext context) override {
    return Serve(context, Feature::kWorkflows, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(std::vector<workflows::RunRecord> runs,
                             engine_->Runs(Asking(), p.getName(), p.getLimit()));
      auto out = results.initRuns(runs.size());
      for (size_t i = 0; i < runs.size(); ++i) {
        const workflows::RunRecord& r = runs[i];
        out[i].setId(r.id);
        out[i].setTrigger(r.trigger);
        out[i].setPath(r.path);
        out[i].setTriggeredAtNs(r.triggered_ns);
        out[i].setStartedAtNs(r.started_ns);
        out[i].setDurationNs(r.duration_ns);
        out[i].setStatus(r.status);
        out[i].setOutput(r.output);
        out[i].setError(r.error);
      }
      return Status::Ok();
    });
  }

 private:
  Asker Asking() const { return {conn_->subject(), conn_->admin()}; }
  Engine* engine_;
};

}  // namespace

kj::Own<rpc::Workflows::Server> MakeWorkflowsService(ConnPtr conn) {
  return kj::heap<WorkflowsImpl>(std::move(conn));
}

}  // namespace nexus
