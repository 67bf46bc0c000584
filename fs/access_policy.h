// AccessPolicy: who may see, read, write or manage a path of the namespace.
//
// The Namespace (fs/namespace.h) asks its policy before every operation it
// performs for a caller, so the FUSE mounts and the control socket enforce
// the same rules in one place. The only implementation is RebacPolicy
// (perms/rebac_policy.h): relationship tuples, checked as the subject of the
// caller's principal (Caller::principal, resolved once at the boundary; when
// null, the policy resolves it from the uid). Without a policy the
// namespace applies POSIX mode bits alone.
//
// Visibility: a caller sees a path it may read, and a directory through
// which it can reach something it may read (a folder above a shared file).
// What a caller does not see does not exist for it: ENOENT, and absent from
// listings. Seen but not permitted is EACCES.
//
// Views (for the kernel's name caches, fs/fuse_ops.h): the kernel caches a
// name once for every uid of the host, so a name may only be cached where
// every restricted subject a uid can act as sees it alike. UidViews lists
// those subjects, one caller each, as of the last change of tuples,
// bindings or delegations: each subject a uid is bound to, each user named
// in tuples, each recipient of a delegation, and user:* standing for every
// other uid (who has only what is granted to everyone).
//
// Calls come from FUSE workers: implementations answer from memory, never
// wait on disk or network, and record denials without blocking.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/types.h"

namespace nexus {

enum class Need : uint8_t { kRead, kWrite, kManage };

class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;

  // True when the caller's subject may do anything (an administrator):
  // the namespace then skips every other question.
  virtual bool Unrestricted(const Caller& caller) = 0;
  // May the caller see `path` (read it, or, for a directory, reach
  // something readable below it)?
  virtual bool CanSee(const Caller& caller, std::string_view path, bool is_dir) = 0;
  // Does the caller hold `need` on `path` (a directory when `is_dir`)?
  virtual bool Can(const Caller& caller, Need need, std::string_view path, bool is_dir) = 0;
  // Records that `operation` on `path` was refused (asynchronously).
  virtual void Denied(const Caller& caller, std::string_view operation, std::string_view path,
                      std::string_view reason) = 0;
  // The subject the caller acts as, for messages and audit.
  virtual std::string SubjectOf(const Caller& caller) = 0;

  // The restricted views uids may have of the tree (see above); null when
  // they are not known, and then no name may be shared. The callers carry
  // principals owned by the returned value.
  virtual std::shared_ptr<const std::vector<Caller>> UidViews() { return nullptr; }
  // Whether some view sees part of what lies below directory `path`
  // differently from `path` itself (it is given something strictly below
  // it, so it may see some names there and not others).
  virtual bool ViewsDifferBelow(std::string_view path) { return true; }
};

}  // namespace nexus
