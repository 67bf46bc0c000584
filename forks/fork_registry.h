// ForkRegistry: the forks of a daemon (docs/forks.md) — created, listed,
// reopened at start, discarded and collected — and the PreChangeHook that
// keeps every fork's fork point pinned.
//
// Storage: DATA/forks/forks.db (SQLite: one row per fork not yet collected,
// schema version in user_version) and DATA/forks/<n>/, each fork's own data
// dir (a NativeBackend opened with its source as `lower`, fs/fork_point.h).
// A fork of a folder of the native tree, or of another fork, pins its source
// lazily ("live"); a fork of the workspace (/zone/local), whose host folder
// can change behind nexusd's back, is a copy made at creation ("copy"): the
// folder is copied into DATA/forks/<n>/point/, a tree of its own that never
// changes, and the fork is a lazy fork of that copy, so diff and merge see a
// fork point there too.
//
// The /forks directory is served by the registry's own backend (forks_dir(),
// forks/forks_dir.h): it lists the forks a caller may see and answers a
// lookup of NAME with the root of that fork's backend, attached to the
// namespace with its own id.
//
// Lifetimes: a fork's backend objects live as long as the registry, even
// after Discard and Gc (a call may still be running in them), and the
// registry must outlive the namespace's serving.
//
// Threading: thread-safe. Create, Discard, Gc and NoteMerged are serialized
// (ops_mu); List, Get and Tree read a table under a short lock (mu);
// BeforeChange runs on FUSE workers and socket threads concurrently and
// takes only a shared lock to find the forks of a source (watch_mu).
// Lock order: ops_mu -> mu -> watch_mu; none is held while a fork
// preserves its fork point.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fs/backend.h"
#include "fs/change_events.h"
#include "fs/fork_point.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"

namespace nexus::forks {

struct ForkInfo {
  std::string name;  // [A-Za-z0-9._-]{1,64}, the zone-name rule (base/layout.h)
  std::string path;  // "/forks/NAME"
  std::string base;  // the namespace path it was forked from ("/src", "/zone/local/app", "/forks/a/src")
  std::string parent_fork;  // the fork `base` lies in, "" if none
  std::string owner;        // the subject that owns it (the creator, or --for)
  std::string created_by;   // the subject that created it
  int64_t created_ns = 0;
  std::string pin;    // "live" (source pinned lazily) or "copy" (copied at creation)
  std::string state;  // "active" or "discarded"
  uint16_t backend_id = 0;
  uint64_t own_bytes = 0;  // data the fork holds of its own (copied-up, created, kept origin)
  uint32_t merges = 0;     // merges applied from it
  int64_t last_merge_ns = 0;
};

class ForkRegistry final : public PreChangeHook {
 public:
  struct Options {
    std::string data_dir;                // DATA/forks (created if missing)
    Namespace* ns = nullptr;             // where forks are attached; not owned
    ChangeSink* sink = nullptr;          // the change bus forks publish to (mount paths /forks/NAME)
    NativeBackend* root_tree = nullptr;  // the native tree (backend 0)
    Backend* workspace = nullptr;        // the workspace backend, if any (forked by copy)
    int commit_interval_ms = 5;
    uint16_t first_backend_id = 16;  // forks take ids from here on
    uint16_t forks_dir_id = 3;       // the /forks directory's backend
    // Called after a fork appeared at or vanished from /forks/NAME
    // (`parent` is /forks's inode), so the kernel drops what it cached of
    // that entry. Never called on a FUSE worker; may be null.
    std::function<void(Ino parent, const std::string& name)> invalidate_entry;
  };

  // Opens forks.db, reopens every active fork (sources before their forks;
  // a fork that cannot be reopened fails the whole Open, as its source
  // must not change unwatched), attaches them, and grafts the /forks
  // directory. Call before serving, then Namespace::SetPreChangeHook
  // (registry), then FinishInterruptedMerges (forks/fork_merge.h): a merge
  // writes to a base that forks may read.
  static Result<std::unique_ptr<ForkRegistry>> Open(const Options& options);
  ~ForkRegistry() override;

  // `from` is resolved as `caller` (ENOENT unless the caller sees it; the
  // service checks read permission before). EEXIST for the name of an
  // active fork (a discarded one's name is free again), ENOTDIR if `from`
  // is not a directory, EINVAL for a bad name or a path inside /.nexus,
  // /agents or /forks itself (a folder inside a fork is fine: the new fork
  // is a fork of that fork). `owner` empty: the caller's subject. Constant
  // time for a live fork; a copy takes the time of copying.
  Result<ForkInfo> Create(const Caller& caller, const std::string& name, const std::string& from,
                          const std::string& owner);
  // Active and discarded (not yet collected) forks, in creation order.
  std::vector<ForkInfo> List() const;
  // The active fork `name`, else the last discarded one; ENOENT.
  Result<ForkInfo> Get(const std::string& name) const;
  // The fork's tree (active forks only).
  Result<NativeBackend*> Tree(const std::string& name);
  // Detaches the fork (its paths vanish at once); its data stays until Gc.
  // ENOENT unless active; EBUSY while an active fork is made from it.
  Status Discard(const std::string& name);
  struct GcReport {
    uint32_t removed = 0;
    uint64_t freed_bytes = 0;
  };
  // Removes the data of discarded forks (and of a creation a crash cut
  // short) and forgets them.
  Result<GcReport> Gc();

  // The backend serving /forks.
  Backend* forks_dir();
  Namespace* ns() const;
  const std::string& data_dir() const;
  // Records an applied merge (merges, last_merge_ns). ENOENT unless active.
  Status NoteMerged(const std::string& name, int64_t time_ns);

  // PreChangeHook.
  bool Watched(uint16_t backend_id) const override;
  Status BeforeChange(Backend& backend, PreChange kind, Ino ino, std::string_view name) override;

  struct Impl;

 private:
  explicit ForkRegistry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::forks
