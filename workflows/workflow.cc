#include "workflows/workflow.h"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <set>
#include <sstream>

namespace nexus::workflows {
namespace {

// Errors name the file and the 1-based line of the node at fault.
class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Status Error(const YAML::Node& at, const std::string& what) const {
    int line = at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    return Status::Error(EINVAL, file_ + ":" + std::to_string(line) + ": " + what);
  }
  int Line(const YAML::Node& n) const { return n.Mark().line + 1; }

  // Every key of `map` must be one of `known`; the value of a key is
  // reached through Key below.
  Status CheckKeys(const YAML::Node& map, const std::set<std::string>& known,
                   const std::string& where) const {
    if (!map.IsMap()) return Error(map, where + " must be a mapping");
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (!known.count(key)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return Error(kv.first, "unknown key '" + key + "' in " + where + " (known: " + list + ")");
      }
    }
    return Status::Ok();
  }

  Result<std::string> Text(const YAML::Node& map, const std::string& key, bool required) const {
    YAML::Node v = map[key];
    if (!v) {
      if (required) return Error(map, "missing key '" + key + "'");
      return std::string();
    }
    if (!v.IsScalar()) return Error(v, "'" + key + "' must be a single value");
    return v.Scalar();
  }

  Result<std::map<std::string, std::string>> Attributes(const YAML::Node& map, const std::string& key) const {
    YAML::Node v = map[key];
    if (!v || !v.IsMap() || v.size() == 0)
      return Error(v ? v : map, "'" + key + "' must map names to values");
    std::map<std::string, std::string> out;
    for (const auto& kv : v) {
      if (!kv.second.IsScalar())
        return Error(kv.second, "the value of '" + kv.first.Scalar() + "' must be text");
      std::string name = kv.first.Scalar();
      if (name.rfind("user.", 0) != 0) name = "user." + name;
      if (name.size() <= 5 || name.size() > 255 || name.find('\0') != std::string::npos)
        return Error(kv.first, "'" + kv.first.Scalar() + "' is not a valid attribute name");
      out[name] = kv.second.Scalar();
    }
    return out;
  }

  Result<std::string> Glob(const YAML::Node& map, const std::string& key) const {
    NEXUS_ASSIGN_OR_RETURN(std::string text, Text(map, key, true));
    if (Status st = CheckGlob(text); !st.ok())
      return Error(map[key], "bad pattern in '" + key + "': " + st.message());
    return text;
  }

  Result<Trigger> ParseTrigger(const YAML::Node& n) const {
    NEXUS_RETURN_IF_ERROR(CheckKeys(n, {"type", "pattern", "cron"}, "a trigger"));
    Trigger t;
    t.line = Line(n);
    NEXUS_ASSIGN_OR_RETURN(std::string type, Text(n, "type", true));
    static const std::map<std::string, TriggerType> kTypes = {{"file_write", TriggerType::kFileWrite},
                                                              {"file_create", TriggerType::kFileCreate},
                                                              {"file_delete", TriggerType::kFileDelete},
                                                              {"file_rename", TriggerType::kFileRename},
                                                              {"schedule", TriggerType::kSchedule}};
    auto it = kTypes.find(type);
    if (it == kTypes.end())
      return Error(n["type"], "unknown trigger type '" + type +
                                  "' (file_write, file_create, file_delete, file_rename, schedule)");
    t.type = it->second;
    if (t.type == TriggerType::kSchedule) {
      if (n["pattern"]) return Error(n["pattern"], "'pattern' is for file triggers; a schedule has 'cron'");
      NEXUS_ASSIGN_OR_RETURN(std::string cron, Text(n, "cron", true));
      auto parsed = CronSchedule::Parse(cron);
      if (!parsed.ok())
        return Error(n["cron"], "bad cron expression in 'cron': " + parsed.status().message());
      t.cron = std::move(parsed).value();
      return t;
    }
    if (n["cron"]) return Error(n["cron"], "'cron' is for schedule triggers");
    NEXUS_ASSIGN_OR_RETURN(std::string pattern, Glob(n, "pattern"));
    if (pattern[0] != '/') return Error(n["pattern"], "'pattern' must be an absolute path glob: " + pattern);
    t.pattern = NamespacePath(pattern);
    return t;
  }

  Result<Conditions> ParseConditions(const YAML::Node& n) const {
    NEXUS_RETURN_IF_ERROR(
        CheckKeys(n, {"min_size", "max_size", "mime_type", "path", "metadata"}, "conditions"));
    Conditions c;
    for (const char* key : {"min_size", "max_size"}) {
      if (!n[key]) continue;
      NEXUS_ASSIGN_OR_RETURN(std::string text, Text(n, key, true));
      auto size = ParseSize(text);
      if (!size.ok()) return Error(n[key], "'" + std::string(key) + "': " + size.status().message());
      (std::string(key) == "min_size" ? c.min_size : c.max_size) = *size;
    }
    if (n["mime_type"]) {
      NEXUS_ASSIGN_OR_RETURN(c.mime_type, Glob(n, "mime_type"));
    }
    if (n["path"]) {
      NEXUS_ASSIGN_OR_RETURN(c.path, Glob(n, "path"));
      c.path = NamespacePath(c.path);
    }
    if (n["metadata"]) {
      NEXUS_ASSIGN_OR_RETURN(c.metadata, Attributes(n, "metadata"));
    }
    return c;
  }

  Result<Action> ParseAction(const YAML::Node& n, size_t index) const {
    if (!n.IsMap()) return Error(n, "an action must be a mapping");
    NEXUS_ASSIGN_OR_RETURN(std::string type, Text(n, "type", true));
    static const std::map<std::string, std::pair<ActionType, std::set<std::string>>> kTypes = {
        {"metadata", {ActionType::kMetadata, {"metadata"}}}, {"tag", {ActionType::kTag, {"tags"}}},
        {"move", {ActionType::kMove, {"destination"}}},      {"copy", {ActionType::kCopy, {"destination"}}},
        {"run", {ActionType::kRun, {"command", "timeout"}}}, {"ipc", {ActionType::kIpc, {"to", "message"}}},
        {"task", {ActionType::kTask, {"command"}}},
    };
    auto it = kTypes.find(type);
    if (it == kTypes.end())
      return Error(n["type"],
                   "unknown action type '" + type + "' (metadata, tag, move, copy, run, ipc, task)");
    std::set<std::string> known = it->second.second;
    known.insert("name");
    known.insert("type");
    NEXUS_RETURN_IF_ERROR(CheckKeys(n, known, "a " + type + " action"));
    Action a;
    a.type = it->second.first;
    a.line = Line(n);
    NEXUS_ASSIGN_OR_RETURN(a.name, Text(n, "name", false));
    if (a.name.empty()) a.name = type + "-" + std::to_string(index + 1);
    switch (a.type) {
      case ActionType::kMetadata: {
        NEXUS_ASSIGN_OR_RETURN(a.metadata, Attributes(n, "metadata"));
        break;
      }
      case ActionType::kTag: {
        YAML::Node tags = n["tags"];
        if (tags && tags.IsScalar()) {
          a.tags.push_back(tags.Scalar());
        } else if (tags && tags.IsSequence()) {
          for (const auto& t : tags) {
            if (!t.IsScalar()) return Error(t, "a tag must be text");
            a.tags.push_back(t.Scalar());
          }
        }
        if (a.tags.empty()) return Error(tags ? tags : n, "'tags' must be a tag or a list of tags");
        for (const auto& t : a.tags)
          if (t.empty() || t.find(',') != std::string::npos || t.find('\0') != std::string::npos)
            return Error(tags, "a tag is non-empty text without ',': '" + t + "'");
        break;
      }
      case ActionType::kMove:
      case ActionType::kCopy: {
        NEXUS_ASSIGN_OR_RETURN(a.destination, Text(n, "destination", true));
        if (a.destination.empty() || a.destination[0] != '/')
          return Error(n["destination"], "'destination' must be an absolute path: " + a.destination);
        a.destination = NamespacePath(a.destination);
        break;
      }
      case ActionType::kRun:
      case ActionType::kTask: {
        NEXUS_ASSIGN_OR_RETURN(a.command, Text(n, "command", true));
        if (a.command.empty()) return Error(n["command"], "'command' is empty");
        if (n["timeout"]) {
          NEXUS_ASSIGN_OR_RETURN(std::string t, Text(n, "timeout", true));
          char* end = nullptr;
          double v = std::strtod(t.c_str(), &end);
          if (t.empty() || *end || !(v > 0 && v <= 86400))
            return Error(n["timeout"], "'timeout' must be seconds in (0, 86400]: " + t);
          a.timeout_s = v;
        }
        break;
      }
      case ActionType::kIpc: {
        NEXUS_ASSIGN_OR_RETURN(a.to, Text(n, "to", true));
        NEXUS_ASSIGN_OR_RETURN(a.message, Text(n, "message", false));
        if (a.to.empty()) return Error(n["to"], "'to' names no agent");
        if (a.message.empty()) a.message = "{path}";
        break;
      }
    }
    return a;
  }

  Result<Workflow> Parse(std::string_view text) const {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
      return Status::Error(EINVAL, file_ + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (!root.IsMap()) return Status::Error(EINVAL, file_ + ":1: a workflow file is a YAML mapping");
    NEXUS_RETURN_IF_ERROR(CheckKeys(
        root, {"name", "version", "description", "triggers", "conditions", "actions"}, "a workflow"));
    Workflow w;
    NEXUS_ASSIGN_OR_RETURN(w.name, Text(root, "name", true));
    if (!ValidWorkflowName(w.name))
      return Error(root["name"],
                   "'name' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -): " + w.name);
    NEXUS_ASSIGN_OR_RETURN(w.version, Text(root, "version", false));
    NEXUS_ASSIGN_OR_RETURN(w.description, Text(root, "description", false));
    YAML::Node triggers = root["triggers"];
    if (!triggers) return Error(root, "missing key 'triggers' (a list of at least one trigger)");
    if (!triggers || !triggers.IsSequence() || triggers.size() == 0)
      return Error(triggers ? triggers : root, "'triggers' must be a list of at least one trigger");
    for (const auto& t : triggers) {
      NEXUS_ASSIGN_OR_RETURN(Trigger trigger, ParseTrigger(t));
      w.triggers.push_back(std::move(trigger));
    }
    if (root["conditions"]) {
      NEXUS_ASSIGN_OR_RETURN(w.conditions, ParseConditions(root["conditions"]));
    }
    YAML::Node actions = root["actions"];
    if (!actions) return Error(root, "missing key 'actions' (a list of at least one action)");
    if (!actions || !actions.IsSequence() || actions.size() == 0)
      return Error(actions ? actions : root, "'actions' must be a list of at least one action");
    for (size_t i = 0; i < actions.size(); ++i) {
      NEXUS_ASSIGN_OR_RETURN(Action a, ParseAction(actions[i], i));
      w.actions.push_back(std::move(a));
    }
    return w;
  }

 private:
  std::string file_;
};

// One cron field into `bits` (values lo..hi).
template <size_t N>
Status ParseCronField(std::string_view field, int lo, int hi, const char* what, std::bitset<N>* bits) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EINVAL, std::string(what) + " field '" + std::string(field) + "': " + why);
  };
  auto number = [&](std::string_view s, int* out) -> bool {
    if (s.empty() || s.size() > 3) return false;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
  };
  size_t pos = 0;
  while (pos <= field.size()) {
    size_t comma = field.find(',', pos);
    if (comma == std::string_view::npos) comma = field.size();
    std::string_view item = field.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) return bad("empty list item");
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      if (!number(item.substr(slash + 1), &step) || step < 1) return bad("bad step");
      item = item.substr(0, slash);
    }
    int a = lo, b = hi;
    if (item != "*") {
      if (size_t dash = item.find('-'); dash != std::string_view::npos) {
        if (!number(item.substr(0, dash), &a) || !number(item.substr(dash + 1), &b)) return bad("bad range");
      } else {
        if (!number(item, &a)) return bad("not a number");
        b = a;
        if (step > 1) b = hi;  // "5/15": from 5 on
      }
    }
    if (a < lo || b > hi || a > b)
      return bad("out of range " + std::to_string(lo) + "-" + std::to_string(hi));
    for (int v = a; v <= b; v += step) bits->set(static_cast<size_t>(v));
  }
  return Status::Ok();
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  std::vector<std::string> fields;
  std::istringstream in{std::string(text)};
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5)
    return Status::Error(EINVAL, "'" + std::string(text) + "' has " + std::to_string(fields.size()) +
                                     " fields; cron has five: minute hour day-of-month month day-of-week");
  CronSchedule c;
  c.text_ = std::string(text);
  NEXUS_RETURN_IF_ERROR(ParseCronField(fields[0], 0, 59, "minute", &c.minutes_));
  NEXUS_RETURN_IF_ERROR(ParseCronField(fields[1], 0, 23, "hour", &c.hours_));
  NEXUS_RETURN_IF_ERROR(ParseCronField(fields[2], 1, 31, "day-of-month", &c.days_));
  NEXUS_RETURN_IF_ERROR(ParseCronField(fields[3], 1, 12, "month", &c.months_));
  std::bitset<8> weekdays;
  NEXUS_RETURN_IF_ERROR(ParseCronField(fields[4], 0, 7, "day-of-week", &weekdays));
  for (int d = 0; d < 7; ++d) c.weekdays_[d] = weekdays[d] || (d == 0 && weekdays[7]);
  c.any_day_ = fields[2][0] == '*';
  c.any_weekday_ = fields[4][0] == '*';
  return c;
}

bool CronSchedule::Matches(int64_t unix_s) const {
  time_t t = static_cast<time_t>(unix_s);
  tm u{};
  gmtime_r(&t, &u);
  if (!minutes_[u.tm_min] || !hours_[u.tm_hour] || !months_[u.tm_mon + 1]) return false;
  bool day = days_[u.tm_mday], weekday = weekdays_[u.tm_wday];
  if (any_day_ && any_weekday_) return true;
  if (any_day_) return weekday;
  if (any_weekday_) return day;
  return day || weekday;
}

const char* TriggerTypeName(TriggerType t) {
  switch (t) {
    case TriggerType::kFileWrite:
      return "file_write";
    case TriggerType::kFileCreate:
      return "file_create";
    case TriggerType::kFileDelete:
      return "file_delete";
    case TriggerType::kFileRename:
      return "file_rename";
    case TriggerType::kSchedule:
      return "schedule";
  }
  return "?";
}

std::string Trigger::Describe() const {
  return std::string(TriggerTypeName(type)) + " " + (cron ? cron->text() : pattern);
}

const char* ActionTypeName(ActionType t) {
  switch (t) {
    case ActionType::kMetadata:
      return "metadata";
    case ActionType::kTag:
      return "tag";
    case ActionType::kMove:
      return "move";
    case ActionType::kCopy:
      return "copy";
    case ActionType::kRun:
      return "run";
    case ActionType::kIpc:
      return "ipc";
    case ActionType::kTask:
      return "task";
  }
  return "?";
}

Result<Workflow> ParseWorkflow(std::string_view yaml, const std::string& file) {
  try {
    return Parser(file).Parse(yaml);
  } catch (const YAML::Exception& e) {
    return Status::Error(EINVAL, file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

bool ValidWorkflowName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string NamespacePath(std::string_view path) {
  constexpr std::string_view kWorkspace = "/workspace";
  if (path.substr(0, kWorkspace.size()) == kWorkspace &&
      (path.size() == kWorkspace.size() || path[kWorkspace.size()] == '/'))
    return "/zone/local" + std::string(path.substr(kWorkspace.size()));
  return std::string(path);
}

namespace {

// Matches `pattern` against `path` component by component; `**` matches
// any number of components.
bool MatchParts(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& parts,
                size_t i) {
  for (; pi < pat.size(); ++pi, ++i) {
    if (pat[pi] == "**") {
      for (size_t k = i; k <= parts.size(); ++k)
        if (MatchParts(pat, pi + 1, parts, k)) return true;
      return false;
    }
    if (i >= parts.size()) return false;
    if (::fnmatch(pat[pi].c_str(), parts[i].c_str(), FNM_PERIOD) != 0) return false;
  }
  return i == parts.size();
}

std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t slash = s.find('/', pos);
    if (slash == std::string_view::npos) slash = s.size();
    out.emplace_back(s.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view path) {
  if (pattern.find('/') == std::string_view::npos) {
    // A bare name pattern ("*.txt") matches the last component.
    size_t slash = path.rfind('/');
    std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
    return ::fnmatch(std::string(pattern).c_str(), name.c_str(), FNM_PERIOD) == 0;
  }
  return MatchParts(Split(pattern), 0, Split(path), 0);
}

Status CheckGlob(std::string_view pattern) {
  if (pattern.empty()) return Status::Error(EINVAL, "an empty pattern");
  if (pattern.find('\0') != std::string_view::npos) return Status::Error(EINVAL, "a NUL in the pattern");
  int depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (++i == pattern.size())
        return Status::Error(EINVAL, "a trailing backslash in '" + std::string(pattern) + "'");
    } else if (c == '[' && depth == 0) {
      depth = 1;
      if (i + 1 < pattern.size() && (pattern[i + 1] == '!' || pattern[i + 1] == '^')) ++i;
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') ++i;
    } else if (c == ']' && depth == 1) {
      depth = 0;
    } else if (c == '/' && depth == 1) {
      return Status::Error(EINVAL, "a '/' inside [...] in '" + std::string(pattern) + "'");
    }
  }
  if (depth) return Status::Error(EINVAL, "an unclosed '[' in '" + std::string(pattern) + "'");
  for (const auto& part : Split(pattern))
    if (part.find("**") != std::string::npos && part != "**")
      return Status::Error(EINVAL, "'**' must be a whole path component in '" + std::string(pattern) + "'");
  return Status::Ok();
}

Result<uint64_t> ParseSize(std::string_view text) {
  std::string t(text);
  t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
  size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return Status::Error(EINVAL, "not a size: '" + std::string(text) + "'");
  uint64_t v = std::stoull(t.substr(0, digits));
  std::string unit = t.substr(digits);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](char c) { return static_cast<char>(::toupper(c)); });
  static const std::map<std::string, uint64_t> kUnits = {{"", 1},
                                                         {"B", 1},
                                                         {"K", 1ull << 10},
                                                         {"KB", 1ull << 10},
                                                         {"KIB", 1ull << 10},
                                                         {"M", 1ull << 20},
                                                         {"MB", 1ull << 20},
                                                         {"MIB", 1ull << 20},
                                                         {"G", 1ull << 30},
                                                         {"GB", 1ull << 30},
                                                         {"GIB", 1ull << 30}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return Status::Error(EINVAL, "unknown size unit in '" + std::string(text) + "'");
  return v * it->second;
}

std::string DestinationFor(const std::string& destination, const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  std::string out = destination;
  if (size_t at = out.find("{name}"); at != std::string::npos) return out.replace(at, 6, name);
  if (!out.empty() && out.back() == '/') return out + name;
  return out;
}

std::string AddTags(const std::string& current, const std::vector<std::string>& tags) {
  std::vector<std::string> have;
  size_t pos = 0;
  while (pos < current.size()) {
    size_t comma = current.find(',', pos);
    if (comma == std::string::npos) comma = current.size();
    if (comma > pos) have.push_back(current.substr(pos, comma - pos));
    pos = comma + 1;
  }
  for (const auto& t : tags)
    if (std::find(have.begin(), have.end(), t) == have.end()) have.push_back(t);
  std::string out;
  for (const auto& t : have) out += (out.empty() ? "" : ",") + t;
  return out;
}

}  // namespace nexus::workflows
