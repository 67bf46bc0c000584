#!/usr/bin/env bash
# The operations log end to end: changes made on the mount with ordinary
# tools appear in `nexus ops log` (newest first, with versions, details and
# provenance; filters and paging), a non-admin sees only its own operations
# on paths it may read, `nexus features` lists oplog, and a write journaled
# just before a kill -9 is in the log after the restart.
source "$(dirname "$0")/../lib.sh"
NEXUSD_EXTRA_ARGS+=(--features rebac=off)

nexus_start
M=$NEXUS_MNT

expect_rc 0 nx --json features
grep -q '"oplog"' "$TEST_ROOT/out" || fail "features lack oplog: $(out)"

note "changes become operations"
mkdir "$M/proj"
echo one >"$M/proj/a.txt"
sleep 0.3 # the first capture lands before the next write
# The writer lives on while the close is read from /proc.
NEXUS_AGENT_ID=bot NEXUS_TASK_ID=t1 bash -c "echo two >>'$M/proj/a.txt'; sleep 0.5; true"
chmod 600 "$M/proj/a.txt"
setfattr -n user.k -v v1 "$M/proj/a.txt"
ln -s a.txt "$M/proj/link"
mv "$M/proj/a.txt" "$M/proj/b.txt"
rm "$M/proj/link"
expect_rc 0 nx --json ops log --path /proj
expect_json "[o['op'] for o in j['operations']][::-1]" \
  "['mkdir', 'create', 'write', 'write', 'chmod', 'setxattr', 'symlink', 'rename', 'unlink']"
expect_json "j['next_before_id']" "0"
expect_json "[o['id'] == o['cursor'] for o in j['operations']].count(False)" "0"
expect_json "j['operations'][5]['version_before'], j['operations'][5]['version']" "(1, 2)"
expect_json "j['operations'][5]['agent_id'], j['operations'][5]['task_id']" "('bot', 't1')"
expect_json "j['operations'][4]['detail']['mode_before'], j['operations'][4]['detail']['mode_after']" \
  "($((0644)), $((0600)))"
expect_json "j['operations'][1]['old_path'], j['operations'][1]['path']" "('/proj/a.txt', '/proj/b.txt')"
expect_json "j['operations'][2]['detail']['target']" "a.txt"

note "filters and paging"
expect_rc 0 nx --json ops log --agent bot
expect_json "[(o['op'], o['path']) for o in j['operations']]" "[('write', '/proj/a.txt')]"
expect_rc 0 nx --json ops log --op chmod
expect_json "len(j['operations'])" "1"
expect_rc 0 nx --json ops log --path /proj --limit 4
expect_json "len(j['operations'])" "4"
next=$(json_get "j['next_before_id']")
expect_rc 0 nx --json ops log --path /proj --limit 4 --before "$next"
expect_json "[o['op'] for o in j['operations']]" "['chmod', 'write', 'write', 'create']"
expect_rc 0 nx ops log --since 1h
grep -q "rename" "$TEST_ROOT/out" || fail "ops log lacks the rename: $(out)"
expect_rc 64 nx ops log --since yesterday
expect_rc 64 nx ops log --path relative
expect_rc 64 nx ops log --op frobnicate
expect_rc 0 nx --json ops stats
expect_json "j['operations'] >= 9 and j['keep_days'] == 30" "True"

note "a non-admin sees its own operations on paths it may read"
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
chmod 755 "$M/proj"
mkdir -m 777 "$M/shared"
shell "$ALICE_UID" "echo mine >'$M/shared/alice.txt'; mkdir '$M/shared/private'; chmod 700 '$M/shared/private'; echo x >'$M/shared/private/secret'"
expect_rc 0 alice --json ops log
expect_json "sorted(set(o['path'] for o in j['operations']))" \
  "['/shared/alice.txt', '/shared/private', '/shared/private/secret']"
expect_rc 0 bob --json ops log
expect_json "len(j['operations'])" "0"
expect_rc 1 alice ops gc --keep-days 1
expect_err "admins only"
expect_rc 0 nx --json ops gc --keep-days 1
expect_json "j['removed']" "0"

note "a journaled write survives kill -9"
echo crash >"$M/proj/c.txt"
newest_version /proj/c.txt $'crash\n' subject >/dev/null
nexus_kill9
nexus_start_over_stale
expect_rc 0 nx --json ops log --path /proj/c.txt
expect_json "[o['op'] for o in j['operations']].count('write')" "1"
nexus_stop
