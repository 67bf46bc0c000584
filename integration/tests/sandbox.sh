#!/usr/bin/env bash
# Local sandboxes (docs/sandboxes.md), driven with `nexus sandbox` against a
# daemon of the sandbox profile over a host workspace. Agent bot may edit
# /zone/local/proj and nothing else; its sandbox (`create --as agent:bot`)
# runs real tools (ls, cat, echo >, git, python3) in /workspace as uid
# 65534. Checked: it sees and edits exactly its view, and its edits are on
# the host and in versions and the operations log with agent bot and the
# sandbox's id; other host paths are invisible or read-only; there is no
# network (and there is with --network); /tmp and background processes
# survive between runs; output is streamed while the command runs; exit
# statuses, --timeout and --env; resource limits are enforced where cgroups
# (v2, or the v1 hierarchies) offer them (a memory hog is killed, the
# sandbox lives on) and refused as unavailable (69) otherwise; an agent's
# own fork is its default root; another subject does not see the sandbox;
# after stop (and
# after a TTL) no process and no mount of it is left; bad input is a usage
# error or a typed failure.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
WS=$TEST_ROOT/ws
mkdir -p "$WS/proj" "$WS/secret"
printf 'hello\n' >"$WS/proj/readme.txt"
printf 'top secret\n' >"$WS/secret/key.txt"
# POSIX modes apply inside as on the mount: proj belongs to the sandbox's
# uid (git wants its repository to be the user's own); the rest is root's.
chown -R 65534:65534 "$WS/proj"

nexus_start --profile sandbox --workspace "$WS"
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"]=="sandboxes"][0]' enabled

for cmd in "sandbox create" "sandbox list" "sandbox info" "sandbox run" "sandbox stop" "sandbox providers"; do
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "$cmd --help: $(head -c 200 "$TEST_ROOT/out")"
done
expect_rc 0 nx --json sandbox providers
expect_json '[(p["name"], p["available"]) for p in j["providers"]]' "[('bwrap', True)]"

expect_rc 0 nx agent register bot "Bot"
expect_rc 0 nx agent register other "Other"
expect_rc 0 nx rebac create agent bot editor folder /zone/local/proj

note "bad input"
expect_rc 64 nx sandbox create 'bad/name'
expect_rc 64 nx sandbox create x --memory lots
expect_rc 64 nx sandbox create x --root relative/path
expect_rc 64 nx sandbox create x --ttl -1
expect_rc 64 nx sandbox create x --as user:alice
expect_rc 64 nx sandbox run sb-00000000
expect_rc 1 nx sandbox run sb-00000000 -c true
expect_err "no sandbox sb-00000000"
expect_rc 1 nx sandbox create x --root /zone/local/nope
expect_rc 1 nx sandbox create x --provider docker
expect_err "no sandbox provider 'docker'"

note "limits: enforced with cgroups (v2, or the v1 hierarchies), refused as unavailable without"
# mountinfo: "... MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
mounts() { awk '{for (i = 7; $i != "-"; i++); print $(i + 1), $5, $(i + 3)}' /proc/self/mountinfo; }
cg=$(mounts | awk '$1 == "cgroup2" {print $2; exit}')
v1() { mounts | awk -v c="$1" '$1 == "cgroup" && ("," $3 ",") ~ ("," c ",") {print $2; exit}'; }
if [[ -n $cg ]] && grep -qw memory "$cg/cgroup.controllers" && grep -qw pids "$cg/cgroup.controllers" &&
  grep -qw cpu "$cg/cgroup.controllers"; then
  limits=v2
elif [[ -n $(v1 memory) && -n $(v1 cpu) && -n $(v1 pids) && -w $(v1 memory) ]]; then
  limits=v1
else
  limits=none
fi
note "limits here: $limits"
if [[ $limits != none ]]; then
  expect_rc 0 nx --json sandbox create hog --memory 64M --pids 64 --cpus 0.5
  HOG=$(json_get 'j["id"]')
  expect_json 'sorted(j["limits"].items())' "[('cpus', 0.5), ('memory_bytes', 67108864), ('pids', 64)]"
  # Within the limit: fine, and the sandbox survives it.
  expect_rc 0 nx sandbox run "$HOG" -c 'python3 -c "b = bytearray(16 << 20); print(len(b))"'
  [[ $(out) == 16777216 ]] || fail "16 MiB in a 64 MiB sandbox: $(out)"
  # 256 MiB asked of a 64 MiB sandbox: the kernel kills it (SIGKILL, 137)
  # and the run says why.
  expect_rc 137 nx sandbox run "$HOG" -c 'python3 -c "b = bytearray(256 << 20); print(len(b))"'
  expect_err "killed at the sandbox's memory limit"
  # The sandbox lives on after its command was killed.
  expect_rc 0 nx sandbox run "$HOG" -c 'echo alive'
  [[ $(out) == alive ]] || fail "after the kill: $(out)"
  # Its cgroups hold the limits, and its processes.
  own_dir() { find "$1" -maxdepth 6 -type d -name "$HOG" | head -1; }
  case $limits in
  v2)
    own="$cg/nexus-sandboxes/$HOG"
    [[ $(cat "$own/memory.max") == 67108864 && $(cat "$own/pids.max") == 64 &&
      $(cat "$own/cpu.max") == "50000 100000" ]] || fail "v2 limits in $own"
    ;;
  v1)
    own=$(own_dir "$(v1 memory)")
    [[ $(cat "$own/memory.limit_in_bytes") == 67108864 ]] || fail "v1 memory limit in $own"
    [[ $(cat "$(own_dir "$(v1 pids)")/pids.max") == 64 ]] || fail "v1 pids limit"
    [[ $(cat "$(own_dir "$(v1 cpu)")/cpu.cfs_quota_us") == 50000 ]] || fail "v1 cpu quota"
    ;;
  esac
  [[ -n $own && -n $(cat "$own/cgroup.procs") ]] || fail "the sandbox's cgroup ($own) holds no process"
  expect_rc 0 nx sandbox stop "$HOG"
  [[ ! -d $own ]] || fail "the sandbox's cgroup $own outlived stop"
else
  expect_rc 69 nx sandbox create hog --memory 64M
  expect_err "unavailable: sandbox resource limits"
  expect_rc 69 nx sandbox create hog --pids 10
  expect_rc 69 nx sandbox create hog --cpus 1
fi

note "a sandbox as agent bot"
expect_rc 0 nx --json sandbox create work --as agent:bot --ttl 600
ID=$(json_get 'j["id"]')
[[ $ID =~ ^sb-[0-9a-f]{8}$ ]] || fail "id '$ID'"
expect_json '(j["name"], j["subject"], j["root"], j["state"], j["uid"])' "('work', 'agent:bot', '/zone/local', 'running', 65534)"
expect_json 'sorted(k for k in ("id","name","subject","root","state","created","limits") if k in j)' \
  "['created', 'id', 'limits', 'name', 'root', 'state', 'subject']"
expect_rc 1 nx sandbox create work --as agent:bot
expect_err "a running sandbox is named work"

run() { nx sandbox run "$ID" -c "$1"; }
expect_rc 0 run 'id -u; pwd; ls /workspace'
[[ $(out) == $'65534\n/workspace\nproj' ]] || fail "the view: $(out)"
expect_rc 0 run 'cat proj/readme.txt'
[[ $(out) == hello ]] || fail "cat: $(out)"
expect_rc 1 run 'cat secret/key.txt'
expect_rc 0 run 'echo edited by bot > proj/readme.txt && mkdir proj/src && echo "int main;" > proj/src/main.c'
[[ $(cat "$WS/proj/readme.txt") == "edited by bot" ]] || fail "host copy: $(cat "$WS/proj/readme.txt")"
[[ $(cat "$NEXUS_MNT/zone/local/proj/src/main.c") == "int main;" ]] || fail "main mount"
expect_rc 2 run 'echo x > secret.txt'  # the workspace root is not bot's to write
[[ ! -e $WS/secret.txt ]] || fail "a write outside bot's grant landed"
expect_rc 0 run 'cd proj && git init -q && git add -A && git -c user.name=bot -c user.email=bot@x commit -qm first && git log --format=%s && git status --short | wc -l'
[[ $(out) == $'first\n0' ]] || fail "git: $(out)"
[[ -d $WS/proj/.git ]] || fail "git's objects are not in the workspace"

note "provenance: agent bot and the sandbox's id"
got=$(newest_version /zone/local/proj/readme.txt $'edited by bot\n' subject agent_id task_id)
[[ $got == "agent:bot bot sandbox:$ID" ]] || fail "version provenance: $got"
expect_rc 0 nx --json ops log --task "sandbox:$ID" --path /zone/local/proj/src/main.c
expect_json 'sorted({(o["subject"], o["agent_id"]) for o in j["operations"]})' "[('agent:bot', 'bot')]"

note "nothing else of the host"
expect_rc 0 run "ls /; test ! -e '$TEST_ROOT' && test ! -e /root/.bashrc && test ! -e /home"
[[ $(out | tr '\n' ' ') == "bin dev etc lib lib64 proc sbin tmp usr workspace " ]] ||
  [[ $(out | tr '\n' ' ') == "bin dev etc lib lib32 lib64 proc sbin tmp usr workspace " ]] || fail "/: $(out | tr '\n' ' ')"
expect_rc 1 run 'touch /etc/nexus-x'
expect_rc 1 run 'touch /usr/nexus-x'
expect_rc 1 run 'touch /nexus-x'
expect_rc 1 run 'cat /proc/1/environ'
expect_rc 0 run 'ls /sys/class/net 2>/dev/null | wc -w; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "'
[[ $(out) == $'0\nlo' ]] || fail "network devices: $(out)"
expect_rc 1 run 'python3 -c "import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=3)"'
grep -q "Network is unreachable" "$TEST_ROOT/err" || fail "no network: $(cat "$TEST_ROOT/err")"

note "/tmp and processes survive between runs"
expect_rc 0 run 'echo kept > /tmp/state; sleep 600 >/dev/null 2>&1 & echo $! > /tmp/pid'
expect_rc 0 run 'cat /tmp/state; kill -0 $(cat /tmp/pid) && echo alive'
[[ $(out) == $'kept\nalive' ]] || fail "between runs: $(out)"

note "streaming, exit status, env, timeout"
nx sandbox run "$ID" -c 'echo one; sleep 2; echo two' >"$TEST_ROOT/stream" &
spid=$!
for _ in $(seq 40); do [[ -s $TEST_ROOT/stream ]] && break; sleep 0.05; done
[[ $(cat "$TEST_ROOT/stream") == one ]] || fail "not streamed: '$(cat "$TEST_ROOT/stream")'"
wait "$spid"
[[ $(cat "$TEST_ROOT/stream") == $'one\ntwo' ]] || fail "streamed: $(cat "$TEST_ROOT/stream")"
expect_rc 7 run 'echo out; echo err >&2; exit 7'
[[ $(out) == out && $(cat "$TEST_ROOT/err") == err ]] || fail "streams: $(out) / $(cat "$TEST_ROOT/err")"
expect_rc 0 nx sandbox run "$ID" -c 'echo "$GREETING $NEXUS_SANDBOX_ID $HOME"' --env GREETING=hi
[[ $(out) == "hi $ID /workspace" ]] || fail "env: $(out)"
expect_rc 64 nx sandbox run "$ID" -c true --env NOEQUALS
start=$(date +%s)
expect_rc 137 nx sandbox run "$ID" -c 'sleep 30' --timeout 1
(($(date +%s) - start < 10)) || fail "--timeout 1 took $(($(date +%s) - start)) s"
expect_rc 0 nx --json sandbox run "$ID" -c 'printf abc'
expect_json '(j["exit_code"], j["stdout"])' "(0, 'abc')"

note "another subject does not see it"
expect_rc 0 nx --as other --json sandbox list
expect_json 'j["sandboxes"]' "[]"
expect_rc 1 nx --as other sandbox run "$ID" -c true
expect_err "no sandbox"
expect_rc 1 nx --as other sandbox stop "$ID"
expect_rc 0 nx --as bot --json sandbox list
expect_json '[s["id"] for s in j["sandboxes"]]' "['$ID']"

note "stop kills everything and unmounts"
sandbox_procs() { grep -l "NEXUS_SANDBOX_ID=$1" /proc/[0-9]*/environ 2>/dev/null | wc -l; }
# The holder and the background sleep.
(($(sandbox_procs "$ID") >= 2)) || fail "$(sandbox_procs "$ID") processes of $ID before stop"
grep -q "$NEXUS_DATA/sandboxes/$ID " /proc/mounts || fail "no workspace mount for $ID"
expect_rc 0 nx --json sandbox stop "$ID"
expect_json 'j["state"]' stopped
[[ $(sandbox_procs "$ID") == 0 ]] || fail "processes of $ID left after stop"
! grep -q "$NEXUS_DATA/sandboxes/$ID " /proc/mounts || fail "the workspace mount of $ID is left"
expect_rc 1 run true
expect_err "is stopped"
expect_rc 0 nx --json sandbox info "$ID"
expect_json 'j["state"]' stopped

note "TTL and --network"
expect_rc 0 nx --json sandbox create brief --ttl 1 --network --root /zone/local/proj
BRIEF=$(json_get 'j["id"]')
expect_rc 0 nx sandbox run "$BRIEF" -c 'ls /workspace; cat /proc/net/dev | tail -n +3 | wc -l'
[[ $(out | head -n 2 | tr '\n' ' ') == "readme.txt src " ]] || fail "root /zone/local/proj: $(out)"
(($(out | tail -n 1) >= 1)) || fail "--network shows no devices"
for _ in $(seq 40); do
  nx --json sandbox info "$BRIEF" >"$TEST_ROOT/out"
  [[ $(json_get 'j["state"]') == expired ]] && break
  sleep 0.1
done
expect_json 'j["state"]' expired
[[ $(sandbox_procs "$BRIEF") == 0 ]] || fail "processes of $BRIEF left after its TTL"
expect_rc 0 nx --json sandbox list
expect_json '[(s["name"], s["state"]) for s in j["sandboxes"] if s["name"] != "hog"]' "[('brief', 'expired'), ('work', 'stopped')]"

note "an agent's own fork is its sandboxes' default root"
expect_rc 0 nx fork create botfork --from /zone/local/proj --for agent:bot
expect_rc 0 nx --json sandbox create infork --as agent:bot
FORKED=$(json_get 'j["id"]')
expect_json 'j["root"]' /forks/botfork
expect_rc 0 nx sandbox run "$FORKED" -c 'cat readme.txt; echo tried in the fork > readme.txt'
[[ $(out) == "edited by bot" ]] || fail "the fork's content: $(out)"
[[ $(cat "$NEXUS_MNT/forks/botfork/readme.txt") == "tried in the fork" ]] || fail "the write is not in the fork"
[[ $(cat "$WS/proj/readme.txt") == "edited by bot" ]] || fail "a write in the fork reached the workspace"
expect_rc 0 nx sandbox stop "$FORKED"
# A subject without a fork still defaults to /zone/local; with two forks,
# bot must pick.
expect_rc 0 nx --json sandbox create plain
expect_json 'j["root"]' /zone/local
expect_rc 0 nx sandbox stop "$(json_get 'j["id"]')"
expect_rc 0 nx fork create botfork2 --from /zone/local/proj --for agent:bot
expect_rc 64 nx sandbox create second --as agent:bot
expect_err "agent:bot has several forks (/forks/botfork, /forks/botfork2); pick one with --root"
expect_rc 0 nx --json sandbox create second --as agent:bot --root /forks/botfork2
expect_json 'j["root"]' /forks/botfork2
expect_rc 0 nx sandbox stop "$(json_get 'j["id"]')"

note "a running sandbox goes with the daemon"
expect_rc 0 nx --json sandbox create last
LAST=$(json_get 'j["id"]')
nexus_stop
[[ $(sandbox_procs "$LAST") == 0 ]] || fail "processes of $LAST left after the daemon stopped"
