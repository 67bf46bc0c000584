#include "daemon/subject_mounts.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/ns_path.h"
#include "fs/path_files.h"

namespace nexus {

SubjectMountTable::SubjectMountTable(Namespace* ns, RebacPolicy* policy, PrincipalTable* principals,
                                     FuseContext* main, unsigned threads)
    : ns_(ns), policy_(policy), principals_(principals), main_ctx_(main), threads_(threads) {
  expiry_ = std::thread([this] { ExpiryLoop(); });
}

SubjectMountTable::~SubjectMountTable() {
  std::vector<std::unique_ptr<Mount>> all;
  {
    MutexLock lk(mu_);
    all.swap(mounts_);
    stop_ = true;
  }
  expiry_cv_.notify_all();
  expiry_.join();
  for (auto& m : all) Stop(*m);
}

void SubjectMountTable::Revalidate(Mount& m) {
  if (!m.epoch) return;
  if (Status st = m.fuse->IncrementEpoch(); !st.ok()) {
    // Cannot happen once the probe at Add succeeded; stay exact if it does.
    spdlog::warn("{}: {}; caching no names from now on", m.info.mountpoint, st.ToString());
    m.ctx->names = NameCaching::kNone;
    m.epoch = false;
    return;
  }
  m.valid_until = policy_->GrantsValidUntil(m.info.subject);
}

void SubjectMountTable::RevalidateMain() {
  if (!main_epoch_ || !main_) return;
  if (Status st = main_->RevalidateNames(); !st.ok()) {
    spdlog::warn("{}: {}; caching no names from now on", main_ctx_->mountpoint, st.ToString());
    main_ctx_->names = NameCaching::kNone;
    main_ctx_->kernel = nullptr;
    main_epoch_ = false;
    return;
  }
  main_valid_until_ = policy_->ViewsValidUntil();
}

void SubjectMountTable::OnAccessChanged() {
  {
    MutexLock lk(mu_);
    RevalidateMain();
    for (auto& m : mounts_) Revalidate(*m);
  }
  expiry_cv_.notify_all();
}

void SubjectMountTable::ExpiryLoop() {
  MutexLock lk(mu_);
  while (!stop_) {
    const UnixNanos now = DefaultClock().Now();
    UnixNanos next = kNever;
    if (main_epoch_) {
      if (main_valid_until_ <= now) RevalidateMain();
      next = main_valid_until_;
    }
    for (auto& m : mounts_) {
      if (!m->epoch) continue;
      if (m->valid_until <= now) Revalidate(*m);
      next = std::min(next, m->valid_until);
    }
    if (next == kNever) {
      lk.Wait(expiry_cv_);
    } else {
      lk.WaitFor(expiry_cv_, std::chrono::nanoseconds(std::max<UnixNanos>(next - now, 0)));
    }
  }
}

void SubjectMountTable::SetMainMount(KernelCache* main, bool shared_names) {
  {
    MutexLock lk(mu_);
    main_ = main;
    main_epoch_ = false;
    if (!main) {
      main_ctx_->kernel = nullptr;
      main_ctx_->names = NameCaching::kNone;
      return;
    }
    if (shared_names) {
      if (Status st = main->RevalidateNames(); st.ok()) {
        main_epoch_ = true;
        main_valid_until_ = policy_->ViewsValidUntil();
        main_ctx_->kernel = main;
        main_ctx_->names = NameCaching::kShared;
      } else {
        spdlog::warn("{}: the kernel cannot revalidate names on request ({}); caching none",
                     main_ctx_->mountpoint, st.message());
      }
    }
    spdlog::info("{}: the kernel caches {}", main_ctx_->mountpoint,
                 main_epoch_ ? "the names every uid sees alike" : "no names (each is checked per caller)");
  }
  expiry_cv_.notify_all();
}

void SubjectMountTable::Stop(Mount& m) {
  spdlog::info("unmounting {} (as {})", m.info.mountpoint, m.info.subject);
  m.fuse->RequestStop();
  if (m.serve.joinable()) m.serve.join();
  m.fuse.reset();  // unmounts
  if (m.ctx->root != kRootIno) m.ctx->ns->Forget(m.ctx->root, 1);
}

Result<SubjectMountInfo> SubjectMountTable::Add(const std::string& mountpoint, const std::string& subject,
                                                const std::string& root_in, bool cache_names) {
  auto who = principals_->ForSubjectMount(subject);
  if (!who.ok()) return who.status();
  if (mountpoint.empty() || mountpoint[0] != '/')
    return Status::Error(EINVAL, "the mount point must be an absolute path");
  auto root_path = NsPath::ParseOptional(root_in);
  if (!root_path.ok()) return root_path.status();
  auto mnt_path = NsPath::Parse(mountpoint);
  if (!mnt_path.ok()) return mnt_path.status();
  const std::string* root = &root_path->str();
  const std::string* mnt = &mnt_path->str();
  const std::string& main_mnt = main_ctx_->mountpoint;
  if (!main_mnt.empty() && PathIsUnder(*mnt, main_mnt))
    return Status::Error(EINVAL, "the mount point " + *mnt + " is inside the NexusFS mount " + main_mnt);

  MutexLock add(add_mu_);
  {
    MutexLock lk(mu_);
    for (const auto& m : mounts_)
      if (m->info.mountpoint == *mnt)
        return Status::Error(EBUSY, *mnt + " is already mounted as " + m->info.subject);
  }
  NEXUS_RETURN_IF_ERROR(PrepareMountpoint(*mnt));

  auto m = std::make_unique<Mount>();
  m->ctx = std::make_unique<FuseContext>();
  m->ctx->ns = ns_;
  m->ctx->settings = main_ctx_->settings;
  m->ctx->metrics = main_ctx_->metrics;
  m->ctx->principal = *who;
  m->ctx->id = static_cast<MountId>(next_id_++);
  m->ctx->names = NameCaching::kNone;  // until the kernel is known to take epochs
  m->ctx->mountpoint = *mnt;
  auto attr = ns_->ResolvePinned(Caller{}, *root);  // as the daemon: pinned for the mount's life
  if (!attr.ok()) return Status::Error(attr.code(), "root " + *root + ": " + attr.status().message());
  m->ctx->root = attr->ino;
  auto unpin = [&] {
    if (attr->ino != kRootIno) ns_->Forget(attr->ino, 1);
  };
  if (!attr->IsDir()) {
    unpin();
    return Status::Error(ENOTDIR, "root " + *root + " is not a directory");
  }
  Caller as;
  as.uid = 65534;
  as.principal = *who;
  if (*root != "/" && !policy_->Unrestricted(as) && !policy_->CanSee(as, *root, true)) {
    unpin();
    return Status::Error(EACCES, subject + " cannot see " + *root);
  }
  FuseMount::Options mo;
  mo.mountpoint = *mnt;
  mo.max_threads = threads_;
  auto fuse = FuseMount::Create(m->ctx.get(), mo);
  if (!fuse.ok()) {
    unpin();
    return fuse.status();
  }
  m->fuse = std::move(fuse).value();
  m->info = {*mnt, subject, *root, DefaultClock().Now(), false};
  FuseMount* f = m->fuse.get();
  std::string where = *mnt;
  m->serve = std::thread([f, where] {
    if (Status st = f->Serve(); !st.ok()) spdlog::warn("mount {}: {}", where, st.ToString());
  });
  // Names may be cached if this kernel revalidates them on request.
  if (cache_names) {
    if (Status st = m->fuse->IncrementEpoch(); st.ok()) {
      m->epoch = true;
      m->info.cache_names = true;
      m->valid_until = policy_->GrantsValidUntil(subject);
      m->ctx->names = NameCaching::kAll;
    } else {
      spdlog::warn("{}: the kernel cannot revalidate names on request ({}); caching none", *mnt,
                   st.message());
    }
  }
  spdlog::info("mounted {} at {} as {}{}", *root, *mnt, subject,
               m->info.cache_names ? " (names cached)" : "");
  SubjectMountInfo info = m->info;
  {
    MutexLock lk(mu_);
    mounts_.push_back(std::move(m));
  }
  expiry_cv_.notify_all();
  return info;
}

std::vector<SubjectMountInfo> SubjectMountTable::List() {
  MutexLock lk(mu_);
  std::vector<SubjectMountInfo> out;
  for (const auto& m : mounts_) out.push_back(m->info);
  return out;
}

Status SubjectMountTable::Remove(const std::string& mountpoint) {
  auto mnt_path = NsPath::Parse(mountpoint);
  if (!mnt_path.ok()) return mnt_path.status();
  const std::string* mnt = &mnt_path->str();
  MutexLock add(add_mu_);
  std::unique_ptr<Mount> gone;
  {
    MutexLock lk(mu_);
    auto it = std::find_if(mounts_.begin(), mounts_.end(),
                           [&](const auto& m) { return m->info.mountpoint == *mnt; });
    if (it == mounts_.end()) return Status::Error(ENOENT, "no per-subject mount at " + *mnt);
    gone = std::move(*it);
    mounts_.erase(it);
  }
  Stop(*gone);
  return Status::Ok();
}

void SubjectMountTable::OnChange(const ChangeEvent& e) {
  MutexLock lk(mu_);
  if (mounts_.empty()) return;  // one mount: the kernel saw the change itself
  // The mount a change came through saw it happen: only the others drop
  // what their kernels hold.
  auto each = [&](auto&& fn) REQUIRES(mu_) {
    if (main_ && e.caller.mount != main_ctx_->id) fn(*main_, *main_ctx_);
    for (const auto& m : mounts_)
      if (e.caller.mount != m->ctx->id) fn(*m->fuse, *m->ctx);
  };
  using K = ChangeEvent::Kind;
  each([&](KernelCache& cache, const FuseContext& ctx) {
    // A mount that caches no names needs none dropped (and dropping one
    // would detach a mount made on it: the kernel's d_invalidate).
    const bool names = ctx.names.load(std::memory_order_relaxed) != NameCaching::kNone;
    switch (e.kind) {
      case K::kCreated:
        if (names) cache.InvalidateEntry(ctx.Out(e.parent), e.name);
        break;
      case K::kRemoved:
        if (names) cache.InvalidateEntry(ctx.Out(e.parent), e.name);
        if (e.ino) cache.InvalidateInode(ctx.Out(e.ino));
        break;
      case K::kRenamed:
        if (names) {
          cache.InvalidateEntry(ctx.Out(e.parent), e.name);
          cache.InvalidateEntry(ctx.Out(e.new_parent), e.new_name);
        }
        if (e.ino) cache.InvalidateInode(ctx.Out(e.ino));
        break;
      case K::kContentClosed:
      case K::kContentSynced:
      case K::kAttrChanged:
        cache.InvalidateInode(ctx.Out(e.ino));
        break;
    }
  });
}

}  // namespace nexus
