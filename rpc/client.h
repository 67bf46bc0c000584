// NexusClient: a synchronous connection to nexusd's control socket, for the
// `nexus` CLI, benchmarks and tests.
//
// Connect() reaches the daemon over its Unix socket or over TLS TCP,
// authenticates, and holds the Session. Calls are made on the capnp
// capabilities and waited for with wait_scope(); a daemon that is not there
// or does not answer within the timeout is an error (EAGAIN / ETIMEDOUT),
// never a hang.
//
// Threading: a client is used on the thread that made it; the clients of
// one thread share that thread's event loop.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <kj/async-io.h>

#include "base/status.h"
#include "rpc/nexus.capnp.h"

namespace nexus {

struct ConnectOptions {
  std::string socket_path;  // Unix socket; used when `remote` is empty
  std::string remote;       // "HOST:PORT": TLS over TCP
  std::string api_key;      // required with `remote`
  std::string tls_ca;       // PEM file the server certificate must chain to
  double timeout_s = 10;    // connect + authenticate
  // Every call waited for with Wait gives up after this long (ETIMEDOUT);
  // 0: calls may take as long as they take. A peer that vanishes without
  // closing the connection (a partition) is only noticed this way.
  double call_timeout_s = 0;
  std::string client_name = "nexus";
  // False: connect without opening a session (no API key needed); only
  // bootstrap() may be used, e.g. by a mesh node.
  bool authenticate = true;
  // "ID" or "agent:ID": the session acts as that agent (its grants only);
  // the authenticated caller must be the agent, its owner or an admin.
  std::string act_as;
};

class NexusClient {
 public:
  static Result<std::unique_ptr<NexusClient>> Connect(const ConnectOptions& options);
  ~NexusClient();

  rpc::Session::Client& session();
  // The connection's bootstrap capability (for calls made without a
  // session, e.g. a mesh node's).
  rpc::Nexus::Client& bootstrap();
  kj::WaitScope& wait_scope();
  kj::Timer& timer();
  // The thread's async I/O (shared by its clients): for programs that run
  // their own event-driven work on the client's loop (e.g. `nexus mcp
  // serve` reading stdin and serving HTTP).
  kj::AsyncIoContext& io();
  // Resolves when the connection is lost (the daemon stopped or dropped
  // it): for programs that hold a stream open (`nexus events watch`).
  kj::Promise<void> OnDisconnect();
  // The identity the daemon authenticated.
  const std::string& subject() const { return subject_; }
  bool is_admin() const { return is_admin_; }

  // Waits for `promise`, turning a broken call or a lost connection into a
  // Status (ECONNRESET or EIO, with the transport's message), and a call
  // unanswered within call_timeout_s into ETIMEDOUT.
  template <typename T>
  Result<T> Wait(kj::Promise<T>&& promise) {
    Result<T> out = Status::Error(EIO, "no reply");
    Status st = WaitImpl([&]() {
      if (call_timeout_ms_ > 0)
        out = timer().timeoutAfter(call_timeout_ms_ * kj::MILLISECONDS, kj::mv(promise)).wait(wait_scope());
      else
        out = promise.wait(wait_scope());
    });
    if (!st.ok()) return st;
    return out;
  }

 private:
  struct State;
  NexusClient();
  Status WaitImpl(const std::function<void()>& fn);
  std::unique_ptr<State> state_;
  std::string subject_;
  bool is_admin_ = false;
  int64_t call_timeout_ms_ = 0;
};

}  // namespace nexus
