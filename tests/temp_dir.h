// A fresh directory under $TMPDIR for one test, removed with everything in
// it: shared by the unit tests of every module.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace nexus::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-ut.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace nexus::testing
