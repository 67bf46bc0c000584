#include "fs/search/keyword_rank.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

namespace nexus::search {
namespace {

constexpr const char kProbe[] = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1 LIMIT ?2";
constexpr const char kScore[] = "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1";
constexpr const char kScoreAfter[] =
    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 AND rowid > ?2";
constexpr const char kImpactList[] =
    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 AND rowid <= ?2 "
    "ORDER BY rank LIMIT ?3";
constexpr const char kCount[] = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1 AND rowid <= ?2";
constexpr const char kMaxId[] = "SELECT rowid FROM chunks_fts ORDER BY rowid DESC LIMIT 1";
// FTS5's averages record (id 1 of its %_data table): the row count, then
// the token count of each column.
constexpr const char kAverages[] = "SELECT block FROM chunks_fts_data WHERE id = 1";

std::string Quote(std::string_view term) {
  std::string out = "\"";
  for (char c : term) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

std::string OrOf(const std::vector<std::string>& phrases) {
  std::string expr;
  for (const std::string& p : phrases) expr += (expr.empty() ? "" : " OR ") + p;
  return expr;
}

// SQLite's varint (as FTS5 stores its counters): big-endian 7-bit groups,
// the high bit saying more follow; a ninth byte gives all its 8 bits.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (*pos >= in.size()) return false;
    const auto b = static_cast<unsigned char>(in[(*pos)++]);
    if (i == 8) {
      *out = (v << 8) | b;
      return true;
    }
    v = (v << 7) | (b & 0x7f);
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

// `sql` with `expr` bound first (and `more` after it) into id -> -bm25 (the
// phrase scores are positive).
Status Scores(SqliteDb& c, const char* sql, const std::string& expr, std::map<int64_t, double>* out,
              int64_t more = -1) {
  Statement s = c.Prepare(sql);
  s.Bind(1, expr);
  if (more >= 0) s.Bind(2, more);
  while (s.Next()) (*out)[s.Int(0)] = -s.Real(1);
  return s.status();
}

}  // namespace

std::string PhraseOf(std::string_view word) {
  // The tokenizer folds case: one phrase (and one impact list) per word.
  std::string w(word);
  for (char& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return Quote(w);
}

std::vector<std::string> KeywordPhrases(std::string_view text) {
  std::vector<std::string> out;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); };
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && word(text[j])) ++j;
    if (j > i) {
      std::string_view term = text.substr(i, j - i);
      if (term.find_first_not_of('_') != std::string_view::npos) out.push_back(PhraseOf(term));
    }
    i = j;
  }
  return out;
}

std::string KeywordExpression(std::string_view text) { return OrOf(KeywordPhrases(text)); }

Result<FtsTotals> ReadFtsTotals(SqliteDb& c) {
  Statement s = c.Prepare(kAverages);
  if (!s.Next()) {
    NEXUS_RETURN_IF_ERROR(s.status());
    return FtsTotals{};
  }
  size_t pos = 0;
  uint64_t rows = 0, tokens = 0;
  if (!GetVarint(s.BlobView(0), &pos, &rows) || !GetVarint(s.BlobView(0), &pos, &tokens))
    return Status::Error(EIO, "unreadable averages record in chunks_fts_data");
  return FtsTotals{static_cast<int64_t>(rows), static_cast<int64_t>(tokens)};
}

Result<std::shared_ptr<const TermImpacts::List>> TermImpacts::Get(SqliteDb& c, const std::string& phrase,
                                                                  const FtsTotals& totals, int64_t max_id,
                                                                  bool exact) {
  {
    MutexLock lk(mu_);
    auto it = lists_.find(phrase);
    if (it != lists_.end()) {
      auto drift = it->second->DriftSince(totals, max_id);
      if (exact ? drift.low == 1 && drift.high == 1 : drift.high <= drift.low * (1 + kMaxDrift))
        return it->second;
      if (std::chrono::steady_clock::now() - it->second->built < kImpactRebuildInterval)
        return std::shared_ptr<const List>();
    }
  }
  auto list = std::make_shared<List>();
  list->totals = totals;
  list->max_id = max_id;
  list->built = std::chrono::steady_clock::now();
  Statement s = c.Prepare(kImpactList);
  s.Bind(1, phrase).Bind(2, max_id).Bind(3, static_cast<int64_t>(depth_));
  while (s.Next()) list->top.emplace_back(s.Int(0), -s.Real(1));
  NEXUS_RETURN_IF_ERROR(s.status());
  list->complete = list->top.size() < depth_;
  Statement n = c.Prepare(kCount);
  n.Bind(1, phrase).Bind(2, max_id);
  if (n.Next()) list->chunks = n.Int(0);
  NEXUS_RETURN_IF_ERROR(n.status());
  MutexLock lk(mu_);
  if (lists_.size() >= max_lists_) lists_.clear();
  lists_[phrase] = list;
  return std::shared_ptr<const List>(list);
}

namespace {

// FTS5's idf of a phrase in `hits` of `rows` chunks.
double Idf(double rows, double hits) {
  const double idf = std::log((rows - hits + 0.5) / (hits + 0.5));
  return idf <= 0 ? 1e-6 : idf;
}

}  // namespace

TermImpacts::Drift TermImpacts::List::DriftSince(const FtsTotals& now, int64_t now_max_id) const {
  if (now == totals && now_max_id == max_id) return {1, 1};
  // Chunks are never changed, only added (with higher ids) and removed:
  // at most `added` came, so at most `removed` went.
  const double added = static_cast<double>(std::max<int64_t>(now_max_id - max_id, 0));
  const double removed = std::max(0.0, static_cast<double>(totals.rows - now.rows) + added);
  const double rows = static_cast<double>(now.rows);
  const double fewest = std::max(0.0, static_cast<double>(chunks) - removed);
  const double most = std::min(rows, static_cast<double>(chunks) + added);
  const double idf_then = Idf(static_cast<double>(totals.rows), static_cast<double>(chunks));
  // BM25's length factor moves by at most the ratio of the averages.
  const double avg_then =
      static_cast<double>(totals.tokens) / std::max<double>(static_cast<double>(totals.rows), 1);
  const double avg_now = static_cast<double>(now.tokens) / std::max(rows, 1.0);
  const double a = avg_then > 0 ? avg_now / avg_then : 1;
  return {Idf(rows, most) / idf_then * std::min(1.0, a), Idf(rows, fewest) / idf_then * std::max(1.0, a)};
}

namespace {

// One ranking over `lists` (see BoundedKeywordRank): the best `want`
// accepted chunks, or nothing when the bounds cannot prove them.
Result<std::optional<std::vector<std::pair<int64_t, double>>>> RankWith(
    SqliteDb& c, const std::vector<std::string>& phrases, const std::vector<std::string>& rare,
    const std::vector<std::shared_ptr<const TermImpacts::List>>& lists, const FtsTotals& totals,
    int64_t max_id, size_t want, const std::function<bool(int64_t id)>& accept) {
  int64_t oldest = max_id;
  for (const auto& l : lists) oldest = std::min(oldest, l->max_id);
  // Exact scores: the chunks holding a rare phrase, and those added while
  // a list was being built. With the rare phrases in the expression twice, FTS5's
  // BM25 (a sum over the expression's phrases) counts them twice: their
  // own score, taken alone, is subtracted.
  const std::string full = OrOf(phrases);
  std::map<int64_t, double> exact;
  if (!rare.empty()) {
    const std::string rare_or = OrOf(rare);
    std::map<int64_t, double> doubled, rare_only;
    NEXUS_RETURN_IF_ERROR(Scores(c, kScore, "(" + rare_or + ") AND (" + full + ")", &doubled));
    NEXUS_RETURN_IF_ERROR(Scores(c, kScore, rare_or, &rare_only));
    for (const auto& [id, score] : doubled) {
      auto r = rare_only.find(id);
      if (r != rare_only.end()) exact[id] = score - r->second;
    }
  }
  if (max_id > oldest) NEXUS_RETURN_IF_ERROR(Scores(c, kScoreAfter, full, &exact, oldest));

  // The other chunks hold frequent phrases only: from the lists, bounds on
  // their score. A list's contributions were computed on the statistics of
  // its time; scaled by the list's drift they bound today's. A chunk
  // missing from a list that is not complete may still hold its phrase, up
  // to the list's last contribution.
  struct Candidate {
    int64_t id;
    double low, high;
  };
  std::vector<TermImpacts::Drift> drift;
  for (const auto& l : lists) drift.push_back(l->DriftSince(totals, max_id));
  auto tail = [&](size_t k) {
    const auto& top = lists[k]->top;
    return lists[k]->complete || top.empty() ? 0.0 : top.back().second * drift[k].high;
  };
  double outside = 0;  // the most a chunk in no list can score
  for (size_t k = 0; k < lists.size(); ++k) outside += tail(k);
  std::unordered_map<int64_t, std::pair<Candidate, std::vector<bool>>> partial;
  for (size_t k = 0; k < lists.size(); ++k) {
    for (const auto& [id, contribution] : lists[k]->top) {
      if (exact.count(id)) continue;
      auto& [cand, in] = partial[id];
      if (in.empty()) {
        cand.id = id;
        in.assign(lists.size(), false);
      }
      cand.low += contribution * drift[k].low;
      cand.high += contribution * drift[k].high;
      in[k] = true;
    }
  }
  std::vector<Candidate> all;
  for (const auto& [id, score] : exact) all.push_back({id, score, score});
  for (auto& [id, entry] : partial) {
    auto& [cand, in] = entry;
    for (size_t k = 0; k < lists.size(); ++k)
      if (!in[k]) cand.high += tail(k);
    all.push_back(cand);
  }
  // Best first by the lower bound. A candidate is taken when its lower
  // bound is at least the upper bound of every candidate not yet taken and
  // of the chunks outside: its true score is then at least theirs.
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.low != b.low ? a.low > b.low : a.id < b.id;
  });
  std::multiset<double> highs;
  for (const Candidate& x : all) highs.insert(x.high);
  std::vector<std::pair<int64_t, double>> taken;
  for (const Candidate& x : all) {
    highs.erase(highs.find(x.high));
    const double rest = std::max(outside, highs.empty() ? 0.0 : *highs.rbegin());
    if (x.low < rest) break;
    // Within the lists' drift the score is known to this midpoint.
    if (accept(x.id)) taken.emplace_back(x.id, (x.low + x.high) / 2);
    if (taken.size() == want) return std::optional(std::move(taken));
  }
  return std::optional<std::vector<std::pair<int64_t, double>>>();
}

}  // namespace

Result<std::optional<std::vector<std::pair<int64_t, double>>>> BoundedKeywordRank(
    SqliteDb& c, const std::vector<std::string>& phrases, TermImpacts& impacts, size_t want,
    const std::function<bool(int64_t id)>& accept, size_t rare_limit) {
  using Ranked = std::optional<std::vector<std::pair<int64_t, double>>>;
  constexpr size_t kMaxPhrases = 16;
  if (phrases.empty() || phrases.size() > kMaxPhrases || want == 0) return Ranked();

  // Rare and frequent phrases, by their first rare_limit + 1 chunks.
  std::vector<std::string> rare;
  std::vector<size_t> frequent;  // indexes into `phrases`
  for (size_t i = 0; i < phrases.size(); ++i) {
    Statement s = c.Prepare(kProbe);
    s.Bind(1, phrases[i]).Bind(2, static_cast<int64_t>(rare_limit + 1));
    size_t n = 0;
    while (s.Next()) ++n;
    NEXUS_RETURN_IF_ERROR(s.status());
    if (n > rare_limit)
      frequent.push_back(i);
    else
      rare.push_back(phrases[i]);
  }
  if (frequent.empty()) return Ranked();  // scoring everything is cheap then

  auto totals = ReadFtsTotals(c);
  if (!totals.ok()) return totals.status();
  int64_t max_id = 0;
  {
    Statement s = c.Prepare(kMaxId);
    if (s.Next()) max_id = s.Int(0);
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  // The lists as they are (within their drift), then, if that proves
  // nothing and some have drifted, rebuilt on today's statistics.
  std::vector<std::shared_ptr<const TermImpacts::List>> lists;
  for (int pass = 0; pass < 2; ++pass) {
    lists.clear();
    bool drifted = false;
    for (size_t i : frequent) {
      auto l = impacts.Get(c, phrases[i], *totals, max_id, /*exact=*/pass == 1);
      if (!l.ok()) return l.status();
      if (*l == nullptr) return Ranked();  // changing too often to keep up
      auto d = (*l)->DriftSince(*totals, max_id);
      drifted |= d.low != 1 || d.high != 1;
      lists.push_back(std::move(l).value());
    }
    auto ranked = RankWith(c, phrases, rare, lists, *totals, max_id, want, accept);
    if (!ranked.ok() || ranked->has_value() || !drifted) return ranked;
  }
  return Ranked();
}

}  // namespace nexus::search
