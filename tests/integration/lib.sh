#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The integration test world: NSD (a private signed root, signed test zones) + Unbound
# (validating with the private root's DS, stub-zones to NSD) + nginx (HTTPS policy hosts, test
# CA) + a "stall" TCP listener + an "errdns" UDP listener that answers SERVFAIL or REFUSED,
# + the TLS-RPT report paths: a Postfix instance of its own (mailto:, through sendmail) that
# relays everything to an SMTP sink, and an HTTPS sink for reports.test (https:),
# all on 127.0.0.1 with random ports, every file and process inside one world directory.
#
# Sourced by tests/integration/run. Also executable, so suites in any language can call a
# helper:   WORLD_DIR=DIR tests/integration/lib.sh world_set_txt NAME 'RDATA'...
# Call the helpers as commands (executable form, or sourced but not inside `if`/`||`):
# they rely on `set -e` to stop at the first failing step.
#
#   world_start DIR              build and start everything, write DIR/env.sh, DIR/tlspolicy.toml
#                                (resolver.mode trust-ad) and DIR/tlspolicy-validate.toml (validate)
#   world_stop DIR               stop every process the world started (by pid), bounded wait
#   world_dump_logs DIR          print every server log (run does this when a suite fails)
#   world_set_txt [--ttl N] NAME [RDATA..]
#                                replace the TXT RRset at NAME (none given: delete it) with TTL N
#                                (default: an explicit TTL on the old records, else the zone's),
#                                re-sign, reload NSD, wait until NSD serves it, flush Unbound's cache
#   world_set_policy HOST BODY   write HOST's /.well-known/mta-sts.txt (BODY verbatim)
#   world_remove_policy HOST     delete it (the server then answers 404)
#   world_flush_resolver         empty the world Unbound's cache: the next answers carry their
#                                zones' full TTLs (a decision lives no longer than they do)
#   world_bench_add_records ORIGIN FILE  (tools/bench only) append records to a zone, reload
#   world_missing_prereqs        print the missing programs, return 1 if any
#   probe_world                  exit 77 with the reason when a prerequisite is missing
#
# The world-editing helpers read WORLD_DIR (exported by DIR/env.sh).
#
# DIR/env.sh exports, for suites:
#   WORLD_DIR, NSD_PORT, UNBOUND_PORT, HTTPS_PORT, STALL_PORT, CLOSED_PORT, ERRDNS_PORT, CA_FILE,
#   TRUST_ANCHOR, TLSA_EE_SPKI_SHA256, TLSA_TA_CERT_SHA256, TLSPOLICY_CONFIG,
#   TLSPOLICY_VALIDATE_CONFIG, WORLD_LIB                      (see docs/testing.md)
#   TLS-RPT (RFC 8460) report delivery:
#   SMTP_SINK_PORT      the SMTP sink (tests/integration/smtp_sink.py) on 127.0.0.1
#   SMTP_SINK_DIR       DIR/smtp-sink: one NNNN.eml (raw, dot-unstuffed) + NNNN.json
#                       {"mail_from","rcpt_to","size","helo"} per message, .json written last
#                       (by rename); the sink's own log is stderr.log there
#   POSTFIX_CONFIG_DIR  DIR/postfix/etc: the world's Postfix (relayhost = the SMTP sink)
#   POSTFIX_MAILLOG     DIR/postfix/maillog
#   REPORT_SENDMAIL     the submission command as a TOML/JSON list, for tlsrpt.sendmail:
#                       ["/usr/sbin/sendmail", "-C", "DIR/postfix/etc", "-oi"] (the sender
#                       appends -f FROM RCPT). Empty (and POSTFIX_CONFIG_DIR empty) when the
#                       world runs without root: then there is no Postfix.
#   RPT_HTTPS_PORT      the HTTPS sink (tests/integration/https_sink.py) on 127.0.0.1, cert
#                       for reports.test from the world CA (CA_FILE)
#   RPT_HTTPS_LOG       DIR/https-sink/requests.jsonl, one JSON object per request
#   RPT_CONNECT_TO      "reports.test:443:127.0.0.1:RPT_HTTPS_PORT" (curl CONNECT_TO)
#   RPT_HOST, RPT_MAILTO  reports.test, tlsrpt@reports.test
#   DELIVERY_PORT       the port of every SMTP receiver of env/receivers (smtp_sink.py
#                       --listeners), each on its own 127.0.3.x address (its MX host's A)
#   DELIVERY_DIR        DIR/delivery: DIR/delivery/NAME holds what receiver NAME got, and its
#                       sessions.jsonl (smtp_sink.py's header)
#   RPT_DOMAIN_ENFORCE RPT_DOMAIN_TESTING RPT_DOMAIN_INVALID RPT_DOMAIN_SELFSIGNED
#   RPT_DOMAIN_DANE RPT_DOMAIN_TWO_RECORDS RPT_DOMAIN_FAIL
#                       domains with _smtp._tls records, read from the table in the comments
#                       of env/zones/mta.test.zone (lines ";   RPT_DOMAIN_X   domain   rua")
set -euo pipefail

INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$INTEGRATION_DIR/../.." && pwd)"
ENV_DIR="$INTEGRATION_DIR/env"

# Zones in env/zones/ (file stems; root = ".") that are DNSSEC-signed, in one chain of trust
# from the private root; every other env/zones/*.zone is served unsigned. DS_ONLY_ZONES are
# served unsigned although their parent publishes a DS for them (bogus).
SIGNED_ZONES=(root test mta.test dane.test)
DS_ONLY_ZONES=(ds-unsigned.dane.test)

WORLD_PREREQS=(nsd nsd-control unbound unbound-control nginx ldns-keygen ldns-signzone drill
  openssl curl python3 postfix postconf)

# The TLS-RPT report receivers: where mailto: and https: reports go.
RPT_HOST=reports.test
RPT_MAILTO=tlsrpt@reports.test

wlog() { printf 'world: %s\n' "$*" >&2; }
wdie() {
  printf 'world: error: %s\n' "$*" >&2
  return 1
}

# Programs live in /usr/sbin on Debian; a non-root PATH may lack it.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

world_missing_prereqs() {
  local missing=() p
  for p in "${WORLD_PREREQS[@]}"; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    printf '%s\n' "${missing[*]}"
    return 1
  fi
}

probe_world() {
  local missing
  if ! missing="$(world_missing_prereqs)"; then
    echo "SKIP: integration world needs: $missing (tools/install-deps.sh installs them)" >&2
    exit 77
  fi
}

# free_ports N: N distinct ports on 127.0.0.1 that are free for both TCP and UDP right now.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
want, got, held = int(sys.argv[1]), [], []
while len(got) < want:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); u.close(); continue
    held += [t, u]
    got.append(port)
print(" ".join(map(str, got)))
EOF
}

# wait_tcp NAME PID PORT [SECONDS [ADDRESS]]: until ADDRESS:PORT (default 127.0.0.1)
# accepts, PID is alive, or time is up.
wait_tcp() {
  local name="$1" pid="$2" port="$3" limit="${4:-10}" address="${5:-127.0.0.1}" i
  for ((i = 0; i < limit * 50; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wdie "$name (pid $pid) exited before listening on port $port"
      return 1
    fi
    if (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.02
  done
  wdie "$name did not listen on $address:$port within ${limit}s"
}

# render TEMPLATE OUT: replace @DIR@ and the @*_PORT@ placeholders.
render() {
  sed -e "s|@DIR@|$WORLD_DIR|g" -e "s|@NSD_PORT@|$NSD_PORT|g" \
    -e "s|@UNBOUND_PORT@|$UNBOUND_PORT|g" -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
    -e "s|@STALL_PORT@|$STALL_PORT|g" -e "s|@ERRDNS_PORT@|$ERRDNS_PORT|g" \
    -e "s|@SMTP_SINK_PORT@|$SMTP_SINK_PORT|g" -e "s|@RPT_HTTPS_PORT@|$RPT_HTTPS_PORT|g" \
    "$1" >"$2"
}

# policy_host CASE: the policy host of an env/https-hosts line.
policy_host() {
  case "$1" in
    *.*) echo "mta-sts.$1" ;;
    *) echo "mta-sts.$1.mta.test" ;;
  esac
}

# https_hosts: the table in env/https-hosts without comments: "case cert type extra" lines.
https_hosts() { grep -v -e '^#' -e '^[[:space:]]*$' "$ENV_DIR/https-hosts"; }

# receivers: the table in env/receivers without comments: "name address cert requiretls host".
receivers() { grep -v -e '^#' -e '^[[:space:]]*$' "$ENV_DIR/receivers"; }
receiver_addresses() { receivers | awk '{ print $2 }'; }

# write_receivers: receivers.json for smtp_sink.py --listeners (after the PKI is made).
write_receivers() {
  receivers | python3 -c '
import json, sys
pki, port = sys.argv[1], int(sys.argv[2])
out = []
for line in sys.stdin:
    name, address, cert, requiretls, host = line.split()[:5]
    leaf = f"rcv-{name}" if cert == "own" else cert
    files = {} if cert == "none" else {"cert": f"{pki}/{leaf}.pem", "key": f"{pki}/{leaf}.key"}
    out.append({"name": name, "host": address, "port": port, "hostname": host,
                "requiretls": requiretls == "yes", **files})
print(json.dumps(out, indent=1))
' "$WORLD_DIR/pki" "$DELIVERY_PORT"
}

# start_bg NAME CMD...: run CMD in the background, stdin /dev/null, output to NAME/stderr.log,
# pid to pids/NAME.pid.
start_bg() {
  local name="$1"
  shift
  mkdir -p "$WORLD_DIR/$name" "$WORLD_DIR/pids"
  "$@" </dev/null >>"$WORLD_DIR/$name/stderr.log" 2>&1 &
  echo "$!" >"$WORLD_DIR/pids/$name.pid"
}

pid_of() { cat "$WORLD_DIR/pids/$1.pid"; }

# pid_alive PID: the process exists and is not a zombie (an orphan daemon such as Postfix's
# master stays a zombie until init reaps it, and kill -0 succeeds on a zombie).
pid_alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# --- content ---------------------------------------------------------------------------------

gen_body() {  # gen_body NAME CASE: bodies too awkward to keep in git
  case "$1" in
    oversize)  # > 64 KiB of valid-looking policy: long extension lines after a good policy
      python3 - "$2" <<'EOF'
import sys
case = sys.argv[1]
out = ["version: STSv1", "mode: enforce", f"mx: mx1.{case}.mta.test", "max_age: 86400"]
i = 0
while sum(len(l) + 1 for l in out) < 70000:
    out.append(f"ext{i:04d}: " + "x" * 900)
    i += 1
sys.stdout.write("\n".join(out) + "\n")
EOF
      ;;
    crlf)
      printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.%s.mta.test\r\nmax_age: 86400\r\n' "$2" ;;
    *) wdie "unknown generated body $1" ;;
  esac
}

build_www() {
  local case cert type extra host dir
  while read -r case cert type extra; do
    host="$(policy_host "$case")"
    dir="$WORLD_DIR/www/$host/.well-known"
    mkdir -p "$dir"
    case "$extra" in
      absent | redirect=*) ;;
      generate=*) gen_body "${extra#generate=}" "$case" >"$dir/mta-sts.txt" ;;
      *) cp "$ENV_DIR/policies/$case.txt" "$dir/mta-sts.txt" ;;
    esac
  done < <(https_hosts)
}

build_nginx_servers() {
  local case cert type extra host out="$WORLD_DIR/nginx/servers.conf"
  : >"$out"
  while read -r case cert type extra; do
    host="$(policy_host "$case")"
    {
      echo "server {"
      echo "    listen 127.0.0.1:$HTTPS_PORT ssl;"
      echo "    server_name $host;"
      echo "    ssl_certificate $WORLD_DIR/pki/$cert.pem;"
      echo "    ssl_certificate_key $WORLD_DIR/pki/$cert.key;"
      echo "    root $WORLD_DIR/www/$host;"
      echo "    default_type $type;"
      echo "    location = /.well-known/mta-sts.txt {"
      case "$extra" in
        redirect=*) echo "        return 301 ${extra#redirect=};" ;;
        *) echo "        try_files \$uri =404;" ;;
      esac
      echo "    }"
      echo "    location / { return 404; }"
      echo "}"
    } >>"$out"
  done < <(https_hosts)
}

# --- DNS -------------------------------------------------------------------------------------

is_signed() {
  local z
  for z in "${SIGNED_ZONES[@]}"; do [ "$z" = "$1" ] && return 0; done
  return 1
}

# publish_zones: sign the signed zones, then put what NSD serves in zones/serve/<origin>.zone.
publish_zones() {
  local f origin z signed=() dsonly=()
  for f in "$WORLD_DIR"/zones/src/*.zone; do
    origin="$(basename "$f" .zone)"
    if is_signed "$origin"; then signed+=("$f"); fi
  done
  for z in "${DS_ONLY_ZONES[@]}"; do dsonly+=(--ds-only "$z"); done
  if [ "${#signed[@]}" -gt 0 ]; then
    "$REPO_DIR/tools/sign-test-zones.sh" "${dsonly[@]}" "$WORLD_DIR/zones" "${signed[@]}" \
      >>"$WORLD_DIR/zones/sign.log" 2>&1 || {
      cat "$WORLD_DIR/zones/sign.log" >&2
      wdie "signing the test zones failed"
    }
  fi
  mkdir -p "$WORLD_DIR/zones/serve"
  for f in "$WORLD_DIR"/zones/src/*.zone; do
    origin="$(basename "$f" .zone)"
    if is_signed "$origin"; then
      tamper "$origin" <"$WORLD_DIR/zones/$origin.zone.signed" >"$WORLD_DIR/zones/serve/$origin.zone.tmp"
    else
      cp "$f" "$WORLD_DIR/zones/serve/$origin.zone.tmp"
    fi
    mv -f "$WORLD_DIR/zones/serve/$origin.zone.tmp" "$WORLD_DIR/zones/serve/$origin.zone"
  done
}

# tamper ORIGIN: filter a signed zone. These RRsets change AFTER signing, so their RRSIGs no
# longer match and a validator calls them bogus: the MX of bogus.mta.test and of
# bogus-mx.dane.test (target mx1 -> evil), the AAAA of mx1.bogus-aaaa.dane.test (::1 -> ::2)
# and the TLSA of _25._tcp.mx1.bogus-tlsa.dane.test (every hex digit of the digest swapped
# with its neighbour: 0<->1, ..., e<->f).
tamper() {
  case "$1" in
    mta.test)
      sed -E 's/^(bogus\.mta\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 )mx1\.bogus\.mta\.test\.$/\1evil.bogus.mta.test./' ;;
    dane.test)
      sed -E -e 's/^(bogus-mx\.dane\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 )mx1\./\1evil./' \
        -e 's/^(mx1\.bogus-aaaa\.dane\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+)::1$/\1::2/' |
        awk '$1 == "_25._tcp.mx1.bogus-tlsa.dane.test." && $4 == "TLSA" {
          out = ""
          for (i = 1; i <= length($NF); i++) {
            c = substr($NF, i, 1); j = index("0123456789abcdef", tolower(c))
            out = out (j ? substr("1032547698badcfe", j, 1) : c)
          }
          $NF = out
        } { print }' ;;
    *) cat ;;
  esac
}

zone_serial() {  # zone_serial FILE: the SOA serial in an unsigned source zone file
  awk '$3 == "SOA" { print $6; exit }' "$1"
}

# nsd_serial ZONE: the serial NSD serves now (empty if no answer).
nsd_serial() {
  drill -p "$NSD_PORT" @127.0.0.1 "$1" SOA 2>/dev/null |
    awk -v z="$1." '$1 == z && $4 == "SOA" { print $7; exit }'
}

unbound_ctl() { unbound-control -c "$WORLD_DIR/unbound/unbound.conf" "$@"; }
nsd_ctl() { nsd-control -c "$WORLD_DIR/nsd/nsd.conf" "$@"; }

# reload_zone ORIGIN SERIAL: signs and publishes the edited zones, has NSD load ORIGIN and waits
# (up to 10 s) until it serves SERIAL, then drops what Unbound remembers of the zone.
reload_zone() {
  local origin="$1" serial="$2" i
  publish_zones
  nsd_ctl reload "$origin" >/dev/null || wdie "nsd-control reload $origin failed"
  for ((i = 0; i < 500; i++)); do
    [ "$(nsd_serial "$origin")" = "$serial" ] && break
    sleep 0.02
  done
  [ "$(nsd_serial "$origin")" = "$serial" ] || wdie "NSD did not load serial $serial of $origin"
  unbound_ctl flush_zone "$origin" >/dev/null || wdie "unbound-control flush_zone failed"
  unbound_ctl flush_bogus >/dev/null || true
  unbound_ctl flush_negative >/dev/null || true
}

# world_set_txt NAME [RDATA...]: replace the TXT RRset at NAME (fully qualified or not).
world_set_txt() {
  : "${WORLD_DIR:?WORLD_DIR is not set (source DIR/env.sh)}"
  # shellcheck source=/dev/null
  . "$WORLD_DIR/env.sh"
  local name zonefile="" f origin tmp serial i rdata ttl="" ttl_given=""
  if [ "${1:-}" = --ttl ]; then
    ttl_given="${2:?--ttl needs seconds}"
    shift 2
  fi
  name="${1%.}."
  shift
  local best=0
  for f in "$WORLD_DIR"/zones/src/*.zone; do  # the longest origin that holds NAME
    origin="$(basename "$f" .zone)."
    [ "$origin" = root. ] && continue
    case "$name" in
      *."$origin" | "$origin")
        if [ "${#origin}" -gt "$best" ]; then zonefile="$f" best="${#origin}"; fi ;;
    esac
  done
  [ -n "$zonefile" ] || wdie "no test zone holds $name"
  origin="$(basename "$zonefile" .zone)"
  tmp="$zonefile.tmp"
  # An explicit TTL on the record ("NAME TTL IN TXT ...") is kept for the new records.
  ttl="$(awk -v n="$name" '$1 == n && $2 ~ /^[0-9]+$/ && $3 == "IN" && $4 == "TXT" { print $2; exit }' \
    "$zonefile")"
  [ -z "$ttl_given" ] || ttl="$ttl_given"
  awk -v n="$name" '!($1 == n && $2 == "IN" && $3 == "TXT") && !($1 == n && $2 == "TXT") &&
    !($1 == n && $2 ~ /^[0-9]+$/ && $3 == "IN" && $4 == "TXT")' "$zonefile" >"$tmp"
  for rdata in "$@"; do
    printf '%s %sIN TXT %s\n' "$name" "${ttl:+$ttl }" "$rdata" >>"$tmp"
  done
  serial="$(($(zone_serial "$zonefile") + 1))"
  awk -v s="$serial" '$3 == "SOA" { $6 = s } { print }' "$tmp" >"$zonefile"
  rm -f "$tmp"
  reload_zone "$origin" "$serial"
}

# --- HTTPS -----------------------------------------------------------------------------------

world_set_policy() {
  : "${WORLD_DIR:?WORLD_DIR is not set (source DIR/env.sh)}"
  local host="$1" body="$2" dir="$WORLD_DIR/www/$1/.well-known"
  [ -d "$dir" ] || wdie "no policy host $host in this world"
  printf '%s' "$body" >"$dir/mta-sts.txt.tmp"
  mv -f "$dir/mta-sts.txt.tmp" "$dir/mta-sts.txt"
}

world_flush_resolver() {
  : "${WORLD_DIR:?WORLD_DIR is not set (source DIR/env.sh)}"
  unbound_ctl flush_zone . >/dev/null || wdie "unbound-control flush_zone . failed"
  unbound_ctl flush_bogus >/dev/null || true
  unbound_ctl flush_negative >/dev/null || true
}

world_remove_policy() {
  : "${WORLD_DIR:?WORLD_DIR is not set (source DIR/env.sh)}"
  rm -f "$WORLD_DIR/www/$1/.well-known/mta-sts.txt"
}

# --- TLS-RPT report paths: Postfix -> SMTP sink, HTTPS sink --------------------------------------

# rpt_domains: "RPT_DOMAIN_X domain" lines from the table in the comments of the zone files
# (";   RPT_DOMAIN_X   domain   rua..."), each variable once.
rpt_domains() {
  awk '$1 == ";" && $2 ~ /^RPT_DOMAIN_[A-Z_]+$/ && $3 ~ /\./ && !seen[$2]++ { print $2, $3 }' \
    "$ENV_DIR"/zones/*.zone
}

# The world's Postfix runs only as root (master and the setgid postdrop need it).
postfix_wanted() { [ "$(id -u)" = 0 ]; }

# report_sendmail: the submission command for tlsrpt.sendmail, a TOML (and JSON) list.
report_sendmail() {
  postfix_wanted || return 0
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
    "$(postconf -dh sendmail_path)" -C "$WORLD_DIR/postfix/etc" -oi
}

# start_postfix: a Postfix instance of its own in DIR/postfix ({etc,spool,data}, maillog):
# `postfix -c DIR/postfix/etc start` (master daemonizes; its pid goes to postfix/master.pid).
start_postfix() {
  local pf="$WORLD_DIR/postfix" pid
  mkdir -p "$pf/etc"
  # Postfix creates the queue subdirectories and data/ with their owners (post-install
  # create-missing) but needs the queue directory itself: root-owned, not group/other writable.
  mkdir -p "$pf/spool"
  chmod 0755 "$pf" "$pf/etc" "$pf/spool"
  render "$ENV_DIR/postfix/main.cf.in" "$pf/etc/main.cf"
  cp "$ENV_DIR/postfix/master.cf" "$pf/etc/master.cf"
  chmod 0644 "$pf/etc/main.cf" "$pf/etc/master.cf"
  # Postfix re-reads a main.cf modified within the last 2 s until it is older (a file still
  # being edited), so every sendmail call would wait: backdate both files.
  touch -d '2000-01-01 00:00:00' "$pf/etc/main.cf" "$pf/etc/master.cf"
  timeout 30 postfix -c "$pf/etc" start </dev/null >>"$pf/stderr.log" 2>&1 ||
    wdie "postfix -c $pf/etc start failed (see $pf/stderr.log, $pf/maillog)"
  pid="$(awk '{ print $1; exit }' "$pf/spool/pid/master.pid" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! pid_alive "$pid"; then
    wdie "Postfix master is not running (see $pf/maillog)"
  fi
  echo "$pid" >"$pf/master.pid"
}

# stop_postfix DIR: `postfix -c DIR/postfix/etc stop`, then SIGKILL by pid whatever of that
# master and its children is still there after 3 s.
stop_postfix() {
  local pf="$1/postfix" pid="" p i left conf
  # master.pid is written once the start succeeded; Postfix's own pid file covers the rest.
  [ -s "$pf/master.pid" ] && pid="$(cat "$pf/master.pid")"
  [ -n "$pid" ] || pid="$(awk '{ print $1; exit }' "$pf/spool/pid/master.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  # Only our master: a pid may have been reused since.
  if pid_alive "$pid"; then
    conf="$({ tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null |
      sed -n 's/^MAIL_CONFIG=//p' || true)"
  fi
  if [ -z "${conf:-}" ] || ! [ "$conf/main.cf" -ef "$pf/etc/main.cf" ]; then
    rm -f "$pf/master.pid"
    return 0
  fi
  local procs=("$pid")
  # The master's children (postlogd, pickup, qmgr, smtp, ...): field 4 of /proc/PID/stat.
  read -r -a procs <<<"$pid $(awk -v m="$pid" '{ sub(/^.*\) /, "") } $2 == m {
      n = FILENAME; gsub(/[^0-9]/, "", n); printf "%s ", n }' /proc/[0-9]*/stat 2>/dev/null ||
    true)"
  timeout 10 postfix -c "$pf/etc" stop </dev/null >>"$pf/stderr.log" 2>&1 ||
    wlog "postfix -c $pf/etc stop failed (see $pf/stderr.log)"
  for ((i = 0; i < 150; i++)); do
    left=()
    for p in "${procs[@]}"; do pid_alive "$p" && left+=("$p"); done
    [ "${#left[@]}" = 0 ] && break
    sleep 0.02
  done
  if [ "${#left[@]}" -gt 0 ]; then
    wlog "postfix processes ${left[*]} still there 3 s after postfix stop: SIGKILL"
    kill -KILL "${left[@]}" 2>/dev/null || true
  fi
  rm -f "$pf/master.pid"
}

# --- start / stop ----------------------------------------------------------------------------

write_env() {
  local host
  {
    echo "# Generated by tests/integration/lib.sh world_start: source me."
    printf 'export WORLD_DIR=%q\n' "$WORLD_DIR"
    printf 'export NSD_PORT=%q UNBOUND_PORT=%q HTTPS_PORT=%q STALL_PORT=%q CLOSED_PORT=%q\n' \
      "$NSD_PORT" "$UNBOUND_PORT" "$HTTPS_PORT" "$STALL_PORT" "$CLOSED_PORT"
    printf 'export ERRDNS_PORT=%q\n' "$ERRDNS_PORT"
    printf 'export CA_FILE=%q\n' "$WORLD_DIR/pki/ca.pem"
    printf 'export TRUST_ANCHOR=%q\n' "$WORLD_DIR/zones/root.ds"
    printf 'export TLSA_EE_SPKI_SHA256=%q TLSA_TA_CERT_SHA256=%q\n' \
      "$TLSA_EE_SPKI_SHA256" "$TLSA_TA_CERT_SHA256"
    printf 'export TLSPOLICY_CONFIG=%q\n' "$WORLD_DIR/tlspolicy.toml"
    printf 'export TLSPOLICY_VALIDATE_CONFIG=%q\n' "$WORLD_DIR/tlspolicy-validate.toml"
    printf 'export WORLD_LIB=%q\n' "$INTEGRATION_DIR/lib.sh"
    echo "# TLS-RPT report delivery (see lib.sh's header and docs/testing.md)"
    printf 'export SMTP_SINK_PORT=%q SMTP_SINK_DIR=%q\n' "$SMTP_SINK_PORT" "$WORLD_DIR/smtp-sink"
    if postfix_wanted; then
      printf 'export POSTFIX_CONFIG_DIR=%q POSTFIX_MAILLOG=%q\n' "$WORLD_DIR/postfix/etc" \
        "$WORLD_DIR/postfix/maillog"
    else
      echo "# not root: no Postfix in this world"
      echo "export POSTFIX_CONFIG_DIR='' POSTFIX_MAILLOG=''"
    fi
    # Single-quoted rather than %q: the list stays readable (a path holds no single quote).
    printf "export REPORT_SENDMAIL='%s'\\n" "$(report_sendmail)"
    printf 'export RPT_HTTPS_PORT=%q RPT_HTTPS_LOG=%q\n' "$RPT_HTTPS_PORT" \
      "$WORLD_DIR/https-sink/requests.jsonl"
    echo "# Deliveries: the SMTP receivers of env/receivers (see lib.sh's header)"
    printf 'export DELIVERY_PORT=%q DELIVERY_DIR=%q\n' "$DELIVERY_PORT" "$WORLD_DIR/delivery"
    printf 'export RPT_CONNECT_TO=%q\n' "$RPT_HOST:443:127.0.0.1:$RPT_HTTPS_PORT"
    printf 'export RPT_HOST=%q RPT_MAILTO=%q\n' "$RPT_HOST" "$RPT_MAILTO"
    while read -r var domain; do
      printf 'export %s=%q\n' "$var" "$domain"
    done < <(rpt_domains)
  } >"$WORLD_DIR/env.sh"
  cat >"$WORLD_DIR/tlspolicy.toml" <<EOF
# Generated by tests/integration/lib.sh world_start for the integration test world.
state_dir = "$WORLD_DIR/state"

[resolver]
mode = "trust-ad"
servers = ["127.0.0.1@$UNBOUND_PORT"]
trust_anchor = "$WORLD_DIR/zones/root.ds"
timeout = "2s"

[mta_sts]
ca_file = "$WORLD_DIR/pki/ca.pem"
allow_private_addresses = true
fetch_timeout = "3s"
connect_timeout = "2s"
# curl CONNECT_TO syntax; the first matching entry wins, an empty host/port matches any.
# reports.test (TLS-RPT https: reports) goes to the HTTPS sink, every other host to nginx.
connect_to = ["mta-sts.stall.mta.test:443:127.0.0.1:$STALL_PORT",
  "$RPT_HOST:443:127.0.0.1:$RPT_HTTPS_PORT", "::127.0.0.1:$HTTPS_PORT"]

[store]
path = "$WORLD_DIR/state/policies.sqlite"
EOF
  # The same world through libunbound: validate mode, forwarding to the world's Unbound (root
  # hints cannot carry a port, so no iteration), with the private root's DS as trust anchor.
  sed -e 's/^mode = "trust-ad"$/mode = "validate"/' \
    -e 's/^state_dir = .*/# resolver.mode = "validate": libunbound, forwarding to the world Unbound.\n&/' \
    "$WORLD_DIR/tlspolicy.toml" >"$WORLD_DIR/tlspolicy-validate.toml"
  grep -q '^mode = "validate"$' "$WORLD_DIR/tlspolicy-validate.toml" ||
    wdie "could not write tlspolicy-validate.toml"
}

# tlsa_digests: the TLSA association data the zones publish, from the world's PKI.
tlsa_digests() {
  TLSA_EE_SPKI_SHA256="$(openssl x509 -in "$WORLD_DIR/pki/good.pem" -noout -pubkey |
    openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
  TLSA_TA_CERT_SHA256="$(openssl x509 -in "$WORLD_DIR/pki/ca.pem" -outform DER |
    sha256sum | cut -d' ' -f1)"
  if [ "${#TLSA_EE_SPKI_SHA256}" != 64 ] || [ "${#TLSA_TA_CERT_SHA256}" != 64 ]; then
    wdie "could not compute the TLSA digests from $WORLD_DIR/pki"
  fi
  export TLSA_EE_SPKI_SHA256 TLSA_TA_CERT_SHA256
}

world_start() {
  local dir="$1" hosts=() case cert type extra f
  probe_world
  mkdir -p "$dir"
  WORLD_DIR="$(cd "$dir" && pwd)"
  export WORLD_DIR
  # nginx workers run as nobody when started by root: they must read www/.
  chmod 0755 "$WORLD_DIR"
  mkdir -p "$WORLD_DIR"/{pki,zones/src,nsd,unbound,nginx/tmp,www,stall,state,pids}
  mkdir -p "$WORLD_DIR"/{smtp-sink,https-sink}
  read -r NSD_PORT UNBOUND_PORT HTTPS_PORT STALL_PORT CLOSED_PORT ERRDNS_PORT SMTP_SINK_PORT \
    RPT_HTTPS_PORT DELIVERY_PORT <<<"$(free_ports 9)"
  # In a network namespace of the caller's, the receivers take SMTP's own port: a DANE client
  # looks up the TLSA records of the port it connects to (_25._tcp, RFC 7672 §2.2.2).
  DELIVERY_PORT="${WORLD_DELIVERY_PORT:-$DELIVERY_PORT}"
  export NSD_PORT UNBOUND_PORT HTTPS_PORT STALL_PORT CLOSED_PORT ERRDNS_PORT SMTP_SINK_PORT
  export RPT_HTTPS_PORT DELIVERY_PORT

  # PKI: the good leaf names every host whose cert column says "good"; the HTTPS sink gets a
  # leaf of its own for reports.test.
  while read -r case cert type extra; do
    [ "$cert" = good ] && hosts+=("$(policy_host "$case")")
  done < <(https_hosts)
  # Receivers with a certificate of their own (env/receivers): one leaf each, rcv-NAME.
  local leaves=() name address requiretls host
  while read -r name address cert requiretls host extra; do
    [ "$cert" = own ] && leaves+=(--leaf "rcv-$name:$host")
  done < <(receivers)
  "$REPO_DIR/tools/gen-test-pki.sh" --wrong "mta-sts.someone-else.mta.test" \
    --selfsigned "mta-sts.selfsigned.mta.test" --expired "mta-sts.expired.mta.test" \
    --leaf "reports:$RPT_HOST" "${leaves[@]}" \
    "$WORLD_DIR/pki" "${hosts[@]}" >"$WORLD_DIR/pki/gen.log" 2>&1 || {
    cat "$WORLD_DIR/pki/gen.log" >&2
    wdie "tools/gen-test-pki.sh failed"
  }

  # DNS: copy (TLSA digests from the PKI), sign, configure.
  tlsa_digests
  for f in "$ENV_DIR"/zones/*.zone; do
    sed -e "s/@EE_SPKI_SHA256@/$TLSA_EE_SPKI_SHA256/g" \
      -e "s/@TA_CERT_SHA256@/$TLSA_TA_CERT_SHA256/g" \
      "$f" >"$WORLD_DIR/zones/src/$(basename "$f")"
  done
  publish_zones
  grep -q 'evil\.bogus\.mta\.test' "$WORLD_DIR/zones/serve/mta.test.zone" ||
    wdie "could not make bogus.mta.test MX bogus (ldns-signzone output format changed?)"
  grep -q 'evil\.bogus-mx\.dane\.test' "$WORLD_DIR/zones/serve/dane.test.zone" ||
    wdie "could not make bogus-mx.dane.test MX bogus (ldns-signzone output format changed?)"
  grep -Eq '^mx1\.bogus-aaaa\.dane\.test\..*AAAA[[:space:]]+::2$' "$WORLD_DIR/zones/serve/dane.test.zone" ||
    wdie "could not make the AAAA of mx1.bogus-aaaa.dane.test bogus"
  if ! grep -Eq '^_25\._tcp\.mx1\.bogus-tlsa\.dane\.test\..*TLSA[[:space:]]+3 1 1 [0-9a-f]{64}$' \
    "$WORLD_DIR/zones/serve/dane.test.zone" ||
    grep -q "^_25\._tcp\.mx1\.bogus-tlsa\.dane\.test\..*$TLSA_EE_SPKI_SHA256" \
      "$WORLD_DIR/zones/serve/dane.test.zone"; then
    wdie "could not make the TLSA of bogus-tlsa.dane.test bogus"
  fi
  local var domain
  while read -r var domain; do  # the TLS-RPT table names domains that have the records
    grep -q "^_smtp\._tls\.$domain\.[[:space:]].*TXT.*v=TLSRPTv1" "$WORLD_DIR"/zones/src/*.zone ||
      wdie "$var: no _smtp._tls TXT record for $domain in env/zones"
  done < <(rpt_domains)
  render "$ENV_DIR/nsd.conf.in" "$WORLD_DIR/nsd/nsd.conf"
  render "$ENV_DIR/unbound.conf.in" "$WORLD_DIR/unbound/unbound.conf"
  if [ -n "${WORLD_DNS53:-}" ]; then  # a network namespace of the caller's: port 53 is free,
    # and glibc's resolver (the MTAs' in the delivery suite) knows no other
    sed -i "s|^    interface: 127\.0\.0\.1\$|&\n    interface: $WORLD_DNS53@53|" \
      "$WORLD_DIR/unbound/unbound.conf"
    grep -q "interface: $WORLD_DNS53@53" "$WORLD_DIR/unbound/unbound.conf" ||
      wdie "could not add $WORLD_DNS53@53 to unbound.conf"
  fi

  # HTTPS.
  build_www
  chmod -R a+rX "$WORLD_DIR/www"
  render "$ENV_DIR/nginx.conf.in" "$WORLD_DIR/nginx/nginx.conf"
  build_nginx_servers

  write_env

  start_bg nsd nsd -d -c "$WORLD_DIR/nsd/nsd.conf"
  start_bg unbound unbound -d -c "$WORLD_DIR/unbound/unbound.conf"
  start_bg nginx nginx -e "$WORLD_DIR/nginx/error.log" -p "$WORLD_DIR/nginx/" \
    -c "$WORLD_DIR/nginx/nginx.conf"
  # The stall listener: accepts TCP connections and never says a word.
  start_bg stall python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$STALL_PORT"

  # errdns: a UDP DNS listener for the servfail/refused delegations of dane.test: REFUSED when
  # the query name has a label "refused", SERVFAIL otherwise.
  start_bg errdns python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12 or q[2] & 0x80:
        continue
    i, labels = 12, []
    while i < len(q) and q[i] != 0 and len(labels) < 128:
        labels.append(q[i + 1:i + 1 + q[i]].lower()); i += 1 + q[i]
    rcode = 5 if b"refused" in labels else 2
    head = bytes([q[0], q[1], 0x80 | (q[2] & 0x79), rcode, 0, 1, 0, 0, 0, 0, 0, 0])
    s.sendto(head + q[12:min(i + 5, len(q))], peer)
' "$ERRDNS_PORT"

  # TLS-RPT: the SMTP sink (Postfix's relayhost), the HTTPS sink, then Postfix.
  start_bg smtp-sink python3 "$INTEGRATION_DIR/smtp_sink.py" --port "$SMTP_SINK_PORT" \
    --dir "$WORLD_DIR/smtp-sink"
  start_bg https-sink python3 "$INTEGRATION_DIR/https_sink.py" --port "$RPT_HTTPS_PORT" \
    --cert "$WORLD_DIR/pki/reports.pem" --key "$WORLD_DIR/pki/reports.key" \
    --log "$WORLD_DIR/https-sink/requests.jsonl"
  # Deliveries: the SMTP receivers of env/receivers.
  write_receivers >"$WORLD_DIR/receivers.json"
  start_bg receivers python3 "$INTEGRATION_DIR/smtp_sink.py" \
    --listeners "$WORLD_DIR/receivers.json" --dir "$WORLD_DIR/delivery"

  wait_tcp nsd "$(pid_of nsd)" "$NSD_PORT"
  wait_tcp unbound "$(pid_of unbound)" "$UNBOUND_PORT"
  wait_tcp nginx "$(pid_of nginx)" "$HTTPS_PORT"
  wait_tcp stall "$(pid_of stall)" "$STALL_PORT"
  wait_tcp smtp-sink "$(pid_of smtp-sink)" "$SMTP_SINK_PORT"
  wait_tcp https-sink "$(pid_of https-sink)" "$RPT_HTTPS_PORT"
  wait_tcp receivers "$(pid_of receivers)" "$DELIVERY_PORT" 10 "$(receiver_addresses | tail -1)"
  if postfix_wanted; then
    start_postfix
  else
    wlog "not root: no Postfix (REPORT_SENDMAIL is empty in env.sh)"
  fi

  # Sanity: NSD serves the zone, Unbound validates it (AD bit), nginx speaks TLS with the CA.
  local serial want i
  want="$(zone_serial "$WORLD_DIR/zones/src/mta.test.zone")"
  for ((i = 0; i < 100; i++)); do
    serial="$(nsd_serial mta.test)"
    [ "$serial" = "$want" ] && break
    sleep 0.02
  done
  [ "$serial" = "$want" ] || wdie "NSD does not serve mta.test (see $WORLD_DIR/nsd/nsd.log)"
  for f in . test mta.test dane.test; do
    drill -D -p "$UNBOUND_PORT" @127.0.0.1 "$f" SOA 2>/dev/null | grep -q 'flags:.* ad' ||
      wdie "Unbound does not validate $f (no AD bit; see $WORLD_DIR/unbound/unbound.log)"
  done
  curl -sS -o /dev/null --max-time 5 --cacert "$WORLD_DIR/pki/ca.pem" \
    --connect-to "::127.0.0.1:$HTTPS_PORT" https://mta-sts.enforce.mta.test/.well-known/mta-sts.txt ||
    wdie "nginx does not serve the enforce policy (see $WORLD_DIR/nginx/error.log)"
  # The HTTPS sink: a TLS handshake only (an HTTP request would land in its request log).
  python3 -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5) as s:
    with ctx.wrap_socket(s, server_hostname=sys.argv[3]):
        pass
' "$WORLD_DIR/pki/ca.pem" "$RPT_HTTPS_PORT" "$RPT_HOST" 2>>"$WORLD_DIR/https-sink/stderr.log" ||
    wdie "the HTTPS sink does not present a $RPT_HOST certificate of the world CA" \
      "(see $WORLD_DIR/https-sink/stderr.log)"
  wlog "up in $WORLD_DIR: nsd $NSD_PORT, unbound $UNBOUND_PORT, https $HTTPS_PORT," \
    "stall $STALL_PORT, smtp-sink $SMTP_SINK_PORT, https-sink $RPT_HTTPS_PORT"
}

world_stop() {
  local dir="${1:-${WORLD_DIR:-}}" f pid name i alive
  [ -n "$dir" ] && [ -d "$dir/pids" ] || return 0
  stop_postfix "$dir"  # first: its smtp client delivers to the SMTP sink
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    name="$(basename "$f" .pid)"
    alive=1
    for ((i = 0; i < 150; i++)); do
      pid_alive "$pid" || { alive=0; break; }
      sleep 0.02
    done
    if [ "$alive" = 1 ]; then
      wlog "$name (pid $pid) ignored SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

world_dump_logs() {
  local dir="${1:-$WORLD_DIR}" f
  for f in "$dir"/pki/gen.log "$dir"/zones/sign.log "$dir"/nsd/stderr.log "$dir"/nsd/nsd.log \
    "$dir"/unbound/stderr.log "$dir"/unbound/unbound.log "$dir"/nginx/stderr.log \
    "$dir"/nginx/error.log "$dir"/nginx/access.log "$dir"/stall/stderr.log \
    "$dir"/errdns/stderr.log "$dir"/smtp-sink/stderr.log "$dir"/https-sink/stderr.log \
    "$dir"/postfix/stderr.log "$dir"/postfix/maillog; do
    [ -s "$f" ] || continue
    echo "----- ${f#"$dir"/} (last 200 lines) -----"
    tail -n 200 "$f"
  done
  if [ -s "$dir/postfix/master.pid" ] && pid_alive "$(cat "$dir/postfix/master.pid")"; then
    echo "----- postfix queue (postqueue -p) -----"
    postqueue -c "$dir/postfix/etc" -p 2>&1 | tail -n 50 || true
  fi
}

# --- benchmark (tools/bench/run.sh) -------------------------------------------------------------

# world_bench_add_records ORIGIN FILE: append FILE's records (fully qualified owners, one record
# per line) to the world's zone ORIGIN, bump its serial, publish it (re-signing when it is a
# signed zone), reload NSD, wait until NSD serves the new serial, flush Unbound's cache of it.
# Used by the benchmark for its 1 000 generated MTA-STS domains; the tests do not call it.
world_bench_add_records() {
  : "${WORLD_DIR:?WORLD_DIR is not set (source DIR/env.sh)}"
  # shellcheck source=/dev/null
  . "$WORLD_DIR/env.sh"
  local origin="${1%.}" file="$2" zonefile serial i
  zonefile="$WORLD_DIR/zones/src/$origin.zone"
  [ -f "$zonefile" ] || wdie "no test zone $origin in this world"
  [ -r "$file" ] || wdie "cannot read $file"
  serial="$(($(zone_serial "$zonefile") + 1))"
  { awk -v s="$serial" '$3 == "SOA" { $6 = s } { print }' "$zonefile"; cat "$file"; } \
    >"$zonefile.tmp"
  mv -f "$zonefile.tmp" "$zonefile"
  reload_zone "$origin" "$serial"
}

# Executed rather than sourced: run one helper, e.g. lib.sh world_set_txt NAME RDATA.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    world_start | world_stop | world_set_txt | world_set_policy | world_remove_policy | \
      world_flush_resolver | world_dump_logs | world_missing_prereqs | probe_world | \
      world_bench_add_records)
      "$@"
      ;;
    *)
      echo "usage: WORLD_DIR=DIR $0 world_set_txt|world_set_policy|world_remove_policy|..." >&2
      exit 64
      ;;
  esac
fi
