#!/usr/bin/env bash
# Parsed search served by a real nexusd over a real mount: PDF, docx, xlsx and
# pptx files copied onto the mount with cp are indexed by their text; `nexus
# grep --search-mode parsed` finds them naming the page, sheet or slide, and
# -f GLOB narrows the files; raw grep stays grep -r; keyword queries name the
# part; results carry their zone; a damaged document is skipped with a logged
# reason; documents a user may not read are not found by that user; documents
# written while search was off are indexed once it is on.
source "$(dirname "$0")/../lib.sh"
# POSIX modes decide visibility here (ReBAC on search is tested in search.sh's
# neighbours rebac_cli.sh and rebac_mount.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)
export LC_ALL=C
M=$NEXUS_MNT
DOCS=$TEST_ROOT/samples
python3 "$(dirname "$0")/../make_documents.py" "$DOCS"

note "documents written while search is off are indexed once it is on"
nexus_start --profile minimal
mkdir -p "$M/early"
cp "$DOCS/deck.pptx" "$M/early/"
nexus_stop
nexus_start
within 20 "catch-up after search was switched on" search_ready
expect_rc 0 nx --json grep Results /early --search-mode parsed
expect_json 'len(j["matches"])' 1
expect_json 'j["matches"][0]["slide"]' 2

note "cp onto the mount; parsed grep names page, sheet and slide"
mkdir -p "$M/docs" "$M/zone/local/docs"
cp "$DOCS"/*.pdf "$DOCS"/*.docx "$DOCS"/*.xlsx "$DOCS"/*.pptx "$M/docs/"
cp "$DOCS/report.pdf" "$M/zone/local/docs/"
printf 'revenue in a text file\n' >"$M/docs/plain.txt"
within 20 "index of the copied documents" search_ready

expect_rc 0 nx grep revenue /docs --search-mode parsed
grep -qx '/docs/report.pdf (page 2):2:quarterly revenue grew by twelve percent' "$TEST_ROOT/out" ||
  fail "pdf match: $(out)"
grep -qx $'/docs/budget.xlsx (sheet Budget):2:revenue target\t1250.5' "$TEST_ROOT/out" || fail "xlsx match: $(out)"
grep -qx '/docs/deck.pptx (slide 2):2:revenue slide with numbers' "$TEST_ROOT/out" || fail "pptx match: $(out)"
grep -qx '/docs/notes.docx:2:The revenue forecast	holds' "$TEST_ROOT/out" || fail "docx match: $(out)"
grep -qx '/docs/plain.txt:1:revenue in a text file' "$TEST_ROOT/out" || fail "text match: $(out)"

expect_rc 0 nx --json grep revenue / -f "**/*.pdf" --search-mode parsed
expect_json 'sorted((m["path"], m["page"], m["zone"], m["zone_path"]) for m in j["matches"] if "broken" not in m["path"])' \
  "[('/docs/report.pdf', 2, 'root', '/docs/report.pdf'), ('/zone/local/docs/report.pdf', 2, 'local', '/docs/report.pdf')]"
expect_rc 0 nx --json grep revenue /docs -f "*.xlsx" --search-mode parsed
expect_json '[(m["sheet"], m["line"]) for m in j["matches"] if "broken" not in m["path"]]' "[('Budget', 2)]"
expect_rc 0 nx --json grep -l revenue /docs -f "*.pptx" --search-mode parsed
expect_json '[m["path"] for m in j["matches"]]' "['/docs/deck.pptx']"

note "raw grep (the default) is grep -r: the Office files' text is not in their (zip) bytes"
expect_rc 0 nx grep "revenue forecast" /docs
[[ ! -s $TEST_ROOT/out ]] || fail "raw grep matched a docx's text: $(out)"
expect_rc 0 nx grep -l revenue /docs
diff <(sort "$TEST_ROOT/out") <(cd "$M" && grep -rlI revenue docs | sed 's|^|/|' | sort) ||
  fail "raw grep -l differs from grep -rlI"

note "keyword queries name the part and the zone"
expect_rc 0 nx --json search query quarterly
expect_json 'sorted((h["path"], h["page"], h["zone"]) for h in j["hits"])' \
  "[('/docs/report.pdf', 2, 'root'), ('/zone/local/docs/report.pdf', 2, 'local')]"
expect_rc 0 nx --json search query costs --path /docs
expect_json '[(h["path"], h["sheet"]) for h in j["hits"]]' "[('/docs/budget.xlsx', 'Summary')]"
expect_rc 0 nx search query quarterly --path /docs
grep -q '^/docs/report.pdf (page 2):1-' "$TEST_ROOT/out" || fail "plain query output names no page: $(out)"

note "a damaged document is skipped with a logged reason"
head -c 600 /dev/urandom >"$TEST_ROOT/junk"
{ printf '%%PDF-1.7\n'; cat "$TEST_ROOT/junk"; } >"$M/docs/damaged.pdf"
within 20 "index of the damaged document" search_ready
grep -q '/docs/damaged.pdf is not read as a document' "$NEXUS_LOG" || fail "no logged reason for damaged.pdf"
expect_rc 0 nx --json grep -l . /docs -f damaged.pdf --search-mode parsed
expect_json 'j["matches"]' "[]"

note "edits are followed: a replaced document loses its old text"
cp "$DOCS/notes.docx" "$M/docs/report.pdf.tmp" && mv "$M/docs/report.pdf.tmp" "$M/docs/plain.txt"
within 20 "index after the rename" search_ready
expect_rc 0 nx --json search query "text file" --path /docs/plain.txt
expect_json 'j["hits"]' "[]"

note "a user does not find documents in a directory they may not read"
mkdir -p "$M/secret" && chmod 0700 "$M/secret"
cp "$DOCS/report.pdf" "$M/secret/"
chmod 0755 "$M/docs"
chmod 0644 "$M"/docs/*
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock" && chmod 0660 "$NEXUS_DATA/nexusd.sock"
within 20 "index of the secret document" search_ready
expect_rc 0 alice --json grep quarterly / --search-mode parsed
expect_json 'sorted(m["path"] for m in j["matches"])' "['/docs/report.pdf', '/zone/local/docs/report.pdf']"
expect_rc 0 nx --json grep quarterly / --search-mode parsed
expect_json 'len(j["matches"])' 3

note "usage errors"
expect_rc 64 nx grep x / --search-mode fuzzy
expect_err "raw or parsed"
expect_rc 1 nx grep x / -f "{unclosed" --search-mode parsed
nexus_stop
