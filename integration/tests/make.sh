#!/usr/bin/env bash
# make on the mount: a small multi-file C program with a Makefile is built
# with gcc (objects, dependency files, an archive, the link), the binary runs
# from the mount, a second `make` is a no-op (mtimes on the mount are stable
# and ordered), touching one source rebuilds exactly that object and the
# link, touching the shared header rebuilds every object, and a parallel
# clean rebuild gives the same binary output. After a restart `make` is
# still a no-op.
source "$(dirname "$0")/../lib.sh"

nexus_start
P="$NEXUS_MNT/proj"
mkdir -p "$P/src" "$P/include"

note "write the project"
cat >"$P/include/calc.h" <<'EOF'
#ifndef CALC_H
#define CALC_H
long add(long a, long b);
long mul(long a, long b);
long fact(int n);
const char *greeting(void);
#endif
EOF
cat >"$P/src/add.c" <<'EOF'
#include "calc.h"
long add(long a, long b) { return a + b; }
EOF
cat >"$P/src/mul.c" <<'EOF'
#include "calc.h"
long mul(long a, long b) { return a * b; }
EOF
cat >"$P/src/fact.c" <<'EOF'
#include "calc.h"
long fact(int n) { return n <= 1 ? 1 : mul(n, fact(n - 1)); }
EOF
cat >"$P/src/greet.c" <<'EOF'
#include "calc.h"
const char *greeting(void) { return "hello from nexusfs"; }
EOF
cat >"$P/src/main.c" <<'EOF'
#include <stdio.h>
#include "calc.h"
int main(void) {
  printf("%s\n", greeting());
  printf("add=%ld mul=%ld fact10=%ld\n", add(40, 2), mul(6, 7), fact(10));
  return 0;
}
EOF
cat >"$P/Makefile" <<'EOF'
CC ?= gcc
CFLAGS = -O1 -Wall -Werror -Iinclude -MMD -MP
SRCS = $(wildcard src/*.c)
OBJS = $(patsubst src/%.c,build/%.o,$(SRCS))
LIBOBJS = $(filter-out build/main.o,$(OBJS))

prog: build/main.o build/libcalc.a
	@echo "LINK $@"
	@$(CC) -o $@ build/main.o build/libcalc.a

build/libcalc.a: $(LIBOBJS)
	@echo "AR $@"
	@rm -f $@ && ar rcs $@ $^

build/%.o: src/%.c | build
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

build:
	@mkdir -p build

clean:
	rm -rf build prog

-include $(OBJS:.o=.d)
.PHONY: clean
EOF

# Runs make in the project with the given arguments; prints its action lines
# (CC/AR/LINK) sorted, one per line, and fails if make fails.
run_make() {
  local out
  out=$(make -C "$P" --no-print-directory "$@" 2>&1) || { echo "$out" >&2; fail "make $* failed"; }
  echo "$out" | grep -E '^(CC|AR|LINK) ' | LC_ALL=C sort || true
}

# Fails unless the actions of the last make ($1) equal the expected list ($2).
expect_actions() {
  local got=$1 want="" what=$3
  [[ -z $2 ]] || want=$(printf '%s\n' $2 | paste -d' ' - - | LC_ALL=C sort)
  [[ $got == "$want" ]] || fail "$what: make did
$got
but should have done
$want"
}

check_output() {
  local out
  out=$("$P/prog") || fail "running prog from the mount failed"
  [[ $out == $'hello from nexusfs\nadd=42 mul=42 fact10=3628800' ]] || fail "prog printed: $out"
}

note "first build"
got=$(run_make)
expect_actions "$got" "AR build/libcalc.a CC src/add.c CC src/fact.c CC src/greet.c CC src/main.c CC src/mul.c LINK prog" "first build"
[[ -x "$P/prog" ]] || fail "prog was not built executable"
check_output

note "second make is a no-op"
got=$(run_make)
expect_actions "$got" "" "second make"
make -C "$P" -q prog || fail "make -q says prog is out of date right after a build"

note "touch one source: only its object, the archive and the link are redone"
sleep 0.01
touch "$P/src/mul.c"
got=$(run_make)
expect_actions "$got" "AR build/libcalc.a CC src/mul.c LINK prog" "after touching mul.c"
got=$(run_make)
expect_actions "$got" "" "make after the rebuild of mul.c"

note "touch main.c: only main.o and the link are redone"
touch "$P/src/main.c"
got=$(run_make)
expect_actions "$got" "CC src/main.c LINK prog" "after touching main.c"

note "edit the header: everything is recompiled (dependency files on the mount)"
echo "/* edited */" >>"$P/include/calc.h"
got=$(run_make)
expect_actions "$got" "AR build/libcalc.a CC src/add.c CC src/fact.c CC src/greet.c CC src/main.c CC src/mul.c LINK prog" "after editing calc.h"
check_output

note "edit a source: the change shows in the binary"
sed -i 's/hello from nexusfs/HELLO FROM NEXUSFS/' "$P/src/greet.c"
got=$(run_make)
expect_actions "$got" "AR build/libcalc.a CC src/greet.c LINK prog" "after editing greet.c"
[[ $("$P/prog" | head -n 1) == "HELLO FROM NEXUSFS" ]] || fail "edited greeting not in the rebuilt binary"
sed -i 's/HELLO FROM NEXUSFS/hello from nexusfs/' "$P/src/greet.c"

note "parallel clean rebuild"
make -C "$P" --no-print-directory clean >/dev/null || fail "make clean failed"
[[ ! -e "$P/build" && ! -e "$P/prog" ]] || fail "make clean left files behind"
got=$(run_make -j4)
expect_actions "$got" "AR build/libcalc.a CC src/add.c CC src/fact.c CC src/greet.c CC src/main.c CC src/mul.c LINK prog" "make -j4 after clean"
check_output
got=$(run_make)
expect_actions "$got" "" "make after the parallel rebuild"

note "restart: make is still a no-op and the binary still runs"
nexus_stop
nexus_start
got=$(run_make)
expect_actions "$got" "" "make after a daemon restart"
check_output

nexus_stop
echo "PASS make"
