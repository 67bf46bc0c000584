#!/usr/bin/env bash
# Workflows end to end on a real nexusd, mount and workspace through the
# real CLI: every `nexus workflows` command answers --help; a file with an
# unknown key or a bad pattern is exit 64 naming the line and the key; the
# guide's tag-incoming workflow is loaded, listed, dry-run tested, enabled,
# and tags a file written by `cp` onto the mount (getfattr sees it); a
# `run` workflow gzips a file dropped on the mount into an outbox folder
# (in a bubblewrap sandbox over the owner's view; zcat gives the file
# back); a copy workflow and a run workflow that write where they are
# triggered are not retriggered by their own writes; a workflow of alice
# who may not write the outbox gets a failed run and writes nothing; bob
# sees none of alice's workflows; disable stops runs; workflows, their
# enabled state and runs survive a restart; delete removes them.
source "$(dirname "$0")/../lib.sh"

WS="$TEST_ROOT/ws"
mkdir -p "$WS/inbox" "$WS/outbox" "$WS/drop" "$WS/loop" "$WS/alice-in" "$WS/reports"
W="$TEST_ROOT/wf"
mkdir -p "$W"
nexus_start --workspace "$WS"
IN="$NEXUS_MNT/zone/local"

# runs_are NAME N: NAME has N runs within 5 s (as admin).
runs_are() {
  local i
  for ((i = 0; i < 50; i++)); do
    expect_rc 0 nx --json workflows runs "$1" --limit 0
    [[ $(json_get 'len(j["runs"])') == "$2" ]] && return 0
    sleep 0.1
  done
  fail "$1 has $(json_get 'len(j["runs"])') runs, expected $2: $(out)"
}

note "--help of every command"
for cmd in load discover list show test enable disable delete runs; do
  expect_rc 0 nx workflows "$cmd" --help
  grep -q "^Usage: nexus workflows $cmd" "$TEST_ROOT/out" || fail "nexus workflows $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 64 nx workflows load
expect_rc 64 nx workflows test x

note "bad files are usage errors naming the line and the key"
printf 'name: bad\ntriggers:\n  - type: file_write\n    pattern: /workspace/inbox/*\n    when: now\nactions: [{type: tag, tags: a}]\n' >"$W/bad-key.yaml"
expect_rc 64 nx workflows load "$W/bad-key.yaml"
expect_err "bad-key.yaml:5: unknown key 'when' in a trigger"
printf 'name: bad\ntriggers:\n  - type: file_write\n    pattern: "/workspace/inbox/[ab"\nactions: [{type: tag, tags: a}]\n' >"$W/bad-glob.yaml"
expect_rc 64 nx workflows load "$W/bad-glob.yaml"
expect_err "bad-glob.yaml:4: bad pattern in 'pattern'"
expect_rc 64 nx --json workflows discover "$W"
expect_json '[w["error"][len(w["file"]):][:15] for w in j["workflows"]]' "[':4: bad pattern', ':5: unknown key']"
rm "$W"/bad-*.yaml
expect_rc 1 nx workflows load "$W/missing.yaml"
expect_rc 0 nx --json workflows list
expect_json 'j["workflows"]' "[]"

note "the guide's tag-incoming workflow"
mkdir -p "$TEST_ROOT/proj/.nexus/workflows"
cat >"$TEST_ROOT/proj/.nexus/workflows/tag-incoming.yaml" <<'YAML'
name: tag-incoming
version: "1.0"
description: Mark incoming files as processed
triggers:
  - type: file_write
    pattern: /workspace/inbox/*
actions:
  - name: mark-processed
    type: metadata
    metadata:
      workflow_status: processed
  - type: tag
    tags: [incoming]
YAML
expect_rc 0 nx --json workflows discover "$TEST_ROOT/proj/.nexus/workflows"
expect_json '[(w["name"], w["loaded"]) for w in j["workflows"]]' "[('tag-incoming', False)]"
expect_rc 0 nx --json workflows list
expect_json 'j["workflows"]' "[]"
expect_rc 0 nx workflows load "$TEST_ROOT/proj/.nexus/workflows/tag-incoming.yaml"
expect_rc 0 nx --json workflows list
expect_json '[(w["name"], w["owner"], w["enabled"], w["triggers"]) for w in j["workflows"]]' \
  "[('tag-incoming', 'user:admin', True, ['file_write /zone/local/inbox/*'])]"
expect_rc 0 nx --json workflows test tag-incoming --file /workspace/inbox/demo.txt
expect_json 'j["path"], j["triggers"][0]["ok"], j["would_run"], j["actions"][0]["detail"]' \
  "('/zone/local/inbox/demo.txt', True, True, \"set user.workflow_status='processed' on /zone/local/inbox/demo.txt\")"
expect_rc 0 nx --json workflows test tag-incoming --file /workspace/outbox/demo.txt
expect_json 'j["triggers"][0]["ok"], j["would_run"]' "(False, False)"
[[ ! -e "$IN/inbox/demo.txt" ]] || fail "a dry run made a file"
expect_rc 0 nx workflows enable tag-incoming
cp /etc/os-release "$IN/inbox/demo.txt"
runs_are tag-incoming 1
[[ $(getfattr --absolute-names --only-values -n user.workflow_status "$IN/inbox/demo.txt") == processed ]] ||
  fail "the file is not tagged: $(getfattr -d "$IN/inbox/demo.txt" 2>&1)"
[[ $(getfattr --absolute-names --only-values -n user.tags "$IN/inbox/demo.txt") == incoming ]] || fail "no user.tags"
expect_rc 0 nx --json workflows runs tag-incoming
expect_json 'j["runs"][0]["status"], j["runs"][0]["path"], j["runs"][0]["error"]' \
  "('succeeded', '/zone/local/inbox/demo.txt', None)"
# Its own xattr writes did not retrigger it, nor does a file elsewhere.
cp /etc/os-release "$IN/outbox/elsewhere.txt"
sleep 0.5
runs_are tag-incoming 1

if bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
  --symlink usr/bin /bin /usr/bin/true 2>/dev/null; then
  note "a run workflow gzips a dropped file into the outbox, in a sandbox"
  cat >"$W/gzip-drop.yaml" <<'YAML'
name: gzip-drop
triggers:
  - type: file_write
    pattern: /workspace/drop/*
actions:
  - name: compress
    type: run
    timeout: 20
    command: gzip -c "$NEXUS_FILE" > "$NEXUS_ROOT/zone/local/outbox/$(basename "$NEXUS_FILE").gz" && echo "gzipped $NEXUS_PATH"
YAML
  expect_rc 0 nx workflows load "$W/gzip-drop.yaml"
  seq 1 20000 >"$TEST_ROOT/numbers.txt"
  cp "$TEST_ROOT/numbers.txt" "$IN/drop/numbers.txt"
  runs_are gzip-drop 1
  expect_json 'j["runs"][0]["status"], j["runs"][0]["output"]' \
    "('succeeded', 'compress: gzipped /zone/local/drop/numbers.txt\n')"
  zcat "$IN/outbox/numbers.txt.gz" | cmp - "$TEST_ROOT/numbers.txt" || fail "the outbox copy differs"
  [[ -f "$WS/outbox/numbers.txt.gz" ]] || fail "the gzip is not in the workspace on the host"

  note "a run workflow that appends to its own trigger runs once"
  cat >"$W/stamp.yaml" <<'YAML'
name: stamp
triggers: [{type: file_write, pattern: /workspace/loop/*.log}]
actions: [{type: run, command: 'echo stamped >> "$NEXUS_FILE"'}]
YAML
  expect_rc 0 nx workflows load "$W/stamp.yaml"
  echo first >"$IN/loop/a.log"
  runs_are stamp 1
  sleep 1
  runs_are stamp 1
  [[ $(cat "$IN/loop/a.log") == $'first\nstamped' ]] || fail "a.log: $(cat "$IN/loop/a.log")"

  note "a close while a reader holds the file triggers at once; the run's own append still does not"
  exec 7<"$IN/loop/a.log"
  echo again >>"$IN/loop/a.log"
  runs_are stamp 2
  sleep 1
  runs_are stamp 2
  exec 7<&-
  sleep 0.5
  runs_are stamp 2
  [[ $(cat "$IN/loop/a.log") == $'first\nstamped\nagain\nstamped' ]] || fail "a.log: $(cat "$IN/loop/a.log")"
else
  note "SKIP the run workflows: bubblewrap cannot make sandboxes here"
fi

note "a copy workflow that copies into its own folder is not retriggered"
cat >"$W/loop.yaml" <<'YAML'
name: loop
triggers: [{type: file_write, pattern: /workspace/loop/*.txt}]
actions: [{type: copy, destination: "/workspace/loop/{name}.txt"}]
YAML
expect_rc 0 nx workflows load "$W/loop.yaml"
echo x >"$IN/loop/a.txt"
runs_are loop 1
sleep 1
runs_are loop 1
[[ -f "$IN/loop/a.txt.txt" && ! -e "$IN/loop/a.txt.txt.txt" ]] || fail "loop folder: $(ls "$IN/loop")"

note "an ipc action messages an agent; a task action is unavailable without a mesh"
expect_rc 0 nx agent register helper "reads what arrives"
cat >"$W/notify.yaml" <<'YAML'
name: notify
triggers: [{type: file_create, pattern: /workspace/reports/*.csv}]
actions:
  - {name: tell, type: ipc, to: helper, message: "new file {path}"}
  - {name: build, type: task, command: make}
YAML
expect_rc 0 nx workflows load "$W/notify.yaml"
echo a,b >"$IN/reports/data.csv"
runs_are notify 1
expect_json 'j["runs"][0]["status"], j["runs"][0]["output"].startswith("tell: sent "), j["runs"][0]["error"][:26]' \
  "('failed', True, 'build: unavailable: mesh —')"
expect_rc 0 nx --json ipc inbox helper
expect_json '[(m["from"], m["body"]) for m in j["messages"]]' "[('user:admin', 'new file /zone/local/reports/data.csv')]"

note "alice's workflow acts as alice: a failed run where she may not write"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx rebac share /zone/local/alice-in user alice --role editor
expect_rc 0 nx rebac share /zone/local/outbox user alice --role viewer
cat >"$TEST_ROOT/alice.yaml" <<'YAML'
name: alice-out
triggers: [{type: file_write, pattern: /workspace/alice-in/*}]
actions:
  - {name: to-outbox, type: copy, destination: /workspace/outbox/}
  - {name: mark, type: metadata, metadata: {seen: "yes"}}
YAML
chmod 644 "$TEST_ROOT/alice.yaml"
expect_rc 0 alice workflows load "$TEST_ROOT/alice.yaml"
(umask 0 && echo secret >"$IN/alice-in/note.txt")  # alice may set its attributes
runs_are alice-out 1
expect_json 'j["runs"][0]["status"]' failed
expect_json 'j["runs"][0]["error"].startswith("to-outbox: ") and "mark" not in j["runs"][0]["error"]' True
[[ ! -e "$IN/outbox/note.txt" ]] || fail "alice's workflow wrote where alice may not"
[[ $(getfattr --absolute-names --only-values -n user.seen "$IN/alice-in/note.txt") == yes ]] || fail "the next action did not run"
expect_rc 0 alice --json workflows list
expect_json '[w["name"] for w in j["workflows"]]' "['alice-out']"
expect_rc 0 bob --json workflows list
expect_json 'j["workflows"]' "[]"
expect_rc 1 bob workflows show alice-out
expect_err "no workflow 'alice-out'"
expect_rc 1 bob workflows runs alice-out
expect_rc 1 bob workflows delete alice-out
# Admins see every workflow.
expect_rc 0 nx --json workflows list
expect_json 'sorted(w["name"] for w in j["workflows"] if w["name"] in ("alice-out", "loop", "tag-incoming"))' \
  "['alice-out', 'loop', 'tag-incoming']"

note "disable stops runs; a restart keeps workflows, their state and runs"
expect_rc 0 nx workflows disable tag-incoming
cp /etc/os-release "$IN/inbox/second.txt"
sleep 1
runs_are tag-incoming 1
! getfattr --absolute-names -n user.workflow_status "$IN/inbox/second.txt" >/dev/null 2>&1 || fail "a disabled workflow ran"
nexus_stop
nexus_start --workspace "$WS"
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx --json workflows show tag-incoming
expect_json 'j["enabled"], j["runs"], j["owner"]' "(False, 1, 'user:admin')"
runs_are tag-incoming 1
expect_rc 0 nx workflows enable tag-incoming
cp /etc/os-release "$IN/inbox/third.txt"
runs_are tag-incoming 2
expect_rc 0 alice --json workflows show alice-out
expect_json 'j["owner"]' user:alice

note "delete"
expect_rc 0 nx workflows delete tag-incoming
expect_rc 1 nx workflows show tag-incoming
expect_rc 1 nx workflows runs tag-incoming

note "on a director, a task action submits a mesh task"
nexus_stop
nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nexus_start --workspace "$WS" --director --registration-key reg-secret --listen "127.0.0.1:$PORT" \
  --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem"
echo c,d >"$IN/reports/more.csv"
runs_are notify 2
expect_rc 0 nx --json workflows runs notify --limit 1
expect_json 'j["runs"][0]["status"], j["runs"][0]["error"]' "('succeeded', None)"
TASK=$(json_get '[l for l in j["runs"][0]["output"].splitlines() if l.startswith("build: ")][0].split()[-1]')
expect_rc 0 nx --json mesh tasks get "$TASK"
expect_json 'j["spec"]["command"], j["spec"]["zone"], j["state"], j["submitter"]' \
  "('make', 'local', 'pending', 'workflow:notify')"
nexus_stop
