// nexus mesh *: not in this build yet.
#include "rpc/cli/cli.h"

namespace nexus::cli {

void AddMeshCommands(std::vector<Command>*) {}

}  // namespace nexus::cli
