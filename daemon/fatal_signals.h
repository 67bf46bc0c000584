// FatalSignals: when nexusd dies of SIGSEGV, SIGBUS, SIGFPE, SIGILL or
// SIGABRT, one report goes to stderr first (the daemon's log): the signal,
// the faulting address, the thread as the log names it ([tid]) and a
// backtrace whose `(+0xOFFSET)` frames `addr2line -f -C -e nexusd 0xOFFSET`
// resolves. Then the signal's default action runs as it would have, so the
// exit status and any core dump are unchanged.
//
// Contract: install once, early in main(). The handler uses only
// async-signal-safe calls (write, backtrace_symbols_fd, and backtrace,
// whose library is loaded at install so that it does not load it then).
#pragma once

namespace nexus {

void InstallFatalSignalReport(const char* program);

}  // namespace nexus
