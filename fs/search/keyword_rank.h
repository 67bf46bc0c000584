// Keyword ranking with bounded work for frequent terms.
//
// A keyword query is its words OR-ed (KeywordPhrases), ranked by FTS5's
// BM25, which is a sum over the query's phrases of each phrase's own
// contribution in the chunk. Ranking by FTS5 alone scores every chunk that
// holds any phrase: ~2 µs a chunk, so a query holding a word found in a
// third of the chunks ("return", "this") costs 100 ms and more. Bounded
// ranking cuts that while giving the same top results:
//
//  - Each phrase is probed (its first kRareLimit + 1 chunk ids, in rowid
//    order: cheap). A phrase with at most kRareLimit chunks is *rare*, the
//    others *frequent*.
//  - Chunks holding a rare phrase are scored exactly by FTS5 (with the rare
//    phrases counted twice, then subtracted: see keyword_rank.cc).
//  - Each frequent phrase has an *impact list* (TermImpacts): its kImpactDepth
//    best chunks by its own contribution, with the contribution, built by
//    FTS5. BM25's statistics (chunk count, average length, the phrase's
//    chunk count) move with every change of the index, and every
//    contribution with them, within bounds computed from the table's
//    totals: the list is used with its contributions widened to those
//    bounds while they stay within kMaxDrift, then rebuilt (at the cost of
//    ranking that phrase alone, at most every kImpactRebuildInterval). A
//    chunk with no rare phrase scores the sum of its frequent phrases'
//    contributions: bounded where it is in every list that could hold it,
//    bounded above by the lists' last entries otherwise.
//  - Chunks added while a list was being built are scored exactly by FTS5
//    (a rowid range, cheap).
//  - The results are taken best first through the caller's filter (path
//    prefix, visibility) while each one's lower bound is at least the upper
//    bound of every candidate left and of the chunks outside the lists:
//    the order is then the exhaustive one (a listed chunk's score is
//    reported within its bounds, exact when the index has not changed since
//    the list was built). Otherwise (e.g. a filter that hides most of the
//    candidates) the caller ranks exhaustively.
//
// Everything here works on the search index's FTS5 table, `chunks_fts`
// (search_index.cc has the schema).
//
// Threading: TermImpacts is thread-safe; BoundedKeywordRank runs on the
// caller's read connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/sqlite_db.h"
#include "base/status.h"

namespace nexus::search {

// A phrase with more chunks than this is frequent.
inline constexpr size_t kRareLimit = 2048;
// Entries kept per frequent phrase.
inline constexpr size_t kImpactDepth = 512;
// A list is used while the index's statistics have moved its scores by at
// most this fraction (its bounds widen with them), then rebuilt.
inline constexpr double kMaxDrift = 0.05;
// A list past its drift is rebuilt at most this often.
inline constexpr std::chrono::seconds kImpactRebuildInterval{5};

// The quoted FTS5 phrases of free text: words are runs of ASCII letters,
// digits, '_' and non-ASCII bytes (the tokenizer splits them further
// inside the quotes: "foo_bar" is the phrase foo bar), ASCII letters
// lower-cased as the tokenizer folds them; words of only '_' are dropped.
std::vector<std::string> KeywordPhrases(std::string_view text);
// The phrase of one word, as KeywordPhrases quotes it.
std::string PhraseOf(std::string_view word);
// The phrases OR-ed: the FTS5 expression of a keyword query.
std::string KeywordExpression(std::string_view text);

// chunks_fts's statistics: its chunk count and their total token count
// (from FTS5's averages record; zeros when empty).
struct FtsTotals {
  int64_t rows = 0;
  int64_t tokens = 0;
  bool operator==(const FtsTotals&) const = default;
};
Result<FtsTotals> ReadFtsTotals(SqliteDb& c);

class TermImpacts {
 public:
  // Today's contribution of a listed chunk lies between the listed one
  // times `low` and times `high`.
  struct Drift {
    double low = 1, high = 1;
  };
  struct List {
    // Best first: chunk id and the phrase's contribution (-bm25 of the
    // phrase alone, > 0).
    std::vector<std::pair<int64_t, double>> top;
    bool complete = false;  // every chunk of the phrase is in `top`
    int64_t max_id = 0;     // chunks above this id came later
    FtsTotals totals;       // the table's when built
    int64_t chunks = 0;     // chunks holding the phrase then
    std::chrono::steady_clock::time_point built;
    // How far the contributions may have moved since, from the table's
    // totals and last chunk now (the phrase's chunks moved by at most the
    // chunks added and removed).
    Drift DriftSince(const FtsTotals& now, int64_t now_max_id) const;
  };
  explicit TermImpacts(size_t depth = kImpactDepth, size_t max_lists = 4096)
      : depth_(depth), max_lists_(max_lists) {}

  // The list of `phrase`, built now when missing or drifted by more than
  // kMaxDrift (with `exact`: at all); null when it would be rebuilt but was
  // built less than kImpactRebuildInterval ago.
  Result<std::shared_ptr<const List>> Get(SqliteDb& c, const std::string& phrase, const FtsTotals& totals,
                                          int64_t max_id, bool exact = false);

 private:
  const size_t depth_;  // entries kept per list
  const size_t max_lists_;
  Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const List>> lists_ GUARDED_BY(mu_);
};

// The best `want` chunks matching `phrases` (OR-ed) that `accept` takes
// (it says whether a chunk passes the caller's filters; it may be asked
// more than once about one), best first, with their scores (-bm25); or
// nothing when the bounds cannot prove them, or no phrase is frequent (more
// than `rare_limit` chunks): the caller then ranks exhaustively. Lists that
// have drifted but prove nothing are rebuilt once (see TermImpacts::Get).
Result<std::optional<std::vector<std::pair<int64_t, double>>>> BoundedKeywordRank(
    SqliteDb& c, const std::vector<std::string>& phrases, TermImpacts& impacts, size_t want,
    const std::function<bool(int64_t id)>& accept, size_t rare_limit = kRareLimit);

}  // namespace nexus::search
