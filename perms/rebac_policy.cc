#include "perms/rebac_policy.h"

#include <algorithm>
#include <set>

namespace nexus {

RebacPolicy::RebacPolicy(RebacEngine* engine, PrincipalResolver* principals, AuditSink* audit,
                         std::string admin_subject, DelegationTable* delegations)
    : engine_(engine),
      principals_(principals),
      audit_(audit),
      admin_subject_(std::move(admin_subject)),
      delegations_(delegations) {}

namespace {
Permission PermissionFor(Need need) {
  return need == Need::kRead    ? Permission::kRead
         : need == Need::kWrite ? Permission::kWrite
                                : Permission::kManage;
}
}  // namespace

std::string RebacPolicy::ObjectFor(std::string_view path, bool is_dir) {
  std::string o(is_dir ? "folder:" : "file:");
  o += path;
  return o;
}

const Principal& RebacPolicy::PrincipalOf(const Caller& caller) {
  return caller.principal ? *caller.principal : *principals_->ForUid(caller.uid, caller.gid);
}

std::string RebacPolicy::SubjectOf(const Caller& caller) { return PrincipalOf(caller).subject; }

bool RebacPolicy::Unrestricted(const Caller& caller) {
  const Principal& who = PrincipalOf(caller);
  if (who.admin || who.subject == admin_subject_) return true;
  // A confined subject's admin tuples are among the grants it set aside.
  if (delegations_ && delegations_->Confined(who.subject)) return false;
  auto admin = engine_->IsAdmin(who.subject);
  return admin.ok() && *admin;
}

bool RebacPolicy::Can(const Caller& caller, Need need, std::string_view path, bool is_dir) {
  const Permission p = PermissionFor(need);
  const std::string& subject = PrincipalOf(caller).subject;
  if (delegations_) {
    DelegationDecision d = delegations_->Decide(subject, p, path, is_dir);
    if (d.exclusive || d.verdict == DelegationDecision::Verdict::kAllow)
      return d.verdict == DelegationDecision::Verdict::kAllow;
  }
  auto allowed = engine_->Decide(subject, Access::Of(p), ObjectFor(path, is_dir));
  return allowed.ok() && *allowed;
}

bool RebacPolicy::CanSee(const Caller& caller, std::string_view path, bool is_dir) {
  const std::string& subject = PrincipalOf(caller).subject;
  if (delegations_) {
    DelegationDecision d = delegations_->Decide(subject, Permission::kRead, path, is_dir);
    if (d.verdict == DelegationDecision::Verdict::kAllow) return true;
    if (is_dir && delegations_->PassableFor(subject, path)) return true;
    if (d.exclusive) return false;
  }
  auto readable = engine_->Decide(subject, Access::Of(Permission::kRead), ObjectFor(path, is_dir));
  if (!readable.ok()) return false;
  if (*readable) return true;
  return is_dir && HasRootBelow(subject, path);
}

std::shared_ptr<const RebacPolicy::Roots> RebacPolicy::RootsOf(const std::string& subject) {
  const UnixNanos now = engine_->clock().Now();
  const uint64_t revision = engine_->revision();
  std::shared_ptr<const Roots> r;
  {
    ReaderLock lk(roots_mu_);
    if (auto it = roots_.find(subject); it != roots_.end()) r = it->second;
  }
  if (r && r->revision == revision && now < r->valid_until) return r;
  auto fresh = std::make_shared<Roots>();
  auto g = engine_->Roots(subject, &fresh->revision);
  if (!g.ok()) return nullptr;
  fresh->roots = std::move(*g);
  fresh->valid_until = fresh->roots.valid_until;
  WriterLock lk(roots_mu_);
  if (roots_.size() >= 4096) roots_.clear();
  roots_[subject] = fresh;
  return fresh;
}

UnixNanos RebacPolicy::GrantsValidUntil(const std::string& subject) {
  auto r = RootsOf(subject);
  UnixNanos until = r ? r->valid_until : kNever;
  if (delegations_) until = std::min(until, delegations_->ValidUntil(subject));
  return until;
}

bool RebacPolicy::HasRootBelow(const std::string& subject, std::string_view path) {
  auto r = RootsOf(subject);
  if (!r) return false;
  if (r->roots.everything) return true;
  const auto& paths = r->roots.paths;
  if (path == "/") return !paths.empty();
  std::string prefix(path);
  prefix += '/';
  auto it = std::lower_bound(paths.begin(), paths.end(), prefix);
  return it != paths.end() && it->compare(0, prefix.size(), prefix) == 0;
}

void RebacPolicy::RefreshViews(const IdentityMap* identities) {
  MutexLock refresh(refresh_mu_);
  std::set<std::string> subjects = {"user:*"};
  std::set<std::string> delegated;
  if (identities)
    for (const auto& [uid, subject] : identities->List()) subjects.insert(subject);
  // Unbound uids act as user:uid-N (base/principal.h): those named in a
  // tuple see more (or other) than user:*.
  TupleFilter users;
  users.subject_type = ObjectType::kUser;
  for (const Tuple& t : engine_->ListTuples(users))
    if (t.subject.relation == Relation::kNone && t.subject.id.starts_with("uid-"))
      subjects.insert(t.subject.Node());
  if (delegations_)
    for (std::string& s : delegations_->Recipients()) {
      delegated.insert(s);
      subjects.insert(std::move(s));
    }
  auto set = std::make_shared<ViewSet>();
  for (const std::string& s : subjects) {
    auto p = std::make_unique<Principal>();
    p->subject = s;
    p->account = s;
    p->name = s;
    p->how = AuthMethod::kUid;
    Caller c;
    c.uid = c.gid = 65534;
    c.principal = p.get();
    if (Unrestricted(c)) continue;
    set->callers.push_back(c);
    set->delegated.push_back(delegated.contains(s));
    set->principals.push_back(std::move(p));
  }
  WriterLock lk(views_mu_);
  views_ = std::move(set);
}

std::shared_ptr<const std::vector<Caller>> RebacPolicy::UidViews() {
  ReaderLock lk(views_mu_);
  if (!views_ || views_->callers.size() > kMaxViews) return nullptr;
  return std::shared_ptr<const std::vector<Caller>>(views_, &views_->callers);
}

UnixNanos RebacPolicy::ViewsValidUntil() {
  std::shared_ptr<const ViewSet> set;
  {
    ReaderLock lk(views_mu_);
    set = views_;
  }
  UnixNanos until = kNever;
  if (set)
    for (const auto& p : set->principals) until = std::min(until, GrantsValidUntil(p->subject));
  return until;
}

bool RebacPolicy::ViewsDifferBelow(std::string_view path) {
  std::shared_ptr<const ViewSet> set;
  {
    ReaderLock lk(views_mu_);
    set = views_;
  }
  if (!set || set->callers.size() > kMaxViews) return true;
  for (size_t i = 0; i < set->callers.size(); ++i) {
    // Delegated scopes may be globs: what a view sees below is not known
    // from roots alone.
    if (set->delegated[i]) return true;
    if (HasRootBelow(set->principals[i]->subject, path)) return true;
  }
  return false;
}

void RebacPolicy::Denied(const Caller& caller, std::string_view operation, std::string_view path,
                         std::string_view reason) {
  if (!audit_) return;
  const std::string& subject = PrincipalOf(caller).subject;
  if (delegations_) {
    // Which access was refused: the namespace says "lacks <need>", or that
    // the path is not visible (read).
    Permission p = Permission::kRead;
    if (reason == "lacks write") p = Permission::kWrite;
    if (reason == "lacks manage") p = Permission::kManage;
    DelegationDecision d = delegations_->Decide(subject, p, path, false);
    if (d.verdict != DelegationDecision::Verdict::kDeny) d = delegations_->Decide(subject, p, path, true);
    if (d.verdict == DelegationDecision::Verdict::kDeny) {
      audit_->Record(AuditRecord{0, subject, "delegation.deny", std::string(path), false,
                                 std::string(operation) + ": " + d.id + ": " + d.reason});
      return;
    }
  }
  audit_->Record(
      AuditRecord{0, subject, std::string(operation), std::string(path), false, std::string(reason)});
}

}  // namespace nexus
