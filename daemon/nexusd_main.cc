// nexusd: parses its options, starts a Daemon (daemon/daemon.h) and serves
// the mount until told to stop.
#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"
#include "daemon/fatal_signals.h"
#include "daemon/options.h"
#include "daemon/stop_signals.h"
#include "nexus/build_info.h"
#include "nexus/version.h"

namespace nexus {
namespace {

int Run(const DaemonOptions& o) {
  Status synced;  // the last metadata sync, written as the daemon is torn down
  Status served;
  {
    int exit_code = Daemon::kExitFailure;
    auto daemon = Daemon::Start(o, &synced, &exit_code);
    if (!daemon.ok()) return spdlog::error("{}", daemon.status().ToString()), exit_code;
    served = (*daemon)->Serve();
  }  // stops every part, in the reverse order of Daemon's members
  if (!served.ok()) return spdlog::error("{}", served.ToString()), Daemon::kExitFailure;
  spdlog::info("stopped cleanly");
  return synced.ok() ? 0 : Daemon::kExitFailure;
}

}  // namespace
}  // namespace nexus

int main(int argc, char** argv) {
  nexus::StopSignals::BlockInThisThread();  // before any thread exists
  nexus::InstallFatalSignalReport(argv[0]);
  auto logger = spdlog::stderr_color_mt("nexusd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = nexus::ParseDaemonOptions(args, nexus::ProcessEnvironment());
  if (!opts.ok()) {
    std::fprintf(stderr, "nexusd: %s\n", opts.status().ToString().c_str());
    return nexus::Daemon::kExitUsage;
  }
  if (opts->show_help) return std::fputs(nexus::DaemonUsage(), stdout), 0;
  if (opts->show_version) return std::printf("nexusd %s (git %s)\n", NEXUS_VERSION, NEXUS_GIT_COMMIT), 0;
  spdlog::set_level(spdlog::level::from_str(opts->log_level));
  return nexus::Run(*opts);
}
