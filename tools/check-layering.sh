#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Each C library is included only by the module that owns it
# (docs/architecture.md): fails, naming the file, when one leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
check() {  # check HEADER-REGEX ALLOWED-PATH-REGEX
  local hits
  hits=$(git ls-files -co --exclude-standard -- 'src/*' 'include/*' 'policy-cache/*' |
         grep -E '\.(c|h)pp$' | xargs grep -lE "#include <($1)" 2>/dev/null | grep -Ev "$2" || true)
  if [ -n "$hits" ]; then
    echo "check-layering: <$1> included outside $2:" >&2
    echo "$hits" >&2
    status=1
  fi
}
check 'ldns/|unbound\.h|idn2\.h' '^src/dns/'
check 'curl/|openssl/' '^src/fetch/'
check 'sqlite3\.h' '^policy-cache/'
check 'nlohmann/' '^src/(proto|tlsrpt)/'
check 'zlib\.h' '^src/tlsrpt/'
check 'toml\+\+/' '^src/config/'
check 'CLI/' '^src/cli/'
[ "$status" -eq 0 ] && echo "check-layering: ok"
exit "$status"
