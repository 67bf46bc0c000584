// Helpers shared by the search unit tests.
#pragma once

#include <gtest/gtest.h>
#include <stdio.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fs/search/content_source.h"
#include "fs/search/search_index.h"
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

// A SearchIndex (index_, opened by Open) over a temporary tree (Write).
class IndexTest : public ::testing::Test {
 protected:
  IndexTest() : tree_(tree_dir_.path()) {}

  void Open(SearchIndex::Options o = {}) {
    index_.reset();
    auto idx = SearchIndex::Open(db_dir_.path() + "/search.db", &tree_, std::move(o));
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(*idx);
  }
  void Write(const std::string& rel, const std::string& data) { WriteFile(tree_dir_.path(), rel, data); }

  TempDir tree_dir_, db_dir_;
  DirectoryContentSource tree_;
  std::unique_ptr<SearchIndex> index_;
};

}  // namespace nexus::search::testing
