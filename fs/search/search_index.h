// SearchIndex: the persistent search index of a tree, and the queries over it.
//
// Storage is one SQLite database (WAL) holding, for every indexed text file
// and document (PDF and Office files, by their text: documents.h),
// its chunks (runs of whole lines, see text.h) in an FTS5 index
// (`chunks_fts`: unicode61 words, BM25 ranking) for keyword queries, one
// optional embedding per chunk for the semantic lane, and per file the set
// of its trigrams (trigram_index.h) to narrow grep candidates. A file whose
// content changes is indexed under a new id. docs/search.md has the schema.
//
// Queries:
//  - Glob: matched against the ContentSource's live file list (see glob.h).
//  - Grep: RE2 (linear time). Candidates come from the trigram index through
//    RE2's prefilter, or every indexed file when the pattern has no usable
//    literal; each candidate is read again from the ContentSource and
//    verified line by line, so results are exact for the current content of
//    the candidates. Files changed since they were indexed must be passed in
//    GrepOptions::also_scan; Indexer::Grep does that for its pending queue.
//    Raw grep (the default) matches the bytes of text files; parsed grep
//    matches documents by their text (each match naming its page, sheet or
//    slide) and text files as raw grep does.
//  - Query: keyword (BM25; the work of frequent terms bounded by impact
//    lists, keyword_rank.h), semantic (cosine over chunk embeddings) or
//    hybrid (reciprocal rank fusion of both, k = 60).
// Every query takes an optional `visible` predicate and drops the paths it
// rejects before anything else sees them.
//
// Threading: all methods may be called from any number of threads at once.
// Writes (Apply, Sync, path contexts) are serialized on one writer
// connection (guarded by write_mu_); each query borrows a read connection
// from a pool, so queries never wait for a write in progress (WAL).
// The ContentSource and EmbeddingProvider must outlive the index.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/sqlite_db.h"
#include "fs/search/content_source.h"
#include "fs/search/documents.h"
#include "fs/search/embedding.h"
#include "fs/search/keyword_rank.h"
#include "fs/search/text.h"
#include "fs/search/trigram_index.h"
#include "fs/search/vector_index.h"
#include "base/status.h"

namespace nexus::search {

// Permission hook: return false to hide a path from results.
using VisibleFn = std::function<bool(const std::string& path)>;
// Progress of a bulk operation: `done` of `total` files.
using ProgressFn = std::function<void(size_t done, size_t total)>;

struct GrepOptions {
  bool ignore_case = false;
  bool fixed_string = false;  // the pattern is a literal string
  bool files_only = false;    // one result per file, line 0 (as grep -l)
  bool parsed = false;        // documents by their text (see the top of this file)
  // Only files whose path matches this glob (glob.h); a relative glob is
  // taken below the grep's root. Empty: every file.
  std::string file_glob;
  size_t max_results = 0;  // 0: no limit
  VisibleFn visible;
  // Paths (files or directories) to scan in full besides the indexed
  // candidates: files written since they were indexed.
  std::vector<std::string> also_scan;
};

struct GrepMatch {
  std::string path;
  uint32_t line = 0;    // 1-based (within the part, in a document); 0 with files_only
  std::string text;     // the line's raw bytes, without '\n'
  DocumentPart part{};  // where in a document (parsed grep); kNone for text files
  bool operator==(const GrepMatch&) const = default;
};

enum class QueryMode { kKeyword, kSemantic, kHybrid };

struct QueryOptions {
  std::string path_prefix = "/";
  QueryMode mode = QueryMode::kKeyword;
  size_t limit = 10;
  VisibleFn visible;
  // Rank keywords by scoring every matching chunk, without the bounded
  // ranking of frequent terms (keyword_rank.h): the reference it is
  // checked against. Same results, slower.
  bool exhaustive = false;
};

struct QueryHit {
  std::string path;
  uint32_t start_line = 0, end_line = 0;  // within `part` for a document
  DocumentPart part{};
  std::string snippet;       // matched terms marked «like this» (keyword lane)
  double score = 0;          // the ranking: -bm25, cosine, or the RRF sum
  double keyword_score = 0;  // -bm25 (higher is better); 0 if not in that lane
  double vector_score = 0;   // cosine similarity; 0 if not in that lane
  // True when semantic or hybrid was asked but answered by keywords only
  // (no provider, or the provider failed for this query).
  bool semantic_degraded = false;
  std::string context;  // description of the longest matching path context
};

struct PathContext {
  std::string path;
  std::string description;
  bool operator==(const PathContext&) const = default;
};

struct IndexCounts {
  uint64_t files = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;          // sum of indexed file sizes
  uint64_t embedded = 0;       // chunks with a vector of the current provider's model
  int64_t last_update_ns = 0;  // clock time of the last committed write; 0 never
};

// One change to apply. Paths are namespace paths.
struct Change {
  enum class Kind { kUpsert, kRemove, kRename } kind = Kind::kUpsert;
  std::string path;  // kRename: the old path
  std::string to;    // kRename: the new path
};

class SearchIndex {
 public:
  struct Options {
    size_t max_file_bytes = 4 << 20;                // larger text files are not indexed
    size_t max_document_bytes = kMaxDocumentBytes;  // nor larger documents
    size_t chunk_lines = 80;
    size_t chunk_bytes = 8 << 10;
    size_t sync_batch = 1000;  // files per Sync transaction and progress report
    // 0: the semantic lane is an exact scan. Otherwise an in-memory HNSW
    // graph (vector_index.h) over the stored vectors is kept, and used once
    // it holds at least this many vectors.
    size_t hnsw_min_vectors = 0;
    EmbeddingProvider* embedder = nullptr;  // null: no semantic lane (see SetEmbedder)
    // Keyword ranking (keyword_rank.h): a phrase in more chunks than this
    // is frequent, and its impact list keeps this many.
    size_t keyword_rare_limit = kRareLimit;
    size_t keyword_impact_depth = kImpactDepth;
    std::function<int64_t()> now_ns;  // wall clock; default system_clock
  };

  // Opens or creates the index at `db_path`. If the embedder's model differs
  // from the one the stored vectors came from, those vectors are dropped
  // (Sync with force refills them).
  static Result<std::unique_ptr<SearchIndex>> Open(const std::string& db_path, ContentSource* source,
                                                   Options options);
  ~SearchIndex();
  SearchIndex(const SearchIndex&) = delete;
  SearchIndex& operator=(const SearchIndex&) = delete;

  // Applies `changes` in order, in one transaction. kUpsert re-reads the
  // file (dropping it from the index if it is gone, binary or too large);
  // kRemove and kRename act on the path and every path below it, and a
  // rename replaces whatever was indexed at `to` (and, if nothing was
  // indexed at `from`, indexes `to` as an upsert would). A file that cannot
  // be read is dropped, not an error.
  Status Apply(std::span<const Change> changes);

  // Brings everything at or below `root` in line with the ContentSource:
  // new and changed files (by size and mtime, or all with `force`) are
  // indexed, vanished ones removed. Commits, then reports progress, every
  // `sync_batch` files; `progress` runs without any lock held.
  Status Sync(const std::string& root, bool force, const ProgressFn& progress = {});

  Result<std::vector<std::string>> Glob(const std::string& pattern, const std::string& under = "/",
                                        const VisibleFn& visible = {}) const;
  // Results ordered by path, then line. EINVAL for a pattern RE2 rejects.
  Result<std::vector<GrepMatch>> Grep(const std::string& pattern, const std::string& under,
                                      const GrepOptions& options) const;
  // Ranked chunks, best first. EINVAL for a text with no word in it.
  Result<std::vector<QueryHit>> Query(const std::string& text, const QueryOptions& options) const;
  // Builds the impact lists (keyword_rank.h) of the `words` words in the
  // most chunks (above the rare limit), so that the first query holding
  // one is as quick as the next; `cancelled` is asked between words.
  // Returns how many were built or kept. Reads the whole keyword index:
  // run it in the background once the index has caught up.
  Result<size_t> PrepareKeywordLists(size_t words, const std::function<bool()>& cancelled = {}) const;

  // Path contexts: a description attached to a path and everything below it.
  Status SetPathContext(const std::string& path, const std::string& description);
  Result<std::vector<PathContext>> ListPathContexts() const;
  Status DeletePathContext(const std::string& path);  // ENOENT if none

  Result<IndexCounts> Counts() const;
  ContentSource* source() const { return source_; }

  // The embedding provider (null: none). SetEmbedder switches it at run
  // time: vectors of another model are dropped at once, and the semantic
  // lane answers degraded until EmbedMissing has refilled them. A provider
  // must outlive the index, or its use: the caller keeps a replaced one.
  EmbeddingProvider* embedder() const { return embedder_.load(); }
  Status SetEmbedder(EmbeddingProvider* embedder);
  // Embeds every chunk that has no vector, a batch of chunks per request and
  // transaction; `progress` counts chunks. Sync with force refills them too. Returns early (OK) when the
  // provider is switched meanwhile, and with the provider's error if it
  // fails (the batches done stay). Nothing to do without a provider.
  // `cancelled` (optional) is asked before each batch.
  Status EmbedMissing(const ProgressFn& progress = {}, const std::function<bool()>& cancelled = {});

 private:
  struct Lane;  // one ranked hit of one lane
  // A file read and reduced for the index, before the writer stores it.
  struct Prepared {
    std::string path;
    bool index = false;  // false: not indexable (gone, too large, binary): remove it
    FileInfo info;
    std::string text;  // sanitized
    std::vector<LineChunk> chunks;
    std::vector<DocumentPart> chunk_parts;  // per chunk, for a document; else empty
    std::vector<uint32_t> trigrams;
    std::vector<Vector> vectors;
    EmbeddingProvider* embedded_by = nullptr;  // vectors of another provider are not stored
  };

  SearchIndex(ContentSource* source, Options options);
  // The writer (creating the schema) or a query-only reader.
  Result<std::unique_ptr<SqliteDb>> Connect(bool writer) const;
  Result<ConnectionPool<SqliteDb>::Lease> Borrow() const;
  // All *Locked methods require write_mu_ and run inside a transaction.
  Status UpsertLocked(const std::string& path, const FileInfo* known) REQUIRES(write_mu_);
  Prepared Prepare(const std::string& path, const FileInfo* known) const;
  Status StoreLocked(const Prepared& p) REQUIRES(write_mu_);
  Status RemoveLocked(const std::string& path, bool subtree) REQUIRES(write_mu_);
  Status DeleteChunksLocked(int64_t file_id) REQUIRES(write_mu_);
  Status RenameLocked(const std::string& from, const std::string& to) REQUIRES(write_mu_);
  Status InTransaction(const std::function<Status()>& body) REQUIRES(write_mu_);
  Status DropOtherVectorsLocked(const std::string& model) REQUIRES(write_mu_);
  bool HasUnembeddedLocked() REQUIRES(write_mu_);
  VectorIndex* Ann() const EXCLUDES(ann_mu_);
  void AnnUpdate(int64_t chunk_id, Vector v) REQUIRES(write_mu_);  // empty v: removal
  Result<std::vector<PathContext>> ReadPathContexts(SqliteDb& c) const;
  Result<std::vector<Lane>> KeywordLane(SqliteDb& c, const std::string& text, const QueryOptions& o,
                                        size_t want) const;
  Result<std::vector<Lane>> VectorLane(SqliteDb& c, const std::string& text, const QueryOptions& o,
                                       size_t want) const;

  ContentSource* const source_;
  const Options options_;
  std::atomic<EmbeddingProvider*> embedder_;
  // Vectors were dropped for a new model and are not all back yet: the
  // semantic lane answers degraded (by keywords) until then.
  std::atomic<bool> refilling_{false};
  std::string db_path_;

  Mutex write_mu_;
  std::unique_ptr<SqliteDb> writer_ GUARDED_BY(write_mu_);
  std::atomic<int64_t> last_update_ns_{0};

  // HNSW over the stored vectors (hnsw_min_vectors > 0), created with the
  // first vector (its dimension fixes the graph's). Changes of a transaction
  // are staged in ann_pending_ and applied only once it commits.
  mutable Mutex ann_mu_;
  std::unique_ptr<VectorIndex> ann_ GUARDED_BY(ann_mu_);
  std::vector<std::pair<int64_t, Vector>> ann_pending_ GUARDED_BY(write_mu_);

  // Trigrams of the files written by the open transaction, committed with it.
  TrigramIndex trigrams_ GUARDED_BY(write_mu_){"SELECT id FROM files"};

  std::unique_ptr<ConnectionPool<SqliteDb>> readers_;  // thread-safe
  // Impact lists of frequent keyword phrases (thread-safe).
  mutable TermImpacts impacts_;
};

}  // namespace nexus::search
