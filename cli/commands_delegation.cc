// Delegations: nexus delegation create|list|show|chain|revoke. FROM and TO
// are "ID" (an agent), "agent:ID" or "user:ID" (the daemon parses them).
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

json OrNull(capnp::Text::Reader text) { return text.size() ? json(std::string(text)) : json(nullptr); }
json TimeOrNull(int64_t ns) { return ns ? json(FormatRfc3339(ns)) : json(nullptr); }

// {"id","from","to","scope","mode","relation","readonly","created_at",
// "expires_at","max_depth","depth","parent","created_by","revoked_at",
// "revoked_by","state","snapshot"}; absent times, parent, relation: null.
json DelegationJson(rpc::Delegation::Reader d) {
  json snapshot = json::array();
  for (auto e : d.getSnapshot())
    snapshot.push_back({{"path", std::string(e.getPath())}, {"permission", std::string(e.getPermission())}});
  return {{"id", std::string(d.getId())},
          {"from", std::string(d.getFrom())},
          {"to", std::string(d.getTo())},
          {"scope", TextsJson(d.getScope())},
          {"mode", std::string(d.getMode())},
          {"relation", OrNull(d.getRelation())},
          {"readonly", TextsJson(d.getReadonly())},
          {"created_at", FormatRfc3339(d.getCreatedAtNs())},
          {"expires_at", TimeOrNull(d.getExpiresAtNs())},
          {"max_depth", d.getMaxDepth()},
          {"depth", d.getDepth()},
          {"parent", OrNull(d.getParent())},
          {"created_by", std::string(d.getCreatedBy())},
          {"revoked_at", TimeOrNull(d.getRevokedAtNs())},
          {"revoked_by", OrNull(d.getRevokedBy())},
          {"state", std::string(d.getState())},
          {"snapshot", snapshot}};
}

// "clean editor", "shared", "copy viewer".
std::string ModeText(rpc::Delegation::Reader d) {
  std::string out = d.getMode();
  if (d.getRelation().size()) out += " " + std::string(d.getRelation().cStr());
  return out;
}

std::string ExpiresText(int64_t ns) { return ns ? FormatTime(ns) : "never"; }

void PrintDelegation(rpc::Delegation::Reader d) {
  std::printf("delegation   %s\n", d.getId().cStr());
  std::printf("from         %s\n", d.getFrom().cStr());
  std::printf("to           %s\n", d.getTo().cStr());
  std::printf("mode         %s\n", ModeText(d).c_str());
  std::printf("scope        %s\n", JoinTexts(d.getScope(), " ").c_str());
  std::printf("read-only    %s\n", JoinTexts(d.getReadonly(), " ").c_str());
  std::printf("state        %s\n", d.getState().cStr());
  std::printf("created      %s by %s\n", FormatTime(d.getCreatedAtNs()).c_str(), d.getCreatedBy().cStr());
  std::printf("expires      %s\n", ExpiresText(d.getExpiresAtNs()).c_str());
  if (d.getRevokedAtNs())
    std::printf("revoked      %s by %s\n", FormatTime(d.getRevokedAtNs()).c_str(), d.getRevokedBy().cStr());
  std::printf("depth        %u (may be delegated %u more level%s)\n", d.getDepth(), d.getMaxDepth(),
              d.getMaxDepth() == 1 ? "" : "s");
  std::printf("parent       %s\n", d.getParent().size() ? d.getParent().cStr() : "-");
  bool first = true;
  for (auto e : d.getSnapshot()) {
    std::printf("%-13s%s %s\n", first ? "snapshot" : "", e.getPermission().cStr(), e.getPath().cStr());
    first = false;
  }
}

// One line of a list or a chain, indented by `indent` levels.
void PrintLine(rpc::Delegation::Reader d, unsigned indent) {
  const std::string id = std::string(indent * 2, ' ') + d.getId().cStr();
  std::printf("%-20s %-20s %-20s %-13s %-8s %-24s %s\n", id.c_str(), d.getFrom().cStr(), d.getTo().cStr(),
              ModeText(d).c_str(), d.getState().cStr(), ExpiresText(d.getExpiresAtNs()).c_str(),
              JoinTexts(d.getScope(), " ").c_str());
}

void PrintHeader() {
  std::printf("%-20s %-20s %-20s %-13s %-8s %-24s %s\n", "ID", "FROM", "TO", "MODE", "STATE", "EXPIRES",
              "SCOPE");
}

// ---------------------------------------------------------------- plumbing

int WithDelegations(Cli& cli, const std::function<int(NexusClient&, rpc::Delegations::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto delegations = c.value()->session().delegationsRequest().send().getDelegations();
  return fn(**c, delegations);
}

template <typename Builder>
void SetTexts(Builder list, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
}

// Prints a list of delegations: JSON, or a table (a chain indented by depth
// below its first).
template <typename Reply>
int PrintList(Cli& cli, Reply& r, bool chain) {
  if (cli.json) {
    json list = json::array();
    for (auto d : r->getDelegations()) list.push_back(DelegationJson(d));
    cli.PrintJson({{"delegations", list}});
    return kExitOk;
  }
  PrintHeader();
  unsigned base = r->getDelegations().size() ? r->getDelegations()[0].getDepth() : 0;
  for (auto d : r->getDelegations()) PrintLine(d, chain ? d.getDepth() - base : 0);
  return kExitOk;
}

// ---------------------------------------------------------------- commands

int Create(Cli& cli, const Args& a) {
  const std::vector<std::string> scope = a.All("scope");
  if (scope.empty()) return cli.Usage("give the scope with --scope GLOB (e.g. --scope '/proj/*')");
  std::optional<double> ttl;
  if (a.Has("ttl")) {
    auto n = a.Number("ttl", 0, -1e300, 1e300);
    if (!n.ok()) return cli.Fail(n.status(), true);
    ttl = *n;
  }
  uint32_t max_depth = 0;
  if (a.Has("max-depth")) {
    auto n = a.Number("max-depth", 0, 0, 1000);
    if (!n.ok()) return cli.Fail(n.status(), true);
    if (*n != std::floor(*n))
      return cli.Usage("--max-depth: '" + a.Get("max-depth") + "' is not a whole number");
    max_depth = static_cast<uint32_t>(*n);
  }
  return WithDelegations(cli, [&](NexusClient& c, rpc::Delegations::Client& delegations) -> int {
    auto req = delegations.createRequest();
    req.setFrom(a.positional[0]);
    req.setTo(a.positional[1]);
    const std::vector<std::string> readonly = a.All("readonly");
    SetTexts(req.initScope(scope.size()), scope);
    SetTexts(req.initReadonly(readonly.size()), readonly);
    req.setMode(a.Get("mode"));
    req.setRelation(a.Get("relation"));
    req.setHasTtl(ttl.has_value());
    req.setTtlSeconds(ttl.value_or(0));
    req.setMaxDepth(max_depth);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto d = r->getDelegation();
    if (cli.json) {
      cli.PrintJson(DelegationJson(d));
      return kExitOk;
    }
    std::printf("created %s: %s -> %s, %s on %s, expires %s\n", d.getId().cStr(), d.getFrom().cStr(),
                d.getTo().cStr(), ModeText(d).c_str(), JoinTexts(d.getScope(), " ").c_str(),
                ExpiresText(d.getExpiresAtNs()).c_str());
    return kExitOk;
  });
}

int List(Cli& cli, const Args& a) {
  return WithDelegations(cli, [&](NexusClient& c, rpc::Delegations::Client& delegations) -> int {
    auto req = delegations.listRequest();
    req.setFrom(a.Get("from"));
    req.setTo(a.Get("to"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintList(cli, r, false);
  });
}

int Show(Cli& cli, const Args& a) {
  return WithDelegations(cli, [&](NexusClient& c, rpc::Delegations::Client& delegations) -> int {
    auto req = delegations.showRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson(DelegationJson(r->getDelegation()));
    else
      PrintDelegation(r->getDelegation());
    return kExitOk;
  });
}

int Chain(Cli& cli, const Args& a) {
  return WithDelegations(cli, [&](NexusClient& c, rpc::Delegations::Client& delegations) -> int {
    auto req = delegations.chainRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintList(cli, r, true);
  });
}

int Revoke(Cli& cli, const Args& a) {
  return WithDelegations(cli, [&](NexusClient& c, rpc::Delegations::Client& delegations) -> int {
    auto req = delegations.revokeRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"revoked", TextsJson(r->getRevoked())}});
      return kExitOk;
    }
    auto ids = r->getRevoked();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i == 0)
        std::printf("revoked %s\n", ids[i].cStr());
      else
        std::printf("revoked %s (made from it)\n", ids[i].cStr());
    }
    return kExitOk;
  });
}

}  // namespace

void AddDelegationCommands(std::vector<Command>* t) {
  t->push_back(
      {{"delegation", "create"},
       {"--scope", "--mode", "--relation", "--readonly", "--ttl", "--max-depth"},
       {},
       "delegation create FROM TO --scope GLOB [--mode copy|clean|shared] [--relation viewer|editor] "
       "[--readonly GLOB ...] [--ttl S] [--max-depth N]",
       "Delegate a part of FROM's access to TO.\n"
       "FROM and TO: ID (an agent), agent:ID or user:ID. FROM is you, an agent you own,\n"
       "or anyone for an admin. --scope (repeatable) names the paths: '/proj/*' is the\n"
       "/proj subtree. --mode: clean (default) gives only --relation (viewer by default,\n"
       "or editor) and confines TO to its clean delegations; shared gives FROM's live\n"
       "access; copy gives FROM's access as it is now. --relation caps shared and copy.\n"
       "--readonly GLOB (repeatable) refuses writes under it. --ttl S expires it after S\n"
       "seconds; --max-depth N lets TO delegate it N more levels (default 0). Never more\n"
       "than FROM holds. --json prints the delegation, with its \"id\".",
       2,
       2,
       Create});
  t->push_back({{"delegation", "list"},
                {"--from", "--to"},
                {},
                "delegation list [--from S] [--to S]",
                "List the delegations you may see (yours, your agents', or all for an admin).\n"
                "Oldest first, with their state: active, expired or revoked.",
                0,
                0,
                List});
  t->push_back({{"delegation", "show"},
                {},
                {},
                "delegation show ID",
                "Show everything about one delegation.",
                1,
                1,
                Show});
  t->push_back({{"delegation", "chain"},
                {},
                {},
                "delegation chain ID",
                "Show a delegation's chain.\n"
                "The delegations it was made from (the first first), itself, then everything\n"
                "delegated from it, indented by depth.",
                1,
                1,
                Chain});
  t->push_back({{"delegation", "revoke"},
                {},
                {},
                "delegation revoke ID",
                "Revoke a delegation and everything delegated from it.\n"
                "Its creator, FROM, FROM's owner or an admin. Holds from the next call on.",
                1,
                1,
                Revoke});
}

}  // namespace nexus::cli
