#!/usr/bin/env bash
# Identities and passports end to end through the real CLI. One daemon:
# the node key is created 0600; `identity show` and `credentials` report
# keys (never a secret), uid bindings and grants, to the agent's owner and
# admins only; a passport is issued (0600 file), verified, refused when
# tampered with, malformed, expired, signed by an untrusted key, revoked
# (revoke-passports, suspension, deletion; durable over a restart); an
# unknown agent is not found, a non-owner is denied. Then a mesh: a
# director and a node (TLS, registration key); a passport issued on one is
# verified on the other, and refused there after expiry and after its
# revocation on the issuing node.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C

SCOUT_UID=$((ALICE_UID + 2))
within() { # within SECONDS WHAT CMD...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what (not within ${secs}s)"
}
# edit FILE PYTHON: rewrites the passport in FILE with a python statement over p (its JSON).
edit() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
path, stmt = sys.argv[1], sys.argv[2]
p = json.load(open(path))
exec(stmt)
open(path, "w").write(json.dumps(p, separators=(",", ":")))
EOF
}
P=$TEST_ROOT/passports
mkdir -p "$P"
chmod 777 "$P"

nexus_start

note "--help of every command; the node key"
for cmd in "identity show" "identity credentials" "identity passport" "identity verify" \
    "identity revoke-passports" "identity node-key"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 64 nx identity passport scout --ttl 0
expect_rc 64 nx identity passport scout --ttl 1.5
expect_rc 64 nx identity show
[[ $(stat -c %a "$NEXUS_DATA/node.key") == 600 ]] || fail "node.key is not 0600"
[[ $(stat -c %a "$NEXUS_DATA/passports.db") == 600 ]] || fail "passports.db is not 0600"
grep -q "BEGIN PRIVATE KEY" "$NEXUS_DATA/node.key" || fail "node.key is not a PEM private key"
expect_rc 0 nx --json identity node-key
KEY_ID=$(json_get 'j["key_id"]')
NODE_PUB=$(json_get 'j["public_key"]')
[[ $KEY_ID =~ ^[0-9a-f]{16}$ ]] || fail "key id: $KEY_ID"
! grep -q "PRIVATE" "$TEST_ROOT/out" || fail "node-key shows a private key"

note "alice's agent: identity and credentials"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 alice agent register scout "Scout"
mkdir -p "$NEXUS_MNT/proj" "$NEXUS_MNT/docs"
expect_rc 0 nx rebac share /proj agent scout --role editor
expect_rc 0 nx rebac share /docs agent scout --role viewer
expect_rc 0 nx admin create-user scout --subject-type agent
expect_rc 0 nx identity bind --uid "$SCOUT_UID" agent:scout
expect_rc 0 alice --json identity show scout
expect_json 'j["subject"], j["owner"], j["phase"], j["uids"]' "('agent:scout', 'user:alice', 'REGISTERED', [$SCOUT_UID])"
# Two grants of the test's, and the editor tuple on its home /agents/scout.
expect_json 'j["grants"]["count"], sorted(j["grants"]["by_relation"])' "(3, ['editor', 'viewer'])"
expect_json 'j["grants"]["by_relation"]["editor"]["objects"]' "['folder:/agents/scout', 'folder:/proj']"
expect_json 'len(j["keys"]), j["keys"][0]["scope"], j["keys"][0]["revoked"]' "(1, 'agent', False)"
! grep -q "nxk_" "$TEST_ROOT/out" || fail "identity show leaks a key: $(out)"
expect_rc 0 alice identity show agent:scout
grep -q "^owner *user:alice" "$TEST_ROOT/out" || fail "show: $(out)"
grep -q "editor *2: folder:/agents/scout, folder:/proj" "$TEST_ROOT/out" || fail "show grants: $(out)"
expect_rc 0 as "$SCOUT_UID" --json identity credentials scout   # the agent itself
expect_json 'j["subject"], j["node_key_id"], len(j["keys"]), j["uids"]' "('agent:scout', '$KEY_ID', 1, [$SCOUT_UID])"
! grep -q "nxk_\|secret" "$TEST_ROOT/out" || fail "credentials leak a secret: $(out)"
expect_rc 1 bob identity show scout
expect_err "permission denied\|may not"
expect_rc 1 bob --json identity credentials scout
expect_json 'j["error"]["code"]' permissionDenied
expect_rc 1 nx identity show ghost
expect_err "not found"

note "issue and verify"
expect_rc 0 alice identity passport scout -o "$P/scout.json"
grep -q "written to $P/scout.json" "$TEST_ROOT/out" || fail "passport: $(out)"
[[ $(stat -c %a "$P/scout.json") == 600 ]] || fail "the passport file is not 0600"
cp "$P/scout.json" "$TEST_ROOT/out"
expect_json 'sorted(j), sorted(j["claims"])' "(['claims', 'key_id', 'signature'], ['agent_id', 'expires_at', 'issued_at', 'node', 'owner', 'scopes'])"
expect_json 'j["claims"]["agent_id"], j["claims"]["owner"], j["claims"]["scopes"], j["key_id"]' \
  "('scout', 'user:alice', ['/agents/scout', '/docs', '/proj'], '$KEY_ID')"
cp "$P/scout.json" "$P/shared.json"
chmod 644 "$P/shared.json"
expect_rc 0 bob --json identity verify "$P/shared.json"   # anyone may verify
expect_json 'j["valid"], j["claims"]["agent_id"], j["key_id"]' "(True, 'scout', '$KEY_ID')"
expect_json 'j["revocation"]' "checked on this node (the issuer)"
expect_rc 0 nx identity verify - <"$P/scout.json"
grep -q "^valid: passport of agent:scout" "$TEST_ROOT/out" || fail "verify: $(out)"
expect_rc 0 nx identity verify "$P/scout.json" --trust "$NODE_PUB"
expect_rc 0 alice identity passport agent:scout --scope '/proj/*' --scope ipc --ttl 120
cp "$TEST_ROOT/out" "$P/scoped.json"
expect_json 'j["claims"]["scopes"]' "['/proj/*', 'ipc']"
python3 -c "
import json, sys
from datetime import datetime
c = json.load(open('$P/scoped.json'))['claims']
t = lambda s: datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ')
sys.exit(0 if (t(c['expires_at']) - t(c['issued_at'])).total_seconds() == 120 else 1)" ||
  fail "--ttl 120 does not give 120 s: $(cat "$P/scoped.json")"

note "refused: tampered, malformed, untrusted, expired"
cp "$P/scout.json" "$P/tampered.json"
edit "$P/tampered.json" 'p["claims"]["scopes"].append("/")'
expect_rc 1 nx --json identity verify "$P/tampered.json"
expect_json 'j["valid"], j["code"]' "(False, 'untrusted')"
expect_err "does not verify"
cp "$P/scout.json" "$P/extended.json"
edit "$P/extended.json" 'p["claims"]["expires_at"] = "2099-01-01T00:00:00.000Z"'
expect_rc 1 nx identity verify "$P/extended.json"
expect_err "does not verify"
echo '{"claims":' >"$P/broken.json"
expect_rc 1 nx --json identity verify "$P/broken.json"
expect_json 'j["code"]' malformed
openssl genpkey -algorithm ed25519 -out "$TEST_ROOT/other.pem" 2>/dev/null
openssl pkey -in "$TEST_ROOT/other.pem" -pubout -out "$TEST_ROOT/other.pub" 2>/dev/null
expect_rc 1 nx --json identity verify "$P/scout.json" --trust "$TEST_ROOT/other.pub"
expect_json 'j["code"]' untrusted
expect_err "unknown key id"
expect_rc 0 alice identity passport scout --ttl 1 -o "$P/short.json"
sleep 1.2
expect_rc 1 nx --json identity verify "$P/short.json"
expect_json 'j["code"]' expired
expect_err "expired at"

note "who may issue; unknown agents"
expect_rc 1 bob identity passport scout
expect_err "permission denied\|may not"
expect_rc 1 bob --json identity passport scout
expect_json 'j["error"]["code"]' permissionDenied
expect_rc 1 bob identity revoke-passports scout
expect_err "permission denied\|may not"
expect_rc 0 nx identity passport scout -o "$P/by-admin.json"   # an admin may
expect_rc 1 alice --json identity passport ghost
expect_json 'j["error"]["code"]' notFound
expect_rc 1 alice identity revoke-passports ghost
expect_err "not found"

note "revoke-passports: earlier passports are refused, later ones valid"
expect_rc 0 alice --json identity revoke-passports scout
expect_json 'j["reported"]' False
expect_rc 1 nx --json identity verify "$P/scout.json"
expect_json 'j["code"]' revoked
expect_err "revoked"
expect_rc 1 nx identity verify "$P/by-admin.json"
expect_rc 0 alice identity passport scout -o "$P/after.json"
expect_rc 0 nx identity verify "$P/after.json"

note "suspension and deletion revoke"
expect_rc 0 nx agent transition scout SUSPENDED
expect_rc 1 nx --json identity verify "$P/after.json"
expect_json 'j["code"]' revoked
expect_err "SUSPENDED"
expect_rc 1 alice identity passport scout
expect_err "SUSPENDED"
expect_rc 0 nx agent transition scout DISCONNECTED
expect_rc 1 nx identity verify "$P/after.json"   # revoked when suspended, for good
expect_rc 0 alice identity passport scout -o "$P/resumed.json"
expect_rc 0 nx identity verify "$P/resumed.json"
expect_rc 0 alice agent register keeper "Keeper"
expect_rc 0 alice identity passport keeper -o "$P/keeper.json"
expect_rc 0 alice agent delete keeper
expect_rc 1 nx --json identity verify "$P/keeper.json"
expect_json 'j["code"]' revoked
expect_rc 0 alice agent register keeper "Keeper again"   # a new agent under the old id
expect_rc 1 nx identity verify "$P/keeper.json"

note "the key and the revocations survive a restart"
nexus_stop
nexus_start
expect_rc 0 nx --json identity node-key
expect_json 'j["key_id"]' "$KEY_ID"
expect_rc 0 nx identity verify "$P/resumed.json"
expect_rc 1 nx identity verify "$P/after.json"
expect_err "revoked"
expect_rc 1 nx identity verify "$P/keeper.json"
nexus_stop

note "a mesh: a director and a node"
nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIRECTOR=127.0.0.1:$PORT
CA=$TEST_ROOT/tls/cert.pem
rm -rf "$NEXUS_DATA" && mkdir -p "$NEXUS_DATA"
nexus_start --director --registration-key reg-secret --listen "$DIRECTOR" --node-name hq \
  --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem"
N=$TEST_ROOT/node
mkdir -p "$N/data" "$N/mnt"
"$NEXUSD" --data-dir "$N/data" --mount "$N/mnt" --log-level info --features rebac=off --node-name edge \
  --join "$DIRECTOR" --registration-key reg-secret --join-ca "$CA" >>"$N/log" 2>&1 &
NODE_PID=$!
NEXUS_EXTRA_PIDS+=($!)
wait_mounted "$N/mnt"
node_nx() { NEXUS_SOCKET="$N/data/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@"; }
has_nodes() { [[ $(nx --json mesh nodes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))') == 1 ]]; }
within 10 "the node joined" has_nodes
expect_rc 0 nx --json identity node-key
expect_json 'j["node"]' hq
expect_rc 0 node_nx --json identity node-key
expect_json 'j["node"]' edge

note "a passport of the director, verified on the node"
expect_rc 0 nx agent register courier "Courier"
expect_rc 0 nx identity passport courier -o "$P/hq.json"
expect_rc 0 nx identity passport courier --ttl 2 -o "$P/hq-short.json"
within 10 "the node accepts the director's passport" node_nx identity verify "$P/hq.json"
expect_rc 0 node_nx --json identity verify "$P/hq.json"
expect_json 'j["claims"]["node"], j["revocation"]' "('hq', 'checked against the mesh director')"
cp "$P/hq.json" "$P/hq-tampered.json"
edit "$P/hq-tampered.json" 'p["claims"]["agent_id"] = "intruder"'
expect_rc 1 node_nx --json identity verify "$P/hq-tampered.json"
expect_json 'j["code"]' untrusted

note "a passport of the node, verified on the director"
expect_rc 0 node_nx agent register runner "Runner"
expect_rc 0 node_nx identity passport runner -o "$P/edge.json"
within 10 "the director accepts the node's passport" nx identity verify "$P/edge.json"
expect_rc 0 nx --json identity verify "$P/edge.json"
expect_json 'j["claims"]["node"], j["revocation"]' "('edge', 'checked against the mesh director')"

note "expiry holds on the other node"
sleep 2.2
expect_rc 1 node_nx --json identity verify "$P/hq-short.json"
expect_json 'j["code"]' expired

note "revocation on the issuing node reaches the other one"
expect_rc 0 nx --json identity revoke-passports courier
expect_json 'j["reported"]' True
refused() { ! "$@"; }
within 10 "the node refuses the revoked passport" refused node_nx identity verify "$P/hq.json"
expect_rc 1 node_nx --json identity verify "$P/hq.json"
expect_json 'j["code"]' revoked
expect_rc 0 node_nx --json identity revoke-passports runner
expect_json 'j["reported"]' True
within 10 "the director refuses the node's revoked passport" refused nx identity verify "$P/edge.json"
expect_rc 1 nx --json identity verify "$P/edge.json"
expect_json 'j["code"]' revoked
expect_rc 0 node_nx agent delete runner
expect_rc 0 nx identity passport courier -o "$P/hq-new.json"
within 10 "a passport issued after the revocation is valid on the node" node_nx identity verify "$P/hq-new.json"
kill -TERM "$NODE_PID"
wait "$NODE_PID" || fail "the node did not stop cleanly"
nexus_stop
echo "PASS"
