// The Sandboxes service (rpc/nexus.capnp Sandboxes): local sandboxes over
// the socket (docs/sandboxes.md).
//
// Who may do what: a sandbox belongs to the session's subject (the agent,
// for a session acting as one). That subject and admins see, run in and
// stop it; for anyone else it does not exist (`notFound`). Creating needs
// the subject to see the root (the per-subject mount checks it).
//
// Threading: the Impl lives on the event-loop thread. Create and stop
// start and kill processes and mount: they run off the loop through Job; a
// run, which lasts as long as its command, on a thread of the table's own
// (SandboxTable::RunDetached). A run's output is handed to the loop chunk by chunk (Executor::executeSync
// waits for each write to the client's SandboxOutput, which is the flow
// control: a slow client slows the command, never fills the daemon).
#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>

#include "rpc/server/service_internal.h"
#include "sandbox/sandbox_table.h"

namespace nexus {
namespace {

void FillInfo(rpc::SandboxInfo::Builder b, const sandbox::SandboxInfo& s) {
  b.setId(s.id);
  b.setName(s.name);
  b.setSubject(s.subject);
  b.setRoot(s.root);
  b.setProvider(s.provider);
  b.setState(s.state);
  b.setCreatedAtNs(s.created_ns);
  b.setExpiresAtNs(s.expires_ns);
  b.setEndedAtNs(s.ended_ns);
  b.setNetwork(s.network);
  auto l = b.initLimits();
  l.setMemoryBytes(s.limits.memory_bytes);
  l.setCpus(s.limits.cpus);
  l.setPids(s.limits.pids);
  b.setUid(s.uid);
  b.setGid(s.gid);
}

// The output of a streamed run, handed from the running thread to the loop.
// The link is shared with the run's thread; the pump (holding the client's
// capability) lives on the loop, attached to the reply, and unlinks itself
// when the reply goes (the run ended, or the client went away mid-run).
struct OutputPump;
struct PumpLink {
  kj::Own<const kj::Executor> loop;
  std::atomic<bool> broken{false};  // no one listens: the rest goes nowhere
  OutputPump* pump = nullptr;       // the loop thread's only
};

struct OutputPump {
  OutputPump(std::shared_ptr<PumpLink> l, rpc::SandboxOutput::Client s)
      : link(std::move(l)), sink(kj::mv(s)) {
    link->pump = this;
  }
  ~OutputPump() { link->pump = nullptr; }
  std::shared_ptr<PumpLink> link;
  rpc::SandboxOutput::Client sink;
};

// On the run's thread: waits until the chunk was written to the client.
void SendOutput(const std::shared_ptr<PumpLink>& link, mesh::OutputStream stream, std::string_view data) {
  if (link->broken.load()) return;
  kj::Maybe<kj::Exception> failed = kj::runCatchingExceptions([&] {
    link->loop->executeSync([&]() -> kj::Promise<void> {
      if (!link->pump) {
        link->broken.store(true);
        return kj::READY_NOW;
      }
      auto req = link->pump->sink.writeRequest();
      req.setStream(static_cast<uint8_t>(stream));
      req.setData(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
      return req.send().catch_([link](kj::Exception&&) { link->broken.store(true); });
    });
  });
  if (failed != nullptr) link->broken.store(true);  // the loop is gone
}

class SandboxesImpl final : public Service<rpc::Sandboxes> {
 public:
  explicit SandboxesImpl(ConnPtr conn) : Service(std::move(conn)), table_(ctx().sandboxes.table) {}

  kj::Promise<void> create(CreateContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto p, auto) -> Reply {
      sandbox::CreateRequest r;
      r.name = p.getName();
      r.subject = conn_->subject();
      r.root = p.getRoot();
      if (!r.root.empty()) {
        NEXUS_ASSIGN_OR_RETURN(NsPath root, NsPath::Parse(r.root));
        r.root = root.str();
      }
      r.provider = p.getProvider();
      r.network = p.getNetwork();
      r.limits.memory_bytes = p.getLimits().getMemoryBytes();
      r.limits.cpus = p.getLimits().getCpus();
      r.limits.pids = p.getLimits().getPids();
      r.ttl_s = p.getTtlSeconds();
      sandbox::SandboxTable* table = table_;
      return Job<sandbox::SandboxInfo>(
          context, [table, r]() { return table->Create(r); },
          [](auto results, sandbox::SandboxInfo& info) { FillInfo(results.initSandbox(), info); });
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto, auto results) -> Reply {
      std::vector<sandbox::SandboxInfo> mine;
      for (sandbox::SandboxInfo& s : table_->List())
        if (Mine(s)) mine.push_back(std::move(s));
      auto out = results.initSandboxes(mine.size());
      for (size_t i = 0; i < mine.size(); ++i) FillInfo(out[i], mine[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> info(InfoContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(sandbox::SandboxInfo s, Get(p.getId()));
      FillInfo(results.initSandbox(), s);
      return Status::Ok();
    });
  }

  kj::Promise<void> run(RunContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(sandbox::SandboxInfo s, Get(p.getId()));
      mesh::SessionRun run;
      run.command = p.getCommand();
      if (run.command.empty()) return Status::Error(EINVAL, "an empty command runs nothing");
      for (auto kv : p.getEnv()) {
        std::string e = kv;
        if (e.find('=') == std::string::npos || e[0] == '=')
          return Status::Error(EINVAL, "--env takes K=V, not '" + e + "'");
        run.env.push_back(std::move(e));
      }
      double timeout = p.getTimeoutSeconds();
      if (timeout < 0 || timeout > 7 * 24 * 3600.0)
        return Status::Error(EINVAL, "the timeout is 0 (none) to a week, in seconds");
      run.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
      kj::Own<OutputPump> pump;
      mesh::OutputFn on_output;
      if (p.hasOutput()) {
        auto link = std::make_shared<PumpLink>();
        link->loop = kj::getCurrentThreadExecutor().addRef();
        pump = kj::heap<OutputPump>(link, p.getOutput());
        on_output = [link](mesh::OutputStream st, std::string_view d) { SendOutput(link, st, d); };
      }
      // A run lasts as long as its command: it gets a thread of its own
      // (SandboxTable::RunDetached), never one of the shared jobs.
      auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
      auto out = std::make_shared<std::optional<Result<mesh::RunOutput>>>();
      // (A cross-thread fulfiller may be used and dropped on any thread.)
      auto fulfiller =
          std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
      table_->RunDetached(s.id, run, on_output, [out, fulfiller](Result<mesh::RunOutput> r) {
        out->emplace(std::move(r));
        (*fulfiller)->fulfill();
      });
      const bool streamed = pump.get() != nullptr;
      // `pump` (and its client) stays on the loop: attached to the reply's
      // promise, destroyed there once the run is over.
      return paf.promise
          .then([call = &Current(), context, out, streamed]() mutable {
            Result<mesh::RunOutput>& r = **out;
            auto results = context.getResults();
            Status st = r.status();
            if (st.code() == ESRCH) st = Status::Error(ESTALE, st.message());  // `conflict`: not running
            if (call->Fail(results, st)) return;
            results.setExitCode(r->timed_out ? 137 : r->exit_code);
            results.setTimedOut(r->timed_out);
            results.setTruncated(r->stdout_truncated || r->stderr_truncated);
            if (streamed) return;
            auto bytes = [](const std::string& b) {
              return kj::arrayPtr(reinterpret_cast<const capnp::byte*>(b.data()), b.size());
            };
            results.setStdout(bytes(r->stdout_data));
            results.setStderr(bytes(r->stderr_data));
          })
          .attach(kj::mv(pump));
    });
  }

  kj::Promise<void> stop(StopContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(sandbox::SandboxInfo s, Get(p.getId()));
      sandbox::SandboxTable* table = table_;
      std::string id = s.id, who = conn_->subject();
      return Job<sandbox::SandboxInfo>(
          context,
          [table, id, who]() -> Result<sandbox::SandboxInfo> {
            NEXUS_ASSIGN_OR_RETURN(sandbox::SandboxInfo info, table->Stop(id));
            spdlog::info("{}: stopped sandbox {}", who, id);
            return info;
          },
          [](auto results, sandbox::SandboxInfo& info) { FillInfo(results.initSandbox(), info); });
    });
  }

  kj::Promise<void> providers(ProvidersContext context) override {
    return Serve(context, Feature::kSandboxes, [&](auto, auto results) -> Reply {
      auto states = table_->Providers();
      auto out = results.initProviders(states.size());
      for (size_t i = 0; i < states.size(); ++i) {
        out[i].setName(states[i].name);
        out[i].setAvailable(states[i].status.ok());
        out[i].setDetail(states[i].status.message());
      }
      return Status::Ok();
    });
  }

 private:
  bool Mine(const sandbox::SandboxInfo& s) const { return conn_->admin() || s.subject == conn_->subject(); }
  // The sandbox `id` names, if the session may see it.
  Result<sandbox::SandboxInfo> Get(const std::string& id) {
    auto s = table_->Info(id);
    if (!s.ok() || !Mine(*s)) return Status::Error(ENOENT, "no sandbox " + id);
    return s;
  }

  sandbox::SandboxTable* table_;
};

}  // namespace

kj::Own<rpc::Sandboxes::Server> MakeSandboxesService(ConnPtr conn) {
  return kj::heap<SandboxesImpl>(std::move(conn));
}

}  // namespace nexus
