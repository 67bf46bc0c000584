// FUSE extended-attribute operations.
#include "fs/fuse_ops.h"

namespace nexus::fuseops {
namespace {

// getxattr/listxattr share the size protocol: size 0 asks for the length,
// a too-small buffer is ERANGE.
void ReplySized(fuse_req_t req, const std::string& data, size_t size) {
  if (size == 0) return static_cast<void>(fuse_reply_xattr(req, data.size()));
  if (data.size() > size) return static_cast<void>(fuse_reply_err(req, ERANGE));
  fuse_reply_buf(req, data.data(), data.size());
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  ReplyErr(req,
           Ctx(req).ns->SetXattr(CallerOf(req), InoOf(req, ino), name, std::string_view(value, size), flags));
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto v = Ctx(req).ns->GetXattr(CallerOf(req), InoOf(req, ino), name);
  if (!v.ok()) return ReplyErr(req, v.status());
  ReplySized(req, *v, size);
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto names = Ctx(req).ns->ListXattr(CallerOf(req), InoOf(req, ino));
  if (!names.ok()) return ReplyErr(req, names.status());
  std::string packed;
  for (const auto& n : *names) {
    packed += n;
    packed.push_back('\0');
  }
  ReplySized(req, packed, size);
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ReplyErr(req, Ctx(req).ns->RemoveXattr(CallerOf(req), InoOf(req, ino), name));
}

}  // namespace

void FillXattrOps(fuse_lowlevel_ops& ops) {
  ops.setxattr = SetXattr;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.removexattr = RemoveXattr;
}

}  // namespace nexus::fuseops
