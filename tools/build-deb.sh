#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   tools/build-deb.sh - build tlspolicy's Debian package from this tree
# SYNOPSIS
#   tools/build-deb.sh [--out DIR]
# DESCRIPTION
#   Copies the tree (the files git knows, committed or not) to a scratch directory, puts the
#   packaging of tools/debian/ there as debian/ (the top level of the repository has none),
#   writes debian/changelog for this version and runs dpkg-buildpackage (debhelper, the cmake
#   build system: the package holds exactly what `cmake --install` installs). The version is
#   the project version of CMakeLists.txt with the commit, as `tlspolicy version` prints it
#   (tools/cmake/Version.cmake), e.g. 0.1.0+g8cdc21b: a native package.
#   The .deb lands in DIR (default build/deb); its path is printed on stdout.
#   tests/package/run checks it (install, units, removal, lintian).
# EXIT STATUS
#   0 built; 1 the build failed (dpkg-buildpackage's log says why); 64 usage.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    *) echo "usage: $0 [--out DIR]" >&2; exit 64 ;;
  esac
done
for tool in dpkg-buildpackage dh git; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (tools/install-deps.sh)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT

project_version="$(sed -n 's/^project(tlspolicy VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
[ -n "$project_version" ] || { echo "build-deb: no project version in CMakeLists.txt" >&2; exit 1; }
echo '@TLSPOLICY_VERSION_STRING@' >"$work/version.in"
cmake -DVERSION="$project_version" -DSOURCE_DIR="$root" -DTEMPLATE="$work/version.in" \
  -DOUTPUT="$work/version.txt" -P "$root/tools/cmake/Version.cmake"
version="$(cat "$work/version.txt")"

src="$work/tlspolicy-$version"
mkdir -p "$src"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  (cd "$root" && tar --null -T - -cf - --ignore-failed-read) | tar -xf - -C "$src"
echo "$version" >"$src/.tlspolicy-version"  # Version.cmake reads it where there is no .git
cp -r "$root/tools/debian" "$src/debian"
# The date of the commit, so the same tree builds the same package.
date="$(git -C "$root" log -1 --format=%aD 2>/dev/null || date -R)"
cat >"$src/debian/changelog" <<CHANGELOG
tlspolicy ($version) unstable; urgency=medium

  * Built from the tlspolicy tree (tools/build-deb.sh).

 -- tlspolicy developers <tlspolicy-devel@lists.tlspolicy.org>  $date
CHANGELOG

echo "build-deb: building tlspolicy $version in $src" >&2
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=${TLSPOLICY_JOBS:-2} nocheck" \
  dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
  tail -60 "$work/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed (log above)" >&2
  exit 1
fi
mkdir -p "$out"
rm -f "$out"/tlspolicy_*.deb "$out"/tlspolicy-dbgsym_*
cp "$work"/tlspolicy_"$version"_*.deb "$out/"
cp "$work"/tlspolicy-dbgsym_"$version"_* "$out/" 2>/dev/null || true
cp "$work/build.log" "$out/build.log"
ls "$out"/tlspolicy_"$version"_*.deb
