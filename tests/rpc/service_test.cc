// The services over real sockets: a SocketServer in this process, real
// NexusClient connections (Unix and TLS TCP), a real native backend.
#include <capnp/message.h>
#include <gtest/gtest.h>

#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/file_util.h"
#include "rpc/tls_gen.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

class ServiceTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    StartServer(/*tls=*/true);
  }

  std::string NewKey(const std::string& name, bool admin) {
    UserRecord u;
    u.name = name;
    u.subject_type = "agent";
    u.is_admin = admin;
    return keys_->CreateUser(u, 0).value().second.secret;
  }
};

TEST_F(ServiceTest, UnixPeerIsTheOperatorAndCanWriteAndRead) {
  auto c = Unix();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->is_admin());
  EXPECT_EQ((*c)->subject(), "user:admin");
  auto files = (*c)->session().filesRequest().send().getFiles();
  auto w = files.writeRequest();
  w.setPath("/x.txt");
  w.setData(kj::StringPtr("payload").asBytes());
  w.setTruncate(true);
  auto wr = (*c)->Wait(w.send());
  ASSERT_TRUE(wr.ok());
  ASSERT_FALSE(wr->hasError()) << wr->getError().getMessage().cStr();
  EXPECT_EQ(wr->getStat().getSize(), 7u);
  auto r = files.readRequest();
  r.setPath("/x.txt");
  auto rr = (*c)->Wait(r.send());
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(rr->getData().begin()), rr->getData().size()),
            "payload");
  auto st = files.statRequest();
  auto paths = st.initPaths(2);
  paths.set(0, "/x.txt");
  paths.set(1, "/missing");
  auto sr = (*c)->Wait(st.send());
  ASSERT_TRUE(sr.ok());
  EXPECT_FALSE(sr->getResults()[0].hasError());
  ASSERT_TRUE(sr->getResults()[1].hasError());
  EXPECT_EQ(sr->getResults()[1].getError().getCode(), rpc::Error::Code::NOT_FOUND);
  EXPECT_EQ(metrics_->Find("files.write")->count.load(), 1u);
  EXPECT_EQ(metrics_->Find("files.stat")->errors.load(), 1u);
}

TEST_F(ServiceTest, TcpNeedsAValidKey) {
  std::string key = NewKey("bot", false);
  auto no_key = Tcp("");
  EXPECT_EQ(no_key.code(), EINVAL);  // refused by the client before sending
  ConnectOptions o;
  o.remote = server_->listen_address();
  o.api_key = "nxk_0000000000000000_" + std::string(64, '0');
  o.tls_ca = dir_.path() + "/cert.pem";
  auto bad = NexusClient::Connect(o);
  EXPECT_EQ(bad.code(), ENOKEY) << bad.status().ToString();
  auto good = Tcp(key);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->subject(), "agent:bot");
  EXPECT_FALSE((*good)->is_admin());
}

TEST_F(ServiceTest, UntrustedServerCertificateIsRefused) {
  std::string key = NewKey("bot2", false);
  auto other = GenerateSelfSignedTls({"localhost", "127.0.0.1"}, 1).value();
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/other.pem", other.cert_pem, 0644).ok());
  ConnectOptions o;
  o.remote = server_->listen_address();
  o.api_key = key;
  o.tls_ca = dir_.path() + "/other.pem";
  EXPECT_FALSE(NexusClient::Connect(o).ok());
}

TEST_F(ServiceTest, AdminCallsNeedAnAdmin) {
  std::string key = NewKey("worker", false);
  auto c = Tcp(key);
  ASSERT_TRUE(c.ok());
  auto admin = (*c)->session().adminRequest().send().getAdmin();
  auto r = (*c)->Wait(admin.listUsersRequest().send());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->hasError());
  EXPECT_EQ(r->getError().getCode(), rpc::Error::Code::PERMISSION_DENIED);
  EXPECT_EQ(std::string(r->getError().getMessage()),
            "listing users is for admins only; agent:worker is not an admin");
  EXPECT_EQ(metrics_->Find("admin.listUsers")->errors.load(), 1u);
  auto a = Tcp(NewKey("boss", true));
  ASSERT_TRUE(a.ok());
  auto admin2 = (*a)->session().adminRequest().send().getAdmin();
  auto r2 = (*a)->Wait(admin2.listUsersRequest().send());
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->hasError());
  EXPECT_EQ(r2->getUsers().size(), 2u);
}

TEST_F(ServiceTest, RevokedKeyIsRefusedOnTheNextConnection) {
  std::string key = NewKey("temp", false);
  ASSERT_TRUE(Tcp(key).ok());
  std::string id = key.substr(4, 16);
  ASSERT_TRUE(keys_->RevokeKey(id).ok());
  EXPECT_EQ(Tcp(key).code(), ENOKEY);
}

TEST_F(ServiceTest, LockContentionAndWait) {
  auto a = Unix();
  auto b = Tcp(NewKey("other", false));
  ASSERT_TRUE(a.ok() && b.ok());
  auto la = (*a)->session().locksRequest().send().getLocks();
  auto lb = (*b)->session().locksRequest().send().getLocks();
  auto acq = la.acquireRequest();
  acq.setPath("/job");
  acq.setTtlSeconds(0.3);
  auto ra = (*a)->Wait(acq.send());
  ASSERT_TRUE(ra.ok());
  ASSERT_FALSE(ra->hasError());
  auto busy = lb.acquireRequest();
  busy.setPath("/job");
  auto rb = (*b)->Wait(busy.send());
  ASSERT_TRUE(rb.ok());
  ASSERT_TRUE(rb->hasError());
  EXPECT_EQ(rb->getError().getCode(), rpc::Error::Code::BUSY);
  EXPECT_EQ(metrics_->Find("locks.acquire")->errors.load(), 1u);  // a refusal is a failed call
  auto rel = lb.releaseRequest();
  rel.setPath("/job");
  auto rr = (*b)->Wait(rel.send());
  ASSERT_TRUE(rr->hasError());
  EXPECT_EQ(rr->getError().getCode(), rpc::Error::Code::PERMISSION_DENIED);
  auto force = lb.releaseRequest();
  force.setPath("/job");
  force.setForce(true);
  auto rf = (*b)->Wait(force.send());
  EXPECT_EQ(rf->getError().getCode(), rpc::Error::Code::PERMISSION_DENIED);  // not an admin
  auto wait = lb.acquireRequest();
  wait.setPath("/job");
  wait.setWaitSeconds(5);
  auto rw = (*b)->Wait(wait.send());  // the first lock expires after 0.3 s
  ASSERT_TRUE(rw.ok());
  ASSERT_FALSE(rw->hasError()) << rw->getError().getMessage().cStr();
  EXPECT_EQ(std::string(rw->getLock().getHolder()), "agent:other");
}

TEST_F(ServiceTest, StreamUsedAfterDoneIsAnErrorNotACrash) {
  auto c = Unix();
  ASSERT_TRUE(c.ok());
  auto files = (*c)->session().filesRequest().send().getFiles();
  auto open = files.writeStreamRequest();
  open.setPath("/streamed.txt");
  auto sink = open.send().getSink();
  auto w = sink.writeRequest();
  w.setData(kj::StringPtr("abc").asBytes());
  ASSERT_TRUE((*c)->Wait(w.send()).ok());
  auto done = (*c)->Wait(sink.doneRequest().send());
  ASSERT_TRUE(done.ok());
  ASSERT_FALSE(done->hasError()) << done->getError().getMessage().cStr();
  EXPECT_EQ(done->getStat().getSize(), 3u);
  // The stream is finished: another write and another done are refused.
  auto late = sink.writeRequest();
  late.setData(kj::StringPtr("more").asBytes());
  auto lr = (*c)->Wait(late.send());
  ASSERT_FALSE(lr.ok());
  EXPECT_NE(lr.status().message().find("stream already finished"), std::string::npos)
      << lr.status().ToString();
  auto again = (*c)->Wait(sink.doneRequest().send());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->hasError());
  EXPECT_EQ(again->getError().getErrno(), EBADF);
  // The daemon and the connection still serve.
  auto r = files.readRequest();
  r.setPath("/streamed.txt");
  auto rr = (*c)->Wait(r.send());
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->getData().size(), 3u);
}

TEST_F(ServiceTest, CallsInFlightPerConnectionAreLimited) {
  auto holder = Tcp(NewKey("holder", false));
  auto c = Unix();
  ASSERT_TRUE(holder.ok() && c.ok());
  auto lh = (*holder)->session().locksRequest().send().getLocks();
  auto take = lh.acquireRequest();
  take.setPath("/busy");
  take.setTtlSeconds(30);
  ASSERT_FALSE((*holder)->Wait(take.send())->hasError());
  // 70 waiting acquires on one connection: the limit is 64 in flight. The
  // 6 refused come back as the typed error the schema promises.
  auto locks = (*c)->session().locksRequest().send().getLocks();
  std::vector<kj::Promise<int>> calls;
  for (int i = 0; i < 70; ++i) {
    auto req = locks.acquireRequest();
    req.setPath("/busy");
    req.setWaitSeconds(0.5);
    calls.push_back(req.send().then(
        [](auto&& r) {
          if (!r.hasError()) return 0;
          auto e = r.getError();
          if (e.getCode() != rpc::Error::Code::RESOURCE_EXHAUSTED) return 2;  // e.g. timedOut
          EXPECT_NE(std::string(e.getMessage().cStr()).find("too many calls in flight"), std::string::npos);
          EXPECT_EQ(ErrorCodeFor(e.getErrno()), rpc::Error::Code::RESOURCE_EXHAUSTED);
          return 1;
        },
        [](kj::Exception&& e) -> int {
          ADD_FAILURE() << "broken call: " << e.getDescription().cStr();
          return 3;
        }));
  }
  // A method whose reply has no `error` can only be refused by breaking it.
  bool list_broken = false;
  auto list = locks.listRequest().send().then(
      [](auto&&) {},
      [&](kj::Exception&& e) {
        list_broken =
            std::string(e.getDescription().cStr()).find("too many calls in flight") != std::string::npos;
      });
  int refused = 0;
  for (auto& p : calls) refused += p.wait((*c)->wait_scope()) == 1;
  list.wait((*c)->wait_scope());
  EXPECT_EQ(refused, 6);
  EXPECT_TRUE(list_broken);
  EXPECT_GE(metrics_->Find("locks.acquire")->errors.load(), 6u);
  // The connection is still good.
  EXPECT_TRUE((*c)->Wait((*c)->session().statusRequest().send()).ok());
}

// A daemon without a feature answers its calls with the one `unavailable`
// error, naming the feature.
class FeatureOffTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    ctx_.locks = nullptr;
    StartServer(/*tls=*/false);
  }
};

TEST_F(FeatureOffTest, LocksOffIsUnavailableNamingTheFeature) {
  auto c = Unix();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto locks = (*c)->session().locksRequest().send().getLocks();
  auto req = locks.acquireRequest();
  req.setPath("/a");
  auto r = (*c)->Wait(req.send());
  ASSERT_EQ(CodeOf(r), Code::UNAVAILABLE);
  EXPECT_EQ(MessageOf(r).rfind("locks — ", 0), 0u) << MessageOf(r);
  Status st = ReplyStatus(r);
  EXPECT_TRUE(IsUnavailable(st));
  // Every optional part says the same.
  auto s = (*c)->session().searchRequest().send().getSearch().globRequest();
  s.setPattern("*");
  auto sr = (*c)->Wait(s.send());
  ASSERT_EQ(CodeOf(sr), Code::UNAVAILABLE);
  EXPECT_EQ(MessageOf(sr).rfind("search — ", 0), 0u) << MessageOf(sr);
  auto v = (*c)->session().versionsRequest().send().getVersions().flushRequest();
  auto vr = (*c)->Wait(v.send());
  ASSERT_EQ(CodeOf(vr), Code::UNAVAILABLE);
  EXPECT_EQ(MessageOf(vr).rfind("versions — ", 0), 0u) << MessageOf(vr);
  auto p = (*c)->session().permissionsRequest().send().getPermissions().infoRequest();
  auto pr = (*c)->Wait(p.send());
  ASSERT_EQ(CodeOf(pr), Code::UNAVAILABLE);
  EXPECT_EQ(MessageOf(pr).rfind("rebac — ", 0), 0u) << MessageOf(pr);
  auto m = (*c)->session().meshRequest().send().getMesh().nodesRequest();
  auto mr = (*c)->Wait(m.send());
  ASSERT_EQ(CodeOf(mr), Code::UNAVAILABLE);
  EXPECT_EQ(MessageOf(mr).rfind("mesh — ", 0), 0u) << MessageOf(mr);
}

// Raw bytes on the socket: the connection is dropped, the server lives on.
TEST_F(ServiceTest, GarbageDropsOnlyThatConnection) {
  auto good = Unix();
  ASSERT_TRUE(good.ok());
  for (std::string junk : {std::string(4096, '\xff'), std::string("\0\0\0\0\xff\xff\xff\x0f", 8),
                           std::string("\x00\x00\x00\x00\x10\x00\x00\x00\x01\x02", 10)}) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir_.path() + "/s.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {}
    ::close(fd);
  }
  auto r = (*good)->Wait((*good)->session().statusRequest().send());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Unix().ok());
}

TEST_F(ServiceTest, MissingDaemonIsAClearErrorNotAHang) {
  ConnectOptions o;
  o.socket_path = dir_.path() + "/nobody-here.sock";
  auto c = NexusClient::Connect(o);
  EXPECT_EQ(c.code(), EAGAIN);
  EXPECT_NE(c.status().message().find("nobody-here.sock"), std::string::npos);
}

TEST(ErrorsTest, UnavailableIsOneCodeNamingTheFeature) {
  Status st = Unavailable("search", "not enabled in this daemon");
  EXPECT_EQ(st.message(), "search — not enabled in this daemon");
  EXPECT_TRUE(IsUnavailable(st));
  EXPECT_EQ(ErrorCodeFor(st.code()), rpc::Error::Code::UNAVAILABLE);
  EXPECT_FALSE(IsUnavailable(Status::Error(EACCES, "no")));
  EXPECT_FALSE(IsUnavailable(Status::Ok()));
  EXPECT_EQ(ErrorCodeFor(TooManyCalls().code()), rpc::Error::Code::RESOURCE_EXHAUSTED);
}

TEST(ErrorsTest, RoundTripsCodes) {
  for (int e : {ENOENT, EEXIST, EINVAL, EACCES, ENOKEY, ESTALE, EDQUOT, EBUSY, ETIMEDOUT, EROFS}) {
    capnp::MallocMessageBuilder m;
    auto err = m.initRoot<rpc::Error>();
    FillError(err, Status::Error(e, "boom"));
    Status back = StatusFromError(true, err.asReader());
    EXPECT_EQ(back.code(), e);
    EXPECT_EQ(back.message(), "boom");
    EXPECT_NE(ErrorCodeFor(e), rpc::Error::Code::OK);
  }
  EXPECT_EQ(ErrorCodeFor(ESTALE), rpc::Error::Code::CONFLICT);
  EXPECT_EQ(ErrorCodeFor(EDQUOT), rpc::Error::Code::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorCodeFor(ENOKEY), rpc::Error::Code::UNAUTHENTICATED);
  EXPECT_TRUE(StatusFromError(false, rpc::Error::Reader()).ok());
}

}  // namespace
}  // namespace nexus
