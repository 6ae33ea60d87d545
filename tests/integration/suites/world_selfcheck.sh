#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks the test world itself, without tlspolicy: every case's DNS answer validates (AD bit)
# through the private signed root, every bogus or failed lookup is a SERVFAIL from Unbound,
# and every policy host answers the way its case needs (status, Content-Type, certificate
# error). When this suite fails, the other suites' failures are the world's fault, not the
# binary's. `run --world-only` runs only the world_* suites.
# The TLS-RPT report paths too: Postfix (REPORT_SENDMAIL) delivers into the SMTP sink, the HTTPS
# sink answers by path with a reports.test certificate of the world CA and logs each request,
# and the _smtp._tls records validate. What it sends there is removed again at the end (the
# sinks are empty for the next suite); it never touches /flaky (its first POST fails once).
#
# Output: "ok NAME" / "FAIL NAME: got X, want Y", then "suite-result: passed=N failed=M skipped=K".
set -euo pipefail

: "${WORLD_DIR:?run me through tests/integration/run}"
# shellcheck source=/dev/null
. "$WORLD_DIR/env.sh"
ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../env" && pwd)"

passed=0
failed=0
skipped=0
skip() {
  echo "skip $1: $2"
  skipped=$((skipped + 1))
}
ok() {
  echo "ok $1"
  passed=$((passed + 1))
}
bad() {
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}

# dig_flags NAME TYPE: "<rcode> <ad|-> <answer count>" from Unbound.
dns_summary() {
  drill -D -p "$UNBOUND_PORT" @127.0.0.1 "$1" "$2" 2>/dev/null | awk -v t="$2" '
    /rcode:/ { for (i = 1; i <= NF; i++) if ($i == "rcode:") { rc = $(i + 1); sub(",", "", rc) } }
    /;; flags:/ { ad = ($0 ~ / ad[ ;]/) ? "ad" : "-" }
    $0 !~ /^;/ && $4 == t { n++ }
    END { printf "%s %s %d\n", rc, ad, n }'
}

check_dns() {  # check_dns LABEL NAME TYPE WANT
  local got
  got="$(dns_summary "$2" "$3")"
  if [ "$got" = "$4" ]; then ok "$1"; else bad "$1" "got '$got', want '$4' for $2 $3"; fi
}

check_dns dns-soa-secure mta.test SOA "NOERROR ad 1"
check_dns dns-enforce-txt _mta-sts.enforce.mta.test TXT "NOERROR ad 1"
check_dns dns-enforce-mx enforce.mta.test MX "NOERROR ad 1"
check_dns dns-mx1-a mx1.enforce.mta.test A "NOERROR ad 1"
check_dns dns-wildcard-mx wildcard.mta.test MX "NOERROR ad 2"
check_dns dns-multi-mx multi.mta.test MX "NOERROR ad 4"
check_dns dns-cname-txt _mta-sts.cname.mta.test TXT "NOERROR ad 1"
check_dns dns-tworecords-txt _mta-sts.tworecords.mta.test TXT "NOERROR ad 2"
check_dns dns-othertxt-txt _mta-sts.othertxt.mta.test TXT "NOERROR ad 2"
check_dns dns-notxt-nxdomain _mta-sts.notxt.mta.test TXT "NXDOMAIN ad 0"
check_dns dns-bogus-mx-servfail bogus.mta.test MX "SERVFAIL - 0"
check_dns dns-bogus-txt-secure _mta-sts.bogus.mta.test TXT "NOERROR ad 1"
check_dns dns-unsigned-mx-insecure insecure.unsigned.test MX "NOERROR - 1"
check_dns dns-unsigned-txt-insecure _mta-sts.insecure.unsigned.test TXT "NOERROR - 1"

# The private signed root: Unbound's one trust anchor is the root DS, and the chain
# . -> test. -> mta.test./dane.test. validates (RFC 4035 §5).
check_dns root-dnskey-secure . DNSKEY "NOERROR ad 2"
check_dns root-soa-secure . SOA "NOERROR ad 1"
check_dns test-ds-secure test DS "NOERROR ad 1"
check_dns mta-ds-secure mta.test DS "NOERROR ad 1"
check_dns dane-ds-secure dane.test DS "NOERROR ad 1"
check_dns unsigned-no-ds unsigned.test DS "NOERROR ad 0"
anchors="$(grep -cv -e '^;' -e '^[[:space:]]*$' "$TRUST_ANCHOR" || true)"
owner="$(awk '!/^;/ && NF { print $1; exit }' "$TRUST_ANCHOR")"
if [ "$anchors" = 1 ] && [ "$owner" = . ]; then ok trust-anchor-root-only; else
  bad trust-anchor-root-only "got $anchors records, first owner '$owner', want one DS for ."
fi
if grep -q '^mode = "validate"$' "$TLSPOLICY_VALIDATE_CONFIG" &&
  grep -q "^trust_anchor = \"$TRUST_ANCHOR\"$" "$TLSPOLICY_VALIDATE_CONFIG" &&
  grep -q "^servers = \[\"127.0.0.1@$UNBOUND_PORT\"\]$" "$TLSPOLICY_VALIDATE_CONFIG"; then
  ok validate-config
else
  bad validate-config "$TLSPOLICY_VALIDATE_CONFIG lacks mode validate / trust_anchor / servers"
fi

# DANE cases (dane.test): secure MX and TLSA where expected, SERVFAIL for every bogus or failed
# lookup, secure denials where there is nothing.
for c in tlsa311 tlsa201 unusable notlsa bogus-tlsa nullmx mx-cname; do
  check_dns "dane-$c-mx" "$c.dane.test" MX "NOERROR ad 1"
done
check_dns dane-dane-sts-mx dane-sts.dane.test MX "NOERROR ad 2"
check_dns dane-twomx-mx twomx.dane.test MX "NOERROR ad 2"
check_dns dane-tlsa311-tlsa _25._tcp.mx1.tlsa311.dane.test TLSA "NOERROR ad 1"
check_dns dane-tlsa201-tlsa _25._tcp.mx1.tlsa201.dane.test TLSA "NOERROR ad 1"
check_dns dane-dane-sts-tlsa1 _25._tcp.mx1.dane-sts.dane.test TLSA "NOERROR ad 1"
check_dns dane-dane-sts-tlsa2 _25._tcp.mx2.dane-sts.dane.test TLSA "NOERROR ad 1"
check_dns dane-dane-sts-txt _mta-sts.dane-sts.dane.test TXT "NOERROR ad 1"
check_dns dane-twomx-tlsa1 _25._tcp.mx1.twomx.dane.test TLSA "NOERROR ad 1"
check_dns dane-twomx-tlsa2-denied _25._tcp.mx2.twomx.dane.test TLSA "NXDOMAIN ad 0"
check_dns dane-unusable-tlsa _25._tcp.mx1.unusable.dane.test TLSA "NOERROR ad 3"
check_dns dane-notlsa-denied _25._tcp.mx1.notlsa.dane.test TLSA "NXDOMAIN ad 0"
check_dns dane-mx-cname-a mx.mx-cname.dane.test A "NOERROR ad 1"
check_dns dane-mx-cname-cname mx.mx-cname.dane.test CNAME "NOERROR ad 1"
check_dns dane-mx-cname-tlsa _25._tcp.real.mx-cname.dane.test TLSA "NOERROR ad 1"
check_dns dane-nxdomain nxdomain.dane.test MX "NXDOMAIN ad 0"
check_dns dane-bogus-mx-servfail bogus-mx.dane.test MX "SERVFAIL - 0"
check_dns dane-bogus-tlsa-a mx1.bogus-tlsa.dane.test A "NOERROR ad 1"
check_dns dane-bogus-tlsa-servfail _25._tcp.mx1.bogus-tlsa.dane.test TLSA "SERVFAIL - 0"
check_dns dane-ds-unsigned-servfail ds-unsigned.dane.test MX "SERVFAIL - 0"
check_dns dane-servfail-servfail servfail.dane.test MX "SERVFAIL - 0"
check_dns dane-refused-servfail refused.dane.test MX "SERVFAIL - 0"
check_dns dane-unsigned-tlsa-mx unsigned-tlsa.unsigned.test MX "NOERROR - 1"
check_dns dane-unsigned-tlsa-tlsa _25._tcp.mx1.unsigned-tlsa.unsigned.test TLSA "NOERROR - 1"
check_dns dane-plain-mx plain.unsigned.test MX "NOERROR - 1"
# The "never downgrade" cases (lib_world.py, decisions.py).
check_dns dane-dane-sts-mixed-mx dane-sts-mixed.dane.test MX "NOERROR ad 2"
check_dns dane-dane-sts-mixed-tlsa1 _25._tcp.mx1.dane-sts-mixed.dane.test TLSA "NOERROR ad 1"
check_dns dane-dane-sts-mixed-tlsa2-denied _25._tcp.mx2.dane-sts-mixed.dane.test TLSA "NXDOMAIN ad 0"
check_dns dane-unusable-sts-tlsa _25._tcp.mx1.unusable-sts.dane.test TLSA "NOERROR ad 1"
check_dns dane-tlsa-servfail-a mx1.tlsa-servfail.dane.test A "NOERROR ad 1"
check_dns dane-tlsa-servfail-tlsa _25._tcp.mx1.tlsa-servfail.dane.test TLSA "SERVFAIL - 0"
check_dns dane-bogus-aaaa-a mx1.bogus-aaaa.dane.test A "NOERROR ad 1"
check_dns dane-bogus-aaaa-aaaa mx1.bogus-aaaa.dane.test AAAA "SERVFAIL - 0"
check_dns dane-bogus-aaaa-tlsa _25._tcp.mx1.bogus-aaaa.dane.test TLSA "NOERROR ad 1"
check_dns dane-mx-absent-mx mx-absent.dane.test MX "NOERROR ad 1"
check_dns dane-mx-absent-host mx1.mx-absent.dane.test A "NXDOMAIN ad 0"
check_dns sts-txtfail-mx txtfail.unsigned.test MX "NOERROR - 1"
check_dns sts-txtfail-txt _mta-sts.txtfail.unsigned.test TXT "SERVFAIL - 0"
check_dns sts-mxttl0-mx mxttl0.mta.test MX "NOERROR ad 1"
# TTL 0 comes through as 0 (freshness.py relies on it).
ttl0="$(drill -p "$UNBOUND_PORT" @127.0.0.1 _mta-sts.ttl0.mta.test TXT 2>/dev/null |
  awk '!/^;/ && $4 == "TXT" { print $2; exit }')"
if [ "$ttl0" = 0 ]; then ok dns-ttl0-txt; else bad dns-ttl0-txt "TTL '$ttl0', want 0"; fi

# The TLSA data are the world PKI's digests; the tampered ones are not.
tlsa_data() {  # tlsa_data NAME [drill options]: "u s m hex" lines
  drill "${@:2}" -p "$UNBOUND_PORT" @127.0.0.1 "$1" TLSA 2>/dev/null |
    awk '!/^;/ && $4 == "TLSA" { print $5, $6, $7, tolower($8) }'
}
want="3 1 1 $TLSA_EE_SPKI_SHA256"
got="$(tlsa_data _25._tcp.mx1.tlsa311.dane.test)"
check_eq() {  # check_eq LABEL GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi
}
check_eq dane-tlsa311-data "$got" "$want"
want="2 0 1 $TLSA_TA_CERT_SHA256"
got="$(tlsa_data _25._tcp.mx1.tlsa201.dane.test)"
check_eq dane-tlsa201-data "$got" "$want"
got="$(tlsa_data _25._tcp.mx1.bogus-tlsa.dane.test -o CD)"  # checking disabled: the raw data
if [[ "$got" == "3 1 1 "* ]] && [ "$got" != "3 1 1 $TLSA_EE_SPKI_SHA256" ]; then
  ok dane-bogus-tlsa-tampered
else
  bad dane-bogus-tlsa-tampered "got '$got', want a 3 1 1 record that is not the good leaf's"
fi
ee="$(openssl x509 -in "$WORLD_DIR/pki/good.pem" -noout -pubkey |
  openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
if [ "$ee" = "$TLSA_EE_SPKI_SHA256" ]; then ok dane-digest-from-pki; else
  bad dane-digest-from-pki "got $TLSA_EE_SPKI_SHA256 in env.sh, want $ee (good.pem SPKI)"
fi

# The errdns listener answers SERVFAIL, and REFUSED for names under refused.dane.test.
rcode_of() {
  drill -p "$ERRDNS_PORT" @127.0.0.1 "$1" MX 2>/dev/null |
    awk '/rcode:/ { for (i = 1; i <= NF; i++) if ($i == "rcode:") rc = $(i + 1) }
         END { sub(",", "", rc); print rc }'
}
check_eq errdns-servfail "$(rcode_of servfail.dane.test)" SERVFAIL
check_eq errdns-refused "$(rcode_of refused.dane.test)" REFUSED

split="$(drill -p "$UNBOUND_PORT" @127.0.0.1 _mta-sts.split.mta.test TXT 2>/dev/null |
  awk '!/^;/ && $4 == "TXT" { sub(/^[^"]*/, ""); print }')"
if [ "$split" = '"v=STSv1; id=spl" "it1;"' ]; then ok dns-split-strings; else
  bad dns-split-strings "got '$split', want two character-strings"
fi

# HTTPS: one check per policy host, expectation from env/https-hosts.
while read -r case cert type extra; do
  case "$case" in *.*) host="mta-sts.$case" ;; *) host="mta-sts.$case.mta.test" ;; esac
  [ "$case" = stall ] && continue
  rc=0
  got="$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --max-time 5 \
    --cacert "$CA_FILE" --connect-to "::127.0.0.1:$HTTPS_PORT" \
    "https://$host/.well-known/mta-sts.txt")" || rc=$?
  if [ "$cert" != good ]; then
    want="curl exit 60"
    got="curl exit $rc"
  elif [ "$extra" = absent ]; then
    want="404 text/html"
  elif [[ "$extra" == redirect=* ]]; then
    want="301 text/html"
  else
    want="200 $type"
  fi
  if [ "$got" = "$want" ]; then ok "https-$case"; else bad "https-$case" "got '$got', want '$want'"; fi
done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$ENV_DIR/https-hosts")

size="$(curl -s --cacert "$CA_FILE" --connect-to "::127.0.0.1:$HTTPS_PORT" \
  https://mta-sts.oversize.mta.test/.well-known/mta-sts.txt | wc -c)"
if [ "$size" -gt 65536 ]; then ok https-oversize-size; else
  bad https-oversize-size "got $size bytes, want more than 65536"
fi
if curl -s --cacert "$CA_FILE" --connect-to "::127.0.0.1:$HTTPS_PORT" \
  https://mta-sts.crlf.mta.test/.well-known/mta-sts.txt | head -n 1 | grep -q $'\r$'; then
  ok https-crlf-lines
else
  bad https-crlf-lines "got LF line ends, want CRLF"
fi

# The stall listener accepts and never answers; the first connect_to entry routes to it.
start=$SECONDS
rc=0
curl -s -o /dev/null --max-time 1 --cacert "$CA_FILE" \
  --connect-to "mta-sts.stall.mta.test:443:127.0.0.1:$STALL_PORT" \
  --connect-to "::127.0.0.1:$HTTPS_PORT" https://mta-sts.stall.mta.test/.well-known/mta-sts.txt ||
  rc=$?
if [ "$rc" = 28 ] && [ $((SECONDS - start)) -le 3 ]; then ok stall-times-out; else
  bad stall-times-out "got curl exit $rc, want 28 (timeout)"
fi

# Nothing listens on the closed port (resolver-down case).
if (exec 3<>"/dev/tcp/127.0.0.1/$CLOSED_PORT") 2>/dev/null; then
  bad closed-port "got a TCP listener on port $CLOSED_PORT, want none"
else
  ok closed-port
fi

# world_set_txt round trip on a scratch name: add, see it validated, delete, see NXDOMAIN.
"$WORLD_LIB" world_set_txt _scratch.mta.test '"v=STSv1; id=scratch1;"'
check_dns dyn-set-txt _scratch.mta.test TXT "NOERROR ad 1"
"$WORLD_LIB" world_set_txt _scratch.mta.test
check_dns dyn-delete-txt _scratch.mta.test TXT "NXDOMAIN ad 0"

# --- TLS-RPT report paths ----------------------------------------------------------------------
# DNS: the _smtp._tls records of every RPT_DOMAIN_* (two at RPT_DOMAIN_TWO_RECORDS), secure.
for var in RPT_DOMAIN_ENFORCE RPT_DOMAIN_TESTING RPT_DOMAIN_INVALID RPT_DOMAIN_SELFSIGNED \
  RPT_DOMAIN_DANE RPT_DOMAIN_TWO_RECORDS RPT_DOMAIN_FAIL; do
  domain="${!var:-}"
  if [ -z "$domain" ]; then
    bad "rpt-dns-$var" "env.sh does not set $var"
    continue
  fi
  n=1
  [ "$var" = RPT_DOMAIN_TWO_RECORDS ] && n=2
  check_dns "rpt-dns-$var" "_smtp._tls.$domain" TXT "NOERROR ad $n"
done
got="$(drill -p "$UNBOUND_PORT" @127.0.0.1 "_smtp._tls.$RPT_DOMAIN_ENFORCE" TXT 2>/dev/null |
  awk '!/^;/ && $4 == "TXT" { sub(/^[^"]*/, ""); print }')"
check_eq rpt-dns-enforce-rua "$got" '"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test"'
check_dns rpt-dns-reports-a "$RPT_HOST" A "NOERROR ad 1"

marker="world-selfcheck-$$-$RANDOM"

# HTTPS sink: status by path, the world CA verifies reports.test, every request logged (the
# query string carries the marker; the sink routes on the path alone).
check_eq rpt-connect-to "$RPT_CONNECT_TO" "reports.test:443:127.0.0.1:$RPT_HTTPS_PORT"
body="{\"selfcheck\":\"$marker\",\"n\":1}"
rpt_http() {  # rpt_http METHOD PATH: "<status> <absolute redirect URL, if any>"
  local args=() rc=0 out
  [ "$1" = POST ] && args=(-H 'Content-Type: application/tlsrpt+json' --data-binary "$body")
  out="$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 \
    --cacert "$CA_FILE" --connect-to "$RPT_CONNECT_TO" -X "$1" "${args[@]}" \
    "https://$RPT_HOST$2?selfcheck=$marker")" || rc=$?
  if [ "$rc" = 0 ]; then echo "$out"; else echo "curl exit $rc"; fi
}
check_eq rpt-https-ok "$(rpt_http POST /ok)" "200 "
check_eq rpt-https-created "$(rpt_http POST /created)" "201 "
check_eq rpt-https-fail "$(rpt_http POST /fail)" "500 "
check_eq rpt-https-redirect "$(rpt_http POST /redirect)" "302 https://$RPT_HOST/ok"
check_eq rpt-https-get-405 "$(rpt_http GET /ok)" "405 "
check_eq rpt-https-unknown-404 "$(rpt_http POST /nothing-here)" "404 "
rc=0
curl -s -o /dev/null --max-time 5 --connect-to "$RPT_CONNECT_TO" --data-binary x \
  "https://$RPT_HOST/ok?selfcheck=$marker" || rc=$?
check_eq rpt-https-untrusted-without-ca "curl exit $rc" "curl exit 60"
got="$(python3 - "$RPT_HTTPS_LOG" "$marker" "$body" <<'EOF'
import base64, json, sys
log, marker, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
rows = [json.loads(l) for l in open(log) if l.strip()]
rows = [r for r in rows if marker in r.get("path", "")]
want = [("POST", "/ok", 200), ("POST", "/created", 201), ("POST", "/fail", 500),
        ("POST", "/redirect", 302), ("GET", "/ok", 405), ("POST", "/nothing-here", 404)]
got = [(r["method"], r["path"].split("?")[0], r["status"]) for r in rows]
if got != want:
    print(f"requests {got}, want {want}")
for r in rows:
    if r["method"] == "POST" and (base64.b64decode(r["body_b64"]) != body
                                  or r["content_length"] != len(body)
                                  or r["content_type"] != "application/tlsrpt+json"):
        print(f"{r['path']}: body {r['body_b64']}, length {r['content_length']}, type "
              f"{r['content_type']}; want the posted JSON as application/tlsrpt+json")
        break
EOF
)"
check_eq rpt-https-log "$got" ""

# Postfix: running, no listener, relayhost = the sink; REPORT_SENDMAIL delivers into the sink.
if [ -z "${REPORT_SENDMAIL:-}" ]; then
  skip rpt-postfix "no Postfix in this world (not run as root)"
  skip rpt-mail-path "no Postfix in this world (not run as root)"
else
  if postfix -c "$POSTFIX_CONFIG_DIR" status >/dev/null 2>&1; then ok rpt-postfix-running; else
    bad rpt-postfix-running "postfix -c $POSTFIX_CONFIG_DIR status: not running"
  fi
  check_eq rpt-postfix-no-inet "$(postconf -c "$POSTFIX_CONFIG_DIR" -M 2>&1 |
    awk '$2 == "inet"' | tr '\n' ' ')" ""
  check_eq rpt-postfix-relayhost "$(postconf -c "$POSTFIX_CONFIG_DIR" -h relayhost)" \
    "[127.0.0.1]:$SMTP_SINK_PORT"
  mapfile -t sendmail_cmd < <(python3 -c 'import json, sys
for a in json.loads(sys.argv[1]): print(a)' "$REPORT_SENDMAIL")
  check_eq rpt-report-sendmail "${sendmail_cmd[*]:1}" "-C $POSTFIX_CONFIG_DIR -oi"
  # A lone "." and leading dots: Postfix dot-stuffs them, the sink must unstuff them.
  rc=0
  printf 'From: selfcheck@reporter.test\nTo: %s\nSubject: %s\n\n%s\n' "$RPT_MAILTO" "$marker" \
    $'line one\n.leading dot\n..two dots\n.\nlast line' |
    timeout 20 "${sendmail_cmd[@]}" -f selfcheck@reporter.test "$RPT_MAILTO" || rc=$?
  check_eq rpt-sendmail-exit "$rc" 0
  got="$(python3 - "$SMTP_SINK_DIR" "$marker" "$RPT_MAILTO" <<'EOF'
import glob, json, os, sys, time
sink, marker, rcpt = sys.argv[1], sys.argv[2], sys.argv[3]
want_body = b"\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"
deadline = time.monotonic() + 20
while True:
    for meta_path in sorted(glob.glob(os.path.join(sink, "*.json"))):
        with open(meta_path[:-5] + ".eml", "rb") as f:
            eml = f.read()
        if f"Subject: {marker}\r\n".encode() not in eml:
            continue
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("mail_from") != "selfcheck@reporter.test" or meta.get("rcpt_to") != [rcpt]:
            print(f"envelope {meta}, want selfcheck@reporter.test -> [{rcpt}]")
        elif meta.get("size") != len(eml):
            print(f"size {meta.get('size')}, want {len(eml)} (the .eml)")
        elif not eml.endswith(want_body):
            print(f"message ends {eml[-80:]!r}, want {want_body!r}")
        sys.exit(0)
    if time.monotonic() > deadline:
        print("no message with that Subject in the sink within 20 s")
        sys.exit(0)
    time.sleep(0.05)
EOF
)"
  check_eq rpt-mail-path "$got" ""
fi

# Leave the sinks as found for the next suite: drop what this suite sent.
python3 - "$SMTP_SINK_DIR" "$RPT_HTTPS_LOG" "$marker" <<'EOF'
import glob, os, sys
sink, log, marker = sys.argv[1], sys.argv[2], sys.argv[3]
for meta in glob.glob(os.path.join(sink, "*.json")):
    eml = meta[:-5] + ".eml"
    with open(eml, "rb") as f:
        mine = f"Subject: {marker}\r\n".encode() in f.read()
    if mine:
        os.remove(meta)
        os.remove(eml)
with open(log) as f:
    lines = [l for l in f if marker not in l]
with open(log + ".tmp", "w") as f:
    f.writelines(lines)
os.replace(log + ".tmp", log)
EOF
echo "suite-result: passed=$passed failed=$failed skipped=$skipped"
[ "$failed" -eq 0 ]
