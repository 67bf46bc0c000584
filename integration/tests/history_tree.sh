#!/usr/bin/env bash
# The read-only history tree at /.nexus:
#  - hidden: `ls -a` of the mount root does not list it, yet it is reachable
#    by path and lists snapshots/ and versions/;
#  - files written with shell tools show up as /.nexus/versions/<path>/<N>
#    (workspace files under zone/local/), `cat` gives each version's content,
#    and a deleted file's versions stay readable;
#  - every write there fails with EROFS ("Read-only file system");
#  - a snapshot made with `nexus snapshot create` is browsable at
#    /.nexus/snapshots/<id> in the mount's layout: `diff -r` against the
#    mount finds no difference, and later changes do not reach it.
source "$(dirname "$0")/../lib.sh"

WS="$TEST_ROOT/ws"
mkdir -p "$WS"
nexus_start --workspace "$WS"
M="$NEXUS_MNT"
H="$M/.nexus"

note "hidden but reachable"
if ls -a "$M" | grep -qx '.nexus'; then fail "ls -a lists .nexus"; fi
[[ -d $H ]] || fail "$H is not reachable"
[[ $(ls "$H" | tr '\n' ' ') == "activity snapshots versions " ]] || fail "/.nexus lists: $(ls "$H")"
mkdir "$M/.nexus" 2>/dev/null && fail "mkdir /.nexus succeeded"

# Waits until `ls $H/versions/$1` shows version $2 (captures are recorded in
# the background after the file is closed).
wait_version() {
  local path=$1 n=$2 i
  for ((i = 0; i < 200; i++)); do
    ls "$H/versions/$path" 2>/dev/null | grep -qx "$n" && return 0
    sleep 0.1
  done
  fail "version $n of $path did not appear; versions/$path lists: $(ls "$H/versions/$path" 2>&1 | tr '\n' ' ')"
}

note "versions of files written with shell tools"
mkdir -p "$M/src"
echo "print(1)" >"$M/src/app.py"
wait_version src/app.py 1
printf 'print(2)\nprint(22)\n' >"$M/src/app.py"
wait_version src/app.py 2
[[ $(cat "$H/versions/src/app.py/1") == "print(1)" ]] || fail "version 1: $(cat "$H/versions/src/app.py/1")"
[[ $(cat "$H/versions/src/app.py/2") == $'print(2)\nprint(22)' ]] || fail "version 2: $(cat "$H/versions/src/app.py/2")"
[[ $(ls "$H/versions/src/app.py" | tr '\n' ' ') == "1 2 " ]] || fail "app.py versions: $(ls "$H/versions/src/app.py")"
[[ $(stat -c '%F %a %s' "$H/versions/src/app.py/2") == "regular file 444 19" ]] ||
  fail "version 2 attributes: $(stat -c '%F %a %s' "$H/versions/src/app.py/2")"
[[ $(stat -c '%F' "$H/versions/src/app.py") == directory ]] || fail "versions/src/app.py is not a directory"
ls "$H/versions/src" | grep -qx app.py || fail "versions/src does not list app.py"
cmp -s "$H/versions/src/app.py/2" "$M/src/app.py" || fail "the latest version differs from the file"
[[ ! -e $H/versions/src/app.py/3 ]] || fail "a version 3 exists"
[[ ! -e $H/versions/nothing-here ]] || fail "an unversioned path exists"

note "a larger file reads back whole"
head -c $((3 * 1024 * 1024 + 5)) /dev/urandom >"$TEST_ROOT/big.bin"
cp "$TEST_ROOT/big.bin" "$M/big.bin"
wait_version big.bin 1
cmp "$H/versions/big.bin/1" "$TEST_ROOT/big.bin" || fail "big.bin version 1 differs"

note "workspace files under zone/local"
echo "workspace note" >"$M/zone/local/notes.md"
wait_version zone/local/notes.md 1
[[ $(cat "$H/versions/zone/local/notes.md/1") == "workspace note" ]] || fail "workspace version differs"
ls "$H/versions/zone" | grep -qx local || fail "versions/zone does not list local"

note "a deleted file's versions stay"
echo "last words" >"$M/gone.txt"
wait_version gone.txt 1
rm "$M/gone.txt"
sleep 1
[[ $(cat "$H/versions/gone.txt/1") == "last words" ]] || fail "deleted file's version is not readable"

note "writes fail with EROFS"
for target in "$H/versions/src/app.py/1" "$H/versions/new-file" "$H/snapshots/x" "$H/x"; do
  err=$(touch "$target" 2>&1) && fail "touch $target succeeded"
  [[ $err == *"Read-only file system"* ]] || fail "touch $target: $err"
done
err=$( (echo overwrite >"$H/versions/src/app.py/1") 2>&1) && fail "overwriting a version succeeded"
[[ $err == *"Read-only file system"* ]] || fail "overwrite: $err"
for cmd in "mkdir $H/versions/d" "rm -f $H/versions/src/app.py/1" "rmdir $H/versions/src" \
  "mv $H/versions/src/app.py/1 $H/versions/src/app.py/9" "chmod 600 $H/versions/src/app.py/1" \
  "ln -s x $H/versions/link" "setfattr -n user.x -v 1 $H/versions/src/app.py/1"; do
  err=$($cmd 2>&1) && fail "$cmd succeeded"
  [[ $err == *"Read-only file system"* ]] || fail "$cmd: $err"
done
[[ $(cat "$H/versions/src/app.py/1") == "print(1)" ]] || fail "version 1 changed"

note "snapshots"
if ! "$NEXUS_CLI" snapshot --help >/dev/null 2>&1; then
  fail "nexus snapshot is not available"
fi
[[ -z $(ls "$H/snapshots") ]] || fail "snapshots listed before any was made: $(ls "$H/snapshots")"
expect_rc 0 nx snapshot create --description "history tree test"
id=$(grep -oE 'snapshot [0-9]+' "$TEST_ROOT/out" | head -n 1 | awk '{print $2}')
[[ -n $id ]] || fail "no snapshot id in: $(cat "$TEST_ROOT/out")"
ls "$H/snapshots" | grep -qx "$id" || fail "snapshots does not list $id: $(ls "$H/snapshots")"
S="$H/snapshots/$id"
# /agents and /forks (NexusFS's own, empty here) are folders git cannot hold.
diff -r -x agents -x forks "$S" "$M" >"$TEST_ROOT/snap.diff" 2>&1 || { head -n 20 "$TEST_ROOT/snap.diff" >&2; fail "snapshot $id differs from the mount"; }
[[ $(stat -c '%F %a' "$S/src/app.py") == "regular file 444" ]] || fail "snapshot file attributes: $(stat -c '%F %a' "$S/src/app.py")"
[[ $(cat "$S/zone/local/notes.md") == "workspace note" ]] || fail "snapshot workspace file differs"
[[ ! -e $S/gone.txt ]] || fail "the snapshot holds a deleted file"
echo "after the snapshot" >"$M/src/app.py"
wait_version src/app.py 3
[[ $(cat "$S/src/app.py") == $'print(2)\nprint(22)' ]] || fail "a later change reached the snapshot"
if diff -r "$S" "$M" >/dev/null 2>&1; then fail "diff -r does not see the later change"; fi
err=$(touch "$S/src/app.py" 2>&1) && fail "touch in a snapshot succeeded"
[[ $err == *"Read-only file system"* ]] || fail "touch in a snapshot: $err"

note "only root enters /.nexus/versions and /.nexus/snapshots; others read history through the CLI"
[[ $(stat -c %a "$H") == 555 ]] || fail "/.nexus mode: $(stat -c %a "$H")"
[[ $(stat -c %a "$H/versions") == 500 ]] || fail "/.nexus/versions mode: $(stat -c %a "$H/versions")"
[[ $(stat -c %a "$H/snapshots") == 500 ]] || fail "/.nexus/snapshots mode: $(stat -c %a "$H/snapshots")"
if setpriv --reuid 1000 --regid 1000 --clear-groups ls "$H/versions" >/dev/null 2>&1; then
  fail "uid 1000 could list /.nexus/versions"
fi

nexus_stop
echo "PASS history_tree"
