// PathFiles: file operations by path, for callers the kernel never saw.
//
// The control socket names files by their path in the mounted namespace
// ("/docs/a.txt", "/zone/local/src/x.py"). PathFiles walks such paths
// through the Namespace exactly as the kernel would for the same caller:
// search permission on every directory, intermediate symlinks followed
// (at most 40), POSIX mode checks on the object (fs/posix_access.h),
// the same errno for the same failure. Every change it makes also
// invalidates what the kernel may cache (fs/kernel_cache.h), so it is
// visible on the mount at once.
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

// Who acts: the identity namespace calls carry, and the credentials the
// permission checks use (the same uid/gid, plus supplementary groups).
struct Actor {
  Caller caller;
  Credentials cred;
};

struct PathStat {
  std::string path;
  Attr attr;
  std::string content_id;     // regular files up to 16 MiB (hashing bigger ones
                              // would stall the caller); else empty
  std::string symlink_target; // symlinks only
};

struct WriteOptions {
  bool truncate = true;   // replace the content
  bool append = false;    // write at the end
  uint64_t offset = 0;    // else write here
  bool create_parents = false;
  mode_t mode = 0644;     // for a new file, before the caller's umask
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
  Result<PathStat> Stat(const Actor& actor, const std::string& path, bool follow = false,
                        bool with_content_id = true);
  // Reads [offset, offset+length) (length 0: to the end, capped at
  // `max_bytes`). `size` receives the file's size.
  Result<std::string> Read(const Actor& actor, const std::string& path, uint64_t offset,
                           uint64_t length, uint64_t max_bytes, uint64_t* size);
  Result<Attr> Write(const Actor& actor, const std::string& path, std::string_view data,
                     const WriteOptions& options);
  Result<std::unique_ptr<PathWriter>> OpenWriter(const Actor& actor, const std::string& path,
                                                 const WriteOptions& options);
  Result<std::vector<PathStat>> List(const Actor& actor, const std::string& path, bool long_form);
  // With `parents`, creates missing ancestors and accepts an existing
  // directory (mkdir -p).
  Status MkDir(const Actor& actor, const std::string& path, mode_t mode, bool parents);
  Status RmDir(const Actor& actor, const std::string& path);
  // Removes a non-directory (EISDIR for a directory).
  Status Unlink(const Actor& actor, const std::string& path);
  Status Rename(const Actor& actor, const std::string& from, const std::string& to);

  // Normalizes an absolute path lexically ("//a/./b/../c" -> "/a/c");
  // EINVAL for a relative or empty path.
  static Result<std::string> Normalize(const std::string& path);

 private:
  class Pin;
  struct Parent;
  class Writer;

  // Resolves the directory holding `path`'s last component; the returned
  // parent is pinned (a lookup reference) until the Parent is destroyed.
  // `links_left` counts the symlinks that may still be followed.
  Result<Parent> ResolveParent(const Actor& actor, const std::string& path, int* links_left);
  // Resolves `path`; pinned until the Pin is destroyed.
  Result<Attr> ResolveInto(const Actor& actor, const std::string& path, bool follow, Pin* pin,
                           int* links_left);
  Result<Attr> Resolve(const Actor& actor, const std::string& path, bool follow, Pin* pin);
  // Like ResolveParent, creating missing ancestor directories.
  Result<Parent> MakeParents(const Actor& actor, const std::string& path);
  struct Opened;
  Result<Opened> OpenForWrite(const Actor& actor, const std::string& path,
                              const WriteOptions& options);
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
