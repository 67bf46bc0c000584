#include "daemon/service_notifier.h"

#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace nexus {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;

void Notify(const std::string& state) {
  int r = ::sd_notify(0, state.c_str());
  if (r < 0) spdlog::warn("sd_notify {}: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

}  // namespace

bool FuseMountLive(const std::string& mountpoint) {
  struct statfs st;
  return ::statfs(mountpoint.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

bool UnixSocketAccepts(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::unique_ptr<ServiceNotifier> ServiceNotifier::Start(Probes probes) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (!socket || !*socket) return nullptr;
  uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set for this process.
  if (::sd_watchdog_enabled(0, &usec) <= 0) usec = 0;
  std::unique_ptr<ServiceNotifier> n(new ServiceNotifier(std::move(probes), std::chrono::microseconds(usec)));
  n->thread_ = std::thread([p = n.get()] { p->Run(); });
  return n;
}

ServiceNotifier::ServiceNotifier(Probes probes, std::chrono::microseconds watchdog)
    : probes_(std::move(probes)), watchdog_(watchdog) {}

ServiceNotifier::~ServiceNotifier() { Stop(); }

void ServiceNotifier::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Notify("STOPPING=1\nSTATUS=stopping");
}

bool ServiceNotifier::SleepFor(std::chrono::microseconds d) {
  MutexLock lock(mu_);
  return !lock.WaitFor(cv_, d, [&]() REQUIRES(mu_) { return stopping_; });
}

void ServiceNotifier::Run() {
  while (!probes_.ready())
    if (!SleepFor(kReadyPoll)) return;
  Notify("READY=1\nSTATUS=" + probes_.status);
  spdlog::info("told systemd the service is ready{}",
               watchdog_.count() ? fmt::format(" (watchdog every {} ms)", watchdog_.count() / 2000) : "");
  if (watchdog_.count() == 0) return;
  while (SleepFor(watchdog_ / 2)) {
    if (probes_.alive())
      Notify("WATCHDOG=1");
    else
      spdlog::warn("watchdog: the mount or the control socket does not answer; not telling systemd it lives");
  }
}

}  // namespace nexus
