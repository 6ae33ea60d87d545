#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Each C library is included only by the module that owns it
# (docs/architecture.md): fails, naming the file, when one leaks. And every source file is
# named in a CMakeLists.txt (sources are listed, not globbed): a file on disk that no list
# names would silently not be built or tested.
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
check 'systemd/' '^$'  # sd_notify and LISTEN_FDS are spoken natively: no libsystemd

# Our own modules: a module's files do not include the interface of one it must not depend on.
forbid() {  # forbid MODULE FILES-REGEX
  local hits
  hits=$(git ls-files -co --exclude-standard -- 'src/*' 'include/*' | grep -E '\.(c|h)pp$' |
         grep -E "$2" | xargs grep -lE "#include \"tlspolicy/$1/" 2>/dev/null || true)
  if [ -n "$hits" ]; then
    echo "check-layering: \"tlspolicy/$1/\" included by a module that must not depend on it:" >&2
    echo "$hits" >&2
    status=1
  fi
}
# The policy layer decides from its own types (policy::LocalRule); the composition root
# (src/daemon/runtime.cpp) turns the configuration's [[policy]] tables into them.
forbid config '^(src|include/tlspolicy)/policy/'

# Every .cpp under src/, policy-cache/, tests/ and tools/bench/ is named in the CMakeLists.txt of
# its directory or a parent (tests/CMakeLists.txt lists tests/unit/<module>/ by file name; the
# fuzz list names fuzz_<name>.cpp by <name>).
while read -r file; do
  name="$(basename "$file")"
  dir="$(dirname "$file")"
  case "$name" in fuzz_*.cpp) name="${name#fuzz_}"; name="${name%.cpp}" ;; esac
  found=0
  while :; do
    if [ -f "$dir/CMakeLists.txt" ] && grep -qw -- "${name%.cpp}" "$dir/CMakeLists.txt"; then
      found=1
      break
    fi
    [ "$dir" = . ] && break
    dir="$(dirname "$dir")"
  done
  if [ "$found" = 0 ]; then
    echo "check-layering: $file is named in no CMakeLists.txt (it would not be built)" >&2
    status=1
  fi
done < <(git ls-files -co --exclude-standard -- 'src/*.cpp' 'policy-cache/*.cpp' 'tests/*.cpp' \
  'tools/bench/*.cpp' | grep -v '/corpus/')
[ "$status" -eq 0 ] && echo "check-layering: ok"
exit "$status"
