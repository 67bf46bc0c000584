// NamespaceContentSource over a real NativeBackend (and a WorkspaceBackend
// grafted at /zone/local), and a SearchIndex fed from it.
#include "fs/search/namespace_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "fs/search/indexer.h"
#include "fs/search/search_index.h"
#include "fs/workspace_backend.h"
#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::TempDir;

class NamespaceSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NativeBackend::Options o;
    o.data_dir = data_.path();
    auto b = NativeBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    native_ = std::move(b).value();
    ns_ = std::make_unique<Namespace>(native_.get());
  }

  // Creates the directories of `path` and the file with `data` through the
  // namespace, as the mount would.
  void Write(const std::string& path, const std::string& data, mode_t mode = 0644) {
    Ino dir = kRootIno;
    std::vector<Ino> held;
    size_t pos = 1;
    while (true) {
      size_t end = path.find('/', pos);
      if (end == std::string::npos) break;
      std::string comp = path.substr(pos, end - pos);
      auto a = ns_->Lookup(root_, dir, comp);
      if (!a.ok()) a = ns_->MkDir(root_, dir, comp, 0755);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      held.push_back(a->ino);
      dir = a->ino;
      pos = end + 1;
    }
    std::string name = path.substr(pos);
    auto existing = ns_->Lookup(root_, dir, name);
    std::unique_ptr<FileHandle> fh;
    Ino ino = 0;
    if (existing.ok()) {
      ino = existing->ino;
      auto h = ns_->Open(root_, ino, O_WRONLY | O_TRUNC);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      fh = std::move(h).value();
    } else {
      auto c = ns_->Create(root_, dir, name, mode, O_WRONLY);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ino = c->attr.ino;
      fh = std::move(c->handle);
    }
    ASSERT_EQ(::ftruncate(fh->fd, 0), 0);
    ASSERT_EQ(::pwrite(fh->fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    ns_->OnWrite(*fh, 0, data.size());
    ns_->Release(std::move(fh));
    ns_->Forget(ino, 1);
    for (Ino h : held) ns_->Forget(h, 1);
  }

  static std::vector<std::string> Paths(const std::vector<FileInfo>& files) {
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(f.path);
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir data_;
  Caller root_;
  std::unique_ptr<NativeBackend> native_;
  std::unique_ptr<Namespace> ns_;
};

TEST_F(NamespaceSourceTest, ReadStatAndList) {
  Write("/a.txt", "hello\n");
  Write("/src/lib/x.c", "int x;\n");
  Write("/src/y.c", "int y;\n");
  auto s = ns_->Lookup(root_, kRootIno, "src");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(ns_->Symlink(root_, "../a.txt", s->ino, "link").ok());
  ns_->Forget(s->ino, 1);

  NamespaceContentSource src(ns_.get());
  auto data = src.Read("/src/lib/x.c", 100);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "int x;\n");
  auto head = src.Read("/a.txt", 3);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, "hel");
  auto st = src.Stat("/a.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 6u);
  EXPECT_GT(st->mtime_ns, 0);

  auto all = src.List("/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Paths(*all), (std::vector<std::string>{"/a.txt", "/src/lib/x.c", "/src/y.c"}));
  auto sub = src.List("/src/lib");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(Paths(*sub), (std::vector<std::string>{"/src/lib/x.c"}));
  auto one = src.List("/src/y.c");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(Paths(*one), (std::vector<std::string>{"/src/y.c"}));
}

TEST_F(NamespaceSourceTest, Errors) {
  Write("/d/f", "x");
  NamespaceContentSource src(ns_.get());
  EXPECT_EQ(src.Read("/missing", 10).code(), ENOENT);
  EXPECT_EQ(src.Stat("/d/missing").code(), ENOENT);
  EXPECT_EQ(src.List("/nope").code(), ENOENT);
  EXPECT_EQ(src.Read("/d", 10).code(), EINVAL);
  EXPECT_EQ(src.Stat("/d").code(), EINVAL);
  EXPECT_EQ(src.Read("relative", 10).code(), EINVAL);
  EXPECT_EQ(src.Read("/d/../d/f", 10).code(), EINVAL);
  EXPECT_EQ(src.Read("/d/f/g", 10).code(), ENOTDIR);
}

TEST_F(NamespaceSourceTest, ReadsAsRootWhateverTheMode) {
  Write("/private/secret.txt", "classified\n", 0600);
  NamespaceContentSource src(ns_.get());
  auto data = src.Read("/private/secret.txt", 100);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "classified\n");
}

TEST_F(NamespaceSourceTest, ExcludedSubtreeIsInvisible) {
  Write("/.nexus/history/a.txt", "old\n");
  Write("/.nexusish/b.txt", "kept\n");
  NamespaceContentSource src(ns_.get());
  auto all = src.List("/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Paths(*all), (std::vector<std::string>{"/.nexusish/b.txt"}));
  EXPECT_EQ(src.Read("/.nexus/history/a.txt", 10).code(), ENOENT);
  EXPECT_EQ(src.Stat("/.nexus/history/a.txt").code(), ENOENT);
  auto under = src.List("/.nexus");
  ASSERT_TRUE(under.ok());
  EXPECT_TRUE(under->empty());
}

// Every lookup reference the source takes is dropped again: the workspace
// backend keeps one host fd per live inode, so its count must return to 1
// (the root) after listing, reading and stat'ing through the mount point.
TEST_F(NamespaceSourceTest, CrossesMountPointsAndDropsEveryReference) {
  TempDir host;
  search::testing::WriteFile(host.path(), "/notes.md", "workspace text\n");
  search::testing::WriteFile(host.path(), "/deep/er/code.py", "print(1)\n");
  auto ws = WorkspaceBackend::Open(1, host.path(), nullptr);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  auto zone = ns_->MkDir(root_, kRootIno, "zone", 0755);
  ASSERT_TRUE(zone.ok());
  ASSERT_TRUE(ns_->AddMount(zone->ino, "local", ws->get()).ok());
  Write("/top.txt", "top\n");

  NamespaceContentSource src(ns_.get());
  const size_t base = (*ws)->InodeCount();
  auto all = src.List("/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Paths(*all),
            (std::vector<std::string>{"/top.txt", "/zone/local/deep/er/code.py", "/zone/local/notes.md"}));
  auto data = src.Read("/zone/local/deep/er/code.py", 100);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "print(1)\n");
  EXPECT_TRUE(src.Stat("/zone/local/notes.md").ok());
  EXPECT_EQ(src.Read("/zone/local/deep/missing", 10).code(), ENOENT);
  auto sub = src.List("/zone/local/deep");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->size(), 1u);
  EXPECT_EQ((*ws)->InodeCount(), base);
  ns_->Forget(zone->ino, 1);
}

// The whole library over the namespace: index, grep, query, then a change.
TEST_F(NamespaceSourceTest, SearchIndexOverTheNamespace) {
  Write("/docs/a.md", "the quick brown fox\njumps over\n");
  Write("/docs/b.md", "nothing here\n");
  Write("/bin/blob", std::string("\0\1\2binary fox", 15));
  NamespaceContentSource src(ns_.get());
  auto index = SearchIndex::Open(data_.path() + "/search.db", &src, {});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  Indexer indexer(index->get());
  ASSERT_TRUE(indexer.IndexPath("/").ok());
  auto counts = (*index)->Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->files, 2u);  // the binary file is skipped

  auto g = indexer.Grep("fox", "/", {});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0], (GrepMatch{"/docs/a.md", 1, "the quick brown fox"}));

  Write("/docs/b.md", "a fox appears\n");
  indexer.Upsert("/docs/b.md");
  indexer.Flush();
  QueryOptions qo;
  auto hits = (*index)->Query("fox", qo);
  ASSERT_TRUE(hits.ok());
  std::vector<std::string> paths;
  for (const auto& h : *hits) paths.push_back(h.path);
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"/docs/a.md", "/docs/b.md"}));
}

}  // namespace
}  // namespace nexus::search
