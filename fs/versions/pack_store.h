// PackStore: the version store's small objects written as git packs, one
// pack per group commit, instead of one loose-object file each.
//
// Capturing a burst of small files as loose objects costs a file (an inode
// allocation, a directory entry, later an fsync) per blob; the filesystem's
// inode allocator alone then costs more CPU than the writes being versioned.
// Here an object is appended to a pending pack (one file per group, an
// ordinary pack being written: header, then type+size header and zlib
// stream per object) and served from it at once through an ODB backend that
// every repository handle of the store has at the highest priority, so a
// captured version reads back before it is committed. Trees and commits the
// committer writes go there too. At each group commit the committer calls
// Finish: the pending pack gets its object count and SHA-1 trailer, an index
// (.idx version 2) is written beside it, both are synced, and they are
// renamed into objects/pack/ (index last), where libgit2 and stock git read
// them like any pack.
//
// Packs are kept few: when more than kMaxPacks exist, the smallest are
// merged into one by copying their entries (no recompression). Gc's Sweep
// rewrites the packs holding unreachable objects.
//
// Crash safety: the pending pack is appended with write(2) before the
// version that names the object is journaled, so a process crash (kill -9)
// loses nothing: Open finishes every pending pack a previous run left,
// keeping each complete entry (a torn last entry is dropped; its version
// was never journaled). Finish makes a pack durable before the committer
// declares the versions naming its objects committed. A pack renamed into
// objects/pack/ whose index did not follow is completed by Open.
//
// Objects larger than the caller's inline limit stay loose (streamed in and
// out); packs hold what fits in memory.
//
// Threading: every method may be called from any thread; Append, lookups
// and Finish serialise on an internal mutex only for the bookkeeping, not
// for compression or disk reads.
#pragma once

#include <git2.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "fs/versions/git_util.h"

namespace nexus::versions {

class PackStore : public std::enable_shared_from_this<PackStore> {
 public:
  // More packs than this are merged (the smallest first) after a Finish.
  static constexpr size_t kMaxPacks = 16;

  // The pack writer of the bare repository `git_dir`; finishes the pending
  // packs (and completes the half-renamed packs) a crash left behind.
  static Result<std::shared_ptr<PackStore>> Open(const std::string& git_dir);
  ~PackStore();
  PackStore(const PackStore&) = delete;
  PackStore& operator=(const PackStore&) = delete;

  // Appends object `oid` (content `data` of `type`) to the pending pack,
  // deflated at zlib `level` (0: stored). No-op when it is pending already.
  Status Append(const git_oid& oid, git_object_t type, std::string_view data, int level = 1);
  bool IsPending(const git_oid& oid) const;
  size_t PendingObjects() const;

  // Turns the pending pack into a durable pack in objects/pack/ and merges
  // packs beyond kMaxPacks. No-op when nothing is pending.
  Status Finish();

  // Rewrites the packs so that they hold only the objects `keep` accepts
  // (a pack left empty is deleted). Objects pending are not touched.
  struct SweepResult {
    uint64_t objects_removed = 0;
    uint64_t bytes_removed = 0;  // on-disk bytes of the packs, before minus after
  };
  Result<SweepResult> Sweep(const std::function<bool(const git_oid&)>& keep);

  // An object database over the repository's loose objects and packs with
  // this store's pending objects on top (where libgit2 writes go).
  Result<OdbPtr> NewOdb();
  // Gives `repo` such a database.
  Status AttachTo(git_repository* repo);

  // Files of packs in objects/pack/ (tests, stats).
  size_t PackCount() const;

  // Served to the ODB backend (pack_store.cc).
  int ReadPending(const git_oid& oid, std::string* data, git_object_t* type) const;
  int ReadPendingHeader(const git_oid& oid, size_t* size, git_object_t* type) const;
  std::vector<git_oid> PendingIds() const;

  struct PendingFile;  // pack_store.cc

 private:
  explicit PackStore(std::string git_dir);
  Status Recover();
  Status OpenWorkFile(const char* kind, PendingFile* f);
  Status WritePack(PendingFile& file);
  Status MergeSmallPacks();
  struct PackInfo {
    std::string base;  // path without ".pack"/".idx"
    uint64_t bytes = 0;
  };
  std::vector<PackInfo> ListPacks() const;

  struct OidHash {
    size_t operator()(const git_oid& o) const;
  };
  struct OidEq {
    bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b); }
  };
  struct Slot {
    std::shared_ptr<PendingFile> file;
    uint64_t offset = 0;  // of the entry's data (after its header)
    uint32_t length = 0;  // compressed bytes
    uint64_t size = 0;    // inflated bytes
    git_object_t type = GIT_OBJECT_BLOB;
  };

  const std::string git_dir_;
  const std::string pending_dir_;
  const std::string pack_dir_;
  mutable Mutex mu_;
  std::shared_ptr<PendingFile> current_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<PendingFile>> retry_ GUARDED_BY(mu_);  // a Finish failed
  std::unordered_map<git_oid, Slot, OidHash, OidEq> slots_ GUARDED_BY(mu_);
  std::atomic<uint64_t> next_file_{0};
  Mutex finish_mu_;  // one Finish or Sweep at a time
};

}  // namespace nexus::versions
