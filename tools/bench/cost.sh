#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   tools/bench/cost.sh - what one cached request costs a server: system calls and allocations
# SYNOPSIS
#   tools/bench/cost.sh LOADGEN PID ENDPOINT REQUEST REQUESTS CONNECTIONS
# DESCRIPTION
#   Sends REQUESTS requests (REQUEST, closed loop, CONNECTIONS persistent connections) to the
#   server PID listening on ENDPOINT with the bench's load generator, while `perf stat` counts,
#   in that process only, the system calls it enters (tracepoint raw_syscalls:sys_enter) and
#   its calls of malloc (a uprobe on libc's malloc). Prints one JSON object: requests,
#   syscalls_per_request, mallocs_per_request. Software events only: this machine's perf has
#   no hardware counters (instructions are counted with callgrind, docs/performance.md).
#   Used by tools/bench/run.sh for the floor and for tlspolicy; the uprobe is removed again.
# LIMITS
#   Root (perf, uprobes). Exit 1 when perf or the load generator fails.
set -euo pipefail

[ $# = 6 ] || { echo "usage: $0 LOADGEN PID ENDPOINT REQUEST REQUESTS CONNECTIONS" >&2; exit 64; }
loadgen="$1" pid="$2" endpoint="$3" request="$4" requests="$5" connections="$6"
libc="$(awk '$NF ~ /\/libc\.so\.6$/ { print $NF; exit }' "/proc/$pid/maps")"
[ -n "$libc" ] || { echo "cost: no libc in /proc/$pid/maps" >&2; exit 1; }

probe="tlspolicy_bench_malloc"
perf probe -q -d "probe_libc:$probe" >/dev/null 2>&1 || true
perf probe -q -x "$libc" "$probe=malloc" >/dev/null 2>&1 ||
  { echo "cost: perf probe on $libc malloc failed" >&2; exit 1; }
trap 'perf probe -q -d "probe_libc:$probe" >/dev/null 2>&1 || true' EXIT

out="$(mktemp)"
perf stat -x, -e raw_syscalls:sys_enter -e "probe_libc:$probe" -p "$pid" -o "$out" &
perf_pid=$!
sleep 0.3  # perf attached
"$loadgen" --connect "$endpoint" --connections "$connections" --request "$request" \
  --requests "$requests" --seconds 60 >/dev/null || { kill -INT "$perf_pid"; exit 1; }
kill -INT "$perf_pid"
wait "$perf_pid" || true
python3 - "$out" "$requests" <<'EOF'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2]] = float(f[0])
n = int(sys.argv[2])
sys_ = next((v for k, v in counts.items() if "sys_enter" in k), None)
mal = next((v for k, v in counts.items() if "malloc" in k), None)
if sys_ is None or mal is None:
    raise SystemExit(f"cost: perf counted nothing: {counts}")
print(json.dumps({"requests": n, "syscalls_per_request": round(sys_ / n, 3),
                  "mallocs_per_request": round(mal / n, 3)}))
EOF
rm -f "$out"
