#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   tools/bench/run.sh - the performance benchmark of SPEC §5 (docs/performance.md)
# SYNOPSIS
#   tools/bench/run.sh [--quick] [--keep] [--build-dir DIR] [--no-build]
#                      [--only cached|fleet|network]
# DESCRIPTION
#   Builds the release preset (tlspolicy) and the bench tools (tlspolicy-loadgen,
#   tlspolicy-floor), starts the integration test world (tests/integration/lib.sh) plus a
#   bench Unbound and a bench nginx on a private loopback address, then measures the floor
#   (Unix socket and loopback TCP), tlspolicy (Unix socket) and postfix-mta-sts-resolver
#   (loopback TCP, Debian package) with the same load generator:
#     - cached socketmap answers at 32 and 256 persistent connections (qps, p50/p99/max);
#     - 1 000 cold lookups of distinct domains, 64 in flight (total time, concurrency);
#     - RSS with 100 000 policies in the daemon's own store, and start-up time with it;
#     - system calls and allocations per cached request, tlspolicy and the floor
#       (tools/bench/cost.sh: perf, software events);
#     - a fleet (tools/bench/fleet.sh): three tlspolicy nodes sharing one PostgreSQL
#       (tests/integration/pg.sh), 1 000 cold domains spread over them and asked on all three
#       at once (policy fetches counted at the HTTPS server: one per policy for the fleet),
#       cached throughput of one node, one TLS-RPT report per domain and day when two nodes
#       send at once; three postfix-mta-sts-resolver instances with their own SQLite caches
#       beside them;
#     - the far-away internet (tools/bench/network.sh): 0, 50 and 150 ms round trips to the
#       authoritative DNS and HTTPS servers; one cold domain, 1 000 at once, and 1 000 with
#       100 hostile domains mixed in, for tlspolicy in both resolver modes and for
#       postfix-mta-sts-resolver; the memory of one pending decision.
#   Everything runs inside a network namespace of its own (only its loopback; the delays are
#   iptables rules there), which the script creates and deletes.
#   Prints Markdown tables and PASS/FAIL for each SPEC §5 bar, writes both to
#   build/bench/results.md (raw figures: build/bench/results.jsonl), stops everything.
#   Exit 0 when every bar passed, 1 when one failed or a measurement was invalid, 64 on a
#   usage error, 77 when a prerequisite is missing (tools/install-deps.sh installs them).
# OPTIONS
#   --quick          throughput: median of 3 rounds of 1.5 s instead of 5 rounds of 4 s
#                    (the rest is the same)
#   --keep           keep the work directory (logs, configs, stores) and print its path
#   --build-dir DIR  build there instead of the release preset's build/release
#   --no-build       use the binaries already in the build directory
#   --only PART      cached (throughput, cold, RSS, start-up), fleet or network; default all
#                    three, in that order
# ENVIRONMENT
#   BENCH_JOBS       build parallelism (default 2)
#   BENCH_WRAP       command prefix for tlspolicy serve, for profiling (e.g. "valgrind
#                    --tool=massif --massif-out-file=/tmp/massif.out"); the figures are then
#                    not comparable
#   BENCH_RTTS       the round-trip times of the network part (default "0 50 150", ms)
#   BENCH_ENGINES    the engines of the network part (default "trust-ad validate resolver")
#   BENCH_HOLD=MS    for experiments: set the world up at that RTT, measure nothing, wait until
#                    the file named in the log is removed (enter with ip netns exec)
# LIMITS
#   Root (private mount namespaces for /etc/resolv.conf, port 53 and 443 on a private
#   loopback address). The fleet part needs PostgreSQL's server (Debian: postgresql), psql
#   and faketime. Every process listens on and talks to 127.0.0.0/8 only; every step
#   is bounded in time; every process started is stopped by its pid on exit, failure or
#   signal.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_SRC="$REPO_DIR/tools/bench"
LIB="$REPO_DIR/tests/integration/lib.sh"

QUICK=0 KEEP=0 BUILD=1 BUILD_DIR="" ONLY=""
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only)
      ONLY="${2:-}"
      case "$ONLY" in cached | fleet | network) ;; *) echo "bench: --only cached|fleet|network" >&2; exit 64 ;; esac
      shift
      ;;
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    --build-dir) BUILD_DIR="${2:?--build-dir needs a directory}"; shift ;;
    -h | --help) sed -n '3,58p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--quick] [--keep] [--build-dir DIR] [--no-build] [--only cached|fleet|network]" >&2; exit 64 ;;
  esac
  shift
done

# --- parameters ----------------------------------------------------------------------------------
# Throughput: ROUNDS rounds per server and connection count, servers alternating; the median
# round counts.
THROUGHPUT_S=4 WARMUP_S=1 ROUNDS=5
[ "$QUICK" = 1 ] && THROUGHPUT_S=1.5 WARMUP_S=0.5 ROUNDS=3
COLD_DOMAINS=1000 COLD_IN_FLIGHT=64 COLD_LIMIT_S=120
STORE_POLICIES=100000
HOT=hot.bench.unsigned.test  # the cached domain
ZONE=unsigned.test           # the world's unsigned zone; bench names live under bench.$ZONE
REQUEST="postfix $HOT"       # map name "postfix": both daemons answer any map name
EXPECT="OK secure match="

blog() { printf 'bench: %s\n' "$*" >&2; }
bdie() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || { echo "bench: needs root (mount namespaces, ports 53/443)" >&2; exit 77; }
for p in unshare mount nginx unbound unbound-control nsd openssl sqlite3 drill curl python3 \
  mta-sts-daemon cmake ip iptables; do
  command -v "$p" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
  command -v "$p" >/dev/null 2>&1 ||
    { echo "bench: $p is missing (tools/install-deps.sh installs it)" >&2; exit 77; }
done
if [ -z "$ONLY" ] || [ "$ONLY" = fleet ]; then  # the fleet part: tools/bench/fleet.sh
  for p in psql faketime runuser; do
    command -v "$p" >/dev/null 2>&1 ||
      { echo "bench: $p is missing (tools/install-deps.sh installs it)" >&2; exit 77; }
  done
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || [ -n "${PG_BIN:-}" ] ||
    { echo "bench: PostgreSQL's server is missing (tools/install-deps.sh installs it)" >&2; exit 77; }
fi

# --- a network namespace of our own ---------------------------------------------------------------
# Everything below runs in it: its loopback is the only interface, and the delays of the network
# part are iptables rules there, never on the host's own interfaces. The namespace and anything
# left in it are removed when the run ends.
if [ -z "${TLSPOLICY_BENCH_NETNS:-}" ]; then
  ns="tlspolicy-bench-$$"
  ip netns add "$ns" || { echo "bench: cannot create a network namespace" >&2; exit 77; }
  ip -n "$ns" link set lo up
  rc=0
  TLSPOLICY_BENCH_NETNS="$ns" ip netns exec "$ns" "$0" "${ARGS[@]}" || rc=$?
  left="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
  # shellcheck disable=SC2086  # a list of pids
  [ -z "${left// /}" ] || { echo "bench: stopping leftover processes $left" >&2; kill -KILL $left 2>/dev/null || true; }
  ip netns del "$ns"
  exit "$rc"
fi

# --- build ---------------------------------------------------------------------------------------
if [ -z "$BUILD_DIR" ]; then BUILD_DIR="$REPO_DIR/build/release"; fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO_DIR/$BUILD_DIR" ;; esac
if [ "$BUILD" = 1 ]; then
  blog "building the release preset in $BUILD_DIR"
  (cd "$REPO_DIR" && cmake --preset release -B "$BUILD_DIR" >/dev/null &&
    cmake --build "$BUILD_DIR" --parallel "${BENCH_JOBS:-2}" \
      --target tlspolicy tlspolicy-loadgen tlspolicy-floor tlspolicy-delayer >/dev/null) ||
    bdie "build failed"
fi
TLSPOLICY="$BUILD_DIR/src/cli/tlspolicy"
LOADGEN="$BUILD_DIR/tools/bench/tlspolicy-loadgen"
FLOOR="$BUILD_DIR/tools/bench/tlspolicy-floor"
DELAYER="$BUILD_DIR/tools/bench/tlspolicy-delayer"
for b in "$TLSPOLICY" "$LOADGEN" "$FLOOR" "$DELAYER"; do [ -x "$b" ] || bdie "$b is not built"; done
RESULTS_DIR="$REPO_DIR/build/bench"
mkdir -p "$RESULTS_DIR"

# --- processes and clean-up ----------------------------------------------------------------------
B="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-bench.XXXXXX")"
chmod 0755 "$B"
mkdir -p "$B"/{pids,logs,pki,unbound,nginx/tmp,tlspolicy,resolver,world}
RESULTS="$B/results.jsonl"
: >"$RESULTS"
WORLD_UP=0
FLEET_PG_DIR=""  # the fleet part's PostgreSQL (tests/integration/pg.sh), while it runs

# start_bg NAME CMD...: CMD in the background, output to logs/NAME.log, pid to pids/NAME.
start_bg() {
  local name="$1"
  shift
  "$@" </dev/null >>"$B/logs/$name.log" 2>&1 &
  echo "$!" >"$B/pids/$name"
}
pid_of() { cat "$B/pids/$1"; }

# stop_bg NAME: SIGTERM, SIGKILL after 5 s; by pid only.
stop_bg() {
  local f="$B/pids/$1" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 250; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  if kill -0 "$pid" 2>/dev/null; then
    blog "$1 (pid $pid) ignored SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$f"
}

# ours: pids of the processes whose command line names this run's directory.
# shellcheck disable=SC2317  # ours and cleanup are invoked by the EXIT trap
ours() {
  local p out=()
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$B/"; then out+=("${p#/proc/}"); fi
  done
  echo "${out[*]}"
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  for f in "$B"/pids/*; do
    [ -e "$f" ] && stop_bg "$(basename "$f")"
  done
  if [ -n "$FLEET_PG_DIR" ]; then
    "$REPO_DIR/tests/integration/pg.sh" stop "$FLEET_PG_DIR" >/dev/null 2>&1 || true
  fi
  if [ "$WORLD_UP" = 1 ]; then "$LIB" world_stop "$B/world" >/dev/null 2>&1 || true; fi
  # Safety net: anything still running whose command line names this run's directory (a
  # daemon that forked) is ours; stop it by pid.
  local left
  left="$(ours)"
  if [ -n "$left" ]; then
    blog "stopping leftover processes $left"
    # shellcheck disable=SC2086  # a list of pids
    kill -TERM $left 2>/dev/null || true
    sleep 1
    left="$(ours)"
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
    blog "logs and configs kept in $B"
  else
    rm -rf "$B"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port ADDR PORT NAME: until ADDR:PORT accepts TCP (10 s) while NAME's process lives.
wait_port() {
  local i pid
  pid="$(pid_of "$3")"
  for ((i = 0; i < 500; i++)); do
    kill -0 "$pid" 2>/dev/null || bdie "$3 exited (see $B/logs/$3.log)"
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  bdie "$3 does not listen on $1:$2 (see $B/logs/$3.log)"
}

# --- the world, and the bench's own address --------------------------------------------------
blog "starting the integration test world"
WORLD_UP=1
"$LIB" world_start "$B/world" >"$B/logs/world.log" 2>&1 || {
  cat "$B/logs/world.log" >&2
  bdie "world_start failed"
}
# shellcheck source=/dev/null
. "$B/world/env.sh"
# (The world's NSD runs without response rate limiting, tests/integration/env/nsd.conf.in:
# the cold lookups all reach it through one Unbound.)

# A private loopback address with ports 53 (DNS) and 443 (HTTPS) free: postfix-mta-sts-resolver
# asks /etc/resolv.conf's server on port 53 and fetches policies on port 443, with no way to
# configure either. Three free TCP ports on 127.0.0.1 for the TCP listeners.
read -r ADDR FLOOR_TCP_PORT RESOLVER_PORT RESOLVER_MEM_PORT <<<"$(python3 - <<'EOF'
import random, socket
def free(addr, port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((addr, port)); return s
    except OSError:
        s.close(); return None
for _ in range(200):
    a = f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    held = [free(a, 53, socket.SOCK_DGRAM), free(a, 53, socket.SOCK_STREAM),
            free(a, 443, socket.SOCK_STREAM)]
    if all(held):
        break
else:
    raise SystemExit("no free loopback address")
ports = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s); ports.append(s.getsockname()[1])
print(a, *ports)
EOF
)"
blog "bench address $ADDR (DNS :53, HTTPS :443)"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$ADDR" >"$B/resolv.conf"

# --- DNS: 1 000 cold domains + the hot one, in the world's unsigned zone ----------------------
COLD_KEYS="$B/cold-keys.txt"
python3 - "$ADDR" "$COLD_DOMAINS" "$ZONE" "$B/records.zone" "$COLD_KEYS" <<'EOF'
import sys
addr, n, zone, out, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
names = ["hot"] + [f"d{i:04d}" for i in range(n)]
with open(out, "w") as f:
    for name in names:
        d = f"{name}.bench.{zone}."
        f.write(f"{d} 3600 IN MX 10 mx1.{d}\n")
        f.write(f"mx1.{d} 3600 IN A 127.0.0.1\n")
        f.write(f'_mta-sts.{d} 3600 IN TXT "v=STSv1; id={name}id1;"\n')
        f.write(f"mta-sts.{d} 3600 IN A {addr}\n")
with open(keys, "w") as f:
    for name in names[1:]:
        f.write(f"postfix {name}.bench.{zone}\n")
EOF
"$LIB" world_bench_add_records "$ZONE" "$B/records.zone" >>"$B/logs/world.log" 2>&1 ||
  bdie "could not add the bench records to $ZONE (see $B/logs/world.log)"

# --- PKI: leaves from the world CA, 100 policy hosts per certificate ---------------------------
bench_leaf() {  # bench_leaf NAME HOST...: NAME.pem (leaf + CA) and NAME.key in pki/
  local name="$1" san
  shift
  san="$(printf 'DNS:%s,' "$@")"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$B/pki/$name.key" 2>/dev/null
  printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature" \
    "extendedKeyUsage = serverAuth" "subjectAltName = ${san%,}" >"$B/pki/$name.ext"
  openssl req -new -key "$B/pki/$name.key" -subj "/CN=tlspolicy bench $name" \
    -out "$B/pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$B/pki/$name.csr" -CA "$CA_FILE" -CAkey "$WORLD_DIR/pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$B/pki/$name.ext" \
    -out "$B/pki/$name.crt" 2>/dev/null
  cat "$B/pki/$name.crt" "$CA_FILE" >"$B/pki/$name.pem"
}
# Groups: "hot", then the cold domains 100 at a time, then the policy hosts behind CNAME chains
# of the network part (tools/bench/network.sh: kNN.cname).
NET_HOSTILE_EACH=25
mapfile -t ALL_NAMES < <(echo hot; for ((i = 0; i < COLD_DOMAINS; i++)); do printf 'd%04d\n' "$i"; done)
GROUPS_OF_NAMES=("hot")
for ((i = 1; i < ${#ALL_NAMES[@]}; i += 100)); do GROUPS_OF_NAMES+=("${ALL_NAMES[*]:i:100}"); done
GROUPS_OF_NAMES+=("$(for ((i = 0; i < NET_HOSTILE_EACH; i++)); do printf 'k%02d.cname ' "$i"; done)")
SERVERS_CONF="$B/nginx/servers.conf"
: >"$SERVERS_CONF"
for g in "${!GROUPS_OF_NAMES[@]}"; do
  read -r -a group <<<"${GROUPS_OF_NAMES[g]}"
  hosts=()
  for n in "${group[@]}"; do hosts+=("mta-sts.$n.bench.$ZONE"); done
  gname="g$g"
  bench_leaf "$gname" "${hosts[@]}" || bdie "could not make the certificate $gname"
  {
    echo "server {"
    echo "    listen $ADDR:443 ssl;"
    echo "    server_name ${hosts[*]};"
    echo "    ssl_certificate $B/pki/$gname.pem;"
    echo "    ssl_certificate_key $B/pki/$gname.key;"
    echo "    location = /.well-known/mta-sts.txt {"
    # shellcheck disable=SC2028  # the \n are nginx's, not echo's
    echo "        return 200 \"version: STSv1\\nmode: enforce\\nmx: mx1.\$bench_domain\\nmax_age: 86400\\n\";"
    echo "    }"
    echo "    location / { return 404; }"
    echo "}"
  } >>"$SERVERS_CONF"
done

# The slow-drip policy hosts of the network part (rNN.drip: tools/bench/network.sh).
bench_leaf drip $(for ((i = 0; i < NET_HOSTILE_EACH; i++)); do printf 'mta-sts.r%02d.drip.bench.%s ' "$i" "$ZONE"; done) ||
  bdie "could not make the certificate drip"

# --- bench nginx (policy hosts) and bench Unbound (a copy of the world's, on $ADDR:53) --------
cat >"$B/nginx/nginx.conf" <<EOF
# tools/bench/run.sh: the policy hosts of the bench domains, HTTPS on $ADDR:443.
daemon off;
worker_processes 1;
pid $B/nginx/nginx.pid;
error_log $B/nginx/error.log warn;
events { worker_connections 4096; }
http {
    # One line per request; the fetch starts at msec - connection_time for a connection's
    # first request (TCP accept, TLS handshake, request), msec - request_time after that.
    log_format bench '\$msec \$connection_time \$request_time \$connection_requests \$status \$host';
    access_log $B/nginx/access.log bench;
    client_body_temp_path $B/nginx/tmp/body;
    proxy_temp_path $B/nginx/tmp/proxy;
    fastcgi_temp_path $B/nginx/tmp/fastcgi;
    uwsgi_temp_path $B/nginx/tmp/uwsgi;
    scgi_temp_path $B/nginx/tmp/scgi;
    types { }
    default_type text/plain;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
    server_names_hash_max_size 8192;
    server_names_hash_bucket_size 128;
    map \$host \$bench_domain {
        ~^mta-sts\\.(?<d>.+)\$ \$d;
        default "";
    }
    include $SERVERS_CONF;
}
EOF
start_bg nginx nginx -e "$B/nginx/error.log" -p "$B/nginx/" -c "$B/nginx/nginx.conf"

sed -e "s|^\([[:space:]]*\)interface:.*|\1interface: $ADDR|" \
  -e "s|^\([[:space:]]*\)port:.*|\1port: 53|" \
  -e "s|\"$WORLD_DIR/unbound|\"$B/unbound|g" \
  "$WORLD_DIR/unbound/unbound.conf" >"$B/unbound/unbound.conf"
if ! grep -q "interface: $ADDR" "$B/unbound/unbound.conf" ||
  ! grep -q "port: 53$" "$B/unbound/unbound.conf"; then
  bdie "could not derive the bench unbound.conf from $WORLD_DIR/unbound/unbound.conf"
fi
# Sized like a mail server's resolver: thousands of lookups at once (1 100 cold domains,
# several queries each), none dropped for want of room. All of them come from one address
# (the MTA's): Unbound's wait-limit (1000 queries waiting per client address, in Unbound 1.22
# and in Debian 12's 1.17.1 with the 2024 security fixes) would drop the rest
# (docs/operations.md).
sed -i -e 's|^server:$|server:\n    num-queries-per-thread: 8192\n    outgoing-range: 16384\n    so-rcvbuf: 8m\n    wait-limit: 0|' \
  "$B/unbound/unbound.conf"
start_bg unbound unbound -d -c "$B/unbound/unbound.conf"
bench_unbound_ctl() { unbound-control -c "$B/unbound/unbound.conf" "$@"; }

wait_port "$ADDR" 443 nginx
wait_port "$ADDR" 53 unbound

# Sanity: DNS through the bench Unbound, HTTPS with the world CA.
want_txt="v=STSv1; id=hotid1;"
drill -p 53 @"$ADDR" "_mta-sts.$HOT" TXT 2>/dev/null | grep -q "$want_txt" ||
  bdie "the bench Unbound does not answer _mta-sts.$HOT TXT (see $B/unbound/unbound.log)"
drill -p 53 @"$ADDR" "mta-sts.d0000.bench.$ZONE" A 2>/dev/null | grep -q "$ADDR" ||
  bdie "the bench Unbound does not answer mta-sts.d0000.bench.$ZONE A"
for h in "$HOT" "d0000.bench.$ZONE" "d$(printf %04d $((COLD_DOMAINS - 1))).bench.$ZONE"; do
  body="$(curl -sS --max-time 5 --cacert "$CA_FILE" --resolve "mta-sts.$h:443:$ADDR" \
    "https://mta-sts.$h/.well-known/mta-sts.txt")" || bdie "nginx does not serve mta-sts.$h"
  grep -q "^mx: mx1.$h$" <<<"$body" || bdie "unexpected policy from mta-sts.$h: $body"
done
: >"$B/nginx/access.log"  # the sanity fetches are not part of any measurement

# --- the daemons' configurations and stores ----------------------------------------------------
NOW="$(date +%s)"
# tlspolicy_config DIR [STORE_URL NODE [TLSRPT_LINE...]]: tlspolicy's bench configuration, with
# its state, store and sockets in DIR; with STORE_URL and NODE, a fleet node (store.url,
# fleet.node: the fleet part, tools/bench/fleet.sh), TLSRPT_LINEs added to [tlsrpt]. The TLS-RPT
# datagram socket is in DIR too, not in /run.
tlspolicy_config() {
  local dir="$1" url="${2:-}" node="${3:-}"
  shift $(($# < 3 ? $# : 3))
  cat <<EOF
# tools/bench/run.sh: tlspolicy on the bench world. Everything else keeps its default
# (resolver timeouts, worker pool, tlsrpt.enabled = true, log.level = info).
state_dir = "$dir/state"

[resolver]
mode = "trust-ad"
servers = ["$ADDR"]

[mta_sts]
ca_file = "$CA_FILE"
allow_private_addresses = true

[store]
path = "$dir/policies.sqlite"
EOF
  [ -z "$url" ] || printf 'url = "%s"\n' "$url"
  cat <<EOF

[server]
socketmap = "unix:$dir/socketmap.sock"
json = "unix:$dir/tlspolicy.sock"
admin = "unix:$dir/admin.sock"

[tlsrpt]
socket = "unix:$dir/tlsrpt.sock"
EOF
  [ $# = 0 ] || printf '%s\n' "$@"
  [ -z "$node" ] || printf '\n[fleet]\nnode = "%s"\n' "$node"
}
tlspolicy_config "$B/tlspolicy" >"$B/tlspolicy/tlspolicy.toml"
"$TLSPOLICY" check-config --config "$B/tlspolicy/tlspolicy.toml" >"$B/logs/check-config.log" 2>&1 ||
  bdie "tlspolicy check-config failed (see $B/logs/check-config.log)"

# postfix-mta-sts-resolver's mta-sts-daemon on the bench world, as its Debian package configures
# it (/etc/mta-sts-daemon.yml: an SQLite cache), the rest its defaults (cache_grace 60 s, a
# 4 s timeout, uvloop). The second instance has the package's built-in default cache instead,
# an in-memory LRU of 10 000 entries that starts empty: its best case for cached answers
# (throughput only).
resolver_config() {  # resolver_config PORT CACHE_LINES...
  local port="$1"
  shift
  echo "# tools/bench/run.sh: mta-sts-daemon (postfix-mta-sts-resolver) on the bench world."
  echo "host: 127.0.0.1"
  echo "port: $port"
  printf '%s\n' "$@"
  printf '%s\n' "default_zone:" "  strict_testing: false" "  timeout: 4"
}
resolver_config "$RESOLVER_PORT" "cache:" "  type: sqlite" "  options:" \
  "    filename: \"$B/resolver/cache.db\"" >"$B/resolver/mta-sts-daemon.yml"
resolver_config "$RESOLVER_MEM_PORT" "cache:" "  type: internal" \
  >"$B/resolver/mta-sts-daemon-internal.yml"

# Store rows: $STORE_POLICIES distinct domains, s000001... and the hot domain (its real id
# and policy), so that the start-up probe for $HOT is answered from the store.
blog "writing $STORE_POLICIES policies into each daemon's store"
# tlspolicy creates and migrates its own store (policy-cache/schema/schema.sql) when it starts:
# start it once, stop it, then add the rows.
start_bg store-init "$TLSPOLICY" serve --config "$B/tlspolicy/tlspolicy.toml"
for ((i = 0; i < 500; i++)); do
  [ -S "$B/tlspolicy/socketmap.sock" ] && break
  kill -0 "$(pid_of store-init)" 2>/dev/null || break
  sleep 0.02
done
stop_bg store-init
[ -s "$B/tlspolicy/policies.sqlite" ] ||
  bdie "tlspolicy did not create its store (see $B/logs/store-init.log)"
sqlite3 "$B/tlspolicy/policies.sqlite" <<EOF || bdie "could not fill tlspolicy's store"
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STORE_POLICIES - 1)
INSERT INTO policies (domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at)
SELECT printf('s%06d.store.bench.$ZONE', i), printf('s%06did1', i),
       printf('version: STSv1' || char(10) || 'mode: enforce' || char(10) ||
              'mx: mx1.s%06d.store.bench.$ZONE' || char(10) || 'max_age: 86400' || char(10), i),
       'enforce', 86400, printf('mx1.s%06d.store.bench.$ZONE', i), $NOW, $NOW + 86400
FROM n;
INSERT INTO policies (domain, id, policy_text, mode, max_age, mx, fetched_at, expires_at)
VALUES ('$HOT', 'hotid1',
        'version: STSv1' || char(10) || 'mode: enforce' || char(10) || 'mx: mx1.$HOT' ||
        char(10) || 'max_age: 86400' || char(10),
        'enforce', 86400, 'mx1.$HOT', $NOW, $NOW + 86400);
COMMIT;
EOF
# postfix-mta-sts-resolver's schema: postfix_mta_sts_resolver/sqlite_cache.py (1.1.2).
sqlite3 "$B/resolver/cache.db" <<EOF || bdie "could not fill postfix-mta-sts-resolver's cache"
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS proactive_fetch_ts (id integer primary key, last_fetch_ts integer);
CREATE TABLE IF NOT EXISTS sts_policy_cache (domain text, ts integer, pol_id text, pol_body text);
CREATE UNIQUE INDEX IF NOT EXISTS sts_policy_domain ON sts_policy_cache (domain);
CREATE INDEX IF NOT EXISTS sts_policy_domain_ts ON sts_policy_cache (domain, ts);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $STORE_POLICIES - 1)
INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body)
SELECT printf('s%06d.store.bench.$ZONE', i), $NOW, printf('s%06did1', i),
       printf('{"version": "STSv1", "mode": "enforce", "mx": ["mx1.s%06d.store.bench.$ZONE"], "max_age": 86400}', i)
FROM n;
INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body)
VALUES ('$HOT', $NOW, 'hotid1',
        '{"version": "STSv1", "mode": "enforce", "mx": ["mx1.$HOT"], "max_age": 86400}');
COMMIT;
EOF
[ "$(sqlite3 "$B/tlspolicy/policies.sqlite" 'SELECT count(*) FROM policies')" = "$STORE_POLICIES" ] ||
  bdie "tlspolicy's store does not hold $STORE_POLICIES policies"
[ "$(sqlite3 "$B/resolver/cache.db" 'SELECT count(*) FROM sts_policy_cache')" = "$STORE_POLICIES" ] ||
  bdie "postfix-mta-sts-resolver's cache does not hold $STORE_POLICIES policies"

# --- measuring ----------------------------------------------------------------------------------
# "${IN_NS[@]}" CMD...: CMD in a private mount namespace whose /etc/resolv.conf names the bench
# Unbound. A command prefix, not a function: env, unshare and sh each exec the next, so the pid
# start_bg records is the daemon's. No proxy: curl and aiohttp would honour one.
# shellcheck disable=SC2016  # $0 and $@ belong to that sh
IN_NS=(env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY
  unshare -m --propagation private -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
  "$B/resolv.conf")

proc_cpu_s() {  # proc_cpu_s PID: user + system CPU seconds of the process (all threads)
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }  # proc_kb PID VmRSS
now_s() { date +%s.%N; }

# record SERVER SOCKET WHAT JSON [KEY=VALUE...]: one line of results.jsonl.
record() {
  python3 - "$@" >>"$RESULTS" <<'EOF'
import json, sys
server, socket, what, raw = sys.argv[1:5]
row = {"server": server, "socket": socket, "what": what}
row.update(json.loads(raw) if raw else {})
for kv in sys.argv[5:]:
    k, _, v = kv.partition("=")
    try:
        row[k] = float(v)
    except ValueError:
        row[k] = v
print(json.dumps(row))
EOF
}

# start_server NAME SERVER SOCKET ENDPOINT CMD...: start, time until ENDPOINT answers $REQUEST.
start_server() {
  local name="$1" server="$2" socket="$3" endpoint="$4" t0 out
  shift 4
  t0="$(date +%s%N)"
  start_bg "$name" "$@"
  out="$("$LOADGEN" --connect "$endpoint" --probe --request "$REQUEST" --since-ns "$t0" \
    --timeout 30)" || bdie "$name did not answer within 30 s (see $B/logs/$name.log)"
  grep -q "\"reply\":\"$EXPECT" <<<"$out" || bdie "$name answered the probe with: $out"
  record "$server" "$socket" startup "$out" \
    "rss_kb=$(proc_kb "$(pid_of "$name")" VmRSS)"
}

# throughput NAME SERVER SOCKET ENDPOINT CONNECTIONS ROUND: cached answers, closed loop.
throughput() {
  local name="$1" server="$2" socket="$3" endpoint="$4" conns="$5" round="$6" pid cpu0 t0 out
  local rc=0
  pid="$(pid_of "$name")"
  cpu0="$(proc_cpu_s "$pid")" t0="$(now_s)"
  out="$(timeout 120 "$LOADGEN" --connect "$endpoint" \
    --connections "$conns" --request "$REQUEST" --expect "$EXPECT" --warmup "$WARMUP_S" \
    --seconds "$THROUGHPUT_S")" || rc=$?
  [ -n "$out" ] || bdie "the load generator failed against $name (exit $rc)"
  record "$server" "$socket" "cached$conns" "$out" "ok=$((rc == 0))" "round=$round" \
    "server_cpu_s=$(awk -v a="$cpu0" -v b="$(proc_cpu_s "$pid")" 'BEGIN { print b - a }')" \
    "wall_s=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
  blog "$server ($socket) cached @$conns: $(sed -e 's/.*"qps":\([0-9]*\).*"p99_us":\([0-9.]*\).*/\1 qps, p99 \2 us/' <<<"$out")"
}

# cold NAME SERVER SOCKET ENDPOINT [ADMIN_ENDPOINT]: the 1 000 cold domains, 64 in flight.
cold() {
  local name="$1" server="$2" socket="$3" endpoint="$4" admin="${5:-}" off pid cpu0 t0 out
  local rc=0 extra=()
  bench_unbound_ctl flush_zone "$ZONE" >/dev/null
  bench_unbound_ctl flush_negative >/dev/null
  bench_unbound_ctl flush_infra all >/dev/null
  off="$(stat -c %s "$B/nginx/access.log")"
  [ -n "$admin" ] && extra=(--stats-socket "$admin")
  pid="$(pid_of "$name")"
  local rss0
  rss0="$(proc_kb "$pid" VmRSS)"
  cpu0="$(proc_cpu_s "$pid")" t0="$(now_s)"
  out="$(timeout $((COLD_LIMIT_S + 60)) "$LOADGEN" --connect "$endpoint" \
    --connections "$COLD_IN_FLIGHT" --keys "$COLD_KEYS" --expect "$EXPECT" \
    --seconds "$COLD_LIMIT_S" --drain 30 "${extra[@]}")" || rc=$?
  [ -n "$out" ] || bdie "the load generator failed against $name (exit $rc)"
  sleep 0.2  # nginx writes its log line after the response
  tail -c "+$((off + 1))" "$B/nginx/access.log" >"$B/logs/$name-cold-access.log"
  local fetches
  fetches="$(python3 - "$B/logs/$name-cold-access.log" <<'EOF'
import sys
events = []
n = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 6 or f[4] != "200":
        continue
    end, conn_time, req_time, reqs = float(f[0]), float(f[1]), float(f[2]), int(f[3])
    start = end - (conn_time if reqs == 1 else req_time)
    events += [(start, 1), (end, -1)]
    n += 1
peak = cur = 0
for _, d in sorted(events, key=lambda e: (e[0], e[1])):
    cur += d
    peak = max(peak, cur)
print(f"fetches={n} peak_fetches={peak}")
EOF
)"
  # shellcheck disable=SC2086  # two key=value words
  record "$server" "$socket" cold "$out" "ok=$((rc == 0))" $fetches "rss_before_kb=$rss0" \
    "rss_after_kb=$(proc_kb "$pid" VmRSS)" \
    "server_cpu_s=$(awk -v a="$cpu0" -v b="$(proc_cpu_s "$pid")" 'BEGIN { print b - a }')" \
    "wall_s=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
  blog "$server cold: $(sed -e 's/.*"seconds":\([0-9.]*\).*/\1 s/' <<<"$out"), $fetches"
}

finish_server() {  # finish_server NAME SERVER SOCKET: RSS now and at its peak, then stop it
  local pid
  pid="$(pid_of "$1")"
  record "$2" "$3" end "" "rss_kb=$(proc_kb "$pid" VmRSS)" "hwm_kb=$(proc_kb "$pid" VmHWM)"
  cat "/proc/$pid/status" "/proc/$pid/smaps" >"$B/logs/$1-memory.txt" 2>/dev/null || true
  stop_bg "$1"
}

# cached_main: throughput, cold lookups, RSS and start-up (the servers run from here to its end).
cached_main() {
  # Every server runs from here to the end; the throughput runs alternate between them, round
  # after round, so that a change in the machine's background load hits all of them alike.
  TP_SOCK="unix:$B/tlspolicy/socketmap.sock"
  RS_SOCK="127.0.0.1:$RESOLVER_PORT"
  FLOOR_REPLY="OK secure match=mx1.$HOT servername=hostname"
  blog "starting the servers (start-up time and RSS with the stores)"
  start_server floor-unix floor unix "unix:$B/floor.sock" \
    "$FLOOR" --listen "unix:$B/floor.sock" --reply "$FLOOR_REPLY"
  start_server floor-tcp floor tcp "127.0.0.1:$FLOOR_TCP_PORT" \
    "$FLOOR" --listen "127.0.0.1:$FLOOR_TCP_PORT" --reply "$FLOOR_REPLY"
  # shellcheck disable=SC2086  # BENCH_WRAP is a command prefix: split into words
  start_server tlspolicy tlspolicy unix "$TP_SOCK" \
    "${IN_NS[@]}" ${BENCH_WRAP:-} "$TLSPOLICY" serve --config "$B/tlspolicy/tlspolicy.toml"
  start_server resolver postfix-mta-sts-resolver tcp "$RS_SOCK" \
    "${IN_NS[@]}" env SSL_CERT_FILE="$CA_FILE" mta-sts-daemon --config "$B/resolver/mta-sts-daemon.yml"
  RM_SOCK="127.0.0.1:$RESOLVER_MEM_PORT"
  start_server resolver-mem "postfix-mta-sts-resolver, internal cache" tcp "$RM_SOCK" \
    "${IN_NS[@]}" env SSL_CERT_FILE="$CA_FILE" mta-sts-daemon \
    --config "$B/resolver/mta-sts-daemon-internal.yml"

  for conns in 32 256; do
    for ((round = 1; round <= ROUNDS; round++)); do
      blog "cached answers, $conns connections, round $round of $ROUNDS"
      throughput floor-unix floor unix "unix:$B/floor.sock" "$conns" "$round"
      throughput tlspolicy tlspolicy unix "$TP_SOCK" "$conns" "$round"
      throughput floor-tcp floor tcp "127.0.0.1:$FLOOR_TCP_PORT" "$conns" "$round"
      throughput resolver postfix-mta-sts-resolver tcp "$RS_SOCK" "$conns" "$round"
      throughput resolver-mem "postfix-mta-sts-resolver, internal cache" tcp "$RM_SOCK" "$conns" \
        "$round"
    done
  done

  blog "what one cached request costs (system calls, allocations)"
  local out
  out="$("$BENCH_SRC/cost.sh" "$LOADGEN" "$(pid_of floor-unix)" "unix:$B/floor.sock" "$REQUEST" \
    100000 32)" || bdie "tools/bench/cost.sh failed for the floor"
  record floor unix cost "$out"
  out="$("$BENCH_SRC/cost.sh" "$LOADGEN" "$(pid_of tlspolicy)" "$TP_SOCK" "$REQUEST" 100000 32)" ||
    bdie "tools/bench/cost.sh failed for tlspolicy"
  record tlspolicy unix cost "$out"

  blog "cold lookups"
  cold tlspolicy tlspolicy unix "$TP_SOCK" "unix:$B/tlspolicy/admin.sock"
  cold resolver postfix-mta-sts-resolver tcp "$RS_SOCK"

  finish_server floor-unix floor unix
  finish_server floor-tcp floor tcp
  finish_server tlspolicy tlspolicy unix
  finish_server resolver postfix-mta-sts-resolver tcp
  finish_server resolver-mem "postfix-mta-sts-resolver, internal cache" tcp
}

if [ -z "$ONLY" ] || [ "$ONLY" = cached ]; then cached_main; fi

if [ -z "$ONLY" ] || [ "$ONLY" = fleet ]; then
  # shellcheck source=tools/bench/fleet.sh
  . "$BENCH_SRC/fleet.sh"
  fleet_main
fi

if [ -z "$ONLY" ] || [ "$ONLY" = network ]; then
  # shellcheck source=tools/bench/network.sh
  . "$BENCH_SRC/network.sh"
  net_main
fi

# --- the table ----------------------------------------------------------------------------------
cp "$RESULTS" "$RESULTS_DIR/results.jsonl"
rc=0
python3 "$BENCH_SRC/report.py" "$RESULTS" \
  --machine "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r)" \
  --params "throughput: median of $ROUNDS rounds of ${THROUGHPUT_S} s after ${WARMUP_S} s warm-up, servers alternating; cold: $COLD_DOMAINS domains, $COLD_IN_FLIGHT in flight; store: $STORE_POLICIES policies" \
  --resolver-version "$(dpkg-query -W -f='${Version}' postfix-mta-sts-resolver)" \
  >"$RESULTS_DIR/results.md" || rc=$?
cat "$RESULTS_DIR/results.md"
blog "written to $RESULTS_DIR/results.md"
exit "$rc"
