// Agents' identities and passports: nexus identity show|credentials|
// passport|verify|revoke-passports|node-key (identity bind|unbind|list are
// in commands_rebac.cc). Every ID is "ID" or "agent:ID" (the daemon parses
// it).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "base/file_util.h"
#include "base/format.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------- formatting

json KeysJson(capnp::List<rpc::ApiKey>::Reader keys) {
  json out = json::array();
  for (auto k : keys)
    out.push_back(
        {{"id", std::string(k.getId())},
         {"name", std::string(k.getName())},
         {"scope", ScopeName(k.getScope())},
         {"created_at", FormatRfc3339(k.getCreatedAtNs(), 3)},
         {"expires_at", k.getExpiresAtNs() ? json(FormatRfc3339(k.getExpiresAtNs(), 3)) : json(nullptr)},
         {"revoked", k.getRevoked()}});
  return out;
}

json UidsJson(capnp::List<uint32_t>::Reader uids) {
  json out = json::array();
  for (uint32_t uid : uids) out.push_back(uid);
  return out;
}

// The passport's claims in its own wire form.
json ClaimsJson(rpc::PassportClaims::Reader c) {
  json scopes = json::array();
  for (auto s : c.getScopes()) scopes.push_back(std::string(s));
  return {{"agent_id", std::string(c.getAgentId())},
          {"owner", std::string(c.getOwner())},
          {"node", std::string(c.getNode())},
          {"scopes", scopes},
          {"issued_at", FormatRfc3339(c.getIssuedAtNs(), 3)},
          {"expires_at", FormatRfc3339(c.getExpiresAtNs(), 3)}};
}

void PrintKeys(capnp::List<rpc::ApiKey>::Reader keys) {
  if (keys.size() == 0) {
    std::printf("keys            -\n");
    return;
  }
  bool first = true;
  for (auto k : keys) {
    std::printf("%-16s%s  %s  %s  created %s  expires %s%s\n", first ? "keys" : "", k.getId().cStr(),
                k.getName().size() ? k.getName().cStr() : "-", ScopeName(k.getScope()),
                FormatTime(k.getCreatedAtNs()).c_str(),
                k.getExpiresAtNs() ? FormatTime(k.getExpiresAtNs()).c_str() : "never",
                k.getRevoked() ? "  (revoked)" : "");
    first = false;
  }
}

void PrintUids(capnp::List<uint32_t>::Reader uids) {
  std::string text;
  for (uint32_t uid : uids) text += (text.empty() ? "" : ", ") + std::to_string(uid);
  std::printf("uid bindings    %s\n", text.empty() ? "-" : text.c_str());
}

// ---------------------------------------------------------------- plumbing

int WithAgents(Cli& cli, const std::function<int(NexusClient&, rpc::Agents::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto agents = c.value()->session().agentsRequest().send().getAgents();
  return fn(**c, agents);
}

// The text of FILE, or of standard input for "-".
Result<std::string> ReadInput(const std::string& path, const std::string& what) {
  if (path != "-") return ReadTextFile(path, what);
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return Status::Error(EIO, "read " + what + " from standard input");
  return text;
}

// ---------------------------------------------------------------- commands

int Show(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.identityRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto id = r->getIdentity();
    if (cli.json) {
      json by_relation = json::object();
      for (auto g : id.getGrants()) {
        json objects = json::array();
        for (auto o : g.getObjects()) objects.push_back(std::string(o));
        by_relation[std::string(g.getRelation())] = {{"count", g.getCount()}, {"objects", objects}};
      }
      cli.PrintJson({{"subject", std::string(id.getSubject())},
                     {"owner", std::string(id.getOwner())},
                     {"phase", std::string(id.getPhase())},
                     {"keys", KeysJson(id.getKeys())},
                     {"uids", UidsJson(id.getUids())},
                     {"grants", {{"count", id.getGrantCount()}, {"by_relation", by_relation}}}});
      return kExitOk;
    }
    std::printf("subject         %s\n", id.getSubject().cStr());
    std::printf("owner           %s\n", id.getOwner().cStr());
    std::printf("phase           %s\n", id.getPhase().cStr());
    PrintKeys(id.getKeys());
    PrintUids(id.getUids());
    std::printf("grants          %u\n", id.getGrantCount());
    for (auto g : id.getGrants()) {
      std::string objects;
      for (auto o : g.getObjects()) objects += (objects.empty() ? "" : ", ") + std::string(o);
      if (g.getCount() > g.getObjects().size()) objects += ", ...";
      std::printf("  %-14s%u: %s\n", g.getRelation().cStr(), g.getCount(), objects.c_str());
    }
    return kExitOk;
  });
}

int Credentials(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.credentialsRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto cr = r->getCredentials();
    if (cli.json) {
      cli.PrintJson({{"subject", std::string(cr.getSubject())},
                     {"keys", KeysJson(cr.getKeys())},
                     {"uids", UidsJson(cr.getUids())},
                     {"node_key_id", std::string(cr.getNodeKeyId())},
                     {"node", std::string(cr.getNode())}});
      return kExitOk;
    }
    std::printf("subject         %s\n", cr.getSubject().cStr());
    PrintKeys(cr.getKeys());
    PrintUids(cr.getUids());
    std::printf("passports       signed by node %s with key %s\n", cr.getNode().cStr(),
                cr.getNodeKeyId().cStr());
    return kExitOk;
  });
}

int Passport(Cli& cli, const Args& a) {
  uint32_t ttl = 0;
  if (a.Has("ttl")) {
    auto n = a.Number("ttl", 0, 1, 7 * 24 * 3600);
    if (!n.ok()) return cli.Fail(n.status(), true);
    if (*n != std::floor(*n))
      return cli.Usage("--ttl: '" + a.Get("ttl") + "' is not a whole number of seconds");
    ttl = static_cast<uint32_t>(*n);
  }
  const std::vector<std::string> scopes = a.All("scope");
  for (const std::string& s : scopes)
    if (s.empty()) return cli.Usage("--scope: a scope cannot be empty");
  const std::string out_path = a.Get("output");
  if (a.Has("output") && out_path.empty()) return cli.Usage("-o needs a file name");
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.passportRequest();
    req.setId(a.positional[0]);
    req.setTtlSeconds(ttl);
    auto list = req.initScopes(scopes.size());
    for (size_t i = 0; i < scopes.size(); ++i) list.set(i, scopes[i]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    const std::string text = std::string(r->getPassport()) + "\n";
    if (out_path.empty()) {
      std::fwrite(text.data(), 1, text.size(), stdout);  // the passport is its own JSON
      return kExitOk;
    }
    // A passport speaks for the agent until it expires: readable by its
    // holder only.
    if (Status st = WriteFileAtomic(out_path, text, 0600); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"file", out_path},
                     {"key_id", std::string(r->getKeyId())},
                     {"claims", ClaimsJson(r->getClaims())}});
    } else {
      std::printf("passport of agent:%s written to %s (expires %s)\n", r->getClaims().getAgentId().cStr(),
                  out_path.c_str(), FormatTime(r->getClaims().getExpiresAtNs()).c_str());
    }
    return kExitOk;
  });
}

int Verify(Cli& cli, const Args& a) {
  auto text = ReadInput(a.positional[0], "passport");
  if (!text.ok()) return cli.Fail(text.status());
  std::string trust = a.Get("trust");
  if (a.Has("trust") && trust.empty())
    return cli.Usage("--trust needs a public key (base64 or PEM) or a file holding one");
  struct stat st;
  // --trust takes the key itself or a file holding it (a PEM is several lines).
  if (!trust.empty() && trust.find('\n') == std::string::npos && ::stat(trust.c_str(), &st) == 0) {
    auto key = ReadTextFile(trust, "trusted key");
    if (!key.ok()) return cli.Fail(key.status());
    trust = *key;
  }
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.verifyPassportRequest();
    req.setPassport(*text);
    req.setTrust(trust);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) {
      if (!cli.json || IsUnavailable(st) || !r.ok()) return cli.Fail(st);
      // A refused passport is an answer: {"valid":false} with the reason.
      std::fprintf(stderr, "nexus: %s\n", ErrorText(st).c_str());
      cli.PrintJson({{"valid", false}, {"code", ErrorCodeNameFor(st.code())}, {"reason", st.message()}});
      return ExitCodeFor(st);
    }
    auto claims = r->getClaims();
    if (cli.json) {
      cli.PrintJson({{"valid", true},
                     {"claims", ClaimsJson(claims)},
                     {"key_id", std::string(r->getKeyId())},
                     {"revocation", std::string(r->getRevocation())}});
      return kExitOk;
    }
    std::printf("valid: passport of agent:%s (owner %s), issued on node %s with key %s\n",
                claims.getAgentId().cStr(), claims.getOwner().cStr(), claims.getNode().cStr(),
                r->getKeyId().cStr());
    std::printf("issued %s, expires %s\n", FormatTime(claims.getIssuedAtNs()).c_str(),
                FormatTime(claims.getExpiresAtNs()).c_str());
    std::string scopes;
    for (auto s : claims.getScopes()) scopes += (scopes.empty() ? "" : " ") + std::string(s);
    std::printf("scopes: %s\n", scopes.empty() ? "-" : scopes.c_str());
    std::printf("revocation: %s\n", r->getRevocation().cStr());
    return kExitOk;
  });
}

int RevokePassports(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto req = agents.revokePassportsRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      cli.PrintJson({{"id", a.positional[0]},
                     {"revoked_before", FormatRfc3339(r->getRevokedBeforeNs(), 3)},
                     {"reported", r->getReported()}});
    } else {
      std::printf("passports of %s issued before %s are revoked%s\n", a.positional[0].c_str(),
                  FormatTime(r->getRevokedBeforeNs()).c_str(),
                  r->getReported() ? " (the mesh director knows)" : "");
    }
    return kExitOk;
  });
}

int NodeKey(Cli& cli, const Args& a) {
  return WithAgents(cli, [&](NexusClient& c, rpc::Agents::Client& agents) -> int {
    auto r = c.Wait(agents.nodeKeyRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto k = r->getKey();
    if (cli.json) {
      cli.PrintJson({{"key_id", std::string(k.getKeyId())},
                     {"public_key", std::string(k.getPublicKey())},
                     {"public_key_pem", std::string(k.getPublicKeyPem())},
                     {"node", std::string(k.getNode())}});
    } else if (a.Has("pem")) {
      std::printf("%s", k.getPublicKeyPem().cStr());
    } else {
      std::printf("%s\n", k.getPublicKey().cStr());
    }
    return kExitOk;
  });
}

}  // namespace

void AddIdentityCommands(std::vector<Command>* t) {
  t->push_back({{"identity", "show"},
                {},
                {},
                "identity show ID",
                "Show who an agent is.\n"
                "Its subject, owner, phase, API keys (never a secret), the local uids bound\n"
                "to it and a summary of its grants (tuples per relation). The agent itself,\n"
                "its owner or an admin.",
                1,
                1,
                Show});
  t->push_back({{"identity", "credentials"},
                {},
                {},
                "identity credentials ID",
                "Show what an agent can authenticate with.\n"
                "Its API keys (id, created, expires, scope; never a secret), its uid\n"
                "bindings, and the node key its passports are signed with. The agent itself,\n"
                "its owner or an admin.",
                1,
                1,
                Credentials});
  t->push_back({{"identity", "passport"},
                {"--ttl", "--scope", "-o,--output"},
                {},
                "identity passport ID [--ttl S] [--scope GLOB ...] [-o FILE]",
                "Issue a signed passport for an agent.\n"
                "The agent's id, owner, this node, scopes and expiry, signed with this\n"
                "node's Ed25519 key. --ttl: seconds (default 3600, at most 604800).\n"
                "--scope (repeatable): what it speaks for; default: the paths the agent\n"
                "holds grants on. Printed as JSON, or written to FILE (mode 0600). The\n"
                "owner or an admin.",
                1,
                1,
                Passport});
  t->push_back({{"identity", "verify"},
                {"--trust"},
                {},
                "identity verify FILE [--trust PUBKEY]",
                "Check a passport's signature, expiry and revocation.\n"
                "FILE, or - for standard input. Exit 0 when valid; 1 with the reason otherwise (malformed,\n"
                "untrusted, expired, revoked). The daemon trusts its own key and, in a mesh,\n"
                "the director's key set; --trust takes one public key instead (base64, PEM,\n"
                "or a file holding either; see identity node-key).",
                1,
                1,
                Verify});
  t->push_back({{"identity", "revoke-passports"},
                {},
                {},
                "identity revoke-passports ID",
                "Revoke an agent's passports issued on this node until now.\n"
                "They are refused here and, through the mesh director, on the other nodes.\n"
                "The owner or an admin.",
                1,
                1,
                RevokePassports});
  t->push_back({{"identity", "node-key"},
                {},
                {"--pem"},
                "identity node-key [--pem]",
                "Print this node's passport signing key.\n"
                "The base64 public key (--pem: as PEM): what identity verify --trust takes\n"
                "on another machine.",
                0,
                0,
                NodeKey});
}

}  // namespace nexus::cli
