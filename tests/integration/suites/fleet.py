#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# A fleet of `tlspolicy serve` nodes sharing one PostgreSQL store (store.url, fleet.node;
# docs/fleet.md): a real PostgreSQL (tests/integration/pg.sh: initdb into a directory of this
# suite, loopback TCP and a Unix socket, no system service) and three nodes a, b and c against
# the world, each with its own local copy (store.path), sockets and TLS-RPT datagram socket,
# all with the same store.url.
#
#   start-three-nodes-at-once      the three start together: one schema, applied once
#   check-config-url-and-node      check-config shows store.url and fleet.node (default: the
#                                  host name); a URL that is not postgresql:// is refused
#   bad-url-clear-error            serve with an unreachable server / a password in the URL:
#                                  exit 78, a message naming store.url, no password echoed
#   stats-store-at-start           stats.store of a node just started: backend, node, healthy
#   policy-fetched-once-serves-all a policy fetched by a serves b and c: one HTTPS fetch,
#                                  fetched_by "a" (cache list --json, the policies table), a
#                                  local copy on every node that used it
#   concurrent-cold-one-fetch-per-id  several cold domains asked on all nodes at once: every
#                                  answer right, each policy fetched once for the fleet
#   purge-reaches-every-node       cache purge on a: within 1 s b has forgotten its decision
#                                  and its local copy (it fetches anew)
#   refresh-reaches-every-node     cache refresh on c: within 1 s a and b decide anew from c's
#                                  policy, no other fetch
#   stats-store-healthy            stats.store on every node after that traffic
#   tlsrpt-results-summed          results sent to each node (JSON op, libtlsrpt datagrams)
#                                  land once in PostgreSQL: one aggregate for the fleet
#   tlsrpt-two-nodes-send-once     `report send` on a and b at the same moment: one report
#   tlsrpt-one-node-two-senders    two senders of one node (the daemon and `report send`):
#                                  the second is refused while the first holds the claim
#   restart-under-load             PostgreSQL restarted while the nodes answer: every answer
#                                  right, no fetch; every node listens again and says healthy
#                                  within 35 s
#   outage-answers-right           PostgreSQL stopped: every answer right (memory, local copy,
#                                  cold domains fetched without the store), stats unhealthy
#   outage-recovery                PostgreSQL back: healthy again (back-off <= 30 s), held
#                                  TLS-RPT results and policies pushed, nothing counted twice
#   kill-9-claim-expires           a node killed with SIGKILL while it sends a report (its
#                                  sendmail hangs) leaves a claim; nobody sends while it runs;
#                                  once it ran out (the 10-minute lease is ended in the table:
#                                  PostgreSQL's clock decides) another node sends it, once
#   sigterm-no-crash               the nodes stop on SIGTERM; no crash marker in any log
#
# Expected answers come from the world (lib_world.EXPECT, the zones' _mta-sts ids, the policy
# files nginx serves), fetch counts from nginx's access log, table contents from psql: never
# from the binary under test.
#
# Environment: as tlsrpt.py (DIR/env.sh via tests/integration/run). Needs PostgreSQL's server
# programs (Debian: postgresql), psql (postgresql-client) and faketime; exits 77 without them.
# Output (lib_results): "ok NAME" / "FAIL NAME: ..." / "skip NAME: ..." lines, then
# "suite-result: passed=N failed=M skipped=K".

import glob
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

from lib_daemon import Clients, Conn, LogCapture, wait_for
from lib_results import Results, TempDir
from lib_tlsrpt import (FAKETIME_LIB, TODAY, TOMORROW_OFFSET, check_mail, check_report_json,
                        faked, https_requests, libtlsrpt_datagram, parse_mail, send_datagram,
                        sink_messages)
from lib_world import BIN, CONFIG, ENV, EXPECT, INTEGRATION, WORLD, policy_lines, zone_id

PG_SH = os.path.join(INTEGRATION, "pg.sh")
ACCESS_LOG = os.path.join(WORLD, "nginx", "access.log")
DAY = str(TODAY)
R = Results()

NODES = ("a", "b", "c")
SHARED = "enforce.mta.test"  # policy-fetched-once-serves-all
COLD = ["split.mta.test", "othertxt.mta.test", "lfonly.mta.test", "crlf.mta.test",
        "wildcard.mta.test", "insecure.unsigned.test", "unusable-sts.dane.test"]
INVALIDATE = "multi.mta.test"  # purge and refresh
# Asked for the first time while PostgreSQL is down, one per node.
OUTAGE_COLD = {"a": "cname.mta.test", "b": "testing.mta.test", "c": "unknownkeys.mta.test"}
LOAD = [SHARED] + COLD  # asked continuously during the restart and the outage

URL = ""  # store.url of the fleet, once PostgreSQL runs
PG_DIR = ""


# --- helpers -------------------------------------------------------------------------------

def want(domain):
    return EXPECT[domain][0].postfix


class Fetches:
    """Policy fetches nginx served since it was made (its access log, one line a request)."""

    def __init__(self):
        self.offset = os.path.getsize(ACCESS_LOG) if os.path.exists(ACCESS_LOG) else 0

    def lines(self):
        try:
            with open(ACCESS_LOG, "rb") as f:
                f.seek(self.offset)
                data = f.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        return [ln for ln in data.splitlines() if "/.well-known/mta-sts.txt" in ln]

    def settled(self, limit=3.0):
        """The count once no new line came for 0.5 s (nginx logs after its response)."""
        deadline = time.monotonic() + limit
        last = len(self.lines())
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = len(self.lines())
            if now == last:
                return now
            last = now
        return last


def sql(query):
    """Rows of a psql query (text columns), on the fleet's database."""
    p = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", URL, "-c", query],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"psql {query!r}: {p.stderr.strip()}")
    return [line.split("|") for line in p.stdout.splitlines() if line.strip()]


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def pg(cmd, timeout=90):
    p = subprocess.run([PG_SH, cmd, PG_DIR], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"pg.sh {cmd} failed: {p.stderr.strip()[-1500:]}")
    return p.stdout.strip()


def run_group(cmd, timeout=60, env=None):
    """Runs cmd in a session of its own, killing the whole group on timeout.
    Returns (exit code or "timeout", stdout, stderr)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    return finish_group(proc, timeout)


def finish_group(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
        out, err = "", ""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is still there
    except (ProcessLookupError, PermissionError):
        pass
    if rc == "timeout":
        out, err = proc.communicate()
    return rc, out, err


RPT_SETS = ["tlsrpt.enabled=true", "tlsrpt.contact_info=tlsrpt-noreply@reporter.test",
            "tlsrpt.organization_name=tlspolicy fleet test", "tlsrpt.max_delay=1s",
            "tlsrpt.send=false"]


class Node(Clients):
    """One `tlspolicy serve` of the fleet, in a session of its own (so that a SIGKILL of the
    group takes the report sender's children too)."""

    def __init__(self, name, base):
        super().__init__(name, base)
        self.store = os.path.join(self.dir, "policies.sqlite")
        self.proc = None
        self.logfile = None
        self.logpaths = []
        self.logs = LogCapture()  # every start's log file

    def sets(self, extra=(), drop=()):
        sendmail = ENV.get("REPORT_SENDMAIL") or '["/usr/sbin/sendmail", "-oi"]'
        out = [f"store.path={self.store}", f"store.url={URL}", f"fleet.node={self.name}",
               *RPT_SETS, f"tlsrpt.sendmail={sendmail}", *extra]
        return [s for s in out if not s.startswith(tuple(drop))] if drop else out

    def args(self, *cmd, extra=(), drop=()):
        out = [BIN, "--config", CONFIG]
        for s in self.sets(extra, drop):
            out += ["--set", s]
        return out + list(cmd)

    def start(self, extra=(), faketime=None):
        socks = [f"server.socketmap=unix:{self.sm}", f"server.json=unix:{self.json}",
                 f"server.admin=unix:{self.admin}", f"tlsrpt.socket=unix:{self.tlsrpt}"]
        args = self.args("serve", extra=socks + list(extra))
        path = os.path.join(self.dir, f"daemon-{len(self.logpaths)}.log")
        self.logpaths.append(path)
        self.logs.add(path)
        self.logfile = open(path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=faked(faketime) if faketime else None)

    def log(self):
        return self.logs.text()

    def wait_ready(self, limit=15.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited {self.proc.returncode}: "
                                   f"{self.log()[-1500:]}")
            if self.accepting() and os.path.exists(self.tlsrpt):
                return
            time.sleep(0.05)
        raise RuntimeError(f"node {self.name}: sockets not ready within {limit:.0f}s: "
                           f"{self.log()[-1500:]}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, limit=10.0):
        """SIGTERM to the group; returns (exit code or None, seconds)."""
        start = time.monotonic()
        rc = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                rc = None
        self.kill()
        return rc, time.monotonic() - start

    def kill(self):
        """SIGKILL to the whole group (kill -9 of the node and what it started)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.logfile:
            self.logfile.close()
            self.logfile = None

    # clients: sm_query, decide, json_op, admin_op, stats (lib_daemon.Clients)
    def misses(self):
        return self.stats()["decisions"]["misses"]

    def store_status(self):
        s = self.stats().get("store")
        if not isinstance(s, dict):
            raise RuntimeError(f"stats on {self.name} has no \"store\" object")
        return s

    def cli(self, *cmd, extra=(), drop=(), faketime=None, timeout=60):
        args = self.args(*cmd, extra=extra, drop=drop)
        if faketime:
            return run_group(args, timeout, faked(faketime))
        return run_group(args, timeout)

    def report(self, domain, result, policy=None, details=None):
        obj = {"op": "report", "domain": domain, "result": result}
        if policy is not None:
            obj["policy"] = policy
        if details is not None:
            obj["failure-details"] = details
        r = self.json_op(obj)
        if r.get("status") != "ok":
            raise RuntimeError(f"report op on {self.name}: {r!r}")


check = R.check


def wait_until(predicate, limit, step=0.2):
    """lib_daemon.wait_for, polling every 0.2 s unless told otherwise."""
    return wait_for(predicate, limit, step)


def rpt_sums(domain):
    rows = sql("SELECT coalesce(sum(successes), 0), coalesce(sum(failures), 0) FROM rpt_policy "
               f"WHERE day = {lit(DAY)} AND domain = {lit(domain)}")
    return int(rows[0][0]), int(rows[0][1])


def rpt_details(domain):
    rows = sql("SELECT f.result_type, sum(f.failed_sessions) FROM rpt_failure f "
               "JOIN rpt_policy p ON p.id = f.policy_id "
               f"WHERE p.day = {lit(DAY)} AND p.domain = {lit(domain)} GROUP BY 1")
    return {t: int(n) for t, n in rows}


def report_totals(report):
    """(successes, failures, {result-type: failed sessions}) over a report's policies."""
    s = f = 0
    types = {}
    for pol in report.get("policies", []):
        s += pol.get("summary", {}).get("total-successful-session-count", 0)
        f += pol.get("summary", {}).get("total-failure-session-count", 0)
        for fd in pol.get("failure-details", []):
            types[fd.get("result-type")] = types.get(fd.get("result-type"), 0) + \
                fd.get("failed-session-count", 0)
    return s, f, types


def postfix_idle():
    conf = ENV.get("POSTFIX_CONFIG_DIR")
    if not conf:
        return True
    p = subprocess.run(["postqueue", "-c", conf, "-p"], capture_output=True, text=True,
                       timeout=20)
    return "Mail queue is empty" in p.stdout


def mails_for(domain):
    out = []
    for envelope, raw in sink_messages():
        if parse_mail(raw)["TLS-Report-Domain"] == domain:
            out.append((envelope, raw))
    return out


def settled_mails(domain, before, want_at_least=1, limit=30.0):
    """The report mails for domain beyond the first `before`, once one arrived (or the time is
    up) and the world's Postfix queue is empty: every message submitted has reached the sink."""
    wait_until(lambda: len(mails_for(domain)) >= before + want_at_least, limit)
    wait_until(postfix_idle, 20, step=0.3)
    time.sleep(1.0)
    return mails_for(domain)[before:]


def sts_policy(domain):
    """The RFC 8460 policy object of the MTA-STS policy the world serves for domain."""
    lines = policy_lines(domain)
    mx = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("mx:")]
    return {"policy-type": "sts", "policy-domain": domain, "policy-string": lines, "mx-host": mx}


# --- cases: start, configuration ----------------------------------------------------------

def start_all(p, nodes):
    for n in nodes:  # together: the schema's migration must be applied once, safely
        n.start()
    for n in nodes:
        n.wait_ready()
    rows = sql("SELECT version FROM tlspolicy_schema")
    if len(rows) != 1 or int(rows[0][0]) < 1:
        p.append(f"tlspolicy_schema after three starts: {rows}, want one row, version >= 1")
    tables = {r[0] for r in sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    for t in ("policies", "fetch_claims", "rpt_policy", "rpt_report", "rpt_push"):
        if t not in tables:
            p.append(f"table {t} missing in PostgreSQL (have {sorted(tables)})")
    if not wait_until(lambda: len(listeners()) >= len(nodes), 10, step=0.2):
        p.append(f"sessions listening for the fleet's notifications: {listeners()}, want one per "
                 "node")
    return f"schema version {rows[0][0] if rows else '?'}"


def check_config(p, node):
    rc, out, err = node.cli("check-config")
    if rc != 0:
        p.append(f"check-config: exit {rc}: {err.strip()[:500]}")
        return
    if not re.search(r'^store\.url = "' + re.escape(URL) + r'"', out, re.M):
        p.append(f"check-config does not show store.url = \"{URL}\": "
                 f"{[ln for ln in out.splitlines() if ln.startswith('store.')]}")
    if not re.search(r'^fleet\.node = "a"', out, re.M):
        p.append(f"check-config does not show fleet.node = \"a\": "
                 f"{[ln for ln in out.splitlines() if ln.startswith('fleet.')]}")
    # fleet.node unset: the host name.
    rc, out, err = node.cli("check-config", drop=("fleet.node=",))
    host = socket.gethostname()
    m = re.search(r'^fleet\.node = "([^"]*)"', out, re.M)
    if rc != 0 or not m or m.group(1) not in (host, host.split(".")[0], socket.getfqdn()):
        p.append(f"fleet.node unset: check-config shows {m.group(0) if m else None!r} (exit "
                 f"{rc}), want the host name {host!r}")
    # Not a PostgreSQL URI: a configuration error naming the setting.
    rc, out, err = node.cli("check-config", extra=["store.url=mysql://db.example/tlspolicy"])
    if rc != 78 or "store.url" not in err:
        p.append(f"store.url = mysql://…: exit {rc}, stderr {err.strip()[:300]!r}; want 78 and "
                 "a message naming store.url")


def bad_url(p, base):
    port = URL.rsplit(":", 1)[1].split("/")[0]
    secret = "s3cr3t-pw-9f2a"
    cases = [("postgresql://nobody@127.0.0.1:1/x", "unreachable server", None),
             (f"postgresql://postgres:{secret}@127.0.0.1:{port}/tlspolicy", "password in the URL",
              secret)]
    notes = []
    for i, (url, what, hidden) in enumerate(cases):
        d = os.path.join(base, f"badurl{i}")
        os.makedirs(d, exist_ok=True)
        socks = [f"server.socketmap=unix:{d}/sm.sock", f"server.json=unix:{d}/json.sock",
                 f"server.admin=unix:{d}/admin.sock", f"tlsrpt.socket=unix:{d}/tlsrpt.sock",
                 f"store.path={d}/policies.sqlite", "fleet.node=bad"]
        args = [BIN, "--config", CONFIG]
        for s in socks + [f"store.url={url}"]:
            args += ["--set", s]
        start = time.monotonic()
        rc, out, err = run_group(args + ["serve"], timeout=30)
        secs = time.monotonic() - start
        text = out + err
        if rc != 78:
            p.append(f"serve with {what} ({url}): exit {rc} after {secs:.1f}s, want 78 (config): "
                     f"{text.strip()[-400:]!r}")
        elif "store.url" not in text:
            p.append(f"serve with {what}: the error does not name store.url: {text.strip()[-400:]!r}")
        if hidden and hidden in text:
            p.append(f"serve with {what}: the password is printed: {text.strip()[-400:]!r}")
        if secs > 15:
            p.append(f"serve with {what}: took {secs:.1f}s to give up")
        notes.append(f"{what}: exit {rc}, {secs:.1f}s")
    return "; ".join(notes)


def store_status_problems(p, node, healthy=True):
    s = node.store_status()
    for k, v in (("backend", "postgresql"), ("node", node.name), ("healthy", healthy)):
        if s.get(k) != v:
            p.append(f"{node.name}: stats.store.{k} = {s.get(k)!r}, want {v!r} ({s})")
    for k in ("outages", "errors", "unsynced_policies"):
        if not isinstance(s.get(k), int) or isinstance(s.get(k), bool):
            p.append(f"{node.name}: stats.store.{k} = {s.get(k)!r}, want an integer")
    if not isinstance(s.get("last_error"), str):
        p.append(f"{node.name}: stats.store.last_error = {s.get('last_error')!r}, want a string")
    return s


def stats_at_start(p, nodes):
    for n in nodes:
        store_status_problems(p, n)


# --- cases: policies -------------------------------------------------------------------------

def local_copy_id(node, domain):
    """The id of domain's policy in node's local SQLite copy (None: no row)."""
    db = sqlite3.connect(f"file:{node.store}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT id FROM policies WHERE domain = ?", (domain,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def shared_policy(domain):
    rows = sql(f"SELECT id, fetched_by FROM policies WHERE domain = {lit(domain)}")
    return tuple(rows[0]) if rows else None


def policy_shared(p, nodes):
    a, b, c = nodes
    dom, wid = SHARED, zone_id(SHARED)
    fetches = Fetches()
    for n in (a, b, c):
        got = n.sm_query(dom)
        if got != want(dom):
            p.append(f"{dom} on {n.name}: {got!r}, want {want(dom)!r}")
    n_fetch = fetches.settled()
    if n_fetch != 1:
        p.append(f"{n_fetch} HTTPS fetches of a policy for a, b and c asking {dom}, want 1: "
                 f"{fetches.lines()}")
    if shared_policy(dom) != (wid, "a"):
        p.append(f"policies row of {dom}: {shared_policy(dom)}, want id {wid} fetched_by a")
    rc, out, err = c.cli("cache", "list", dom, "--json", "--socket", f"unix:{c.admin}")
    try:
        entries = json.loads(out) if rc == 0 else None
    except ValueError:
        entries = None
    if not isinstance(entries, list) or len(entries) != 1 or \
            entries[0].get("fetched_by") != "a" or entries[0].get("id") != wid:
        p.append(f"cache list {dom} --json on c: exit {rc}, {out.strip()[:400]!r} "
                 f"{err.strip()[:200]!r}; want one entry, id {wid}, fetched_by \"a\"")
    for n in (a, b, c):  # "a local SQLite copy of the policies they use"
        got = local_copy_id(n, dom)
        if got != wid:
            p.append(f"{n.name}'s local copy of {dom}: id {got!r}, want {wid}")
    return "1 fetch for 3 nodes"


def concurrent_cold(p, nodes):
    fetches = Fetches()
    jobs = [(n, dom) for n in nodes for dom in COLD for _ in range(2)]
    barrier = threading.Barrier(len(jobs))
    answers = {}
    lock = threading.Lock()

    def ask(i, n, dom):
        try:
            c = Conn(n.sm, timeout=30)
        except Exception as e:
            barrier.abort()
            with lock:
                answers[i] = f"connect: {e}"
            return
        try:
            barrier.wait(timeout=30)
            got = c.query("postfix", dom)
        except Exception as e:
            got = f"{type(e).__name__}: {e}"
        finally:
            c.close()
        with lock:
            answers[i] = got

    start = time.monotonic()
    threads = [threading.Thread(target=ask, args=(i, n, dom)) for i, (n, dom) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start
    wrong = [f"{n.name} {dom}: {answers.get(i)!r}" for i, (n, dom) in enumerate(jobs)
             if answers.get(i) != want(dom)]
    if wrong:
        p.append(f"{len(wrong)} of {len(jobs)} answers wrong, first: {wrong[:4]}")
    n_fetch = fetches.settled()
    if n_fetch != len(COLD):
        p.append(f"{n_fetch} HTTPS fetches for {len(COLD)} new policies asked on 3 nodes at "
                 f"once, want {len(COLD)} (one per policy for the fleet)")
    by = {}
    for dom in COLD:
        row = shared_policy(dom)
        if not row or row[0] != zone_id(dom) or row[1] not in NODES:
            p.append(f"policies row of {dom}: {row}, want id {zone_id(dom)} fetched by a, b or c")
        else:
            by[row[1]] = by.get(row[1], 0) + 1
    # A stored fetch ends its claim: the row stays as the record of what was stored
    # (fetched_at set, lease over), never as a claim still running.
    left = sql("SELECT domain, node FROM fetch_claims WHERE (fetched_at IS NULL OR until > now()) "
               "AND domain IN (" + ",".join(lit(d) for d in COLD) + ")")
    if left:
        p.append(f"fetch claims still running after the fetches ended: {left}")
    return (f"{len(jobs)} queries in {elapsed:.1f}s, {n_fetch} fetches, fetched by "
            + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))


def purge_reaches(p, nodes):
    a, b, c = nodes
    dom = INVALIDATE
    subprocess.run([ENV["WORLD_LIB"], "world_flush_resolver"], check=True, timeout=30,
                   capture_output=True)
    for _ in range(2):
        got = b.sm_query(dom)
        if got != want(dom):
            p.append(f"{dom} on b: {got!r}, want {want(dom)!r}")
    m0 = b.misses()
    got = b.sm_query(dom)
    if b.misses() != m0:
        p.append("b's decision was not kept in memory (the check below would prove nothing)")
    fetches = Fetches()
    rc, out, err = a.cli("cache", "purge", dom, "--socket", f"unix:{a.admin}")
    t0 = time.monotonic()
    if rc != 0:
        p.append(f"cache purge {dom} on a: exit {rc}: {err.strip()[:300]}")
    if shared_policy(dom) is not None:
        p.append(f"policies row of {dom} still there after the purge: {shared_policy(dom)}")
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    m1 = b.misses()
    got = b.sm_query(dom)
    if got != want(dom):
        p.append(f"{dom} on b after the purge: {got!r}, want {want(dom)!r}")
    if b.misses() != m1 + 1:
        p.append(f"1 s after `cache purge {dom}` on a, b still answered from memory "
                 f"(misses {m1} -> {b.misses()}, want +1)")
    n_fetch = fetches.settled()
    row = shared_policy(dom)
    # b's local copy went with the notification: b fetched the policy anew.
    if n_fetch != 1 or not row or row[1] != "b":
        p.append(f"after the purge b's next query made {n_fetch} fetches and the row is {row}; "
                 "want 1 fetch by b (its local copy purged too, not re-sent)")
    return f"b forgot within 1 s, refetched ({n_fetch} fetch)"


def refresh_reaches(p, nodes):
    a, b, c = nodes
    dom = INVALIDATE
    for n in (a, b):
        for _ in range(2):
            got = n.sm_query(dom)
            if got != want(dom):
                p.append(f"{dom} on {n.name}: {got!r}")
    before = {n.name: n.misses() for n in (a, b)}
    fetches = Fetches()
    rc, out, err = c.cli("cache", "refresh", dom, "--json", "--socket", f"unix:{c.admin}")
    t0 = time.monotonic()
    try:
        sts = json.loads(out) if rc == 0 else {}
    except ValueError:
        sts = {}
    if rc != 0 or sts.get("id") != zone_id(dom) or sts.get("mode") != "enforce":
        p.append(f"cache refresh {dom} on c: exit {rc}, {out.strip()[:300]!r} {err.strip()[:200]!r}")
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    for n in (a, b):
        got = n.sm_query(dom)
        if got != want(dom):
            p.append(f"{dom} on {n.name} after the refresh: {got!r}, want {want(dom)!r}")
        if n.misses() != before[n.name] + 1:
            p.append(f"1 s after `cache refresh {dom}` on c, {n.name} still answered from memory "
                     f"(misses {before[n.name]} -> {n.misses()}, want +1)")
    n_fetch = fetches.settled()
    if n_fetch != 1:
        p.append(f"{n_fetch} fetches, want 1 (the refresh; a and b use c's policy)")
    if shared_policy(dom) != (zone_id(dom), "c"):
        p.append(f"policies row of {dom}: {shared_policy(dom)}, want fetched_by c")
    return "a and b decided anew within 1 s"


def stats_healthy(p, nodes):
    notes = []
    for n in nodes:
        s = store_status_problems(p, n)
        for k in ("outages", "unsynced_policies"):
            if s.get(k) != 0:
                p.append(f"{n.name}: stats.store.{k} = {s.get(k)!r} with PostgreSQL up all along")
        notes.append(f"{n.name}: errors {s.get('errors')}")
    return ", ".join(notes)


# --- cases: TLS-RPT --------------------------------------------------------------------------

def rpt_results(p, nodes):
    """Results for one report domain on every node: one aggregate in PostgreSQL."""
    a, b, c = nodes
    dom = ENV["RPT_DOMAIN_ENFORCE"]
    pol = sts_policy(dom)
    expired = [{"result-type": "certificate-expired", "receiving-mx-hostname": f"mx1.{dom}",
                "receiving-ip": "192.0.2.9"}]
    # a: 2 successes, 1 failure (JSON op); b: 1 success, 1 failure (libtlsrpt datagrams);
    # c: 1 success, 1 failure (JSON op, the same failure as a's).
    a.report(dom, "success", pol)
    a.report(dom, "success", pol)
    a.report(dom, "failure", pol, expired)
    dg = {"policy-type": 2, "policy-domain": dom, "policy-string": pol["policy-string"],
          "mx-host": pol["mx-host"]}
    send_datagram(b.tlsrpt, libtlsrpt_datagram(dom, "v=TLSRPTv1; rua=mailto:x@y",
                                               [dict(dg, t=0, f=0)]))
    send_datagram(b.tlsrpt, libtlsrpt_datagram(dom, "v=TLSRPTv1; rua=mailto:x@y", [dict(
        dg, t=1, f=1, **{"failure-details": [{
            "c": 202, "s": "192.0.2.1", "n": f"mx1.{dom}", "h": "mx1.helo.test",
            "r": "198.51.100.7", "a": "name mismatch", "f": "X509_V_ERR_HOSTNAME_MISMATCH"}]})]))
    c.report(dom, "success", pol)
    c.report(dom, "failure", pol, expired)
    want_sums = (4, 3)
    want_types = {"certificate-expired": 2, "certificate-host-mismatch": 1}
    start = time.monotonic()
    got = wait_until(lambda: rpt_sums(dom) == want_sums and rpt_details(dom) == want_types, 15)
    took = time.monotonic() - start
    if not got:
        p.append(f"PostgreSQL holds {rpt_sums(dom)} successes/failures and {rpt_details(dom)} "
                 f"for {dom} within 15 s, want {want_sums} and {want_types}")
    time.sleep(2.5)  # one more push period: nothing counted twice
    if rpt_sums(dom) != want_sums:
        p.append(f"after another push period: {rpt_sums(dom)}, want {want_sums}")
    pushes = {r[0] for r in sql("SELECT DISTINCT node FROM rpt_push")}
    if not set(NODES) <= pushes:
        p.append(f"rpt_push names the nodes {sorted(pushes)}, want a, b and c")
    shown = []
    for n in nodes:  # the same aggregate from every node
        rc, out, err = n.cli("report", "show", "--date", DAY, "--domain", dom)
        try:
            report = json.loads(out) if rc == 0 else {}
        except ValueError:
            report = {}
        if rc != 0:
            p.append(f"report show on {n.name}: exit {rc}: {err.strip()[:300]}")
            continue
        by_type = check_report_json(p, report, dom)
        if len(by_type.get("sts", [])) != 1 or len(report.get("policies", [])) != 1:
            p.append(f"report show on {n.name}: {len(report.get('policies', []))} policies, "
                     "want the one MTA-STS policy every node counted under")
        s, f, types = report_totals(report)
        if (s, f) != want_sums or types != want_types:
            p.append(f"report show on {n.name}: {s} successes, {f} failures, {types}; want "
                     f"{want_sums} and {want_types}")
        shown.append(json.dumps(report.get("policies"), sort_keys=True))
    if len(set(shown)) > 1:
        p.append("report show differs between the nodes")
    t = {n.name: n.stats().get("tlsrpt", {}) for n in nodes}
    if t["a"].get("report_ops") != 3 or t["b"].get("datagrams") != 2 or \
            t["c"].get("report_ops") != 2:
        p.append(f"stats tlsrpt: {t}; want a 3 report ops, b 2 datagrams, c 2 report ops")
    return f"in PostgreSQL after {took:.1f}s"


def two_nodes_send(p, nodes):
    a, b, _ = nodes
    dom = ENV["RPT_DOMAIN_ENFORCE"]
    before = len(mails_for(dom))
    procs = []
    for n in (a, b):  # at the same moment
        args = n.args("report", "send", "--date", DAY, "--domain", dom)
        procs.append((n, subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          env=faked(TOMORROW_OFFSET), start_new_session=True)))
    results = {n.name: finish_group(proc, 90) for n, proc in procs}
    rcs = {k: v[0] for k, v in results.items()}
    if 0 not in rcs.values():
        p.append(f"report send on a and b: exits {rcs}, want one 0: {results}")
    new = settled_mails(dom, before)
    if len(new) != 1:
        p.append(f"{len(new)} report mails for {dom}, want exactly 1 (two senders at once): "
                 f"{ {k: (v[1] + v[2]).strip()[:300] for k, v in results.items()} }")
    if new:
        report = check_mail(p, *new[0], dom, None)
        if report is not None:
            s, f, types = report_totals(report)
            if (s, f) != (4, 3):
                p.append(f"the mailed report counts {s} successes, {f} failures, want 4 and 3")
    rows = sql(f"SELECT state, claimed_by FROM rpt_report WHERE day = {lit(DAY)} "
               f"AND domain = {lit(dom)}")
    if len(rows) != 1 or rows[0][0] != "sent":
        p.append(f"rpt_report rows for {dom}: {rows}, want one, sent")
    return f"exits {rcs}"


def slow_sendmail(base, name, then=None, hold=120):
    """A sendmail that records its pid, reads the message, then waits `hold` s (and, with
    `then`, a list, runs it on the message: a slow but real delivery)."""
    path = os.path.join(base, name)
    pids = path + ".pids"
    with open(path, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\n")
        f.write(f'echo $$ >>"{pids}"\n')
        f.write(f'cat >"{path}.$$.eml"\n')
        if then:
            f.write(f"sleep {hold}\n")
            quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in then)
            f.write(f'exec {quoted} "$@" <"{path}.$$.eml"\n')
        else:
            f.write(f"exec sleep {hold}\n")
    os.chmod(path, 0o755)
    return path, pids


def kill_pids_in(path):
    try:
        with open(path, encoding="utf-8") as f:
            pids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def one_node_two_senders(p, nodes, base):
    """The daemon and `tlspolicy report send` of one node (one fleet.node) exclude each other
    too: the second sender is refused while the first holds the claim."""
    c = nodes[2]
    dom = ENV["RPT_DOMAIN_INVALID"]  # mailto: and https://reports.test/created
    c.report(dom, "success", {"policy-type": "no-policy-found"})
    if not wait_until(lambda: rpt_sums(dom) == (1, 0), 10):
        p.append(f"the result for {dom} did not reach PostgreSQL: {rpt_sums(dom)}")
        return None
    real = json.loads(ENV["REPORT_SENDMAIL"])
    script, pids = slow_sendmail(base, "sendmail-slow3", then=real, hold=3)
    mails_before = len(mails_for(dom))
    posts_before = len(https_requests())
    cmd = ["report", "send", "--date", DAY, "--domain", dom]
    first = subprocess.Popen(
        c.args(*cmd, extra=[f'tlsrpt.sendmail=["{script}"]']),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=faked(TOMORROW_OFFSET), start_new_session=True)
    try:
        held = wait_until(lambda: sql(f"SELECT claimed_by FROM rpt_report WHERE day = {lit(DAY)} "
                                      f"AND domain = {lit(dom)} AND claim_until > now()"), 15)
        if not held or not held[0][0].startswith("c"):
            p.append(f"the first sender's claim is not in rpt_report: {held}")
        rc2, out2, err2 = c.cli(*cmd, faketime=TOMORROW_OFFSET, timeout=60)
        if rc2 == 0 or "claimed" not in (out2 + err2):
            p.append(f"second sender of node c while the first holds the report: exit {rc2}, "
                     f"{(out2 + err2).strip()[:300]!r}; want it refused (claimed by another "
                     "sender)")
    finally:
        rc1, out1, err1 = finish_group(first, 60)
        kill_pids_in(pids)
    if rc1 != 0:
        p.append(f"first sender: exit {rc1}: {(out1 + err1).strip()[:400]}")
    new = settled_mails(dom, mails_before)
    posts = [x for x in https_requests()[posts_before:] if x.get("path") == "/created"]
    if len(new) != 1 or len(posts) != 1:
        p.append(f"{len(new)} mails and {len(posts)} POSTs of the {dom} report, want 1 and 1")
    return f"second sender exit {rc2}"


# --- cases: PostgreSQL restarted, stopped ---------------------------------------------------

class Load:
    """Every node asked the LOAD domains continuously; every answer compared with the world's."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.phase = "before"
        self.wrong = []
        self.counts = {}
        self.slow = []
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in nodes]

    def start(self):
        for t in self.threads:
            t.start()

    def set_phase(self, phase):
        with self.lock:
            self.phase = phase

    def run(self, node):
        conn = None
        i = 0
        while not self.stopping.is_set():
            dom = LOAD[i % len(LOAD)]
            i += 1
            start = time.monotonic()
            try:
                if conn is None:
                    conn = Conn(node.sm, timeout=15)
                got = conn.query("postfix", dom)
            except Exception as e:
                got = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            secs = time.monotonic() - start
            with self.lock:
                key = (self.phase, node.name)
                self.counts[key] = self.counts.get(key, 0) + 1
                if got != want(dom):
                    self.wrong.append(f"[{self.phase}] {node.name} {dom}: {got!r}")
                if secs > 3:
                    self.slow.append(f"[{self.phase}] {node.name} {dom}: {secs:.1f}s")
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def problems(self, phases):
        with self.lock:
            out = []
            wrong = [w for w in self.wrong if any(w.startswith(f"[{ph}]") for ph in phases)]
            if wrong:
                out.append(f"{len(wrong)} wrong answers under load, first: {wrong[:4]}")
            slow = [s for s in self.slow if any(s.startswith(f"[{ph}]") for ph in phases)]
            if slow:
                out.append(f"{len(slow)} answers took over 3 s: {slow[:4]}")
            for ph in phases:
                for n in self.nodes:
                    if not self.counts.get((ph, n.name)):
                        out.append(f"no answer at all from {n.name} during {ph}")
            return out

    def count(self, phase):
        with self.lock:
            return sum(v for (ph, _), v in self.counts.items() if ph == phase)


def all_healthy(nodes):
    return all(n.store_status().get("healthy") is True for n in nodes)


def listeners():
    """Application names of the sessions listening for the fleet's notifications."""
    return sorted(r[0] for r in sql("SELECT application_name FROM pg_stat_activity "
                                    "WHERE query ILIKE 'LISTEN%'"))


def relisten_problems(p, nodes, what):
    """Every node listens again (its purges and refreshes reach the fleet): within 35 s."""
    got = wait_until(lambda: len(listeners()) >= len(nodes), 35, step=0.5)
    if not got:
        p.append(f"{len(listeners())} sessions LISTEN 35 s after {what}, want one per node "
                 f"({len(nodes)}): {listeners()}")


def restart_under_load(p, nodes, load, fetches):
    time.sleep(0.5)  # phase "before": the load runs
    load.set_phase("restart")
    pg("restart")
    back = time.monotonic()
    relisten_problems(p, nodes, "the restart")
    # A node that listens again forgets its decisions (it may have missed notifications):
    # the decisions that follow use the store again, and stats says how that went.
    time.sleep(1.0)
    healthy = wait_until(lambda: all_healthy(nodes), max(1.0, 35 - (time.monotonic() - back)),
                         step=0.5)
    took = time.monotonic() - back
    load.set_phase("after-restart")
    time.sleep(0.5)
    p.extend(load.problems(["before", "restart"]))
    if not healthy:
        p.append("stats.store.healthy not true on every node within 35 s of the restart: "
                 + str({n.name: n.store_status() for n in nodes}))
    n_fetch = len(fetches.lines())
    if n_fetch:
        p.append(f"{n_fetch} policy fetches during the restart, want none (every policy is stored)")
    return f"{load.count('restart')} answers, healthy {took:.1f}s after the restart"


def outage(p, nodes, load, fetches, state):
    rpt = ENV["RPT_DOMAIN_DANE"]
    npf = {"policy-type": "no-policy-found"}
    for n in nodes:  # counted and pushed before the outage
        n.report(rpt, "success", npf)
    if not wait_until(lambda: rpt_sums(rpt) == (3, 0), 10):
        p.append(f"results before the outage not in PostgreSQL: {rpt_sums(rpt)}, want (3, 0)")
    state["before"] = rpt_sums(rpt)
    load.set_phase("outage")
    pg("halt")
    state["down_at"] = time.monotonic()
    time.sleep(1.5)
    # What a node says while it only answered from memory (an observation, not a check).
    state["quiet"] = {n.name: n.store_status().get("healthy") for n in nodes}
    for n in nodes:  # first asked now: fetched without the store
        dom = OUTAGE_COLD[n.name]
        start = time.monotonic()
        got = n.sm_query(dom)
        secs = time.monotonic() - start
        if got != want(dom):
            p.append(f"{dom}, first asked on {n.name} with PostgreSQL down: {got!r}, "
                     f"want {want(dom)!r}")
        if secs > 5:
            p.append(f"{dom} on {n.name} with PostgreSQL down took {secs:.1f}s")
        # TLS-RPT results while it is down: held locally.
        n.report(rpt, "success", npf)
        n.report(rpt, "failure", npf, [{"result-type": "starttls-not-supported",
                                        "receiving-mx-hostname": f"mx1.{rpt}"}])
    wait_until(lambda: not any(n.store_status().get("healthy") for n in nodes), 5)
    for n in nodes:
        s = n.store_status()
        if s.get("healthy") is not False:
            p.append(f"{n.name}: stats.store.healthy {s.get('healthy')!r} with PostgreSQL down "
                     "(after a cold decision needed it)")
        if not isinstance(s.get("outages"), int) or s.get("outages") < 1:
            p.append(f"{n.name}: stats.store.outages {s.get('outages')!r}, want >= 1")
        if not s.get("last_error"):
            p.append(f"{n.name}: stats.store.last_error empty during the outage")
        if not isinstance(s.get("unsynced_policies"), int) or s.get("unsynced_policies") < 1:
            p.append(f"{n.name}: stats.store.unsynced_policies {s.get('unsynced_policies')!r}, "
                     f"want >= 1 ({OUTAGE_COLD[n.name]} fetched while PostgreSQL was down)")
    time.sleep(max(0.0, 4.0 - (time.monotonic() - state["down_at"])))
    p.extend(load.problems(["outage"]))
    n_fetch = len(fetches.lines())
    if n_fetch != 3:
        p.append(f"{n_fetch} policy fetches during the outage, want 3 (the three domains asked "
                 "for the first time; the others answered from memory or the local copy)")
    return (f"{load.count('outage')} answers in {time.monotonic() - state['down_at']:.1f}s; "
            f"healthy while only answering from memory: {state['quiet']}")


def recovery(p, nodes, load, fetches, state):
    rpt = ENV["RPT_DOMAIN_DANE"]
    load.set_phase("recovery")
    pg("start")
    back = time.monotonic()
    healthy = wait_until(lambda: all_healthy(nodes), 35, step=0.5)
    took = time.monotonic() - back
    if not healthy:
        p.append("stats.store.healthy not true on every node within 35 s of PostgreSQL's return: "
                 + str({n.name: n.store_status() for n in nodes}))
    relisten_problems(p, nodes, "PostgreSQL's return")
    want_sums = (state["before"][0] + 3, 3)
    pushed = wait_until(lambda: rpt_sums(rpt) == want_sums, 15)
    if not pushed:
        p.append(f"TLS-RPT results for {rpt} after the outage: {rpt_sums(rpt)}, want {want_sums} "
                 "(the held results pushed)")
    synced = wait_until(lambda: all(n.store_status().get("unsynced_policies") == 0
                                    for n in nodes), 15)
    if not synced:
        p.append("unsynced_policies not back to 0: "
                 + str({n.name: n.store_status().get("unsynced_policies") for n in nodes}))
    for name, dom in OUTAGE_COLD.items():
        row = shared_policy(dom)
        if row != (zone_id(dom), name):
            p.append(f"policies row of {dom} after the outage: {row}, want id {zone_id(dom)} "
                     f"fetched_by {name} (fetched while PostgreSQL was down, sent when back)")
    time.sleep(2.5)  # one more push period: nothing counted twice
    if rpt_sums(rpt) != want_sums:
        p.append(f"after another push period: {rpt_sums(rpt)}, want {want_sums}")
    load.stop()
    p.extend(load.problems(["after-restart", "recovery"]))
    n_fetch = fetches.settled()
    if n_fetch != 3:
        p.append(f"{n_fetch} policy fetches from the outage to now, want 3")
    return f"healthy {took:.1f}s after PostgreSQL's return, {load.count('recovery')} answers"


# --- case: kill -9 while holding a report claim ---------------------------------------------

def kill9_claim(p, nodes, base):
    a, b, _ = nodes
    dom = ENV["RPT_DOMAIN_DANE"]
    sums = rpt_sums(dom)
    rc, secs = a.stop()
    if rc != 0:
        p.append(f"node a: SIGTERM exit {rc} after {secs:.1f}s, want 0")
    script, pids = slow_sendmail(base, "sendmail-hangs")
    # a again, one day later, sending: its sendmail never returns.
    a.start(extra=["tlsrpt.send=true", f'tlsrpt.sendmail=["{script}"]'], faketime=TOMORROW_OFFSET)
    try:
        a.wait_ready()
        held = wait_until(lambda: os.path.exists(pids) and sql(
            "SELECT claimed_by, extract(epoch FROM claim_until - now())::int, state "
            f"FROM rpt_report WHERE day = {lit(DAY)} AND domain = {lit(dom)} "
            "AND claim_until > now()"), 30)
        if not held:
            p.append("node a (faketime +1d, tlsrpt.send) did not claim and start sending the "
                     f"{dom} report within 30 s: "
                     + str(sql(f"SELECT * FROM rpt_report WHERE domain = {lit(dom)}")) + " "
                     + a.log()[-1000:])
            return None
        claimant, lease, state = held[0]
        if not claimant.startswith("a") or state != "pending":
            p.append(f"the claim is {held[0]}, want node a's, pending")
    finally:
        a.kill()  # kill -9 of the node (and its sendmail)
        kill_pids_in(pids)
    before = len(mails_for(dom))
    # The dead node's claim still runs: nobody else sends.
    rc, out, err = b.cli("report", "send", "--date", DAY, "--domain", dom,
                         faketime=TOMORROW_OFFSET)
    if rc == 0 or "claimed" not in out + err:
        p.append(f"report send on b while a's claim runs: exit {rc}, {(out + err).strip()[:300]!r}; "
                 "want it refused (claimed by another sender)")
    if settled_mails(dom, before, limit=2):
        p.append(f"a report for {dom} was sent while the dead node's claim ran")
    # The lease (10 minutes) runs out: simulated, PostgreSQL's clock decides.
    sql("UPDATE rpt_report SET claim_until = now() - interval '1 second' "
        f"WHERE day = {lit(DAY)} AND domain = {lit(dom)}")
    rc, out, err = b.cli("report", "send", "--date", DAY, "--domain", dom,
                         faketime=TOMORROW_OFFSET)
    if rc != 0:
        p.append(f"report send on b after the claim ran out: exit {rc}: {(out + err).strip()[:400]}")
    new = settled_mails(dom, before)
    if len(new) != 1:
        p.append(f"{len(new)} report mails for {dom} once the claim ran out, want 1")
    else:
        report = check_mail(p, *new[0], dom, None)
        if report is not None:
            s, f, _ = report_totals(report)
            if (s, f) != sums:
                p.append(f"the mailed report counts {(s, f)}, want {sums}")
    rows = sql(f"SELECT state, claimed_by FROM rpt_report WHERE day = {lit(DAY)} "
               f"AND domain = {lit(dom)}")
    if len(rows) != 1 or rows[0][0] != "sent":
        p.append(f"rpt_report for {dom}: {rows}, want sent")
    return f"claim of {claimant} with {lease} s of lease left at the kill; sent by b after it"


def stop_all(p, nodes):
    notes = []
    for n in nodes:
        if not n.alive():
            continue
        rc, secs = n.stop()
        if rc != 0:
            p.append(f"{n.name}: SIGTERM exit {rc} after {secs:.1f}s, want 0 within 10 s")
        notes.append(f"{n.name} {secs:.1f}s")
    for n in nodes:
        crash = n.logs.crashes()
        if crash:
            p.append(f"{n.name}: crash marker {crash} in the log")
    return ", ".join(notes)


# --- driver ----------------------------------------------------------------------------------

def prerequisites():
    if not BIN or not WORLD or not ENV.get("WORLD_LIB"):
        return "no test world (run through tests/integration/run)"
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres") and not ENV.get("PG_BIN"):
        return "needs PostgreSQL's server (Debian package postgresql)"
    if not shutil.which("psql"):
        return "needs psql (postgresql-client)"
    if not FAKETIME_LIB:
        return "needs libfaketime (package faketime)"
    for v in ("SMTP_SINK_DIR", "REPORT_SENDMAIL", "RPT_DOMAIN_ENFORCE", "RPT_DOMAIN_DANE",
              "RPT_DOMAIN_INVALID", "RPT_HTTPS_LOG"):
        if not ENV.get(v):
            return f"needs the world's report sinks ({v} is empty: run as root)"
    return None


def main():
    global URL, PG_DIR
    # Stopped by the runner (SIGTERM): through the finally below, which stops PostgreSQL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    why = prerequisites()
    if why:
        R.skip("fleet", why)
        return R.finish()
    start = time.monotonic()
    # Under WORLD_DIR: short Unix socket paths (<= 107 bytes). 0755: PostgreSQL runs as the
    # user postgres and lives in base/pg.
    tmp = TempDir("fl.", mode=0o755)
    base = tmp.path
    PG_DIR = os.path.join(base, "pg")
    nodes = [Node(name, base) for name in NODES]
    try:
        try:
            URL = pg("start")
        except Exception as e:
            R.case("postgresql-starts", [f"{type(e).__name__}: {e}"])
            return R.finish()
        if not check("start-three-nodes-at-once", start_all, nodes):
            return R.finish()
        check("check-config-url-and-node", check_config, nodes[0])
        check("bad-url-clear-error", bad_url, base)
        check("stats-store-at-start", stats_at_start, nodes)
        check("policy-fetched-once-serves-all", policy_shared, nodes)
        check("concurrent-cold-one-fetch-per-id", concurrent_cold, nodes)
        check("purge-reaches-every-node", purge_reaches, nodes)
        check("refresh-reaches-every-node", refresh_reaches, nodes)
        check("stats-store-healthy", stats_healthy, nodes)
        check("tlsrpt-results-summed", rpt_results, nodes)
        check("tlsrpt-two-nodes-send-once", two_nodes_send, nodes)
        check("tlsrpt-one-node-two-senders", one_node_two_senders, nodes, base)

        subprocess.run([ENV["WORLD_LIB"], "world_flush_resolver"], check=True, timeout=30,
                       capture_output=True)
        load = Load(nodes)
        load.start()
        state = {}
        try:
            check("restart-under-load", restart_under_load, nodes, load, Fetches())
            fetches = Fetches()
            check("outage-answers-right", outage, nodes, load, fetches, state)
            # Always: it brings PostgreSQL back (pg.sh start is idempotent).
            check("outage-recovery", recovery, nodes, load, fetches, state)
        finally:
            load.stop()
        check("kill-9-claim-expires", kill9_claim, nodes, base)
        check("sigterm-no-crash", stop_all, nodes)
    finally:
        for n in nodes:
            n.kill()
        if R.failed:
            for n in nodes:
                if n.logpaths:
                    n.logs.dump(f"node {n.name} log")
            if PG_DIR and os.path.exists(os.path.join(PG_DIR, "postgres.log")):
                with open(os.path.join(PG_DIR, "postgres.log"), "rb") as f:
                    print("--- postgres.log (last 3000 bytes)\n"
                          + f.read().decode(errors="replace")[-3000:])
        try:
            pg("stop")
        except Exception as e:
            R.case("postgresql-stops", [f"{type(e).__name__}: {e}"])
        tmp.remove()
    print(f"# fleet took {time.monotonic() - start:.1f}s")
    return R.finish()


if __name__ == "__main__":
    sys.exit(main())
