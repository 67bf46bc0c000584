// Ops.watch over a real socket, on a real OpLog: replay after a cursor then
// follow new appends, in order and with none lost; from now and from the
// oldest; a cursor older than retention falls behind; a non-admin sees only
// its own operations; dropping the subscription removes the log listener.
#include <gtest/gtest.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include "ops/op_log.h"
#include "rpc/server/background_jobs.h"
#include "rpc/service_rig.h"

namespace nexus {
namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Seen {
  std::vector<int64_t> ids;
  std::vector<std::string> paths;
  std::vector<std::string> subjects;
  int batches = 0;
  bool fell_behind = false;
  int64_t resume = 0;
  std::string reason;
};

class RecordingSink final : public rpc::OpSink::Server {
 public:
  explicit RecordingSink(std::shared_ptr<Seen> s) : s_(std::move(s)) {}
  kj::Promise<void> ops(OpsContext context) override {
    ++s_->batches;
    for (auto op : context.getParams().getOps()) {
      s_->ids.push_back(op.getId());
      s_->paths.emplace_back(op.getPath());
      s_->subjects.emplace_back(op.getSubject());
    }
    return kj::READY_NOW;
  }
  kj::Promise<void> fellBehind(FellBehindContext context) override {
    s_->fell_behind = true;
    s_->resume = context.getParams().getResumeCursor();
    s_->reason = context.getParams().getReason();
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Seen> s_;
};

class OpsWatchTest : public ServiceRig {
 protected:
  void SetUp() override {
    InitContext();
    log_ = ops::OpLog::Open({dir_.path() + "/oplog.db"}).value();
    ctx_.ops.log = log_.get();
    ctx_.jobs = &jobs_;
    StartServer(/*tls=*/true);
    admin_ = Unix().value();
    ASSERT_TRUE(admin_->is_admin());
  }
  void TearDown() override {
    admin_.reset();
    ServiceRig::TearDown();
  }

  // Appends `n` operations of `subject` at `time_ns` (0: now), paths
  // "<prefix><i>".
  void Append(int n, const std::string& prefix = "/f", const std::string& subject = "user:admin",
              int64_t time_ns = 0) {
    std::vector<ops::Operation> batch;
    for (int i = 0; i < n; ++i) {
      ops::Operation op;
      op.kind = ops::OpKind::kCreate;
      op.path = prefix + std::to_string(i);
      op.subject = subject;
      op.time_ns = time_ns ? time_ns : NowNs();
      batch.push_back(op);
    }
    ASSERT_TRUE(log_->Append(batch).ok());
  }

  struct Watching {
    std::shared_ptr<Seen> seen = std::make_shared<Seen>();
    kj::Maybe<rpc::Subscription::Client> subscription;
    int64_t cursor = 0;
  };
  Watching Watch(NexusClient& c, int64_t since, const std::string& path = "") {
    Watching w;
    auto req = c.session().opsRequest().send().getOps().watchRequest();
    req.setPath(path);
    req.setSinceCursor(since);
    req.setSink(kj::heap<RecordingSink>(w.seen));
    auto reply = c.Wait(req.send());
    EXPECT_EQ(CodeOf(reply), Code::OK) << MessageOf(reply);
    if (reply.ok() && !reply->hasError()) {
      w.subscription = reply->getSubscription();
      w.cursor = reply->getCursor();
    }
    return w;
  }
  // Runs the client's loop until `done()` or 10 s.
  template <typename F>
  bool Until(NexusClient& c, F done) {
    for (int i = 0; i < 1000 && !done(); ++i)
      c.timer().afterDelay(10 * kj::MILLISECONDS).wait(c.wait_scope());
    return done();
  }
  static std::vector<int64_t> Range(int64_t from, int64_t to) {
    std::vector<int64_t> v;
    for (int64_t i = from; i <= to; ++i) v.push_back(i);
    return v;
  }

  BackgroundJobs jobs_;
  std::unique_ptr<ops::OpLog> log_;
  std::unique_ptr<NexusClient> admin_;
};

TEST_F(OpsWatchTest, ResumesAfterACursorThenFollows) {
  Append(10);
  auto w = Watch(*admin_, 3);
  EXPECT_EQ(w.cursor, 10);
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->ids.size() >= 7; }));
  EXPECT_EQ(w.seen->ids, Range(4, 10));
  Append(5, "/g");
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->ids.size() >= 12; }));
  EXPECT_EQ(w.seen->ids, Range(4, 15));
  EXPECT_EQ(w.seen->paths.back(), "/g4");
  EXPECT_FALSE(w.seen->fell_behind);
}

TEST_F(OpsWatchTest, FromNowAndFromTheOldest) {
  Append(4);
  auto now = Watch(*admin_, 0);
  auto all = Watch(*admin_, -1);
  Append(2);
  ASSERT_TRUE(Until(*admin_, [&] { return now.seen->ids.size() >= 2 && all.seen->ids.size() >= 6; }));
  EXPECT_EQ(now.seen->ids, Range(5, 6));
  EXPECT_EQ(all.seen->ids, Range(1, 6));
}

TEST_F(OpsWatchTest, ABurstArrivesInOrderWithNoneLost) {
  auto w = Watch(*admin_, 0);
  for (int i = 0; i < 40; ++i) Append(250, "/b" + std::to_string(i) + "-");
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->ids.size() >= 10000; }));
  EXPECT_EQ(w.seen->ids, Range(1, 10000));
  EXPECT_GT(w.seen->batches, 1);  // batched, never one call per operation
}

TEST_F(OpsWatchTest, UnderAPath) {
  Append(3, "/a/x");
  Append(3, "/b/x");
  auto w = Watch(*admin_, -1, "/b");
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->ids.size() >= 3; }));
  EXPECT_EQ(w.seen->ids, Range(4, 6));
}

TEST_F(OpsWatchTest, ACursorOlderThanRetentionFallsBehind) {
  const int64_t old = NowNs() - int64_t{10} * 86'400 * 1'000'000'000;
  Append(5, "/old", "user:admin", old);
  Append(3, "/new");
  ASSERT_TRUE(log_->Gc(1).ok());
  ASSERT_EQ(log_->OldestId(), 6);
  auto w = Watch(*admin_, 2);
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->fell_behind; }));
  EXPECT_EQ(w.seen->resume, 5);
  EXPECT_NE(w.seen->reason.find("retention"), std::string::npos) << w.seen->reason;
  EXPECT_TRUE(w.seen->ids.empty());
  // Resuming where it says streams the rest.
  auto again = Watch(*admin_, w.seen->resume);
  ASSERT_TRUE(Until(*admin_, [&] { return again.seen->ids.size() >= 3; }));
  EXPECT_EQ(again.seen->ids, Range(6, 8));
}

TEST_F(OpsWatchTest, ANonAdminSeesOnlyItsOwnOperations) {
  UserRecord u;
  u.name = "bot";
  u.subject_type = "agent";
  auto bot = Tcp(keys_->CreateUser(u, 0).value().second.secret).value();
  ASSERT_FALSE(bot->is_admin());
  const std::string me = bot->subject();
  auto w = Watch(*bot, -1);
  Append(2, "/mine", me);
  Append(2, "/theirs", "user:someone");
  Append(1, "/mine-too", me);
  ASSERT_TRUE(Until(*bot, [&] { return w.seen->ids.size() >= 3; }));
  bot->timer().afterDelay(100 * kj::MILLISECONDS).wait(bot->wait_scope());
  EXPECT_EQ(w.seen->ids, (std::vector<int64_t>{1, 2, 5}));
  for (const auto& s : w.seen->subjects) EXPECT_EQ(s, me);
}

TEST_F(OpsWatchTest, DroppingTheSubscriptionEndsTheWatch) {
  auto w = Watch(*admin_, 0);
  Append(1);
  ASSERT_TRUE(Until(*admin_, [&] { return w.seen->ids.size() >= 1; }));
  w.subscription = nullptr;
  admin_->timer().afterDelay(100 * kj::MILLISECONDS).wait(admin_->wait_scope());
  Append(3);
  admin_->timer().afterDelay(200 * kj::MILLISECONDS).wait(admin_->wait_scope());
  EXPECT_EQ(w.seen->ids.size(), 1u);
}

TEST_F(OpsWatchTest, RefusedWithoutTheLog) {
  ctx_.ops.log = nullptr;
  auto req = admin_->session().opsRequest().send().getOps().watchRequest();
  req.setSink(kj::heap<RecordingSink>(std::make_shared<Seen>()));
  auto reply = admin_->Wait(req.send());
  EXPECT_EQ(CodeOf(reply), Code::UNAVAILABLE);
}

}  // namespace
}  // namespace nexus
