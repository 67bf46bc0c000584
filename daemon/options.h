// nexusd's configuration: command-line flags, the nexus.yaml file and
// NEXUS_* environment variables, merged in that order of precedence
// (a flag beats the environment, which beats the file, which beats the
// defaults). Any value may be a secret reference `${file:/path}`, replaced
// by that file's content (trailing newline removed), so secrets need not
// sit in the environment or the config file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace nexus {

struct DaemonOptions {
  std::string data_dir;
  std::string mountpoint;
  std::string workspace;  // empty: no /zone/local
  std::string log_level = "info";
  bool writeback_cache = false;
  double attr_timeout = 60.0;
  double workspace_timeout = 1.0;
  // With ReBAC on, which names the main mount lets the kernel cache:
  // "shared" (the names every uid sees alike, revalidated on every access
  // change) or "none" (every path component is a lookup checked per caller).
  std::string name_cache = "shared";
  unsigned threads = 16;
  int commit_interval_ms = 5;
  bool fuse_debug = false;
  std::string config_path;  // the nexus.yaml read, if any
  std::string socket_path;  // default DATA_DIR/nexusd.sock
  std::string listen;       // HOST:PORT for TLS TCP; empty: none
  std::string tls_cert;
  std::string tls_key;
  std::string http;  // HOST:PORT; empty: none
  std::string profile = "full";
  std::map<std::string, bool> feature_overrides;  // from `features:` in the file
  // Names under `features:` that NexusFS does not have (the Nexus user
  // guide's, or unknown): whether the file asked for it, and why not.
  struct UnavailableFeature {
    bool wanted = false;
    std::string why;
  };
  std::map<std::string, UnavailableFeature> unavailable_features;
  // What the file asked that is ignored, for the log at start.
  std::vector<std::string> config_warnings;
  // Versioning (feature "versions").
  int versions_commit_window_ms = 200;   // group-commit window of the version store
  uint32_t versions_keep_versions = 10;  // `nexus versions gc` default policy
  uint32_t versions_keep_days = 30;
  // Operations log (feature "oplog"): days kept by the daily gc.
  uint32_t oplog_keep_days = 30;
  // Search (feature "search").
  std::string search_embeddings;        // "" none; http(s)://... (OpenAI-compatible
                                        // endpoint) or fasttext:/path/model.bin
  std::string search_embeddings_model;  // model name sent to an HTTP endpoint
  std::string search_embeddings_key;    // bearer token for an HTTP endpoint
  std::string search_embeddings_ca;     // PEM bundle trusted for https:// ("" system's)
  // Mesh (feature "mesh"): this daemon directs a fleet.
  bool director = false;
  std::string registration_key;        // what joining nodes must present (--director), or
                                       // what this node presents (--join)
  std::string join;                    // director to join: HOST:PORT (TLS) or unix:PATH
  std::string join_ca;                 // PEM the director's certificate must chain to
  std::string node_name;               // default: the host name
  bool worker = false;                 // run the tasks placed on this node
  unsigned capacity = 0;               // tasks at once; 0: the number of CPUs
  double mesh_lease_ttl = 30;          // seconds: a director's leases; a worker's extensions
  double mesh_heartbeat_timeout = 15;  // seconds without a heartbeat: the node is down
  // The director's store: "" (SQLite in DIR/mesh/mesh.db) or
  // etcd://H1:P1[,H2:P2...] (several directors elect a leader there).
  std::string mesh_store;
  std::string etcd_ca, etcd_cert, etcd_key;  // TLS to etcd (https) when etcd_ca is set
  double mesh_election_ttl = 0;              // seconds; 0: min(10, mesh_lease_ttl)
  double ipc_ttl = 86400;                    // seconds: a message's TTL when its sender gives none; 0: never
  // MCP tool profiles (perms/tool_profiles.h): the operator's YAML file
  // (added to the built-in profiles; empty: none) and the profile subjects
  // without tool grants use ("none": no tools).
  std::string tool_profiles;
  std::string mcp_default_profile = "minimal";
  bool show_help = false;
  bool show_version = false;
};

// The profiles and the features each one switches on.
const std::vector<std::string>& ProfileNames();
const std::vector<std::string>& ProfileFeatures(const std::string& profile);

// The Nexus user guide's feature names accepted under `features:`: each
// switches one of ours (`ours`), names something always on here (`ours`
// ""), or something NexusFS does not have (`ours` null, `why` says so as
// "<feature> — <why>").
struct GuideFeature {
  const char* name;
  const char* ours;
  const char* why;
};
const std::vector<GuideFeature>& GuideFeatures();
const GuideFeature* FindGuideFeature(const std::string& name);

// Parses argv (without argv[0]) together with the config file (--config, or
// NEXUS_CONFIG) and the environment `env` (NAME -> value). Errors name the
// offending flag, config key or variable.
Result<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& env = {});
// The process environment as a map, for ParseDaemonOptions.
std::map<std::string, std::string> ProcessEnvironment();
const char* DaemonUsage();

}  // namespace nexus
