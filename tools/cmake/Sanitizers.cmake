# SPDX-License-Identifier: Apache-2.0
# TLSPOLICY_SANITIZE=address,undefined or thread: applied to everything built
# here (our code, tests and fuzz replayers), never recoverable.
if(TLSPOLICY_SANITIZE)
  set(_san_flags -fsanitize=${TLSPOLICY_SANITIZE} -fno-omit-frame-pointer)
  if(TLSPOLICY_SANITIZE MATCHES "undefined")
    list(APPEND _san_flags -fno-sanitize-recover=all)
  endif()
  add_compile_options(${_san_flags})
  add_link_options(-fsanitize=${TLSPOLICY_SANITIZE})
endif()
