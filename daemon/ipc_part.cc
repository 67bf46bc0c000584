#include "daemon/ipc_part.h"

#include <spdlog/spdlog.h>

namespace nexus {

Result<std::unique_ptr<IpcPart>> IpcPart::Open(const std::string& data_dir, double default_ttl_s,
                                               PathFiles* files, AgentRegistry* registry,
                                               PrincipalTable* principals, ChangeBus* bus) {
  const std::string path = data_dir + "/mailbox.db";
  Mailbox::Options o;
  o.default_ttl = std::chrono::seconds(static_cast<int64_t>(default_ttl_s));
  o.admin_subject = principals->admin_subject();
  auto mailbox = Mailbox::Open(path, files, registry, principals, o);
  if (!mailbox.ok()) return Status::Error(mailbox.code(), "mailboxes: " + mailbox.status().message());
  std::unique_ptr<IpcPart> part(new IpcPart());
  part->mailbox_ = std::move(mailbox).value();
  part->mailbox_->Subscribe(bus);
  spdlog::info("ipc: mailbox index in {} (default TTL {} s)", path, o.default_ttl.count());
  return part;
}

}  // namespace nexus
