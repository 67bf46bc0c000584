// FUSE file operations: open files and their data.
//
// Data never passes through a copy of ours: reads hand libfuse the backing
// fd to splice from, writes are spliced from the request into the fd.
#include <fcntl.h>
#include <unistd.h>

#include "fs/fuse_ops.h"

namespace nexus::fuseops {
namespace {

void SetOpenFlags(const FuseContext& ctx, fuse_ino_t ino, fuse_file_info* fi) {
  // Native contents change only through NexusFS: keep the page cache across
  // opens. A workspace can change behind our back: drop it on open.
  fi->keep_cache = BackendOf(ino) == 0 ? 1 : 0;
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& ctx = Ctx(req);
  auto fh = ctx.ns->Open(CallerOf(req), ctx.In(ino), fi->flags);
  if (!fh.ok()) return ReplyErr(req, fh.status());
  SetOpenFlags(ctx, ctx.In(ino), fi);
  fi->fh = reinterpret_cast<uint64_t>(fh->release());
  ctx.open_handles.fetch_add(1, std::memory_order_relaxed);
  if (fuse_reply_open(req, fi) != 0) {  // interrupted: the kernel will not release it
    ctx.ns->Release(std::unique_ptr<FileHandle>(Handle(fi)));
    ctx.open_handles.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto& ctx = Ctx(req);
  auto created = ctx.ns->Create(CallerOf(req), ctx.In(parent), name, mode, fi->flags);
  if (!created.ok()) return ReplyErr(req, created.status());
  const bool shared = ctx.NeedsShared() && ctx.ns->SharedName(ctx.In(parent), name, created->attr);
  fuse_entry_param e = EntryFor(ctx, created->attr, shared);
  SetOpenFlags(ctx, created->attr.ino, fi);
  fi->fh = reinterpret_cast<uint64_t>(created->handle.release());
  ctx.open_handles.fetch_add(1, std::memory_order_relaxed);
  if (fuse_reply_create(req, &e, fi) != 0) {
    ctx.ns->Release(std::unique_ptr<FileHandle>(Handle(fi)));
    ctx.ns->Forget(created->attr.ino, 1);
    ctx.open_handles.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = Handle(fi)->fd;
  buf.buf[0].pos = off;
  Ctx(req).bytes_read.fetch_add(size, std::memory_order_relaxed);
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void WriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  FileHandle* fh = Handle(fi);
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = fh->fd;
  out.buf[0].pos = off;
  // A duplicate of a closed descriptor writes on: the handle is in use
  // again, and a close numbered meanwhile is kept first.
  if (fh->flushed.load(std::memory_order_relaxed)) Ctx(req).ns->BeforeWrite(*fh);
  ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
  if (n < 0) {
    ReplyErr(req, Status::Error(static_cast<int>(-n), "write"));
    return;
  }
  fh->written = true;
  Ctx(req).bytes_written.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  Ctx(req).ns->OnWrite(*fh, static_cast<uint64_t>(off), static_cast<uint64_t>(n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Ctx(req).ns->Release(std::unique_ptr<FileHandle>(Handle(fi)));
  Ctx(req).open_handles.fetch_sub(1, std::memory_order_relaxed);
  fuse_reply_err(req, 0);
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { ReplyErr(req, Ctx(req).ns->Flush(*Handle(fi))); }

void Fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  ReplyErr(req, Ctx(req).ns->Fsync(*Handle(fi), datasync != 0));
}

void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  ReplyErr(req, Ctx(req).ns->Fallocate(*Handle(fi), mode, offset, length));
}

void Lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  // With the writeback cache, data may still sit in the kernel: the backing
  // file cannot tell holes. ENOSYS makes the kernel answer by itself (the
  // whole file is data), which POSIX allows.
  if (Ctx(req).settings.writeback_cache) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  off_t res = ::lseek(Handle(fi)->fd, off, whence);
  if (res < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_lseek(req, res);
}

}  // namespace

void FillFileOps(fuse_lowlevel_ops& ops) {
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write_buf = WriteBuf;
  // Flush is close(2) itself: the release that follows comes later,
  // asynchronously, so a close is only known to be the last one in time to
  // number its content (every close a version) at the flush. Without
  // versioning the backend answers the first FLUSH with ENOSYS and the
  // kernel sends no more: one round trip less per close.
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.fallocate = Fallocate;
  ops.lseek = Lseek;
}

}  // namespace nexus::fuseops
