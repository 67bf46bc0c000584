#include "rpc/client.h"

#include <cstring>
#include <stdexcept>

#include <capnp/rpc-twoparty.h>
#include <kj/compat/tls.h>

#include "base/file_util.h"
#include "rpc/errors.h"

namespace nexus {

namespace {

// kj allows one event loop per thread: the clients of a thread share it.
struct SharedIo {
  kj::AsyncIoContext io = kj::setupAsyncIo();
};

std::shared_ptr<SharedIo> ThreadIo() {
  thread_local std::weak_ptr<SharedIo> current;
  auto io = current.lock();
  if (!io) {
    io = std::make_shared<SharedIo>();
    current = io;
  }
  return io;
}

}  // namespace

struct NexusClient::State {
  std::shared_ptr<SharedIo> shared = ThreadIo();
  kj::AsyncIoContext& io = shared->io;
  kj::Own<kj::TlsContext> tls;
  kj::Maybe<kj::TlsCertificate> ca;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  kj::Maybe<rpc::Nexus::Client> bootstrap;
  kj::Maybe<rpc::Session::Client> session;
};

NexusClient::NexusClient() : state_(std::make_unique<State>()) {}

NexusClient::~NexusClient() {
  if (!state_) return;
  // Drop capabilities before the connection they live on.
  state_->session = nullptr;
  state_->bootstrap = nullptr;
  state_->rpc = nullptr;
  state_->network = nullptr;
  state_->stream = nullptr;
  // Let what dropping them queued run now: this may be the thread's last
  // client, whose event loop goes with it.
  try {
    state_->io.waitScope.poll();
  } catch (...) {}
}

rpc::Session::Client& NexusClient::session() { return KJ_ASSERT_NONNULL(state_->session); }
rpc::Nexus::Client& NexusClient::bootstrap() { return KJ_ASSERT_NONNULL(state_->bootstrap); }
kj::WaitScope& NexusClient::wait_scope() { return state_->io.waitScope; }
kj::Timer& NexusClient::timer() { return state_->io.provider->getTimer(); }
kj::AsyncIoContext& NexusClient::io() { return state_->io; }
kj::Promise<void> NexusClient::OnDisconnect() { return state_->network->onDisconnect(); }

Status NexusClient::WaitImpl(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const kj::Exception& e) {
    // timeoutAfter fails with OVERLOADED ("operation timed out").
    int code = e.getType() == kj::Exception::Type::DISCONNECTED ? ECONNRESET
               : e.getType() == kj::Exception::Type::OVERLOADED ? ETIMEDOUT
                                                                : EIO;
    return Status::Error(code, std::string("control socket: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return Status::Error(EIO, e.what());
  }
  return Status::Ok();
}

Result<std::unique_ptr<NexusClient>> NexusClient::Connect(const ConnectOptions& o) {
  std::unique_ptr<NexusClient> c(new NexusClient());
  State& s = *c->state_;
  auto& network = s.io.provider->getNetwork();
  auto timeout = static_cast<int64_t>(o.timeout_s * 1000) * kj::MILLISECONDS;
  const bool remote = !o.remote.empty();
  const std::string where = remote ? o.remote : o.socket_path;
  if (remote && o.api_key.empty() && o.authenticate)
    return Status::Error(EINVAL, "--remote needs an API key (--api-key or NEXUS_API_KEY)");
  if (!remote && o.socket_path.empty()) return Status::Error(EINVAL, "no socket path");
  Status st = c->WaitImpl([&]() {
    if (remote) {
      kj::TlsContext::Options tls_options;
      if (!o.tls_ca.empty()) {
        auto pem = ReadTextFile(o.tls_ca, "--tls-ca");
        if (!pem.ok()) throw std::runtime_error(pem.status().ToString());
        s.ca = kj::TlsCertificate(pem->c_str());
        tls_options.trustedCertificates = kj::arrayPtr(&KJ_ASSERT_NONNULL(s.ca), 1);
      }
      s.tls = kj::heap<kj::TlsContext>(kj::mv(tls_options));
      std::string host = o.remote.substr(0, o.remote.rfind(':'));
      auto addr = network.parseAddress(o.remote.c_str()).wait(s.io.waitScope);
      auto raw = c->timer().timeoutAfter(timeout, addr->connect()).wait(s.io.waitScope);
      s.stream =
          c->timer().timeoutAfter(timeout, s.tls->wrapClient(kj::mv(raw), host.c_str())).wait(s.io.waitScope);
    } else {
      auto addr = network.parseAddress(("unix:" + o.socket_path).c_str()).wait(s.io.waitScope);
      s.stream = c->timer().timeoutAfter(timeout, addr->connect()).wait(s.io.waitScope);
    }
  });
  if (!st.ok()) {
    std::string why = "cannot reach nexusd at " + where;
    if (!remote) why += " (is it running? start it with `nexus up` or nexusd)";
    return Unavailable("nexusd", why + ": " + st.message(), EAGAIN);
  }
  capnp::ReaderOptions limits;
  limits.traversalLimitInWords = 16u << 20;  // 128 MiB: a full read reply fits
  s.network = kj::heap<capnp::TwoPartyVatNetwork>(*s.stream, capnp::rpc::twoparty::Side::CLIENT, limits);
  s.rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(capnp::makeRpcClient(*s.network));
  capnp::word scratch[4];
  memset(scratch, 0, sizeof scratch);
  capnp::MallocMessageBuilder vat_message(scratch);
  auto vat = vat_message.getRoot<capnp::rpc::twoparty::VatId>();
  vat.setSide(capnp::rpc::twoparty::Side::SERVER);
  auto bootstrap = s.rpc->bootstrap(vat).castAs<rpc::Nexus>();
  s.bootstrap = bootstrap;
  c->call_timeout_ms_ = static_cast<int64_t>(o.call_timeout_s * 1000);
  if (!o.authenticate) return c;
  auto req = bootstrap.authenticateRequest();
  req.setApiKey(o.api_key);
  req.setClient(o.client_name);
  req.setActAs(o.act_as);
  auto reply = c->Wait(c->timer().timeoutAfter(timeout, req.send()));
  if (!reply.ok()) return reply.status();
  Status auth = StatusFromError(reply->hasError(), reply->getError());
  if (!auth.ok()) return auth;
  c->subject_ = reply->getIdentity().getSubject();
  c->is_admin_ = reply->getIdentity().getIsAdmin();
  s.session = reply->getSession();
  return c;
}

}  // namespace nexus
