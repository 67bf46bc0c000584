// nexus: the command-line client of nexusd. See cli.h for the shape of a
// command and the exit codes.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/cli.h"
#include "cli/command_docs.h"
#include "nexus/build_info.h"
#include "nexus/version.h"

namespace nexus::cli {
namespace {

const char* kGlobalHelp = R"(Global options (before the command):
  --socket PATH        the daemon's Unix socket (else $NEXUS_SOCKET, else
                       $NEXUS_DATA_DIR/nexusd.sock, else the one `nexus up`
                       recorded, else .nexus/data/nexusd.sock, else the
                       system service's /run/nexus/nexusd.sock)
  --remote HOST:PORT   talk TLS over TCP instead (else $NEXUS_URL)
  --api-key KEY        API key (else $NEXUS_API_KEY); required with --remote
  --tls-ca FILE        certificate the server's must chain to (else $NEXUS_TLS_CA)
  --profile NAME       use a connection saved with `nexus connect`
  --as agent:ID        act as that agent, with its grants only (else
                       $NEXUS_AGENT); allowed to the agent's owner and admins
  --timeout S          give up reaching the daemon after S seconds (default 10)
  --json               machine-readable output (also accepted after the command)
  --version            print the version and the git commit, and exit
  --man                print this manual as a nexus(1) man page (roff)
  -h, --help           print this help; `nexus COMMAND --help` for a command

Exit status: 0 success, 1 the operation failed (not found, permission
denied, ...), 64 usage error, 69 unavailable (the daemon is not reachable,
or a feature it does not serve).
)";

// The options main() takes before the command; --help documents them
// (kGlobalHelp) and completion offers them.
const std::vector<GlobalOption> kGlobalOptions = {
    {"--socket", true},   {"--remote", true}, {"--api-key", true},  {"--tls-ca", true},
    {"--profile", true},  {"--as", true},     {"--timeout", true},  {"--json", false},
    {"--version", false}, {"--man", false},   {"-h,--help", false},
};

bool TakesValue(const std::string& flag) {
  for (const GlobalOption& g : kGlobalOptions)
    if (g.takes_value && g.flag == flag) return true;
  return false;
}

std::vector<Command> BuildTable() {
  std::vector<Command> table;
  AddDaemonCommands(&table);
  AddFileCommands(&table);
  AddAdminCommands(&table);
  AddVersionCommands(&table);
  AddSearchCommands(&table);
  AddRebacCommands(&table);
  AddMeshCommands(&table);
  AddAgentCommands(&table);
  AddIpcCommands(&table);
  AddOpsCommands(&table);
  AddUndoCommands(&table);
  AddDelegationCommands(&table);
  AddIdentityCommands(&table);
  AddMcpCommands(&table);
  AddMcpProfileCommands(&table);
  AddEventCommands(&table);
  AddForkCommands(&table);
  AddSandboxCommands(&table);
  AddWorkflowCommands(&table);
  AddUnavailableCommands(&table);
  return table;
}

std::string JoinName(const std::vector<std::string>& name) {
  std::string s;
  for (const auto& w : name) s += (s.empty() ? "" : " ") + w;
  return s;
}

void PrintOverview(FILE* out, const std::vector<Command>& table, const std::string& group) {
  std::fprintf(out, "Usage: nexus [global options] <command> [args]\n\n");
  std::fprintf(out, "%s:\n", group.empty() ? "Commands" : ("Commands of '" + group + "'").c_str());
  for (const Command& c : table) {
    if (!group.empty() && c.name[0] != group) continue;
    std::string first = c.help.substr(0, c.help.find('\n'));
    std::fprintf(out, "  %-44s %s\n", c.usage.c_str(), first.c_str());
  }
  std::fprintf(out, "\n%s", kGlobalHelp);
}

void PrintCommandHelp(const Command& c) {
  std::printf("Usage: nexus %s\n\n%s\n", c.usage.c_str(), c.help.c_str());
  std::printf("\nEvery command takes --json for machine-readable output.\n");
  std::printf("Exit status: 0 success, 1 the operation failed, 64 usage error.\n");
}

// Canonical flag name: "-p,--parents" -> "parents".
std::string Canonical(const std::string& spec) {
  std::string last = spec.substr(spec.rfind(',') == std::string::npos ? 0 : spec.rfind(',') + 1);
  return last.substr(last.find_first_not_of('-'));
}

bool Matches(const std::string& spec, const std::string& arg) {
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    if (spec.compare(pos, end - pos, arg) == 0) return true;
    pos = end + 1;
  }
  return false;
}

int RunCommand(Cli& cli, const Command& c, const std::vector<std::string>& rest) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < rest.size(); ++i) {
    std::string a = rest[i];
    if (flags_done || a.size() < 2 || a[0] != '-') {
      args.positional.push_back(a);
      if (c.rest_verbatim) flags_done = true;
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      PrintCommandHelp(c);
      return kExitOk;
    }
    if (a == "--json") {
      cli.json = true;
      continue;
    }
    std::string value;
    bool has_inline = false;
    if (size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    bool known = false;
    for (const auto& spec : c.switches)
      if (Matches(spec, a)) {
        args.switches.insert(Canonical(spec));
        known = true;
      }
    for (const auto& spec : c.value_flags) {
      if (!Matches(spec, a)) continue;
      known = true;
      if (!has_inline) {
        if (i + 1 >= rest.size())
          return cli.Usage(a + " needs a value (see nexus " + JoinName(c.name) + " --help)");
        value = rest[++i];
      }
      args.values[Canonical(spec)] = value;
      args.repeated[Canonical(spec)].push_back(value);
    }
    if (!known && c.rest_verbatim) {
      args.positional.push_back(rest[i]);
      flags_done = true;
      continue;
    }
    if (!known) return cli.Usage("unknown option '" + a + "' for " + JoinName(c.name) + " (see --help)");
  }
  if (args.positional.size() < c.min_args) return cli.Usage("missing arguments: nexus " + c.usage);
  if (args.positional.size() > c.max_args) return cli.Usage("too many arguments: nexus " + c.usage);
  return c.run(cli, args);
}

}  // namespace
}  // namespace nexus::cli

int main(int argc, char** argv) {
  using namespace nexus::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  Cli cli;
  if (const char* t = std::getenv("NEXUS_TIMEOUT"); t && *t) cli.timeout_s = std::atof(t);
  std::vector<Command> table = BuildTable();
  AddCompletionCommand(kGlobalOptions, &table);
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--version") return std::printf("nexus %s (git %s)\n", NEXUS_VERSION, NEXUS_GIT_COMMIT), kExitOk;
    if (a == "-h" || a == "--help") return PrintOverview(stdout, table, ""), kExitOk;
    if (a == "--man") return std::fputs(ManPage(table, kGlobalHelp, NEXUS_VERSION).c_str(), stdout), kExitOk;
    if (a == "--json") {
      cli.json = true;
    } else if (TakesValue(a)) {
      std::string v;
      if (!value(&v)) return cli.Usage(a + " needs a value");
      if (a == "--socket") cli.socket = v;
      if (a == "--remote") cli.remote = v;
      if (a == "--api-key") cli.api_key = v;
      if (a == "--tls-ca") cli.tls_ca = v;
      if (a == "--profile") cli.profile = v;
      if (a == "--as") {
        if (nexus::Status st = CheckActAs(v); !st.ok()) return cli.Usage(st.message());
        cli.act_as = v;
      }
      if (a == "--timeout") {
        char* end = nullptr;
        cli.timeout_s = std::strtod(v.c_str(), &end);
        if (*end || cli.timeout_s <= 0) return cli.Usage("--timeout: '" + v + "' is not a positive number");
      }
    } else if (a.rfind("-", 0) == 0) {
      return cli.Usage("unknown global option '" + a + "' (see nexus --help)");
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    PrintOverview(stderr, table, "");
    return kExitUsage;
  }
  // The longest command name that matches.
  const Command* best = nullptr;
  for (const Command& c : table) {
    if (i + c.name.size() > args.size()) continue;
    bool match = true;
    for (size_t w = 0; w < c.name.size(); ++w) match = match && args[i + w] == c.name[w];
    if (match && (!best || c.name.size() > best->name.size())) best = &c;
  }
  if (!best) {
    bool group = false;
    for (const Command& c : table) group = group || c.name[0] == args[i];
    if (group) {
      bool help = i + 1 < args.size() && (args[i + 1] == "--help" || args[i + 1] == "-h");
      PrintOverview(help ? stdout : stderr, table, args[i]);
      if (help) return kExitOk;
      if (i + 1 < args.size())
        std::fprintf(stderr, "nexus: unknown command '%s %s'\n", args[i].c_str(), args[i + 1].c_str());
      return kExitUsage;
    }
    return cli.Usage("unknown command '" + args[i] + "' (see nexus --help)");
  }
  std::vector<std::string> rest(args.begin() + static_cast<long>(i + best->name.size()), args.end());
  return RunCommand(cli, *best, rest);
}
