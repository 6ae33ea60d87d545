#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Checks the test world itself, without tlspolicy: every case's DNS answer validates (AD bit)
# and every policy host answers the way its case needs (status, Content-Type, certificate
# error). When this suite fails, the other suites' failures are the world's fault, not the
# binary's. `run --world-only` runs only the world_* suites.
#
# Output: "ok NAME" / "FAIL NAME: got X, want Y", then "suite-result: passed=N failed=M skipped=K".
set -euo pipefail

: "${WORLD_DIR:?run me through tests/integration/run}"
# shellcheck source=/dev/null
. "$WORLD_DIR/env.sh"
ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../env" && pwd)"

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

echo "suite-result: passed=$passed failed=$failed skipped=0"
[ "$failed" -eq 0 ]
