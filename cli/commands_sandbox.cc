// nexus sandbox create|list|info|run|stop|providers: local sandboxes
// (rpc/nexus.capnp Sandboxes, docs/sandboxes.md).
//
// Exit status as every command (cli.h), except `sandbox run`, which exits
// with the command's own status once it ran (137 when --timeout killed it).
// Limits a node cannot enforce, and a provider that cannot run here, are
// `unavailable` (69).
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "cli/cli.h"

namespace nexus::cli {
namespace {

using json = nlohmann::json;

int WithSandboxes(Cli& cli, const std::function<int(NexusClient&, rpc::Sandboxes::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto sandboxes = (*c)->session().sandboxesRequest().send().getSandboxes();
  return fn(**c, sandboxes);
}

int FailReply(Cli& cli, const Status& st) { return cli.Fail(st, /*usage=*/st.code() == EINVAL); }

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

json TimeJson(int64_t ns) { return ns ? json(FormatTime(ns)) : json(); }

json InfoJson(rpc::SandboxInfo::Reader s) {
  auto l = s.getLimits();
  return {{"id", s.getId().cStr()},
          {"name", s.getName().cStr()},
          {"subject", s.getSubject().cStr()},
          {"root", s.getRoot().cStr()},
          {"provider", s.getProvider().cStr()},
          {"state", s.getState().cStr()},
          {"created", TimeJson(s.getCreatedAtNs())},
          {"expires", TimeJson(s.getExpiresAtNs())},
          {"ended", TimeJson(s.getEndedAtNs())},
          {"network", s.getNetwork()},
          {"uid", s.getUid()},
          {"gid", s.getGid()},
          {"limits",
           {{"memory_bytes", l.getMemoryBytes() ? json(l.getMemoryBytes()) : json()},
            {"cpus", l.getCpus() > 0 ? json(l.getCpus()) : json()},
            {"pids", l.getPids() ? json(l.getPids()) : json()}}}};
}

std::string LimitsText(rpc::SandboxLimits::Reader l) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  if (l.getMemoryBytes()) add("memory " + HumanBytes(l.getMemoryBytes()));
  if (l.getCpus() > 0) add("cpus " + FormatDouble(l.getCpus()));
  if (l.getPids()) add("pids " + std::to_string(l.getPids()));
  return out.empty() ? "none" : out;
}

void PrintInfo(rpc::SandboxInfo::Reader s) {
  std::printf("id:        %s\n", s.getId().cStr());
  std::printf("name:      %s\n", s.getName().cStr());
  std::printf("subject:   %s (uid %u)\n", s.getSubject().cStr(), s.getUid());
  std::printf("root:      %s at /workspace\n", s.getRoot().cStr());
  std::printf("provider:  %s\n", s.getProvider().cStr());
  std::printf("state:     %s\n", s.getState().cStr());
  std::printf("created:   %s\n", FormatTime(s.getCreatedAtNs()).c_str());
  if (s.getExpiresAtNs()) std::printf("expires:   %s\n", FormatTime(s.getExpiresAtNs()).c_str());
  if (s.getEndedAtNs()) std::printf("ended:     %s\n", FormatTime(s.getEndedAtNs()).c_str());
  std::printf("network:   %s\n", s.getNetwork() ? "yes" : "none");
  std::printf("limits:    %s\n", LimitsText(s.getLimits()).c_str());
}

// "512M", "2G", "64MiB", "1048576": bytes (K/M/G/T are powers of 1024).
Result<uint64_t> ParseSize(const std::string& text) {
  char* end = nullptr;
  double n = std::strtod(text.c_str(), &end);
  std::string unit = end ? end : "";
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.ends_with("IB")) unit.resize(unit.size() - 2);
  if (unit.ends_with("B")) unit.pop_back();
  double mult = unit.empty()  ? 1
                : unit == "K" ? 1024.0
                : unit == "M" ? 1048576.0
                : unit == "G" ? 1073741824.0
                : unit == "T" ? 1099511627776.0
                              : -1;
  if (end == text.c_str() || mult < 0 || !(n > 0) || !std::isfinite(n * mult) || n * mult < 1 << 20)
    return Status::Error(EINVAL, "--memory takes a size of at least 1M (e.g. 512M, 2G), not '" + text + "'");
  return static_cast<uint64_t>(n * mult);
}

// --as on the command itself, as the global option takes it.
Status TakeActAs(Cli& cli, const Args& a) {
  if (!a.Has("as")) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(CheckActAs(a.Get("as")));
  cli.act_as = a.Get("as");
  return Status::Ok();
}

int Create(Cli& cli, const Args& a) {
  if (Status st = TakeActAs(cli, a); !st.ok()) return cli.Usage(st.message());
  uint64_t memory = 0;
  if (a.Has("memory")) {
    auto m = ParseSize(a.Get("memory"));
    if (!m.ok()) return cli.Usage(m.status().message());
    memory = *m;
  }
  auto cpus = a.Number("cpus", 0, 0.01, 1024);
  if (!cpus.ok()) return cli.Usage(cpus.status().message());
  auto pids = a.Number("pids", 0, 1, 1 << 22);
  if (!pids.ok()) return cli.Usage(pids.status().message());
  auto ttl = a.Number("ttl", 0, 1, 7 * 24 * 3600);
  if (!ttl.ok()) return cli.Usage(ttl.status().message());
  std::string root = a.Get("root");
  if (a.Has("root") && (root.empty() || root[0] != '/'))
    return cli.Usage("--root takes an absolute namespace path (e.g. /zone/local, /forks/NAME), not '" + root +
                     "'");
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto req = sb.createRequest();
    req.setName(a.positional[0]);
    req.setRoot(root);
    req.setProvider(a.Get("provider"));
    req.setNetwork(a.Has("network"));
    auto l = req.initLimits();
    l.setMemoryBytes(memory);
    l.setCpus(*cpus);
    l.setPids(static_cast<uint32_t>(*pids));
    req.setTtlSeconds(static_cast<uint32_t>(*ttl));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    auto s = r->getSandbox();
    if (cli.json) {
      cli.PrintJson(InfoJson(s));
    } else {
      std::printf("%s\n", s.getId().cStr());
      if (::isatty(STDERR_FILENO))
        std::fprintf(stderr, "sandbox %s (%s) running as %s, %s at /workspace\n", s.getId().cStr(),
                     s.getName().cStr(), s.getSubject().cStr(), s.getRoot().cStr());
    }
    return kExitOk;
  });
}

int List(Cli& cli, const Args&) {
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto r = c.Wait(sb.listRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto s : r->getSandboxes()) list.push_back(InfoJson(s));
      cli.PrintJson({{"sandboxes", std::move(list)}});
      return kExitOk;
    }
    if (r->getSandboxes().size() == 0) {
      std::printf("no sandboxes (make one: nexus sandbox create NAME)\n");
      return kExitOk;
    }
    std::printf("%-11s %-16s %-8s %-18s %-20s %s\n", "ID", "NAME", "STATE", "SUBJECT", "ROOT", "CREATED");
    for (auto s : r->getSandboxes())
      std::printf("%-11s %-16s %-8s %-18s %-20s %s\n", s.getId().cStr(), s.getName().cStr(),
                  s.getState().cStr(), s.getSubject().cStr(), s.getRoot().cStr(),
                  FormatTime(s.getCreatedAtNs()).c_str());
    return kExitOk;
  });
}

int Info(Cli& cli, const Args& a) {
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto req = sb.infoRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson(InfoJson(r->getSandbox()));
    } else {
      PrintInfo(r->getSandbox());
    }
    return kExitOk;
  });
}

// Writes the command's output where it belongs as it comes.
class OutputSink final : public rpc::SandboxOutput::Server {
 public:
  explicit OutputSink(bool json) : json_(json) {}
  std::string out, err;  // --json: kept for the document

 protected:
  kj::Promise<void> write(WriteContext context) override {
    auto p = context.getParams();
    auto data = p.getData();
    const char* bytes = reinterpret_cast<const char*>(data.begin());
    if (json_) {
      (p.getStream() == 2 ? err : out).append(bytes, data.size());
    } else {
      FILE* f = p.getStream() == 2 ? stderr : stdout;
      std::fwrite(bytes, 1, data.size(), f);
      std::fflush(f);
    }
    return kj::READY_NOW;
  }

 private:
  const bool json_;
};

int Run(Cli& cli, const Args& a) {
  if (!a.Has("command")) return cli.Usage("sandbox run ID -c CMD: the command is missing");
  auto timeout = a.Number("timeout", 0, 0, 7 * 24 * 3600);
  if (!timeout.ok()) return cli.Usage(timeout.status().message());
  std::vector<std::string> env = a.All("env");
  for (const std::string& e : env)
    if (e.find('=') == std::string::npos || e[0] == '=') return cli.Usage("--env takes K=V, not '" + e + "'");
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto sink = kj::heap<OutputSink>(cli.json);
    OutputSink* own = sink.get();
    auto req = sb.runRequest();
    req.setId(a.positional[0]);
    req.setCommand(a.Get("command"));
    auto list = req.initEnv(env.size());
    for (size_t i = 0; i < env.size(); ++i) list.set(i, env[i]);
    req.setTimeoutSeconds(*timeout);
    req.setOutput(kj::mv(sink));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    int code = r->getExitCode();
    if (cli.json) {
      cli.PrintJson(
          {{"exit_code", code}, {"timed_out", r->getTimedOut()}, {"stdout", own->out}, {"stderr", own->err}});
    } else if (r->getTimedOut()) {
      std::fprintf(stderr, "nexus: the command ran past --timeout %s s and was killed\n",
                   FormatDouble(*timeout).c_str());
    }
    return code < 0 ? kExitFailed : code;
  });
}

int Stop(Cli& cli, const Args& a) {
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto req = sb.stopRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      cli.PrintJson(InfoJson(r->getSandbox()));
    } else {
      std::printf("stopped %s (%s)\n", r->getSandbox().getId().cStr(), r->getSandbox().getName().cStr());
    }
    return kExitOk;
  });
}

int Providers(Cli& cli, const Args&) {
  return WithSandboxes(cli, [&](NexusClient& c, rpc::Sandboxes::Client& sb) -> int {
    auto r = c.Wait(sb.providersRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return FailReply(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto p : r->getProviders())
        list.push_back({{"name", p.getName().cStr()},
                        {"available", p.getAvailable()},
                        {"detail", p.getDetail().size() ? json(p.getDetail().cStr()) : json()}});
      cli.PrintJson({{"providers", std::move(list)}});
      return kExitOk;
    }
    for (auto p : r->getProviders())
      std::printf("%-8s %s%s%s\n", p.getName().cStr(), p.getAvailable() ? "available" : "unavailable",
                  p.getDetail().size() ? ": " : "", p.getDetail().cStr());
    return kExitOk;
  });
}

}  // namespace

void AddSandboxCommands(std::vector<Command>* t) {
  t->push_back({{"sandbox", "create"},
                {"--as", "--root", "--provider", "--memory", "--cpus", "--pids", "--ttl"},
                {"--network"},
                "sandbox create NAME [--as agent:ID] [--root PATH] [--provider bwrap] [--network]\n"
                "    [--memory SIZE] [--cpus N] [--pids N] [--ttl S]",
                "Start a long-lived sandbox and print its id. Inside, the subject's view of\n"
                "PATH (default: the subject's own fork, /forks/NAME, if it has one, else\n"
                "/zone/local) is /workspace, as on a per-subject mount; processes run as uid\n"
                "65534 (nobody); /tmp is private and lasts until stop; no network unless\n"
                "--network. --as: the sandbox acts as that agent (its grants only).\n"
                "--memory/--cpus/--pids need cgroups with those controllers (v2, or v1\n"
                "hierarchies; else unavailable, 69); --ttl: stop it after S seconds.\n"
                "NAME: 1 to 64 of A-Z a-z 0-9 . _ -, unique among running sandboxes.",
                1,
                1,
                Create});
  t->push_back({{"sandbox", "list"},
                {},
                {},
                "sandbox list",
                "Your sandboxes (admins: all), running first, then stopped and expired.",
                0,
                0,
                List});
  t->push_back({{"sandbox", "info"},
                {},
                {},
                "sandbox info ID",
                "One sandbox (by id, or by the name of a running one): subject, root, state,\n"
                "limits, TTL.",
                1,
                1,
                Info});
  t->push_back({{"sandbox", "run"},
                {"-c,--command", "--timeout", "--env"},
                {},
                "sandbox run ID -c CMD [--timeout S] [--env K=V]...",
                "Run CMD with /bin/sh -c in the sandbox, in /workspace. Its stdout and stderr\n"
                "are streamed as they come; the CLI exits with CMD's status (137 when killed\n"
                "at --timeout). Files and /tmp persist between runs. --json: one document\n"
                "with exit_code, stdout and stderr once it ended.",
                1,
                1,
                Run});
  t->push_back({{"sandbox", "stop"},
                {},
                {},
                "sandbox stop ID",
                "Kill every process of the sandbox and unmount its /workspace.",
                1,
                1,
                Stop});
  t->push_back({{"sandbox", "providers"},
                {},
                {},
                "sandbox providers",
                "The sandbox providers of the daemon and whether each can run here.",
                0,
                0,
                Providers});
}

}  // namespace nexus::cli
