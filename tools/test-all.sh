#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The README's test command: installs what is missing, checks formatting,
# builds and runs every test:
#   1. asan-ubsan preset: unit tests and fuzz-corpus replays under ASan+UBSan,
#      then the daemon suite against that build;
#   2. tsan preset: only the concurrency tests (unit_server, unit_event, unit_service,
#      unit_daemon, unit_cli, unit_cache, unit_util) and the daemon and TLS-RPT suites under
#      ThreadSanitizer;
#   3. Debian 13 (trixie) and testing (forky) chroots (tools/debian-chroot.sh, cached), and
#      the tree built and unit-tested with trixie's GCC 14 (tools/chroot-build.sh);
#   3b. clang-tidy over every source (tidy preset, .clang-tidy; a finding fails the build);
#   3c. the Debian package (tools/build-deb.sh), lintian, and tests/package/run: installed on
#      fresh Debian 12 and 13 systems booted with systemd-nspawn, upgraded, removed, purged;
#   4. ci preset (RelWithDebInfo, warnings as errors): unit, fuzz replays and
#      the integration suites against real NSD, Unbound and nginx, and real Postfix and Exim
#      delivering through tlspolicy on the host and in the chroots (suites/deliveries.py).
# Fails when the integration suites were skipped or ran no test, and when a process any step
# started outlives the run (every process started here inherits TLSPOLICY_TEST_RUN).
set -euo pipefail
cd "$(dirname "$0")/.."
# The test command compares with the golden files; it never rewrites them (a rewrite passes
# whatever the output: docs/testing.md, "Golden files").
unset TLSPOLICY_UPDATE_GOLDEN

TLSPOLICY_TEST_RUN="test-all-$$-$(date +%s)"  # exported once the packages are installed
# run_leftovers: pids of live processes started during this run that are no longer this
# shell's descendants (a step that ended left them behind; the check itself is a descendant).
run_leftovers() {
  local f pid p stat
  while read -r f; do
    pid="${f#/proc/}"
    pid="${pid%/environ}"
    stat="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null)" || continue
    case "${stat%% *}" in Z | X | "") continue ;; esac
    p="$pid"
    while [ -n "$p" ] && [ "$p" -gt 1 ] && [ "$p" != "$$" ]; do
      p="$(sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)"
    done
    [ "$p" = "$$" ] || echo "$pid"
  done < <(grep -lzx "TLSPOLICY_TEST_RUN=$TLSPOLICY_TEST_RUN" /proc/[0-9]*/environ 2>/dev/null || true)
}
# On any exit: whatever a step left running is stopped (the final check reports it).
trap 'left="$(run_leftovers)"; [ -z "$left" ] || kill -KILL $left 2>/dev/null || true' EXIT

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

sudo_if_needed tools/install-deps.sh
export TLSPOLICY_TEST_RUN
tools/format.sh --check
tools/check-layering.sh

jobs=${TLSPOLICY_JOBS:-2}
# The presets set no parallelism: cmake --build and ctest read these (the builds also pass -j).
export CMAKE_BUILD_PARALLEL_LEVEL="$jobs" CTEST_PARALLEL_LEVEL="$jobs"

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

# ThreadSanitizer: the epoll Server, the engine loop and the store pool, the
# DecisionService on its loop, generations retiring, the report service, the
# CLI's in-process fake-daemon tests and the stores' concurrency tests, then the
# daemon suites once more: daemon_clients (SIGHUP reload, 200 concurrent
# clients, shutdown) and tlsrpt (datagrams, report ops, report ticks). The
# build preset builds only those test binaries and tlspolicy; ctest
# --preset tsan runs the unit tests of what was built. Any report stops the
# process (halt_on_error) and is also written to build/tsan/tsan-report.PID
# (the suites): a report file is a failure even when the process that wrote it
# was a client whose exit status nobody checked. tools/tsan.supp lists
# third-party libraries only, each with its reason.
echo "== tsan: concurrency tests and the daemon suites under ThreadSanitizer"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"
rm -f build/tsan/tsan-report.*
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tools/tsan.supp log_path=$PWD/build/tsan/tsan-report"
tsan_reports() {
  if compgen -G 'build/tsan/tsan-report.*' >/dev/null; then
    cat build/tsan/tsan-report.* >&2
    echo "test-all: FAIL: ThreadSanitizer reported a data race (above; build/tsan/tsan-report.*)" >&2
    exit 1
  fi
}
ctest --preset tsan || { tsan_reports; exit 1; }
tsan_reports
tsan_summary=build/tsan/integration-summary.txt
rm -f "$tsan_summary"
tsan_suites=()
for suite in daemon_clients tlsrpt; do
  if [ -f "tests/integration/suites/$suite.py" ]; then tsan_suites+=(--suite "$suite"); fi
done
if [ "${#tsan_suites[@]}" -gt 0 ]; then
  tests/integration/run --binary build/tsan/src/cli/tlspolicy "${tsan_suites[@]}" \
    --summary "$tsan_summary" || { tsan_reports; exit 1; }
  tsan_reports
  grep -Eq 'integration: [1-9][0-9]* passed, 0 failed, 0 skipped' "$tsan_summary" || {
    echo "test-all: FAIL: the daemon suites under TSan skipped or ran no test" >&2
    exit 1
  }
fi
unset TSAN_OPTIONS

# The delivery suite's Debian 13 (trixie) and testing (forky) chroots: cached on this machine,
# built from Debian's mirror when missing or stale. A chroot that cannot be built fails here,
# with the reason, rather than as a skipped suite.
for suite in trixie forky; do
  echo "== chroot: Debian $suite (tools/debian-chroot.sh)"
  tools/debian-chroot.sh "$suite" >/dev/null
done
# The tree with Debian 13's compiler and libraries (GCC 14): build, unit tests, fuzz replays.
echo "== chroot: build and unit tests in Debian trixie (tools/chroot-build.sh)"
tools/chroot-build.sh trixie
# The Debian package, built from this tree and installed on fresh Debian 12 and 13 systems that
# boot under systemd-nspawn: files, units, lookups through the installed sockets, upgrade,
# removal, purge, lintian.
echo "== package: tools/build-deb.sh, then tests/package/run on Debian 12 and 13"
deb="$(tools/build-deb.sh)"
tests/package/run --deb "$deb" | tee build/deb/package-test.log
grep -Eq 'suite-result: passed=[1-9][0-9]* failed=0 skipped=0' build/deb/package-test.log || {
  echo "test-all: FAIL: the package test ran no check" >&2
  exit 1
}
# clang-tidy (.clang-tidy) over every source of tlspolicy; any finding is an error.
echo "== tidy: clang-tidy over src/ and policy-cache/ (tidy preset)"
cmake --preset tidy >/dev/null
cmake --build --preset tidy -j "$jobs"
echo "== ci: unit, fuzz replays and integration suites"
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
summary=build/ci/integration-summary.txt
rm -f "$summary"
ctest --preset ci | tee build/ci/ctest.log

# A green run that skipped the integration suite is a red run: the world's suites
# (integration.suite.NAME, one ctest entry each, sharing the world that integration.world.setup
# starts) and every integration gtest (a real PostgreSQL, nginx, NSD... that could not start).
integration_tests="$(ctest --preset ci -N -L integration)"
skipped=""
while IFS= read -r name; do
  if grep -qF " $name" <<<"$integration_tests"; then skipped="$skipped $name"; fi
done < <(sed -nE 's/^[[:space:]]+[0-9]+ - (.*) \(Skipped\)$/\1/p' build/ci/ctest.log)
if [ -n "$skipped" ]; then
  echo "test-all: FAIL: integration tests skipped:$skipped" >&2
  exit 1
fi
if ! ctest --preset ci -N -L integration | grep -q 'Total Tests: [1-9]'; then
  echo "test-all: FAIL: no integration test is registered" >&2
  exit 1
fi
# integration.world.cleanup adds up the suites' summaries into $summary: a registered suite
# that wrote none (not run, or died) counts as failed, a skipped one as skipped; a suite file
# that is not registered fails integration.suites.registered.
if [ ! -s "$summary" ]; then
  echo "test-all: FAIL: the integration world did not run (no $summary)" >&2
  exit 1
fi
cat "$summary"
if ! grep -Eq 'integration: [1-9][0-9]* passed, 0 failed, 0 skipped' "$summary"; then
  echo "test-all: FAIL: integration suites skipped or ran no test" >&2
  exit 1
fi
left="$(run_leftovers)"
if [ -n "$left" ]; then
  echo "test-all: FAIL: processes started by the tests still run:" >&2
  # shellcheck disable=SC2086  # one pid per word
  ps -o pid=,etimes=,args= -p "$(echo $left | tr ' ' ,)" >&2 || true
  exit 1
fi
echo "test-all: all tests passed"
