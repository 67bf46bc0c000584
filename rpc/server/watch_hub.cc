#include "rpc/server/watch_hub.h"

#include <algorithm>
#include <optional>

#include "base/layout.h"
#include "base/ns_path.h"

namespace nexus {
namespace {

// Whether `path` has a ".git" component.
bool InGitDir(std::string_view path) {
  for (size_t pos = path.find("/.git"); pos != std::string_view::npos; pos = path.find("/.git", pos + 1)) {
    size_t end = pos + 5;
    if (end == path.size() || path[end] == '/') return true;
  }
  return false;
}

bool Hidden(std::string_view path) { return layout::IsSystemPath(path) || InGitDir(path); }

}  // namespace

std::optional<WatchedChange> ToWatchedChange(const ChangeEvent& ev) {
  if (ev.path.empty()) return std::nullopt;
  WatchedChange c;
  c.path = ev.path;
  switch (ev.kind) {
    case ChangeEvent::Kind::kContentClosed:
    case ChangeEvent::Kind::kContentSynced:
      c.kind = "content";
      break;
    case ChangeEvent::Kind::kCreated:
      c.kind = "created";
      break;
    case ChangeEvent::Kind::kRemoved:
      if (ev.by_rename) return std::nullopt;  // the rename onto it says it all
      c.kind = "removed";
      break;
    case ChangeEvent::Kind::kRenamed:
      c.kind = "renamed";
      c.new_path = ev.new_path;
      break;
    case ChangeEvent::Kind::kAttrChanged:
      c.kind = "attr";
      break;
  }
  if (Hidden(c.path) && (c.new_path.empty() || Hidden(c.new_path))) return std::nullopt;
  c.time_ns = static_cast<int64_t>(ev.when.tv_sec) * 1'000'000'000 + ev.when.tv_nsec;
  return c;
}

bool ChangeIsUnder(const WatchedChange& change, const std::string& prefix) {
  return PathIsUnder(change.path, prefix) ||
         (!change.new_path.empty() && PathIsUnder(change.new_path, prefix));
}

kj::Promise<void> WatchHub::Watch::Next() {
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  MutexLock lk(mu_);
  if (!queue_.empty() || overflow_) return kj::READY_NOW;
  wake_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

std::vector<WatchedChange> WatchHub::Watch::Take() {
  MutexLock lk(mu_);
  std::vector<WatchedChange> out;
  if (overflow_) {
    WatchedChange c;
    c.path = prefix_;
    c.kind = "overflow";
    c.time_ns = queue_.empty() ? 0 : queue_.back().time_ns;
    overflow_ = false;
    queue_.clear();
    out.push_back(std::move(c));
    return out;
  }
  out.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

void WatchHub::Watch::Push(const WatchedChange& change) {
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake;
  {
    MutexLock lk(mu_);
    if (overflow_) return;  // dropped until the loop takes the overflow
    if (queue_.size() >= max_queue_) {
      overflow_ = true;
      queue_.clear();
    } else {
      queue_.push_back(change);
    }
    wake = kj::mv(wake_);
  }
  if (wake) wake->fulfill();
}

void WatchHub::OnChange(const ChangeEvent& ev) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  auto change = ToWatchedChange(ev);
  if (!change) return;
  MutexLock lk(mu_);
  for (const auto& w : watches_)
    if (ChangeIsUnder(*change, w->prefix())) w->Push(*change);
}

std::shared_ptr<WatchHub::Watch> WatchHub::Add(const std::string& prefix) {
  auto w = std::make_shared<Watch>(prefix, max_queue_);
  MutexLock lk(mu_);
  watches_.push_back(w);
  count_.store(watches_.size(), std::memory_order_relaxed);
  return w;
}

void WatchHub::Remove(const Watch* watch) {
  MutexLock lk(mu_);
  watches_.erase(std::remove_if(watches_.begin(), watches_.end(),
                                [&](const std::shared_ptr<Watch>& w) { return w.get() == watch; }),
                 watches_.end());
  count_.store(watches_.size(), std::memory_order_relaxed);
}

}  // namespace nexus
