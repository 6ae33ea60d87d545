# SPDX-License-Identifier: Apache-2.0
#
# Writes the version source (run at every build by src/util's tlspolicy_version target):
#   cmake -DVERSION=X.Y.Z -DSOURCE_DIR=... -DTEMPLATE=version.cpp.in -DOUTPUT=version.cpp
#         -P tools/cmake/Version.cmake
# The version is the CMake project version; built from a git checkout it gains SemVer build
# metadata, "+g<commit>" and ".dirty" for uncommitted changes (0.1.0+gc7fd9ac.dirty). The
# output is rewritten only when it changes, so an unchanged version recompiles nothing. A copy
# of the tree without .git (tools/build-deb.sh) carries the string in .tlspolicy-version.
set(TLSPOLICY_VERSION_STRING "${VERSION}")
find_program(GIT git)
if(NOT EXISTS "${SOURCE_DIR}/.git" AND EXISTS "${SOURCE_DIR}/.tlspolicy-version")
  file(STRINGS "${SOURCE_DIR}/.tlspolicy-version" TLSPOLICY_VERSION_STRING LIMIT_COUNT 1)
elseif(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --short=7 HEAD
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND commit)
    set(TLSPOLICY_VERSION_STRING "${VERSION}+g${commit}")
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" diff-index --quiet HEAD --
                    RESULT_VARIABLE dirty ERROR_QUIET)
    if(NOT dirty EQUAL 0)
      string(APPEND TLSPOLICY_VERSION_STRING ".dirty")
    endif()
  endif()
endif()
configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
