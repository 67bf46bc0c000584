// FUSE entry operations: names and attributes.
#include "fs/fuse_ops.h"

#include <spdlog/spdlog.h>

namespace nexus::fuseops {
namespace {

void ReplyAttr(fuse_req_t req, const Result<Attr>& attr) {
  if (!attr.ok()) return ReplyErr(req, attr.status());
  struct stat st = attr->ToStat();
  st.st_ino = Ctx(req).Out(attr->ino);
  fuse_reply_attr(req, &st, Ctx(req).TimeoutFor(attr->ino));
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const FuseContext& ctx = Ctx(req);
  bool shared = false;
  auto attr = ctx.ns->Lookup(CallerOf(req), InoOf(req, parent), name, ctx.NeedsShared() ? &shared : nullptr);
  if (!attr.ok() && attr.code() == ENOENT) {
    // A negative entry the kernel may cache; created names invalidate it.
    fuse_entry_param e{};
    e.entry_timeout = ctx.EntryTimeoutFor(InoOf(req, parent), shared);
    fuse_reply_entry(req, &e);
    return;
  }
  if (!attr.ok()) return ReplyErr(req, attr.status());
  fuse_entry_param e = EntryFor(ctx, *attr, shared);
  fuse_reply_entry(req, &e);
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Ctx(req).ns->Forget(InoOf(req, ino), nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Ctx(req).ns->Forget(InoOf(req, forgets[i].ino), forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ReplyAttr(req, Ctx(req).ns->GetAttr(CallerOf(req), InoOf(req, ino)));
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* st, int to_set, fuse_file_info* fi) {
  SetAttrRequest r;
  struct {
    int fuse_bit;
    uint32_t ours;
  } const bits[] = {
      {FUSE_SET_ATTR_MODE, SetAttrRequest::kMode},
      {FUSE_SET_ATTR_UID, SetAttrRequest::kUid},
      {FUSE_SET_ATTR_GID, SetAttrRequest::kGid},
      {FUSE_SET_ATTR_SIZE, SetAttrRequest::kSize},
      {FUSE_SET_ATTR_ATIME, SetAttrRequest::kAtime},
      {FUSE_SET_ATTR_MTIME, SetAttrRequest::kMtime},
      {FUSE_SET_ATTR_ATIME_NOW, SetAttrRequest::kAtimeNow},
      {FUSE_SET_ATTR_MTIME_NOW, SetAttrRequest::kMtimeNow},
      {FUSE_SET_ATTR_CTIME, SetAttrRequest::kCtime},
  };
  for (const auto& b : bits)
    if (to_set & b.fuse_bit) r.valid |= b.ours;
  r.mode = st->st_mode;
  r.uid = st->st_uid;
  r.gid = st->st_gid;
  r.size = static_cast<uint64_t>(st->st_size);
  r.atime = st->st_atim;
  r.mtime = st->st_mtim;
  r.ctime = st->st_ctim;
  ReplyAttr(req, Ctx(req).ns->SetAttr(CallerOf(req), InoOf(req, ino), r, fi ? Handle(fi) : nullptr));
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  auto target = Ctx(req).ns->ReadLink(CallerOf(req), InoOf(req, ino));
  if (!target.ok()) return ReplyErr(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  ReplyNewEntry(req, InoOf(req, parent), name,
                Ctx(req).ns->MkNod(CallerOf(req), InoOf(req, parent), name, mode, rdev));
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyNewEntry(req, InoOf(req, parent), name,
                Ctx(req).ns->MkDir(CallerOf(req), InoOf(req, parent), name, mode));
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  ReplyNewEntry(req, InoOf(req, parent), name,
                Ctx(req).ns->Symlink(CallerOf(req), link, InoOf(req, parent), name));
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  ReplyNewEntry(req, InoOf(req, new_parent), new_name,
                Ctx(req).ns->Link(CallerOf(req), InoOf(req, ino), InoOf(req, new_parent), new_name));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, Ctx(req).ns->Unlink(CallerOf(req), InoOf(req, parent), name));
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, Ctx(req).ns->RmDir(CallerOf(req), InoOf(req, parent), name));
}

// After a rename on a kShared mount: the kernel moves its cached entry
// with the cache lifetime it had, and a moved directory's cached names
// with it; if the entry left at `name` in `parent` is not shared there (or
// names below it may not be), every cached name is revalidated before the
// rename returns.
void KeepNamesShared(const FuseContext& ctx, Ino parent, const char* name) {
  auto attr = ctx.ns->Lookup(Caller{}, parent, name);
  if (!attr.ok()) return;  // gone already: nothing of it is cached
  const bool stays = ctx.ns->NamesStayShared(parent, name, *attr);
  ctx.ns->Forget(attr->ino, 1);
  if (stays || !ctx.kernel) return;
  // Cannot fail once the mount's probe found the kernel accepts it.
  if (Status st = ctx.kernel->RevalidateNames(); !st.ok())
    spdlog::error("{}: cached names not revalidated after a rename: {}", ctx.mountpoint, st.ToString());
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent, const char* new_name,
            unsigned flags) {
  const FuseContext& ctx = Ctx(req);
  Status st =
      ctx.ns->Rename(CallerOf(req), InoOf(req, parent), name, InoOf(req, new_parent), new_name, flags);
  if (st.ok() && ctx.NeedsShared()) {
    KeepNamesShared(ctx, InoOf(req, new_parent), new_name);
    if (flags & RENAME_EXCHANGE) KeepNamesShared(ctx, InoOf(req, parent), name);
  }
  ReplyErr(req, st);
}

}  // namespace

void FillEntryOps(fuse_lowlevel_ops& ops) {
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.symlink = Symlink;
  ops.link = Link;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.rename = Rename;
}

}  // namespace nexus::fuseops
