// Change notifications: what later layers (versioning, search indexing,
// kernel cache invalidation for out-of-band writers) hook into.
//
// Backends publish an event after a change is applied. Publish never blocks
// on a consumer: ChangeBus queues events and a dispatcher thread delivers
// them, in order, to every subscriber. Subscribers run on that thread only.
// Delivery is batched (the dispatcher wakes at most every kBatchWindow), so a
// burst of file operations costs no context switch per event; with no
// subscriber, events are dropped at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "fs/process_info.h"
#include "fs/types.h"

namespace nexus {

// What a change did beyond its names, for the operations log (undo needs the
// values before). Filled by the backends only while a subscriber listens
// (ChangeSink::Active), from what the operation already has at hand.
struct ChangeDetails {
  // kCreated: the new name's file type (S_IFMT bits; 0: unknown), whether it
  // is a new hard link to an existing inode, and a symlink's target.
  // kRemoved: the removed name's type (S_IFDIR for rmdir; 0: unknown), and
  // where the backend knows them its whole mode and owner in mode_before,
  // uid_before and gid_before (has_before).
  mode_t type = 0;
  bool hard_link = false;
  std::string symlink_target;
  // kAttrChanged by setattr: which of mode, owner and size it set
  // (SetAttrRequest's kMode, kUid, kGid, kSize bits; 0: none or unknown),
  // with the values before and after.
  uint32_t attrs = 0;
  mode_t mode_before = 0, mode_after = 0;
  uid_t uid_before = 0, uid_after = 0;
  gid_t gid_before = 0, gid_after = 0;
  uint64_t size_before = 0, size_after = 0;
  bool has_before = false;  // kRemoved: mode_before, uid_before, gid_before are set
  // kAttrChanged by setxattr/removexattr: the attribute's name and its value
  // before (had_value false: it was not set), at most kMaxValueBefore bytes
  // (value_truncated: it was longer).
  enum class Xattr { kNone, kSet, kRemoved };
  Xattr xattr = Xattr::kNone;
  std::string xattr_name;
  bool had_value = false;
  bool value_truncated = false;
  std::string value_before;
  static constexpr size_t kMaxValueBefore = 64 * 1024;
  // kContentClosed / kContentSynced: the generation of the content this
  // close (or fsync) left, readable through Backend::OpenClosed until
  // captured; 0 when the backend keeps none (the file is read as it is).
  uint64_t content_gen = 0;

  // The details of a new (or removed) name.
  static ChangeDetails Created(mode_t type, bool hard_link = false, std::string symlink_target = {});
  static ChangeDetails Removed(mode_t mode, uid_t uid, gid_t gid);
  // Sets the xattr fields from the value before (null: it was not set).
  void SetXattrBefore(Xattr op, const std::string& name, const std::string_view* before);
};

struct ChangeEvent {
  enum class Kind {
    kContentClosed,  // a file modified through a handle was closed for the last time
    kContentSynced,  // a modified file was fsync'd
    kCreated,        // a new name (file, dir, node, symlink, hard link)
    kRemoved,        // a name went away (unlink, rmdir)
    kRenamed,        // (parent, name) moved to (new_parent, new_name)
    kAttrChanged,    // mode, owner, times, size by setattr, or xattrs
  };
  Kind kind = Kind::kAttrChanged;
  Ino ino = 0;
  Ino parent = 0;  // where known: the directory of the name affected
  std::string name;
  Ino new_parent = 0;  // kRenamed only
  std::string new_name;
  // Namespace paths ("/a/b", "/zone/local/x"), filled while a subscriber
  // listens: the affected name (kCreated, kRemoved, kRenamed's source) or
  // inode (kContent*, kAttrChanged); kRenamed's destination in new_path.
  // Empty when the backend cannot name it (an inode with no link left).
  std::string path;
  std::string new_path;
  // kRemoved: the name was replaced by a rename onto it (a kRenamed follows).
  bool by_rename = false;
  // The calling process (command, agent/task), read when published while
  // a subscriber listens; null for pid 0.
  std::shared_ptr<const ProcessInfo> process;
  Caller caller;
  timespec when{};
  ChangeDetails details;
};

// Where backends publish. Implementations must not block.
class ChangeSink {
 public:
  virtual ~ChangeSink() = default;
  virtual void Publish(ChangeEvent event) = 0;
  // False when nobody listens: backends then skip building paths.
  virtual bool Active() const { return true; }
  // True when a listener records every close's content (the version
  // recorder): backends then keep what each close left (Backend::OpenClosed).
  virtual bool KeepsClosedContent() const { return false; }
};

// Builds an event stamped with the current time and publishes it to `sink`
// (nothing when `sink` is null).
void PublishChange(ChangeSink* sink, ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                   const std::string& name, Ino new_parent = 0, const std::string& new_name = {},
                   std::string path = {}, std::string new_path = {}, bool by_rename = false,
                   ChangeDetails details = {});

// The same, with the event's paths built from `path_of` (an inode's
// namespace path, "" when unknown) — only when the sink is active, so a
// backend nobody listens to pays nothing.
void PublishChangeAt(ChangeSink* sink, ChangeEvent::Kind kind, const Caller& caller, Ino ino, Ino parent,
                     const std::string& name, Ino new_parent, const std::string& new_name, bool by_rename,
                     const std::function<std::string(Ino)>& path_of, ChangeDetails details = {});

// Queueing sink with one dispatcher thread.
class ChangeBus final : public ChangeSink {
 public:
  using Subscriber = std::function<void(const ChangeEvent&)>;
  ChangeBus();
  ~ChangeBus() override;  // delivers what is queued, then stops
  ChangeBus(const ChangeBus&) = delete;
  ChangeBus& operator=(const ChangeBus&) = delete;

  static constexpr std::chrono::milliseconds kBatchWindow{2};

  // Subscribe before events flow; subscribers are never removed.
  void Subscribe(Subscriber s);
  void Publish(ChangeEvent event) override;
  bool Active() const override { return has_subscribers_.load(std::memory_order_relaxed); }
  bool KeepsClosedContent() const override { return keep_closed_.load(std::memory_order_relaxed); }
  // Set by the version recorder while it runs.
  void SetKeepClosedContent(bool on) { keep_closed_.store(on, std::memory_order_relaxed); }
  // Blocks until every event published before the call was delivered.
  void Drain();

 private:
  void Run() EXCLUDES(mu_);
  Mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  std::deque<ChangeEvent> queue_ GUARDED_BY(mu_);
  std::vector<Subscriber> subscribers_ GUARDED_BY(mu_);
  ProcessInfoCache processes_;
  std::atomic<bool> has_subscribers_{false};
  std::atomic<bool> keep_closed_{false};
  uint64_t published_ GUARDED_BY(mu_) = 0;
  uint64_t delivered_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace nexus
