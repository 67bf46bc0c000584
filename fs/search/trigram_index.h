// TrigramIndex: which documents may contain a literal, the candidate step
// of grep.
//
// A document (a file's text, by an id that is never reused) is reduced to the
// set of its distinct trigrams over ASCII-lowercased bytes, so lookups are
// case-insensitive and give a superset of the documents that contain the
// literal; grep verifies each candidate against the file itself.
//
// Storage (in the caller's SQLite database, inside its transactions):
//   tri_segments(id, level)              one row per segment
//   tri_postings(seg, bucket, data)      the segment's posting lists, one row
//                                        per bucket = a trigram's first two
//                                        bytes, holding the lists of up to
//                                        256 trigrams
// Each Commit writes the documents added since the last one as a new
// segment of level 0; when a level holds kFanout segments they merge into
// one of the next level, dropping documents that are no longer live. So a
// burst of writes costs a few rows per transaction and a logarithmic number
// of merges, where a positional full-text trigram index costs a posting per
// byte of text (several times the CPU of the filesystem work that wrote it).
//
// A document's lists are written once, by the transaction that adds it: a
// changed file gets a new id, and the lists of its old id name a dead
// document, which Candidates returns (callers resolve ids against their live
// files and skip the rest) and merges purge.
//
// Row format of a bucket: varint n; n bytes: the third byte of each trigram,
// ascending; n varints: the byte length of each list; the lists, each the
// ascending document ids as varint deltas (the first from 0).
//
// Threading: one writer (Add/Commit/Abort on the thread that owns the write
// transaction); Candidates on any reader connection, concurrently.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/sqlite_db.h"
#include "base/status.h"

namespace nexus::search {

class TrigramIndex {
 public:
  // CREATE statements for the two tables (IF NOT EXISTS).
  static const char* const kSchema;
  static constexpr size_t kFanout = 8;

  // `live_docs_sql`: a query (static storage) giving the ids of every live
  // document, one per row; merges keep only those.
  explicit TrigramIndex(const char* live_docs_sql);

  // The distinct trigrams of `text` (ASCII-lowercased), in no set order.
  // Any thread.
  static std::vector<uint32_t> Extract(std::string_view text);
  // Writer: queues the trigrams of document `doc` (> 0) for the next
  // Commit, from its text or as Extract gave them.
  void Add(int64_t doc, std::string_view text) { AddTrigrams(doc, Extract(text)); }
  void AddTrigrams(int64_t doc, const std::vector<uint32_t>& trigrams);
  // Writes what was added as a segment and merges full levels, in the
  // caller's open transaction on `db`. Nothing to write is a no-op.
  Status Commit(SqliteDb& db);
  // The transaction failed: forgets what was added since the last Commit.
  void Abort() {
    pending_.clear();
    docs_added_.clear();
  }

  // Reader: the ids, ascending, of documents whose trigrams include every
  // trigram of `literal` (ASCII-lowercased; at least 3 bytes, else EINVAL).
  static Result<std::vector<int64_t>> Candidates(SqliteDb& db, std::string_view literal);

  struct Stats {
    uint64_t segments = 0;
    uint64_t rows = 0;
    uint64_t bytes = 0;
  };
  static Result<Stats> GetStats(SqliteDb& db);

 private:
  Status WriteSegment(SqliteDb& db, const std::vector<uint64_t>& sorted_pairs);
  Status MergeLevel(SqliteDb& db, int level, const std::vector<int64_t>& segments);

  const char* const live_docs_sql_;
  // (trigram << 40) | doc for every distinct trigram of every added doc.
  std::vector<uint64_t> pending_;
  std::vector<int64_t> docs_added_;  // in the order added
};

}  // namespace nexus::search
