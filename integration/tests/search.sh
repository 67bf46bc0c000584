#!/usr/bin/env bash
# Search served by a real nexusd over a real mount, driven by the CLI:
# glob/grep give exactly what find/grep give on the mount; new, renamed and
# deleted files are reflected within a second; binary files are skipped;
# ranking; the degraded flag without a provider and vector scores with a
# fastText model; a non-root user does not see root's private files; /health
# shows the index state; the index persists across restarts and catches up
# with changes made while search was off.
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)
export LC_ALL=C
M=$NEXUS_MNT

# grep -rn over the mount, paths as namespace paths.
host_grep() { (cd "$M" && grep -rnI "$@" . 2>/dev/null | sed 's|^\./|/|' | sort) || true; }
nx_grep() { nx grep "$@" | sort; }
same() { # same NAME FILE1 FILE2
  diff "$2" "$3" >"$TEST_ROOT/diff" || { head -n 20 "$TEST_ROOT/diff" >&2; fail "$1: differs ($(wc -l <"$2") vs $(wc -l <"$3") lines)"; }
}

nexus_start --http 127.0.0.1:0
expect_rc 0 nx --json features
[[ $(json_get '[f["state"] for f in j["features"] if f["name"]=="search"][0]') == enabled ]] ||
  fail "search feature is not enabled: $(cat "$TEST_ROOT/out")"
within 20 "index ready on an empty tree" search_ready

note "every command has --help; usage errors exit 64"
for c in glob grep "search query" "search index" "search reindex" "search stats" \
  "path-context set" "path-context list" "path-context delete"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $c --help
  grep -q "^Usage: nexus $c" "$TEST_ROOT/out" || fail "nexus $c --help: no usage line"
done
expect_rc 64 nx grep
expect_rc 64 nx glob
expect_rc 64 nx grep x --bogus
expect_rc 64 nx search query foo --mode fuzzy
expect_rc 64 nx search query foo --limit abc
expect_rc 64 nx path-context set /only-one-arg
expect_rc 1 nx grep '(unclosed'
grep -q "bad pattern" "$TEST_ROOT/err" || fail "bad regex: no clear error: $(cat "$TEST_ROOT/err")"
expect_rc 1 nx --json grep '(unclosed'
[[ $(json_get 'j["error"]["code"]') == invalidArgument ]] || fail "bad regex: error code"

note "a real tree: /usr/include/linux plus hand-made files"
mkdir -p "$M/src" "$M/docs/notes"
cp -r /usr/include/linux "$M/src/linux"
printf 'alpha beta\r\ngamma Delta\r\n' >"$M/docs/crlf.txt"
printf 'no final newline with Delta' >"$M/docs/nofinal.txt"
printf 'x = a.b(c) + [d]*\nplain\n' >"$M/docs/notes/meta.txt"
printf 'text then\0binary Delta zebrafinch\n' >"$M/docs/blob.bin"
head -c 3000 /dev/urandom >"$M/docs/random.bin"
within 30 "index caught up with the copy" search_ready
expect_rc 0 nx --json search stats
files=$(json_get 'j["files"]')
(( files > 700 )) || fail "only $files files indexed"

note "glob equals find"
nx glob '**/*.h' | sort >"$TEST_ROOT/a"
(cd "$M" && find . -type f -name '*.h' | sed 's|^\./|/|' | sort) >"$TEST_ROOT/b"
[[ -s $TEST_ROOT/b ]] || fail "find found nothing"
same "glob **/*.h" "$TEST_ROOT/a" "$TEST_ROOT/b"
nx glob '*.txt' /docs | sort >"$TEST_ROOT/a"
(cd "$M" && find ./docs -maxdepth 1 -type f -name '*.txt' | sed 's|^\./|/|' | sort) >"$TEST_ROOT/b"
same "glob *.txt /docs" "$TEST_ROOT/a" "$TEST_ROOT/b"
nx glob '/src/linux/n*/*.h' | sort >"$TEST_ROOT/a"
(cd "$M" && find ./src/linux -mindepth 2 -maxdepth 2 -type f -path './src/linux/n*/*.h' | sed 's|^\./|/|' | sort) >"$TEST_ROOT/b"
same "glob /src/linux/n*/*.h" "$TEST_ROOT/a" "$TEST_ROOT/b"
expect_rc 0 nx --json glob '**/*.h' --limit 5
[[ $(json_get 'len(j["paths"])') == 5 && $(json_get 'j["truncated"]') == True ]] || fail "glob --limit"

note "grep equals grep -rn (regex, -i, -F, -l, under a path)"
compare_grep() { # compare_grep NAME [nexus flags...] -- [grep flags...] PATTERN [PATH]
  local name=$1
  shift
  local nxf=() gf=()
  while [[ $1 != -- ]]; do nxf+=("$1"); shift; done
  shift
  while (($# > 1)); do gf+=("$1"); shift; done
  local pat=$1
  nx grep "${nxf[@]}" -- "$pat" | sort >"$TEST_ROOT/a"
  host_grep "${gf[@]}" -e "$pat" >"$TEST_ROOT/b"
  [[ -s $TEST_ROOT/b ]] || fail "$name: grep found nothing: test is vacuous"
  same "grep $name" "$TEST_ROOT/a" "$TEST_ROOT/b"
}
compare_grep "rare literal" -- -E 'NETLINK_ROUTE'
compare_grep "common word" -- -E 'define'
compare_grep "regex" -- -E 'struct [a-z_]+ \{'
compare_grep "anchored" -- -E '^#include <linux/[a-z]+\.h>$'
compare_grep "-i" -i -- -i -E 'delta'
compare_grep "-F" -F -- -F 'a.b(c) + [d]*'
compare_grep "-l" -l -- -l -E 'ioctl'
nx grep -l ioctl | sort >"$TEST_ROOT/a"
[[ $(grep -c : "$TEST_ROOT/a" || true) == 0 ]] || fail "-l prints paths only"
nx grep 'define' /src/linux/netfilter | sort >"$TEST_ROOT/a"
(cd "$M" && grep -rnI -E 'define' ./src/linux/netfilter | sed 's|^\./|/|' | sort) >"$TEST_ROOT/b"
same "grep under a path" "$TEST_ROOT/a" "$TEST_ROOT/b"
expect_rc 0 nx --json grep define --limit 3
[[ $(json_get 'len(j["matches"])') == 3 && $(json_get 'j["truncated"]') == True ]] || fail "grep --limit"
[[ $(json_get 'j["matches"][0]["line"] > 0') == True ]] || fail "grep --json line"

note "binary files are skipped"
nx grep zebrafinch >"$TEST_ROOT/a"
[[ ! -s $TEST_ROOT/a ]] || fail "grep found text in a binary file: $(cat "$TEST_ROOT/a")"
expect_rc 0 nx --json search query zebrafinch
[[ $(json_get 'len(j["hits"])') == 0 ]] || fail "query found a binary file"

note "a new file is found by grep and query within 1 s"
token="quokka$RANDOM$RANDOM"
grep_has() { nx grep "$1" | grep -q "^$2:"; }
query_has() { nx --json search query "$1" | python3 -c "import json,sys; j=json.load(sys.stdin); exit(0 if any(h['path']=='$2' for h in j['hits']) else 1)"; }
query_lacks() { ! query_has "$@"; }
grep_lacks() { ! nx grep "$1" | grep -q "^$2:"; }
echo "a fresh $token appears" >"$M/docs/fresh.txt"
within 1 "grep finds a new file" grep_has "$token" /docs/fresh.txt
within 1 "query finds a new file" query_has "$token" /docs/fresh.txt
echo "line one" >"$M/docs/appended.txt"
echo "late ${token}x" >>"$M/docs/appended.txt"
within 1 "grep finds appended text" grep_has "${token}x" /docs/appended.txt

note "rename and delete are reflected"
mv "$M/docs/fresh.txt" "$M/docs/moved.txt"
within 1 "grep follows a rename" grep_has "$token" /docs/moved.txt
within 1 "query follows a rename" query_has "$token" /docs/moved.txt
within 1 "query forgets the old name" query_lacks "$token" /docs/fresh.txt
grep_lacks "$token" /docs/fresh.txt || fail "grep still shows the old name"
mv "$M/docs/notes" "$M/docs/renamed-notes"
within 1 "a directory rename moves its files" grep_has 'plain' /docs/renamed-notes/meta.txt
grep_lacks plain /docs/notes/meta.txt || fail "old directory still in grep"
rm "$M/docs/moved.txt"
within 1 "query forgets a deleted file" query_lacks "$token" /docs/moved.txt
grep_lacks "$token" /docs/moved.txt || fail "grep shows a deleted file"
expect_rc 0 nx glob '**/moved.txt'
[[ ! -s $TEST_ROOT/out ]] || fail "glob shows a deleted file"

note "ranking: repeating the query terms ranks above mentioning them once"
{ for _ in $(seq 20); do echo "the wombat burrow and another wombat burrow"; done; } >"$M/docs/wombat-many.txt"
{ echo "a single wombat burrow here"; for i in $(seq 20); do echo "filler line $i about other matters entirely"; done; } >"$M/docs/wombat-once.txt"
within 1 "both wombat files indexed" query_has "wombat burrow" /docs/wombat-once.txt
expect_rc 0 nx --json search query "wombat burrow"
[[ $(json_get 'j["hits"][0]["path"]') == /docs/wombat-many.txt ]] || fail "ranking: $(cat "$TEST_ROOT/out")"
[[ $(json_get 'j["hits"][0]["score"] > j["hits"][1]["score"]') == True ]] || fail "scores not ordered"
[[ $(json_get 'j["semantic_degraded"]') == False ]] || fail "keyword mode is not degraded"
expect_rc 0 nx search query "wombat burrow"
grep -q "^/docs/wombat-many.txt:" "$TEST_ROOT/out" || fail "plain query output: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx --json search query wombat --path /src
[[ $(json_get 'len(j["hits"])') == 0 ]] || fail "--path does not limit the query"

note "hybrid without a provider is flagged degraded"
expect_rc 0 nx --json search query "wombat burrow" --mode hybrid
[[ $(json_get 'j["semantic_degraded"]') == True ]] || fail "hybrid without provider must be degraded"
[[ $(json_get 'all(h["semantic_degraded"] and h["vector_score"] == 0 for h in j["hits"])') == True ]] ||
  fail "hybrid hits must carry the degraded flag"
expect_rc 0 nx --json search query "wombat" --mode semantic
[[ $(json_get 'j["semantic_degraded"]') == True ]] || fail "semantic without provider must be degraded"
expect_rc 0 nx --json search stats
[[ $(json_get 'j["semantic"]') == None ]] || fail "stats: no provider"

note "path contexts"
expect_rc 0 nx path-context set /docs "project documentation"
expect_rc 0 nx --json path-context list
[[ $(json_get 'j[0]["path"]') == /docs && $(json_get 'j[0]["description"]') == "project documentation" ]] || fail "path-context list"
expect_rc 0 nx --json search query "wombat burrow"
[[ $(json_get 'j["hits"][0]["context"]') == "project documentation" ]] || fail "hit context"
expect_rc 0 nx path-context delete /docs
expect_rc 1 nx --json path-context delete /docs
[[ $(json_get 'j["error"]["code"]') == notFound ]] || fail "deleting a missing context"
expect_rc 64 nx path-context set /docs

note "a non-root user does not see files in root's 0700 directory"
mkdir -m 0700 "$M/private"
echo "secret ${token}priv" >"$M/private/secret.txt"
echo "public ${token}priv" >"$M/docs/public.txt"
echo "owner only ${token}priv" >"$M/docs/mode600.txt"
chmod 0600 "$M/docs/mode600.txt"
within 1 "root sees the private file" grep_has "${token}priv" /private/secret.txt
chgrp 1000 "$NEXUS_DATA/nexusd.sock"
chmod g+rw "$NEXUS_DATA/nexusd.sock"
as_user() { setpriv --reuid 1000 --regid 1000 --clear-groups env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home1000" "$NEXUS_CLI" "$@"; }
as_user grep "${token}priv" | sort >"$TEST_ROOT/a"
[[ $(cat "$TEST_ROOT/a") == "/docs/public.txt:1:public ${token}priv" ]] || fail "uid 1000 grep: $(cat "$TEST_ROOT/a")"
as_user glob '**/secret.txt' >"$TEST_ROOT/a"
[[ ! -s $TEST_ROOT/a ]] || fail "uid 1000 glob sees a private file"
as_user --json search query "${token}priv" >"$TEST_ROOT/out"
[[ $(json_get 'sorted(h["path"] for h in j["hits"])') == "['/docs/public.txt']" ]] || fail "uid 1000 query: $(cat "$TEST_ROOT/out")"
nx --json search query "${token}priv" >"$TEST_ROOT/out"
[[ $(json_get 'len(j["hits"])') == 3 ]] || fail "root sees all three: $(cat "$TEST_ROOT/out")"
rc=0
as_user search reindex >/dev/null 2>"$TEST_ROOT/err" || rc=$?
[[ $rc == 1 ]] && grep -q "admins" "$TEST_ROOT/err" || fail "reindex by a non-admin must be refused (rc $rc)"

note "/health shows the index state, \"indexing\" during a reindex"
expect_rc 0 nx --json status
HTTP=$(json_get 'j["http"]')
[[ -n $HTTP ]] || fail "no http address in status"
health_state() { curl -fsS "http://$HTTP/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["search"]["index"])'; }
[[ $(health_state) == ready ]] || fail "/health: $(curl -s "http://$HTTP/health")"
nx search reindex >"$TEST_ROOT/reindex.out" 2>&1 &
reindex_pid=$!
seen=""
for _ in $(seq 400); do
  s=$(health_state)
  [[ $s == indexing ]] && { seen=1; break; }
  kill -0 $reindex_pid 2>/dev/null || break
  sleep 0.005
done
wait $reindex_pid || fail "reindex failed: $(cat "$TEST_ROOT/reindex.out")"
[[ -n $seen ]] || fail "/health never said indexing during a reindex"
grep -q "state        ready" "$TEST_ROOT/reindex.out" || fail "reindex output: $(cat "$TEST_ROOT/reindex.out")"
within 5 "/health back to ready" test "$(health_state)" == ready
expect_rc 0 nx --json search index /docs
[[ $(json_get 'j["files"]') -gt 700 && $(json_get 'j["state"]') == ready ]] || fail "search index --json"
expect_rc 1 nx --json search index /no/such/dir
[[ $(json_get 'j["error"]["code"]') == notFound ]] || fail "indexing a missing path"

note "restart: the index persists, and catches up with changes made while search was off"
expect_rc 0 nx --json search stats
before=$(json_get 'j["files"]')
nexus_stop
nexus_start --profile minimal
[[ -s $M/docs/crlf.txt ]] || fail "mount without search"
rm "$M/docs/wombat-once.txt"
echo "written while search was off: narwhal$token" >"$M/docs/offline.txt"
echo "changed while off: walrus$token" >"$M/docs/crlf.txt"
mv "$M/docs/wombat-many.txt" "$M/docs/wombat-moved.txt"
expect_rc 69 nx --json grep narwhal
[[ $(json_get 'j["error"]["code"]') == unavailable ]] || fail "search must be unavailable with the feature off"
grep -q "^nexus: unavailable: search — " "$TEST_ROOT/err" || fail "search off: message $(cat "$TEST_ROOT/err")"
nexus_stop
nexus_start --http 127.0.0.1:0
expect_rc 0 nx --json search stats
(( $(json_get 'j["files"]') >= before - 2 )) || fail "index did not persist: $(cat "$TEST_ROOT/out")"
within 20 "catch-up after restart" search_ready
grep_has "narwhal$token" /docs/offline.txt || fail "file written while off not found"
query_has "walrus$token" /docs/crlf.txt || fail "file changed while off not re-indexed"
query_lacks "wombat burrow" /docs/wombat-once.txt || fail "file deleted while off still indexed"
query_has "wombat burrow" /docs/wombat-moved.txt || fail "file renamed while off not found"
query_lacks "wombat burrow" /docs/wombat-many.txt || fail "old name of a renamed file still indexed"
nexus_stop

note "fastText embeddings: hybrid results carry vector scores"
corpus="$TEST_ROOT/corpus.txt"
for _ in $(seq 200); do
  echo "the cat sat on the mat with another cat"
  echo "engines and wheels make the car move on the road"
  echo "apples and bananas are sweet fruit to eat"
  echo "the wombat digs a burrow under the ground"
done >"$corpus"
fasttext skipgram -input "$corpus" -output "$TEST_ROOT/model" -dim 16 -epoch 3 -minCount 1 \
  -minn 0 -maxn 0 -thread 1 -verbose 0 >/dev/null 2>&1 || fail "fasttext training failed"
[[ -s $TEST_ROOT/model.bin ]] || fail "no fastText model"
nexus_start --search-embeddings "fasttext:$TEST_ROOT/model.bin"
within 60 "re-embedding with the new model" search_ready
expect_rc 0 nx --json search stats
[[ $(json_get 'j["semantic"]') == "fasttext:$TEST_ROOT/model.bin" ]] || fail "stats: provider"
echo "bananas and apples, sweet fruit" >"$M/docs/fruit.txt"
within 1 "fruit file indexed" query_has "bananas" /docs/fruit.txt
expect_rc 0 nx --json search query "sweet fruit bananas" --mode hybrid
[[ $(json_get 'j["semantic_degraded"]') == False ]] || fail "hybrid with a model must not be degraded"
[[ $(json_get 'any(h["vector_score"] != 0 for h in j["hits"])') == True ]] || fail "no vector scores: $(cat "$TEST_ROOT/out")"
[[ $(json_get 'not any(h["semantic_degraded"] for h in j["hits"])') == True ]] || fail "hits flagged degraded"
expect_rc 0 nx --json search query "wombat burrow ground" --mode semantic
[[ $(json_get 'j["semantic_degraded"]') == False && $(json_get 'len(j["hits"])') -gt 0 ]] || fail "semantic mode"
[[ $(json_get 'all(h["vector_score"] != 0 for h in j["hits"])') == True ]] || fail "semantic hits need vector scores"

note "search init switches the provider at run time and re-embeds in the background"
expect_rc 0 nx --json search init --provider none
expect_json 'j["semantic"], j["embedded"]' "(None, 0)"
expect_rc 0 nx --json search query "sweet fruit bananas" --mode hybrid
expect_json 'j["semantic_degraded"]' True
expect_rc 1 nx search init --provider "fasttext:$TEST_ROOT/nope.bin"
expect_err "nope.bin"
expect_rc 64 nx search init --model m
expect_rc 0 nx --json search init --provider "fasttext:$TEST_ROOT/model.bin" --wait
expect_json 'j["semantic"] == "fasttext:'"$TEST_ROOT"'/model.bin" and j["state"] == "ready"' True
expect_json 'j["embedded"] == j["chunks"] and j["chunks"] > 0 and j["semantic_error"] is None' True
expect_rc 0 nx --json search query "wombat burrow ground" --mode semantic
expect_json 'j["semantic_degraded"] == False and len(j["hits"]) > 0' True
chgrp 1000 "$NEXUS_DATA/nexusd.sock"
chmod g+rw "$NEXUS_DATA/nexusd.sock"
rc=0
as_user search init --provider none >/dev/null 2>"$TEST_ROOT/err" || rc=$?
[[ $rc == 1 ]] && grep -q "admins" "$TEST_ROOT/err" || fail "a non-admin must not switch providers (rc $rc)"
expect_rc 0 nx --json search stats
expect_json 'j["semantic"] is not None' True
nexus_stop
expect_rc 64 "$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$M" --search-embeddings "gopher://x"

echo "search: all checks passed"
