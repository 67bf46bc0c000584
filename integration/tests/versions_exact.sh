#!/usr/bin/env bash
# Every close is a version (docs/versions.md "Exact capture"): closes
# microseconds apart, rewrites while a reader holds the file open, a writer
# that keeps it open while another closes it,
# partial overwrites, fsyncs of a file kept open, a file removed right after
# its close, and 100 concurrent writers x 100 closes each — every version is
# in the history, in order, holding exactly what its close left. Then the
# same after a kill -9: what a close left before it and the recorder had not
# captured yet is captured at the next start.
source "$(dirname "$0")/../lib.sh"

nexus_start
M=$NEXUS_MNT
# The Python checks below call the CLI directly.
export NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home"
export PATH="$(dirname "$NEXUS_CLI"):$PATH"

# contents PATH: the content of every version of PATH, oldest first, one per
# line (newlines in a content shown as '|'), after the recorder caught up.
contents() {
  nx versions flush >/dev/null 2>&1 || true
  nx --json versions history "$1" >"$TEST_ROOT/hist.json" || fail "no history for $1"
  python3 - "$1" "$TEST_ROOT/hist.json" <<'EOF'
import json, subprocess, sys
path, hist = sys.argv[1], json.load(open(sys.argv[2]))
for v in hist["versions"]:
    out = subprocess.run(["nexus", "versions", "get", path, "--version", str(v["number"])], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"versions get {path} {v['number']}: {out.stderr}")
    print(out.stdout.rstrip("\n").replace("\n", "|"))
EOF
}

# expect PATH WANT...: PATH's versions are exactly WANT, in order.
expect() {
  local path=$1 got want
  shift
  want=$(printf '%s\n' "$@")
  for _ in $(seq 100); do
    got=$(contents "$path")
    [[ $got == "$want" ]] && return 0
    sleep 0.1
  done
  fail "$path: versions are
$got
want
$want"
}

note "three closes microseconds apart are three versions"
for v in r1 r2 r3; do echo $v >"$M/burst"; done
expect /burst r1 r2 r3

note "twenty rewrites in a burst, then a removal right after the last close"
for i in $(seq 1 20); do echo "w$i" >"$M/twenty"; done
rm "$M/twenty"
expect /twenty $(for i in $(seq 1 20); do echo "w$i"; done)
nx --json versions history /twenty | grep -q '"deleted": *true' || fail "/twenty is not marked deleted"

note "partial overwrites copy the close they change, once"
printf 'aaaa' >"$M/partial"
printf 'b' | dd of="$M/partial" conv=notrunc bs=1 seek=0 status=none
printf 'c' | dd of="$M/partial" conv=notrunc bs=1 seek=1 status=none
printf 'dd' >>"$M/partial"
expect /partial aaaa baaa bcaa bcaadd

note "rewrites while another process holds the file open for reading: that reader sees them, each close a version"
echo first >"$M/held"
expect /held first
exec 3<"$M/held"
echo second >"$M/held"
echo third >"$M/held"
got=$(cat <&3)
[[ $got == third ]] || fail "a reader that held /held open reads '$got', not 'third'"
exec 3<&-
expect /held first second third

note "a writer that keeps the file open and writes: another's close is no version until the first closes too"
# The holder writes, waits for the go-on file, writes again and closes; it
# starts no process while it holds the file (a child's copy of the
# descriptor closing at exec or exit is a close too).
python3 - "$M/held" "$TEST_ROOT/go-on" "$TEST_ROOT/holding" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"fourth\n")
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
os.write(fd, b"sixth\n")
os.close(fd)
EOF
holder=$!
for _ in $(seq 500); do [[ -e $TEST_ROOT/holding ]] && break; sleep 0.01; done
echo fifth >>"$M/held"
sleep 0.5
[[ $(contents /held | wc -l) == 3 ]] || fail "another writer's close while a writer is in use made a version"
touch "$TEST_ROOT/go-on"
wait "$holder"
expect /held first second third "third|fourth|fifth|sixth"

note "each fsync of a file kept open is a version of what it made durable"
python3 - "$M/synced" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for part in (b"one\n", b"two\n", b"three\n"):
    os.write(fd, part)
    os.fsync(fd)
os.write(fd, b"four\n")
os.close(fd)
EOF
expect /synced "one" "one|two" "one|two|three" "one|two|three|four"

note "an editor's atomic save (write a temporary file, rename it over) is one version"
echo v1 >"$M/saved"
printf 'v2\n' >"$M/.saved.swp" && mv "$M/.saved.swp" "$M/saved"
printf 'v3\n' >"$M/.saved.swp" && mv "$M/.saved.swp" "$M/saved"
expect /saved v1 v2 v3

note "100 writers x 100 closes each, concurrently: every version, in order"
mkdir "$M/many"
writers=()
for w in $(seq 1 100); do
  (for j in $(seq 1 100); do echo "$w-$j" >"$M/many/f$w"; done) &
  writers+=($!)
done
wait "${writers[@]}"
python3 - <<'EOF' || fail "concurrent writers: versions missing or out of order"
import json, subprocess, sys, time
def history(w):
    subprocess.run(["nexus", "versions", "flush"], capture_output=True, check=True)
    return json.loads(subprocess.run(["nexus", "--json", "versions", "history", f"/many/f{w}"],
                                     capture_output=True, text=True, check=True).stdout)
bad = 0
for w in range(1, 101):
    for _ in range(50):
        h = history(w)
        n = len(h["versions"])
        if n >= 100:
            break
        time.sleep(0.1)
    if n != 100:
        got = [subprocess.run(["nexus", "versions", "get", f"/many/f{w}", "--version", str(v["number"])],
                              capture_output=True, text=True).stdout.strip() for v in h["versions"]]
        missing = sorted(set(f"{w}-{j}" for j in range(1, 101)) - set(got), key=lambda x: int(x.split("-")[1]))
        print(f"/many/f{w}: {n} versions, want 100; missing {missing}", file=sys.stderr)
        bad += 1
        continue
    for v in (h["versions"][0], h["versions"][49], h["versions"][99]):
        out = subprocess.run(["nexus", "versions", "get", f"/many/f{w}", "--version", str(v["number"])],
                             capture_output=True, text=True, check=True).stdout.strip()
        if out != f"{w}-{v['number']}":
            print(f"/many/f{w} v{v['number']}: {out!r}", file=sys.stderr)
            bad += 1
sys.exit(1 if bad else 0)
EOF

note "nothing kept is left behind once captured"
left=$(find "$NEXUS_DATA" -path '*/closed/*' -type f | wc -l)
[[ $left == 0 ]] || fail "$left kept contents left in closed/ after every capture"

note "kill -9 amid 8 writers that fsync every rewrite: after a restart every fsync'd version is there"
mkdir "$M/synced8"
writers=()
for w in $(seq 1 8); do
  python3 - "$M/synced8/f$w" "$TEST_ROOT/synced-$w.log" "$w" <<'EOF' &
import os, sys
path, log, w = sys.argv[1], open(sys.argv[2], "w", buffering=1), sys.argv[3]
try:
    for i in range(1, 100000):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, f"{w}-{i}\n".encode())
        os.fsync(fd)
        print(f"{w}-{i}", file=log)  # fsync returned: this version must survive
        os.close(fd)
except OSError:
    pass  # the daemon is gone
EOF
  writers+=($!)
done
sleep $((2 + RANDOM % 3)).$((RANDOM % 10))
nexus_kill9
wait "${writers[@]}" || true
nexus_start_over_stale
nx versions flush >/dev/null
python3 - "$TEST_ROOT" <<'EOF' || fail "fsync'd versions lost in the kill -9"
import hashlib, json, subprocess, sys
root, lost, total = sys.argv[1], 0, 0
for w in range(1, 9):
    want = [l.strip() for l in open(f"{root}/synced-{w}.log") if l.strip()]
    total += len(want)
    r = subprocess.run(["nexus", "--json", "versions", "history", f"/synced8/f{w}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        # No history is right only for a writer killed before its first fsync.
        print(f"/synced8/f{w}: no history ({r.stdout.strip()} {r.stderr.strip()}) "
              f"with {len(want)} fsync'd versions", file=sys.stderr)
        lost += len(want)
        continue
    have = {v["content_id"] for v in json.loads(r.stdout)["versions"]}
    for c in want:
        data = (c + "\n").encode()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() not in have:
            print(f"/synced8/f{w}: fsync'd content {c!r} has no version", file=sys.stderr)
            lost += 1
print(f"{total} fsync'd versions before the kill, {lost} lost")
sys.exit(1 if lost or total < 8 else 0)
EOF
git --git-dir="$NEXUS_DATA/versions/versions.git" fsck --strict >"$TEST_ROOT/fsck.txt" 2>&1 ||
  { cat "$TEST_ROOT/fsck.txt"; fail "git fsck --strict of the version store after kill -9"; }

nexus_stop
note "versions_exact: ok"
