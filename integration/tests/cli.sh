#!/usr/bin/env bash
# The nexus CLI against a real daemon over its Unix socket: every file,
# lock and status command, JSON output, exit codes, what the CLI writes is
# on the mount at once and vice versa, and a non-admin local uid.
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)
nexus_start
M=$NEXUS_MNT

note "status, ready, features, whoami"
expect_rc 0 nx ready --timeout 10
expect_rc 0 nx --json status
[[ $(json_get 'j["mounted"]') == True ]] || fail "status: not mounted"
[[ $(json_get 'j["mountpoint"]') == "$M" ]] || fail "status: wrong mountpoint"
expect_rc 0 nx --json features
[[ $(json_get '[f["state"] for f in j["features"] if f["name"]=="versions"][0]') == enabled ]] ||
  fail "features: versions must be enabled in profile full"
[[ $(json_get '[f["detail"] for f in j["features"] if f["name"]=="mesh"][0]') == "in no mesh yet"* ]] ||
  fail "features must say this daemon is in no mesh: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx whoami --json
[[ $(json_get 'j["subject"]') == user:admin && $(json_get 'j["is_admin"]') == True ]] || fail "root is not the admin"

note "every command has --help; usage errors exit 64"
for c in status ready features whoami up down env connect write cat ls stat metadata exists read-bulk \
  mkdir rmdir rename-batch rm-batch "lock acquire" "lock release" "lock info" "lock list" \
  "admin create-user" "admin create-key" "admin list-users" "admin get-user" "admin revoke-key" \
  "admin update-key" "tls generate"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $c --help
  grep -q "^Usage: nexus $c" "$TEST_ROOT/out" || fail "nexus $c --help: no usage line"
done
expect_rc 64 nx
expect_rc 64 nx frobnicate
expect_rc 64 nx cat
expect_rc 64 nx cat /a /b
expect_rc 64 nx ls --bogus
expect_rc 64 nx cat /x --offset minus-one
expect_rc 64 nx lock
expect_rc 0 nx --version

note "write and cat, both ways"
expect_rc 0 nx write /hello.txt "hello world"
[[ $(cat "$M/hello.txt") == "hello world" ]] || fail "CLI write not visible on the mount"
ls "$M/fresh.txt" 2>/dev/null && fail "fresh.txt exists too early"   # caches a negative entry
expect_rc 0 nx write /fresh.txt "new"
[[ $(cat "$M/fresh.txt") == new ]] || fail "CLI create hidden by a cached negative entry"
stat -c %s "$M/hello.txt" >/dev/null   # caches attributes
expect_rc 0 nx write /hello.txt "a much longer replacement"
[[ $(cat "$M/hello.txt") == "a much longer replacement" ]] || fail "stale size or pages after CLI write"
echo "from the mount" >"$M/m.txt"
expect_rc 0 nx cat /m.txt
[[ $(cat "$TEST_ROOT/out") == "from the mount" ]] || fail "mount write not visible to CLI"
expect_rc 0 nx write --append /m.txt "more"
[[ $(cat "$M/m.txt") == "from the mount"$'\n'"more" ]] || fail "append"
expect_rc 0 nx cat /hello.txt --offset 2 --length 4
[[ $(cat "$TEST_ROOT/out") == "much" ]] || fail "range read: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx cat /hello.txt --offset 20 --length 100
[[ $(cat "$TEST_ROOT/out") == "ement" ]] || fail "range past EOF must return what exists"

note "paths are walked as the kernel walks them: .. after a symlink"
mkdir -p "$M/dd/real/sub"
echo "in real" >"$M/dd/real/file"
echo "in dd" >"$M/dd/file"
ln -s real/sub "$M/dd/link"
[[ $(cat "$M/dd/link/../file") == "in real" ]] || fail "the kernel itself should read dd/real/file"
expect_rc 0 nx cat /dd/link/../file
[[ $(cat "$TEST_ROOT/out") == "$(cat "$M/dd/link/../file")" ]] ||
  fail "nexus cat /dd/link/../file read '$(cat "$TEST_ROOT/out")', the mount reads '$(cat "$M/dd/link/../file")'"
expect_rc 0 nx cat /../../dd/file
[[ $(cat "$TEST_ROOT/out") == "in dd" ]] || fail ".. above / must stay at /"
ln -s loop "$M/dd/loop"
expect_rc 1 nx cat /dd/loop
rm -rf "$M/dd"
expect_rc 0 nx cat /hello.txt --offset 1000
[[ ! -s "$TEST_ROOT/out" ]] || fail "range wholly past EOF must be empty"
expect_rc 1 nx cat /nope.txt
grep -q "nexus: " "$TEST_ROOT/err" || fail "no error message"
expect_rc 1 nx cat /
head -c 5000000 /dev/urandom >"$TEST_ROOT/big"
nx write /big.bin --stream <"$TEST_ROOT/big" >/dev/null || fail "stream write"
cmp "$TEST_ROOT/big" "$M/big.bin" || fail "streamed file differs on the mount"
nx cat /big.bin | cmp - "$TEST_ROOT/big" || fail "cat of a multi-chunk file differs"
printf 'piped' | nx write /piped.txt >/dev/null
[[ $(cat "$M/piped.txt") == piped ]] || fail "write from stdin"
expect_rc 1 nx write /no/such/dir/f "x"
expect_rc 0 nx write -p /made/on/the/way/f "x"
[[ -f "$M/made/on/the/way/f" ]] || fail "write -p"

note "stat, metadata, exists"
expect_rc 0 nx --json stat /hello.txt /big.bin
[[ $(json_get 'j[0]["content_id"]') == $(git hash-object "$M/hello.txt") ]] || fail "content_id is not git's blob id"
[[ $(json_get 'j[1]["size"]') == 5000000 ]] || fail "stat size"
[[ $(json_get 'j[0]["is_directory"]') == False ]] || fail "is_directory"
expect_rc 1 nx --json stat /hello.txt /missing
[[ $(json_get 'j[1]["error"]["code"]') == notFound ]] || fail "typed error per path"
expect_rc 0 nx --json metadata /hello.txt /made
[[ $(json_get 'j[0]["mime_type"]') == text/plain && $(json_get 'j[0]["zone"]') == root ]] || fail "metadata"
[[ $(json_get 'j[1]["mime_type"]') == inode/directory ]] || fail "dir mime"
expect_rc 0 nx exists /hello.txt /made
expect_rc 1 nx exists /hello.txt /missing
grep -q "/missing: missing" "$TEST_ROOT/out" || fail "exists output"

note "ls, mkdir, rmdir"
expect_rc 0 nx mkdir /d1 /d2
expect_rc 1 nx mkdir /d1
expect_rc 1 nx mkdir /x/y/z
expect_rc 0 nx mkdir -p /x/y/z /d1
[[ -d "$M/x/y/z" ]] || fail "mkdir -p"
expect_rc 0 nx ls /
for n in hello.txt d1/ x/ big.bin; do grep -qx "$n" "$TEST_ROOT/out" || fail "ls / lacks $n"; done
expect_rc 0 nx ls -l /
grep -q '^-rw-r--r-- .* hello.txt$' "$TEST_ROOT/out" || fail "ls -l: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx --json ls /x
[[ $(json_get 'j[0]["name"]') == y ]] || fail "ls --json"
diff <(ls -A "$M" | sort) <(nx ls / | sed 's:/$::' | sort) || fail "ls differs from the mount"
expect_rc 1 nx rmdir /x
expect_rc 0 nx rmdir /x/y/z /d2
[[ ! -e "$M/x/y/z" && ! -e "$M/d2" ]] || fail "rmdir"
expect_rc 1 nx ls /nowhere

note "read-bulk"
expect_rc 0 nx --json read-bulk /hello.txt /missing /big.bin
[[ $(json_get 'j["/hello.txt"]["content"]') == "a much longer replacement" ]] || fail "read-bulk content"
[[ $(json_get 'j["/missing"]') == None ]] || fail "missing must be null"
[[ $(json_get 'len(j["/big.bin"]["content_base64"]) > 0') == True ]] || fail "binary as base64"
expect_rc 1 nx read-bulk --atomic /hello.txt /missing
expect_rc 0 nx read-bulk --atomic /hello.txt /m.txt

note "rename-batch and rm-batch: per-item results"
expect_rc 0 nx write /r1 one
expect_rc 0 nx write /r2 two
expect_rc 1 nx --json rename-batch /r1:/d1/r1 /gone:/x/gone /r2:/d1/r2
[[ $(json_get '[i["ok"] for i in j]') == "[True, False, True]" ]] || fail "rename-batch results"
[[ $(json_get 'j[1]["error"]["code"]') == notFound ]] || fail "rename-batch error code"
[[ -f "$M/d1/r1" && -f "$M/d1/r2" && ! -e "$M/r1" ]] || fail "rename-batch did not move"
expect_rc 64 nx rename-batch nocolon
expect_rc 1 nx rm-batch /d1/r1 /d1 /d1/nothing /d1/r2
grep -q "^ok      /d1/r1" "$TEST_ROOT/out" && grep -q "^failed  /d1:" "$TEST_ROOT/out" || fail "rm-batch output"
[[ ! -e "$M/d1/r1" && ! -e "$M/d1/r2" && -d "$M/d1" ]] || fail "rm-batch"

note "locks"
expect_rc 0 nx lock acquire /jobs/a --ttl 30
expect_rc 1 nx lock acquire /jobs/a
grep -q "locked by user:admin" "$TEST_ROOT/err" || fail "busy message names the holder"
expect_rc 0 nx --json lock info /jobs/a
[[ $(json_get 'j["held"]') == True && $(json_get 'j["holder"]') == user:admin ]] || fail "lock info"
expect_rc 0 nx --json lock list
[[ $(json_get 'len(j)') == 1 ]] || fail "lock list"
expect_rc 0 nx lock release /jobs/a
expect_rc 1 nx lock release /jobs/a
expect_rc 0 nx lock acquire /jobs/b --ttl 1
start=$(date +%s%N)
expect_rc 0 nx lock acquire /jobs/b --wait 10      # frees itself after 1 s
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
(( elapsed >= 500 && elapsed < 5000 )) || fail "wait for an expiring lock took ${elapsed} ms"
expect_rc 0 nx lock acquire /jobs/c --ttl 30
start=$(date +%s%N)
expect_rc 1 nx lock acquire /jobs/c --wait 1
grep -q "gave up waiting" "$TEST_ROOT/err" || fail "wait timeout message"
expect_rc 64 nx lock acquire /jobs/d --ttl 0
expect_rc 64 nx lock acquire /jobs/d --ttl forever

note "locks survive a daemon restart with the time they have left"
expect_rc 0 nx lock acquire /jobs/kept --ttl 120
expect_rc 0 nx --json lock info /jobs/kept
expires=$(json_get 'j["expires_at"]')
nexus_stop
nexus_start
expect_rc 0 nx --json lock info /jobs/kept
got=$(json_get 'j["held"], j["holder"], j["expires_at"]')
[[ $got == "True user:admin $expires" ]] ||
  fail "the lock did not survive the restart: $got, expected expiry $expires"
expect_rc 1 nx lock acquire /jobs/kept
expect_rc 0 nx lock release /jobs/kept

note "a local non-admin uid: peer credentials, POSIX checks, admin denied"
chgrp 1000 "$NEXUS_DATA/nexusd.sock"
as_user() { setpriv --reuid 1000 --regid 1000 --clear-groups env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home1000" "$NEXUS_CLI" "$@"; }
expect_rc 0 as_user --json whoami
[[ $(json_get 'j["subject"]') == user:uid-1000 && $(json_get 'j["is_admin"]') == False ]] || fail "uid 1000 identity"
expect_rc 0 as_user cat /hello.txt
expect_rc 1 as_user write /hello.txt "overwrite"
grep -qi "permission denied" "$TEST_ROOT/err" || fail "POSIX denial message"
expect_rc 1 as_user admin list-users
grep -q "not an admin" "$TEST_ROOT/err" || fail "admin denial message"
expect_rc 1 as_user lock release /jobs/c
expect_rc 1 as_user lock release /jobs/c --force
mkdir -m 0777 "$M/shared"
expect_rc 0 as_user write /shared/mine.txt "by 1000"
[[ $(stat -c %u "$M/shared/mine.txt") == 1000 ]] || fail "file written by uid 1000 must belong to it"
chgrp 0 "$NEXUS_DATA/nexusd.sock"
expect_rc 69 as_user status  # the daemon is not reachable for it: unavailable
grep -q "cannot reach nexusd" "$TEST_ROOT/err" || fail "socket mode 0660 must keep others out"
[[ $(stat -c %a "$NEXUS_DATA/nexusd.sock") == 660 ]] || fail "socket mode"

note "a missing daemon is a message, not a hang"
start=$(date +%s)
expect_rc 69 env NEXUS_SOCKET="$TEST_ROOT/none.sock" "$NEXUS_CLI" status
(( $(date +%s) - start < 5 )) || fail "took too long"
grep -q "is it running" "$TEST_ROOT/err" || fail "missing daemon message"

nexus_stop
echo "cli: all checks passed"
