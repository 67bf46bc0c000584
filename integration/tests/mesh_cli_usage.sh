#!/usr/bin/env bash
# The `nexus mesh` CLI without a daemon: every command answers --help (exit
# 0, its usage line); missing or malformed arguments are usage errors (64)
# caught before connecting. The socket points at a path where no daemon
# listens, so any command that got as far as calling would exit 1 instead:
# well-formed invocations of the same commands are run too and must exit 1
# with "cannot reach nexusd", which proves each 64 came from the CLI's own
# checks. (The commands against a director and a node are tested with the
# mesh service.)
source "$(dirname "$0")/../lib.sh"

export NEXUS_SOCKET="$TEST_ROOT/no-daemon.sock"
export NEXUS_HOME="$TEST_ROOT/home"
unset NEXUS_URL NEXUS_API_KEY NEXUS_TLS_CA NEXUS_DATA_DIR
cli() { "$NEXUS_CLI" "$@"; }
err() { cat "$TEST_ROOT/err"; }

# usage MESSAGE-FRAGMENT ARGS...: `nexus ARGS` exits 64 naming the problem.
usage() {
  local want=$1
  shift
  expect_rc 64 cli "$@"
  grep -qF -- "$want" "$TEST_ROOT/err" || fail "nexus $*: expected '$want' in stderr, got: $(err)"
}
# reaches ARGS...: the arguments pass the CLI's checks; the call then fails
# (exit 69, unavailable) because no daemon listens.
reaches() {
  expect_rc 69 cli "$@"
  grep -q "cannot reach nexusd" "$TEST_ROOT/err" || fail "nexus $*: expected a connection failure, got: $(err)"
}

note "--help of every command"
commands=("mesh status" "mesh nodes" "mesh register" "mesh trust" "mesh submit" "mesh revoke" "mesh admit"
  "mesh drain" "mesh rotate-credential" "mesh tasks create" "mesh tasks list" "mesh tasks get"
  "mesh tasks schedule" "mesh tasks start" "mesh tasks progress" "mesh tasks extend"
  "mesh tasks complete" "mesh tasks fail" "mesh tasks migrate" "mesh tasks retry"
  "mesh tasks cancel" "mesh tasks result")
for cmd in "${commands[@]}"; do
  # shellcheck disable=SC2086
  expect_rc 0 cli $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: no usage line: $(head -n 2 "$TEST_ROOT/out")"
  # shellcheck disable=SC2086
  expect_rc 0 cli $cmd -h
done
expect_rc 0 cli mesh --help
for cmd in "${commands[@]}"; do
  grep -qF "  $cmd" "$TEST_ROOT/out" || fail "nexus mesh --help does not list '$cmd'"
done
expect_rc 64 cli mesh bogus
expect_rc 64 cli mesh tasks bogus

note "well-formed calls get as far as connecting (exit 1)"
reaches mesh status
reaches --json mesh nodes
grep -q '"code"' "$TEST_ROOT/out" || fail "--json failure printed no error object: $(head -c 300 "$TEST_ROOT/out")"
reaches mesh register --director director.example:7070 --registration-key k
reaches mesh register --director '[::1]:7070' --registration-key k --ca ca.pem --name n1 --capacity 4
reaches mesh trust n-1 trusted
reaches mesh trust n-1 untrusted
reaches mesh submit n-1 allow
reaches mesh submit n-1 allow --hourly-quota 10
reaches mesh submit n-1 deny
usage "allow or deny" mesh submit n-1 maybe
usage "--hourly-quota goes with allow" mesh submit n-1 deny --hourly-quota 3
reaches mesh revoke n-1
reaches mesh admit n-1
reaches mesh drain n-1
reaches mesh rotate-credential
reaches mesh tasks create --name build --command 'make -j2' --zone eng --trust untrusted --max-attempts 5 --allow-network
reaches mesh tasks create --name build --command true --output a/b.txt --output b.txt
usage "--output needs a path" mesh tasks create --name build --command true --output ''
reaches mesh tasks list --state pending
reaches mesh tasks get t-1
reaches mesh tasks schedule
reaches mesh tasks schedule t-1
reaches mesh tasks start t-1 --token tok
reaches mesh tasks progress t-1 --token tok --progress 'step 2/5'
reaches mesh tasks progress t-1 --token tok --checkpoint ckpt-1
reaches mesh tasks extend t-1 --token tok
reaches mesh tasks extend t-1 --token tok --ttl 120
reaches mesh tasks fail t-1 --token tok --reason 'out of disk'
reaches mesh tasks migrate t-1 --token tok --checkpoint ckpt-1
reaches mesh tasks retry t-1
reaches mesh tasks cancel t-1
reaches mesh tasks result t-1
reaches mesh tasks result t-1 -o "$TEST_ROOT/results"

note "files for tasks complete are read and bounded here"
F=$TEST_ROOT/files
mkdir -p "$F/a" "$F/b" "$F/dir"
echo out >"$F/stdout.txt"
echo err >"$F/stderr.txt"
echo one >"$F/a/report.txt"
echo two >"$F/b/report.txt"
echo three >"$F/other.txt"
truncate -s 16M "$F/exactly16m"                  # the limit itself is allowed
truncate -s $((16 * 1024 * 1024 + 1)) "$F/big"   # one byte over
for i in 1 2 3 4; do truncate -s 15M "$F/part$i"; done
reaches mesh tasks complete t-1 --token tok --exit-code 0
reaches mesh tasks complete t-1 --token tok --exit-code 2 --stdout "$F/stdout.txt" --stderr "$F/stderr.txt" \
  --file "$F/a/report.txt,$F/other.txt"
reaches mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/exactly16m"
reaches mesh tasks complete t-1 --token tok --exit-code -1
usage "at most 16 MiB" mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/big"
usage "at most 16 MiB" mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/other.txt,$F/big"
usage "at most 16 MiB" mesh tasks complete t-1 --token tok --exit-code 0 --stdout "$F/big"
usage "at most 16 MiB" mesh tasks complete t-1 --token tok --exit-code 0 --stderr "$F/big"
usage "48 MiB" mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/part1,$F/part2,$F/part3,$F/part4"
usage "not a regular file" mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/dir"
usage "two files are named 'report.txt'" mesh tasks complete t-1 --token tok --exit-code 0 \
  --file "$F/a/report.txt,$F/b/report.txt"
usage "--file needs a file name" mesh tasks complete t-1 --token tok --exit-code 0 --file ,
# A file that cannot be read is a failure of the operation, still before connecting.
expect_rc 1 cli mesh tasks complete t-1 --token tok --exit-code 0 --file "$F/missing"
grep -q "missing" "$TEST_ROOT/err" || fail "missing --file: $(err)"
! grep -q "cannot reach nexusd" "$TEST_ROOT/err" || fail "missing --file reached for the daemon: $(err)"

note "usage errors exit 64 before connecting"
usage "too many arguments" mesh status extra
usage "too many arguments" mesh nodes extra
usage "unknown option '--all'" mesh nodes --all
usage "--director HOST:PORT is required" mesh register --registration-key k
for bad in director.example director.example: :7070 director.example:0 director.example:65536 \
    director.example:http 'a:b:7070' '[::1:7070'; do
  usage "is not HOST:PORT" mesh register --director "$bad" --registration-key k
done
usage "--registration-key K is required" mesh register --director d:7070
usage "--registration-key K is required" mesh register --director d:7070 --registration-key ''
usage "--capacity" mesh register --director d:7070 --registration-key k --capacity 0
usage "--capacity" mesh register --director d:7070 --registration-key k --capacity 1.5
usage "--capacity" mesh register --director d:7070 --registration-key k --capacity lots
usage "--name needs" mesh register --director d:7070 --registration-key k --name=
usage "--ca needs" mesh register --director d:7070 --registration-key k --ca=
usage "--director needs a value" mesh register --director
usage "missing arguments" mesh trust n-1
usage "trusted or untrusted" mesh trust n-1 maybe
usage "too many arguments" mesh trust n-1 trusted now
for cmd in revoke admit drain; do
  usage "missing arguments" mesh $cmd
  usage "too many arguments" mesh $cmd n-1 n-2
done
usage "too many arguments" mesh rotate-credential n-1
usage "--name N is required" mesh tasks create --command true
usage "--command CMD is required" mesh tasks create --name t
usage "--command CMD is required" mesh tasks create --name t --command ''
usage "--trust must be" mesh tasks create --name t --command true --trust sometimes
usage "--max-attempts" mesh tasks create --name t --command true --max-attempts 0
usage "--max-attempts" mesh tasks create --name t --command true --max-attempts 2.5
usage "--max-attempts" mesh tasks create --name t --command true --max-attempts 1001
usage "--zone needs" mesh tasks create --name t --command true --zone=
usage "too many arguments" mesh tasks create t --name t --command true
usage "--state must be" mesh tasks list --state done
usage "too many arguments" mesh tasks list pending
usage "missing arguments" mesh tasks get
usage "too many arguments" mesh tasks schedule t-1 t-2
usage "--token T is required" mesh tasks start t-1
usage "--token T is required" mesh tasks start t-1 --token=
usage "missing arguments" mesh tasks start --token tok
usage "--progress TEXT, --checkpoint REF" mesh tasks progress t-1 --token tok
usage "--token T is required" mesh tasks progress t-1 --progress p
usage "--ttl" mesh tasks extend t-1 --token tok --ttl 0
usage "--ttl" mesh tasks extend t-1 --token tok --ttl soon
usage "--ttl" mesh tasks extend t-1 --token tok --ttl 86401
usage "--token T is required" mesh tasks extend t-1
usage "--exit-code N is required" mesh tasks complete t-1 --token tok
usage "--exit-code" mesh tasks complete t-1 --token tok --exit-code one
usage "--exit-code" mesh tasks complete t-1 --token tok --exit-code 1.5
usage "--exit-code" mesh tasks complete t-1 --token tok --exit-code 4294967296
usage "--token T is required" mesh tasks complete t-1 --exit-code 0
usage "--reason TEXT is required" mesh tasks fail t-1 --token tok
usage "--token T is required" mesh tasks fail t-1 --reason r
usage "--checkpoint REF is required" mesh tasks migrate t-1 --token tok
usage "--token T is required" mesh tasks migrate t-1 --checkpoint c
usage "missing arguments" mesh tasks retry
usage "missing arguments" mesh tasks cancel
usage "too many arguments" mesh tasks cancel t-1 t-2
usage "missing arguments" mesh tasks result
usage "-o needs a directory" mesh tasks result t-1 --output=

note "--json usage errors carry an error object"
expect_rc 64 cli --json mesh trust n-1 maybe
[[ $(json_get 'j["error"]["code"]') == usage ]] || fail "--json usage error: $(cat "$TEST_ROOT/out")"
expect_rc 64 cli mesh tasks list --state done --json
[[ $(json_get 'j["error"]["code"]') == usage ]] || fail "--json after the command: $(cat "$TEST_ROOT/out")"

note "no daemon was reached, nothing was written"
[[ ! -e "$TEST_ROOT/results" ]] || fail "tasks result -o created its directory without a result"
echo "mesh_cli_usage: OK"
