#!/usr/bin/env bash
# nexus up / env / down: start nexusd in the background, find it through
# what was recorded, stop it cleanly.
source "$(dirname "$0")/../lib.sh"
export NEXUS_HOME="$TEST_ROOT/home"
cd "$TEST_ROOT"
mkdir -p ws
echo "host file" >ws/readme.txt
expect_rc 0 "$NEXUS_CLI" up --data-dir data2 --mount mnt2 --workspace ws
grep -q "nexusd is up" "$TEST_ROOT/out" || fail "up output"
fuse_live "$TEST_ROOT/mnt2" || fail "not mounted"
[[ $(cat mnt2/zone/local/readme.txt) == "host file" ]] || fail "workspace at /zone/local"
pid=$(python3 -c "import json; print(json.load(open('$NEXUS_HOME/up.json'))['pid'])")
expect_rc 0 "$NEXUS_CLI" env
grep -q "export NEXUS_SOCKET='$TEST_ROOT/data2/nexusd.sock'" "$TEST_ROOT/out" || fail "env output: $(cat "$TEST_ROOT/out")"
eval "$(cat "$TEST_ROOT/out")"
expect_rc 0 env -u NEXUS_SOCKET "$NEXUS_CLI" ready      # finds it through up.json
expect_rc 0 "$NEXUS_CLI" --json status
[[ $(json_get 'j["workspace"]') == "$TEST_ROOT/ws" ]] || fail "status workspace"
expect_rc 0 "$NEXUS_CLI" write /zone/local/from-cli.txt "via socket"
[[ $(cat ws/from-cli.txt) == "via socket" ]] || fail "CLI write into the workspace"
expect_rc 1 "$NEXUS_CLI" up --data-dir data2 --mount mnt2
grep -q "already serves" "$TEST_ROOT/err" || fail "second up must refuse"
expect_rc 0 "$NEXUS_CLI" down
kill -0 "$pid" 2>/dev/null && fail "nexusd still running after down"
fuse_live "$TEST_ROOT/mnt2" && fail "still mounted after down"
[[ ! -e "$NEXUS_HOME/up.json" ]] || fail "up.json left behind"
expect_rc 1 "$NEXUS_CLI" down
expect_rc 1 env -u NEXUS_SOCKET "$NEXUS_CLI" env

note "a daemon that cannot start: up fails with its log"
mkdir -p notdir && touch notdir/file
expect_rc 1 "$NEXUS_CLI" up --data-dir data3 --mount notdir/file --timeout 10
grep -q "did not come up" "$TEST_ROOT/err" || fail "up failure message"
grep -q "not a directory" "$TEST_ROOT/err" || fail "up must show the daemon's own error"
echo "up_down: all checks passed"
