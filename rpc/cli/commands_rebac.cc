// nexus rebac *, identity *, audit *, mount *: not in this build yet.
#include "rpc/cli/cli.h"

namespace nexus::cli {

void AddRebacCommands(std::vector<Command>*) {}

}  // namespace nexus::cli
