// ServiceNotifier: tells systemd (sd_notify, libsystemd) when nexusd is
// serving and keeps its watchdog fed while it still is.
//
// Under a unit with Type=notify, systemd passes NOTIFY_SOCKET; without it
// (a shell, `nexus up`, the tests) Start returns nullptr and nothing
// changes. With it, a thread of its own:
//   1. polls the `ready` probe until it passes, then sends READY=1 and a
//      STATUS line: systemd counts the unit started only once the mount and
//      the control socket are serving, so units ordered After=nexusd.service
//      find both;
//   2. when the unit has WatchdogSec= (WATCHDOG_USEC), runs the `alive`
//      probe every half period and sends WATCHDOG=1 only when it passes. A
//      wedged filesystem makes the probe block or fail, the pings stop, and
//      systemd restarts the daemon.
// Stop() sends STOPPING=1 and joins the thread.
//
// Threading: Start, Stop and the destructor on one thread (the daemon's
// stop path); the probes run on the notifier's thread and may block (a
// probe of a FUSE mount blocks while the mount does not answer): Stop must
// be called while whatever the probes touch still answers, i.e. before the
// FUSE loop is asked to end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"

namespace nexus {

class ServiceNotifier {
 public:
  struct Probes {
    std::function<bool()> ready;  // true once serving
    std::function<bool()> alive;  // true while still serving
    std::string status;           // STATUS= text sent with READY=1
  };
  // How often `ready` is polled until it passes.
  static constexpr std::chrono::milliseconds kReadyPoll{20};

  // nullptr when no service manager waits for notifications (NOTIFY_SOCKET
  // unset).
  static std::unique_ptr<ServiceNotifier> Start(Probes probes);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // Sends STOPPING=1 once and waits for the thread to end (a probe in
  // progress finishes first). Idempotent.
  void Stop() EXCLUDES(mu_);

 private:
  explicit ServiceNotifier(Probes probes, std::chrono::microseconds watchdog);
  void Run() EXCLUDES(mu_);
  // Waits up to `d`; false once Stop was called.
  bool SleepFor(std::chrono::microseconds d) EXCLUDES(mu_);

  const Probes probes_;
  const std::chrono::microseconds watchdog_;  // 0: no watchdog
  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Probes of a running nexusd. True when `mountpoint` is a live FUSE
// filesystem: statfs reaches the daemon (the kernel never answers it from a
// cache) and reports FUSE's magic number. May block while the mount does not
// answer.
bool FuseMountLive(const std::string& mountpoint);
// True when a Unix stream socket at `path` accepts a connection.
bool UnixSocketAccepts(const std::string& path);

}  // namespace nexus
