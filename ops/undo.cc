// Undo: the plan (inverse steps, newest first, with conflicts) and its
// application through PathFiles as the caller, labelled "undo".
#include "ops/undo.h"

#include <spdlog/spdlog.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_set>

#include "base/principal.h"
#include "fs/access_policy.h"
#include "fs/path_files.h"
#include "fs/process_info.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"
#include "ops/op_log.h"
#include "perms/agent_registry.h"
#include "perms/audit.h"
#include "perms/principals.h"

namespace nexus::ops {
namespace {

constexpr size_t kPage = 1000;
// A selection beyond this is refused: undo it in parts (by --since).
constexpr size_t kMaxSelected = 1'000'000;

// Standard base64 (RFC 4648, section 4) back to bytes; nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

nlohmann::json ParseDetail(const Operation& op) {
  if (op.detail.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(op.detail, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

template <typename T>
std::optional<T> DetailNumber(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  if (it == d.end() || !it->is_number()) return std::nullopt;
  return it->get<T>();
}

std::string DetailString(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// A content operation: the file's content afterwards is version_after.
bool IsContentKind(OpKind k) {
  return k == OpKind::kWrite || k == OpKind::kTruncate || k == OpKind::kRollback || k == OpKind::kRestore;
}

// An operation that brought a name into existence.
bool Creates(OpKind k) {
  return k == OpKind::kCreate || k == OpKind::kLink || k == OpKind::kSymlink || k == OpKind::kMkdir ||
         k == OpKind::kRename;
}

// One selected operation and what undoing it takes.
struct Planned {
  Operation op;
  UndoStep step;
  bool conflict_forced = false;  // a conflict applied anyway (force)
  // rename-back of a rename that replaced a file (an atomic save): that
  // file is written back at the path afterwards, from this blob ("": empty).
  bool replaced = false;
  // restore-content/recreate: the content (blob "" with version 0: empty)
  // and mode, resolved when planned (later steps move version records).
  std::string content_blob;
  uint32_t content_mode = versions::kModeFile;
  std::string replaced_blob;
  uint32_t replaced_mode = versions::kModeFile;
};

// Planning state shared by Plan and Apply.
class Planner {
 public:
  Planner(const Undoer::Deps& deps, const Caller& caller, bool force)
      : deps_(deps), caller_(caller), force_(force) {}

  struct Result_ {
    std::vector<Planned> steps;  // newest first
    uint32_t hidden = 0;         // skipped without naming them (paths the caller may not see)
    uint32_t refused = 0;        // not the caller's to undo (named as skipped steps)
    size_t selected = 0;
  };

  Result<Result_> Run(const OpFilter& selection) {
    Result_ out;
    NEXUS_ASSIGN_OR_RETURN(std::vector<Operation> ops, Select(selection, out.steps));
    out.selected = ops.size() + out.steps.size();
    const std::string me = Subject();
    const bool admin = Admin();
    std::vector<Operation> mine;
    for (Operation& op : ops) {
      if (!admin && !Visible(op)) {
        ++out.hidden;
        continue;
      }
      if (!admin && !MayUndo(op, me)) {
        ++out.refused;
        Planned p;
        p.step.op_id = op.id;
        p.step.path = op.path;
        p.step.to_path = op.kind == OpKind::kRename ? op.old_path : std::string();
        p.step.action = "none";
        p.step.status = "skipped";
        p.step.reason = "not yours: done by " + op.subject;
        p.op = std::move(op);
        out.steps.push_back(std::move(p));
        continue;
      }
      selected_.insert(op.id);
      mine.push_back(std::move(op));
    }
    if (!ops.empty() && mine.empty())
      return Status::Error(
          EACCES, me + " may undo none of the " + std::to_string(ops.size()) +
                      " selected operations (only their subject, the agent's owner or an admin may)");
    // Paths whose newest selected operation was already planned: an older
    // operation on them expects the state the newer steps bring back, so
    // only the newest one is compared with the tree.
    std::set<std::string> claimed;
    for (Operation& op : mine) {
      Planned p = PlanOne(op, claimed);
      claimed.insert(op.path);
      if (!op.old_path.empty()) claimed.insert(op.old_path);
      out.steps.push_back(std::move(p));
    }
    std::stable_sort(out.steps.begin(), out.steps.end(),
                     [](const Planned& a, const Planned& b) { return a.op.id > b.op.id; });
    return out;
  }

  bool Admin() const {
    if (caller_.principal && caller_.principal->admin) return true;
    if (deps_.access) return deps_.access->Unrestricted(caller_);
    return caller_.principal == nullptr && caller_.IsRoot();
  }

  std::string Subject() const {
    if (caller_.principal) return caller_.principal->subject;
    if (deps_.access) return deps_.access->SubjectOf(caller_);
    return UidSubject(caller_.uid);
  }

 private:
  // The selected operations, newest first. Ids that are not in the log
  // become failed steps in `missing`.
  Result<std::vector<Operation>> Select(const OpFilter& selection, std::vector<Planned>& missing) {
    std::vector<Operation> ops;
    if (!selection.ids.empty()) {
      std::set<int64_t> ids(selection.ids.begin(), selection.ids.end());
      OpFilter rest = selection;
      rest.ids.clear();
      for (int64_t id : ids) {
        auto op = deps_.log->Get(id);
        if (op.code() == ENOENT) {
          Planned p;
          p.op.id = id;
          p.step.op_id = id;
          p.step.action = "none";
          p.step.status = "failed";
          p.step.reason = "no operation " + std::to_string(id) + " in the log";
          missing.push_back(std::move(p));
          continue;
        }
        NEXUS_RETURN_IF_FAILED(op);
        if (rest.Matches(*op)) ops.push_back(std::move(op).value());
      }
      std::sort(ops.begin(), ops.end(), [](const Operation& a, const Operation& b) { return a.id > b.id; });
      return ops;
    }
    int64_t before = 0;
    while (true) {
      NEXUS_ASSIGN_OR_RETURN(std::vector<Operation> page, deps_.log->Query(selection, before, kPage));
      if (page.empty()) break;
      before = page.back().id;
      for (Operation& op : page) ops.push_back(std::move(op));
      if (ops.size() > kMaxSelected)
        return Status::Error(E2BIG, "the selection holds more than " + std::to_string(kMaxSelected) +
                                        " operations; undo it in parts (--since, --until)");
      if (page.size() < kPage) break;
    }
    return ops;
  }

  bool Visible(const Operation& op) const {
    if (!deps_.access) return true;
    const bool dir = op.kind == OpKind::kMkdir || op.kind == OpKind::kRmdir;
    if (!deps_.access->CanSee(caller_, op.path, dir)) return false;
    if (!op.old_path.empty() && !deps_.access->CanSee(caller_, op.old_path, dir)) return false;
    return true;
  }

  // The subject itself, or the owner of the agent that did it (as subject
  // agent:ID, or through a process labelled NEXUS_AGENT_ID).
  bool MayUndo(const Operation& op, const std::string& me) const {
    if (op.subject == me) return true;
    if (!deps_.agents) return false;
    auto owns = [&](const std::string& id) {
      if (id.empty()) return false;
      auto rec = deps_.agents->Get(id);
      return rec.ok() && rec->owner == me;
    };
    if (op.subject.starts_with("agent:") && owns(op.subject.substr(6))) return true;
    // A labelled process of someone else is not enough: the subject acted.
    return false;
  }

  // The first operation after `op` on `path` (or below it, with `subtree`)
  // that is not being undone.
  Result<std::optional<Operation>> LaterOutside(const Operation& op, const std::string& path, bool subtree) {
    OpFilter f;
    f.path = path;
    int64_t after = op.id;
    while (true) {
      NEXUS_ASSIGN_OR_RETURN(std::vector<Operation> page, deps_.log->After(after, f, kPage));
      for (Operation& later : page) {
        after = later.id;
        if (selected_.count(later.id)) continue;
        const bool touches =
            later.path == path || later.old_path == path ||
            (subtree && (PathIsUnder(later.path, path) || PathIsUnder(later.old_path, path)));
        if (touches) return std::optional<Operation>(std::move(later));
      }
      if (page.size() < kPage) return std::optional<Operation>();
    }
  }

  // Version n of the file `op` acted on, wherever its history is now:
  // a later rename of the file (or of a directory above it) moved it.
  Result<versions::Version> VersionOf(const Operation& op, uint32_t n) {
    std::string path = op.path;
    OpFilter renames;
    renames.kind = OpKind::kRename;
    int64_t after = op.id;
    for (bool more = true; more;) {
      NEXUS_ASSIGN_OR_RETURN(std::vector<Operation> page, deps_.log->After(after, renames, kPage));
      for (const Operation& r : page) {
        after = r.id;
        if (r.old_path.empty() || !PathIsUnder(path, r.old_path)) continue;
        path = r.path + path.substr(r.old_path.size());
      }
      more = page.size() == kPage;
    }
    versions::ZonePath zp = versions::SplitNamespacePath(path);
    auto v = deps_.store->GetVersion(zp.zone, zp.path, n);
    if (v.ok() || path == op.path) return v;
    zp = versions::SplitNamespacePath(op.path);
    return deps_.store->GetVersion(zp.zone, zp.path, n);
  }

  Result<std::string> VersionBlob(const std::string& path, uint32_t n) {
    versions::ZonePath zp = versions::SplitNamespacePath(path);
    NEXUS_ASSIGN_OR_RETURN(versions::Version v, deps_.store->GetVersion(zp.zone, zp.path, n));
    return v.blob;
  }

  // Whether the tree still shows what `op` left at its path: "" when it
  // does, else why not.
  std::string StateMismatch(const Operation& op, const nlohmann::json& d) {
    auto st =
        deps_.files->Stat(caller_, op.path, /*follow=*/false, /*with_content_id=*/IsContentKind(op.kind));
    const bool exists = st.ok();
    if (!exists && st.code() != ENOENT) return "cannot check " + op.path + ": " + st.status().message();
    switch (op.kind) {
      case OpKind::kUnlink:
      case OpKind::kRmdir:
        return exists ? op.path + " exists again" : "";
      case OpKind::kRename: {
        if (!exists) return op.path + " is gone";
        auto old = deps_.files->Stat(caller_, op.old_path, false, false);
        return old.ok() ? op.old_path + " exists again" : "";
      }
      case OpKind::kMkdir:
        if (!exists) return op.path + " is gone";
        return st->attr.IsDir() ? "" : op.path + " is no longer a directory";
      case OpKind::kSymlink: {
        if (!exists) return op.path + " is gone";
        std::string target = DetailString(d, "target");
        if (!st->attr.IsLnk()) return op.path + " is no longer a symlink";
        if (!target.empty() && st->symlink_target != target) return op.path + " points elsewhere now";
        return "";
      }
      case OpKind::kCreate:
      case OpKind::kLink:
        if (!exists) return op.path + " is gone";
        return st->attr.IsDir() ? op.path + " is a directory now" : "";
      case OpKind::kChmod: {
        if (!exists) return op.path + " is gone";
        auto after = DetailNumber<uint32_t>(d, "mode_after");
        if (after && (st->attr.mode & 07777) != (*after & 07777))
          return "its mode is " + Octal(st->attr.mode) + " now, not " + Octal(*after);
        return "";
      }
      case OpKind::kChown: {
        if (!exists) return op.path + " is gone";
        auto uid = DetailNumber<uid_t>(d, "uid_after");
        auto gid = DetailNumber<gid_t>(d, "gid_after");
        if ((uid && st->attr.uid != *uid) || (gid && st->attr.gid != *gid)) return "its owner changed since";
        return "";
      }
      case OpKind::kSetXattr:
      case OpKind::kRemoveXattr:
        return exists ? "" : op.path + " is gone";
      default:
        break;
    }
    // Content: the file must hold version_after.
    if (!exists) return op.path + " is gone";
    if (!st->attr.IsReg()) return op.path + " is no longer a regular file";
    if (op.version_after == 0 || !deps_.store) return "";
    auto blob = VersionBlob(op.path, op.version_after);
    if (!blob.ok()) return "";              // the version is gone (gc): nothing to compare with
    if (st->content_id.empty()) return "";  // too large to hash here
    if (st->content_id != *blob)
      return "its content changed since (it is not v" + std::to_string(op.version_after) + ")";
    return "";
  }

  Planned PlanOne(const Operation& op, const std::set<std::string>& claimed) {
    Planned p;
    p.op = op;
    UndoStep& s = p.step;
    s.op_id = op.id;
    s.path = op.path;
    s.status = "planned";
    const nlohmann::json d = ParseDetail(op);
    switch (op.kind) {
      case OpKind::kCreate:
      case OpKind::kLink:
      case OpKind::kSymlink:
        s.action = "remove";
        break;
      case OpKind::kMkdir:
        s.action = "rmdir";
        break;
      case OpKind::kRmdir:
        s.action = "mkdir";
        break;
      case OpKind::kUnlink:
        s.action = "recreate";
        s.version = op.version_before;
        if (op.version_before == 0) {
          s.status = "failed";
          s.reason = "no version of " + op.path + " was kept to recreate it from";
        }
        break;
      case OpKind::kRename:
        s.action = "rename-back";
        s.to_path = op.old_path;
        if (deps_.store) FindReplaced(op, p);
        break;
      case OpKind::kChmod:
        s.action = "chmod";
        if (!DetailNumber<uint32_t>(d, "mode_before")) {
          s.status = "failed";
          s.reason = "the log holds no mode before";
        } else {
          s.reason = "mode back to " + Octal(*DetailNumber<uint32_t>(d, "mode_before"));
        }
        break;
      case OpKind::kChown:
        s.action = "chown";
        if (!DetailNumber<uid_t>(d, "uid_before") && !DetailNumber<gid_t>(d, "gid_before")) {
          s.status = "failed";
          s.reason = "the log holds no owner before";
        }
        break;
      case OpKind::kSetXattr:
      case OpKind::kRemoveXattr: {
        const bool had = d.contains("value_before") && d["value_before"].is_string();
        s.action = had ? "setxattr" : "removexattr";
        s.reason = DetailString(d, "name");
        if (s.reason.empty()) {
          s.status = "failed";
          s.reason = "the log holds no attribute name";
        } else if (d.contains("value_before_truncated")) {
          s.status = "failed";
          s.reason = "the value of " + s.reason + " before was too large for the log to keep";
        } else if (had && !Base64Decode(d["value_before"].get<std::string>())) {
          s.status = "failed";
          s.reason = "the log's value of " + s.reason + " is not base64";
        }
        break;
      }
      default:  // write truncate rollback restore
        s.action = "restore-content";
        s.version = op.version_before;
        if (op.version_before == 0) {
          if (CreatedBySelection(op)) {
            s.action = "none";
            s.reason = "created by the selection: undoing its creation removes it";
          } else if (op.kind == OpKind::kTruncate && op.version_after == 0) {
            s.status = "failed";
            s.reason = "no version before the truncate was kept";
          } else {
            s.reason = "back to empty (it had no version before)";
          }
        }
        break;
    }
    if (s.status != "planned") return p;
    if ((s.action == "restore-content" || s.action == "recreate") && !deps_.store) {
      s.status = "failed";
      s.reason = "versioning is off: no content to bring back";
      return p;
    }
    if ((s.action == "restore-content" || s.action == "recreate") && s.version != 0) {
      auto v = VersionOf(op, s.version);
      if (!v.ok()) {
        s.status = "failed";
        s.reason =
            "no v" + std::to_string(s.version) + " of " + op.path + " to bring back: " + v.status().message();
        return p;
      }
      p.content_blob = v->blob;
      p.content_mode = v->mode;
    }
    // Changed since by someone not being undone?
    std::string why;
    const bool subtree = op.kind == OpKind::kMkdir;
    auto later = LaterOutside(op, op.path, subtree);
    if (!later.ok()) {
      s.status = "failed";
      s.reason = later.status().message();
      return p;
    }
    if (!*later && op.kind == OpKind::kRename) {
      later = LaterOutside(op, op.old_path, false);
      if (!later.ok()) {
        s.status = "failed";
        s.reason = later.status().message();
        return p;
      }
    }
    if (*later) {
      const Operation& o = **later;
      why = "changed after it by operation " + std::to_string(o.id) + " (" + std::string(KindName(o.kind)) +
            " " + o.path + " by " + o.subject + ")";
    } else if (!claimed.count(op.path) && (op.old_path.empty() || !claimed.count(op.old_path))) {
      why = StateMismatch(op, d);
    }
    if (!why.empty()) {
      if (force_) {
        p.conflict_forced = true;
        s.reason = "forced: " + why;
      } else {
        s.status = "conflict";
        s.reason = why;
      }
    }
    return p;
  }

  // Whether the rename `op` replaced a file at its path (an editor's or
  // sed's atomic save), and with what content: from the log (the path's
  // last write before it), else from the version store (the replaced
  // file keeps its history and gains the moved content as a version noted
  // "renamed from <old path>").
  void FindReplaced(const Operation& op, Planned& p) {
    std::optional<uint32_t> version;  // 0: existed without a version
    OpFilter f;
    f.path = op.path;
    auto older = deps_.log->Query(f, op.id, kPage);
    if (older.ok()) {
      for (const Operation& o : *older) {
        if (o.old_path == op.path ||
            (o.path == op.path && (o.kind == OpKind::kUnlink || o.kind == OpKind::kRmdir)))
          return;  // it was gone before the rename
        if (o.path != op.path) continue;
        if (IsContentKind(o.kind) && o.version_after) {
          version = o.version_after;
          break;
        }
        if (o.kind == OpKind::kCreate) {
          version = 0;
          break;
        }
        if (o.kind == OpKind::kRename || o.kind == OpKind::kMkdir || o.kind == OpKind::kSymlink ||
            o.kind == OpKind::kLink)
          break;  // some other thing was there: leave it to the store
      }
    }
    versions::ZonePath zp = versions::SplitNamespacePath(op.path);
    versions::ZonePath from = versions::SplitNamespacePath(op.old_path);
    auto h = deps_.store->History(zp.zone, zp.path);
    if (!version && h.ok()) {
      for (auto it = h->versions.rbegin(); it != h->versions.rend(); ++it) {
        if (it->note == "renamed from " + from.path && it->number > 1) {
          version = it->number - 1;
          break;
        }
      }
    }
    if (!version) return;
    p.replaced = true;
    p.step.version = *version;
    p.step.reason = "and writes back the " + op.path + " it replaced";
    if (*version == 0) return;
    auto v = deps_.store->GetVersion(zp.zone, zp.path, *version);
    if (!v.ok()) {
      p.step.status = "failed";
      p.step.reason =
          "the " + op.path + " it replaced has no v" + std::to_string(*version) + ": " + v.status().message();
      return;
    }
    p.replaced_blob = v->blob;
    p.replaced_mode = v->mode;
  }

  // Whether a selected operation older than `op` created its path.
  bool CreatedBySelection(const Operation& op) {
    OpFilter f;
    f.path = op.path;
    auto older = deps_.log->Query(f, op.id, kPage);
    if (!older.ok()) return false;
    for (const Operation& o : *older) {
      if (o.path != op.path) continue;
      if (Creates(o.kind)) return selected_.count(o.id) > 0;
      if (o.kind == OpKind::kUnlink || o.kind == OpKind::kRmdir) return false;
    }
    return false;
  }

  const Undoer::Deps& deps_;
  const Caller& caller_;
  const bool force_;
  std::unordered_set<int64_t> selected_;
};

void Count(UndoReport& r, uint32_t hidden) {
  r.applied = r.conflicts = r.failed = 0;
  r.skipped = hidden;
  for (const UndoStep& s : r.steps) {
    if (s.status == "done" && s.action != "none") ++r.applied;
    if (s.status == "conflict") ++r.conflicts;
    if (s.status == "failed") ++r.failed;
    if (s.status == "skipped") ++r.skipped;
  }
}

std::string DescribeSelection(const OpFilter& f) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    if (!out.empty()) out += " ";
    out += k + "=" + v;
  };
  std::string ids;
  for (int64_t id : f.ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  add("ids", ids);
  add("agent", f.agent_id);
  add("task", f.task_id);
  add("subject", f.subject);
  add("path", f.path);
  if (f.since_ns) add("since_ns", std::to_string(f.since_ns));
  if (f.until_ns) add("until_ns", std::to_string(f.until_ns));
  return out;
}

// Applies plans through PathFiles as `actor`.
class Applier {
 public:
  Applier(const Undoer::Deps& deps, const Caller& caller, std::string subject)
      : deps_(deps), caller_(caller), subject_(std::move(subject)), actor_(caller) {}

  Status Do(const Planned& p) {
    actor_ = ActorFor(p.op);
    actor_.umask = 0;  // modes are put back as they were
    const UndoStep& s = p.step;
    const nlohmann::json d = ParseDetail(p.op);
    if (s.action == "none") return Status::Ok();
    if (s.action == "restore-content") {
      std::string content;
      if (!p.content_blob.empty()) {
        NEXUS_ASSIGN_OR_RETURN(content, deps_.store->ReadBlob(p.content_blob, 0, UINT64_MAX));
      }
      WriteOptions o;
      o.truncate = true;
      auto w = deps_.files->Write(actor_, s.path, content, o);
      return w.ok() ? Status::Ok() : w.status();
    }
    if (s.action == "recreate") {
      NEXUS_ASSIGN_OR_RETURN(std::string content, deps_.store->ReadBlob(p.content_blob, 0, UINT64_MAX));
      WriteOptions o;
      o.truncate = true;
      o.create_parents = true;
      o.mode = ModeBefore(d, "mode_before", p.content_mode);
      if (!p.conflict_forced) {
        // Only while nothing is there (a file made meanwhile is not overwritten).
        auto st = deps_.files->Stat(actor_, s.path, false, false);
        if (st.ok()) return Status::Error(EEXIST, s.path + " exists now");
      }
      auto w = deps_.files->Write(actor_, s.path, content, o);
      return w.ok() ? Status::Ok() : w.status();
    }
    if (s.action == "rename-back") {
      if (!p.conflict_forced) {
        auto st = deps_.files->Stat(actor_, s.to_path, false, false);
        if (st.ok()) return Status::Error(EEXIST, s.to_path + " exists now");
      }
      std::string content;
      if (p.replaced && !p.replaced_blob.empty()) {
        NEXUS_ASSIGN_OR_RETURN(content, deps_.store->ReadBlob(p.replaced_blob, 0, UINT64_MAX));
      }
      NEXUS_RETURN_IF_ERROR(deps_.files->Rename(actor_, s.path, s.to_path));
      if (!p.replaced) return Status::Ok();
      WriteOptions o;
      o.truncate = true;
      o.mode = ModeBefore(d, "replaced_mode", p.replaced_mode);
      auto w = deps_.files->Write(actor_, s.path, content, o);
      if (!w.ok())
        return Status::Error(w.code(), "renamed back, but could not write back the " + s.path +
                                           " it replaced: " + w.status().message());
      return Status::Ok();
    }
    if (s.action == "remove") {
      NEXUS_ASSIGN_OR_RETURN(PathStat st, deps_.files->Stat(actor_, s.path, false, false));
      if (st.attr.IsDir()) return Status::Error(EISDIR, s.path + " is a directory now");
      return deps_.files->Unlink(actor_, s.path);
    }
    if (s.action == "rmdir") return RemoveDir(s.path, p.conflict_forced);
    if (s.action == "mkdir") {
      auto mode = DetailNumber<uint32_t>(d, "mode_before");
      return deps_.files->MkDir(actor_, s.path, mode ? *mode & 07777 : 0755, false);
    }
    if (s.action == "chmod") {
      SetAttrRequest r;
      r.valid = SetAttrRequest::kMode;
      r.mode = *DetailNumber<uint32_t>(d, "mode_before") & 07777;
      auto a = deps_.files->SetAttr(actor_, s.path, r);
      return a.ok() ? Status::Ok() : a.status();
    }
    if (s.action == "chown") {
      SetAttrRequest r;
      if (auto uid = DetailNumber<uid_t>(d, "uid_before")) {
        r.valid |= SetAttrRequest::kUid;
        r.uid = *uid;
      }
      if (auto gid = DetailNumber<gid_t>(d, "gid_before")) {
        r.valid |= SetAttrRequest::kGid;
        r.gid = *gid;
      }
      auto a = deps_.files->SetAttr(actor_, s.path, r);
      return a.ok() ? Status::Ok() : a.status();
    }
    const std::string name = DetailString(d, "name");
    if (s.action == "setxattr")
      return deps_.files->SetXattr(actor_, s.path, name, *Base64Decode(d["value_before"].get<std::string>()));
    if (s.action == "removexattr") {
      Status st = deps_.files->RemoveXattr(actor_, s.path, name);
      return st.code() == ENODATA ? Status::Ok() : st;
    }
    return Status::Error(EINVAL, "unknown undo action " + s.action);
  }

 private:
  static bool InsideGit(const std::string& path) {
    return path.find("/.git/") != std::string::npos || path.ends_with("/.git");
  }

  // Removes `path`, a directory the selection made: what the selection made
  // below it is gone by now; what remains must be unlogged (inside a .git
  // folder), or the directory holds someone else's work (a conflict) —
  // unless `everything`.
  Status RemoveDir(const std::string& path, bool everything) {
    NEXUS_ASSIGN_OR_RETURN(PathStat st, deps_.files->Stat(actor_, path, false, false));
    if (!st.attr.IsDir()) return Status::Error(ENOTDIR, path + " is not a directory now");
    if (!everything) {
      std::string kept;
      NEXUS_RETURN_IF_ERROR(FindLogged(path, &kept));
      if (!kept.empty()) return Status::Error(ENOTEMPTY, kept + " remains in it, not made by the selection");
    }
    return RemoveTree(path);
  }

  // The first entry below `dir` that the log would have seen (outside
  // .git folders), or "".
  Status FindLogged(const std::string& dir, std::string* found) {
    NEXUS_ASSIGN_OR_RETURN(std::vector<PathStat> entries, deps_.files->List(actor_, dir, false));
    for (const PathStat& e : entries) {
      const std::string child = (dir == "/" ? "" : dir) + "/" + Base(e.path);
      if (Base(e.path) == ".git" || InsideGit(child)) continue;
      *found = child;
      return Status::Ok();
    }
    return Status::Ok();
  }

  static std::string Base(const std::string& p) {
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }

  Status RemoveTree(const std::string& dir) {
    NEXUS_ASSIGN_OR_RETURN(std::vector<PathStat> entries, deps_.files->List(actor_, dir, false));
    for (const PathStat& e : entries) {
      const std::string child = (dir == "/" ? "" : dir) + "/" + Base(e.path);
      auto st = deps_.files->Stat(actor_, child, false, false);
      if (!st.ok()) {
        if (st.code() == ENOENT) continue;
        return st.status();
      }
      if (st->attr.IsDir()) {
        NEXUS_RETURN_IF_ERROR(RemoveTree(child));
      } else {
        Status u = deps_.files->Unlink(actor_, child);
        if (!u.ok() && u.code() != ENOENT) return u;
      }
    }
    return deps_.files->RmDir(actor_, dir);
  }

  const Undoer::Deps& deps_;
  // The permission bits the log kept under `key`, else those of a file of
  // the version's git mode.
  static mode_t ModeBefore(const nlohmann::json& d, const char* key, uint32_t git_mode) {
    if (auto mode = DetailNumber<uint32_t>(d, key)) return *mode & 07777;
    return git_mode == versions::kModeExecutable ? 0755 : 0644;
  }

  // The caller for its own operations and for what the daemon did on a
  // subject's behalf once a session's rights were checked (a fork's merge,
  // task "fork-merge:..."): those are undone with the undoer's own rights.
  // Else the operation's subject with the uid (and that uid's primary
  // group) it was made with.
  Caller ActorFor(const Operation& op) const {
    if (op.subject == subject_ || !deps_.principals || op.task_id.starts_with("fork-merge:")) return caller_;
    auto who = deps_.principals->ForSubjectMount(op.subject);
    if (!who.ok()) return caller_;
    Caller c = caller_;
    c.principal = *who;
    c.uid = op.uid;
    c.gid = op.uid;
    struct passwd pw, *found = nullptr;
    char buf[4096];
    if (::getpwuid_r(op.uid, &pw, buf, sizeof buf, &found) == 0 && found) c.gid = found->pw_gid;
    return c;
  }

  const Caller& caller_;
  const std::string subject_;
  Caller actor_;
};

}  // namespace

Result<UndoReport> Undoer::Plan(const Caller& caller, const OpFilter& selection, bool force) const {
  if (selection.ids.empty() && selection.agent_id.empty() && selection.task_id.empty() &&
      selection.subject.empty())
    return Status::Error(EINVAL, "undo needs a selection: operation ids, an agent, a task or a subject");
  if (!deps_.log) return Status::Error(ENOTSUP, "the operations log is off");
  Planner planner(deps_, caller, force);
  auto planned = planner.Run(selection);
  if (!planned.ok()) {
    if (deps_.audit && planned.code() == EACCES)
      deps_.audit->Record(AuditRecord{0, planner.Subject(), "undo", DescribeSelection(selection), false,
                                      planned.status().message()});
    return planned.status();
  }
  UndoReport report;
  report.dry_run = true;
  for (Planned& p : planned->steps) report.steps.push_back(std::move(p.step));
  Count(report, planned->hidden);
  return report;
}

Result<UndoReport> Undoer::Apply(const Caller& caller, const OpFilter& selection, bool force,
                                 const std::function<void(uint64_t, uint64_t)>& progress) const {
  if (selection.ids.empty() && selection.agent_id.empty() && selection.task_id.empty() &&
      selection.subject.empty())
    return Status::Error(EINVAL, "undo needs a selection: operation ids, an agent, a task or a subject");
  if (!deps_.log) return Status::Error(ENOTSUP, "the operations log is off");
  if (!deps_.files) return Status::Error(ENOTSUP, "undo has no file access");
  Planner planner(deps_, caller, force);
  const std::string subject = planner.Subject();
  auto planned = planner.Run(selection);
  if (!planned.ok()) {
    if (deps_.audit && planned.code() == EACCES)
      deps_.audit->Record(
          AuditRecord{0, subject, "undo", DescribeSelection(selection), false, planned.status().message()});
    return planned.status();
  }
  // The undo's own changes are logged operations of command "undo".
  ProcessInfo origin;
  origin.command = "undo";
  if (caller.origin) {
    origin.agent_id = caller.origin->agent_id;
    origin.task_id = caller.origin->task_id;
  }
  if (origin.agent_id.empty() && subject.starts_with("agent:")) origin.agent_id = subject.substr(6);
  Caller actor = caller;
  actor.origin = &origin;
  Applier applier(deps_, actor, subject);

  UndoReport report;
  const uint64_t total = planned->steps.size();
  uint64_t done = 0;
  for (Planned& p : planned->steps) {
    UndoStep& s = p.step;
    if (s.status == "planned") {
      Status st = applier.Do(p);
      if (st.ok()) {
        s.status = "done";
      } else if (st.code() == ENOTEMPTY || st.code() == EEXIST) {
        s.status = "conflict";
        s.reason = st.message();
      } else {
        s.status = "failed";
        s.reason = st.message();
      }
    }
    report.steps.push_back(std::move(s));
    ++done;
    if (progress) progress(done, total);
  }
  Count(report, planned->hidden);
  if (deps_.audit) {
    deps_.audit->Record(AuditRecord{
        0, subject, force ? "undo --force" : "undo", DescribeSelection(selection), true,
        "applied " + std::to_string(report.applied) + ", conflicts " + std::to_string(report.conflicts) +
            ", failed " + std::to_string(report.failed) + ", skipped " + std::to_string(report.skipped)});
  }
  spdlog::info("{}: undo {}: applied {}, conflicts {}, failed {}, skipped {}", subject,
               DescribeSelection(selection), report.applied, report.conflicts, report.failed, report.skipped);
  return report;
}

}  // namespace nexus::ops
