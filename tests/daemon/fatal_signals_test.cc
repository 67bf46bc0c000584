#include "daemon/fatal_signals.h"

#include <signal.h>

#include <cstdint>

#include <gtest/gtest.h>

namespace nexus {
namespace {

// A fault is reported (signal, address, thread, frames) and still kills the
// process with that signal.
TEST(FatalSignals, SegfaultIsReportedThenKillsWithTheSignal) {
  EXPECT_EXIT(
      {
        InstallFatalSignalReport("nexusd-test");
        volatile uintptr_t address = 16;  // opaque to the compiler: a real fault
        *reinterpret_cast<volatile int*>(address) = 1;
      },
      testing::KilledBySignal(SIGSEGV),
      "nexusd-test: fatal SIGSEGV \\(11\\) at address 0x10 in thread \\[[0-9]+\\]; backtrace:\n(.*\n)+"
      "nexusd-test: frames as \\(\\+0xOFFSET\\) resolve with: addr2line");
}

TEST(FatalSignals, AbortIsReportedThenAborts) {
  EXPECT_EXIT(
      {
        InstallFatalSignalReport("nexusd-test");
        ::abort();
      },
      testing::KilledBySignal(SIGABRT),
      "nexusd-test: fatal SIGABRT \\(6\\) in thread \\[[0-9]+\\]; backtrace:");
}

}  // namespace
}  // namespace nexus
