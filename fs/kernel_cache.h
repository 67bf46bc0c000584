// KernelCache: how a change made outside the kernel's view (through the
// control socket) reaches the kernel's dentry, attribute and page caches.
//
// The mount lets the kernel cache entries and attributes (60 s for the
// native tree) and negative lookups. A file written through the socket
// would stay invisible or stale on the mount that long, so every change
// made there invalidates what the kernel may hold. Implemented by FuseMount
// (fuse_lowlevel_notify_inval_*); must not be called from a FUSE worker.
#pragma once

#include <string>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

class KernelCache {
 public:
  virtual ~KernelCache() = default;
  // Drops cached attributes and pages of `ino`.
  virtual void InvalidateInode(Ino ino) = 0;
  // Drops the cached entry (positive or negative) `name` in `parent`.
  virtual void InvalidateEntry(Ino parent, const std::string& name) = 0;
  // Makes the kernel revalidate every name it caches before using it again
  // (FUSE_NOTIFY_INC_EPOCH, Linux 6.16+). Unlike the others, safe from a
  // FUSE worker: the kernel takes no lock for it. ENOSYS where unsupported.
  virtual Status RevalidateNames() { return Status::Error(ENOSYS, "names cannot be revalidated"); }
};

}  // namespace nexus
