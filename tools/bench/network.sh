# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# NAME
#   tools/bench/network.sh - the far-away internet part of tools/bench/run.sh (SPEC §5)
# DESCRIPTION
#   Sourced by run.sh, inside the network namespace it runs in, after the world, the bench
#   Unbound and nginx are up. For each round-trip time in BENCH_RTTS (default 0 50 150 ms),
#   the authoritative DNS server (the world's NSD) and every HTTPS server on port 443 (the
#   policy hosts, the slow-drip host) are made that far away: iptables sends their packets,
#   both directions, on arrival (mangle PREROUTING), to an NFQUEUE where
#   tools/bench/delayer.cpp holds each one RTT/2. The
#   local validating resolver (the bench Unbound) and the clients are not delayed. Then, for
#   tlspolicy in trust-ad mode, tlspolicy in validate mode and postfix-mta-sts-resolver, each
#   on a fresh daemon with an empty store and a flushed resolver cache:
#     single  one cold domain alone, NET_SINGLES times (different domains);
#     burst   the 1 000 healthy cold domains at once (1 000 connections, one query each);
#     mix     the same 1 000 plus 100 hostile domains at once (1 100 connections):
#               silent  a zone whose name server never answers (every lookup times out);
#               mx100   a signed domain with 100 MX hosts, each in that silent zone (DANE
#                       needs their addresses: tlspolicy looks up limits.max_mx_hosts of them);
#               drip    a policy host that answers its body one byte a second;
#               cname   _mta-sts TXT and the policy host behind 8-link CNAME chains.
#   And once, without delay: the memory one pending decision holds (NET_PENDING silent
#   domains at once; the daemon's peak RSS minus its RSS before, per decision).
#   Every reply is checked against what the world was built to answer (the oracle):
#     healthy, cname  "OK secure match=mx1.<domain>" (their MTA-STS policy, enforce)
#     silent, mx100   "TEMP" (nothing can be known; a defer, never a downgrade)
#     drip            "TEMP" (the decision deadline) or "NOTFOUND" (RFC 8461 §5: a policy
#                     that cannot be fetched, nothing cached: as if there were none)
#   Results go to results.jsonl with what = single | burst | mix | pending, server, mode and
#   rtt_ms; report.py turns them into the network table and the SPEC §5 bars.
# REQUIRES (from run.sh)
#   B, ADDR, ZONE, LOADGEN, TLSPOLICY, DELAYER, CA_FILE, NSD_PORT, IN_NS, start_bg, stop_bg,
#   pid_of, record, proc_kb, bench_unbound_ctl, blog, bdie, COLD_DOMAINS

NET_RTTS="${BENCH_RTTS:-0 50 150}"
NET_ENGINES="${BENCH_ENGINES:-trust-ad validate resolver}"
NET_SINGLES=5
NET_PENDING=2000
[ "${QUICK:-0}" = 1 ] && NET_SINGLES=3
NET_HOSTILE_EACH=25  # per class; 4 classes: 100 hostile domains
NET_CHAIN=8          # CNAME chain links (Unbound gives up after 11)
NET_DEADLINE_S=10    # limits.decision_deadline (tlspolicy's default)
NET_QUEUE=7          # the NFQUEUE number of the delayer

net_dir="$B/net"
mkdir -p "$net_dir"

# --- the hostile world -----------------------------------------------------------------------
# Two more loopback addresses: the silent name server (every packet to it is dropped) and the
# slow-drip policy host.
SILENT_ADDR="127.77.0.53"
DRIP_ADDR="127.77.0.43"

# net_records UNSIGNED_FILE DANE_FILE: the hostile domains' records.
net_records() {
  python3 - "$ZONE" "$ADDR" "$SILENT_ADDR" "$DRIP_ADDR" "$NET_HOSTILE_EACH" "$NET_CHAIN" \
    "$1" "$2" <<'EOF'
import sys
zone, addr, silent, drip, n, chain, out, dane_out = sys.argv[1:9]
n, chain = int(n), int(chain)
with open(out, "w") as f:
    f.write(f"silent.bench.{zone}. 3600 IN NS ns.silentns.bench.{zone}.\n")
    f.write(f"ns.silentns.bench.{zone}. 3600 IN A {silent}\n")
    for i in range(n):
        d = f"r{i:02d}.drip.bench.{zone}."
        f.write(f"{d} 3600 IN MX 10 mx1.{d}\n{'mx1.' + d} 3600 IN A 127.0.0.1\n")
        f.write(f'_mta-sts.{d} 3600 IN TXT "v=STSv1; id=r{i:02d}id1;"\n')
        f.write(f"mta-sts.{d} 3600 IN A {drip}\n")
        d = f"k{i:02d}.cname.bench.{zone}."
        f.write(f"{d} 3600 IN MX 10 mx1.{d}\n{'mx1.' + d} 3600 IN A 127.0.0.1\n")
        for prefix, first, last in (("t", f"_mta-sts.{d}", f'TXT "v=STSv1; id=k{i:02d}id1;"'),
                                    ("u", f"mta-sts.{d}", f"A {addr}")):
            owner = first
            for link in range(1, chain + 1):
                target = f"{prefix}{link}.{d}"
                f.write(f"{owner} 3600 IN CNAME {target}\n")
                owner = target
            f.write(f"{owner} 3600 IN {last}\n")
with open(dane_out, "w") as f:
    for i in range(n):
        d = f"m{i:02d}.mx100.bench.dane.test."
        for k in range(100):
            f.write(f"{d} 3600 IN MX {10 + k} h{k:02d}.m{i:02d}.silent.bench.{zone}.\n")
EOF
}

# net_keys: the key files (REQUEST<TAB>EXPECT<TAB>CLASS, tools/bench/loadgen.cpp).
net_keys() {
  python3 - "$ZONE" "$COLD_DOMAINS" "$NET_HOSTILE_EACH" "$NET_PENDING" "$net_dir" <<'EOF'
import random, sys
zone, n, each, pending, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def ok(d):
    return f"OK secure match=mx1.{d}"
healthy = [(f"d{i:04d}.bench.{zone}", "healthy") for i in range(n)]
hostile = ([(f"q{i:02d}.silent.bench.{zone}", "silent") for i in range(each)] +
           [(f"m{i:02d}.mx100.bench.dane.test", "mx100") for i in range(each)] +
           [(f"r{i:02d}.drip.bench.{zone}", "drip") for i in range(each)] +
           [(f"k{i:02d}.cname.bench.{zone}", "cname") for i in range(each)])
expect = {"healthy": ok, "cname": ok, "silent": lambda d: "TEMP", "mx100": lambda d: "TEMP",
          "drip": lambda d: "TEMP|NOTFOUND"}
def line(d, cls):
    return f"postfix {d}\t{expect[cls](d)}\t{cls}\n"
with open(f"{out}/burst.keys", "w") as f:
    f.writelines(line(d, c) for d, c in healthy)
mix = healthy + hostile
random.Random(8461).shuffle(mix)
with open(f"{out}/mix.keys", "w") as f:
    f.writelines(line(d, c) for d, c in mix)
with open(f"{out}/pending.keys", "w") as f:
    f.writelines(f"postfix p{i:04d}.silent.bench.{zone}\tTEMP\tpending\n" for i in range(pending))
for i in range(10):  # the single cold domains: spread over the healthy ones
    d, c = healthy[(i * 97) % n]
    with open(f"{out}/single{i}.keys", "w") as f:
        f.write(line(d, c))
EOF
}

# net_drip_server: the slow-drip policy host on $DRIP_ADDR:443: a real TLS server (the bench
# CA's certificate for the rNN.drip policy hosts) that reads the request, sends the status line
# and headers, then the body one byte a second, forever. The fetch ends only by its own total
# timeout (mta_sts.fetch_timeout, 15 s) or the decision's deadline (10 s), whichever is first.
net_drip_server() {
  start_bg drip python3 -c '
import asyncio, ssl, sys
addr, cert, key = sys.argv[1:4]
async def drip(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        for b in b"version: STSv1\nmode: enforce\n" * 4:
            writer.write(bytes([b])); await writer.drain(); await asyncio.sleep(1)
    except Exception:
        pass
    finally:
        writer.close()
async def main():
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = await asyncio.start_server(drip, addr, 443, ssl=tls, backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())' "$DRIP_ADDR" "$B/pki/drip.pem" "$B/pki/drip.key"
}

# --- distance --------------------------------------------------------------------------------
# net_far RTT_MS: the authoritative DNS server and port 443 RTT_MS away (0: no delay). The
# silent name server drops every packet at any distance.
net_far() {
  local rtt="$1" rule
  net_near
  iptables -A OUTPUT -d "$SILENT_ADDR" -j DROP
  [ "$rtt" = 0 ] && return 0
  start_bg delayer "$DELAYER" --queue "$NET_QUEUE" --delay-ms "$(awk -v r="$rtt" 'BEGIN { print r / 2 }')"
  local i
  for ((i = 0; i < 250; i++)); do
    grep -q ready "$B/logs/delayer.log" 2>/dev/null && break
    kill -0 "$(pid_of delayer)" 2>/dev/null || bdie "the delayer exited (see $B/logs/delayer.log)"
    sleep 0.02
  done
  # On arrival (mangle PREROUTING), not on OUTPUT: a packet held there would still count as
  # queued by its sender, whose TCP then holds back its next segments (small queues,
  # autocorking) and stretches a TLS handshake by half a round trip.
  for rule in "-p udp --dport $NSD_PORT" "-p udp --sport $NSD_PORT" \
    "-p tcp --dport $NSD_PORT" "-p tcp --sport $NSD_PORT" "-p tcp --dport 443" \
    "-p tcp --sport 443"; do
    # shellcheck disable=SC2086  # a rule is several words
    iptables -t mangle -A PREROUTING $rule -j NFQUEUE --queue-num "$NET_QUEUE"
  done
  # Check the distance: a DNS round trip to NSD through the delay.
  local t0 t1
  t0="$(date +%s%N)"
  drill -p "$NSD_PORT" @127.0.0.1 "$ZONE" SOA >/dev/null 2>&1 || bdie "NSD does not answer through the delay"
  t1="$(date +%s%N)"
  blog "RTT $rtt ms: a DNS query to NSD took $(((t1 - t0) / 1000000)) ms"
}

net_near() {  # no delay, no rules
  iptables -F OUTPUT
  iptables -t mangle -F PREROUTING
  stop_bg delayer
}

# net_flush: the bench Unbound forgets every answer of the bench zones and which servers were
# slow, so that each run starts cold; the keys of the root and of test. stay cached, as on any
# resolver that has been running for a while (refreshed here when their TTL ran out, so that
# no run pays for that and another not).
net_flush() {
  local z
  for z in "$ZONE" dane.test; do bench_unbound_ctl flush_zone "$z" >/dev/null; done
  bench_unbound_ctl flush_negative >/dev/null
  bench_unbound_ctl flush_infra all >/dev/null
  bench_unbound_ctl flush_requestlist >/dev/null
  for z in . test.; do drill -D -p 53 @"$ADDR" "$z" SOA >/dev/null 2>&1 || true; done
}

# --- fresh daemons ---------------------------------------------------------------------------
# net_wait_ready NAME ENDPOINT: until ENDPOINT answers a request that needs no lookup.
net_wait_ready() {
  "$LOADGEN" --connect "$2" --probe --request "postfix [192.0.2.1]" --timeout 30 >/dev/null ||
    bdie "$1 did not answer within 30 s (see $B/logs/$1.log)"
}

# net_start ENGINE NAME: a fresh daemon (empty store, empty cache); prints its endpoint.
net_start() {
  local engine="$1" name="$2" dir="$net_dir/$2"
  mkdir -p "$dir"
  case "$engine" in
    trust-ad | validate)
      cat >"$dir/tlspolicy.toml" <<EOF
# tools/bench/network.sh: a fresh tlspolicy, $engine mode, defaults otherwise.
state_dir = "$dir/state"
log.level = "warning"
[resolver]
mode = "$engine"
servers = ["$ADDR"]
trust_anchor = "$TRUST_ANCHOR"
[mta_sts]
ca_file = "$CA_FILE"
allow_private_addresses = true
[store]
path = "$dir/policies.sqlite"
[server]
socketmap = "unix:$dir/socketmap.sock"
json = "unix:$dir/tlspolicy.sock"
admin = "unix:$dir/admin.sock"
EOF
      # shellcheck disable=SC2086  # BENCH_WRAP is a command prefix
      start_bg "$name" "${IN_NS[@]}" ${BENCH_WRAP:-} "$TLSPOLICY" serve --config "$dir/tlspolicy.toml"
      echo "unix:$dir/socketmap.sock"
      ;;
    resolver)
      resolver_config "$RESOLVER_NET_PORT" "cache:" "  type: internal" >"$dir/mta-sts-daemon.yml"
      start_bg "$name" "${IN_NS[@]}" env SSL_CERT_FILE="$CA_FILE" mta-sts-daemon \
        --config "$dir/mta-sts-daemon.yml"
      echo "127.0.0.1:$RESOLVER_NET_PORT"
      ;;
  esac
}

net_server_name() {
  case "$1" in
    trust-ad | validate) echo tlspolicy ;;
    resolver) echo postfix-mta-sts-resolver ;;
  esac
}

# net_run ENGINE RTT WHAT KEYS CONNECTIONS [EXTRA]: one measured run on a fresh daemon.
net_run() {
  local engine="$1" rtt="$2" what="$3" keys="$4" conns="$5" extra="${6:-}" name endpoint out rc=0
  name="net-$engine-$rtt-$what$extra"
  endpoint="$(net_start "$engine" "$name")"
  net_wait_ready "$name" "$endpoint"
  net_flush
  local pid rss0 cpu0 sampler=""
  pid="$(pid_of "$name")"
  rss0="$(proc_kb "$pid" VmRSS)"
  cpu0="$(proc_cpu_s "$pid")"
  if [ "$what" = pending ]; then  # the daemon's RSS every 20 ms while the lookups wait
    (while kill -0 "$pid" 2>/dev/null; do proc_kb "$pid" VmRSS; sleep 0.02; done \
      >"$net_dir/$name.rss") &
    sampler=$!
  fi
  bench_unbound_ctl stats >/dev/null  # reset
  nstat -n >/dev/null 2>&1 || true
  out="$(timeout $((NET_DEADLINE_S * 6)) "$LOADGEN" --connect "$endpoint" --connections "$conns" \
    --keys "$keys" --seconds $((NET_DEADLINE_S * 4)) --drain 10)" || rc=$?
  # What the resolver and the kernel saw (for the reader of the logs, not for the table).
  {
    bench_unbound_ctl stats | grep -E '^total\.(num|requestlist|recursion)|unwanted|rcode\.(SERVFAIL|NOERROR|NXDOMAIN)'
    nstat 2>/dev/null | grep -Ei 'udp|drop|overflow' || true
  } >"$net_dir/$name.diag" 2>&1
  [ -n "$out" ] || bdie "the load generator failed against $name (exit $rc)"
  local peak="" cpu
  cpu="$(awk -v a="$cpu0" -v b="$(proc_cpu_s "$pid")" 'BEGIN { print b - a }')"
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak="$(sort -n "$net_dir/$name.rss" | tail -1)"
  fi
  stop_bg "$name"
  record "$(net_server_name "$engine")" "$engine" "$what" "$out" "mode=$engine" "rtt_ms=$rtt" \
    "ok=$((rc == 0))" "rss_before_kb=$rss0" "server_cpu_s=$cpu" ${peak:+"rss_peak_kb=$peak"} \
    ${extra:+"n=$extra"}
  blog "$engine RTT $rtt $what$extra: $(net_summary "$out")"
}

net_summary() {  # net_summary LOADGEN_JSON: one line for the log
  python3 - "$1" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
classes = " ".join(f"{k}:{v['n'] - v['unexpected']}/{v['n']}" for k, v in r["classes"].items())
print(f"{r['seconds']:.2f} s, p50 {r['p50_us'] / 1000:.0f} ms, p99 {r['p99_us'] / 1000:.0f} ms, "
      f"max {r['max_us'] / 1000:.0f} ms, right {classes}, unanswered {r['unanswered']}, "
      f"first wrong {r['first_unexpected'][:60]!r}")
EOF
}

# --- the runs --------------------------------------------------------------------------------
net_main() {
  [ -x "$DELAYER" ] || bdie "$DELAYER is not built (libnetfilter-queue-dev: tools/install-deps.sh)"
  RESOLVER_NET_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  blog "network: adding the hostile domains"
  net_records "$net_dir/unsigned.zone" "$net_dir/dane.zone"
  "$LIB" world_bench_add_records "$ZONE" "$net_dir/unsigned.zone" >>"$B/logs/world.log" 2>&1 ||
    bdie "could not add the hostile records to $ZONE"
  "$LIB" world_bench_add_records dane.test "$net_dir/dane.zone" >>"$B/logs/world.log" 2>&1 ||
    bdie "could not add the hostile records to dane.test"
  net_keys
  net_drip_server
  if [ -n "${BENCH_HOLD:-}" ]; then  # for experiments: the far world at RTT BENCH_HOLD, no runs
    net_far "$BENCH_HOLD"
    : >"$B/hold"
    blog "holding at RTT $BENCH_HOLD ms: ip netns exec ${TLSPOLICY_BENCH_NETNS:-?} bash; rm $B/hold ends"
    while [ -e "$B/hold" ]; do sleep 1; done
    net_near
    return 0
  fi
  local rtt engine i
  net_far 0
  for engine in $NET_ENGINES; do
    [ "$engine" = resolver ] || net_run "$engine" 0 pending "$net_dir/pending.keys" "$NET_PENDING"
  done
  for rtt in $NET_RTTS; do
    net_far "$rtt"
    for engine in $NET_ENGINES; do
      for ((i = 0; i < NET_SINGLES; i++)); do
        net_run "$engine" "$rtt" single "$net_dir/single$i.keys" 1 "$i"
      done
      net_run "$engine" "$rtt" burst "$net_dir/burst.keys" "$COLD_DOMAINS"
      net_run "$engine" "$rtt" mix "$net_dir/mix.keys" "$((COLD_DOMAINS + 4 * NET_HOSTILE_EACH))"
    done
  done
  net_near
  stop_bg drip
}
