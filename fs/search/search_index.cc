#include "fs/search/search_index.h"

#include <re2/filtered_re2.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fs/search/glob.h"
#include "fs/search/text.h"

namespace nexus::search {

// ---------------------------------------------------------------------------
// SQLite plumbing

namespace {
// The errno for the last SQLite failure on `db`.
int SqliteErrno(sqlite3* db) {
  int rc = sqlite3_errcode(db);
  return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? EBUSY : EIO;
}
}  // namespace

struct SearchIndex::Conn {
  sqlite3* db = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> stmts;  // keyed by the SQL constant
  ~Conn() {
    for (auto& [sql, s] : stmts) sqlite3_finalize(s);
    sqlite3_close_v2(db);
  }
  Status Error(std::string_view what) const {
    return Status::Error(SqliteErrno(db), std::string(what) + ": " + sqlite3_errmsg(db));
  }
  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    Status st = Status::Error(SqliteErrno(db), std::string("sqlite: ") + (err ? err : "error") + " in " + sql);
    sqlite3_free(err);
    return st;
  }
};

class SearchIndex::Reader {
 public:
  Reader(const SearchIndex* index, std::unique_ptr<Conn> conn) : index_(index), conn_(std::move(conn)) {}
  Reader(Reader&&) = default;
  ~Reader() {
    if (!conn_) return;
    MutexLock lk(index_->pool_mu_);
    index_->idle_readers_.push_back(std::move(conn_));
  }
  Conn& operator*() const { return *conn_; }

 private:
  const SearchIndex* index_;
  std::unique_ptr<Conn> conn_;
};

namespace {

// A cached prepared statement, reset when it goes out of scope.
class Stmt {
 public:
  template <typename C>
  Stmt(C& conn, const char* sql) : db_(conn.db) {
    auto it = conn.stmts.find(sql);
    if (it != conn.stmts.end()) {
      s_ = it->second;
    } else if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) == SQLITE_OK) {
      conn.stmts.emplace(sql, s_);
    } else {
      s_ = nullptr;
    }
  }
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return s_ != nullptr; }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const void* p, size_t n) {
    sqlite3_bind_blob(s_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW or SQLITE_DONE on success.
  int Step() { return s_ ? sqlite3_step(s_) : SQLITE_ERROR; }
  Status Run(std::string_view what) {
    int rc = Step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::Ok() : Error(what);
  }
  Status Error(std::string_view what) const {
    return Status::Error(SqliteErrno(db_), std::string(what) + ": " + sqlite3_errmsg(db_));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Real(int col) const { return sqlite3_column_double(s_, col); }
  std::string_view Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
  }
  std::string_view Blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

// Binds the "path at or below `prefix`" range as parameters i, i+1, i+2 of
// a statement using NEXUS_UNDER (a range, so the files(path) index serves it).
#define NEXUS_UNDER(col) "(" col " = ?1 OR (" col " >= ?2 AND " col " < ?3))"
void BindUnder(Stmt& s, int i, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") {
    s.Bind(i, std::string_view("/")).Bind(i + 1, std::string_view("/")).Bind(i + 2, std::string_view("0"));
  } else {
    s.Bind(i, prefix).Bind(i + 1, std::string(prefix) + "/").Bind(i + 2, std::string(prefix) + "0");
  }
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL,
  start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
  text TEXT NOT NULL, embedding BLOB);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, content='chunks', content_rowid='id');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_tri USING fts5(
  text, content='chunks', content_rowid='id', tokenize='trigram');
CREATE TABLE IF NOT EXISTS path_contexts(path TEXT PRIMARY KEY, description TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 1);
)sql";

constexpr const char kGetMeta[] = "SELECT value FROM meta WHERE key = ?1";
constexpr const char kPutMeta[] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)";
constexpr const char kFileByPath[] = "SELECT id FROM files WHERE path = ?1";
constexpr const char kInsertFile[] = "INSERT INTO files(path, size, mtime_ns) VALUES (?1, ?2, ?3)";
constexpr const char kUpdateFile[] = "UPDATE files SET size = ?2, mtime_ns = ?3 WHERE id = ?1";
constexpr const char kInsertChunk[] =
    "INSERT INTO chunks(file_id, start_line, end_line, text, embedding) VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char kInsertFts[] = "INSERT INTO chunks_fts(rowid, text) VALUES (?1, ?2)";
constexpr const char kInsertTri[] = "INSERT INTO chunks_tri(rowid, text) VALUES (?1, ?2)";
constexpr const char kChunksOfFile[] = "SELECT id, text FROM chunks WHERE file_id = ?1";
constexpr const char kDeleteFts[] = "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', ?1, ?2)";
constexpr const char kDeleteTri[] = "INSERT INTO chunks_tri(chunks_tri, rowid, text) VALUES ('delete', ?1, ?2)";
constexpr const char kDeleteChunksOfFile[] = "DELETE FROM chunks WHERE file_id = ?1";
constexpr const char kDeleteFile[] = "DELETE FROM files WHERE id = ?1";
constexpr const char kFileIdsUnder[] = "SELECT id FROM files WHERE " NEXUS_UNDER("path");
constexpr const char kRenameUnder[] =
    "UPDATE files SET path = ?4 || substr(path, length(CAST(?1 AS BLOB)) + 1) WHERE " NEXUS_UNDER("path");
constexpr const char kFilesUnder[] = "SELECT path, size, mtime_ns FROM files WHERE " NEXUS_UNDER("path");
// Chunk ids from the trigram index alone, placed with kChunkPlace: joined
// in one statement, the planner may drive from the path range instead.
constexpr const char kTrigramChunks[] = "SELECT rowid FROM chunks_tri WHERE chunks_tri MATCH ?1";
// Ranked by FTS5 alone (its own ORDER BY rank path), then each hit placed
// with kChunkPlace until enough survive the prefix and visibility filters:
// cheaper than sorting a join over every match.
constexpr const char kKeyword[] =
    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank";
constexpr const char kChunkPlace[] =
    "SELECT f.path, c.start_line, c.end_line FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?1";
constexpr const char kSnippet[] =
    "SELECT snippet(chunks_fts, 0, '\xC2\xAB', '\xC2\xBB', '\xE2\x80\xA6', 24) FROM chunks_fts "
    "WHERE chunks_fts MATCH ?1 AND rowid = ?2";
constexpr const char kChunkText[] = "SELECT text FROM chunks WHERE id = ?1";
constexpr const char kVectors[] =
    "SELECT c.id, f.path, c.start_line, c.end_line, c.embedding FROM chunks c "
    "JOIN files f ON f.id = c.file_id WHERE c.embedding IS NOT NULL AND " NEXUS_UNDER("f.path");
constexpr const char kAllVectors[] = "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL";
constexpr const char kClearVectors[] = "UPDATE chunks SET embedding = NULL WHERE embedding IS NOT NULL";
constexpr const char kCountFiles[] = "SELECT count(*), coalesce(sum(size), 0) FROM files";
constexpr const char kCountChunks[] = "SELECT count(*) FROM chunks";
constexpr const char kPutContext[] = "INSERT OR REPLACE INTO path_contexts(path, description) VALUES (?1, ?2)";
constexpr const char kListContexts[] = "SELECT path, description FROM path_contexts ORDER BY path";
constexpr const char kDeleteContext[] = "DELETE FROM path_contexts WHERE path = ?1";
#undef NEXUS_UNDER

constexpr int kRrfK = 60;
// Grep verifies on this many threads once it has this many candidates.
constexpr size_t kGrepThreads = 2;
constexpr size_t kParallelGrepFiles = 64;

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "/a/b/" -> "/a/b"; EINVAL unless absolute.
Result<std::string> NormalizePath(std::string path) {
  if (path.empty() || path[0] != '/') return Status::Error(EINVAL, "not an absolute path: " + path);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string Quote(std::string_view term) {
  std::string out = "\"";
  for (char c : term) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

// The FTS5 expression for free text: every word, OR-ed, so BM25 ranks the
// chunks with more (and rarer) terms first. Words are runs of ASCII letters,
// digits, '_' and non-ASCII bytes; the tokenizer splits them further inside
// the quotes ("foo_bar" becomes the phrase foo bar).
std::string KeywordExpression(std::string_view text) {
  std::string expr;
  size_t i = 0;
  while (i < text.size()) {
    auto word = [&](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); };
    while (i < text.size() && !word(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && word(text[j])) ++j;
    if (j > i) {
      std::string term(text.substr(i, j - i));
      if (term.find_first_not_of('_') != std::string::npos) {
        if (!expr.empty()) expr += " OR ";
        expr += Quote(term);
      }
    }
    i = j;
  }
  return expr;
}

// A short valid-UTF-8 excerpt of a chunk: its first lines.
std::string HeadSnippet(std::string_view text) {
  constexpr size_t kMax = 240;
  if (text.size() <= kMax) return std::string(text);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "\xE2\x80\xA6";
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
void MatchLines(const RE2& block, const RE2& line_re, const std::string& path, std::string_view data,
                bool files_only, size_t limit, std::vector<GrepMatch>* out) {
  size_t pos = 0, counted_to = 0;
  uint32_t line_no = 1;  // line number of `counted_to`
  while (pos < data.size() && (limit == 0 || out->size() < limit)) {
    re2::StringPiece m;
    if (!block.Match(data, pos, data.size(), RE2::UNANCHORED, &m, 1)) return;
    size_t mstart = static_cast<size_t>(m.data() - data.data());
    size_t line_start = mstart;
    while (line_start > pos && data[line_start - 1] != '\n') --line_start;
    if (line_start == data.size()) return;  // an empty match after the final '\n' is no line
    const char* nl = static_cast<const char*>(std::memchr(data.data() + mstart, '\n', data.size() - mstart));
    size_t line_end = nl ? static_cast<size_t>(nl - data.data()) : data.size();
    std::string_view line = data.substr(line_start, line_end - line_start);
    bool hit = mstart + m.size() <= line_end || RE2::PartialMatch(line, line_re);
    if (hit) {
      line_no += static_cast<uint32_t>(std::count(data.begin() + counted_to, data.begin() + line_start, '\n'));
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
};

// ---------------------------------------------------------------------------
// Opening

SearchIndex::SearchIndex(ContentSource* source, Options options)
    : source_(source), options_(std::move(options)) {}

SearchIndex::~SearchIndex() = default;

Result<std::unique_ptr<SearchIndex::Conn>> SearchIndex::Connect() const {
  auto c = std::make_unique<Conn>();
  int rc = sqlite3_open_v2(db_path_.c_str(), &c->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return c->Error("open " + db_path_);
  sqlite3_busy_timeout(c->db, 10'000);
  return c;
}

Result<SearchIndex::Reader> SearchIndex::Borrow() const {
  {
    MutexLock lk(pool_mu_);
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return Reader(this, std::move(c));
    }
  }
  auto c = Connect();
  if (!c.ok()) return c.status();
  NEXUS_RETURN_IF_ERROR((*c)->Exec("PRAGMA query_only = 1"));
  return Reader(this, std::move(*c));
}

// Fills the new index before any other thread can see it, so without its locks.
Result<std::unique_ptr<SearchIndex>> SearchIndex::Open(const std::string& db_path, ContentSource* source,
                                                       Options options) NO_THREAD_SAFETY_ANALYSIS {
  if (!options.now_ns) options.now_ns = SystemNowNs;
  if (options.chunk_lines == 0 || options.chunk_bytes == 0 || options.sync_batch == 0) {
    return Status::Error(EINVAL, "chunk sizes and batch size must be positive");
  }
  std::unique_ptr<SearchIndex> idx(new SearchIndex(source, std::move(options)));
  idx->db_path_ = db_path;
  auto w = idx->Connect();
  if (!w.ok()) return w.status();
  idx->writer_ = std::move(*w);
  Conn& c = *idx->writer_;
  // The index is derived data (Sync rebuilds it), so NORMAL durability:
  // a power cut may lose the last commits, never corrupt the database.
  NEXUS_RETURN_IF_ERROR(c.Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536"));
  NEXUS_RETURN_IF_ERROR(c.Exec(kSchema));
  {
    Stmt s(c, kGetMeta);
    s.Bind(1, std::string_view("last_update_ns"));
    if (s.Step() == SQLITE_ROW) idx->last_update_ns_ = s.Int(0);
  }
  if (idx->options_.embedder != nullptr) {
    std::string model = idx->options_.embedder->ModelId();
    std::string stored;
    {
      Stmt s(c, kGetMeta);
      s.Bind(1, std::string_view("embedding_model"));
      if (s.Step() == SQLITE_ROW) stored = s.Text(0);
    }
    if (stored != model) {
      MutexLock lk(idx->write_mu_);
      NEXUS_RETURN_IF_ERROR(idx->InTransaction([&]() REQUIRES(idx->write_mu_) -> Status {
        NEXUS_RETURN_IF_ERROR(Stmt(c, kClearVectors).Run("clear vectors"));
        Stmt s(c, kPutMeta);
        return s.Bind(1, std::string_view("embedding_model")).Bind(2, model).Run("put meta");
      }));
    }
  }
  if (idx->options_.embedder != nullptr && idx->options_.hnsw_min_vectors > 0) {
    Stmt s(c, kAllVectors);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      std::string_view blob = s.Blob(1);
      Vector v(blob.size() / sizeof(float));
      std::memcpy(v.data(), blob.data(), v.size() * sizeof(float));
      if (!idx->ann_) idx->ann_ = std::make_unique<VectorIndex>(v.size());
      idx->ann_->Add(s.Int(0), v);
    }
    if (rc != SQLITE_DONE) return s.Error("load vectors");
  }
  return idx;
}

// ---------------------------------------------------------------------------
// Writing

Status SearchIndex::InTransaction(const std::function<Status()>& body) {
  Conn& c = *writer_;
  NEXUS_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE"));
  Status st = body();
  int64_t now = options_.now_ns();
  if (st.ok()) {
    Stmt s(c, kPutMeta);
    st = s.Bind(1, std::string_view("last_update_ns")).Bind(2, now).Run("put meta");
  }
  if (st.ok()) st = c.Exec("COMMIT");
  if (!st.ok()) {
    (void)c.Exec("ROLLBACK");
    ann_pending_.clear();
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
  Conn& c = *writer_;
  Stmt chunks(c, kChunksOfFile);
  chunks.Bind(1, file_id);
  int rc;
  while ((rc = chunks.Step()) == SQLITE_ROW) {
    int64_t id = chunks.Int(0);
    std::string_view text = chunks.Text(1);
    AnnUpdate(id, {});
    NEXUS_RETURN_IF_ERROR(Stmt(c, kDeleteFts).Bind(1, id).Bind(2, text).Run("unindex chunk"));
    NEXUS_RETURN_IF_ERROR(Stmt(c, kDeleteTri).Bind(1, id).Bind(2, text).Run("unindex chunk"));
  }
  if (rc != SQLITE_DONE) return chunks.Error("list chunks");
  return Stmt(c, kDeleteChunksOfFile).Bind(1, file_id).Run("delete chunks");
}

Status SearchIndex::RemoveLocked(const std::string& path, bool subtree) {
  Conn& c = *writer_;
  std::vector<int64_t> ids;
  {
    Stmt s(c, subtree ? kFileIdsUnder : kFileByPath);
    if (subtree) {
      BindUnder(s, 1, path);
    } else {
      s.Bind(1, path);
    }
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) ids.push_back(s.Int(0));
    if (rc != SQLITE_DONE) return s.Error("list files");
  }
  for (int64_t id : ids) {
    NEXUS_RETURN_IF_ERROR(DeleteChunksLocked(id));
    NEXUS_RETURN_IF_ERROR(Stmt(c, kDeleteFile).Bind(1, id).Run("delete file"));
  }
  return Status::Ok();
}

Status SearchIndex::RenameLocked(const std::string& from, const std::string& to) {
  if (from == to) return Status::Ok();
  if (PathIsUnder(to, from)) return Status::Error(EINVAL, "cannot move " + from + " below itself");
  NEXUS_RETURN_IF_ERROR(RemoveLocked(to, /*subtree=*/true));
  Stmt s(*writer_, kRenameUnder);
  BindUnder(s, 1, from);
  NEXUS_RETURN_IF_ERROR(s.Bind(4, to).Run("rename"));
  // Nothing was indexed at `from` (its creation was never reported): index
  // what now lies at `to` if it is a file, rather than leave `to` empty.
  if (sqlite3_changes(writer_->db) == 0) return UpsertLocked(to, nullptr);
  return Status::Ok();
}

Status SearchIndex::UpsertLocked(const std::string& path, const FileInfo* known) {
  FileInfo info;
  if (known != nullptr) {
    info = *known;
  } else {
    auto st = source_->Stat(path);
    if (!st.ok()) return RemoveLocked(path, /*subtree=*/false);
    info = std::move(*st);
  }
  if (info.size > options_.max_file_bytes) return RemoveLocked(path, false);
  auto data = source_->Read(path, options_.max_file_bytes + 1);
  if (!data.ok() || data->size() > options_.max_file_bytes || LooksBinary(*data)) {
    return RemoveLocked(path, false);
  }
  info.size = data->size();
  const std::string text = SanitizeUtf8(*data);
  const auto chunks = ChunkLines(text, options_.chunk_lines, options_.chunk_bytes);

  std::vector<Vector> vectors;
  if (options_.embedder != nullptr && !chunks.empty()) {
    std::vector<std::string> texts;
    texts.reserve(chunks.size());
    for (const auto& ch : chunks) texts.emplace_back(text.substr(ch.offset, ch.length));
    auto v = options_.embedder->Embed(texts);
    if (v.ok() && v->size() == chunks.size()) {
      vectors = std::move(*v);
    } else {
      spdlog::warn("search: no embeddings for {}: {}", path, v.status().ToString());
    }
  }

  Conn& c = *writer_;
  int64_t file_id = 0;
  {
    Stmt s(c, kFileByPath);
    s.Bind(1, path);
    if (s.Step() == SQLITE_ROW) file_id = s.Int(0);
  }
  if (file_id != 0) {
    NEXUS_RETURN_IF_ERROR(DeleteChunksLocked(file_id));
    Stmt s(c, kUpdateFile);
    NEXUS_RETURN_IF_ERROR(s.Bind(1, file_id)
                              .Bind(2, static_cast<int64_t>(info.size))
                              .Bind(3, info.mtime_ns)
                              .Run("update file"));
  } else {
    Stmt s(c, kInsertFile);
    NEXUS_RETURN_IF_ERROR(
        s.Bind(1, path).Bind(2, static_cast<int64_t>(info.size)).Bind(3, info.mtime_ns).Run("insert file"));
    file_id = sqlite3_last_insert_rowid(c.db);
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& ch = chunks[i];
    const std::string_view chunk_text = std::string_view(text).substr(ch.offset, ch.length);
    Stmt s(c, kInsertChunk);
    s.Bind(1, file_id).Bind(2, int64_t{ch.start_line}).Bind(3, int64_t{ch.end_line}).Bind(4, chunk_text);
    if (i < vectors.size()) s.BindBlob(5, vectors[i].data(), vectors[i].size() * sizeof(float));
    NEXUS_RETURN_IF_ERROR(s.Run("insert chunk"));
    const int64_t id = sqlite3_last_insert_rowid(c.db);
    if (i < vectors.size()) AnnUpdate(id, vectors[i]);
    NEXUS_RETURN_IF_ERROR(Stmt(c, kInsertFts).Bind(1, id).Bind(2, chunk_text).Run("index chunk"));
    NEXUS_RETURN_IF_ERROR(Stmt(c, kInsertTri).Bind(1, id).Bind(2, chunk_text).Run("index chunk"));
  }
  return Status::Ok();
}

Status SearchIndex::Apply(std::span<const Change> changes) {
  if (changes.empty()) return Status::Ok();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) -> Status {
    for (const Change& ch : changes) {
      auto path = NormalizePath(ch.path);
      if (!path.ok()) return path.status();
      switch (ch.kind) {
        case Change::Kind::kUpsert:
          NEXUS_RETURN_IF_ERROR(UpsertLocked(*path, nullptr));
          break;
        case Change::Kind::kRemove:
          NEXUS_RETURN_IF_ERROR(RemoveLocked(*path, /*subtree=*/true));
          break;
        case Change::Kind::kRename: {
          auto to = NormalizePath(ch.to);
          if (!to.ok()) return to.status();
          NEXUS_RETURN_IF_ERROR(RenameLocked(*path, *to));
          break;
        }
      }
    }
    return Status::Ok();
  });
}

Status SearchIndex::Sync(const std::string& root_in, bool force, const ProgressFn& progress) {
  auto root = NormalizePath(root_in);
  if (!root.ok()) return root.status();
  auto listed = source_->List(*root);
  if (!listed.ok() && listed.code() != ENOENT) return listed.status();
  std::vector<FileInfo> files = listed.ok() ? std::move(*listed) : std::vector<FileInfo>{};

  // What the index holds now, to skip unchanged files and drop vanished ones.
  std::unordered_map<std::string, std::pair<uint64_t, int64_t>> indexed;
  {
    auto r = Borrow();
    if (!r.ok()) return r.status();
    Stmt s(**r, kFilesUnder);
    BindUnder(s, 1, *root);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      indexed.emplace(std::string(s.Text(0)), std::make_pair(static_cast<uint64_t>(s.Int(1)), s.Int(2)));
    }
    if (rc != SQLITE_DONE) return s.Error("list indexed files");
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
  for (size_t i = 0; i < total; i += options_.sync_batch) {
    const size_t end = std::min(total, i + options_.sync_batch);
    {
      MutexLock lk(write_mu_);
      NEXUS_RETURN_IF_ERROR(InTransaction([&]() REQUIRES(write_mu_) -> Status {
        for (size_t k = i; k < end; ++k) {
          const FileInfo& f = files[k];
          auto it = indexed.find(f.path);
          if (!force && it != indexed.end() && it->second == std::make_pair(f.size, f.mtime_ns)) continue;
          NEXUS_RETURN_IF_ERROR(UpsertLocked(f.path, &f));
        }
        return Status::Ok();
      }));
    }
    if (progress) progress(end, total);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Path contexts and counts

Status SearchIndex::SetPathContext(const std::string& path_in, const std::string& description) {
  auto path = NormalizePath(path_in);
  if (!path.ok()) return path.status();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) { return Stmt(*writer_, kPutContext).Bind(1, *path).Bind(2, description).Run("put context"); });
}

Result<std::vector<PathContext>> SearchIndex::ListPathContexts() const {
  auto r = Borrow();
  if (!r.ok()) return r.status();
  return ReadPathContexts(**r);
}

Result<std::vector<PathContext>> SearchIndex::ReadPathContexts(Conn& c) const {
  Stmt s(c, kListContexts);
  std::vector<PathContext> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back({std::string(s.Text(0)), std::string(s.Text(1))});
  if (rc != SQLITE_DONE) return s.Error("list contexts");
  return out;
}

Status SearchIndex::DeletePathContext(const std::string& path_in) {
  auto path = NormalizePath(path_in);
  if (!path.ok()) return path.status();
  MutexLock lk(write_mu_);
  return InTransaction([&]() REQUIRES(write_mu_) -> Status {
    NEXUS_RETURN_IF_ERROR(Stmt(*writer_, kDeleteContext).Bind(1, *path).Run("delete context"));
    if (sqlite3_changes(writer_->db) == 0) return Status::Error(ENOENT, "no path context at " + *path);
    return Status::Ok();
  });
}

Result<IndexCounts> SearchIndex::Counts() const {
  auto r = Borrow();
  if (!r.ok()) return r.status();
  IndexCounts out;
  Stmt f(**r, kCountFiles);
  if (f.Step() != SQLITE_ROW) return f.Error("count files");
  out.files = static_cast<uint64_t>(f.Int(0));
  out.bytes = static_cast<uint64_t>(f.Int(1));
  Stmt c(**r, kCountChunks);
  if (c.Step() != SQLITE_ROW) return c.Error("count chunks");
  out.chunks = static_cast<uint64_t>(c.Int(0));
  out.last_update_ns = last_update_ns_;
  return out;
}

// ---------------------------------------------------------------------------
// Glob

Result<std::vector<std::string>> SearchIndex::Glob(const std::string& pattern, const std::string& under_in,
                                                   const VisibleFn& visible) const {
  auto under = NormalizePath(under_in);
  if (!under.ok()) return under.status();
  std::string full = pattern;
  if (full.empty() || full[0] != '/') full = (*under == "/" ? "" : *under) + "/" + pattern;
  auto glob = GlobPattern::Compile(full);
  if (!glob.ok()) return glob.status();
  // List the deeper of the glob's literal directory and `under`.
  std::string root = glob->LiteralDir();
  if (PathIsUnder(*under, root)) {
    root = *under;
  } else if (!PathIsUnder(root, *under)) {
    return std::vector<std::string>{};
  }
  auto files = source_->List(root);
  if (!files.ok()) {
    if (files.code() == ENOENT) return std::vector<std::string>{};
    return files.status();
  }
  std::vector<std::string> out;
  for (auto& f : *files) {
    if (glob->Matches(f.path) && PathIsUnder(f.path, *under) && (!visible || visible(f.path))) {
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
  auto under = NormalizePath(under_in);
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
      Stmt s(**reader, kFilesUnder);
      BindUnder(s, 1, *under);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) candidates.emplace(s.Text(0));
      if (rc != SQLITE_DONE) return s.Error("list files");
    } else {
      std::map<std::string, std::vector<int>> atoms_of;
      std::unordered_map<int64_t, std::string> path_of_chunk;  // "" if not under `under`
      for (size_t a = 0; a < atoms.size(); ++a) {
        Stmt s(**reader, kTrigramChunks);
        s.Bind(1, Quote(atoms[a]));
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          auto [it, fresh] = path_of_chunk.try_emplace(s.Int(0));
          if (fresh) {
            Stmt place(**reader, kChunkPlace);
            place.Bind(1, s.Int(0));
            if (place.Step() == SQLITE_ROW && PathIsUnder(place.Text(0), *under)) it->second = place.Text(0);
          }
          if (it->second.empty()) continue;
          auto& found = atoms_of[it->second];
          if (found.empty() || found.back() != static_cast<int>(a)) found.push_back(static_cast<int>(a));
        }
        if (rc != SQLITE_DONE) return s.Error("trigram lookup");
      }
      for (auto& [path, found] : atoms_of) {
        passed.clear();
        filter.AllPotentials(found, &passed);
        if (!passed.empty()) candidates.insert(path);
      }
    }
  }
  for (const auto& extra : o.also_scan) {
    std::string root = PathIsUnder(*under, extra) ? *under : extra;
    if (!PathIsUnder(root, *under)) continue;
    auto files = source_->List(root);
    if (!files.ok()) continue;
    for (auto& f : *files) candidates.insert(std::move(f.path));
  }

  std::vector<std::string> todo;
  for (const auto& path : candidates) {
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
      auto data = source_->Read(todo[i], options_.max_file_bytes + 1);
      if (!data.ok() || data->size() > options_.max_file_bytes || LooksBinary(*data)) continue;
      MatchLines(block, line_re, todo[i], *data, o.files_only, o.max_results, &per_file[i]);
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

Result<std::vector<SearchIndex::Lane>> SearchIndex::KeywordLane(Conn& c, const std::string& match,
                                                                const QueryOptions& o, size_t want) const {
  Stmt s(c, kKeyword);
  s.Bind(1, match);
  std::vector<Lane> out;
  int rc = SQLITE_DONE;
  while (out.size() < want && (rc = s.Step()) == SQLITE_ROW) {
    Stmt place(c, kChunkPlace);
    place.Bind(1, s.Int(0));
    if (place.Step() != SQLITE_ROW) continue;
    std::string path(place.Text(0));
    if (!PathIsUnder(path, o.path_prefix) || (o.visible && !o.visible(path))) continue;
    out.push_back({s.Int(0), std::move(path), static_cast<uint32_t>(place.Int(1)),
                   static_cast<uint32_t>(place.Int(2)), -s.Real(1)});
  }
  if (out.size() < want && rc != SQLITE_DONE) return s.Error("keyword query");
  return out;
}

Result<std::vector<SearchIndex::Lane>> SearchIndex::VectorLane(Conn& c, const std::string& text,
                                                               const QueryOptions& o, size_t want) const {
  auto q = options_.embedder->Embed({text});
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
      Stmt place(c, kChunkPlace);
      place.Bind(1, id);
      if (place.Step() != SQLITE_ROW) continue;
      std::string path(place.Text(0));
      if (!PathIsUnder(path, o.path_prefix) || (o.visible && !o.visible(path))) continue;
      out.push_back({id, std::move(path), static_cast<uint32_t>(place.Int(1)), static_cast<uint32_t>(place.Int(2)),
                     score});
    }
    if (out.size() >= want || near.size() < k) return out;
  }
  const size_t bytes = qv.size() * sizeof(float);
  std::vector<Lane> all;
  Stmt s(c, kVectors);
  BindUnder(s, 1, o.path_prefix);
  int rc;
  Vector v(qv.size());
  while ((rc = s.Step()) == SQLITE_ROW) {
    std::string_view blob = s.Blob(4);
    if (blob.size() != bytes) continue;  // from another model
    std::memcpy(v.data(), blob.data(), bytes);
    all.push_back({s.Int(0), std::string(s.Text(1)), static_cast<uint32_t>(s.Int(2)),
                   static_cast<uint32_t>(s.Int(3)), Cosine(qv.data(), v.data(), qv.size())});
  }
  if (rc != SQLITE_DONE) return s.Error("vector scan");
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

Result<std::vector<QueryHit>> SearchIndex::Query(const std::string& text, const QueryOptions& in) const {
  QueryOptions o = in;
  auto prefix = NormalizePath(o.path_prefix.empty() ? "/" : o.path_prefix);
  if (!prefix.ok()) return prefix.status();
  o.path_prefix = *prefix;
  const std::string match = KeywordExpression(text);
  if (match.empty()) return Status::Error(EINVAL, "query has no words: " + text);
  if (o.limit == 0) return std::vector<QueryHit>{};
  auto reader = Borrow();
  if (!reader.ok()) return reader.status();
  Conn& c = **reader;

  const bool want_vectors = o.mode != QueryMode::kKeyword;
  const bool fuse = o.mode == QueryMode::kHybrid;
  const size_t depth = fuse ? std::max<size_t>(o.limit * 3, 50) : o.limit;
  bool degraded = false;
  std::vector<Lane> vec;
  if (want_vectors) {
    if (options_.embedder == nullptr) {
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
    auto k = KeywordLane(c, match, o, depth);
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
        hits.push_back({l.path, l.start_line, l.end_line});
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
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return hits[a].score > hits[b].score; });
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
      Stmt s(c, kSnippet);
      s.Bind(1, match).Bind(2, ids[i]);
      if (s.Step() == SQLITE_ROW) h.snippet = s.Text(0);
    }
    if (h.snippet.empty()) {
      Stmt s(c, kChunkText);
      s.Bind(1, ids[i]);
      if (s.Step() == SQLITE_ROW) h.snippet = HeadSnippet(s.Text(0));
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace nexus::search
