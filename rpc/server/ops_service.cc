#include "rpc/server/ops_service.h"

#include <algorithm>

#include "base/ns_path.h"
#include "fs/posix_access.h"
#include "fs/path_files.h"
#include "ops/op_feed.h"
#include "ops/op_log.h"
#include "perms/agent_registry.h"

namespace nexus {
namespace {

constexpr uint32_t kDefaultLimit = 1000;
constexpr uint32_t kMaxLimit = 10000;
// A non-admin's page reads at most this many operations to find its
// visible ones; the next page goes on from where it stopped.
constexpr size_t kMaxScanned = 100'000;

std::string Str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

Result<ops::OpFilter> ParseFilter(rpc::OpFilter::Reader f) {
  ops::OpFilter out;
  out.since_ns = f.getSinceNs();
  out.until_ns = f.getUntilNs();
  out.path = Str(f.getPath());
  if (!out.path.empty() && out.path[0] != '/')
    return Status::Error(EINVAL, "operations filter: path '" + out.path + "' is not absolute");
  out.subject = Str(f.getSubject());
  out.agent_id = Str(f.getAgentId());
  if (out.agent_id.starts_with("agent:")) out.agent_id.erase(0, 6);
  out.task_id = Str(f.getTaskId());
  if (std::string kind = Str(f.getKind()); !kind.empty()) {
    out.kind = ops::ParseKind(kind);
    if (!out.kind) return Status::Error(EINVAL, "operations filter: unknown kind '" + kind + "'");
  }
  for (int64_t id : f.getIds()) out.ids.push_back(id);
  return out;
}

struct Page {
  std::vector<ops::Operation> ops;
  int64_t next_before_id = 0;
};

}  // namespace

void FillRecord(rpc::OpRecord::Builder b, const ops::Operation& op) {
  b.setId(op.id);
  b.setTimeNs(op.time_ns);
  b.setKind(std::string(ops::KindName(op.kind)));
  b.setPath(op.path);
  b.setOldPath(op.old_path);
  b.setSubject(op.subject);
  b.setUid(op.uid);
  b.setPid(op.pid);
  b.setCommand(op.command);
  b.setAgentId(op.agent_id);
  b.setTaskId(op.task_id);
  b.setVersionBefore(op.version_before);
  b.setVersionAfter(op.version_after);
  b.setDetail(op.detail);
}

OpVisibility::OpVisibility(const Conn& conn) : conn_(conn), admin_(conn.admin()) {
  if (admin_) return;
  subjects_.insert(conn.subject());
  if (AgentRegistry* registry = conn.ctx->agents.registry) {
    AgentFilter mine;
    mine.owner = conn.subject();
    for (const AgentRecord& a : registry->List(mine)) subjects_.insert("agent:" + a.id);
  }
}

bool OpVisibility::Visible(const ops::Operation& op) {
  if (admin_) return true;
  if (!subjects_.count(op.subject)) return false;
  return MayRead(op.path) || (!op.old_path.empty() && MayRead(op.old_path));
}

bool OpVisibility::MayRead(const std::string& path) {
  auto [it, fresh] = readable_.try_emplace(path, false);
  if (!fresh) return it->second;
  if (!PolicyAllows(conn_, Need::kRead, path, false).ok()) return false;
  PathFiles* files = conn_.ctx->files;
  if (!files) return false;
  auto st = files->Stat(conn_.actor, path, false, false);
  if (st.ok()) {
    const int need = st->attr.IsDir() ? (kMayRead | kMayExec) : kMayRead;
    return it->second = CheckAccess(conn_.actor, st->attr, need).ok();
  }
  if (st.code() != ENOENT) return false;
  // Gone (an unlink, a rename's source): its nearest existing directory.
  for (std::string d = std::string(PathParent(path));; d = std::string(PathParent(d))) {
    auto dir = files->Stat(conn_.actor, d, true, false);
    if (dir.ok())
      return it->second = dir->attr.IsDir() && CheckAccess(conn_.actor, dir->attr, kMayRead | kMayExec).ok();
    if (dir.code() != ENOENT || d == "/") return false;
  }
}

kj::Promise<void> OpsImpl::log(LogContext context) {
  return Serve(context, Feature::kOps, [&](auto p, auto) -> Reply {
    NEXUS_ASSIGN_OR_RETURN(ops::OpFilter filter, ParseFilter(p.getFilter()));
    const int64_t before = p.getBeforeId();
    if (before < 0) return Status::Error(EINVAL, "beforeId must be 0 or an operation id");
    const size_t limit = p.getLimit() == 0 ? kDefaultLimit : std::min(p.getLimit(), kMaxLimit);
    const OpsDeps& deps = ctx().ops;
    return Job<Page>(
        context,
        [deps, filter = std::move(filter), before, limit, conn = conn_]() -> Result<Page> {
          // A change just made is in the answer.
          if (deps.feed) NEXUS_RETURN_IF_ERROR(deps.feed->Flush());
          OpVisibility visibility(*conn);
          Page page;
          if (visibility.all()) {
            NEXUS_ASSIGN_OR_RETURN(page.ops, deps.log->Query(filter, before, limit));
            if (page.ops.size() == limit) page.next_before_id = page.ops.back().id;
            return page;
          }
          int64_t cursor = before;
          size_t scanned = 0;
          while (page.ops.size() < limit) {
            NEXUS_ASSIGN_OR_RETURN(auto chunk, deps.log->Query(filter, cursor, limit));
            for (ops::Operation& op : chunk) {
              cursor = op.id;
              ++scanned;
              if (visibility.Visible(op)) page.ops.push_back(std::move(op));
              if (page.ops.size() == limit) break;
            }
            if (chunk.size() < limit && page.ops.size() < limit) return page;  // the end
            if (scanned >= kMaxScanned) break;
          }
          page.next_before_id = cursor;
          return page;
        },
        [](auto results, Page& page) {
          auto list = results.initOps(static_cast<unsigned>(page.ops.size()));
          for (size_t i = 0; i < page.ops.size(); ++i)
            FillRecord(list[static_cast<unsigned>(i)], page.ops[i]);
          results.setNextBeforeId(page.next_before_id);
        });
  });
}

kj::Promise<void> OpsImpl::gc(GcContext context) {
  return ServeAdmin(context, Feature::kOps, "ops gc", [&](auto p, auto) -> Reply {
    ops::OpLog* log = ctx().ops.log;
    const uint32_t keep_days = p.getKeepDays() == 0 ? ctx().ops.keep_days : p.getKeepDays();
    struct Done {
      uint64_t removed = 0;
      int64_t oldest = 0;
    };
    return Job<Done>(
        context,
        [log, keep_days]() -> Result<Done> {
          NEXUS_ASSIGN_OR_RETURN(uint64_t removed, log->Gc(keep_days));
          return Done{removed, log->OldestId()};
        },
        [](auto results, Done& d) {
          results.setRemoved(d.removed);
          results.setOldestId(d.oldest);
        });
  });
}

kj::Promise<void> OpsImpl::stats(StatsContext context) {
  return Serve(context, Feature::kOps, [&](auto, auto) -> Reply {
    ops::OpLog* log = ctx().ops.log;
    ops::OpFeed* feed = ctx().ops.feed;
    const uint32_t keep_days = ctx().ops.keep_days;
    struct Stats {
      uint64_t count = 0;
      int64_t oldest = 0, newest = 0, oldest_ns = 0;
    };
    return Job<Stats>(
        context,
        [log, feed]() -> Result<Stats> {
          if (feed) NEXUS_RETURN_IF_ERROR(feed->Flush());
          return Stats{log->Count(), log->OldestId(), log->NewestId(), log->OldestTimeNs()};
        },
        [keep_days](auto results, Stats& s) {
          results.setOperations(s.count);
          results.setOldestId(s.oldest);
          results.setNewestId(s.newest);
          results.setOldestNs(s.oldest_ns);
          results.setKeepDays(keep_days);
        });
  });
}

kj::Own<rpc::Ops::Server> MakeOpsService(ConnPtr conn) { return kj::heap<OpsImpl>(std::move(conn)); }

}  // namespace nexus
