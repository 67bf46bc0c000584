#!/bin/bash
# A stand-in matrix runner for test_matrix.py, called as
#
#     stub_runner.sh PROBE SRC DST
#
# and steered by the environment:
#
#   STUB_FAIL      comma-separated PROBE:SRC:DST patterns that fail; '*' matches
#                  any value of a field ("ctl:n1:n3,reach:n2:*")
#   STUB_EXIT      exit status of a failing probe (default 1)
#   STUB_OUTPUT    printed instead of the usual one-line answer (may hold newlines)
#   STUB_SLEEP     seconds to sleep instead of answering, for the probes that
#                  match STUB_SLEEP_ON (patterns as in STUB_FAIL; default: all)
#   STUB_LOG       file that gets one line per call: PROBE SRC DST LAB_RUN_ID LAB_DIR
#
# A passing probe prints "ok PROBE SRC->DST" on stdout; a failing one prints
# "FAIL PROBE SRC->DST" on stderr.
set -u

if [[ $# -ne 3 ]]; then
    echo "usage: stub_runner.sh PROBE SRC DST" >&2
    exit 64
fi
probe=$1 src=$2 dst=$3

# matches LIST: whether PROBE:SRC:DST matches one of the patterns in LIST.
matches() {
    local pats pat p s d
    IFS=, read -ra pats <<< "$1"
    for pat in "${pats[@]}"; do
        IFS=: read -r p s d <<< "$pat"
        if [[ ($p == '*' || $p == "$probe") && ($s == '*' || $s == "$src") &&
              ($d == '*' || $d == "$dst") ]]; then
            return 0
        fi
    done
    return 1
}

if [[ -n ${STUB_LOG:-} ]]; then
    echo "$probe $src $dst ${LAB_RUN_ID:--} ${LAB_DIR:--}" >> "$STUB_LOG"
fi

if [[ -n ${STUB_SLEEP:-} ]] && matches "${STUB_SLEEP_ON:-*:*:*}"; then
    # exec, so that the runner's kill on timeout reaches the sleeping process.
    exec sleep "$STUB_SLEEP"
fi

fail=0
if [[ -n ${STUB_FAIL:-} ]] && matches "$STUB_FAIL"; then
    fail=1
fi

if [[ -n ${STUB_OUTPUT+set} ]]; then
    printf '%s\n' "$STUB_OUTPUT"
elif (( fail )); then
    echo "FAIL $probe $src->$dst" >&2
else
    echo "ok $probe $src->$dst"
fi

if (( fail )); then
    exit "${STUB_EXIT:-1}"
fi
exit 0
