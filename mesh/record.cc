#include "mesh/record.h"

#include <charconv>

namespace nexus::mesh {

RecordWriter& RecordWriter::Add(std::string_view name, std::string_view value) {
  out_.append(name);
  out_.push_back('=');
  out_.append(std::to_string(value.size()));
  out_.push_back(':');
  out_.append(value);
  out_.push_back('\n');
  return *this;
}

Result<Record> Record::Parse(std::string_view s) {
  Record r;
  while (!s.empty()) {
    size_t eq = s.find('=');
    size_t colon = s.find(':', eq);
    if (eq == std::string_view::npos || colon == std::string_view::npos)
      return Status::Error(EINVAL, "malformed record field");
    size_t len = 0;
    auto [p, ec] = std::from_chars(s.data() + eq + 1, s.data() + colon, len);
    if (ec != std::errc() || p != s.data() + colon || s.size() - colon - 1 < len + 1 ||
        s[colon + 1 + len] != '\n')
      return Status::Error(EINVAL, "malformed record length");
    r.fields_.emplace_back(s.substr(0, eq), s.substr(colon + 1, len));
    s.remove_prefix(colon + 2 + len);
  }
  return r;
}

std::string_view Record::Get(std::string_view name) const {
  for (const auto& [n, v] : fields_)
    if (n == name) return v;
  return {};
}

int64_t Record::Int(std::string_view name) const {
  std::string_view v = Get(name);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

}  // namespace nexus::mesh
