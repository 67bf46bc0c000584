// ActivityBackend: the operations log as read-only files, one per subject
// and UTC day, grafted at /.nexus/activity:
//   /activity/<YYYY-MM-DD>/              a day with operations in the log
//   /activity/<YYYY-MM-DD>/<subject>.jsonl
//                                        that subject's operations of that
//                                        day, oldest first, one ToJsonLine
//                                        (ops/operation.h) per line
// ("agent:alice.jsonl", "user:bob.jsonl"). With Options::system_root the
// backend's root is /.nexus itself, holding only "activity" (a daemon
// without versioning); otherwise its root is the activity folder, grafted
// inside the history tree's root (Namespace::AddMount).
//
// A reader sees only what it may: unless Options::sees_all says the caller
// sees everything (an admin), a day folder lists only the subjects
// Options::may_list allows (its own, its agents'), and each line passes
// Options::may_see (the rule of `nexus ops log`). A file's content thus
// depends on who reads it: a file node (and inode number) belongs to one
// reader (Options::subject_of), and its lines are kept in a memfd that grows
// as operations are logged. GetAttr and Open read the log after the last
// operation seen, so the size stays current and `tail -f` (which polls
// fstat) sees new lines; every open handle reads a dup of the node's memfd.
// Visibility is checked when a line is added: a line once shown stays in
// that reader's file while the node lives (a revoke holds for later lines
// and for the node made at the next lookup after the kernel forgot this
// one).
//
// Files 0444, folders 0555, owned by the daemon's uid/gid; every mutation
// fails EROFS, and so does opening for writing.
//
// Threading: all methods are thread-safe. mu_ guards the node table and the
// day cache; a File's mu serialises its refreshes. No log query runs under
// mu_. Lock order: File::mu -> mu_ never; mu_ is never held with another.
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "fs/backend.h"
#include "ops/op_log.h"

namespace nexus::ops {

class ActivityBackend final : public Backend {
 public:
  struct Options {
    // The root is /.nexus holding only "activity" (no history tree).
    bool system_root = false;
    // Whether `caller` sees every file and line (an admin). Null: everyone
    // does (then the two below are not asked).
    std::function<bool(const Caller&)> sees_all;
    // The subject `caller` reads as (its files are its own).
    std::function<std::string(const Caller&)> subject_of;
    // Whether `caller` finds `subject`'s file in a day folder.
    std::function<bool(const Caller&, const std::string& subject)> may_list;
    // Whether `caller` sees the line of `op`.
    std::function<bool(const Caller&, const Operation& op)> may_see;
  };

  // Serves `log` (not owned; must outlive the backend) as backend `id`.
  static Result<std::unique_ptr<ActivityBackend>> Create(uint16_t id, OpLog* log, Options options);
  ~ActivityBackend() override;
  ActivityBackend(const ActivityBackend&) = delete;
  ActivityBackend& operator=(const ActivityBackend&) = delete;

  static constexpr size_t kMaxRememberedNodes = size_t{1} << 16;

  // "YYYY-MM-DD" of a UTC time; and back to the day's first nanosecond
  // (nullopt for text that is no such date).
  static std::string DayOf(int64_t time_ns);
  static std::optional<int64_t> DayStart(const std::string& day);

  size_t NodeCount() const;

  uint16_t id() const override { return id_; }
  Ino root() const override { return MakeIno(id_, 1); }

  Result<Attr> Lookup(const Caller& caller, Ino parent, const std::string& name) override;
  // Each reader has its own files (filtered to what it may see).
  bool SameForEveryCaller() const override { return false; }
  void Forget(Ino ino, uint64_t nlookup) override;
  Result<Attr> GetAttr(Ino ino) override;
  Result<Attr> SetAttr(const Caller& caller, Ino ino, const SetAttrRequest& req, FileHandle* fh) override;
  Result<std::string> ReadLink(Ino ino) override;
  Result<Attr> MkNod(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                     dev_t rdev) override;
  Result<Attr> MkDir(const Caller& caller, Ino parent, const std::string& name, mode_t mode) override;
  Result<Attr> Symlink(const Caller& caller, const std::string& target, Ino parent,
                       const std::string& name) override;
  Result<Attr> Link(const Caller& caller, Ino ino, Ino new_parent, const std::string& new_name) override;
  Status Unlink(const Caller& caller, Ino parent, const std::string& name) override;
  Status RmDir(const Caller& caller, Ino parent, const std::string& name) override;
  Status Rename(const Caller& caller, Ino parent, const std::string& name, Ino new_parent,
                const std::string& new_name, unsigned flags) override;
  Result<std::unique_ptr<FileHandle>> Open(const Caller& caller, Ino ino, int flags) override;
  Result<Created> Create(const Caller& caller, Ino parent, const std::string& name, mode_t mode,
                         int flags) override;
  void OnWrite(FileHandle& fh, uint64_t offset, uint64_t len) override;
  Status Fsync(FileHandle& fh, bool datasync) override;
  Status Fallocate(FileHandle& fh, int mode, off_t offset, off_t length) override;
  void Release(std::unique_ptr<FileHandle> fh) override;
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, Ino ino) override;
  Status FsyncDir(Ino ino) override;
  Result<struct statvfs> StatFs() override;
  Status SetXattr(const Caller& caller, Ino ino, const std::string& name, std::string_view value,
                  int flags) override;
  Result<std::string> GetXattr(Ino ino, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(Ino ino) override;
  Status RemoveXattr(const Caller& caller, Ino ino, const std::string& name) override;
  std::string PathOf(Ino ino) const override;

 private:
  enum class Kind : char { kSystem = 'S', kActivity = 'A', kDay = 'D', kFile = 'F' };
  // One file's content for one reader: the lines added so far, in a memfd.
  struct File {
    Mutex mu;
    int fd GUARDED_BY(mu) = -1;  // memfd, made at the first refresh; closed by ~File
    int64_t last_id GUARDED_BY(mu) = 0;
    uint64_t size GUARDED_BY(mu) = 0;
    int64_t mtime_ns GUARDED_BY(mu) = 0;
    ~File() NO_THREAD_SAFETY_ANALYSIS;
  };
  struct Node {
    Kind kind = Kind::kActivity;
    std::string day;
    std::string subject;
    std::string reader;  // a file's reader key ("*": sees all)
    Caller caller;       // a file's reader, for refreshes without a caller
    std::shared_ptr<File> file;
    uint64_t lookups = 0;
  };
  // The subjects with operations on a day, read up to `last_id`.
  struct DaySubjects {
    int64_t last_id = 0;
    std::set<std::string> subjects;
  };

  ActivityBackend(uint16_t id, OpLog* log, Options options);

  std::string ReaderKey(const Caller& caller) const;
  bool SeesAll(const Caller& caller) const;
  Result<std::vector<std::string>> Days() const;
  Result<bool> DayHasOps(const std::string& day) const;
  Result<std::set<std::string>> SubjectsOf(const std::string& day) EXCLUDES(mu_);
  bool MayList(const Caller& caller, const std::string& subject) const;
  // Adds the lines logged since the last refresh.
  Status Refresh(const Node& node) EXCLUDES(mu_);
  Attr DirAttr() const;
  Result<Attr> AttrOf(Ino ino, const Node& node) EXCLUDES(mu_);
  Result<Node> NodeOf(Ino ino) const EXCLUDES(mu_);
  // The number of the node `key` (made from `make` if new), with one more
  // lookup reference when `reference`.
  Ino Intern(const std::string& key, const Node& make, bool reference) EXCLUDES(mu_);
  static std::string KeyOf(const Node& n);

  const uint16_t id_;
  OpLog* const log_;
  const Options options_;
  const int64_t created_ns_;
  const uid_t uid_;
  const gid_t gid_;

  mutable Mutex mu_;
  std::unordered_map<Ino, Node> nodes_ GUARDED_BY(mu_);           // by local number
  std::unordered_map<std::string, Ino> numbers_ GUARDED_BY(mu_);  // local by KeyOf
  Ino next_local_ GUARDED_BY(mu_) = 3;
  std::map<std::string, DaySubjects> days_ GUARDED_BY(mu_);
};

}  // namespace nexus::ops
