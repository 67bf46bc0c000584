#!/usr/bin/env bash
# The sandbox profile over a host workspace (docs/sandboxes.md "The sandbox
# profile"), started as the guide does (`nexus up --profile sandbox
# --workspace WS --data-dir D --port P`): changes made on the host side of /zone/local, by programs that
# do not go through the mount, are versioned, indexed and logged like any
# other change, within a second, and the mount shows them at once (the
# kernel's caches are dropped); a change made through the mount is still
# recorded once. /health shows the workspace's index state (indexing ->
# ready) and that host-side changes are watched.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
WS=$TEST_ROOT/ws
M=$NEXUS_MNT
mkdir -p "$WS/docs"
printf 'first draft\n' >"$WS/docs/plan.txt"
PORT=$((20000 + RANDOM % 20000))
export NEXUS_HOME=$TEST_ROOT/home
NEXUS_LOG=$NEXUS_DATA/nexusd.log
expect_rc 0 "$NEXUS_CLI" up --profile sandbox --workspace "$WS" --data-dir "$NEXUS_DATA" --mount "$M" \
  --port "$PORT" -- --log-level info
NEXUSD_PID=$(python3 -c "import json; print(json.load(open('$NEXUS_HOME/up.json'))['pid'])")
expect_rc 0 "$NEXUS_CLI" --json features
expect_json 'j["profile"]' sandbox

# within SECS WHAT CMD...: CMD succeeds within SECS seconds.
within() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s%N) + secs * 1000000000))
  until "$@" >/dev/null 2>&1; do
    (($(date +%s%N) < deadline)) || fail "$what (not within ${secs}s)"
    sleep 0.02
  done
}
health() { curl -fsS "http://127.0.0.1:$PORT/health" >"$TEST_ROOT/out"; }
health_says() { health && [[ $(json_get "$1") == "$2" ]]; }

note "/health: the workspace's index goes ready, host-side changes are watched"
health
expect_json 'sorted(j["workspace"])' "['dir', 'host_changes', 'index']"
expect_json 'j["workspace"]["dir"]' "$WS"
within 20 "the workspace index is ready" health_says 'j["workspace"]["index"]' ready
within 10 "host-side changes are watched" health_says 'j["workspace"]["host_changes"]' watching
for f in versions search sandboxes rebac; do
  expect_json "j['features']['$f']" enabled
done

# history_has PATH TEXT: PATH's newest version holds exactly TEXT.
history_has() {
  local want
  want=$(printf '%s' "$2" | git hash-object --stdin)
  nx --json versions history "$1" 2>/dev/null | python3 -c "
import json, sys
v = json.load(sys.stdin)['versions']
sys.exit(0 if v and v[-1]['content_id'] == '$want' else 1)"
}
grep_finds() { nx grep "$1" /zone/local | grep -q "$2"; }

note "a host-side write, a new file, a new tree, a rename, a removal"
cat "$M/zone/local/docs/plan.txt" >/dev/null  # the kernel now caches it
start=$(date +%s%N)
printf 'second draft zebraquartz\n' >"$WS/docs/plan.txt"
within 1 "a host write in history" history_has /zone/local/docs/plan.txt $'second draft zebraquartz\n'
within 1 "a host write in search" grep_finds zebraquartz /zone/local/docs/plan.txt
echo "host write -> history and search: $((($(date +%s%N) - start) / 1000000)) ms"
[[ $(cat "$M/zone/local/docs/plan.txt") == "second draft zebraquartz" ]] || fail "the mount shows stale content"
expect_rc 0 nx --json ops log --path /zone/local/docs/plan.txt
expect_json '[o["op"] for o in j["operations"]][0]' write

echo 'brand new xylophonic' >"$WS/new.txt"
within 1 "a new host file in history" history_has /zone/local/new.txt $'brand new xylophonic\n'
within 1 "a new host file in search" grep_finds xylophonic /zone/local/new.txt
[[ $(cat "$M/zone/local/new.txt") == "brand new xylophonic" ]] || fail "the mount does not show the new file"

mkdir -p "$WS/deep/a/b" && echo 'nested quokkafish' >"$WS/deep/a/b/leaf.txt"
within 2 "a file in a new host tree" history_has /zone/local/deep/a/b/leaf.txt $'nested quokkafish\n'
echo 'later in the tree' >"$WS/deep/a/b/later.txt"
within 1 "a later file in the new tree" history_has /zone/local/deep/a/b/later.txt $'later in the tree\n'

mv "$WS/new.txt" "$WS/docs/renamed.txt"
within 1 "a host rename in search" grep_finds xylophonic /zone/local/docs/renamed.txt
within 1 "a host rename in history" history_has /zone/local/docs/renamed.txt $'brand new xylophonic\n'
mv "$WS/deep" "$WS/moved"
echo 'after the move' >"$WS/moved/a/b/after.txt"
within 1 "a file in a moved host tree" history_has /zone/local/moved/a/b/after.txt $'after the move\n'
rm "$WS/docs/renamed.txt"
gone() { ! nx grep xylophonic /zone/local | grep -q .; }
within 1 "a host removal leaves search" gone
[[ ! -e $M/zone/local/docs/renamed.txt ]] || fail "the mount still shows a removed file"

note "a burst of 12,000 host-side files: every one versioned and indexed, nothing dropped"
python3 - "$WS/burst" <<'PY'
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(12000):  # a create and a close each: 24000 events
    with open(f"{d}/f{i:05d}.txt", "w") as f:
        f.write(f"burstline {i}\n")
PY
burst_found() { [[ $(nx grep -l burstline /zone/local/burst 2>/dev/null | wc -l) == 12000 ]]; }
within 60 "every file of the burst in search" burst_found
for i in 00000 05999 11999; do
  within 10 "f$i.txt in history" history_has "/zone/local/burst/f$i.txt" "burstline $((10#$i))"$'\n'
done
[[ $(grep -c "queue overflowed" "$NEXUS_LOG") == 0 ]] || fail "the watcher's queue overflowed"

note "a change through the mount is recorded once"
count_writes() { nx --json ops log --path /zone/local/docs/plan.txt --op write | python3 -c "import json,sys; print(len(json.load(sys.stdin)['operations']))"; }
writes=$(count_writes)
before=$(nx --json versions history /zone/local/docs/plan.txt | python3 -c "import json,sys; print(len(json.load(sys.stdin)['versions']))")
echo 'via the mount' >"$M/zone/local/docs/plan.txt"
within 2 "the mount's write in history" history_has /zone/local/docs/plan.txt $'via the mount\n'
sleep 0.5
after=$(nx --json versions history /zone/local/docs/plan.txt | python3 -c "import json,sys; print(len(json.load(sys.stdin)['versions']))")
[[ $after == $((before + 1)) ]] || fail "one write through the mount made $((after - before)) versions"
[[ $(count_writes) == $((writes + 1)) ]] || fail "one write through the mount logged $(($(count_writes) - writes)) writes"

note "down"
expect_rc 0 "$NEXUS_CLI" down
NEXUSD_PID=""
