// Command-line options of nexusd.
#pragma once

#include <string>
#include <vector>

#include "fs/status.h"

namespace nexus {

struct DaemonOptions {
  std::string data_dir;
  std::string mountpoint;
  std::string workspace;  // empty: no /zone/local
  std::string log_level = "info";
  bool writeback_cache = false;
  double attr_timeout = 60.0;
  double workspace_timeout = 1.0;
  unsigned threads = 16;
  int commit_interval_ms = 5;
  bool fuse_debug = false;
  bool show_help = false;
  bool show_version = false;
};

// Parses argv (without argv[0]). Errors name the offending flag.
Result<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args);
const char* DaemonUsage();

}  // namespace nexus
