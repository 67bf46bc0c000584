#include "fs/versions/version_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/fs/versions/versions_test_util.h"

namespace nexus::versions {
namespace {

using namespace std::string_literals;
using testing::kStartNs;
using testing::VersionStoreTest;

TEST_F(VersionStoreTest, CaptureNumbersVersionsAndSkipsUnchangedContent) {
  auto v1 = Put("notes.txt", "one\n");
  EXPECT_TRUE(v1.recorded);
  EXPECT_EQ(v1.version, 1u);
  auto same = Put("/notes.txt", "one\n");
  EXPECT_FALSE(same.recorded);
  EXPECT_EQ(same.version, 1u);
  EXPECT_EQ(same.blob, v1.blob);
  auto v2 = Put("notes.txt", "two\n");
  EXPECT_EQ(v2.version, 2u);

  auto h = store_->History("root", "notes.txt");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->versions.size(), 2u);
  const Version& first = h->versions[0];
  EXPECT_EQ(first.number, 1u);
  EXPECT_EQ(first.size, 4u);
  EXPECT_EQ(first.mode, kModeFile);
  EXPECT_EQ(first.time_ns, kStartNs);
  EXPECT_EQ(first.provenance.subject, "user:uid-1000");
  EXPECT_EQ(first.provenance.command, "vim");
  EXPECT_EQ(first.provenance.pid, 4242);
  EXPECT_TRUE(first.commit.empty()) << "journaled, not committed yet";

  ASSERT_TRUE(store_->Flush().ok());
  h = store_->History("root", "notes.txt");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->versions[0].commit.size(), 40u);
  EXPECT_EQ(h->versions[1].commit.size(), 40u);
  EXPECT_EQ(*store_->Get("root", "notes.txt", 1), "one\n");
  EXPECT_EQ(*store_->Get("root", "notes.txt", 2), "two\n");
}

TEST_F(VersionStoreTest, SameContentInTwoPathsIsStoredOnce) {
  const std::string content(100000, 'x');
  Put("a.bin", content);
  Put("b.bin", content);
  Put("a.bin", content + "y");
  ASSERT_TRUE(store_->Flush().ok());
  auto s = store_->Stats();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->versions, 3u);
  EXPECT_EQ(s->files, 2u);
  EXPECT_EQ(s->logical_bytes, 300001u);
  EXPECT_EQ(s->unique_bytes, 200001u);
  EXPECT_NEAR(s->dedup_ratio, 300001.0 / 200001.0, 1e-9);
  EXPECT_GT(s->objects, 2u);  // two blobs, trees, commits
  EXPECT_GT(s->disk_bytes, 0u);
  EXPECT_LT(s->disk_bytes, 100000u) << "repetitive content is stored compressed, once";
}

TEST_F(VersionStoreTest, ExecutableBitIsRecorded) {
  Put("run.sh", "#!/bin/sh\n", "root", 0755);
  auto v = store_->GetVersion("root", "run.sh", 1);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->mode, kModeExecutable);
}

TEST_F(VersionStoreTest, LargeFileIsStreamedAndReadBackExactly) {
  const std::string path = dir_.path() + "/big";
  std::string chunk(1 << 20, '\0');
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>((i * 131) >> 7);
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 5; ++i) {
      chunk[0] = static_cast<char>(i);
      out.write(chunk.data(), chunk.size());
    }
  }
  auto r = store_->CaptureFile("root", "data/big.bin", path, who_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(store_->Flush().ok());

  const std::string back = dir_.path() + "/back";
  int fd = ::open(back.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(store_->GetTo("root", "data/big.bin", 1, fd).ok());
  ::close(fd);
  EXPECT_EQ(std::filesystem::file_size(back), 5u << 20);
  EXPECT_EQ(testing::Shell("cmp '" + path + "' '" + back + "' && echo same"), "same\n");
  auto range = store_->ReadBlob(r->blob, (1u << 20) - 2, 4);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, std::string({chunk[(1 << 20) - 2], chunk[(1 << 20) - 1], '\1', chunk[1]}));
}

TEST_F(VersionStoreTest, RenameCarriesHistoryAndSaysWhereEachVersionCameFrom) {
  Put("draft.md", "a");
  Put("draft.md", "b");
  ASSERT_TRUE(store_->Rename("root", "draft.md", "docs/final.md", who_).ok());
  Put("docs/final.md", "c");
  ASSERT_TRUE(store_->Flush().ok());

  auto h = store_->History("root", "docs/final.md");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->versions.size(), 3u);
  EXPECT_EQ(h->path, "docs/final.md");
  EXPECT_EQ(h->versions[0].path, "draft.md");
  EXPECT_EQ(h->versions[1].path, "draft.md");
  EXPECT_EQ(h->versions[2].path, "docs/final.md");
  EXPECT_EQ(h->versions[2].number, 3u);
  EXPECT_EQ(*store_->Get("root", "docs/final.md", 1), "a");
  EXPECT_EQ(store_->History("root", "draft.md").code(), ENOENT);
}

TEST_F(VersionStoreTest, DirectoryRenameMovesEveryFileUnderIt) {
  Put("src/a.c", "a");
  Put("src/sub/b.c", "b");
  Put("srcfile", "not under src/");
  ASSERT_TRUE(store_->Rename("root", "src", "lib", who_).ok());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_TRUE(store_->History("root", "lib/a.c").ok());
  EXPECT_TRUE(store_->History("root", "lib/sub/b.c").ok());
  EXPECT_TRUE(store_->History("root", "srcfile").ok());
  EXPECT_EQ(store_->History("root", "src/a.c").code(), ENOENT);
  auto snap = store_->CreateSnapshot({"root"}, "after move");
  ASSERT_TRUE(snap.ok());
  auto entries = store_->SnapshotEntries(*snap);
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> paths;
  for (const auto& e : *entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"root/lib/a.c", "root/lib/sub/b.c", "root/srcfile"}));
}

TEST_F(VersionStoreTest, AtomicSaveOverAVersionedFileContinuesItsHistory) {
  Put("config.yaml", "v: 1\n");
  Put("config.yaml.tmp", "v: 2\n");
  ASSERT_TRUE(store_->Rename("root", "config.yaml.tmp", "config.yaml", who_).ok());
  ASSERT_TRUE(store_->Flush().ok());
  auto h = store_->History("root", "config.yaml");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(h->versions[1].note, "renamed from config.yaml.tmp");
  EXPECT_EQ(*store_->Get("root", "config.yaml", 2), "v: 2\n");
  auto tmp = store_->History("root", "config.yaml.tmp");
  ASSERT_TRUE(tmp.ok());
  EXPECT_TRUE(tmp->deleted);
}

TEST_F(VersionStoreTest, RemoveKeepsHistoryAndRestoreBringsLatestContentBack) {
  Put("todo.txt", "1");
  Put("todo.txt", "2");
  ASSERT_TRUE(store_->Remove("root", "todo.txt", who_).ok());
  ASSERT_TRUE(store_->Flush().ok());
  auto h = store_->History("root", "todo.txt");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->deleted);
  EXPECT_EQ(h->versions.size(), 2u);

  auto r = store_->Restore("root", "todo.txt", who_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "2");
  EXPECT_TRUE(r->recorded);
  EXPECT_EQ(r->version, 3u);
  // The daemon writes the content back; capturing it adds nothing.
  EXPECT_FALSE(Put("todo.txt", "2").recorded);
  h = store_->History("root", "todo.txt");
  EXPECT_FALSE(h->deleted);
  EXPECT_EQ(h->versions.back().note, "restore");
  EXPECT_EQ(store_->Remove("root", "never.txt", who_).code(), ENOENT);
}

TEST_F(VersionStoreTest, RollbackRecordsOldContentAsNewVersion) {
  Put("main.py", "print(1)\n");
  Put("main.py", "print(2)\n");
  auto r = store_->Rollback("root", "main.py", 1, who_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "print(1)\n");
  EXPECT_TRUE(r->recorded);
  EXPECT_EQ(r->version, 3u);
  EXPECT_FALSE(Put("main.py", "print(1)\n").recorded);
  auto again = store_->Rollback("root", "main.py", 3, who_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->recorded) << "already the latest content";
  auto v3 = store_->GetVersion("root", "main.py", 3);
  EXPECT_EQ(v3->note, "rollback to v1");
  EXPECT_EQ(store_->Rollback("root", "main.py", 9, who_).code(), ENOENT);
}

TEST_F(VersionStoreTest, DiffOfTextIsUnified) {
  Put("poem.txt", "roses\nare\nred\n");
  Put("poem.txt", "roses\nare\nblue\n");
  auto d = store_->Diff("root", "poem.txt", 1, 2, DiffMode::kContent);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_NE(d->find("--- a/poem.txt"), std::string::npos) << *d;
  EXPECT_NE(d->find("+++ b/poem.txt"), std::string::npos) << *d;
  EXPECT_NE(d->find("-red\n+blue\n"), std::string::npos) << *d;
  EXPECT_EQ(*store_->Diff("root", "poem.txt", 2, 2, DiffMode::kContent), "");
}

TEST_F(VersionStoreTest, DiffOfBinarySummarisesSizes) {
  Put("img.png", std::string("\x89PNG\0\0", 6) + std::string(1228, '\1'));
  Put("img.png", std::string("\x89PNG\0\0", 6) + std::string(5672, '\2'));
  auto d = store_->Diff("root", "img.png", 1, 2, DiffMode::kContent);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "binary files differ: 1,234 → 5,678 bytes\n");
}

TEST_F(VersionStoreTest, MetadataDiffNamesChangedFields) {
  Put("a.txt", "x");
  who_.subject = "agent:alice";
  Put("a.txt", "yy");
  auto d = store_->Diff("root", "a.txt", 1, 2, DiffMode::kMetadata);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->find("size: 1 bytes → 2 bytes\n"), std::string::npos) << *d;
  EXPECT_NE(d->find("author: user:uid-1000 → agent:alice\n"), std::string::npos) << *d;
  EXPECT_NE(d->find("path: a.txt\n"), std::string::npos) << *d;
  EXPECT_NE(d->find("time: 2026-01-01T00:00:00Z → 2026-01-01T00:00:01Z\n"), std::string::npos) << *d;
}

TEST_F(VersionStoreTest, BadArgumentsAndMissingThings) {
  Put("x.txt", "x");
  struct Case {
    const char* name;
    int code;
    int want;
  } cases[] = {
      {"empty zone", store_->History("", "x.txt").code(), EINVAL},
      {"zone with slash", store_->History("a/b", "x.txt").code(), EINVAL},
      {"dot-dot path", store_->History("root", "a/../x.txt").code(), EINVAL},
      {"empty path", store_->History("root", "/").code(), EINVAL},
      {"double slash", store_->History("root", "a//b").code(), EINVAL},
      {"unknown path", store_->History("root", "y.txt").code(), ENOENT},
      {"unknown zone", store_->History("local", "x.txt").code(), ENOENT},
      {"version 0", store_->Get("root", "x.txt", 0).code(), ENOENT},
      {"version too high", store_->Get("root", "x.txt", 2).code(), ENOENT},
      {"diff missing", store_->Diff("root", "x.txt", 1, 7, DiffMode::kContent).code(), ENOENT},
      {"rename into itself", store_->Rename("root", "x.txt", "x.txt/y", who_).code(), EINVAL},
      {"rename unknown", store_->Rename("root", "nope", "x", who_).code(), ENOENT},
      {"bad blob id", store_->ReadBlob("zz", 0, 1).code(), EINVAL},
      {"missing snapshot", store_->GetSnapshot("42").code(), ENOENT},
      {"bad snapshot id", store_->GetSnapshot("../x").code(), EINVAL},
      {"gc keep 0", store_->Gc(GcPolicy{0, 0}).code(), EINVAL},
  };
  for (const Case& c : cases) EXPECT_EQ(c.code, c.want) << c.name;
  int fd = ::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY);
  EXPECT_EQ(store_->Capture("root", "d", fd, who_).code(), EINVAL) << "a directory";
  ::close(fd);
}

TEST_F(VersionStoreTest, GroupCommitPutsABurstInOneCommitPerAuthor) {
  for (int i = 0; i < 300; ++i) Put("burst/f" + std::to_string(i), std::to_string(i));
  who_.subject = "agent:bob";
  Put("burst/f0", "changed by bob");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string git_dir = dir_.path() + "/versions.git";
  EXPECT_EQ(Git(git_dir, "rev-list --count refs/heads/root"), "2\n");
  EXPECT_EQ(Git(git_dir, "log -1 --format=%an%n%ae refs/heads/root"), "agent:bob\nagent:bob@nexus\n");
  EXPECT_EQ(Git(git_dir, "log -1 --skip=1 --format=%s refs/heads/root").substr(0, 20),
            "300 changes in root:");
  int st = -1;
  Git(git_dir, "fsck --strict", &st);
  EXPECT_EQ(st, 0);
}

TEST_F(VersionStoreTest, CommitterThreadCommitsWithinTheWindow) {
  Reopen(/*run_committer=*/true);
  Put("auto.txt", "x");
  bool committed = false;
  for (int i = 0; i < 500 && !committed; ++i) {
    auto h = store_->History("root", "auto.txt");
    committed = h.ok() && !h->versions[0].commit.empty();
    if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(committed);
}

TEST_F(VersionStoreTest, JournaledVersionsSurviveACrashAndAreCommittedAtOpen) {
  Put("keep/a.txt", "a1");
  Put("keep/a.txt", "a2");
  ASSERT_TRUE(store_->Rename("root", "keep/a.txt", "keep/b.txt", who_).ok());
  Put("local.txt", "w", "local");
  // No committer ran: every record is only in the journal. Abandon the
  // store the way a crash would, leaving the files as they are on disk.
  const std::string copy = dir_.path() + "/crashed";
  std::filesystem::create_directory(copy);
  std::filesystem::copy(dir_.path() + "/versions.git", copy + "/versions.git",
                        std::filesystem::copy_options::recursive);
  for (const char* f : {"/versions.db", "/versions.db-wal", "/versions.db-shm"})
    if (std::filesystem::exists(dir_.path() + f)) std::filesystem::copy_file(dir_.path() + f, copy + f);

  VersionStore::Options o = MakeOptions(false);
  o.dir = copy;
  auto reopened = VersionStore::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto h = (*reopened)->History("root", "keep/b.txt");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->versions.size(), 2u);
  for (const Version& v : h->versions) EXPECT_EQ(v.commit.size(), 40u) << "replayed at Open";
  EXPECT_EQ(*(*reopened)->Get("root", "keep/b.txt", 1), "a1");
  EXPECT_EQ(Git(copy + "/versions.git", "ls-tree -r --name-only root"), "keep/b.txt\n");
  EXPECT_EQ(Git(copy + "/versions.git", "ls-tree -r --name-only local"), "local.txt\n");
}

TEST_F(VersionStoreTest, RefBehindTheIndexIsRepairedAtOpen) {
  Put("r.txt", "1");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string git_dir = dir_.path() + "/versions.git";
  const std::string first = Git(git_dir, "rev-parse root");
  Put("r.txt", "2");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string second = Git(git_dir, "rev-parse root");
  ASSERT_NE(first, second);
  // A crash after the index recorded the commit but before the ref moved.
  store_.reset();
  Git(git_dir, "update-ref refs/heads/root " + first);
  Reopen();
  EXPECT_EQ(Git(git_dir, "rev-parse root"), second);
}

TEST_F(VersionStoreTest, RefLockLeftByACrashIsRemovedAtOpen) {
  Put("l.txt", "1");
  ASSERT_TRUE(store_->Flush().ok());
  store_.reset();
  const std::string git_dir = dir_.path() + "/versions.git";
  // kill -9 while the ref moved: its lock file stays.
  std::ofstream(git_dir + "/refs/heads/root.lock") << "0000000000000000000000000000000000000000\n";
  Reopen();
  Put("l.txt", "2");
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_FALSE(std::filesystem::exists(git_dir + "/refs/heads/root.lock"));
  EXPECT_EQ(Git(git_dir, "show root:l.txt"), "2");
}

TEST_F(VersionStoreTest, LostCommitObjectsAreRebuiltFromTheJournal) {
  Put("m.txt", "1");
  ASSERT_TRUE(store_->Flush().ok());
  Put("m.txt", "2");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string git_dir = dir_.path() + "/versions.git";
  std::string head = Git(git_dir, "rev-parse root");
  head.pop_back();
  store_.reset();
  // A machine crash lost the newest commit object after the index named it:
  // its pack is rewritten without it.
  {
    auto packs = PackStore::Open(git_dir);
    ASSERT_TRUE(packs.ok());
    git_oid lost;
    ASSERT_TRUE(ParseOid(head, &lost));
    auto swept = (*packs)->Sweep([&](const git_oid& id) { return !git_oid_equal(&id, &lost); });
    ASSERT_TRUE(swept.ok()) << swept.status().ToString();
    ASSERT_EQ(swept->objects_removed, 1u);
  }
  Reopen();
  EXPECT_EQ(Git(git_dir, "rev-parse root"), head + "\n") << "deterministic commits: same id again";
  EXPECT_EQ(store_->History("root", "m.txt")->versions[1].commit, head);
  int st = -1;
  Git(git_dir, "fsck --strict", &st);
  EXPECT_EQ(st, 0);
}

TEST_F(VersionStoreTest, FullBatchCommitsWithoutWaitingForTheWindow) {
  store_.reset();
  VersionStore::Options o = MakeOptions(true);
  o.commit_window = std::chrono::seconds(30);
  o.commit_batch = 5;
  store_ = std::move(VersionStore::Open(o)).value();
  for (int i = 0; i < 5; ++i) Put("b" + std::to_string(i), "x" + std::to_string(i));
  bool committed = false;
  for (int i = 0; i < 1000 && !committed; ++i) {
    committed = !store_->History("root", "b4")->versions[0].commit.empty();
    if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(committed);
}

TEST_F(VersionStoreTest, QueriesRunConcurrentlyWithCaptures) {
  Reopen(/*run_committer=*/true);
  Put("shared.txt", "v1");
  auto snap = store_->CreateSnapshot({}, "browsed while capturing");
  ASSERT_TRUE(snap.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto h = store_->History("root", "shared.txt");
        if (!h.ok() || h->versions.empty()) {
          ++failures;
          continue;
        }
        auto data = store_->Get("root", "shared.txt", h->versions.back().number);
        if (!data.ok() || data->empty() || (*data)[0] != 'v') ++failures;
        auto dir = store_->ListSnapshotDir(*snap, "root");
        if (!dir.ok() || dir->size() != 1) {
          ++failures;
          continue;
        }
        auto bytes = store_->ReadBlob((*dir)[0].oid, 1, 10);
        if (!bytes.ok() || *bytes != "1") ++failures;
        ++reads;
      }
    });
  }
  for (int i = 2; i <= 200; ++i) Put("shared.txt", "v" + std::to_string(i));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->History("root", "shared.txt")->versions.size(), 200u);
}

TEST_F(VersionStoreTest, DotGitComponentsAreEscapedInTrees) {
  Put("proj/.git/config", "[core]\n");
  Put("proj/100%.txt", "full");
  ASSERT_TRUE(store_->Flush().ok());
  const std::string git_dir = dir_.path() + "/versions.git";
  EXPECT_EQ(Git(git_dir, "ls-tree -r --name-only root"), "proj/%2Egit/config\nproj/100%25.txt\n");
  auto snap = store_->CreateSnapshot({}, "s");
  ASSERT_TRUE(snap.ok());
  auto e = store_->StatSnapshotEntry(*snap, "root/proj/.git/config");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->path, "config");
  auto dir = store_->ListSnapshotDir(*snap, "root/proj");
  ASSERT_TRUE(dir.ok());
  ASSERT_EQ(dir->size(), 2u);
  EXPECT_EQ((*dir)[0].path, ".git");
  EXPECT_EQ((*dir)[1].path, "100%.txt");
}

TEST(ProvenanceTest, ReadsCommandAndNexusVariablesFromProc) {
  nexus::testing::TempDir proc;
  const std::string pid_dir = proc.path() + "/77";
  std::filesystem::create_directory(pid_dir);
  std::ofstream(pid_dir + "/comm") << "python3\n";
  const std::string env = "PATH=/bin\0NEXUS_AGENT_ID=alice\0NEXUS_TASK_ID=task-9\0X=1\0"s;
  std::ofstream(pid_dir + "/environ", std::ios::binary) << env;
  Provenance p = ReadProcessProvenance(Caller{1000, 1000, 77}, proc.path());
  EXPECT_EQ(p.subject, "user:uid-1000");
  EXPECT_EQ(p.uid, 1000u);
  EXPECT_EQ(p.pid, 77);
  EXPECT_EQ(p.command, "python3");
  EXPECT_EQ(p.agent_id, "alice");
  EXPECT_EQ(p.task_id, "task-9");

  Provenance gone = ReadProcessProvenance(Caller{5, 5, 78}, proc.path());
  EXPECT_EQ(gone.subject, "user:uid-5");
  EXPECT_TRUE(gone.command.empty());
  Provenance self = ReadProcessProvenance(Caller{::getuid(), ::getgid(), ::getpid()});
  EXPECT_FALSE(self.command.empty());
}

TEST(ProvenanceTest, EnvironBeyondTheLimitIsIgnored) {
  nexus::testing::TempDir proc;
  const std::string pid_dir = proc.path() + "/5";
  std::filesystem::create_directory(pid_dir);
  const std::string env = "A=" + std::string(kMaxEnvironBytes, 'a') + "\0NEXUS_AGENT_ID=late\0"s;
  std::ofstream(pid_dir + "/environ", std::ios::binary) << env;
  EXPECT_TRUE(ReadProcessProvenance(Caller{0, 0, 5}, proc.path()).agent_id.empty());
}

TEST(ProvenanceTest, NamesThePrincipalTheCheckUsed) {
  // uid 1001 bound to agent:alice, or root acting as user:admin: the
  // version names the principal's subject, not the uid's default.
  Principal alice;
  alice.subject = "agent:alice";
  Caller c{1001, 1001, 42};
  c.principal = &alice;
  Provenance p = MakeProvenance(c, ProcessInfo{});
  EXPECT_EQ(p.subject, "agent:alice");
  EXPECT_EQ(p.uid, 1001u);
  EXPECT_EQ(p.pid, 42);
  Principal admin;
  admin.subject = "user:admin";
  Caller root{0, 0, 43};
  root.principal = &admin;
  EXPECT_EQ(MakeProvenance(root, ProcessInfo{}).subject, "user:admin");
}

}  // namespace
}  // namespace nexus::versions
