#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   tools/chroot-build.sh - build tlspolicy and run its unit tests in a newer Debian
# SYNOPSIS
#   tools/chroot-build.sh SUITE
# DESCRIPTION
#   Builds the checkout with SUITE's compiler and libraries (trixie: GCC 14; forky: GCC 16)
#   inside the chroot of tools/debian-chroot.sh, warnings as errors like the ci preset, into
#   build/chroot-SUITE, then runs the unit tests and fuzz-corpus replays there. The checkout is
#   bind-mounted at /src in a mount namespace of its own (nothing is mounted for anyone else,
#   and nothing is left mounted afterwards).
# EXIT STATUS
#   0 when the build and every unit test passed; 1 otherwise; 64 on a usage error. Root only.
set -euo pipefail

[ $# = 1 ] || { echo "usage: $0 trixie|forky" >&2; exit 64; }
suite="$1"
cd "$(dirname "$0")/.."
root="$(tools/debian-chroot.sh "$suite")"
jobs="${TLSPOLICY_JOBS:-2}"

# shellcheck disable=SC2016  # expanded by the inner shell
exec unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  root="$1" suite="$2" jobs="$3"
  mkdir -p "$root/src"
  mount --bind "$PWD" "$root/src"
  mount --bind /proc "$root/proc"
  mount --bind /dev "$root/dev"
  chroot "$root" bash -c "
    set -euo pipefail
    cd /src
    echo \"chroot-build: \$(. /etc/os-release && echo \$PRETTY_NAME), \$(g++ --version | head -1)\"
    cmake -S . -B build/chroot-$suite -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTLSPOLICY_WERROR=ON \
      >/dev/null
    cmake --build build/chroot-$suite -j $jobs
    ctest --test-dir build/chroot-$suite -L \"unit|fuzz\" -j $jobs --output-on-failure
  "
' - "$root" "$suite" "$jobs"
