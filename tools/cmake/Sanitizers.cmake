# SPDX-License-Identifier: Apache-2.0
# TLSPOLICY_SANITIZE=address,undefined or thread: applied to everything built
# here (our code, tests and fuzz replayers), never recoverable.
#
# thread (the tsan preset) cannot be combined with address or leak (they
# share the shadow memory layout). Third-party libraries (libcurl, OpenSSL,
# SQLite, ldns, libunbound) are not instrumented: TSan still sees their
# pthread locks, and tools/tsan.supp holds the few reports from inside them,
# each with its reason.
if(TLSPOLICY_SANITIZE)
  if(TLSPOLICY_SANITIZE MATCHES "thread" AND TLSPOLICY_SANITIZE MATCHES "address|leak")
    message(FATAL_ERROR "TLSPOLICY_SANITIZE=${TLSPOLICY_SANITIZE}: thread cannot be combined with address or leak")
  endif()
  set(_san_flags -fsanitize=${TLSPOLICY_SANITIZE} -fno-omit-frame-pointer)
  if(TLSPOLICY_SANITIZE MATCHES "undefined")
    list(APPEND _san_flags -fno-sanitize-recover=all)
  endif()
  add_compile_options(${_san_flags})
  add_link_options(-fsanitize=${TLSPOLICY_SANITIZE})
endif()
