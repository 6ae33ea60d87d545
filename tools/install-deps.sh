#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs every Debian 12 package that tlspolicy's build and tests need.
# Idempotent and non-interactive: packages already present are not touched,
# and nothing is fetched when nothing is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  libldns-dev libunbound-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libidn2-dev libtomlplusplus-dev
  libcli11-dev
  # run time data: the root trust anchor for resolver.mode = validate
  dns-root-data ca-certificates
  # integration test world: authoritative DNS, validating resolver, HTTPS
  nsd unbound ldnsutils nginx-light openssl curl sqlite3 iproute2 python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or with sudo) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The servers are run by the test harness on loopback with their own configs;
# keep the packages' own services from starting at install time.
policy_rc=/usr/sbin/policy-rc.d
created_policy_rc=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
  chmod 755 "$policy_rc"
  created_policy_rc=1
fi
trap '[ "$created_policy_rc" = 1 ] && rm -f "$policy_rc"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
