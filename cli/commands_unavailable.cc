// Command families of the Nexus user guide that NexusFS does not have.
//
// People arrive with the guide open and type its commands. Rather than
// "unknown command" (a usage error, which reads as a typo), each family
// answers with the feature it names, why NexusFS lacks it and what to use
// instead, and exits 69 (EX_UNAVAILABLE): "nexus: unavailable: <feature> —
// <why>". docs/guide-parity.md lists them beside the guide's examples.
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

struct Missing {
  std::vector<std::string> name;  // the command words
  const char* feature;
  const char* why;  // and what to use instead
};

const std::vector<Missing>& MissingFamilies() {
  static const std::vector<Missing> kMissing = {
      {{"federation"},
       "federation",
       "NexusFS daemons do not join zones across nodes (a zone is the folder /zone/NAME of one daemon); "
       "to run work on other machines use the mesh: nexus mesh status"},
      {{"hub"}, "hub", "there is no company hub; reach another daemon with nexus connect HOST:PORT"},
      {{"network"},
       "network",
       "no WireGuard overlay; daemons talk TLS directly (nexusd --listen, nexus tls generate)"},
      {{"mounts"},
       "mounts",
       "external backends and cross-zone mount points are not built; nexusd --workspace DIR serves a host "
       "folder at /zone/local, nexus mount add serves a per-subject mount"},
      {{"connectors"},
       "connectors",
       "no external connectors; nexusd --workspace DIR serves a host folder at /zone/local"},
      {{"oauth"}, "oauth", "no OAuth-backed connectors, so no OAuth credentials to manage"},
      {{"plugins"}, "plugins", "NexusFS has no plugin system"},
      {{"exchange"}, "exchange", "NexusFS has no data marketplace"},
      {{"pay"}, "pay", "NexusFS has no payments"},
      {{"reputation"}, "reputation", "NexusFS keeps no reputation scores"},
      {{"governance"},
       "governance",
       "no fraud or governance signals; the audit log (nexus audit list) records access decisions"},
      {{"conflicts"},
       "conflicts",
       "one daemon owns the tree, so there are no sync conflicts; conflicts of a fork's merge are "
       "reported by nexus fork merge"},
      {{"migrate"},
       "migrate",
       "no importer or schema migrations; copy files into the mount (cp -a, rsync) to import them"},
      {{"secrets-audit"},
       "secrets-audit",
       "no secrets audit trail; nexus audit list|export is the access audit"},
      {{"manifest"},
       "access manifests",
       "not built; MCP tool profiles (nexus mcp profile assign) limit the tools an agent may use"},
      {{"llm"},
       "llm",
       "NexusFS runs no language models; agents bring their own and read files through the mount"},
      {{"upload"}, "upload", "no resumable uploads; nexus write PATH --stream streams standard input"},
      {{"tls", "init"},
       "tls init",
       "no cluster CA; nexus tls generate --out DIR makes a certificate for nexusd --listen"},
      {{"tls", "show"},
       "tls show",
       "no cluster CA; inspect DIR/cert.pem with openssl x509 -in DIR/cert.pem -text"},
      {{"rebac", "namespace-create"},
       "rebac namespaces",
       "the relation schema is fixed (docs/rebac.md); direct_owner, direct_editor and direct_viewer are "
       "accepted as owner, editor and viewer"},
      {{"rebac", "dynamic"}, "dynamic viewers", "column-level filtering of CSV files is not built"},
      {{"rebac", "consent"}, "consent", "privacy consent between subjects is not built"},
      {{"rebac", "expand-with-privacy"},
       "privacy-filtered expand",
       "not built; nexus rebac expand shows who holds a permission (to those who manage the object)"},
      {{"snapshot", "commit"},
       "snapshot commit",
       "snapshots are point-in-time copies, not transactions: there is nothing to commit; nexus snapshot "
       "restore ID goes back to one"},
      {{"admin", "fs"},
       "admin fs",
       "no index backfill or write observer to flush; nexus search reindex rebuilds the search index"},
  };
  return kMissing;
}

}  // namespace

void AddUnavailableCommands(std::vector<Command>* t) {
  for (const Missing& m : MissingFamilies()) {
    std::string words;
    for (const std::string& w : m.name) words += (words.empty() ? "" : " ") + w;
    const std::string feature = m.feature, why = m.why;
    t->push_back({m.name,
                  {},
                  {},
                  words + " ...",
                  "Unavailable in NexusFS (a command of the Nexus user guide): " + why + ".",
                  0,
                  SIZE_MAX,
                  [feature, why](Cli& cli, const Args& a) {
                    // Its arguments are not parsed; --json among them still asks for JSON.
                    for (size_t i = 0; i < a.positional.size(); ++i)
                      if (a.positional[i] == "--json" ||
                          (a.positional[i] == "--format" && i + 1 < a.positional.size() &&
                           a.positional[i + 1] == "json"))
                        cli.json = true;
                    return cli.Fail(Unavailable(feature, why));
                  },
                  true});
  }
}

}  // namespace nexus::cli
