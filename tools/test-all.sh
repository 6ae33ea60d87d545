#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The README's test command: installs what is missing, checks formatting,
# builds and runs every test:
#   1. asan-ubsan preset: unit tests and fuzz-corpus replays under ASan+UBSan;
#   2. ci preset (RelWithDebInfo, warnings as errors): unit, fuzz replays and
#      the integration suites against real NSD, Unbound and nginx.
# Fails when the integration suites were skipped or ran no test.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

sudo_if_needed tools/install-deps.sh
tools/format.sh --check
tools/check-layering.sh

jobs=${TLSPOLICY_JOBS:-2}

echo "== asan-ubsan: unit tests and fuzz replays"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
ctest --preset asan-ubsan

# The daemon's bad-input and concurrency suite, against the sanitizer build:
# any ASan/UBSan report aborts the daemon and fails the suite.
asan_summary=build/asan-ubsan/integration-summary.txt
rm -f "$asan_summary"
if [ -f tests/integration/suites/daemon_clients.py ]; then
  echo "== asan-ubsan: daemon suite (real Postfix and Exim, bad input, concurrency)"
  tests/integration/run --binary build/asan-ubsan/src/cli/tlspolicy --suite daemon_clients \
    --summary "$asan_summary"
  grep -Eq 'integration: [1-9][0-9]* passed, 0 failed, 0 skipped' "$asan_summary" || {
    echo "test-all: FAIL: the daemon suite under ASan/UBSan skipped or ran no test" >&2
    exit 1
  }
fi

echo "== ci: unit, fuzz replays and integration suites"
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
summary=build/ci/integration-summary.txt
rm -f "$summary"
ctest --preset ci

# A green run that skipped the integration suite is a red run.
if ! ctest --preset ci -N -L integration | grep -q 'Total Tests: [1-9]'; then
  echo "test-all: FAIL: no integration test is registered" >&2
  exit 1
fi
if [ ! -s "$summary" ]; then
  echo "test-all: FAIL: the integration world did not run (no $summary)" >&2
  exit 1
fi
cat "$summary"
if ! grep -Eq 'integration: [1-9][0-9]* passed, 0 failed, 0 skipped' "$summary"; then
  echo "test-all: FAIL: integration suites skipped or ran no test" >&2
  exit 1
fi
echo "test-all: all tests passed"
