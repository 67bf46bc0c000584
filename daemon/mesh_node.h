// MeshNodeAgent: nexusd as a node of a mesh. It joins a director (nexusd
// --join, or `nexus mesh register`) with the registration key, keeps the
// credential it is given in DATA/mesh-node.state (mode 0600), heartbeats
// with its load, and, as a --worker, claims the tasks placed on it and runs
// each in a bubblewrap sandbox (mesh/task_runner.h) with the task's zone
// (MNT/zone/<zone> on this node's own mount) bound at /zone: start, lease
// extensions while it runs, then complete with the exit code and output, or
// fail with the reason. The node reports the zones it has (the folders of
// MNT/zone) when it registers and with every heartbeat, so the director
// places a task only where its zone is. After the command the worker reads
// the task's declared outputs from the same view of the zone and uploads
// them with the result (mesh::CollectOutputs). Stopping the daemon cancels running tasks (reported
// as failed attempts, so the director places them again).
//
// --join A,B,C names several directors sharing one etcd store: the node
// talks to whichever leads, moving to the next address when one is
// unreachable or answers as a standby ("unavailable").
//
// A director that goes away for a while (a restart, a partition) does not
// end running tasks: each call is retried on a new connection while the
// lease may still be ours by the node's own clock; a task stops when the
// director says its lease belongs to someone else (fenced) or when the
// lease has run out without an extension.
//
// A workflow's `task` action here is submitted to the director over the
// node's own session (SubmitTask), if the director's operator lets this
// node submit.
//
// It also presents this node's passport key to the director and asks it
// for the mesh's key set and revocations (FetchTrust, ReportRevocations:
// one connection per call).
//
// Threading: one thread heartbeats and claims; one thread per running task.
// Each thread has its own connection to the director (its own event loop).
// Public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "mesh/director.h"
#include "mesh/task_runner.h"
#include "rpc/client.h"
#include "rpc/server/service.h"

namespace nexus {

struct MeshNodeConfig {
  std::string data_dir;
  std::string mountpoint;  // zones are found at MNT/zone/<zone>
  std::string address;     // how others reach this node (its --listen), may be ""
  bool worker = false;
  int64_t capacity = 1;  // tasks run at once
  std::chrono::milliseconds heartbeat{2000};
  std::chrono::milliseconds lease_interval{10000};  // extend the lease this often
  double lease_ttl_s = 30;
  // A call the director has not answered in this long counts as lost
  // (a partition shows as silence, not as a closed connection).
  double call_timeout_s = 10;
  // This node's raw Ed25519 identity public key, presented at registration
  // and with every heartbeat (the mesh's passport key set); may be empty.
  std::string node_key;
};

class MeshNodeAgent final : public MeshMembership {
 public:
  // Loads the saved membership, if any, and starts heartbeating with it.
  static Result<std::unique_ptr<MeshNodeAgent>> Start(MeshNodeConfig config);
  ~MeshNodeAgent() override;  // Stop()
  // Stops heartbeating, tells the director this node leaves, cancels the
  // running tasks and waits for their threads; once, from any thread. The
  // daemon calls it while its mount still serves: those threads read the
  // zones through the mount, which nobody answers once the loop has ended.
  void Stop();

  MeshMemberInfo Current() override;
  Result<MeshMemberInfo> Join(const std::string& director, const std::string& key, const std::string& ca_file,
                              const std::string& name, int64_t capacity) override;
  Result<MeshMemberInfo> RotateCredential() override;
  Result<RemoteTrust> FetchTrust() override;
  Status ReportRevocations(const std::vector<PassportRevocation>& revocations) override;
  Result<std::string> SubmitTask(const std::string& name, const std::string& command, const std::string& zone,
                                 const std::string& on_behalf) override;

 private:
  struct Membership {
    std::string director, ca_file, node_id, credential, fingerprint, name;
  };
  explicit MeshNodeAgent(MeshNodeConfig config) : config_(std::move(config)) {}
  std::string StatePath() const { return config_.data_dir + "/mesh-node.state"; }
  Status Save(const Membership& m);
  Status Load();
  class Link;
  Result<std::unique_ptr<NexusClient>> Dial(const std::string& director, const std::string& ca_file) const;
  MeshMemberInfo InfoLocked() const REQUIRES(mu_);
  void Loop() EXCLUDES(mu_);
  void StopOnce() EXCLUDES(mu_);
  // The zones of this node: the folders of MNT/zone (read on the calling
  // thread, never a FUSE one).
  std::vector<std::string> Zones() const;
  void RunTask(Membership m, std::string id, std::string token, mesh::TaskSpec spec,
               std::shared_ptr<std::atomic<bool>> done);

  const MeshNodeConfig config_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool joined_ GUARDED_BY(mu_) = false;
  uint64_t generation_ = 0;  // bumped when the membership changes; mu_
  Membership m_ GUARDED_BY(mu_);
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_ GUARDED_BY(mu_);             // finished ones reaped by Loop
  std::vector<mesh::TaskRunner*> runners_ GUARDED_BY(mu_);  // running sandboxes
  std::atomic<int> running_{0};
  mutable std::atomic<size_t> dial_next_{0};  // Dial's starting address among several
  std::thread loop_;
  std::once_flag stopped_;
};

}  // namespace nexus
