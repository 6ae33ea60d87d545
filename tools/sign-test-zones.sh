#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Signs the DNSSEC test zones of the integration test world with ldns.
#
#   tools/sign-test-zones.sh OUTDIR ZONEFILE...
#
# For each ZONEFILE named <origin>.zone (e.g. mta.test.zone):
#   - creates, once, an ECDSAP256SHA256 (alg 13) KSK and ZSK in OUTDIR/keys/ (ldns-keygen);
#     later runs reuse them, so re-signing after an edit keeps the trust anchor valid;
#   - signs with ldns-signzone (NSEC; inception one day back so small clock skews do not make
#     the zone bogus, expiration 30 days ahead) into OUTDIR/<origin>.zone.signed.
# Then writes OUTDIR/trust-anchors.ds: the DS records of every KSK, the format Unbound's
# `trust-anchor-file:` and tlspolicy's `resolver.trust_anchor` read.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR ZONEFILE..." >&2
  exit 64
fi
out="$1"
shift
for tool in ldns-keygen ldns-signzone; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install ldnsutils)" >&2; exit 77; }
done

mkdir -p "$out/keys"
out="$(cd "$out" && pwd)"
inception="$(date -u -d '1 day ago' +%Y%m%d%H%M%S)"
expiration="$(date -u -d '30 days' +%Y%m%d%H%M%S)"
anchors="$out/trust-anchors.ds"
: >"$anchors.tmp"

for zonefile in "$@"; do
  base="$(basename "$zonefile")"
  origin="${base%.zone}"
  origin="${origin%.}"
  keydir="$out/keys"
  # One KSK and one ZSK per zone, remembered by name so re-signing reuses them.
  if [ ! -s "$keydir/$origin.ksk" ]; then
    (cd "$keydir" && ldns-keygen -a ECDSAP256SHA256 -k -r /dev/urandom "$origin" >"$origin.ksk")
    (cd "$keydir" && ldns-keygen -a ECDSAP256SHA256 -r /dev/urandom "$origin" >"$origin.zsk")
  fi
  ksk="$keydir/$(cat "$keydir/$origin.ksk")"
  zsk="$keydir/$(cat "$keydir/$origin.zsk")"
  ldns-signzone -o "$origin." -i "$inception" -e "$expiration" \
    -f "$out/$origin.zone.signed.tmp" "$zonefile" "$ksk" "$zsk"
  mv -f "$out/$origin.zone.signed.tmp" "$out/$origin.zone.signed"
  cat "$ksk.ds" >>"$anchors.tmp"
done
mv -f "$anchors.tmp" "$anchors"
