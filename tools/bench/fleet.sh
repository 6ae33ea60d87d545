# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# NAME
#   tools/bench/fleet.sh - the fleet part of tools/bench/run.sh (docs/fleet.md)
# DESCRIPTION
#   Sourced by run.sh, inside its network namespace, after the world, the bench Unbound and
#   nginx are up. A real PostgreSQL (tests/integration/pg.sh: initdb into the bench's work
#   directory, 127.0.0.1 and a Unix socket, run as the user postgres) and three
#   `tlspolicy serve` nodes n1, n2, n3 with the same store.url, each with its own state_dir,
#   local copy (store.path) and sockets, the bench's configuration otherwise (run.sh's
#   tlspolicy_config). Each scenario starts fresh nodes on a fresh database of that server,
#   with the bench Unbound's cache of the bench zone flushed, and asks the 1 000 cold domains
#   d0000 ... d0999 (each answer checked: "OK secure match=mx1.<domain>"):
#     spread  domain i to node i mod 3 only, 64 connections per node;
#     once    every domain to all three nodes at the same moment, 64 connections per node,
#             in the same order: the same new policy wanted by three nodes at once.
#   The policy fetches are counted in nginx's access log (status 200, by policy host): the
#   fleet fetches each policy once when fetches == distinct hosts == 1 000. Then, on the
#   nodes of "once": 32-connection cached throughput of n1 (the hot domain, rounds as the
#   cached part's); TLS-RPT: results for one report domain sent to all three nodes (JSON
#   `report` ops), pushed to PostgreSQL, then `tlspolicy report send` for that day run on n1
#   and n2 at the same moment (faketime +1d; the report's rua is mailto:, delivered to a
#   sendmail stand-in that keeps each message): one row in rpt_report, one mail, and its
#   counts the sum sent.
#   postfix-mta-sts-resolver 1.1.2 (Debian 12) beside it: it has no PostgreSQL cache, and its
#   Redis cache needs aioredis >= 2 (Debian 12 ships 1.3.1), so three mta-sts-daemon
#   instances with their own SQLite caches (run.sh's resolver_config), fresh for each
#   scenario, the same keys; its cached throughput on instance 1, rounds alternating with
#   tlspolicy's n1.
#   Results go to results.jsonl with part = fleet and what = cold | cached32 | tlsrpt;
#   report.py turns them into the Fleet section and its bars.
# REQUIRES (from run.sh)
#   B, ADDR, ZONE, REQUEST, EXPECT, LOADGEN, TLSPOLICY, REPO_DIR, LIB, IN_NS, CA_FILE,
#   COLD_DOMAINS, COLD_IN_FLIGHT, COLD_LIMIT_S, ROUNDS, THROUGHPUT_S, WARMUP_S, RESULTS,
#   FLEET_PG_DIR (set here; run.sh's cleanup stops that server), start_bg, stop_bg, pid_of,
#   record, proc_cpu_s, now_s, bench_unbound_ctl, blog, bdie, tlspolicy_config,
#   resolver_config

FLEET_NODES=3
FLEET_RPT_DOMAIN="rpt.fleet.bench.$ZONE"  # the TLS-RPT report domain
# What each node counts for it (JSON report ops): successes and failed sessions per node.
FLEET_RPT_SUCCESSES=(30 20 10)
FLEET_RPT_FAILURES=(1 2 3)
FLEET_PG_SH="$REPO_DIR/tests/integration/pg.sh"
FLEET_FAKETIME="+1d"  # the reports of today are due

fleet_dir="$B/fleet"
mkdir -p "$fleet_dir"
chmod 0755 "$fleet_dir"  # PostgreSQL (user postgres) lives in $fleet_dir/pg

# fleet_sql URL QUERY: rows of a psql query, fields separated by "|".
fleet_sql() {
  psql -X -q -tA -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# fleet_keys: the key files (REQUEST<TAB>EXPECT<TAB>CLASS, tools/bench/loadgen.cpp) of the
# two scenarios: spread-K.keys (domain i when i mod 3 = K - 1) and once.keys (all).
fleet_keys() {
  python3 - "$ZONE" "$COLD_DOMAINS" "$FLEET_NODES" "$fleet_dir" <<'EOF'
import sys
zone, n, nodes, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def line(i):
    d = f"d{i:04d}.bench.{zone}"
    return f"postfix {d}\tOK secure match=mx1.{d}\tcold\n"
for k in range(nodes):
    with open(f"{out}/spread-{k + 1}.keys", "w") as f:
        f.writelines(line(i) for i in range(n) if i % nodes == k)
with open(f"{out}/once.keys", "w") as f:
    f.writelines(line(i) for i in range(n))
EOF
}

# fleet_wait_ready NAME ENDPOINT: until ENDPOINT answers a request that needs no lookup.
fleet_wait_ready() {
  "$LOADGEN" --connect "$2" --probe --request "postfix [192.0.2.1]" --timeout 30 >/dev/null ||
    bdie "$1 did not answer within 30 s (see $B/logs/$1.log)"
}

# fleet_db NAME: a new database on the fleet's PostgreSQL; prints its URL.
fleet_db() {
  fleet_sql "$FLEET_URL" "CREATE DATABASE $1" >/dev/null ||
    bdie "could not create the database $1 (see $FLEET_PG_DIR/postgres.log)"
  echo "${FLEET_URL%/*}/$1"
}

# fleet_start_tlspolicy SCENARIO URL: three fresh nodes n1..n3 on URL, started together (the
# schema is applied once, under its advisory lock).
fleet_start_tlspolicy() {
  local scen="$1" url="$2" k dir
  for ((k = 1; k <= FLEET_NODES; k++)); do
    dir="$fleet_dir/$scen/n$k"
    mkdir -p "$dir/mail"
    tlspolicy_config "$dir" "$url" "n$k" \
      'contact_info = "tlsrpt-noreply@reporter.bench.test"' \
      'organization_name = "tlspolicy bench fleet"' \
      "sendmail = [\"$fleet_dir/sendmail\", \"$dir/mail\"]" >"$dir/tlspolicy.toml"
    "$TLSPOLICY" check-config --config "$dir/tlspolicy.toml" >"$B/logs/fleet-check-config.log" 2>&1 ||
      bdie "tlspolicy check-config failed for n$k (see $B/logs/fleet-check-config.log)"
  done
  for ((k = 1; k <= FLEET_NODES; k++)); do
    dir="$fleet_dir/$scen/n$k"
    # shellcheck disable=SC2086  # BENCH_WRAP is a command prefix
    start_bg "fleet-$scen-n$k" "${IN_NS[@]}" ${BENCH_WRAP:-} "$TLSPOLICY" serve \
      --config "$dir/tlspolicy.toml"
  done
  for ((k = 1; k <= FLEET_NODES; k++)); do
    fleet_wait_ready "fleet-$scen-n$k" "unix:$fleet_dir/$scen/n$k/socketmap.sock"
  done
}

# fleet_start_resolver SCENARIO: three fresh mta-sts-daemon instances r1..r3, each with its
# own (empty) SQLite cache; sets FLEET_RS_EP (their endpoints).
fleet_start_resolver() {
  local scen="$1" k dir ports
  read -r -a ports <<<"$(python3 -c '
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
print(*[s.getsockname()[1] for s in held])' "$FLEET_NODES")"
  FLEET_RS_EP=()
  for ((k = 1; k <= FLEET_NODES; k++)); do
    dir="$fleet_dir/$scen/r$k"
    mkdir -p "$dir"
    resolver_config "${ports[k - 1]}" "cache:" "  type: sqlite" "  options:" \
      "    filename: \"$dir/cache.db\"" >"$dir/mta-sts-daemon.yml"
    start_bg "fleet-$scen-r$k" "${IN_NS[@]}" env SSL_CERT_FILE="$CA_FILE" mta-sts-daemon \
      --config "$dir/mta-sts-daemon.yml"
    FLEET_RS_EP+=("127.0.0.1:${ports[k - 1]}")
  done
  for ((k = 1; k <= FLEET_NODES; k++)); do
    fleet_wait_ready "fleet-$scen-r$k" "${FLEET_RS_EP[k - 1]}"
  done
}

fleet_stop() {  # fleet_stop SCENARIO t|r: stop that scenario's three nodes
  local k
  for ((k = 1; k <= FLEET_NODES; k++)); do stop_bg "fleet-$1-$2$k"; done
}

# fleet_cold ENGINE SCENARIO URL EP1 EP2 EP3: the 1 000 cold domains over the three nodes as
# SCENARIO says, three load generators at once; one record (what = cold).
fleet_cold() {
  local engine="$1" scen="$2" url="$3" k off t0 t1 pids=() keys server
  shift 3
  bench_unbound_ctl flush_zone "$ZONE" >/dev/null
  bench_unbound_ctl flush_negative >/dev/null
  bench_unbound_ctl flush_infra all >/dev/null
  off="$(stat -c %s "$B/nginx/access.log")"
  t0="$(now_s)"
  for ((k = 1; k <= FLEET_NODES; k++)); do
    keys="$fleet_dir/once.keys"
    [ "$scen" = spread ] && keys="$fleet_dir/spread-$k.keys"
    (
      rc=0
      timeout $((COLD_LIMIT_S + 60)) "$LOADGEN" --connect "${!k}" \
        --connections "$COLD_IN_FLIGHT" --keys "$keys" --seconds "$COLD_LIMIT_S" --drain 30 \
        >"$fleet_dir/$engine-$scen-$k.out" || rc=$?
      echo "$rc" >"$fleet_dir/$engine-$scen-$k.rc"
    ) &
    pids+=("$!")
  done
  wait "${pids[@]}"
  t1="$(now_s)"
  sleep 0.5  # nginx writes its log line after the response
  tail -c "+$((off + 1))" "$B/nginx/access.log" >"$B/logs/fleet-$engine-$scen-access.log"
  server=tlspolicy
  [ "$engine" = resolver ] && server=postfix-mta-sts-resolver
  local admins=() out
  if [ "$engine" = tlspolicy ]; then
    for ((k = 1; k <= FLEET_NODES; k++)); do admins+=("$fleet_dir/$scen/n$k/admin.sock"); done
  fi
  out="$(python3 - "$engine" "$scen" "$fleet_dir" "$B/logs/fleet-$engine-$scen-access.log" \
    "$url" "$t0" "$t1" "$COLD_DOMAINS" "$FLEET_NODES" "$ZONE" "${admins[@]}" <<'EOF'
import json, socket, subprocess, sys
engine, scen, d, log, url, t0, t1, n, nodes, zone = sys.argv[1:11]
admins = sys.argv[11:]
n, nodes = int(n), int(nodes)
row = {"part": "fleet", "engine": engine, "scenario": scen, "nodes": nodes, "domains": n,
       "wall_s": float(t1) - float(t0), "per_node": []}
want_hosts = {f"mta-sts.d{i:04d}.bench.{zone}" for i in range(n)}
right = expected = 0
ok = True
first = ""
for k in range(1, nodes + 1):
    rc = int(open(f"{d}/{engine}-{scen}-{k}.rc").read().strip() or 1)
    try:
        r = json.loads(open(f"{d}/{engine}-{scen}-{k}.out").read())
    except ValueError:
        r = {}
    keys = r.get("keys", 0)
    good = keys - r.get("unexpected", 0) - r.get("unanswered", 0) - r.get("keys_unsent", 0)
    right += good
    expected += n if scen == "once" else len(open(f"{d}/spread-{k}.keys").readlines())
    ok = ok and rc == 0 and bool(r)
    first = first or r.get("first_unexpected", "")
    row["per_node"].append({k2: r.get(k2) for k2 in (
        "seconds", "measured", "p50_us", "p99_us", "max_us", "unexpected", "unanswered",
        "keys_unsent", "errors", "first_unexpected", "cpu_seconds")} | {"rc": rc})
row["right"], row["expected"], row["ok"] = right, expected, ok and right == expected
row["first_unexpected"] = first
for f in ("p50_us", "p99_us", "max_us"):  # the slowest node's
    row[f] = max((p.get(f) or 0) for p in row["per_node"])
hosts = {}
for line in open(log):
    f = line.split()
    if len(f) >= 6 and f[4] == "200":
        hosts[f[5]] = hosts.get(f[5], 0) + 1
row["fetches"] = sum(hosts.values())
row["distinct"] = len(hosts)
row["fetched_twice"] = sum(1 for v in hosts.values() if v > 1)
row["other_hosts"] = sorted(set(hosts) - want_hosts)[:5]
if url:
    def sql(q):
        p = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", q],
                           capture_output=True, text=True, timeout=30)
        return [x.split("|") for x in p.stdout.splitlines() if x.strip()] if p.returncode == 0 else None
    by = sql("SELECT fetched_by, count(*) FROM policies GROUP BY 1 ORDER BY 1")
    row["fetched_by"] = {a: int(b) for a, b in by} if by is not None else None
    left = sql("SELECT count(*) FROM fetch_claims WHERE until > now()")
    row["claims_left"] = int(left[0][0]) if left else None
    stores = []
    for path in admins:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(10)
                s.connect(path)
                s.sendall(b'{"op":"stats"}\n')
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            st = json.loads(buf).get("stats", {}).get("store", {})
        except (OSError, ValueError) as e:
            st = {"error": str(e)}
        stores.append({k2: st.get(k2) for k2 in ("backend", "node", "healthy", "errors",
                                                 "outages", "last_error", "unsynced_policies",
                                                 "error") if k2 in st})
    row["store"] = stores
print(json.dumps(row))
print(f"{row['wall_s']:.2f} s, p50 {row['p50_us'] / 1000:.0f} ms, p99 {row['p99_us'] / 1000:.0f} ms "
      f"(slowest node), right {right}/{expected}, {row['fetches']} fetches of {row['distinct']} "
      f"policies" + (f", fetched by {row['fetched_by']}" if row.get("fetched_by") else "")
      + "".join(f"; store {st}" for st in row.get("store", [])
                if st.get("healthy") is not True or st.get("errors")))
EOF
)" || bdie "could not summarise the fleet's cold run ($engine, $scen)"
  record "$server" "$engine" cold "${out%%$'\n'*}"
  blog "fleet $engine $scen: ${out#*$'\n'}"
}

# fleet_throughput NAME SERVER ENGINE ENDPOINT ROUND: cached answers, 32 connections.
fleet_throughput() {
  local name="$1" server="$2" engine="$3" endpoint="$4" round="$5" pid cpu0 t0 out rc=0
  pid="$(pid_of "$name")"
  cpu0="$(proc_cpu_s "$pid")" t0="$(now_s)"
  out="$(timeout 120 "$LOADGEN" --connect "$endpoint" --connections 32 --request "$REQUEST" \
    --expect "$EXPECT" --warmup "$WARMUP_S" --seconds "$THROUGHPUT_S")" || rc=$?
  [ -n "$out" ] || bdie "the load generator failed against $name (exit $rc)"
  record "$server" "$engine" cached32 "$out" part=fleet "engine=$engine" "ok=$((rc == 0))" \
    "round=$round" \
    "server_cpu_s=$(awk -v a="$cpu0" -v b="$(proc_cpu_s "$pid")" 'BEGIN { print b - a }')" \
    "wall_s=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
  blog "fleet $engine node 1 cached @32: $(sed -e 's/.*"qps":\([0-9]*\).*"p99_us":\([0-9.]*\).*/\1 qps, p99 \2 us/' <<<"$out")"
}

# fleet_tlsrpt SCENARIO URL: results for FLEET_RPT_DOMAIN on every node, then `report send`
# on n1 and n2 at the same moment; one record (what = tlsrpt).
fleet_tlsrpt() {
  local scen="$1" url="$2" day k t0 pushed=0 pids=() dir
  day="$(date -u +%F)"
  python3 - "$FLEET_RPT_DOMAIN" "${FLEET_RPT_SUCCESSES[*]}" "${FLEET_RPT_FAILURES[*]}" \
    "$fleet_dir/$scen" <<'EOF' || bdie "the report ops failed"
import json, socket, sys
dom, succ, fail, d = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
failure = {"result-type": "certificate-expired", "receiving-mx-hostname": f"mx1.{dom}",
           "receiving-ip": "192.0.2.25"}
for k, (s_n, f_n) in enumerate(zip(succ, fail), start=1):
    ops = ([{"op": "report", "domain": dom, "result": "success",
             "policy": {"policy-type": "no-policy-found"}}] * int(s_n) +
           [{"op": "report", "domain": dom, "result": "failure",
             "policy": {"policy-type": "no-policy-found"}, "failure-details": [failure]}] * int(f_n))
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(f"{d}/n{k}/tlspolicy.sock")
        s.sendall(b"".join(json.dumps(o).encode() + b"\n" for o in ops))
        buf = b""
        while buf.count(b"\n") < len(ops):
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(f"n{k}: connection closed after {len(buf.splitlines())} replies")
            buf += chunk
    bad = [x for x in buf.decode().splitlines() if json.loads(x).get("status") != "ok"]
    if bad:
        raise SystemExit(f"n{k}: report op refused: {bad[0]}")
EOF
  local want_s=0 want_f=0 v
  for v in "${FLEET_RPT_SUCCESSES[@]}"; do want_s=$((want_s + v)); done
  for v in "${FLEET_RPT_FAILURES[@]}"; do want_f=$((want_f + v)); done
  # Each node pushes its results every 2 s.
  local q="SELECT coalesce(sum(successes), 0) || '|' || coalesce(sum(failures), 0) FROM rpt_policy WHERE day = '$day' AND domain = '$FLEET_RPT_DOMAIN'"
  t0="$(now_s)"
  for ((k = 0; k < 100; k++)); do
    [ "$(fleet_sql "$url" "$q")" = "$want_s|$want_f" ] && { pushed=1; break; }
    sleep 0.2
  done
  local push_s
  push_s="$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
  [ "$pushed" = 1 ] || blog "fleet TLS-RPT: PostgreSQL holds $(fleet_sql "$url" "$q") after 20 s, want $want_s|$want_f"
  # Two senders at the same moment, a day later.
  for k in 1 2; do
    dir="$fleet_dir/$scen/n$k"
    (
      rc=0
      env FAKETIME_DONT_FAKE_MONOTONIC=1 timeout 120 faketime -f "$FLEET_FAKETIME" \
        "$TLSPOLICY" --config "$dir/tlspolicy.toml" report send --date "$day" \
        --domain "$FLEET_RPT_DOMAIN" >"$dir/report-send.log" 2>&1 || rc=$?
      echo "$rc" >"$dir/report-send.rc"
    ) &
    pids+=("$!")
  done
  wait "${pids[@]}"
  local out
  out="$(python3 - "$url" "$day" "$FLEET_RPT_DOMAIN" "$fleet_dir/$scen" "$FLEET_NODES" \
    "$want_s" "$want_f" "$pushed" "$push_s" <<'EOF'
import email, email.policy, glob, gzip, json, os, subprocess, sys
url, day, dom, d, nodes, want_s, want_f, pushed, push_s = sys.argv[1:10]
def sql(q):
    p = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", q],
                       capture_output=True, text=True, timeout=30)
    return [x.split("|") for x in p.stdout.splitlines() if x.strip()] if p.returncode == 0 else []
lit = lambda s: "'" + s.replace("'", "''") + "'"
row = {"part": "fleet", "engine": "tlspolicy", "day": day, "domain": dom,
       "sent_successes": int(want_s), "sent_failures": int(want_f), "pushed": pushed == "1",
       "push_s": float(push_s), "senders": {}}
reports = sql(f"SELECT state, coalesce(claimed_by, ''), attempts FROM rpt_report "
              f"WHERE day = {lit(day)} AND domain = {lit(dom)}")
row["rows"] = len(reports)
row["states"] = [r[0] for r in reports]
sums = sql(f"SELECT coalesce(sum(successes), 0), coalesce(sum(failures), 0) FROM rpt_policy "
           f"WHERE day = {lit(day)} AND domain = {lit(dom)}")
row["pg_successes"], row["pg_failures"] = (int(sums[0][0]), int(sums[0][1])) if sums else (None, None)
for k in (1, 2):
    rc = open(f"{d}/n{k}/report-send.rc").read().strip()
    text = open(f"{d}/n{k}/report-send.log", errors="replace").read().strip()
    row["senders"][f"n{k}"] = {"rc": int(rc or -1), "said": text[-300:]}
mails = []
for k in range(1, int(nodes) + 1):
    mails += sorted(glob.glob(f"{d}/n{k}/mail/*.eml"))
row["mails"] = len(mails)
totals = []
for path in mails:
    msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
    s = f = 0
    for part in msg.walk():
        if part.get_content_type() == "application/tlsrpt+gzip":
            report = json.loads(gzip.decompress(part.get_payload(decode=True)))
            for pol in report.get("policies", []):
                s += pol.get("summary", {}).get("total-successful-session-count", 0)
                f += pol.get("summary", {}).get("total-failure-session-count", 0)
    totals.append([s, f])
row["mail_totals"] = totals
row["ok"] = (row["rows"] == 1 and row["states"] == ["sent"] and row["mails"] == 1 and
             totals == [[int(want_s), int(want_f)]])
print(json.dumps(row))
print(f"{row['rows']} report(s) {row['states']}, {row['mails']} mail(s) counting "
      f"{row['mail_totals']}, sent {want_s}/{want_f}, in PostgreSQL "
      f"{row['pg_successes']}/{row['pg_failures']} after {row['push_s']:.1f} s; senders "
      + "; ".join(f"{k} exit {v['rc']}: {v['said'][-120:]!r}" for k, v in row["senders"].items()))
EOF
)" || bdie "could not summarise the fleet's TLS-RPT run"
  record tlspolicy tlsrpt tlsrpt "${out%%$'\n'*}"
  blog "fleet TLS-RPT: ${out#*$'\n'}"
}

# --- the runs --------------------------------------------------------------------------------
fleet_main() {
  local url_spread url_once k round
  blog "fleet: PostgreSQL, the report domain, the keys"
  # The report domain: a TLSRPT record whose rua is mailto: (delivered by the sendmail
  # stand-in below: each message kept as a file in the directory it is given).
  printf '_smtp._tls.%s. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.bench.%s"\n' \
    "$FLEET_RPT_DOMAIN" "$ZONE" >"$fleet_dir/records.zone"
  "$LIB" world_bench_add_records "$ZONE" "$fleet_dir/records.zone" >>"$B/logs/world.log" 2>&1 ||
    bdie "could not add the fleet's records to $ZONE"
  cat >"$fleet_dir/sendmail" <<'EOF'
#!/bin/sh
# tools/bench/fleet.sh: a sendmail stand-in; $1 is the directory that keeps the messages.
dir="$1"
shift
exec cat >"$(mktemp "$dir/XXXXXXXX.eml")"
EOF
  chmod 0755 "$fleet_dir/sendmail"
  fleet_keys
  FLEET_PG_DIR="$fleet_dir/pg"
  FLEET_URL="$("$FLEET_PG_SH" start "$FLEET_PG_DIR" 2>"$B/logs/fleet-pg.log")" ||
    bdie "PostgreSQL did not start (see $B/logs/fleet-pg.log)"
  url_spread="$(fleet_db fleet_spread)"
  url_once="$(fleet_db fleet_once)"

  blog "fleet: tlspolicy, 3 nodes, one PostgreSQL: spread"
  fleet_start_tlspolicy spread "$url_spread"
  fleet_cold tlspolicy spread "$url_spread" \
    "unix:$fleet_dir/spread/n1/socketmap.sock" "unix:$fleet_dir/spread/n2/socketmap.sock" \
    "unix:$fleet_dir/spread/n3/socketmap.sock"
  fleet_stop spread n

  blog "fleet: postfix-mta-sts-resolver, 3 instances with their own SQLite caches: spread"
  fleet_start_resolver spread
  fleet_cold resolver spread "" "${FLEET_RS_EP[@]}"
  fleet_stop spread r

  blog "fleet: tlspolicy: all three nodes ask every domain at once"
  fleet_start_tlspolicy once "$url_once"
  fleet_cold tlspolicy once "$url_once" \
    "unix:$fleet_dir/once/n1/socketmap.sock" "unix:$fleet_dir/once/n2/socketmap.sock" \
    "unix:$fleet_dir/once/n3/socketmap.sock"
  blog "fleet: postfix-mta-sts-resolver: all three instances ask every domain at once"
  fleet_start_resolver once
  fleet_cold resolver once "" "${FLEET_RS_EP[@]}"

  # Cached answers on node 1 of each (the hot domain, looked up once first), rounds alternating.
  local tp_ep="unix:$fleet_dir/once/n1/socketmap.sock" rs_ep="${FLEET_RS_EP[0]}" ep
  for ep in "$tp_ep" "$rs_ep"; do
    "$LOADGEN" --connect "$ep" --probe --request "$REQUEST" --timeout 30 | grep -q "\"reply\":\"$EXPECT" ||
      bdie "node 1 at $ep does not answer $REQUEST with $EXPECT"
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    blog "fleet: cached answers on node 1, 32 connections, round $round of $ROUNDS"
    fleet_throughput fleet-once-n1 tlspolicy tlspolicy "$tp_ep" "$round"
    fleet_throughput fleet-once-r1 postfix-mta-sts-resolver resolver "$rs_ep" "$round"
  done
  fleet_stop once r

  blog "fleet: TLS-RPT, one report per domain and day"
  fleet_tlsrpt once "$url_once"
  fleet_stop once n

  cp "$FLEET_PG_DIR/postgres.log" "$B/logs/fleet-postgres.log" 2>/dev/null || true
  "$FLEET_PG_SH" stop "$FLEET_PG_DIR" >>"$B/logs/fleet-pg.log" 2>&1 ||
    bdie "PostgreSQL did not stop (see $B/logs/fleet-pg.log)"
  FLEET_PG_DIR=""
}
