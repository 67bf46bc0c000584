// Vocabulary types shared by the filesystem core, its backends and the FUSE
// layer: inode numbers, attributes, the caller of an operation, and the
// attribute-change request of setattr.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <string>

#include "base/principal.h"

namespace nexus {

// A FUSE-visible inode number. The top 16 bits name the backend (0 is the
// native tree, whose root is inode 1 = FUSE_ROOT_ID); the low 48 bits are the
// backend's own number. See fs/namespace.h.
using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;
inline constexpr int kBackendShift = 48;
inline constexpr Ino kLocalMask = (Ino{1} << kBackendShift) - 1;
inline constexpr uint16_t BackendOf(Ino ino) { return static_cast<uint16_t>(ino >> kBackendShift); }
inline constexpr Ino LocalOf(Ino ino) { return ino & kLocalMask; }
inline constexpr Ino MakeIno(uint16_t backend, Ino local) {
  return (Ino{backend} << kBackendShift) | (local & kLocalMask);
}

// Which FUSE mount a call came through (fs/fuse_ops.h FuseContext::id), so
// a change is not invalidated in the kernel cache that made it. kNone: the
// socket or the daemon itself.
enum class MountId : uint32_t { kNone = 0, kMain = 1 };

struct ProcessInfo;  // fs/process_info.h

// Who is making a call, and the facts of this one call. On the mount it
// comes from the FUSE request context; on the control socket from the peer
// credentials or API key.
struct Caller {
  // The POSIX credentials of this call (the kernel's for a FUSE request):
  // new files are owned by them and mode bits are checked against them.
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  mode_t umask = 022;
  // Who is calling: resolved once at the boundary by perms/
  // (perms/principals.h), interned and valid as long as its resolver; every
  // access check, audit record and version uses its subject. Null: not
  // resolved at a boundary (the daemon's own work, or a caller built in a
  // test): the access policy resolves it from `uid`.
  const Principal* principal = nullptr;
  MountId mount = MountId::kNone;
  // What the changes of this call record as their command and agent
  // (fs/process_info.h) instead of reading the calling process in /proc:
  // set by a labelled socket session. Null (FUSE, most callers): read pid's.
  // Not owned; outlives every call made with this Caller.
  const ProcessInfo* origin = nullptr;
  bool IsRoot() const { return uid == 0; }
};

// The attributes of an inode, as getattr reports them.
struct Attr {
  Ino ino = 0;
  mode_t mode = 0;
  uint32_t nlink = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte blocks actually allocated
  dev_t rdev = 0;
  timespec atime{}, mtime{}, ctime{}, btime{};

  bool IsDir() const { return S_ISDIR(mode); }
  bool IsReg() const { return S_ISREG(mode); }
  bool IsLnk() const { return S_ISLNK(mode); }
  struct stat ToStat() const;
};

// Which fields a setattr changes (mirrors FUSE_SET_ATTR_*).
struct SetAttrRequest {
  enum : uint32_t {
    kMode = 1 << 0,
    kUid = 1 << 1,
    kGid = 1 << 2,
    kSize = 1 << 3,
    kAtime = 1 << 4,
    kMtime = 1 << 5,
    kAtimeNow = 1 << 7,
    kMtimeNow = 1 << 8,
    kCtime = 1 << 10,
  };
  uint32_t valid = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  timespec atime{}, mtime{}, ctime{};
};

// Current wall-clock time as a timespec.
timespec NowTimespec();
int64_t ToNanos(const timespec& ts);
timespec FromNanos(int64_t ns);

}  // namespace nexus
