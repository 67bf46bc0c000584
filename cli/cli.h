// The `nexus` command-line client: shared machinery of its commands.
//
// Every command is a Command in one table (nexus_main.cc): a name (one or
// two words), the flags it takes, a usage text and a function. Cli parses
// the global options, finds the daemon, and turns a Status into the
// message and exit code every command shares:
//   0 success, 1 the operation failed, 64 usage error (EX_USAGE),
//   69 a feature is unavailable: off, not built or not reachable
//      (EX_UNAVAILABLE; the error code `unavailable`).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/format.h"
#include "base/status.h"
#include "rpc/client.h"
#include "rpc/errors.h"

namespace nexus::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;

// The exit status for a failed `st`: kExitUnavailable for the `unavailable`
// code, else kExitFailed.
int ExitCodeFor(const Status& st);
// What the CLI says about a failed `st` after "nexus: ":
// "unavailable: <feature> — <why>" for an unavailable feature, else the
// message.
std::string ErrorText(const Status& st);

// The arguments of one command after its flags were taken out.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;                 // --flag VALUE (the last, when repeated)
  std::map<std::string, std::vector<std::string>> repeated;  // every VALUE of --flag, in order
  std::set<std::string> switches;                            // --flag

  bool Has(const std::string& flag) const { return switches.count(flag) || values.count(flag); }
  std::string Get(const std::string& flag, const std::string& def = "") const;
  // Every value of a repeatable flag (`--metadata a=1 --metadata b=2`).
  std::vector<std::string> All(const std::string& flag) const;
  // EINVAL naming the flag when the value is not a number in [min, max].
  Result<double> Number(const std::string& flag, double def, double min, double max) const;
};

struct Command {
  std::vector<std::string> name;         // {"lock", "acquire"}
  std::vector<std::string> value_flags;  // flags that take a value (aliases "a|b")
  std::vector<std::string> switches;     // flags without a value
  std::string usage;                     // "lock acquire PATH [--ttl S] [--wait S]"
  std::string help;                      // what it does; more lines allowed
  size_t min_args = 0;
  size_t max_args = SIZE_MAX;
  std::function<int(class Cli&, const Args&)> run;
  // From the first positional argument or unknown option on, every
  // argument is positional (a command line to run: nexus run CMD --its-flags).
  bool rest_verbatim = false;
};

// Where the system service's daemon listens (packaging/nexusd.service): the
// last place the CLI looks for a daemon.
constexpr const char* kSystemSocket = "/run/nexus/nexusd.sock";
// Where `nexus up` and scripts/run.sh put the daemon of the current folder.
constexpr const char* kLocalSocket = ".nexus/data/nexusd.sock";

// An option given before the command (`nexus --socket S status`).
struct GlobalOption {
  std::string flag;  // "--socket"
  bool takes_value;
};

class Cli {
 public:
  // Global options and how to reach the daemon.
  bool json = false;
  std::string socket;   // --socket
  std::string remote;   // --remote / NEXUS_URL / profile
  std::string api_key;  // --api-key / NEXUS_API_KEY / profile
  std::string tls_ca;   // --tls-ca / NEXUS_TLS_CA / profile
  std::string profile;  // --profile
  std::string act_as;   // --as / NEXUS_AGENT: the agent the session acts as
  double timeout_s = 10;
  // The system service's socket (kSystemSocket; tests point it elsewhere).
  std::string system_socket = kSystemSocket;

  // Connects on first use. Errors are reported by Fail().
  Result<NexusClient*> Client();
  // Closes the connection; the next Client() connects again.
  void Disconnect() { client_.reset(); }
  // The socket path the CLI would use, and where that choice came from:
  // --socket, $NEXUS_SOCKET, $NEXUS_DATA_DIR/nexusd.sock, the daemon `nexus
  // up` recorded, kLocalSocket when a socket is there, else system_socket
  // when one is there, else kLocalSocket (which the error then names).
  std::string SocketPath(std::string* source = nullptr) const;

  // Prints "nexus: <ErrorText>" to stderr and returns the exit code for
  // `st` (64 for usage errors, else ExitCodeFor). With --json, also prints
  // {"error": {"code", "errno", "message"}} on stdout so scripts see what
  // failed.
  int Fail(const Status& st, bool usage = false);
  int Usage(const std::string& message);
  // Prints a JSON document (--json mode).
  void PrintJson(const nlohmann::json& j);

  // Where per-user state lives: $NEXUS_HOME, else $HOME/.nexus.
  static std::string StateDir();

 private:
  std::unique_ptr<NexusClient> client_;
};

// Formatting shared by the commands (the forms themselves are base/format.h).
// "admin", "user" or "agent".
const char* ScopeName(rpc::Identity::Scope s);
std::string FormatTime(int64_t ns);  // "2026-11-24T06:30:00.123Z"; "-" for 0
std::string HumanBytes(uint64_t n);  // "12.3 MiB", "512 B"
// The non-empty items of a comma-separated list: "a,,b" -> {"a", "b"}.
std::vector<std::string> SplitCommas(const std::string& list);
std::string ErrorCodeNameFor(int err);  // "notFound", ...
// OK when `v` names an agent as --as takes it ("agent:ID" or "ID"); else
// EINVAL saying so.
Status CheckActAs(const std::string& v);
// An instant: RFC 3339 or Unix seconds.
Result<UnixNanos> ParseInstant(const std::string& s);
// A point in time given as a duration back from now (90s, 30m, 1h, 2d, 1w),
// an RFC 3339 time or Unix seconds (--since, --until); errors name `flag`.
Result<UnixNanos> ParseSince(const std::string& s, const std::string& flag = "--since");
// A list of texts as a JSON array, and joined by `sep` for people ("-"
// when empty).
nlohmann::json TextsJson(capnp::List<capnp::Text>::Reader list);
std::string JoinTexts(capnp::List<capnp::Text>::Reader list, const char* sep = ", ");

// The command tables of each family.

void AddDaemonCommands(std::vector<Command>* table);
void AddFileCommands(std::vector<Command>* table);
void AddAdminCommands(std::vector<Command>* table);
void AddVersionCommands(std::vector<Command>* table);  // versions *, snapshot *
void AddSearchCommands(std::vector<Command>* table);   // glob, grep, search *, path-context *
void AddRebacCommands(std::vector<Command>* table);    // rebac *, identity *, audit *, mount *
void AddMeshCommands(std::vector<Command>* table);     // mesh *
void AddAgentCommands(std::vector<Command>* table);    // agent *
// identity show, credentials, passport, verify, revoke-passports, node-key
void AddIdentityCommands(std::vector<Command>* table);
void AddIpcCommands(std::vector<Command>* table);   // ipc *
void AddOpsCommands(std::vector<Command>* table);   // ops log|gc|stats
void AddUndoCommands(std::vector<Command>* table);  // undo
// An operation as the JSON object of ops::ToJsonLine (ops/operation.h:
// "cursor", "time_ns", "op", ...) plus "id" (commands_ops.cc).
nlohmann::json OpRecordJson(rpc::OpRecord::Reader record);

// delegation *
void AddDelegationCommands(std::vector<Command>* table);
// mcp profile list|show|assign|inspect
void AddMcpProfileCommands(std::vector<Command>* table);

// events watch|replay
void AddEventCommands(std::vector<Command>* table);

// mcp serve
void AddMcpCommands(std::vector<Command>* table);

// fork create|list|info|diff|merge|discard|gc
void AddForkCommands(std::vector<Command>* table);

// sandbox create|list|info|run|stop|providers
void AddSandboxCommands(std::vector<Command>* table);
// workflows load|discover|list|show|test|enable|disable|delete|runs
void AddWorkflowCommands(std::vector<Command>* table);
// The Nexus user guide's families NexusFS lacks: each exits 69 saying why.
void AddUnavailableCommands(std::vector<Command>* table);

}  // namespace nexus::cli
