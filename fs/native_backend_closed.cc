// NativeBackend: the content each close left, kept until the version
// recorder has captured it (fs/backend.h "the content each close left",
// docs/versions.md "Exact capture").
//
// A last close (or an fsync) of a modified file numbers the content the
// backing file holds then: Node::closed_gen. Nothing is copied at the close.
// Until the recorder calls ClosedCaptured, every change to that content is
// preceded by KeepClosedBefore, which moves the content aside into
// DIR/closed/<local>-<gen>:
//   - a change that discards the content (an O_TRUNC open, a truncate to 0,
//     the file freed) while nothing has the file open renames the backing
//     file away; the change then starts from a new, empty backing file, so
//     the common rewrite (`echo x > f`, a compiler's output) costs a rename;
//   - any other change (a partial overwrite, an append, a handle still
//     open elsewhere) copies it once, with mu_ released.
// The recorder reads the live backing file while it still holds the close
// (ClosedStillLive, checked after the read), else the kept copy.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "base/file_util.h"
#include "fs/native_backend.h"

namespace nexus {

std::string NativeBackend::ClosedName(Ino local, uint64_t gen) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIu64 "-%" PRIu64, local, gen);
  return buf;
}

Status NativeBackend::OpenClosedDir() {
  // What a previous run kept and did not capture (it was killed): the
  // recorder's reconcile captures it first (AdoptLeftClosed). A copy the
  // kill interrupted (.tmp) is dropped.
  std::vector<std::string> names, stale;
  NEXUS_RETURN_IF_ERROR(OpenSubdir("closed", &closed_fd_, &names));
  for (const std::string& name : names) {
    unsigned long long local = 0, gen = 0;
    int used = 0;
    if (std::sscanf(name.c_str(), "%llu-%llu%n", &local, &gen, &used) == 2 && name[used] == '\0' && gen != 0)
      closed_left_.emplace_back(local, gen);
    else
      stale.push_back(name);
  }
  for (const std::string& name : stale) ::unlinkat(closed_fd_, name.c_str(), 0);
  return Status::Ok();
}

void NativeBackend::AdoptLeftClosed() {
  std::sort(closed_left_.begin(), closed_left_.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<std::pair<Ino, uint64_t>> kept;
  for (const auto& [local, gen] : closed_left_) {
    next_closed_gen_ = std::max(next_closed_gen_, gen);
    auto it = nodes_.find(local);
    if (it == nodes_.end() || !it->second->attr.IsReg() || PathOfLocal(local).empty()) {
      ::unlinkat(closed_fd_, ClosedName(local, gen).c_str(), 0);
      continue;
    }
    closed_kept_[local][gen] = it->second->attr.mode;
    kept.emplace_back(local, gen);
  }
  closed_left_ = std::move(kept);
  if (!closed_left_.empty())
    spdlog::info("{}/closed: {} close(s) the last run kept and did not capture, captured now", data_dir_,
                 closed_left_.size());
}

std::vector<Backend::LeftClose> NativeBackend::ClosedLeftOver() {
  MutexLock lk(mu_);
  std::vector<LeftClose> out;
  for (const auto& [local, gen] : closed_left_) {
    std::string path = PathOfLocal(local);
    if (!path.empty()) out.push_back({MakeIno(id_, local), gen, std::move(path)});
  }
  closed_left_.clear();
  return out;
}

uint64_t NativeBackend::NumberClosed(Node* n) {
  if (!sink_ || !sink_->KeepsClosedContent() || n->lower_content || n->attr.nlink == 0) return 0;
  n->closed_gen = ++next_closed_gen_;
  return n->closed_gen;
}

Status NativeBackend::CopyClosed(int fd, Ino local, uint64_t gen, mode_t mode, bool of_close,
                                 bool clone_only) {
  const std::string name = ClosedName(local, gen);
  const std::string tmp = name + ".tmp";
  int dst = ::openat(closed_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (dst < 0) return Status::FromErrno("create closed/" + tmp);
  Status st = clone_only ? CloneFileContent(fd, dst) : CopyFileContent(fd, dst);
  ::close(dst);
  if (st.ok() && ::renameat(closed_fd_, tmp.c_str(), closed_fd_, name.c_str()) != 0)
    st = Status::FromErrno("rename closed/" + tmp);
  if (!st.ok()) {
    ::unlinkat(closed_fd_, tmp.c_str(), 0);
    return st;
  }
  MutexLock lk(mu_);
  Node* n = nullptr;
  if (auto it = nodes_.find(local); it != nodes_.end()) n = it->second.get();
  if (of_close && n && n->closed_gen != gen) {
    // Captured while the copy was made: nobody will read it.
    ::unlinkat(closed_fd_, name.c_str(), 0);
    return Status::Ok();
  }
  closed_kept_[local][gen] = mode;
  if (of_close && n) n->closed_gen = 0;
  return Status::Ok();
}

void NativeBackend::KeepClosedOnFree(Node* n) {
  if (n->closed_gen == 0) return;
  const Ino local = LocalOf(n->attr.ino);
  char rel[40];
  BackingRel(local, rel);
  const uint64_t gen = n->closed_gen;
  n->closed_gen = 0;
  // A second name, not a rename: the backing file must stay where it is
  // until the removal is committed (a crash before that finds the file
  // still there, with its content).
  if (::linkat(data_fd_, rel, closed_fd_, ClosedName(local, gen).c_str(), 0) != 0) {
    spdlog::warn("keeping the closed content of inode {}: {}", local, std::strerror(errno));
    return;
  }
  closed_kept_[local][gen] = n->attr.mode;
}

void NativeBackend::NumberPendingClose(Node* n) {
  if (!n->wrote || n->active_writers > 0) return;
  n->wrote = false;
  n->content_dirty = false;
  ChangeDetails details;
  details.content_gen = NumberClosed(n);
  Publish(ChangeEvent::Kind::kContentClosed, n->last_writer, n->attr.ino, 0, {}, 0, {}, false,
          std::move(details));
}

Status NativeBackend::KeepClosedBefore(Ino local, bool replacing, bool pending) {
  if (!sink_ || !sink_->KeepsClosedContent()) return Status::Ok();  // nothing numbered, nothing kept
  {
    MutexLock lk(mu_);
    auto it = nodes_.find(local);
    if (it == nodes_.end()) return Status::Ok();
    if (pending) NumberPendingClose(it->second.get());
    if (it->second->closed_gen == 0) return Status::Ok();
    Node* n = it->second.get();
    if (replacing) {
      char rel[40];
      BackingRel(local, rel);
      const uint64_t gen = n->closed_gen;
      if (::renameat(data_fd_, rel, closed_fd_, ClosedName(local, gen).c_str()) != 0)
        return Status::FromErrno("keep closed content");
      closed_kept_[local][gen] = n->attr.mode;
      n->closed_gen = 0;
      n->blocks_valid = false;
      if (n->handle_fds.empty()) return Status::Ok();  // the change opens a new one
      // Handles still open (a close whose release is on its way, a reader)
      // follow the file, not the kept content.
      int fd = OpenBacking(local, O_RDWR | O_CREAT);
      if (fd < 0) return Status::FromErrno("create backing file");
      for (int h : n->handle_fds) ::dup2(fd, h);
      ::close(fd);
      return Status::Ok();
    }
  }
  // A copy: every other change to this content comes here first and waits
  // for copy_mu_, so the content stays as the close left it while copied.
  MutexLock copying(copy_mu_);
  uint64_t gen;
  mode_t mode;
  {
    MutexLock lk(mu_);
    auto it = nodes_.find(local);
    if (it == nodes_.end() || it->second->closed_gen == 0) return Status::Ok();
    gen = it->second->closed_gen;
    mode = it->second->attr.mode;
  }
  int fd = OpenBacking(local, O_RDONLY);
  if (fd < 0) return Status::FromErrno("open backing file to keep closed content");
  Status st = CopyClosed(fd, local, gen, mode, true);
  ::close(fd);
  return st;
}

Result<Backend::ClosedContent> NativeBackend::OpenClosed(Ino ino, uint64_t gen) {
  if (BackendOf(ino) != id_) return Enoent(ino);
  const Ino local = LocalOf(ino);
  MutexLock lk(mu_);
  if (auto kept = closed_kept_.find(local); kept != closed_kept_.end()) {
    if (auto g = kept->second.find(gen); g != kept->second.end()) {
      int fd = ::openat(closed_fd_, ClosedName(local, gen).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno("open closed content");
      return ClosedContent{fd, g->second, false};
    }
  }
  auto it = nodes_.find(local);
  if (it == nodes_.end() || it->second->closed_gen != gen)
    return Status::Error(ENOENT, "the content of that close is no longer kept");
  int fd = OpenBacking(local, O_RDONLY);
  if (fd < 0) return Status::FromErrno("open backing file");
  return ClosedContent{fd, it->second->attr.mode, true};
}

bool NativeBackend::ClosedStillLive(Ino ino, uint64_t gen) {
  if (BackendOf(ino) != id_) return false;
  MutexLock lk(mu_);
  auto it = nodes_.find(LocalOf(ino));
  return it != nodes_.end() && it->second->closed_gen == gen;
}

void NativeBackend::ClosedCaptured(Ino ino, uint64_t gen) {
  if (BackendOf(ino) != id_) return;
  const Ino local = LocalOf(ino);
  MutexLock lk(mu_);
  if (auto it = nodes_.find(local);
      it != nodes_.end() && it->second->closed_gen != 0 && it->second->closed_gen <= gen)
    it->second->closed_gen = 0;
  auto kept = closed_kept_.find(local);
  if (kept == closed_kept_.end()) return;
  auto& gens = kept->second;
  for (auto g = gens.begin(); g != gens.end() && g->first <= gen;) {
    ::unlinkat(closed_fd_, ClosedName(local, g->first).c_str(), 0);
    g = gens.erase(g);
  }
  if (gens.empty()) closed_kept_.erase(kept);
}

}  // namespace nexus
