#include "fs/posix_access.h"

#include <algorithm>

namespace nexus {

bool Credentials::InGroup(gid_t g) const {
  return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
}

Status CheckAccess(const Credentials& cred, const Attr& attr, int mask) {
  if (cred.uid == 0) {
    // Root bypasses read/write checks; execute needs some x bit (or a dir).
    if ((mask & kMayExec) && !attr.IsDir() && !(attr.mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
      return Status::Error(EACCES, "permission denied");
    return Status::Ok();
  }
  int bits;
  if (cred.uid == attr.uid)
    bits = (attr.mode >> 6) & 7;
  else if (cred.InGroup(attr.gid))
    bits = (attr.mode >> 3) & 7;
  else
    bits = attr.mode & 7;
  if ((bits & mask) != mask) return Status::Error(EACCES, "permission denied");
  return Status::Ok();
}

Status CheckDeleteFromDir(const Credentials& cred, const Attr& dir, const Attr& victim) {
  NEXUS_RETURN_IF_ERROR(CheckAccess(cred, dir, kMayWrite | kMayExec));
  if ((dir.mode & S_ISVTX) && cred.uid != 0 && cred.uid != dir.uid && cred.uid != victim.uid)
    return Status::Error(EPERM, "sticky directory: not the owner");
  return Status::Ok();
}

Status CheckOwner(const Credentials& cred, const Attr& attr) {
  if (cred.uid == 0 || cred.uid == attr.uid) return Status::Ok();
  return Status::Error(EPERM, "operation not permitted: not the owner");
}

}  // namespace nexus
