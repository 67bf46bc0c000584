// nexus_bench_mcp_grants: gives a subject many MCP tool grants at once, for
// the tools/list filtering workload of run_mcp_bench.sh: `viewer` tuples on
// tool:PREFIX0 .. tool:PREFIX<N-1> (objects /tools/NAME) in one ReBAC write
// (Permissions.write), so the daemon holds them as it would an operator's
// large tool catalogue.
//
//   nexus_bench_mcp_grants --socket PATH --subject agent:ID [--count N] [--prefix extra_]
//
// Prints the ReBAC revision of the write. Needs manage on the tools (an
// admin: root on the socket).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rpc/client.h"
#include "rpc/errors.h"

namespace {

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: nexus_bench_mcp_grants --socket PATH --subject TYPE:ID [--count N] [--prefix P]\n");
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, subject, prefix = "extra_";
  long count = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage();
    if (a == "--socket") {
      socket = argv[++i];
    } else if (a == "--subject") {
      subject = argv[++i];
    } else if (a == "--count") {
      count = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--prefix") {
      prefix = argv[++i];
    } else {
      Usage();
    }
  }
  if (socket.empty() || subject.empty() || count <= 0) Usage();
  nexus::ConnectOptions o;
  o.socket_path = socket;
  o.client_name = "nexus_bench_mcp_grants";
  auto client = nexus::NexusClient::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "nexus_bench_mcp_grants: %s\n", client.status().ToString().c_str());
    return 1;
  }
  auto& c = **client;
  auto perms = c.session().permissionsRequest().send().getPermissions();
  auto req = perms.writeRequest();
  auto adds = req.initAdds(static_cast<unsigned>(count));
  for (long i = 0; i < count; ++i) {
    adds[static_cast<unsigned>(i)].setSubject(subject);
    adds[static_cast<unsigned>(i)].setRelation("viewer");
    adds[static_cast<unsigned>(i)].setObject("tool:" + prefix + std::to_string(i));
  }
  auto reply = c.Wait(req.send());
  if (auto st = nexus::ReplyStatus(reply); !st.ok()) {
    std::fprintf(stderr, "nexus_bench_mcp_grants: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("%llu\n", static_cast<unsigned long long>(reply->getRevision()));
  return 0;
}
