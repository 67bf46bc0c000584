// POSIX permission checks in user space.
//
// On the mount the kernel checks mode bits (default_permissions). Calls that
// reach the filesystem another way (the control socket) act for a caller the
// kernel never saw, so they are checked here with the same rules: root may
// do anything except execute a file with no x bit; otherwise owner, then
// group (primary or supplementary), then other bits decide. The credentials
// are the caller's uid and gid and its principal's supplementary groups
// (base/principal.h).
//
// Pure logic; thread-safe.
#pragma once

#include <sys/types.h>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

// Access bits as in access(2).
enum AccessMask : int { kMayRead = 4, kMayWrite = 2, kMayExec = 1 };

// Is `g` the caller's gid or one of its principal's supplementary groups?
bool InGroup(const Caller& caller, gid_t g);

// EACCES unless `caller` may access an object with `attr` for every bit in
// `mask`.
Status CheckAccess(const Caller& caller, const Attr& attr, int mask);

// May `caller` remove or rename `victim` out of directory `dir`? Needs write
// and search on dir, and with the sticky bit, ownership of dir or victim.
Status CheckDeleteFromDir(const Caller& caller, const Attr& dir, const Attr& victim);

// May `caller` change mode or times explicitly (owner or root)? EPERM if not.
Status CheckOwner(const Caller& caller, const Attr& attr);

}  // namespace nexus
