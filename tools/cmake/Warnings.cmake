# SPDX-License-Identifier: Apache-2.0
# tlspolicy_build: warnings and settings for our own targets only (linked
# PRIVATE), so third-party headers (included as SYSTEM) never fail the build.
# -Wnull-dereference is left out: with GCC 12 at -O2 it fires on libstdc++
# code inlined from CLI11, toml++ and gtest (false positives we cannot fix),
# and at -O0 it checks nothing (docs/decisions/0001).
add_library(tlspolicy_build INTERFACE)
target_compile_options(tlspolicy_build INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wnon-virtual-dtor -Woverloaded-virtual -Wformat=2
  -Wimplicit-fallthrough -Wmissing-declarations -Werror=vla)
if(TLSPOLICY_WERROR)
  target_compile_options(tlspolicy_build INTERFACE -Werror)
endif()
