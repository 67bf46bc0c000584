#include "fs/names.h"

#include <cstring>

namespace nexus {

Status ValidateXattrName(const std::string& name) {
  if (name.size() > 255) return Status::Error(ERANGE, "attribute name longer than 255 bytes");
  for (const char* prefix : {"user.", "trusted.", "security.", "system."}) {
    size_t n = std::strlen(prefix);
    if (name.compare(0, n, prefix) == 0) {
      if (name.size() == n) return Status::Error(EINVAL, "empty attribute name after " + name);
      return Status::Ok();
    }
  }
  return Status::Error(EOPNOTSUPP, "attribute namespace of '" + name + "' is not supported");
}

}  // namespace nexus
