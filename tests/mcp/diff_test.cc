// The unified diff of the edit tool: exact output for small cases, and for
// many random edits, that applying the diff to the old text gives the new.
#include "mcp/diff.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nexus::mcp {
namespace {

TEST(UnifiedDiff, EqualTextsHaveNoDiff) {
  EXPECT_EQ(UnifiedDiff("", "", "/a"), "");
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "/a"), "");
}

TEST(UnifiedDiff, OneChangedLineWithContext) {
  const std::string before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  const std::string after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff(before, after, "/f.txt"),
            "--- a/f.txt\n+++ b/f.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, FromEmptyAndToEmpty) {
  EXPECT_EQ(UnifiedDiff("", "x\ny\n", "/n"), "--- a/n\n+++ b/n\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(UnifiedDiff("x\n", "", "/n"), "--- a/n\n+++ b/n\n@@ -1 +0,0 @@\n-x\n");
}

TEST(UnifiedDiff, MissingFinalNewlineIsMarked) {
  EXPECT_EQ(UnifiedDiff("a\nb", "a\nb\n", "/n"),
            "--- a/n\n+++ b/n\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 2 || i == 18 ? "x" : std::to_string(i)) + "\n";
  }
  const std::string d = UnifiedDiff(before, after, "/n");
  EXPECT_NE(d.find("@@ -1,5 +1,5 @@"), std::string::npos) << d;
  EXPECT_NE(d.find("@@ -15,6 +15,6 @@"), std::string::npos) << d;
}

TEST(UnifiedDiff, NearChangesShareAHunk) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 5 || i == 11 ? "x" : std::to_string(i)) + "\n";
  }
  const std::string d = UnifiedDiff(before, after, "/n");
  EXPECT_EQ(d.find("\n@@ -", d.find("\n@@ -") + 1), std::string::npos) << d;  // one hunk
  EXPECT_NE(d.find("@@ -2,13 +2,13 @@"), std::string::npos) << d;
}

// Applies a unified diff the way patch(1) does, checking every context and
// removed line against `before`.
std::string Apply(const std::string& before, const std::string& diff) {
  std::vector<std::string> lines;
  {
    size_t s = 0;
    while (s < before.size()) {
      size_t nl = before.find('\n', s);
      size_t e = nl == std::string::npos ? before.size() : nl + 1;
      lines.push_back(before.substr(s, e - s));
      s = e;
    }
  }
  std::vector<std::string> d;
  {
    std::istringstream in(diff);
    std::string l;
    while (std::getline(in, l)) d.push_back(l);
  }
  std::string out;
  size_t pos = 0;  // next line of `before` not yet copied
  for (size_t i = 2; i < d.size();) {
    EXPECT_EQ(d[i].rfind("@@ -", 0), 0u) << d[i];
    int start = std::stoi(d[i].substr(4));
    size_t from = start == 0 ? 0 : static_cast<size_t>(start - 1);
    // An empty old range names the line before it.
    if (d[i].find(",0 ") != std::string::npos && d[i].find(",0 ") < d[i].find('+'))
      from = static_cast<size_t>(start);
    while (pos < from) out += lines[pos++];
    ++i;
    std::string* last = nullptr;
    while (i < d.size() && d[i].rfind("@@", 0) != 0) {
      const std::string& l = d[i];
      if (l == "\\ No newline at end of file") {
        if (last && !last->empty() && last->back() == '\n') last->pop_back();
        ++i;
        continue;
      }
      const std::string text = l.substr(1) + "\n";
      if (l[0] == ' ' || l[0] == '-') {
        EXPECT_LT(pos, lines.size());
        if (pos >= lines.size()) return "";
        const bool last_no_nl = lines[pos].empty() || lines[pos].back() != '\n';
        EXPECT_EQ(lines[pos], last_no_nl ? l.substr(1) : text);
        if (l[0] == ' ') {
          out += lines[pos];
          last = nullptr;
        }
        ++pos;
      } else {
        EXPECT_EQ(l[0], '+');
        out += text;
        last = &out;
      }
      ++i;
    }
  }
  while (pos < lines.size()) out += lines[pos++];
  return out;
}

TEST(UnifiedDiff, RandomEditsRoundTrip) {
  std::mt19937 rng(17);
  for (int round = 0; round < 400; ++round) {
    std::vector<std::string> a;
    const int n = static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) a.push_back(std::string(1, static_cast<char>('a' + rng() % 5)));
    std::vector<std::string> b = a;
    const int edits = static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const int op = static_cast<int>(rng() % 3);
      if (op == 0 || b.empty())
        b.insert(b.begin() + (b.empty() ? 0 : rng() % (b.size() + 1)),
                 std::string(1, static_cast<char>('a' + rng() % 5)));
      else if (op == 1)
        b.erase(b.begin() + rng() % b.size());
      else
        b[rng() % b.size()] = "z";
    }
    std::string before, after;
    for (auto& l : a) before += l + "\n";
    for (auto& l : b) after += l + "\n";
    if (rng() % 4 == 0 && !after.empty()) after.pop_back();  // sometimes no final newline
    const std::string d = UnifiedDiff(before, after, "/r");
    if (before == after) {
      EXPECT_EQ(d, "");
      continue;
    }
    EXPECT_EQ(Apply(before, d), after) << "before:\n" << before << "after:\n" << after << "diff:\n" << d;
  }
}

TEST(UnifiedDiff, LargeFileSmallEditIsCheap) {
  std::string before;
  for (int i = 0; i < 200000; ++i) before += "line " + std::to_string(i) + "\n";
  std::string after = before;
  after.replace(after.find("line 100000\n"), 12, "changed\n");
  const std::string d = UnifiedDiff(before, after, "/big");
  EXPECT_NE(d.find("-line 100000\n+changed\n"), std::string::npos);
}

}  // namespace
}  // namespace nexus::mcp
