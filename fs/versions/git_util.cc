#include "fs/versions/git_util.h"

#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

namespace nexus::versions {

Status GitError(int rc, std::string_view context) {
  const git_error* e = git_error_last();
  std::string msg = std::string(context) + ": " + (e && e->message ? e->message : "libgit2 error");
  int code = rc == GIT_ENOTFOUND ? ENOENT : rc == GIT_EEXISTS ? EEXIST : EIO;
  return Status::Error(code, std::move(msg));
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

bool ParseOid(std::string_view hex, git_oid* out) {
  return hex.size() == GIT_OID_HEXSZ && git_oid_fromstrn(out, hex.data(), hex.size()) == 0;
}

Result<RepoPtr> OpenOrInitBare(const std::string& path) {
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, path.c_str()) == 0) return RepoPtr(repo);
  NEXUS_GIT(git_repository_init(&repo, path.c_str(), /*is_bare=*/1), "init " + path);
  return RepoPtr(repo);
}

Result<RepoPtr> OpenRepo(const std::string& path) {
  git_repository* repo = nullptr;
  NEXUS_GIT(git_repository_open_bare(&repo, path.c_str()), "open " + path);
  return RepoPtr(repo);
}

Result<OdbPtr> OpenLooseOdb(const std::string& git_dir) {
  git_odb* raw = nullptr;
  NEXUS_GIT(git_odb_new(&raw), "new odb");
  OdbPtr odb(raw);
  git_odb_backend* loose = nullptr;
  NEXUS_GIT(git_odb_backend_loose(&loose, (git_dir + "/objects").c_str(), /*compression=*/1,
                                  /*do_fsync=*/0, 0, 0),
            "loose objects of " + git_dir);
  int rc = git_odb_add_backend(raw, loose, 1);
  if (rc < 0) {
    loose->free(loose);
    return GitError(rc, "add loose backend");
  }
  return odb;
}

Status AttachLooseOdb(git_repository* repo, const std::string& git_dir) {
  auto odb = OpenLooseOdb(git_dir);
  NEXUS_RETURN_IF_FAILED(odb);
  NEXUS_GIT(git_repository_set_odb(repo, odb->get()), "attach odb");  // takes a reference
  return Status::Ok();
}

Result<TreePtr> TreeOfRef(git_repository* repo, const std::string& ref) {
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo, ref.c_str());
  if (rc == GIT_ENOTFOUND) return TreePtr();
  NEXUS_GIT(rc, "resolve " + ref);
  git_commit* c = nullptr;
  NEXUS_GIT(git_commit_lookup(&c, repo, &oid), "commit of " + ref);
  CommitPtr commit(c);
  git_tree* t = nullptr;
  NEXUS_GIT(git_commit_tree(&t, c), "tree of " + ref);
  return TreePtr(t);
}

}  // namespace nexus::versions
