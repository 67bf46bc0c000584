// Validation of names that come from callers: path components (ValidateName,
// from base/ns_path.h) and extended attribute names. The namespace checks every name before routing; backends
// check again so a backend driven directly never passes a bad name to disk.
#pragma once

#include <string>

#include "base/ns_path.h"
#include "base/status.h"

namespace nexus {

// Checks an extended attribute name: EOPNOTSUPP outside the user., trusted.,
// security. and system. namespaces, EINVAL for a bare prefix, ERANGE past 255.
Status ValidateXattrName(const std::string& name);

}  // namespace nexus
