#include "base/status.h"

#include <cstring>

namespace nexus {

Status Status::FromErrno(std::string_view context) { return FromErrno(errno, context); }

Status Status::FromErrno(int code, std::string_view context) {
  if (code <= 0) code = EIO;
  return Status(code, std::string(context) + ": " + std::strerror(code));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_.empty() ? std::string(std::strerror(code_)) : message_;
}

}  // namespace nexus
