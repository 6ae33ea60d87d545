#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The README's run command: installs what is missing, builds the release
# preset and starts `tlspolicy serve` on its embedded defaults (extra
# arguments are passed to tlspolicy, e.g. --config FILE or --set k=v).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

sudo_if_needed tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${TLSPOLICY_JOBS:-2}"
exec build/release/src/cli/tlspolicy "$@" serve
