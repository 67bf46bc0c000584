#include "sandbox/bwrap_provider.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "base/file_util.h"

namespace nexus::sandbox {
namespace {

Status Unavailable(const std::string& feature, const std::string& why) {
  return Status::Error(ENOSYS, feature + " — " + why);
}

// One write of `value` to a cgroup control file (they take one write each).
Status WriteControl(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path);
  ssize_t n = ::write(fd, value.data(), value.size());
  Status st = n == static_cast<ssize_t>(value.size()) ? Status::Ok() : Status::FromErrno("write " + path);
  ::close(fd);
  return st;
}

// A cgroup of its own for one sandbox, removed when the sandbox stops.
class Cgroup {
 public:
  static Result<std::unique_ptr<Cgroup>> Make(const std::string& root, const std::string& id,
                                              const Limits& limits) {
    const std::string parent = root + "/nexus-sandboxes";
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + parent);
    for (const std::string& dir : {root, parent})
      NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/cgroup.subtree_control", "+memory +cpu +pids"));
    auto cg = std::unique_ptr<Cgroup>(new Cgroup(parent + "/" + id));
    if (::mkdir(cg->dir_.c_str(), 0755) != 0) return Status::FromErrno("mkdir " + cg->dir_);
    if (limits.memory_bytes) {
      NEXUS_RETURN_IF_ERROR(WriteControl(cg->dir_ + "/memory.max", std::to_string(limits.memory_bytes)));
      (void)WriteControl(cg->dir_ + "/memory.swap.max", "0");  // absent without swap accounting
    }
    if (limits.cpus > 0) {
      const int64_t period = 100000;
      const auto quota = static_cast<int64_t>(std::ceil(limits.cpus * period));
      NEXUS_RETURN_IF_ERROR(
          WriteControl(cg->dir_ + "/cpu.max", std::to_string(quota) + " " + std::to_string(period)));
    }
    if (limits.pids) NEXUS_RETURN_IF_ERROR(WriteControl(cg->dir_ + "/pids.max", std::to_string(limits.pids)));
    return cg;
  }
  ~Cgroup() {
    // Its processes are being reaped by the kernel; the cgroup can go once
    // they are.
    for (int i = 0; i < 50 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string& dir() const { return dir_; }

 private:
  explicit Cgroup(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

class BwrapInstance final : public Instance {
 public:
  BwrapInstance(std::unique_ptr<mesh::SandboxSession> session, std::unique_ptr<Cgroup> cgroup)
      : session_(std::move(session)), cgroup_(std::move(cgroup)) {}
  ~BwrapInstance() override { session_->Stop(); }
  Result<mesh::RunOutput> Run(const mesh::SessionRun& run, const mesh::OutputFn& on_output) override {
    return session_->Run(run, on_output);
  }
  void Stop() override { session_->Stop(); }
  bool Alive() override { return session_->Alive(); }

 private:
  std::unique_ptr<mesh::SandboxSession> session_;
  std::unique_ptr<Cgroup> cgroup_;  // after session_: removed once the processes are gone
};

}  // namespace

CgroupProbe ProbeCgroupV2(const std::string& mountinfo) {
  std::istringstream in(mountinfo);
  std::string line, dir;
  while (std::getline(in, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
    std::istringstream f(line);
    std::string field, mountpoint;
    for (int i = 0; i < 5 && f >> field; ++i)
      if (i == 4) mountpoint = field;
    while (f >> field && field != "-") {}
    if (f >> field && field == "cgroup2") {
      dir = mountpoint;
      break;
    }
  }
  if (dir.empty()) return {"", "no cgroup v2 hierarchy is mounted"};
  auto controllers = ReadTextFile(dir + "/cgroup.controllers", "cgroup controllers");
  if (!controllers.ok()) return {"", controllers.status().message()};
  while (!controllers->empty() && controllers->back() == '\n') controllers->pop_back();
  std::istringstream words(*controllers);
  std::string w;
  bool memory = false, cpu = false, pids = false;
  while (words >> w) {
    memory |= w == "memory";
    cpu |= w == "cpu";
    pids |= w == "pids";
  }
  if (!memory || !cpu || !pids)
    return {"", "the cgroup v2 hierarchy at " + dir + " offers '" + *controllers +
                    "', not memory, cpu and pids (they are bound to cgroup v1 here)"};
  const std::string probe = dir + "/nexus-probe-" + std::to_string(::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0)
    return {"", "cannot create a cgroup under " + dir + ": " + std::strerror(errno)};
  ::rmdir(probe.c_str());
  return {dir, ""};
}

BwrapProvider::BwrapProvider(Options options) : options_(std::move(options)) {}

Status BwrapProvider::Available() {
  MutexLock lk(mu_);
  if (available_) return *available_;
  if (::geteuid() != 0) {
    available_ = Unavailable("the bwrap sandbox provider",
                             "nexusd runs as uid " + std::to_string(::geteuid()) +
                                 "; giving sandboxed processes their own uid needs root");
    return *available_;
  }
  mesh::SandboxSession::Options so;
  so.bwrap = options_.bwrap;
  so.nsenter = options_.nsenter;
  mesh::SessionSpec spec;
  spec.workspace_dir = options_.probe_dir;
  auto session = mesh::SandboxSession::Start(so, spec);
  Status st = session.status();
  if (session.ok()) {
    auto r = (*session)->Run({"true", {}, std::chrono::seconds(30)});
    st = r.status();
    if (r.ok() && r->exit_code != 0)
      st = Status::Error(
          EAGAIN, "a sandboxed `true` exited with " + std::to_string(r->exit_code) + ": " + r->stderr_data);
  }
  available_ = st.ok() ? st : Unavailable("the bwrap sandbox provider", st.message());
  return *available_;
}

Status BwrapProvider::LimitsAvailable() {
  MutexLock lk(mu_);
  if (!cgroup_) {
    auto text = ReadTextFile(options_.mountinfo, "mountinfo");
    cgroup_ = text.ok() ? ProbeCgroupV2(*text) : CgroupProbe{"", text.status().message()};
  }
  if (cgroup_->dir.empty()) return Unavailable("sandbox resource limits", cgroup_->why);
  return Status::Ok();
}

Result<std::unique_ptr<Instance>> BwrapProvider::Start(const InstanceSpec& spec) {
  NEXUS_RETURN_IF_ERROR(Available());
  std::unique_ptr<Cgroup> cgroup;
  if (spec.limits.any()) {
    NEXUS_RETURN_IF_ERROR(LimitsAvailable());
    std::string root;
    {
      MutexLock lk(mu_);
      root = cgroup_->dir;
    }
    auto cg = Cgroup::Make(root, spec.id, spec.limits);
    if (!cg.ok()) return Status::Error(cg.code(), "cgroup for limits: " + cg.status().message());
    cgroup = std::move(cg).value();
  }
  mesh::SandboxSession::Options so;
  so.bwrap = options_.bwrap;
  so.nsenter = options_.nsenter;
  mesh::SessionSpec s;
  s.workspace_dir = spec.workspace_dir;
  s.allow_network = spec.network;
  s.uid = spec.uid;
  s.gid = spec.gid;
  s.env = spec.env;
  if (cgroup) s.cgroup_dir = cgroup->dir();
  auto session = mesh::SandboxSession::Start(so, s);
  if (!session.ok()) return session.status();
  return std::unique_ptr<Instance>(new BwrapInstance(std::move(session).value(), std::move(cgroup)));
}

}  // namespace nexus::sandbox
