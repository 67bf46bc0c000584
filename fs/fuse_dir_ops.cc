// FUSE directory operations.
//
// A listing is a snapshot taken when reading starts at offset 0 (opendir or
// rewinddir); readdir/readdirplus page through it by index (offset i+1 is
// the entry after index i), so concurrent changes never make a listing skip
// or repeat a name, and a rewind sees the directory as it is now.
#include "fs/fuse_ops.h"

#include <memory>

namespace nexus::fuseops {
namespace {

struct DirHandle {
  std::vector<DirEntry> entries;  // "." and ".." first
  bool fresh = false;             // taken by opendir and not read yet
};

DirHandle* Dir(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

// Entries hold namespace inode numbers; they are turned into this mount's
// numbers (FuseContext::Out) as they are sent.
Status Snapshot(fuse_req_t req, Ino ino, DirHandle* dh) {
  auto entries = Ctx(req).ns->ReadDir(CallerOf(req), ino);
  if (!entries.ok()) return entries.status();
  dh->entries.clear();
  dh->entries.reserve(entries->size() + 2);
  dh->entries.push_back({".", ino, S_IFDIR});
  dh->entries.push_back({"..", ino, S_IFDIR});
  for (auto& e : *entries) dh->entries.push_back(std::move(e));
  dh->fresh = true;
  return Status::Ok();
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto dh = std::make_unique<DirHandle>();
  if (Status st = Snapshot(req, InoOf(req, ino), dh.get()); !st.ok()) return ReplyErr(req, st);
  fi->fh = reinterpret_cast<uint64_t>(dh.release());
  fi->cache_readdir = 0;
  if (fuse_reply_open(req, fi) != 0) delete Dir(fi);
}

void DoReadDir(fuse_req_t req, fuse_ino_t fuse_ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  auto& ctx = Ctx(req);
  const Ino ino = ctx.In(fuse_ino);
  DirHandle* dh = Dir(fi);
  if (off == 0 && !dh->fresh) {  // rewinddir: list the directory as it is now
    if (Status st = Snapshot(req, ino, dh); !st.ok()) return ReplyErr(req, st);
  }
  dh->fresh = false;
  std::string buf(size, '\0');
  size_t used = 0;
  const Caller caller = CallerOf(req);
  for (size_t i = static_cast<size_t>(off); i < dh->entries.size(); ++i) {
    const DirEntry& d = dh->entries[i];
    const off_t next = static_cast<off_t>(i + 1);
    size_t n;
    if (!plus) {
      struct stat st {};
      st.st_ino = ctx.Out(d.ino);
      st.st_mode = d.type;
      n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st, next);
      if (n > size - used) break;
    } else if (i < 2) {  // "." and "..": no lookup reference is taken
      fuse_entry_param e{};
      e.attr.st_ino = ctx.Out(d.ino);
      e.attr.st_mode = d.type;
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e, next);
      if (n > size - used) break;
    } else {
      bool shared = false;
      auto attr = ctx.ns->Lookup(caller, ino, d.name, ctx.NeedsShared() ? &shared : nullptr);
      if (!attr.ok()) continue;  // removed since opendir
      fuse_entry_param e = EntryFor(ctx, *attr, shared);
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e, next);
      if (n > size - used) {
        ctx.ns->Forget(attr->ino, 1);  // not sent: give the reference back
        break;
      }
    }
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReadDir(req, ino, size, off, fi, false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReadDir(req, ino, size, off, fi, true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete Dir(fi);
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  ReplyErr(req, Ctx(req).ns->FsyncDir(InoOf(req, ino)));
}

}  // namespace

void FillDirOps(fuse_lowlevel_ops& ops) {
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FsyncDir;
}

}  // namespace nexus::fuseops
