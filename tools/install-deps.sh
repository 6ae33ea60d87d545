#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs every Debian 12 package that tlspolicy's build and tests need.
# Idempotent and non-interactive: packages already present are not touched,
# and nothing is fetched when nothing is missing.
#
# The client tests need a real Postfix and a real Exim, but Debian's postfix and exim4
# packages conflict (both provide mail-transport-agent). Postfix is installed as a package
# (debconf preseeded to "No configuration", services kept from starting); Exim is NOT
# installed: exim4-daemon-light and exim4-base are downloaded and unpacked with dpkg-deb -x
# into $EXIM_DIR (default /opt/tlspolicy-test/exim), binary $EXIM_DIR/usr/sbin/exim4. Its
# shared libraries are installed as ordinary packages, and the system user Debian-exim (which
# the Debian binary looks up at startup, before reading any configuration) is created.
set -euo pipefail

EXIM_DIR="${EXIM_DIR:-/opt/tlspolicy-test/exim}"
EXIM_BIN="$EXIM_DIR/usr/sbin/exim4"
EXIM_USER=Debian-exim

packages=(
  # build
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  libldns-dev libunbound-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev
  libpq-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libidn2-dev libtomlplusplus-dev
  libcli11-dev
  # the manual: roff pages made from docs/ at build time, checked with man --warnings
  go-md2man man-db
  # run time data: the root trust anchor for resolver.mode = validate
  dns-root-data ca-certificates
  # integration test world: authoritative DNS, validating resolver, HTTPS
  nsd unbound ldnsutils nginx-light openssl curl sqlite3 iproute2 python3
  # fleet suite and gtests: a real PostgreSQL, initdb'd into a temporary directory (the
  # package's own cluster service is kept from starting like the others)
  postgresql postgresql-client
  # TLS-RPT suite: runs `tlspolicy report` one day ahead, when the day's reports are due
  faketime
  # metrics suite: promtool checks the /metrics text, a real Prometheus server scrapes it
  prometheus
  # systemd-analyze and systemd-socket-activate check the units in tools/systemd
  systemd
  # real clients: Postfix (postmap's dict_sockmap client); also the integration world's mail
  # path for TLS-RPT reports (its own instance, `postfix -c DIR`, relaying to an SMTP sink)
  postfix
  # real clients: the shared libraries of the unpacked Exim (exim4-daemon-light's Depends)
  libcrypt1 libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2 libpcre2-8-0
  # the Debian package (tools/build-deb.sh) and its test (tests/package/run): debhelper,
  # lintian, and systemd-nspawn to boot fresh Debian 12 and 13 systems with it installed
  debhelper dpkg-dev fakeroot lintian systemd-container
  # delivery suite: Debian 13 and testing chroots with newer Postfix and Exim
  # (tools/debian-chroot.sh), and the network namespace it runs in (unshare, mount: util-linux)
  mmdebstrap
  # benchmark (tools/bench/run.sh): the comparison daemon, with uvloop, which its package
  # recommends and uses when present (apt installs recommends by default; we pass
  # --no-install-recommends); its service is kept from starting like the others
  postfix-mta-sts-resolver python3-uvloop
  # benchmark: distance inside the bench's own network namespace (this kernel has no
  # sch_netem): iptables NFQUEUE rules and tools/bench/delayer.cpp on libnetfilter_queue
  iptables libnetfilter-queue-dev pkg-config
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# exim -bV exits 1 here (no /etc/exim4 configuration) but still prints its version: it runs.
exim_ok() {
  local out
  [ -x "$EXIM_BIN" ] || return 1
  out="$("$EXIM_BIN" -bV 2>&1 || true)"
  grep -q '^Exim version' <<<"$out"
}
need_user=0
getent passwd "$EXIM_USER" >/dev/null || need_user=1
need_exim=0
[ -x "$EXIM_BIN" ] || need_exim=1

if [ "${#missing[@]}" -eq 0 ] && [ "$need_user" = 0 ] && [ "$need_exim" = 0 ]; then
  if exim_ok; then
    echo "install-deps: all ${#packages[@]} packages present, exim in $EXIM_DIR"
    exit 0
  fi
  need_exim=1  # unpacked but does not run (e.g. a library went missing): redo it
fi

if [ "$(id -u)" -ne 0 ]; then
  [ "${#missing[@]}" -eq 0 ] || echo "install-deps: missing packages: ${missing[*]}" >&2
  [ "$need_user" = 0 ] || echo "install-deps: missing system user $EXIM_USER" >&2
  [ "$need_exim" = 0 ] || echo "install-deps: no working exim in $EXIM_DIR" >&2
  echo "install-deps: run this script as root (or with sudo) to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The servers are run by the test harness on loopback with their own configs;
# keep the packages' own services from starting at install time.
policy_rc=/usr/sbin/policy-rc.d
created_policy_rc=0
work=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ "$created_policy_rc" = 1 ]; then rm -f "$policy_rc"; fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    created_policy_rc=1
  fi
  # Postfix asks for a mail configuration type; the tests bring their own main.cf.
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$need_user" = 1 ]; then
  echo "install-deps: creating system user $EXIM_USER"
  useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin "$EXIM_USER"
fi

if [ "$need_exim" = 1 ] || ! exim_ok; then
  echo "install-deps: unpacking exim4-daemon-light and exim4-base into $EXIM_DIR"
  work="$(mktemp -d)"
  download() {  # as root into $work (no _apt sandbox: it cannot write a mktemp directory)
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root exim4-daemon-light exim4-base)
  }
  download || { apt-get update -qq && download; }
  mkdir -p "$work/root"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  # dpkg-deb -x keeps exim4's setuid bit; a setuid root binary outside dpkg's care is not
  # wanted, and the tests run it as root anyway.
  find "$work/root" -type f -perm /6000 -exec chmod ug-s {} +
  dpkg-deb -f "$work"/exim4-daemon-light_*.deb Version >"$work/root/VERSION"
  if ldd "$work/root/usr/sbin/exim4" | grep 'not found'; then
    echo "install-deps: the unpacked exim lacks the shared libraries above" >&2
    exit 1
  fi
  rm -rf "$EXIM_DIR"
  mkdir -p "$(dirname "$EXIM_DIR")"
  mv "$work/root" "$EXIM_DIR"
  if ! exim_ok; then
    echo "install-deps: $EXIM_BIN -bV fails:" >&2
    "$EXIM_BIN" -bV >&2 || true
    exit 1
  fi
fi
echo "install-deps: done"
