// Running one scenario in one root, and comparing two runs.
//
// RunScenario forks a process (its own process group) that creates the
// scenario directory, chdirs into it, optionally drops privileges, and
// executes the scenario body; the steps come back over a pipe. The parent stays root throughout, so
// setup and cleanup of the next scenario are unaffected by a user run. A crash
// (e.g. SIGBUS from a mapping) or a timeout is itself recorded as the final
// "(process exit)" step, so it is compared like any other result.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "probe.h"
#include "scenario.h"

namespace posix_compare {

struct RunConfig {
  std::optional<Identity> user;  // set: kAny bodies run as this identity
  int timeout_seconds = 60;      // per scenario and root
};

// The scenario's steps in the new directory `dir` (which must not exist),
// ending with the "(process exit)" step.
std::vector<Step> RunScenario(const Scenario& scenario, const std::string& dir, const RunConfig& config);

// Runs `body` in a forked child, killed after `timeout_seconds`, so that a
// hung mount cannot hang the caller. `body` returns 0 or an errno. Returns ""
// on success, else what went wrong.
std::string RunBounded(const std::function<int()>& body, int timeout_seconds);

// Removes the tree at `path` (as the caller, normally root) via RunBounded.
std::string RemoveTree(const std::string& path, int timeout_seconds);

// True when the run was killed at its deadline. A timeout fails the scenario
// even when both runs time out: a hanging scenario proves nothing.
bool TimedOut(const std::vector<Step>& steps);

// The first step at which two traces differ (call, value or errno); empty when
// they are identical. A missing step (one trace shorter) is a difference.
struct Mismatch {
  size_t index;
  std::optional<Step> native;
  std::optional<Step> mount;
  size_t differing_steps;  // all positions that differ, this one included
};
std::optional<Mismatch> FirstMismatch(const std::vector<Step>& native, const std::vector<Step>& mount);

// Human-readable report lines (indented, newline-terminated).
std::string FormatMismatch(const Mismatch& mismatch);
std::string FormatTrace(const char* label, const std::vector<Step>& steps);

}  // namespace posix_compare
