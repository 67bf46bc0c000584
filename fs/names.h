// Validation of names that come from callers: path components and extended
// attribute names. The namespace checks every name before routing; backends
// check again so a backend driven directly never passes a bad name to disk.
#pragma once

#include <string>

#include "base/status.h"

namespace nexus {

// Checks a single path component: EINVAL for "", ".", "..", or a '/' or NUL
// inside, ENAMETOOLONG past 255 bytes.
Status ValidateName(const std::string& name);

// Checks an extended attribute name: EOPNOTSUPP outside the user., trusted.,
// security. and system. namespaces, EINVAL for a bare prefix, ERANGE past 255.
Status ValidateXattrName(const std::string& name);

}  // namespace nexus
