// Workflow: what a workflow file says (docs/workflows.md "Format"), parsed
// once from YAML, and the matching rules its triggers and conditions use.
//
// A workflow file is one YAML mapping:
//
//   name: tag-incoming              # 1-64 of A-Z a-z 0-9 . _ -
//   version: "1.0"
//   description: Mark incoming files as processed
//   triggers:                       # at least one
//     - type: file_write            # file_write, file_create, file_delete, file_rename
//       pattern: /workspace/inbox/* # a glob over namespace paths
//     - type: schedule
//       cron: "*/5 * * * *"         # minute hour day-of-month month day-of-week
//   conditions:                     # optional, all must hold
//     min_size: 1KB                 # bytes, or with K/M/G[i]B
//     max_size: 10MiB
//     mime_type: text/*             # a glob over the guessed MIME type
//     path: "*.txt"                 # a glob over the whole path
//     metadata: {review: pending}   # user.* attributes the file must carry
//   actions:                        # run in order, at least one
//     - name: mark-processed
//       type: metadata              # metadata, tag, move, copy, run, ipc, task
//       metadata: {workflow_status: processed}
//
// Paths under /workspace are the workspace, /zone/local in the namespace
// (the name sandboxes give it): a pattern or destination written either way
// means the same files.
//
// Errors: every parse error is EINVAL with "FILE:LINE: what", naming the
// key (an unknown key, a missing or malformed value, a bad glob or cron
// expression).
//
// Threading: plain values; the functions are reentrant.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus::workflows {

// A standard five-field cron expression (minute hour day-of-month month
// day-of-week), each field `*`, a number, a range `a-b`, a list `a,b`, and
// any of them with a step `/n`; day-of-week 0-7 (0 and 7: Sunday). As in
// cron, when both day fields are restricted a day matching either counts.
class CronSchedule {
 public:
  // EINVAL naming the field for a malformed expression.
  static Result<CronSchedule> Parse(std::string_view text);
  // Whether the minute starting at `unix_s` (UTC) is one it fires at.
  bool Matches(int64_t unix_s) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0-6, Sunday 0
  bool any_day_ = true, any_weekday_ = true;
};

enum class TriggerType { kFileWrite, kFileCreate, kFileDelete, kFileRename, kSchedule };
// "file_write", ...
const char* TriggerTypeName(TriggerType t);

struct Trigger {
  TriggerType type = TriggerType::kFileWrite;
  std::string pattern;               // file triggers: a glob over namespace paths
  std::optional<CronSchedule> cron;  // kSchedule
  int line = 0;                      // 1-based, in the file
  // "file_write /zone/local/inbox/*", "schedule */5 * * * *".
  std::string Describe() const;
};

struct Conditions {
  std::optional<uint64_t> min_size, max_size;
  std::string mime_type;                        // glob; empty: any
  std::string path;                             // glob over the path; empty: any
  std::map<std::string, std::string> metadata;  // attribute names with "user."
  bool empty() const {
    return !min_size && !max_size && mime_type.empty() && path.empty() && metadata.empty();
  }
};

enum class ActionType { kMetadata, kTag, kMove, kCopy, kRun, kIpc, kTask };
const char* ActionTypeName(ActionType t);

struct Action {
  std::string name;  // given, or "<type>-<index>"
  ActionType type = ActionType::kMetadata;
  std::map<std::string, std::string> metadata;  // kMetadata: names with "user."
  std::vector<std::string> tags;                // kTag
  std::string destination;                      // kMove/kCopy: a path; a trailing / keeps the name
  std::string command;                          // kRun, kTask
  double timeout_s = 60;                        // kRun
  std::string to;                               // kIpc: the agent
  std::string message;                          // kIpc: the body ({path} is replaced)
  int line = 0;
};

struct Workflow {
  std::string name;
  std::string version;
  std::string description;
  std::vector<Trigger> triggers;
  Conditions conditions;
  std::vector<Action> actions;
};

// The user.* attribute a tag action adds its tags to: a comma-separated set.
inline constexpr const char* kTagsAttribute = "user.tags";

// Parses a workflow file's text; `file` names it in errors.
Result<Workflow> ParseWorkflow(std::string_view yaml, const std::string& file);

// Whether `name` is a valid workflow name.
bool ValidWorkflowName(std::string_view name);

// `path` with a leading /workspace replaced by /zone/local.
std::string NamespacePath(std::string_view path);

// Glob match of a whole namespace path: `*` and `?` stay within one
// component, `**` spans any number of them, `[...]` classes as fnmatch.
bool GlobMatch(std::string_view pattern, std::string_view path);
// EINVAL when `pattern` is not a glob GlobMatch accepts (unclosed class,
// empty).
Status CheckGlob(std::string_view pattern);

// "10", "1KB", "2MiB", "3G": bytes (K/M/G in powers of 1024).
Result<uint64_t> ParseSize(std::string_view text);

// Where a move/copy of `path` lands for `destination` (a trailing / or
// "{name}": the file's name kept).
std::string DestinationFor(const std::string& destination, const std::string& path);

// The tags attribute with `tags` added (in order, without repeats).
std::string AddTags(const std::string& current, const std::vector<std::string>& tags);

}  // namespace nexus::workflows
