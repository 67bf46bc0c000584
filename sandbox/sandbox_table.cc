#include "sandbox/sandbox_table.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/crypto.h"

namespace nexus::sandbox {
namespace {

constexpr UnixNanos kSecond = 1'000'000'000;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

}  // namespace

SandboxTable::SandboxTable(Options options, WorkspaceMounts* mounts,
                           std::vector<std::unique_ptr<Provider>> providers, const Clock* clock)
    : options_(std::move(options)), mounts_(mounts), providers_(std::move(providers)), clock_(clock) {
  reaper_ = std::thread([this] { Reaper(); });
}

SandboxTable::~SandboxTable() {
  std::vector<std::pair<std::shared_ptr<Instance>, std::string>> running;
  {
    MutexLock lk(mu_);
    stop_ = true;
    for (auto& [id, e] : entries_)
      if (e.instance) running.emplace_back(End(e, "stopped"), e.mountpoint);
  }
  cv_.notify_all();
  reaper_.join();
  for (auto& [instance, mountpoint] : running) Release(std::move(instance), mountpoint);
  // The runs end with their sandboxes.
  std::vector<RunThread> runs;
  {
    MutexLock lk(runs_mu_);
    runs.swap(runs_);
  }
  for (RunThread& r : runs) r.thread.join();
}

void SandboxTable::RunDetached(const std::string& id, mesh::SessionRun run, mesh::OutputFn on_output,
                               std::function<void(Result<mesh::RunOutput>)> done) {
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread t(
      [this, id, run = std::move(run), on_output = std::move(on_output), done = std::move(done), finished]() {
        done(Run(id, run, on_output));
        finished->store(true);
      });
  MutexLock lk(runs_mu_);
  // Threads of runs that ended are joined here (quickly: they are done).
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  runs_.push_back({std::move(t), finished});
}

std::vector<SandboxTable::ProviderState> SandboxTable::Providers() {
  std::vector<ProviderState> out;
  for (const auto& p : providers_) out.push_back({p->name(), p->Available()});
  return out;
}

Status SandboxTable::Available() { return providers_.front()->Available(); }

Result<SandboxInfo> SandboxTable::Create(const CreateRequest& r) {
  if (!ValidName(r.name))
    return Status::Error(EINVAL,
                         "a sandbox name is 1 to 64 letters, digits, '.', '_' or '-', not '" + r.name + "'");
  if (r.ttl_s < 0 || r.ttl_s > options_.max_ttl_s)
    return Status::Error(EINVAL, "the TTL is 0 (none) to " + std::to_string(options_.max_ttl_s) + " seconds");
  if (r.limits.cpus < 0 || !std::isfinite(r.limits.cpus))
    return Status::Error(EINVAL, "--cpus takes a positive number of CPUs");
  Provider* provider = providers_.front().get();
  if (!r.provider.empty()) {
    auto it = std::find_if(providers_.begin(), providers_.end(),
                           [&](const auto& p) { return p->name() == r.provider; });
    if (it == providers_.end()) return Status::Error(ENOENT, "no sandbox provider '" + r.provider + "'");
    provider = it->get();
  }
  NEXUS_RETURN_IF_ERROR(provider->Available());
  if (r.limits.any()) NEXUS_RETURN_IF_ERROR(provider->LimitsAvailable());

  SandboxInfo info;
  info.name = r.name;
  info.subject = r.subject;
  info.root = r.root;
  if (info.root.empty() && options_.own_fork) {
    auto fork = options_.own_fork(r.subject);
    if (!fork.ok()) return fork.status();
    info.root = *fork;
  }
  if (info.root.empty()) info.root = options_.default_root;
  info.provider = provider->name();
  info.state = "running";
  info.network = r.network;
  info.limits = r.limits;
  info.uid = options_.uid;
  info.gid = options_.gid;
  {
    MutexLock lk(mu_);
    for (const auto& [id, e] : entries_)
      if ((e.instance || !e.info.ended_ns) && e.info.name == r.name)  // running or starting
        return Status::Error(EEXIST, "a running sandbox is named " + r.name + " (" + id + ")");
    do {
      info.id = "sb-" + RandomHex(4);
    } while (entries_.count(info.id));
    // Reserve the id and name while it starts (no instance yet: not running).
    entries_[info.id].info = info;
    entries_[info.id].info.state = "starting";
  }
  auto forget = [&] {
    MutexLock lk(mu_);
    entries_.erase(info.id);
  };

  const std::string mountpoint = options_.dir + "/" + info.id;
  if (::mkdir(options_.dir.c_str(), 0711) != 0 && errno != EEXIST) {
    forget();
    return Status::FromErrno("mkdir " + options_.dir);
  }
  if (::mkdir(mountpoint.c_str(), 0755) != 0) {
    forget();
    return Status::FromErrno("mkdir " + mountpoint);
  }
  if (Status st = mounts_->Mount(mountpoint, info.subject, info.root); !st.ok()) {
    ::rmdir(mountpoint.c_str());
    forget();
    return st;
  }
  InstanceSpec spec;
  spec.id = info.id;
  spec.workspace_dir = mountpoint;
  spec.network = r.network;
  spec.limits = r.limits;
  spec.uid = info.uid;
  spec.gid = info.gid;
  spec.env = {"NEXUS_TASK_ID=sandbox:" + info.id, "NEXUS_SANDBOX_ID=" + info.id, "USER=nobody"};
  if (info.subject.starts_with("agent:")) spec.env.push_back("NEXUS_AGENT_ID=" + info.subject.substr(6));
  auto instance = provider->Start(spec);
  if (!instance.ok()) {
    (void)mounts_->Unmount(mountpoint);
    ::rmdir(mountpoint.c_str());
    forget();
    return instance.status();
  }
  info.created_ns = clock_->Now();
  if (r.ttl_s > 0) info.expires_ns = info.created_ns + r.ttl_s * kSecond;
  {
    MutexLock lk(mu_);
    Entry& e = entries_[info.id];
    e.info = info;
    e.instance = std::move(instance).value();
    e.mountpoint = mountpoint;
  }
  cv_.notify_all();
  spdlog::info("sandbox {} ({}) started as {} on {}", info.id, info.name, info.subject, info.root);
  return info;
}

SandboxTable::Entry* SandboxTable::Find(const std::string& id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) return &it->second;
  for (auto& [key, e] : entries_)
    if (e.instance && e.info.name == id) return &e;
  return nullptr;
}

std::shared_ptr<Instance> SandboxTable::End(Entry& e, const char* state) {
  e.info.state = state;
  e.info.ended_ns = clock_->Now();
  return std::move(e.instance);
}

void SandboxTable::Release(std::shared_ptr<Instance> instance, const std::string& mountpoint) {
  if (instance) instance->Stop();
  instance.reset();
  if (Status st = mounts_->Unmount(mountpoint); !st.ok())
    spdlog::warn("sandbox workspace {}: {}", mountpoint, st.ToString());
  ::rmdir(mountpoint.c_str());
}

void SandboxTable::Trim() {
  std::vector<std::pair<UnixNanos, std::string>> ended;
  for (const auto& [id, e] : entries_)
    if (!e.instance && e.info.ended_ns) ended.emplace_back(e.info.ended_ns, id);
  if (ended.size() <= options_.keep_ended) return;
  std::sort(ended.begin(), ended.end());
  for (size_t i = 0; i + options_.keep_ended < ended.size(); ++i) entries_.erase(ended[i].second);
}

std::vector<SandboxInfo> SandboxTable::List() {
  MutexLock lk(mu_);
  std::vector<SandboxInfo> out;
  for (const auto& [id, e] : entries_)
    if (e.instance || e.info.ended_ns) out.push_back(e.info);
  std::sort(out.begin(), out.end(), [](const SandboxInfo& a, const SandboxInfo& b) {
    bool ra = a.state == "running", rb = b.state == "running";
    if (ra != rb) return ra;
    return a.created_ns > b.created_ns;
  });
  return out;
}

Result<SandboxInfo> SandboxTable::Info(const std::string& id) {
  MutexLock lk(mu_);
  Entry* e = Find(id);
  if (!e || (!e->instance && !e->info.ended_ns)) return Status::Error(ENOENT, "no sandbox " + id);
  return e->info;
}

Result<mesh::RunOutput> SandboxTable::Run(const std::string& id, const mesh::SessionRun& run,
                                          const mesh::OutputFn& on_output) {
  std::shared_ptr<Instance> instance;
  {
    MutexLock lk(mu_);
    Entry* e = Find(id);
    if (!e || (!e->instance && !e->info.ended_ns)) return Status::Error(ENOENT, "no sandbox " + id);
    if (!e->instance) return Status::Error(ESRCH, "sandbox " + e->info.id + " is " + e->info.state);
    instance = e->instance;
  }
  return instance->Run(run, on_output);
}

Result<SandboxInfo> SandboxTable::Stop(const std::string& id) {
  std::shared_ptr<Instance> instance;
  std::string mountpoint;
  SandboxInfo info;
  {
    MutexLock lk(mu_);
    Entry* e = Find(id);
    if (!e || (!e->instance && !e->info.ended_ns)) return Status::Error(ENOENT, "no sandbox " + id);
    if (!e->instance) return e->info;
    instance = End(*e, "stopped");
    mountpoint = e->mountpoint;
    info = e->info;
    Trim();
  }
  Release(std::move(instance), mountpoint);
  spdlog::info("sandbox {} ({}) stopped", info.id, info.name);
  return info;
}

void SandboxTable::Reaper() {
  MutexLock lk(mu_);
  while (!stop_) {
    std::vector<std::pair<std::shared_ptr<Instance>, std::string>> ended;
    const UnixNanos now = clock_->Now();
    for (auto& [id, e] : entries_) {
      if (!e.instance) continue;
      if (e.info.expires_ns && e.info.expires_ns <= now) {
        spdlog::info("sandbox {} ({}) expired", id, e.info.name);
        ended.emplace_back(End(e, "expired"), e.mountpoint);
      } else if (!e.instance->Alive()) {
        spdlog::warn("sandbox {} ({}): its processes are gone; stopped", id, e.info.name);
        ended.emplace_back(End(e, "stopped"), e.mountpoint);
      }
    }
    if (!ended.empty()) {
      Trim();
      lk.Unlock();
      for (auto& [instance, mountpoint] : ended) Release(std::move(instance), mountpoint);
      lk.Lock();
      continue;
    }
    // TTLs are seconds: a look every 250 ms ends a sandbox within that of its expiry.
    lk.WaitFor(cv_, std::chrono::milliseconds(250));
  }
}

}  // namespace nexus::sandbox
