// VersionStore: snapshots and browsing of snapshot trees.
//
// A snapshot is a parentless commit at refs/snapshots/<id> whose tree holds
// one subtree per zone (the zone branch's tree at that instant), plus a row
// in `snapshots`. Being parentless, it pins exactly the content it shows.
#include <algorithm>

#include "fs/versions/change_log.h"
#include "fs/versions/store_internal.h"
#include "fs/versions/version_store.h"

namespace nexus::versions {
namespace {

Result<int64_t> ParseSnapshotId(const std::string& id) {
  if (id.empty() || id.size() > 18 || !std::all_of(id.begin(), id.end(), ::isdigit))
    return Status::Error(EINVAL, "invalid snapshot id '" + id + "'");
  return static_cast<int64_t>(std::stoll(id));
}

#define NEXUS_SNAPSHOT_COLUMNS "id, description, time_ns, zones, commit_id, automatic"

SnapshotInfo ReadSnapshot(const Statement& q) {
  SnapshotInfo s;
  s.id = std::to_string(q.Int(0));
  s.description = q.Text(1);
  s.time_ns = q.Int(2);
  std::string zones = q.Text(3);
  for (size_t start = 0; start < zones.size();) {
    size_t end = std::min(zones.find(',', start), zones.size());
    s.zones.push_back(zones.substr(start, end - start));
    start = end + 1;
  }
  s.commit = q.Text(4);
  s.automatic = q.Int(5) != 0;
  return s;
}

Result<SnapshotInfo> LoadSnapshot(SqliteDb& db, const std::string& id) {
  auto n = ParseSnapshotId(id);
  NEXUS_RETURN_IF_FAILED(n);
  Statement q = db.Prepare("SELECT " NEXUS_SNAPSHOT_COLUMNS " FROM snapshots WHERE id=? AND commit_id<>''");
  q.Bind(*n);
  if (!q.Next()) return Status::Error(ENOENT, "no snapshot " + id);
  return ReadSnapshot(q);
}

// The root tree of snapshot `info`.
Result<TreePtr> SnapshotRoot(git_repository* repo, const SnapshotInfo& info) {
  git_oid oid;
  if (!ParseOid(info.commit, &oid)) return Status::Error(EIO, "snapshot " + info.id + ": bad commit id");
  git_commit* c = nullptr;
  NEXUS_GIT(git_commit_lookup(&c, repo, &oid), "snapshot " + info.id);
  CommitPtr commit(c);
  git_tree* t = nullptr;
  NEXUS_GIT(git_commit_tree(&t, c), "tree of snapshot " + info.id);
  return TreePtr(t);
}

EntryInfo MakeEntry(git_odb* odb, std::string name, const git_tree_entry* e) {
  EntryInfo info;
  info.path = std::move(name);
  info.oid = OidHex(*git_tree_entry_id(e));
  info.mode = static_cast<uint32_t>(git_tree_entry_filemode(e));
  if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
    size_t len = 0;
    git_object_t type;
    if (git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)) == 0) info.size = len;
  }
  return info;
}

Result<OdbPtr> OdbOf(git_repository* repo) {
  git_odb* odb = nullptr;
  NEXUS_GIT(git_repository_odb(&odb, repo), "odb");
  return OdbPtr(odb);
}

// The subtree at `path` ("" = root) of snapshot tree `root`.
Result<TreePtr> SubTree(git_repository* repo, git_tree* root, const std::string& path,
                        const std::string& id) {
  git_tree* t = nullptr;
  if (path.empty()) {
    NEXUS_GIT(git_tree_dup(&t, root), "tree");
    return TreePtr(t);
  }
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, root, GitPath(path).c_str());
  if (rc == GIT_ENOTFOUND) return Status::Error(ENOENT, "snapshot " + id + " has no " + path);
  NEXUS_GIT(rc, "look up " + path);
  TreeEntryPtr entry(raw);
  if (git_tree_entry_type(raw) != GIT_OBJECT_TREE)
    return Status::Error(EINVAL, "snapshot " + id + ": " + path + " is not a directory");
  NEXUS_GIT(git_tree_lookup(&t, repo, git_tree_entry_id(raw)), "tree " + path);
  return TreePtr(t);
}

// Browsing paths: "" is the snapshot root; otherwise a normalized path.
Result<std::string> BrowsePath(const std::string& path) {
  if (path.find_first_not_of('/') == std::string::npos) return std::string();
  return ZoneRelativePath(path);
}

}  // namespace

Result<std::string> VersionStore::CreateSnapshot(const std::vector<std::string>& zones,
                                                 const std::string& description) {
  MutexLock lk(commit_mu_);
  NEXUS_RETURN_IF_ERROR(CommitPending());
  return CreateSnapshotLocked(zones, description, /*automatic=*/false);
}

Result<std::string> VersionStore::CreateSnapshotLocked(const std::vector<std::string>& zones,
                                                       const std::string& description, bool automatic) {
  std::vector<std::string> zs = zones;
  if (zs.empty()) {
    MutexLock lk(db_mu_);
    auto all = ZonesOf(*db_);
    NEXUS_RETURN_IF_FAILED(all);
    zs = std::move(all).value();
  }
  for (const std::string& z : zs) NEXUS_RETURN_IF_ERROR(layout::ValidateZone(z));
  std::sort(zs.begin(), zs.end());
  zs.erase(std::unique(zs.begin(), zs.end()), zs.end());
  if (zs.empty()) return Status::Error(EINVAL, "nothing to snapshot: no zone has history");

  git_repository* repo = commit_repo_.get();
  git_treebuilder* raw_tb = nullptr;
  NEXUS_GIT(git_treebuilder_new(&raw_tb, repo, nullptr), "snapshot tree");
  GitHandle<git_treebuilder, git_treebuilder_free> tb(raw_tb);
  std::string zone_list;
  for (const std::string& z : zs) {
    auto tree = TreeOfRef(repo, "refs/heads/" + z);
    NEXUS_RETURN_IF_FAILED(tree);
    if (*tree)
      NEXUS_GIT(
          git_treebuilder_insert(nullptr, tb.get(), z.c_str(), git_tree_id(tree->get()), GIT_FILEMODE_TREE),
          "snapshot zone " + z);
    zone_list += (zone_list.empty() ? "" : ",") + z;
  }
  git_oid tree_oid;
  NEXUS_GIT(git_treebuilder_write(&tree_oid, tb.get()), "write snapshot tree");
  git_tree* raw_tree = nullptr;
  NEXUS_GIT(git_tree_lookup(&raw_tree, repo, &tree_oid), "snapshot tree");
  TreePtr tree(raw_tree);

  const int64_t now = Now();
  int64_t id = 0;
  {
    MutexLock lk(db_mu_);
    NEXUS_RETURN_IF_ERROR(
        db_->Prepare("INSERT INTO snapshots(description, time_ns, zones, commit_id, automatic) "
                     "VALUES(?,?,?,'',?)")
            .Bind(description)
            .Bind(now)
            .Bind(zone_list)
            .Bind(int{automatic})
            .Run());
    id = db_->LastInsertId();
  }
  std::string summary = description;
  std::replace_if(
      summary.begin(), summary.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  const std::string msg = "Snapshot " + std::to_string(id) + ": " + summary +
                          "\n\nNexus-Snapshot: " + std::to_string(id) + "\nNexus-Zones: " + zone_list + "\n";
  git_signature* raw_sig = nullptr;
  NEXUS_GIT(git_signature_new(&raw_sig, "nexus", "nexus@nexus", now / 1000000000, 0), "signature");
  SigPtr sig(raw_sig);
  git_oid commit;
  NEXUS_GIT(git_commit_create(&commit, repo, nullptr, sig.get(), sig.get(), nullptr, msg.c_str(), tree.get(),
                              0, nullptr),
            "snapshot commit");
  NEXUS_RETURN_IF_ERROR(packs_->Finish());  // the snapshot's objects are durable before its ref
  git_reference* ref = nullptr;
  const std::string ref_name = "refs/snapshots/" + std::to_string(id);
  NEXUS_GIT(git_reference_create(&ref, repo, ref_name.c_str(), &commit, 1, "snapshot"), ref_name);
  git_reference_free(ref);
  MutexLock lk(db_mu_);
  NEXUS_RETURN_IF_ERROR(
      db_->Prepare("UPDATE snapshots SET commit_id=? WHERE id=?").Bind(OidHex(commit)).Bind(id).Run());
  return std::to_string(id);
}

Result<std::vector<SnapshotInfo>> VersionStore::ListSnapshots() {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  std::vector<SnapshotInfo> out;
  Statement q =
      lease->db().Prepare("SELECT " NEXUS_SNAPSHOT_COLUMNS " FROM snapshots WHERE commit_id<>'' ORDER BY id");
  while (q.Next()) out.push_back(ReadSnapshot(q));
  return out;
}

Result<SnapshotInfo> VersionStore::GetSnapshot(const std::string& id) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  return LoadSnapshot(lease->db(), id);
}

Result<std::vector<EntryInfo>> VersionStore::SnapshotEntries(const std::string& id) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto info = LoadSnapshot(lease->db(), id);
  NEXUS_RETURN_IF_FAILED(info);
  auto root = SnapshotRoot(lease->repo(), *info);
  NEXUS_RETURN_IF_FAILED(root);
  auto odb = OdbOf(lease->repo());
  NEXUS_RETURN_IF_FAILED(odb);
  struct Walk {
    git_odb* odb;
    std::vector<EntryInfo> out;
  } walk{odb->get(), {}};
  NEXUS_GIT(
      git_tree_walk(
          root->get(), GIT_TREEWALK_PRE,
          [](const char* dir, const git_tree_entry* e, void* payload) {
            auto* w = static_cast<Walk*>(payload);
            if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
              w->out.push_back(MakeEntry(w->odb, FromGitPath(std::string(dir) + git_tree_entry_name(e)), e));
            return 0;
          },
          &walk),
      "walk snapshot " + id);
  return std::move(walk.out);
}

Result<std::vector<EntryInfo>> VersionStore::ListSnapshotDir(const std::string& id, const std::string& path) {
  auto norm = BrowsePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto info = LoadSnapshot(lease->db(), id);
  NEXUS_RETURN_IF_FAILED(info);
  auto root = SnapshotRoot(lease->repo(), *info);
  NEXUS_RETURN_IF_FAILED(root);
  auto dir = SubTree(lease->repo(), root->get(), *norm, id);
  NEXUS_RETURN_IF_FAILED(dir);
  auto odb = OdbOf(lease->repo());
  NEXUS_RETURN_IF_FAILED(odb);
  std::vector<EntryInfo> out;
  const size_t n = git_tree_entrycount(dir->get());
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(dir->get(), i);
    out.push_back(MakeEntry(odb->get(), FromGitPath(git_tree_entry_name(e)), e));
  }
  return out;
}

Result<EntryInfo> VersionStore::StatSnapshotEntry(const std::string& id, const std::string& path) {
  auto norm = BrowsePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto info = LoadSnapshot(lease->db(), id);
  NEXUS_RETURN_IF_FAILED(info);
  auto root = SnapshotRoot(lease->repo(), *info);
  NEXUS_RETURN_IF_FAILED(root);
  if (norm->empty()) return EntryInfo{"", OidHex(*git_tree_id(root->get())), 040000, 0};
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, root->get(), GitPath(*norm).c_str());
  if (rc == GIT_ENOTFOUND) return Status::Error(ENOENT, "snapshot " + id + " has no " + *norm);
  NEXUS_GIT(rc, "look up " + *norm);
  TreeEntryPtr entry(raw);
  auto odb = OdbOf(lease->repo());
  NEXUS_RETURN_IF_FAILED(odb);
  return MakeEntry(odb->get(), FromGitPath(git_tree_entry_name(raw)), raw);
}

Result<RestoreResult> VersionStore::RestoreSnapshot(const std::string& id, TreeWriter& writer) {
  RestoreResult result;
  {
    MutexLock lk(commit_mu_);
    NEXUS_RETURN_IF_ERROR(CommitPending());
    auto info = [&] {
      MutexLock db_lk(db_mu_);
      return LoadSnapshot(*db_, id);
    }();
    NEXUS_RETURN_IF_FAILED(info);
    git_repository* repo = commit_repo_.get();
    auto root = SnapshotRoot(repo, *info);
    NEXUS_RETURN_IF_FAILED(root);
    auto undo = CreateSnapshotLocked(info->zones, "before restoring snapshot " + id, true);
    NEXUS_RETURN_IF_FAILED(undo);
    result.undo_snapshot = *undo;

    std::vector<RestoreChange> deletes;
    for (const std::string& zone : info->zones) {
      auto current = TreeOfRef(repo, "refs/heads/" + zone);
      NEXUS_RETURN_IF_FAILED(current);
      TreePtr wanted;
      if (const git_tree_entry* e = git_tree_entry_byname(root->get(), zone.c_str())) {
        git_tree* t = nullptr;
        NEXUS_GIT(git_tree_lookup(&t, repo, git_tree_entry_id(e)), "snapshot zone " + zone);
        wanted.reset(t);
      }
      git_diff* raw_diff = nullptr;
      git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
      NEXUS_GIT(git_diff_tree_to_tree(&raw_diff, repo, current->get(), wanted.get(), &opts),
                "compare zone " + zone);
      GitHandle<git_diff, git_diff_free> diff(raw_diff);
      for (size_t i = 0; i < git_diff_num_deltas(raw_diff); ++i) {
        const git_diff_delta* d = git_diff_get_delta(raw_diff, i);
        RestoreChange c;
        c.zone = zone;
        if (d->status == GIT_DELTA_DELETED) {
          c.kind = RestoreChange::Kind::kDelete;
          c.path = FromGitPath(d->old_file.path);
          deletes.push_back(std::move(c));
          continue;
        }
        c.path = FromGitPath(d->new_file.path);
        c.blob = OidHex(d->new_file.id);
        c.mode = d->new_file.mode;
        result.changes.push_back(std::move(c));
      }
    }
    for (auto& c : deletes) result.changes.push_back(std::move(c));
  }
  // Applied outside commit_mu_: the writer's writes come back as captures.
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  for (const RestoreChange& c : result.changes) {
    if (c.kind == RestoreChange::Kind::kDelete) {
      NEXUS_RETURN_IF_ERROR(writer.Remove(c.zone, c.path));
      continue;
    }
    auto data = LoadBlob(lease->repo(), c.blob);
    NEXUS_RETURN_IF_FAILED(data);
    NEXUS_RETURN_IF_ERROR(writer.Write(c.zone, c.path, c.mode, **data));
  }
  return result;
}

Status VersionStore::DeleteSnapshot(const std::string& id) {
  auto n = ParseSnapshotId(id);
  NEXUS_RETURN_IF_FAILED(n);
  MutexLock lk(commit_mu_);
  {
    MutexLock db_lk(db_mu_);
    NEXUS_RETURN_IF_ERROR(LoadSnapshot(*db_, id));
  }
  int rc = git_reference_remove(commit_repo_.get(), ("refs/snapshots/" + id).c_str());
  if (rc < 0 && rc != GIT_ENOTFOUND) return GitError(rc, "remove snapshot " + id);
  MutexLock db_lk(db_mu_);
  return db_->Prepare("DELETE FROM snapshots WHERE id=?").Bind(*n).Run();
}

}  // namespace nexus::versions
