#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   tools/debian-chroot.sh - a cached Debian chroot with a newer Postfix and Exim for the tests
# SYNOPSIS
#   tools/debian-chroot.sh SUITE
#   tools/debian-chroot.sh --systemd bookworm|trixie
# DESCRIPTION
#   Prints the directory of a minimal Debian SUITE chroot (trixie: Postfix 3.10 with libtlsrpt,
#   Exim 4.98; forky, i.e. testing: Postfix 3.11), built with mmdebstrap from Debian's mirror
#   (http://deb.debian.org/debian) the first time and re-used afterwards. It holds:
#     - postfix, installed as a package (its services never start: the tests run their own
#       instances with postfix -c DIR);
#     - exim4-daemon-light and exim4-base unpacked into /opt/tlspolicy-test/exim, as
#       tools/install-deps.sh does on the host (the two packages conflict), with the libraries
#       Exim needs and the user Debian-exim;
#     - tlspolicy's build dependencies, so that the tree builds and its unit tests run with the
#       suite's compiler and libraries.
#   A chroot shares the host's network (and the caller's network namespace), so the MTAs in it
#   reach the test world and tlspolicy's sockets when the caller bind-mounts them in.
#   With --systemd: a fresh Debian system to boot with systemd-nspawn (systemd, dbus, man-db
#   and nothing of tlspolicy's), for the package test (tests/package/run), in SUITE-systemd.
#   The package test works on a copy; the cached one stays fresh.
#   The chroot lives in $TLSPOLICY_CHROOT_DIR/SUITE (default /var/cache/tlspolicy-test/chroots):
#   outside the checkout, so every clone on a machine shares it. Its stamp file records the
#   suite and this script's package lists. The mirror is not pinned, so a chroot is rebuilt
#   when the lists change or when it is older than TLSPOLICY_CHROOT_MAX_DAYS (default 30), and
#   kept otherwise.
# EXIT STATUS
#   0 and the directory on stdout; 1 when the chroot cannot be built (mirror unreachable,
#   mmdebstrap failed: the message says which), 64 on a usage error. Root only.
set -euo pipefail

usage() { echo "usage: $0 trixie|forky | --systemd bookworm|trixie" >&2; exit 64; }
flavor=mta
if [ "${1:-}" = --systemd ]; then
  flavor=systemd
  shift
fi
[ $# = 1 ] || usage
suite="$1"
case "$flavor:$suite" in mta:trixie | mta:forky | systemd:bookworm | systemd:trixie) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "debian-chroot: run as root (mmdebstrap, chroot)" >&2; exit 1; }

mirror="http://deb.debian.org/debian"
cache="${TLSPOLICY_CHROOT_DIR:-/var/cache/tlspolicy-test/chroots}"
max_days="${TLSPOLICY_CHROOT_MAX_DAYS:-30}"
dir="$cache/$suite"
exim_dir=/opt/tlspolicy-test/exim
[ "$flavor" = mta ] || dir="$cache/$suite-$flavor"

mta_packages=(
  # the MTAs' side: Postfix (with libtlsrpt on >= 3.10), a CA store, tools the suites call
  postfix ca-certificates openssl procps iproute2 passwd
  # tlspolicy's build dependencies (tools/install-deps.sh has the Debian 12 list)
  build-essential cmake pkg-config libldns-dev libunbound-dev libcurl4-openssl-dev libssl-dev
  libsqlite3-dev zlib1g-dev libpq-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libidn2-dev libtomlplusplus-dev libcli11-dev dns-root-data go-md2man man-db python3
)
# A system that boots (systemd as PID 1 under systemd-nspawn) and reads manual pages.
systemd_packages=(systemd systemd-sysv dbus man-db)
if [ "$flavor" = mta ]; then
  packages=("${mta_packages[@]}")
  stamp_text="suite=$suite packages=${packages[*]} exim=$exim_dir v1"
else
  packages=("${systemd_packages[@]}")
  stamp_text="suite=$suite flavor=$flavor packages=${packages[*]} v1"
fi

fresh() {
  [ -f "$dir/.tlspolicy-chroot" ] || return 1
  [ "$(cat "$dir/.tlspolicy-chroot")" = "$stamp_text" ] || return 1
  [ -z "$(find "$dir/.tlspolicy-chroot" -mtime "+$max_days")" ] || return 1
  if [ "$flavor" = mta ]; then
    [ -x "$dir$exim_dir/usr/sbin/exim4" ] && [ -x "$dir/usr/sbin/postfix" ]
  else
    [ -x "$dir/lib/systemd/systemd" ] && [ -x "$dir/usr/bin/man" ]
  fi
}
if fresh; then
  echo "$dir"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null; then
  echo "debian-chroot: mmdebstrap is missing (tools/install-deps.sh installs it)" >&2
  exit 1
fi
if ! curl -fsS -o /dev/null --max-time 30 "$mirror/dists/$suite/InRelease"; then
  echo "debian-chroot: cannot reach $mirror ($suite): the $suite chroot cannot be built" >&2
  exit 1
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.$suite.XXXXXX")"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
echo "debian-chroot: building the $suite chroot in $dir (mmdebstrap, $mirror)" >&2

# Run inside the finished chroot (a customize hook): Exim unpacked beside Postfix, the
# libraries it depends on, and its user.
cat >"$tmp/exim-hook.sh" <<HOOK
set -e
cd /tmp
apt-get download -qq -o APT::Sandbox::User=root exim4-daemon-light exim4-base
libs="\$(apt-cache depends --no-recommends --no-suggests exim4-daemon-light |
  awk '/^  Depends: lib/ { print \$2 }' | sort -u)"
apt-get install -y -qq --no-install-recommends \$libs
mkdir -p $exim_dir
for deb in exim4-daemon-light_*.deb exim4-base_*.deb; do dpkg-deb -x "\$deb" $exim_dir; done
rm -f ./*.deb
find $exim_dir -type f -perm /6000 -exec chmod ug-s {} +
getent passwd Debian-exim >/dev/null ||
  useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin Debian-exim
apt-get clean
HOOK

hooks=()
if [ "$flavor" = mta ]; then
  hooks=(--customize-hook="upload $tmp/exim-hook.sh /tmp/exim-hook.sh"
    --customize-hook='chroot "$1" sh /tmp/exim-hook.sh'
    --customize-hook='rm -f "$1/tmp/exim-hook.sh"')
fi
# Acquire::Check-Valid-Until: testing's Release file is valid for a week only, and the mirror a
# machine reaches may be a snapshot older than that (seen: forky's, 30 days past it). The
# signature is still checked.
if ! mmdebstrap --mode=root --variant=apt --format=directory \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  "${hooks[@]}" \
  "$suite" "$tmp/root" "$mirror" >"$tmp/mmdebstrap.log" 2>&1; then
  tail -40 "$tmp/mmdebstrap.log" >&2
  echo "debian-chroot: mmdebstrap failed for $suite (log above)" >&2
  exit 1
fi
if [ "$flavor" = systemd ]; then
  echo "$stamp_text" >"$tmp/root/.tlspolicy-chroot"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  echo "debian-chroot: $suite ready to boot: $(chroot "$dir" systemctl --version | head -1)" >&2
  echo "$dir"
  exit 0
fi
# exim -bV exits 1 without /etc/exim4 but still prints its version: it runs.
exim_out="$(chroot "$tmp/root" "$exim_dir/usr/sbin/exim4" -bV 2>&1 || true)"
if ! grep -q '^Exim version' <<<"$exim_out"; then
  echo "$exim_out" >&2
  echo "debian-chroot: the unpacked Exim does not run in the $suite chroot" >&2
  exit 1
fi
echo "$stamp_text" >"$tmp/root/.tlspolicy-chroot"
rm -rf "$dir"
mv "$tmp/root" "$dir"
echo "debian-chroot: $suite ready: Postfix $(chroot "$dir" postconf -dh mail_version 2>/dev/null)," \
  "$(sed -n 's/^Exim version \([^ ]*\).*/Exim \1/p' <<<"$exim_out")" >&2
echo "$dir"
