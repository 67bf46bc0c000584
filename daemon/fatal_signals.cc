#include "daemon/fatal_signals.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace nexus {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
const char* g_program = "nexusd";
// The main thread's alternate stack, so an overflow of its stack is reported
// too (other threads overflowing die as before, unreported).
alignas(16) char g_alt_stack[64 * 1024];

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
  }
  return "signal";
}

// Appends to a fixed buffer without allocating (snprintf is not
// async-signal-safe).
struct Line {
  char buf[256];
  size_t len = 0;
  Line& Add(const char* s) {
    while (*s && len < sizeof buf) buf[len++] = *s++;
    return *this;
  }
  Line& Number(uint64_t v, unsigned base) {
    char digits[24];
    size_t n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v != 0);
    if (base == 16) Add("0x");
    while (n > 0 && len < sizeof buf) buf[len++] = digits[--n];
    return *this;
  }
  void Write() const {
    size_t off = 0;
    while (off < len) {
      ssize_t w = ::write(STDERR_FILENO, buf + off, len - off);
      if (w <= 0) return;
      off += static_cast<size_t>(w);
    }
  }
};

void OnFatalSignal(int sig, siginfo_t* info, void*) {
  const int saved_errno = errno;
  Line head;
  head.Add(g_program).Add(": fatal ").Add(SignalName(sig)).Add(" (").Number(static_cast<uint64_t>(sig), 10);
  head.Add(")");
  if (sig != SIGABRT) head.Add(" at address ").Number(reinterpret_cast<uintptr_t>(info->si_addr), 16);
  head.Add(" in thread [").Number(static_cast<uint64_t>(::syscall(SYS_gettid)), 10).Add("]; backtrace:\n");
  head.Write();
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  Line tail;
  tail.Add(g_program)
      .Add(": frames as (+0xOFFSET) resolve with: addr2line -f -C -e ")
      .Add(g_program)
      .Add(" 0xOFFSET\n");
  tail.Write();
  // The default action, as if no handler had been installed: the signal is
  // blocked while this runs and is delivered again on return.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  errno = saved_errno;
}

}  // namespace

void InstallFatalSignalReport(const char* program) {
  g_program = program;
  void* warm[1];
  ::backtrace(warm, 1);  // loads libgcc's unwinder now, not in the handler
  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = OnFatalSignal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : kSignals) ::sigaction(sig, &sa, nullptr);
}

}  // namespace nexus
