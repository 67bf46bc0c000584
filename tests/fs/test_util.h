// Helpers shared by the fs unit tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "fs/change_events.h"

namespace nexus::testing {

// A fresh directory under $TMPDIR, removed with everything in it.
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

// A ChangeSink double that records every event.
class RecordingSink final : public ChangeSink {
 public:
  void Publish(ChangeEvent ev) override {
    std::lock_guard lk(mu_);
    events_.push_back(std::move(ev));
  }
  std::vector<ChangeEvent> Events() {
    std::lock_guard lk(mu_);
    return events_;
  }
  size_t Count(ChangeEvent::Kind kind) {
    std::lock_guard lk(mu_);
    size_t n = 0;
    for (const auto& e : events_) n += e.kind == kind;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
};

}  // namespace nexus::testing
