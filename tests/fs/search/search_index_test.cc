#include "fs/search/search_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::Shell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

QueryOptions Limit(size_t n) {
  QueryOptions o;
  o.limit = n;
  return o;
}

class SearchIndexTest : public testing::IndexTest {
 protected:
  void SyncAll() { ASSERT_TRUE(index_->Sync("/", false).ok()); }

  std::vector<std::string> Paths(const std::vector<QueryHit>& hits) {
    std::vector<std::string> out;
    for (const auto& h : hits) out.push_back(h.path);
    return out;
  }
  std::vector<QueryHit> Query(const std::string& text, QueryOptions o = {}) {
    auto r = index_->Query(text, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<QueryHit>{};
  }
};

TEST_F(SearchIndexTest, IndexesTextAndSkipsBinary) {
  Open();
  Write("/src/a.c", "int alpha(void) { return 1; }\n");
  Write("/src/b.c", "int beta(void) { return 2; }\n");
  Write("/bin/blob", std::string("alpha\0\x01\x02", 8));
  std::vector<std::pair<size_t, size_t>> progress;
  ASSERT_TRUE(index_->Sync("/", false, [&](size_t d, size_t t) { progress.emplace_back(d, t); }).ok());
  auto c = index_->Counts();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->files, 2u);
  EXPECT_EQ(c->chunks, 2u);
  EXPECT_GT(c->bytes, 50u);
  EXPECT_GT(c->last_update_ns, 0);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front(), std::make_pair(size_t{0}, size_t{3}));
  EXPECT_EQ(progress.back(), std::make_pair(size_t{3}, size_t{3}));
  EXPECT_EQ(Paths(Query("alpha")), std::vector<std::string>{"/src/a.c"});

  // Sync removes vanished files and picks up changes.
  std::filesystem::remove(tree_dir_.path() + "/src/a.c");
  Write("/src/b.c", "int beta(void) { return alpha; }\n// a longer file now\n");
  SyncAll();
  EXPECT_EQ(Paths(Query("alpha")), std::vector<std::string>{"/src/b.c"});
  EXPECT_EQ(index_->Counts()->files, 1u);
}

TEST_F(SearchIndexTest, ChangesPersistAcrossReopen) {
  Open();
  Write("/notes.md", "persistent zebra\n");
  SyncAll();
  Open();
  EXPECT_EQ(Paths(Query("zebra")), std::vector<std::string>{"/notes.md"});
}

TEST_F(SearchIndexTest, RankingAndSnippets) {
  Open();
  Write("/once.txt", "the quick fox met a falcon by the river, then left.\n");
  Write("/many.txt", "falcon falcon falcon. the falcon flew; a falcon again.\n");
  Write("/none.txt", "nothing to see here\n");
  SyncAll();
  auto hits = Query("falcon");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].path, "/many.txt");
  EXPECT_EQ(hits[1].path, "/once.txt");
  EXPECT_GT(hits[0].keyword_score, hits[1].keyword_score);
  EXPECT_GT(hits[1].keyword_score, 0);
  EXPECT_EQ(hits[0].vector_score, 0);
  EXPECT_FALSE(hits[0].semantic_degraded);
  EXPECT_NE(hits[1].snippet.find("\xC2\xAB"
                                 "falcon"
                                 "\xC2\xBB"),
            std::string::npos)
      << hits[1].snippet;
  // More query terms matched ranks higher than one.
  Write("/both.txt", "a river falcon\n");
  SyncAll();
  hits = Query("river falcon");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].path, "/both.txt");
  EXPECT_EQ(index_->Query("  ,;  ", {}).code(), EINVAL);
}

TEST_F(SearchIndexTest, LargeFilesAreChunkedWithLineRanges) {
  SearchIndex::Options o;
  o.chunk_lines = 50;
  Open(o);
  std::string text;
  for (int i = 1; i <= 200; ++i)
    text += i == 137 ? "the needle is here\n" : "filler line " + std::to_string(i) + "\n";
  Write("/big.txt", text);
  SyncAll();
  EXPECT_EQ(index_->Counts()->chunks, 4u);
  auto hits = Query("needle");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].start_line, 101u);
  EXPECT_EQ(hits[0].end_line, 150u);
}

TEST_F(SearchIndexTest, PathPrefixVisibilityAndContexts) {
  Open();
  Write("/src/x/a.py", "def orbit(): pass\n");
  Write("/src/y/b.py", "orbit = 2\n");
  Write("/srcfoo/c.py", "orbit = 3\n");
  Write("/docs/d.md", "orbit docs\n");
  SyncAll();
  QueryOptions o;
  o.path_prefix = "/src/";
  auto paths = Paths(Query("orbit", o));
  std::set<std::string> got(paths.begin(), paths.end());
  EXPECT_EQ(got, (std::set<std::string>{"/src/x/a.py", "/src/y/b.py"}));

  o.path_prefix = "/";
  o.visible = [](const std::string& p) { return !p.starts_with("/src/y"); };
  auto hits = Query("orbit", o);
  EXPECT_EQ(hits.size(), 3u);
  for (const auto& h : hits) EXPECT_NE(h.path, "/src/y/b.py");

  ASSERT_TRUE(index_->SetPathContext("/src", "source tree").ok());
  ASSERT_TRUE(index_->SetPathContext("/src/x/", "the x module").ok());
  ASSERT_TRUE(index_->SetPathContext("/", "everything").ok());
  EXPECT_EQ(index_->SetPathContext("relative", "no").code(), EINVAL);
  auto list = index_->ListPathContexts();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<PathContext>{
                       {"/", "everything"}, {"/src", "source tree"}, {"/src/x", "the x module"}}));
  std::map<std::string, std::string> ctx;
  for (const auto& h : Query("orbit")) ctx[h.path] = h.context;
  EXPECT_EQ(ctx["/src/x/a.py"], "the x module");
  EXPECT_EQ(ctx["/src/y/b.py"], "source tree");
  EXPECT_EQ(ctx["/srcfoo/c.py"], "everything");  // "/src" is not a prefix of "/srcfoo"
  ASSERT_TRUE(index_->DeletePathContext("/src/x").ok());
  EXPECT_EQ(index_->DeletePathContext("/src/x").code(), ENOENT);
  for (const auto& h : Query("orbit")) {
    if (h.path == "/src/x/a.py") {
      EXPECT_EQ(h.context, "source tree");
    }
  }
}

TEST_F(SearchIndexTest, SemanticWithoutProviderIsDegraded) {
  Open();
  Write("/a.txt", "semantic lanes need vectors\n");
  SyncAll();
  for (QueryMode mode : {QueryMode::kSemantic, QueryMode::kHybrid}) {
    QueryOptions o;
    o.mode = mode;
    auto hits = Query("vectors", o);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_TRUE(hits[0].semantic_degraded);
    EXPECT_GT(hits[0].keyword_score, 0);
    EXPECT_EQ(hits[0].vector_score, 0);
  }
  EXPECT_FALSE(Query("vectors")[0].semantic_degraded);
}

TEST_F(SearchIndexTest, InvalidUtf8IsIndexedSafely) {
  Open();
  // Five invalid bytes in a line of more than 50: text, by the 10% rule.
  Write("/latin1.txt",
        "caf\xE9 cr\xE8me br\xFBl\xE9"
        "e dessert, served cold at the end of a meal\n");
  SyncAll();
  auto hits = Query("dessert");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].snippet.find("caf\xEF\xBF\xBD"), std::string::npos);
  // Grep sees the raw bytes.
  auto g = index_->Grep("des+ert", "/", {});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].text,
            "caf\xE9 cr\xE8me br\xFBl\xE9"
            "e dessert, served cold at the end of a meal");
}

TEST_F(SearchIndexTest, ApplyRemoveAndRenameDirectories) {
  Open();
  Write("/d/one.txt", "marker one\n");
  Write("/d/sub/two.txt", "marker two\n");
  Write("/dx.txt", "marker three\n");
  SyncAll();
  std::filesystem::rename(tree_dir_.path() + "/d", tree_dir_.path() + "/e");
  Change rename{Change::Kind::kRename, "/d", "/e"};
  ASSERT_TRUE(index_->Apply({&rename, 1}).ok());
  auto paths = Paths(Query("marker"));
  EXPECT_EQ(std::set<std::string>(paths.begin(), paths.end()),
            (std::set<std::string>{"/e/one.txt", "/e/sub/two.txt", "/dx.txt"}));
  Change bad{Change::Kind::kRename, "/e", "/e/inside"};
  EXPECT_EQ(index_->Apply({&bad, 1}).code(), EINVAL);
  Change rm{Change::Kind::kRemove, "/e", {}};
  ASSERT_TRUE(index_->Apply({&rm, 1}).ok());
  EXPECT_EQ(Paths(Query("marker")), std::vector<std::string>{"/dx.txt"});
  // Upsert of a path that is gone drops it.
  std::filesystem::remove(tree_dir_.path() + "/dx.txt");
  Change up{Change::Kind::kUpsert, "/dx.txt", {}};
  ASSERT_TRUE(index_->Apply({&up, 1}).ok());
  EXPECT_TRUE(Query("marker").empty());
}

TEST_F(SearchIndexTest, Glob) {
  Open();
  for (const char* p :
       {"/src/a.c", "/src/a.h", "/src/lib/b.c", "/src/lib/deep/c.c", "/docs/x.md", "/top.c"}) {
    Write(p, "x\n");
  }
  auto glob = [&](const std::string& pattern, const std::string& under = "/", VisibleFn v = {}) {
    auto r = index_->Glob(pattern, under, v);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(glob("/src/*.c"), (V{"/src/a.c"}));
  EXPECT_EQ(glob("/**/*.c"), (V{"/src/a.c", "/src/lib/b.c", "/src/lib/deep/c.c", "/top.c"}));
  EXPECT_EQ(glob("**/*.c", "/src/lib"), (V{"/src/lib/b.c", "/src/lib/deep/c.c"}));
  EXPECT_EQ(glob("*.{c,h}", "/src"), (V{"/src/a.c", "/src/a.h"}));
  EXPECT_EQ(glob("/src/**/*.c", "/docs"), V{});
  EXPECT_EQ(glob("/nope/*"), V{});
  EXPECT_EQ(glob("/**/*.c", "/", [](const std::string& p) { return p != "/top.c"; }),
            (V{"/src/a.c", "/src/lib/b.c", "/src/lib/deep/c.c"}));
  EXPECT_EQ(index_->Glob("/a{", "/", {}).code(), EINVAL);
}

// ---- grep: equal to GNU grep -rnI on the same tree ----

std::set<std::string> AsSet(const std::vector<GrepMatch>& matches) {
  std::set<std::string> out;
  for (const auto& m : matches) out.insert(m.path + ":" + std::to_string(m.line) + ":" + m.text);
  return out;
}

struct GrepCase {
  const char* pattern;
  bool ignore_case = false;
  bool fixed = false;
};

TEST_F(SearchIndexTest, GrepEqualsGrepRn) {
  SearchIndex::Options small_chunks;
  small_chunks.chunk_lines = 7;  // many chunks per file: matches near chunk edges
  Open(small_chunks);
  const char* words[] = {"alpha",       "Beta",        "gamma",        "DELTA", "epsilon", "foo.bar",
                         "a+b",         "x[1]",        "tab\there",    "end$",  "Zeta_9",  "(paren)",
                         "back\\slash", "caf\xC3\xA9", "\xCE\xA9mega", "aaaab"};
  unsigned seed = 7;
  auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff; };
  for (int f = 0; f < 100; ++f) {  // over 64 candidates: verified on several threads
    std::string text;
    int lines = 1 + next() % 30;
    for (int l = 0; l < lines; ++l) {
      int n = next() % 6;
      for (int w = 0; w < n; ++w) text += std::string(w ? " " : "") + words[next() % std::size(words)];
      text += "\n";
    }
    if (f % 5 == 0 && !text.empty()) text.pop_back();  // no final newline
    Write("/d" + std::to_string(f % 4) + "/f" + std::to_string(f) + ".txt", text);
  }
  Write("/crlf.txt", "alpha\r\nbeta end\r\n");
  Write("/bin.dat", std::string("alpha\0gamma\n", 12));
  SyncAll();

  const GrepCase cases[] = {
      {"alpha"},
      {"Beta"},
      {"beta", true},
      {"DELTA|gamma"},
      {"^alpha"},
      {"gamma$"},
      {"a.c"},    // no literal of 3 bytes: full scan
      {"[0-9]"},  // no literal at all
      {"x*"},     // matches every line, even empty ones
      {"^$"},     // empty lines
      {"eps.*Zeta"},
      {"\\bBeta\\b"},
      {"foo\\.bar"},
      {"zeta_9", true},
      {"caf\xC3\xA9"},  // non-ASCII literal
      {"\xCE\xA9mega"},
      {"a+b", false, true},  // fixed strings with regex metacharacters
      {"x[1]", false, true},
      {"(paren)", false, true},
      {"back\\slash", false, true},
      {"end$", false, true},
      {"FOO.BAR", true, true},
      {"end\r$"},
      // A leading literal found with memmem, the pattern tried where it is.
      {"alpha Beta"},
      {"gamm?a"},  // the literal stops before a quantified byte
      {"Zeta_[0-9]"},
      {"epsilon\\b"},
      {"Beta +gamma"},
      {"aa[ab]b"},  // the first occurrence fails, the next matches
      {"DELTA alpha", false, true},
      {"nothing-matches-this"},
  };
  for (const auto& c : cases) {
    GrepOptions o;
    o.ignore_case = c.ignore_case;
    o.fixed_string = c.fixed;
    auto ours = index_->Grep(c.pattern, "/", o);
    ASSERT_TRUE(ours.ok()) << c.pattern << ": " << ours.status().ToString();
    std::string flags = std::string("-rnI") + (c.fixed ? "F" : "E") + (c.ignore_case ? "i" : "");
    std::string out = Shell("cd " + ShellQuote(tree_dir_.path()) + " && LC_ALL=C.UTF-8 grep " + flags +
                            " -e " + ShellQuote(c.pattern) + " . 2>/dev/null");
    std::set<std::string> want;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) want.insert(line.substr(1));  // "./x" -> "/x"
    EXPECT_EQ(AsSet(*ours), want) << "pattern " << c.pattern;
    if (std::string(c.pattern) != "nothing-matches-this") {
      EXPECT_FALSE(want.empty()) << c.pattern;
    }
  }
  EXPECT_EQ(index_->Grep("(unclosed", "/", {}).code(), EINVAL);
}

TEST_F(SearchIndexTest, GrepOptionsAndScope) {
  Open();
  Write("/a/1.txt", "hit\nmiss\nhit again\n");
  Write("/a/2.txt", "hit\n");
  Write("/b/3.txt", "hit\n");
  SyncAll();
  GrepOptions o;
  auto all = index_->Grep("hit", "/", o);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<GrepMatch>{{"/a/1.txt", 1, "hit"},
                                          {"/a/1.txt", 3, "hit again"},
                                          {"/a/2.txt", 1, "hit"},
                                          {"/b/3.txt", 1, "hit"}}));
  EXPECT_EQ(index_->Grep("hit", "/a", o)->size(), 3u);
  o.max_results = 2;
  EXPECT_EQ(index_->Grep("hit", "/", o)->size(), 2u);
  o.max_results = 0;
  o.files_only = true;
  EXPECT_EQ(*index_->Grep("hit", "/", o),
            (std::vector<GrepMatch>{{"/a/1.txt", 0, ""}, {"/a/2.txt", 0, ""}, {"/b/3.txt", 0, ""}}));
  o.visible = [](const std::string& p) { return !p.starts_with("/a/"); };
  EXPECT_EQ(*index_->Grep("hit", "/", o), (std::vector<GrepMatch>{{"/b/3.txt", 0, ""}}));

  // A file written after indexing is found only when named in also_scan.
  Write("/b/new.txt", "hit new\n");
  o = {};
  EXPECT_EQ(index_->Grep("hit new", "/", o)->size(), 0u);
  o.also_scan = {"/b"};
  EXPECT_EQ(*index_->Grep("hit new", "/", o), (std::vector<GrepMatch>{{"/b/new.txt", 1, "hit new"}}));
}

TEST_F(SearchIndexTest, ParallelVerificationKeepsOrderAndLimit) {
  Open();
  std::vector<GrepMatch> want;
  for (int i = 0; i < 300; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/p/%03d.txt", i);
    std::string text;
    for (int l = 1; l <= 5; ++l) text += l == i % 5 + 1 ? "a needle here\n" : "hay\n";
    Write(name, text);
    want.push_back({name, static_cast<uint32_t>(i % 5 + 1), "a needle here"});
  }
  SyncAll();
  EXPECT_EQ(*index_->Grep("needle", "/", {}), want);
  EXPECT_EQ(*index_->Grep("ne+dle", "/p", {}), want);  // no 3-byte literal: full scan
  GrepOptions o;
  o.max_results = 7;
  EXPECT_EQ(*index_->Grep("needle", "/", o), std::vector<GrepMatch>(want.begin(), want.begin() + 7));
}

TEST_F(SearchIndexTest, ConcurrentQueriesWhileWriting) {
  Open();
  for (int i = 0; i < 50; ++i)
    Write("/base/" + std::to_string(i) + ".txt", "stable content " + std::to_string(i) + "\n");
  SyncAll();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, queries{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop) {
        auto q = index_->Query("stable", Limit(100));
        auto g = index_->Grep("stable content", "/base", {});
        if (!q.ok() || q->size() != 50 || !g.ok() || g->size() != 50) ++failures;
        ++queries;
      }
    });
  }
  for (int round = 0; round < 20; ++round) {
    std::vector<Change> changes;
    for (int i = 0; i < 20; ++i) {
      std::string p = "/churn/" + std::to_string(i) + ".txt";
      Write(p, "churning round " + std::to_string(round) + "\n");
      changes.push_back({Change::Kind::kUpsert, p, {}});
    }
    ASSERT_TRUE(index_->Apply(changes).ok());
  }
  while (queries < 20) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Query("churning", Limit(100)).size(), 20u);
}

// Grep through many small transactions (a segment each, merged as they
// pile up), rewrites (a new id each) and removals: still exactly grep -rn.
TEST_F(SearchIndexTest, GrepStaysExactThroughSegmentMergesRewritesAndRemovals) {
  Open();
  const char* words[] = {"alpha", "Beta", "gamma", "delta", "needle", "hay"};
  unsigned seed = 3;
  auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff; };
  auto text = [&] {
    std::string t;
    for (int w = 0, n = 1 + static_cast<int>(next() % 8); w < n; ++w)
      t += std::string(words[next() % 6]) + " ";
    return t + "\n";
  };
  const size_t rounds = TrigramIndex::kFanout * TrigramIndex::kFanout + 5;
  for (size_t r = 0; r < rounds; ++r) {
    std::vector<Change> changes;
    const std::string p = "/f" + std::to_string(next() % 40) + ".txt";
    if (r % 7 == 6 && std::filesystem::exists(tree_dir_.path() + p)) {
      std::filesystem::remove(tree_dir_.path() + p);
      changes.push_back({Change::Kind::kRemove, p, {}});
    } else {
      Write(p, text());
      changes.push_back({Change::Kind::kUpsert, p, {}});
    }
    ASSERT_TRUE(index_->Apply(changes).ok());
  }
  for (const char* pattern : {"needle", "Beta", "alpha gamma", "hay\\b", "delta|needle"}) {
    auto ours = index_->Grep(pattern, "/", {});
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    std::string out = Shell("cd " + ShellQuote(tree_dir_.path()) + " && LC_ALL=C grep -rnE -e " +
                            ShellQuote(pattern) + " . 2>/dev/null");
    std::set<std::string> want;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) want.insert(line.substr(1));
    EXPECT_EQ(AsSet(*ours), want) << pattern;
    EXPECT_FALSE(want.empty()) << pattern;
  }
}

// An index of the first format (trigrams in FTS5, reused file ids) is
// emptied on open, keeping path contexts; a Sync fills it again.
TEST_F(SearchIndexTest, OlderIndexFormatIsRebuilt) {
  const std::string db_path = db_dir_.path() + "/search.db";
  {
    auto db = SqliteDb::Open(db_path, SqliteOptions{.what = "old index"});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value);
      CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
                         size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
      CREATE TABLE chunks(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, start_line INTEGER NOT NULL,
                          end_line INTEGER NOT NULL, text TEXT NOT NULL, embedding BLOB);
      CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id');
      CREATE VIRTUAL TABLE chunks_tri USING fts5(text, content='chunks', content_rowid='id',
                                                 tokenize='trigram');
      CREATE TABLE path_contexts(path TEXT PRIMARY KEY, description TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema_version', 1);
      INSERT INTO files VALUES (1, '/stale.txt', 5, 1);
      INSERT INTO path_contexts VALUES ('/docs', 'the manual');
    )sql")
                    .ok());
  }
  Open();
  EXPECT_EQ(index_->Counts()->files, 0u);
  auto contexts = index_->ListPathContexts();
  ASSERT_TRUE(contexts.ok());
  ASSERT_EQ(contexts->size(), 1u);
  EXPECT_EQ(contexts->at(0).description, "the manual");
  Write("/a.txt", "found again\n");
  SyncAll();
  auto g = index_->Grep("again", "/", {});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, (std::vector<GrepMatch>{{"/a.txt", 1, "found again"}}));
  Open();  // reopening the new format keeps it
  EXPECT_EQ(index_->Counts()->files, 1u);
}

// FTS5 buffers 32 MiB of postings per write transaction, in old and new
// indexes alike, instead of writing a segment per MiB.
TEST_F(SearchIndexTest, KeywordIndexBuffersLargeSegments) {
  Open();
  auto db = SqliteDb::Open(db_dir_.path() + "/search.db", SqliteOptions{.what = "index"});
  ASSERT_TRUE(db.ok());
  Statement s = (*db)->Prepare("SELECT v FROM chunks_fts_config WHERE k = 'hashsize'");
  ASSERT_TRUE(s.Next()) << s.status().ToString();
  EXPECT_EQ(s.Int(0), 32 << 20);
}

}  // namespace
}  // namespace nexus::search
