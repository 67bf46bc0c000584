#include "base/principal.h"

#include <algorithm>

namespace nexus {

std::string_view AuthMethodName(AuthMethod how) {
  switch (how) {
    case AuthMethod::kDaemon:
      return "daemon";
    case AuthMethod::kUid:
      return "uid";
    case AuthMethod::kPeerCredentials:
      return "peer";
    case AuthMethod::kApiKey:
      return "key";
    case AuthMethod::kSubjectMount:
      return "mount";
  }
  return "unknown";
}

bool Principal::InGroup(gid_t g) const {
  return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
}

std::string UidSubject(uid_t uid) { return "user:uid-" + std::to_string(uid); }

}  // namespace nexus
