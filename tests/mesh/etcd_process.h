// EtcdProcess: a real single-member etcd (Debian's etcd-server) on loopback
// ports in a temp data dir, for tests of the etcd store. Started on first
// use, once per test process; killed when the process exits.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "mesh/etcd_client.h"

namespace nexus::testing {

// A loopback port nobody listens on right now.
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string EtcdBinary() {
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

class EtcdProcess {
 public:
  // nullptr if etcd is not installed or does not come up (why in `error`).
  static EtcdProcess* Shared(std::string* error) {
    static EtcdProcess* p = Start(error_text());
    if (p == nullptr) *error = error_text();
    return p;
  }
  const std::string& endpoint() const { return endpoint_; }
  ~EtcdProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }

 private:
  static std::string& error_text() {
    static std::string e;
    return e;
  }
  static EtcdProcess* Start(std::string& error) {
    const std::string bin = EtcdBinary();
    if (bin.empty()) {
      error = "etcd is not installed (apt-get install etcd-server)";
      return nullptr;
    }
    char tmpl[] = "/tmp/nexus-etcd-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error = "mkdtemp failed";
      return nullptr;
    }
    auto* p = new EtcdProcess();
    p->dir_ = tmpl;
    const int client_port = FreePort(), peer = FreePort();
    p->endpoint_ = "127.0.0.1:" + std::to_string(client_port);
    const std::string curl = "http://" + p->endpoint_, purl = "http://127.0.0.1:" + std::to_string(peer);
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string log = p->dir_ + "/etcd.log";
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      ::execl(bin.c_str(), "etcd", "--name", "t", "--data-dir", (p->dir_ + "/data").c_str(),
              "--listen-client-urls", curl.c_str(), "--advertise-client-urls", curl.c_str(),
              "--listen-peer-urls", purl.c_str(), "--initial-advertise-peer-urls", purl.c_str(),
              "--initial-cluster", ("t=" + purl).c_str(), "--log-level", "error", nullptr);
      ::_exit(127);
    }
    p->pid_ = pid;
    std::atexit([] { delete Shared(&error_text()); });
    mesh::EtcdClient client({.endpoints = {p->endpoint_}, .timeout = std::chrono::milliseconds(500)});
    for (int i = 0; i < 100; ++i) {
      if (client.Call("/v3/kv/range", {{"key", "AA=="}}).ok()) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    error = "etcd did not answer within 10 s (log: " + p->dir_ + "/etcd.log)";
    return p;
  }

  std::string dir_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace nexus::testing
