#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# clang-format every C++ file of the project. With --check, change nothing
# and fail when a file is not formatted.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' | grep -v '^build/')
[ "${#files[@]}" -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files formatted"
else
  clang-format -i "${files[@]}"
fi
