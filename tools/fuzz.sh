#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/fuzz.sh TARGET SECONDS: build the fuzz preset (clang + libFuzzer +
# ASan/UBSan) and fuzz one target, e.g. `tools/fuzz.sh sts_policy 300`.
# New inputs go to build/fuzz/corpus/TARGET; crashers to build/fuzz/artifacts.
# Add minimised crashers to tests/fuzz/corpus/TARGET/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh TARGET SECONDS}
seconds=${2:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "fuzz_${target}"
mkdir -p "build/fuzz/corpus/${target}" build/fuzz/artifacts
"build/fuzz/tests/fuzz/fuzz_${target}" -max_total_time="${seconds}" -artifact_prefix=build/fuzz/artifacts/ \
  "build/fuzz/corpus/${target}" "tests/fuzz/corpus/${target}"
