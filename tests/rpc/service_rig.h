// What the service tests share: a ServiceContext over a real NativeBackend,
// key store, lock table and metrics in a temp dir, served by a real
// SocketServer on a Unix socket (and, if asked, TLS TCP on 127.0.0.1 with
// a fresh self-signed certificate), and how to read a reply's error.
//
// A test fixture derives from ServiceRig, adds its own parts to ctx_
// between InitContext() and StartServer(), and, if it holds clients,
// drops them in its TearDown before calling ServiceRig::TearDown() (which
// stops the server while the fixture's parts still exist).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "base/file_util.h"
#include "fs/native_backend.h"
#include "perms/principals.h"
#include "tests/fs/test_util.h"
#include "rpc/client.h"
#include "rpc/errors.h"
#include "rpc/server/socket_server.h"
#include "rpc/tls_gen.h"

namespace nexus {

using Code = rpc::Error::Code;

// The error code of a reply: OK when it carries none, INTERNAL when the
// call itself failed (the transport's message is then in MessageOf).
template <typename Reply>
Code CodeOf(Result<Reply>& r) {
  if (!r.ok()) return Code::INTERNAL;
  return r->hasError() ? r->getError().getCode() : Code::OK;
}
template <typename Reply>
std::string MessageOf(Result<Reply>& r) {
  if (!r.ok()) return r.status().ToString();
  return r->hasError() ? std::string(r->getError().getMessage()) : std::string();
}

class ServiceRig : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // Opens the backend, namespace, path files, key store and metrics, and
  // points ctx_ at them (and at the lock table, info and operator uid).
  void InitContext() {
    NativeBackend::Options o;
    o.data_dir = dir_.path();
    backend_ = NativeBackend::Open(o).value();
    ns_ = std::make_unique<Namespace>(backend_.get());
    files_ = std::make_unique<PathFiles>(ns_.get());
    keys_ = KeyStore::Open(dir_.path() + "/auth.db").value();
    metrics_ = std::make_unique<OpMetrics>("nexus_rpc", "method", RpcMethodNames());
    info_.version = "test";
    info_.mounted = true;
    ctx_.info = &info_;
    ctx_.files = files_.get();
    ctx_.keys = keys_.get();
    ctx_.locks = &locks_;
    ctx_.metrics = metrics_.get();
    UsePrincipals(nullptr);
  }

  // Serves ctx_ on dir/s.sock and, with `tls`, on an ephemeral TCP port
  // whose certificate is dir/cert.pem.
  void StartServer(bool tls) {
    SocketServer::Options so;
    so.unix_path = SocketPath();
    if (tls) {
      auto pair = GenerateSelfSignedTls({"localhost", "127.0.0.1"}, 1).value();
      ASSERT_TRUE(WriteFileAtomic(CertPath(), pair.cert_pem, 0644).ok());
      ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/key.pem", pair.key_pem, 0600).ok());
      so.listen = "127.0.0.1:0";
      so.tls_cert = CertPath();
      so.tls_key = dir_.path() + "/key.pem";
    }
    auto server = SocketServer::Start(&ctx_, so);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::string SocketPath() const { return dir_.path() + "/s.sock"; }
  std::string CertPath() const { return dir_.path() + "/cert.pem"; }

  // A connection over the Unix socket (the peer is the operator unless
  // `key` names someone else).
  Result<std::unique_ptr<NexusClient>> Unix(const std::string& key = "") {
    ConnectOptions o;
    o.socket_path = SocketPath();
    o.api_key = key;
    return NexusClient::Connect(o);
  }
  // A connection over TLS TCP with an API key (StartServer(true) first).
  Result<std::unique_ptr<NexusClient>> Tcp(const std::string& key) {
    ConnectOptions o;
    o.remote = server_->listen_address();
    o.api_key = key;
    o.tls_ca = CertPath();
    return NexusClient::Connect(o);
  }

  // Sessions resolve through a table with this test's uid as the operator
  // and `identities` (may be null) as the uid bindings.
  void UsePrincipals(const IdentityMap* identities) {
    principals_ = std::make_unique<PrincipalTable>(PrincipalTable::Options{::getuid()}, identities);
    ctx_.principals = principals_.get();
  }

  testing::TempDir dir_;
  std::unique_ptr<PrincipalTable> principals_;
  std::unique_ptr<NativeBackend> backend_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<PathFiles> files_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<OpMetrics> metrics_;
  LockTable locks_;
  DaemonInfo info_;
  ServiceContext ctx_;
  std::unique_ptr<SocketServer> server_;
};

}  // namespace nexus
