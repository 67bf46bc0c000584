# Run at every build (cmake -P, target nexus_build_info): writes
# ${OUT} (nexus/build_info.h) with the git commit the tree was built from,
# "-dirty" when it has uncommitted changes, "unknown" outside a git checkout
# (a source tarball). The file is rewritten only when that changes, so a new
# commit recompiles the two files that print it and nothing else.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
else()
  execute_process(COMMAND git --no-optional-locks -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes ERROR_QUIET)
  if(NOT changes STREQUAL "")
    string(APPEND commit "-dirty")
  endif()
endif()
file(CONFIGURE OUTPUT "${OUT}" CONTENT [[
// Generated at build time by packaging/build_info.cmake.
#pragma once
#define NEXUS_GIT_COMMIT "@commit@"
]] @ONLY)
