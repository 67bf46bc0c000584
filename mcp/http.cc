#include "mcp/http.h"

#include <utility>

#include "mcp/http_transport.h"

namespace nexus::mcp {
namespace {

// mcp::Session as the transport sees it.
class SessionHandler final : public MessageHandler {
 public:
  SessionHandler(const SessionOptions& options, kj::Timer& timer, Notify notify)
      : session_(options, timer, std::move(notify)) {}
  kj::Promise<Json> Handle(Json message, Caller caller) override {
    return session_.Handle(std::move(message), std::move(caller));
  }
  void Close() override { session_.Close(); }

 private:
  Session session_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(kj::AsyncIoContext& io, HttpOptions options,
                                                       rpc::Nexus::Client daemon) {
  SessionOptions session = options.session;
  return ListenWithHandlers(io, std::move(options), kj::mv(daemon),
                            [session](kj::Timer& timer, Notify notify) -> std::unique_ptr<MessageHandler> {
                              return std::make_unique<SessionHandler>(session, timer, std::move(notify));
                            });
}

}  // namespace nexus::mcp
