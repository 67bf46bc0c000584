// PathFiles: file operations by path, for callers the kernel never saw.
//
// The control socket names files by their path in the mounted namespace
// ("/docs/a.txt", "/zone/local/src/x.py"). PathFiles walks such paths
// through the Namespace exactly as the kernel would for the same caller:
// one step at a time (NsPath::ParseSteps), search permission on every
// directory, intermediate symlinks followed (at most 40, then ELOOP), ".."
// taken from where the walk really is (after a symlink, the parent of
// where the link led; at "/" it stays at "/"), POSIX mode checks on the
// object (fs/posix_access.h), the same errno for the same failure. Every change it makes also
// invalidates what the kernel may cache (fs/kernel_cache.h), so it is
// visible on the mount at once. Every call acts for a Caller (fs/types.h):
// its principal for the access policy and provenance, its uid/gid and the
// principal's groups for the mode checks.
//
// Threading: thread-safe; every call is a short sequence of namespace calls
// (local disk I/O only). Reads and writes move at most the bytes asked for.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "fs/kernel_cache.h"
#include "fs/namespace.h"
#include "fs/posix_access.h"

namespace nexus {

struct PathStat {
  std::string path;
  Attr attr;
  std::string content_id;      // regular files up to 16 MiB (hashing bigger ones
                               // would stall the caller); else empty
  std::string symlink_target;  // symlinks only
};

struct WriteOptions {
  bool truncate = true;  // replace the content
  bool append = false;   // write at the end
  uint64_t offset = 0;   // else write here
  bool create_parents = false;
  mode_t mode = 0644;  // for a new file, before the caller's umask
};

// An open file a stream of bytes is written into; closing it (Finish or
// destruction) is the file's last close.
class PathWriter {
 public:
  virtual ~PathWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  virtual Result<Attr> Finish() = 0;
};

class PathFiles {
 public:
  // `ns` must outlive this.
  explicit PathFiles(Namespace* ns) : ns_(ns) {}

  // Set once the mount exists; may be null (no mount, nothing cached).
  void SetKernelCache(KernelCache* cache) { cache_.store(cache); }

  // lstat semantics when !follow.
  Result<PathStat> Stat(const Caller& actor, const std::string& path, bool follow = false,
                        bool with_content_id = true);
  // Reads [offset, offset+length) (length 0: to the end, capped at
  // `max_bytes`). `size` receives the file's size.
  Result<std::string> Read(const Caller& actor, const std::string& path, uint64_t offset, uint64_t length,
                           uint64_t max_bytes, uint64_t* size);
  Result<Attr> Write(const Caller& actor, const std::string& path, std::string_view data,
                     const WriteOptions& options);
  // Compare-and-replace: writes `data` as the whole content of `path` only
  // while its content id (PathStat::content_id) is `expected_id`; an empty
  // `expected_id` means the file must not exist (it is created, as Write
  // with options.create_parents). ESTALE, changing nothing, otherwise
  // (also when an expected file is gone); EISDIR for a directory; EFBIG
  // when the file is too large to have a content id. Replace calls on the
  // same path are serialized, so of two callers expecting the same id only
  // one wins; a write through the mount between the check and the write
  // can still interleave (as for any editor saving a file).
  Result<Attr> Replace(const Caller& actor, const std::string& path, std::string_view data,
                       const std::string& expected_id, bool create_parents = false);
  Result<std::unique_ptr<PathWriter>> OpenWriter(const Caller& actor, const std::string& path,
                                                 const WriteOptions& options);
  Result<std::vector<PathStat>> List(const Caller& actor, const std::string& path, bool long_form);
  // With `parents`, creates missing ancestors and accepts an existing
  // directory (mkdir -p).
  Status MkDir(const Caller& actor, const std::string& path, mode_t mode, bool parents);
  Status RmDir(const Caller& actor, const std::string& path);
  // Removes a non-directory (EISDIR for a directory).
  Status Unlink(const Caller& actor, const std::string& path);
  Status Rename(const Caller& actor, const std::string& from, const std::string& to);
  // chmod/chown of `path` itself (a symlink is not followed), with the
  // kernel's rules: a mode only by the owner or root, an owner only by root.
  // Only the kMode, kUid and kGid fields of `request` are used.
  Result<Attr> SetAttr(const Caller& actor, const std::string& path, const SetAttrRequest& request);
  // Extended attributes of `path` (not followed); setting and removing
  // need write permission on it. ENODATA for a name that is not set.
  Result<std::string> GetXattr(const Caller& actor, const std::string& path, const std::string& name);
  Status SetXattr(const Caller& actor, const std::string& path, const std::string& name,
                  std::string_view value);
  Status RemoveXattr(const Caller& actor, const std::string& path, const std::string& name);

 private:
  class Pin;
  struct Walk;
  struct Parent;
  class Writer;

  // Walks `steps` from the root. Every step but the last must lead to a
  // directory; the last is followed when it is a symlink and `follow`.
  // With `make_dirs`, a missing step named by the caller's own text
  // (not by a symlink's target) is created as a directory, as mkdir -p does.
  Status WalkSteps(const Caller& actor, std::vector<std::string> steps, bool follow, bool make_dirs,
                   int* links_left, Walk* walk);
  // Resolves the directory holding `path`'s last component; the returned
  // parent is pinned (a lookup reference) until the Parent is destroyed.
  // EINVAL when the path names no entry of a directory ("/", "/a/..").
  // `links_left` counts the symlinks that may still be followed.
  Result<Parent> ResolveParent(const Caller& actor, const std::string& path, int* links_left,
                               bool make_dirs = false);
  // Resolves `path`; pinned until the Pin is destroyed. `where`, when
  // given, receives the path the object was found at.
  Result<Attr> Resolve(const Caller& actor, const std::string& path, bool follow, Pin* pin,
                       std::string* where = nullptr);
  // The entry `path` names, for RmDir and Unlink: its parent and itself,
  // both pinned, after search permission on the parent. `no_entry_code`
  // (with the message) when the path names no entry ("/", "/a/..").
  struct Victim;
  Result<Victim> ResolveVictim(const Caller& actor, const std::string& path, int no_entry_code,
                               const std::string& no_entry_message);
  // Creates directory `name` in `dir` for the caller (permission, umask,
  // kernel cache); the new directory's attributes, not pinned.
  Result<Attr> MakeDir(const Caller& actor, const Attr& dir, const std::string& name, mode_t mode);
  struct Opened;
  Result<Opened> OpenForWrite(const Caller& actor, const std::string& path, const WriteOptions& options);
  Result<std::string> ContentId(const Attr& attr);
  void InvalidateEntry(Ino parent, const std::string& name);
  void InvalidateInode(Ino ino);

  Namespace* ns_;
  std::atomic<KernelCache*> cache_{nullptr};

  // Content ids by inode, valid while (mtime, size) match.
  struct CachedId {
    int64_t mtime_ns;
    uint64_t size;
    std::string id;
  };
  Mutex ids_mu_;
  std::map<Ino, CachedId> ids_ GUARDED_BY(ids_mu_);

  // Replace serializes calls on one path through the stripe its text
  // hashes to (unrelated paths rarely share one).
  static constexpr size_t kReplaceStripes = 64;
  Mutex replace_mu_[kReplaceStripes];
};

// "blob <size>\0" + content, hashed with SHA-1: git's object id of a blob.
class GitBlobHasher {
 public:
  explicit GitBlobHasher(uint64_t size);
  ~GitBlobHasher();
  void Update(const void* data, size_t len);
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A MIME type from the name, falling back to a look at the first bytes.
std::string GuessMimeType(const std::string& path, std::string_view head, bool is_dir);

}  // namespace nexus
