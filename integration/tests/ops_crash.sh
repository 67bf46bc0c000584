#!/usr/bin/env bash
# The operations log loses no operation whose version was durable: a burst
# of file writes on the mount (new files and rewrites) is cut by a kill -9
# of nexusd; after a restart over the stale mount, every version that
# `nexus versions history` shows for the burst's files has its operation in
# `nexus ops log` (a create or write naming that version), and no version
# is logged twice.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
FILES=${OPS_CRASH_FILES:-200}

nexus_start
mkdir -p "$M/burst"

note "a burst of writes, nexusd killed with SIGKILL in the middle of it"
burst() {
  local i round
  for round in 1 2 3; do
    for ((i = 0; i < FILES; i++)); do
      printf 'round %d of file %d\n' "$round" "$i" >"$M/burst/f$i" 2>/dev/null || return 0
    done
  done
}
burst &
burst_pid=$!
# Let some versions reach the journal, then cut the daemon off mid-burst.
for ((i = 0; i < 200; i++)); do
  [[ -e $M/burst/f$((FILES / 2)) ]] && break
  sleep 0.05
done
sleep 0.3
nexus_kill9
wait "$burst_pid" || true
note "restart over the stale mount"
nexus_start_over_stale
expect_rc 0 nx versions flush

# history_set: "path version" of every version of the burst's files.
history_set() {
  local f
  for f in "$M"/burst/f*; do
    nx --json versions history "/burst/${f##*/}" 2>/dev/null |
      python3 -c "import json,sys; [print('/burst/$(basename "$f")', v['number']) for v in json.load(sys.stdin)['versions']]" ||
      true
  done | sort -u
}
# logged_set: "path version" of every logged operation under /burst that
# names the version it produced.
logged_set() {
  local before=0 page
  while :; do
    page=$(nx --json ops log --path /burst --limit 10000 --before "$before") || return 1
    python3 -c '
import json, sys
for o in json.load(sys.stdin)["operations"]:
    if o["version"]:
        print(o["path"], o["version"])' <<<"$page"
    before=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["next_before_id"])' <<<"$page")
    [[ $before != 0 ]] || break
  done | sort
}

note "every durable version of the burst is in the operations log"
history_set >"$TEST_ROOT/history"
versions=$(wc -l <"$TEST_ROOT/history")
((versions > 0)) || fail "no versions of the burst's files survived"
ok=0
for ((i = 0; i < 100; i++)); do
  logged_set >"$TEST_ROOT/logged.all" || fail "ops log --path /burst failed"
  sort -u "$TEST_ROOT/logged.all" >"$TEST_ROOT/logged"
  if comm -23 "$TEST_ROOT/history" "$TEST_ROOT/logged" >"$TEST_ROOT/missing" && [[ ! -s $TEST_ROOT/missing ]]; then
    ok=1
    break
  fi
  sleep 0.2
done
((ok)) || fail "$(wc -l <"$TEST_ROOT/missing") of $versions versions are not in the operations log, e.g. $(head -n 5 "$TEST_ROOT/missing" | tr '\n' ';')"
dups=$(uniq -d "$TEST_ROOT/logged.all" | wc -l)
((dups == 0)) || fail "$dups versions logged more than once, e.g. $(uniq -d "$TEST_ROOT/logged.all" | head -n 3 | tr '\n' ';')"
extra=$(comm -13 "$TEST_ROOT/history" "$TEST_ROOT/logged" | wc -l)
note "$versions versions of $(find "$M/burst" -type f | wc -l) files; all logged ($extra logged versions not in history)"
((extra == 0)) || fail "the log names versions history does not have: $(comm -13 "$TEST_ROOT/history" "$TEST_ROOT/logged" | head -n 5 | tr '\n' ';')"

note "the log keeps working after the restart"
echo after >"$M/burst/after"
for ((i = 0; i < 100; i++)); do
  logged_set | grep -q '^/burst/after ' && break
  sleep 0.1
done
logged_set | grep -q '^/burst/after ' || fail "a write after the restart is not logged"

nexus_stop
echo PASS
