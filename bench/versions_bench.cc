// nexus_bench_versions: measures the version store on a real libgit2
// repository and SQLite index in a temp dir.
//
//   nexus_bench_versions [--small N] [--large-mb M] [--versions V] [--runs R]
//
// Prints one JSON object: capture throughput of N small (1 KiB) files and of
// one M MiB file, the time to commit them, and p50/p99 latency (µs) of
// History, Get and Diff on a file with V versions over R runs each.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fs/versions/version_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using nexus::versions::DiffMode;
using nexus::versions::Provenance;
using nexus::versions::VersionStore;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& what, const nexus::Status& st) {
  std::fprintf(stderr, "nexus_bench_versions: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

template <typename R>
void Check(const std::string& what, const R& r) {
  if (!r.ok()) Die(what, r.status());
}

// Rewrites the scratch file `fd` with `data`.
void Rewrite(int fd, const std::string& data) {
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) {
    std::perror("scratch write");
    std::exit(1);
  }
}

struct Latency {
  double p50_us, p99_us;
};

Latency Measure(int runs, const std::function<void(int)>& op) {
  std::vector<double> us;
  us.reserve(runs);
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    op(i);
    us.push_back(Seconds(Clock::now() - t0) * 1e6);
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  int small = 5000, large_mb = 128, versions = 1000, runs = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (flag == "--small")
      small = v;
    else if (flag == "--large-mb")
      large_mb = v;
    else if (flag == "--versions")
      versions = v;
    else if (flag == "--runs")
      runs = v;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "nexus-bench-versions.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  VersionStore::Options o;
  o.dir = dir;
  auto opened = VersionStore::Open(o);
  Check("open", opened);
  VersionStore& store = **opened;
  const Provenance who{"user:uid-1000", 1000, ::getpid(), "bench", "", ""};
  const std::string scratch = dir + "/scratch";
  int fd = ::open(scratch.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  // Small files: distinct 1 KiB contents, as a burst of closes.
  std::mt19937_64 rng(42);
  std::string small_data(1024, '\0');
  Clock::duration small_time{};
  for (int i = 0; i < small; ++i) {
    for (auto& c : small_data) c = static_cast<char>('a' + rng() % 26);
    Rewrite(fd, small_data);
    auto t0 = Clock::now();
    Check("capture small",
          store.Capture("root", "small/d" + std::to_string(i % 50) + "/f" + std::to_string(i), fd, who));
    small_time += Clock::now() - t0;
  }
  auto t0 = Clock::now();
  Check("flush small", store.Flush());
  const double small_flush = Seconds(Clock::now() - t0);

  // One large file, streamed.
  std::string block(1 << 20, '\0');
  ::ftruncate(fd, 0);
  for (int i = 0; i < large_mb; ++i) {
    for (size_t j = 0; j < block.size(); j += 8) {
      uint64_t r = rng();
      std::memcpy(&block[j], &r, 8);
    }
    ::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) << 20);
  }
  t0 = Clock::now();
  Check("capture large", store.Capture("root", "large.bin", fd, who));
  const double large_time = Seconds(Clock::now() - t0);

  // A file with `versions` versions: 200 lines, one line changes each time.
  std::vector<std::string> lines(200);
  for (size_t i = 0; i < lines.size(); ++i) lines[i] = "line " + std::to_string(i) + " of the document\n";
  t0 = Clock::now();
  for (int v = 0; v < versions; ++v) {
    lines[static_cast<size_t>(v) % lines.size()] = "edit " + std::to_string(v) + "\n";
    std::string text;
    for (const auto& l : lines) text += l;
    Rewrite(fd, text);
    Check("capture version", store.Capture("root", "doc.txt", fd, who));
  }
  Check("flush versions", store.Flush());
  const double versions_time = Seconds(Clock::now() - t0);
  ::close(fd);

  Latency history = Measure(runs, [&](int) { Check("history", store.History("root", "doc.txt")); });
  Latency get = Measure(runs, [&](int i) {
    Check("get", store.Get("root", "doc.txt", 1 + static_cast<uint32_t>((i * 7919) % versions)));
  });
  Latency diff = Measure(runs, [&](int i) {
    uint32_t a = 1 + static_cast<uint32_t>((i * 7919) % (versions - 1));
    Check("diff", store.Diff("root", "doc.txt", a, a + 1, DiffMode::kContent));
  });
  auto stats = store.Stats();
  Check("stats", stats);

  std::printf(
      "{\n  \"small_files\": %d,\n  \"small_capture_files_per_s\": %.0f,\n"
      "  \"small_flush_s\": %.3f,\n  \"large_mb\": %d,\n  \"large_capture_mb_per_s\": %.1f,\n"
      "  \"versions\": %d,\n  \"versions_capture_and_commit_s\": %.3f,\n"
      "  \"history_p50_us\": %.0f, \"history_p99_us\": %.0f,\n"
      "  \"get_p50_us\": %.0f, \"get_p99_us\": %.0f,\n"
      "  \"diff_p50_us\": %.0f, \"diff_p99_us\": %.0f,\n"
      "  \"objects\": %llu, \"disk_bytes\": %llu, \"logical_bytes\": %llu\n}\n",
      small, small / Seconds(small_time), small_flush, large_mb, large_mb / large_time, versions,
      versions_time, history.p50_us, history.p99_us, get.p50_us, get.p99_us, diff.p50_us, diff.p99_us,
      static_cast<unsigned long long>(stats->objects), static_cast<unsigned long long>(stats->disk_bytes),
      static_cast<unsigned long long>(stats->logical_bytes));
  opened->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
