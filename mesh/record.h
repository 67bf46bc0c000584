// Record: the encoding of the director's values in the store (nodes, tasks,
// result indexes). A value is a sequence of named fields, each written as
//   name=<length>:<bytes>\n
// so any bytes may appear in a value, the text stays readable in a sqlite3
// shell, and fields can be added later without breaking older records
// (unknown fields are ignored, missing ones read as empty / 0).
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace nexus::mesh {

class RecordWriter {
 public:
  RecordWriter& Add(std::string_view name, std::string_view value);
  RecordWriter& Add(std::string_view name, int64_t value) { return Add(name, std::to_string(value)); }
  // Leaves the writer empty.
  std::string Finish() { return std::move(out_); }

 private:
  std::string out_;
};

class Record {
 public:
  // EINVAL if `encoded` is not a well-formed record.
  static Result<Record> Parse(std::string_view encoded);

  // The field's value; empty if absent. Views into the string given to
  // Parse, which must outlive the Record.
  std::string_view Get(std::string_view name) const;
  std::string Str(std::string_view name) const { return std::string(Get(name)); }
  // The field as a decimal integer; 0 if absent or not a number.
  int64_t Int(std::string_view name) const;

 private:
  std::vector<std::pair<std::string_view, std::string_view>> fields_;
};

}  // namespace nexus::mesh
