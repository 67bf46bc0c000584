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
#include <set>
#include <string_view>

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

// Commits what the recorder captured so far, so the store holds every
// change made before the call; OK when nothing records.
Status FlushRecorder(versions::Recorder* recorder) { return recorder ? recorder->Flush() : Status::Ok(); }

// Version numbers start at 1.
Status CheckVersion(uint32_t n) {
  if (n > 0) return Status::Ok();
  return Status::Error(EINVAL, "version numbers start at 1");
}

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
  c.origin = conn.actor.origin;
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
  explicit VersionsImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> history(HistoryContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(Target t, Readable(p.getPath()));
      NEXUS_ASSIGN_OR_RETURN(versions::FileHistory h, deps().store->History(t.zone, t.path));
      results.setPath(NamespacePath(h.zone, h.path));
      results.setDeleted(h.deleted);
      auto out = results.initVersions(h.versions.size());
      for (size_t i = 0; i < h.versions.size(); ++i) FillVersion(out[i], h.versions[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> get(GetContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(Target t, Readable(p.getPath()));
      NEXUS_RETURN_IF_ERROR(CheckVersion(p.getVersion()));
      struct Piece {
        versions::Version version;
        std::string data;
      };
      const uint64_t max = ctx().limits.max_read_bytes;
      const uint64_t length = p.getLength() ? std::min<uint64_t>(p.getLength(), max) : max;
      const uint64_t offset = p.getOffset();
      const uint32_t n = p.getVersion();
      versions::VersionStore* store = deps().store;
      // Off the loop: the first read of a large blob loads it whole.
      return Job<Piece>(
          context,
          [store, t, n, offset, length]() -> Result<Piece> {
            NEXUS_ASSIGN_OR_RETURN(versions::Version v, store->GetVersion(t.zone, t.path, n));
            Piece piece{std::move(v), {}};
            if (offset < piece.version.size && length > 0) {
              NEXUS_ASSIGN_OR_RETURN(piece.data, store->ReadBlob(piece.version.blob, offset, length));
            }
            return piece;
          },
          [](auto results, Piece& piece) {
            FillVersion(results.initInfo(), piece.version);
            results.setData(AsBytes(piece.data));
          });
    });
  }

  kj::Promise<void> diff(DiffContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(Target t, Readable(p.getPath()));
      NEXUS_RETURN_IF_ERROR(CheckVersion(p.getV1()));
      NEXUS_RETURN_IF_ERROR(CheckVersion(p.getV2()));
      const uint32_t a = p.getV1(), b = p.getV2();
      const versions::DiffMode mode =
          p.getMetadata() ? versions::DiffMode::kMetadata : versions::DiffMode::kContent;
      versions::VersionStore* store = deps().store;
      // Off the loop: diffing large versions takes a while.
      return Job<std::string>(
          context, [store, t, a, b, mode]() { return store->Diff(t.zone, t.path, a, b, mode); },
          [](auto results, std::string& d) { results.setDiff(d); });
    });
  }

  kj::Promise<void> rollback(RollbackContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(Target t, Readable(p.getPath()));
      NEXUS_RETURN_IF_ERROR(CheckVersion(p.getVersion()));
      NEXUS_RETURN_IF_ERROR(MayWrite(t));
      const uint32_t n = p.getVersion();
      return WriteBackJob(
          context, t, false,
          [n](versions::VersionStore& s, const Target& t, const versions::Provenance& who) {
            return s.Rollback(t.zone, t.path, n, who);
          },
          [](auto results, const versions::Version& v, bool recorded) {
            FillVersion(results.initVersion(), v);
            results.setRecorded(recorded);
          });
    });
  }

  kj::Promise<void> restore(RestoreContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(Target t, Readable(p.getPath()));
      NEXUS_RETURN_IF_ERROR(MayWrite(t));
      return WriteBackJob(
          context, t, true,
          [](versions::VersionStore& s, const Target& t, const versions::Provenance& who) {
            return s.Restore(t.zone, t.path, who);
          },
          [](auto results, const versions::Version& v, bool) { FillVersion(results.initVersion(), v); });
    });
  }

  kj::Promise<void> stats(StatsContext context) override {
    return Serve(context, Feature::kVersions, [&](auto, auto) -> Reply {
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      return Job<std::pair<versions::StoreStats, uint64_t>>(
          context,
          [store, recorder]() -> Result<std::pair<versions::StoreStats, uint64_t>> {
            NEXUS_ASSIGN_OR_RETURN(versions::StoreStats s, store->Stats());
            return std::make_pair(s, recorder ? static_cast<uint64_t>(recorder->Pending()) : 0);
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
    });
  }

  kj::Promise<void> gc(GcContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("versions gc"));
      versions::GcPolicy policy;
      if (p.getExplicitPolicy()) {
        policy.keep_versions = p.getKeepVersions();
        policy.keep_days = p.getKeepDays();
        if (policy.keep_versions == 0)
          return Status::Error(EINVAL,
                               "keep-versions must be at least 1 (a file's latest version is always kept)");
      } else {
        policy.keep_versions = p.getKeepVersions() ? p.getKeepVersions() : deps().gc_keep_versions;
        policy.keep_days = p.getKeepDays() ? p.getKeepDays() : deps().gc_keep_days;
      }
      spdlog::info("{}: versions gc (keep {} versions, {} days)", conn_->subject(), policy.keep_versions,
                   policy.keep_days);
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      return Job<versions::GcResult>(
          context,
          [store, recorder, policy]() -> Result<versions::GcResult> {
            NEXUS_RETURN_IF_ERROR(FlushRecorder(recorder));
            return store->Gc(policy);
          },
          [](auto results, versions::GcResult& r) {
            auto b = results.initReport();
            b.setVersionsDropped(r.versions_dropped);
            b.setCommitsRewritten(r.commits_rewritten);
            b.setObjectsRemoved(r.objects_removed);
            b.setBytesRemoved(r.bytes_removed);
          });
    });
  }

  kj::Promise<void> export_(ExportContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("versions export"));
      std::string text = p.getDest();
      if (text.empty() || text[0] != '/')
        return Status::Error(
            EINVAL, "export destination '" + text + "' must be an absolute path on the daemon's host");
      NEXUS_ASSIGN_OR_RETURN(NsPath dest_path, NsPath::Parse(text));
      const std::string& dest = dest_path.str();
      const std::string& mnt = ctx().info ? ctx().info->mountpoint : std::string();
      if (!mnt.empty() && (PathIsUnder(dest, mnt) || PathIsUnder(mnt, dest)))
        return Status::Error(EINVAL, "export destination " + dest + " overlaps the mount " + mnt +
                                         "; choose a directory outside it");
      spdlog::info("{}: versions export to {}", conn_->subject(), dest);
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      return StatusJob(context, [store, recorder, dest]() -> Status {
        NEXUS_RETURN_IF_ERROR(FlushRecorder(recorder));
        return store->Export(dest);
      });
    });
  }

  kj::Promise<void> createSnapshot(CreateSnapshotContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      std::vector<std::string> zones;
      for (auto z : p.getZones()) zones.emplace_back(z);
      std::string description = p.getDescription();
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      return Job<versions::SnapshotInfo>(
          context,
          [store, recorder, zones, description]() -> Result<versions::SnapshotInfo> {
            NEXUS_RETURN_IF_ERROR(FlushRecorder(recorder));
            NEXUS_ASSIGN_OR_RETURN(std::string id, store->CreateSnapshot(zones, description));
            return store->GetSnapshot(id);
          },
          [](auto results, versions::SnapshotInfo& s) { FillSnapshot(results.initSnapshot(), s); });
    });
  }

  kj::Promise<void> listSnapshots(ListSnapshotsContext context) override {
    return Serve(context, Feature::kVersions, [&](auto, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(std::vector<versions::SnapshotInfo> list, deps().store->ListSnapshots());
      auto out = results.initSnapshots(list.size());
      for (size_t i = 0; i < list.size(); ++i) FillSnapshot(out[i], list[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> snapshotInfo(SnapshotInfoContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      struct Info {
        versions::SnapshotInfo snapshot;
        uint64_t files = 0, bytes = 0;
      };
      versions::VersionStore* store = deps().store;
      std::string id = p.getId();
      return Job<Info>(
          context,
          [store, id]() -> Result<Info> {
            Info info;
            NEXUS_ASSIGN_OR_RETURN(info.snapshot, store->GetSnapshot(id));
            NEXUS_ASSIGN_OR_RETURN(std::vector<versions::EntryInfo> entries, store->SnapshotEntries(id));
            for (const versions::EntryInfo& e : entries) {
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
    });
  }

  kj::Promise<void> snapshotEntries(SnapshotEntriesContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      versions::VersionStore* store = deps().store;
      std::string id = p.getId();
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
    });
  }

  kj::Promise<void> restoreSnapshot(RestoreSnapshotContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("snapshot restore"));
      std::string id = p.getId();
      spdlog::info("{}: restoring snapshot {}", conn_->subject(), id);
      auto progress = std::make_shared<RestoreProgress>();
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      PathFiles* files = ctx().files;
      Caller actor = RootCaller(*conn_);
      std::shared_ptr<const ProcessInfo> origin = conn_->origin;  // keeps actor.origin valid
      auto job = Job<std::string>(
          context,
          [store, recorder, files, actor, origin, id, progress]() -> Result<std::string> {
            NEXUS_RETURN_IF_ERROR(FlushRecorder(recorder));
            PathTreeWriter writer(*files, actor, *progress);
            NEXUS_ASSIGN_OR_RETURN(auto r, store->RestoreSnapshot(id, writer));
            Status st = writer.Finish();
            if (!st.ok())
              return Status::Error(st.code(), st.message() + " (undo with snapshot " + r.undo_snapshot + ")");
            return r.undo_snapshot;
          },
          [progress](auto results, std::string& undo) {
            results.setUndoSnapshot(undo);
            results.setWritten(progress->written.load());
            results.setRemoved(progress->removed.load());
          });
      if (!p.hasProgress() || !ctx().timer) return job;
      rpc::Progress::Client client = p.getProgress();
      ProgressFn read = [progress] { return std::make_pair(progress->Done(), uint64_t{0}); };
      return job.exclusiveJoin(PumpProgress(*ctx().timer, client, read, "files written or removed"))
          .then([client, progress]() mutable {
            // The final count, before the reply (calls are delivered in order).
            auto req = client.updateRequest();
            req.setDone(progress->Done());
            req.setTotal(progress->Done());
            req.setWhat("files written or removed");
            req.send().detach([](kj::Exception&&) {});
          });
    });
  }

  kj::Promise<void> deleteSnapshot(DeleteSnapshotContext context) override {
    return Serve(context, Feature::kVersions, [&](auto p, auto) -> Reply {
      NEXUS_RETURN_IF_ERROR(RequireAdmin("snapshot delete"));
      std::string id = p.getId();
      std::string subject = conn_->subject();
      versions::VersionStore* store = deps().store;
      return StatusJob(context, [store, id, subject]() -> Status {
        NEXUS_RETURN_IF_ERROR(store->DeleteSnapshot(id));
        spdlog::info("{}: deleted snapshot {}", subject, id);
        return Status::Ok();
      });
    });
  }

  kj::Promise<void> flush(FlushContext context) override {
    return Serve(context, Feature::kVersions, [&](auto, auto) -> Reply {
      versions::VersionStore* store = deps().store;
      versions::Recorder* recorder = deps().recorder;
      return StatusJob(context,
                       [store, recorder]() { return recorder ? recorder->Flush() : store->Flush(); });
    });
  }

 private:
  const VersionsDeps& deps() const { return ctx().versions; }

  // The target of a history-reading call, after the path and access checks
  // (Serve has checked that versioning is on).
  Result<Target> Readable(const std::string& text) {
    NEXUS_ASSIGN_OR_RETURN(Target t, ResolveTarget(text));
    NEXUS_RETURN_IF_ERROR(MayRead(t));
    return t;
  }

  // The nearest existing ancestor directory of `ns` (which is missing), or
  // the error that stopped the walk.
  Result<PathStat> NearestDir(const std::string& ns) {
    for (std::string d = std::string(PathParent(ns));; d = std::string(PathParent(d))) {
      auto st = ctx().files->Stat(conn_->actor, d, true, false);
      if (st.ok()) {
        if (!st->attr.IsDir()) return Status::Error(ENOTDIR, d + " is not a directory");
        return st;
      }
      if (st.code() != ENOENT || d == "/") return st.status();
    }
  }

  // Admins see every history; others that of what they may read now, and
  // of a deleted file when they may list and search its nearest existing
  // directory.
  Status MayRead(const Target& t) {
    if (conn_->admin()) return Status::Ok();
    NEXUS_RETURN_IF_ERROR(PolicyAllows(*conn_, Need::kRead, t.ns, false));
    auto st = ctx().files->Stat(conn_->actor, t.ns, true, false);
    if (st.ok()) {
      if (CheckAccess(conn_->actor, st->attr, kMayRead).ok()) return Status::Ok();
      return Status::Error(EACCES, conn_->subject() + " may not read " + t.ns);
    }
    if (st.code() != ENOENT) return st.status();
    NEXUS_ASSIGN_OR_RETURN(PathStat dir, NearestDir(t.ns));
    if (CheckAccess(conn_->actor, dir.attr, kMayRead | kMayExec).ok()) return Status::Ok();
    return Status::Error(EACCES,
                         conn_->subject() + " may not read " + dir.path + ", so not the history of " + t.ns);
  }

  // Admins may write back anything. For others, checked before the store
  // records anything, so a denied write back leaves no version behind: the
  // file must be writable, or a missing one creatable in its nearest
  // existing directory.
  Status MayWrite(const Target& t) {
    if (conn_->admin()) return Status::Ok();
    NEXUS_RETURN_IF_ERROR(PolicyAllows(*conn_, Need::kWrite, t.ns, false));
    auto st = ctx().files->Stat(conn_->actor, t.ns, true, false);
    if (st.ok()) {
      if (!st->attr.IsReg()) return Status::Error(EISDIR, t.ns + " is not a regular file");
      if (CheckAccess(conn_->actor, st->attr, kMayWrite).ok()) return Status::Ok();
      return Status::Error(EACCES, conn_->subject() + " may not write " + t.ns);
    }
    if (st.code() != ENOENT) return st.status();
    NEXUS_ASSIGN_OR_RETURN(PathStat dir, NearestDir(t.ns));
    if (CheckAccess(conn_->actor, dir.attr, kMayWrite | kMayExec).ok()) return Status::Ok();
    return Status::Error(EACCES, conn_->subject() + " may not create files in " + dir.path);
  }

  // Who rollback/restore name as the author: the session, with the
  // command and agent/task ids of the local process calling.
  versions::Provenance Who() const {
    Caller caller = conn_->actor;
    caller.pid = conn_->peer.pid;
    // A labelled session names its own command (and acting agent).
    if (caller.origin) return versions::MakeProvenance(caller, *caller.origin);
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
    versions::VersionStore* store = deps().store;
    versions::Recorder* recorder = deps().recorder;
    PathFiles* files = ctx().files;
    Caller actor = conn_->admin() ? RootCaller(*conn_) : conn_->actor;
    versions::Provenance who = Who();
    // Keeps actor.origin valid while the job runs, even past the connection.
    std::shared_ptr<const ProcessInfo> origin = conn_->origin;
    return Job<Out>(
        context,
        [=]() -> Result<Out> {
          (void)origin;
          NEXUS_RETURN_IF_ERROR(FlushRecorder(recorder));
          NEXUS_ASSIGN_OR_RETURN(auto wb, store_call(*store, t, who));
          WriteOptions o;
          o.truncate = true;
          o.create_parents = create_parents;
          o.mode = wb.mode == versions::kModeExecutable ? 0755 : 0644;
          auto written = files->Write(actor, t.ns, wb.content, o);
          if (!written.ok())
            return Status::Error(written.code(),
                                 "recorded v" + std::to_string(wb.version) + " of " + t.ns +
                                     " but could not write it: " + written.status().message());
          NEXUS_ASSIGN_OR_RETURN(versions::Version v, store->GetVersion(t.zone, t.path, wb.version));
          return Out{std::move(v), wb.recorded};
        },
        [fill](auto results, Out& out) mutable { fill(results, out.version, out.recorded); });
  }
};

}  // namespace

kj::Own<rpc::Versions::Server> MakeVersionsService(ConnPtr conn) {
  return kj::heap<VersionsImpl>(std::move(conn));
}

}  // namespace nexus
