#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...]
#   Build the fuzz preset (clang + libFuzzer + ASan/UBSan) and fuzz one target
#   in one process, e.g. `tools/fuzz.sh sts_policy 300`. The seeds are
#   tests/fuzz/corpus/TARGET (read only); new inputs go to BUILD/corpus/TARGET,
#   crashers to BUILD/artifacts/, the log to BUILD/logs/TARGET.log. The
#   dictionary tests/fuzz/dict/TARGET.dict is used when it exists, and
#   -max_len is set per format (below); extra options go to libFuzzer as is
#   (a later -max_len=N wins).
# tools/fuzz.sh --merge TARGET [MAX]
#   Add to tests/fuzz/corpus/TARGET the inputs of BUILD/corpus/TARGET that
#   reach edges the seeds do not (-merge=1 -use_counters=0: new hit counts
#   alone do not count), at most MAX (default 30) of them: when more qualify,
#   the ones that add the most edges, chosen greedily from each input's own
#   edge set (-merge_control_file). New files are named by their SHA-1;
#   review them before committing.
# BUILD is build/fuzz, or $TLSPOLICY_FUZZ_BUILD_DIR. Add minimised crashers to
# tests/fuzz/corpus/TARGET/ together with the fix (docs/testing.md, Fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [ "${1:-}" = "--merge" ]; then
  merge=1
  shift
fi
target=${1:?usage: tools/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...] | --merge TARGET [MAX]}
shift
seconds=60
max_new=30
if [ $# -gt 0 ]; then
  if [ "$merge" -eq 0 ]; then seconds=$1; else max_new=$1; fi
  shift
fi
build=${TLSPOLICY_FUZZ_BUILD_DIR:-build/fuzz}
seeds=tests/fuzz/corpus/${target}
[ -f "tests/fuzz/fuzz_${target}.cpp" ] || {
  echo "fuzz.sh: no target tests/fuzz/fuzz_${target}.cpp" >&2
  exit 64
}

# The largest input worth trying, per format: the protocol's own limit or a
# little above it (so the limit checks are reached), not libFuzzer's guess
# from the seeds.
case "$target" in
  domain_name) max_len=600 ;;                      # 253 + dots, U-labels up to 4x longer
  sts_txt | tlsrpt_record) max_len=1024 ;;         # one TXT record, several strings
  tlsa_rdata) max_len=512 ;;                       # a few rdata cut at 0xff
  netstring) max_len=20100 ;;                      # two netstrings of the 10000-byte limit
  socketmap_request) max_len=1200 ;;               # "name key" with a long key
  sts_policy) max_len=4096 ;;                      # bodies with many mx lines
  json_request | json_response) max_len=4096 ;;    # one JSON line
  dns_reply) max_len=2048 ;;                       # a UDP reply (EDNS 1232) with room to spare
  tlsrpt_datagram) max_len=8192 ;;                 # a datagram with details
  config) max_len=8192 ;;                          # a full config file
  *) max_len=4096 ;;
esac

cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" --target "fuzz_${target}" -j "${TLSPOLICY_JOBS:-1}"
bin=${build}/tests/fuzz/fuzz_${target}
mkdir -p "${build}/corpus/${target}" "${build}/artifacts" "${build}/logs"

dict=()
if [ -f "tests/fuzz/dict/${target}.dict" ]; then
  dict=(-dict="tests/fuzz/dict/${target}.dict")
fi

if [ "$merge" -eq 1 ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  merge_into() {  # merge_into OUT CONTROL_FILE DIR...: -merge=1 on edges only, quietly
    local out=$1 control=$2
    shift 2
    "$bin" -merge=1 -use_counters=0 -max_len="$max_len" ${control:+-merge_control_file="$control"} \
      "$out" "$@" >"$work/merge.log" 2>&1 || { cat "$work/merge.log" >&2; return 1; }
  }
  # Candidates: what a plain merge into a copy of the seeds would add.
  mkdir -p "$work/base" "$work/cand" "$seeds"
  find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/base/" \;
  merge_into "$work/base" "" "${build}/corpus/${target}"
  for f in "$work"/base/*; do
    [ -e "$seeds/$(basename "$f")" ] || mv "$f" "$work/cand/"
  done
  # Each input's own edges: a control file's COV lines list only the edges not
  # seen earlier in the same run, so each candidate gets a run of its own.
  mkdir "$work/out"
  merge_into "$work/out" "$work/seeds.ctl" "$seeds"
  : >"$work/cand.cov"
  for f in "$work"/cand/*; do
    [ -e "$f" ] || continue
    rm -rf "$work/out" "$work/one" "$work/one.ctl"
    mkdir "$work/out" "$work/one"
    cp "$f" "$work/one/"
    merge_into "$work/out" "$work/one.ctl" "$work/one"
    echo "$(basename "$f") $(sed -n 's/^COV 0 //p' "$work/one.ctl")" >>"$work/cand.cov"
  done
  python3 - "$work" "$seeds" "$max_new" <<'PY'
import os, shutil, sys
work, seeds, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
covered = set()
for line in open(f"{work}/seeds.ctl"):
    p = line.split()
    if p and p[0] == "COV":
        covered |= set(p[2:])
start = set(covered)
cands = {p[0]: set(p[1:]) for p in (l.split() for l in open(f"{work}/cand.cov")) if p}
new_edges = set().union(*cands.values()) - covered if cands else set()
chosen = []
while cands and len(chosen) < limit:
    name = max(cands, key=lambda n: (len(cands[n] - covered), -os.path.getsize(f"{work}/cand/{n}")))
    if not cands[name] - covered:
        break
    covered |= cands.pop(name)
    chosen.append(name)
    shutil.copy(f"{work}/cand/{name}", f"{seeds}/{name}")
print(f"fuzz.sh: {seeds}: +{len(chosen)} files, {len(covered - start)} of {len(new_edges)} new edges")
PY
  exit 0
fi

"$bin" -max_total_time="$seconds" -max_len="$max_len" "${dict[@]}" -print_final_stats=1 \
  -artifact_prefix="${build}/artifacts/" "$@" "${build}/corpus/${target}" "$seeds" 2>&1 |
  tee "${build}/logs/${target}.log"
