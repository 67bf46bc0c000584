#include "perms/principals.h"

#include <mutex>

#include "perms/rebac_types.h"

namespace nexus {

namespace {

// Every field, so two principals share an entry only when they are equal.
std::string KeyOf(const Principal& p) {
  std::string k;
  k += static_cast<char>('0' + static_cast<int>(p.how));
  k += p.admin ? '1' : '0';
  for (const std::string* s : {&p.subject, &p.account, &p.name, &p.key_id}) {
    k += std::to_string(s->size());
    k += ':';
    k += *s;
  }
  k += std::to_string(p.uid) + ':' + std::to_string(p.gid);
  for (gid_t g : p.groups) k += ',' + std::to_string(g);
  return k;
}

}  // namespace

PrincipalTable::PrincipalTable(Options options, const IdentityMap* identities)
    : options_(std::move(options)), identities_(identities) {}

std::string PrincipalTable::SubjectOfUid(uid_t uid) const {
  if (IsAdminUid(uid)) return options_.admin_subject;
  return identities_ ? identities_->SubjectFor(uid) : UidSubject(uid);
}

const Principal* PrincipalTable::InternLocked(Principal p) {
  std::string key = KeyOf(p);
  auto it = interned_.find(key);
  if (it == interned_.end())
    it = interned_.emplace(std::move(key), std::make_unique<const Principal>(std::move(p))).first;
  return it->second.get();
}

const Principal* PrincipalTable::Intern(Principal p) {
  WriterLock lk(mu_);
  return InternLocked(std::move(p));
}

const Principal* PrincipalTable::ForUid(uid_t uid, gid_t gid) {
  const uint64_t key = (uint64_t{uid} << 32) | gid;
  // Read before the binding, so a bind racing with this is seen next time.
  const uint64_t revision = identities_ ? identities_->revision() : 0;
  {
    ReaderLock lk(mu_);
    auto it = by_uid_.find(key);
    if (it != by_uid_.end() && it->second.revision == revision) return it->second.principal;
  }
  Principal p;
  p.subject = SubjectOfUid(uid);
  p.account = p.subject;
  p.admin = IsAdminUid(uid);
  p.name = p.admin ? "admin" : "uid-" + std::to_string(uid);
  p.uid = uid;
  p.gid = gid;
  p.how = AuthMethod::kUid;
  WriterLock lk(mu_);
  const Principal* interned = InternLocked(std::move(p));
  by_uid_[key] = ByUid{revision, interned};
  return interned;
}

const Principal* PrincipalTable::ForPeer(uid_t uid, gid_t gid, std::vector<gid_t> groups) {
  Principal p;
  p.admin = IsAdminUid(uid);
  p.subject = SubjectOfUid(uid);
  p.account = p.subject;
  p.name = p.admin ? "admin" : "uid-" + std::to_string(uid);
  p.uid = uid;
  p.gid = gid;
  p.groups = std::move(groups);
  p.how = AuthMethod::kPeerCredentials;
  return Intern(std::move(p));
}

const Principal* PrincipalTable::ForKey(const UserRecord& user, const KeyRecord& key) {
  Principal p;
  p.account = user.Subject();
  p.admin = user.is_admin;
  p.subject = p.admin ? options_.admin_subject : p.account;
  p.name = user.name;
  p.uid = user.uid;
  p.gid = user.gid;
  p.how = AuthMethod::kApiKey;
  p.key_id = key.id;
  return Intern(std::move(p));
}

const Principal* PrincipalTable::ForActingAs(const Principal& base, std::string_view agent_subject) {
  Principal p = base;
  p.subject = std::string(agent_subject);
  p.admin = false;
  return Intern(std::move(p));
}

const Principal* PrincipalTable::ForDaemonOnBehalfOf(std::string_view subject) {
  Principal p;
  p.subject = std::string(subject);
  p.account = p.subject;
  p.name = "nexusd";
  p.admin = true;
  p.how = AuthMethod::kDaemon;
  return Intern(std::move(p));
}

Result<const Principal*> PrincipalTable::ForSubjectMount(std::string_view subject) {
  auto sv = ParseSubjectView(subject);
  if (!sv.ok() || (sv->type != ObjectType::kUser && sv->type != ObjectType::kAgent) ||
      sv->relation != Relation::kNone || sv->id == "*")
    return Status::Error(EINVAL, "a mount acts as user:ID or agent:ID, not '" + std::string(subject) + "'");
  Principal p;
  p.subject = std::string(subject);
  p.account = p.subject;
  p.name = std::string(sv->id);
  p.admin = p.subject == options_.admin_subject;
  p.how = AuthMethod::kSubjectMount;
  return Intern(std::move(p));
}

}  // namespace nexus
