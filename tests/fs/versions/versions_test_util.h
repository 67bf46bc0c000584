// Fixture shared by the version store tests: a store in a temp dir with a
// controllable clock, helpers to capture strings, and a runner for the real
// git binary.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "fs/versions/version_store.h"
#include "tests/fs/test_util.h"

namespace nexus::versions::testing {

inline constexpr int64_t kStartNs = int64_t{1767225600} * 1000000000;  // 2026-01-01T00:00:00Z
inline constexpr int64_t kDayNs = int64_t{86400} * 1000000000;

// Runs `cmd` with /bin/sh; returns stdout, and the exit status in *status.
inline std::string Shell(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

class VersionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  VersionStore::Options MakeOptions(bool run_committer) {
    VersionStore::Options o;
    o.dir = dir_.path();
    o.run_committer = run_committer;
    o.commit_window = std::chrono::milliseconds(20);
    o.clock = [this] { return now_ns_.load(); };
    return o;
  }

  // Closes the store (cleanly) and opens it again.
  void Reopen(bool run_committer = false) {
    store_.reset();
    auto s = VersionStore::Open(MakeOptions(run_committer));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Writes `content` to a scratch file and captures it as zone:path.
  CaptureResult Put(const std::string& path, const std::string& content, const std::string& zone = "root",
                    uint32_t mode = 0644) {
    const std::string scratch = dir_.path() + "/scratch";
    ::unlink(scratch.c_str());
    int fd = ::open(scratch.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    auto r = store_->Capture(zone, path, fd, who_);
    ::close(fd);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    now_ns_ += 1000000000;  // one second per change
    return r.ok() ? *r : CaptureResult{};
  }

  std::string Git(const std::string& repo, const std::string& args, int* status = nullptr) {
    return Shell("git -C '" + repo + "' " + args + " 2>&1", status);
  }

  nexus::testing::TempDir dir_;
  std::atomic<int64_t> now_ns_{kStartNs};
  Provenance who_{"user:uid-1000", 1000, 4242, "vim", "", ""};
  std::unique_ptr<VersionStore> store_;
};

// An in-memory tree standing in for the filesystem in restore tests.
class MemoryTree final : public TreeWriter {
 public:
  Status Write(const std::string& zone, const std::string& path, uint32_t mode,
               std::string_view content) override {
    files[zone + ":" + path] = std::string(content);
    return Status::Ok();
  }
  Status Remove(const std::string& zone, const std::string& path) override {
    if (files.erase(zone + ":" + path) == 0) return Status::Error(ENOENT, "no " + path);
    return Status::Ok();
  }
  std::map<std::string, std::string> files;
};

}  // namespace nexus::versions::testing
