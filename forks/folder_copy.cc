#include "forks/folder_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <unordered_map>
#include <vector>

namespace nexus::forks {
namespace {

// Drops one lookup reference on `ino` when it goes out of scope.
class Ref {
 public:
  Ref(Backend& b, Ino ino) : b_(b), ino_(ino) {}
  ~Ref() {
    if (ino_ != b_.root()) b_.Forget(ino_, 1);
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;

 private:
  Backend& b_;
  Ino ino_;
};

Status CopyBytes(int in, int out, uint64_t size) {
  off_t off_in = 0, off_out = 0;
  bool plain = false;
  std::vector<char> buf;
  while (static_cast<uint64_t>(off_in) < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - off_in, uint64_t{1} << 30));
    ssize_t n;
    if (!plain) {
      n = ::copy_file_range(in, &off_in, out, &off_out, want, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        plain = true;
        continue;
      }
    } else {
      buf.resize(std::min<size_t>(want, 1 << 20));
      n = ::pread(in, buf.data(), buf.size(), off_in);
      if (n > 0) {
        ssize_t done = 0;
        while (done < n) {
          ssize_t w = ::pwrite(out, buf.data() + done, n - done, off_out + done);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return Status::FromErrno("write");
          done += w;
        }
        off_in += n;
        off_out += n;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("copy");
    if (n == 0) break;  // the source shrank while copied
  }
  return Status::Ok();
}

class Copier {
 public:
  Copier(Backend& from, Backend& to) : from_(from), to_(to) {
    daemon_.uid = ::geteuid();
    daemon_.gid = ::getegid();
    daemon_.umask = 0;
  }

  // Xattrs, then mode, owner and times of `a` onto `to_ino`.
  Status CopyMeta(const Attr& a, Ino to_ino) {
    if (!a.IsLnk()) {
      NEXUS_ASSIGN_OR_RETURN(auto names, from_.ListXattr(a.ino));
      for (const auto& name : names) {
        auto value = from_.GetXattr(a.ino, name);
        if (!value.ok()) {
          if (value.code() == ENODATA) continue;  // gone meanwhile
          return value.status();
        }
        NEXUS_RETURN_IF_ERROR(to_.SetXattr(daemon_, to_ino, name, *value, 0));
      }
    }
    SetAttrRequest req;
    req.valid = SetAttrRequest::kUid | SetAttrRequest::kGid | SetAttrRequest::kAtime | SetAttrRequest::kMtime;
    if (!a.IsLnk()) req.valid |= SetAttrRequest::kMode;
    req.mode = a.mode & 07777;
    req.uid = a.uid;
    req.gid = a.gid;
    req.atime = a.atime;
    req.mtime = a.mtime;
    return to_.SetAttr(daemon_, to_ino, req, nullptr).status();
  }

  Status CopyDir(Ino from_dir, Ino to_dir) {
    NEXUS_ASSIGN_OR_RETURN(auto entries, from_.ReadDir(daemon_, from_dir));
    for (const auto& e : entries) {
      if (e.name == "." || e.name == "..") continue;
      NEXUS_RETURN_IF_ERROR(CopyEntry(from_dir, to_dir, e.name));
    }
    return Status::Ok();
  }

  Status CopyEntry(Ino from_dir, Ino to_dir, const std::string& name) {
    auto looked = from_.Lookup(daemon_, from_dir, name);
    if (!looked.ok()) return looked.code() == ENOENT ? Status::Ok() : looked.status();  // gone meanwhile
    const Attr a = *looked;
    Ref from_ref(from_, a.ino);
    ++stats_.files;
    if (a.IsReg() && a.nlink > 1) {
      if (auto it = links_.find(a.ino); it != links_.end()) {
        NEXUS_ASSIGN_OR_RETURN(Attr linked, to_.Link(daemon_, it->second, to_dir, name));
        Ref to_ref(to_, linked.ino);
        return Status::Ok();
      }
    }
    Attr made;
    if (a.IsDir()) {
      NEXUS_ASSIGN_OR_RETURN(made, to_.MkDir(daemon_, to_dir, name, a.mode & 07777));
      Ref to_ref(to_, made.ino);
      NEXUS_RETURN_IF_ERROR(CopyDir(a.ino, made.ino));
      return CopyMeta(a, made.ino);  // after the entries, which move its times
    }
    if (a.IsReg()) {
      NEXUS_ASSIGN_OR_RETURN(auto in, from_.Open(daemon_, a.ino, O_RDONLY));
      auto created = to_.Create(daemon_, to_dir, name, a.mode & 07777, O_WRONLY);
      if (!created.ok()) {
        from_.Release(std::move(in));
        return created.status();
      }
      made = created->attr;
      struct stat st;
      Status copied = ::fstat(in->fd, &st) == 0 ? CopyBytes(in->fd, created->handle->fd, st.st_size)
                                                : Status::FromErrno("stat");
      if (copied.ok() && st.st_size > 0) {
        to_.OnWrite(*created->handle, 0, st.st_size);
        created->handle->written = true;
        stats_.bytes += st.st_size;
      }
      from_.Release(std::move(in));
      to_.Release(std::move(created->handle));
      NEXUS_RETURN_IF_ERROR(copied);
      if (a.nlink > 1) links_[a.ino] = made.ino;
    } else if (a.IsLnk()) {
      NEXUS_ASSIGN_OR_RETURN(std::string target, from_.ReadLink(a.ino));
      NEXUS_ASSIGN_OR_RETURN(made, to_.Symlink(daemon_, target, to_dir, name));
    } else {
      NEXUS_ASSIGN_OR_RETURN(made, to_.MkNod(daemon_, to_dir, name, a.mode, a.rdev));
    }
    Ref to_ref(to_, made.ino);
    return CopyMeta(a, made.ino);
  }

  const CopyStats& stats() const { return stats_; }

 private:
  Backend& from_;
  Backend& to_;
  Caller daemon_;
  std::unordered_map<Ino, Ino> links_;  // hard-linked source file -> its copy
  CopyStats stats_;
};

}  // namespace

Result<CopyStats> CopyFolder(Backend& from, Ino from_dir, Backend& to, Ino to_dir) {
  Copier c(from, to);
  NEXUS_ASSIGN_OR_RETURN(Attr root, from.GetAttr(from_dir));
  NEXUS_RETURN_IF_ERROR(c.CopyDir(from_dir, to_dir));
  NEXUS_RETURN_IF_ERROR(c.CopyMeta(root, to_dir));
  return c.stats();
}

}  // namespace nexus::forks
