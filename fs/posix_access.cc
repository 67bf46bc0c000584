#include "fs/posix_access.h"

namespace nexus {

bool InGroup(const Caller& caller, gid_t g) {
  return g == caller.gid || (caller.principal && caller.principal->InGroup(g));
}

Status CheckAccess(const Caller& caller, const Attr& attr, int mask) {
  if (caller.uid == 0) {
    // Root bypasses read/write checks; execute needs some x bit (or a dir).
    if ((mask & kMayExec) && !attr.IsDir() && !(attr.mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
      return Status::Error(EACCES, "permission denied");
    return Status::Ok();
  }
  int bits;
  if (caller.uid == attr.uid)
    bits = (attr.mode >> 6) & 7;
  else if (InGroup(caller, attr.gid))
    bits = (attr.mode >> 3) & 7;
  else
    bits = attr.mode & 7;
  if ((bits & mask) != mask) return Status::Error(EACCES, "permission denied");
  return Status::Ok();
}

Status CheckDeleteFromDir(const Caller& caller, const Attr& dir, const Attr& victim) {
  NEXUS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayWrite | kMayExec));
  if ((dir.mode & S_ISVTX) && caller.uid != 0 && caller.uid != dir.uid && caller.uid != victim.uid)
    return Status::Error(EPERM, "sticky directory: not the owner");
  return Status::Ok();
}

Status CheckOwner(const Caller& caller, const Attr& attr) {
  if (caller.uid == 0 || caller.uid == attr.uid) return Status::Ok();
  return Status::Error(EPERM, "operation not permitted: not the owner");
}

}  // namespace nexus
