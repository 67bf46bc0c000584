// The activity files (/.nexus/activity, ops/activity_backend.h) as nexusd
// serves them: who sees what, and where they are grafted.
//
// A reader sees every file and line when it is unrestricted (an admin, or
// an admin uid when ReBAC is off); otherwise its own subject's files and
// those of the agents it owns, and in them the operations on paths it may
// see now (the rule of `nexus ops log`; without ReBAC, every path).
//
// Threading: called once on nexusd's main thread, before serving.
#pragma once

#include <memory>

#include "base/status.h"
#include "fs/access_policy.h"
#include "fs/namespace.h"
#include "ops/activity_backend.h"
#include "ops/op_log.h"
#include "perms/agent_registry.h"
#include "perms/principals.h"

namespace nexus {

inline constexpr uint16_t kActivityBackendId = 5;

// Creates the activity files over `log` and grafts them at /.nexus/activity:
// inside the history tree when `history` (its root; versioning on) is set,
// else as /.nexus itself, holding only "activity". `policy` and `registry`
// may be null (ReBAC or the agent registry off); `principals` not.
Result<std::unique_ptr<ops::ActivityBackend>> GraftActivityFiles(Namespace& ns, ops::OpLog* log,
                                                                 Backend* history, AccessPolicy* policy,
                                                                 PrincipalTable* principals,
                                                                 AgentRegistry* registry);

}  // namespace nexus
