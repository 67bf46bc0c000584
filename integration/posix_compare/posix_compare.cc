// nexus_posix_compare: errno-level conformance of a mount against a native
// directory.
//
// Every scenario of the table (scenario.h) runs twice, in a fresh empty
// directory under --native and under --mount, and the two step traces
// (normalized results and errno) must be identical. The native filesystem is
// the expectation; nothing here hard-codes an errno.
//
//   nexus_posix_compare --native DIR --mount DIR [--filter SUBSTR] [--list]
//                       [--as-uid N --as-gid N] [--keep] [--verbose]
//                       [--timeout SECONDS]
//
// Must run as root: scenario setup needs it, and --as-uid runs drop to the
// given identity only inside each forked scenario process.
//
// Output: one PASS/FAIL/SKIP line per scenario; a FAIL shows the first
// differing step (--verbose adds both full traces). Exit status: 0 every
// compared scenario passed, 1 some failed (or the mount stopped answering),
// 2 usage or setup error.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runner.h"
#include "scenario.h"

namespace posix_compare {

std::vector<Scenario> AllScenarios() {
  std::vector<Scenario> all;
  for (auto family :
       {FileScenarios, NamespaceScenarios, MetadataScenarios, ConcurrencyScenarios, PermissionScenarios}) {
    auto part = family();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

namespace {

struct Options {
  std::string native;
  std::string mount;
  std::string filter;
  bool list = false;
  bool keep = false;
  bool verbose = false;
  std::optional<long> uid;
  std::optional<long> gid;
  int timeout_seconds = 60;
};

[[noreturn]] void Usage(const char* why) {
  if (why) std::fprintf(stderr, "nexus_posix_compare: %s\n", why);
  std::fprintf(stderr,
               "usage: nexus_posix_compare --native DIR --mount DIR [--filter SUBSTR] [--list]\n"
               "                           [--as-uid N --as-gid N] [--keep] [--verbose]\n"
               "                           [--timeout SECONDS]\n");
  std::exit(2);
}

long ParseNumber(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0) {
    Usage((std::string("bad number for ") + flag).c_str());
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) Usage((std::string(flag) + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--native")
      o.native = value("--native");
    else if (arg == "--mount")
      o.mount = value("--mount");
    else if (arg == "--filter")
      o.filter = value("--filter");
    else if (arg == "--list")
      o.list = true;
    else if (arg == "--keep")
      o.keep = true;
    else if (arg == "--verbose" || arg == "-v")
      o.verbose = true;
    else if (arg == "--as-uid")
      o.uid = ParseNumber("--as-uid", value("--as-uid"));
    else if (arg == "--as-gid")
      o.gid = ParseNumber("--as-gid", value("--as-gid"));
    else if (arg == "--timeout")
      o.timeout_seconds = static_cast<int>(ParseNumber("--timeout", value("--timeout")));
    else if (arg == "--help" || arg == "-h")
      Usage(nullptr);
    else
      Usage(("unknown argument " + std::string(arg)).c_str());
  }
  if (o.uid.has_value() != o.gid.has_value()) Usage("--as-uid and --as-gid go together");
  if (o.uid == 0L) Usage("--as-uid 0 is root; omit it for a root run");
  if (o.timeout_seconds < 1) Usage("--timeout must be at least 1 second");
  if (!o.list && (o.native.empty() || o.mount.empty())) Usage("--native and --mount are required");
  return o;
}

const char* PrivilegeTag(Privilege p) {
  switch (p) {
    case Privilege::kAny:
      return "";
    case Privilege::kRoot:
      return " [root]";
    case Privilege::kUser:
      return " [as-uid]";
  }
  return "";
}

// Why `scenario` does not run in this mode, or nullptr when it does.
const char* SkipReason(const Scenario& scenario, bool user_run) {
  if (scenario.privilege == Privilege::kRoot && user_run) return "needs a root run";
  if (scenario.privilege == Privilege::kUser && !user_run) return "needs --as-uid/--as-gid";
  return nullptr;
}

// Creates a directory with exactly `mode` (no umask), bounded in time.
// Returns an error description or "".
std::string MakeDir(const std::string& path, mode_t mode, int timeout_seconds) {
  std::string err = RunBounded(
      [&] {
        if (::mkdir(path.c_str(), mode) != 0 || ::chmod(path.c_str(), mode) != 0) return errno;
        return 0;
      },
      timeout_seconds);
  return err.empty() ? err : "mkdir " + path + ": " + err;
}

// Makes `path` absolute without touching it: the mount may be hung, and only
// bounded children (RunBounded) may make syscalls on it.
std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) {
    std::fprintf(stderr, "nexus_posix_compare: getcwd: %s\n", std::strerror(errno));
    std::exit(2);
  }
  return std::string(cwd) + "/" + path;
}

// Both roots must be directories, and distinct (comparing a directory with
// itself would pass everything). Returns an error description or "".
std::string CheckRoots(const std::string& native, const std::string& mount, int timeout_seconds) {
  const std::string err = RunBounded(
      [&] {
        struct stat a, b;
        if (::stat(native.c_str(), &a) != 0 || ::stat(mount.c_str(), &b) != 0) return errno;
        if (!S_ISDIR(a.st_mode) || !S_ISDIR(b.st_mode)) return ENOTDIR;
        if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) return EEXIST;
        return 0;
      },
      timeout_seconds);
  if (err == std::strerror(EEXIST)) return "--native and --mount are the same directory";
  return err.empty() ? err : native + ", " + mount + ": " + err;
}

// Warns early when the unprivileged identity cannot even reach a root (a FUSE
// mount without allow_other, a 0700 parent): every scenario would fail with
// the same EACCES, and this line says why.
void PreflightUserAccess(const std::string& dir, const Identity& user, int timeout_seconds) {
  const std::string err = RunBounded(
      [&] {
        if (DropPrivileges(user) != 0) return errno;
        struct stat st;
        return ::stat(dir.c_str(), &st) == 0 ? 0 : errno;
      },
      timeout_seconds);
  if (!err.empty()) {
    std::fprintf(stderr,
                 "note: uid %u cannot reach %s (%s); every user scenario there will fail "
                 "(FUSE mount without allow_other?)\n",
                 static_cast<unsigned>(user.uid), dir.c_str(), err.c_str());
  }
}

int Run(const Options& o) {
  const std::vector<Scenario> scenarios = AllScenarios();
  std::set<std::string_view> names;
  for (const auto& s : scenarios) {
    if (!names.insert(s.name).second) {
      std::fprintf(stderr, "internal error: duplicate scenario %.*s\n", static_cast<int>(s.name.size()),
                   s.name.data());
      return 2;
    }
  }
  if (o.list) {
    for (const auto& s : scenarios) {
      if (!o.filter.empty() && s.name.find(o.filter) == std::string_view::npos) continue;
      std::printf("%-40.*s %.*s%s\n", static_cast<int>(s.name.size()), s.name.data(),
                  static_cast<int>(s.summary.size()), s.summary.data(), PrivilegeTag(s.privilege));
    }
    return 0;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "nexus_posix_compare: must run as root (scenario setup needs it)\n");
    return 2;
  }

  RunConfig config;
  config.timeout_seconds = o.timeout_seconds;
  if (o.uid) config.user = Identity{static_cast<uid_t>(*o.uid), static_cast<gid_t>(*o.gid)};
  const bool user_run = config.user.has_value();

  const std::string native_root = Absolute(o.native);
  const std::string mount_root = Absolute(o.mount);
  if (auto err = CheckRoots(native_root, mount_root, config.timeout_seconds); !err.empty()) {
    std::fprintf(stderr, "nexus_posix_compare: %s\n", err.c_str());
    return 2;
  }
  // Per-run parents, world-traversable so a user run can reach its directories.
  const std::string run_name = "/posix_compare." + std::to_string(::getpid());
  const std::string native_run = native_root + run_name;
  const std::string mount_run = mount_root + run_name;
  for (const auto& dir : {native_run, mount_run}) {
    if (auto err = MakeDir(dir, 0755, config.timeout_seconds); !err.empty()) {
      std::fprintf(stderr, "nexus_posix_compare: setup: %s\n", err.c_str());
      return 2;
    }
  }
  if (user_run) {
    PreflightUserAccess(native_run, *config.user, config.timeout_seconds);
    PreflightUserAccess(mount_run, *config.user, config.timeout_seconds);
  }

  constexpr int kMaxConsecutiveTimeouts = 3;
  int consecutive_mount_timeouts = 0;
  bool aborted = false;
  int passed = 0, failed = 0, skipped = 0;
  std::vector<std::string> failures;
  for (const auto& s : scenarios) {
    if (!o.filter.empty() && s.name.find(o.filter) == std::string_view::npos) continue;
    const std::string name(s.name);
    if (const char* why = SkipReason(s, user_run)) {
      std::printf("SKIP %s (%s)\n", name.c_str(), why);
      ++skipped;
      continue;
    }
    const std::string native_dir = native_run + "/" + name;
    const std::string mount_dir = mount_run + "/" + name;
    const std::vector<Step> native = RunScenario(s, native_dir, config);
    const std::vector<Step> mount = RunScenario(s, mount_dir, config);
    const std::optional<Mismatch> mismatch = FirstMismatch(native, mount);
    const bool timed_out = TimedOut(native) || TimedOut(mount);
    if (!mismatch && !timed_out) {
      std::printf("PASS %s (%zu steps)\n", name.c_str(), native.size());
      if (o.verbose) std::printf("%s", FormatTrace("common", native).c_str());
      ++passed;
    } else {
      std::printf("FAIL %s\n", name.c_str());
      if (mismatch) {
        std::printf("%s", FormatMismatch(*mismatch).c_str());
      } else {
        std::printf("    both runs timed out after %d s\n", config.timeout_seconds);
      }
      if (o.verbose) {
        std::printf("%s%s", FormatTrace("native", native).c_str(), FormatTrace("mount", mount).c_str());
      }
      ++failed;
      failures.push_back(name);
    }
    if (!o.keep) {
      for (const auto& dir : {native_dir, mount_dir}) {
        if (auto err = RemoveTree(dir, config.timeout_seconds); !err.empty()) {
          std::printf("    note: cleanup of %s failed: %s\n", dir.c_str(), err.c_str());
        }
      }
    }
    // A mount that stops answering would otherwise cost two timeouts per
    // remaining scenario.
    consecutive_mount_timeouts = TimedOut(mount) ? consecutive_mount_timeouts + 1 : 0;
    if (consecutive_mount_timeouts >= kMaxConsecutiveTimeouts) {
      std::printf("ABORT: the mount timed out in %d scenarios in a row; not running the rest\n",
                  consecutive_mount_timeouts);
      aborted = true;
      break;
    }
    std::fflush(stdout);
  }
  if (!o.keep) {
    RemoveTree(native_run, config.timeout_seconds);
    if (!aborted) RemoveTree(mount_run, config.timeout_seconds);
  } else {
    std::printf("kept scenario directories under %s and %s\n", native_run.c_str(), mount_run.c_str());
  }
  const std::string as_whom =
      user_run ? " (as uid/gid " + std::to_string(*o.uid) + "/" + std::to_string(*o.gid) + ")" : "";
  std::printf("%d passed, %d failed, %d skipped%s\n", passed, failed, skipped, as_whom.c_str());
  for (const auto& f : failures) std::printf("failed: %s\n", f.c_str());
  return failed == 0 && !aborted ? 0 : 1;
}

}  // namespace
}  // namespace posix_compare

int main(int argc, char** argv) { return posix_compare::Run(posix_compare::ParseOptions(argc, argv)); }
