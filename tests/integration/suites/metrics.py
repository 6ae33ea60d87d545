#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# The Prometheus listener (server.metrics) end to end: the daemon serves /metrics on loopback,
# the text passes `promtool check metrics`, a real Prometheus server scrapes it every second
# and its query API shows the decision counters move by exactly the decisions this suite made,
# and bad requests to the metrics port (garbage, a huge head, a client that dribbles its
# request) leave the daemon answering. The Grafana dashboard (tools/grafana) names only metrics
# a real scrape has, in PromQL Prometheus accepts. See docs/operations.md ("Metrics").
#
# What each decision counts as (action, source) comes from the world's construction
# (lib_world.EXPECT), never from the binary under test; the scrape is parsed here, by a
# parser of this file, and checked again by promtool and Prometheus.
#
# Environment (from DIR/env.sh via tests/integration/run): TLSPOLICY_BIN, WORLD_DIR,
# TLSPOLICY_CONFIG. Needs /usr/bin/prometheus and /usr/bin/promtool (Debian package
# prometheus, tools/install-deps.sh): without them every case FAILS (a skip would hide it).
# Stops every process it started (the daemon, Prometheus), failures included.
# Output: "ok NAME" / "FAIL NAME: ..." lines, then "suite-result: passed=N failed=M skipped=K".

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter

from lib_daemon import Conn, Daemon, LogCapture
from lib_results import Results, TempDir
from lib_world import CONFIG, EXPECT, REPO

R = Results()
check = R.check
DASHBOARD = os.path.join(REPO, "tools", "grafana", "tlspolicy-dashboard.json")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The metrics server closes a connection this long after its accept (src/daemon/metrics.cpp).
METRICS_IDLE = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the exposition format, parsed here --------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): float}, and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"unparsable sample line {line!r}")
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types


def scrape(port, path="/metrics"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def decisions(samples):
    """{(action, source): count} of tlspolicy_decisions_total."""
    out = {}
    for (name, labels), v in samples.items():
        if name == "tlspolicy_decisions_total":
            d = dict(labels)
            out[(d["action"], d["source"])] = v
    return out


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


# --- Prometheus --------------------------------------------------------------------------

class Prometheus:
    def __init__(self, target_port, base):
        self.dir = tempfile.mkdtemp(prefix="prometheus-", dir=base)
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: tlspolicy\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.logpath = os.path.join(self.dir, "prometheus.log")
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr):
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read().decode())
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r}: {body}")
        return body["data"]["result"]

    def scalar(self, expr):
        """The one value of an instant vector query, or None when it is empty."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr, want, limit=30.0):
        """Polls until expr's value == want; returns the last value seen."""
        deadline = time.monotonic() + limit
        got = None
        while time.monotonic() < deadline:
            try:
                got = self.scalar(expr)
            except OSError:
                got = None  # not listening yet
            if got == want:
                return got
            time.sleep(0.25)
        return got

    def tail(self):
        return LogCapture(self.logpath).tail()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- the cases ---------------------------------------------------------------------------

def pick_domains():
    """Static world domains whose plain decision is not a defer (defers are never kept, and a
    slow failure could meet the deadline), one per (action, source) where the world has one."""
    chosen = {}
    for domain, (plain, _) in sorted(EXPECT.items()):
        if plain.temp:
            continue
        chosen.setdefault((plain.action, plain.source), domain)
    return chosen


def decide(json_sock, domains):
    c = Conn(json_sock, timeout=60)
    try:
        for d in domains:
            r = c.request({"op": "decide", "domain": d})
            if r.get("status") != "ok":
                raise RuntimeError(f"decide {d}: {r}")
    finally:
        c.close()


def want_counts(domains):
    return Counter((EXPECT[d][0].action, EXPECT[d][0].source) for d in domains)


def case_format(problems, port):
    status, ctype, text = scrape(port)
    if status != 200:
        problems.append(f"GET /metrics: got status {status}, want 200")
    if ctype != CONTENT_TYPE:
        problems.append(f"Content-Type: got {ctype!r}, want {CONTENT_TYPE!r}")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        problems.append("promtool check metrics: " + (r.stdout + r.stderr).decode()[-800:])
    samples, types = parse_metrics(text)
    for family in ("tlspolicy_build_info", "tlspolicy_decisions_total",
                   "tlspolicy_dns_lookups_total", "tlspolicy_policy_fetch_duration_seconds",
                   "tlspolicy_connections_accepted_total", "tlspolicy_tlsrpt_datagrams_total",
                   "process_start_time_seconds"):
        if family not in types:
            problems.append(f"family {family} missing")
    for name, kind in types.items():
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f"counter {name} does not end in _total")
    version = subprocess.run([os.environ["TLSPOLICY_BIN"], "version"], capture_output=True,
                             timeout=10).stdout.decode()
    build = [dict(labels) for (n, labels) in samples if n == "tlspolicy_build_info"]
    if len(build) != 1 or build[0].get("version", "\0") not in version:
        problems.append(f"build_info {build} does not match `tlspolicy version`: {version!r}")
    return f"{len(types)} families, {len(samples)} samples"


def case_counts(problems, port, json_sock, domains):
    before, _ = parse_metrics(scrape(port)[2])
    decide(json_sock, domains)  # cold
    decide(json_sock, domains)  # from memory
    after, _ = parse_metrics(scrape(port)[2])
    want = want_counts(domains * 2)
    b, a = decisions(before), decisions(after)
    for key in set(a) | set(b) | set(want):
        moved = a.get(key, 0) - b.get(key, 0)
        if moved != want.get(key, 0):
            problems.append(f"decisions_total{key}: moved by {moved:g}, want {want.get(key, 0)}")
    served = {r: value(after, "tlspolicy_decision_cache_requests_total", result=r) -
              value(before, "tlspolicy_decision_cache_requests_total", result=r)
              for r in ("hit", "miss", "joined")}
    # Each request is served one way; the second round comes from memory (a decision with TTL
    # 0 would be a miss again, so only the total is exact).
    if sum(served.values()) != 2 * len(domains) or served["hit"] < 1:
        problems.append(f"cache requests moved by {served}, want {2 * len(domains)} in all")
    dns = [(dict(lb), v) for (n, lb), v in after.items() if n == "tlspolicy_dns_lookups_total"]
    modes = {d["mode"] for d, _ in dns}
    if modes != {"trust-ad"}:
        problems.append(f"dns mode labels {modes}, want {{'trust-ad'}} (the world's config)")
    if sum(v for _, v in dns) == 0:
        problems.append("no DNS lookup counted after cold decisions")
    # No label value may come from a request: no domain names.
    for (_, labels), _ in after.items():
        for _, v in labels:
            if any(d in v for d in domains):
                problems.append(f"label value {v!r} names a domain")
    return ", ".join(f"{a}/{s}={n}" for (a, s), n in sorted(want.items()))


def case_prometheus(problems, port, json_sock, domains, base):
    prom = Prometheus(port, base)
    try:
        if prom.wait_for('up{job="tlspolicy"}', 1.0, limit=60) != 1.0:
            problems.append("Prometheus never scraped the daemon (up != 1): " + prom.tail())
            return None
        key = (EXPECT[domains[0]][0].action, EXPECT[domains[0]][0].source)
        expr = (f'sum(tlspolicy_decisions_total{{action="{key[0]}",source="{key[1]}"}})')
        # What the daemon says now, then what Prometheus sees once it scraped that.
        now = decisions(parse_metrics(scrape(port)[2])[0]).get(key, 0)
        if prom.wait_for(expr, now) != now:
            problems.append(f"Prometheus shows {prom.scalar(expr)} for {expr}, want {now:g}")
            return None
        total_before = prom.scalar("sum(tlspolicy_decisions_total)")
        repeat = 7
        decide(json_sock, [domains[0]] * repeat)
        got = prom.wait_for(expr, now + repeat)
        if got != now + repeat:
            problems.append(f"{expr}: got {got}, want {now + repeat:g} (+{repeat})")
        time.sleep(2.5)  # two more scrapes: nothing else moved
        total = prom.scalar("sum(tlspolicy_decisions_total)")
        if total != total_before + repeat:
            problems.append(f"sum(tlspolicy_decisions_total): {total_before} → {total}, "
                            f"want +{repeat}")
        # Every dashboard expression is PromQL Prometheus accepts, on metrics it has.
        with open(DASHBOARD) as f:
            board = json.load(f)
        exprs = dashboard_exprs(board)
        for e in exprs:
            try:
                prom.query(e.replace("$__rate_interval", "1m").replace("$instance", ".*"))
            except Exception as err:  # urllib raises HTTPError (400) on bad PromQL
                problems.append(f"dashboard expr {e!r}: {err}")
        return f"+{repeat} seen by Prometheus; {len(exprs)} dashboard queries accepted"
    finally:
        prom.stop()


def dashboard_exprs(board):
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(board)
    return out


def case_dashboard(problems, port):
    with open(DASHBOARD) as f:
        board = json.load(f)
    exprs = dashboard_exprs(board)
    if not exprs:
        problems.append("no expr in the dashboard")
    samples, types = parse_metrics(scrape(port)[2])
    names = {n for n, _ in samples}
    used = set()
    for e in exprs:
        used |= set(re.findall(r"\b((?:tlspolicy|process)_[a-z0-9_]+)", e))
    for n in sorted(used):
        if n not in names:
            problems.append(f"dashboard uses {n}, which the scrape does not have")
    return f"{len(exprs)} queries, {len(used)} metrics"


def raw(port, data, limit=15.0, pace=None, chunk=1):
    """Sends data (all at once, or `chunk` bytes every `pace` seconds until the daemon closes)
    and reads to EOF; returns (reply bytes, seconds from connect to EOF). Paced sending lets
    the daemon read everything before it closes (a close with unread input is a reset, which
    may drop the reply)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    start = time.monotonic()
    reply = b""
    try:
        if pace is None:
            s.sendall(data)
        else:
            s.settimeout(pace)
            for i in range(0, len(data), chunk):
                try:
                    s.send(data[i:i + chunk])
                except OSError:
                    break
                try:
                    got = s.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    return reply, time.monotonic() - start
                if not got:
                    return reply, time.monotonic() - start
                reply += got
            s.settimeout(limit)
        while True:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            reply += got
    finally:
        s.close()
    return reply, time.monotonic() - start


def case_bad_requests(problems, port, json_sock, sm_sock, domain):
    before, _ = parse_metrics(scrape(port)[2])
    cases = [
        ("garbage", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", b"HTTP/1.1 400 "),
        ("not-http", b"GET /metrics SPDY/3\r\n\r\n", b"HTTP/1.1 400 "),
        # Just over the 8 KiB limit, paced: nothing is left to send once the daemon answers
        # (sending on would be answered with a reset, which may drop the 431).
        ("huge-head", b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 8300, b"HTTP/1.1 431 "),
        ("post", b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", b"HTTP/1.1 405 "),
        ("other-path", b"GET /admin HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 "),
        ("eof-mid-head", b"GET /metrics HTTP/1.1\r\nHost", b"HTTP/1.1 400 "),
    ]
    for name, data, want in cases:
        if name == "eof-mid-head":
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            reply = b""
            try:
                while chunk := s.recv(65536):
                    reply += chunk
            except ConnectionResetError:
                pass
            s.close()
        elif name == "huge-head":
            reply, _ = raw(port, data, pace=0.05, chunk=1024)
        else:
            reply, _ = raw(port, data)
        if not reply.startswith(want):
            problems.append(f"{name}: got {reply[:60]!r}, want {want!r} and the connection closed")
    # A client that dribbles a byte a second is closed METRICS_IDLE after its accept; the
    # daemon answers Postfix and scrapes meanwhile.
    slow = {}
    t = threading.Thread(target=lambda: slow.update(
        zip(("reply", "took"), raw(port, b"GET /metrics HTTP/1.1\r\nHost: x" + b"y" * 100,
                                   limit=40, pace=1.0))))
    t.start()
    time.sleep(1.5)
    c = Conn(sm_sock)
    try:
        got = c.query("postfix", domain)
        if not got:
            problems.append("socketmap: no reply while the metrics port is under attack")
    finally:
        c.close()
    if scrape(port)[0] != 200:
        problems.append("a scrape failed while a slow client held a metrics connection")
    t.join(60)
    took = slow.get("took", 0)
    if not METRICS_IDLE - 1 <= took <= METRICS_IDLE + 5:
        problems.append(f"slow client closed after {took:.1f}s, want about {METRICS_IDLE:g}s")
    if slow.get("reply"):
        problems.append(f"slow client got a reply: {slow['reply'][:60]!r}")
    decide(json_sock, [domain])
    after, _ = parse_metrics(scrape(port)[2])

    def moved(limit):
        return ((value(after, "tlspolicy_limit_hits_total", server="metrics", limit=limit) or 0) -
                (value(before, "tlspolicy_limit_hits_total", server="metrics", limit=limit) or 0))
    if moved("request_too_large") != 1:
        problems.append(f"metrics request_too_large moved by {moved('request_too_large'):g}, want 1")
    if moved("idle_timeout") != 1:
        problems.append(f"metrics idle_timeout moved by {moved('idle_timeout'):g}, want 1")
    if moved("malformed_request") != 1:  # eof-mid-head; the others are parsed, then answered
        problems.append(f"metrics malformed_request moved by {moved('malformed_request'):g}, "
                        "want 1")
    return f"slow client closed after {took:.1f}s"


def main():
    missing = [p for p in (PROMETHEUS, PROMTOOL) if not os.access(p, os.X_OK)]
    if missing:
        R.case("prerequisites", [f"{', '.join(missing)} missing: install the Debian package "
                                 "prometheus (tools/install-deps.sh)"])
        return R.finish()
    tmp = TempDir("tlspolicy-metrics-")
    base = tmp.path
    port = free_port()
    daemon = Daemon("metrics", CONFIG, base, extra=[f"server.metrics=127.0.0.1:{port}"])
    try:
        daemon.wait_ready()
        chosen = pick_domains()
        domains = list(chosen.values())
        check("metrics-format", case_format, port)
        check("metrics-decision-counts", case_counts, port, daemon.json, domains)
        check("metrics-dashboard-names", case_dashboard, port)
        check("metrics-prometheus", case_prometheus, port, daemon.json, domains, base)
        check("metrics-bad-requests", case_bad_requests, port, daemon.json, daemon.sm, domains[0])
        rc, took = daemon.stop()
        R.case("metrics-clean-stop", [] if rc == 0 else [f"exit {rc} after {took:.1f}s"])
    finally:
        daemon.kill()
        tmp.remove()
    return R.finish()


if __name__ == "__main__":
    sys.exit(main())
