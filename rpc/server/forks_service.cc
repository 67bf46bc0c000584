// The Forks service (rpc/nexus.capnp Forks): forks of folders over the
// socket (docs/forks.md "Permissions").
//
// Who may do what:
//   create   read on `from` (the access policy's read on the folder, and
//            POSIX read and search on it as the session); `forSubject` only
//            for an admin or the agent's owner (as `mount add --as`). The
//            owner (forSubject, else the session) and the creator get
//            `owner` on folder:/forks/NAME: editor inside, nothing outside.
//   list     admins every fork; others the forks they may read
//   info     read on /forks/NAME (else ENOENT, as for any path)
//   diff     read on /forks/NAME
//   merge    read on /forks/NAME; MergeFork checks write on each changed
//            path of the base as the session, and applies as the fork's
//            owner (the provenance of the merge's versions and operations)
//   discard  the owner, the creator or an admin
//   gc       admins
//
// Threading: the Impl lives on the event-loop thread. Creating (a copy of
// the workspace may take a while), diffing, merging, discarding and
// collecting run off the loop through Job; their work touches only the
// registry, the ReBAC engine and values it owns.
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "forks/fork_diff.h"
#include "forks/fork_merge.h"
#include "forks/fork_registry.h"
#include "fs/posix_access.h"
#include "perms/principals.h"
#include "perms/rebac.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

std::string ForkPath(const std::string& name) { return "/forks/" + name; }

void FillInfo(rpc::ForkInfo::Builder b, const forks::ForkInfo& f) {
  b.setName(f.name);
  b.setPath(f.path);
  b.setBase(f.base);
  b.setParentFork(f.parent_fork);
  b.setOwner(f.owner);
  b.setCreatedBy(f.created_by);
  b.setCreatedAtNs(f.created_ns);
  b.setPin(f.pin);
  b.setState(f.state);
  b.setOwnBytes(f.own_bytes);
  b.setMerges(f.merges);
  b.setLastMergeNs(f.last_merge_ns);
}

void FillReport(rpc::MergeReport::Builder b, const forks::MergeReport& r) {
  b.setDryRun(r.dry_run);
  b.setApplied(r.applied);
  b.setTaskId(r.task_id);
  auto entries = b.initEntries(r.entries.size());
  for (size_t i = 0; i < r.entries.size(); ++i) {
    entries[i].setPath(r.entries[i].path);
    entries[i].setOldPath(r.entries[i].old_path);
    entries[i].setAction(r.entries[i].action);
    entries[i].setHow(r.entries[i].how);
  }
  auto conflicts = b.initConflicts(r.conflicts.size());
  for (size_t i = 0; i < r.conflicts.size(); ++i) {
    const forks::MergeConflict& c = r.conflicts[i];
    conflicts[i].setPath(c.path);
    conflicts[i].setKind(c.kind);
    conflicts[i].setResolvedBy(c.resolved_by);
    auto hunks = conflicts[i].initHunks(c.hunks.size());
    for (size_t k = 0; k < c.hunks.size(); ++k) {
      const forks::ConflictHunk& h = c.hunks[k];
      hunks[k].setBaseStart(h.base_start);
      hunks[k].setBaseLines(h.base_lines);
      hunks[k].setOursStart(h.ours_start);
      hunks[k].setOursLines(h.ours_lines);
      hunks[k].setTheirsStart(h.theirs_start);
      hunks[k].setTheirsLines(h.theirs_lines);
      hunks[k].setText(h.text);
    }
  }
}

// The diff of a fork as the reply carries it.
struct DiffOut {
  std::vector<forks::DiffFile> files;
  std::string unified;
};

// The owner tuples of a fork: `subjects` own folder:/forks/NAME.
std::vector<Tuple> OwnerTuples(const std::string& name, const std::vector<std::string>& subjects) {
  std::vector<Tuple> out;
  for (const std::string& s : subjects) {
    auto subject = SubjectRef::Parse(s);
    if (!subject.ok()) continue;
    Tuple t;
    t.subject = std::move(subject).value();
    t.relation = Relation::kOwner;
    t.object.type = ObjectType::kFolder;
    t.object.id = ForkPath(name);
    out.push_back(std::move(t));
  }
  return out;
}

// Every tuple on /forks/NAME or below: what a discarded fork leaves behind
// that would otherwise grant on a later fork of the same name.
std::vector<Tuple> TuplesUnder(RebacEngine& engine, const std::string& name) {
  const std::string root = ForkPath(name);
  std::vector<Tuple> out;
  for (ObjectType type : {ObjectType::kFile, ObjectType::kFolder}) {
    TupleFilter f;
    f.object_type = type;
    for (Tuple& t : engine.ListTuples(f)) {
      const std::string& id = t.object.id;
      if (id == root ||
          (id.size() > root.size() && id.compare(0, root.size(), root) == 0 && id[root.size()] == '/'))
        out.push_back(std::move(t));
    }
  }
  return out;
}

class ForksImpl final : public Service<rpc::Forks> {
 public:
  explicit ForksImpl(ConnPtr conn) : Service(std::move(conn)), registry_(ctx().forks.registry) {}

  kj::Promise<void> create(CreateContext context) override {
    return Serve(context, Feature::kForks, [&](auto p, auto) -> Reply {
      std::string name = p.getName();
      NEXUS_ASSIGN_OR_RETURN(NsPath from, NsPath::Parse(std::string(p.getFrom())));
      NEXUS_RETURN_IF_ERROR(MayFork(from.str()));
      std::string owner = conn_->subject();
      if (p.getForSubject().size()) {
        NEXUS_ASSIGN_OR_RETURN(SubjectRef s, PersonSubject(p.getForSubject()));
        NEXUS_RETURN_IF_ERROR(MayCreateFor(s));
        owner = s.ToString();
      }
      forks::ForkRegistry* registry = registry_;
      RebacEngine* engine = ctx().rebac.engine;
      Caller caller = conn_->actor;
      std::string creator = conn_->subject();
      return Job<forks::ForkInfo>(
          context,
          [registry, engine, caller, creator, owner, name, from = from.str()]() -> Result<forks::ForkInfo> {
            NEXUS_ASSIGN_OR_RETURN(forks::ForkInfo info, registry->Create(caller, name, from, owner));
            if (engine) {
              std::vector<std::string> owners = {owner};
              if (creator != owner) owners.push_back(creator);
              // A tuple left by an earlier fork of this name grants nothing
              // now: only the new owners own it.
              auto granted = engine->WriteUnchecked(OwnerTuples(name, owners), TuplesUnder(*engine, name));
              if (!granted.ok()) {
                Status undone = registry->Discard(name);
                if (!undone.ok())
                  spdlog::error("fork {}: could not discard after a failed grant: {}", name,
                                undone.ToString());
                return Status::Error(granted.code(),
                                     "fork " + name + ": granting its owner: " + granted.status().message());
              }
            }
            spdlog::info("{}: forked {} as {} for {} (pin {})", creator, from, info.path, owner, info.pin);
            return info;
          },
          [](auto results, forks::ForkInfo& info) { FillInfo(results.initFork(), info); });
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, Feature::kForks, [&](auto, auto results) -> Reply {
      std::vector<forks::ForkInfo> visible;
      for (forks::ForkInfo& f : registry_->List())
        if (MayRead(f.name).ok()) visible.push_back(std::move(f));
      auto out = results.initForks(visible.size());
      for (size_t i = 0; i < visible.size(); ++i) FillInfo(out[i], visible[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> info(InfoContext context) override {
    return Serve(context, Feature::kForks, [&](auto p, auto results) -> Reply {
      std::string name = p.getName();
      NEXUS_ASSIGN_OR_RETURN(forks::ForkInfo f, registry_->Get(name));
      NEXUS_RETURN_IF_ERROR(MayRead(name));
      FillInfo(results.initFork(), f);
      return Status::Ok();
    });
  }

  kj::Promise<void> diff(DiffContext context) override {
    return Serve(context, Feature::kForks, [&](auto p, auto) -> Reply {
      std::string name = p.getName();
      NEXUS_RETURN_IF_ERROR(registry_->Get(name).status());
      NEXUS_RETURN_IF_ERROR(MayRead(name));
      forks::DiffOptions options;
      options.patch = p.getPatch();
      forks::ForkRegistry* registry = registry_;
      return Job<DiffOut>(
          context,
          [registry, name, options]() -> Result<DiffOut> {
            NEXUS_ASSIGN_OR_RETURN(NativeBackend * tree, registry->Tree(name));
            DiffOut out;
            NEXUS_ASSIGN_OR_RETURN(out.files, forks::DiffFork(*tree, options));
            for (const forks::DiffFile& f : out.files) out.unified += f.patch;
            return out;
          },
          [](auto results, DiffOut& out) {
            auto changes = results.initChanges(out.files.size());
            for (size_t i = 0; i < out.files.size(); ++i) {
              const forks::DiffFile& f = out.files[i];
              changes[i].setPath(f.change.path);
              changes[i].setOldPath(f.change.old_path);
              changes[i].setKind(ForkChangeKindName(f.change.kind));
              changes[i].setMode(f.change.mode);
              changes[i].setOldMode(f.change.old_mode);
              changes[i].setContentChanged(f.change.content_changed);
              changes[i].setBinary(f.binary);
              changes[i].setInsertions(f.insertions);
              changes[i].setDeletions(f.deletions);
            }
            results.setUnifiedDiff(out.unified);
          });
    });
  }

  kj::Promise<void> merge(MergeContext context) override {
    return Serve(context, Feature::kForks, [&](auto p, auto) -> Reply {
      std::string name = p.getName();
      NEXUS_ASSIGN_OR_RETURN(forks::ForkInfo f, registry_->Get(name));
      NEXUS_RETURN_IF_ERROR(MayRead(name));
      forks::MergeOptions options;
      options.dry_run = p.getDryRun();
      std::string strategy = p.getStrategy();
      if (strategy == "ours") {
        options.strategy = forks::MergeOptions::Strategy::kOurs;
      } else if (strategy == "theirs") {
        options.strategy = forks::MergeOptions::Strategy::kTheirs;
      } else if (!strategy.empty()) {
        return Status::Error(EINVAL, "strategy \"" + strategy + "\" must be \"\", \"ours\" or \"theirs\"");
      }
      for (auto g : p.getPaths()) {
        if (g.size() == 0) return Status::Error(EINVAL, "an empty path glob matches nothing");
        options.paths.emplace_back(g.cStr());
      }
      NEXUS_ASSIGN_OR_RETURN(Caller author, AuthorOf(f));
      forks::ForkRegistry* registry = registry_;
      Caller caller = conn_->actor;
      std::string who = conn_->subject();
      return Job<forks::MergeReport>(
          context,
          [registry, caller, author, name, options, who]() -> Result<forks::MergeReport> {
            NEXUS_ASSIGN_OR_RETURN(forks::MergeReport r,
                                   forks::MergeFork(*registry, caller, author, name, options));
            if (r.applied)
              spdlog::info("{}: merged fork {} ({} changes, {} conflicts, task {})", who, name,
                           r.entries.size(), r.conflicts.size(), r.task_id);
            return r;
          },
          [](auto results, forks::MergeReport& r) { FillReport(results.initReport(), r); });
    });
  }

  kj::Promise<void> discard(DiscardContext context) override {
    return Serve(context, Feature::kForks, [&](auto p, auto) -> Reply {
      std::string name = p.getName();
      NEXUS_ASSIGN_OR_RETURN(forks::ForkInfo f, registry_->Get(name));
      NEXUS_RETURN_IF_ERROR(MayRead(name));
      const std::string& me = conn_->subject();
      if (!conn_->admin() && me != f.owner && me != f.created_by)
        return Status::Error(EACCES, "discarding fork " + name + " is for its owner (" + f.owner +
                                         "), its creator or an admin; " + me + " is none of them");
      forks::ForkRegistry* registry = registry_;
      RebacEngine* engine = ctx().rebac.engine;
      auto discarded = ctx().forks.discarded;
      return StatusJob(context, [registry, engine, discarded, name, me]() -> Status {
        NEXUS_RETURN_IF_ERROR(registry->Discard(name));
        if (discarded) discarded(name);
        if (engine) {
          std::vector<Tuple> left = TuplesUnder(*engine, name);
          if (!left.empty()) {
            auto removed = engine->WriteUnchecked({}, std::move(left));
            if (!removed.ok())
              spdlog::warn("fork {}: its tuples stay: {}", name, removed.status().ToString());
          }
        }
        spdlog::info("{}: discarded fork {}", me, name);
        return Status::Ok();
      });
    });
  }

  kj::Promise<void> gc(GcContext context) override {
    return ServeAdmin(context, Feature::kForks, "collecting discarded forks", [&](auto, auto) -> Reply {
      forks::ForkRegistry* registry = registry_;
      return Job<forks::ForkRegistry::GcReport>(
          context, [registry]() { return registry->Gc(); },
          [](auto results, forks::ForkRegistry::GcReport& r) {
            results.setRemoved(r.removed);
            results.setFreedBytes(r.freed_bytes);
          });
    });
  }

 private:
  // Read on folder `from` (the policy's read, not mere visibility) and
  // POSIX read and search on it, as the session.
  Status MayFork(const std::string& from) {
    AccessPolicy* policy = ctx().access;
    const Caller& actor = conn_->actor;
    if (policy && !policy->Unrestricted(actor)) {
      if (!policy->CanSee(actor, from, true)) {
        policy->Denied(actor, "forks.create", from, "not visible");
        return Status::Error(ENOENT, from + ": no such file or directory");
      }
      if (!policy->Can(actor, Need::kRead, from, true)) {
        policy->Denied(actor, "forks.create", from, "lacks read");
        return Status::Error(EACCES, conn_->subject() + " may not read " + from + ", so may not fork it");
      }
    }
    NEXUS_ASSIGN_OR_RETURN(PathStat st, ctx().files->Stat(actor, from, /*follow=*/true, false));
    if (!st.attr.IsDir()) return Status::Error(ENOTDIR, from + " is not a directory");
    if (!CheckAccess(actor, st.attr, kMayRead | kMayExec).ok())
      return Status::Error(EACCES, conn_->subject() + " may not read " + from + ", so may not fork it");
    return Status::Ok();
  }

  // A fork made for another subject: admins for anyone; others for an
  // agent they own (the registry's rule for acting as it).
  Status MayCreateFor(const SubjectRef& s) {
    if (s.ToString() == conn_->subject()) return Status::Ok();
    if (s.type == ObjectType::kAgent) NEXUS_RETURN_IF_ERROR(RegisteredAgent(*conn_, s));
    if (conn_->admin()) return Status::Ok();
    if (s.type == ObjectType::kAgent && ctx().agents.registry) return Status::Ok();
    return Status::Error(EACCES, "only an admin may fork for " + s.ToString() + "; " + conn_->subject() +
                                     " may fork for itself or for agents it owns");
  }

  // Read on /forks/NAME as the session: ENOENT when it may not see it.
  Status MayRead(const std::string& name) {
    AccessPolicy* policy = ctx().access;
    const Caller& actor = conn_->actor;
    if (!policy || policy->Unrestricted(actor)) return Status::Ok();
    const std::string path = ForkPath(name);
    if (!policy->CanSee(actor, path, true) || !policy->Can(actor, Need::kRead, path, true))
      return Status::Error(ENOENT, "no fork named " + name);
    return Status::Ok();
  }

  // Who a merge of `f` writes as: the fork's owner (its subject, with the
  // session's POSIX identity, which MergeFork checked), so the merge's
  // versions and operations name the author of the changes.
  Result<Caller> AuthorOf(const forks::ForkInfo& f) {
    Caller author = conn_->actor;
    if (f.owner.empty() || f.owner == conn_->subject() || !ctx().principals) return author;
    auto principal = ctx().principals->ForSubjectMount(f.owner);
    if (!principal.ok()) return author;  // an owner that is no user or agent: the session
    author.principal = *principal;
    return author;
  }

  forks::ForkRegistry* registry_;
};

}  // namespace

kj::Own<rpc::Forks::Server> MakeForksService(ConnPtr conn) { return kj::heap<ForksImpl>(std::move(conn)); }

}  // namespace nexus
