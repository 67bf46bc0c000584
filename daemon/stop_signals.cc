#include "daemon/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>

#include <spdlog/spdlog.h>

namespace nexus {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  return set;
}

}  // namespace

void StopSignals::BlockInThisThread() {
  sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignals::StopSignals(std::function<void(int)> on_stop)
    : on_stop_(std::move(on_stop)), thread_([this] { Run(); }) {}

StopSignals::~StopSignals() {
  done_ = true;
  thread_.join();
}

void StopSignals::Run() {
  const sigset_t set = StopSet();
  const timespec poll{0, 200 * 1000 * 1000};
  bool stopping = false;
  while (!done_) {
    int sig = sigtimedwait(&set, nullptr, &poll);
    if (sig < 0) continue;  // timeout or EINTR: look at done_ again
    if (stopping) {
      spdlog::warn("received {} while stopping; still finishing requests", strsignal(sig));
      continue;
    }
    stopping = true;
    spdlog::info("received {}: stopping", strsignal(sig));
    on_stop_(sig);
  }
}

}  // namespace nexus
