// Namespace: the single routing point between the mount and the backends.
//
// Every inode-level operation arrives here. The namespace validates names,
// resolves mount points (a backend grafted at a name inside a directory of
// another backend, e.g. the workspace at /zone/local), refuses operations
// that would cross backends (EXDEV) or remove a mount point (EBUSY), and
// forwards the rest to the backend that owns the inode (BackendOf(ino)).
//
// Access control: with an AccessPolicy (fs/access_policy.h) set, every
// operation made for a caller is checked before it reaches a backend, so the
// FUSE mounts and the control socket enforce the same rules:
//   - what the caller may not see is ENOENT (lookup, getattr, readlink,
//     open, xattrs) and absent from listings; hidden mounts are seen by
//     unrestricted callers only, but for /.nexus, where restricted callers
//     see /.nexus/activity (read-only; its backend filters what each reader
//     sees) and nothing else; "/" itself is always seen;
//   - open for reading needs read, for writing or O_TRUNC write;
//   - create, mknod, mkdir, symlink, link, unlink, rmdir and rename need
//     write on the parent directories (which covers a replaced target);
//     link also needs read on its source;
//   - setattr and xattr changes need write; chmod/chown of a file owned by
//     another uid need manage.
// A refused operation is EACCES and is reported to the policy (audit).
// The overloads without a Caller are unchecked: for the daemon's own use.
//
// Forks: backends may also be attached and detached while serving
// (AttachBackend: a fork under /forks, reached through the /forks directory's
// backend, which answers lookups with the fork's root); a PreChangeHook set
// before serving is called before every change routed to a backend it
// watches (fs/fork_point.h), on the FUSE and the socket paths alike.
//
// Threading: thread-safe. Mount points, the policy and the hook are
// registered before the namespace serves any call and never change
// afterwards; attached backends change atomically. With a hook set, each
// change holds change_gate_ shared for its whole call (HoldChanges takes it
// exclusively). Lock order: turnstile_ -> change_gate_ -> the hook's locks
// -> backends'.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "fs/access_policy.h"
#include "fs/backend.h"
#include "fs/fork_point.h"
#include "fs/names.h"

namespace nexus {

class Namespace {
 public:
  // `root` serves "/" and must have id 0. Not owned; must outlive this.
  explicit Namespace(Backend* root);

  // Grafts `backend`'s root at `name` inside directory `parent`. The mount
  // point hides any real entry of that name. A `hidden` mount is reachable
  // by name (lookup, paths) but not listed by ReadDir of `parent`, like
  // ZFS's ".zfs" (e.g. the history tree at /.nexus). Safe while other
  // threads use the namespace (the daemon's background walks start before
  // its last part grafts its tree): a mount appears whole or not at all.
  // At most kMaxMounts; mounts are never removed.
  Status AddMount(Ino parent, const std::string& name, Backend* backend, bool hidden = false);
  static constexpr size_t kMaxMounts = 16;

  // Resolves an absolute path ("/a/b") to its attributes without taking a
  // kernel lookup reference. Symlinks are not followed. The returned inode
  // number is therefore not pinned: a backend may forget it (see backend.h),
  // so a caller that goes on to act on it must Lookup it from its parent.
  Result<Attr> Resolve(const Caller& caller, const std::string& path);
  // The same, keeping one lookup reference on the inode returned (none on
  // the root), so the caller may act on it; the caller drops it with
  // Forget(attr.ino, 1) unless attr.ino is kRootIno. Empty and "."
  // components are skipped; ".." is EINVAL.
  Result<Attr> ResolvePinned(const Caller& caller, const std::string& path);

  Backend* root_backend() const { return root_; }
  // Makes inodes of `backend` (id() >= 1, not yet attached) routable from
  // now on, without a mount point. EEXIST if the id is taken.
  Status AttachBackend(Backend* backend);
  // Inodes of backend `id` are ENOENT from now on. The backend object must
  // outlive the namespace (a call may still be running in it).
  void DetachBackend(uint16_t id);
  // Call before serving. Not owned; must outlive this.
  void SetPreChangeHook(PreChangeHook* hook) { hook_.store(hook, std::memory_order_release); }
  // Runs `f` while no change routed here is between its pre-change check
  // and its end (with a hook set, each change holds a shared gate from
  // before the hook's Watched() to its return): a fork that starts being
  // watched in `f` sees every change either wholly before or through the
  // hook. Changes wait meanwhile, so `f` must be short; never call it from
  // inside a change or the hook.
  Status HoldChanges(const std::function<Status()>& f);

  // Call before serving. Not owned; must outlive this. Null: POSIX only.
  void SetAccessPolicy(AccessPolicy* policy) { policy_.store(policy, std::memory_order_release); }
  // From now on the agents' homes under directory `agents_dir` ("/agents")
  // belong to the daemon (layout::IsAgentStructure): only a caller whose
  // principal is the daemon's (AuthMethod::kDaemon) creates, renames or
  // removes /agents, a home, its record or its mailbox folders, or writes,
  // truncates, chmods or sets xattrs of a record; everyone else, admins
  // included, gets EPERM. The directory itself must never be renamed
  // (the rule sees to it).
  void ReserveAgentHomes(Ino agents_dir) { agents_dir_.store(agents_dir, std::memory_order_release); }
  AccessPolicy* access_policy() const { return policy_.load(std::memory_order_acquire); }
  // The namespace path of `ino` ("" if it has none).
  std::string PathOf(Ino ino) const;

  // `shared`, when given, says whether the answer is the same for every uid
  // of the host (SharedName): a name found and shared, or a name that does
  // not exist at all (not one hidden from the caller).
  Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name, bool* shared = nullptr);
  // Whether the kernel may cache `name` in directory `parent` (the entry
  // whose attributes are `attr`) for every uid: without a policy, always;
  // with one, when every view of AccessPolicy::UidViews that sees `parent`
  // sees the entry too (so any uid that gets to `parent` may be given it
  // without asking). Never for a file with several names (its visibility
  // follows its first name, which may go away) nor inside a hidden mount.
  // `path`, when given and the answer was computed from paths, receives
  // the entry's path.
  bool SharedName(Ino parent, std::string_view name, const Attr& attr, std::string* path = nullptr);
  // After a rename that left `name` in `parent` (attributes `attr`):
  // whether names the kernel may have cached stay shared (else it must
  // revalidate every name: the moved entry keeps its old cache lifetime,
  // and a moved directory its cached names below).
  bool NamesStayShared(Ino parent, std::string_view name, const Attr& attr);
  void Forget(Ino ino, uint64_t nlookup);
  Result<Attr> GetAttr(Ino ino);
  Result<Attr> GetAttr(const Caller& caller, Ino ino);
  Result<Attr> SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh);
  Result<std::string> ReadLink(Ino ino);
  Result<std::string> ReadLink(const Caller& caller, Ino ino);
  Result<Attr> MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode, dev_t rdev);
  Result<Attr> MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode);
  Result<Attr> Symlink(const Caller& caller, const std::string& target, Ino parent, const std::string& name);
  Result<Attr> Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name);
  Status Unlink(const Caller& caller, Ino parent, const std::string& name);
  Status RmDir(const Caller& caller, Ino parent, const std::string& name);
  Status Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                const std::string& new_name, unsigned flags);
  Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags);
  Result<Backend::Created> Create(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                                  int flags);
  void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len);
  Status Fsync(FileHandle& fh, bool datasync);
  Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length);
  void Release(std::unique_ptr<FileHandle> fh);
  Status Flush(FileHandle& fh);
  void BeforeWrite(FileHandle& fh);
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino);
  Status FsyncDir(Ino ino);
  Result<struct statvfs> StatFs(Ino ino);
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value, int flags);
  Result<std::string> GetXattr(Ino ino, const std::string& name);
  Result<std::string> GetXattr(const Caller& caller, Ino ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(Ino ino);
  Result<std::vector<std::string>> ListXattr(const Caller& caller, Ino ino);
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name);

  // The content a close left (Backend::OpenClosed), for the version
  // recorder: unchecked, routed to the inode's backend.
  Result<Backend::ClosedContent> OpenClosed(Ino ino, uint64_t gen);
  bool ClosedStillLive(Ino ino, uint64_t gen);
  void ClosedCaptured(Ino ino, uint64_t gen);
  // Every backend's ClosedLeftOver, oldest first within each.
  std::vector<Backend::LeftClose> ClosedLeftOver();

 private:
  struct MountPoint {
    Ino parent = 0;
    std::string name;
    Backend* backend = nullptr;
    bool hidden = false;  // not listed by ReadDir(parent)
  };
  Result<Backend*> Route(Ino ino) const;
  // Access checks; all are no-ops for unrestricted callers (Restricted).
  bool Restricted(const Caller& caller) const {
    AccessPolicy* policy = access_policy();
    return policy && !policy->Unrestricted(caller);
  }
  // ENOENT unless the caller sees `ino` (whose attributes are `attr`);
  // `seen_path`, if given, receives its path (computed once per call).
  // The policy's CanSee and Can, but inside /.nexus, where a restricted
  // caller sees /.nexus itself and the activity files, read-only, and
  // nothing else (the history tree stays closed).
  bool Sees(const Caller& caller, std::string_view path, bool is_dir);
  // SharedName's rule on paths: every view that sees `parent_path` sees
  // `path`.
  bool SharedPath(std::string_view parent_path, std::string_view path, bool is_dir);
  bool Permits(const Caller& caller, Need need, std::string_view path, bool is_dir);
  Status CheckSee(const Caller& caller, const Attr& attr, std::string_view op,
                  std::string* seen_path = nullptr);
  // ENOENT unless the caller sees directory `dir`, EACCES unless it holds
  // `need` on it; fills `path` with the directory's path.
  Status CheckDir(const Caller& caller, Ino dir, Need need, std::string_view op, std::string* path);
  // ENOENT unless seen, EACCES unless writable.
  Status CheckWrite(const Caller& caller, Ino ino, std::string_view op);
  Status Refuse(const Caller& caller, int code, std::string_view op, const std::string& path,
                std::string_view why);
  // EPERM when `name` in `parent` is agent structure the caller may not
  // create, rename or remove (ReserveAgentHomes).
  Status GuardAgentName(const Caller& caller, Ino parent, std::string_view name, std::string_view op);
  // EPERM when `attr` is an agent record the caller may not change; `path`
  // is its path when known (else computed only for a file without write
  // bits, as records are).
  Status GuardAgentRecord(const Caller& caller, const Attr& attr, const std::string* path,
                          std::string_view op);
  const MountPoint* FindMount(Ino parent, const std::string& name) const;

  // Holds change_gate_ shared for a change's scope when a hook is set and
  // `changes` (HoldChanges). Not annotated: the lock is conditional.
  class ChangeScope {
   public:
    explicit ChangeScope(Namespace* ns, bool changes = true) NO_THREAD_SAFETY_ANALYSIS;
    ~ChangeScope() NO_THREAD_SAFETY_ANALYSIS;
    ChangeScope(const ChangeScope&) = delete;
    ChangeScope& operator=(const ChangeScope&) = delete;

   private:
    Namespace* const ns_;  // null: nothing held
  };

  // The hook's BeforeChange for backend `b` when it watches it; Ok otherwise.
  Status BeforeChange(Backend* b, PreChange kind, Ino ino, std::string_view name = {});

  Backend* root_;
  // Set while background walks may already run (daemon start-up).
  std::atomic<AccessPolicy*> policy_{nullptr};
  std::atomic<PreChangeHook*> hook_{nullptr};
  SharedMutex change_gate_;
  Mutex turnstile_;  // held by HoldChanges; changes wait on it while closing_
  std::atomic<bool> closing_{false};
  std::atomic<Ino> agents_dir_{0};  // 0: no agent homes reserved
  // Indexed by backend id (all 65536 ids): attached backends come and go
  // while calls are routed.
  std::unique_ptr<std::atomic<Backend*>[]> backends_;
  // Mount points: a slot is filled before mount_count_ covers it and never
  // changes after, so readers scan Mounts() without a lock while AddMount
  // (serialized by mounts_mu_) appends. A vector would move its elements
  // under a reader when it grows.
  std::array<MountPoint, kMaxMounts> mounts_;
  std::atomic<size_t> mount_count_{0};
  Mutex mounts_mu_;
  std::span<const MountPoint> Mounts() const {
    return {mounts_.data(), mount_count_.load(std::memory_order_acquire)};
  }
};

// A top-level entry of the root backend renamed out of a reserved name.
struct RenamedAside {
  std::string from;  // "/tools"
  std::string to;    // "/tools.user-1"
};

// Moves every top-level entry named like what NexusFS now serves there
// (layout::kRenamedAsideNames: /agents, /forks, /tools) to
// "<name>.user-<n>", the smallest n >= 1 not taken, content intact, with a
// warning in the log naming both paths: a user's folder is never lost nor
// shadowed. A folder carrying layout::kReservedXattr with its name is
// NexusFS's own and stays. Run once at start, before anything is mounted at those names
// and before the namespace serves calls. Returns what was moved.
Result<std::vector<RenamedAside>> RenameReservedAside(Namespace& ns);

}  // namespace nexus
