// ActivityBackend on a real OpLog: the day folders and subject files, their
// lines (ToJsonLine, oldest first), growth as operations are appended (size
// and open handles), and what a restricted reader lists and reads.
#include "ops/activity_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fs/access_policy.h"
#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/workspace_backend.h"
#include "tests/temp_dir.h"

namespace nexus::ops {
namespace {

constexpr int64_t kDayNs = int64_t{86'400} * 1'000'000'000;

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Operation Op(std::string path, std::string subject, int64_t time_ns) {
  Operation op;
  op.kind = OpKind::kCreate;
  op.path = std::move(path);
  op.subject = std::move(subject);
  op.time_ns = time_ns;
  op.uid = 1000;
  op.pid = 42;
  op.command = "touch";
  return op;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (off_t off = 0;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class ActivityBackendTest : public ::testing::Test {
 protected:
  static constexpr uint16_t kId = 9;

  void SetUp() override {
    log_ = OpLog::Open({dir_.path() + "/oplog.db"}).value();
    today_ = *ActivityBackend::DayStart(ActivityBackend::DayOf(NowNs()));
    yesterday_ = today_ - kDayNs;
  }

  // A backend whose admins are uid 0; others read as "user:uid-N", list
  // their own file and those of agents they own ("agent:<owner uid>-*"),
  // and see no line on a path under /secret.
  void Make(bool system_root = false) {
    ActivityBackend::Options o;
    o.system_root = system_root;
    o.sees_all = [](const Caller& c) { return c.uid == 0; };
    o.subject_of = [](const Caller& c) { return "user:uid-" + std::to_string(c.uid); };
    o.may_list = [](const Caller& c, const std::string& subject) {
      const std::string uid = std::to_string(c.uid);
      return subject == "user:uid-" + uid || subject.starts_with("agent:" + uid + "-");
    };
    o.may_see = [](const Caller&, const Operation& op) { return !op.path.starts_with("/secret"); };
    ab_ = ActivityBackend::Create(kId, log_.get(), std::move(o)).value();
  }

  void Append(std::vector<Operation> ops) { ASSERT_TRUE(log_->Append(ops).ok()); }
  void AppendKeepingIds(std::vector<Operation>& ops) { ASSERT_TRUE(log_->Append(ops).ok()); }

  std::vector<std::string> Names(const Caller& c, Ino dir) {
    auto entries = ab_->ReadDir(c, dir);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    std::vector<std::string> out;
    if (entries.ok())
      for (const auto& e : *entries) out.push_back(e.name);
    return out;
  }
  Result<Attr> Walk(const Caller& c, const std::vector<std::string>& names) {
    Result<Attr> at = ab_->GetAttr(ab_->root());
    for (const auto& n : names) {
      if (!at.ok()) return at;
      at = ab_->Lookup(c, at->ino, n);
    }
    return at;
  }
  std::string Content(const Caller& c, const std::vector<std::string>& names) {
    auto at = Walk(c, names);
    EXPECT_TRUE(at.ok()) << at.status().ToString();
    if (!at.ok()) return "";
    auto fh = ab_->Open(c, at->ino, O_RDONLY);
    EXPECT_TRUE(fh.ok()) << fh.status().ToString();
    if (!fh.ok()) return "";
    std::string text = ReadAll((*fh)->fd);
    ab_->Release(std::move(*fh));
    return text;
  }

  testing::TempDir dir_;
  std::unique_ptr<OpLog> log_;
  std::unique_ptr<ActivityBackend> ab_;
  int64_t today_ = 0, yesterday_ = 0;
  Caller admin_;                                      // uid 0
  Caller alice_{.uid = 1000, .gid = 1000, .pid = 1};  // user:uid-1000
  Caller bob_{.uid = 1001, .gid = 1001, .pid = 1};    // user:uid-1001
};

TEST_F(ActivityBackendTest, DaysAndDates) {
  EXPECT_EQ(ActivityBackend::DayOf(0), "1970-01-01");
  EXPECT_EQ(ActivityBackend::DayStart("1970-01-02"), kDayNs);
  EXPECT_FALSE(ActivityBackend::DayStart("2026-02-30"));
  EXPECT_FALSE(ActivityBackend::DayStart("2026-1-01"));
  EXPECT_FALSE(ActivityBackend::DayStart("latest"));
}

TEST_F(ActivityBackendTest, ListsDaysAndSubjectFiles) {
  Make();
  EXPECT_TRUE(Names(admin_, ab_->root()).empty());
  Append({Op("/a", "user:uid-1000", yesterday_ + 5), Op("/b", "agent:1000-bot", today_ + 1),
          Op("/c", "user:uid-1001", today_ + 2)});
  const std::string y = ActivityBackend::DayOf(yesterday_), t = ActivityBackend::DayOf(today_);
  EXPECT_EQ(Names(admin_, ab_->root()), (std::vector<std::string>{y, t}));
  auto day = Walk(admin_, {t});
  ASSERT_TRUE(day.ok());
  EXPECT_TRUE(day->IsDir());
  EXPECT_EQ(day->mode & 07777, 0555u);
  EXPECT_EQ(Names(admin_, day->ino),
            (std::vector<std::string>{"agent:1000-bot.jsonl", "user:uid-1001.jsonl"}));
  // A non-admin lists its own file and its agents' only.
  EXPECT_EQ(Names(alice_, day->ino), (std::vector<std::string>{"agent:1000-bot.jsonl"}));
  EXPECT_EQ(Walk(alice_, {t, "user:uid-1001.jsonl"}).status().code(), ENOENT);
  EXPECT_EQ(Walk(bob_, {t, "agent:1000-bot.jsonl"}).status().code(), ENOENT);
  EXPECT_EQ(Walk(admin_, {"2020-01-01"}).status().code(), ENOENT);
  EXPECT_EQ(Walk(admin_, {"nonsense"}).status().code(), ENOENT);
  EXPECT_EQ(Walk(admin_, {t, "user:uid-1000.jsonl"}).status().code(), ENOENT);  // none today
}

TEST_F(ActivityBackendTest, FileHoldsTheSubjectsLinesOfThatDayOldestFirst) {
  Make();
  std::vector<Operation> ops = {
      Op("/x/1", "user:uid-1000", today_ + 10), Op("/x/2", "user:uid-1001", today_ + 20),
      Op("/x/3", "user:uid-1000", today_ + 30), Op("/x/0", "user:uid-1000", yesterday_ + 1)};
  AppendKeepingIds(ops);
  const std::string t = ActivityBackend::DayOf(today_);
  auto lines = Lines(Content(alice_, {t, "user:uid-1000.jsonl"}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], ToJsonLine(ops[0]));
  EXPECT_EQ(lines[1], ToJsonLine(ops[2]));
  auto file = Walk(alice_, {t, "user:uid-1000.jsonl"});
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->IsReg());
  EXPECT_EQ(file->mode & 07777, 0444u);
  EXPECT_EQ(file->size, lines[0].size() + lines[1].size() + 2);
  EXPECT_EQ(file->mtime.tv_nsec, 30);
}

TEST_F(ActivityBackendTest, FileGrowsAsOperationsAreLogged) {
  Make();
  Append({Op("/g/1", "user:uid-1000", NowNs())});
  const std::string t = ActivityBackend::DayOf(NowNs());
  auto file = Walk(alice_, {t, "user:uid-1000.jsonl"});
  ASSERT_TRUE(file.ok());
  auto fh = ab_->Open(alice_, file->ino, O_RDONLY);
  ASSERT_TRUE(fh.ok());
  const uint64_t first = file->size;
  EXPECT_EQ(Lines(ReadAll((*fh)->fd)).size(), 1u);
  Append({Op("/g/2", "user:uid-1000", NowNs()), Op("/g/3", "user:uid-1001", NowNs())});
  // tail -f: fstat, then read on from where it was, on the same handle.
  auto now = ab_->GetAttr(file->ino);
  ASSERT_TRUE(now.ok());
  EXPECT_GT(now->size, first);
  auto lines = Lines(ReadAll((*fh)->fd));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"/g/2\""), std::string::npos);
  EXPECT_EQ(now->size, lines[0].size() + lines[1].size() + 2);
  ab_->Release(std::move(*fh));
  ab_->Forget(file->ino, 1);
}

TEST_F(ActivityBackendTest, LinesAreFilteredForTheReader) {
  Make();
  Append({Op("/open", "agent:1000-bot", today_ + 1), Op("/secret/plan", "agent:1000-bot", today_ + 2),
          Op("/open2", "agent:1000-bot", today_ + 3)});
  const std::string t = ActivityBackend::DayOf(today_);
  auto as_alice = Lines(Content(alice_, {t, "agent:1000-bot.jsonl"}));
  ASSERT_EQ(as_alice.size(), 2u);
  EXPECT_EQ(as_alice[0].find("secret"), std::string::npos);
  EXPECT_EQ(as_alice[1].find("secret"), std::string::npos);
  // The admin reads every line; each reader's file has its own size.
  EXPECT_EQ(Lines(Content(admin_, {t, "agent:1000-bot.jsonl"})).size(), 3u);
  auto a = Walk(alice_, {t, "agent:1000-bot.jsonl"});
  auto r = Walk(admin_, {t, "agent:1000-bot.jsonl"});
  ASSERT_TRUE(a.ok() && r.ok());
  EXPECT_NE(a->ino, r->ino);
  EXPECT_LT(a->size, r->size);
}

TEST_F(ActivityBackendTest, ReadOnly) {
  Make();
  Append({Op("/a", "user:uid-1000", today_ + 1)});
  const std::string t = ActivityBackend::DayOf(today_);
  auto file = Walk(alice_, {t, "user:uid-1000.jsonl"});
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(ab_->Open(alice_, file->ino, O_WRONLY).status().code(), EROFS);
  EXPECT_EQ(ab_->Open(alice_, file->ino, O_RDONLY | O_TRUNC).status().code(), EROFS);
  auto day = Walk(alice_, {t});
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(ab_->Create(alice_, day->ino, "x.jsonl", 0644, O_WRONLY).status().code(), EROFS);
  EXPECT_EQ(ab_->Unlink(alice_, day->ino, "user:uid-1000.jsonl").code(), EROFS);
  EXPECT_EQ(ab_->MkDir(alice_, ab_->root(), "d", 0755).status().code(), EROFS);
  EXPECT_EQ(ab_->PathOf(file->ino), "/.nexus/activity/" + t + "/user:uid-1000.jsonl");
}

TEST_F(ActivityBackendTest, SystemRootHoldsOnlyActivity) {
  Make(/*system_root=*/true);
  Append({Op("/a", "user:uid-1000", today_ + 1)});
  EXPECT_EQ(Names(alice_, ab_->root()), (std::vector<std::string>{"activity"}));
  EXPECT_EQ(ab_->PathOf(ab_->root()), "/.nexus");
  const std::string t = ActivityBackend::DayOf(today_);
  EXPECT_EQ(Lines(Content(alice_, {"activity", t, "user:uid-1000.jsonl"})).size(), 1u);
  EXPECT_EQ(Walk(alice_, {"versions"}).status().code(), ENOENT);
}

// A policy that lets every caller see and do everything, uid 0 unrestricted:
// what is left to refuse in /.nexus is the namespace's own rule.
class OpenPolicy final : public AccessPolicy {
 public:
  bool Unrestricted(const Caller& c) override { return c.uid == 0; }
  bool CanSee(const Caller&, std::string_view, bool) override { return true; }
  bool Can(const Caller&, Need, std::string_view, bool) override { return true; }
  void Denied(const Caller&, std::string_view, std::string_view, std::string_view) override {}
  std::string SubjectOf(const Caller& c) override { return "user:uid-" + std::to_string(c.uid); }
};

// On a namespace with a policy: a restricted caller enters the hidden
// /.nexus and reads its activity files, and sees nothing else there (here
// a stand-in for the history grafted at /.nexus/versions), even where the
// policy would allow it.
TEST_F(ActivityBackendTest, RestrictedCallersReachActivityOnly) {
  Make(/*system_root=*/true);
  Append({Op("/a", "user:uid-1000", today_ + 1)});
  testing::TempDir native_dir, other_dir;
  NativeBackend::Options o;
  o.data_dir = native_dir.path();
  auto native = NativeBackend::Open(o).value();
  auto other = WorkspaceBackend::Open(kId + 1, other_dir.path(), nullptr).value();
  other->SetMountPath("/.nexus/versions");
  Namespace ns(native.get());
  OpenPolicy policy;
  ns.SetAccessPolicy(&policy);
  ASSERT_TRUE(ns.AddMount(kRootIno, ".nexus", ab_.get(), /*hidden=*/true).ok());
  ASSERT_TRUE(ns.AddMount(ab_->root(), "versions", other.get()).ok());

  auto root = ns.ReadDir(alice_, kRootIno);
  ASSERT_TRUE(root.ok());
  for (const auto& e : *root) EXPECT_NE(e.name, ".nexus");
  auto sys = ns.Lookup(alice_, kRootIno, ".nexus");
  ASSERT_TRUE(sys.ok()) << sys.status().ToString();
  auto names = ns.ReadDir(alice_, sys->ino);
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ((*names)[0].name, "activity");
  EXPECT_EQ(ns.Lookup(alice_, sys->ino, "versions").status().code(), ENOENT);
  EXPECT_EQ(ns.Resolve(admin_, "/.nexus/versions").status().code(), 0);  // an admin enters

  const std::string t = ActivityBackend::DayOf(today_);
  auto file = ns.ResolvePinned(alice_, "/.nexus/activity/" + t + "/user:uid-1000.jsonl");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto fh = ns.Open(alice_, file->ino, O_RDONLY);
  ASSERT_TRUE(fh.ok()) << fh.status().ToString();
  EXPECT_EQ(Lines(ReadAll((*fh)->fd)).size(), 1u);
  ns.Release(std::move(*fh));
  EXPECT_EQ(ns.Open(alice_, file->ino, O_WRONLY).status().code(), EACCES);
  ns.Forget(file->ino, 1);
}

}  // namespace
}  // namespace nexus::ops
