# SPDX-License-Identifier: Apache-2.0
# tlspolicy_build: warnings and settings for our own targets only (linked
# PRIVATE), so third-party headers (included as SYSTEM) never fail the build.
add_library(tlspolicy_build INTERFACE)
target_compile_options(tlspolicy_build INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wnon-virtual-dtor -Woverloaded-virtual -Wnull-dereference -Wformat=2
  -Wimplicit-fallthrough -Wmissing-declarations -Werror=vla)
if(TLSPOLICY_WERROR)
  target_compile_options(tlspolicy_build INTERFACE -Werror)
endif()
