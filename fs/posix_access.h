// POSIX permission checks in user space.
//
// On the mount the kernel checks mode bits (default_permissions). Calls that
// reach the filesystem another way (the control socket) act for a caller the
// kernel never saw, so they are checked here with the same rules: root may
// do anything except execute a file with no x bit; otherwise owner, then
// group (primary or supplementary), then other bits decide.
//
// Pure logic; thread-safe.
#pragma once

#include <sys/types.h>

#include <vector>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

// Access bits as in access(2).
enum AccessMask : int { kMayRead = 4, kMayWrite = 2, kMayExec = 1 };

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  bool InGroup(gid_t g) const;
};

// EACCES unless `cred` may access an object with `attr` for every bit in
// `mask`.
Status CheckAccess(const Credentials& cred, const Attr& attr, int mask);

// May `cred` remove or rename `victim` out of directory `dir`? Needs write
// and search on dir, and with the sticky bit, ownership of dir or victim.
Status CheckDeleteFromDir(const Credentials& cred, const Attr& dir, const Attr& victim);

// May `cred` change mode or times explicitly (owner or root)? EPERM if not.
Status CheckOwner(const Credentials& cred, const Attr& attr);

}  // namespace nexus
