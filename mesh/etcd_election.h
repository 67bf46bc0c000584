// EtcdElection: leader election among directors sharing an etcd store, by
// etcd's standard recipe (the one etcd's own concurrency package uses):
// each candidate creates a key under the store key prefix "election/",
// named after an etcd lease of its own with the election TTL and holding
// its address; the candidate whose key has the lowest create revision
// leads, the others stand by in that order. A candidate keeps its lease
// alive every TTL/3; a leader that dies or stalls stops doing so, etcd
// deletes its key when the lease lapses, and the next candidate leads.
// Chosen over a CAS on one leader key because the candidates' keys also
// give the list of standbys for free, and nobody has to race for a key.
//
// Forwarding: a candidate may publish the SHA-256 of a secret of its own
// under "peers/<lease id>" ("ADDRESS SHA256HEX", on the same lease, so it
// lives exactly as long as the candidacy). The leader accepts a standby's
// forwarded calls (Nexus.meshForward) only from an address that presents
// the secret one live candidate published (VerifyPeer): being a director is
// being able to write the election, i.e. holding etcd's credentials.
//
// Fencing: `on_change` hands the new leader its key and revision; the
// director commits through a FencedStore fenced on them.
//
// A candidate that cannot renew its lease for a whole TTL (etcd without
// quorum, this process paused) stops counting itself as leader, and
// campaigns again with a new key once etcd answers.
//
// Thread-safety: View may be called from any thread; `on_change` runs on
// the election's own thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "mesh/etcd_store.h"

namespace nexus::mesh {

struct ElectionView {
  bool leading = false;
  std::string leader;                 // address; "" if none is known
  std::vector<std::string> standbys;  // addresses, in succession order
  std::string key;                    // this candidate's store key ("" if none)
  int64_t revision = 0;               // its create revision
  std::string error;                  // why etcd did not answer, if so
};

class EtcdElection {
 public:
  static constexpr std::string_view kPrefix = "election/";
  static constexpr std::string_view kPeerPrefix = "peers/";
  using OnChange = std::function<void(const ElectionView&)>;

  // `store` (not owned) must outlive this. `address` is what other
  // directors and nodes reach this one at.
  EtcdElection(EtcdStore* store, std::string address, Duration ttl, OnChange on_change);
  ~EtcdElection();  // resigns (revokes its lease) so a standby leads at once

  // The SHA-256 (hex) of this candidate's forwarding secret; before Start.
  void SetPeerDigest(std::string sha256_hex) { peer_digest_ = std::move(sha256_hex); }
  void Start();
  // OK when a live candidate at `address` published the SHA-256 of
  // `secret`; EACCES otherwise (EAGAIN when etcd does not answer). Reads
  // etcd: not on an event loop.
  static Status VerifyPeer(const EtcdStore& store, std::string_view address, std::string_view secret);
  ElectionView View() const;
  // Pretends this candidate stopped (tests): no more renewals.
  void TEST_Pause(bool paused);

 private:
  void Loop();
  // One round: campaign if needed, renew, read the candidates.
  void Round();

  EtcdStore* const store_;
  const std::string address_;
  std::string peer_digest_;  // set before Start
  const Duration ttl_;
  const OnChange on_change_;

  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool paused_ GUARDED_BY(mu_) = false;
  ElectionView view_ GUARDED_BY(mu_);
  int64_t lease_ = 0;                                // election thread only
  std::chrono::steady_clock::time_point renewed_{};  // last successful renewal
  std::thread thread_;
};

}  // namespace nexus::mesh
