#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The systemd units in tools/systemd: `systemd-analyze verify` accepts them,
# and the daemon serves the sockets systemd hands over (socket activation with
# FileDescriptorName=socketmap|json|admin, here through systemd-socket-activate)
# instead of creating its own, answers real Postfix on them, and exits 0 on
# SIGTERM; and Type=notify: READY=1, RELOADING=1/READY=1 around SIGHUP (a broken
# configuration file too), WATCHDOG=1 pings and STOPPING=1, read from the notification
# socket the test binds itself (lib_notify.py).
# Environment: TLSPOLICY_BIN (from tests/integration/run).
# Output: "ok NAME" / "FAIL NAME: …", then "suite-result: passed=N failed=M skipped=K".
set -euo pipefail

INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$INTEGRATION_DIR/../.." && pwd)"
# shellcheck source=tests/integration/clients.sh
. "$INTEGRATION_DIR/clients.sh"
probe_clients
for tool in systemd-analyze systemd-socket-activate; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
: "${TLSPOLICY_BIN:?TLSPOLICY_BIN must name the tlspolicy binary}"
TLSPOLICY_BIN="$(readlink -f "$TLSPOLICY_BIN")"

passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-systemd.XXXXXX")"
pid=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. The units as shipped, with ExecStart pointing at this build.
mkdir -p "$tmp/units"
cp "$ROOT"/tools/systemd/* "$tmp/units/"
sed -i "s|/usr/local/bin/tlspolicy|$TLSPOLICY_BIN|" "$tmp/units/tlspolicy.service"
# --man=no: the unit's Documentation= pages are installed by `cmake --install` and the package,
# not here (tests/package/run verifies the installed units with their pages).
if out="$(systemd-analyze verify --man=no "$tmp"/units/*.service "$tmp"/units/*.socket 2>&1)" &&
  [ -z "$out" ]; then
  ok "units-verify"
else
  bad "units-verify" "$out"
fi
for name in socketmap json admin tlsrpt; do
  if grep -q "^FileDescriptorName=$name$" "$tmp"/units/tlspolicy-*.socket; then
    ok "socket-unit-$name"
  else
    bad "socket-unit-$name" "no .socket unit names its descriptor $name"
  fi
done

# 2. Socket activation: the daemon must use the passed sockets, not create
# the configured ones.
run="$tmp/run"
mkdir -p "$run"
systemd-socket-activate -l "$run/sm.sock" -l "$run/json.sock" -l "$run/admin.sock" \
  --fdname=socketmap:json:admin \
  "$TLSPOLICY_BIN" --set resolver.mode=trust-ad --set 'resolver.servers=["127.0.0.1@9"]' \
  --set resolver.timeout=200ms --set "state_dir=$tmp/state" \
  --set "server.socketmap=unix:$tmp/not-used/sm.sock" --set "server.json=unix:$tmp/not-used/j.sock" \
  --set "server.admin=unix:$tmp/not-used/a.sock" --set "tlsrpt.socket=unix:$run/tlsrpt.sock" serve >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -S "$run/sm.sock" ] && break; sleep 0.05; done

got="$(postfix_query "$run/sm.sock" postfix .parent.example || true)"
[ "$got" = "NOTFOUND" ] && ok "activated-socketmap" || bad "activated-socketmap" "got '$got'"
got="$(postfix_query "$run/sm.sock" postfix example.test || true)"
[[ "$got" == "TEMP "* ]] && ok "activated-defer-when-dns-down" || bad "activated-defer-when-dns-down" "got '$got'"
got="$(printf '{"op":"stats"}\n' | timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$run/admin.sock" || true)"
[[ "$got" == '{"status":"ok","stats":'* ]] && ok "activated-admin" || bad "activated-admin" "got '$got'"
[ ! -e "$tmp/not-used" ] && ok "configured-sockets-not-created" ||
  bad "configured-sockets-not-created" "$(ls -R "$tmp/not-used")"

kill -TERM "$pid"
rc=0
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  bad "sigterm-exit" "still running 10 s after SIGTERM"
else
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] && ok "sigterm-exit" || bad "sigterm-exit" "exit status $rc: $(tail -5 "$tmp/daemon.log")"
fi

# 3. Type=notify (tlspolicy.service): what the daemon tells the service manager.
grep -q '^Type=notify$' "$tmp/units/tlspolicy.service" && grep -q '^WatchdogSec=' "$tmp/units/tlspolicy.service" &&
  ok "unit-type-notify" || bad "unit-type-notify" "tlspolicy.service lacks Type=notify or WatchdogSec="
mkdir -p "$tmp/notify"
notify_out="$(python3 "$INTEGRATION_DIR/suites/lib_notify.py" "$TLSPOLICY_BIN" "$tmp/notify" 2>&1 || true)"
echo "$notify_out" | grep -v '^ok \|^FAIL ' || true
while IFS= read -r line; do
  case "$line" in
    "ok "*) ok "notify-${line#ok }" ;;
    "FAIL "*) rest="${line#FAIL }"; bad "notify-${rest%%:*}" "${rest#*: }" ;;
  esac
done <<<"$notify_out"
grep -q '^ok stopping-exit-0$' <<<"$notify_out" || bad "notify-complete" "lib_notify.py did not finish"

echo "suite-result: passed=$passed failed=$failed skipped=0"
