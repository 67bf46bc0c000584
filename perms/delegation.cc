#include "perms/delegation.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "base/crypto.h"
#include "base/ns_path.h"
#include "base/sqlite_db.h"

namespace nexus {
namespace {

using nlohmann::json;

constexpr size_t kGlobMax = 4096;
constexpr size_t kDoubleStarMax = 4;
constexpr double kTtlMaxSeconds = 10.0 * 365 * 24 * 3600;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS delegations("
    " id TEXT PRIMARY KEY, from_subject TEXT NOT NULL, to_subject TEXT NOT NULL, scope TEXT NOT NULL,"
    " mode TEXT NOT NULL, relation TEXT NOT NULL, readonly TEXT NOT NULL, created_ns INTEGER NOT NULL,"
    " expires_ns INTEGER, max_depth INTEGER NOT NULL, depth INTEGER NOT NULL, parent TEXT NOT NULL,"
    " created_by TEXT NOT NULL, revoked_ns INTEGER NOT NULL DEFAULT 0, revoked_by TEXT NOT NULL DEFAULT '',"
    " snapshot TEXT NOT NULL) WITHOUT ROWID;";

bool IsWild(std::string_view part) { return part.find_first_of("*?[") != std::string_view::npos; }

// One glob component against one path component: `*` any run, `?` one
// character, `[...]` a class (`!` or `^` negates, `a-z` ranges).
bool MatchComponent(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star_p = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_p = p++;
      star_i = i;
      continue;
    }
    bool ok = false;
    size_t next = p + 1;
    if (p < pat.size() && pat[p] == '?') {
      ok = true;
    } else if (p < pat.size() && pat[p] == '[') {
      size_t q = p + 1;
      bool negate = q < pat.size() && (pat[q] == '!' || pat[q] == '^');
      if (negate) ++q;
      bool in = false;
      size_t first = q;
      while (q < pat.size() && (pat[q] != ']' || q == first)) {
        if (q + 2 < pat.size() && pat[q + 1] == '-' && pat[q + 2] != ']') {
          if (pat[q] <= s[i] && s[i] <= pat[q + 2]) in = true;
          q += 3;
        } else {
          if (pat[q] == s[i]) in = true;
          ++q;
        }
      }
      ok = in != negate;
      next = q + 1;
    } else if (p < pat.size()) {
      ok = pat[p] == s[i];
    }
    if (ok) {
      p = next;
      ++i;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      i = ++star_i;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

// The components of canonical `path` ("/" has none).
std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 1;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

bool MatchFrom(const std::vector<std::string>& parts, size_t pi, const std::vector<std::string_view>& comps,
               size_t qi) {
  if (pi == parts.size()) return true;  // a match of a prefix: the path is at or below it
  if (parts[pi] == "**")
    return MatchFrom(parts, pi + 1, comps, qi) || (qi < comps.size() && MatchFrom(parts, pi, comps, qi + 1));
  if (qi == comps.size()) {
    // The path ended: it is the directory of a trailing `*` (with `**`s).
    int stars = 0;
    for (size_t k = pi; k < parts.size(); ++k) {
      if (parts[k] == "*") {
        ++stars;
      } else if (parts[k] != "**") {
        return false;
      }
    }
    return stars <= 1;
  }
  return MatchComponent(parts[pi], comps[qi]) && MatchFrom(parts, pi + 1, comps, qi + 1);
}

std::string_view PermissionName(Permission p) { return ToString(p); }

Result<Permission> ParsePermission(std::string_view s) {
  for (Permission p : {Permission::kRead, Permission::kWrite, Permission::kManage})
    if (ToString(p) == s) return p;
  return Status::Error(EINVAL, "unknown permission '" + std::string(s) + "'");
}

// The strongest permission a relation cap allows (kNone: no cap).
Permission CapOf(Relation r) {
  return r == Relation::kViewer   ? Permission::kRead
         : r == Relation::kEditor ? Permission::kWrite
                                  : Permission::kManage;
}

json Strings(const std::vector<std::string>& v) { return json(v); }

Result<std::vector<std::string>> ParseStrings(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return Status::Error(EIO, "not a JSON array");
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return Status::Error(EIO, "not a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::string_view ToString(DelegationMode mode) {
  switch (mode) {
    case DelegationMode::kCopy:
      return "copy";
    case DelegationMode::kClean:
      return "clean";
    case DelegationMode::kShared:
      return "shared";
  }
  return "?";
}

Result<DelegationMode> ParseDelegationMode(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (DelegationMode m : {DelegationMode::kCopy, DelegationMode::kClean, DelegationMode::kShared})
    if (ToString(m) == lower) return m;
  return Status::Error(EINVAL, "unknown delegation mode '" + std::string(text) + "' (copy, clean or shared)");
}

Result<std::string> ParseDelegationSubject(std::string_view text) {
  std::string whole(text);
  if (whole.find(':') == std::string::npos) whole = "agent:" + whole;
  auto s = SubjectRef::Parse(whole);
  if (!s.ok() || (s->type != ObjectType::kUser && s->type != ObjectType::kAgent) ||
      s->relation != Relation::kNone || s->IsWildcard()) {
    return Status::Error(EINVAL,
                         "'" + std::string(text) + "' is not a user or agent (give ID, agent:ID or user:ID)");
  }
  return s->ToString();
}

Result<ScopeGlob> ScopeGlob::Parse(std::string_view text) {
  const std::string quoted = "glob '" + std::string(text) + "'";
  if (text.empty()) return Status::Error(EINVAL, "empty glob");
  if (text.size() > kGlobMax) return Status::Error(EINVAL, quoted.substr(0, 64) + "...' is too long");
  if (text.front() != '/') return Status::Error(EINVAL, quoted + " is not absolute (it must start with '/')");
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status::Error(EINVAL, quoted + " holds a control character");
  ScopeGlob g;
  g.text_ = std::string(text);
  if (text.size() > 1 && text.back() == '/') return Status::Error(EINVAL, quoted + " ends with '/'");
  size_t double_stars = 0;
  bool literal = true;
  g.root_ = "/";
  for (std::string_view part : Components(text)) {
    if (part.empty()) return Status::Error(EINVAL, quoted + " has an empty component ('//')");
    if (part == "." || part == "..") return Status::Error(EINVAL, quoted + " has a '.' or '..' component");
    if (part.find("**") != std::string_view::npos && part != "**")
      return Status::Error(EINVAL, quoted + ": '**' must be a whole component");
    if (part == "**" && ++double_stars > kDoubleStarMax)
      return Status::Error(EINVAL, quoted + " has more than " + std::to_string(kDoubleStarMax) + " '**'");
    for (size_t i = part.find('['); i != std::string_view::npos; i = part.find('[', i + 1)) {
      size_t q = i + 1;
      if (q < part.size() && (part[q] == '!' || part[q] == '^')) ++q;
      if (part.find(']', q + 1) == std::string_view::npos)
        return Status::Error(EINVAL, quoted + " has an unclosed '['");
    }
    if (literal && IsWild(part)) literal = false;
    if (literal) g.root_ = PathJoin(g.root_, part);
    g.parts_.emplace_back(part);
  }
  return g;
}

bool ScopeGlob::Covers(std::string_view path) const { return MatchFrom(parts_, 0, Components(path), 0); }

std::string_view DelegationRecord::State(UnixNanos now) const {
  if (revoked_at != 0) return "revoked";
  return now < expires_at ? "active" : "expired";
}

// ---------------------------------------------------------------- table

DelegationTable::DelegationTable(std::unique_ptr<SqliteDb> db, Options options)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : DefaultClock()),
      db_(std::move(db)) {}

DelegationTable::~DelegationTable() = default;

Result<std::unique_ptr<DelegationTable>> DelegationTable::Open(const std::string& path, Options options) {
  if (!options.own_access) return Status::Error(EINVAL, "delegations: no access check given");
  auto db = SqliteDb::Open(
      path, {.what = "delegations", .synchronous = SqliteOptions::Sync::kFull, .schema = kSchema});
  if (!db.ok()) return db.status();
  if (::chmod(path.c_str(), 0600) != 0) return Status::FromErrno("chmod " + path);
  std::unique_ptr<DelegationTable> table(new DelegationTable(std::move(*db), std::move(options)));
  NEXUS_RETURN_IF_ERROR(table->Load());
  return table;
}

Status DelegationTable::Load() {
  std::vector<DelegationRecord> rows;
  {
    MutexLock dl(db_mu_);
    Statement q = db_->Prepare(
        "SELECT id, from_subject, to_subject, scope, mode, relation, readonly, created_ns, expires_ns,"
        " max_depth, depth, parent, created_by, revoked_ns, revoked_by, snapshot FROM delegations");
    while (q.Next()) {
      DelegationRecord r;
      r.id = q.Text(0);
      const Status damaged = Status::Error(EIO, "delegations: damaged row " + r.id);
      r.from = q.Text(1);
      r.to = q.Text(2);
      auto scope = ParseStrings(q.Text(3));
      auto mode = ParseDelegationMode(q.TextView(4));
      auto readonly = ParseStrings(q.Text(6));
      if (!scope.ok() || !mode.ok() || !readonly.ok()) return damaged;
      r.scope = std::move(*scope);
      r.mode = *mode;
      r.readonly = std::move(*readonly);
      if (!q.TextView(5).empty()) {
        auto rel = ParseRelation(q.TextView(5));
        if (!rel.ok()) return damaged;
        r.relation = *rel;
      }
      r.created_at = q.Int(7);
      r.expires_at = q.IsNull(8) ? kNever : q.Int(8);
      r.max_depth = static_cast<uint32_t>(q.Int(9));
      r.depth = static_cast<uint32_t>(q.Int(10));
      r.parent = q.Text(11);
      r.created_by = q.Text(12);
      r.revoked_at = q.Int(13);
      r.revoked_by = q.Text(14);
      json snap = json::parse(q.Text(15), nullptr, false);
      if (!snap.is_array()) return damaged;
      for (const auto& e : snap) {
        if (!e.is_object() || !e.contains("path") || !e.contains("permission") || !e["path"].is_string() ||
            !e["permission"].is_string())
          return damaged;
        auto p = ParsePermission(e["permission"].get<std::string>());
        if (!p.ok()) return damaged;
        r.snapshot.push_back({e["path"].get<std::string>(), *p});
      }
      rows.push_back(std::move(r));
    }
    NEXUS_RETURN_IF_ERROR(q.status());
  }
  std::sort(rows.begin(), rows.end(), [](const DelegationRecord& a, const DelegationRecord& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  std::vector<DelegationRecord> order = rows;
  WriterLock lk(mu_);
  for (DelegationRecord& r : rows) {
    for (const auto& text : r.scope)
      if (!ScopeGlob::Parse(text).ok()) return Status::Error(EIO, "delegations: damaged scope of " + r.id);
    InsertLocked(std::move(r), /*link=*/false);
  }
  // Children are linked once every parent is in (equal creation times
  // leave the order of a parent and its child to their ids).
  for (const DelegationRecord& r : order) {
    if (r.parent.empty()) continue;
    auto p = entries_.find(r.parent);
    if (p != entries_.end()) p->second.children.push_back(r.id);
  }
  revision_.fetch_add(1, std::memory_order_acq_rel);
  return Status::Ok();
}

void DelegationTable::InsertLocked(DelegationRecord record, bool link) {
  Entry e;
  for (const auto& text : record.scope) e.scope.push_back(*ScopeGlob::Parse(text));
  for (const auto& text : record.readonly) {
    auto g = ScopeGlob::Parse(text);
    if (g.ok()) e.readonly.push_back(std::move(*g));
  }
  const std::string id = record.id;
  if (link && !record.parent.empty()) {
    auto p = entries_.find(record.parent);
    if (p != entries_.end()) p->second.children.push_back(id);
  }
  if (record.revoked_at == 0) {
    by_to_[record.to].push_back(id);
    unrevoked_.fetch_add(1, std::memory_order_acq_rel);
  }
  e.record = std::move(record);
  entries_.emplace(id, std::move(e));
}

const DelegationTable::Entry* DelegationTable::FindLocked(std::string_view id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const DelegationTable::Entry*> DelegationTable::CountingLocked(std::string_view subject,
                                                                           UnixNanos now, bool* clean) const {
  std::vector<const Entry*> out;
  *clean = false;
  auto it = by_to_.find(subject);
  if (it == by_to_.end()) return out;
  for (const std::string& id : it->second) {
    const Entry* e = FindLocked(id);
    if (!e || !e->record.Active(now)) continue;
    if (e->record.mode == DelegationMode::kClean) *clean = true;
    out.push_back(e);
  }
  if (*clean) std::erase_if(out, [](const Entry* e) { return e->record.mode != DelegationMode::kClean; });
  return out;
}

bool DelegationTable::HoldsLocked(std::string_view from, const std::string& parent, Permission p,
                                  std::string_view path, bool is_dir, UnixNanos now, int hops) const {
  if (hops > static_cast<int>(kMaxDepthLimit) + 2) return false;
  if (parent.empty()) return options_.own_access(from, p, path, is_dir);
  const Entry* pe = FindLocked(parent);
  if (!pe || !pe->record.Active(now)) return false;
  return EvaluateLocked(*pe, p, path, is_dir, now, hops).verdict == DelegationDecision::Verdict::kAllow;
}

DelegationDecision DelegationTable::EvaluateLocked(const Entry& e, Permission p, std::string_view path,
                                                   bool is_dir, UnixNanos now, int hops) const {
  using V = DelegationDecision::Verdict;
  const DelegationRecord& r = e.record;
  auto deny = [&](std::string why) { return DelegationDecision{V::kDeny, false, r.id, std::move(why)}; };
  if (!std::any_of(e.scope.begin(), e.scope.end(), [&](const ScopeGlob& g) { return g.Covers(path); }))
    return {};
  if (!r.Active(now)) return deny(std::string(r.State(now)));
  if (p != Permission::kRead) {
    for (const ScopeGlob& g : e.readonly)
      if (g.Covers(path)) return deny("read-only under " + g.text());
  }
  if (p > CapOf(r.relation))
    return deny("it gives " + std::string(ToString(r.relation)) + " only, not " +
                std::string(PermissionName(p)));
  if (r.mode == DelegationMode::kCopy &&
      !std::any_of(r.snapshot.begin(), r.snapshot.end(),
                   [&](const SnapshotEntry& s) { return s.permission >= p && PathIsUnder(path, s.path); }))
    return deny(r.from + " held no " + std::string(PermissionName(p)) + " on it when the copy was made");
  if (!HoldsLocked(r.from, r.parent, p, path, is_dir, now, hops + 1))
    return deny(r.from + " does not hold " + std::string(PermissionName(p)) + " on it");
  return DelegationDecision{V::kAllow, false, r.id, {}};
}

DelegationDecision DelegationTable::Decide(std::string_view subject, Permission p, std::string_view path,
                                           bool is_dir) const {
  using V = DelegationDecision::Verdict;
  if (unrevoked_.load(std::memory_order_acquire) == 0) return {};
  ReaderLock lk(mu_);
  if (!by_to_.contains(subject)) return {};  // the usual case: one lookup, no clock
  const UnixNanos now = clock_.Now();
  bool clean = false;
  std::vector<const Entry*> counting = CountingLocked(subject, now, &clean);
  if (counting.empty()) return {};
  DelegationDecision denied;
  for (const Entry* e : counting) {
    DelegationDecision d = EvaluateLocked(*e, p, path, is_dir, now, 0);
    if (d.verdict == V::kAllow) {
      d.exclusive = clean;
      return d;
    }
    if (d.verdict == V::kDeny && denied.verdict != V::kDeny) denied = std::move(d);
  }
  if (clean && denied.verdict == V::kNone) {
    std::vector<std::string> ids;
    for (const Entry* e : counting) ids.push_back(e->record.id);
    denied = {V::kDeny, true, ids.front(), "outside the scope of clean delegation " + Joined(ids)};
  }
  denied.exclusive = clean;
  return denied;
}

bool DelegationTable::PassableFor(std::string_view subject, std::string_view path) const {
  if (unrevoked_.load(std::memory_order_acquire) == 0) return false;
  ReaderLock lk(mu_);
  if (!by_to_.contains(subject)) return false;
  const UnixNanos now = clock_.Now();
  bool clean = false;
  for (const Entry* e : CountingLocked(subject, now, &clean))
    for (const ScopeGlob& g : e->scope)
      if (PathIsUnder(g.root(), path)) return true;
  return false;
}

std::vector<std::string> DelegationTable::Recipients() const {
  ReaderLock lk(mu_);
  std::vector<std::string> out;
  out.reserve(by_to_.size());
  for (const auto& [to, ids] : by_to_) out.push_back(to);
  return out;
}

bool DelegationTable::Confined(std::string_view subject) const {
  if (unrevoked_.load(std::memory_order_acquire) == 0) return false;
  ReaderLock lk(mu_);
  if (!by_to_.contains(subject)) return false;
  const UnixNanos now = clock_.Now();
  bool clean = false;
  CountingLocked(subject, now, &clean);
  return clean;
}

UnixNanos DelegationTable::ValidUntil(std::string_view subject) const {
  if (unrevoked_.load(std::memory_order_acquire) == 0) return kNever;
  const UnixNanos now = clock_.Now();
  ReaderLock lk(mu_);
  UnixNanos until = kNever;
  auto it = by_to_.find(subject);
  if (it == by_to_.end()) return until;
  for (const std::string& id : it->second) {
    const Entry* e = FindLocked(id);
    if (e && e->record.Active(now)) until = std::min(until, e->record.expires_at);
  }
  return until;
}

// ---------------------------------------------------------------- who may

bool DelegationTable::MayActAs(const DelegationCaller& caller, std::string_view subject) const {
  if (caller.admin || caller.subject == subject) return true;
  if (!caller.owner_of) return false;
  auto owner = caller.owner_of(subject);
  return owner && *owner == caller.subject;
}

bool DelegationTable::MayReadLocked(const DelegationCaller& caller, const DelegationRecord& record) const {
  // The parties of the delegation or of one it was made from (whose access
  // it carries on).
  const DelegationRecord* r = &record;
  for (uint32_t hops = 0; r && hops <= kMaxDepthLimit + 2; ++hops) {
    if (caller.subject == r->created_by || MayActAs(caller, r->from) || MayActAs(caller, r->to)) return true;
    const Entry* parent = r->parent.empty() ? nullptr : FindLocked(r->parent);
    r = parent ? &parent->record : nullptr;
  }
  return false;
}

void DelegationTable::Audit(const std::string& subject, std::string_view operation, const std::string& object,
                            bool allowed, std::string reason) const {
  if (!options_.audit) return;
  options_.audit->Record(AuditRecord{0, subject, std::string(operation), object, allowed, std::move(reason)});
}

// ---------------------------------------------------------------- changes

Status DelegationTable::WriteRowLocked(const DelegationRecord& r) {
  json snapshot = json::array();
  for (const SnapshotEntry& s : r.snapshot)
    snapshot.push_back({{"path", s.path}, {"permission", std::string(PermissionName(s.permission))}});
  Statement st = db_->Prepare(
      "INSERT INTO delegations(id, from_subject, to_subject, scope, mode, relation, readonly, created_ns,"
      " expires_ns, max_depth, depth, parent, created_by, revoked_ns, revoked_by, snapshot)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
  st.Bind(1, r.id).Bind(2, r.from).Bind(3, r.to).Bind(4, Strings(r.scope).dump());
  st.Bind(5, ToString(r.mode));
  const std::string relation(r.relation == Relation::kNone ? "" : ToString(r.relation));
  st.Bind(6, std::string_view(relation));
  st.Bind(7, Strings(r.readonly).dump()).Bind(8, r.created_at);
  if (r.expires_at == kNever) {
    st.BindNull(9);
  } else {
    st.Bind(9, r.expires_at);
  }
  st.Bind(10, r.max_depth).Bind(11, r.depth).Bind(12, r.parent).Bind(13, r.created_by);
  st.Bind(14, r.revoked_at).Bind(15, r.revoked_by).Bind(16, snapshot.dump());
  return st.Run("create delegation " + r.id);
}

Result<DelegationRecord> DelegationTable::Create(const DelegationCaller& caller,
                                                 const DelegationRequest& req) {
  DelegationRecord r;
  {
    auto from = ParseDelegationSubject(req.from);
    if (!from.ok()) return Status::Error(EINVAL, "from: " + from.status().message());
    auto to = ParseDelegationSubject(req.to);
    if (!to.ok()) return Status::Error(EINVAL, "to: " + to.status().message());
    r.from = *from;
    r.to = *to;
  }
  if (r.from == r.to)
    return Status::Error(EINVAL, "a delegation needs two subjects; FROM and TO are both " + r.from);
  if (r.to == options_.admin_subject)
    return Status::Error(EINVAL, r.to + " cannot receive a delegation: it is never restricted");
  if (req.scope.empty()) return Status::Error(EINVAL, "a delegation needs a scope (at least one glob)");
  if (req.scope.size() > kMaxGlobs || req.readonly.size() > kMaxGlobs)
    return Status::Error(EINVAL, "at most " + std::to_string(kMaxGlobs) + " scope and readonly globs");
  std::vector<ScopeGlob> scope;
  for (const auto& text : req.scope) {
    auto g = ScopeGlob::Parse(text);
    if (!g.ok()) return Status::Error(EINVAL, "scope: " + g.status().message());
    scope.push_back(std::move(*g));
    r.scope.push_back(text);
  }
  for (const auto& text : req.readonly) {
    auto g = ScopeGlob::Parse(text);
    if (!g.ok()) return Status::Error(EINVAL, "readonly: " + g.status().message());
    r.readonly.push_back(text);
  }
  r.mode = req.mode;
  if (req.relation.empty()) {
    r.relation = r.mode == DelegationMode::kClean ? Relation::kViewer : Relation::kNone;
  } else {
    auto rel = ParseRelation(req.relation);
    if (!rel.ok() || (*rel != Relation::kViewer && *rel != Relation::kEditor))
      return Status::Error(EINVAL, "relation '" + req.relation + "': a delegation gives viewer or editor");
    r.relation = *rel;
  }
  if (req.ttl_seconds && !(*req.ttl_seconds > 0 && *req.ttl_seconds <= kTtlMaxSeconds))
    return Status::Error(EINVAL, "ttl must be a positive number of seconds, at most ten years");
  if (req.max_depth > kMaxDepthLimit)
    return Status::Error(EINVAL, "max depth " + std::to_string(req.max_depth) + " is above the limit of " +
                                     std::to_string(kMaxDepthLimit));
  if (!MayActAs(caller, r.from)) {
    Audit(caller.subject, "delegation.create", r.from + " -> " + r.to, false, "may not act as " + r.from);
    return Status::Error(EACCES, caller.subject + " may not delegate for " + r.from + ": only " + r.from +
                                     ", its owner or an admin may");
  }
  r.created_by = caller.subject;
  r.created_at = clock_.Now();
  r.expires_at =
      req.ttl_seconds ? r.created_at + static_cast<UnixNanos>(std::llround(*req.ttl_seconds * 1e9)) : kNever;
  r.max_depth = req.max_depth;
  const Permission need = r.relation == Relation::kNone ? Permission::kRead : CapOf(r.relation);
  const UnixNanos now = r.created_at;

  MutexLock dl(db_mu_);
  {
    ReaderLock lk(mu_);
    // Where FROM's access comes from: its own grants (unless a clean
    // delegation confines it), else a delegation it acts under.
    bool clean = false;
    std::vector<const Entry*> incoming = CountingLocked(r.from, now, &clean);
    std::vector<std::string> sources;
    if (!clean) sources.emplace_back();
    for (const Entry* e : incoming) sources.push_back(e->record.id);
    std::optional<std::string> source;
    std::string missing;
    for (const std::string& s : sources) {
      bool all = true;
      for (const ScopeGlob& g : scope) {
        if (HoldsLocked(r.from, s, need, g.root(), true, now, 0) ||
            HoldsLocked(r.from, s, need, g.root(), false, now, 0))
          continue;
        if (missing.empty()) missing = g.root();
        all = false;
        break;
      }
      if (all) {
        source = s;
        break;
      }
    }
    if (!source) {
      if (missing.empty()) missing = scope.front().root();
      std::string why = r.from + " does not hold " + std::string(PermissionName(need)) + " on " + missing;
      Audit(caller.subject, "delegation.create", r.from + " -> " + r.to, false, why);
      return Status::Error(EACCES, "cannot delegate more than is held: " + why);
    }
    r.parent = *source;
    if (!r.parent.empty()) {
      const DelegationRecord& parent = FindLocked(r.parent)->record;
      if (parent.max_depth == 0) {
        std::string why = r.from + " acts under delegation " + parent.id +
                          ", which may not be delegated further (max depth 0)";
        Audit(caller.subject, "delegation.create", r.from + " -> " + r.to, false, why);
        return Status::Error(EPERM, why);
      }
      r.depth = parent.depth + 1;
      r.max_depth = std::min(r.max_depth, parent.max_depth - 1);
      r.expires_at = std::min(r.expires_at, parent.expires_at);
    }
    if (r.mode == DelegationMode::kCopy) {
      // The objects FROM may have relations on: the scope roots and what
      // the engine knows in the scope.
      std::set<std::pair<std::string, bool>> candidates;
      for (const ScopeGlob& g : scope) {
        candidates.insert({g.root(), true});
        candidates.insert({g.root(), false});
      }
      std::vector<std::string> askers{r.from};
      for (std::string p = r.parent; !p.empty();) {
        const Entry* pe = FindLocked(p);
        if (!pe) break;
        askers.push_back(pe->record.from);
        p = pe->record.parent;
      }
      if (options_.objects_of) {
        for (const std::string& who : askers)
          for (auto& object : options_.objects_of(who)) {
            const std::string& path = object.first;
            if (std::any_of(scope.begin(), scope.end(), [&](const ScopeGlob& g) { return g.Covers(path); }))
              candidates.insert(std::move(object));
          }
      }
      std::map<std::string, Permission> best;
      for (const auto& [path, is_dir] : candidates) {
        for (Permission p : {Permission::kManage, Permission::kWrite, Permission::kRead}) {
          if (p > CapOf(r.relation)) continue;
          if (!HoldsLocked(r.from, r.parent, p, path, is_dir, now, 0)) continue;
          auto [it, inserted] = best.emplace(path, p);
          if (!inserted) it->second = std::max(it->second, p);
          break;
        }
      }
      for (const auto& [path, p] : best) r.snapshot.push_back({path, p});
    }
  }
  r.id = "dlg-" + RandomHex(6);
  NEXUS_RETURN_IF_ERROR(WriteRowLocked(r));
  {
    WriterLock lk(mu_);
    InsertLocked(r, /*link=*/true);
  }
  revision_.fetch_add(1, std::memory_order_acq_rel);
  dl.Unlock();
  Audit(caller.subject, "delegation.create", r.id, true,
        r.from + " -> " + r.to + " " + std::string(ToString(r.mode)) + " " + Joined(r.scope) +
            (r.parent.empty() ? "" : " under " + r.parent));
  if (options_.on_change) options_.on_change();
  return r;
}

Result<std::vector<std::string>> DelegationTable::Revoke(const DelegationCaller& caller,
                                                         std::string_view id) {
  MutexLock dl(db_mu_);
  std::vector<std::string> ids;
  {
    ReaderLock lk(mu_);
    const Entry* e = FindLocked(id);
    if (!e) return Status::Error(ENOENT, "delegation '" + std::string(id) + "' not found");
    const DelegationRecord& r = e->record;
    if (!(caller.subject == r.created_by || MayActAs(caller, r.from))) {
      if (!MayReadLocked(caller, r))
        return Status::Error(ENOENT, "delegation '" + std::string(id) + "' not found");
      Audit(caller.subject, "delegation.revoke", r.id, false, "not on the delegating side");
      return Status::Error(EACCES, caller.subject + " may not revoke " + r.id + ": only its creator, " +
                                       r.from + ", its owner or an admin may");
    }
    if (r.revoked_at != 0) return Status::Error(EINVAL, "delegation " + r.id + " is already revoked");
    std::deque<const Entry*> todo{e};
    while (!todo.empty()) {
      const Entry* cur = todo.front();
      todo.pop_front();
      if (cur->record.revoked_at != 0) continue;
      ids.push_back(cur->record.id);
      for (const std::string& c : cur->children)
        if (const Entry* ce = FindLocked(c)) todo.push_back(ce);
    }
  }
  const UnixNanos now = clock_.Now();
  NEXUS_RETURN_IF_ERROR(InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
    for (const std::string& d : ids) {
      NEXUS_RETURN_IF_ERROR(
          db_->Prepare("UPDATE delegations SET revoked_ns = ?2, revoked_by = ?3 WHERE id = ?1")
              .Bind(1, d)
              .Bind(2, now)
              .Bind(3, caller.subject)
              .Run("revoke delegation " + d));
    }
    return Status::Ok();
  }));
  {
    WriterLock lk(mu_);
    for (const std::string& d : ids) {
      auto it = entries_.find(d);
      if (it == entries_.end()) continue;
      DelegationRecord& r = it->second.record;
      r.revoked_at = now;
      r.revoked_by = caller.subject;
      auto to = by_to_.find(r.to);
      if (to != by_to_.end()) {
        std::erase(to->second, d);
        if (to->second.empty()) by_to_.erase(to);
      }
      unrevoked_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  revision_.fetch_add(1, std::memory_order_acq_rel);
  dl.Unlock();
  for (size_t i = 0; i < ids.size(); ++i)
    Audit(caller.subject, "delegation.revoke", ids[i], true,
          i == 0 ? "revoked" : "made from " + ids[0] + ", revoked with it");
  if (options_.on_change) options_.on_change();
  return ids;
}

// ---------------------------------------------------------------- reading

Result<DelegationRecord> DelegationTable::Get(const DelegationCaller& caller, std::string_view id) const {
  ReaderLock lk(mu_);
  const Entry* e = FindLocked(id);
  // Not found either way: ids of others' delegations are not disclosed.
  if (!e || !MayReadLocked(caller, e->record))
    return Status::Error(ENOENT, "delegation '" + std::string(id) + "' not found");
  return e->record;
}

Result<std::vector<DelegationRecord>> DelegationTable::List(const DelegationCaller& caller,
                                                            const DelegationFilter& filter) const {
  std::optional<std::string> from, to;
  if (filter.from) {
    auto s = ParseDelegationSubject(*filter.from);
    if (!s.ok()) return Status::Error(EINVAL, "from: " + s.status().message());
    from = *s;
  }
  if (filter.to) {
    auto s = ParseDelegationSubject(*filter.to);
    if (!s.ok()) return Status::Error(EINVAL, "to: " + s.status().message());
    to = *s;
  }
  std::vector<DelegationRecord> out;
  ReaderLock lk(mu_);
  for (const auto& [id, e] : entries_) {
    if ((from && e.record.from != *from) || (to && e.record.to != *to)) continue;
    if (MayReadLocked(caller, e.record)) out.push_back(e.record);
  }
  std::sort(out.begin(), out.end(), [](const DelegationRecord& a, const DelegationRecord& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Result<std::vector<DelegationRecord>> DelegationTable::Chain(const DelegationCaller& caller,
                                                             std::string_view id) const {
  ReaderLock lk(mu_);
  const Entry* e = FindLocked(id);
  if (!e || !MayReadLocked(caller, e->record))
    return Status::Error(ENOENT, "delegation '" + std::string(id) + "' not found");
  std::vector<DelegationRecord> up;
  for (const Entry* cur = e; cur;) {
    up.push_back(cur->record);
    cur = cur->record.parent.empty() ? nullptr : FindLocked(cur->record.parent);
    if (up.size() > kMaxDepthLimit + 2) break;
  }
  std::vector<DelegationRecord> out(up.rbegin(), up.rend());
  // Depth first below `e`, children in creation order.
  std::vector<const Entry*> stack;
  for (auto it = e->children.rbegin(); it != e->children.rend(); ++it)
    if (const Entry* c = FindLocked(*it)) stack.push_back(c);
  while (!stack.empty()) {
    const Entry* cur = stack.back();
    stack.pop_back();
    out.push_back(cur->record);
    for (auto it = cur->children.rbegin(); it != cur->children.rend(); ++it)
      if (const Entry* c = FindLocked(*it)) stack.push_back(c);
  }
  return out;
}

}  // namespace nexus
