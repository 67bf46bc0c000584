// MCP tool profiles: nexus mcp profile list|show|assign|inspect. Profiles
// are named tool sets (docs/mcp.md "Tool profiles"); assigning one writes
// `viewer` tuples on `tool:NAME` for the subject.
#include <cstdio>
#include <string>

#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

// {"name","description","inherits","tools","all_tools"}
json ProfileJson(rpc::ToolProfile::Reader p) {
  return {{"name", std::string(p.getName())},
          {"description", std::string(p.getDescription())},
          {"inherits", TextsJson(p.getInherits())},
          {"tools", TextsJson(p.getTools())},
          {"all_tools", TextsJson(p.getAllTools())}};
}

// --format json|table (as the guide writes it) is --json or the default.
bool TakeFormat(Cli& cli, const Args& a, int* exit_code) {
  const std::string format = a.Get("format", "table");
  if (format != "table" && format != "json") {
    *exit_code = cli.Usage("--format must be json or table");
    return false;
  }
  if (format == "json") cli.json = true;
  return true;
}

// "agent" "bot" -> "agent:bot".
std::string Subject(const Args& a) { return a.positional[0] + ":" + a.positional[1]; }

int WithTools(Cli& cli, const Args& a, const std::function<int(NexusClient&, rpc::Tools::Client&)>& fn) {
  int code = kExitOk;
  if (!TakeFormat(cli, a, &code)) return code;
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto tools = c.value()->session().toolsRequest().send().getTools();
  return fn(**c, tools);
}

int List(Cli& cli, const Args& a) {
  return WithTools(cli, a, [&](NexusClient& c, rpc::Tools::Client& tools) -> int {
    auto r = c.Wait(tools.profilesRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json list = json::array();
      for (auto p : r->getProfiles()) list.push_back(ProfileJson(p));
      cli.PrintJson({{"profiles", list},
                     {"default_profile", std::string(r->getDefaultProfile())},
                     {"source", std::string(r->getSource())}});
      return kExitOk;
    }
    std::printf("%-12s %-12s %5s  %s\n", "PROFILE", "INHERITS", "TOOLS", "DESCRIPTION");
    for (auto p : r->getProfiles()) {
      std::string name = p.getName();
      if (name == r->getDefaultProfile().cStr()) name += " *";
      std::printf("%-12s %-12s %5u  %s\n", name.c_str(), JoinTexts(p.getInherits(), ",").c_str(),
                  p.getAllTools().size(), p.getDescription().cStr());
    }
    std::printf("\n* the default profile (subjects without tool grants); profiles from %s\n",
                r->getSource().cStr());
    return kExitOk;
  });
}

int Show(Cli& cli, const Args& a) {
  return WithTools(cli, a, [&](NexusClient& c, rpc::Tools::Client& tools) -> int {
    auto req = tools.profileRequest();
    req.setName(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto p = r->getProfile();
    if (cli.json) {
      cli.PrintJson(ProfileJson(p));
      return kExitOk;
    }
    std::printf("profile      %s\n", p.getName().cStr());
    std::printf("description  %s\n", p.getDescription().size() ? p.getDescription().cStr() : "-");
    std::printf("inherits     %s\n", JoinTexts(p.getInherits()).c_str());
    std::printf("\n%-36s %s\n", "TOOL", "FROM");
    for (auto t : p.getAllTools()) {
      bool own = false;
      for (auto o : p.getTools()) own = own || o == t;
      std::printf("%-36s %s\n", t.cStr(), own ? "this profile" : "inherited");
    }
    return kExitOk;
  });
}

int Assign(Cli& cli, const Args& a) {
  return WithTools(cli, a, [&](NexusClient& c, rpc::Tools::Client& tools) -> int {
    auto req = tools.assignRequest();
    req.setSubject(Subject(a));
    req.setProfile(a.positional[2]);
    req.setZone(a.Get("zone-id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"subject", Subject(a)},
                     {"profile", a.positional[2]},
                     {"zone", a.Get("zone-id")},
                     {"granted", TextsJson(r->getGranted())},
                     {"removed", TextsJson(r->getRemoved())},
                     {"revision", r->getRevision()}});
      return kExitOk;
    }
    std::printf("assigned profile %s to %s: %u tools granted, %u removed (revision %llu)\n",
                a.positional[2].c_str(), Subject(a).c_str(), r->getGranted().size(), r->getRemoved().size(),
                static_cast<unsigned long long>(r->getRevision()));
    if (r->getRemoved().size()) std::printf("removed: %s\n", JoinTexts(r->getRemoved()).c_str());
    return kExitOk;
  });
}

int Inspect(Cli& cli, const Args& a) {
  return WithTools(cli, a, [&](NexusClient& c, rpc::Tools::Client& tools) -> int {
    auto req = tools.inspectRequest();
    req.setSubject(Subject(a));
    req.setZone(a.Get("zone-id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json grants = json::array();
      for (auto t : r->getGrants())
        grants.push_back(
            {{"subject", std::string(t.getSubject())},
             {"relation", std::string(t.getRelation())},
             {"object", std::string(t.getObject())},
             {"zone", std::string(t.getZone())},
             {"expires_at", t.getExpiresAtNs() ? json(FormatRfc3339(t.getExpiresAtNs())) : json(nullptr)},
             {"expired", t.getExpired()}});
      cli.PrintJson({{"subject", Subject(a)},
                     {"tools", TextsJson(r->getTools())},
                     {"defaulted", r->getDefaulted()},
                     {"profile", r->getProfile().size() ? json(std::string(r->getProfile())) : json(nullptr)},
                     {"grants", grants}});
      return kExitOk;
    }
    std::printf("subject      %s\n", Subject(a).c_str());
    std::printf("profile      %s%s\n", r->getProfile().size() ? r->getProfile().cStr() : "-",
                r->getDefaulted() ? " (default: no tool grants)" : "");
    std::printf("tools        %u\n", r->getTools().size());
    for (auto t : r->getTools()) std::printf("  %s\n", t.cStr());
    std::printf("\n%-40s %-8s %-20s %s\n", "GRANT", "RELATION", "ZONE", "EXPIRES");
    for (auto t : r->getGrants())
      std::printf("%-40s %-8s %-20s %s%s\n", t.getObject().cStr(), t.getRelation().cStr(),
                  t.getZone().size() ? t.getZone().cStr() : "-",
                  t.getExpiresAtNs() ? FormatTime(t.getExpiresAtNs()).c_str() : "never",
                  t.getExpired() ? " (expired)" : "");
    return kExitOk;
  });
}

}  // namespace

void AddMcpProfileCommands(std::vector<Command>* t) {
  t->push_back({{"mcp", "profile", "list"},
                {"--format"},
                {},
                "mcp profile list [--format json|table]",
                "List the MCP tool profiles: built in, and from the daemon's --tool-profiles file.\n"
                "The default profile (marked *) is what subjects without tool grants use.",
                0,
                0,
                List});
  t->push_back({{"mcp", "profile", "show"},
                {"--format"},
                {},
                "mcp profile show NAME [--format json|table]",
                "Show a profile: what it inherits and every tool it gives.",
                1,
                1,
                Show});
  t->push_back({{"mcp", "profile", "assign"},
                {"--zone-id", "--format"},
                {},
                "mcp profile assign SUBJECT_TYPE SUBJECT_ID PROFILE [--zone-id Z] [--format json|table]",
                "Give a user or agent exactly a profile's tools.\n"
                "Writes viewer tuples on tool:NAME for each of the profile's tools (labelled\n"
                "--zone-id Z) and removes the subject's other direct tool tuples, in one ReBAC\n"
                "write. Admins only (it needs manage on folder:/tools).",
                3,
                3,
                Assign});
  t->push_back({{"mcp", "profile", "inspect"},
                {"--zone-id", "--format"},
                {},
                "mcp profile inspect SUBJECT_TYPE SUBJECT_ID [--zone-id Z] [--format json|table]",
                "Show the tools a user or agent may use, the profile they equal, whether they\n"
                "are the default profile's (no tool grants), and its direct tool tuples (only\n"
                "those labelled --zone-id Z when given). The subject itself, its owner or an\n"
                "admin.",
                2,
                2,
                Inspect});
}

}  // namespace nexus::cli
