// Forks at the inode level: what a copy-on-write fork reads from the tree it
// was made from, the hook that keeps the fork point pinned while that tree
// goes on changing, and what a fork changed since its fork point.
//
// A fork (docs/forks.md) is a NativeBackend opened with a `lower` source and
// the source's directory it starts from. Nothing is copied when it is
// created: a directory of the fork lists its lower directory until the fork
// first looks into it (it is then "materialized": its names become the
// fork's own, each remembering the lower inode it came from, its origin), and
// a regular file reads its origin's content until it is first written
// (copy-up). The fork point stays pinned because the source calls, through
// the namespace, PreChangeHook::BeforeChange before each change it makes; the
// fork then materializes what the change would alter and keeps the origin
// content a change would destroy, before the change happens. Everything a
// fork still reads from its source is therefore exactly as it was at fork
// time.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "fs/types.h"

namespace nexus {

class Backend;

// One name of a source directory, with all a fork needs to materialize it.
struct SourceEntry {
  std::string name;    // empty for ForkSource::StatForFork
  Attr attr;           // attr.ino: the source's inode number
  std::string target;  // symlinks
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// A tree forks can be made from (NativeBackend implements it, for the root
// tree and for forks, so forks of forks work), read as it is now. Every call
// takes the source's own lock briefly; callers may hold a fork's lock (lock
// order: a fork before its source).
class ForkSource {
 public:
  virtual ~ForkSource() = default;
  // The directory holding `ino`'s primary name; 0 for the source's root or an
  // inode with no name left. A hard-linked file reports one of its names.
  virtual Ino ParentOf(Ino ino) const = 0;
  // Every name of directory `dir`.
  virtual Result<std::vector<SourceEntry>> ListForFork(Ino dir) = 0;
  virtual Result<SourceEntry> StatForFork(Ino ino) = 0;
  // A read-only descriptor on the current content of regular file `ino`
  // (the caller closes it).
  virtual Result<int> OpenContent(Ino ino) = 0;
  // Regular files at or under directory `dir` that are open for writing now
  // (a fork copies them when it is created: their next write needs no open).
  virtual std::vector<Ino> OpenForWriting(Ino dir) = 0;
};

// What a source is about to change.
enum class PreChange {
  kEntries,  // a name of directory `ino` is added, removed or replaced; `name` is that name
  kContent,  // the content of regular file `ino` (open for writing, truncate, fallocate)
  kAttrs,    // mode, owner, times, link count or xattrs of `ino`
};

// Called by the namespace before it routes a change to a backend, with no
// lock of that backend held, and only for backends Watched() says are the
// source of a fork. An error refuses the change (the fork point could not be
// kept, e.g. ENOSPC): the change is not made and its caller gets the error.
class PreChangeHook {
 public:
  virtual ~PreChangeHook() = default;
  // Cheap (an atomic load): whether any fork reads from backend `id`.
  virtual bool Watched(uint16_t backend_id) const = 0;
  virtual Status BeforeChange(Backend& backend, PreChange kind, Ino ino, std::string_view name) = 0;
};

// One change of a fork against its fork point, as `fork diff` and `fork
// merge` see it. Paths are relative to the fork's root ("src/a.c").
struct ForkChange {
  enum class Kind {
    kAdded,     // no origin: created in the fork
    kDeleted,   // the origin's name is gone from the fork
    kModified,  // same path, content and/or mode changed
    kRenamed,   // the origin now lives at another path (content/mode may also have changed)
  };
  Kind kind = Kind::kModified;
  std::string path;              // the fork's path; the origin path for kDeleted
  std::string old_path;          // kRenamed: the origin path
  mode_t mode = 0;               // st_mode now (0 for kDeleted)
  mode_t old_mode = 0;           // st_mode at the fork point (0 for kAdded)
  bool content_changed = false;  // regular files: bytes differ; symlinks: target differs
  Ino local = 0;                 // the fork's inode (0 for kDeleted)
  Ino origin = 0;                // the source inode it came from (0 for kAdded)
};

const char* ForkChangeKindName(ForkChange::Kind kind);  // "added", "deleted", "modified", "renamed"

}  // namespace nexus
