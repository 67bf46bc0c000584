#include "cli/cli.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "base/clock.h"
#include "base/file_util.h"
#include "rpc/errors.h"

namespace nexus::cli {

std::string Args::Get(const std::string& flag, const std::string& def) const {
  auto it = values.find(flag);
  return it == values.end() ? def : it->second;
}

std::vector<std::string> Args::All(const std::string& flag) const {
  auto it = repeated.find(flag);
  return it == repeated.end() ? std::vector<std::string>{} : it->second;
}

Result<double> Args::Number(const std::string& flag, double def, double min, double max) const {
  auto it = values.find(flag);
  if (it == values.end()) return def;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || v < min || v > max)
    return Status::Error(EINVAL, flag + ": '" + it->second + "' is not a number in [" +
                                     std::to_string(static_cast<int64_t>(min)) + ", " +
                                     std::to_string(static_cast<int64_t>(max)) + "]");
  return v;
}

std::string Cli::StateDir() {
  if (const char* h = std::getenv("NEXUS_HOME"); h && *h) return h;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.nexus";
}

std::string Cli::SocketPath(std::string* source) const {
  auto from = [&](const char* what, std::string path) {
    if (source) *source = what;
    return path;
  };
  if (!socket.empty()) return from("--socket", socket);
  if (const char* s = std::getenv("NEXUS_SOCKET"); s && *s) return from("NEXUS_SOCKET", s);
  if (const char* d = std::getenv("NEXUS_DATA_DIR"); d && *d)
    return from("NEXUS_DATA_DIR", std::string(d) + "/nexusd.sock");
  if (auto up = ReadTextFile(StateDir() + "/up.json", "state"); up.ok()) {
    auto j = nlohmann::json::parse(*up, nullptr, false);
    if (j.is_object() && j.contains("socket") && j["socket"].is_string())
      return from("nexus up", j["socket"].get<std::string>());
  }
  auto is_socket = [](const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  };
  if (!is_socket(kLocalSocket) && !system_socket.empty() && is_socket(system_socket))
    return from("system service", system_socket);
  return from("default", kLocalSocket);
}

Result<NexusClient*> Cli::Client() {
  if (client_) return client_.get();
  ConnectOptions o;
  o.timeout_s = timeout_s;
  std::string url = remote, key = api_key, ca = tls_ca;
  if (!profile.empty()) {
    auto text = ReadTextFile(StateDir() + "/profiles.json", "profiles");
    if (!text.ok()) return Status::Error(ENOENT, "no saved profiles (save one with nexus connect)");
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains(profile))
      return Status::Error(ENOENT, "no profile '" + profile + "' (see nexus connect --help)");
    const auto& p = j[profile];
    if (url.empty()) url = p.value("url", "");
    if (key.empty()) key = p.value("api_key", "");
    if (ca.empty()) ca = p.value("tls_ca", "");
  }
  if (url.empty())
    if (const char* u = std::getenv("NEXUS_URL"); u && *u) url = u;
  if (key.empty())
    if (const char* k = std::getenv("NEXUS_API_KEY"); k && *k) key = k;
  if (ca.empty())
    if (const char* c = std::getenv("NEXUS_TLS_CA"); c && *c) ca = c;
  for (const char* scheme : {"tls://", "nexus://", "https://"})
    if (url.rfind(scheme, 0) == 0) url = url.substr(strlen(scheme));
  o.remote = url;
  o.api_key = key;
  o.tls_ca = ca;
  o.socket_path = SocketPath();
  o.act_as = act_as;
  if (o.act_as.empty())
    if (const char* a = std::getenv("NEXUS_AGENT"); a && *a) o.act_as = a;
  auto c = NexusClient::Connect(o);
  if (!c.ok()) return c.status();
  client_ = std::move(c).value();
  return client_.get();
}

const char* ScopeName(rpc::Identity::Scope s) {
  switch (s) {
    case rpc::Identity::Scope::ADMIN:
      return "admin";
    case rpc::Identity::Scope::AGENT:
      return "agent";
    default:
      return "user";
  }
}

std::string ErrorCodeNameFor(int err) { return ErrorCodeName(ErrorCodeFor(err)); }

int ExitCodeFor(const Status& st) {
  if (st.ok()) return kExitOk;
  return IsUnavailable(st) ? kExitUnavailable : kExitFailed;
}

Status CheckActAs(const std::string& v) {
  if (v.empty() || v.rfind("user:", 0) == 0 ||
      (v.find(':') != std::string::npos && v.rfind("agent:", 0) != 0))
    return Status::Error(EINVAL, "--as takes an agent: agent:ID or ID, not '" + v + "'");
  return Status::Ok();
}

std::string ErrorText(const Status& st) {
  return IsUnavailable(st) ? "unavailable: " + st.message() : st.message();
}

int Cli::Fail(const Status& st, bool usage) {
  std::fprintf(stderr, "nexus: %s\n", (usage ? st.message() : ErrorText(st)).c_str());
  if (json)
    PrintJson({{"error",
                {{"code", usage ? "usage" : ErrorCodeNameFor(st.code())},
                 {"errno", st.code()},
                 {"message", st.message()}}}});
  return usage ? kExitUsage : ExitCodeFor(st);
}

int Cli::Usage(const std::string& message) { return Fail(Status::Error(EINVAL, message), true); }

void Cli::PrintJson(const nlohmann::json& j) {
  std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

std::vector<std::string> SplitCommas(const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    if (end > pos) out.push_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string FormatTime(int64_t ns) { return ns == 0 ? "-" : FormatRfc3339(ns, 3); }

nlohmann::json TextsJson(capnp::List<capnp::Text>::Reader list) {
  nlohmann::json out = nlohmann::json::array();
  for (auto s : list) out.push_back(std::string(s));
  return out;
}

std::string JoinTexts(capnp::List<capnp::Text>::Reader list, const char* sep) {
  std::string out;
  for (auto s : list) out += (out.empty() ? "" : sep) + std::string(s.cStr());
  return out.empty() ? "-" : out;
}

namespace {
bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

// An instant: RFC 3339 or Unix seconds.
Result<UnixNanos> ParseInstant(const std::string& s) {
  if (AllDigits(s)) {
    if (s.size() > 11)
      return Status::Error(EINVAL, "\"" + s + "\" is too far in the future for Unix seconds");
    return static_cast<UnixNanos>(std::stoll(s)) * kNanosPerSecond;
  }
  return ParseRfc3339(s);
}

Result<UnixNanos> ParseSince(const std::string& s, const std::string& flag) {
  if (s.size() >= 2 && AllDigits(s.substr(0, s.size() - 1))) {
    int64_t unit = 0;
    switch (s.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
    }
    if (unit) {
      if (s.size() > 9) return Status::Error(EINVAL, flag + ": \"" + s + "\" is too long ago");
      return DefaultClock().Now() - std::stoll(s.substr(0, s.size() - 1)) * unit * kNanosPerSecond;
    }
  }
  auto t = ParseInstant(s);
  if (!t.ok())
    return Status::Error(
        EINVAL,
        flag + ": \"" + s + "\" is neither a duration (30m, 1h, 2d) nor an RFC 3339 time or Unix seconds");
  return t;
}

}  // namespace nexus::cli
