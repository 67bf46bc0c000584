#include "fs/fuse_ops.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <type_traits>
#include <utility>

namespace nexus {
namespace fuseops {

FuseContext& Ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  const FuseContext& ctx = Ctx(req);
  Caller caller;
  caller.uid = c->uid;
  caller.gid = c->gid;
  caller.pid = c->pid;
  caller.umask = c->umask;
  caller.principal = ctx.principal               ? ctx.principal
                     : ctx.principals != nullptr ? ctx.principals->ForUid(c->uid, c->gid)
                                                 : nullptr;
  caller.mount = ctx.id;
  return caller;
}

namespace {
// The measurement of the request this thread is handling (see Instrumented).
thread_local OpTimer* current_op = nullptr;
}  // namespace

void ReplyErr(fuse_req_t req, const Status& st) {
  if (!st.ok() && current_op) current_op->Fail();
  if (!st.ok() && st.code() != ENOENT && st.code() != ENODATA)
    spdlog::debug("request failed: {}", st.ToString());
  fuse_reply_err(req, st.ok() ? 0 : st.code());
}

fuse_entry_param EntryFor(const FuseContext& ctx, const Attr& attr, bool shared) {
  fuse_entry_param e{};
  e.ino = ctx.Out(attr.ino);
  e.generation = 1;  // inode numbers are never reused within a data dir
  e.attr = attr.ToStat();
  e.attr.st_ino = e.ino;
  e.entry_timeout = ctx.EntryTimeoutFor(attr.ino, shared);
  e.attr_timeout = ctx.TimeoutFor(attr.ino);
  return e;
}

void ReplyNewEntry(fuse_req_t req, Ino parent, const char* name, const Result<Attr>& attr) {
  if (!attr.ok()) return ReplyErr(req, attr.status());
  const FuseContext& ctx = Ctx(req);
  const bool shared = ctx.NeedsShared() && ctx.ns->SharedName(parent, name, *attr);
  fuse_entry_param e = EntryFor(ctx, *attr, shared);
  fuse_reply_entry(req, &e);
}

FileHandle* Handle(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

namespace {

void Init(void* userdata, fuse_conn_info* conn) {
  auto* ctx = static_cast<FuseContext*>(userdata);
  auto want = [&](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ATOMIC_O_TRUNC);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_ASYNC_DIO);
  want(FUSE_CAP_SPLICE_WRITE);
  want(FUSE_CAP_SPLICE_MOVE);
  want(FUSE_CAP_SPLICE_READ);
  want(FUSE_CAP_READDIRPLUS);
  want(FUSE_CAP_READDIRPLUS_AUTO);
  want(FUSE_CAP_CACHE_SYMLINKS);
  if (ctx->settings.writeback_cache) want(FUSE_CAP_WRITEBACK_CACHE);
  // Locks stay kernel-local (see fuse_ops.h).
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  conn->max_write = std::min(conn->max_write, ctx->settings.max_write);
  conn->max_readahead = conn->max_write;
  conn->time_gran = 1;
  spdlog::info("FUSE session ready: proto {}.{}, max_write {}, writeback_cache {}", conn->proto_major,
               conn->proto_minor, conn->max_write, (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0);
}

void StatFs(fuse_req_t req, fuse_ino_t ino) {
  auto sv = Ctx(req).ns->StatFs(InoOf(req, ino));
  if (!sv.ok()) return ReplyErr(req, sv.status());
  fuse_reply_statfs(req, &*sv);
}

// Wraps the op in `fuse_lowlevel_ops::*Member` so every call is timed and
// counted under its row of kOps, and errors replied through ReplyErr are
// counted as failures.
template <auto Member,
          typename Fn = std::remove_reference_t<decltype(std::declval<fuse_lowlevel_ops&>().*Member)>>
struct Instrumented;
template <auto Member, typename... A>
struct Instrumented<Member, void (*)(fuse_req_t, A...)> {
  static inline void (*op)(fuse_req_t, A...) = nullptr;
  static inline size_t index = 0;  // in kOps, so in FuseOpNames
  static void Call(fuse_req_t req, A... args) {
    OpMetrics* m = Ctx(req).metrics;
    OpTimer timer(m ? &m->At(index) : nullptr);
    current_op = &timer;
    op(req, args...);
    current_op = nullptr;
  }
  static void Register(fuse_lowlevel_ops& ops, size_t i) {
    if (!(ops.*Member)) return;
    op = ops.*Member;
    index = i;
    ops.*Member = &Call;
  }
};

// The measured ops: each row names a metric and wraps the op it measures,
// so a name cannot drift from its op. Order is the metrics' order.
struct OpRow {
  const char* name;
  void (*instrument)(fuse_lowlevel_ops&, size_t index);
};
template <auto Member>
constexpr OpRow Row(const char* name) {
  return {name, &Instrumented<Member>::Register};
}
using Ops = fuse_lowlevel_ops;
constexpr OpRow kOps[] = {
    Row<&Ops::lookup>("lookup"),
    Row<&Ops::forget>("forget"),
    Row<&Ops::forget_multi>("forget_multi"),
    Row<&Ops::getattr>("getattr"),
    Row<&Ops::setattr>("setattr"),
    Row<&Ops::readlink>("readlink"),
    Row<&Ops::mknod>("mknod"),
    Row<&Ops::mkdir>("mkdir"),
    Row<&Ops::unlink>("unlink"),
    Row<&Ops::rmdir>("rmdir"),
    Row<&Ops::symlink>("symlink"),
    Row<&Ops::rename>("rename"),
    Row<&Ops::link>("link"),
    Row<&Ops::open>("open"),
    Row<&Ops::read>("read"),
    Row<&Ops::write_buf>("write"),
    Row<&Ops::flush>("flush"),
    Row<&Ops::release>("release"),
    Row<&Ops::fsync>("fsync"),
    Row<&Ops::opendir>("opendir"),
    Row<&Ops::readdir>("readdir"),
    Row<&Ops::readdirplus>("readdirplus"),
    Row<&Ops::releasedir>("releasedir"),
    Row<&Ops::fsyncdir>("fsyncdir"),
    Row<&Ops::statfs>("statfs"),
    Row<&Ops::setxattr>("setxattr"),
    Row<&Ops::getxattr>("getxattr"),
    Row<&Ops::listxattr>("listxattr"),
    Row<&Ops::removexattr>("removexattr"),
    Row<&Ops::create>("create"),
    Row<&Ops::fallocate>("fallocate"),
    Row<&Ops::lseek>("lseek"),
};

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.statfs = StatFs;
  FillEntryOps(ops);
  FillFileOps(ops);
  FillDirOps(ops);
  FillXattrOps(ops);
  for (size_t i = 0; i < std::size(kOps); ++i) kOps[i].instrument(ops, i);
  return ops;
}

}  // namespace
}  // namespace fuseops

std::vector<std::string> FuseOpNames() {
  std::vector<std::string> names;
  for (const auto& row : fuseops::kOps) names.push_back(row.name);
  return names;
}

const fuse_lowlevel_ops& NexusFuseOps() {
  static const fuse_lowlevel_ops ops = fuseops::MakeOps();
  return ops;
}

}  // namespace nexus
