// The Versions sub-interface of the control socket (rpc/nexus.capnp): file
// history, old contents, diffs, rollback and restore, snapshots and the
// store's maintenance, with the access rules the schema states.
//
// Threading: VersionsImpl lives on the event-loop thread. Cheap queries
// (history, snapshot listing) run there: the store serves them from a pool
// of private handles. Everything that may take long or wait for the store's
// commit lock (get, diff, flush, rollback, restore, stats, gc, export,
// snapshot create/info/entries/restore/delete) runs on a BackgroundJobs
// thread through RunOffLoop. Such a job touches only the store, the
// recorder, PathFiles and plain values it owns (never a capnp object); the
// reply is filled on the loop once the job is done. The Call and the
// connection stay alive until then (InFlight is attached to the promise).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>

#include "base/layout.h"
#include "base/ns_path.h"
#include "fs/versions/provenance.h"
#include "fs/versions/recorder.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"
#include "rpc/bytes.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

using versions::NamespacePath;
using versions::SplitNamespacePath;

// A job's result when it has no value.
struct Done {};

// A namespace path and where the version store keeps it.
struct Target {
  std::string ns;  // normalized namespace path
  std::string zone;
  std::string path;  // relative to the zone
};

Result<Target> ResolveTarget(const std::string& text) {
  auto ns = NsPath::Parse(text);
  if (!ns.ok()) return ns.status();
  if (layout::IsSystemPath(ns->str()))
    return Status::Error(EINVAL, ns->str() + ": the history tree " + std::string(layout::kSystemDir) +
                                     " is not itself versioned");
  versions::ZonePath zp = SplitNamespacePath(ns->str());
  if (zp.path.empty()) return Status::Error(EINVAL, ns->str() + " is a zone's root, not a file");
  return Target{ns->str(), std::move(zp.zone), std::move(zp.path)};
}

void FillVersion(rpc::VersionInfo::Builder b, const versions::Version& v) {
  b.setNumber(v.number);
  b.setPath(NamespacePath(v.zone, v.path));
  b.setContentId(v.blob);
  b.setSize(v.size);
  b.setMode(v.mode);
  b.setTimeNs(v.time_ns);
  b.setSubject(v.provenance.subject);
  b.setUid(v.provenance.uid);
  b.setPid(static_cast<uint32_t>(v.provenance.pid));
  b.setCommand(v.provenance.command);
  b.setAgentId(v.provenance.agent_id);
  b.setTaskId(v.provenance.task_id);
  b.setNote(v.note);
  b.setCommit(v.commit);
}

void FillSnapshot(rpc::SnapshotInfo::Builder b, const versions::SnapshotInfo& s) {
  b.setId(s.id);
  b.setDescription(s.description);
  b.setTimeNs(s.time_ns);
  auto zones = b.initZones(s.zones.size());
  for (size_t i = 0; i < s.zones.size(); ++i) zones.set(i, s.zones[i]);
  b.setCommit(s.commit);
  b.setAutomatic(s.automatic);
}

// "<zone>/<path>" of a snapshot entry as a namespace path.
std::string EntryNamespacePath(const std::string& entry) {
  size_t slash = entry.find('/');
  if (slash == std::string::npos) return NamespacePath(entry, "");
  return NamespacePath(entry.substr(0, slash), entry.substr(slash + 1));
}

// An admin session's file calls for a restore: as root (every mode bit
// passes), still as the session's principal (the versions it causes name it).
Caller RootCaller(const Conn& conn) {
  Caller c;
  c.pid = conn.actor.pid;
  c.umask = 022;
  c.principal = conn.principal;
  return c;
}

// Counts a snapshot restore's steps for the progress reports.
struct RestoreProgress {
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> removed{0};
  uint64_t Done() const { return written.load() + removed.load(); }
};

// Applies a snapshot restore to the namespace through PathFiles as root.
// Writes replace content (creating parents); a write blocked by an existing
// file where a directory must be is cleared first; a write blocked by a
// directory where a file must be waits until the removals emptied it
// (Finish). Removing what is already gone is fine.
class PathTreeWriter final : public versions::TreeWriter {
 public:
  PathTreeWriter(PathFiles& files, Caller actor, RestoreProgress& progress)
      : files_(files), actor_(std::move(actor)), progress_(progress) {}

  Status Write(const std::string& zone, const std::string& path, uint32_t mode,
               std::string_view content) override {
    const std::string ns = NamespacePath(zone, path);
    Status st = WriteFile(ns, mode, content);
    if (st.code() == ENOTDIR && ClearFileAncestor(zone, ns)) st = WriteFile(ns, mode, content);
    if (st.code() == EISDIR) {
      deferred_.push_back({zone, ns, mode, std::string(content)});
      return Status::Ok();
    }
    if (st.ok()) ++progress_.written;
    return st;
  }

  Status Remove(const std::string& zone, const std::string& path) override {
    const std::string ns = NamespacePath(zone, path);
    Status st = files_.Unlink(actor_, ns);
    if (!st.ok() && st.code() != ENOENT) return st;
    emptied_.insert({zone, std::string(PathParent(ns))});
    ++progress_.removed;
    return Status::Ok();
  }

  // After the store applied every change: removes directories the removals
  // left empty (up to, not including, the zone's root), then the deferred
  // writes.
  Status Finish() {
    // Deepest first, so a parent sees its emptied children gone.
    std::vector<std::pair<std::string, std::string>> dirs(emptied_.begin(), emptied_.end());
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) {
      return std::count(a.second.begin(), a.second.end(), '/') >
             std::count(b.second.begin(), b.second.end(), '/');
    });
    for (const auto& [zone, start] : dirs) {
      const std::string root = NamespacePath(zone, "");
      for (std::string d = start; d.size() > root.size() && d.rfind(root, 0) == 0;
           d = std::string(PathParent(d)))
        if (!files_.RmDir(actor_, d).ok()) break;  // not empty (or gone): stop here
    }
    for (const Deferred& w : deferred_) {
      NEXUS_RETURN_IF_ERROR(WriteFile(w.ns, w.mode, w.content));
      ++progress_.written;
    }
    return Status::Ok();
  }

 private:
  struct Deferred {
    std::string zone, ns;
    uint32_t mode;
    std::string content;
  };

  Status WriteFile(const std::string& ns, uint32_t mode, std::string_view content) {
    WriteOptions o;
    o.truncate = true;
    o.create_parents = true;
    o.mode = mode == versions::kModeExecutable ? 0755 : 0644;
    return files_.Write(actor_, ns, content, o).status();
  }

  // Unlinks the first ancestor of `ns` (below the zone root) that is not a
  // directory. True when one was removed.
  bool ClearFileAncestor(const std::string& zone, const std::string& ns) {
    const std::string root = NamespacePath(zone, "");
    std::vector<std::string> chain;
    for (std::string d = std::string(PathParent(ns)); d.size() > root.size(); d = std::string(PathParent(d)))
      chain.push_back(d);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      auto st = files_.Stat(actor_, *it, false, false);
      if (!st.ok()) return false;
      if (!st->attr.IsDir()) return files_.Unlink(actor_, *it).ok();
    }
    return false;
  }

  PathFiles& files_;
  Caller actor_;
  RestoreProgress& progress_;
  std::set<std::pair<std::string, std::string>> emptied_;  // (zone, directory)
  std::vector<Deferred> deferred_;
};

class VersionsImpl final : public Service<rpc::Versions> {
 public:
  explicit VersionsImpl(ConnPtr conn)
      : Service(std::move(conn)),
        ctx_(*conn_->ctx),
        deps_(ctx_.versions),
        files_(*ctx_.files),
        store_(deps_.store) {}

  kj::Promise<void> history(HistoryContext context) override {
    auto results = context.getResults();
    auto t = Readable(results, context.getParams().getPath());
    if (!t) return kj::READY_NOW;
    auto h = store_->History(t->zone, t->path);
    if (Fail(results, h.status())) return kj::READY_NOW;
    results.setPath(NamespacePath(h->zone, h->path));
    results.setDeleted(h->deleted);
    auto out = results.initVersions(h->versions.size());
    for (size_t i = 0; i < h->versions.size(); ++i) FillVersion(out[i], h->versions[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> get(GetContext context) override {
    auto p = context.getParams();
    auto results = context.getResults();
    auto t = Readable(results, p.getPath());
    if (!t || BadVersion(results, p.getVersion())) return kj::READY_NOW;
    struct Piece {
      versions::Version version;
      std::string data;
    };
    const uint64_t max = ctx_.limits.max_read_bytes;
    const uint64_t length = p.getLength() ? std::min<uint64_t>(p.getLength(), max) : max;
    const uint64_t offset = p.getOffset();
    const uint32_t n = p.getVersion();
    versions::VersionStore* store = store_;
    // Off the loop: the first read of a large blob loads it whole.
    return Job<Piece>(
        context,
        [store, t = *t, n, offset, length]() -> Result<Piece> {
          auto v = store->GetVersion(t.zone, t.path, n);
          if (!v.ok()) return v.status();
          Piece piece{std::move(v).value(), {}};
          if (offset < piece.version.size && length > 0) {
            auto r = store->ReadBlob(piece.version.blob, offset, length);
            if (!r.ok()) return r.status();
            piece.data = std::move(r).value();
          }
          return piece;
        },
        [](auto results, Piece& piece) {
          FillVersion(results.initInfo(), piece.version);
          results.setData(AsBytes(piece.data));
        });
  }

  kj::Promise<void> diff(DiffContext context) override {
    auto p = context.getParams();
    auto results = context.getResults();
    auto t = Readable(results, p.getPath());
    if (!t || BadVersion(results, p.getV1()) || BadVersion(results, p.getV2())) return kj::READY_NOW;
    const uint32_t a = p.getV1(), b = p.getV2();
    const versions::DiffMode mode =
        p.getMetadata() ? versions::DiffMode::kMetadata : versions::DiffMode::kContent;
    versions::VersionStore* store = store_;
    // Off the loop: diffing large versions takes a while.
    return Job<std::string>(
        context,
        [store, t = *t, a, b, mode]() -> Result<std::string> {
          auto d = store->Diff(t.zone, t.path, a, b, mode);
          if (!d.ok()) return d.status();
          return d;
        },
        [](auto results, std::string& d) { results.setDiff(d); });
  }

  kj::Promise<void> rollback(RollbackContext context) override {
    auto p = context.getParams();
    auto results = context.getResults();
    auto t = Readable(results, p.getPath());
    if (!t || BadVersion(results, p.getVersion())) return kj::READY_NOW;
    if (!conn_->admin() && Fail(results, MayWrite(*t))) return kj::READY_NOW;
    const uint32_t n = p.getVersion();
    return WriteBackJob(
        context, *t, false,
        [n](versions::VersionStore& s, const Target& t, const versions::Provenance& who) {
          return s.Rollback(t.zone, t.path, n, who);
        },
        [](auto results, const versions::Version& v, bool recorded) {
          FillVersion(results.initVersion(), v);
          results.setRecorded(recorded);
        });
  }

  kj::Promise<void> restore(RestoreContext context) override {
    auto results = context.getResults();
    auto t = Readable(results, context.getParams().getPath());
    if (!t) return kj::READY_NOW;
    if (!conn_->admin() && Fail(results, MayWrite(*t))) return kj::READY_NOW;
    return WriteBackJob(
        context, *t, true,
        [](versions::VersionStore& s, const Target& t, const versions::Provenance& who) {
          return s.Restore(t.zone, t.path, who);
        },
        [](auto results, const versions::Version& v, bool) { FillVersion(results.initVersion(), v); });
  }

  kj::Promise<void> stats(StatsContext context) override {
    if (Unavailable(context.getResults(), Feature::kVersions)) return kj::READY_NOW;
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    return Job<std::pair<versions::StoreStats, uint64_t>>(
        context,
        [store, recorder]() -> Result<std::pair<versions::StoreStats, uint64_t>> {
          auto s = store->Stats();
          if (!s.ok()) return s.status();
          return std::make_pair(*s, recorder ? static_cast<uint64_t>(recorder->Pending()) : 0);
        },
        [](auto results, std::pair<versions::StoreStats, uint64_t>& r) {
          auto b = results.initStats();
          const versions::StoreStats& s = r.first;
          b.setObjects(s.objects);
          b.setDiskBytes(s.disk_bytes);
          b.setLogicalBytes(s.logical_bytes);
          b.setUniqueBytes(s.unique_bytes);
          b.setDedupRatio(s.dedup_ratio);
          b.setFiles(s.files);
          b.setVersions(s.versions);
          b.setPending(r.second);
        });
  }

  kj::Promise<void> gc(GcContext context) override {
    auto p = context.getParams();
    auto results = context.getResults();
    if (Unavailable(results, Feature::kVersions) || AdminOnly(results, "versions gc")) return kj::READY_NOW;
    versions::GcPolicy policy;
    if (p.getExplicitPolicy()) {
      policy.keep_versions = p.getKeepVersions();
      policy.keep_days = p.getKeepDays();
      if (policy.keep_versions == 0) {
        return ReplyNow(
            results,
            Status::Error(EINVAL,
                          "keep-versions must be at least 1 (a file's latest version is always kept)"));
      }
    } else {
      policy.keep_versions = p.getKeepVersions() ? p.getKeepVersions() : deps_.gc_keep_versions;
      policy.keep_days = p.getKeepDays() ? p.getKeepDays() : deps_.gc_keep_days;
    }
    spdlog::info("{}: versions gc (keep {} versions, {} days)", conn_->subject(), policy.keep_versions,
                 policy.keep_days);
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    return Job<versions::GcResult>(
        context,
        [store, recorder, policy]() -> Result<versions::GcResult> {
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          return store->Gc(policy);
        },
        [](auto results, versions::GcResult& r) {
          auto b = results.initReport();
          b.setVersionsDropped(r.versions_dropped);
          b.setCommitsRewritten(r.commits_rewritten);
          b.setObjectsRemoved(r.objects_removed);
          b.setBytesRemoved(r.bytes_removed);
        });
  }

  kj::Promise<void> export_(ExportContext context) override {
    auto results = context.getResults();
    if (Unavailable(results, Feature::kVersions) || AdminOnly(results, "versions export"))
      return kj::READY_NOW;
    std::string text = context.getParams().getDest();
    if (text.empty() || text[0] != '/') {
      return ReplyNow(results, Status::Error(EINVAL, "export destination '" + text +
                                                         "' must be an absolute path on the daemon's host"));
    }
    auto dest_path = NsPath::Parse(text);
    if (Fail(results, dest_path.status())) return kj::READY_NOW;
    const std::string* dest = &dest_path->str();
    const std::string& mnt = ctx_.info ? ctx_.info->mountpoint : std::string();
    if (!mnt.empty() && (PathIsUnder(*dest, mnt) || PathIsUnder(mnt, *dest))) {
      Fail(results, Status::Error(EINVAL, "export destination " + *dest + " overlaps the mount " + mnt +
                                              "; choose a directory outside it"));
      return kj::READY_NOW;
    }
    spdlog::info("{}: versions export to {}", conn_->subject(), *dest);
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    return Job<Done>(
        context,
        [store, recorder, dest = *dest]() -> Result<Done> {
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          NEXUS_RETURN_IF_ERROR(store->Export(dest));
          return Done{};
        },
        [](auto, Done&) {});
  }

  kj::Promise<void> createSnapshot(CreateSnapshotContext context) override {
    auto p = context.getParams();
    if (Unavailable(context.getResults(), Feature::kVersions)) return kj::READY_NOW;
    std::vector<std::string> zones;
    for (auto z : p.getZones()) zones.emplace_back(z);
    std::string description = p.getDescription();
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    return Job<versions::SnapshotInfo>(
        context,
        [store, recorder, zones, description]() -> Result<versions::SnapshotInfo> {
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          auto id = store->CreateSnapshot(zones, description);
          if (!id.ok()) return id.status();
          return store->GetSnapshot(*id);
        },
        [](auto results, versions::SnapshotInfo& s) { FillSnapshot(results.initSnapshot(), s); });
  }

  kj::Promise<void> listSnapshots(ListSnapshotsContext context) override {
    auto results = context.getResults();
    if (Unavailable(results, Feature::kVersions)) return kj::READY_NOW;
    auto list = store_->ListSnapshots();
    if (Fail(results, list.status())) return kj::READY_NOW;
    auto out = results.initSnapshots(list->size());
    for (size_t i = 0; i < list->size(); ++i) FillSnapshot(out[i], (*list)[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> snapshotInfo(SnapshotInfoContext context) override {
    if (Unavailable(context.getResults(), Feature::kVersions)) return kj::READY_NOW;
    struct Info {
      versions::SnapshotInfo snapshot;
      uint64_t files = 0, bytes = 0;
    };
    versions::VersionStore* store = store_;
    std::string id = context.getParams().getId();
    return Job<Info>(
        context,
        [store, id]() -> Result<Info> {
          Info info;
          auto s = store->GetSnapshot(id);
          if (!s.ok()) return s.status();
          info.snapshot = std::move(s).value();
          auto entries = store->SnapshotEntries(id);
          if (!entries.ok()) return entries.status();
          for (const versions::EntryInfo& e : *entries) {
            if (e.IsDir()) continue;
            ++info.files;
            info.bytes += e.size;
          }
          return info;
        },
        [](auto results, Info& info) {
          FillSnapshot(results.initSnapshot(), info.snapshot);
          results.setFiles(info.files);
          results.setBytes(info.bytes);
        });
  }

  kj::Promise<void> snapshotEntries(SnapshotEntriesContext context) override {
    if (Unavailable(context.getResults(), Feature::kVersions)) return kj::READY_NOW;
    versions::VersionStore* store = store_;
    std::string id = context.getParams().getId();
    return Job<std::vector<versions::EntryInfo>>(
        context, [store, id]() { return store->SnapshotEntries(id); },
        [](auto results, std::vector<versions::EntryInfo>& entries) {
          size_t files = 0;
          for (const auto& e : entries) files += e.IsDir() ? 0 : 1;
          auto out = results.initEntries(files);
          size_t i = 0;
          for (const auto& e : entries) {
            if (e.IsDir()) continue;
            out[i].setPath(EntryNamespacePath(e.path));
            out[i].setContentId(e.oid);
            out[i].setMode(e.mode);
            out[i].setSize(e.size);
            ++i;
          }
        });
  }

  kj::Promise<void> restoreSnapshot(RestoreSnapshotContext context) override {
    auto p = context.getParams();
    auto results = context.getResults();
    if (Unavailable(results, Feature::kVersions) || AdminOnly(results, "snapshot restore"))
      return kj::READY_NOW;
    std::string id = p.getId();
    spdlog::info("{}: restoring snapshot {}", conn_->subject(), id);
    auto progress = std::make_shared<RestoreProgress>();
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    PathFiles* files = &files_;
    Caller actor = RootCaller(*conn_);
    auto job = Job<std::string>(
        context,
        [store, recorder, files, actor, id, progress]() -> Result<std::string> {
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          PathTreeWriter writer(*files, actor, *progress);
          auto r = store->RestoreSnapshot(id, writer);
          if (!r.ok()) return r.status();
          Status st = writer.Finish();
          if (!st.ok())
            return Status::Error(st.code(), st.message() + " (undo with snapshot " + r->undo_snapshot + ")");
          return r->undo_snapshot;
        },
        [progress](auto results, std::string& undo) {
          results.setUndoSnapshot(undo);
          results.setWritten(progress->written.load());
          results.setRemoved(progress->removed.load());
        });
    if (!p.hasProgress() || !ctx_.timer) return job;
    rpc::Progress::Client client = p.getProgress();
    ProgressFn read = [progress] { return std::make_pair(progress->Done(), uint64_t{0}); };
    return job.exclusiveJoin(PumpProgress(*ctx_.timer, client, read, "files written or removed"))
        .then([client, progress]() mutable {
          // The final count, before the reply (calls are delivered in order).
          auto req = client.updateRequest();
          req.setDone(progress->Done());
          req.setTotal(progress->Done());
          req.setWhat("files written or removed");
          req.send().detach([](kj::Exception&&) {});
        });
  }

  kj::Promise<void> deleteSnapshot(DeleteSnapshotContext context) override {
    auto results = context.getResults();
    if (Unavailable(results, Feature::kVersions) || AdminOnly(results, "snapshot delete"))
      return kj::READY_NOW;
    std::string id = context.getParams().getId();
    std::string subject = conn_->subject();
    versions::VersionStore* store = store_;
    return Job<Done>(
        context,
        [store, id, subject]() -> Result<Done> {
          NEXUS_RETURN_IF_ERROR(store->DeleteSnapshot(id));
          spdlog::info("{}: deleted snapshot {}", subject, id);
          return Done{};
        },
        [](auto, Done&) {});
  }

  kj::Promise<void> flush(FlushContext context) override {
    if (Unavailable(context.getResults(), Feature::kVersions)) return kj::READY_NOW;
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    return Job<Done>(
        context,
        [store, recorder]() -> Result<Done> {
          NEXUS_RETURN_IF_ERROR(recorder ? recorder->Flush() : store->Flush());
          return Done{};
        },
        [](auto, Done&) {});
  }

 private:
  template <typename Results>
  bool BadVersion(Results results, uint32_t n) {
    if (n > 0) return false;
    return Fail(results, Status::Error(EINVAL, "version numbers start at 1"));
  }

  // The target of a history-reading call, after the availability, path and
  // access checks; nullopt (with the error filled) when one failed.
  template <typename Results>
  std::optional<Target> Readable(Results results, const std::string& text) {
    if (Unavailable(results, Feature::kVersions)) return std::nullopt;
    auto t = ResolveTarget(text);
    if (Fail(results, t.status())) return std::nullopt;
    if (!conn_->admin() && Fail(results, MayRead(*t))) return std::nullopt;
    return std::move(t).value();
  }

  // The nearest existing ancestor directory of `ns` (which is missing), or
  // the error that stopped the walk.
  Result<PathStat> NearestDir(const std::string& ns) {
    for (std::string d = std::string(PathParent(ns));; d = std::string(PathParent(d))) {
      auto st = files_.Stat(conn_->actor, d, true, false);
      if (st.ok()) {
        if (!st->attr.IsDir()) return Status::Error(ENOTDIR, d + " is not a directory");
        return st;
      }
      if (st.code() != ENOENT || d == "/") return st.status();
    }
  }

  // Non-admins see the history of what they may read now; of a deleted file
  // when they may list and search its nearest existing directory.
  Status MayRead(const Target& t) {
    NEXUS_RETURN_IF_ERROR(PolicyAllows(*conn_, Need::kRead, t.ns, false));
    auto st = files_.Stat(conn_->actor, t.ns, true, false);
    if (st.ok()) {
      if (CheckAccess(conn_->actor, st->attr, kMayRead).ok()) return Status::Ok();
      return Status::Error(EACCES, conn_->subject() + " may not read " + t.ns);
    }
    if (st.code() != ENOENT) return st.status();
    auto dir = NearestDir(t.ns);
    if (!dir.ok()) return dir.status();
    if (CheckAccess(conn_->actor, dir->attr, kMayRead | kMayExec).ok()) return Status::Ok();
    return Status::Error(EACCES,
                         conn_->subject() + " may not read " + dir->path + ", so not the history of " + t.ns);
  }

  // Checked before the store records anything, so a denied write back
  // leaves no version behind: the file must be writable, or a missing one
  // creatable in its nearest existing directory.
  Status MayWrite(const Target& t) {
    NEXUS_RETURN_IF_ERROR(PolicyAllows(*conn_, Need::kWrite, t.ns, false));
    auto st = files_.Stat(conn_->actor, t.ns, true, false);
    if (st.ok()) {
      if (!st->attr.IsReg()) return Status::Error(EISDIR, t.ns + " is not a regular file");
      if (CheckAccess(conn_->actor, st->attr, kMayWrite).ok()) return Status::Ok();
      return Status::Error(EACCES, conn_->subject() + " may not write " + t.ns);
    }
    if (st.code() != ENOENT) return st.status();
    auto dir = NearestDir(t.ns);
    if (!dir.ok()) return dir.status();
    if (CheckAccess(conn_->actor, dir->attr, kMayWrite | kMayExec).ok()) return Status::Ok();
    return Status::Error(EACCES, conn_->subject() + " may not create files in " + dir->path);
  }

  // Who rollback/restore name as the author: the session, with the
  // command and agent/task ids of the local process calling.
  versions::Provenance Who() const {
    Caller caller = conn_->actor;
    caller.pid = conn_->peer.pid;
    versions::Provenance who = conn_->peer.has_credentials && caller.pid > 0
                                   ? versions::ReadProcessProvenance(caller)
                                   : versions::MakeProvenance(caller, ProcessInfo{});
    if (who.command.empty()) who.command = conn_->peer.transport == "tcp" ? "nexus-remote" : "nexus";
    return who;
  }

  // Rollback and restore: flush the recorder, let the store record the
  // content, write it back through PathFiles, reply with the version.
  template <typename Context, typename StoreCall, typename Fill>
  kj::Promise<void> WriteBackJob(Context context, Target t, bool create_parents, StoreCall store_call,
                                 Fill fill) {
    struct Out {
      versions::Version version;
      bool recorded = false;
    };
    versions::VersionStore* store = store_;
    versions::Recorder* recorder = deps_.recorder;
    PathFiles* files = &files_;
    Caller actor = conn_->admin() ? RootCaller(*conn_) : conn_->actor;
    versions::Provenance who = Who();
    return Job<Out>(
        context,
        [=]() -> Result<Out> {
          if (recorder) NEXUS_RETURN_IF_ERROR(recorder->Flush());
          auto wb = store_call(*store, t, who);
          if (!wb.ok()) return wb.status();
          WriteOptions o;
          o.truncate = true;
          o.create_parents = create_parents;
          o.mode = wb->mode == versions::kModeExecutable ? 0755 : 0644;
          auto written = files->Write(actor, t.ns, wb->content, o);
          if (!written.ok())
            return Status::Error(written.code(),
                                 "recorded v" + std::to_string(wb->version) + " of " + t.ns +
                                     " but could not write it: " + written.status().message());
          auto v = store->GetVersion(t.zone, t.path, wb->version);
          if (!v.ok()) return v.status();
          return Out{std::move(v).value(), wb->recorded};
        },
        [fill](auto results, Out& out) mutable { fill(results, out.version, out.recorded); });
  }

  ServiceContext& ctx_;
  const VersionsDeps& deps_;
  PathFiles& files_;
  versions::VersionStore* store_;
};

}  // namespace

kj::Own<rpc::Versions::Server> MakeVersionsService(ConnPtr conn) {
  return kj::heap<VersionsImpl>(std::move(conn));
}

std::vector<std::string> VersionsMethodNames() {
  return {"versions.history",
          "versions.get",
          "versions.diff",
          "versions.rollback",
          "versions.restore",
          "versions.stats",
          "versions.gc",
          "versions.export",
          "versions.createSnapshot",
          "versions.listSnapshots",
          "versions.snapshotInfo",
          "versions.snapshotEntries",
          "versions.restoreSnapshot",
          "versions.deleteSnapshot",
          "versions.flush"};
}

}  // namespace nexus
