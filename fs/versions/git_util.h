// Small helpers over libgit2 for the version store: owning handles, the one
// place a libgit2 error becomes a Status, and object-id conversions.
//
// Threading: stateless helpers. libgit2 objects are not shared between
// threads (the odb is the exception); callers keep one repository handle per
// thread or behind a lock. git_error_last() is thread-local, so GitError must
// run right after the failing call, on the same thread.
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nexus::versions {

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using GitHandle = std::unique_ptr<T, GitDeleter<T, Free>>;

using RepoPtr = GitHandle<git_repository, git_repository_free>;
using OdbPtr = GitHandle<git_odb, git_odb_free>;
using IndexPtr = GitHandle<git_index, git_index_free>;
using TreePtr = GitHandle<git_tree, git_tree_free>;
using CommitPtr = GitHandle<git_commit, git_commit_free>;
using BlobPtr = GitHandle<git_blob, git_blob_free>;
using RefPtr = GitHandle<git_reference, git_reference_free>;
using SigPtr = GitHandle<git_signature, git_signature_free>;
using PatchPtr = GitHandle<git_patch, git_patch_free>;
using OdbObjectPtr = GitHandle<git_odb_object, git_odb_object_free>;
using RevwalkPtr = GitHandle<git_revwalk, git_revwalk_free>;
using TreeEntryPtr = GitHandle<git_tree_entry, git_tree_entry_free>;

// Keeps libgit2 initialised while alive (git_libgit2_init is refcounted).
class GitLibrary {
 public:
  GitLibrary() { git_libgit2_init(); }
  ~GitLibrary() { git_libgit2_shutdown(); }
  GitLibrary(const GitLibrary&) = delete;
  GitLibrary& operator=(const GitLibrary&) = delete;
};

// The Status for libgit2 return code `rc` of the operation `context`:
// GIT_ENOTFOUND becomes ENOENT, GIT_EEXISTS EEXIST, everything else EIO.
Status GitError(int rc, std::string_view context);

// Evaluates a libgit2 call; on failure returns GitError from the function.
#define NEXUS_GIT(call, context)                                               \
  do {                                                                         \
    int _nexus_rc = (call);                                                    \
    if (_nexus_rc < 0) return ::nexus::versions::GitError(_nexus_rc, context); \
  } while (0)

std::string OidHex(const git_oid& oid);
// Parses a full 40-hex object id; false when malformed.
bool ParseOid(std::string_view hex, git_oid* out);

// Opens the bare repository at `path`, creating it when missing.
Result<RepoPtr> OpenOrInitBare(const std::string& path);
// A fresh handle on the existing repository at `path`.
Result<RepoPtr> OpenRepo(const std::string& path);

// An object database over the loose objects of the bare repository at
// `git_dir`, without the pack backend: the store never packs, and a pack
// backend would rescan objects/pack on every lookup of a new object.
// Objects are compressed with zlib level 1 (fast; see docs/versions.md).
// Thread-safe while no repository owns it: an owned odb caches objects in
// its owner's (unshared) cache.
Result<OdbPtr> OpenLooseOdb(const std::string& git_dir);
// Gives `repo` its own loose-only odb (see OpenLooseOdb).
Status AttachLooseOdb(git_repository* repo, const std::string& git_dir);

// The tree of the commit `ref` points to; null tree (and OK) when the ref
// does not exist.
Result<TreePtr> TreeOfRef(git_repository* repo, const std::string& ref);

}  // namespace nexus::versions
