#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks the real-client helpers (clients.sh) against a stand-in server
# (fake_policy_server.py), without tlspolicy: Postfix's own socketmap client (postmap) for every
# reply kind and map name, and Exim's ${readsocket} / ${extract json} / routing on the JSON
# lines socket, including what exactly Exim sends (the request without newline, then a
# shutdown of its writing side). When this suite fails, the Postfix and Exim suites' failures
# are the harness's fault, not the binary's. Needs no test world: also runs on its own
# (`bash tests/integration/suites/clients_selfcheck.sh`).
#
# Output: "ok NAME" / "FAIL NAME: got X, want Y", then "suite-result: passed=N failed=M skipped=K".
# Exit 77 (skipped) when postmap, the unpacked exim or root is missing.
set -euo pipefail

INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/integration/clients.sh
. "$INTEGRATION_DIR/clients.sh"
probe_clients

passed=0
failed=0
ok() {
  echo "ok $1"
  passed=$((passed + 1))
}
bad() {
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}
check() {  # check NAME GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-clients.XXXXXX")"
fake_pid=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$fake_pid" ]; then
    kill -TERM "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SM="$tmp/socketmap.sock"
JS="$tmp/json.sock"
LOG="$tmp/fake.log"
python3 "$INTEGRATION_DIR/fake_policy_server.py" --socketmap "$SM" --json "$JS" --log "$LOG" \
  --pid-file "$tmp/fake.pid" 2>"$tmp/fake.stderr" &
fake_pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/fake.pid" ] && break
  kill -0 "$fake_pid" 2>/dev/null || break
  sleep 0.05
done
if [ ! -s "$tmp/fake.pid" ]; then
  cat "$tmp/fake.stderr" >&2
  echo "clients_selfcheck: the stand-in server did not start" >&2
  exit 1
fi

# last_socketmap FIELD: FIELD of the stand-in's last socketmap log entry.
last_socketmap() {
  python3 - "$LOG" "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["sock"] == "socketmap"]
print(rows[-1].get(sys.argv[2], "") if rows else "")
EOF
}
# socketmap_conns: how many distinct connections the stand-in's socketmap log holds.
socketmap_conns() {
  python3 - "$LOG" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(len({r["conn"] for r in rows if r["sock"] == "socketmap"}))
EOF
}
# last_json_conn: the last JSON-socket connection as "EVENTS|BYTES": its events in order
# (data,eof,reply,close) and every byte received, JSON-encoded (so a newline shows as \n).
last_json_conn() {
  python3 - "$LOG" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["sock"] == "json"]
if not rows:
    print("|"); sys.exit()
last = [r for r in rows if r["conn"] == rows[-1]["conn"]]
events = ",".join(r["event"] for r in last)
print(events + "|" + json.dumps("".join(r.get("bytes", "") for r in last)))
EOF
}

STS_REPLY="secure match=.example.test servername=hostname"

# --- Postfix: postmap -q through dict_sockmap ------------------------------------------------
for map in tlspolicy postfix QUERY tlsrpt QUERYwithTLSRPT; do
  check "postmap-ok-$map" "$(postfix_query "$SM" "$map" example.test)" "OK $STS_REPLY"
  check "postmap-name-sent-$map" "$(last_socketmap name):$(last_socketmap key)" "$map:example.test"
done
check postmap-notfound "$(postfix_query "$SM" tlspolicy nothing.test)" "NOTFOUND"
check postmap-temp "$(postfix_query "$SM" tlspolicy temp.test)" "TEMP test"
check postmap-perm "$(postfix_query "$SM" tlspolicy perm.test)" "PERM test"
# postmap -q passes the key as given, without case folding: the daemon must fold it.
postfix_query "$SM" tlspolicy EXAMPLE.Test >/dev/null
check postmap-key-case-kept "$(last_socketmap key)" "EXAMPLE.Test"
# A 100000-byte reply ("OK " + 99997 bytes) is Postfix's default socketmap_max_reply_size.
got="$(postfix_query "$SM" tlspolicy big.test)"
check postmap-reply-100000 "${#got}" "$((3 + 99997))"
if got="$(postfix_query "$SM" tlspolicy garbage.test)"; then
  bad postmap-unknown-status "got success '$got', want ERROR"
else
  case "$got" in
    "ERROR (exit 1) "*"query error: Application error") ok postmap-unknown-status ;;
    *) bad postmap-unknown-status "got '$got', want ERROR (exit 1) ... Application error" ;;
  esac
fi
if got="$(postfix_query "$tmp/absent.sock" tlspolicy example.test)"; then
  bad postmap-no-server "got success '$got', want ERROR"
else
  case "$got" in
    "ERROR (exit 1) "*"No such file or directory") ok postmap-no-server ;;
    *) bad postmap-no-server "got '$got', want ERROR (exit 1) ... No such file or directory" ;;
  esac
fi
# One postmap process, several keys: one connection (dict_sockmap keeps it open).
postfix_config_dir "$tmp/postfix"
before="$(socketmap_conns)"
got="$(printf 'example.test\nnothing.test\nexample.test\n' |
  postmap -c "$tmp/postfix" -q - "socketmap:unix:$SM:tlspolicy" | wc -l)"
check postmap-stdin-two-found "$got" 2
check postmap-persistent-connection "$(($(socketmap_conns) - before))" 1

# --- Exim: ${readsocket} on the JSON lines socket ---------------------------------------------
REQ='\{"op":"decide","domain":"example.test"\}'
WANT_LINE='{"status":"ok","decision":{"domain":"example.test","action":"require-tls","postfix":"OK secure match=.example.test servername=hostname"}}'
got="$(exim_expand "$JS" "[\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}{}{FAILED}}]")"
# The reply's newline is kept in the value (an empty 4th argument does not replace it).
check exim-readsocket-raw "$got" "[$WANT_LINE"$'\n'"]"
check exim-sends-no-newline-then-shutdown "$(last_json_conn)" \
  'data,eof,reply,close|"{\"op\":\"decide\",\"domain\":\"example.test\"}"'
got="$(exim_expand "$JS" "\${extract jsons{action}{\${extract json{decision}{\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}{}{FAILED}}}}}}")"
check exim-extract-jsons-action "$got" "require-tls"
got="$(exim_expand "$JS" "\${extract json{action}{\${extract json{decision}{\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}{}{FAILED}}}}}}")"
check exim-extract-json-keeps-quotes "$got" '"require-tls"'
got="$(exim_expand "$JS" "\${extract jsons{postfix}{\${extract json{decision}{\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}{}{FAILED}}}}}}")"
check exim-extract-postfix "$got" "OK $STS_REPLY"
# Two requests in one readsocket: the second, without newline, is answered at EOF.
got="$(exim_expand "$JS" "\${readsocket{TLSPOLICY_SOCKET}{$REQ\\n$REQ}{5s}{<NL>}{FAILED}}")"
check exim-two-requests "$got" "$WANT_LINE<NL>$WANT_LINE<NL>"
check exim-two-requests-order "$(last_json_conn | cut -d'|' -f1)" "data,reply,eof,reply,close"
# shutdown=no: Exim still reads to EOF, the server (like the daemon) keeps the connection
# open, so the read times out and the fail string is used.
start=$SECONDS
got="$(exim_expand "$JS" "\${readsocket{TLSPOLICY_SOCKET}{$REQ\\n}{1s:shutdown=no}{}{TIMEOUT}}")"
check exim-shutdown-no-times-out "$got:$((SECONDS - start <= 3))" "TIMEOUT:1"
if got="$(exim_expand "$tmp/absent.sock" "\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}}" 2>&1)"; then
  bad exim-no-server-fails "got success '$got', want Failed: ..."
else
  case "$got" in
    "Failed: failed to connect to socket"*) ok exim-no-server-fails ;;
    *) bad exim-no-server-fails "got '$got', want Failed: failed to connect to socket ..." ;;
  esac
fi
got="$(exim_expand "$tmp/absent.sock" "\${readsocket{TLSPOLICY_SOCKET}{$REQ}{5s}{}{FALLBACK}}")"
check exim-no-server-fail-string "$got" "FALLBACK"

# --- Exim: routing (-bt) and options (-bP) with a readsocket decision ------------------------
exim_config "$tmp/exim/route.conf" "$JS" <<'EOF'
TLSPOLICY_DECISION = ${extract json{decision}{${readsocket{TLSPOLICY_SOCKET}{\{"op":"decide","domain":"$domain"\}}{5s}{}{\{"status":"error"\}}}}}

begin routers
tlspolicy_require_tls:
  driver = manualroute
  condition = ${if eq{${extract jsons{action}{TLSPOLICY_DECISION}}}{require-tls}}
  route_list = * 127.0.0.1
  self = send
  transport = smtp_require_tls
  no_more
default_smtp:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = smtp_opportunistic

begin transports
smtp_require_tls:
  driver = smtp
  hosts_require_tls = *
smtp_opportunistic:
  driver = smtp
EOF
got="$(exim_route "$tmp/exim/route.conf" user@example.test || true)"
case "$got" in
  *"router = tlspolicy_require_tls, transport = smtp_require_tls"*) ok exim-route-require-tls ;;
  *) bad exim-route-require-tls "got '$got', want router tlspolicy_require_tls" ;;
esac
check exim-route-request "$(last_json_conn | cut -d'|' -f2)" \
  '"{\"op\":\"decide\",\"domain\":\"example.test\"}"'
got="$(exim_route "$tmp/exim/route.conf" user@plain.test || true)"
case "$got" in
  *"router = default_smtp, transport = smtp_opportunistic"*) ok exim-route-opportunistic ;;
  *) bad exim-route-opportunistic "got '$got', want router default_smtp" ;;
esac
got="$(exim_option "$tmp/exim/route.conf" transport smtp_require_tls | grep '^hosts_require_tls' || true)"
check exim-bP-transport "$got" "hosts_require_tls = *"

echo "suite-result: passed=$passed failed=$failed skipped=0"
