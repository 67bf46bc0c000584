// nexus: the command-line client of nexusd.
#include <cstdio>
#include <cstring>

#include "nexus/version.h"

namespace {

constexpr int kExitUsage = 64;

const char* kUsage = R"(Usage: nexus [--version] [-h|--help] <command> [args]

The NexusFS command-line client.

Options:
  --version    print the version and exit
  -h, --help   print this help and exit

Exit status: 0 success, 1 operation failed, 64 usage error.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  if (!std::strcmp(argv[1], "--version")) return std::printf("nexus %s\n", NEXUS_VERSION), 0;
  if (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help"))
    return std::fputs(kUsage, stdout), 0;
  std::fprintf(stderr, "nexus: unknown command '%s' (see nexus --help)\n", argv[1]);
  return kExitUsage;
}
