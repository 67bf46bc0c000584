#include "perms/identity.h"

#include <algorithm>

#include "perms/rebac_types.h"

namespace nexus {

// Fills the new map before any other thread can see it, so without its locks.
Result<std::unique_ptr<IdentityMap>> IdentityMap::Open(const std::string& db_path,
                                                       IdentityOptions options) NO_THREAD_SAFETY_ANALYSIS {
  auto admin = ParseSubjectView(options.admin_subject);
  if (!admin.ok()) return admin.status();
  auto db = SqliteDb::Open(
      db_path,
      {.what = "identity database",
       .schema = "CREATE TABLE IF NOT EXISTS identities(uid INTEGER PRIMARY KEY, subject TEXT NOT NULL)"});
  if (!db.ok()) return db.status();
  std::unique_ptr<IdentityMap> map(new IdentityMap(std::move(*db), std::move(options)));
  Statement q = map->db_->Prepare("SELECT uid, subject FROM identities");
  while (q.Next()) map->bound_[static_cast<uid_t>(q.Int(0))] = q.Text(1);
  NEXUS_RETURN_IF_ERROR(q.status());
  return map;
}

std::string IdentityMap::SubjectFor(uid_t uid) const {
  if (IsAdminUid(uid)) return options_.admin_subject;
  {
    ReaderLock lk(mu_);
    auto it = bound_.find(uid);
    if (it != bound_.end()) return it->second;
  }
  return UidSubject(uid);
}

Status IdentityMap::Bind(uid_t uid, std::string_view subject) {
  auto s = ParseSubjectView(subject);
  if (!s.ok()) return s.status();
  if ((s->type != ObjectType::kUser && s->type != ObjectType::kAgent) || s->id == "*") {
    return Status::Error(EINVAL, "a uid binds to a user or agent, not \"" + std::string(subject) + "\"");
  }
  if (IsAdminUid(uid)) {
    return Status::Error(EINVAL, "uid " + std::to_string(uid) + " always acts as " + options_.admin_subject);
  }
  MutexLock dl(db_mu_);
  {
    ReaderLock lk(mu_);
    auto it = bound_.find(uid);
    if (it != bound_.end()) {
      if (it->second == subject) return Status::Ok();
      return Status::Error(EEXIST, "uid " + std::to_string(uid) + " is bound to " + it->second);
    }
  }
  NEXUS_RETURN_IF_ERROR(db_->Prepare("INSERT INTO identities(uid, subject) VALUES(?1, ?2)")
                            .Bind(1, static_cast<int64_t>(uid))
                            .Bind(2, subject)
                            .Run("bind uid"));
  {
    WriterLock lk(mu_);
    bound_[uid] = std::string(subject);
    revision_.fetch_add(1, std::memory_order_release);
  }
  dl.Unlock();
  if (options_.on_change) options_.on_change();
  return Status::Ok();
}

Status IdentityMap::Unbind(uid_t uid) {
  MutexLock dl(db_mu_);
  {
    ReaderLock lk(mu_);
    if (!bound_.count(uid)) return Status::Error(ENOENT, "uid " + std::to_string(uid) + " is not bound");
  }
  NEXUS_RETURN_IF_ERROR(db_->Prepare("DELETE FROM identities WHERE uid = ?1")
                            .Bind(1, static_cast<int64_t>(uid))
                            .Run("unbind uid"));
  {
    WriterLock lk(mu_);
    bound_.erase(uid);
    revision_.fetch_add(1, std::memory_order_release);
  }
  dl.Unlock();
  if (options_.on_change) options_.on_change();
  return Status::Ok();
}

std::vector<std::pair<uid_t, std::string>> IdentityMap::List() const {
  std::vector<std::pair<uid_t, std::string>> out;
  {
    ReaderLock lk(mu_);
    out.assign(bound_.begin(), bound_.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nexus
