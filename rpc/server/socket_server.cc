#include "rpc/server/socket_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <future>

#include <capnp/rpc-twoparty.h>
#include <capnp/serialize-async.h>
#include <kj/async-io.h>
#include <kj/compat/tls.h>
#include <spdlog/spdlog.h>

#include "base/file_util.h"

namespace nexus {
namespace {

constexpr uint32_t kMaxConnections = 1024;
constexpr auto kTlsHandshakeTimeout = 10 * kj::SECONDS;

// Passes messages through, and logs why a connection is dropped when a
// frame cannot be read (garbage, truncation, a message over the limit).
class LoggingMessageStream final : public capnp::MessageStream {
 public:
  LoggingMessageStream(kj::AsyncIoStream& stream, std::string label)
      : inner_(stream), label_(std::move(label)) {}

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fds, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch) override {
    return inner_.tryReadMessage(fds, options, scratch)
        .catch_([this](kj::Exception&& e) -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
          // A clean close ends in "no message", not here: this is garbage,
          // a frame cut short, or a message over the limits.
          spdlog::warn("{}: dropping connection: {}", label_, e.getDescription().cStr());
          return kj::mv(e);
        });
  }
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override {
    return inner_.writeMessage(fds, segments);
  }
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override {
    return inner_.writeMessages(messages);
  }
  kj::Maybe<int> getSendBufferSize() override { return inner_.getSendBufferSize(); }
  kj::Promise<void> end() override { return inner_.end(); }

 private:
  capnp::AsyncIoMessageStream inner_;
  std::string label_;
};

// One served connection. Members are destroyed in reverse order: the RPC
// system before the network before the streams it reads.
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream> s, const std::string& label, capnp::ReaderOptions options,
             capnp::Capability::Client bootstrap)
      : stream(kj::mv(s)),
        messages(*stream, label),
        network(messages, capnp::rpc::twoparty::Side::SERVER, options),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
  kj::Own<kj::AsyncIoStream> stream;
  LoggingMessageStream messages;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

class LogErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    spdlog::warn("control socket: {}", e.getDescription().cStr());
  }
};

std::string PeerAddress(kj::AsyncIoStream& stream) {
  sockaddr_storage ss{};
  uint len = sizeof ss;
  try {
    stream.getpeername(reinterpret_cast<sockaddr*>(&ss), &len);
  } catch (const kj::Exception&) {
    return "?";
  }
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  } else {
    return "local";
  }
  return std::string(host) + ":" + std::to_string(port);
}

Status PrepareSocketPath(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::Error(ENAMETOOLONG, "socket path " + path + " is too long for a Unix socket");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::Error(EEXIST, path + " exists and is not a socket");
    if (::unlink(path.c_str()) != 0) return Status::FromErrno("remove stale socket " + path);
  }
  return Status::Ok();
}

}  // namespace

struct SocketServer::Loop {
  ServiceContext* ctx;
  Options options;
  HttpServiceFactory http_factory;
  std::promise<Status> started;
  std::string listen_address;
  std::string http_address;
  // Set on the loop thread before `started`; used by the destructor.
  const kj::Executor* executor = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> stop;

  capnp::ReaderOptions ReaderLimits() const {
    capnp::ReaderOptions o;
    o.traversalLimitInWords = ctx->limits.max_message_words;
    o.nestingLimit = ctx->limits.max_nesting;
    return o;
  }

  void Serve(kj::TaskSet& tasks, kj::Own<kj::AsyncIoStream> stream, PeerInfo peer) {
    if (ctx->info->connections.load() >= kMaxConnections) {
      spdlog::warn("control socket: refusing {} client {}: {} connections open", peer.transport, peer.address,
                   kMaxConnections);
      return;
    }
    std::string label = peer.transport + " client " + peer.address;
    auto conn = kj::heap<Connection>(kj::mv(stream), label, ReaderLimits(), MakeBootstrap(ctx, peer));
    ctx->info->connections.fetch_add(1);
    DaemonInfo* info = ctx->info;
    auto done = conn->network.onDisconnect();
    tasks.add(done.attach(kj::mv(conn), kj::defer([info]() { info->connections.fetch_sub(1); })));
  }

  kj::Promise<void> AcceptUnix(kj::TaskSet& tasks, kj::ConnectionReceiver& listener) {
    return listener.accept().then(
        [this, &tasks, &listener](kj::Own<kj::AsyncIoStream> stream) {
          PeerInfo peer;
          peer.transport = "unix";
          ucred cred{};
          uint len = sizeof cred;
          try {
            stream->getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
            peer.has_credentials = true;
            peer.uid = cred.uid;
            peer.gid = cred.gid;
            peer.pid = cred.pid;
            peer.address = "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid);
          } catch (const kj::Exception& e) {
            peer.address = "unknown peer";
          }
          Serve(tasks, kj::mv(stream), std::move(peer));
          return AcceptUnix(tasks, listener);
        },
        [this, &tasks, &listener](kj::Exception&& e) {
          spdlog::warn("control socket: accept failed: {}", e.getDescription().cStr());
          return ctx->timer->afterDelay(100 * kj::MILLISECONDS).then([this, &tasks, &listener]() {
            return AcceptUnix(tasks, listener);
          });
        });
  }

  kj::Promise<void> AcceptTls(kj::TaskSet& tasks, kj::ConnectionReceiver& listener, kj::TlsContext& tls) {
    return listener.accept().then(
        [this, &tasks, &listener, &tls](kj::Own<kj::AsyncIoStream> raw) {
          PeerInfo peer;
          peer.transport = "tcp";
          peer.address = PeerAddress(*raw);
          auto handshake = ctx->timer->timeoutAfter(kTlsHandshakeTimeout, tls.wrapServer(kj::mv(raw)));
          tasks.add(handshake.then(
              [this, &tasks, peer](kj::Own<kj::AsyncIoStream> stream) mutable {
                Serve(tasks, kj::mv(stream), std::move(peer));
              },
              [peer](kj::Exception&& e) {
                spdlog::warn("tcp client {}: TLS handshake failed: {}", peer.address,
                             e.getDescription().cStr());
              }));
          return AcceptTls(tasks, listener, tls);
        },
        [this, &tasks, &listener, &tls](kj::Exception&& e) {
          spdlog::warn("TLS listener: accept failed: {}", e.getDescription().cStr());
          return ctx->timer->afterDelay(100 * kj::MILLISECONDS).then([this, &tasks, &listener, &tls]() {
            return AcceptTls(tasks, listener, tls);
          });
        });
  }

  void Run() {
    kj::Maybe<kj::AsyncIoContext> maybe_io;
    try {
      maybe_io = kj::setupAsyncIo();
    } catch (const kj::Exception& e) {
      started.set_value(Status::Error(EIO, std::string("event loop: ") + e.getDescription().cStr()));
      return;
    }
    auto& io = KJ_ASSERT_NONNULL(maybe_io);
    LogErrors errors;
    // Destroyed first (below), before the listeners its accept loops use.
    auto task_set = kj::heap<kj::TaskSet>(errors);
    kj::TaskSet& tasks = *task_set;
    ctx->timer = &io.provider->getTimer();
    auto& network = io.provider->getNetwork();
    kj::Own<kj::ConnectionReceiver> unix_listener, tcp_listener, http_listener;
    kj::Maybe<kj::TlsKeypair> keypair;
    kj::Own<kj::TlsContext> tls;
    kj::Own<kj::HttpHeaderTable> header_table;
    kj::Own<kj::HttpService> http_service;
    kj::Own<kj::HttpServer> http_server;
    Status st = [&]() -> Status {
      try {
        NEXUS_RETURN_IF_ERROR(PrepareSocketPath(options.unix_path));
        unix_listener =
            network.parseAddress(kj::str("unix:", options.unix_path.c_str())).wait(io.waitScope)->listen();
        if (::chmod(options.unix_path.c_str(), 0660) != 0)
          return Status::FromErrno("chmod " + options.unix_path);
        tasks.add(AcceptUnix(tasks, *unix_listener));
        if (!options.listen.empty()) {
          auto cert = ReadTextFile(options.tls_cert, "--tls-cert");
          if (!cert.ok()) return cert.status();
          auto key = ReadTextFile(options.tls_key, "--tls-key");
          if (!key.ok()) return key.status();
          keypair = kj::TlsKeypair{kj::TlsPrivateKey(key->c_str()), kj::TlsCertificate(cert->c_str())};
          kj::TlsContext::Options tls_options;
          tls_options.useSystemTrustStore = false;
          tls_options.defaultKeypair = KJ_ASSERT_NONNULL(keypair);
          tls = kj::heap<kj::TlsContext>(kj::mv(tls_options));
          tcp_listener = network.parseAddress(options.listen.c_str()).wait(io.waitScope)->listen();
          listen_address = HostPort(options.listen, tcp_listener->getPort());
          tasks.add(AcceptTls(tasks, *tcp_listener, *tls));
        }
        if (!options.http.empty() && http_factory) {
          header_table = kj::heap<kj::HttpHeaderTable>();
          http_service = http_factory(*header_table);
          http_server = kj::heap<kj::HttpServer>(io.provider->getTimer(), *header_table, *http_service);
          http_listener = network.parseAddress(options.http.c_str()).wait(io.waitScope)->listen();
          http_address = HostPort(options.http, http_listener->getPort());
          tasks.add(http_server->listenHttp(*http_listener));
        }
      } catch (const kj::Exception& e) {
        return Status::Error(EINVAL, e.getDescription().cStr());
      }
      return Status::Ok();
    }();
    if (!st.ok()) {
      task_set = nullptr;
      ctx->timer = nullptr;
      started.set_value(st);
      return;
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    stop = kj::mv(paf.fulfiller);
    executor = &kj::getCurrentThreadExecutor();
    started.set_value(Status::Ok());
    paf.promise.wait(io.waitScope);
    task_set = nullptr;
    ctx->timer = nullptr;
    ::unlink(options.unix_path.c_str());
  }

  static std::string HostPort(const std::string& requested, uint port) {
    size_t colon = requested.rfind(':');
    return (colon == std::string::npos ? requested : requested.substr(0, colon)) + ":" + std::to_string(port);
  }
};

Result<std::unique_ptr<SocketServer>> SocketServer::Start(ServiceContext* ctx, const Options& options,
                                                          HttpServiceFactory http) {
  if (options.unix_path.empty()) return Status::Error(EINVAL, "no control socket path");
  if (!options.listen.empty() && (options.tls_cert.empty() || options.tls_key.empty()))
    return Status::Error(EINVAL, "--listen needs --tls-cert and --tls-key");
  std::unique_ptr<SocketServer> server(new SocketServer());
  server->loop_ = std::make_unique<Loop>();
  Loop* loop = server->loop_.get();
  loop->ctx = ctx;
  loop->options = options;
  loop->http_factory = std::move(http);
  auto started = loop->started.get_future();
  server->thread_ = std::thread([loop]() { loop->Run(); });
  Status st = started.get();
  if (!st.ok()) {
    server->thread_.join();
    server->loop_.reset();
    return st;
  }
  server->listen_address_ = loop->listen_address;
  server->http_address_ = loop->http_address;
  return server;
}

SocketServer::~SocketServer() {
  if (!loop_) return;
  if (loop_->executor) loop_->executor->executeSync([this]() { loop_->stop->fulfill(); });
  thread_.join();
}

}  // namespace nexus
