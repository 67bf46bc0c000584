#include "fs/search/search_index.h"

#include <re2/filtered_re2.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/ns_path.h"
#include "base/thread_priority.h"
#include "fs/search/glob.h"
#include "fs/search/text.h"
#include "fs/search/trigram_index.h"

namespace nexus::search {

namespace {

// Binds the "path at or below `prefix`" range as parameters i, i+1, i+2 of
// a statement using NEXUS_UNDER (a range, so the files(path) index serves it).
#define NEXUS_UNDER(col) "(" col " = ?1 OR (" col " >= ?2 AND " col " < ?3))"
void BindUnder(Statement& s, int i, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") {
    s.Bind(i, std::string_view("/")).Bind(i + 1, std::string_view("/")).Bind(i + 2, std::string_view("0"));
  } else {
    s.Bind(i, prefix).Bind(i + 1, std::string(prefix) + "/").Bind(i + 2, std::string(prefix) + "0");
  }
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL,
  start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
  text TEXT NOT NULL, embedding BLOB,
  part_kind INTEGER NOT NULL DEFAULT 0, part_no INTEGER NOT NULL DEFAULT 0, part_name TEXT);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, content='chunks', content_rowid='id');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, row);
CREATE TABLE IF NOT EXISTS path_contexts(path TEXT PRIMARY KEY, description TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 3);
)sql";

constexpr const char kFtsHashSize[] = "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('hashsize', 33554432)";

// Version 3 added where a chunk lies in a document. Version 2 indexed no
// documents (they were binary files), so its rows stay as they are.
constexpr const char kHasPartColumns[] = "SELECT 1 FROM pragma_table_info('chunks') WHERE name = 'part_kind'";
constexpr const char kAddPartColumns[] = R"sql(
ALTER TABLE chunks ADD COLUMN part_kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN part_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN part_name TEXT;
UPDATE meta SET value = 3 WHERE key = 'schema_version';
)sql";

// Version 1 kept grep's trigrams in an FTS5 table per chunk and reused file
// ids; version 2 keeps them per file (trigram_index.h), with ids never
// reused. The index is derived data: an old one is emptied, and the daemon's
// catch-up pass indexes the tree again. Path contexts are kept.
constexpr const char kIsVersion1[] = "SELECT 1 FROM sqlite_master WHERE name = 'chunks_tri'";
constexpr const char kDropVersion1[] = R"sql(
DROP TABLE IF EXISTS chunks_tri; DROP TABLE IF EXISTS chunks_fts; DROP TABLE IF EXISTS chunks;
DROP TABLE IF EXISTS files; DELETE FROM meta WHERE key IN ('embedding_model', 'schema_version');
)sql";
constexpr const char kPathOfFile[] = "SELECT path FROM files WHERE id = ?1";
constexpr const char kGetMeta[] = "SELECT value FROM meta WHERE key = ?1";
constexpr const char kPutMeta[] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)";
constexpr const char kFileByPath[] = "SELECT id FROM files WHERE path = ?1";
constexpr const char kInsertFile[] = "INSERT INTO files(path, size, mtime_ns) VALUES (?1, ?2, ?3)";
constexpr const char kInsertChunk[] =
    "INSERT INTO chunks(file_id, start_line, end_line, text, embedding, part_kind, part_no, part_name) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char kInsertFts[] = "INSERT INTO chunks_fts(rowid, text) VALUES (?1, ?2)";
constexpr const char kChunksOfFile[] = "SELECT id, text FROM chunks WHERE file_id = ?1";
constexpr const char kDeleteFts[] =
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', ?1, ?2)";
constexpr const char kDeleteChunksOfFile[] = "DELETE FROM chunks WHERE file_id = ?1";
constexpr const char kDeleteFile[] = "DELETE FROM files WHERE id = ?1";
constexpr const char kFileIdsUnder[] = "SELECT id FROM files WHERE " NEXUS_UNDER("path");
constexpr const char kRenameUnder[] =
    "UPDATE files SET path = ?4 || substr(path, length(CAST(?1 AS BLOB)) + 1) WHERE " NEXUS_UNDER("path");
constexpr const char kFilesUnder[] = "SELECT path, size, mtime_ns FROM files WHERE " NEXUS_UNDER("path");
// Ranked by FTS5 alone (its own ORDER BY rank path), then each hit placed
// with kChunkPlace until enough survive the prefix and visibility filters:
// cheaper than sorting a join over every match. The exhaustive ranking:
// keyword_rank.h bounds the work of frequent terms first.
constexpr const char kKeyword[] =
    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank";
constexpr const char kChunkPlace[] =
    "SELECT f.path, c.start_line, c.end_line, c.part_kind, c.part_no, c.part_name FROM chunks c "
    "JOIN files f ON f.id = c.file_id WHERE c.id = ?1";
constexpr const char kSnippet[] =
    "SELECT snippet(chunks_fts, 0, '\xC2\xAB', '\xC2\xBB', '\xE2\x80\xA6', 24) FROM chunks_fts "
    "WHERE chunks_fts MATCH ?1 AND rowid = ?2";
constexpr const char kChunkText[] = "SELECT text FROM chunks WHERE id = ?1";
constexpr const char kVectors[] =
    "SELECT c.id, f.path, c.start_line, c.end_line, c.embedding, c.part_kind, c.part_no, c.part_name "
    "FROM chunks c "
    "JOIN files f ON f.id = c.file_id WHERE c.embedding IS NOT NULL AND " NEXUS_UNDER("f.path");
constexpr const char kAllVectors[] = "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL";
constexpr const char kClearVectors[] = "UPDATE chunks SET embedding = NULL WHERE embedding IS NOT NULL";
constexpr const char kCountUnembedded[] = "SELECT count(*) FROM chunks WHERE embedding IS NULL";
constexpr const char kAnyUnembedded[] = "SELECT 1 FROM chunks WHERE embedding IS NULL LIMIT 1";
constexpr const char kUnembedded[] =
    "SELECT id, text FROM chunks WHERE embedding IS NULL AND id > ?1 ORDER BY id LIMIT ?2";
// A chunk removed or re-embedded meanwhile is left alone.
constexpr const char kSetVector[] = "UPDATE chunks SET embedding = ?2 WHERE id = ?1 AND embedding IS NULL";
constexpr const char kCountEmbedded[] = "SELECT count(*) FROM chunks WHERE embedding IS NOT NULL";
constexpr const char kCountFiles[] = "SELECT count(*), coalesce(sum(size), 0) FROM files";
constexpr const char kCountChunks[] = "SELECT count(*) FROM chunks";
constexpr const char kPutContext[] =
    "INSERT OR REPLACE INTO path_contexts(path, description) VALUES (?1, ?2)";
constexpr const char kListContexts[] = "SELECT path, description FROM path_contexts ORDER BY path";
constexpr const char kDeleteContext[] = "DELETE FROM path_contexts WHERE path = ?1";
#undef NEXUS_UNDER

// Words in more chunks than the rare limit, most chunks first: the words
// whose impact lists PrepareKeywordLists builds.
constexpr const char kFrequentWords[] =
    "SELECT term FROM chunks_vocab WHERE doc > ?1 ORDER BY doc DESC LIMIT ?2";

constexpr int kRrfK = 60;
// Chunks per embedding request when refilling vectors (EmbedMissing).
constexpr size_t kEmbedBatch = 64;
// Grep verifies on this many threads once it has this many candidates.
constexpr size_t kGrepThreads = 2;
constexpr size_t kParallelGrepFiles = 64;

// A chunk's place in its document, from columns i (kind), i+1, i+2.
DocumentPart PartAt(Statement& s, int i) {
  DocumentPart p;
  const int64_t kind = s.Int(i);
  if (kind < 0 || kind > static_cast<int64_t>(DocumentPart::Kind::kSlide)) return p;
  p.kind = static_cast<DocumentPart::Kind>(kind);
  p.number = static_cast<uint32_t>(s.Int(i + 1));
  p.name = s.TextView(i + 2);
  return p;
}

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A glob taken below `under` when relative (glob.h).
Result<GlobPattern> GlobBelow(const std::string& pattern, const NsPath& under) {
  std::string full = pattern;
  if (full.empty() || full[0] != '/') full = (under.str() == "/" ? "" : under.str()) + "/" + pattern;
  return GlobPattern::Compile(full);
}

// A short valid-UTF-8 excerpt of a chunk: its first lines.
std::string HeadSnippet(std::string_view text) {
  constexpr size_t kMax = 240;
  if (text.size() <= kMax) return std::string(text);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "\xE2\x80\xA6";
}

// The '\n' bytes in `s`, eight at a time: a byte of x = word ^ '\n'... is
// zero exactly where the word holds '\n', and ((x & 0x7f..) + 0x7f..) | x
// has its high bit clear exactly in the zero bytes.
size_t CountNewlines(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  size_t n = 0, i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const uint64_t x = w ^ (kOnes * '\n');
    // One 0x01 byte per '\n'; the multiply sums the bytes into the top one
    // (no popcount: it is a library call without -mpopcnt).
    const uint64_t ones = (~(((x & kLow7) + kLow7) | x | kLow7)) >> 7;
    n += static_cast<size_t>((ones * kOnes) >> 56);
  }
  for (; i < s.size(); ++i) n += s[i] == '\n';
  return n;
}

// The literal that starts every match of `pattern` (RE2 syntax), when its
// text begins with one: the bytes before the first metacharacter (or
// non-ASCII byte), less the last when a quantifier follows it. Empty when
// matching ignores case, when the pattern has an alternation (a match may
// start with another branch) or when fewer than two bytes are left.
std::string LeadingLiteral(const std::string& pattern, bool fixed_string, bool ignore_case) {
  if (ignore_case) return {};
  if (fixed_string) return pattern.size() >= 2 ? pattern : std::string();
  if (pattern.find('|') != std::string::npos) return {};
  constexpr std::string_view kMeta = "\\.^$|?*+()[]{}";
  size_t n = 0;
  while (n < pattern.size() && kMeta.find(pattern[n]) == std::string_view::npos &&
         !(static_cast<unsigned char>(pattern[n]) & 0x80) && pattern[n] != '\n') {
    ++n;
  }
  if (n < pattern.size() && n > 0 && std::string_view("?*+{").find(pattern[n]) != std::string_view::npos) --n;
  return n >= 2 ? pattern.substr(0, n) : std::string();
}

// Line-by-line matching of one file's bytes, as grep does: a line is the
// bytes between two '\n'; a last line without '\n' counts.
//
// `block` is the pattern in multi-line mode, run over the whole buffer to
// skip lines quickly: every line match is a block match at the same place
// (^ and $ see line boundaries, \b sees '\n' as a non-word byte), so no
// block match means no line match. A block match that stays within its line
// is a line match; one that runs across a '\n' (via \s or [^x]) is checked
// against the line alone with `line_re`.
//
// `lead` (LeadingLiteral) is a literal every match starts with, or empty:
// the buffer is searched for it with memmem, and the pattern is tried only
// where it occurs, anchored there. RE2 alone would stop at every
// occurrence of the literal's first byte.
void MatchLines(const RE2& block, std::string_view lead, const RE2& line_re, const std::string& path,
                std::string_view data, bool files_only, size_t limit, std::vector<GrepMatch>* out) {
  // The first block match at or after `from`.
  auto find = [&](size_t from, re2::StringPiece* m) {
    if (lead.empty()) return block.Match(data, from, data.size(), RE2::UNANCHORED, m, 1);
    while (from + lead.size() <= data.size()) {
      const void* hit = memmem(data.data() + from, data.size() - from, lead.data(), lead.size());
      if (hit == nullptr) return false;
      const size_t at = static_cast<size_t>(static_cast<const char*>(hit) - data.data());
      if (block.Match(data, at, data.size(), RE2::ANCHOR_START, m, 1)) return true;
      from = at + 1;
    }
    return false;
  };
  size_t pos = 0, counted_to = 0;
  uint32_t line_no = 1;  // line number of `counted_to`
  while (pos < data.size() && (limit == 0 || out->size() < limit)) {
    re2::StringPiece m;
    if (!find(pos, &m)) return;
    size_t mstart = static_cast<size_t>(m.data() - data.data());
    size_t line_start = mstart;
    while (line_start > pos && data[line_start - 1] != '\n') --line_start;
    if (line_start == data.size()) return;  // an empty match after the final '\n' is no line
    const char* nl = static_cast<const char*>(std::memchr(data.data() + mstart, '\n', data.size() - mstart));
    size_t line_end = nl ? static_cast<size_t>(nl - data.data()) : data.size();
    std::string_view line = data.substr(line_start, line_end - line_start);
    bool hit = mstart + m.size() <= line_end || RE2::PartialMatch(line, line_re);
    if (hit) {
      line_no += static_cast<uint32_t>(CountNewlines(data.substr(counted_to, line_start - counted_to)));
      counted_to = line_start;
      if (files_only) {
        out->push_back({path, 0, {}});
        return;
      }
      out->push_back({path, line_no, std::string(line)});
    }
    pos = line_end + 1;
  }
}

}  // namespace

struct SearchIndex::Lane {
  int64_t chunk_id = 0;
  std::string path;
  uint32_t start_line = 0, end_line = 0;
  double score = 0;
  DocumentPart part;
};

// ---------------------------------------------------------------------------
// Opening

SearchIndex::SearchIndex(ContentSource* source, Options options)
    : source_(source),
      options_(std::move(options)),
      embedder_(options_.embedder),
      impacts_(options_.keyword_impact_depth) {}

SearchIndex::~SearchIndex() = default;

Result<std::unique_ptr<SqliteDb>> SearchIndex::Connect(bool writer) const {
  // The index is derived data (Sync rebuilds it), so NORMAL durability:
  // a power cut may lose the last commits, never corrupt the database.
  SqliteOptions o{
      .what = "search index", .synchronous = SqliteOptions::Sync::kNormal, .busy_timeout_ms = 10'000};
  if (writer) {
    o.cache_kib = 65536;
  } else {
    o.query_only = true;
  }
  return SqliteDb::Open(db_path_, o);
}

Result<ConnectionPool<SqliteDb>::Lease> SearchIndex::Borrow() const { return readers_->Borrow(); }

// Fills the new index before any other thread can see it, so without its locks.
Result<std::unique_ptr<SearchIndex>> SearchIndex::Open(const std::string& db_path, ContentSource* source,
                                                       Options options) NO_THREAD_SAFETY_ANALYSIS {
  if (!options.now_ns) options.now_ns = SystemNowNs;
  if (options.chunk_lines == 0 || options.chunk_bytes == 0 || options.sync_batch == 0) {
    return Status::Error(EINVAL, "chunk sizes and batch size must be positive");
  }
  std::unique_ptr<SearchIndex> idx(new SearchIndex(source, std::move(options)));
  idx->db_path_ = db_path;
  auto w = idx->Connect(/*writer=*/true);
  if (!w.ok()) return w.status();
  idx->writer_ = std::move(*w);
  SqliteDb& c = *idx->writer_;
  {
    bool v1 = false;
    {
      Statement s = c.Prepare(kIsVersion1);
      v1 = s.Next();
      NEXUS_RETURN_IF_ERROR(s.status());
    }
    if (v1) {
      spdlog::info("search: index {} is of an older format; indexing the tree again", db_path);
      NEXUS_RETURN_IF_ERROR(c.Exec(kDropVersion1));
    }
    NEXUS_RETURN_IF_ERROR(c.Exec(kSchema));
    NEXUS_RETURN_IF_ERROR(c.Exec(TrigramIndex::kSchema));
    bool has_parts = false;
    {
      Statement s = c.Prepare(kHasPartColumns);
      has_parts = s.Next();
      NEXUS_RETURN_IF_ERROR(s.status());
    }
    if (!has_parts) NEXUS_RETURN_IF_ERROR(c.Exec(kAddPartColumns));
    // FTS5 writes its pending postings out as a new segment whenever they
    // pass `hashsize` (1 MiB by default), and every segment is merged again
    // later: a bulk pass wrote hundreds. 32 MiB per write transaction cut the
    // CPU of indexing the 54k-file tree by about a sixth.
    NEXUS_RETURN_IF_ERROR(c.Exec(kFtsHashSize));
  }
  idx->readers_ =
      std::make_unique<ConnectionPool<SqliteDb>>([i = idx.get()] { return i->Connect(/*writer=*/false); });
  {
    Statement s = c.Prepare(kGetMeta);
    s.Bind(1, std::string_view("last_update_ns"));
    if (s.Next()) idx->last_update_ns_ = s.Int(0);
  }
  if (idx->options_.embedder != nullptr) {
    MutexLock lk(idx->write_mu_);
    NEXUS_RETURN_IF_ERROR(idx->DropOtherVectorsLocked(idx->options_.embedder->ModelId()));
  }
  if (idx->options_.embedder != nullptr && idx->options_.hnsw_min_vectors > 0) {
    Statement s = c.Prepare(kAllVectors);
    while (s.Next()) {
      std::string_view blob = s.BlobView(1);
      Vector v(blob.size() / sizeof(float));
      std::memcpy(v.data(), blob.data(), v.size() * sizeof(float));
      if (!idx->ann_) idx->ann_ = std::make_unique<VectorIndex>(v.size());
      idx->ann_->Add(s.Int(0), v);
    }
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  return idx;
}

// ---------------------------------------------------------------------------
// Writing

Status SearchIndex::InTransaction(const std::function<Status()>& body) {
  int64_t now = options_.now_ns();
  Status st = nexus::InTransaction(*writer_, [&]() REQUIRES(write_mu_) -> Status {
    NEXUS_RETURN_IF_ERROR(body());
    NEXUS_RETURN_IF_ERROR(trigrams_.Commit(*writer_));
    return writer_->Prepare(kPutMeta)
        .Bind(1, std::string_view("last_update_ns"))
        .Bind(2, now)
        .Run("put meta");
  });
  if (!st.ok()) {
    ann_pending_.clear();
    trigrams_.Abort();
    return st;
  }
  last_update_ns_ = now;
  for (auto& [id, v] : ann_pending_) {
    VectorIndex* ann = Ann();
    if (v.empty()) {
      if (ann != nullptr) ann->Remove(id);
      continue;
    }
    if (ann == nullptr) {
      MutexLock lk(ann_mu_);
      ann_ = std::make_unique<VectorIndex>(v.size());
      ann = ann_.get();
    }
    ann->Add(id, v);
  }
  ann_pending_.clear();
  return Status::Ok();
}

// Clears the vectors unless they are of `model` ("": none), and records it.
Status SearchIndex::DropOtherVectorsLocked(const std::string& model) {
  SqliteDb& c = *writer_;
  std::string stored;
  {
    Statement s = c.Prepare(kGetMeta);
    s.Bind(1, std::string_view("embedding_model"));
    if (s.Next()) stored = s.TextView(0);
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  if (stored == model) return Status::Ok();
  NEXUS_RETURN_IF_ERROR(InTransaction([&]() REQUIRES(write_mu_) -> Status {
    NEXUS_RETURN_IF_ERROR(c.Prepare(kClearVectors).Run("clear vectors"));
    Statement s = c.Prepare(kPutMeta);
    return s.Bind(1, std::string_view("embedding_model")).Bind(2, model).Run("put meta");
  }));
  // Every vector is gone: the first chunk, if any, has none.
  refilling_ = !model.empty() && HasUnembeddedLocked();
  MutexLock lk(ann_mu_);
  ann_.reset();
  return Status::Ok();
}

bool SearchIndex::HasUnembeddedLocked() {
  Statement s = writer_->Prepare(kAnyUnembedded);
  return s.Next();
}

Status SearchIndex::SetEmbedder(EmbeddingProvider* embedder) {
  MutexLock lk(write_mu_);
  NEXUS_RETURN_IF_ERROR(DropOtherVectorsLocked(embedder != nullptr ? embedder->ModelId() : ""));
  embedder_ = embedder;
  return Status::Ok();
}

Status SearchIndex::EmbedMissing(const ProgressFn& progress, const std::function<bool()>& cancelled) {
  EmbeddingProvider* const embedder = embedder_.load();
  if (embedder == nullptr) return Status::Ok();
  size_t total = 0;
  {
    auto r = Borrow();
    if (!r.ok()) return r.status();
    Statement s = (*r)->Prepare(kCountUnembedded);
    if (s.Next()) total = static_cast<size_t>(s.Int(0));
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  if (progress) progress(0, total);
  size_t done = 0;
  int64_t after = 0;
  for (;;) {
    if (cancelled && cancelled()) return Status::Ok();
    std::vector<int64_t> ids;
    std::vector<std::string> texts;
    {
      auto r = Borrow();
      if (!r.ok()) return r.status();
      Statement s = (*r)->Prepare(kUnembedded);
      s.Bind(1, after).Bind(2, static_cast<int64_t>(kEmbedBatch));
      while (s.Next()) {
        ids.push_back(s.Int(0));
        texts.emplace_back(s.TextView(1));
      }
      NEXUS_RETURN_IF_ERROR(s.status());
    }
    if (ids.empty()) {
      if (embedder_.load() == embedder) refilling_ = false;
      return Status::Ok();
    }
    after = ids.back();
    auto vectors = embedder->Embed(texts);
    if (!vectors.ok()) return vectors.status();
    if (vectors->size() != ids.size())
      return Status::Error(EIO, "embedding provider answered " + std::to_string(vectors->size()) +
                                    " vectors for " + std::to_string(ids.size()) + " texts");
    {
      MutexLock lk(write_mu_);
      if (embedder_.load() != embedder) return Status::Ok();  // switched: the new one starts over
      NEXUS_RETURN_IF_ERROR(InTransaction([&]() REQUIRES(write_mu_) -> Status {
        for (size_t i = 0; i < ids.size(); ++i) {
          const Vector& v = (*vectors)[i];
          Statement s = writer_->Prepare(kSetVector);
          s.Bind(1, ids[i]).BindBlob(
              2, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
          NEXUS_RETURN_IF_ERROR(s.Run("store vector"));
          if (writer_->Changes() > 0) AnnUpdate(ids[i], v);
        }
        return Status::Ok();
      }));
    }
    done += ids.size();
    if (progress) progress(std::min(done, std::max(done, total)), std::max(done, total));
  }
}

VectorIndex* SearchIndex::Ann() const {
  MutexLock lk(ann_mu_);
  return ann_.get();
}

void SearchIndex::AnnUpdate(int64_t chunk_id, Vector v) {
  if (options_.hnsw_min_vectors > 0) ann_pending_.emplace_back(chunk_id, std::move(v));
}

// The FTS5 tables are external-content tables over `chunks`, kept in step
// here rather than by triggers: FTS5 flushes its pending terms at every
// statement savepoint, and a trigger's savepoints made bulk indexing ~10x
// slower. Removing terms needs the exact text they were indexed from.
Status SearchIndex::DeleteChunksLocked(int64_t file_id) {
  SqliteDb& c = *writer_;
  Statement chunks = c.Prepare(kChunksOfFile);
  chunks.Bind(1, file_id);
  while (chunks.Next()) {
    int64_t id = chunks.Int(0);
    std::string_view text = chunks.TextView(1);
    AnnUpdate(id, {});
    NEXUS_RETURN_IF_ERROR(c.Prepare(kDeleteFts).Bind(1, id).Bind(2, text).Run("unindex chunk"));
  }
  NEXUS_RETURN_IF_ERROR(chunks.status());
  return c.Prepare(kDeleteChunksOfFile).Bind(1, file_id).Run("delete chunks");
}

Status SearchIndex::RemoveLocked(const std::string& path, bool subtree) {
  SqliteDb& c = *writer_;
  std::vector<int64_t> ids;
  {
    Statement s = c.Prepare(subtree ? kFileIdsUnder : kFileByPath);
    if (subtree) {
      BindUnder(s, 1, path);
    } else {
      s.Bind(1, path);
    }
    while (s.Next()) ids.push_back(s.Int(0));
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  for (int64_t id : ids) {
    NEXUS_RETURN_IF_ERROR(DeleteChunksLocked(id));
    NEXUS_RETURN_IF_ERROR(c.Prepare(kDeleteFile).Bind(1, id).Run("delete file"));
  }
  return Status::Ok();
}

Status SearchIndex::RenameLocked(const std::string& from, const std::string& to) {
  if (from == to) return Status::Ok();
  if (PathIsUnder(to, from)) return Status::Error(EINVAL, "cannot move " + from + " below itself");
  NEXUS_RETURN_IF_ERROR(RemoveLocked(to, /*subtree=*/true));
  Statement s = writer_->Prepare(kRenameUnder);
  BindUnder(s, 1, from);
  NEXUS_RETURN_IF_ERROR(s.Bind(4, to).Run("rename"));
  // Nothing was indexed at `from` (its creation was never reported): index
  // what now lies at `to` if it is a file, rather than leave `to` empty.
  if (writer_->Changes() == 0) return UpsertLocked(to, nullptr);
  return Status::Ok();
}

// Everything an upsert needs that does not touch the database: reading,
// the binary test, sanitizing, chunking, trigrams and embeddings. Runs on
// any thread, so bulk indexing prepares the next batch while the writer
// stores this one.
SearchIndex::Prepared SearchIndex::Prepare(const std::string& path, const FileInfo* known) const {
  Prepared p;
  p.path = path;
  if (known != nullptr) {
    p.info = *known;
  } else {
    auto st = source_->Stat(path);
    if (!st.ok()) return p;  // gone: removed from the index
    p.info = std::move(*st);
  }
  const DocumentKind doc = DocumentKindOfName(path);
  const size_t max_bytes = doc != DocumentKind::kNone ? options_.max_document_bytes : options_.max_file_bytes;
  if (p.info.size > max_bytes) return p;
  auto data = source_->Read(path, max_bytes + 1);
  if (!data.ok() || data->size() > max_bytes) return p;
  p.info.size = data->size();
  // A document's parts are chunked one by one, so no chunk spans two pages.
  // One that cannot be read is left to the rules of other files (a damaged
  // PDF is binary; a text file named .pdf is text, for grep to stay exact).
  auto parts = ExtractDocument(doc, *data);  // EINVAL for kNone
  if (doc != DocumentKind::kNone && !parts.ok())
    spdlog::warn("search: {} is not read as a document: {}", path, parts.status().message());
  if (parts.ok()) {
    for (auto& part : *parts) {
      if (!part.text.empty() && part.text.back() != '\n') part.text.push_back('\n');
      const size_t base = p.text.size();
      p.text += part.text;
      for (LineChunk ch : ChunkLines(part.text, options_.chunk_lines, options_.chunk_bytes)) {
        ch.offset += base;
        p.chunks.push_back(ch);
        p.chunk_parts.push_back(part.part);
      }
    }
  } else {
    if (data->size() > options_.max_file_bytes || LooksBinary(*data)) return p;
    p.text = SanitizeUtf8(*data);
    p.chunks = ChunkLines(p.text, options_.chunk_lines, options_.chunk_bytes);
  }
  p.trigrams = TrigramIndex::Extract(p.text);
  EmbeddingProvider* const embedder = embedder_.load();
  if (embedder != nullptr && !p.chunks.empty()) {
    std::vector<std::string> texts;
    texts.reserve(p.chunks.size());
    for (const auto& ch : p.chunks) texts.emplace_back(p.text.substr(ch.offset, ch.length));
    auto v = embedder->Embed(texts);
    if (v.ok() && v->size() == p.chunks.size()) {
      p.vectors = std::move(*v);
      p.embedded_by = embedder;
    } else {
      spdlog::warn("search: no embeddings for {}: {}", path, v.status().ToString());
    }
  }
  p.index = true;
  return p;
}

Status SearchIndex::UpsertLocked(const std::string& path, const FileInfo* known) {
  Prepared p = Prepare(path, known);
  return StoreLocked(p);
}

Status SearchIndex::StoreLocked(const Prepared& p) {
  if (!p.index) return RemoveLocked(p.path, /*subtree=*/false);
  SqliteDb& c = *writer_;
  int64_t file_id = 0;
  {
    Statement s = c.Prepare(kFileByPath);
    s.Bind(1, p.path);
    if (s.Next()) file_id = s.Int(0);
  }
  // Changed content gets a new file id: the trigram lists of the old one
  // stay behind, naming a dead id (see trigram_index.h).
  if (file_id != 0) {
    NEXUS_RETURN_IF_ERROR(DeleteChunksLocked(file_id));
    NEXUS_RETURN_IF_ERROR(c.Prepare(kDeleteFile).Bind(1, file_id).Run("delete file"));
  }
  {
    Statement s = c.Prepare(kInsertFile);
    NEXUS_RETURN_IF_ERROR(s.Bind(1, p.path)
                              .Bind(2, static_cast<int64_t>(p.info.size))
                              .Bind(3, p.info.mtime_ns)
                              .Run("insert file"));
    file_id = c.LastInsertId();
  }
  trigrams_.AddTrigrams(file_id, p.trigrams);
  // Vectors made by a provider switched away from meanwhile are not stored
  // (EmbedMissing fills them in with the new one).
  const size_t vectors = p.embedded_by == embedder_.load() ? p.vectors.size() : 0;
  for (size_t i = 0; i < p.chunks.size(); ++i) {
    const auto& ch = p.chunks[i];
    const std::string_view chunk_text = std::string_view(p.text).substr(ch.offset, ch.length);
    Statement s = c.Prepare(kInsertChunk);
    s.Bind(1, file_id).Bind(2, int64_t{ch.start_line}).Bind(3, int64_t{ch.end_line}).Bind(4, chunk_text);
    if (i < p.chunk_parts.size()) {
      const DocumentPart& part = p.chunk_parts[i];
      s.Bind(6, static_cast<int64_t>(part.kind)).Bind(7, int64_t{part.number}).Bind(8, part.name);
    } else {
      s.Bind(6, int64_t{0}).Bind(7, int64_t{0}).Bind(8, std::string_view());
    }
    if (i < vectors)
      s.BindBlob(5, std::string_view(reinterpret_cast<const char*>(p.vectors[i].data()),
                                     p.vectors[i].size() * sizeof(float)));
    NEXUS_RETURN_IF_ERROR(s.Run("insert chunk"));
    const int64_t id = c.LastInsertId();
    if (i < vectors) AnnUpdate(id, p.vectors[i]);
    NEXUS_RETURN_IF_ERROR(c.Prepare(kInsertFts).Bind(1, id).Bind(2, chunk_text).Run("index chunk"));
  }
  return Status::Ok();
}

Status SearchIndex::Apply(std::span<const Change> changes) {
  if (changes.empty()) return Status::Ok();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) -> Status {
    for (const Change& ch : changes) {
      auto path = NsPath::Parse(ch.path);
      if (!path.ok()) return path.status();
      switch (ch.kind) {
        case Change::Kind::kUpsert:
          NEXUS_RETURN_IF_ERROR(UpsertLocked(path->str(), nullptr));
          break;
        case Change::Kind::kRemove:
          NEXUS_RETURN_IF_ERROR(RemoveLocked(path->str(), /*subtree=*/true));
          break;
        case Change::Kind::kRename: {
          auto to = NsPath::Parse(ch.to);
          if (!to.ok()) return to.status();
          NEXUS_RETURN_IF_ERROR(RenameLocked(path->str(), to->str()));
          break;
        }
      }
    }
    return Status::Ok();
  });
}

Status SearchIndex::Sync(const std::string& root_in, bool force, const ProgressFn& progress) {
  auto root = NsPath::Parse(root_in);
  if (!root.ok()) return root.status();
  auto listed = source_->List(root->str());
  if (!listed.ok() && listed.code() != ENOENT) return listed.status();
  std::vector<FileInfo> files = listed.ok() ? std::move(*listed) : std::vector<FileInfo>{};

  // What the index holds now, to skip unchanged files and drop vanished ones.
  std::unordered_map<std::string, std::pair<uint64_t, int64_t>> indexed;
  {
    auto r = Borrow();
    if (!r.ok()) return r.status();
    Statement s = (*r)->Prepare(kFilesUnder);
    BindUnder(s, 1, root->str());
    while (s.Next()) {
      indexed.emplace(std::string(s.TextView(0)), std::make_pair(static_cast<uint64_t>(s.Int(1)), s.Int(2)));
    }
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  std::vector<std::string> vanished;
  {
    std::unordered_set<std::string_view> present;
    for (const auto& f : files) present.insert(f.path);
    for (const auto& [path, meta] : indexed) {
      if (!present.contains(path)) vanished.push_back(path);
    }
  }
  const size_t total = files.size();
  if (progress) progress(0, total);
  for (size_t i = 0; i < vanished.size(); i += options_.sync_batch) {
    MutexLock lk(write_mu_);
    NEXUS_RETURN_IF_ERROR(InTransaction([&]() REQUIRES(write_mu_) -> Status {
      for (size_t k = i; k < std::min(vanished.size(), i + options_.sync_batch); ++k) {
        NEXUS_RETURN_IF_ERROR(RemoveLocked(vanished[k], false));
      }
      return Status::Ok();
    }));
  }
  // Two stages on two threads: the files of batch k+1 are read, chunked and
  // reduced to trigrams while the writer stores batch k.
  auto prepare = [&](size_t from) {
    std::vector<Prepared> out;
    for (size_t k = from; k < std::min(total, from + options_.sync_batch); ++k) {
      const FileInfo& f = files[k];
      auto it = indexed.find(f.path);
      if (!force && it != indexed.end() && it->second == std::make_pair(f.size, f.mtime_ns)) continue;
      out.push_back(Prepare(f.path, &f));
    }
    return out;
  };
  std::vector<Prepared> ready = total > 0 ? prepare(0) : std::vector<Prepared>{};
  for (size_t i = 0; i < total; i += options_.sync_batch) {
    const size_t end = std::min(total, i + options_.sync_batch);
    std::vector<Prepared> next;
    std::thread ahead;
    if (end < total)
      ahead = std::thread([&] {
        LowerThreadPriority();
        next = prepare(end);
      });
    Status st;
    {
      MutexLock lk(write_mu_);
      st = InTransaction([&]() REQUIRES(write_mu_) -> Status {
        for (const Prepared& p : ready) NEXUS_RETURN_IF_ERROR(StoreLocked(p));
        return Status::Ok();
      });
    }
    if (ahead.joinable()) ahead.join();
    NEXUS_RETURN_IF_ERROR(st);
    ready = std::move(next);
    if (progress) progress(end, total);
  }
  if (force && root->str() == "/") refilling_ = false;  // every file was embedded again
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Path contexts and counts

Status SearchIndex::SetPathContext(const std::string& path_in, const std::string& description) {
  auto path = NsPath::Parse(path_in);
  if (!path.ok()) return path.status();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) {
    return writer_->Prepare(kPutContext).Bind(1, path->str()).Bind(2, description).Run("put context");
  });
}

Result<std::vector<PathContext>> SearchIndex::ListPathContexts() const {
  auto r = Borrow();
  if (!r.ok()) return r.status();
  return ReadPathContexts(**r);
}

Result<std::vector<PathContext>> SearchIndex::ReadPathContexts(SqliteDb& c) const {
  Statement s = c.Prepare(kListContexts);
  std::vector<PathContext> out;
  while (s.Next()) out.push_back({std::string(s.TextView(0)), std::string(s.TextView(1))});
  NEXUS_RETURN_IF_ERROR(s.status());
  return out;
}

Status SearchIndex::DeletePathContext(const std::string& path_in) {
  auto path = NsPath::Parse(path_in);
  if (!path.ok()) return path.status();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) -> Status {
    NEXUS_RETURN_IF_ERROR(writer_->Prepare(kDeleteContext).Bind(1, path->str()).Run("delete context"));
    if (writer_->Changes() == 0) return Status::Error(ENOENT, "no path context at " + path->str());
    return Status::Ok();
  });
}

Result<IndexCounts> SearchIndex::Counts() const {
  auto r = Borrow();
  if (!r.ok()) return r.status();
  IndexCounts out;
  Statement f = (*r)->Prepare(kCountFiles);
  if (!f.Next())
    return f.status().ok() ? Status::Error(EIO, "search index: count files: no row") : f.status();
  out.files = static_cast<uint64_t>(f.Int(0));
  out.bytes = static_cast<uint64_t>(f.Int(1));
  Statement c = (*r)->Prepare(kCountChunks);
  if (!c.Next())
    return c.status().ok() ? Status::Error(EIO, "search index: count chunks: no row") : c.status();
  out.chunks = static_cast<uint64_t>(c.Int(0));
  Statement e = (*r)->Prepare(kCountEmbedded);
  if (!e.Next())
    return e.status().ok() ? Status::Error(EIO, "search index: count vectors: no row") : e.status();
  out.embedded = static_cast<uint64_t>(e.Int(0));
  out.last_update_ns = last_update_ns_;
  return out;
}

// ---------------------------------------------------------------------------
// Glob

Result<std::vector<std::string>> SearchIndex::Glob(const std::string& pattern, const std::string& under_in,
                                                   const VisibleFn& visible) const {
  auto under = NsPath::Parse(under_in);
  if (!under.ok()) return under.status();
  auto glob = GlobBelow(pattern, *under);
  if (!glob.ok()) return glob.status();
  // List the deeper of the glob's literal directory and `under`.
  std::string root = glob->LiteralDir();
  if (PathIsUnder(under->str(), root)) {
    root = under->str();
  } else if (!PathIsUnder(root, under->str())) {
    return std::vector<std::string>{};
  }
  auto files = source_->List(root);
  if (!files.ok()) {
    if (files.code() == ENOENT) return std::vector<std::string>{};
    return files.status();
  }
  std::vector<std::string> out;
  for (auto& f : *files) {
    if (glob->Matches(f.path) && PathIsUnder(f.path, under->str()) && (!visible || visible(f.path))) {
      out.push_back(std::move(f.path));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Grep

Result<std::vector<GrepMatch>> SearchIndex::Grep(const std::string& pattern, const std::string& under_in,
                                                 const GrepOptions& o) const {
  auto under = NsPath::Parse(under_in);
  if (!under.ok()) return under.status();
  RE2::Options ro;
  ro.set_log_errors(false);
  ro.set_case_sensitive(!o.ignore_case);
  ro.set_literal(o.fixed_string);
  RE2 line_re(pattern, ro);
  if (!line_re.ok()) return Status::Error(EINVAL, "bad pattern: " + line_re.error());
  // Literal patterns have no anchors, so they need no multi-line form.
  RE2 block(o.fixed_string ? pattern : "(?m)" + pattern, ro);
  if (!block.ok()) return Status::Error(EINVAL, "bad pattern: " + block.error());
  const std::string lead = LeadingLiteral(pattern, o.fixed_string, o.ignore_case);
  std::optional<GlobPattern> file_glob;
  if (!o.file_glob.empty()) {
    auto g = GlobBelow(o.file_glob, *under);
    if (!g.ok()) return g.status();
    file_glob = std::move(*g);
  }

  // Candidates from the trigram index. FilteredRE2 reduces the pattern to
  // an AND/OR of lower-cased literals ("atoms", >= 3 bytes); each atom is
  // looked up in the trigram index (case-insensitive, so a superset), and a
  // file is a candidate if its atoms satisfy the formula. A pattern with no
  // such formula (e.g. "a.c", "x*") or with non-ASCII atoms (case folding
  // may differ between RE2 and SQLite) scans every indexed file.
  re2::FilteredRE2 filter(3);
  int id = 0;
  if (filter.Add(pattern, ro, &id) != RE2::NoError) return Status::Error(EINVAL, "bad pattern");
  std::vector<std::string> atoms;
  filter.Compile(&atoms);
  std::vector<int> passed;
  filter.AllPotentials({}, &passed);
  bool scan_all = !passed.empty();
  for (const auto& a : atoms) {
    scan_all |= std::any_of(a.begin(), a.end(), [](char c) { return c & 0x80; });
  }

  std::set<std::string> candidates;
  {  // the read connection goes back to the pool before files are read
    auto reader = Borrow();
    if (!reader.ok()) return reader.status();
    if (scan_all) {
      Statement s = (*reader)->Prepare(kFilesUnder);
      BindUnder(s, 1, under->str());
      while (s.Next()) candidates.emplace(s.TextView(0));
      NEXUS_RETURN_IF_ERROR(s.status());
    } else {
      std::map<std::string, std::vector<int>> atoms_of;
      // "" for an id that is dead (an older content) or not under `under`.
      std::unordered_map<int64_t, std::string> path_of_file;
      for (size_t a = 0; a < atoms.size(); ++a) {
        auto ids = TrigramIndex::Candidates(**reader, atoms[a]);
        NEXUS_RETURN_IF_FAILED(ids);
        for (int64_t id : *ids) {
          auto [it, fresh] = path_of_file.try_emplace(id);
          if (fresh) {
            Statement place = (*reader)->Prepare(kPathOfFile);
            place.Bind(1, id);
            if (place.Next() && PathIsUnder(place.TextView(0), under->str())) it->second = place.TextView(0);
            NEXUS_RETURN_IF_ERROR(place.status());
          }
          if (it->second.empty()) continue;
          auto& found = atoms_of[it->second];
          if (found.empty() || found.back() != static_cast<int>(a)) found.push_back(static_cast<int>(a));
        }
      }
      for (auto& [path, found] : atoms_of) {
        passed.clear();
        filter.AllPotentials(found, &passed);
        if (!passed.empty()) candidates.insert(path);
      }
    }
  }
  for (const auto& extra : o.also_scan) {
    std::string root = PathIsUnder(under->str(), extra) ? under->str() : extra;
    if (!PathIsUnder(root, under->str())) continue;
    auto files = source_->List(root);
    if (!files.ok()) continue;
    for (auto& f : *files) candidates.insert(std::move(f.path));
  }

  std::vector<std::string> todo;
  for (const auto& path : candidates) {
    if (file_glob && !file_glob->Matches(path)) continue;
    if (!o.visible || o.visible(path)) todo.push_back(path);
  }
  // Verification reads files: spread it over a few threads, claiming files
  // in path order, so the results merged in that order and cut at
  // max_results are the first max_results, as with one thread.
  std::vector<std::vector<GrepMatch>> per_file(todo.size());
  std::atomic<size_t> next{0}, found{0};
  auto work = [&] {
    for (;;) {
      if (o.max_results != 0 && found.load(std::memory_order_relaxed) >= o.max_results) return;
      size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      const DocumentKind doc = o.parsed ? DocumentKindOfName(todo[i]) : DocumentKind::kNone;
      const size_t max_bytes =
          doc != DocumentKind::kNone ? options_.max_document_bytes : options_.max_file_bytes;
      auto data = source_->Read(todo[i], max_bytes + 1);
      if (!data.ok() || data->size() > max_bytes) continue;
      // Parsed: a document's text, part by part; one that cannot be read is
      // grepped as any other file (the indexer logged why).
      auto parts = ExtractDocument(doc, *data);  // EINVAL for kNone
      if (parts.ok()) {
        for (const auto& part : *parts) {
          const size_t before = per_file[i].size();
          MatchLines(block, lead, line_re, todo[i], part.text, o.files_only, o.max_results, &per_file[i]);
          if (o.files_only) {
            if (!per_file[i].empty()) break;
            continue;
          }
          for (size_t k = before; k < per_file[i].size(); ++k) per_file[i][k].part = part.part;
          if (o.max_results != 0 && per_file[i].size() >= o.max_results) break;
        }
      } else {
        if (data->size() > options_.max_file_bytes || LooksBinary(*data)) continue;
        MatchLines(block, lead, line_re, todo[i], *data, o.files_only, o.max_results, &per_file[i]);
      }
      found.fetch_add(per_file[i].size(), std::memory_order_relaxed);
    }
  };
  const size_t threads = todo.size() < kParallelGrepFiles ? 1 : kGrepThreads;
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (auto& t : helpers) t.join();

  std::vector<GrepMatch> out;
  for (auto& matches : per_file) {
    for (auto& m : matches) {
      if (o.max_results != 0 && out.size() >= o.max_results) return out;
      out.push_back(std::move(m));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Query

Result<std::vector<SearchIndex::Lane>> SearchIndex::KeywordLane(SqliteDb& c, const std::string& text,
                                                                const QueryOptions& o, size_t want) const {
  // A ranked chunk placed (path, lines); nothing when it is gone or
  // filtered out.
  auto place_chunk = [&](int64_t id, double score) -> std::optional<Lane> {
    Statement place = c.Prepare(kChunkPlace);
    place.Bind(1, id);
    if (!place.Next()) return std::nullopt;
    std::string path(place.TextView(0));
    if (!PathIsUnder(path, o.path_prefix) || (o.visible && !o.visible(path))) return std::nullopt;
    return Lane{
        id,    std::move(path), static_cast<uint32_t>(place.Int(1)), static_cast<uint32_t>(place.Int(2)),
        score, PartAt(place, 3)};
  };
  std::vector<Lane> out;
  if (!o.exhaustive) {
    std::unordered_map<int64_t, std::optional<Lane>> placed;
    auto accept = [&](int64_t id) {
      auto it = placed.find(id);
      if (it == placed.end()) it = placed.emplace(id, place_chunk(id, 0)).first;
      return it->second.has_value();
    };
    auto bounded =
        BoundedKeywordRank(c, KeywordPhrases(text), impacts_, want, accept, options_.keyword_rare_limit);
    if (!bounded.ok()) return bounded.status();
    if (bounded->has_value()) {
      for (const auto& [id, score] : **bounded) {
        out.push_back(std::move(*placed[id]));
        out.back().score = score;
      }
      return out;
    }
  }
  Statement s = c.Prepare(kKeyword);
  s.Bind(1, KeywordExpression(text));
  while (out.size() < want && s.Next())
    if (auto lane = place_chunk(s.Int(0), -s.Real(1))) out.push_back(std::move(*lane));
  NEXUS_RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::vector<SearchIndex::Lane>> SearchIndex::VectorLane(SqliteDb& c, const std::string& text,
                                                               const QueryOptions& o, size_t want) const {
  EmbeddingProvider* const embedder = embedder_.load();
  if (embedder == nullptr) return Status::Error(ENOTSUP, "no embedding provider");
  auto q = embedder->EmbedQuery({text});
  if (!q.ok()) return q.status();
  const Vector& qv = q->at(0);
  VectorIndex* ann = Ann();
  if (ann != nullptr && ann->dim() == qv.size() && ann->size() >= options_.hnsw_min_vectors) {
    // Approximate: ask for extra neighbours to leave room for the filters;
    // if they still leave the lane short while more vectors exist, scan.
    const size_t k = want * 4 + 16;
    auto near = ann->Search(qv, k);
    std::vector<Lane> out;
    for (const auto& [id, score] : near) {
      if (out.size() >= want) break;
      Statement place = c.Prepare(kChunkPlace);
      place.Bind(1, id);
      if (!place.Next()) continue;
      std::string path(place.TextView(0));
      if (!PathIsUnder(path, o.path_prefix) || (o.visible && !o.visible(path))) continue;
      out.push_back({id, std::move(path), static_cast<uint32_t>(place.Int(1)),
                     static_cast<uint32_t>(place.Int(2)), score, PartAt(place, 3)});
    }
    if (out.size() >= want || near.size() < k) return out;
  }
  const size_t bytes = qv.size() * sizeof(float);
  std::vector<Lane> all;
  Statement s = c.Prepare(kVectors);
  BindUnder(s, 1, o.path_prefix);
  Vector v(qv.size());
  while (s.Next()) {
    std::string_view blob = s.BlobView(4);
    if (blob.size() != bytes) continue;  // from another model
    std::memcpy(v.data(), blob.data(), bytes);
    all.push_back({s.Int(0), std::string(s.TextView(1)), static_cast<uint32_t>(s.Int(2)),
                   static_cast<uint32_t>(s.Int(3)), Cosine(qv.data(), v.data(), qv.size()), PartAt(s, 5)});
  }
  NEXUS_RETURN_IF_ERROR(s.status());
  std::sort(all.begin(), all.end(), [](const Lane& a, const Lane& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  });
  std::vector<Lane> out;
  for (auto& l : all) {
    if (out.size() >= want) break;
    if (o.visible && !o.visible(l.path)) continue;
    out.push_back(std::move(l));
  }
  return out;
}

Result<size_t> SearchIndex::PrepareKeywordLists(size_t words, const std::function<bool()>& cancelled) const {
  auto reader = Borrow();
  if (!reader.ok()) return reader.status();
  SqliteDb& c = **reader;
  std::vector<std::string> phrases;
  {
    Statement s = c.Prepare(kFrequentWords);
    s.Bind(1, static_cast<int64_t>(options_.keyword_rare_limit)).Bind(2, static_cast<int64_t>(words));
    while (s.Next()) phrases.push_back(PhraseOf(s.TextView(0)));
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  size_t built = 0;
  for (const std::string& phrase : phrases) {
    if (cancelled && cancelled()) break;
    // A one-word query builds (or keeps) the word's list; its answer is
    // not needed.
    auto r = BoundedKeywordRank(
        c, {phrase}, impacts_, 1, [](int64_t) { return true; }, options_.keyword_rare_limit);
    if (!r.ok()) return r.status();
    ++built;
  }
  return built;
}

Result<std::vector<QueryHit>> SearchIndex::Query(const std::string& text, const QueryOptions& in) const {
  QueryOptions o = in;
  auto prefix = NsPath::ParseOptional(o.path_prefix);
  if (!prefix.ok()) return prefix.status();
  o.path_prefix = prefix->str();
  const std::string match = KeywordExpression(text);
  if (match.empty()) return Status::Error(EINVAL, "query has no words: " + text);
  if (o.limit == 0) return std::vector<QueryHit>{};
  auto reader = Borrow();
  if (!reader.ok()) return reader.status();
  SqliteDb& c = **reader;

  const bool want_vectors = o.mode != QueryMode::kKeyword;
  const bool fuse = o.mode == QueryMode::kHybrid;
  const size_t depth = fuse ? std::max<size_t>(o.limit * 3, 50) : o.limit;
  bool degraded = false;
  std::vector<Lane> vec;
  if (want_vectors) {
    if (embedder_.load() == nullptr || refilling_.load()) {
      degraded = true;
    } else {
      auto v = VectorLane(c, text, o, depth);
      if (v.ok()) {
        vec = std::move(*v);
      } else {
        spdlog::warn("search: semantic lane unavailable: {}", v.status().ToString());
        degraded = true;
      }
    }
  }
  std::vector<Lane> kw;
  if (o.mode != QueryMode::kSemantic || degraded) {
    auto k = KeywordLane(c, text, o, depth);
    if (!k.ok()) return k.status();
    kw = std::move(*k);
  }

  // Fuse by chunk: RRF adds 1 / (k + rank) over the lanes a chunk is in.
  std::vector<QueryHit> hits;
  std::vector<int64_t> ids;
  std::vector<bool> from_keywords;
  std::unordered_map<int64_t, size_t> slot;
  auto add = [&](const std::vector<Lane>& lane, bool keyword) {
    for (size_t rank = 0; rank < lane.size(); ++rank) {
      const Lane& l = lane[rank];
      auto [it, fresh] = slot.emplace(l.chunk_id, hits.size());
      if (fresh) {
        hits.push_back({l.path, l.start_line, l.end_line, l.part});
        ids.push_back(l.chunk_id);
        from_keywords.push_back(keyword);
      }
      QueryHit& h = hits[it->second];
      (keyword ? h.keyword_score : h.vector_score) = l.score;
      h.score += fuse ? 1.0 / (kRrfK + rank + 1) : l.score;
    }
  };
  add(kw, true);
  add(vec, false);
  std::vector<size_t> order(hits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return hits[a].score > hits[b].score; });
  if (order.size() > o.limit) order.resize(o.limit);

  auto contexts = ReadPathContexts(c);
  if (!contexts.ok()) return contexts.status();
  std::vector<QueryHit> out;
  out.reserve(order.size());
  for (size_t i : order) {
    QueryHit h = std::move(hits[i]);
    h.semantic_degraded = degraded;
    size_t best = 0;
    for (const auto& pc : *contexts) {
      if (PathIsUnder(h.path, pc.path) && pc.path.size() >= best) {
        best = pc.path.size();
        h.context = pc.description;
      }
    }
    if (from_keywords[i]) {
      Statement s = c.Prepare(kSnippet);
      s.Bind(1, match).Bind(2, ids[i]);
      if (s.Next()) h.snippet = s.TextView(0);
    }
    if (h.snippet.empty()) {
      Statement s = c.Prepare(kChunkText);
      s.Bind(1, ids[i]);
      if (s.Next()) h.snippet = HeadSnippet(s.TextView(0));
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace nexus::search
