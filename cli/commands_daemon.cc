// The daemon itself: status, ready, features, whoami, up, down, env,
// connect, tls generate.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "base/file_util.h"
#include "cli/cli.h"
#include "rpc/errors.h"
#include "rpc/tls_gen.h"

namespace nexus::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Absolute(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

Result<json> ConnectionEnv(const Cli& cli);

// One status call on a fresh connection to `socket` (no retries).
Result<bool> MountedAt(const std::string& socket, double timeout_s) {
  ConnectOptions o;
  o.socket_path = socket;
  o.timeout_s = timeout_s;
  auto c = NexusClient::Connect(o);
  if (!c.ok()) return c.status();
  auto r = (*c)->Wait((*c)->session().statusRequest().send());
  if (!r.ok()) return r.status();
  return r->getStatus().getMounted();
}

// Polls until the daemon at `socket` is mounted and serving, `deadline`
// passes (ETIMEDOUT), or `alive` says the daemon is gone.
Status WaitReady(const std::string& socket, Clock::time_point deadline,
                 const std::function<bool()>& alive = nullptr) {
  Status last = Status::Error(ETIMEDOUT, "no answer");
  while (true) {
    auto m = MountedAt(socket, 2);
    if (m.ok() && *m) return Status::Ok();
    last = m.ok() ? Status::Error(EAGAIN, "nexusd answers but is not mounted yet") : m.status();
    if (alive && !alive()) return Status::Error(EIO, "nexusd exited: " + last.message());
    if (Clock::now() >= deadline) return Status::Error(ETIMEDOUT, "not ready in time: " + last.message());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int Status_(Cli& cli, const Args&) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto r = (*c)->Wait((*c)->session().statusRequest().send());
  if (!r.ok()) return cli.Fail(r.status());
  auto s = r->getStatus();
  json j = {{"version", std::string(s.getVersion())},
            {"pid", s.getPid()},
            {"uptime_seconds", s.getUptimeSeconds()},
            {"data_dir", std::string(s.getDataDir())},
            {"mountpoint", std::string(s.getMountpoint())},
            {"mounted", s.getMounted()},
            {"ready", s.getReady()},
            {"profile", std::string(s.getProfile())},
            {"workspace", std::string(s.getWorkspace())},
            {"socket", std::string(s.getSocketPath())},
            {"listen", std::string(s.getListen())},
            {"http", std::string(s.getHttp())},
            {"inodes", s.getInodes()},
            {"database_bytes", s.getDatabaseBytes()},
            {"connections", s.getConnections()},
            {"you", (*c)->subject()}};
  if (cli.json) return cli.PrintJson(j), kExitOk;
  for (auto& [k, v] : j.items())
    std::printf("%-15s %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  return kExitOk;
}

int Ready(Cli& cli, const Args& a) {
  auto timeout = a.Number("timeout", 0, 0, 86400);
  if (!timeout.ok()) return cli.Fail(timeout.status(), true);
  const char* url_env = std::getenv("NEXUS_URL");
  const bool remote = !cli.remote.empty() || !cli.profile.empty() || (url_env && *url_env);
  if (!remote) {
    auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
    if (Status st = WaitReady(cli.SocketPath(), deadline); !st.ok()) return cli.Fail(st);
  }
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto r = (*c)->Wait((*c)->session().statusRequest().send());
  if (!r.ok()) return cli.Fail(r.status());
  auto s = r->getStatus();
  if (!s.getMounted()) return cli.Fail(Status::Error(EAGAIN, "nexusd is not mounted"));
  std::string endpoint = cli.SocketPath();
  if (remote) {
    auto env = ConnectionEnv(cli);
    endpoint = env.ok() && env->contains("NEXUS_URL") ? (*env)["NEXUS_URL"].get<std::string>()
                                                      : std::string(url_env ? url_env : "");
  }
  if (cli.json) {
    cli.PrintJson(
        {{"ready", true},
         {"profile", std::string(s.getProfile())},
         {"endpoint", endpoint},
         {"transport", remote ? "tls" : "unix"},
         {"http", s.getHttp().size() ? json(std::string(s.getHttp())) : json(nullptr)},
         {"mount", std::string(s.getMountpoint())},
         {"version", std::string(s.getVersion())},
         {"readiness_file", remote ? json(nullptr) : json(std::string(s.getDataDir()) + "/nexusd.ready")}});
  } else {
    std::printf("ready (profile %s, %s)\n", s.getProfile().cStr(), endpoint.c_str());
  }
  return kExitOk;
}

int Features(Cli& cli, const Args&) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto r = (*c)->Wait((*c)->session().featuresRequest().send());
  if (!r.ok()) return cli.Fail(r.status());
  static const char* kStates[] = {"enabled", "disabled", "unavailable"};
  json features = json::array();
  if (!cli.json) std::printf("profile: %s\n", r->getProfile().cStr());
  for (auto f : r->getFeatures()) {
    const char* state = kStates[static_cast<int>(f.getState())];
    features.push_back(
        {{"name", std::string(f.getName())}, {"state", state}, {"detail", std::string(f.getDetail())}});
    if (!cli.json) std::printf("  %-15s %-12s %s\n", f.getName().cStr(), state, f.getDetail().cStr());
  }
  if (cli.json) cli.PrintJson({{"profile", std::string(r->getProfile())}, {"features", features}});
  return kExitOk;
}

int WhoAmI(Cli& cli, const Args&) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto r = (*c)->Wait((*c)->session().identityRequest().send());
  if (!r.ok()) return cli.Fail(r.status());
  auto id = r->getIdentity();
  json j = {{"subject", std::string(id.getSubject())},
            {"name", std::string(id.getName())},
            {"scope", ScopeName(id.getScope())},
            {"is_admin", id.getIsAdmin()},
            {"uid", id.getUid()},
            {"gid", id.getGid()},
            {"transport", std::string(id.getTransport())},
            {"key_id", std::string(id.getKeyId())},
            {"acting_as", id.getActingAs().size() ? json(std::string(id.getActingAs())) : json()}};
  if (cli.json) return cli.PrintJson(j), kExitOk;
  if (id.getActingAs().size()) std::printf("%s, acting for ", id.getActingAs().cStr());
  std::printf("%s (%s%s) via %s\n", id.getSubject().cStr(), ScopeName(id.getScope()),
              id.getKeyId().size() ? (", key " + std::string(id.getKeyId())).c_str() : "",
              id.getTransport().cStr());
  return kExitOk;
}

// ---------------------------------------------------------------- up / down / env

std::string UpStatePath() { return Cli::StateDir() + "/up.json"; }

std::string NexusdBinary(const Args& a) {
  if (a.Has("nexusd")) return a.Get("nexusd");
  if (const char* e = std::getenv("NEXUSD"); e && *e) return e;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto sibling = self.parent_path() / "nexusd";
    if (std::filesystem::exists(sibling, ec)) return sibling.string();
  }
  return "nexusd";
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  int status;
  if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // our child, reaped
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

std::string Tail(const std::string& path, size_t bytes) {
  auto text = ReadTextFile(path, "log");
  if (!text.ok()) return "";
  return text->size() > bytes ? text->substr(text->size() - bytes) : *text;
}

int Up(Cli& cli, const Args& a) {
  std::string data_dir = Absolute(a.Get("data-dir", ".nexus/data"));
  std::string mount = Absolute(a.Get("mount", ".nexus/mnt"));
  std::string workspace = a.Has("workspace") ? Absolute(a.Get("workspace")) : "";
  auto timeout = a.Number("timeout", 30, 1, 3600);
  if (!timeout.ok()) return cli.Fail(timeout.status(), true);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return cli.Fail(Status::Error(EIO, "create " + data_dir + ": " + ec.message()));
  std::filesystem::create_directories(Cli::StateDir(), ec);
  std::string socket = data_dir + "/nexusd.sock";
  if (auto m = MountedAt(socket, 1); m.ok())
    return cli.Fail(Status::Error(EEXIST, "nexusd already serves " + data_dir + " (socket " + socket + ")"));
  std::string log = data_dir + "/nexusd.log";
  std::vector<std::string> argv = {NexusdBinary(a), "--data-dir", data_dir, "--mount", mount};
  if (!workspace.empty()) argv.insert(argv.end(), {"--workspace", workspace});
  const std::string profile = a.Get("profile");
  if (!profile.empty()) argv.insert(argv.end(), {"--profile", profile});
  std::string http;
  if (a.Has("port")) {
    auto port = a.Number("port", 0, 1, 65535);
    if (!port.ok()) return cli.Fail(port.status(), true);
    http = a.Get("host", "127.0.0.1") + ":" + std::to_string(static_cast<int>(*port));
    argv.insert(argv.end(), {"--http", http});
  } else if (a.Has("host")) {
    return cli.Usage("--host goes with --port (the HTTP listener, /health)");
  }
  for (const auto& extra : a.positional) argv.push_back(extra);
  pid_t pid = ::fork();
  if (pid < 0) return cli.Fail(Status::FromErrno("fork"));
  if (pid == 0) {
    ::setsid();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "nexus up: cannot run %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  if (!cli.json) std::fprintf(stderr, "starting nexusd (pid %d), log in %s ...\n", pid, log.c_str());
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
  Status st = WaitReady(socket, deadline, [pid]() { return ProcessAlive(pid); });
  if (!st.ok()) {
    if (ProcessAlive(pid)) ::kill(pid, SIGTERM);
    std::fprintf(stderr, "%s", Tail(log, 2000).c_str());
    return cli.Fail(Status::Error(st.code(), "nexusd did not come up: " + st.message()));
  }
  json state = {{"pid", pid},
                {"socket", socket},
                {"data_dir", data_dir},
                {"mount", mount},
                {"workspace", workspace},
                {"log", log},
                {"profile", profile.empty() ? json() : json(profile)},
                {"http", http.empty() ? json() : json(http)}};
  if (Status w = WriteFileAtomic(UpStatePath(), state.dump(2) + "\n", 0600); !w.ok()) return cli.Fail(w);
  if (cli.json) return cli.PrintJson(state), kExitOk;
  std::printf("nexusd is up: %s mounted at %s (pid %d)\n", data_dir.c_str(), mount.c_str(), pid);
  std::printf("socket %s; `eval $(nexus env)` sets it for other shells; `nexus down` stops it\n",
              socket.c_str());
  return kExitOk;
}

Result<json> LoadUpState() {
  auto text = ReadTextFile(UpStatePath(), "nexus up state");
  if (!text.ok()) return Status::Error(ENOENT, "no daemon recorded by nexus up (" + UpStatePath() + ")");
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return Status::Error(EINVAL, UpStatePath() + " is not valid JSON");
  return j;
}

int Down(Cli& cli, const Args& a) {
  auto timeout = a.Number("timeout", 30, 1, 3600);
  if (!timeout.ok()) return cli.Fail(timeout.status(), true);
  std::string socket;
  pid_t pid = 0;
  bool from_state = false;
  if (a.Has("data-dir")) {
    std::string dir = Absolute(a.Get("data-dir"));
    socket = dir + "/nexusd.sock";
    if (auto lock = ReadTextFile(dir + "/nexusd.lock", "lock"); lock.ok()) pid = std::atoi(lock->c_str());
  } else if (!cli.socket.empty()) {
    socket = cli.socket;  // its pid: asked below
  } else {
    auto state = LoadUpState();
    if (!state.ok()) return cli.Fail(state.status());
    socket = state->value("socket", "");
    pid = state->value("pid", 0);
    from_state = true;
  }
  // Ask politely over the socket; fall back to SIGTERM.
  ConnectOptions o;
  o.socket_path = socket;
  o.timeout_s = 5;
  bool asked = false;
  if (auto c = NexusClient::Connect(o); c.ok()) {
    if (pid == 0)
      if (auto s = (*c)->Wait((*c)->session().statusRequest().send()); s.ok()) pid = s->getStatus().getPid();
    auto r = (*c)->Wait((*c)->session().adminRequest().send().getAdmin().shutdownRequest().send());
    if (r.ok()) {
      Status st = StatusFromError(r->hasError(), r->getError());
      if (!st.ok()) return cli.Fail(st);
      asked = true;
    }
  }
  if (!asked) {
    if (!ProcessAlive(pid)) {
      if (from_state) ::unlink(UpStatePath().c_str());
      return cli.Fail(Status::Error(ENOENT, "nexusd is not running"));
    }
    if (::kill(pid, SIGTERM) != 0) return cli.Fail(Status::FromErrno("signal nexusd"));
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
  while (pid > 0 && ProcessAlive(pid)) {
    if (Clock::now() >= deadline)
      return cli.Fail(Status::Error(ETIMEDOUT, "nexusd (pid " + std::to_string(pid) + ") is still stopping"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (from_state) ::unlink(UpStatePath().c_str());
  if (cli.json)
    cli.PrintJson({{"stopped", true}, {"pid", pid}});
  else
    std::printf("nexusd stopped\n");
  return kExitOk;
}

int Env(Cli& cli, const Args&) {
  auto state = LoadUpState();
  if (!state.ok()) return cli.Fail(state.status());
  json env = {{"NEXUS_SOCKET", state->value("socket", "")},
              {"NEXUS_DATA_DIR", state->value("data_dir", "")},
              {"NEXUS_MOUNT", state->value("mount", "")}};
  if (auto p = state->find("profile"); p != state->end() && p->is_string()) env["NEXUS_PROFILE"] = *p;
  if (cli.json) return cli.PrintJson(env), kExitOk;
  for (auto& [k, v] : env.items()) std::printf("export %s='%s'\n", k.c_str(), v.get<std::string>().c_str());
  return kExitOk;
}

// The saved connection profiles (nexus connect): name -> {url, api_key,
// tls_ca}; an empty object when there are none.
json LoadProfiles() {
  auto text = ReadTextFile(Cli::StateDir() + "/profiles.json", "profiles");
  if (!text.ok()) return json::object();
  json j = json::parse(*text, nullptr, false);
  return j.is_object() ? j : json::object();
}

// The environment that reaches the daemon this CLI would use: a saved
// profile's NEXUS_URL/NEXUS_API_KEY/NEXUS_TLS_CA, else NEXUS_SOCKET and,
// from the daemon's readiness file beside its socket, NEXUS_DATA_DIR,
// NEXUS_MOUNT and NEXUS_PROFILE (the daemon's profile).
Result<json> ConnectionEnv(const Cli& cli) {
  json env = json::object();
  if (!cli.profile.empty()) {
    json profiles = LoadProfiles();
    if (!profiles.contains(cli.profile))
      return Status::Error(ENOENT, "no profile '" + cli.profile + "' (nexus profile list shows them)");
    const json& p = profiles[cli.profile];
    env["NEXUS_URL"] = p.value("url", "");
    env["NEXUS_API_KEY"] = p.value("api_key", "");
    if (!p.value("tls_ca", "").empty()) env["NEXUS_TLS_CA"] = p.value("tls_ca", "");
    env["NEXUS_CONNECTION"] = cli.profile;
    return env;
  }
  const char* url = std::getenv("NEXUS_URL");
  if (!cli.remote.empty() || (url && *url)) {
    env["NEXUS_URL"] = cli.remote.empty() ? std::string(url) : cli.remote;
    if (!cli.api_key.empty()) env["NEXUS_API_KEY"] = cli.api_key;
    if (!cli.tls_ca.empty()) env["NEXUS_TLS_CA"] = cli.tls_ca;
    return env;
  }
  const std::string socket = Absolute(cli.SocketPath());
  env["NEXUS_SOCKET"] = socket;
  const std::string dir = std::filesystem::path(socket).parent_path().string();
  if (auto text = ReadTextFile(dir + "/nexusd.ready", "readiness file"); text.ok()) {
    json r = json::parse(*text, nullptr, false);
    if (r.is_object() && r.value("socket", "") == socket) {
      env["NEXUS_DATA_DIR"] = r.value("data_dir", "");
      env["NEXUS_MOUNT"] = r.value("mount", "");
      env["NEXUS_PROFILE"] = r.value("profile", "");
    }
  }
  return env;
}

int Run(Cli& cli, const Args& a) {
  auto env = ConnectionEnv(cli);
  if (!env.ok()) return cli.Fail(env.status());
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return cli.Fail(Status::FromErrno("fork"));
  if (pid == 0) {
    for (auto& [k, v] : env->items()) ::setenv(k.c_str(), v.get<std::string>().c_str(), 1);
    std::vector<std::string> argv = a.positional;
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "nexus: run: cannot run %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return cli.Fail(Status::FromErrno("wait for " + a.positional[0]));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int ProfileList(Cli& cli, const Args&) {
  json profiles = LoadProfiles();
  json out = json::array();
  for (auto& [name, p] : profiles.items()) {
    if (!p.is_object()) continue;
    out.push_back({{"name", name},
                   {"url", p.value("url", "")},
                   {"tls_ca", p.value("tls_ca", "").empty() ? json(nullptr) : json(p.value("tls_ca", ""))},
                   {"has_api_key", !p.value("api_key", "").empty()},
                   {"current", name == cli.profile}});
  }
  if (cli.json) {
    cli.PrintJson({{"profiles", out}, {"file", Cli::StateDir() + "/profiles.json"}});
    return kExitOk;
  }
  if (out.empty()) {
    std::printf("no saved profiles (save one with nexus connect HOST:PORT --name N -k KEY)\n");
    return kExitOk;
  }
  std::printf("%-2s%-20s %-32s %s\n", "", "NAME", "URL", "TLS CA");
  for (const json& p : out)
    std::printf("%-2s%-20s %-32s %s\n", p["current"].get<bool>() ? "*" : "",
                p["name"].get<std::string>().c_str(), p["url"].get<std::string>().c_str(),
                p["tls_ca"].is_null() ? "-" : p["tls_ca"].get<std::string>().c_str());
  return kExitOk;
}

// The commented nexus.yaml `nexus init` writes.
std::string InitConfig(const std::string& data_dir, const std::string& mount) {
  return "# nexus.yaml: nexusd's configuration (nexusd --config FILE). Written by\n"
         "# `nexus init`; keys are nexusd's flags with '_' (docs/control-socket.md,\n"
         "# \"Configuration\"). Flags and NEXUS_* variables override this file.\n"
         "\n"
         "# minimal | lite | sandbox | full: which parts run (nexus features lists them).\n"
         "profile: full\n"
         "# Where the tree, its history and the control socket live.\n"
         "data_dir: " +
         data_dir +
         "\n"
         "# Where the filesystem is mounted.\n"
         "mount: " +
         mount +
         "\n"
         "# A host folder served at /zone/local:\n"
         "# workspace: /path/to/project\n"
         "# The HTTP listener (/health, /metrics):\n"
         "# http: 127.0.0.1:2026\n"
         "# Switch parts on or off; the Nexus user guide's names (agent_registry,\n"
         "# permissions, sandbox, ...) are accepted, and ones NexusFS lacks are\n"
         "# reported unavailable at start:\n"
         "# features:\n"
         "#   search: true\n"
         "#   permissions: true\n";
}

int Init(Cli& cli, const Args& a) {
  const std::string dir = Absolute(a.positional.empty() ? "." : a.positional[0]);
  const std::string config = dir + "/nexus.yaml", data_dir = dir + "/nexus-data", mount = dir + "/nexus-mnt";
  std::error_code ec;
  if (std::filesystem::exists(config, ec))
    return cli.Fail(Status::Error(EEXIST, config + " exists; nexus init never overwrites it"));
  for (const std::string& d : {dir, data_dir, mount}) {
    std::filesystem::create_directories(d, ec);
    if (ec) return cli.Fail(Status::Error(EIO, "create " + d + ": " + ec.message()));
  }
  int fd = ::open(config.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return cli.Fail(Status::FromErrno("create " + config));
  const std::string text = InitConfig(data_dir, mount);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (::close(fd) != 0 || !written) {
    Status st = Status::FromErrno("write " + config);
    ::unlink(config.c_str());
    return cli.Fail(st);
  }
  if (cli.json) {
    cli.PrintJson({{"dir", dir}, {"config", config}, {"data_dir", data_dir}, {"mount", mount}});
    return kExitOk;
  }
  std::printf("initialized %s: nexus.yaml, nexus-data/, nexus-mnt/\n", dir.c_str());
  std::printf("start:   nexus up --data-dir %s --mount %s   (or nexusd --config %s)\n", data_dir.c_str(),
              mount.c_str(), config.c_str());
  std::printf("then:    export NEXUS_DATA_DIR=%s\n", data_dir.c_str());
  return kExitOk;
}

// ---------------------------------------------------------------- remote profiles and TLS

int Connect(Cli& cli, const Args& a) {
  std::string name = a.Get("name");
  if (name.empty()) return cli.Usage("--name is required");
  std::string key = a.Get("api-key");
  if (key.empty()) return cli.Usage("-k/--api-key is required");
  cli.remote = a.positional[0];
  cli.api_key = key;
  cli.tls_ca = a.Has("tls-ca") ? Absolute(a.Get("tls-ca")) : cli.tls_ca;
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  std::string path = Cli::StateDir() + "/profiles.json";
  json profiles = json::object();
  if (auto text = ReadTextFile(path, "profiles"); text.ok()) {
    profiles = json::parse(*text, nullptr, false);
    if (!profiles.is_object()) profiles = json::object();
  }
  profiles[name] = {{"url", a.positional[0]}, {"api_key", key}, {"tls_ca", cli.tls_ca}};
  std::error_code ec;
  std::filesystem::create_directories(Cli::StateDir(), ec);
  if (Status st = WriteFileAtomic(path, profiles.dump(2) + "\n", 0600); !st.ok()) return cli.Fail(st);
  if (cli.json)
    cli.PrintJson({{"profile", name}, {"url", a.positional[0]}, {"subject", (*c)->subject()}});
  else
    std::printf("connected to %s as %s; saved as profile '%s' (use: nexus --profile %s ...)\n",
                a.positional[0].c_str(), (*c)->subject().c_str(), name.c_str(), name.c_str());
  return kExitOk;
}

int TlsGenerate(Cli& cli, const Args& a) {
  std::string out = a.Get("out");
  if (out.empty()) return cli.Usage("--out DIR is required");
  auto days = a.Number("days", 365, 1, 36500);
  if (!days.ok()) return cli.Fail(days.status(), true);
  std::string list = a.Get("hosts", "localhost,127.0.0.1,::1");
  std::vector<std::string> hosts = SplitCommas(list);
  auto tls = GenerateSelfSignedTls(hosts, static_cast<int>(*days));
  if (!tls.ok()) return cli.Fail(tls.status());
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return cli.Fail(Status::Error(EIO, "create " + out + ": " + ec.message()));
  std::string cert = out + "/cert.pem", key = out + "/key.pem";
  if (Status st = WriteFileAtomic(key, tls->key_pem, 0600); !st.ok()) return cli.Fail(st);
  if (Status st = WriteFileAtomic(cert, tls->cert_pem, 0644); !st.ok()) return cli.Fail(st);
  if (cli.json) return cli.PrintJson({{"cert", cert}, {"key", key}, {"hosts", hosts}}), kExitOk;
  std::printf("wrote %s and %s (self-signed, for %s)\n", cert.c_str(), key.c_str(), list.c_str());
  std::printf("serve:   nexusd ... --listen HOST:PORT --tls-cert %s --tls-key %s\n", cert.c_str(),
              key.c_str());
  std::printf("clients: nexus --remote HOST:PORT --tls-ca %s --api-key KEY ...\n", cert.c_str());
  return kExitOk;
}

}  // namespace

void AddDaemonCommands(std::vector<Command>* t) {
  t->push_back({{"status"},
                {},
                {},
                "status",
                "Version, uptime, mount state, paths and counters of nexusd.",
                0,
                0,
                Status_});
  t->push_back({{"ready"},
                {"--timeout"},
                {},
                "ready [--timeout S]",
                "Exit 0 once nexusd is mounted and serving; wait up to S seconds (default 0:\n"
                "just check). --json: {ready, profile, endpoint, transport, http, mount,\n"
                "version, readiness_file}. nexusd also writes DATA_DIR/nexusd.ready while\n"
                "it serves (docs/control-socket.md \"Readiness file\").",
                0,
                0,
                Ready});
  t->push_back({{"init"},
                {},
                {},
                "init [DIR]",
                "Make DIR (default: the current folder) a local NexusFS home: a commented\n"
                "DIR/nexus.yaml naming DIR/nexus-data and DIR/nexus-mnt, and those folders.\n"
                "Never overwrites an existing nexus.yaml (fails instead).",
                0,
                1,
                Init});
  t->push_back({{"profile", "list"},
                {},
                {},
                "profile list",
                "The connections saved with nexus connect (~/.nexus/profiles.json): name, URL,\n"
                "TLS CA, whether a key is saved (never the key); * marks --profile.",
                0,
                0,
                ProfileList});
  t->push_back({{"run"},
                {},
                {},
                "run CMD [ARGS...]",
                "Run CMD with the connection environment of the daemon this CLI reaches:\n"
                "with --profile N, NEXUS_URL, NEXUS_API_KEY, NEXUS_TLS_CA and\n"
                "NEXUS_CONNECTION=N; else NEXUS_SOCKET and, from the daemon's readiness file,\n"
                "NEXUS_DATA_DIR, NEXUS_MOUNT and NEXUS_PROFILE (its profile). Exits with CMD's\n"
                "status (127: CMD not found; 128+N: killed by signal N). What follows CMD is\n"
                "passed to it as is.",
                1,
                SIZE_MAX,
                Run,
                true});
  t->push_back({{"features"},
                {},
                {},
                "features",
                "The profile and every feature: enabled, disabled (and why) or unavailable.",
                0,
                0,
                Features});
  t->push_back({{"whoami"}, {}, {}, "whoami", "The identity the daemon gives you.", 0, 0, WhoAmI});
  t->push_back(
      {{"up"},
       {"--data-dir", "--mount", "--workspace", "--nexusd", "--timeout", "--profile", "--host", "--port"},
       {},
       "up [--profile P] [--workspace W] [--data-dir D] [--mount M] [--host H --port N]\n"
       "    [-- NEXUSD_ARGS]",
       "Start nexusd in the background (defaults .nexus/data and .nexus/mnt), wait\n"
       "until it serves, and record how to reach it (see nexus env, nexus down).\n"
       "--profile sandbox --workspace W: a node over host folder W (at /zone/local)\n"
       "with versions, search, ReBAC, sandboxes and host-side changes watched.\n"
       "--port N: the HTTP listener (/health) on H:N (H default 127.0.0.1).\n"
       "Its log goes to D/nexusd.log.",
       0,
       SIZE_MAX,
       Up});
  t->push_back({{"down"},
                {"--data-dir", "--timeout"},
                {},
                "down [--data-dir D] [--timeout S]",
                "Stop nexusd cleanly (the one serving D, else the one at the global --socket,\n"
                "else the one `nexus up` started) and wait until it has exited.",
                0,
                0,
                Down});
  t->push_back({{"env"},
                {},
                {},
                "env",
                "Print the connection variables of the daemon `nexus up` started, for eval.",
                0,
                0,
                Env});
  t->push_back({{"connect"},
                {"--name", "-k,--api-key", "--tls-ca"},
                {},
                "connect HOST:PORT --name N -k KEY [--tls-ca FILE]",
                "Check a remote daemon and save the connection as profile N (use it with\n"
                "nexus --profile N ...). Profiles live in ~/.nexus/profiles.json (mode 0600).",
                1,
                1,
                Connect});
  t->push_back({{"tls", "generate"},
                {"--out", "--hosts", "--days"},
                {},
                "tls generate --out DIR [--hosts H1,H2] [--days N]",
                "Make a self-signed certificate and key (DIR/cert.pem, DIR/key.pem) for\n"
                "nexusd --listen. Default hosts: localhost,127.0.0.1,::1.",
                0,
                0,
                TlsGenerate});
}

}  // namespace nexus::cli
