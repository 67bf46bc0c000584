#!/usr/bin/env bash
# Zone-aware placement and declared outputs with real nexusd processes: a
# director and two workers, only one of which has zone `build` (the other
# has only `local`). Nodes report their zones when they join and when they
# change (`mesh nodes --json`); every task for `build` lands on the node
# that has it; a task for a zone no node has stays pending saying so, and
# is placed as soon as a node makes that zone. A task declares outputs
# (nested and flat paths that must not collide, a missing one, one past
# the size limit, a symlink out of the zone): `tasks result -o` downloads
# the collected ones, their SHA-256 equal to the files in the zone, and
# the result lists the others with why, stdout kept.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../mesh_lib.sh"
export LC_ALL=C

mesh_director
mkdir -p "$TEST_ROOT/ws1" "$TEST_ROOT/ws2"
start_node 1 --workspace "$TEST_ROOT/ws1"
start_node 2 --workspace "$TEST_ROOT/ws2"
mkdir "$(node_dir 1)/mnt/zone/build"

note "nodes report their zones"
within 10 "node1 reports local and build" node_has_zones node1 "['build', 'local']"
within 10 "node2 reports local" node_has_zones node2 "['local']"
N1=$(node_id node1)
N2=$(node_id node2)
expect_rc 0 nx mesh trust "$N1" trusted
expect_rc 0 nx mesh trust "$N2" trusted
expect_rc 0 nx mesh nodes
grep -q "build, local" "$TEST_ROOT/out" || fail "mesh nodes lacks the zones: $(out)"

note "every task for zone build lands on the node that has it"
IDS=()
for i in 1 2 3 4; do
  expect_rc 0 nx --json mesh tasks create --name "b$i" --zone build --command "echo $i > /zone/b$i.txt; sleep 0.5"
  IDS+=("$(json_get 'j["id"]')")
done
for t in "${IDS[@]}"; do within 30 "task $t succeeded" is_state "$t" succeeded; done
# A finished task names no node: the workers' logs say who ran it.
ran_on() { grep -q "mesh: task $1 done" "$(node_dir "$2")/log"; }
for t in "${IDS[@]}"; do ran_on "$t" 1 && ! ran_on "$t" 2 || fail "$t did not run on node1 alone"; done
[[ $(ls "$(node_dir 1)/mnt/zone/build" | grep -c '^b[0-9].txt$') == 4 ]] || fail "build zone: $(ls "$(node_dir 1)/mnt/zone/build")"
[[ $(nx --json mesh tasks list | python3 -c 'import json,sys; print(sum(t["attempts"] for t in json.load(sys.stdin)["tasks"]))') == 4 ]] ||
  fail "an attempt was lost to a node without the zone"

note "a zone no node has: pending with the reason, placed once a node has it"
expect_rc 0 nx --json mesh tasks create --name later --zone later --command 'echo here > /zone/here.txt'
T=$(json_get 'j["id"]')
says_why() { [[ $(task_field "$T" reason) == "no ready node has zone 'later'" ]]; }
within 10 "the reason is given" says_why
expect_rc 0 nx mesh tasks get "$T"
grep -q "reason        no ready node has zone 'later'" "$TEST_ROOT/out" || fail "tasks get: $(out)"
is_state "$T" pending || fail "a task for a zone no node has left pending: $(task_state "$T")"
mkdir "$(node_dir 2)/mnt/zone/later"
within 20 "the task ran once node2 had its zone" is_state "$T" succeeded
ran_on "$T" 2 && [[ $(cat "$(node_dir 2)/mnt/zone/later/here.txt") == here ]] || fail "the task did not run on node2"

note "declared outputs are uploaded, checked and downloaded"
expect_rc 64 nx mesh tasks create --name bad --command true --output ''
expect_rc 1 nx --json mesh tasks create --name bad --command true --output ../etc/passwd
expect_json 'j["error"]["code"]' invalidArgument
expect_rc 1 nx mesh tasks create --name bad --command true --output a --output a/b
grep -q "is a directory of" "$TEST_ROOT/err" || fail "a/a/b: $(cat "$TEST_ROOT/err")"
echo "host secret" >"$TEST_ROOT/secret"
expect_rc 0 nx --json mesh tasks create --name outputs --zone build \
  --command "mkdir -p a && echo nested > a/b.txt && echo flat > b.txt && head -c 17000000 /dev/zero > big.bin && ln -sf $TEST_ROOT/secret link && head -c 300000 /dev/urandom > a/rand.bin && echo done" \
  --output a/b.txt --output b.txt --output a/rand.bin --output missing.txt --output big.bin --output link
TO=$(json_get 'j["id"]')
expect_json 'j["spec"]["outputs"]' "['a/b.txt', 'b.txt', 'a/rand.bin', 'missing.txt', 'big.bin', 'link']"
within 30 "the outputs task succeeded" is_state "$TO" succeeded
[[ $(task_field "$TO" reason) == "3 declared output(s) not collected (see the result)" ]] || fail "reason: $(task_field "$TO" reason)"
expect_rc 0 nx mesh tasks result "$TO" -o "$TEST_ROOT/res"
grep -q "output missing.txt not collected: no such file" "$TEST_ROOT/err" || fail "missing: $(cat "$TEST_ROOT/err")"
Z=$(node_dir 1)/mnt/zone/build
for f in a/b.txt b.txt a/rand.bin; do
  [[ $(sha256sum <"$TEST_ROOT/res/files/$f") == $(sha256sum <"$Z/$f") ]] || fail "files/$f differs from the zone's"
done
[[ $(cat "$TEST_ROOT/res/files/a/b.txt") == nested && $(cat "$TEST_ROOT/res/files/b.txt") == flat ]] || fail "a/b.txt and b.txt collided"
[[ $(cat "$TEST_ROOT/res/stdout") == done ]] || fail "stdout: $(cat "$TEST_ROOT/res/stdout")"
[[ ! -e "$TEST_ROOT/res/files/link" && ! -e "$TEST_ROOT/res/files/big.bin" ]] || fail "an uncollected output was downloaded"
expect_rc 0 nx --json mesh tasks result "$TO"
expect_json 'sorted(f["name"] for f in j["files"])' "['files/a/b.txt', 'files/a/rand.bin', 'files/b.txt', 'stderr', 'stdout']"
expect_json '[(m["path"], m["reason"]) for m in j["missing"]]' \
  "[('missing.txt', 'no such file'), ('big.bin', 'larger than 16777216 bytes'), ('link', 'a symbolic link (not followed)')]"
expect_json '[f["sha256"] for f in j["files"] if f["name"] == "files/a/rand.bin"][0]' "$(sha256sum "$Z/a/rand.bin" | cut -d' ' -f1)"

stop_node 1
stop_node 2
nexus_stop
echo PASS
