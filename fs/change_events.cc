#include "fs/change_events.h"

#include "base/ns_path.h"

namespace nexus {

void PublishChange(ChangeSink* sink, ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                   const std::string& name, Ino new_parent, const std::string& new_name, std::string path,
                   std::string new_path, bool by_rename, ChangeDetails details) {
  if (!sink) return;
  ChangeEvent ev;
  ev.kind = kind;
  ev.ino = ino;
  ev.parent = parent;
  ev.name = name;
  ev.new_parent = new_parent;
  ev.new_name = new_name;
  ev.path = std::move(path);
  ev.new_path = std::move(new_path);
  ev.by_rename = by_rename;
  ev.caller = caller;
  ev.when = NowTimespec();
  ev.details = std::move(details);
  sink->Publish(std::move(ev));
}

void PublishChangeAt(ChangeSink* sink, ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                     const std::string& name, Ino new_parent, const std::string& new_name, bool by_rename,
                     const std::function<std::string(Ino)>& path_of, ChangeDetails details) {
  if (!sink) return;
  std::string path, new_path;
  if (sink->Active()) {
    if (parent != 0) {
      std::string dir = path_of(parent);
      if (!dir.empty()) path = PathJoin(dir, name);
    } else {
      path = path_of(ino);
    }
    if (new_parent != 0) {
      std::string dir = path_of(new_parent);
      if (!dir.empty()) new_path = PathJoin(dir, new_name);
    }
  }
  PublishChange(sink, kind, caller, ino, parent, name, new_parent, new_name, std::move(path),
                std::move(new_path), by_rename, std::move(details));
}

ChangeDetails ChangeDetails::Created(mode_t type, bool hard_link, std::string symlink_target) {
  ChangeDetails d;
  d.type = type & S_IFMT;
  d.hard_link = hard_link;
  d.symlink_target = std::move(symlink_target);
  return d;
}

ChangeDetails ChangeDetails::Removed(mode_t mode, uid_t uid, gid_t gid) {
  ChangeDetails d = Created(mode);
  d.has_before = true;
  d.mode_before = mode;
  d.uid_before = uid;
  d.gid_before = gid;
  return d;
}

void ChangeDetails::SetXattrBefore(Xattr op, const std::string& name, const std::string_view* before) {
  xattr = op;
  xattr_name = name;
  had_value = before != nullptr;
  if (!before) return;
  value_truncated = before->size() > kMaxValueBefore;
  value_before.assign(before->substr(0, kMaxValueBefore));
}

ChangeBus::ChangeBus() : thread_([this] { Run(); }) {}

ChangeBus::~ChangeBus() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ChangeBus::Subscribe(Subscriber s) {
  MutexLock lk(mu_);
  subscribers_.push_back(std::move(s));
  has_subscribers_ = true;
}

void ChangeBus::Publish(ChangeEvent event) {
  if (!has_subscribers_.load(std::memory_order_relaxed)) return;
  if (event.caller.origin) {
    // A labelled socket session: its origin, copied (the Caller's pointer
    // is valid only during the call that made the change).
    if (!event.process) event.process = std::make_shared<const ProcessInfo>(*event.caller.origin);
    event.caller.origin = nullptr;
  } else if (event.caller.pid != 0 && !event.process) {
    event.process = processes_.Get(event.caller.pid);
  }
  bool was_empty;
  {
    MutexLock lk(mu_);
    was_empty = queue_.empty();
    queue_.push_back(std::move(event));
    ++published_;
  }
  if (was_empty) cv_.notify_one();
}

void ChangeBus::Drain() {
  MutexLock lk(mu_);
  const uint64_t target = published_;
  lk.Wait(drained_cv_, [&]() REQUIRES(mu_) { return delivered_ >= target; });
}

void ChangeBus::Run() {
  MutexLock lk(mu_);
  for (;;) {
    lk.Wait(cv_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    if (!stop_) lk.WaitFor(cv_, kBatchWindow, [&]() REQUIRES(mu_) { return stop_; });  // gather a batch
    std::deque<ChangeEvent> batch;
    batch.swap(queue_);
    auto subscribers = subscribers_;
    lk.Unlock();
    for (const auto& ev : batch)
      for (const auto& s : subscribers) s(ev);
    lk.Lock();
    delivered_ += batch.size();
    drained_cv_.notify_all();
  }
}

}  // namespace nexus
