#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Signs the DNSSEC test zones of the integration test world with ldns, as one chain of trust.
#
#   tools/sign-test-zones.sh [--ds-only ORIGIN]... OUTDIR ZONEFILE...
#
# Each ZONEFILE is named <origin>.zone (mta.test.zone); root.zone is the root zone ".".
#   - creates, once, an ECDSAP256SHA256 (alg 13) KSK and ZSK per zone in OUTDIR/keys/
#     (ldns-keygen); later runs reuse them, so re-signing after an edit keeps every DS valid;
#   - --ds-only ORIGIN: a KSK only, for a child that is served UNSIGNED although its parent
#     publishes its DS (a bogus delegation);
#   - adds to each zone, before signing, the DS records of its direct children among the
#     signed and --ds-only zones (the child's parent is its name minus the first label);
#   - signs with ldns-signzone (NSEC; inception one day back so small clock skews do not make
#     the zone bogus, expiration 30 days ahead) into OUTDIR/<origin>.zone.signed.
# Then writes OUTDIR/root.ds: the DS records of the KSKs of the top-most signed zones (with
# root.zone among them: the root's DS alone), the format Unbound's `trust-anchor-file:` and
# tlspolicy's `resolver.trust_anchor` read. OUTDIR/trust-anchors.ds is the same file (old name).
set -euo pipefail

usage() {
  echo "usage: $0 [--ds-only ORIGIN]... OUTDIR ZONEFILE..." >&2
  exit 64
}
ds_only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ds-only) ds_only+=("${2:?--ds-only needs an origin}"); shift 2 ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage
out="$1"
shift
for tool in ldns-keygen ldns-signzone; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install ldnsutils)" >&2; exit 77; }
done

mkdir -p "$out/keys"
out="$(cd "$out" && pwd)"
keydir="$out/keys"
inception="$(date -u -d '1 day ago' +%Y%m%d%H%M%S)"
expiration="$(date -u -d '30 days' +%Y%m%d%H%M%S)"

origin_of() {  # origin_of ZONEFILE: "mta.test", or "." for root.zone
  local o
  o="$(basename "$1")"
  o="${o%.zone}"
  o="${o%.}"
  [ "$o" = root ] && o="."
  printf '%s\n' "$o"
}
keyname() { [ "$1" = . ] && echo root || echo "$1"; }  # key bookkeeping file stem
parent_of() {
  case "$1" in
    .) echo "" ;;
    *.*) echo "${1#*.}" ;;
    *) echo "." ;;
  esac
}

newkeys() {  # newkeys ORIGIN [ksk-only]
  local k
  k="$(keyname "$1")"
  if [ ! -s "$keydir/$k.ksk" ]; then
    (cd "$keydir" && ldns-keygen -a ECDSAP256SHA256 -k -r /dev/urandom "$1" >"$k.ksk")
  fi
  if [ -z "${2:-}" ] && [ ! -s "$keydir/$k.zsk" ]; then
    (cd "$keydir" && ldns-keygen -a ECDSAP256SHA256 -r /dev/urandom "$1" >"$k.zsk")
  fi
}

origins=()
for zonefile in "$@"; do
  o="$(origin_of "$zonefile")"
  origins+=("$o")
  newkeys "$o"
done
for o in "${ds_only[@]+"${ds_only[@]}"}"; do newkeys "$o" ksk-only; done
all=("${origins[@]}" "${ds_only[@]+"${ds_only[@]}"}")

: >"$out/root.ds.tmp"
i=0
for zonefile in "$@"; do
  o="${origins[$i]}"
  i=$((i + 1))
  k="$(keyname "$o")"
  ksk="$keydir/$(cat "$keydir/$k.ksk")"
  zsk="$keydir/$(cat "$keydir/$k.zsk")"
  cp "$zonefile" "$out/$k.zone.with-ds"
  has_parent=0
  for c in "${all[@]}"; do
    if [ "$(parent_of "$c")" = "$o" ]; then
      cat "$keydir/$(cat "$keydir/$(keyname "$c").ksk").ds" >>"$out/$k.zone.with-ds"
    fi
    [ "$c" = "$(parent_of "$o")" ] && has_parent=1
  done
  ldns-signzone -o "$o" -i "$inception" -e "$expiration" \
    -f "$out/$k.zone.signed.tmp" "$out/$k.zone.with-ds" "$ksk" "$zsk"
  mv -f "$out/$k.zone.signed.tmp" "$out/$k.zone.signed"
  rm -f "$out/$k.zone.with-ds"
  [ "$has_parent" = 1 ] || cat "$ksk.ds" >>"$out/root.ds.tmp"
done
mv -f "$out/root.ds.tmp" "$out/root.ds"
cp -f "$out/root.ds" "$out/trust-anchors.ds"
