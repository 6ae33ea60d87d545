# SPDX-License-Identifier: Apache-2.0
# Compile and link settings that the presets select by option, added to what the user gives
# (CXXFLAGS, -DCMAKE_CXX_FLAGS=..., LDFLAGS) instead of replacing it:
#   TLSPOLICY_ASSERTIONS     libstdc++'s precondition checks (-D_GLIBCXX_ASSERTIONS: bounds of
#                            operator[], front() of an empty container, ...); the dev preset
#   TLSPOLICY_HARDENING      -D_FORTIFY_SOURCE=2 (optimised builds only: glibc needs -O),
#                            -fstack-protector-strong, position-independent code and
#                            executables, -Wl,-z,relro,-z,now; the release preset
#   TLSPOLICY_FUZZ_LINKMAIN  OFF (the fuzz preset, clang): the fuzz targets link libFuzzer, so
#                            all C++ is built with -fsanitize=fuzzer-no-link (coverage for it)
option(TLSPOLICY_ASSERTIONS "libstdc++ assertions (-D_GLIBCXX_ASSERTIONS)" OFF)
option(TLSPOLICY_HARDENING "Fortify, stack protector, PIE, full RELRO" OFF)

if(TLSPOLICY_ASSERTIONS)
  add_compile_definitions(_GLIBCXX_ASSERTIONS)
endif()

if(TLSPOLICY_HARDENING)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
  add_compile_options(-fstack-protector-strong)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  include(CheckPIESupported)
  check_pie_supported()  # so that executables also link with -pie (policy CMP0083)
  add_link_options(LINKER:-z,relro,-z,now)
endif()

if(NOT TLSPOLICY_FUZZ_LINKMAIN)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
