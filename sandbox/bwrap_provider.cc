#include "sandbox/bwrap_provider.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

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

// The "oom_kill N" count of a memory.events (v2) or memory.oom_control (v1)
// file; 0 when it cannot be read.
uint64_t OomKillCount(const std::string& path) {
  auto text = ReadTextFile(path, "oom counters");
  if (!text.ok()) return 0;
  std::istringstream in(*text);
  std::string key;
  uint64_t n = 0;
  while (in >> key >> n)
    if (key == "oom_kill") return n;
  return 0;
}

// A cgroup of its own for one sandbox (one directory in each cgroup v1
// hierarchy it needs), removed when the sandbox stops.
class Cgroup {
 public:
  static Result<std::unique_ptr<Cgroup>> Make(const CgroupProbe& where, const std::string& id,
                                              const Limits& limits) {
    auto cg = std::unique_ptr<Cgroup>(new Cgroup());
    const int64_t period = 100000;
    const auto quota = static_cast<int64_t>(std::ceil(limits.cpus * period));
    const std::string memory = std::to_string(limits.memory_bytes);
    if (where.kind == CgroupProbe::Kind::kV2) {
      NEXUS_ASSIGN_OR_RETURN(std::string dir, cg->Child(where.dir, id, /*v2=*/true));
      if (limits.memory_bytes) {
        NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/memory.max", memory));
        (void)WriteControl(dir + "/memory.swap.max", "0");  // absent without swap accounting
        cg->oom_file_ = dir + "/memory.events";
      }
      if (limits.cpus > 0)
        NEXUS_RETURN_IF_ERROR(
            WriteControl(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(period)));
      if (limits.pids) NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/pids.max", std::to_string(limits.pids)));
      return cg;
    }
    if (limits.memory_bytes) {
      NEXUS_ASSIGN_OR_RETURN(std::string dir, cg->Child(where.memory, id, false));
      NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/memory.limit_in_bytes", memory));
      // Memory plus swap no larger than memory: no swapping past the limit
      // (absent without swap accounting).
      (void)WriteControl(dir + "/memory.memsw.limit_in_bytes", memory);
      cg->oom_file_ = dir + "/memory.oom_control";
    }
    if (limits.cpus > 0) {
      NEXUS_ASSIGN_OR_RETURN(std::string dir, cg->Child(where.cpu, id, false));
      NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/cpu.cfs_period_us", std::to_string(period)));
      NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/cpu.cfs_quota_us", std::to_string(quota)));
    }
    if (limits.pids) {
      NEXUS_ASSIGN_OR_RETURN(std::string dir, cg->Child(where.pids, id, false));
      NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/pids.max", std::to_string(limits.pids)));
    }
    return cg;
  }
  ~Cgroup() {
    // Its processes are being reaped by the kernel; the cgroups can go once
    // they are.
    for (const std::string& dir : dirs_)
      for (int i = 0; i < 50 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Every process of the sandbox joins each of these.
  const std::vector<std::string>& dirs() const { return dirs_; }
  // Processes the kernel killed at the memory limit so far.
  uint64_t OomKills() const { return oom_file_.empty() ? 0 : OomKillCount(oom_file_); }

 private:
  Cgroup() = default;
  // Makes `parent`/nexus-sandboxes/`id` (enabling the controllers below
  // both levels on v2) and remembers it for removal.
  Result<std::string> Child(const std::string& parent, const std::string& id, bool v2) {
    const std::string group = parent + "/nexus-sandboxes";
    if (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + group);
    if (v2)
      for (const std::string& dir : {parent, group})
        NEXUS_RETURN_IF_ERROR(WriteControl(dir + "/cgroup.subtree_control", "+memory +cpu +pids"));
    std::string dir = group + "/" + id;
    if (::mkdir(dir.c_str(), 0755) != 0) return Status::FromErrno("mkdir " + dir);
    dirs_.push_back(dir);
    return dir;
  }

  std::vector<std::string> dirs_;
  std::string oom_file_;
};

class BwrapInstance final : public Instance {
 public:
  BwrapInstance(std::unique_ptr<mesh::SandboxSession> session, std::unique_ptr<Cgroup> cgroup)
      : session_(std::move(session)), cgroup_(std::move(cgroup)) {}
  ~BwrapInstance() override { session_->Stop(); }
  Result<mesh::RunOutput> Run(const mesh::SessionRun& run, const mesh::OutputFn& on_output) override {
    const uint64_t oom_before = cgroup_ ? cgroup_->OomKills() : 0;
    auto out = session_->Run(run, on_output);
    if (out.ok() && cgroup_ && cgroup_->OomKills() > oom_before) {
      // Said where the user looks: the killed command cannot say it.
      const std::string note = "nexus: killed at the sandbox's memory limit\n";
      if (on_output) on_output(mesh::OutputStream::kStderr, note);
      out->stderr_data += note;
    }
    return out;
  }
  void Stop() override { session_->Stop(); }
  bool Alive() override { return session_->Alive(); }

 private:
  std::unique_ptr<mesh::SandboxSession> session_;
  std::unique_ptr<Cgroup> cgroup_;  // after session_: removed once the processes are gone
};

}  // namespace

namespace {

// One line of /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT
// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
struct Mount {
  std::string root, mountpoint, fstype, super;
};
std::vector<Mount> ParseMountinfo(const std::string& mountinfo) {
  std::vector<Mount> mounts;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string field, source;
    Mount m;
    for (int i = 0; i < 5 && f >> field; ++i) {
      if (i == 3) m.root = field;
      if (i == 4) m.mountpoint = field;
    }
    while (f >> field && field != "-") {}
    if (f >> m.fstype >> source >> m.super) mounts.push_back(std::move(m));
  }
  return mounts;
}

bool HasWord(const std::string& list, const std::string& word, char sep) {
  std::istringstream in(list);
  std::string w;
  while (std::getline(in, w, sep))
    if (w == word) return true;
  return false;
}

// OK when a child cgroup can be made (and removed) under `dir`.
std::string CannotCreateUnder(const std::string& dir) {
  const std::string probe = dir + "/nexus-probe-" + std::to_string(::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0)
    return "cannot create a cgroup under " + dir + ": " + std::strerror(errno);
  ::rmdir(probe.c_str());
  return "";
}

CgroupProbe ProbeV2(const std::vector<Mount>& mounts) {
  std::string dir;
  for (const Mount& m : mounts)
    if (m.fstype == "cgroup2") {
      dir = m.mountpoint;
      break;
    }
  if (dir.empty()) return {.why = "no cgroup v2 hierarchy is mounted"};
  auto controllers = ReadTextFile(dir + "/cgroup.controllers", "cgroup controllers");
  if (!controllers.ok()) return {.why = controllers.status().message()};
  while (!controllers->empty() && controllers->back() == '\n') controllers->pop_back();
  for (const char* c : {"memory", "cpu", "pids"})
    if (!HasWord(*controllers, c, ' '))
      return {.why = "the cgroup v2 hierarchy at " + dir + " offers '" + *controllers +
                     "', not memory, cpu and pids"};
  if (std::string why = CannotCreateUnder(dir); !why.empty()) return {.why = why};
  return {.kind = CgroupProbe::Kind::kV2, .dir = dir};
}

// The daemon's own cgroup in the v1 hierarchy of `controller`.
std::string OwnV1Dir(const std::vector<Mount>& mounts, const std::string& self_cgroup,
                     const std::string& controller, std::string* why) {
  const Mount* mount = nullptr;
  for (const Mount& m : mounts)
    if (m.fstype == "cgroup" && HasWord(m.super, controller, ',')) {
      mount = &m;
      break;
    }
  if (!mount) {
    *why = "no cgroup v1 hierarchy has the " + controller + " controller";
    return "";
  }
  // "ID:CONTROLLERS:PATH"; PATH is relative to the hierarchy's root, of
  // which the mount shows `root`.
  std::istringstream in(self_cgroup);
  std::string line, path = "/";
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b != std::string::npos && HasWord(line.substr(a + 1, b - a - 1), controller, ',')) {
      path = line.substr(b + 1);
      break;
    }
  }
  if (mount->root != "/" && path.compare(0, mount->root.size(), mount->root) == 0)
    path = path.substr(mount->root.size());
  else if (mount->root != "/")
    path = "/";
  std::string dir = mount->mountpoint + (path == "/" ? "" : path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) dir = mount->mountpoint;  // another cgroup namespace's view
  if (std::string w = CannotCreateUnder(dir); !w.empty()) {
    *why = w;
    return "";
  }
  return dir;
}

CgroupProbe ProbeV1(const std::vector<Mount>& mounts, const std::string& self_cgroup) {
  CgroupProbe p{.kind = CgroupProbe::Kind::kV1};
  for (auto [controller, dir] : {std::pair{"memory", &p.memory}, {"cpu", &p.cpu}, {"pids", &p.pids}}) {
    *dir = OwnV1Dir(mounts, self_cgroup, controller, &p.why);
    if (dir->empty()) return {.why = p.why};
  }
  return p;
}

}  // namespace

CgroupProbe ProbeCgroups(const std::string& mountinfo, const std::string& self_cgroup) {
  const std::vector<Mount> mounts = ParseMountinfo(mountinfo);
  CgroupProbe v2 = ProbeV2(mounts);
  if (v2.ok()) return v2;
  CgroupProbe v1 = ProbeV1(mounts, self_cgroup);
  if (v1.ok()) return v1;
  return {.why = v2.why + "; " + v1.why};
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
    auto mounts = ReadTextFile(options_.mountinfo, "mountinfo");
    auto self = ReadTextFile(options_.self_cgroup, "own cgroups");
    if (!mounts.ok() || !self.ok())
      cgroup_ = CgroupProbe{.why = (mounts.ok() ? self : mounts).status().message()};
    else
      cgroup_ = ProbeCgroups(*mounts, *self);
  }
  if (!cgroup_->ok()) return Unavailable("sandbox resource limits", cgroup_->why);
  return Status::Ok();
}

Result<std::unique_ptr<Instance>> BwrapProvider::Start(const InstanceSpec& spec) {
  NEXUS_RETURN_IF_ERROR(Available());
  std::unique_ptr<Cgroup> cgroup;
  if (spec.limits.any()) {
    NEXUS_RETURN_IF_ERROR(LimitsAvailable());
    CgroupProbe where;
    {
      MutexLock lk(mu_);
      where = *cgroup_;
    }
    auto cg = Cgroup::Make(where, spec.id, spec.limits);
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
  if (cgroup) s.cgroup_dirs = cgroup->dirs();
  auto session = mesh::SandboxSession::Start(so, s);
  if (!session.ok()) return session.status();
  return std::unique_ptr<Instance>(new BwrapInstance(std::move(session).value(), std::move(cgroup)));
}

}  // namespace nexus::sandbox
