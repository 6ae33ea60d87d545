#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check.sh PAGE... — each roff page formats without a warning from man(1) (groff's own
# warnings included) and has a NAME line that whatis(1)/mandb can index (lexgrog).
set -uo pipefail
failed=0
for page in "$@"; do
  warnings="$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)"
  if [ -n "$warnings" ]; then
    echo "FAIL $page: man --warnings:"
    echo "$warnings" | head -20
    failed=1
  fi
  if ! lexgrog "$page" >/dev/null; then
    echo "FAIL $page: lexgrog finds no NAME line"
    failed=1
  fi
done
[ "$failed" = 0 ] && echo "ok: $# manual pages"
exit "$failed"
