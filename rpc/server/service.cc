#include "rpc/server/service.h"

#include <kj/debug.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <capnp/dynamic.h>

#include <cctype>
#include <chrono>
#include <map>
#include <fstream>
#include <sstream>

#include "base/clock.h"
#include "base/layout.h"
#include "base/ns_path.h"
#include "perms/agent_registry.h"
#include "perms/identity.h"
#include "perms/principals.h"
#include "perms/rebac_types.h"
#include "fs/access_policy.h"
#include "rpc/server/background_jobs.h"
#include "rpc/bytes.h"
#include "fs/versions/version_store.h"
#include "fs/versions/zone_path.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"
#include "rpc/server/watch_hub.h"

namespace nexus {
namespace {

constexpr double kDefaultLockTtlS = 60;
constexpr double kMaxLockTtlS = 7 * 86400;
constexpr double kMaxLockWaitS = 3600;
constexpr uint64_t kMaxBulkBytes = 48u << 20;
constexpr uid_t kNobody = 65534;

// Supplementary groups of a local process, from /proc/PID/status.
std::vector<gid_t> GroupsOf(pid_t pid) {
  std::vector<gid_t> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ss(line.substr(7));
    gid_t g;
    while (ss >> g) out.push_back(g);
  }
  return out;
}

const char* KindOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "directory";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    case S_IFCHR:
      return "char";
    case S_IFBLK:
      return "block";
    default:
      return "file";
  }
}

rpc::Identity::Scope ScopeOf(KeyScope s) {
  switch (s) {
    case KeyScope::kAdmin:
      return rpc::Identity::Scope::ADMIN;
    case KeyScope::kAgent:
      return rpc::Identity::Scope::AGENT;
    default:
      return rpc::Identity::Scope::USER;
  }
}

// The latest version number of a regular file, 0 when versioning is off or
// it has none.
uint32_t VersionOf(const ServiceContext& ctx, const PathStat& ps) {
  if (!ctx.versions.store || !ps.attr.IsReg()) return 0;
  versions::ZonePath zp = versions::SplitNamespacePath(ps.path);
  auto n = ctx.versions.store->LatestNumber(zp.zone, zp.path);
  return n.ok() ? *n : 0;
}

void FillStat(rpc::FileStat::Builder b, const PathStat& ps) {
  const Attr& a = ps.attr;
  b.setPath(ps.path);
  b.setIsDirectory(a.IsDir());
  b.setKind(KindOf(a.mode));
  b.setSize(a.size);
  b.setMode(a.mode);
  b.setUid(a.uid);
  b.setGid(a.gid);
  b.setNlink(a.nlink);
  b.setIno(a.ino);
  b.setModifiedAtNs(ToNanos(a.mtime));
  b.setCreatedAtNs(ToNanos(a.btime));
  b.setContentId(ps.content_id);
  b.setVersion(0);
  b.setSymlinkTarget(ps.symlink_target);
}

void FillDetails(rpc::FileStat::Builder b, PathFiles& files, const Caller& actor, const PathStat& ps) {
  std::string head;
  if (ps.attr.IsReg()) {
    auto r = files.Read(actor, ps.path, 0, 512, 512, nullptr);
    if (r.ok()) head = std::move(r).value();
  }
  b.setMimeType(GuessMimeType(ps.path, head, ps.attr.IsDir()));
  b.setZone(std::string(layout::ZoneOf(ps.path)));
}

void FillLock(rpc::LockInfo::Builder b, const LockInfo& l) {
  b.setPath(l.path);
  b.setHolder(l.holder);
  b.setAcquiredAtNs(l.acquired_ns);
  b.setExpiresAtNs(l.expires_ns);
}

void FillUser(rpc::User::Builder b, const UserRecord& u) {
  b.setName(u.name);
  b.setSubjectType(u.subject_type);
  b.setIsAdmin(u.is_admin);
  b.setUid(u.uid);
  b.setGid(u.gid);
  b.setCreatedAtNs(u.created_ns);
  b.setExpiresAtNs(u.expires_ns);
  b.setSubject(u.Subject());
  b.setDisplayName(u.display_name);
}

}  // namespace

void FillKey(rpc::ApiKey::Builder b, const KeyRecord& k, bool with_secret) {
  b.setId(k.id);
  b.setUser(k.user);
  b.setName(k.name);
  b.setScope(ScopeOf(k.scope));
  b.setCreatedAtNs(k.created_ns);
  b.setExpiresAtNs(k.expires_ns);
  b.setRevoked(k.revoked);
  if (with_secret) b.setSecret(k.secret);
  b.setCanSubmitTasks(k.can_submit_tasks);
  b.setHourlyTaskQuota(static_cast<uint32_t>(k.hourly_task_quota));
}

namespace {

// ---------------------------------------------------------------- files

class ByteSinkImpl final : public Service<rpc::ByteSink> {
 public:
  ByteSinkImpl(ConnPtr conn, std::unique_ptr<PathWriter> writer)
      : Service(std::move(conn)), writer_(std::move(writer)) {}

  kj::Promise<void> write(WriteContext context) override {
    return Serve(context, [&](auto p, auto) -> Reply {
      if (!writer_) return Status::Error(EBADF, "stream already finished");
      // The first error is kept and reported by done().
      if (status_.ok()) status_ = writer_->Write(AsView(p.getData()));
      return Status::Ok();
    });
  }

  kj::Promise<void> done(DoneContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      if (!writer_) return Status::Error(EBADF, "stream already finished");
      auto attr = writer_->Finish();
      writer_.reset();
      NEXUS_RETURN_IF_ERROR(status_);
      PathStat ps;
      NEXUS_ASSIGN_OR_RETURN(ps.attr, std::move(attr));
      FillStat(results.initStat(), ps);
      return Status::Ok();
    });
  }

 private:
  std::unique_ptr<PathWriter> writer_;
  Status status_;
};

// Held by a watch's client: while it lives, the watch's changes are taken
// from the hub on the loop, batched (kWatchBatch), filtered by the
// subject's read access at that moment (so a revoke holds from the next
// change on) and sent, one `changed` call at a time (changes arriving
// meanwhile wait in the watch's bounded queue). Dropping it, or the
// connection closing, removes the watch.
class SubscriptionImpl final : public rpc::Subscription::Server {
 public:
  static constexpr auto kWatchBatch = 5 * kj::MILLISECONDS;

  SubscriptionImpl(ConnPtr conn, WatchHub& hub, const std::string& prefix, rpc::FileWatcher::Client watcher)
      : conn_(std::move(conn)),
        hub_(hub),
        watch_(hub.Add(prefix)),
        watcher_(kj::mv(watcher)),
        pump_(Pump().eagerlyEvaluate(nullptr)) {}
  ~SubscriptionImpl() { hub_.Remove(watch_.get()); }

 private:
  kj::Promise<void> Pump() {
    return watch_->Next()
        .then([this]() -> kj::Promise<void> {
          if (!conn_->ctx->timer) return kj::READY_NOW;
          return conn_->ctx->timer->afterDelay(kWatchBatch);
        })
        .then([this]() -> kj::Promise<void> {
          std::vector<WatchedChange> changes = watch_->Take();
          changes.erase(std::remove_if(changes.begin(), changes.end(),
                                       [this](const WatchedChange& c) { return !MaySee(c); }),
                        changes.end());
          if (changes.empty()) return Pump();
          auto req = watcher_.changedRequest();
          auto out = req.initChanges(changes.size());
          for (size_t i = 0; i < changes.size(); ++i) {
            out[i].setPath(changes[i].path);
            out[i].setKind(changes[i].kind);
            out[i].setNewPath(changes[i].new_path);
            out[i].setTimeNs(changes[i].time_ns);
          }
          // A client that fails or is gone is no longer told; the watch
          // ends when its subscription is dropped.
          return req.send().ignoreResult().then(
              [this]() { return Pump(); },
              [](kj::Exception&&) -> kj::Promise<void> { return kj::NEVER_DONE; });
        });
  }

  // Whether the subject may read what the change names (either side of a
  // rename; the watched path for an overflow). Not audited: a filtered
  // notification is no attempt at access.
  bool MaySee(const WatchedChange& c) const {
    AccessPolicy* policy = conn_->ctx->access;
    if (!policy || policy->Unrestricted(conn_->actor)) return true;
    auto can = [&](const std::string& path, bool is_dir) {
      return !path.empty() && policy->Can(conn_->actor, Need::kRead, path, is_dir);
    };
    if (c.kind == "overflow") return can(c.path, true);
    return can(c.path, false) || can(c.new_path, false);
  }

  ConnPtr conn_;
  WatchHub& hub_;
  std::shared_ptr<WatchHub::Watch> watch_;
  rpc::FileWatcher::Client watcher_;
  kj::Promise<void> pump_;  // last: cancelled before the rest goes
};

class FilesImpl final : public Service<rpc::Files> {
 public:
  static constexpr size_t kMaxWatches = 4096;  // in the whole daemon

  explicit FilesImpl(ConnPtr conn) : Service(std::move(conn)), files_(*conn_->ctx->files) {}

  kj::Promise<void> write(WriteContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      WriteOptions o;
      o.truncate = p.getTruncate();
      o.append = p.getAppend();
      o.offset = p.getOffset();
      o.create_parents = p.getCreateParents();
      NEXUS_RETURN_IF_ERROR(files_.Write(conn_->actor, p.getPath(), AsView(p.getData()), o));
      NEXUS_ASSIGN_OR_RETURN(PathStat st, files_.Stat(conn_->actor, p.getPath(), true));
      FillStat(results.initStat(), st);
      return Status::Ok();
    });
  }

  kj::Promise<void> read(ReadContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      uint64_t size = 0;
      NEXUS_ASSIGN_OR_RETURN(std::string data,
                             files_.Read(conn_->actor, p.getPath(), p.getOffset(), p.getLength(),
                                         ctx().limits.max_read_bytes, &size));
      results.setData(AsBytes(data));
      results.setSize(size);
      return Status::Ok();
    });
  }

  // Per path: its stat or its error.
  kj::Promise<void> stat(StatContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      auto paths = p.getPaths();
      auto out = results.initResults(paths.size());
      for (uint i = 0; i < paths.size(); ++i) {
        auto r = out[i];
        r.setPath(paths[i]);
        auto st = files_.Stat(conn_->actor, paths[i], false);
        if (!st.ok()) {
          Current().Check(r.initError(), st.status());
          continue;
        }
        auto b = r.initStat();
        FillStat(b, *st);
        b.setVersion(VersionOf(ctx(), *st));
        if (p.getDetailed()) FillDetails(b, files_, conn_->actor, *st);
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(auto entries, files_.List(conn_->actor, p.getPath(), p.getLong()));
      auto out = results.initEntries(entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        const PathStat& e = entries[i];
        out[i].setName(e.path.substr(e.path.rfind('/') + 1));
        FillStat(out[i].initStat(), e);
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> mkdir(MkdirContext context) override {
    return Serve(context, [&](auto p, auto) -> Reply {
      mode_t mode = p.getMode() ? p.getMode() : 0755;
      return files_.MkDir(conn_->actor, p.getPath(), mode, p.getParents());
    });
  }

  kj::Promise<void> rmdir(RmdirContext context) override {
    return Serve(context, [&](auto p, auto) -> Reply { return files_.RmDir(conn_->actor, p.getPath()); });
  }

  // Per item: done or its error; the call itself does not fail.
  kj::Promise<void> renameBatch(RenameBatchContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      auto items = p.getItems();
      auto out = results.initResults(items.size());
      for (uint i = 0; i < items.size(); ++i) {
        std::string from = items[i].getFrom(), to = items[i].getTo();
        out[i].setItem(from + ":" + to);
        Status st = files_.Rename(conn_->actor, from, to);
        if (!st.ok()) Current().Check(out[i].initError(), st);
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> removeBatch(RemoveBatchContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      auto paths = p.getPaths();
      auto out = results.initResults(paths.size());
      for (uint i = 0; i < paths.size(); ++i) {
        out[i].setItem(paths[i]);
        Status st = files_.Unlink(conn_->actor, paths[i]);
        if (!st.ok()) Current().Check(out[i].initError(), st);
      }
      return Status::Ok();
    });
  }

  // Per path: its data or its error; the call fails on the first error when
  // atomic, and when the reply would grow too large.
  kj::Promise<void> readBulk(ReadBulkContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      auto paths = p.getPaths();
      struct Item {
        std::string data;
        uint64_t size = 0;
        Status st;
      };
      std::vector<Item> items(paths.size());
      uint64_t total = 0;
      for (uint i = 0; i < paths.size(); ++i) {
        auto r = files_.Read(conn_->actor, paths[i], 0, 0, ctx().limits.max_read_bytes, &items[i].size);
        if (r.ok()) {
          items[i].data = std::move(r).value();
          total += items[i].data.size();
          if (items[i].data.size() < items[i].size)
            items[i].st = Status::Error(
                EFBIG, std::string(paths[i]) + " is larger than one reply; read it with cat --offset");
        } else {
          items[i].st = r.status();
        }
        if (!items[i].st.ok() && p.getAtomic()) return items[i].st;
        if (total > kMaxBulkBytes)
          return Status::Error(EDQUOT, "read-bulk reply would exceed 48 MiB; read fewer files per call");
      }
      auto out = results.initResults(paths.size());
      for (uint i = 0; i < paths.size(); ++i) {
        out[i].setPath(paths[i]);
        out[i].setSize(items[i].size);
        if (items[i].st.ok())
          out[i].setData(AsBytes(items[i].data));
        else
          Current().Check(out[i].initError(), items[i].st);
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> writeStream(WriteStreamContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      WriteOptions o;
      o.create_parents = p.getCreateParents();
      NEXUS_ASSIGN_OR_RETURN(auto w, files_.OpenWriter(conn_->actor, p.getPath(), o));
      results.setSink(kj::heap<ByteSinkImpl>(conn_, std::move(w)));
      return Status::Ok();
    });
  }

  kj::Promise<void> replace(ReplaceContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      std::string path = p.getPath();
      NEXUS_RETURN_IF_ERROR(
          files_.Replace(conn_->actor, path, AsView(p.getData()), std::string(p.getExpectedContentId()))
              .status());
      NEXUS_ASSIGN_OR_RETURN(PathStat st, files_.Stat(conn_->actor, path, true));
      FillStat(results.initStat(), st);
      return Status::Ok();
    });
  }

  kj::Promise<void> watch(WatchContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      if (!ctx().watches) return Unavailable("watch", "this daemon serves no file watches");
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      // notFound for what the subject may not see, as for any file call.
      NEXUS_RETURN_IF_ERROR(files_.Stat(conn_->actor, path.str(), true, false).status());
      if (ctx().watches->size() >= kMaxWatches)
        return Status::Error(EMFILE,
                             "too many file watches (" + std::to_string(kMaxWatches) + ") in this daemon");
      results.setSubscription(kj::heap<SubscriptionImpl>(conn_, *ctx().watches, path.str(), p.getWatcher()));
      return Status::Ok();
    });
  }

 private:
  PathFiles& files_;
};

// ---------------------------------------------------------------- locks

class LocksImpl final : public Service<rpc::Locks> {
 public:
  explicit LocksImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> acquire(AcquireContext context) override {
    return Serve(context, Feature::kLocks, [&](auto p, auto) -> Reply {
      double ttl = p.getTtlSeconds() > 0 ? p.getTtlSeconds() : kDefaultLockTtlS;
      double wait = p.getWaitSeconds();
      if (ttl > kMaxLockTtlS || wait < 0 || wait > kMaxLockWaitS || p.getTtlSeconds() < 0)
        return Status::Error(EINVAL, "TTL must be in (0, 7 days] and wait in [0, 1 h]");
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      // deadline 0: do not wait.
      int64_t deadline = wait > 0 ? DefaultClock().Now() + static_cast<int64_t>(wait * 1e9) : 0;
      return TryAcquire(Current(), context, path.str(), static_cast<int64_t>(ttl * 1e9), deadline);
    });
  }

  kj::Promise<void> release(ReleaseContext context) override {
    return Serve(context, Feature::kLocks, [&](auto p, auto) -> Reply {
      if (p.getForce() && !conn_->admin())
        return Status::Error(EACCES, "lock release --force is for admins only");
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(std::string(p.getPath())));
      return ctx().locks->Release(path.str(), conn_->account(), p.getForce(), DefaultClock().Now());
    });
  }

  // info and list have no `error` in their reply: without locks, or for a
  // path that does not parse, they answer that nothing is held.
  kj::Promise<void> info(InfoContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      if (!ctx().locks) return Status::Ok();
      auto path = NsPath::Parse(std::string(p.getPath()));
      if (!path.ok()) return Status::Ok();
      auto l = ctx().locks->Info(path->str(), DefaultClock().Now());
      results.setHeld(l.ok());
      if (l.ok()) FillLock(results.initLock(), *l);
      return Status::Ok();
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      if (!ctx().locks) return Status::Ok();
      auto locks = ctx().locks->List(DefaultClock().Now());
      auto out = results.initLocks(locks.size());
      for (size_t i = 0; i < locks.size(); ++i) FillLock(out[i], locks[i]);
      return Status::Ok();
    });
  }

 private:
  // Tries now; while held and the deadline is ahead, tries again every
  // 10 ms without blocking the event loop. Fills the reply itself, the
  // first attempt as the later ones, under `call` (alive until the reply).
  kj::Promise<void> TryAcquire(Call& call, AcquireContext context, std::string path, int64_t ttl_ns,
                               int64_t deadline_ns) {
    int64_t now = DefaultClock().Now();
    auto l = ctx().locks->Acquire(path, conn_->account(), ttl_ns, now);
    auto results = context.getResults();
    if (l.ok()) {
      FillLock(results.initLock(), *l);
      return kj::READY_NOW;
    }
    if (l.code() != EBUSY || now >= deadline_ns || !ctx().timer) {
      Status st = l.status();
      if (l.code() == EBUSY && deadline_ns > 0)
        st = Status::Error(ETIMEDOUT, "gave up waiting: " + st.message());
      call.Check(results.initError(), st);
      return kj::READY_NOW;
    }
    return ctx()
        .timer->afterDelay(10 * kj::MILLISECONDS)
        .then([this, &call, context, path = std::move(path), ttl_ns, deadline_ns]() mutable {
          return TryAcquire(call, context, std::move(path), ttl_ns, deadline_ns);
        });
  }
};

// ---------------------------------------------------------------- admin

class AdminImpl final : public Service<rpc::Admin> {
 public:
  explicit AdminImpl(ConnPtr conn) : Service(std::move(conn)), keys_(*conn_->ctx->keys) {}

  kj::Promise<void> createUser(CreateUserContext context) override {
    return ServeAdmin(context, std::nullopt, "creating users", [&](auto p, auto results) -> Reply {
      UserRecord u;
      u.name = p.getName();
      u.subject_type = p.getSubjectType().size() ? p.getSubjectType().cStr() : "user";
      u.is_admin = p.getIsAdmin();
      u.display_name = p.getDisplayName();
      u.uid = p.getUid() ? p.getUid() : (u.is_admin ? 0 : kNobody);
      u.gid = p.getGid() ? p.getGid() : (u.is_admin ? 0 : kNobody);
      // An agent user is an agent of the one registry: registered (owned by
      // the admin) unless it already is.
      AgentRegistry* registry = ctx().agents.registry;
      const RegistryCaller admin{conn_->subject(), true};
      bool registered = false;
      if (u.subject_type == "agent" && registry) {
        AgentRegistration reg;
        reg.id = u.name;
        reg.name = u.name;
        auto made = registry->Register(admin, reg);
        if (!made.ok() && made.code() != EEXIST) return made.status();
        registered = made.ok();
      }
      auto r = keys_.CreateUser(u, static_cast<int>(p.getExpiresDays()));
      if (!r.ok()) {
        if (registered) (void)registry->Delete(admin, u.name);
        return r.status();
      }
      spdlog::info("admin {}: created {} {}", conn_->account(), r->first.Subject(),
                   r->first.is_admin ? "(admin)" : "");
      FillUser(results.initUser(), r->first);
      FillKey(results.initKey(), r->second, true);
      return Status::Ok();
    });
  }

  kj::Promise<void> createKey(CreateKeyContext context) override {
    return ServeAdmin(context, std::nullopt, "creating API keys", [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(KeyRecord k,
                             keys_.CreateKey(p.getUser(), p.getName(), static_cast<int>(p.getExpiresDays())));
      FillKey(results.initKey(), k, true);
      return Status::Ok();
    });
  }

  kj::Promise<void> listUsers(ListUsersContext context) override {
    return ServeAdmin(context, std::nullopt, "listing users", [&](auto, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(auto users, keys_.ListUsers());
      auto out = results.initUsers(users.size());
      for (size_t i = 0; i < users.size(); ++i) FillUser(out[i], users[i]);
      return Status::Ok();
    });
  }

  kj::Promise<void> getUser(GetUserContext context) override {
    return ServeAdmin(context, std::nullopt, "reading users", [&](auto p, auto results) -> Reply {
      std::string name = p.getName();
      NEXUS_ASSIGN_OR_RETURN(UserRecord u, keys_.GetUser(name));
      NEXUS_ASSIGN_OR_RETURN(auto keys, keys_.ListKeys(name));
      FillUser(results.initUser(), u);
      auto out = results.initKeys(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) FillKey(out[i], keys[i], true);
      return Status::Ok();
    });
  }

  kj::Promise<void> revokeKey(RevokeKeyContext context) override {
    return ServeAdmin(context, std::nullopt, "revoking API keys", [&](auto p, auto) -> Reply {
      std::string id = p.getKeyId();
      NEXUS_RETURN_IF_ERROR(keys_.RevokeKey(id));
      spdlog::info("admin {}: revoked key {}", conn_->account(), id);
      return Status::Ok();
    });
  }

  kj::Promise<void> updateKey(UpdateKeyContext context) override {
    return ServeAdmin(context, std::nullopt, "changing API keys", [&](auto p, auto results) -> Reply {
      std::optional<std::string> name;
      if (p.hasName() && p.getName().size()) name = std::string(p.getName());
      NEXUS_ASSIGN_OR_RETURN(
          KeyRecord k,
          keys_.UpdateKey(p.getKeyId(), name, static_cast<int>(p.getExpiresDays()), p.getClearExpiry()));
      FillKey(results.initKey(), k, true);
      return Status::Ok();
    });
  }

  kj::Promise<void> setKeyEntitlements(SetKeyEntitlementsContext context) override {
    return ServeAdmin(context, std::nullopt, "changing key entitlements", [&](auto p, auto results) -> Reply {
      if (p.getHourlyTaskQuota() > 1'000'000)
        return Status::Error(EINVAL, "an hourly quota is at most 1000000");
      NEXUS_ASSIGN_OR_RETURN(KeyRecord k, keys_.SetEntitlements(p.getKeyId(), p.getCanSubmitTasks(),
                                                                static_cast<int>(p.getHourlyTaskQuota())));
      spdlog::info("admin {}: key {} may{} submit tasks, quota {}/h", conn_->account(), k.id,
                   k.can_submit_tasks ? "" : " not", k.hourly_task_quota);
      FillKey(results.initKey(), k, true);
      return Status::Ok();
    });
  }

  kj::Promise<void> shutdown(ShutdownContext context) override {
    return ServeAdmin(context, std::nullopt, "shutting nexusd down", [&](auto, auto) -> Reply {
      spdlog::info("admin {}: shutdown requested over the control socket", conn_->account());
      auto stop = ctx().request_shutdown;
      if (stop) kj::evalLater([stop]() { stop(); }).detach([](kj::Exception&&) {});
      return Status::Ok();
    });
  }

 private:
  KeyStore& keys_;
};

// ---------------------------------------------------------------- session

void FillIdentity(rpc::Identity::Builder b, const Conn& c) {
  b.setSubject(c.account());
  b.setName(c.principal ? c.principal->name : c.node);
  b.setScope(ScopeOf(c.scope));
  b.setIsAdmin(c.admin());
  b.setUid(c.actor.uid);
  b.setGid(c.actor.gid);
  b.setTransport(c.peer.transport);
  b.setKeyId(c.principal ? c.principal->key_id : "");
  b.setActingAs(c.acting_as);
}

class SessionImpl final : public Service<rpc::Session> {
 public:
  explicit SessionImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> identity(IdentityContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      FillIdentity(results.initIdentity(), *conn_);
      return Status::Ok();
    });
  }

  kj::Promise<void> status(StatusContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      const DaemonInfo& i = *ctx().info;
      auto s = results.initStatus();
      s.setVersion(i.version);
      s.setPid(static_cast<uint32_t>(i.pid));
      s.setUptimeSeconds(static_cast<double>(DefaultClock().Now() - i.started_ns) / 1e9);
      s.setDataDir(i.data_dir);
      s.setMountpoint(i.mountpoint);
      s.setMounted(i.mounted.load());
      s.setReady(i.mounted.load());
      s.setProfile(i.profile);
      s.setWorkspace(i.workspace);
      s.setSocketPath(i.socket_path);
      s.setListen(i.listen);
      s.setHttp(i.http);
      if (ctx().inode_count) s.setInodes(ctx().inode_count());
      if (ctx().database_bytes) s.setDatabaseBytes(ctx().database_bytes());
      s.setConnections(i.connections.load());
      return Status::Ok();
    });
  }

  kj::Promise<void> features(FeaturesContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      const auto& all = ctx().features;
      results.setProfile(ctx().info->profile);
      auto out = results.initFeatures(all.size());
      for (size_t i = 0; i < all.size(); ++i) {
        out[i].setName(all[i].name);
        out[i].setDetail(all[i].detail);
        switch (all[i].state) {
          case FeatureState::State::kEnabled:
            out[i].setState(rpc::Feature::State::ENABLED);
            break;
          case FeatureState::State::kDisabled:
            out[i].setState(rpc::Feature::State::DISABLED);
            break;
          case FeatureState::State::kUnavailable:
            out[i].setState(rpc::Feature::State::UNAVAILABLE);
            break;
        }
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> files(FilesContext context) override {
    return Open(context, [&](auto r) { r.setFiles(kj::heap<FilesImpl>(conn_)); });
  }
  kj::Promise<void> locks(LocksContext context) override {
    return Open(context, [&](auto r) { r.setLocks(kj::heap<LocksImpl>(conn_)); });
  }
  kj::Promise<void> admin(AdminContext context) override {
    return Open(context, [&](auto r) { r.setAdmin(kj::heap<AdminImpl>(conn_)); });
  }
  kj::Promise<void> versions(VersionsContext context) override {
    return Open(context, [&](auto r) { r.setVersions(MakeVersionsService(conn_)); });
  }
  kj::Promise<void> search(SearchContext context) override {
    return Open(context, [&](auto r) { r.setSearch(MakeSearchService(conn_)); });
  }
  kj::Promise<void> permissions(PermissionsContext context) override {
    return Open(context, [&](auto r) { r.setPermissions(MakePermissionsService(conn_)); });
  }
  kj::Promise<void> mounts(MountsContext context) override {
    return Open(context, [&](auto r) { r.setMounts(MakeMountsService(conn_)); });
  }
  kj::Promise<void> mesh(MeshContext context) override {
    return Open(context, [&](auto r) { r.setMesh(MakeMeshService(conn_)); });
  }
  kj::Promise<void> agents(AgentsContext context) override {
    return Open(context, [&](auto r) { r.setAgents(MakeAgentsService(conn_)); });
  }
  kj::Promise<void> ipc(IpcContext context) override {
    return Open(context, [&](auto r) { r.setIpc(MakeIpcService(conn_)); });
  }
  kj::Promise<void> delegations(DelegationsContext context) override {
    return Open(context, [&](auto r) { r.setDelegations(MakeDelegationsService(conn_)); });
  }
  kj::Promise<void> tools(ToolsContext context) override {
    return Open(context, [&](auto r) { r.setTools(MakeToolsService(conn_)); });
  }
  kj::Promise<void> ops(OpsContext context) override {
    return Open(context, [&](auto r) { r.setOps(MakeOpsService(conn_)); });
  }
  kj::Promise<void> forks(ForksContext context) override {
    return Open(context, [&](auto r) { r.setForks(MakeForksService(conn_)); });
  }
  kj::Promise<void> sandboxes(SandboxesContext context) override {
    return Open(context, [&](auto r) { r.setSandboxes(MakeSandboxesService(conn_)); });
  }
  kj::Promise<void> workflows(WorkflowsContext context) override {
    return Open(context, [&](auto r) { r.setWorkflows(MakeWorkflowsService(conn_)); });
  }
  // A copy of the connection's state whose Caller carries the origin; its
  // calls count against the connection's in-flight limit.
  kj::Promise<void> labelled(LabelledContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      std::string command = p.getCommand();
      if (command.empty()) return Status::Error(EINVAL, "labelled: the command must not be empty");
      if (command.size() > 256)
        return Status::Error(EINVAL, "labelled: the command is longer than 256 bytes");
      auto origin = std::make_shared<ProcessInfo>();
      origin->command = std::move(command);
      // An agent's session (its key, or acting as it) names the agent.
      if (conn_->subject().starts_with("agent:")) origin->agent_id = conn_->subject().substr(6);
      auto labelled = std::make_shared<Conn>(*conn_);
      labelled->in_flight = 0;
      labelled->base = conn_->base ? conn_->base : conn_;
      labelled->origin = origin;
      labelled->actor.origin = origin.get();
      results.setSession(kj::heap<SessionImpl>(std::move(labelled)));
      return Status::Ok();
    });
  }

 private:
  // Serve for the methods that hand out a sub-interface on this connection
  // (`set` puts it into the results); they cannot fail.
  template <typename Context, typename Set>
  kj::Promise<void> Open(Context context, Set&& set) {
    return Serve(context, [&](auto, auto results) -> Reply {
      set(results);
      return Status::Ok();
    });
  }
};

// ---------------------------------------------------------------- bootstrap

// Served on a connection of its own before authentication (no principal),
// so its calls are counted and limited like any other; each authenticate
// that succeeds opens a new session connection.
class NexusImpl final : public Service<rpc::Nexus> {
 public:
  NexusImpl(ServiceContext* ctx, PeerInfo peer) : Service(PreAuthConn(ctx, peer)), peer_(std::move(peer)) {}

  kj::Promise<void> authenticate(AuthenticateContext context) override {
    return Serve(context, [&](auto p, auto results) -> Reply {
      KJ_REQUIRE(ctx().principals != nullptr, "no principal table");
      auto conn = std::make_shared<Conn>();
      conn->ctx = &ctx();
      conn->peer = peer_;
      std::string key = p.getApiKey();
      if (!key.empty()) {
        auto auth = ctx().keys->Authenticate(key);
        if (!auth.ok()) {
          spdlog::warn("{} client {}: authentication failed: {}", peer_.transport, peer_.address,
                       auth.status().message());
          return Status::Error(ENOKEY, "invalid API key (unknown, revoked or expired)");
        }
        const UserRecord& u = auth->first;
        conn->principal = ctx().principals->ForKey(u, auth->second);
        conn->scope = u.Scope();
        conn->can_submit_tasks = auth->second.can_submit_tasks;
        conn->hourly_task_quota = auth->second.hourly_task_quota;
      } else if (peer_.has_credentials) {
        // A uid bound to a subject (nexus identity bind) acts as it here too.
        conn->principal = ctx().principals->ForPeer(peer_.uid, peer_.gid, GroupsOf(peer_.pid));
        conn->scope = conn->principal->admin ? KeyScope::kAdmin : KeyScope::kUser;
        conn->actor.pid = peer_.pid;
      } else {
        return Status::Error(ENOKEY, "an API key is required on this listener");
      }
      if (p.getActAs().size() > 0) {
        NEXUS_RETURN_IF_ERROR(Require(ctx(), Feature::kAgents));
        NEXUS_ASSIGN_OR_RETURN(AgentRecord agent, ctx().agents.registry->CheckActAs(
                                                      {conn->principal->subject, conn->principal->admin},
                                                      std::string_view(p.getActAs().cStr())));
        conn->principal = ctx().principals->ForActingAs(*conn->principal, agent.Subject());
        conn->scope = KeyScope::kUser;
        conn->acting_as = agent.Subject();
        spdlog::info("{} client {}: {} acts as {}", peer_.transport, peer_.address, conn->account(),
                     conn->acting_as);
      }
      conn->actor.uid = conn->principal->uid;
      conn->actor.gid = conn->principal->gid;
      conn->actor.umask = 022;
      conn->actor.principal = conn->principal;
      conn->authenticated = true;
      FillIdentity(results.initIdentity(), *conn);
      results.setSession(kj::heap<SessionImpl>(conn));
      return Status::Ok();
    });
  }

  kj::Promise<void> ping(PingContext context) override {
    return Serve(context, [&](auto, auto results) -> Reply {
      results.setVersion(ctx().info->version);
      return Status::Ok();
    });
  }

  kj::Promise<void> meshRegister(MeshRegisterContext context) override {
    return Serve(context, Feature::kMeshDirector,
                 [&](auto, auto) { return MeshRegister(ctx(), Current(), peer_, context); });
  }

  kj::Promise<void> meshNode(MeshNodeContext context) override {
    return Serve(context, Feature::kMeshDirector,
                 [&](auto, auto) { return MeshNodeSession(ctx(), peer_, context); });
  }

  kj::Promise<void> meshForward(MeshForwardContext context) override {
    return Serve(context, Feature::kMeshDirector,
                 [&](auto, auto) { return MeshForward(ctx(), Current(), peer_, context); });
  }

 private:
  static ConnPtr PreAuthConn(ServiceContext* ctx, const PeerInfo& peer) {
    auto c = std::make_shared<Conn>();
    c->ctx = ctx;
    c->peer = peer;
    return c;
  }

  PeerInfo peer_;
};

}  // namespace

Status PolicyAllows(const Conn& conn, Need need, const std::string& path, bool is_dir) {
  AccessPolicy* policy = conn.ctx->access;
  if (!policy || policy->Unrestricted(conn.actor)) return Status::Ok();
  const Caller& caller = conn.actor;
  if (!policy->CanSee(caller, path, is_dir)) {
    policy->Denied(caller, "socket", path, "not visible");
    return Status::Error(ENOENT, path + ": no such file or directory");
  }
  if (need != Need::kRead || !is_dir) {
    if (!policy->Can(caller, need, path, is_dir)) {
      policy->Denied(caller, "socket", path, "lacks access");
      return Status::Error(EACCES, conn.subject() + " may not " +
                                       (need == Need::kRead    ? "read "
                                        : need == Need::kWrite ? "write "
                                                               : "manage ") +
                                       path);
    }
  }
  return Status::Ok();
}

kj::Promise<void> RunOffLoop(ServiceContext& ctx, std::function<void()> work) {
  KJ_REQUIRE(ctx.jobs != nullptr, "no background job runner");
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
  ctx.jobs->Submit([work = std::move(work), fulfiller]() mutable {
    work();
    (*fulfiller)->fulfill();
  });
  return kj::mv(paf.promise);
}

kj::Promise<void> PumpProgress(kj::Timer& timer, rpc::Progress::Client sink, ProgressFn read,
                               std::string what, std::pair<uint64_t, uint64_t> sent) {
  return timer.afterDelay(200 * kj::MILLISECONDS)
      .then([&timer, sink, read = std::move(read), what = std::move(what),
             sent]() mutable -> kj::Promise<void> {
        auto now = read();
        if (now == sent) return PumpProgress(timer, sink, std::move(read), std::move(what), sent);
        auto req = sink.updateRequest();
        req.setDone(now.first);
        req.setTotal(now.second);
        req.setWhat(what);
        return req.send().ignoreResult().then(
            [&timer, sink, read, what, now]() mutable {
              return PumpProgress(timer, sink, std::move(read), std::move(what), now);
            },
            [](kj::Exception&&) -> kj::Promise<void> { return kj::NEVER_DONE; });
      });
}

Status Require(const ServiceContext& ctx, Feature f) {
  switch (f) {
    case Feature::kLocks:
      if (ctx.locks) return Status::Ok();
      return Unavailable("locks", "locks are switched off in this daemon's profile");
    case Feature::kVersions:
      if (ctx.versions.store) return Status::Ok();
      return Unavailable("versions", "versioning is off in this daemon's profile/config");
    case Feature::kSearch:
      if (ctx.search.index && ctx.search.indexer) return Status::Ok();
      return Unavailable("search", "search is not enabled in this daemon");
    case Feature::kRebac:
      if (ctx.rebac.engine) return Status::Ok();
      return Unavailable("rebac", "ReBAC is not enabled in this daemon");
    case Feature::kIdentities:
      if (ctx.rebac.identities) return Status::Ok();
      return Unavailable("rebac",
                         "identity bindings are not available in this daemon "
                         "(they come with ReBAC)");
    case Feature::kAudit:
      if (ctx.rebac.audit) return Status::Ok();
      return Unavailable("audit",
                         "the audit log is not available in this daemon "
                         "(it comes with ReBAC)");
    case Feature::kMounts:
      if (ctx.mounts) return Status::Ok();
      return Unavailable("mounts", "per-subject mounts are not available in this daemon");
    case Feature::kMeshDirector:
      if (ctx.mesh.office) return Status::Ok();
      return Unavailable("mesh", "this daemon is not a mesh director (start it with --director)");
    case Feature::kMesh:
      if (ctx.mesh.membership) return Status::Ok();
      return Unavailable("mesh", "the mesh feature is off in this daemon");
    case Feature::kAgents:
      if (ctx.agents.registry) return Status::Ok();
      return Unavailable("agents", "the agent registry is not enabled in this daemon");
    case Feature::kIpc:
      if (ctx.agents.mailbox) return Status::Ok();
      return Unavailable("ipc",
                         "mailboxes come with the agent registry, which is not enabled in this daemon");
    case Feature::kDelegation:
      if (ctx.rebac.delegations) return Status::Ok();
      return Unavailable("delegation", "delegations come with ReBAC, which is not enabled in this daemon");
    case Feature::kOps:
      if (ctx.ops.log) return Status::Ok();
      return Unavailable("oplog", "the operations log is off in this daemon's profile/config");
    case Feature::kForks:
      if (ctx.forks.registry) return Status::Ok();
      return Unavailable("forks", "forks are off in this daemon's profile/config");
    case Feature::kSandboxes:
      if (ctx.sandboxes.table) return Status::Ok();
      return Unavailable("sandboxes", ctx.sandboxes.why.empty()
                                          ? "sandboxes are off in this daemon's profile/config"
                                          : ctx.sandboxes.why);
    case Feature::kWorkflows:
      if (ctx.workflows.engine) return Status::Ok();
      return Unavailable("workflows", "workflows are not running in this daemon");
  }
  return Status::Error(EINVAL, "unknown feature");
}

namespace {

// Every interface the daemon serves, reached from the bootstrap through the
// capabilities methods return, with its methods' metric names. Interfaces
// that only appear as parameters (Progress) are served by the client.
struct MethodTable {
  std::vector<std::string> all;                               // in schema order
  std::map<uint64_t, std::vector<std::string>> by_interface;  // by method index

  MethodTable() { Add(capnp::Schema::from<rpc::Nexus>()); }

  void Add(capnp::InterfaceSchema iface) {
    const uint64_t id = iface.getProto().getId();
    if (by_interface.count(id)) return;
    std::string prefix(iface.getShortDisplayName().cStr());
    for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& names = by_interface[id];
    std::vector<capnp::InterfaceSchema> returned;
    for (auto m : iface.getMethods()) {
      names.push_back(prefix + "." + m.getProto().getName().cStr());
      all.push_back(names.back());
      for (auto f : m.getResultType().getFields())
        if (f.getType().isInterface()) returned.push_back(f.getType().asInterface());
    }
    for (auto r : returned) Add(r);
  }
};

const MethodTable& Methods() {
  static const MethodTable table;
  return table;
}

}  // namespace

const std::string& MethodName(uint64_t interface_id, uint16_t method_id) {
  static const std::string kNone;
  const auto& t = Methods().by_interface;
  auto it = t.find(interface_id);
  if (it == t.end() || method_id >= it->second.size()) return kNone;
  return it->second[method_id];
}

std::vector<std::string> RpcMethodNames() { return Methods().all; }

capnp::Capability::Server::DispatchCallResult DispatchCounted(
    const ConnPtr& conn, capnp::InterfaceSchema schema, uint64_t interface_id, uint16_t method_id,
    capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> context, Call** current,
    kj::FunctionParam<capnp::Capability::Server::DispatchCallResult()> dispatch) {
  // Another interface or an unknown method: the generated code refuses it.
  if (interface_id != schema.getProto().getId() || method_id >= schema.getMethods().size()) return dispatch();
  const std::string& name = MethodName(interface_id, method_id);
  if (conn->counted().in_flight >= conn->ctx->limits.max_calls_in_flight) {
    Call refused(*conn, name);
    capnp::StructSchema results = schema.getMethods()[method_id].getResultType();
    KJ_IF_MAYBE (field, results.findFieldByName("error")) {
      auto out = context.getResults().getAs<capnp::DynamicStruct>(results);
      refused.Check(out.init(*field).as<capnp::DynamicStruct>().as<rpc::Error>(), TooManyCalls());
      return {kj::READY_NOW, false};
    }
    refused.MarkFailed();  // a reply without an `error` can only break the call
    KJ_FAIL_REQUIRE("too many calls in flight on this connection");
  }
  auto op = kj::heap<InFlight>(conn, name);
  Call* outer = *current;
  *current = &op->call;
  KJ_DEFER(*current = outer);
  auto r = dispatch();
  r.promise = r.promise.attach(kj::mv(op));
  return r;
}

kj::Own<rpc::Nexus::Server> MakeBootstrap(ServiceContext* ctx, PeerInfo peer) {
  return kj::heap<NexusImpl>(ctx, std::move(peer));
}

}  // namespace nexus
