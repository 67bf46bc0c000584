// The libfuse3 low-level binding of the Namespace.
//
// Each FUSE callback turns the request into a Namespace call with the
// caller's identity (fuse_req_ctx) and converts the Status into a reply, in
// one place per operation family:
//   fuse_entry_ops.cc  lookup, forget, getattr, setattr, readlink, mknod,
//                      mkdir, symlink, link, unlink, rmdir, rename
//   fuse_file_ops.cc   open, create, read, write_buf, release, fsync,
//                      fallocate, lseek
//   fuse_dir_ops.cc    opendir, readdir, readdirplus, releasedir, fsyncdir
//   fuse_xattr_ops.cc  setxattr, getxattr, listxattr, removexattr
//   fuse_ops.cc        init, statfs and the operation table
// State reaches the callbacks only through fuse_req_userdata(): a FuseContext
// built by the daemon. No global mutable state.
//
// POSIX and flock locks are left to the kernel (no getlk/setlk/flock ops), so
// they are exact and cost nothing for the processes of this host.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "fs/kernel_cache.h"
#include "fs/namespace.h"

namespace nexus {

// Which names (dentries, positive and negative) the kernel may cache for a
// mount. The kernel's caches are shared by every uid and answer lookups
// without asking us, so with access control on a name may only be cached
// where every caller gets the same answer.
enum class NameCaching : uint8_t {
  // Every name, for the backend's lifetime (FuseSettings): no access
  // policy, or a mount of one subject whose names the kernel revalidates
  // when that subject's access changes (FuseMount::IncrementEpoch).
  kAll,
  // The names the namespace says every uid sees alike (Namespace::
  // SharedName; names that exist for nobody too); the others (a name some
  // view may see and another not, or hidden from its caller) are asked
  // about on every path walk. Every change of tuples, bindings or
  // delegations, every first expiry among them, and every rename that
  // could move a cached name out of that rule make the kernel revalidate
  // all cached names (an epoch) before the change returns.
  kShared,
  // None: each path component of each path walk is a lookup checked as its
  // caller (the kernel cannot revalidate names on request).
  kNone,
};

struct FuseSettings {
  bool writeback_cache = false;
  // Kernel entry/attribute cache lifetimes (seconds). The native tree only
  // changes through NexusFS, so it can be cached long; a workspace can also
  // be changed by the host behind our back, so its entries expire fast.
  double native_timeout = 60.0;
  double workspace_timeout = 1.0;
  unsigned max_write = 1u << 20;
};

struct FuseContext {
  Namespace* ns = nullptr;
  FuseSettings settings;
  // Who a request acts as (base/principal.h), resolved once per request in
  // CallerOf: a per-subject mount's one principal when set, else the
  // principal `principals` resolves for the request's uid. Both are owned
  // by perms/ (perms/principals.h) and outlive the mount. Neither set (a
  // bare test mount): the access policy resolves the uid itself.
  const Principal* principal = nullptr;
  PrincipalResolver* principals = nullptr;
  // This mount, in the callers it builds (Caller::mount); unique per daemon.
  MountId id = MountId::kMain;
  // The namespace inode this mount shows as its root (FUSE_ROOT_ID); a
  // per-subject mount may show a subtree.
  Ino root = kRootIno;
  // Which names the kernel may cache (see NameCaching). Attributes stay
  // cached in every mode: an inode is only reached by a name checked for
  // its caller (or shared by every uid), and reads and writes on an open
  // file do not pay a round trip.
  std::atomic<NameCaching> names{NameCaching::kAll};
  // Makes the kernel revalidate every cached name (kShared: a rename that
  // moved a cached name out of the rule). Set with kShared; safe to call
  // from a FUSE worker (the kernel takes no lock for it).
  KernelCache* kernel = nullptr;
  std::string mountpoint;  // where this context is mounted (for messages)
  // Per-operation counts, errors and latencies, indexed as FuseOpNames();
  // null: not measured.
  OpMetrics* metrics = nullptr;
  std::atomic<uint64_t> bytes_read{0};  // asked for by read requests
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<int64_t> open_handles{0};  // open files

  double TimeoutFor(Ino ino) const {
    return BackendOf(ino) == 0 ? settings.native_timeout : settings.workspace_timeout;
  }
  // How long the kernel may keep a name of inode `ino` (or a negative name
  // in directory `ino`); `shared`: the namespace's SharedName answer, asked
  // only when names are kShared (NeedsShared).
  double EntryTimeoutFor(Ino ino, bool shared) const {
    switch (names.load(std::memory_order_relaxed)) {
      case NameCaching::kAll:
        return TimeoutFor(ino);
      case NameCaching::kShared:
        return shared ? TimeoutFor(ino) : 0.0;
      case NameCaching::kNone:
        break;
    }
    return 0.0;
  }
  bool NeedsShared() const { return names.load(std::memory_order_relaxed) == NameCaching::kShared; }
  // The kernel's inode numbers for this mount and the namespace's.
  Ino In(fuse_ino_t ino) const { return ino == FUSE_ROOT_ID ? root : ino; }
  fuse_ino_t Out(Ino ino) const { return ino == root ? FUSE_ROOT_ID : ino; }
};

// The operation table (all families). Every operation is measured into
// FuseContext::metrics.
const fuse_lowlevel_ops& NexusFuseOps();
// The names of the measured operations, in OpMetrics order.
std::vector<std::string> FuseOpNames();

// Helpers shared by the op families.
namespace fuseops {
FuseContext& Ctx(fuse_req_t req);
Caller CallerOf(fuse_req_t req);
// The namespace inode a request's inode number names on this mount.
inline Ino InoOf(fuse_req_t req, fuse_ino_t ino) { return Ctx(req).In(ino); }
void ReplyErr(fuse_req_t req, const Status& st);
// Fills a fuse_entry_param for `attr` with the backend's timeouts (the
// entry's as EntryTimeoutFor with `shared`).
fuse_entry_param EntryFor(const FuseContext& ctx, const Attr& attr, bool shared);
// The entry reply for a name just made (`name` in `parent`, attributes
// `attr`): shared as the namespace says when the mount needs to know.
void ReplyNewEntry(fuse_req_t req, Ino parent, const char* name, const Result<Attr>& attr);
FileHandle* Handle(fuse_file_info* fi);

void FillEntryOps(fuse_lowlevel_ops& ops);
void FillFileOps(fuse_lowlevel_ops& ops);
void FillDirOps(fuse_lowlevel_ops& ops);
void FillXattrOps(fuse_lowlevel_ops& ops);
}  // namespace fuseops

}  // namespace nexus
