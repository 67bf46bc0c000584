// Helpers shared by the search unit tests.
#pragma once

#include <stdio.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/fs/test_util.h"

namespace nexus::search::testing {

using nexus::testing::TempDir;

// Writes `data` to `root`/`rel`, creating parent directories.
inline void WriteFile(const std::string& root, const std::string& rel, const std::string& data) {
  std::filesystem::path p = std::filesystem::path(root) / rel.substr(rel[0] == '/');
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// Standard output of a shell command.
inline std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

// Single-quoted for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

}  // namespace nexus::search::testing
