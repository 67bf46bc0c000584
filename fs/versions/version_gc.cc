// VersionStore: garbage collection and export.
//
// Gc drops version rows beyond the policy, rebuilds the affected zone
// branches from the remaining change log (one commit per original commit
// that still changes the tree; unchanged prefixes keep their commit ids
// because commits are deterministic), then deletes every loose object no
// branch or snapshot reaches and rewrites the packs without such objects. Content a snapshot still shows
// stays until the snapshot is deleted.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "fs/versions/change_log.h"
#include "fs/versions/store_internal.h"
#include "fs/versions/version_store.h"

namespace nexus::versions {
namespace {

Status MarkTree(git_repository* repo, const git_oid& oid, std::unordered_set<std::string>* seen) {
  if (!seen->insert(OidHex(oid)).second) return Status::Ok();
  git_tree* raw = nullptr;
  NEXUS_GIT(git_tree_lookup(&raw, repo, &oid), "tree " + OidHex(oid));
  TreePtr tree(raw);
  for (size_t i = 0; i < git_tree_entrycount(raw); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(raw, i);
    if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
      NEXUS_RETURN_IF_ERROR(MarkTree(repo, *git_tree_entry_id(e), seen));
    else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
      seen->insert(OidHex(*git_tree_entry_id(e)));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unordered_set<std::string>> ReachableObjects(git_repository* repo) {
  std::unordered_set<std::string> seen;
  git_revwalk* raw = nullptr;
  NEXUS_GIT(git_revwalk_new(&raw, repo), "revwalk");
  RevwalkPtr walk(raw);
  for (const char* glob : {"refs/heads/*", "refs/snapshots/*"}) {
    int rc = git_revwalk_push_glob(raw, glob);
    if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, std::string("walk ") + glob);
  }
  git_oid oid;
  int rc;
  while ((rc = git_revwalk_next(&oid, raw)) == 0) {
    seen.insert(OidHex(oid));
    git_commit* c = nullptr;
    NEXUS_GIT(git_commit_lookup(&c, repo, &oid), "commit " + OidHex(oid));
    CommitPtr commit(c);
    NEXUS_RETURN_IF_ERROR(MarkTree(repo, *git_commit_tree_id(c), &seen));
  }
  if (rc != GIT_ITEROVER) return GitError(rc, "walk history");
  return seen;
}

Result<GcResult> VersionStore::Gc(const GcPolicy& policy) {
  if (policy.keep_versions == 0) return Status::Error(EINVAL, "gc: keep_versions must be at least 1");
  MutexLock commit_lk(commit_mu_);
  // Captures wait until the sweep is over: a blob written but not yet
  // journaled would look unreachable.
  MutexLock capture_lk(capture_mu_);
  NEXUS_RETURN_IF_ERROR(CommitPending());
  git_repository* repo = commit_repo_.get();
  GcResult result;

  const int64_t cutoff = Now() - int64_t{policy.keep_days} * 86400 * 1000000000;
  std::set<int64_t> dropped;
  std::set<std::string> zones;
  {
    MutexLock lk(db_mu_);
    Statement q = db_->Prepare(
        "SELECT seq, zone FROM (SELECT seq, zone, time_ns, ROW_NUMBER() OVER "
        "(PARTITION BY file_id ORDER BY n DESC) rk FROM changes WHERE op='W') "
        "WHERE rk>? AND time_ns<?");
    q.Bind(policy.keep_versions).Bind(cutoff);
    while (q.Next()) {
      dropped.insert(q.Int(0));
      zones.insert(q.Text(1));
    }
  }
  result.versions_dropped = dropped.size();

  // Rebuild each affected branch from the change log minus the dropped rows.
  std::vector<std::pair<int64_t, std::string>> assigned;
  std::vector<ZoneTree> rebuilt;
  for (const std::string& zone : zones) {
    std::vector<Change> rows;
    {
      MutexLock lk(db_mu_);
      Statement q = db_->Prepare("SELECT " NEXUS_CHANGE_COLUMNS " FROM changes WHERE zone=? ORDER BY seq");
      q.Bind(zone);
      while (q.Next()) rows.push_back(ReadChange(q));
    }
    std::vector<const Change*> kept;
    std::set<std::string> old_commits;
    for (const Change& c : rows) {
      old_commits.insert(c.commit);
      if (!dropped.count(c.seq)) kept.push_back(&c);
    }
    auto zt = LoadZoneTree(repo, zone, /*fresh=*/true);
    NEXUS_RETURN_IF_FAILED(zt);
    const size_t first = assigned.size();
    NEXUS_RETURN_IF_ERROR(CommitRuns(
        repo, *zt, kept, [](const Change& a, const Change& b) { return a.commit == b.commit; }, &assigned));
    std::set<std::string> new_commits;
    for (size_t i = first; i < assigned.size(); ++i)
      if (!old_commits.count(assigned[i].second)) new_commits.insert(assigned[i].second);
    result.commits_rewritten += new_commits.size();
    rebuilt.push_back(std::move(zt).value());
  }

  if (!dropped.empty()) {
    MutexLock lk(db_mu_);
    NEXUS_RETURN_IF_ERROR(db_->SetSynchronous(SqliteOptions::Sync::kFull));
    Status st = InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
      for (int64_t seq : dropped)
        NEXUS_RETURN_IF_ERROR(db_->Prepare("DELETE FROM changes WHERE seq=?").Bind(seq).Run());
      for (const auto& [seq, commit] : assigned)
        NEXUS_RETURN_IF_ERROR(
            db_->Prepare("UPDATE changes SET commit_id=? WHERE seq=?").Bind(commit).Bind(seq).Run());
      return Status::Ok();
    });
    Status back = db_->SetSynchronous(SqliteOptions::Sync::kNormal);
    NEXUS_RETURN_IF_FAILED(st);
    NEXUS_RETURN_IF_FAILED(back);
  }
  zone_trees_.clear();
  NEXUS_RETURN_IF_ERROR(packs_->Finish());  // the rebuilt commits are durable before the refs move
  for (const ZoneTree& zt : rebuilt) {
    const std::string ref = "refs/heads/" + zt.zone;
    if (zt.has_head) {
      git_reference* r = nullptr;
      NEXUS_GIT(git_reference_create(&r, repo, ref.c_str(), &zt.head, 1, "nexus gc"), ref);
      git_reference_free(r);
    } else {
      int rc = git_reference_remove(repo, ref.c_str());
      if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, "remove " + ref);
    }
  }

  // Sweep: loose objects one by one, then the packs rewritten without the
  // unreachable ones.
  auto reachable = ReachableObjects(repo);
  NEXUS_RETURN_IF_FAILED(reachable);
  std::vector<std::string> all;
  NEXUS_GIT(git_odb_foreach(
                odb_.get(),
                [](const git_oid* id, void* out) {
                  static_cast<std::vector<std::string>*>(out)->push_back(OidHex(*id));
                  return 0;
                },
                &all),
            "list objects");
  for (const std::string& hex : all) {
    if (reachable->count(hex)) continue;
    const std::string path = LooseObjectPath(git_dir_, hex);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || ::unlink(path.c_str()) != 0) continue;
    ++result.objects_removed;
    result.bytes_removed += static_cast<uint64_t>(st.st_size);
  }
  auto swept = packs_->Sweep([&](const git_oid& id) { return reachable->contains(OidHex(id)); });
  NEXUS_RETURN_IF_FAILED(swept);
  result.objects_removed += swept->objects_removed;
  result.bytes_removed += swept->bytes_removed;
  git_odb_refresh(odb_.get());
  MutexLock lk(cache_mu_);
  blob_cache_.clear();
  blob_index_.clear();
  blob_cache_bytes_ = 0;
  return result;
}

Status VersionStore::Export(const std::string& dest) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dest, ec) && !(fs::is_directory(dest, ec) && fs::is_empty(dest, ec)))
    return Status::Error(EEXIST, "export: " + dest + " exists and is not empty");
  MutexLock commit_lk(commit_mu_);
  NEXUS_RETURN_IF_ERROR(CommitPending());
  git_repository* repo = commit_repo_.get();
  auto reachable = ReachableObjects(repo);
  NEXUS_RETURN_IF_FAILED(reachable);

  git_repository* raw = nullptr;
  NEXUS_GIT(git_repository_init(&raw, dest.c_str(), /*is_bare=*/0), "init " + dest);
  RepoPtr out(raw);
  git_odb* raw_odb = nullptr;
  NEXUS_GIT(git_repository_odb(&raw_odb, raw), "odb of " + dest);
  OdbPtr out_odb(raw_odb);
  for (const std::string& hex : *reachable) {
    git_oid oid, copied;
    ParseOid(hex, &oid);
    git_odb_object* obj = nullptr;
    NEXUS_GIT(git_odb_read(&obj, odb_.get(), &oid), "read " + hex);
    OdbObjectPtr object(obj);
    NEXUS_GIT(git_odb_write(&copied, out_odb.get(), git_odb_object_data(obj), git_odb_object_size(obj),
                            git_odb_object_type(obj)),
              "copy " + hex);
  }

  auto copy_ref = [&](const std::string& from, const std::string& to) -> Status {
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo, from.c_str()) != 0) return Status::Ok();
    git_reference* r = nullptr;
    NEXUS_GIT(git_reference_create(&r, raw, to.c_str(), &oid, 1, "nexus export"), to);
    git_reference_free(r);
    return Status::Ok();
  };
  std::vector<std::string> zones;
  std::vector<std::string> snapshots;
  {
    MutexLock lk(db_mu_);
    auto z = ZonesOf(*db_);
    NEXUS_RETURN_IF_FAILED(z);
    zones = std::move(z).value();
    Statement q = db_->Prepare("SELECT id FROM snapshots WHERE commit_id<>''");
    while (q.Next()) snapshots.push_back(std::to_string(q.Int(0)));
  }
  std::string head;
  for (const std::string& zone : zones) {
    NEXUS_RETURN_IF_ERROR(copy_ref("refs/heads/" + zone, "refs/heads/" + zone));
    git_oid oid;
    if (git_reference_name_to_id(&oid, raw, ("refs/heads/" + zone).c_str()) == 0 &&
        (head.empty() || zone == "root"))
      head = zone;
  }
  for (const std::string& id : snapshots)
    NEXUS_RETURN_IF_ERROR(copy_ref("refs/snapshots/" + id, "refs/tags/snapshot/" + id));
  if (head.empty()) return Status::Ok();
  NEXUS_GIT(git_repository_set_head(raw, ("refs/heads/" + head).c_str()), "set HEAD");
  git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;
  opts.checkout_strategy = GIT_CHECKOUT_FORCE;
  NEXUS_GIT(git_checkout_head(raw, &opts), "check out " + head);
  return Status::Ok();
}

}  // namespace nexus::versions
