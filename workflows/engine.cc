#include "workflows/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace nexus::workflows {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS workflows (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  yaml TEXT NOT NULL,
  source TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  loaded_ns INTEGER NOT NULL,
  runs INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0,
  last_run_ns INTEGER NOT NULL DEFAULT 0,
  last_status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow TEXT NOT NULL,
  trigger TEXT NOT NULL,
  path TEXT NOT NULL,
  triggered_ns INTEGER NOT NULL,
  started_ns INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL,
  status TEXT NOT NULL,
  output TEXT NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, id);
)sql";

// Which file trigger an event is, and the path it concerns.
bool EventTrigger(const ChangeEvent& e, TriggerType* type, std::string* path) {
  switch (e.kind) {
    case ChangeEvent::Kind::kContentClosed:
      *type = TriggerType::kFileWrite;
      *path = e.path;
      return true;
    case ChangeEvent::Kind::kCreated:
      if (e.details.type != 0 && !S_ISREG(e.details.type)) return false;
      *type = TriggerType::kFileCreate;
      *path = e.path;
      return true;
    case ChangeEvent::Kind::kRemoved:
      if (e.by_rename || S_ISDIR(e.details.type)) return false;
      *type = TriggerType::kFileDelete;
      *path = e.path;
      return true;
    case ChangeEvent::Kind::kRenamed:
      *type = TriggerType::kFileRename;
      *path = e.new_path;
      return true;
    default:
      return false;
  }
}

int64_t ToNs(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

void Append(std::string* out, const std::string& line, size_t max) {
  if (out->size() >= max) return;
  *out += line;
  if (!out->empty() && out->back() != '\n') *out += '\n';
  if (out->size() > max) {
    out->resize(max);
    *out += "...\n";
  }
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::string RunLabel(const std::string& workflow) { return "workflow:" + workflow; }

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& db_path, ActionHost* host,
                                             CommandRunner* runner, Options options) {
  SqliteOptions so;
  so.what = "workflows database";
  NEXUS_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(db_path, so));
  NEXUS_RETURN_IF_ERROR(db->Exec(kSchema));
  std::unique_ptr<Engine> e(new Engine(std::move(db), host, runner, options));
  NEXUS_RETURN_IF_ERROR(e->LoadAll());
  e->worker_ = std::thread([p = e.get()] { p->WorkerLoop(); });
  return e;
}

Engine::Engine(std::unique_ptr<SqliteDb> db, ActionHost* host, CommandRunner* runner, Options options)
    : host_(host), runner_(runner), options_(options), db_(std::move(db)) {}

Engine::~Engine() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

int64_t Engine::Now() const { return (options_.clock ? *options_.clock : DefaultClock()).Now(); }

Status Engine::LoadAll() {
  MutexLock lk(mu_);
  Statement s = db_->Prepare(
      "SELECT name, owner, uid, gid, yaml, source, enabled, loaded_ns, runs, dropped, last_run_ns, "
      "last_status "
      "FROM workflows");
  while (s.Next()) {
    WorkflowRecord w;
    auto parsed = ParseWorkflow(s.TextView(4), s.Text(5));
    if (!parsed.ok()) {
      spdlog::error("workflows: stored workflow {} no longer parses, left out: {}", s.Text(0),
                    parsed.status().ToString());
      continue;
    }
    w.workflow = std::move(parsed).value();
    w.owner = {s.Text(1), static_cast<uint32_t>(s.Int(2)), static_cast<uint32_t>(s.Int(3))};
    w.yaml = s.Text(4);
    w.source = s.Text(5);
    w.enabled = s.Int(6) != 0;
    w.loaded_ns = s.Int(7);
    w.runs = static_cast<uint64_t>(s.Int(8));
    w.dropped = static_cast<uint64_t>(s.Int(9));
    w.last_run_ns = s.Int(10);
    w.last_status = s.Text(11);
    workflows_[w.workflow.name] = std::move(w);
  }
  NEXUS_RETURN_IF_ERROR(s.status());
  spdlog::info("workflows: {} loaded from {}", workflows_.size(), db_->path());
  return Status::Ok();
}

Status Engine::SaveLocked(const WorkflowRecord& w) {
  Statement s = db_->Prepare(
      "INSERT OR REPLACE INTO workflows (name, owner, uid, gid, yaml, source, enabled, loaded_ns, runs, "
      "dropped, "
      "last_run_ns, last_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.Bind(w.workflow.name)
      .Bind(w.owner.subject)
      .Bind(w.owner.uid)
      .Bind(w.owner.gid)
      .Bind(w.yaml)
      .Bind(w.source)
      .Bind(w.enabled ? 1 : 0)
      .Bind(w.loaded_ns)
      .Bind(w.runs)
      .Bind(w.dropped)
      .Bind(w.last_run_ns)
      .Bind(w.last_status);
  return s.Run("save workflow");
}

Result<WorkflowRecord*> Engine::FindLocked(const Asker& asker, const std::string& name) {
  auto it = workflows_.find(name);
  if (it == workflows_.end() || (!asker.admin && it->second.owner.subject != asker.subject))
    return Status::Error(ENOENT, "no workflow '" + name + "'");
  return &it->second;
}

Result<WorkflowRecord> Engine::Load(const Owner& by, const Asker& asker, const std::string& yaml,
                                    const std::string& source, bool dry_run) {
  NEXUS_ASSIGN_OR_RETURN(Workflow wf, ParseWorkflow(yaml, source.empty() ? "workflow" : source));
  WorkflowRecord w;
  w.workflow = std::move(wf);
  w.yaml = yaml;
  w.source = source;
  w.owner = by;
  w.loaded_ns = Now();
  MutexLock lk(mu_);
  auto it = workflows_.find(w.workflow.name);
  if (it != workflows_.end()) {
    if (!asker.admin && it->second.owner.subject != asker.subject)
      return Status::Error(EEXIST, "workflow '" + w.workflow.name + "' exists and is not yours");
    w.enabled = it->second.enabled;
    w.runs = it->second.runs;
    w.dropped = it->second.dropped;
    w.last_run_ns = it->second.last_run_ns;
    w.last_status = it->second.last_status;
  }
  if (dry_run) return w;
  NEXUS_RETURN_IF_ERROR(SaveLocked(w));
  workflows_[w.workflow.name] = w;
  spdlog::info("workflows: {} loaded by {} from {}", w.workflow.name, by.subject, source);
  return w;
}

std::vector<WorkflowRecord> Engine::List(const Asker& asker) {
  MutexLock lk(mu_);
  std::vector<WorkflowRecord> out;
  for (const auto& [name, w] : workflows_)
    if (asker.admin || w.owner.subject == asker.subject) out.push_back(w);
  return out;
}

Result<WorkflowRecord> Engine::Get(const Asker& asker, const std::string& name) {
  MutexLock lk(mu_);
  NEXUS_ASSIGN_OR_RETURN(WorkflowRecord * w, FindLocked(asker, name));
  return *w;
}

Result<WorkflowRecord> Engine::SetEnabled(const Asker& asker, const std::string& name, bool enabled) {
  MutexLock lk(mu_);
  NEXUS_ASSIGN_OR_RETURN(WorkflowRecord * w, FindLocked(asker, name));
  WorkflowRecord changed = *w;
  changed.enabled = enabled;
  NEXUS_RETURN_IF_ERROR(SaveLocked(changed));
  *w = changed;
  return changed;
}

Status Engine::Delete(const Asker& asker, const std::string& name) {
  MutexLock lk(mu_);
  NEXUS_ASSIGN_OR_RETURN(WorkflowRecord * w, FindLocked(asker, name));
  (void)w;
  NEXUS_RETURN_IF_ERROR(InTransaction(*db_, [&]() REQUIRES(mu_) -> Status {
    NEXUS_RETURN_IF_ERROR(
        db_->Prepare("DELETE FROM workflows WHERE name = ?").Bind(name).Run("delete workflow"));
    return db_->Prepare("DELETE FROM runs WHERE workflow = ?").Bind(name).Run("delete runs");
  }));
  workflows_.erase(name);
  return Status::Ok();
}

Result<std::vector<RunRecord>> Engine::Runs(const Asker& asker, const std::string& name, size_t limit) {
  MutexLock lk(mu_);
  NEXUS_ASSIGN_OR_RETURN(WorkflowRecord * w, FindLocked(asker, name));
  (void)w;
  Statement s = db_->Prepare(
      "SELECT id, trigger, path, triggered_ns, started_ns, duration_ns, status, output, error FROM runs "
      "WHERE workflow = ? ORDER BY id DESC LIMIT ?");
  s.Bind(name).Bind(limit ? static_cast<int64_t>(limit) : int64_t{-1});
  std::vector<RunRecord> out;
  while (s.Next()) {
    RunRecord r;
    r.id = static_cast<uint64_t>(s.Int(0));
    r.workflow = name;
    r.trigger = s.Text(1);
    r.path = s.Text(2);
    r.triggered_ns = s.Int(3);
    r.started_ns = s.Int(4);
    r.duration_ns = s.Int(5);
    r.status = s.Text(6);
    r.output = s.Text(7);
    r.error = s.Text(8);
    out.push_back(std::move(r));
  }
  NEXUS_RETURN_IF_ERROR(s.status());
  return out;
}

void Engine::OnChange(const ChangeEvent& event) {
  TriggerType type;
  std::string path;
  if (!EventTrigger(event, &type, &path) || path.empty()) return;
  MutexLock lk(mu_);
  for (const auto& [name, w] : workflows_) {
    if (!w.enabled) continue;
    // Loop protection: a workflow's own changes never trigger it.
    if (event.process) {
      const std::string label = RunLabel(name);
      if (event.process->command == label || event.process->task_id == label) continue;
    }
    if (DuringOwnCommandLocked(event, name)) continue;
    for (const Trigger& t : w.workflow.triggers) {
      if (t.type != type) continue;
      bool hit = GlobMatch(t.pattern, path) || (type == TriggerType::kFileRename && !event.path.empty() &&
                                                GlobMatch(t.pattern, event.path));
      if (!hit) continue;
      EnqueueLocked({name, t.Describe(), type, path, ToNs(event.when)});
      break;
    }
  }
}

bool Engine::DuringOwnCommandLocked(const ChangeEvent& e, const std::string& workflow) {
  const Principal* p = e.caller.principal;
  if (!p || p->how != AuthMethod::kSubjectMount || windows_.empty()) return false;
  const int64_t when = ToNs(e.when);
  for (const CommandWindow& w : windows_)
    if (w.workflow == workflow && w.subject == p->subject && when >= w.start_ns &&
        (w.end_ns == 0 || when <= w.end_ns + kOwnWriteGrace))
      return true;
  return false;
}

void Engine::EnqueueLocked(Job job) {
  if (queue_.size() >= options_.queue_limit) {
    auto it = workflows_.find(job.workflow);
    if (it != workflows_.end()) {
      if (it->second.dropped++ % 1000 == 0)
        spdlog::warn("workflows: queue full ({} jobs): dropped a run of {} for {} ({} dropped so far)",
                     options_.queue_limit, job.workflow, job.path, it->second.dropped);
      if (Status st = SaveLocked(it->second); !st.ok()) spdlog::warn("workflows: {}", st.ToString());
    }
    return;
  }
  queue_.push_back(std::move(job));
  cv_.notify_one();
}

void Engine::EnqueueSchedules(int64_t unix_s) {
  MutexLock lk(mu_);
  for (const auto& [name, w] : workflows_) {
    if (!w.enabled) continue;
    for (const Trigger& t : w.workflow.triggers)
      if (t.cron && t.cron->Matches(unix_s)) {
        EnqueueLocked({name, t.Describe(), TriggerType::kSchedule, "", unix_s * 1'000'000'000});
        break;
      }
  }
}

void Engine::TEST_WaitIdle() {
  MutexLock lk(mu_);
  while (!queue_.empty() || busy_) lk.WaitFor(idle_cv_, std::chrono::milliseconds(50));
}

void Engine::WorkerLoop() {
  MutexLock lk(mu_);
  last_minute_ = Now() / 60'000'000'000;
  while (!stop_) {
    if (queue_.empty()) {
      idle_cv_.notify_all();
      lk.WaitFor(cv_, std::chrono::milliseconds(options_.schedules ? 500 : 60000));
      if (options_.schedules) {
        int64_t minute = Now() / 60'000'000'000;
        if (minute != last_minute_) {
          last_minute_ = minute;
          lk.Unlock();
          EnqueueSchedules(minute * 60);
          lk.Lock();
        }
      }
      continue;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.Unlock();
    RunJob(job);
    lk.Lock();
    busy_ = false;
  }
}

std::vector<TestLine> Engine::CheckConditions(const WorkflowRecord& w, const std::string& path) {
  std::vector<TestLine> out;
  const Conditions& c = w.workflow.conditions;
  if (c.empty()) return out;
  Result<FileFacts> facts = host_->Stat(w.owner, path);
  auto need_file = [&](const std::string& what) {
    if (facts.ok()) return true;
    out.push_back({what, false, "cannot check: " + facts.status().message()});
    return false;
  };
  if (!c.path.empty()) out.push_back({"path " + c.path, GlobMatch(c.path, path), path});
  if (c.min_size && need_file("min_size " + std::to_string(*c.min_size)))
    out.push_back({"min_size " + std::to_string(*c.min_size), facts->size >= *c.min_size,
                   std::to_string(facts->size) + " bytes"});
  if (c.max_size && need_file("max_size " + std::to_string(*c.max_size)))
    out.push_back({"max_size " + std::to_string(*c.max_size), facts->size <= *c.max_size,
                   std::to_string(facts->size) + " bytes"});
  if (!c.mime_type.empty() && need_file("mime_type " + c.mime_type))
    out.push_back({"mime_type " + c.mime_type, GlobMatch(c.mime_type, facts->mime_type), facts->mime_type});
  for (const auto& [name, want] : c.metadata) {
    auto have = host_->GetXattr(w.owner, path, name);
    std::string what = "metadata " + name + "=" + want;
    if (!have.ok()) {
      out.push_back({what, false, have.code() == ENODATA ? "not set" : have.status().message()});
    } else {
      out.push_back({what, *have == want, "is " + Quote(*have)});
    }
  }
  return out;
}

std::string Engine::DescribeAction(const WorkflowRecord& w, const Action& a, const std::string& path) const {
  switch (a.type) {
    case ActionType::kMetadata: {
      std::string s = "set";
      for (const auto& [k, v] : a.metadata) s += " " + k + "=" + Quote(v);
      return s + " on " + path;
    }
    case ActionType::kTag: {
      std::string tags;
      for (const auto& t : a.tags) tags += (tags.empty() ? "" : ",") + t;
      return "add tags " + tags + " to " + kTagsAttribute + " of " + path;
    }
    case ActionType::kMove:
      return "move " + path + " to " + DestinationFor(a.destination, path);
    case ActionType::kCopy:
      return "copy " + path + " to " + DestinationFor(a.destination, path);
    case ActionType::kRun:
      return "run " + Quote(a.command) + " in a sandbox as " + w.owner.subject + " with NEXUS_PATH=" + path;
    case ActionType::kIpc:
      return "send " + Quote(a.message) + " to agent " + a.to;
    case ActionType::kTask:
      return "submit a mesh task " + Quote(a.command) + " as " + w.owner.subject;
  }
  return "";
}

Result<TestReport> Engine::Test(const Asker& asker, const std::string& name, const std::string& file) {
  WorkflowRecord w;
  {
    MutexLock lk(mu_);
    NEXUS_ASSIGN_OR_RETURN(WorkflowRecord * found, FindLocked(asker, name));
    w = *found;
  }
  TestReport r;
  r.path = NamespacePath(file);
  bool matched = false;
  for (const Trigger& t : w.workflow.triggers) {
    if (t.cron) {
      r.triggers.push_back({t.Describe(), false, "a schedule, not a file trigger"});
      continue;
    }
    bool hit = GlobMatch(t.pattern, r.path);
    matched |= hit;
    r.triggers.push_back({t.Describe(), hit, hit ? "matches" : "does not match"});
  }
  r.conditions = CheckConditions(w, r.path);
  r.would_run = matched &&
                std::all_of(r.conditions.begin(), r.conditions.end(), [](const TestLine& l) { return l.ok; });
  std::string path = r.path;
  for (const Action& a : w.workflow.actions) {
    r.actions.push_back({a.name + " (" + ActionTypeName(a.type) + ")", true, DescribeAction(w, a, path)});
    if (a.type == ActionType::kMove) path = DestinationFor(a.destination, path);
  }
  return r;
}

Result<std::string> Engine::RunAction(const WorkflowRecord& w, const Action& a, std::string* path) {
  const std::string label = RunLabel(w.workflow.name);
  const Owner& owner = w.owner;
  switch (a.type) {
    case ActionType::kMetadata:
      for (const auto& [k, v] : a.metadata) NEXUS_RETURN_IF_ERROR(host_->SetXattr(owner, label, *path, k, v));
      break;
    case ActionType::kTag: {
      auto current = host_->GetXattr(owner, *path, kTagsAttribute);
      if (!current.ok() && current.code() != ENODATA) return current.status();
      NEXUS_RETURN_IF_ERROR(host_->SetXattr(owner, label, *path, kTagsAttribute,
                                            AddTags(current.ok() ? *current : "", a.tags)));
      break;
    }
    case ActionType::kMove: {
      std::string to = DestinationFor(a.destination, *path);
      NEXUS_RETURN_IF_ERROR(host_->Rename(owner, label, *path, to));
      std::string done = DescribeAction(w, a, *path);
      *path = to;
      return done;
    }
    case ActionType::kCopy:
      NEXUS_RETURN_IF_ERROR(host_->Copy(owner, label, *path, DestinationFor(a.destination, *path)));
      break;
    case ActionType::kRun: {
      CommandRequest req{owner, label, a.command, *path,
                         std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000))};
      {
        MutexLock lk(mu_);
        const int64_t now = Now();
        while (!windows_.empty() && windows_.front().end_ns && windows_.front().end_ns < now - 10'000'000'000)
          windows_.pop_front();
        windows_.push_back({w.workflow.name, owner.subject, now, 0});
      }
      Result<CommandResult> ran = runner_->Run(req);
      {
        MutexLock lk(mu_);
        for (CommandWindow& cw : windows_)
          if (cw.workflow == w.workflow.name && cw.end_ns == 0) cw.end_ns = Now();
      }
      NEXUS_ASSIGN_OR_RETURN(CommandResult res, std::move(ran));
      if (res.timed_out)
        return Status::Error(
            ETIMEDOUT,
            "timed out after " + std::to_string(static_cast<int64_t>(a.timeout_s)) + " s\n" + res.output);
      if (res.exit_code != 0)
        return Status::Error(EIO, "exit status " + std::to_string(res.exit_code) + "\n" + res.output);
      return res.output;
    }
    case ActionType::kIpc: {
      std::string body = a.message;
      for (size_t at; (at = body.find("{path}")) != std::string::npos;) body.replace(at, 6, *path);
      NEXUS_ASSIGN_OR_RETURN(std::string id, host_->SendIpc(owner, label, a.to, body));
      return "sent " + id + " to " + a.to;
    }
    case ActionType::kTask: {
      NEXUS_ASSIGN_OR_RETURN(std::string id, host_->SubmitTask(owner, label, a.command));
      return "submitted mesh task " + id;
    }
  }
  return DescribeAction(w, a, *path);
}

void Engine::RunJob(const Job& job) {
  WorkflowRecord w;
  {
    MutexLock lk(mu_);
    auto it = workflows_.find(job.workflow);
    if (it == workflows_.end() || !it->second.enabled) return;
    w = it->second;
  }
  // The owner must see what triggered it: a file (or, once deleted, its
  // folder) the owner may not see does not exist for the workflow.
  if (job.type != TriggerType::kSchedule) {
    std::string seen = job.path;
    if (job.type == TriggerType::kFileDelete) seen = seen.substr(0, std::max<size_t>(1, seen.rfind('/')));
    if (!host_->Stat(w.owner, seen).ok()) return;
    if (job.type != TriggerType::kFileDelete) {
      for (const TestLine& c : CheckConditions(w, job.path))
        if (!c.ok) return;
    }
  }
  RunRecord run;
  run.workflow = job.workflow;
  run.trigger = job.trigger;
  run.path = job.path;
  run.triggered_ns = job.triggered_ns;
  run.started_ns = Now();
  std::string path = job.path;
  bool failed = false;
  for (const Action& a : w.workflow.actions) {
    Result<std::string> done = RunAction(w, a, &path);
    if (done.ok()) {
      Append(&run.output, a.name + ": " + *done, options_.max_output);
    } else {
      failed = true;
      Append(&run.error, a.name + ": " + done.status().message(), options_.max_output);
    }
  }
  run.duration_ns = Now() - run.started_ns;
  run.status = failed ? "failed" : "succeeded";
  RecordRun(std::move(run));
}

void Engine::RecordRun(RunRecord run) {
  MutexLock lk(mu_);
  auto it = workflows_.find(run.workflow);
  if (it == workflows_.end()) return;  // deleted meanwhile
  Status st = InTransaction(*db_, [&]() REQUIRES(mu_) -> Status {
    Statement s = db_->Prepare(
        "INSERT INTO runs (workflow, trigger, path, triggered_ns, started_ns, duration_ns, status, output, "
        "error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.Bind(run.workflow)
        .Bind(run.trigger)
        .Bind(run.path)
        .Bind(run.triggered_ns)
        .Bind(run.started_ns)
        .Bind(run.duration_ns)
        .Bind(run.status)
        .Bind(run.output)
        .Bind(run.error);
    NEXUS_RETURN_IF_ERROR(s.Run("record run"));
    Statement trim = db_->Prepare(
        "DELETE FROM runs WHERE workflow = ?1 AND id NOT IN "
        "(SELECT id FROM runs WHERE workflow = ?1 ORDER BY id DESC LIMIT ?2)");
    trim.Bind(1, run.workflow).Bind(2, static_cast<int64_t>(options_.keep_runs));
    NEXUS_RETURN_IF_ERROR(trim.Run("trim runs"));
    it->second.runs++;
    it->second.last_run_ns = run.started_ns;
    it->second.last_status = run.status;
    return SaveLocked(it->second);
  });
  if (!st.ok()) spdlog::error("workflows: {}", st.ToString());
}

}  // namespace nexus::workflows
