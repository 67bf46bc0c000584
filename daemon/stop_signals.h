// StopSignals: turns SIGTERM, SIGINT and SIGHUP into a call of one callback,
// made on a watcher thread of its own.
//
// Contract: call BlockInThisThread() first thing in main(), before any
// thread exists, so that every thread inherits the blocked mask and the
// signals are only ever taken by sigwait here. Blocked signals are queued
// even when inherited as ignored (e.g. SIGINT of a background job), so the
// daemon stops the same way however it was started.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace nexus {

class StopSignals {
 public:
  static void BlockInThisThread();

  // Starts watching. `on_stop` runs once, for the first signal; later ones
  // are logged.
  explicit StopSignals(std::function<void(int signo)> on_stop);
  // Stops watching (waits for a running `on_stop` to return).
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  void Run();
  std::function<void(int)> on_stop_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace nexus
