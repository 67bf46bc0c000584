// SocketServer: the daemon's control-socket and HTTP listeners on one
// event-loop thread of their own.
//
// It serves rpc/nexus.capnp on a Unix socket (mode 0660; the peer's uid
// from SO_PEERCRED) and optionally on TCP with TLS (an API key is required
// there), and optionally an HTTP service (health, readiness, metrics).
// Each connection gets its own bootstrap object and protocol limits
// (message size, nesting, calls in flight); a connection that sends
// garbage, a truncated frame or an oversized message is dropped with a log
// line, and nothing else is affected.
//
// Threading: Start() binds every listener (so errors such as a port in use
// come back from it) and returns once the loop thread serves. All protocol
// objects live on that thread. The destructor stops the loop and joins it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <kj/compat/http.h>

#include "rpc/server/service.h"

namespace nexus {

class SocketServer {
 public:
  struct Options {
    std::string unix_path;  // required
    std::string listen;     // "HOST:PORT" for TLS TCP; empty: none
    std::string tls_cert;   // PEM files; required with `listen`
    std::string tls_key;
    std::string http;  // "HOST:PORT"; empty: none
  };
  // Builds the HTTP service on the loop thread; called once if `http` is set.
  using HttpServiceFactory = std::function<kj::Own<kj::HttpService>(kj::HttpHeaderTable&)>;

  // `ctx` must outlive the server.
  static Result<std::unique_ptr<SocketServer>> Start(ServiceContext* ctx, const Options& options,
                                                     HttpServiceFactory http = nullptr);
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  // The TCP and HTTP addresses actually bound (a port of 0 picks one).
  const std::string& listen_address() const { return listen_address_; }
  const std::string& http_address() const { return http_address_; }

 private:
  struct Loop;
  SocketServer() = default;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::string listen_address_;
  std::string http_address_;
};

}  // namespace nexus
