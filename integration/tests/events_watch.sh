#!/usr/bin/env bash
# The operations log live, end to end: a real `nexus events watch --json`
# sees a burst of 10,000 creates on the mount in order, with none lost and
# none printed twice across a daemon restart in the middle of the burst (it
# reconnects by itself and resumes after the last cursor it printed);
# `events replay` reads the same lines; `tail -f`, `jq` and `grep` read an activity
# file (/.nexus/activity/DAY/SUBJECT.jsonl) growing; a non-root user lists
# and reads only its own activity file and no history.
source "$(dirname "$0")/../lib.sh"

nexus_start
M=$NEXUS_MNT
W="$TEST_ROOT/watch.out"
WE="$TEST_ROOT/watch.err"

# wait_lines FILE N [SECONDS]: until FILE has at least N lines.
wait_lines() {
  local i
  for ((i = 0; i < ${3:-120} * 10; i++)); do
    [[ $(wc -l <"$1") -ge $2 ]] && return 0
    sleep 0.1
  done
  fail "$1 has $(wc -l <"$1") lines, expected $2; stderr: $(tail -n 5 "$WE" 2>/dev/null)"
}

note "help and usage"
expect_rc 0 nx events watch --help
expect_rc 0 nx events replay --help
expect_rc 64 nx events replay
expect_rc 64 nx events watch --since yesterday

note "a watch of /burst, started before the burst"
mkdir "$M/burst"
(nx_exec --json events watch /burst) >"$W" 2>"$WE" &
WATCH_PID=$!
NEXUS_EXTRA_PIDS+=("$WATCH_PID")
# The watch is live once it prints the marker's create.
for ((i = 0; i < 100; i++)); do
  : >"$M/burst/marker$i"
  sleep 0.2
  [[ -s $W ]] && break
done
[[ -s $W ]] || fail "the watch printed nothing: $(cat "$WE")"
wait_lines "$W" "$i"
base=$(wc -l <"$W")

note "10,000 creates, nexusd restarted after the first 5,000"
(cd "$M/burst" && for n in $(seq 1 5000); do : >"f$n"; done)
nexus_stop
nexus_start
(cd "$M/burst" && for n in $(seq 5001 10000); do : >"f$n"; done)
wait_lines "$W" $((base + 10000)) 300
kill -0 "$WATCH_PID" || fail "the watch exited"
grep -q "reconnecting" "$WE" || fail "no reconnect note on stderr: $(cat "$WE")"
python3 - "$W" "$base" <<'PY' || fail "the watch's lines are wrong"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
cursors = [l["cursor"] for l in lines]
assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors), "cursors out of order or repeated"
for l in lines:
    assert set(l) >= {"cursor", "time_ns", "op", "path", "old_path", "subject", "uid", "pid", "command",
                      "agent_id", "task_id", "version"}, l
creates = [l["path"] for l in lines if l["op"] == "create" and l["path"].startswith("/burst/f")]
want = ["/burst/f%d" % n for n in range(1, 10001)]
assert creates == want, "creates: %d seen, first difference at %s" % (
    len(creates), next((i for i, (a, b) in enumerate(zip(creates, want)) if a != b), min(len(creates), len(want))))
PY

kill "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true

note "--count N exits after N; --since resumes after a cursor"
first=$(head -n 1 "$W" | jq -r .cursor)
expect_rc 0 nx --json events watch /burst --since "$first" --count 3
[[ $(wc -l <"$TEST_ROOT/out") -eq 3 ]] || fail "--count 3 printed: $(out)"
[[ $(jq -r .cursor "$TEST_ROOT/out" | head -n 1) -gt $first ]] || fail "--since $first printed: $(out)"

note "events replay: the log oldest first, as the same lines"
expect_rc 0 nx --json events replay --since 1h /burst
[[ $(grep -c '"op":"create"' "$TEST_ROOT/out") -ge 10000 ]] || fail "replay: $(grep -c create "$TEST_ROOT/out") creates"
python3 - "$TEST_ROOT/out" <<'PY' || fail "replay is not oldest first"
import json, sys
c = [json.loads(l)["cursor"] for l in open(sys.argv[1])]
assert c == sorted(c), "not oldest first"
PY
expect_rc 0 nx events replay --since 1h /burst/f1
grep -q "create  /burst/f1 " "$TEST_ROOT/out" || fail "human replay: $(head -n 3 "$TEST_ROOT/out")"

note "activity files: tail -f, jq and grep"
DAY=$(date -u +%F)
A="$M/.nexus/activity/$DAY"
[[ -d $A ]] || fail "no $A: $(ls "$M/.nexus/activity" 2>&1)"
me=$(tail -n 1 "$W" | jq -r .subject)
F="$A/$me.jsonl"
[[ -f $F ]] || fail "no $F: $(ls "$A")"
[[ $(stat -c %a "$F") == 444 ]] || fail "$F mode $(stat -c %a "$F")"
[[ $(jq -r 'select(.op == "create") | .path' "$F" | grep -c '^/burst/f') -eq 10000 ]] ||
  fail "jq counts $(jq -r .path "$F" | grep -c '^/burst/f') burst creates in $F"
grep -q '"path":"/burst/f5000"' "$F" || fail "grep finds no f5000 in $F"
touch "$F" 2>/dev/null && fail "touched an activity file"
tail -n 0 -f "$F" >"$TEST_ROOT/tail.out" 2>&1 &
TAIL_PID=$!
NEXUS_EXTRA_PIDS+=("$TAIL_PID")
sleep 1.5
mkdir "$M/tailed"
for n in 1 2 3; do echo "x" >"$M/tailed/t$n"; done
for ((i = 0; i < 100; i++)); do
  [[ $(grep -c '"/tailed/t' "$TEST_ROOT/tail.out") -ge 3 ]] && break
  sleep 0.2
done
[[ $(jq -r .path "$TEST_ROOT/tail.out" | grep -c '^/tailed/t') -ge 3 ]] ||
  fail "tail -f saw: $(cat "$TEST_ROOT/tail.out")"
kill "$TAIL_PID" 2>/dev/null || true

note "a non-root user sees its own activity file and no history"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 alice agent register scout "Scout"
expect_rc 0 bob agent register helper "Helper"
shell "$ALICE_UID" "echo hi > $M/agents/scout/inbox/from-alice" || fail "alice: $(cat "$TEST_ROOT/err")"
shell "$BOB_UID" "echo hi > $M/agents/helper/inbox/from-bob" || fail "bob: $(cat "$TEST_ROOT/err")"
for ((i = 0; i < 50; i++)); do
  [[ -f "$A/user:alice.jsonl" && -f "$A/user:bob.jsonl" ]] && break
  sleep 0.2
done
shell "$ALICE_UID" "ls $M/.nexus" || fail "alice cannot list /.nexus: $(cat "$TEST_ROOT/err")"
[[ $(out) == "activity" ]] || fail "alice lists /.nexus as: $(out)"
shell "$ALICE_UID" "ls $A" || fail "alice cannot list $A: $(cat "$TEST_ROOT/err")"
[[ $(out) == "user:alice.jsonl" ]] || fail "alice lists $A as: $(out)"
shell "$ALICE_UID" "grep -c from-alice '$A/user:alice.jsonl'" || fail "alice cannot read her file: $(cat "$TEST_ROOT/err")"
shell "$ALICE_UID" "cat '$A/user:bob.jsonl'" && fail "alice read bob's activity file"
shell "$ALICE_UID" "cat '$F'" && fail "alice read $me's activity file"
shell "$ALICE_UID" "ls $M/.nexus/versions" && fail "alice listed /.nexus/versions"
shell "$ALICE_UID" "echo x > '$A/user:alice.jsonl'" && fail "alice wrote her activity file"
ls "$A" | grep -q "user:bob.jsonl" || fail "the admin does not list bob's file: $(ls "$A")"

nexus_stop
echo "PASS events_watch"
