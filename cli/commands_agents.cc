// The agent registry: nexus agent register|update|list|info|status|
// heartbeat|transition|delete. Every ID is "ID" or "agent:ID" (the daemon
// parses it).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "base/format.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------- formatting

// The status object (the daemon's AGENT.json has the same shape):
// {"id","name","owner","phase","generation","stale","last_heartbeat"
// (RFC 3339 or null),"metadata","description","created_at","updated_at"}.
json AgentJson(rpc::AgentRecord::Reader a) {
  json metadata = json::object();
  for (auto e : a.getMetadata()) metadata[std::string(e.getKey())] = std::string(e.getValue());
  return {{"id", std::string(a.getId())},
          {"name", std::string(a.getName())},
          {"owner", std::string(a.getOwner())},
          {"phase", std::string(a.getPhase())},
          {"generation", a.getGeneration()},
          {"stale", a.getStale()},
          {"last_heartbeat",
           a.getLastHeartbeatNs() ? json(FormatRfc3339(a.getLastHeartbeatNs())) : json(nullptr)},
          {"metadata", metadata},
          {"description", std::string(a.getDescription())},
          {"created_at", FormatRfc3339(a.getCreatedAtNs())},
          {"updated_at", FormatRfc3339(a.getUpdatedAtNs())}};
}

// "CONNECTED", or "CONNECTED (stale)".
std::string PhaseText(rpc::AgentRecord::Reader a) {
  return std::string(a.getPhase()) + (a.getStale() ? " (stale)" : "");
}

void PrintInfo(rpc::AgentRecord::Reader a) {
  std::printf("agent           agent:%s\n", a.getId().cStr());
  std::printf("name            %s\n", a.getName().cStr());
  std::printf("description     %s\n", a.getDescription().size() ? a.getDescription().cStr() : "-");
  std::printf("owner           %s\n", a.getOwner().cStr());
  std::printf("phase           %s\n", PhaseText(a).c_str());
  std::printf("generation      %llu\n", static_cast<unsigned long long>(a.getGeneration()));
  std::printf("last heartbeat  %s\n", FormatTime(a.getLastHeartbeatNs()).c_str());
  std::printf("created         %s\n", FormatTime(a.getCreatedAtNs()).c_str());
  std::printf("updated         %s\n", FormatTime(a.getUpdatedAtNs()).c_str());
  if (a.getMetadata().size() == 0) {
    std::printf("metadata        -\n");
    return;
  }
  bool first = true;
  for (auto e : a.getMetadata()) {
    std::printf("%-16s%s=%s\n", first ? "metadata" : "", e.getKey().cStr(), e.getValue().cStr());
    first = false;
  }
}

void PrintStatus(rpc::AgentRecord::Reader a) {
  std::printf("agent:%s  %s  generation %llu  last heartbeat %s\n", a.getId().cStr(), PhaseText(a).c_str(),
              static_cast<unsigned long long>(a.getGeneration()), FormatTime(a.getLastHeartbeatNs()).c_str());
}

// ---------------------------------------------------------------- plumbing

// Runs `fn` with the connected client and its Agents capability.
int WithAgents(Cli& cli, const std::function<int(NexusClient&, rpc::Agents::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto agents = c.value()->session().agentsRequest().send().getAgents();
  return fn(**c, agents);
}

// The --metadata k=v values, in order; EINVAL for one without '='.
Result<std::vector<std::pair<std::string, std::string>>> MetadataFlags(const Args& a) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& kv : a.All("metadata")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::Error(EINVAL, "--metadata: '" + kv + "' is not KEY=VALUE");
    out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

template <typename List>
void SetMetadata(List list, const std::vector<std::pair<std::string, std::string>>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    list[i].setKey(entries[i].first);
    list[i].setValue(entries[i].second);
  }
}

// Prints the record a change returned: JSON, or `line` then its status.
template <typename Reply>
int PrintChanged(Cli& cli, Reply& r, const std::string& line) {
  if (cli.json) {
    cli.PrintJson(AgentJson(r->getAgent()));
  } else {
    std::printf("%s\n", line.c_str());
    PrintStatus(r->getAgent());
  }
  return kExitOk;
}

// ---------------------------------------------------------------- commands

int Register(Cli& cli, const Args& a) {
  auto metadata = MetadataFlags(a);
  if (!metadata.ok()) return cli.Fail(metadata.status(), true);
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.registerRequest();
    req.setId(a.positional[0]);
    req.setName(a.positional[1]);
    req.setDescription(a.Get("description"));
    req.setOwner(a.Get("owner"));
    SetMetadata(req.initMetadata(metadata->size()), *metadata);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintChanged(cli, r,
                        "registered agent:" + std::string(r->getAgent().getId()) + ", owned by " +
                            std::string(r->getAgent().getOwner()));
  });
}

int Update(Cli& cli, const Args& a) {
  auto metadata = MetadataFlags(a);
  if (!metadata.ok()) return cli.Fail(metadata.status(), true);
  const std::vector<std::string> removed = a.All("remove-metadata");
  if (!a.Has("name") && !a.Has("description") && metadata->empty() && removed.empty())
    return cli.Usage("nothing to update: give --name, --description, --metadata or --remove-metadata");
  if (a.Has("name") && a.Get("name").empty()) return cli.Usage("--name: an agent's name cannot be empty");
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.updateRequest();
    req.setId(a.positional[0]);
    req.setName(a.Get("name"));
    req.setDescription(a.Get("description"));
    req.setSetDescription(a.Has("description"));
    SetMetadata(req.initMetadata(metadata->size()), *metadata);
    auto keys = req.initRemoveMetadata(removed.size());
    for (size_t i = 0; i < removed.size(); ++i) keys.set(i, removed[i]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintChanged(cli, r, "updated agent:" + std::string(r->getAgent().getId()));
  });
}

int List(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.listRequest();
    req.setOwner(a.Get("owner"));
    req.setPhase(a.Get("phase"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto agent : r->getAgents()) list.push_back(AgentJson(agent));
      cli.PrintJson({{"agents", list}});
      return kExitOk;
    }
    std::printf("%-24s %-24s %-20s %-20s %5s  %s\n", "ID", "NAME", "OWNER", "PHASE", "GEN", "LAST HEARTBEAT");
    for (auto agent : r->getAgents())
      std::printf("%-24s %-24s %-20s %-20s %5llu  %s\n", agent.getId().cStr(), agent.getName().cStr(),
                  agent.getOwner().cStr(), PhaseText(agent).c_str(),
                  static_cast<unsigned long long>(agent.getGeneration()),
                  FormatTime(agent.getLastHeartbeatNs()).c_str());
    return kExitOk;
  });
}

// agent info (every field) and agent status (one line); the same JSON.
int Show(Cli& cli, const Args& a, bool full) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.getRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson(AgentJson(r->getAgent()));
    else if (full)
      PrintInfo(r->getAgent());
    else
      PrintStatus(r->getAgent());
    return kExitOk;
  });
}
int Info(Cli& cli, const Args& a) { return Show(cli, a, true); }
int StatusCmd(Cli& cli, const Args& a) { return Show(cli, a, false); }

int Heartbeat(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.heartbeatRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]}, {"heartbeat", true}});
    else
      std::printf("heartbeat recorded for %s\n", a.positional[0].c_str());
    return kExitOk;
  });
}

int Transition(Cli& cli, const Args& a) {
  uint64_t expected = 0;
  if (a.Has("expected-generation")) {
    auto n = a.Number("expected-generation", 0, 1, 9007199254740992.0);
    if (!n.ok()) return cli.Fail(n.status(), true);
    if (*n != std::floor(*n))
      return cli.Usage("--expected-generation: '" + a.Get("expected-generation") + "' is not a whole number");
    expected = static_cast<uint64_t>(*n);
  }
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.transitionRequest();
    req.setId(a.positional[0]);
    req.setPhase(a.positional[1]);
    req.setExpectedGeneration(expected);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintChanged(
        cli, r,
        "agent:" + std::string(r->getAgent().getId()) + " is " + std::string(r->getAgent().getPhase()));
  });
}

int Delete(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.deleteRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]}, {"deleted", true}});
    else
      std::printf("deleted %s\n", a.positional[0].c_str());
    return kExitOk;
  });
}

}  // namespace

void AddAgentCommands(std::vector<Command>* t) {
  t->push_back({{"agent", "register"},
                {"--description", "--metadata", "--owner"},
                {},
                "agent register ID NAME [--description D] [--metadata k=v ...] [--owner S]",
                "Register the agent agent:ID, owned by you.\n"
                "It starts in phase REGISTERED, generation 1. An admin may name another owner\n"
                "with --owner. --metadata may be repeated. ID: 1-64 of letters, digits, '.',\n"
                "'_', '-'; 'agent:ID' also works.",
                2,
                2,
                Register});
  t->push_back({{"agent", "update"},
                {"--name", "--description", "--metadata", "--remove-metadata"},
                {},
                "agent update ID [--name N] [--description D] [--metadata k=v ...] [--remove-metadata K ...]",
                "Change an agent's name, description or metadata.\n"
                "The owner or an admin. --metadata sets a key, --remove-metadata removes one;\n"
                "both may be repeated. Bumps the generation.",
                1,
                1,
                Update});
  t->push_back({{"agent", "list"},
                {"--owner", "--phase"},
                {},
                "agent list [--owner S] [--phase P]",
                "List the registered agents.\n"
                "Sorted by id: name, owner, phase (\"(stale)\" when a live agent missed its\n"
                "heartbeat window), generation and last heartbeat. --owner takes a subject\n"
                "(user:alice), --phase a phase name.",
                0,
                0,
                List});
  t->push_back({{"agent", "info"},
                {},
                {},
                "agent info ID",
                "Show everything the registry holds about an agent.",
                1,
                1,
                Info});
  t->push_back({{"agent", "status"},
                {},
                {},
                "agent status ID",
                "Show an agent's phase, staleness, generation and last heartbeat.\n"
                "--json prints {\"id\",\"name\",\"owner\",\"phase\",\"generation\",\"stale\",\n"
                "\"last_heartbeat\",\"metadata\",...}.",
                1,
                1,
                StatusCmd});
  t->push_back({{"agent", "heartbeat"},
                {},
                {},
                "agent heartbeat ID",
                "Record a sign of life for an agent.\n"
                "The agent itself, its owner or an admin. Changes neither phase nor\n"
                "generation; refused for a SUSPENDED agent.",
                1,
                1,
                Heartbeat});
  t->push_back({{"agent", "transition"},
                {"--expected-generation"},
                {},
                "agent transition ID PHASE [--expected-generation N]",
                "Move an agent to another lifecycle phase.\n"
                "PHASE: CONNECTED, IDLE, BUSY, DISCONNECTED or SUSPENDED (see docs/agents.md\n"
                "for the allowed moves; SUSPENDED is for admins). The owner or an admin. With\n"
                "--expected-generation it fails with a conflict naming the current generation\n"
                "unless the agent is at generation N.",
                2,
                2,
                Transition});
  t->push_back({{"agent", "delete"},
                {},
                {},
                "agent delete ID",
                "Remove an agent from the registry (the owner or an admin).",
                1,
                1,
                Delete});
}

}  // namespace nexus::cli
