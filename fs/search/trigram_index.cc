#include "fs/search/trigram_index.h"

#include <algorithm>
#include <array>
#include <string>

namespace nexus::search {
namespace {

constexpr uint64_t kDocBits = 40;
constexpr uint64_t kDocMask = (uint64_t{1} << kDocBits) - 1;

constexpr const char kInsertSegment[] = "INSERT INTO tri_segments(level) VALUES (?1)";
constexpr const char kSegmentsAt[] = "SELECT id FROM tri_segments WHERE level = ?1 ORDER BY id";
constexpr const char kAllSegments[] = "SELECT id FROM tri_segments ORDER BY id";
constexpr const char kInsertRow[] = "INSERT INTO tri_postings(seg, bucket, data) VALUES (?1, ?2, ?3)";
constexpr const char kRowsOf[] = "SELECT bucket, data FROM tri_postings WHERE seg = ?1 ORDER BY bucket";
constexpr const char kRow[] = "SELECT data FROM tri_postings WHERE seg = ?1 AND bucket = ?2";
constexpr const char kDeleteRows[] = "DELETE FROM tri_postings WHERE seg = ?1";
constexpr const char kDeleteSegment[] = "DELETE FROM tri_segments WHERE id = ?1";
constexpr const char kCountSegments[] = "SELECT count(*) FROM tri_segments";
constexpr const char kCountRows[] = "SELECT count(*), coalesce(sum(length(data)), 0) FROM tri_postings";

inline uint8_t Lower(char c) {
  auto b = static_cast<uint8_t>(c);
  return b >= 'A' && b <= 'Z' ? static_cast<uint8_t>(b + ('a' - 'A')) : b;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view in, size_t& pos, uint64_t* v) {
  uint64_t out = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    auto b = static_cast<uint8_t>(in[pos++]);
    out |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *v = out;
      return true;
    }
  }
  return false;
}

Status Corrupt() { return Status::Error(EIO, "search index: corrupt trigram row"); }

// One bucket row being written: lists must come in ascending trigram order,
// each list's ids ascending.
class RowBuilder {
 public:
  void BeginList(uint8_t third) {
    thirds_.push_back(static_cast<char>(third));
    lengths_.push_back(0);
    last_ = 0;
  }
  void AddDoc(uint64_t doc) {
    const size_t before = lists_.size();
    PutVarint(lists_, doc - last_);
    last_ = doc;
    lengths_.back() += lists_.size() - before;
  }
  bool empty() const { return thirds_.empty(); }
  std::string Finish() {
    std::string out;
    PutVarint(out, thirds_.size());
    out += thirds_;
    for (size_t len : lengths_) PutVarint(out, len);
    out += lists_;
    thirds_.clear();
    lengths_.clear();
    lists_.clear();
    return out;
  }

 private:
  std::string thirds_;
  std::vector<size_t> lengths_;
  std::string lists_;
  uint64_t last_ = 0;
};

// The lists of a bucket row, by third byte.
struct RowView {
  std::string_view thirds;
  std::vector<std::string_view> lists;
};

Result<RowView> ParseRow(std::string_view data) {
  size_t pos = 0;
  uint64_t n = 0;
  if (!GetVarint(data, pos, &n) || n > 256 || data.size() - pos < n) return Corrupt();
  RowView row;
  row.thirds = data.substr(pos, n);
  pos += n;
  std::vector<uint64_t> lengths(n);
  for (auto& len : lengths)
    if (!GetVarint(data, pos, &len)) return Corrupt();
  row.lists.reserve(n);
  for (uint64_t len : lengths) {
    if (data.size() - pos < len) return Corrupt();
    row.lists.push_back(data.substr(pos, len));
    pos += len;
  }
  return row;
}

Status DecodeList(std::string_view list, std::vector<int64_t>* out) {
  size_t pos = 0;
  uint64_t doc = 0;
  while (pos < list.size()) {
    uint64_t delta = 0;
    if (!GetVarint(list, pos, &delta)) return Corrupt();
    doc += delta;
    out->push_back(static_cast<int64_t>(doc));
  }
  return Status::Ok();
}

Status Insert(SqliteDb& db, int64_t seg, uint32_t bucket, RowBuilder& row) {
  return db.Prepare(kInsertRow)
      .Bind(1, seg)
      .Bind(2, bucket)
      .BindBlob(3, row.Finish())
      .Run("write trigram row");
}

}  // namespace

const char* const TrigramIndex::kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tri_segments(id INTEGER PRIMARY KEY, level INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tri_postings(
  seg INTEGER NOT NULL, bucket INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY(seg, bucket)) WITHOUT ROWID;
)sql";

TrigramIndex::TrigramIndex(const char* live_docs_sql) : live_docs_sql_(live_docs_sql) {}

std::vector<uint32_t> TrigramIndex::Extract(std::string_view text) {
  // Which trigrams were seen (2^24 bits), per thread, cleared after each text.
  thread_local std::vector<uint64_t> seen((size_t{1} << 24) / 64, 0);
  std::vector<uint32_t> out;
  uint32_t t = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    t = ((t << 8) | Lower(text[i])) & 0xFFFFFF;
    if (i < 2) continue;
    uint64_t& word = seen[t >> 6];
    const uint64_t bit = uint64_t{1} << (t & 63);
    if (word & bit) continue;
    word |= bit;
    out.push_back(t);
  }
  for (uint32_t x : out) seen[x >> 6] = 0;
  return out;
}

void TrigramIndex::AddTrigrams(int64_t doc, const std::vector<uint32_t>& trigrams) {
  for (uint32_t x : trigrams)
    pending_.push_back((static_cast<uint64_t>(x) << kDocBits) | (static_cast<uint64_t>(doc) & kDocMask));
  docs_added_.push_back(doc);
}

Status TrigramIndex::WriteSegment(SqliteDb& db, const std::vector<uint64_t>& pairs) {
  NEXUS_RETURN_IF_ERROR(db.Prepare(kInsertSegment).Bind(1, 0).Run("add trigram segment"));
  const int64_t seg = db.LastInsertId();
  RowBuilder row;
  uint32_t bucket = 0, tri = UINT32_MAX;
  for (uint64_t p : pairs) {
    const auto t = static_cast<uint32_t>(p >> kDocBits);
    if (t != tri) {
      if (!row.empty() && (t >> 8) != bucket) NEXUS_RETURN_IF_ERROR(Insert(db, seg, bucket, row));
      tri = t;
      bucket = t >> 8;
      row.BeginList(static_cast<uint8_t>(t & 0xFF));
    }
    row.AddDoc(p & kDocMask);
  }
  if (!row.empty()) NEXUS_RETURN_IF_ERROR(Insert(db, seg, bucket, row));
  return Status::Ok();
}

Status TrigramIndex::Commit(SqliteDb& db) {
  if (pending_.empty()) return Status::Ok();
  // Documents are added in ascending id order, so a stable sort by trigram
  // alone (two counting passes: third byte, then the first two) leaves each
  // trigram's ids ascending. Several times faster than a comparison sort.
  if (!std::is_sorted(docs_added_.begin(), docs_added_.end())) {
    std::sort(pending_.begin(), pending_.end());
  } else {
    std::vector<uint64_t> tmp(pending_.size());
    auto pass = [](const std::vector<uint64_t>& in, std::vector<uint64_t>& out, int shift, size_t buckets) {
      std::vector<size_t> start(buckets + 1, 0);
      for (uint64_t p : in) ++start[((p >> shift) & (buckets - 1)) + 1];
      for (size_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
      for (uint64_t p : in) out[start[(p >> shift) & (buckets - 1)]++] = p;
    };
    pass(pending_, tmp, kDocBits, 256);                  // third byte
    pass(tmp, pending_, kDocBits + 8, size_t{1} << 16);  // first two bytes
  }
  docs_added_.clear();
  Status st = WriteSegment(db, pending_);
  pending_.clear();
  NEXUS_RETURN_IF_ERROR(st);
  for (int level = 0;; ++level) {
    std::vector<int64_t> segs;
    Statement q = db.Prepare(kSegmentsAt);
    q.Bind(1, level);
    while (q.Next()) segs.push_back(q.Int(0));
    NEXUS_RETURN_IF_ERROR(q.status());
    if (segs.size() < kFanout) return Status::Ok();
    NEXUS_RETURN_IF_ERROR(MergeLevel(db, level, segs));
  }
}

Status TrigramIndex::MergeLevel(SqliteDb& db, int level, const std::vector<int64_t>& segs) {
  std::vector<int64_t> live;
  {
    Statement q = db.Prepare(live_docs_sql_);
    while (q.Next()) live.push_back(q.Int(0));
    NEXUS_RETURN_IF_ERROR(q.status());
  }
  std::sort(live.begin(), live.end());

  NEXUS_RETURN_IF_ERROR(db.Prepare(kInsertSegment).Bind(1, level + 1).Run("add trigram segment"));
  const int64_t out_seg = db.LastInsertId();
  {
    // A k-way merge of the segments' rows by bucket; the new segment's id
    // sorts after every input, so its rows never meet the open cursors.
    std::vector<Statement> cursors;
    std::vector<bool> has_row;
    for (int64_t seg : segs) {
      cursors.push_back(db.Prepare(kRowsOf));
      cursors.back().Bind(1, seg);
      has_row.push_back(cursors.back().Next());
      NEXUS_RETURN_IF_ERROR(cursors.back().status());
    }
    // Segments of one level hold disjoint, ascending ranges of ids (each
    // transaction adds ids above all before it), so merging a trigram's
    // lists in segment order is concatenation; the check below only guards
    // that assumption.
    std::vector<bool> is_live(live.empty() ? 0 : static_cast<size_t>(live.back()) + 1, false);
    for (int64_t d : live) is_live[static_cast<size_t>(d)] = true;
    std::array<std::vector<int64_t>, 256> lists;
    RowBuilder row;
    for (;;) {
      int64_t bucket = -1;
      for (size_t i = 0; i < cursors.size(); ++i)
        if (has_row[i] && (bucket < 0 || cursors[i].Int(0) < bucket)) bucket = cursors[i].Int(0);
      if (bucket < 0) break;
      for (size_t i = 0; i < cursors.size(); ++i) {
        if (!has_row[i] || cursors[i].Int(0) != bucket) continue;
        auto parsed = ParseRow(cursors[i].BlobView(1));
        NEXUS_RETURN_IF_FAILED(parsed);
        for (size_t k = 0; k < parsed->lists.size(); ++k)
          NEXUS_RETURN_IF_ERROR(
              DecodeList(parsed->lists[k], &lists[static_cast<uint8_t>(parsed->thirds[k])]));
        has_row[i] = cursors[i].Next();
        NEXUS_RETURN_IF_ERROR(cursors[i].status());
      }
      for (size_t third = 0; third < lists.size(); ++third) {
        auto& docs = lists[third];
        if (docs.empty()) continue;
        if (!std::is_sorted(docs.begin(), docs.end())) std::sort(docs.begin(), docs.end());
        docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
        bool begun = false;
        for (int64_t d : docs) {
          if (d < 0 || static_cast<size_t>(d) >= is_live.size() || !is_live[static_cast<size_t>(d)]) continue;
          if (!begun) row.BeginList(static_cast<uint8_t>(third));
          begun = true;
          row.AddDoc(static_cast<uint64_t>(d));
        }
        docs.clear();
      }
      if (!row.empty()) NEXUS_RETURN_IF_ERROR(Insert(db, out_seg, static_cast<uint32_t>(bucket), row));
    }
  }
  for (int64_t seg : segs) {
    NEXUS_RETURN_IF_ERROR(db.Prepare(kDeleteRows).Bind(1, seg).Run("drop trigram segment"));
    NEXUS_RETURN_IF_ERROR(db.Prepare(kDeleteSegment).Bind(1, seg).Run("drop trigram segment"));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> TrigramIndex::Candidates(SqliteDb& db, std::string_view literal) {
  if (literal.size() < 3) return Status::Error(EINVAL, "a trigram lookup needs at least 3 bytes");
  std::vector<uint32_t> tris;
  uint32_t t = 0;
  for (size_t i = 0; i < literal.size(); ++i) {
    t = ((t << 8) | Lower(literal[i])) & 0xFFFFFF;
    if (i >= 2) tris.push_back(t);
  }
  std::sort(tris.begin(), tris.end());
  tris.erase(std::unique(tris.begin(), tris.end()), tris.end());

  // One snapshot for the segment list and their rows: a merge committed in
  // between would delete rows of segments already listed.
  NEXUS_RETURN_IF_ERROR(db.Exec("SAVEPOINT trigram_lookup"));
  struct Release {
    SqliteDb& db;
    ~Release() { (void)db.Exec("RELEASE trigram_lookup"); }
  } release{db};
  std::vector<int64_t> segs;
  {
    Statement q = db.Prepare(kAllSegments);
    while (q.Next()) segs.push_back(q.Int(0));
    NEXUS_RETURN_IF_ERROR(q.status());
  }
  std::vector<int64_t> out, acc, list, both;
  for (int64_t seg : segs) {
    acc.clear();
    bool first = true;
    int64_t row_bucket = -1;
    std::string row_data;
    RowView row;
    for (uint32_t tri : tris) {
      const int64_t bucket = tri >> 8;
      if (bucket != row_bucket) {
        row_bucket = bucket;
        Statement q = db.Prepare(kRow);
        q.Bind(1, seg).Bind(2, bucket);
        if (!q.Next()) {
          NEXUS_RETURN_IF_ERROR(q.status());
          acc.clear();
          break;
        }
        row_data = q.Blob(0);
        auto parsed = ParseRow(row_data);
        NEXUS_RETURN_IF_FAILED(parsed);
        row = std::move(*parsed);
      }
      const auto third = static_cast<char>(tri & 0xFF);
      size_t k = 0;
      while (k < row.thirds.size() && row.thirds[k] != third) ++k;
      if (k == row.thirds.size()) {
        acc.clear();
        break;
      }
      list.clear();
      NEXUS_RETURN_IF_ERROR(DecodeList(row.lists[k], &list));
      if (first) {
        acc.swap(list);
        first = false;
      } else {
        both.clear();
        std::set_intersection(acc.begin(), acc.end(), list.begin(), list.end(), std::back_inserter(both));
        acc.swap(both);
      }
      if (acc.empty()) break;
    }
    out.insert(out.end(), acc.begin(), acc.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<TrigramIndex::Stats> TrigramIndex::GetStats(SqliteDb& db) {
  Stats s;
  Statement a = db.Prepare(kCountSegments);
  if (a.Next()) s.segments = static_cast<uint64_t>(a.Int(0));
  NEXUS_RETURN_IF_ERROR(a.status());
  Statement b = db.Prepare(kCountRows);
  if (b.Next()) {
    s.rows = static_cast<uint64_t>(b.Int(0));
    s.bytes = static_cast<uint64_t>(b.Int(1));
  }
  NEXUS_RETURN_IF_ERROR(b.status());
  return s;
}

}  // namespace nexus::search
