// The mesh from the CLI: nexus mesh ... (docs/cli-mesh.md).
//
// Every command is one call on the session's `Mesh` capability
// (rpc/nexus.capnp): fleet and task commands talk to a director, `register`
// and `rotate-credential` to a node. Arguments are checked here before
// connecting, so a malformed one is a usage error (64) that never reaches
// the daemon; what the daemon refuses exits 1. Files for `tasks complete`
// are read on this host (at most kMaxFileBytes each); `tasks result -o`
// verifies every downloaded file's SHA-256 here before keeping it.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

#include "base/file_util.h"
#include "base/crypto.h"
#include "rpc/bytes.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxFileBytes = 16u << 20;      // one file sent with `complete`
constexpr uint64_t kMaxCompleteBytes = 48u << 20;  // all of them: well under a message's limit
constexpr double kDefaultExtendTtl = 30;
constexpr double kMaxTtl = 86400;

const std::set<std::string> kTaskStates = {"pending",   "assigned", "running",
                                           "succeeded", "failed",   "cancelled"};

// ---------------------------------------------------------------- output

json TextList(capnp::List<capnp::Text>::Reader list) {
  json out = json::array();
  for (auto t : list) out.push_back(std::string(t));
  return out;
}

// "a, b" or "-".
std::string JoinedOrDash(capnp::List<capnp::Text>::Reader list) {
  std::string out;
  for (auto t : list) out += (out.empty() ? "" : ", ") + std::string(t);
  return out.empty() ? "-" : out;
}

json TimeOrNull(int64_t ns) { return ns ? json(FormatTime(ns)) : json(nullptr); }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

json NodeJson(rpc::MeshNodeInfo::Reader n) {
  return {{"id", std::string(n.getId())},
          {"name", std::string(n.getName())},
          {"address", std::string(n.getAddress())},
          {"capacity", n.getCapacity()},
          {"trust", std::string(n.getTrust())},
          {"state", std::string(n.getState())},
          {"fingerprint", std::string(n.getFingerprint())},
          {"queue_depth", n.getQueueDepth()},
          {"free_capacity", n.getFreeCapacity()},
          {"active_tasks", n.getActiveTasks()},
          {"registered_at", TimeOrNull(n.getRegisteredAtNs())},
          {"registered_at_ns", n.getRegisteredAtNs()},
          {"last_heartbeat", TimeOrNull(n.getLastHeartbeatNs())},
          {"last_heartbeat_ns", n.getLastHeartbeatNs()},
          {"zones", n.getZonesReported() ? TextList(n.getZones()) : json(nullptr)},
          {"may_submit", n.getMaySubmit()},
          {"submit_hourly_quota", n.getSubmitHourlyQuota()}};
}

json TaskJson(rpc::MeshTask::Reader t) {
  auto s = t.getSpec();
  return {{"id", std::string(t.getId())},
          {"spec",
           {{"name", std::string(s.getName())},
            {"command", std::string(s.getCommand())},
            {"zone", std::string(s.getZone())},
            {"required_trust", s.getRequiredTrust().size() ? std::string(s.getRequiredTrust()) : "trusted"},
            {"max_attempts", s.getMaxAttempts()},
            {"allow_network", s.getAllowNetwork()},
            {"outputs", TextList(s.getOutputs())}}},
          {"submitter", std::string(t.getSubmitter())},
          {"on_behalf_of", std::string(t.getOnBehalfOf())},
          {"state", std::string(t.getState())},
          {"node_id", std::string(t.getNodeId())},
          {"node_address", std::string(t.getNodeAddress())},
          {"lease_token", std::string(t.getLeaseToken())},
          {"lease_expires", TimeOrNull(t.getLeaseExpiresNs())},
          {"lease_expires_ns", t.getLeaseExpiresNs()},
          {"attempts", t.getAttempts()},
          {"not_before", TimeOrNull(t.getNotBeforeNs())},
          {"not_before_ns", t.getNotBeforeNs()},
          {"reason", std::string(t.getReason())},
          {"progress", std::string(t.getProgress())},
          {"checkpoint_ref", std::string(t.getCheckpointRef())},
          {"has_result", t.getHasResult()},
          {"created_at", TimeOrNull(t.getCreatedAtNs())},
          {"created_at_ns", t.getCreatedAtNs()},
          {"updated_at", TimeOrNull(t.getUpdatedAtNs())},
          {"updated_at_ns", t.getUpdatedAtNs()}};
}

json ResultFileJson(rpc::MeshResultFile::Reader f) {
  return {{"name", std::string(f.getName())}, {"size", f.getSize()}, {"sha256", std::string(f.getSha256())}};
}

// "n-2 (10.0.0.5:7070)", "-" when unplaced.
std::string NodeText(rpc::MeshTask::Reader t) {
  if (t.getNodeId().size() == 0) return "-";
  std::string s = t.getNodeId();
  if (t.getNodeAddress().size()) s += " (" + std::string(t.getNodeAddress()) + ")";
  return s;
}

void PrintTask(rpc::MeshTask::Reader t) {
  auto s = t.getSpec();
  std::printf("task %s (%s)\n", t.getId().cStr(), t.getState().cStr());
  std::printf("  name          %s\n", s.getName().cStr());
  std::printf("  command       %s\n", s.getCommand().cStr());
  std::printf("  zone          %s\n", OrDash(s.getZone()).c_str());
  std::printf("  trust         %s\n", s.getRequiredTrust().size() ? s.getRequiredTrust().cStr() : "trusted");
  if (s.getMaxAttempts())
    std::printf("  max attempts  %d\n", s.getMaxAttempts());
  else
    std::printf("  max attempts  default\n");
  std::printf("  network       %s\n", s.getAllowNetwork() ? "allowed" : "no");
  std::printf("  outputs       %s\n", JoinedOrDash(s.getOutputs()).c_str());
  std::printf("  submitter     %s\n", t.getSubmitter().size() ? t.getSubmitter().cStr() : "operator");
  if (t.getOnBehalfOf().size()) std::printf("  on behalf of  %s\n", t.getOnBehalfOf().cStr());
  std::printf("  node          %s\n", NodeText(t).c_str());
  if (t.getLeaseToken().size()) std::printf("  lease token   %s\n", t.getLeaseToken().cStr());
  std::printf("  lease until   %s\n", FormatTime(t.getLeaseExpiresNs()).c_str());
  std::printf("  attempts      %d\n", t.getAttempts());
  std::printf("  not before    %s\n", FormatTime(t.getNotBeforeNs()).c_str());
  std::printf("  reason        %s\n", OrDash(t.getReason()).c_str());
  std::printf("  progress      %s\n", OrDash(t.getProgress()).c_str());
  std::printf("  checkpoint    %s\n", OrDash(t.getCheckpointRef()).c_str());
  std::printf("  result        %s\n", t.getHasResult() ? "yes (nexus mesh tasks result)" : "no");
  std::printf("  created       %s\n", FormatTime(t.getCreatedAtNs()).c_str());
  std::printf("  updated       %s\n", FormatTime(t.getUpdatedAtNs()).c_str());
}

// One line about a task after a state change: "t-3 failed on n-2 (...): exit
// code 2", then its lease token when the reply hands one over.
void PrintTaskLine(rpc::MeshTask::Reader t) {
  std::printf("%s %s", t.getId().cStr(), t.getState().cStr());
  if (t.getNodeId().size()) std::printf(" on %s", NodeText(t).c_str());
  if (t.getReason().size() && t.getReason() != t.getState()) std::printf(": %s", t.getReason().cStr());
  std::printf("\n");
  if (t.getLeaseToken().size())
    std::printf("lease token %s until %s\n", t.getLeaseToken().cStr(),
                FormatTime(t.getLeaseExpiresNs()).c_str());
}

// ---------------------------------------------------------------- plumbing

// Cli::Fail, making sure a stale or wrong lease token reads as a conflict.
int MeshFailed(Cli& cli, const Status& st) {
  if (st.code() == ESTALE && st.message().find("conflict") == std::string::npos)
    return cli.Fail(Status::Error(ESTALE, "conflict: " + st.message()));
  return cli.Fail(st);
}

// A reply that carries the task it changed: the failure, or the task as JSON
// or as one line.
template <typename Reply>
int FinishTaskReply(Cli& cli, Result<Reply>& r) {
  if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
  if (cli.json)
    cli.PrintJson(TaskJson(r->getTask()));
  else
    PrintTaskLine(r->getTask());
  return kExitOk;
}

// Runs `fn` with the connected client and its Mesh capability.
int WithMesh(Cli& cli, const std::function<int(NexusClient&, rpc::Mesh::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto m = (*c)->session().meshRequest().send().getMesh();
  return fn(**c, m);
}

// A number --flag in [min, max]; `def` when absent. Errors name "--flag".
Result<double> NumberFlag(const Args& a, const std::string& flag, double def, double min, double max) {
  auto n = a.Number(flag, def, min, max);
  if (!n.ok()) return Status::Error(EINVAL, "--" + n.status().message());
  return n;
}

// A whole-number --flag in [min, max]; `def` when absent.
Result<int64_t> WholeFlag(const Args& a, const std::string& flag, int64_t def, double min, double max) {
  auto n = NumberFlag(a, flag, static_cast<double>(def), min, max);
  if (!n.ok()) return n.status();
  if (*n != std::floor(*n))
    return Status::Error(EINVAL, "--" + flag + ": '" + a.Get(flag) + "' is not a whole number");
  return static_cast<int64_t>(*n);
}

// A --flag VALUE that must be given and not empty.
Result<std::string> Required(const Args& a, const std::string& flag, const std::string& what) {
  if (!a.values.count(flag) || a.Get(flag).empty())
    return Status::Error(EINVAL, "--" + flag + " " + what + " is required");
  return a.Get(flag);
}

// HOST:PORT with a port in 1..65535 ("[::1]:7070" for IPv6).
Status CheckHostPort(const std::string& s) {
  size_t colon = s.rfind(':');
  auto bad = [&]() { return Status::Error(EINVAL, "--director: '" + s + "' is not HOST:PORT"); };
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return bad();
  std::string port = s.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad();
  int p = std::stoi(port);
  if (p < 1 || p > 65535) return bad();
  std::string host = s.substr(0, colon);
  if (host.front() == '[' ? host.back() != ']' || host.size() < 3 : host.find(':') != std::string::npos)
    return bad();
  return Status::Ok();
}

// A file named on the command line, read on this host.
struct LocalFile {
  std::string name;  // basename: what the daemon stores it as
  std::string content;
};

// Reads `path` (a regular file of at most kMaxFileBytes). *usage is set
// when the failure is the caller's argument rather than the disk.
Result<LocalFile> ReadLocalFile(const std::string& flag, const std::string& path, bool* usage) {
  *usage = true;
  if (path.empty()) return Status::Error(EINVAL, "--" + flag + " needs a file name");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *usage = false;
    return Status::FromErrno("--" + flag + ": " + path);
  }
  if (!S_ISREG(st.st_mode))
    return Status::Error(EINVAL, "--" + flag + ": " + path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes)
    return Status::Error(EFBIG, "--" + flag + ": " + path + " is " + std::to_string(st.st_size) +
                                    " bytes; at most 16 MiB per file");
  std::string base =
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (base.empty() || base == "." || base == "..")
    return Status::Error(EINVAL, "--" + flag + ": " + path + " does not end in a file name");
  auto text = ReadTextFile(path, "--" + flag);
  if (!text.ok()) {
    *usage = false;
    return text.status();
  }
  if (text->size() > kMaxFileBytes)  // grew since stat
    return Status::Error(EFBIG, "--" + flag + ": " + path + " is larger than 16 MiB");
  return LocalFile{base, std::move(text).value()};
}

// A result file name from the daemon, safe to create below the output
// directory: relative, no empty, "." or ".." component.
bool SafeRelativeName(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.back() == '/') return false;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t end = std::min(name.find('/', pos), name.size());
    const std::string part = name.substr(pos, end - pos);
    if (part.empty() || part == "." || part == "..") return false;
    pos = end + 1;
  }
  return true;
}

// mkdir -p of `dir` (relative or absolute).
Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + prefix);
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::FromErrno(dir);
  if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, dir + " is not a directory");
  return Status::Ok();
}

// ---------------------------------------------------------------- fleet

int StatusCmd(Cli& cli, const Args&) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto r = c.Wait(m.statusRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    json roles = json::array();
    if (r->getDirector()) roles.push_back("director");
    if (r->getWorker()) roles.push_back("worker");
    // The control plane: store, own role, leader, standbys, etcd's health.
    const std::string role = r->getRole().size()                       ? std::string(r->getRole())
                             : r->getDirector()                        ? "leader"
                             : r->getWorker() || r->getNodeId().size() ? "node"
                                                                       : "";
    json standbys = json::array();
    for (auto s : r->getStandbys()) standbys.push_back(std::string(s));
    json etcd = nullptr;
    if (r->getEtcdJson().size()) etcd = json::parse(std::string(r->getEtcdJson()), nullptr, false);
    if (etcd.is_discarded()) etcd = nullptr;
    const std::string store = r->getStore().size() ? std::string(r->getStore())
                              : r->getDirector()   ? "sqlite"
                                                   : "";
    const std::string leader =
        r->getLeader().size() ? std::string(r->getLeader()) : std::string(r->getDirectorAddress());
    if (cli.json) {
      cli.PrintJson({{"store", store.empty() ? json(nullptr) : json(store)},
                     {"role", role.empty() ? json(nullptr) : json(role)},
                     {"leader", leader},
                     {"standbys", standbys},
                     {"etcd", etcd},
                     {"director", r->getDirector()},
                     {"worker", r->getWorker()},
                     {"roles", roles},
                     {"node_id", std::string(r->getNodeId())},
                     {"director_address", std::string(r->getDirectorAddress())},
                     {"fingerprint", std::string(r->getFingerprint())},
                     {"nodes", r->getNodes()},
                     {"tasks", r->getTasks()}});
      return kExitOk;
    }
    std::string role_text;
    for (const auto& role : roles) role_text += (role_text.empty() ? "" : ", ") + role.get<std::string>();
    std::printf("role         %s\n", role_text.empty() ? "none" : role_text.c_str());
    std::printf("node id      %s\n", OrDash(r->getNodeId()).c_str());
    std::printf("director     %s\n", OrDash(r->getDirectorAddress()).c_str());
    std::printf("fingerprint  %s\n", OrDash(r->getFingerprint()).c_str());
    if (r->getDirector()) {
      std::printf("nodes        %u\n", r->getNodes());
      std::printf("tasks        %u\n", r->getTasks());
      std::printf("store        %s\n", store.c_str());
      std::printf("this daemon  %s\n", role.c_str());
      std::printf("leader       %s\n", leader.empty() ? "-" : leader.c_str());
      std::string sb;
      for (const auto& s : standbys) sb += (sb.empty() ? "" : ", ") + s.get<std::string>();
      std::printf("standbys     %s\n", sb.empty() ? "-" : sb.c_str());
      if (etcd.is_object()) {
        std::printf("etcd         %zu of %zu members healthy%s\n", etcd.value("healthy", size_t{0}),
                    etcd["endpoints"].size(), etcd.value("quorum", false) ? "" : " (NO QUORUM)");
        for (const auto& m : etcd["endpoints"])
          std::printf("  %-22s %s%s\n", m.value("endpoint", "").c_str(),
                      m.value("healthy", false) ? "healthy" : ("down: " + m.value("error", "")).c_str(),
                      m.value("leader", false) ? " (raft leader)" : "");
      }
    }
    return kExitOk;
  });
}

int Nodes(Cli& cli, const Args&) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto r = c.Wait(m.nodesRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto n : r->getNodes()) list.push_back(NodeJson(n));
      cli.PrintJson({{"nodes", list}});
      return kExitOk;
    }
    if (r->getNodes().size() == 0) {
      std::printf("no nodes have joined\n");
      return kExitOk;
    }
    std::printf("%-8s %-16s %-22s %-9s %-8s %6s %6s %6s  %-24s  %s\n", "ID", "NAME", "ADDRESS", "TRUST",
                "STATE", "QUEUE", "FREE", "ACTIVE", "LAST-HEARTBEAT", "ZONES");
    for (auto n : r->getNodes())
      std::printf("%-8s %-16s %-22s %-9s %-8s %6lld %6lld %6lld  %-24s  %s\n", n.getId().cStr(),
                  n.getName().cStr(), OrDash(n.getAddress()).c_str(), n.getTrust().cStr(),
                  n.getState().cStr(), static_cast<long long>(n.getQueueDepth()),
                  static_cast<long long>(n.getFreeCapacity()), static_cast<long long>(n.getActiveTasks()),
                  FormatTime(n.getLastHeartbeatNs()).c_str(),
                  n.getZonesReported() ? JoinedOrDash(n.getZones()).c_str() : "(not reported: any)");
    return kExitOk;
  });
}

int Register(Cli& cli, const Args& a) {
  auto director = Required(a, "director", "HOST:PORT");
  if (!director.ok()) return cli.Fail(director.status(), true);
  if (Status st = CheckHostPort(*director); !st.ok()) return cli.Fail(st, true);
  auto key = Required(a, "registration-key", "K");
  if (!key.ok()) return cli.Fail(key.status(), true);
  auto capacity = WholeFlag(a, "capacity", 0, 1, 1e6);
  if (!capacity.ok()) return cli.Fail(capacity.status(), true);
  std::string name = a.Get("name");
  if (a.Has("name") && name.empty()) return cli.Usage("--name needs a node name");
  if (name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return cli.Fail(Status::FromErrno("gethostname"));
    name = host;
  }
  // The CA file is opened by the daemon, on its host: make it absolute here.
  std::string ca = a.Get("ca");
  if (a.Has("ca") && ca.empty()) return cli.Usage("--ca needs a file name");
  if (!ca.empty() && ca[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return cli.Fail(Status::FromErrno("getcwd"));
    ca = std::string(cwd) + "/" + ca;
  }
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.joinRequest();
    req.setDirector(*director);
    req.setRegistrationKey(*key);
    req.setCaFile(ca);
    req.setName(name);
    req.setCapacity(*capacity);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json) {
      cli.PrintJson({{"director", *director},
                     {"name", name},
                     {"node_id", std::string(r->getNodeId())},
                     {"fingerprint", std::string(r->getFingerprint())}});
    } else {
      std::printf("joined %s as %s (%s)\n", director->c_str(), r->getNodeId().cStr(), name.c_str());
      std::printf("fingerprint %s\n", r->getFingerprint().cStr());
      std::printf("the node joins untrusted: on the director, nexus mesh trust %s trusted\n",
                  r->getNodeId().cStr());
    }
    return kExitOk;
  });
}

int RotateCredential(Cli& cli, const Args&) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto r = c.Wait(m.rotateCredentialRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson(
          {{"node_id", std::string(r->getNodeId())}, {"fingerprint", std::string(r->getFingerprint())}});
    else
      std::printf("new credential for %s, fingerprint %s (the old one is refused from now on)\n",
                  r->getNodeId().cStr(), r->getFingerprint().cStr());
    return kExitOk;
  });
}

int Trust(Cli& cli, const Args& a) {
  const std::string& tier = a.positional[1];
  if (tier != "trusted" && tier != "untrusted")
    return cli.Usage("trust level must be trusted or untrusted, not '" + tier + "'");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.trustRequest();
    req.setNode(a.positional[0]);
    req.setTrusted(tier == "trusted");
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson({{"node", a.positional[0]}, {"trust", tier}});
    else
      std::printf("%s is now %s\n", a.positional[0].c_str(), tier.c_str());
    return kExitOk;
  });
}

int Submit(Cli& cli, const Args& a) {
  const std::string& what = a.positional[1];
  if (what != "allow" && what != "deny") return cli.Usage("submit takes allow or deny, not '" + what + "'");
  auto quota = WholeFlag(a, "hourly-quota", 0, 0, 1e6);
  if (!quota.ok()) return cli.Fail(quota.status(), true);
  if (what == "deny" && a.Has("hourly-quota")) return cli.Usage("--hourly-quota goes with allow");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.setNodeSubmitRequest();
    req.setNode(a.positional[0]);
    req.setAllowed(what == "allow");
    req.setHourlyQuota(static_cast<uint32_t>(*quota));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson({{"node", a.positional[0]}, {"may_submit", what == "allow"}, {"hourly_quota", *quota}});
    else if (what == "deny")
      std::printf("%s may not submit tasks\n", a.positional[0].c_str());
    else
      std::printf("%s may submit tasks (%s)\n", a.positional[0].c_str(),
                  *quota ? (std::to_string(*quota) + " an hour").c_str() : "no hourly limit");
    return kExitOk;
  });
}

// revoke / admit / drain: one node, one admin state.
enum class NodeAction { kRevoke, kAdmit, kDrain };

int NodeState(Cli& cli, const Args& a, NodeAction action) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    Status st;
    const char* done = "";
    switch (action) {
      case NodeAction::kRevoke: {
        auto req = m.revokeRequest();
        req.setNode(a.positional[0]);
        auto r = c.Wait(req.send());
        st = ReplyStatus(r);
        done = "revoked: refused from now on, its tasks re-queued";
        break;
      }
      case NodeAction::kAdmit: {
        auto req = m.admitRequest();
        req.setNode(a.positional[0]);
        auto r = c.Wait(req.send());
        st = ReplyStatus(r);
        done = "admitted: ready for placements";
        break;
      }
      case NodeAction::kDrain: {
        auto req = m.drainRequest();
        req.setNode(a.positional[0]);
        auto r = c.Wait(req.send());
        st = ReplyStatus(r);
        done = "drained: no new placements, running tasks finish";
        break;
      }
    }
    if (!st.ok()) return MeshFailed(cli, st);
    static const char* kNames[] = {"revoked", "ready", "drained"};
    if (cli.json)
      cli.PrintJson({{"node", a.positional[0]}, {"state", kNames[static_cast<int>(action)]}});
    else
      std::printf("%s %s\n", a.positional[0].c_str(), done);
    return kExitOk;
  });
}

// ---------------------------------------------------------------- tasks

int TaskCreate(Cli& cli, const Args& a) {
  auto name = Required(a, "name", "N");
  if (!name.ok()) return cli.Fail(name.status(), true);
  auto command = Required(a, "command", "CMD");
  if (!command.ok()) return cli.Fail(command.status(), true);
  const std::string trust = a.Get("trust", "trusted");
  if (trust != "trusted" && trust != "untrusted") return cli.Usage("--trust must be trusted or untrusted");
  auto attempts = WholeFlag(a, "max-attempts", 0, 1, 1000);
  if (!attempts.ok()) return cli.Fail(attempts.status(), true);
  if (a.Has("zone") && a.Get("zone").empty()) return cli.Usage("--zone needs a zone name");
  const std::vector<std::string> outputs = a.All("output");
  for (const std::string& o : outputs)
    if (o.empty()) return cli.Usage("--output needs a path relative to the zone root");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.createTaskRequest();
    auto spec = req.initSpec();
    spec.setName(*name);
    spec.setCommand(*command);
    spec.setZone(a.Get("zone"));
    spec.setRequiredTrust(trust);
    spec.setMaxAttempts(static_cast<int32_t>(*attempts));
    spec.setAllowNetwork(a.Has("allow-network"));
    auto list = spec.initOutputs(outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) list.set(i, outputs[i]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson(TaskJson(r->getTask()));
    else
      std::printf("created %s (%s)\n", r->getTask().getId().cStr(), r->getTask().getState().cStr());
    return kExitOk;
  });
}

int TaskList(Cli& cli, const Args& a) {
  const std::string state = a.Get("state");
  if (a.Has("state") && !kTaskStates.count(state))
    return cli.Usage("--state must be one of pending, assigned, running, succeeded, failed, cancelled");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto r = c.Wait(m.listTasksRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    auto wanted = [&](rpc::MeshTask::Reader t) { return state.empty() || t.getState() == state; };
    if (cli.json) {
      json list = json::array();
      for (auto t : r->getTasks())
        if (wanted(t)) list.push_back(TaskJson(t));
      cli.PrintJson({{"tasks", list}});
      return kExitOk;
    }
    size_t shown = 0;
    for (auto t : r->getTasks()) {
      if (!wanted(t)) continue;
      if (shown++ == 0)
        std::printf("%-10s %-20s %-10s %-8s %4s  %-24s  %s\n", "ID", "NAME", "STATE", "NODE", "TRY",
                    "UPDATED", "REASON/PROGRESS");
      std::string detail = t.getReason().size() ? t.getReason() : t.getProgress();
      std::printf("%-10s %-20s %-10s %-8s %4d  %-24s  %s\n", t.getId().cStr(), t.getSpec().getName().cStr(),
                  t.getState().cStr(), OrDash(t.getNodeId()).c_str(), t.getAttempts(),
                  FormatTime(t.getUpdatedAtNs()).c_str(), OrDash(detail).c_str());
    }
    if (shown == 0) std::printf(state.empty() ? "no tasks\n" : "no %s tasks\n", state.c_str());
    return kExitOk;
  });
}

int TaskGet(Cli& cli, const Args& a) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.getTaskRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson(TaskJson(r->getTask()));
    else
      PrintTask(r->getTask());
    return kExitOk;
  });
}

// Places one task, or every pending one. A task the reply lists without an
// assignment stayed pending (with its reason); pending tasks the reply does
// not list are looked up for their reason.
int TaskSchedule(Cli& cli, const Args& a) {
  const std::string id = a.positional.empty() ? "" : a.positional[0];
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.scheduleRequest();
    req.setId(id);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    json placements = json::array(), pending = json::array();
    std::set<std::string> seen;
    auto add_pending = [&](rpc::MeshTask::Reader t) {
      if (t.getState() != "pending" || !seen.insert(t.getId()).second) return;
      pending.push_back({{"id", std::string(t.getId())},
                         {"name", std::string(t.getSpec().getName())},
                         {"reason", std::string(t.getReason())},
                         {"not_before", TimeOrNull(t.getNotBeforeNs())},
                         {"not_before_ns", t.getNotBeforeNs()}});
    };
    for (auto t : r->getPlacements()) {
      if (t.getState() == "assigned") {
        seen.insert(t.getId());
        placements.push_back(TaskJson(t));
      } else {
        add_pending(t);
      }
    }
    if (pending.size() < r->getPending()) {
      if (!id.empty()) {
        auto g = m.getTaskRequest();
        g.setId(id);
        auto gr = c.Wait(g.send());
        if (Status st = ReplyStatus(gr); !st.ok()) return MeshFailed(cli, st);
        add_pending(gr->getTask());
      } else {
        auto lr = c.Wait(m.listTasksRequest().send());
        if (Status st = ReplyStatus(lr); !st.ok()) return MeshFailed(cli, st);
        for (auto t : lr->getTasks()) add_pending(t);
      }
    }
    if (cli.json) {
      cli.PrintJson({{"placements", placements}, {"pending", r->getPending()}, {"pending_tasks", pending}});
      return kExitOk;
    }
    for (const auto& p : placements) {
      std::string node = p["node_id"].get<std::string>();
      if (!p["node_address"].get<std::string>().empty())
        node += " (" + p["node_address"].get<std::string>() + ")";
      std::printf("%s assigned to %s, lease token %s until %s\n", p["id"].get<std::string>().c_str(),
                  OrDash(node).c_str(), OrDash(p["lease_token"].get<std::string>()).c_str(),
                  p["lease_expires"].is_string() ? p["lease_expires"].get<std::string>().c_str() : "-");
    }
    for (const auto& p : pending) {
      std::string why = p["reason"].get<std::string>();
      if (p["not_before_ns"].get<int64_t>())
        why += (why.empty() ? "" : "; ") + std::string("not before ") + p["not_before"].get<std::string>();
      std::printf("%s pending: %s\n", p["id"].get<std::string>().c_str(), OrDash(why).c_str());
    }
    if (placements.empty() && pending.empty()) std::printf("nothing to schedule\n");
    return kExitOk;
  });
}

// The --token every lease-holder call needs.
Result<std::string> Token(const Args& a) { return Required(a, "token", "T"); }

int TaskStart(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.startRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]}, {"state", "running"}});
    else
      std::printf("%s running\n", a.positional[0].c_str());
    return kExitOk;
  });
}

int TaskProgress(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  if (!a.Has("progress") && !a.Has("checkpoint"))
    return cli.Usage("give --progress TEXT, --checkpoint REF or both");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.progressRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    req.setProgress(a.Get("progress"));
    req.setCheckpoint(a.Get("checkpoint"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]},
                     {"progress", a.Get("progress")},
                     {"checkpoint_ref", a.Get("checkpoint")}});
    else
      std::printf("%s progress recorded\n", a.positional[0].c_str());
    return kExitOk;
  });
}

int TaskExtend(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  auto ttl = NumberFlag(a, "ttl", kDefaultExtendTtl, 1, kMaxTtl);
  if (!ttl.ok()) return cli.Fail(ttl.status(), true);
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.extendRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    req.setTtlSeconds(*ttl);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]},
                     {"lease_expires", TimeOrNull(r->getLeaseExpiresNs())},
                     {"lease_expires_ns", r->getLeaseExpiresNs()}});
    else
      std::printf("%s lease extended until %s\n", a.positional[0].c_str(),
                  FormatTime(r->getLeaseExpiresNs()).c_str());
    return kExitOk;
  });
}

int TaskComplete(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  if (!a.values.count("exit-code")) return cli.Usage("--exit-code N is required");
  auto exit_code = WholeFlag(a, "exit-code", 0, INT32_MIN, INT32_MAX);
  if (!exit_code.ok()) return cli.Fail(exit_code.status(), true);
  // Everything is read (and bounded) before connecting.
  uint64_t total = 0;
  auto read = [&](const std::string& flag, const std::string& path, LocalFile* out) -> int {
    bool usage = false;
    auto f = ReadLocalFile(flag, path, &usage);
    if (!f.ok()) return cli.Fail(f.status(), usage);
    total += f->content.size();
    *out = std::move(f).value();
    return kExitOk;
  };
  LocalFile out_stream, err_stream;
  if (a.Has("stdout"))
    if (int rc = read("stdout", a.Get("stdout"), &out_stream); rc != kExitOk) return rc;
  if (a.Has("stderr"))
    if (int rc = read("stderr", a.Get("stderr"), &err_stream); rc != kExitOk) return rc;
  std::vector<LocalFile> files;
  std::set<std::string> names;
  if (a.Has("file")) {
    auto paths = SplitCommas(a.Get("file"));
    if (paths.empty()) return cli.Usage("--file needs a file name");
    for (const auto& p : paths) {
      LocalFile f;
      if (int rc = read("file", p, &f); rc != kExitOk) return rc;
      if (!names.insert(f.name).second)
        return cli.Usage("--file: two files are named '" + f.name + "' (files are sent by base name)");
      files.push_back(std::move(f));
    }
  }
  if (total > kMaxCompleteBytes)
    return cli.Usage("--stdout, --stderr and --file add up to " + std::to_string(total) +
                     " bytes; at most 48 MiB per completion");
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.completeRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    req.setExitCode(static_cast<int32_t>(*exit_code));
    req.setStdout(AsBytes(out_stream.content));
    req.setStderr(AsBytes(err_stream.content));
    auto list = req.initFiles(static_cast<unsigned>(files.size()));
    for (size_t i = 0; i < files.size(); ++i) {
      list[i].setName(files[i].name);
      list[i].setContent(AsBytes(files[i].content));
    }
    auto r = c.Wait(req.send());
    return FinishTaskReply(cli, r);
  });
}

int TaskFail(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  auto reason = Required(a, "reason", "TEXT");
  if (!reason.ok()) return cli.Fail(reason.status(), true);
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.failRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    req.setReason(*reason);
    auto r = c.Wait(req.send());
    return FinishTaskReply(cli, r);
  });
}

int TaskMigrate(Cli& cli, const Args& a) {
  auto token = Token(a);
  if (!token.ok()) return cli.Fail(token.status(), true);
  auto checkpoint = Required(a, "checkpoint", "REF");
  if (!checkpoint.ok()) return cli.Fail(checkpoint.status(), true);
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.migrateRequest();
    req.setId(a.positional[0]);
    req.setToken(*token);
    req.setCheckpoint(*checkpoint);
    auto r = c.Wait(req.send());
    return FinishTaskReply(cli, r);
  });
}

int TaskRetryOrCancel(Cli& cli, const Args& a, bool retry) {
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    if (retry) {
      auto req = m.retryRequest();
      req.setId(a.positional[0]);
      auto r = c.Wait(req.send());
      return FinishTaskReply(cli, r);
    }
    auto req = m.cancelRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    return FinishTaskReply(cli, r);
  });
}

// One result file fetched and checked against the listing: the content, or
// EIO naming both digests.
Result<std::string> FetchResultFile(NexusClient& c, rpc::Mesh::Client& m, const std::string& id,
                                    rpc::MeshResultFile::Reader f) {
  auto req = m.resultFileRequest();
  req.setId(id);
  req.setName(f.getName());
  auto r = c.Wait(req.send());
  if (Status st = ReplyStatus(r); !st.ok()) return st;
  std::string content(AsView(r->getContent()));
  const std::string got = Sha256Hex(content);
  const std::string name = f.getName();
  if (got != std::string(f.getSha256()) || got != std::string(r->getSha256()))
    return Status::Error(EIO, name + ": SHA-256 mismatch: the result lists " + std::string(f.getSha256()) +
                                  ", the daemon sent " + std::string(r->getSha256()) + ", the content is " +
                                  got);
  if (content.size() != f.getSize())
    return Status::Error(EIO, name + ": " + std::to_string(content.size()) + " bytes received, " +
                                  std::to_string(f.getSize()) + " listed");
  return content;
}

int TaskResult(Cli& cli, const Args& a) {
  const std::string dir = a.Get("output");
  if (a.Has("output") && dir.empty()) return cli.Usage("-o needs a directory");
  const std::string& id = a.positional[0];
  return WithMesh(cli, [&](NexusClient& c, rpc::Mesh::Client& m) -> int {
    auto req = m.resultRequest();
    req.setId(id);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return MeshFailed(cli, st);
    auto res = r->getResult();
    json j = {{"task_id", std::string(res.getTaskId())},
              {"exit_code", res.getExitCode()},
              {"completed_at", TimeOrNull(res.getCompletedAtNs())},
              {"completed_at_ns", res.getCompletedAtNs()},
              {"files", json::array()}};
    for (auto f : res.getFiles()) j["files"].push_back(ResultFileJson(f));
    j["missing"] = json::array();
    for (auto m : res.getMissing())
      j["missing"].push_back({{"path", std::string(m.getPath())}, {"reason", std::string(m.getReason())}});
    // Declared outputs the worker could not collect: said on stderr, the
    // result itself is complete without them.
    if (!cli.json)
      for (auto m : res.getMissing())
        std::fprintf(stderr, "output %s not collected: %s\n", m.getPath().cStr(), m.getReason().cStr());

    if (dir.empty()) {
      // The listing, and stdout's content (verified like a download).
      std::string out;
      bool has_stdout = false;
      for (auto f : res.getFiles()) {
        if (f.getName() != "stdout") continue;
        auto content = FetchResultFile(c, m, id, f);
        if (!content.ok()) return cli.Fail(content.status());
        out = std::move(content).value();
        has_stdout = true;
      }
      if (cli.json) {
        if (has_stdout)
          j[IsValidUtf8(out) ? "stdout" : "stdout_base64"] = IsValidUtf8(out) ? out : Base64Encode(out);
        cli.PrintJson(j);
        return kExitOk;
      }
      std::printf("task %s: exit code %d, completed %s\n", res.getTaskId().cStr(), res.getExitCode(),
                  FormatTime(res.getCompletedAtNs()).c_str());
      std::printf("%12s  %-64s  %s\n", "SIZE", "SHA256", "NAME");
      for (auto f : res.getFiles())
        std::printf("%12llu  %-64s  %s\n", static_cast<unsigned long long>(f.getSize()), f.getSha256().cStr(),
                    f.getName().cStr());
      if (!out.empty()) {
        std::printf("--- stdout\n");
        std::fwrite(out.data(), 1, out.size(), stdout);
        if (out.back() != '\n') std::fputc('\n', stdout);
      }
      return kExitOk;
    }

    // -o DIR: every file, verified before it is kept.
    if (Status st = MakeDirs(dir); !st.ok()) return cli.Fail(st);
    int rc = kExitOk;
    json saved = json::array();
    for (auto f : res.getFiles()) {
      const std::string name = f.getName();
      if (!SafeRelativeName(name)) {
        rc = cli.Fail(
            Status::Error(EIO, "result file name '" + name + "' is not a safe relative path; skipped"));
        continue;
      }
      auto content = FetchResultFile(c, m, id, f);
      if (!content.ok()) {
        rc = cli.Fail(content.status());
        continue;
      }
      const std::string path = dir + "/" + name;
      if (size_t slash = path.rfind('/'); slash != std::string::npos)
        if (Status st = MakeDirs(path.substr(0, slash)); !st.ok()) {
          rc = cli.Fail(st);
          continue;
        }
      if (Status st = WriteFileAtomic(path, *content, 0644); !st.ok()) {
        rc = cli.Fail(st);
        continue;
      }
      saved.push_back({{"name", name},
                       {"path", path},
                       {"size", content->size()},
                       {"sha256", std::string(f.getSha256())}});
      if (!cli.json)
        std::printf("%12zu  %s  verified sha256 %s\n", content->size(), path.c_str(), f.getSha256().cStr());
    }
    if (cli.json) {
      j["output"] = dir;
      j["saved"] = saved;
      j["verified"] = rc == kExitOk;
      cli.PrintJson(j);
    } else if (rc == kExitOk) {
      std::printf("task %s: exit code %d; %zu file%s in %s\n", res.getTaskId().cStr(), res.getExitCode(),
                  saved.size(), saved.size() == 1 ? "" : "s", dir.c_str());
    }
    return rc;
  });
}

}  // namespace

void AddMeshCommands(std::vector<Command>* t) {
  const std::string token_help =
      "\nTOKEN is the task's current lease token (from tasks schedule or migrate); a\n"
      "wrong, stale or expired one is refused as a conflict (exit 1).";
  t->push_back({{"mesh", "status"},
                {},
                {},
                "mesh status",
                "This daemon's part in the mesh: director and/or worker, its node id, the\n"
                "director it joined, its credential's fingerprint; on a director the number\n"
                "of nodes and tasks, the store (sqlite or etcd), this daemon's role (leader\n"
                "or standby), the leader's and the standbys' addresses and, on etcd, each\n"
                "member's health. --json: {\"store\", \"role\" (leader, standby or node),\n"
                "\"leader\", \"standbys\", \"etcd\" (null on SQLite), ...}.",
                0,
                0,
                StatusCmd});
  t->push_back({{"mesh", "nodes"},
                {},
                {},
                "mesh nodes",
                "The joined nodes (on the director): id, name, address, trust, state (ready,\n"
                "drained, down, revoked), reported queue depth, free capacity, active tasks,\n"
                "last heartbeat, the zones it reported (tasks are placed only where their\n"
                "zone is). --json adds may_submit and submit_hourly_quota (mesh submit).",
                0,
                0,
                Nodes});
  t->push_back(
      {{"mesh", "register"},
       {"--director", "--registration-key", "--ca", "--name", "--capacity"},
       {},
       "mesh register --director HOST:PORT --registration-key K [--ca FILE] [--name N] [--capacity C]",
       "Make this daemon join the director at HOST:PORT (TLS) with the director's\n"
       "registration key. --ca: the certificate the director's must chain to, a file\n"
       "on the daemon's host (made absolute here). --name: default this host's name.\n"
       "--capacity: tasks it runs at once (default: the daemon's). Prints the node id\n"
       "and the credential's fingerprint; the credential stays with the daemon. A\n"
       "node joins untrusted.",
       0,
       0,
       Register});
  t->push_back({{"mesh", "trust"},
                {},
                {},
                "mesh trust NODE trusted|untrusted",
                "Set a node's trust tier. Tasks require trusted nodes unless created with\n"
                "--trust untrusted. Admins only, on the director.",
                2,
                2,
                Trust});
  t->push_back({{"mesh", "revoke"},
                {},
                {},
                "mesh revoke NODE",
                "Refuse the node from now on: every call of it is rejected and its assigned\n"
                "and running tasks are fenced and re-queued. Admins only, on the director.",
                1,
                1,
                [](Cli& c, const Args& a) { return NodeState(c, a, NodeAction::kRevoke); }});
  t->push_back({{"mesh", "admit"},
                {},
                {},
                "mesh admit NODE",
                "Return a drained or revoked node to ready. Admins only, on the director.",
                1,
                1,
                [](Cli& c, const Args& a) { return NodeState(c, a, NodeAction::kAdmit); }});
  t->push_back({{"mesh", "drain"},
                {},
                {},
                "mesh drain NODE",
                "No new placements on the node; its running tasks finish. Admins only, on the\n"
                "director.",
                1,
                1,
                [](Cli& c, const Args& a) { return NodeState(c, a, NodeAction::kDrain); }});
  t->push_back({{"mesh", "submit"},
                {"--hourly-quota"},
                {},
                "mesh submit NODE allow|deny [--hourly-quota N]",
                "Let a node submit tasks itself (a workflow's task action on it), at most N\n"
                "in any sliding hour (default 0: no limit), or stop it. Its tasks are\n"
                "placed like any other and list submitter node:NODE and on whose behalf.\n"
                "Admins only, on the director.",
                2,
                2,
                Submit});
  t->push_back({{"mesh", "rotate-credential"},
                {},
                {},
                "mesh rotate-credential",
                "On a node: get a new credential from the director (kept by the daemon); the\n"
                "old one is refused from then on. Prints the new fingerprint.",
                0,
                0,
                RotateCredential});
  t->push_back({{"mesh", "tasks", "create"},
                {"--name", "--command", "--zone", "--trust", "--max-attempts", "--output"},
                {"--allow-network"},
                "mesh tasks create --name N --command CMD [--zone Z] [--trust trusted|untrusted]"
                " [--max-attempts K] [--allow-network] [--output PATH]...",
                "Submit a task: CMD runs with /bin/sh -c in a worker's sandbox, zone Z\n"
                "(default local) bound read-write at /zone; it is placed only on a node\n"
                "that has Z. --trust: the tier a node needs (default trusted).\n"
                "--max-attempts: assignments before it fails (1..1000, default 3).\n"
                "--allow-network: the sandbox shares the network. --output (repeatable):\n"
                "a file of the zone, relative to its root, the worker uploads with the\n"
                "result as files/PATH (at most 32 paths; 16 MiB each, 32 MiB together; a\n"
                "missing or larger one is listed in the result). Prints the task id.",
                0,
                0,
                TaskCreate});
  t->push_back({{"mesh", "tasks", "list"},
                {"--state"},
                {},
                "mesh tasks list [--state S]",
                "Every task (S: only pending, assigned, running, succeeded, failed or\n"
                "cancelled ones): id, name, state, node, attempts, last update, reason or\n"
                "progress.",
                0,
                0,
                TaskList});
  t->push_back({{"mesh", "tasks", "get"}, {}, {}, "mesh tasks get ID", "One task's record.", 1, 1, TaskGet});
  t->push_back({{"mesh", "tasks", "schedule"},
                {},
                {},
                "mesh tasks schedule [ID]",
                "Place task ID, or every pending task (oldest first), on the least loaded\n"
                "eligible node. Prints each placement with its node and lease token, and for\n"
                "a task left pending the reason (e.g. no eligible node: 2 drained).\n"
                "Admins only.",
                0,
                1,
                TaskSchedule});
  t->push_back({{"mesh", "tasks", "start"},
                {"--token"},
                {},
                "mesh tasks start ID --token TOKEN",
                "Mark an assigned task running." + token_help,
                1,
                1,
                TaskStart});
  t->push_back({{"mesh", "tasks", "progress"},
                {"--token", "--progress", "--checkpoint"},
                {},
                "mesh tasks progress ID --token TOKEN [--progress TEXT] [--checkpoint REF]",
                "Record a running task's progress text and/or checkpoint reference (at least\n"
                "one)." +
                    token_help,
                1,
                1,
                TaskProgress});
  t->push_back({{"mesh", "tasks", "extend"},
                {"--token", "--ttl"},
                {},
                "mesh tasks extend ID --token TOKEN [--ttl S]",
                "Keep the lease alive for S more seconds (default 30, 1..86400). Prints the\n"
                "new expiry." +
                    token_help,
                1,
                1,
                TaskExtend});
  t->push_back({{"mesh", "tasks", "complete"},
                {"--token", "--exit-code", "--stdout", "--stderr", "--file"},
                {},
                "mesh tasks complete ID --token TOKEN --exit-code N [--stdout FILE] [--stderr FILE]"
                " [--file PATH[,PATH...]]",
                "Finish the task with exit code N (0: succeeded, else failed) and its output.\n"
                "--stdout/--stderr: files holding the captured streams. --file: result files,\n"
                "comma-separated (the flag is not repeatable: a repeat replaces the earlier\n"
                "value), stored under their base names. Files are read on this host; at most\n"
                "16 MiB each and 48 MiB together, else a usage error." +
                    token_help,
                1,
                1,
                TaskComplete});
  t->push_back({{"mesh", "tasks", "fail"},
                {"--token", "--reason"},
                {},
                "mesh tasks fail ID --token TOKEN --reason TEXT",
                "End the attempt as failed: pending again after a back-off while attempts\n"
                "remain, else failed." +
                    token_help,
                1,
                1,
                TaskFail});
  t->push_back({{"mesh", "tasks", "migrate"},
                {"--token", "--checkpoint"},
                {},
                "mesh tasks migrate ID --token TOKEN --checkpoint REF",
                "Hand the task over from REF to another node (assigned there with a new\n"
                "token, printed) or back to pending when there is none." +
                    token_help,
                1,
                1,
                TaskMigrate});
  t->push_back({{"mesh", "tasks", "retry"},
                {},
                {},
                "mesh tasks retry ID",
                "Queue a failed or cancelled task again, attempts reset.",
                1,
                1,
                [](Cli& c, const Args& a) { return TaskRetryOrCancel(c, a, true); }});
  t->push_back({{"mesh", "tasks", "cancel"},
                {},
                {},
                "mesh tasks cancel ID",
                "Cancel a task that has not finished; its lease is revoked.",
                1,
                1,
                [](Cli& c, const Args& a) { return TaskRetryOrCancel(c, a, false); }});
  t->push_back({{"mesh", "tasks", "result"},
                {"-o,--output"},
                {},
                "mesh tasks result ID [-o DIR]",
                "A finished task's exit code and files (stdout, stderr, files/NAME) with\n"
                "sizes and SHA-256, and stdout's content; declared outputs the worker could\n"
                "not collect, with why (on stderr; \"missing\" in --json). -o DIR: download\n"
                "every file into DIR (created if missing; files/PATH keeps the declared\n"
                "path), each verified against its SHA-256 here; a mismatch keeps nothing of\n"
                "that file and exits 1.",
                1,
                1,
                TaskResult});
}

}  // namespace nexus::cli
