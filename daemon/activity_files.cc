#include "daemon/activity_files.h"

#include <string>
#include <string_view>

#include "base/layout.h"

namespace nexus {

Result<std::unique_ptr<ops::ActivityBackend>> GraftActivityFiles(Namespace& ns, ops::OpLog* log,
                                                                 Backend* history, AccessPolicy* policy,
                                                                 PrincipalTable* principals,
                                                                 AgentRegistry* registry) {
  auto principal_of = [principals](const Caller& c) {
    return c.principal ? c.principal : principals->ForUid(c.uid, c.gid);
  };
  auto subject_of = [policy, principal_of](const Caller& c) {
    return policy ? policy->SubjectOf(c) : principal_of(c)->subject;
  };
  // Whether `me` may read `subject`'s operations: its own, or an agent's it owns.
  auto owns = [registry](const std::string& me, const std::string& subject) {
    if (subject == me) return true;
    if (!registry || !subject.starts_with("agent:")) return false;
    auto agent = registry->Get(std::string_view(subject).substr(6));
    return agent.ok() && agent->owner == me;
  };
  ops::ActivityBackend::Options o;
  o.system_root = history == nullptr;
  o.sees_all = [policy, principal_of](const Caller& c) {
    return policy ? policy->Unrestricted(c) : principal_of(c)->admin;
  };
  o.subject_of = subject_of;
  o.may_list = [owns, subject_of](const Caller& c, const std::string& subject) {
    return owns(subject_of(c), subject);
  };
  o.may_see = [owns, subject_of, policy](const Caller& c, const ops::Operation& op) {
    if (!owns(subject_of(c), op.subject)) return false;
    if (!policy) return true;
    auto sees = [&](const std::string& path) { return !path.empty() && policy->CanSee(c, path, false); };
    return sees(op.path) || sees(op.old_path);
  };
  NEXUS_ASSIGN_OR_RETURN(auto backend, ops::ActivityBackend::Create(kActivityBackendId, log, std::move(o)));
  if (history)
    NEXUS_RETURN_IF_ERROR(ns.AddMount(history->root(), "activity", backend.get()));
  else
    NEXUS_RETURN_IF_ERROR(
        ns.AddMount(kRootIno, std::string(layout::kSystemName), backend.get(), /*hidden=*/true));
  return backend;
}

}  // namespace nexus
