#include "fs/fuse_ops.h"

#include <spdlog/spdlog.h>

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
  caller.principal = ctx.principal                 ? ctx.principal
                     : ctx.principals != nullptr ? ctx.principals->ForUid(c->uid, c->gid)
                                                 : nullptr;
  caller.mount = ctx.id;
  return caller;
}

namespace {
// The measurement of the request this thread is handling (see Instrument).
thread_local OpTimer* current_op = nullptr;
}  // namespace

void ReplyErr(fuse_req_t req, const Status& st) {
  if (!st.ok() && current_op) current_op->Fail();
  if (!st.ok() && st.code() != ENOENT && st.code() != ENODATA)
    spdlog::debug("request failed: {}", st.ToString());
  fuse_reply_err(req, st.ok() ? 0 : st.code());
}

fuse_entry_param EntryFor(const FuseContext& ctx, const Attr& attr) {
  fuse_entry_param e{};
  e.ino = ctx.Out(attr.ino);
  e.generation = 1;  // inode numbers are never reused within a data dir
  e.attr = attr.ToStat();
  e.attr.st_ino = e.ino;
  e.entry_timeout = ctx.EntryTimeoutFor(attr.ino);
  e.attr_timeout = ctx.TimeoutFor(attr.ino);
  return e;
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
  spdlog::info("FUSE session ready: proto {}.{}, max_write {}, writeback_cache {}",
               conn->proto_major, conn->proto_minor, conn->max_write,
               (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0);
}

void StatFs(fuse_req_t req, fuse_ino_t ino) {
  auto sv = Ctx(req).ns->StatFs(InoOf(req, ino));
  if (!sv.ok()) return ReplyErr(req, sv.status());
  fuse_reply_statfs(req, &*sv);
}

// Wraps operation `fn` (index I in FuseOpNames) so every call is timed and
// counted, and errors replied through ReplyErr are counted as failures.
template <size_t I, typename... A>
struct Instrumented {
  static inline void (*op)(fuse_req_t, A...) = nullptr;
  static void Call(fuse_req_t req, A... args) {
    OpMetrics* m = Ctx(req).metrics;
    OpTimer timer(m ? &m->At(I) : nullptr);
    current_op = &timer;
    op(req, args...);
    current_op = nullptr;
  }
};

template <size_t I, typename... A>
void Instrument(void (*&fn)(fuse_req_t, A...)) {
  if (!fn) return;
  Instrumented<I, A...>::op = fn;
  fn = &Instrumented<I, A...>::Call;
}

const char* const kOpNames[] = {
    "lookup",  "forget",   "forget_multi", "getattr",     "setattr",    "readlink", "mknod",
    "mkdir",   "unlink",   "rmdir",        "symlink",     "rename",     "link",     "open",
    "read",    "write",    "flush",        "release",     "fsync",      "opendir",  "readdir",
    "readdirplus", "releasedir", "fsyncdir", "statfs",    "setxattr",   "getxattr", "listxattr",
    "removexattr", "create", "fallocate",  "lseek"};

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.statfs = StatFs;
  FillEntryOps(ops);
  FillFileOps(ops);
  FillDirOps(ops);
  FillXattrOps(ops);
  Instrument<0>(ops.lookup);
  Instrument<1>(ops.forget);
  Instrument<2>(ops.forget_multi);
  Instrument<3>(ops.getattr);
  Instrument<4>(ops.setattr);
  Instrument<5>(ops.readlink);
  Instrument<6>(ops.mknod);
  Instrument<7>(ops.mkdir);
  Instrument<8>(ops.unlink);
  Instrument<9>(ops.rmdir);
  Instrument<10>(ops.symlink);
  Instrument<11>(ops.rename);
  Instrument<12>(ops.link);
  Instrument<13>(ops.open);
  Instrument<14>(ops.read);
  Instrument<15>(ops.write_buf);
  Instrument<16>(ops.flush);
  Instrument<17>(ops.release);
  Instrument<18>(ops.fsync);
  Instrument<19>(ops.opendir);
  Instrument<20>(ops.readdir);
  Instrument<21>(ops.readdirplus);
  Instrument<22>(ops.releasedir);
  Instrument<23>(ops.fsyncdir);
  Instrument<24>(ops.statfs);
  Instrument<25>(ops.setxattr);
  Instrument<26>(ops.getxattr);
  Instrument<27>(ops.listxattr);
  Instrument<28>(ops.removexattr);
  Instrument<29>(ops.create);
  Instrument<30>(ops.fallocate);
  Instrument<31>(ops.lseek);
  return ops;
}

}  // namespace
}  // namespace fuseops

std::vector<std::string> FuseOpNames() {
  return std::vector<std::string>(std::begin(fuseops::kOpNames), std::end(fuseops::kOpNames));
}

const fuse_lowlevel_ops& NexusFuseOps() {
  static const fuse_lowlevel_ops ops = fuseops::MakeOps();
  return ops;
}

}  // namespace nexus
