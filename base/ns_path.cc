#include "base/ns_path.h"

#include <algorithm>
#include <cerrno>

namespace nexus {
namespace {

std::string Quoted(std::string_view text) {
  return "'" + std::string(text.substr(0, 200)) + (text.size() > 200 ? "...'" : "'");
}

// Splits `text` into steps, checking everything Parse and ParseSteps share.
Result<std::vector<std::string>> Split(std::string_view text, bool allow_dotdot) {
  if (text.empty()) return Status::Error(EINVAL, "empty path");
  if (text.front() != '/')
    return Status::Error(EINVAL, Quoted(text) + ": paths must be absolute (start with /)");
  if (text.find('\0') != std::string_view::npos)
    return Status::Error(EINVAL, "paths must not contain NUL bytes");
  if (text.size() > kPathMax)
    return Status::Error(ENAMETOOLONG, "path longer than " + std::to_string(kPathMax) + " bytes");
  std::vector<std::string> steps;
  size_t pos = 1;
  while (pos <= text.size()) {
    size_t end = text.find('/', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view comp = text.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == ".." && !allow_dotdot)
      return Status::Error(EINVAL, Quoted(text) + ": '..' is not allowed in a path here");
    if (comp.size() > kNameMax)
      return Status::Error(ENAMETOOLONG, "a name in " + Quoted(text) + " is longer than " +
                                             std::to_string(kNameMax) + " bytes");
    steps.emplace_back(comp);
  }
  return steps;
}

}  // namespace

Status ValidateName(std::string_view name) {
  if (name.empty()) return Status::Error(EINVAL, "empty name");
  if (name == "." || name == "..") return Status::Error(EINVAL, "'" + std::string(name) + "' is not a name");
  if (name.find('/') != std::string_view::npos)
    return Status::Error(EINVAL, Quoted(name) + ": a name must not contain '/'");
  if (name.find('\0') != std::string_view::npos)
    return Status::Error(EINVAL, "a name must not contain NUL bytes");
  if (name.size() > kNameMax)
    return Status::Error(ENAMETOOLONG, "name longer than " + std::to_string(kNameMax) + " bytes");
  return Status::Ok();
}

Result<NsPath> NsPath::Parse(std::string_view text) {
  auto steps = Split(text, /*allow_dotdot=*/false);
  if (!steps.ok()) return steps.status();
  return FromValidComponents(*steps);
}

Result<NsPath> NsPath::ParseOptional(std::string_view text) { return text.empty() ? NsPath() : Parse(text); }

Result<std::vector<std::string>> NsPath::ParseSteps(std::string_view text) {
  return Split(text, /*allow_dotdot=*/true);
}

Result<NsPath> NsPath::FromRelative(std::string_view relative) {
  std::string_view rest = relative;
  while (rest.starts_with('/')) rest.remove_prefix(1);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  std::vector<std::string> names;
  size_t start = 0;
  while (!rest.empty() && start <= rest.size()) {
    size_t end = std::min(rest.find('/', start), rest.size());
    std::string_view name = rest.substr(start, end - start);
    if (Status st = ValidateName(name); !st.ok())
      return Status::Error(st.code(), "invalid path " + Quoted(relative) + ": " + st.message());
    names.emplace_back(name);
    start = end + 1;
  }
  if (rest.size() + 1 > kPathMax)
    return Status::Error(ENAMETOOLONG, "path longer than " + std::to_string(kPathMax) + " bytes");
  return FromValidComponents(names);
}

NsPath NsPath::FromValidComponents(const std::vector<std::string>& names) {
  if (names.empty()) return NsPath();
  std::string out;
  for (const auto& n : names) out.append("/").append(n);
  return NsPath(std::move(out));
}

NsPath NsPath::Parent() const { return NsPath(std::string(PathParent(text_))); }

std::string_view NsPath::Name() const { return std::string_view(text_).substr(text_.rfind('/') + 1); }

Result<NsPath> NsPath::Join(std::string_view name) const {
  NEXUS_RETURN_IF_ERROR(ValidateName(name));
  std::string out = PathJoin(text_, name);
  if (out.size() > kPathMax)
    return Status::Error(ENAMETOOLONG, "path longer than " + std::to_string(kPathMax) + " bytes");
  return NsPath(std::move(out));
}

Result<NsPath> NsPath::JoinRelative(std::string_view relative) const {
  if (relative.empty()) return *this;
  return Parse((IsRoot() ? std::string() : text_) + "/" + std::string(relative));
}

bool NsPath::IsUnder(const NsPath& ancestor) const { return PathIsUnder(text_, ancestor.text_); }

std::string_view NsPath::RelativeTo(const NsPath& ancestor) const {
  if (!IsUnder(ancestor) || text_.size() == ancestor.text_.size()) return {};
  return std::string_view(text_).substr(ancestor.IsRoot() ? 1 : ancestor.text_.size() + 1);
}

std::vector<std::string_view> NsPath::Components() const {
  std::vector<std::string_view> out;
  std::string_view rest(text_);
  while (rest.size() > 1) {
    rest.remove_prefix(1);
    size_t slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash);
  }
  return out;
}

bool PathIsUnder(std::string_view path, std::string_view ancestor) {
  if (ancestor == "/") return !path.empty() && path.front() == '/';
  return path.starts_with(ancestor) && (path.size() == ancestor.size() || path[ancestor.size()] == '/');
}

std::string_view PathParent(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string_view::npos ? path.substr(0, 1) : path.substr(0, slash);
}

std::string PathJoin(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out != "/") out += '/';
  out.append(name);
  return out;
}

bool IsCanonicalPath(std::string_view text) {
  auto p = NsPath::Parse(text);
  return p.ok() && p->str() == text;
}

}  // namespace nexus
