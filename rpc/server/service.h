// The control socket's services: the Cap'n Proto server side of
// rpc/nexus.capnp. One bootstrap object per connection authenticates the
// caller; the Session it returns and everything reached from it act with
// that caller's identity.
//
// Threading: every object here lives on the socket server's event-loop
// thread (rpc/server/socket_server.h) and is called only there. They reach the
// filesystem through PathFiles (thread-safe, local disk only) and never
// touch a FUSE worker.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>
#include <kj/timer.h>

#include "fs/lock_table.h"
#include "base/metrics.h"
#include "perms/key_store.h"
#include "perms/passport_authority.h"
#include "rpc/nexus.capnp.h"
#include "fs/path_files.h"

namespace nexus {

class BackgroundJobs;
class AccessPolicy;
class AgentRegistry;
class Mailbox;
class AuditLog;
class DelegationTable;
class IdentityMap;
class PrincipalTable;
class RebacEngine;
class ToolProfiles;
class WatchHub;
class MeshOffice;
namespace versions {
class VersionStore;
class Recorder;
}  // namespace versions
namespace search {
class SearchIndex;
class Indexer;
}  // namespace search
namespace ops {
class OpLog;
class OpFeed;
class Undoer;
}  // namespace ops

// Facts about the running daemon that status/health report.
struct DaemonInfo {
  std::string version;
  pid_t pid = 0;
  int64_t started_ns = 0;  // wall clock
  std::string data_dir;
  std::string mountpoint;
  std::string workspace;
  std::string socket_path;
  std::string listen;
  std::string http;
  std::string profile;
  std::atomic<bool> mounted{false};
  std::atomic<uint32_t> connections{0};
};

// A feature and whether this daemon has it.
struct FeatureState {
  std::string name;
  enum class State { kEnabled, kDisabled, kUnavailable } state = State::kEnabled;
  std::string detail;
};

// A FUSE mount of the namespace where every call acts as one subject.
struct SubjectMountInfo {
  std::string mountpoint;
  std::string subject;
  std::string root;  // namespace path shown as the mount's root
  int64_t created_ns = 0;
  bool cache_names = false;  // the kernel caches names (revalidated by epoch)
};

// Adds and removes per-subject mounts; implemented by the daemon. Add and
// Remove mount/unmount and may take a while: call them off the event loop.
class SubjectMounts {
 public:
  virtual ~SubjectMounts() = default;
  // EINVAL bad subject/root, ENOENT/ENOTDIR mountpoint or root, EBUSY
  // already mounted, EACCES the subject cannot see `root`.
  // `cache_names`: let the kernel cache names where it can revalidate them
  // all on request (see SubjectMountTable); otherwise it caches none.
  virtual Result<SubjectMountInfo> Add(const std::string& mountpoint, const std::string& subject,
                                       const std::string& root, bool cache_names) = 0;
  virtual std::vector<SubjectMountInfo> List() = 0;
  virtual Status Remove(const std::string& mountpoint) = 0;  // ENOENT if not ours
};

// This daemon as a member of a mesh (a node): implemented by the daemon.
struct MeshMemberInfo {
  bool joined = false;
  bool worker = false;
  std::string director;  // HOST:PORT (TLS) or unix:PATH
  std::string node_id;
  std::string fingerprint;
  std::string name;
  int running = 0;  // tasks running here now
};
class MeshMembership {
 public:
  virtual ~MeshMembership() = default;
  virtual MeshMemberInfo Current() = 0;
  // Registers with the director (blocking network I/O: off the event loop),
  // keeps the credential and starts heartbeating. EEXIST if already joined.
  virtual Result<MeshMemberInfo> Join(const std::string& director, const std::string& key,
                                      const std::string& ca_file, const std::string& name,
                                      int64_t capacity) = 0;
  // A new credential from the director; the old one is refused from then on.
  virtual Result<MeshMemberInfo> RotateCredential() = 0;
  // The mesh's passport trust root, from the director (blocking network
  // I/O: off the event loop). ENOSYS when not joined.
  virtual Result<RemoteTrust> FetchTrust() { return Status::Error(ENOSYS, "not in a mesh"); }
  // Reports passport revocations made here to the director (blocking).
  // ENOSYS when not joined.
  virtual Status ReportRevocations(const std::vector<PassportRevocation>&) {
    return Status::Error(ENOSYS, "not in a mesh");
  }
  // Submits a task to the director as this node, for `on_behalf` (who here
  // asked); its id (blocking). ENOSYS when not joined; EACCES unless the
  // director's operator lets this node submit.
  virtual Result<std::string> SubmitTask(const std::string& /*name*/, const std::string& /*command*/,
                                         const std::string& /*zone*/, const std::string& /*on_behalf*/) {
    return Status::Error(ENOSYS, "not in a mesh");
  }
};

// Per-connection protocol limits.
struct ConnectionLimits {
  uint64_t max_message_words = 8u << 20;  // 64 MiB per message
  int max_nesting = 32;
  uint32_t max_calls_in_flight = 64;
  uint64_t max_read_bytes = 16u << 20;  // per read reply
};

// What the Versions service needs (all null: versioning is off). The
// recorder feeds the store from change events.
struct VersionsDeps {
  versions::VersionStore* store = nullptr;
  versions::Recorder* recorder = nullptr;
  uint32_t gc_keep_versions = 10;  // the configured retention policy
  uint32_t gc_keep_days = 30;
};

// The search index's embedding provider, switched at run time (SearchPart).
class SearchProviders {
 public:
  struct State {
    std::string provider;    // describes the provider (its model); empty: none
    bool embedding = false;  // vectors are being refilled in the background
    std::string error;       // why the last refill failed; empty: it did not
  };
  virtual ~SearchProviders() = default;
  virtual State Current() const = 0;
  // Makes SPEC the provider ("http(s)://HOST[:PORT][/PATH]",
  // "fasttext:/model.bin", or "none") and starts re-embedding in the
  // background. EINVAL for a SPEC that cannot be used: the current provider
  // stays. Blocks while a model loads: call it off the event loop.
  virtual Status Switch(const std::string& spec, const std::string& model, const std::string& api_key) = 0;
};

// What the Search service needs (null: search is off).
struct SearchDeps {
  search::SearchIndex* index = nullptr;
  search::Indexer* indexer = nullptr;
  SearchProviders* providers = nullptr;
};

// What the Permissions service needs beyond the session's identity (null:
// ReBAC is off).
struct RebacDeps {
  RebacEngine* engine = nullptr;
  AuditLog* audit = nullptr;
  IdentityMap* identities = nullptr;       // uid bindings
  DelegationTable* delegations = nullptr;  // the Delegations service's
  // The subject admins act as (the operator, root, admin keys); it owns
  // zone:root.
  std::string admin_subject = "user:admin";
  const ToolProfiles* tool_profiles = nullptr;  // MCP tool profiles (the Tools service)
};

// What the Mesh services need.
struct MeshDeps {
  MeshOffice* office = nullptr;          // the director's (null: not a director)
  MeshMembership* membership = nullptr;  // this daemon as a node (null: mesh off)
};

// What the Agents service needs (null: the registry is off).
struct AgentsDeps {
  AgentRegistry* registry = nullptr;
  // This node's identity key and passports (null: passports unavailable).
  PassportAuthority* passports = nullptr;
  Mailbox* mailbox = nullptr;  // the mailboxes (null: IPC is off)
};

// What the Ops service needs (null log: the operations log is off).
struct OpsDeps {
  ops::OpLog* log = nullptr;
  ops::OpFeed* feed = nullptr;  // Flush before a read that must see the latest
  ops::Undoer* undoer = nullptr;
  uint32_t keep_days = 30;  // --oplog-keep-days: gc's default
};

namespace forks {
class ForkRegistry;
}  // namespace forks

struct ForksDeps {
  forks::ForkRegistry* registry = nullptr;
};

namespace sandbox {
class SandboxTable;
}  // namespace sandbox

// What the Sandboxes service needs (null table: sandboxes are off, `why`
// says so).
struct SandboxDeps {
  sandbox::SandboxTable* table = nullptr;
  std::string why;
};

namespace workflows {
class Engine;
}  // namespace workflows

// What the Workflows service needs (null: workflows are off).
struct WorkflowsDeps {
  workflows::Engine* engine = nullptr;
};

// What the daemon hands the socket server: the core every call uses, and
// each optional part's own deps. Pointers are not owned and outlive the
// socket server.
struct ServiceContext {
  DaemonInfo* info = nullptr;
  PathFiles* files = nullptr;
  KeyStore* keys = nullptr;
  LockTable* locks = nullptr;
  OpMetrics* metrics = nullptr;  // per RPC method; see RpcMethodNames()
  std::vector<FeatureState> features;
  // Resolves who a connection acts as, once, at authentication: its Unix
  // peer credentials or its API key (perms/principals.h). Root and the
  // operator uid are admins there, as on the mount.
  PrincipalTable* principals = nullptr;
  ConnectionLimits limits;
  std::function<uint64_t()> inode_count;
  std::function<uint64_t()> database_bytes;
  std::function<void()> request_shutdown;  // called after the shutdown reply
  kj::Timer* timer = nullptr;              // set by the socket server
  BackgroundJobs* jobs = nullptr;          // slow calls run here (RunOffLoop)

  VersionsDeps versions;
  SearchDeps search;
  RebacDeps rebac;
  MeshDeps mesh;
  AgentsDeps agents;
  OpsDeps ops;
  ForksDeps forks;
  SandboxDeps sandboxes;
  WorkflowsDeps workflows;

  // What the namespace enforces for every caller (null: ReBAC is off; the
  // Namespace applies it to PathFiles calls too); services use it to filter
  // what they return (search hits, history).
  AccessPolicy* access = nullptr;

  // Per-subject mounts (null: unavailable).
  SubjectMounts* mounts = nullptr;

  // File watches (Files.watch; null: unavailable). Must outlive the socket
  // server.
  WatchHub* watches = nullptr;
};

// The transport facts of a connection, before authentication. Not who calls:
// authenticate resolves these (or an API key) into the connection's
// Principal once (perms/principals.h).
struct PeerInfo {
  std::string transport;         // "unix" or "tcp"
  bool has_credentials = false;  // SO_PEERCRED was read
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string address;  // for logs
};

// The metric name of every RPC method the daemon serves,
// "<interface in lower case>.<method>", read from the schema (every
// interface reachable from Nexus except client callbacks such as Progress).
std::vector<std::string> RpcMethodNames();

// The bootstrap capability for one connection.
kj::Own<rpc::Nexus::Server> MakeBootstrap(ServiceContext* ctx, PeerInfo peer);

}  // namespace nexus
