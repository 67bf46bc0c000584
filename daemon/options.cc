#include "daemon/options.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <functional>

#include "base/file_util.h"

extern char** environ;

namespace nexus {
namespace {

Status BadValue(const std::string& flag, const std::string& value, const char* want) {
  return Status::Error(EINVAL, flag + ": '" + value + "' is not " + want);
}

template <typename T>
Status ParseNumber(const std::string& flag, const std::string& v, T* out, T min, T max) {
  T x{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < min || x > max)
    return BadValue(flag, v, "a number in range");
  *out = x;
  return Status::Ok();
}

Status ParseBool(const std::string& flag, const std::string& v, bool* out) {
  if (v == "true" || v == "on" || v == "yes" || v == "1") return *out = true, Status::Ok();
  if (v == "false" || v == "off" || v == "no" || v == "0") return *out = false, Status::Ok();
  return BadValue(flag, v, "true or false");
}

// Replaces every ${file:/path} in `v` by that file's content, without its
// trailing newline.
Result<std::string> ResolveSecrets(const std::string& v, const std::string& source) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = v.find("${file:", pos);
    if (start == std::string::npos) break;
    size_t end = v.find('}', start);
    if (end == std::string::npos)
      return Status::Error(EINVAL, source + ": unterminated ${file:...} reference");
    std::string path = v.substr(start + 7, end - start - 7);
    auto content = ReadTextFile(path, source + ": secret reference");
    if (!content.ok()) return content.status();
    std::string secret = std::move(content).value();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    out += v.substr(pos, start - pos) + secret;
    pos = end + 1;
  }
  return out + v.substr(pos);
}

// Options with a value; booleans are listed in kBoolOptions.
using Setter = std::function<Status(DaemonOptions&, const std::string& flag, const std::string&)>;

Setter Text(std::string DaemonOptions::*field) {
  return [field](DaemonOptions& o, const std::string&, const std::string& v) {
    o.*field = v;
    return Status::Ok();
  };
}

const std::map<std::string, Setter>& ValueOptions() {
  static const std::map<std::string, Setter> kOptions = {
      {"data-dir", Text(&DaemonOptions::data_dir)},
      {"mount", Text(&DaemonOptions::mountpoint)},
      {"workspace", Text(&DaemonOptions::workspace)},
      {"socket", Text(&DaemonOptions::socket_path)},
      {"listen", Text(&DaemonOptions::listen)},
      {"tls-cert", Text(&DaemonOptions::tls_cert)},
      {"tls-key", Text(&DaemonOptions::tls_key)},
      {"http", Text(&DaemonOptions::http)},
      {"registration-key", Text(&DaemonOptions::registration_key)},
      {"join", Text(&DaemonOptions::join)},
      {"join-ca", Text(&DaemonOptions::join_ca)},
      {"node-name", Text(&DaemonOptions::node_name)},
      {"tool-profiles", Text(&DaemonOptions::tool_profiles)},
      {"mcp-default-profile", Text(&DaemonOptions::mcp_default_profile)},
      {"mesh-lease-ttl",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.mesh_lease_ttl, 1.0, 3600.0);
       }},
      {"mesh-heartbeat-timeout",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.mesh_heartbeat_timeout, 1.0, 3600.0);
       }},
      {"mesh-store", Text(&DaemonOptions::mesh_store)},
      {"etcd-ca", Text(&DaemonOptions::etcd_ca)},
      {"etcd-cert", Text(&DaemonOptions::etcd_cert)},
      {"etcd-key", Text(&DaemonOptions::etcd_key)},
      {"mesh-election-ttl",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.mesh_election_ttl, 2.0, 3600.0);
       }},
      {"ipc-ttl", [](DaemonOptions& o, const std::string& flag,
                     const std::string& v) { return ParseNumber(flag, v, &o.ipc_ttl, 0.0, 365.0 * 86400); }},
      {"capacity", [](DaemonOptions& o, const std::string& flag,
                      const std::string& v) { return ParseNumber(flag, v, &o.capacity, 1u, 4096u); }},
      {"log-level",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
         for (const char* l : kLevels)
           if (v == l) return o.log_level = v, Status::Ok();
         return BadValue(flag, v, "one of trace|debug|info|warn|error");
       }},
      {"profile",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         const auto& names = ProfileNames();
         if (std::find(names.begin(), names.end(), v) == names.end())
           return BadValue(flag, v, "one of minimal|lite|full|sandbox");
         return o.profile = v, Status::Ok();
       }},
      {"threads", [](DaemonOptions& o, const std::string& flag,
                     const std::string& v) { return ParseNumber(flag, v, &o.threads, 1u, 256u); }},
      {"attr-timeout",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.attr_timeout, 0.0, 86400.0);
       }},
      {"name-cache",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         if (v != "shared" && v != "none") return BadValue(flag, v, "shared or none");
         return o.name_cache = v, Status::Ok();
       }},
      {"workspace-timeout",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.workspace_timeout, 0.0, 86400.0);
       }},
      {"commit-interval-ms",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.commit_interval_ms, 0, 10000);
       }},
      {"versions-commit-window-ms",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.versions_commit_window_ms, 1, 600000);
       }},
      {"versions-keep-versions",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.versions_keep_versions, 1u, 1000000u);
       }},
      {"versions-keep-days",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.versions_keep_days, 0u, 100000u);
       }},
      {"oplog-keep-days",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         return ParseNumber(flag, v, &o.oplog_keep_days, 1u, 100000u);
       }},
      {"search-embeddings",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0 &&
             v.rfind("fasttext:", 0) != 0)
           return BadValue(flag, v, "http(s)://HOST/PATH or fasttext:/path/model.bin");
         return o.search_embeddings = v, Status::Ok();
       }},
      {"features",
       [](DaemonOptions& o, const std::string& flag, const std::string& v) {
         // "versions=off,search=on"; a bare name means on.
         const auto& all = ProfileFeatures("full");
         size_t pos = 0;
         while (pos <= v.size()) {
           size_t end = v.find(',', pos);
           if (end == std::string::npos) end = v.size();
           std::string item = v.substr(pos, end - pos);
           pos = end + 1;
           if (item.empty()) continue;
           std::string name = item, value = "on";
           if (auto eq = item.find('='); eq != std::string::npos) {
             name = item.substr(0, eq);
             value = item.substr(eq + 1);
           }
           if (std::find(all.begin(), all.end(), name) == all.end())
             return Status::Error(
                 EINVAL, flag + ": unknown feature '" + name +
                             "' (mount, control_socket, locks, http, "
                             "tls_listener, workspace, versions, search, rebac, mesh, agents, oplog, forks, "
                             "sandboxes)");
           bool on = false;
           NEXUS_RETURN_IF_ERROR(ParseBool(flag + " " + name, value, &on));
           o.feature_overrides[name] = on;
         }
         return Status::Ok();
       }},
      {"search-embeddings-model", Text(&DaemonOptions::search_embeddings_model)},
      {"search-embeddings-key", Text(&DaemonOptions::search_embeddings_key)},
      {"search-embeddings-ca", Text(&DaemonOptions::search_embeddings_ca)},
  };
  return kOptions;
}

const std::map<std::string, bool DaemonOptions::*>& BoolOptions() {
  static const std::map<std::string, bool DaemonOptions::*> kOptions = {
      {"writeback-cache", &DaemonOptions::writeback_cache},
      {"fuse-debug", &DaemonOptions::fuse_debug},
      {"director", &DaemonOptions::director},
      {"worker", &DaemonOptions::worker},
  };
  return kOptions;
}

// Sets option `name` (flag name without "--") from `value`, as given by
// `source` (for messages: "--threads", "nexus.yaml key 'threads'", ...).
Status Apply(DaemonOptions& o, const std::string& name, const std::string& value, const std::string& source) {
  auto resolved = ResolveSecrets(value, source);
  if (!resolved.ok()) return resolved.status();
  if (auto it = ValueOptions().find(name); it != ValueOptions().end())
    return it->second(o, source, *resolved);
  if (auto it = BoolOptions().find(name); it != BoolOptions().end())
    return ParseBool(source, *resolved, &(o.*(it->second)));
  return Status::Error(EINVAL, "unknown option " + source);
}

std::string ConfigKey(const std::string& name) {
  std::string k = name;
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

std::string EnvName(const std::string& name) {
  std::string k = "NEXUS_" + ConfigKey(name);
  std::transform(k.begin(), k.end(), k.begin(), ::toupper);
  return k;
}

std::vector<std::string> AllOptionNames() {
  std::vector<std::string> out;
  for (const auto& [name, setter] : ValueOptions()) out.push_back(name);
  for (const auto& [name, field] : BoolOptions()) out.push_back(name);
  return out;
}

}  // namespace

const std::vector<GuideFeature>& GuideFeatures() {
  // ours: our feature, "" when the name is always on here, nullptr when
  // NexusFS does not have it (then `why`).
  static const std::vector<GuideFeature> kFeatures = {
      {"agent_registry", "agents", ""},
      {"permissions", "rebac", ""},
      {"sandbox", "sandboxes", ""},
      {"ipc", "agents", ""},
      {"eventlog", "oplog", ""},
      {"versioning", "versions", ""},
      {"namespace", "mount", ""},
      {"parsers", "search", ""},
      {"scheduler", "mesh", ""},
      {"workflows", "", ""},
      {"mcp", "", ""},
      {"federation", nullptr,
       "federation — NexusFS daemons do not join zones across nodes; the mesh (nexus mesh) places tasks on "
       "nodes instead"},
      {"llm", nullptr, "llm — NexusFS runs no language models; agents bring their own"},
      {"pay", nullptr, "pay — NexusFS has no payments or exchange"},
      {"observability", nullptr,
       "observability — no tracing exporter; /metrics on the HTTP listener instead"},
  };
  return kFeatures;
}

const GuideFeature* FindGuideFeature(const std::string& name) {
  for (const GuideFeature& g : GuideFeatures())
    if (name == g.name) return &g;
  return nullptr;
}

namespace {

Status LoadConfigFile(DaemonOptions& o, const std::string& path) {
  auto text = ReadTextFile(path, "--config");
  if (!text.ok()) return Status::Error(EINVAL, text.status().ToString());
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return Status::Error(EINVAL, "config " + path + ": " + e.what());
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return Status::Error(EINVAL, "config " + path + ": must be a mapping of keys");
  std::map<std::string, std::string> by_key;
  for (const std::string& name : AllOptionNames()) by_key[ConfigKey(name)] = name;
  // Where a key is, for messages: "config FILE line N".
  auto at = [&](const YAML::Node& key) {
    return "config " + path + " line " + std::to_string(key.Mark().line + 1);
  };
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const std::string source = at(kv.first) + " key '" + key + "'";
    try {
      if (key == "tls") {
        if (!kv.second.IsMap()) return Status::Error(EINVAL, source + ": must map cert and key");
        for (const auto& t : kv.second) {
          std::string sub = t.first.as<std::string>();
          if (sub != "cert" && sub != "key")
            return Status::Error(EINVAL, source + ": unknown key '" + sub + "' (cert, key)");
          NEXUS_RETURN_IF_ERROR(Apply(o, "tls-" + sub, t.second.as<std::string>(), source + "." + sub));
        }
        continue;
      }
      if (key == "features") {
        if (!kv.second.IsMap())
          return Status::Error(EINVAL, source + ": must map feature names to true/false");
        for (const auto& f : kv.second) {
          std::string name = f.first.as<std::string>();
          const std::string where = at(f.first) + " key 'features." + name + "'";
          if (!f.second.IsScalar()) return Status::Error(EINVAL, where + ": must be true or false");
          bool on = false;
          NEXUS_RETURN_IF_ERROR(ParseBool(where, f.second.as<std::string>(), &on));
          const auto& all = ProfileFeatures("full");
          if (std::find(all.begin(), all.end(), name) != all.end()) {
            o.feature_overrides[name] = on;
            continue;
          }
          const GuideFeature* g = FindGuideFeature(name);
          if (g && g->ours) {
            if (*g->ours)
              o.feature_overrides[g->ours] = on;
            else if (!on)
              o.config_warnings.push_back(where + ": " + name + " is always on in NexusFS; false is ignored");
            continue;
          }
          o.unavailable_features[name] = {
              on, g ? std::string(g->why) : name + " — not a feature of NexusFS (nexus features lists ours)"};
        }
        continue;
      }
      auto it = by_key.find(key);
      if (it == by_key.end()) return Status::Error(EINVAL, at(kv.first) + ": unknown key '" + key + "'");
      if (!kv.second.IsScalar()) return Status::Error(EINVAL, source + ": must be a single value");
      NEXUS_RETURN_IF_ERROR(Apply(o, it->second, kv.second.as<std::string>(), source));
    } catch (const YAML::Exception& e) {
      return Status::Error(EINVAL, source + ": " + e.what());
    }
  }
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& ProfileNames() {
  static const std::vector<std::string> kNames = {"minimal", "lite", "full", "sandbox"};
  return kNames;
}

const std::vector<std::string>& ProfileFeatures(const std::string& profile) {
  static const std::map<std::string, std::vector<std::string>> kFeatures = {
      {"minimal", {"mount", "control_socket"}},
      {"lite", {"mount", "control_socket", "locks", "http", "workspace", "oplog", "forks"}},
      {"full",
       {"mount", "control_socket", "locks", "http", "tls_listener", "workspace", "versions", "search",
        "rebac", "mesh", "agents", "oplog", "forks", "sandboxes"}},
      {"sandbox",
       {"mount", "control_socket", "locks", "http", "workspace", "versions", "search", "rebac", "agents",
        "oplog", "forks", "sandboxes"}},
  };
  auto it = kFeatures.find(profile);
  return it == kFeatures.end() ? kFeatures.at("full") : it->second;
}

const char* DaemonUsage() {
  return R"(Usage: nexusd --data-dir DIR --mount MNT [options]

Serves the NexusFS tree stored in DIR as a POSIX filesystem mounted at MNT,
with a control socket for the `nexus` CLI. Runs in the foreground; SIGTERM
or SIGINT unmounts cleanly and exits 0.

Options:
  --config FILE            read options from a nexus.yaml (also NEXUS_CONFIG)
  --data-dir DIR           where metadata (meta.db) and contents (data/) live
  --mount MNT              mount point (a directory; created if missing)
  --workspace WS           expose host directory WS at /zone/local
  --profile NAME           minimal|lite|full|sandbox (default full)
  --socket PATH            control socket (default DIR/nexusd.sock, mode 0660)
  --listen HOST:PORT       also serve the control protocol over TLS TCP;
                           API keys are required there
  --tls-cert FILE          PEM certificate for --listen (make a self-signed
  --tls-key FILE           pair with: nexus tls generate --out DIR)
  --http HOST:PORT         serve /health, /ready and /metrics over HTTP
  --log-level LEVEL        trace|debug|info|warn|error (default info)
  --threads N              maximum FUSE worker threads (default 16)
  --attr-timeout S         kernel cache lifetime for the native tree (default 60)
  --workspace-timeout S    kernel cache lifetime for /zone/local (default 1)
  --name-cache MODE        with ReBAC on, names the kernel may cache on the
                           mount: shared (those every uid sees alike; the
                           default) or none (each name checked per caller)
  --commit-interval-ms N   metadata group-commit window (default 5)
  --versions-commit-window-ms N
                           version history group-commit window (default 200)
  --versions-keep-versions N, --versions-keep-days D
                           retention of `nexus versions gc`: keep a version
                           while among its file's newest N or younger than D
                           days (defaults 10 and 30)
  --oplog-keep-days N      operations log retention: the daily gc drops
                           operations older than N days (default 30)
  --features LIST          switch features on or off over the profile:
                           versions=off,search=on (bare name: on)
  --search-embeddings SRC  vector lane of semantic/hybrid search: an
                           OpenAI-compatible endpoint http(s)://HOST/v1/embeddings
                           or a fastText model fasttext:/path/model.bin
  --search-embeddings-model NAME, --search-embeddings-key KEY
                           model name and bearer key for an HTTP endpoint
  --search-embeddings-ca FILE
                           PEM certificates to trust for an https:// endpoint
                           (default: the system's)
  --writeback-cache        let the kernel cache writes (faster small writes;
                           st_blocks lags until writeback, SEEK_DATA/SEEK_HOLE
                           report holes as data; not with --workspace)
  --fuse-debug             log every FUSE request (very verbose)
  --director               direct a mesh: keep its fleet and tasks (DIR/mesh/);
                           nodes join over --listen with the registration key
  --registration-key K     the key joining nodes must present (with --director)
                           or this node presents (with --join); distinct from
                           API keys; ${file:...} ok
  --join HOST:PORT[,HOST:PORT...]
                           join the mesh directed there (TLS; or unix:PATH);
                           several directors on one etcd: the node follows
                           whichever leads
  --join-ca FILE           PEM the director's certificate must chain to
  --node-name N            this node's name in the fleet (default: host name)
  --worker                 run the tasks placed on this node, each in a
                           bubblewrap sandbox with its zone at /zone
  --capacity N             tasks run at once (default: the number of CPUs)
  --mesh-lease-ttl S       a task lease's life: a director grants it, a worker
                           extends it every S/3 while the task runs (default 30);
                           nodes heartbeat every S/3 (at most every 2 s)
  --mesh-heartbeat-timeout S
                           a director counts a node down after S seconds
                           without a heartbeat (default 15)
  --mesh-store etcd://H1:P1[,H2:P2...]
                           keep the director's state on etcd (default: SQLite
                           in DIR/mesh/); several directors on one etcd elect
                           a leader, the others stand by
  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE
                           TLS to etcd: the CA its certificate chains to, and
                           this director's client certificate and key
  --mesh-election-ttl S    a director's election lease (default: the smaller
                           of 10 and --mesh-lease-ttl; at most it)
  --ipc-ttl S              a message's TTL when its sender gives none (default
                           86400; 0: never expires)
  --tool-profiles FILE     MCP tool profiles (YAML) added to the built-in ones
                           or redefining them (docs/mcp.md)
  --mcp-default-profile NAME
                           the tools of subjects without tool grants
                           (default minimal; none: no tools)
  --version                print the version and exit
  -h, --help               print this help and exit

Every option can also be set in the config file (key = option name with
'_' for '-', e.g. data_dir; tls: {cert, key}; features: {name: false}) or
in the environment (NEXUS_ + the key in capitals, e.g. NEXUS_DATA_DIR).
Flags beat the environment, which beats the file. Values may be secret
references ${file:/run/secrets/name}.

Exit status: 0 clean stop, 1 runtime failure, 64 usage or configuration error.
)";
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("NEXUS_", 0) == 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& env) {
  DaemonOptions o;
  // Split the command line into (name, value) pairs first: the file and the
  // environment are applied before the flags so that flags win.
  std::vector<std::pair<std::string, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      o.show_help = true;
      continue;
    }
    if (a == "--version") {
      o.show_version = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return Status::Error(EINVAL, "unexpected argument '" + a + "' (see --help)");
    std::string name = a.substr(2), value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    if (BoolOptions().count(name)) {
      flags.emplace_back(name, has_inline ? value : "true");
      continue;
    }
    if (!ValueOptions().count(name) && name != "config")
      return Status::Error(EINVAL, "unknown option '" + args[i] + "' (see --help)");
    if (!has_inline) {
      if (i + 1 >= args.size()) return Status::Error(EINVAL, "--" + name + " needs a value");
      value = args[++i];
    }
    if (name == "config")
      o.config_path = value;
    else
      flags.emplace_back(name, value);
  }
  if (o.show_help || o.show_version) return o;

  if (o.config_path.empty())
    if (auto it = env.find("NEXUS_CONFIG"); it != env.end()) o.config_path = it->second;
  if (!o.config_path.empty()) NEXUS_RETURN_IF_ERROR(LoadConfigFile(o, o.config_path));
  for (const std::string& name : AllOptionNames()) {
    auto it = env.find(EnvName(name));
    if (it != env.end())
      NEXUS_RETURN_IF_ERROR(Apply(o, name, it->second, "environment variable " + it->first));
  }
  for (const auto& [name, value] : flags) NEXUS_RETURN_IF_ERROR(Apply(o, name, value, "--" + name));

  if (o.data_dir.empty())
    return Status::Error(EINVAL, "no data dir: give --data-dir, data_dir in the config or NEXUS_DATA_DIR");
  if (o.mountpoint.empty())
    return Status::Error(EINVAL, "no mount point: give --mount, mount in the config or NEXUS_MOUNT");
  if (!o.listen.empty() && (o.tls_cert.empty() || o.tls_key.empty()))
    return Status::Error(EINVAL, "--listen needs --tls-cert and --tls-key (nexus tls generate makes a pair)");
  // With a writeback cache the kernel keeps its own file sizes and ignores the
  // daemon's, so changes made on the host to a workspace would be invisible.
  if (o.writeback_cache && !o.workspace.empty())
    return Status::Error(EINVAL,
                         "--writeback-cache cannot be used with --workspace: host-side "
                         "changes to the workspace would not be seen");
  if (!o.mesh_store.empty() && o.mesh_store != "sqlite") {
    if (!o.director)
      return Status::Error(EINVAL, "--mesh-store is the director's store: it needs --director");
    if (!o.mesh_store.starts_with("etcd://"))
      return Status::Error(EINVAL,
                           "--mesh-store: '" + o.mesh_store + "' is neither sqlite nor etcd://HOST:PORT,...");
    if (o.listen.empty())
      return Status::Error(
          EINVAL, "--mesh-store etcd:// needs --listen: the directors and nodes reach the leader there");
  }
  if ((!o.etcd_cert.empty() || !o.etcd_key.empty()) &&
      (o.etcd_cert.empty() || o.etcd_key.empty() || o.etcd_ca.empty()))
    return Status::Error(EINVAL, "--etcd-cert and --etcd-key go together, with --etcd-ca");
  if (o.mesh_election_ttl > o.mesh_lease_ttl)
    return Status::Error(EINVAL, "--mesh-election-ttl must be at most --mesh-lease-ttl");
  if (o.director && o.registration_key.empty())
    return Status::Error(EINVAL, "--director needs --registration-key (the key nodes join with)");
  if (!o.director && o.join.empty() && !o.registration_key.empty())
    return Status::Error(EINVAL, "--registration-key is for a --director or a node that --joins");
  if (!o.join.empty() && o.registration_key.empty())
    return Status::Error(EINVAL, "--join needs --registration-key (the director's)");
  return o;
}

}  // namespace nexus
