#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Generates the throwaway PKI of the integration test world (openssl CLI only).
#
#   tools/gen-test-pki.sh [--wrong NAME] [--selfsigned NAME] [--expired NAME]
#                         [--leaf FILE:HOST[,HOST...]]... OUTDIR HOST...
#
# Writes into OUTDIR (created if missing):
#   ca.pem ca.key                 test CA (EC P-256, 10 days); the only trust anchor the tests use
#   good.pem good.key             leaf signed by the CA, one DNS SAN per HOST
#   wrong.pem wrong.key           leaf signed by the CA for --wrong NAME only (STS-11 name mismatch)
#   selfsigned.pem selfsigned.key self-signed leaf for --selfsigned NAME (STS-11 untrusted chain)
#   expired.pem expired.key       leaf signed by the CA for --expired NAME whose validity ended in
#                                 2020 (STS-11 expired). OpenSSL 3.0 `x509 -req` has no
#                                 -not_before/-not_after (3.4+), so this uses `openssl ca`
#                                 with -startdate/-enddate.
#   FILE.pem FILE.key             per --leaf FILE:HOST,...: one more leaf signed by the CA, one
#                                 DNS SAN per HOST (the world's HTTPS report receiver:
#                                 --leaf reports:reports.test). FILE must be none of the above.
# Every *.pem leaf file holds the leaf followed by the CA (where the CA signed it), which is
# what nginx's ssl_certificate wants. All keys are EC P-256: fast to generate.
set -euo pipefail

usage() {
  echo "usage: $0 [--wrong NAME] [--selfsigned NAME] [--expired NAME]" \
    "[--leaf FILE:HOST[,HOST...]]... OUTDIR HOST..." >&2
  exit 64
}

wrong_name="mta-sts.someone-else.example"
selfsigned_name="mta-sts.selfsigned.mta.test"
expired_name="mta-sts.expired.mta.test"
extra_leaves=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wrong) wrong_name="${2:?}"; shift 2 ;;
    --selfsigned) selfsigned_name="${2:?}"; shift 2 ;;
    --expired) expired_name="${2:?}"; shift 2 ;;
    --leaf)
      [[ "${2:-}" =~ ^[A-Za-z0-9_-]+:[^,]+(,[^,]+)*$ ]] || usage
      case "${2%%:*}" in ca | good | wrong | selfsigned | expired) usage ;; esac
      extra_leaves+=("$2")
      shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage
out="$1"
shift
hosts=("$@")

command -v openssl >/dev/null || { echo "$0: openssl not found" >&2; exit 77; }
mkdir -p "$out"
cd "$out"
umask 022

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

san_list() {
  local s="" h
  for h in "$@"; do s="${s:+$s,}DNS:$h"; done
  printf '%s' "$s"
}

leaf_ext() {  # leaf_ext FILE HOST... : x509v3 extensions for a TLS server leaf
  local file="$1"
  shift
  cat >"$file" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $(san_list "$@")
EOF
}

# --- CA -----------------------------------------------------------------------------------
newkey ca.key
openssl req -new -x509 -key ca.key -out ca.pem -days 10 -sha256 \
  -subj "/O=tlspolicy tests/CN=tlspolicy test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null

sign_leaf() {  # sign_leaf NAME CN HOST... : NAME.key/NAME.pem signed by the CA for HOSTs
  local name="$1" cn="$2"
  shift 2
  newkey "$name.key"
  leaf_ext "$name.ext" "$@"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 10 -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  cat "$name.crt" ca.pem >"$name.pem"
  rm -f "$name.csr" "$name.ext" "$name.crt"
}

# --- good leaf: every good policy host; CN is deliberately not one of them (DNS-IDs only) -----
sign_leaf good "tlspolicy test good leaf" "${hosts[@]}"

# --- wrong name ------------------------------------------------------------------------------
sign_leaf wrong "$wrong_name" "$wrong_name"

# --- extra leaves (--leaf FILE:HOST,...); CN = the first HOST ---------------------------------
for spec in "${extra_leaves[@]+"${extra_leaves[@]}"}"; do
  IFS=, read -r -a leaf_hosts <<<"${spec#*:}"
  sign_leaf "${spec%%:*}" "${leaf_hosts[0]}" "${leaf_hosts[@]}"
done

# --- self-signed -----------------------------------------------------------------------------
newkey selfsigned.key
openssl req -new -x509 -key selfsigned.key -out selfsigned.pem -days 10 -sha256 \
  -subj "/CN=$selfsigned_name" -addext "subjectAltName=DNS:$selfsigned_name" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null

# --- expired: signed by the CA, valid only in January 2020 -----------------------------------
newkey expired.key
openssl req -new -key expired.key -subj "/CN=$expired_name" -out expired.csr 2>/dev/null
leaf_ext expired.ext "$expired_name"
mkdir -p ca-db
: >ca-db/index.txt
cat >ca-db/openssl.cnf <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $PWD/ca-db
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
certificate = $PWD/ca.pem
private_key = $PWD/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
EOF
openssl rand -hex 8 >ca-db/serial
openssl ca -batch -notext -config ca-db/openssl.cnf -extfile expired.ext \
  -startdate 20200101000000Z -enddate 20200201000000Z \
  -in expired.csr -out expired.crt 2>/dev/null
cat expired.crt ca.pem >expired.pem
rm -rf ca-db expired.csr expired.ext expired.crt ca.srl

echo "gen-test-pki: CA and leaves for ${#hosts[@]} hosts in $PWD"
