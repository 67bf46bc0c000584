// Helpers shared by the fs unit tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <memory>

#include "fs/change_events.h"
#include "fs/native_backend.h"
#include "tests/temp_dir.h"

namespace nexus::testing {

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
  void Clear() {
    std::lock_guard lk(mu_);
    events_.clear();
  }
  bool KeepsClosedContent() const override { return keep_closed; }
  bool keep_closed = false;  // as the version recorder asks while it runs
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

// A NativeBackend on a temporary data dir, publishing to a RecordingSink;
// Reopen() closes it and opens it again on the same dir.
class NativeBackendFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    backend_.reset();
    NativeBackend::Options o;
    o.data_dir = dir_.path();
    o.sink = &sink_;
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
  }

  TempDir dir_;
  RecordingSink sink_;
  Caller caller_{1000, 1000, 42, 022};
  std::unique_ptr<NativeBackend> backend_;
};

}  // namespace nexus::testing
