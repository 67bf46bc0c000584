#!/usr/bin/env bash
# An fsync of a large file kept open is its own exact version where the
# data dir's filesystem has reflinks (docs/versions.md "Exact capture"):
# the daemon's data dir is an XFS filesystem (reflink=1) on a loop device;
# a 24 MiB file is fsync'd, overwritten through the same handle, fsync'd
# again and closed; the history holds all three contents exactly. Skips
# (77) where there is no loop device or mkfs.xfs.
source "$(dirname "$0")/../lib.sh"

command -v mkfs.xfs >/dev/null || { echo "skip: no mkfs.xfs" >&2; exit 77; }
truncate -s 1G "$TEST_ROOT/xfs.img"
mkfs.xfs -q -m reflink=1 "$TEST_ROOT/xfs.img" || fail "mkfs.xfs failed"
mkdir -p "$NEXUS_DATA"
mount -o loop "$TEST_ROOT/xfs.img" "$NEXUS_DATA" 2>"$TEST_ROOT/mount.err" ||
  { echo "skip: cannot loop-mount: $(cat "$TEST_ROOT/mount.err")" >&2; exit 77; }

nexus_start
export NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home"
export PATH="$(dirname "$NEXUS_CLI"):$PATH"

note "fsync of a 24 MiB file kept open, overwritten, fsync'd again, closed"
python3 - "$NEXUS_MNT/big.bin" <<'PY' || fail "writer failed"
import os, sys
size = 24 << 20
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
for byte in (b"a", b"b", b"c"):
    os.pwrite(fd, byte * size, 0)
    if byte != b"c":
        os.fsync(fd)
os.close(fd)
PY

# Every version's content, as "<size> <first byte> <distinct bytes>".
summary() {
  nx versions flush >/dev/null 2>&1 || true
  nx --json versions history /big.bin >"$TEST_ROOT/hist.json" || fail "no history for /big.bin"
  python3 - "$TEST_ROOT/hist.json" <<'PY'
import json, subprocess, sys
for v in json.load(open(sys.argv[1]))["versions"]:
    out = subprocess.run(["nexus", "versions", "get", "/big.bin", "--version", str(v["number"])],
                         capture_output=True)
    if out.returncode != 0:
        sys.exit(f"versions get {v['number']}: {out.stderr.decode()}")
    d = out.stdout
    print(len(d), chr(d[0]) if d else "-", len(set(d)))
PY
}
want="25165824 a 1
25165824 b 1
25165824 c 1"
for _ in $(seq 100); do
  got=$(summary)
  [[ $got == "$want" ]] && break
  sleep 0.1
done
[[ $got == "$want" ]] || fail "versions of /big.bin are
$got
want
$want"
closed=$(find "$NEXUS_DATA/closed" -type f 2>/dev/null | wc -l)
((closed == 0)) || fail "$closed kept contents left in DATA/closed after capture"

nexus_stop
note "versions_reflink: ok"
