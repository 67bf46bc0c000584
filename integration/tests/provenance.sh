#!/usr/bin/env bash
# Provenance names the subject the access check used: a version written by
# a uid bound to agent:alice records agent:alice (history and the commit's
# Nexus-Author trailer), an unbound uid records user:uid-N, root records
# user:admin, and so do writes through a per-subject mount and over the
# control socket, each as the subject it acted as.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT

as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
as_nx() { local uid=$1; shift; as "$uid" env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home$uid" "$NEXUS_CLI" "$@"; }

same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }

nexus_start
mkdir -p "$M/zone/eng" "$M/zone/ops"
chmod -R a+rwX "$M/zone"
expect_rc 0 nx agent register alice Alice
expect_rc 0 nx agent register carol Carol
expect_rc 0 nx identity bind --uid 1001 agent:alice
expect_rc 0 nx rebac create agent alice editor folder /zone/eng
expect_rc 0 nx rebac create user uid-1002 editor folder /zone/eng

note "root on the mount is the admin"
echo root >"$M/zone/eng/root.txt"
same "root's version" "user:admin 0" "$(newest_version /zone/eng/root.txt $'root\n' subject uid)"

note "a uid bound to agent:alice, on the mount"
as 1001 sh -c "echo alice > $M/zone/eng/alice.txt" || fail "alice cannot write in /zone/eng"
same "alice's version" "agent:alice 1001" "$(newest_version /zone/eng/alice.txt $'alice\n' subject uid)"

note "an unbound uid, on the mount"
as 1002 sh -c "echo other > $M/zone/eng/other.txt" || fail "uid 1002 cannot write in /zone/eng"
same "uid 1002's version" "user:uid-1002 1002" "$(newest_version /zone/eng/other.txt $'other\n' subject uid)"

note "the same uid, once bound, acts as and is recorded as its subject"
expect_rc 0 nx identity bind --uid 1002 agent:carol
expect_rc 0 nx rebac create agent carol editor folder /zone/eng
as 1002 sh -c "echo carol > $M/zone/eng/other.txt" || fail "carol cannot write in /zone/eng"
same "carol's version" "agent:carol 1002" "$(newest_version /zone/eng/other.txt $'carol\n' subject uid)"

note "over the control socket"
chgrp 1001 "$NEXUS_DATA/nexusd.sock"
expect_rc 0 as_nx 1001 write /zone/eng/socket.txt "by socket"
same "alice's socket version" "agent:alice 1001" "$(newest_version /zone/eng/socket.txt 'by socket' subject uid)"
expect_rc 0 nx write /zone/eng/socket.txt "root by socket"
same "root's socket version" "user:admin 0" "$(newest_version /zone/eng/socket.txt 'root by socket' subject uid)"

note "through a per-subject mount"
expect_rc 0 nx rebac create user bob editor folder /zone/ops
B="$TEST_ROOT/bob"
mkdir -p "$B"
expect_rc 0 nx mount add "$B" --as user:bob --root /zone/ops
echo bob >"$B/bob.txt"  # root's process, acting as user:bob
same "bob's version" "user:bob 0" "$(newest_version /zone/ops/bob.txt $'bob\n' subject uid)"
expect_rc 0 nx mount remove "$B"

note "the commit's Nexus-Author trailer"
expect_rc 0 nx versions flush
expect_rc 0 nx versions export --git "$TEST_ROOT/export"
git -C "$TEST_ROOT/export" log --all --format=%B -- '*alice.txt' >"$TEST_ROOT/log"
grep -q "^Nexus-Author: agent:alice$" "$TEST_ROOT/log" || fail "alice.txt's commit: $(cat "$TEST_ROOT/log")"
git -C "$TEST_ROOT/export" log --all --format=%B -- '*root.txt' >"$TEST_ROOT/log"
grep -q "^Nexus-Author: user:admin$" "$TEST_ROOT/log" || fail "root.txt's commit: $(cat "$TEST_ROOT/log")"
git -C "$TEST_ROOT/export" log --all --format=%B >"$TEST_ROOT/log"
! grep -q "^Nexus-Author: user:uid-\(0\|1001\)$" "$TEST_ROOT/log" || fail "a commit names root or alice by uid"

nexus_stop
echo PASS
