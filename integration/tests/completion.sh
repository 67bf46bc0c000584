#!/usr/bin/env bash
# bash completion of nexus, as Debian's bash-completion loads it: the script
# `nexus completion bash` prints (generated from the command table, installed
# as /usr/share/bash-completion/completions/nexus) is found by the loader,
# `complete -p nexus` is set, and it completes command words level by level,
# flags, and every command `nexus --help` lists.
set -euo pipefail
: "${NEXUS_BUILD_DIR:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
NEXUS_CLI="$NEXUS_BUILD_DIR/bin/nexus"
TEST_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/nexus-it.XXXXXX")
trap 'rm -rf "$TEST_ROOT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
[[ -r /usr/share/bash-completion/bash_completion ]] || fail "bash-completion is not installed"

# Where bash-completion looks first for a command's completion.
mkdir -p "$TEST_ROOT/completions"
"$NEXUS_CLI" completion bash >"$TEST_ROOT/completions/nexus"
cmp -s "$TEST_ROOT/completions/nexus" "$NEXUS_BUILD_DIR/packaging/nexus.bash" ||
  fail "the installed completion differs from what nexus prints"

# complete_line WORDS...: what completing the last word of `WORDS` offers
# (an empty last word: completing after a space), in a shell that loaded
# bash-completion and then nexus's completion the way it does on first use.
complete_line() {
  BASH_COMPLETION_USER_DIR="$TEST_ROOT" PATH="$NEXUS_BUILD_DIR/bin:$PATH" bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion
    __load_completion nexus || exit 3
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    spec=$(complete -p nexus) || exit 4
    fn=${spec#*-F }; fn=${fn%% *}
    "$fn" nexus "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}
expect_completion() {
  local want=$1 got
  shift
  got=$(complete_line "$@" | sort | paste -sd ' ')
  [[ $got == "$want" ]] || fail "completing '$*': got '$got', expected '$want'"
}

note "complete -p nexus, through bash-completion's loader"
spec=$(BASH_COMPLETION_USER_DIR="$TEST_ROOT" bash --norc --noprofile -c '
  source /usr/share/bash-completion/bash_completion; __load_completion nexus; complete -p nexus')
[[ $spec == "complete -o default -F _nexus nexus" ]] || fail "complete -p nexus: '$spec'"

note "command words, level by level"
expect_completion "versions" nexus ver
expect_completion "history" nexus versions hi
expect_completion "history" nexus --socket /x.sock --json versions hi
expect_completion "list" nexus mcp profile li
expect_completion "bash" nexus completion ""
expect_completion "acquire" nexus lock acq

note "flags of a command, global options, values"
expect_completion "--version" nexus versions get /f --vers
expect_completion "--json" nexus status --js
expect_completion "--socket" nexus --so
expect_completion "" nexus --socket ""     # a value: bash's file names
expect_completion "" nexus versions get --version ""

note "every command nexus --help lists completes"
"$NEXUS_CLI" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1, $2 }' >"$TEST_ROOT/commands"
[[ $(wc -l <"$TEST_ROOT/commands") -gt 50 ]] || fail "too few commands in nexus --help"
while read -r first second; do
  offered=$(complete_line nexus "$first" | tr '\n' ' ')
  [[ " $offered " == *" $first "* ]] || fail "'nexus $first' does not complete (got '$offered')"
  # Its second word, when it is one (not an argument such as PATH).
  if [[ $second =~ ^[a-z][a-z-]*$ ]]; then
    offered=$(complete_line nexus "$first" "$second" | tr '\n' ' ')
    [[ " $offered " == *" $second "* ]] || fail "'nexus $first $second' does not complete (got '$offered')"
  fi
done <"$TEST_ROOT/commands"
echo "PASS"
