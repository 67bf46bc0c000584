#!/usr/bin/env bash
# SQLite on the mount, in rollback-journal (DELETE) and WAL mode, and WAL
# with memory-mapped database I/O (mmap_size, every connection): 3000
# INSERTs each in its own transaction (so 3000 journal/WAL create-write-fsync
# cycles), then two processes writing concurrently through SQLite's POSIX
# locks (and, in WAL mode, the shared-memory -shm file mapped by both). After
# each phase `PRAGMA integrity_check` must say ok and the row counts and
# checksums must be exact; both must still hold after a daemon restart and in
# a copy of the database on the local disk.
source "$(dirname "$0")/../lib.sh"

ROWS=3000
CONCURRENT=400  # transactions per concurrent writer

# Per-connection settings for the current mode (set in the loop below).
CONN_PRAGMAS=""

# Prints a SQL script of $2 single-row transactions into table t, tagged $1.
gen_inserts() {
  local tag=$1 n=$2
  echo ".timeout 20000"
  echo "$CONN_PRAGMAS"
  awk -v tag="$tag" -v n="$n" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "BEGIN IMMEDIATE; INSERT INTO t(tag, seq, payload) VALUES (\x27%s\x27, %d, printf(\x27%%0200d\x27, %d)); COMMIT;\n", tag, i, i
  }'
}

# Requires `PRAGMA integrity_check` of db $1 to print exactly "ok".
check_integrity() {
  local out
  out=$(sqlite3 "$1" 'PRAGMA integrity_check;' 2>&1) || fail "integrity_check could not run on $1: $out"
  [[ $out == ok ]] || fail "integrity_check of $1 says: $(echo "$out" | head -n 5)"
}

# Requires db $1 to hold exactly rows seq 1..$3 for tag $2, with intact payloads.
check_rows() {
  local db=$1 tag=$2 n=$3 got want
  got=$(sqlite3 "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), sum(seq),
      sum(payload = printf('%0200d', seq)) FROM t WHERE tag = '$tag';") ||
    fail "query on $db failed"
  want="$n|$n|1|$n|$((n * (n + 1) / 2))|$n"
  [[ $got == "$want" ]] || fail "rows for $tag in $db: got '$got', want '$want'"
}

nexus_start

MODES="delete wal wal_mmap"
for mode in $MODES; do
  DB="$NEXUS_MNT/$mode/test.db"
  mkdir "$NEXUS_MNT/$mode"
  journal=${mode%_mmap}
  CONN_PRAGMAS="PRAGMA synchronous=FULL;"
  [[ $mode == *_mmap ]] && CONN_PRAGMAS+=" PRAGMA mmap_size=268435456;"

  note "$mode: create the database"
  out=$(sqlite3 "$DB" "PRAGMA journal_mode=$journal; PRAGMA synchronous=FULL;
      CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL);
      CREATE INDEX t_tag_seq ON t(tag, seq);") || fail "$mode: creating the database failed"
  [[ $out == "$journal" ]] || fail "$mode: journal_mode answered '$out'"

  note "$mode: $ROWS INSERTs, one transaction each"
  gen_inserts single "$ROWS" | sqlite3 -bail "$DB" >/dev/null || fail "$mode: single-writer inserts failed"
  check_integrity "$DB"
  check_rows "$DB" single "$ROWS"

  note "$mode: two concurrent writers, $CONCURRENT transactions each"
  gen_inserts w1 "$CONCURRENT" >"$TEST_ROOT/w1.sql"
  gen_inserts w2 "$CONCURRENT" >"$TEST_ROOT/w2.sql"
  sqlite3 -bail "$DB" <"$TEST_ROOT/w1.sql" >"$TEST_ROOT/w1.out" 2>&1 &
  p1=$!
  sqlite3 -bail "$DB" <"$TEST_ROOT/w2.sql" >"$TEST_ROOT/w2.out" 2>&1 &
  p2=$!
  # A reader running at the same time must always see a consistent count.
  for _ in $(seq 20); do
    c=$(sqlite3 "$DB" ".timeout 20000" "$CONN_PRAGMAS" "SELECT count(*) FROM t;" | tail -n 1) ||
      fail "$mode: concurrent reader failed"
    [[ $c -ge $ROWS ]] || fail "$mode: concurrent reader saw $c rows"
  done
  wait $p1 || { cat "$TEST_ROOT/w1.out" >&2; fail "$mode: concurrent writer 1 failed"; }
  wait $p2 || { cat "$TEST_ROOT/w2.out" >&2; fail "$mode: concurrent writer 2 failed"; }
  check_integrity "$DB"
  check_rows "$DB" w1 "$CONCURRENT"
  check_rows "$DB" w2 "$CONCURRENT"
  total=$(sqlite3 "$DB" "SELECT count(*) FROM t;")
  [[ $total -eq $((ROWS + 2 * CONCURRENT)) ]] || fail "$mode: total row count $total"

  note "$mode: delete half, vacuum, integrity"
  sqlite3 "$DB" "DELETE FROM t WHERE tag = 'single' AND seq % 2 = 0; VACUUM;" || fail "$mode: delete/vacuum failed"
  check_integrity "$DB"
  [[ $(sqlite3 "$DB" "SELECT count(*) FROM t WHERE tag = 'single';") -eq $((ROWS / 2)) ]] ||
    fail "$mode: wrong row count after delete"
  if [[ $mode == delete ]]; then
    [[ ! -e "$DB-journal" ]] || fail "delete: rollback journal left behind after the last transaction"
  fi
done

note "restart the daemon; every database is intact"
nexus_stop
[[ ! -e "$NEXUS_MNT/wal/test.db" ]] || fail "database visible at the mount point after stop"
nexus_start
for mode in $MODES; do
  DB="$NEXUS_MNT/$mode/test.db"
  check_integrity "$DB"
  [[ $(sqlite3 "$DB" "SELECT count(*) FROM t;") -eq $((ROWS / 2 + 2 * CONCURRENT)) ]] ||
    fail "$mode: wrong row count after restart"
  check_rows "$DB" w1 "$CONCURRENT"
  note "$mode: a copy on the local disk is intact"
  sqlite3 "$DB" ".backup '$TEST_ROOT/$mode-backup.db'" || fail "$mode: .backup failed"
  check_integrity "$TEST_ROOT/$mode-backup.db"
  # A WAL database file alone is only complete after a checkpoint.
  if [[ $mode == wal* ]]; then
    sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null || fail "wal: checkpoint failed"
  fi
  cp "$DB" "$TEST_ROOT/$mode-copy.db"
  check_integrity "$TEST_ROOT/$mode-copy.db"
  check_rows "$TEST_ROOT/$mode-copy.db" w2 "$CONCURRENT"
done

nexus_stop
echo "PASS sqlite"
