// The operations log as events: nexus events watch|replay.
//
// `events watch` holds an Ops.watch stream open and prints each operation
// as it arrives (flushed per event). It remembers the cursor of the last
// operation it printed; when the connection drops (the daemon restarted) it
// reconnects by itself, every 200 ms until it succeeds, and watches again
// after that cursor, so no operation is missed and none printed twice. A
// fell-behind notice resumes from the cursor the daemon names.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/format.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::ordered_json;

// The one-line JSON form of an operation (ops/operation.h ToJsonLine).
std::string JsonLine(rpc::OpRecord::Reader op) {
  ordered_json j;
  j["cursor"] = op.getId();
  j["time_ns"] = op.getTimeNs();
  j["op"] = std::string(op.getKind());
  j["path"] = std::string(op.getPath());
  j["old_path"] = op.getOldPath().size() ? ordered_json(std::string(op.getOldPath())) : ordered_json();
  j["subject"] = std::string(op.getSubject());
  j["uid"] = op.getUid();
  j["pid"] = op.getPid();
  j["command"] = std::string(op.getCommand());
  j["agent_id"] = std::string(op.getAgentId());
  j["task_id"] = std::string(op.getTaskId());
  j["version"] = op.getVersionAfter() ? ordered_json(op.getVersionAfter()) : ordered_json();
  if (op.getVersionBefore()) j["version_before"] = op.getVersionBefore();
  if (op.getDetail().size()) {
    auto detail = ordered_json::parse(std::string(op.getDetail()), nullptr, false);
    if (!detail.is_discarded()) j["detail"] = std::move(detail);
  }
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

// One line for people: time, op, path(s), subject, command, version.
std::string HumanLine(rpc::OpRecord::Reader op) {
  std::string paths = op.getOldPath().size()
                          ? std::string(op.getOldPath()) + " -> " + std::string(op.getPath())
                          : std::string(op.getPath());
  std::string line = FormatTime(op.getTimeNs()) + "  " + std::string(op.getKind()) + "  " + paths + "  " +
                     std::string(op.getSubject());
  if (op.getCommand().size()) line += "  " + std::string(op.getCommand());
  if (op.getVersionAfter()) line += "  v" + std::to_string(op.getVersionAfter());
  return line;
}

void Print(const Cli& cli, rpc::OpRecord::Reader op) {
  std::string line = cli.json ? JsonLine(op) : HumanLine(op);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// The client side of a watch: prints each operation after `last` (skipping
// any at or before it), and says when the stream ended.
class Sink final : public rpc::OpSink::Server {
 public:
  struct State {
    const Cli* cli = nullptr;
    int64_t last = 0;      // the cursor of the last operation printed
    bool printed = false;  // whether `last` names a printed operation
    uint64_t count = 0;    // printed so far
    uint64_t limit = 0;    // 0: no limit
    bool fell_behind = false;
    int64_t resume = 0;
    std::string reason;
    kj::Own<kj::PromiseFulfiller<void>> done;
  };
  explicit Sink(std::shared_ptr<State> s) : s_(std::move(s)) {}

  kj::Promise<void> ops(OpsContext context) override {
    for (auto op : context.getParams().getOps()) {
      if (s_->limit && s_->count >= s_->limit) break;
      if (s_->printed && op.getId() <= s_->last) continue;
      Print(*s_->cli, op);
      s_->last = op.getId();
      s_->printed = true;
      ++s_->count;
    }
    if (s_->limit && s_->count >= s_->limit && s_->done && s_->done->isWaiting()) s_->done->fulfill();
    return kj::READY_NOW;
  }
  kj::Promise<void> fellBehind(FellBehindContext context) override {
    s_->fell_behind = true;
    s_->resume = context.getParams().getResumeCursor();
    s_->reason = context.getParams().getReason();
    if (s_->done && s_->done->isWaiting()) s_->done->fulfill();
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<State> s_;
};

// How one watch ended.
enum class Ended { kCount, kFellBehind, kDisconnected };

int Watch(Cli& cli, const Args& a) {
  std::string path = a.positional.empty() ? "/" : a.positional[0];
  int64_t since = 0;
  if (a.Has("since")) {
    const std::string s = a.Get("since");
    if (s != "-1" && !AllDigits(s))
      return cli.Usage("--since: a cursor (an operation id; -1: the oldest kept; 0: now), not \"" + s + "\"");
    since = std::stoll(s);
  }
  auto limit = a.Number("count", 0, 0, 1e15);
  if (!limit.ok()) return cli.Fail(limit.status(), true);

  auto state = std::make_shared<Sink::State>();
  state->cli = &cli;
  state->limit = static_cast<uint64_t>(*limit);
  if (since > 0) {
    state->last = since;
    state->printed = true;  // resume strictly after it
  }
  bool connected_once = false;
  bool reconnecting = false;
  for (;;) {
    auto c = cli.Client();
    if (!c.ok()) {
      if (!connected_once) return cli.Fail(c.status());
      if (!reconnecting) {
        std::fprintf(stderr, "nexus: connection to nexusd lost; reconnecting every 200 ms (%s)\n",
                     ErrorText(c.status()).c_str());
        reconnecting = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    NexusClient& client = **c;
    if (reconnecting) {
      std::fprintf(stderr, "nexus: reconnected; resuming after cursor %lld\n",
                   static_cast<long long>(state->printed ? state->last : since));
      reconnecting = false;
    }
    auto ended = std::make_shared<Ended>(Ended::kDisconnected);
    Status st = Status::Ok();
    try {
      auto ops = client.session().opsRequest().send().getOps();
      auto req = ops.watchRequest();
      req.setPath(path);
      req.setSinceCursor(state->printed ? state->last : since);
      req.setSink(kj::heap<Sink>(state));
      auto paf = kj::newPromiseAndFulfiller<void>();
      state->done = kj::mv(paf.fulfiller);
      auto reply = req.send().wait(client.wait_scope());
      st = StatusFromError(reply.hasError(), reply.getError());
      if (st.ok()) {
        connected_once = true;
        // From now on a reconnect resumes after what the daemon had.
        if (!state->printed && since == 0) {
          state->last = reply.getCursor();
          state->printed = true;
        }
        auto subscription = reply.getSubscription();
        kj::Promise<void> done = paf.promise.then(
            [ended, state]() { *ended = state->fell_behind ? Ended::kFellBehind : Ended::kCount; });
        auto lost = client.OnDisconnect().then([ended]() { *ended = Ended::kDisconnected; });
        done.exclusiveJoin(kj::mv(lost)).wait(client.wait_scope());
      }
    } catch (const kj::Exception& e) {
      if (!connected_once)
        return cli.Fail(
            Status::Error(ECONNRESET, std::string("control socket: ") + e.getDescription().cStr()));
      *ended = Ended::kDisconnected;
    }
    state->done = nullptr;
    if (!st.ok()) return cli.Fail(st);
    switch (*ended) {
      case Ended::kCount:
        return kExitOk;
      case Ended::kFellBehind:
        std::fprintf(stderr, "nexus: the watch fell behind (%s); resuming from cursor %lld\n",
                     state->reason.c_str(), static_cast<long long>(state->resume));
        state->last = state->resume;
        state->printed = true;
        state->fell_behind = false;
        cli.Disconnect();  // drops the old stream with its connection
        break;
      case Ended::kDisconnected:
        cli.Disconnect();
        std::fprintf(stderr, "nexus: connection to nexusd lost; reconnecting every 200 ms\n");
        reconnecting = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        break;
    }
  }
}

int Replay(Cli& cli, const Args& a) {
  auto since = ParseSince(a.Get("since"));
  if (!since.ok()) return cli.Fail(since.status(), true);
  int64_t until = 0;
  if (a.Has("until")) {
    auto u = ParseSince(a.Get("until"), "--until");
    if (!u.ok()) return cli.Fail(u.status(), true);
    until = *u;
  }
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  NexusClient& client = **c;
  auto ops = client.session().opsRequest().send().getOps();
  // The log pages newest first: read every page, then print oldest first.
  std::vector<capnp::Response<rpc::Ops::LogResults>> pages;
  int64_t before = 0;
  for (;;) {
    auto req = ops.logRequest();
    auto f = req.initFilter();
    f.setSinceNs(*since);
    f.setUntilNs(until);
    if (!a.positional.empty()) f.setPath(a.positional[0]);
    req.setBeforeId(before);
    req.setLimit(1000);
    auto reply = client.Wait(req.send());
    if (!reply.ok()) return cli.Fail(reply.status());
    Status st = StatusFromError(reply->hasError(), reply->getError());
    if (!st.ok()) return cli.Fail(st);
    before = reply->getNextBeforeId();
    pages.push_back(std::move(*reply));
    if (before == 0) break;
  }
  for (auto page = pages.rbegin(); page != pages.rend(); ++page) {
    auto list = page->getOps();
    for (size_t i = list.size(); i > 0; --i) Print(cli, list[i - 1]);
  }
  return kExitOk;
}

}  // namespace

void AddEventCommands(std::vector<Command>* t) {
  t->push_back({{"events", "watch"},
                {"--since", "--count"},
                {},
                "events watch [PATH] [--since CURSOR] [--count N]",
                "Print the operations on PATH (default: everything) as they are logged.\n"
                "--since CURSOR: start after that operation (an id from `ops log` or a line\n"
                "printed before; -1: from the oldest kept; default: from now). --count N: exit\n"
                "after N operations. When the connection drops (nexusd restarts) it reconnects\n"
                "by itself and resumes after the last operation printed, so none is missed or\n"
                "printed twice (a note goes to stderr); so does a watch that fell behind, from\n"
                "the cursor the daemon names. One line per operation: time, op, path(s),\n"
                "subject, command, version. --json: one compact JSON object per line,\n"
                "{\"cursor\",\"time_ns\",\"op\",\"path\",\"old_path\",\"subject\",\"uid\",\"pid\",\n"
                "\"command\",\"agent_id\",\"task_id\",\"version\"}, flushed per operation.",
                0,
                1,
                Watch});
  t->push_back({{"events", "replay"},
                {"--since", "--until"},
                {},
                "events replay --since T [--until T] [PATH]",
                "Print the logged operations on PATH (default: everything) from T on, oldest\n"
                "first, in the lines of `events watch`. T: a duration back from now (90s, 30m,\n"
                "1h, 2d, 1w) or an RFC 3339 time. --json: one JSON object per line.",
                0,
                1,
                [](Cli& cli, const Args& a) {
                  if (!a.Has("since")) return cli.Usage("events replay needs --since T");
                  return Replay(cli, a);
                }});
}

}  // namespace nexus::cli
