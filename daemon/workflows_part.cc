#include "daemon/workflows_part.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "agents/mailbox.h"
#include "base/mutex.h"
#include "mesh/task_runner.h"
#include "rpc/server/mesh_office.h"
#include "perms/principals.h"

namespace nexus {
namespace {

constexpr uint64_t kChunk = 1 << 20;

// The failure of an action whose part this daemon lacks, as the CLI prints
// any unavailable feature.
Status ActionUnavailable(const std::string& feature, const std::string& why) {
  return Status::Error(ENOSYS, "unavailable: " + feature + " — " + why);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

// The files and mailboxes as a workflow's owner: a Caller with the owner's
// subject and uid/gid, labelled with the run's provenance.
class WorkflowsPart::Host final : public workflows::ActionHost {
 public:
  Host(const Deps& d)
      : files_(d.files),
        principals_(d.principals),
        mailbox_(d.mailbox),
        mesh_(d.membership),
        office_(d.office) {}

  Result<workflows::FileFacts> Stat(const workflows::Owner& owner, const std::string& path) override {
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, nullptr));
    NEXUS_ASSIGN_OR_RETURN(PathStat st, files_->Stat(c, path, /*follow=*/true, /*with_content_id=*/false));
    workflows::FileFacts f;
    f.size = st.attr.size;
    f.is_dir = st.attr.IsDir();
    std::string head;
    if (st.attr.IsReg()) {
      uint64_t size = 0;
      auto read = files_->Read(c, path, 0, 512, 512, &size);
      if (read.ok()) head = std::move(read).value();
    }
    f.mime_type = GuessMimeType(path, head, f.is_dir);
    return f;
  }
  Result<std::string> GetXattr(const workflows::Owner& owner, const std::string& path,
                               const std::string& name) override {
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, nullptr));
    return files_->GetXattr(c, path, name);
  }
  Status SetXattr(const workflows::Owner& owner, const std::string& label, const std::string& path,
                  const std::string& name, const std::string& value) override {
    ProcessInfo origin = Origin(label);
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, &origin));
    return files_->SetXattr(c, path, name, value);
  }
  Status Rename(const workflows::Owner& owner, const std::string& label, const std::string& from,
                const std::string& to) override {
    ProcessInfo origin = Origin(label);
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, &origin));
    NEXUS_RETURN_IF_ERROR(files_->MkDir(c, Parent(to), 0755, /*parents=*/true));
    return files_->Rename(c, from, to);
  }
  Status Copy(const workflows::Owner& owner, const std::string& label, const std::string& from,
              const std::string& to) override {
    ProcessInfo origin = Origin(label);
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, &origin));
    NEXUS_ASSIGN_OR_RETURN(PathStat st, files_->Stat(c, from, true, false));
    if (!st.attr.IsReg()) return Status::Error(EINVAL, from + ": only regular files are copied");
    WriteOptions wo;
    wo.create_parents = true;
    wo.mode = st.attr.mode & 0777;
    NEXUS_ASSIGN_OR_RETURN(auto writer, files_->OpenWriter(c, to, wo));
    for (uint64_t offset = 0;;) {
      uint64_t size = 0;
      NEXUS_ASSIGN_OR_RETURN(std::string chunk, files_->Read(c, from, offset, kChunk, kChunk, &size));
      if (chunk.empty()) break;
      NEXUS_RETURN_IF_ERROR(writer->Write(chunk));
      offset += chunk.size();
      if (offset >= size) break;
    }
    return writer->Finish().status();
  }
  Result<std::string> SendIpc(const workflows::Owner& owner, const std::string& label, const std::string& to,
                              const std::string& body) override {
    if (!mailbox_)
      return ActionUnavailable("ipc", "mailboxes come with the agent registry, which is off here");
    ProcessInfo origin = Origin(label);
    NEXUS_ASSIGN_OR_RETURN(Caller c, As(owner, &origin));
    SendRequest req;
    req.to = to;
    req.body = body;
    NEXUS_ASSIGN_OR_RETURN(Message m, mailbox_->Send(c, req));
    return m.id;
  }
  // Submitted to this daemon's own director, as a local submitter (as the
  // owner's `nexus mesh tasks create` on this daemon's socket would be), or
  // on a node to its director over the node's session, for the owner (the
  // director refuses unless its operator lets the node submit). The task
  // runs in zone local of the node it is placed on.
  Result<std::string> SubmitTask(const workflows::Owner& owner, const std::string& label,
                                 const std::string& command) override {
    const std::string name = label + " (" + owner.subject + ")";
    if (office_ == nullptr) {
      if (!mesh_ || !mesh_->Current().joined)
        return ActionUnavailable("mesh", "this daemon is in no mesh (nexus mesh register, or --director)");
      return mesh_->SubmitTask(name, command, "local", owner.subject + " (" + label + ")");
    }
    NEXUS_RETURN_IF_ERROR(office_->Gate());  // a standby names the leader
    mesh::TaskSpec spec;
    spec.name = name;
    spec.command = command;
    spec.zone = "local";
    mesh::Submitter who;
    who.key_id = label;
    NEXUS_ASSIGN_OR_RETURN(mesh::TaskInfo t, office_->director()->Create(spec, who));
    return t.id;
  }

 private:
  static ProcessInfo Origin(const std::string& label) {
    ProcessInfo p;
    p.command = label;
    p.task_id = label;
    return p;
  }
  // The owner as a caller: re-resolved on every action, so a revoke holds
  // on the next one.
  Result<Caller> As(const workflows::Owner& owner, const ProcessInfo* origin) {
    NEXUS_ASSIGN_OR_RETURN(const Principal* p, principals_->ForSubjectMount(owner.subject));
    Caller c;
    c.uid = owner.uid;
    c.gid = owner.gid;
    c.principal = p;
    c.origin = origin;
    return c;
  }

  PathFiles* const files_;
  PrincipalTable* const principals_;
  Mailbox* const mailbox_;
  MeshMembership* const mesh_;
  MeshOffice* const office_;
};

// `run` actions: mesh::TaskRunner over the owner's per-subject mount.
class WorkflowsPart::Sandbox final : public workflows::CommandRunner {
 public:
  Sandbox(const Deps& d) : mounts_(d.mounts), dir_(d.data_dir + "/workflows/mnt"), bwrap_(d.bwrap) {}

  Result<workflows::CommandResult> Run(const workflows::CommandRequest& r) override {
    if (!mounts_)
      return ActionUnavailable("sandbox", "run actions act through a per-subject mount, which needs ReBAC");
    NEXUS_ASSIGN_OR_RETURN(std::string view, ViewOf(r.owner.subject));
    // The namespace is at /zone inside (TaskRunner binds the view there).
    // The variables are in the environment the command's shell starts
    // with (exec env), so /proc/PID/environ of every process it runs, the
    // shell included, carries the provenance (fs/process_info.h).
    std::string env = "exec env NEXUS_TASK_ID=" + ShellQuote(r.label) +
                      " NEXUS_WORKFLOW=" + ShellQuote(r.label) +
                      " NEXUS_ROOT=/zone NEXUS_PATH=" + ShellQuote(r.path) +
                      " NEXUS_FILE=" + ShellQuote(r.path.empty() ? "" : "/zone" + r.path) + " /bin/sh -c ";
    mesh::TaskRunner::Options o;
    o.bwrap = bwrap_;
    o.max_output_bytes = 64 << 10;
    mesh::TaskRunner runner(o, {env + ShellQuote(r.command), view, /*allow_network=*/false, r.timeout});
    {
      MutexLock lk(mu_);
      if (stopped_) return Status::Error(ECANCELED, "nexusd is stopping");
      running_ = &runner;
    }
    auto out = runner.Run();
    {
      MutexLock lk(mu_);
      running_ = nullptr;
    }
    if (!out.ok()) return out.status();
    workflows::CommandResult res;
    res.exit_code = out->exit_code;
    res.timed_out = out->timed_out;
    res.output = out->stdout_data + out->stderr_data;
    return res;
  }

  // Kills a running command; later runs fail at once.
  void Stop() {
    MutexLock lk(mu_);
    stopped_ = true;
    if (running_) running_->Cancel();
  }

  void RemoveMounts() {
    MutexLock lk(mu_);
    for (const auto& [subject, mp] : views_)
      if (Status st = mounts_->Remove(mp); !st.ok())
        spdlog::warn("workflows: unmounting {}: {}", mp, st.ToString());
    views_.clear();
  }

 private:
  // The owner's per-subject mount of the whole namespace, made on first use.
  Result<std::string> ViewOf(const std::string& subject) {
    MutexLock lk(mu_);
    if (auto it = views_.find(subject); it != views_.end()) return it->second;
    std::string name = subject;
    for (char& c : name)
      if (c == ':' || c == '/') c = '-';
    const std::string mp = dir_ + "/" + name;
    std::error_code ec;
    ::umount2(mp.c_str(), MNT_DETACH);  // left by a daemon that was killed
    std::filesystem::create_directories(mp, ec);
    if (ec) return Status::Error(EIO, "workflows: " + mp + ": " + ec.message());
    ::chmod(dir_.c_str(), 0700);
    auto added = mounts_->Add(mp, subject, "/", /*cache_names=*/false);
    if (!added.ok())
      return Status::Error(added.code(), "the view of " + subject + ": " + added.status().message());
    views_[subject] = mp;
    return mp;
  }

  SubjectMounts* const mounts_;
  const std::string dir_;
  const std::string bwrap_;
  Mutex mu_;
  std::map<std::string, std::string> views_ GUARDED_BY(mu_);
  mesh::TaskRunner* running_ GUARDED_BY(mu_) = nullptr;
  bool stopped_ GUARDED_BY(mu_) = false;
};

// What the bus's subscriber reaches: the engine until the part goes.
struct WorkflowsPart::Feed {
  Mutex mu;
  workflows::Engine* engine GUARDED_BY(mu) = nullptr;
};

Result<std::unique_ptr<WorkflowsPart>> WorkflowsPart::Open(const Deps& deps) {
  std::unique_ptr<WorkflowsPart> part(new WorkflowsPart());
  part->host_ = std::make_unique<Host>(deps);
  part->sandbox_ = std::make_unique<Sandbox>(deps);
  auto engine = workflows::Engine::Open(deps.data_dir + "/workflows.db", part->host_.get(),
                                        part->sandbox_.get(), workflows::Engine::Options{});
  if (!engine.ok()) return engine.status();
  part->engine_ = std::move(engine).value();
  part->feed_ = std::make_shared<Feed>();
  {
    MutexLock lk(part->feed_->mu);
    part->feed_->engine = part->engine_.get();
  }
  deps.bus->Subscribe([feed = part->feed_](const ChangeEvent& e) {
    MutexLock lk(feed->mu);
    if (feed->engine) feed->engine->OnChange(e);
  });
  return part;
}

WorkflowsPart::~WorkflowsPart() {
  if (feed_) {
    MutexLock lk(feed_->mu);
    feed_->engine = nullptr;
  }
  if (sandbox_) sandbox_->Stop();
  engine_.reset();
  if (sandbox_) sandbox_->RemoveMounts();
}

}  // namespace nexus
