// Operation: one mutation of the tree as the operations log keeps it, and
// the filter that selects operations. Value types shared by the log, the
// feed that fills it, undo, the socket service and the activity files.
//
// Thread-safety: value types; the functions are pure.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nexus::ops {

// What an operation did. The names are the log's and the CLI's vocabulary.
enum class OpKind {
  kCreate,    // a new regular file or node
  kWrite,     // a changed file's last close or fsync (with its version)
  kTruncate,  // size changed by truncate/ftruncate/O_TRUNC outside a write
  kRename,    // old_path -> path
  kLink,      // hard link: path is the new name, old_path the existing one
  kSymlink,   // path; detail {"target"}
  kUnlink,
  kMkdir,
  kRmdir,
  kChmod,        // detail {"mode_before","mode_after"}
  kChown,        // detail {"uid_before","gid_before","uid_after","gid_after"}
  kSetXattr,     // detail {"name","value_before"?} (base64; absent: it was not set)
  kRemoveXattr,  // detail {"name","value_before"} (base64)
  kRestore,      // a snapshot restore or a deleted file brought back
  kRollback,     // a file's content set back to an earlier version
};

std::string_view KindName(OpKind kind);
std::optional<OpKind> ParseKind(std::string_view name);

struct Operation {
  int64_t id = 0;  // assigned by the log: 1, 2, 3, ... in log order
  int64_t time_ns = 0;
  OpKind kind = OpKind::kWrite;
  std::string path;      // namespace path; a rename's new path
  std::string old_path;  // rename: from; link: the existing name
  std::string subject;
  uid_t uid = 0;
  pid_t pid = 0;
  std::string command;
  std::string agent_id;
  std::string task_id;
  uint32_t version_before = 0;  // 0: none
  uint32_t version_after = 0;   // 0: none
  std::string detail;           // JSON object text, "" when nothing to add
};

// Every set field must match; empty/0 is "any".
struct OpFilter {
  int64_t since_ns = 0;
  int64_t until_ns = 0;  // inclusive
  std::string path;      // this path or below it, either path of a rename
  std::string subject;
  std::string agent_id;
  std::string task_id;
  std::optional<OpKind> kind;
  std::vector<int64_t> ids;
  bool Matches(const Operation& op) const;
};

// Whether `path` is `prefix` or below it ("/" is above everything).
bool PathIsUnder(std::string_view path, std::string_view prefix);

// The one-line JSON form of the activity files and `events watch --json`:
// {"cursor","time_ns","op","path","old_path","subject","uid","pid","command",
//  "agent_id","task_id","version"} plus "version_before" and "detail" when set.
std::string ToJsonLine(const Operation& op);

}  // namespace nexus::ops
