#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Fault injection against the real daemon (`tlspolicy serve`, $TLSPOLICY_BIN) in the real test
# world: a resolver that is down, slow or lying, policy hosts that stall, reset or drip, a
# store that is locked, read-only, corrupt, on a full disk or killed mid-write, and clients
# that open 1 000 connections or trickle, idle and never read. SPEC §5: faults give TEMP/defer
# or the RFC's fallback, never a downgrade, and lose no cached policy. Each case states in a
# comment what must hold, checks it, and prints what it saw. docs/testing.md ("Fault tests")
# lists the cases.
#
# The faults are made here, on 127.0.0.1 and in WORLD_DIR only: DnsProxy (lib_dns.py; UDP +
# TCP) sits between the daemon and the world's Unbound and drops, delays or rewrites answers;
# FaultListener plays broken policy hosts (reset, TLS then silence, drip); the store faults use
# a second sqlite3 connection, a read-only bind mount, a small tmpfs and SIGKILL (mounts need
# root: those cases are skipped without it). Every mount, process and file is undone in a
# finally block. Nothing here changes the world's zones or policy files: the world stays as
# the other suites expect it.
#
# Environment (DIR/env.sh via tests/integration/run): TLSPOLICY_BIN, WORLD_DIR, UNBOUND_PORT,
# HTTPS_PORT, STALL_PORT, CLOSED_PORT, TLSPOLICY_CONFIG, TLSPOLICY_VALIDATE_CONFIG.
# Run alone against a kept world:  TLSPOLICY_BIN=… python3 faults.py [CASE...]
# Output (lib_results): "ok NAME (what held)" / "FAIL NAME: ..." / "skip NAME: ..." lines, then
# "suite-result: passed=N failed=M skipped=K". Each case's daemons: lib_daemon.Daemon, stopped
# by finish_daemon() in the case.

import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import threading
import time

from lib_cases import lookup
from lib_daemon import (CRASH_MARKERS, ENFORCE, ENFORCE_REPLY, Conn, Daemon, finish_daemon,
                        in_background, LogCapture, netstring, timed, wait_for)
from lib_dns import T_MX, DnsProxy
from lib_results import Results, Skip, TempDir
import lib_tlsrpt
from lib_tlsrpt import libtlsrpt_datagram
from lib_world import BIN, CONFIG, ENV, EXPECT, VALIDATE_CONFIG, WORLD, reply_problems

R = Results()
IS_ROOT = os.geteuid() == 0

# The world's settings (lib.sh write_env): resolver.timeout 2s, attempts 2 (trust-ad);
# mta_sts.connect_timeout 2s, fetch_timeout 3s; store.busy_timeout 5s (default).
WORLD_DNS_TIMEOUT, WORLD_DNS_ATTEMPTS = 2.0, 2
FETCH_TIMEOUT = 3.0
# The engine's lookups before the MX answer decides (src/policy/engine.cpp): the _smtp._tls
# TXT (TLS-RPT, its failure ignored), then the MX. With every answer lost, a cold decision
# waits for both, so "within the resolver timeouts" is 2 x attempts x timeout.
LOOKUPS_BEFORE_MX = 2
SLACK = 2.0  # seconds of scheduling slack on every time bound (a bound on a hang, not a speed)
FAST = 2.0  # "answers at once": a cached answer while something else is stuck


def store_rows(path):
    """{domain: id} of the policies table, read through a read-only connection."""
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return dict(c.execute("SELECT domain, id FROM policies").fetchall())
    finally:
        c.close()


def cli_lookup(domain, store, config=CONFIG, sets=()):
    """`tlspolicy lookup` with the store at STORE (fills it like the daemon would)."""
    return lookup(domain, f"store.path={store}", *sets, config=config, timeout=60)


def seed_store(store, domains, config=CONFIG, stale_ids=False):
    """Stores the world's policies of DOMAINS in STORE (through `tlspolicy lookup`). With
    stale_ids, each row's id is then changed to '<id>0', so the TXT record names a newer id
    and the daemon fetches again (RFC 8461 §3.3) while the cached policy stays unexpired."""
    for dom in domains:
        r = cli_lookup(dom, store, config)
        if r.rc != 0 or not r.json or r.json.get("postfix") != EXPECT[dom][0].postfix:
            raise RuntimeError(f"seeding {dom}: want {EXPECT[dom][0].postfix!r}: {r.describe()}")
    if stale_ids:
        c = sqlite3.connect(store, timeout=10)
        try:
            with c:
                c.executemany("UPDATE policies SET id = id || '0' WHERE domain = ?",
                              [(d,) for d in domains])
        finally:
            c.close()
    return store_rows(store)


# --- broken policy hosts ---------------------------------------------------------------------

class FaultListener:
    """A TCP listener on 127.0.0.1 that plays a broken HTTPS policy host:
      reset   accepts, reads the TLS ClientHello, then closes with RST (SO_LINGER 0)
      silent  completes the TLS handshake (the world's good certificate), then never answers
      drip    answers "200 text/plain", Content-Length 1000, then one body byte per second"""

    def __init__(self, kind):
        self.kind = kind
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held = []
        self.stopped = False
        self.ctx = None
        if kind in ("silent", "drip"):
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(os.path.join(WORLD, "pki", "good.pem"),
                                     os.path.join(WORLD, "pki", "good.key"))
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.kind == "reset":
                c.settimeout(5)
                c.recv(65536)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                return
            c.settimeout(30)
            t = self.ctx.wrap_socket(c, server_side=True)
            self.held.append(t)
            if self.kind == "silent":
                return  # held open, never a byte of HTTP
            t.recv(65536)  # the request
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 1000\r\n\r\n")  # under max_policy_bytes
            body = b"version: STSv1\nmode: enforce\nmx: mx1.example\nmax_age: 86400\n"
            while not self.stopped:
                for b in body:
                    t.sendall(bytes([b]))
                    time.sleep(1)
        except (OSError, ssl.SSLError):
            return

    def close(self):
        self.stopped = True
        self.sock.close()
        for t in self.held:
            try:
                t.close()
            except OSError:
                pass


# --- mounts (root) ---------------------------------------------------------------------------

def run(*cmd, check_rc=True):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def is_mountpoint(path):
    return run("mountpoint", "-q", path, check_rc=False).returncode == 0


def umount(path):
    """Unmounts PATH if mounted (lazily when busy: a failed case may leave a holder)."""
    if is_mountpoint(path):
        if run("umount", path, check_rc=False).returncode != 0:
            run("umount", "-l", path, check_rc=False)


# --- 1. resolver down ------------------------------------------------------------------------

# Holds: with resolver.servers at a closed port every cold decision is a defer — socketmap
# "TEMP …", JSON action "defer", never "opportunistic" — and comes within the resolver
# timeouts: the engine's two lookups before the MX answer decides (_smtp._tls TXT, then MX),
# each attempts x timeout (trust-ad 2 x 2 x 2 s; validate: 2 x 2 s, libunbound's own retries
# inside one timeout). SPEC §3 step 2: the MX lookup failed, so the server list is unknown:
# defer, even for a domain whose MTA-STS policy is cached and unexpired (no MX host can be
# matched against it); that cached policy stays in the store.
def resolver_down(p, base, mode):
    config = CONFIG if mode == "trust-ad" else VALIDATE_CONFIG
    closed = ENV["CLOSED_PORT"]
    store = os.path.join(base, f"down-{mode}.sqlite")
    rows = seed_store(store, [ENFORCE], config)
    d = Daemon(f"down-{mode}", config, base, store=store,
               extra=[f'resolver.servers=["127.0.0.1@{closed}"]'])
    bound = LOOKUPS_BEFORE_MX * WORLD_DNS_TIMEOUT * (
        WORLD_DNS_ATTEMPTS if mode == "trust-ad" else 1) + SLACK
    seen = []
    try:
        d.wait_ready()
        waits = {dom: in_background(d.sm_query, dom) for dom in
                 (ENFORCE, "tlsa311.dane.test", "testing.mta.test")}
        jd = in_background(d.decide, "wildcard.mta.test")
        for dom, w in waits.items():
            got, secs = w(60)
            seen.append(f"{dom} {secs:.1f}s")
            if not (isinstance(got, str) and got.startswith("TEMP ")):
                p.append(f"socketmap {dom}: got {got!r}, want TEMP")
            if secs > bound:
                p.append(f"socketmap {dom}: {secs:.1f}s, want within {bound:.0f}s")
        got, secs = jd(60)
        if not isinstance(got, dict) or got.get("action") != "defer":
            p.append(f"JSON decide: got {got!r}, want action defer")
        elif "MX lookup" not in got.get("reason", ""):
            p.append(f"JSON decide reason {got.get('reason')!r} does not name the MX lookup")
        if secs > bound:
            p.append(f"JSON decide: {secs:.1f}s, want within {bound:.0f}s")
        after = store_rows(store)
        if after.get(ENFORCE) != rows.get(ENFORCE):
            p.append(f"the cached policy of {ENFORCE} is gone: store {after!r}, was {rows!r}")
    finally:
        finish_daemon(p, d)
    # The same store with the resolver back: the cached policy answers again (from_cache).
    d2 = Daemon(f"up-{mode}", config, base, store=store)
    try:
        d2.wait_ready()
        dec = d2.decide(ENFORCE)
        if dec.get("postfix") != ENFORCE_REPLY or not (dec.get("mta_sts") or {}).get("from_cache"):
            p.append(f"resolver back: got {dec.get('postfix')!r}, mta_sts {dec.get('mta_sts')!r}, "
                     "want the cached enforce policy (from_cache)")
    finally:
        finish_daemon(p, d2)
    return f"TEMP for {', '.join(seen)}; bound {bound:.0f}s; cached policy kept and used after"


# Holds: when only the _mta-sts TXT lookup fails (SERVFAIL, or no answer at all) and the MX
# lookup works, a domain with an unexpired cached policy keeps its enforce answer (from the
# cache: RFC 8461 §3.3, §5.1; STS-18), and a domain without one is delivered as if it had no
# policy (opportunistic, NOTFOUND: RFC 8461 §3.3, STS-17, SPEC §3) — it is not deferred.
def txt_lookup_fails(p, base):
    store = os.path.join(base, "txtfail.sqlite")
    seed_store(store, [ENFORCE, "wildcard.mta.test"])
    proxy = DnsProxy(ENV["UNBOUND_PORT"])
    failing = {"_mta-sts.enforce.mta.test": ("servfail",),
               "_mta-sts.wildcard.mta.test": ("drop",),
               "_mta-sts.multi.mta.test": ("servfail",),
               "_mta-sts.lfonly.mta.test": ("drop",)}
    proxy.rules = lambda q, t: [failing[q]] if q in failing else []
    d = Daemon("txtfail", CONFIG, base, store=store,
               extra=[f'resolver.servers=["{proxy.server()}"]', "resolver.timeout=1s"])
    out = []
    try:
        d.wait_ready()
        want = {ENFORCE: (ENFORCE_REPLY, True),
                "wildcard.mta.test": ("OK secure match=.wildcard.mta.test servername=hostname",
                                      True),
                "multi.mta.test": ("NOTFOUND ", False), "lfonly.mta.test": ("NOTFOUND ", False)}
        waits = {dom: in_background(d.decide, dom) for dom in want}
        for dom, (reply, cached) in want.items():
            dec, secs = waits[dom](60)
            if not isinstance(dec, dict):
                p.append(f"{dom}: {dec!r}")
                continue
            sts = dec.get("mta_sts") or {}
            if dec.get("postfix") != reply:
                p.append(f"{dom} ({failing['_mta-sts.' + dom][0]} TXT): got "
                         f"{dec.get('postfix')!r}, want {reply!r}")
            if cached and not sts.get("from_cache"):
                p.append(f"{dom}: mta_sts {sts!r}, want the cached policy (from_cache true)")
            if not cached and (dec.get("action") != "opportunistic" or dec.get("mta_sts")):
                p.append(f"{dom}: action {dec.get('action')!r}, mta_sts {dec.get('mta_sts')!r}; "
                         "want opportunistic without a policy")
            out.append(f"{dom} {failing['_mta-sts.' + dom][0]}→{reply.split(' ')[0]}")
        if proxy.count(lambda q, t, a: q.startswith("_mta-sts.") and a) == 0:
            p.append("the proxy saw no _mta-sts query: the fault was not exercised")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return "; ".join(out)


# --- 2. resolver slow ------------------------------------------------------------------------

# Holds: when the resolver answers later than resolver.timeout (the proxy delays every answer
# by 3 s, timeout 1 s, attempts 2), a cold decision is TEMP within the resolver timeouts
# (2 lookups x 2 attempts x 1 s, plus slack), while the daemon keeps answering decisions it
# has in memory: a cached query is answered in well under FAST seconds while twelve cold
# ones are stuck, because cached answers never wait for the lookup pool.
def resolver_slow(p, base):
    proxy = DnsProxy(ENV["UNBOUND_PORT"])
    proxy.rules = lambda q, t: [("ttl", 3600)]  # warm answers: long TTLs, no expiry mid-case
    d = Daemon("slow", CONFIG, base, extra=[f'resolver.servers=["{proxy.server()}"]',
                                            "resolver.timeout=1s", "resolver.attempts=2"])
    bound = LOOKUPS_BEFORE_MX * 1.0 * 2 + SLACK
    warm = [ENFORCE, "tlsa311.dane.test", "testing.mta.test"]
    cold = [f"{n}.mta.test" for n in ("wildcard", "multi", "none", "cname", "split", "lfonly",
                                       "crlf", "unknownkeys", "othertxt")] + [
        "tlsa201.dane.test", "twomx.dane.test", "notlsa.dane.test"]
    try:
        d.wait_ready()
        for dom in warm:
            if d.sm_query(dom) != EXPECT[dom][0].postfix:
                raise RuntimeError(f"warming {dom}: not the world's answer")
        truth = {dom: EXPECT[dom][0].postfix for dom in warm}
        proxy.rules = lambda q, t: [("delay", 3)]
        stuck = {dom: in_background(d.sm_query, dom) for dom in cold}
        time.sleep(0.5)
        early = [dom for dom, w in stuck.items() if w.done()]
        if early:
            p.append(f"cold lookups answered before any DNS answer came: {early}")
        slowest = 0.0
        for i in range(30):
            dom = warm[i % len(warm)]
            got, secs = timed(d.sm_query, dom, 10)
            slowest = max(slowest, secs)
            if got != truth[dom]:
                p.append(f"cached {dom} while lookups are stuck: got {got!r}, want {truth[dom]!r}")
                break
        if slowest > FAST:
            p.append(f"a cached answer took {slowest:.2f}s while lookups were stuck")
        still = sum(1 for w in stuck.values() if not w.done())
        worst = 0.0
        for dom, w in stuck.items():
            got, secs = w(60)
            worst = max(worst, secs)
            if not (isinstance(got, str) and got.startswith("TEMP ")):
                p.append(f"cold {dom} with a slow resolver: got {got!r}, want TEMP")
            if secs > bound:
                p.append(f"cold {dom}: {secs:.1f}s, want within {bound:.0f}s")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return (f"30 cached answers, slowest {slowest * 1000:.0f} ms, while {still}/{len(cold)} cold "
            f"lookups were stuck; all cold TEMP, slowest {worst:.1f}s (bound {bound:.0f}s)")


# Holds (SPEC §5, limits.decision_deadline): a decision that takes longer than its deadline is
# answered by the decision service with a defer that names the deadline, at about the
# deadline (default 10 s, here the default), and the connection stays usable; JSON gets a
# decision object (action defer) with the request's id. The proxy drops every answer and
# resolver.timeout is 40 s, so only the deadline can end the wait. The lookup goes on behind
# the answer and ends by its own timeouts.
def decision_deadline(p, base):
    proxy = DnsProxy(ENV["UNBOUND_PORT"])
    proxy.rules = lambda q, t: [("drop",)]
    d = Daemon("deadline", CONFIG, base, extra=[f'resolver.servers=["{proxy.server()}"]',
                                                "resolver.timeout=40s", "resolver.attempts=1"])
    secs = jsecs = 0.0
    try:
        d.wait_ready()
        c = Conn(d.sm, timeout=60)
        j = Conn(d.json, timeout=60)
        try:
            jw = in_background(j.request, {"op": "decide", "domain": "multi.mta.test", "id": 7})
            got, secs = timed(c.query, "postfix", ENFORCE)
            want = f"TEMP no decision for {ENFORCE} within the deadline of 10000 ms"
            if not (isinstance(got, str) and got.startswith(want)):
                p.append(f"socketmap: got {got!r}, want {want!r}…")
            if not 9.5 <= secs <= 10 + SLACK:
                p.append(f"socketmap answered after {secs:.1f}s, want about 10 s")
            r, jsecs = jw(60)
            dec = r.get("decision") if isinstance(r, dict) else None
            if not dec or dec.get("action") != "defer" or "deadline" not in dec.get("reason", ""):
                p.append(f"JSON: got {r!r}, want a defer decision naming the deadline")
            if not isinstance(r, dict) or r.get("id") != 7:
                p.append(f"JSON: id not echoed: {r!r}")
            proxy.rules = lambda q, t: []
            got2 = c.query("postfix", "tlsa311.dane.test")
            if got2 != "OK dane-only":
                p.append(f"the same connection afterwards: got {got2!r}, want 'OK dane-only'")
        finally:
            c.close()
            j.close()
        s = d.stats()
        if (s.get("decisions") or {}).get("deadlines", 0) < 2:
            p.append(f"stats decisions.deadlines {(s.get('decisions') or {}).get('deadlines')}, "
                     "want 2")
        if s.get("request_timeouts", 0) != 0:
            p.append(f"stats request_timeouts {s.get('request_timeouts')}, want 0 (the deadline "
                     "answered first)")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return f"defer after {secs:.1f}s, JSON defer after {jsecs:.1f}s (id echoed), connection reused"


# Holds: the server's own request limit (30 s, not a setting: server::ServerOptions) is the
# backstop when limits.decision_deadline is set above it: the server answers "TEMP timeout
# deciding the policy" (socketmap) at about 30 s, the connection stays usable, and JSON gets a
# "timeout" error object. Also: the slow lookup that the server gave up on does not block the
# next request on that connection.
def request_time_limit(p, base):
    proxy = DnsProxy(ENV["UNBOUND_PORT"])
    proxy.rules = lambda q, t: [("drop",)]
    d = Daemon("reqlimit", CONFIG, base, extra=[f'resolver.servers=["{proxy.server()}"]',
                                                "resolver.timeout=40s", "resolver.attempts=1",
                                                "limits.decision_deadline=60s"])
    secs = jsecs = 0.0
    id_note = ""
    try:
        d.wait_ready()
        c = Conn(d.sm, timeout=60)
        j = Conn(d.json, timeout=60)
        try:
            jw = in_background(j.request, {"op": "decide", "domain": "multi.mta.test", "id": 7})
            got, secs = timed(c.query, "postfix", ENFORCE)
            if got != "TEMP timeout deciding the policy":
                p.append(f"socketmap: got {got!r}, want 'TEMP timeout deciding the policy'")
            if not 25 <= secs <= 30 + SLACK:
                p.append(f"socketmap answered after {secs:.1f}s, want about 30 s")
            r, jsecs = jw(60)
            # The server answers this itself and does not know the request's id (7): the
            # error object carries none (docs/protocols/json.md promises the echo).
            if not isinstance(r, dict) or (r.get("error") or {}).get("code") != "timeout":
                p.append(f"JSON: got {r!r}, want a timeout error object")
            id_note = "id echoed" if isinstance(r, dict) and r.get("id") == 7 else "no id"
            proxy.rules = lambda q, t: []
            got2 = c.query("postfix", "tlsa311.dane.test")
            if got2 != "OK dane-only":
                p.append(f"the same connection afterwards: got {got2!r}, want 'OK dane-only'")
        finally:
            c.close()
            j.close()
        s = d.stats()
        if s.get("request_timeouts", 0) < 2:
            p.append(f"stats request_timeouts {s.get('request_timeouts')}, want 2")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return (f"TEMP timeout after {secs:.1f}s, JSON timeout error after {jsecs:.1f}s "
            f"({id_note}), connection reused")


# --- 3. resolver lying -----------------------------------------------------------------------

def lying_daemon(base, name, mode, rules, store=None):
    proxy = DnsProxy(ENV["UNBOUND_PORT"])
    proxy.rules = rules
    config = CONFIG if mode == "trust-ad" else VALIDATE_CONFIG
    d = Daemon(name, config, base, store=store,
               extra=[f'resolver.servers=["{proxy.server()}"]', "resolver.timeout=2s"])
    return proxy, d


# Holds: a path that clears the AD bit turns DANE off in trust-ad mode — the MX RRset looks
# insecure, so tlsa311.dane.test (DANE-EE, `OK dane-only` on an honest path) is answered
# NOTFOUND with dnssec "insecure" (RFC 7672 §2.2.1: no DANE behind an insecure MX). This is the
# reason trust-ad needs a trusted path to a validating resolver (RFC 6698 §4.1, RFC 7672
# §2.1.3; docs/configuration.md resolver.mode). In validate mode the AD bit is not read at
# all (libunbound validates with CD set): the same proxy changes nothing, `OK dane-only`.
def resolver_strips_ad(p, base, mode):
    proxy, d = lying_daemon(base, f"stripad-{mode}", mode, lambda q, t: [("strip_ad",)])
    try:
        d.wait_ready()
        dec = d.decide("tlsa311.dane.test")
        want = ("NOTFOUND ", "insecure") if mode == "trust-ad" else ("OK dane-only", "secure")
        got = (dec.get("postfix"), dec.get("dnssec"))
        if got != want:
            p.append(f"tlsa311.dane.test with AD stripped: got {got!r}, want {want!r}")
        if mode == "trust-ad" and dec.get("action") == "defer":
            p.append("an insecure answer is not a failure: want opportunistic, not defer")
        n = proxy.count(lambda q, t, a: "strip_ad" in a)
        if n == 0:
            p.append("the proxy stripped nothing")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return f"postfix {got[0]!r}, dnssec {got[1]} ({n} answers stripped)"


# Holds: a forged AD bit on answers from an unsigned zone is believed in trust-ad mode
# (unsigned-tlsa.unsigned.test, whose MX and TLSA are insecure, becomes `OK dane-only`: the
# daemon can only be as right as the resolver path it trusts), and ignored in validate mode
# (still NOTFOUND, dnssec insecure: libunbound proves the zone unsigned itself).
def resolver_forges_ad(p, base, mode):
    dom = "unsigned-tlsa.unsigned.test"
    proxy, d = lying_daemon(base, f"forgead-{mode}", mode,
                            lambda q, t: [("set_ad",)] if q.endswith("unsigned.test") else [])
    try:
        d.wait_ready()
        dec = d.decide(dom)
        want = ("OK dane-only", "secure") if mode == "trust-ad" else ("NOTFOUND ", "insecure")
        got = (dec.get("postfix"), dec.get("dnssec"))
        if got != want:
            p.append(f"{dom} with AD forged: got {got!r}, want {want!r}")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return f"postfix {got[0]!r}, dnssec {got[1]}"


# Holds (validate mode): answers a man in the middle has altered in a signed zone are bogus
# and never downgrade. A rewritten A record of the only MX host (mx1.tlsa311.dane.test →
# 127.0.0.9) makes that host unusable, so the decision is defer (RFC 7672 §2.1.1, DANE-4);
# MX answers stripped of their RRSIGs make the MX RRset bogus: defer (SPEC §3 step 2).
def resolver_forges_answers(p, base):
    out = []
    for what, dom, rules in (
            ("rewritten A", "tlsa311.dane.test",
             lambda q, t: [("rewrite_a", "127.0.0.9")] if q == "mx1.tlsa311.dane.test" else []),
            ("MX without RRSIGs", "tlsa201.dane.test",
             lambda q, t: [("strip_rrsig",)] if q == "tlsa201.dane.test" and t == T_MX else [])):
        proxy, d = lying_daemon(base, "forge-" + dom.split(".")[0], "validate", rules)
        try:
            d.wait_ready()
            dec = d.decide(dom)
            if dec.get("action") != "defer" or not dec.get("postfix", "").startswith("TEMP "):
                p.append(f"{what} for {dom}: got {dec.get('action')!r} {dec.get('postfix')!r}, "
                         "want defer / TEMP")
            if proxy.count(lambda q, t, a: bool(a)) == 0:
                p.append(f"{what}: the proxy altered nothing")
            out.append(f"{what}: {dec.get('postfix', '')[:40]!r} (dnssec {dec.get('dnssec')})")
        finally:
            finish_daemon(p, d)
            proxy.close()
    return "; ".join(out)


# Holds (validate mode): an _mta-sts TXT answer stripped of its RRSIGs is bogus. With no
# cached policy the decision is defer — a bogus answer may be an attacker hiding the policy
# (RFC 4035 §5.5, SPEC §3, docs/decision-rules.md §4); with an unexpired cached policy that
# policy applies (from_cache).
def resolver_bogus_txt(p, base):
    store = os.path.join(base, "bogustxt.sqlite")
    seed_store(store, [ENFORCE], VALIDATE_CONFIG)
    targets = ("_mta-sts.enforce.mta.test", "_mta-sts.multi.mta.test")
    proxy, d = lying_daemon(base, "bogustxt", "validate",
                            lambda q, t: [("strip_rrsig",)] if q in targets else [],
                            store=store)
    try:
        d.wait_ready()
        a = d.decide(ENFORCE)
        b = d.decide("multi.mta.test")
        if a.get("postfix") != ENFORCE_REPLY or not (a.get("mta_sts") or {}).get("from_cache"):
            p.append(f"{ENFORCE} (cached, bogus TXT): got {a.get('postfix')!r} "
                     f"{a.get('mta_sts')!r}, want the cached enforce policy")
        if b.get("action") != "defer":
            p.append(f"multi.mta.test (not cached, bogus TXT): got {b.get('action')!r} "
                     f"{b.get('postfix')!r}, want defer")
    finally:
        finish_daemon(p, d)
        proxy.close()
    return f"cached: {a.get('postfix')[:9]!r} from cache; uncached: {b.get('postfix')[:40]!r}"


# --- 4. policy host stall, reset, silence, drip ----------------------------------------------

# Holds: a policy fetch that cannot complete — the world's stall listener (TCP accepted, no
# TLS), a reset listener (RST at once), a silent one (TLS handshake, then no HTTP reply) and a
# drip (200 with one body byte per second) — fails within mta_sts.fetch_timeout (3 s, plus
# DNS slack). Without a cached policy the domain gets the RFC 8461 §3.3 fallback: delivered
# as if it had no policy (opportunistic, NOTFOUND, mta_sts null; STS-17), never deferred.
# With an unexpired cached policy (the TXT names a newer id, so the daemon tries to fetch)
# the cached policy still applies (from_cache, its old id; STS-18), and the store keeps it.
def https_faults(p, base):
    listeners = {k: FaultListener(k) for k in ("reset", "silent", "drip")}
    ports = {"stall": ENV["STALL_PORT"], **{k: lst.port for k, lst in listeners.items()}}
    # (kind, domain with a cached policy, domain without one)
    plan = [("stall", ENFORCE, "stall.mta.test"), ("reset", "multi.mta.test", "wildcard.mta.test"),
            ("silent", "lfonly.mta.test", "crlf.mta.test"),
            ("drip", "unknownkeys.mta.test", "split.mta.test")]
    store = os.path.join(base, "https.sqlite")
    d = None
    out = []
    try:
        rows = seed_store(store, [c for _, c, _ in plan], stale_ids=True)
        connect_to = [f"mta-sts.{dom}:443:127.0.0.1:{ports[kind]}"
                      for kind, cached, cold in plan for dom in (cached, cold)]
        connect_to.append(f"::127.0.0.1:{ENV['HTTPS_PORT']}")
        d = Daemon("https", CONFIG, base, store=store,
                   extra=["mta_sts.connect_to=" + json.dumps(connect_to)])
        d.wait_ready()
        bound = FETCH_TIMEOUT + SLACK
        waits = {dom: in_background(d.decide, dom) for _, c, u in plan for dom in (c, u)}
        for kind, cached, cold in plan:
            dec, secs = waits[cached](60)
            if not isinstance(dec, dict):
                p.append(f"{kind}: {cached}: {dec!r}")
                continue
            sts = dec.get("mta_sts") or {}
            if dec.get("postfix") != EXPECT[cached][0].postfix or not sts.get("from_cache") \
                    or sts.get("id") != rows.get(cached):
                p.append(f"{kind}, cached {cached}: got {dec.get('postfix')!r} {sts!r}, want the "
                         f"cached policy id {rows.get(cached)}")
            t_cached = secs
            dec, secs = waits[cold](60)
            if not isinstance(dec, dict):
                p.append(f"{kind}: {cold}: {dec!r}")
                continue
            if (dec.get("action"), dec.get("postfix"), dec.get("mta_sts")) != \
                    ("opportunistic", "NOTFOUND ", None):
                p.append(f"{kind}, not cached {cold}: got {dec.get('action')!r} "
                         f"{dec.get('postfix')!r} {dec.get('mta_sts')!r}, want opportunistic, "
                         "NOTFOUND, no policy")
            for dom, s in ((cached, t_cached), (cold, secs)):
                if s > bound:
                    p.append(f"{kind}: {dom} took {s:.1f}s, want within {bound:.0f}s")
            out.append(f"{kind} {max(t_cached, secs):.1f}s")
        for kind, lst in listeners.items():
            if lst.accepted == 0:
                p.append(f"the {kind} listener was never connected to")
        after = store_rows(store)
        lost = {k: v for k, v in rows.items() if after.get(k) != v}
        if lost:
            p.append(f"cached policies changed or lost after failed fetches: {lost} → {after}")
    finally:
        if d:
            finish_daemon(p, d)
        for lst in listeners.values():
            lst.close()
    return "fetch failed within " + ", ".join(out) + "; cached policies applied and kept"


# --- 5. store locked by another process ------------------------------------------------------

class StoreLock:
    """Another process's writer lock on the store: python sqlite3 holding BEGIN EXCLUSIVE (in
    WAL mode readers still read; every writer waits store.busy_timeout, then fails)."""

    def __init__(self, path):
        self.path = path
        self.proc = None

    def __enter__(self):
        code = ("import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "print(c.execute('PRAGMA journal_mode').fetchone()[0], flush=True)\n"
                "sys.stdin.read()\n"
                "c.execute('COMMIT')\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, self.path], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.mode = self.proc.stdout.readline().strip()
        if not self.mode:
            raise RuntimeError("the locking process did not take the lock")
        return self

    def release(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)

    def __exit__(self, *exc):
        self.release()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def report_op(d, domain):
    """A JSON report op: one successful session."""
    return d.json_op({"op": "report", "domain": domain, "result": "success"})


def send_datagram(d, domain):
    """One libtlsrpt datagram (Postfix 3.10+): one successful session under no policy."""
    lib_tlsrpt.send_datagram(d.tlsrpt, libtlsrpt_datagram(domain, "", [
        {"policy-type": 9, "t": 0, "f": 0}]))


# Holds: while another process holds the store's write lock (BEGIN EXCLUSIVE), decisions still
# come: a cached one at once, a cold one (fetched, not storable) after at most
# store.busy_timeout (1 s here) with the right answer — a store write failure neither fails
# nor downgrades the decision; it is logged ("cannot store the fetched policy … locked").
# TLS-RPT results that cannot be stored are answered with an error object and counted in
# stats tlsrpt.store_errors. Once the lock is released, writes succeed again: a new policy is
# in the store and a report op is stored ("ok").
def store_locked(p, base):
    d = Daemon("locked", CONFIG, base, extra=["store.busy_timeout=1s"])
    note = ""
    try:
        d.wait_ready()
        if d.sm_query(ENFORCE) != ENFORCE_REPLY:
            p.append("warm-up query failed")
        before = d.stats()["tlsrpt"]["store_errors"]
        with StoreLock(d.store) as lock:
            got, secs = timed(d.sm_query, ENFORCE)
            if got != ENFORCE_REPLY or secs > FAST:
                p.append(f"cached {ENFORCE} under the lock: {got!r} after {secs:.2f}s")
            want = "OK secure match=.wildcard.mta.test servername=hostname"
            got, csecs = timed(d.sm_query, "wildcard.mta.test")
            if got != want:
                p.append(f"cold wildcard.mta.test under the lock: got {got!r}, want {want!r}")
            if csecs > 1 + SLACK:
                p.append(f"cold lookup under the lock took {csecs:.1f}s (busy_timeout 1 s)")
            r, rsecs = timed(report_op, d, ENFORCE)
            if not isinstance(r, dict) or r.get("status") != "error":
                p.append(f"report op under the lock: got {r!r}, want an error object")
            send_datagram(d, "testing.mta.test")
            errs = wait_for(lambda: d.stats()["tlsrpt"]["store_errors"] >= before + 2, 10)
            if not errs:
                p.append(f"stats tlsrpt.store_errors did not grow by 2: {d.stats()['tlsrpt']}")
            if "wildcard.mta.test" in store_rows(d.store):
                p.append("a policy was written while another process held the write lock?")
            d.logs.expect(p, r"cannot store the fetched policy.*wildcard\.mta\.test.*locked",
                          "no 'cannot store the fetched policy … locked' in the log")
            note = (f"under the lock ({lock.mode}): cached at once, cold in {csecs:.1f}s "
                    f"and right, report op error in {rsecs:.1f}s, store_errors counted")
        got = d.sm_query("multi.mta.test")
        if not got.startswith("OK secure"):
            p.append(f"after the lock: multi.mta.test got {got!r}")
        if "multi.mta.test" not in store_rows(d.store):
            p.append("after the lock was released the new policy was not stored")
        r = report_op(d, ENFORCE)
        if r.get("status") != "ok":
            p.append(f"report op after the lock: {r!r}")
        if d.sm_query("wildcard.mta.test") != \
                "OK secure match=.wildcard.mta.test servername=hostname":
            p.append("wildcard.mta.test changed its answer after the lock")
    finally:
        finish_daemon(p, d)
    return note + "; after release: policy stored, report stored"


# --- 6. store read-only ------------------------------------------------------------------

def checkpoint(store):
    """Leaves STORE as a clean shutdown does: the WAL checkpointed, no -wal/-shm files
    (closing SQLite's last connection to a WAL database does that)."""
    c = sqlite3.connect(store)
    c.execute("SELECT count(*) FROM policies").fetchone()
    c.close()
    return [f for f in os.listdir(os.path.dirname(store))
            if f.startswith(os.path.basename(store) + "-")]


# Holds: on a read-only filesystem (a read-only bind mount) the daemon either refuses or serves
# read-only, depending on what SQLite needs to open a WAL store, and never crashes:
#  - a clean store (no -wal/-shm beside it: SQLite would have to create them): `serve` and
#    `tlspolicy lookup` refuse with exit 78 and a message naming the store file;
#  - a store with its -wal/-shm files (left by a crash, kill -9 or a running writer): the
#    daemon starts, answers the stored policy (from_cache) and decides cold domains right;
#    policies it fetches cannot be stored ("readonly" in the log).
def store_readonly_at_start(p, base):
    out = []
    for variant in ("clean", "with-wal"):
        src, mnt = os.path.join(base, f"ro-src-{variant}"), os.path.join(base, f"ro-mnt-{variant}")
        os.makedirs(src)
        os.makedirs(mnt)
        store = os.path.join(src, "policies.sqlite")
        seed_store(store, [ENFORCE])
        if variant == "clean":
            left = checkpoint(store)
            if left:
                raise RuntimeError(f"could not make a clean store: {left} left")
        else:
            held = sqlite3.connect(store)  # a second connection keeps -wal/-shm while copying
            held.execute("SELECT count(*) FROM policies").fetchone()
            os.makedirs(src + ".copy")
            for f in os.listdir(src):
                shutil.copy2(os.path.join(src, f), os.path.join(src + ".copy", f))
            held.close()
            shutil.rmtree(src)
            os.rename(src + ".copy", src)
            if not os.path.exists(store + "-shm"):
                raise RuntimeError("no -shm file to keep beside the store")
        ro_store = os.path.join(mnt, "policies.sqlite")
        d = None
        try:
            run("mount", "--bind", src, mnt)
            run("mount", "-o", "remount,bind,ro", mnt)
            if run("touch", os.path.join(mnt, "probe"), check_rc=False).returncode == 0:
                raise RuntimeError("the bind mount is not read-only")
            d = Daemon(f"ro-start-{variant}", CONFIG, base, store=ro_store)
            try:
                rc = d.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None  # serving
            msg = d.log().strip()
            if d.crashed():
                p.append(f"{variant}: crash marker: {msg[-500:]}")
            r = cli_lookup(ENFORCE, ro_store)
            if variant == "clean":
                if rc != 78 or ro_store not in msg:
                    p.append(f"clean read-only store: serve exit {rc}, want 78 naming the file: "
                             f"{msg[-500:]!r}")
                if r.rc != 78 or ro_store not in r.err:
                    p.append(f"clean read-only store: lookup exit {r.rc}, stderr "
                             f"{r.err.strip()[:300]!r}, want 78 naming the file")
                out.append(f"clean: exit 78 ({msg.splitlines()[-1][:90] if msg else ''!r})")
                continue
            if rc is not None:
                p.append(f"with -wal/-shm: serve exit {rc}, want it to serve read-only: {msg}")
                continue
            d.wait_ready()
            dec = d.decide(ENFORCE)
            if dec.get("postfix") != ENFORCE_REPLY or \
                    not (dec.get("mta_sts") or {}).get("from_cache"):
                p.append(f"with -wal/-shm: {ENFORCE} got {dec.get('postfix')!r} "
                         f"{dec.get('mta_sts')!r}, want the stored policy")
            got = d.sm_query("wildcard.mta.test")
            if got != "OK secure match=.wildcard.mta.test servername=hostname":
                p.append(f"with -wal/-shm: cold wildcard.mta.test got {got!r}")
            d.logs.expect(p, r"cannot store the fetched policy.*readonly",
                          "with -wal/-shm: no 'cannot store the fetched policy … readonly' logged")
            if r.rc != 0 or not r.json or r.json.get("postfix") != ENFORCE_REPLY:
                p.append(f"with -wal/-shm: lookup exit {r.rc}: {r.err.strip()[:300]!r}")
            finish_daemon(p, d)
            out.append("with -wal/-shm: serves read-only, stored policy used, writes refused")
        finally:
            if d:
                d.kill()
            umount(mnt)
    return "; ".join(out)


# Holds: a running daemon whose store becomes read-only keeps answering. The kernel refuses to
# remount read-only a filesystem on which the daemon holds the store open for writing (EBUSY;
# checked), so "becomes read-only" here means the daemon's user (nobody) loses write
# permission (file 0444, directory 0555): its open connections keep working, and after SIGHUP
# (which reopens the store) cached policies are still read from the store (from_cache), cold
# decisions are still right although the fetched policy cannot be stored ("readonly" in the
# log), and nothing crashes.
def store_readonly_running(p, base):
    src, mnt = os.path.join(base, "rw-src"), os.path.join(base, "rw-mnt")
    os.makedirs(src)
    os.makedirs(mnt)
    for path in (src, mnt):
        os.chown(path, 65534, 65534)
    os.chown(base, 0, 0)
    os.chmod(base, 0o755)
    store = os.path.join(mnt, "policies.sqlite")
    d = None
    remount = ""
    try:
        run("mount", "--bind", src, mnt)
        rundir = os.path.join(base, "ro-run")
        os.makedirs(rundir, exist_ok=True)
        os.chown(rundir, 65534, 65534)
        d = Daemon("ro-run", CONFIG, base, store=store,
                   wrap=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        d.wait_ready()
        if d.sm_query(ENFORCE) != ENFORCE_REPLY:
            p.append("warm-up query failed")
        r = run("mount", "-o", "remount,bind,ro", mnt, check_rc=False)
        why = (r.stderr.strip().splitlines() or ["?"])[0].rsplit(": ", 1)[-1]
        remount = "remount ro: " + (f"refused ({why})" if r.returncode else "done")
        if r.returncode:  # the closest the kernel allows: the daemon's user loses write access
            for f in os.listdir(mnt):
                os.chmod(os.path.join(mnt, f), 0o444)
            os.chmod(mnt, 0o555)
        got = d.sm_query("wildcard.mta.test")
        if got != "OK secure match=.wildcard.mta.test servername=hostname":
            p.append(f"cold decision on the read-only store: got {got!r}")
        d.proc.send_signal(signal.SIGHUP)
        if not d.logs.wait_for("configuration reloaded|reload failed", 10):
            p.append("no reload message within 10 s of SIGHUP")
        reload = "reloaded" if d.logs.search("configuration reloaded") else "reload refused"
        dec = d.decide(ENFORCE)
        if dec.get("postfix") != ENFORCE_REPLY or not (dec.get("mta_sts") or {}).get("from_cache"):
            p.append(f"after SIGHUP on the read-only store: {dec.get('postfix')!r} "
                     f"{dec.get('mta_sts')!r}, want the stored policy (from_cache)")
        got = d.sm_query("multi.mta.test")
        if not got.startswith("OK secure match=mx1.multi.mta.test"):
            p.append(f"cold multi.mta.test after SIGHUP: got {got!r}")
        if "multi.mta.test" in store_rows(store):
            p.append("a policy was written to a read-only store?")
        if reload == "reloaded":
            d.logs.expect(p, "cannot store the fetched policy",
                          "no 'cannot store the fetched policy' in the log")
        if d.proc.poll() is not None:
            p.append(f"daemon exited {d.proc.returncode}")
    finally:
        if d:
            finish_daemon(p, d)
        umount(mnt)
        if os.path.isdir(mnt):
            os.chmod(mnt, 0o755)
    return f"{remount}; chmod 0444/0555: answers kept coming, SIGHUP {reload}, stored policy read"


# --- 7. store corrupt --------------------------------------------------------------------

# Holds: a store file overwritten with garbage while the daemon was stopped makes `serve` and
# `tlspolicy lookup` refuse with exit 78 and a message naming the file — never a crash — for
# random bytes, zeros, and a file that keeps the SQLite header but is cut in half or has
# garbage from the second byte of page 1 on. Garbage only in later pages is not seen when the
# store is opened (SQLite reads pages lazily): then the daemon starts, logs store errors
# naming the file as it meets them, and still decides (policies are fetched again).
def store_corrupt(p, base):
    good = os.path.join(base, "corrupt-good.sqlite")
    seed_store(good, [ENFORCE, "wildcard.mta.test",
                      "multi.mta.test", "lfonly.mta.test"])
    with open(good, "rb") as f:
        data = f.read()
    variants = {
        "random": os.urandom(len(data)),
        "zeros": b"\0" * len(data),
        "header-then-garbage": data[:100] + os.urandom(len(data) - 100),
        "truncated": data[:len(data) // 2 + 7],
        "later-pages": data[:4096] + os.urandom(len(data) - 4096),
    }
    out = []
    for name, blob in variants.items():
        store = os.path.join(base, f"corrupt-{name}.sqlite")
        with open(store, "wb") as f:
            f.write(blob)
        d = Daemon(f"corrupt-{name}", CONFIG, base, store=store)
        try:
            try:
                rc = d.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None  # serving
            msg = d.log()
            if d.crashed():
                p.append(f"{name}: crash marker: {msg[-500:]}")
            if rc is None:
                d.wait_ready()
                got = d.sm_query(ENFORCE)
                if got != ENFORCE_REPLY:
                    p.append(f"{name}: the daemon started but answers {got!r}")
                if name != "later-pages":
                    p.append(f"{name}: the daemon started on a corrupt store")
                out.append(f"{name}: serves, {d.log().count(store)} store errors logged")
                finish_daemon(p, d)
            else:
                if rc != 78 or store not in msg:
                    p.append(f"{name}: serve exit {rc}, want 78 naming the file: {msg[-400:]!r}")
                out.append(f"{name}: 78")
            r = cli_lookup(ENFORCE, store)
            for m in CRASH_MARKERS:
                if m in r.err:
                    p.append(f"{name}: lookup crashed: {r.err[-400:]}")
            if rc is not None and (r.rc != 78 or store not in r.err):
                p.append(f"{name}: lookup exit {r.rc}, stderr {r.err.strip()[:300]!r}; want 78 "
                         "naming the file")
        finally:
            d.kill()
    return "; ".join(out)


# --- 8. full disk ------------------------------------------------------------------------

def fill(path):
    """Writes zeros to PATH until the filesystem is full."""
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


# Holds: with the store on a small tmpfs that is then filled up, the daemon keeps answering
# (cached and cold decisions right), store write failures are logged ("database or disk is
# full") and TLS-RPT results that cannot be stored are counted (stats tlsrpt.store_errors);
# nothing crashes; once space is freed, policies and results are written again. Starting on
# a full disk without room for the -wal/-shm files refuses with exit 78 naming the file.
def store_disk_full(p, base):
    mnt = os.path.join(base, "full")
    os.makedirs(mnt)
    store = os.path.join(mnt, "policies.sqlite")
    filler = os.path.join(mnt, "filler")
    d = None
    note = ""
    try:
        run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tlspolicy-faults", mnt)
        d = Daemon("full", CONFIG, base, store=store)
        d.wait_ready()
        if d.sm_query(ENFORCE) != ENFORCE_REPLY:
            p.append("warm-up query failed")
        fill(filler)
        free = os.statvfs(mnt).f_bavail
        before = d.stats()["tlsrpt"]["store_errors"]
        cold = {"wildcard.mta.test": "OK secure match=.wildcard.mta.test servername=hostname",
                "tlsa311.dane.test": "OK dane-only", "testing.mta.test": "NOTFOUND "}
        for dom, want in cold.items():
            got = d.sm_query(dom)
            if got != want:
                p.append(f"{dom} on a full disk: got {got!r}, want {want!r}")
        if d.sm_query(ENFORCE) != ENFORCE_REPLY:
            p.append("cached answer changed on a full disk")
        for _ in range(3):
            report_op(d, ENFORCE)
            send_datagram(d, ENFORCE)
        grown = wait_for(lambda: d.stats()["tlsrpt"]["store_errors"] - before >= 1, 10)
        if not grown:
            p.append(f"stats tlsrpt.store_errors did not grow: {d.stats()['tlsrpt']}")
        d.logs.expect(p, "database or disk is full", "no 'database or disk is full' in the log")
        errors = d.stats()["tlsrpt"]["store_errors"] - before
        os.unlink(filler)
        got = d.sm_query("multi.mta.test")
        if not got.startswith("OK secure"):
            p.append(f"after freeing space: multi.mta.test got {got!r}")
        rows = store_rows(store)
        if "multi.mta.test" not in rows or ENFORCE not in rows:
            p.append(f"after freeing space the store holds {sorted(rows)}, want enforce and multi")
        r = report_op(d, ENFORCE)
        if r.get("status") != "ok":
            p.append(f"report op after freeing space: {r!r}")
        finish_daemon(p, d)
        note = (f"full ({free} blocks free): answers right, store errors logged, "
                f"{errors} TLS-RPT store errors counted; freed: writes work")
        # Start on a full disk: the store exists (clean), no room for -wal/-shm.
        fill(filler)
        d = Daemon("full-start", CONFIG, base, store=store)
        try:
            rc = d.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            d.wait_ready()
            if d.sm_query(ENFORCE) != ENFORCE_REPLY:
                p.append("started on a full disk but answers wrongly")
            note += "; start on a full disk: serves"
            finish_daemon(p, d)
        elif rc != 78 or store not in d.log():
            p.append(f"start on a full disk: exit {rc}, want 78 naming the file: {d.tail(400)}")
        else:
            note += f"; start on a full disk: 78 ({d.log().strip().splitlines()[-1][:80]!r})"
        if d.crashed():
            p.append(f"crash marker: {d.tail()}")
    finally:
        if d:
            d.kill()
        umount(mnt)
    return note


# --- 9. kill -9 in the middle of store writes --------------------------------------------

STS_DOMAINS = [f"{n}.mta.test" for n in (
    "enforce", "testing", "none", "wildcard", "multi", "cname", "split", "othertxt", "lfonly",
    "crlf", "unknownkeys", "nomx-match", "badmode", "selfsigned", "notfound", "html")]


def rpt_total(store):
    """Sessions counted in the TLS-RPT tables (successes + failures of every day)."""
    c = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        return c.execute(
            "SELECT coalesce(sum(successes + failures), 0) FROM rpt_policy").fetchone()[0]
    finally:
        c.close()


def integrity(store):
    """`sqlite3 STORE 'PRAGMA integrity_check'` (the CLI, as an operator would run it)."""
    if shutil.which("sqlite3"):
        r = run("sqlite3", store, "PRAGMA integrity_check", check_rc=False)
        return (r.stdout + r.stderr).strip()
    c = sqlite3.connect(store)
    try:
        return "\n".join(row[0] for row in c.execute("PRAGMA integrity_check"))
    finally:
        c.close()


# Holds: SIGKILL while the daemon writes its store under load — cold MTA-STS lookups storing
# policies (and fetch failures), cache.refresh ops re-storing policies, TLS-RPT datagrams and
# JSON report ops counting results — never damages the store and loses nothing committed:
# after each kill `sqlite3 STORE 'PRAGMA integrity_check'` says "ok", every policy the store
# held just before the kill is still there with the same id, the TLS-RPT counts do not go
# down, and a restarted daemon opens the store and answers from it (from_cache). Four rounds,
# each killing at a random moment 0.3-1.2 s into the load (the seed is printed).
def kill9_mid_write(p, base):
    seed = int(ENV.get("FAULTS_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    d = Daemon("kill9", CONFIG, base, start=False)
    rounds = []
    try:
        for rnd_no in range(4):
            if rnd_no > 0 and os.path.exists(d.store):
                # Half the stored policies go, so this round's cold lookups store them again.
                c = sqlite3.connect(d.store, timeout=10)
                with c:
                    c.executemany("DELETE FROM policies WHERE domain = ?",
                                  [(x,) for x in rnd.sample(STS_DOMAINS, len(STS_DOMAINS) // 2)])
                c.close()
            d.start()
            d.wait_ready()
            stop, killing = threading.Event(), threading.Event()
            errors = []

            def loop(fn):
                def run_loop():
                    while not stop.is_set():
                        try:
                            fn()
                        except (OSError, EOFError, ValueError):
                            if not killing.is_set():
                                errors.append(f"{fn.__name__} failed before the kill")
                            return
                return threading.Thread(target=run_loop, daemon=True)

            def lookups():
                for dom in rnd.sample(STS_DOMAINS, len(STS_DOMAINS)):
                    d.sm_query(dom, timeout=30)

            def refreshes():
                for dom in (ENFORCE, "wildcard.mta.test", "multi.mta.test"):
                    d.admin_op({"op": "cache.refresh", "domain": dom})

            def datagrams():
                for dom in STS_DOMAINS[:4]:
                    send_datagram(d, dom)
                time.sleep(0.002)

            def reports():
                report_op(d, rnd.choice(STS_DOMAINS[:4]))

            threads = [loop(f) for f in (lookups, lookups, lookups, refreshes, datagrams,
                                         reports, reports)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.3, 1.2))
            before = store_rows(d.store)
            rpt_before = rpt_total(d.store)
            killing.set()
            os.kill(d.proc.pid, signal.SIGKILL)
            d.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(35)
            if d.proc.returncode != -signal.SIGKILL:
                p.append(f"round {rnd_no}: exit {d.proc.returncode}, want SIGKILL")
            if errors:
                p.append(f"round {rnd_no}: {errors[:3]}")
            check_rc = integrity(d.store)
            if check_rc != "ok":
                p.append(f"round {rnd_no}: integrity_check says {check_rc[:300]!r}")
                break
            after = store_rows(d.store)
            lost = {k: v for k, v in before.items() if after.get(k) != v}
            if lost:
                p.append(f"round {rnd_no}: policies lost or changed by the kill: {lost}")
            rpt_after = rpt_total(d.store)
            if rpt_after < rpt_before:
                p.append(f"round {rnd_no}: TLS-RPT sessions went from {rpt_before} to {rpt_after}")
            crash = d.crashed()
            if crash:
                p.append(f"round {rnd_no}: crash marker {crash}: {d.tail()}")
            rounds.append(f"{len(before)} policies/{rpt_before} sessions kept")
            d.start()
            d.wait_ready()
            dec = d.decide(ENFORCE) if ENFORCE in after else None
            if dec is not None and (dec.get("postfix") != ENFORCE_REPLY or
                                    not (dec.get("mta_sts") or {}).get("from_cache")):
                p.append(f"round {rnd_no}: after restart {ENFORCE} got {dec.get('postfix')!r} "
                         f"{dec.get('mta_sts')!r}, want the stored policy")
            got = d.sm_query("tlsa311.dane.test")
            if got != "OK dane-only":
                p.append(f"round {rnd_no}: after restart tlsa311.dane.test got {got!r}")
            finish_daemon(p, d)
            if p:
                break
    finally:
        d.kill()
    return f"seed {seed}: " + ", ".join(rounds) + "; integrity ok after every kill"


# --- 10. 1 000 concurrent connections --------------------------------------------------------

CONN_DOMAINS = [ENFORCE, "testing.mta.test", "wildcard.mta.test", "multi.mta.test",
                "none.mta.test", "tlsa311.dane.test", "tlsa201.dane.test", "twomx.dane.test",
                "nullmx.dane.test", "notlsa.dane.test", "nxdomain.dane.test", "bogus-mx.dane.test",
                "plain.unsigned.test", "insecure.unsigned.test"]


def raise_own_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft, hard
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new, hard


def settle(conns, request, want, p, limit=5.0):
    """Sends REQUEST on every connection, then waits (limit seconds in all) until each has
    either a whole netstring reply or EOF/reset. Returns (served, closed, hung)."""
    import selectors
    sel = selectors.DefaultSelector()
    served = closed = 0
    for c in conns:
        try:
            c.send(request)
        except (BrokenPipeError, ConnectionResetError):
            closed += 1
            continue
        c.s.setblocking(False)
        sel.register(c.s, selectors.EVENT_READ, c)
    deadline = time.monotonic() + limit
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            c = key.data
            try:
                chunk = c.s.recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                chunk = b"" if isinstance(e, ConnectionResetError) else None
            if chunk is None:
                continue
            if not chunk:
                sel.unregister(c.s)
                closed += 1
                continue
            c.buf += chunk
            m = re.match(rb"(\d+):", c.buf)
            if m and len(c.buf) >= m.end() + int(m.group(1)) + 1:
                sel.unregister(c.s)
                served += 1
                got = c.buf[m.end():m.end() + int(m.group(1))].decode()
                if got != want:
                    p.append(f"an accepted connection got {got!r}, want {want!r}")
    hung = len(sel.get_map())
    sel.close()
    for c in conns:
        c.s.setblocking(True)
    return served, closed, hung


def daemon_nofile(pid):
    with open(f"/proc/{pid}/limits", encoding="ascii") as f:
        for line in f:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


# Holds: with the connection limit (limits.max_connections, here 1024; docs/man/tlspolicy.8.md:
# "more are accepted and closed at once"), 1 000 clients connected at once (700 socketmap, 300 JSON),
# each with one cold or shared lookup outstanding, all get the answer the world's construction
# says (lib_world.EXPECT); with those open, of 100 more connections the ones past the 1 024th are closed at
# once (EOF or reset within 5 s, none left hanging) and counted in stats
# connections.rejected_max_connections; after all close, the daemon serves again (active
# back to 0 but the stats connection, 1 000 connections again answered). The daemon is started
# with the soft descriptor limit systemd gives services (LimitNOFILE=1024:<hard>), which is
# not enough for 1 024 connections plus its own descriptors: the daemon raises its own soft
# limit (src/server/fd_limit.cpp), so the limit it enforces is its own, not EMFILE.
def connections_1000(p, base):
    soft, hard = raise_own_nofile(4096)
    if soft < 2300:
        raise Skip(f"this process may open only {soft} descriptors (hard limit {hard}); "
                   "2 300 are needed")
    if hard != resource.RLIM_INFINITY and hard < 1024 + 256:
        raise Skip(f"the hard descriptor limit {hard} leaves the daemon fewer than 1024 "
                   "connections")
    hard_s = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    truth = {dom: EXPECT[dom][0].postfix for dom in CONN_DOMAINS}
    d = Daemon("conn", CONFIG, base, extra=["limits.max_connections=1024"],
               wrap=["prlimit", f"--nofile=1024:{hard_s}"])
    conns, extra = [], []
    note = ""
    try:
        d.wait_ready()
        limit = daemon_nofile(d.proc.pid)

        def wave(n):
            """n connections at once, one request each; returns the problems."""
            out, opened = [], []
            try:
                for i in range(n):
                    path = d.sm if i % 10 < 7 else d.json
                    opened.append((path, Conn(path, timeout=30)))
                for i, (path, c) in enumerate(opened):
                    dom = CONN_DOMAINS[i % len(CONN_DOMAINS)]
                    if path == d.sm:
                        c.send(netstring(f"postfix {dom}"))
                    else:
                        c.send(json.dumps({"op": "decide", "domain": dom, "id": i}) + "\n")
                for i, (path, c) in enumerate(opened):
                    dom = CONN_DOMAINS[i % len(CONN_DOMAINS)]
                    want = truth[dom]
                    try:
                        if path == d.sm:
                            got = c.read_netstring()
                        else:
                            r = c.read_line()
                            got = (r.get("decision") or {}).get("postfix") if r.get("id") == i \
                                else f"wrong id in {r!r}"
                    except Exception as e:  # reported as a wrong answer
                        got = f"{type(e).__name__}: {e}"
                    if reply_problems(EXPECT[dom][0].postfix, str(got)):
                        out.append(f"conn {i} {dom}: got {got!r}, want {want!r}")
            except Exception:
                for _, c in opened:
                    c.close()
                raise
            return out, [c for _, c in opened]

        bad, conns = wave(1000)
        if bad:
            p.append(f"{len(bad)} of 1000 concurrent connections got wrong answers: {bad[:3]}")
        before = d.stats()  # its own connection counts while open
        for _ in range(100):
            extra.append(Conn(d.sm, timeout=5))
        served, closed, hung = settle(extra, netstring(f"postfix {ENFORCE}"),
                                      truth[ENFORCE], p)
        for c in conns + extra:
            c.close()
        conns, extra = [], []
        after = wait_for(lambda: (lambda s: s if s["connections"]["active"] <= 1 else None)(
            d.stats()), 10) or d.stats()
        rejected = after["connections"]["rejected_max_connections"] - \
            before["connections"]["rejected_max_connections"]
        if hung:
            p.append(f"{hung} connections past the limit hung (no answer, not closed, 5 s)")
        if 1000 + served > 1024:
            p.append(f"{1000 + served} connections served at once, the limit is 1024")
        if closed == 0 or rejected < closed:
            p.append(f"extra connections: {closed} closed, stats rejected +{rejected}")
        if after["connections"]["active"] > 1:
            p.append(f"active connections after all closed: {after['connections']}")
        bad, conns = wave(1000)
        if bad:
            p.append(f"second wave: {len(bad)} wrong answers: {bad[:3]}")
        note = (f"daemon's descriptor limit {limit} (started with 1024); 1000 answered right; "
                f"of 100 more {served} served, {closed} closed at once, {hung} hung; "
                f"recovered: 1000 answered again")
    finally:
        for c in conns + extra:
            c.close()
        finish_daemon(p, d)
    return note


# --- 11. slow and stuck clients ----------------------------------------------------------

# Holds: clients that hold connections without completing requests do not slow anybody else.
# With 500 connections that never send, 100 that trickle a netstring one byte per second and
# 20 that pipeline 40 000 requests each (1.1 MB) and never read a reply, normal clients on fresh
# connections are answered promptly (every answer within FAST s; cached domains and a cold
# one), the trickled requests are answered correctly once their last byte arrives, and the
# daemon does not drop the idle ones early (idle_timeouts stays 0; the idle limit is 5 min and
# the request limit 30 s, daemon::ServerOptions, not settings — the request limit is checked by
# request-time-limit). A client that never reads its replies is closed once 1 MiB of them
# waits unsent ("client does not read its replies, closing" in the log), within seconds.
def slow_clients(p, base):
    soft, _ = raise_own_nofile(4096)
    if soft < 1000:
        raise Skip(f"this process may open only {soft} descriptors; 1 000 are needed")
    d = Daemon("slow-clients", CONFIG, base)
    idle, drips, deaf = [], [], []
    note = ""
    try:
        d.wait_ready()
        truth = {dom: EXPECT[dom][0].postfix for dom in (ENFORCE, "tlsa311.dane.test")}
        idle = [Conn(d.sm if i % 2 else d.json, timeout=10) for i in range(500)]
        drip_req = netstring(f"postfix {ENFORCE}")
        drips = [Conn(d.sm, timeout=10) for _ in range(100)]
        for c in drips:
            c.s.setblocking(True)
        deaf = [Conn(d.sm, timeout=10) for _ in range(20)]
        flood = netstring(f"postfix {ENFORCE}") * 40000
        deaf_sent = [""] * len(deaf)

        def feed(i, c):
            try:
                c.s.settimeout(15)
                c.s.sendall(flood)
                deaf_sent[i] = "kept"  # all sent: the daemon would be holding the replies
            except socket.timeout:
                deaf_sent[i] = "blocked"  # the daemon stopped reading, never closed
            except OSError:
                deaf_sent[i] = "closed"
        feeders = [threading.Thread(target=feed, args=(i, c), daemon=True)
                   for i, c in enumerate(deaf)]
        for t in feeders:
            t.start()
        slowest, asked = 0.0, 0
        cold = iter(["wildcard.mta.test", "multi.mta.test", "twomx.dane.test", "none.mta.test",
                     "tlsa201.dane.test", "lfonly.mta.test"])
        for second in range(6):
            for c in drips:
                c.send(drip_req[second:second + 1])
            for dom, want in list(truth.items()) * 5:
                got, secs = timed(d.sm_query, dom, 10)
                asked += 1
                slowest = max(slowest, secs)
                if got != want:
                    p.append(f"normal client, second {second}: {dom} got {got!r}, want {want!r}")
            dom = next(cold)
            got, secs = timed(d.sm_query, dom, 10)
            asked += 1
            slowest = max(slowest, secs)
            if not isinstance(got, str) or got.startswith("TEMP") or not got:
                p.append(f"normal client, cold {dom}: got {got!r}")
            time.sleep(max(0.0, 1.0 - secs))
        if slowest > FAST:
            p.append(f"a normal client waited {slowest:.2f}s among the slow ones")
        s = d.stats()
        if s["idle_timeouts"] != 0:
            p.append(f"idle connections were closed early: idle_timeouts {s['idle_timeouts']}")
        if s["connections"]["active"] < 500 + 100:
            p.append(f"only {s['connections']['active']} connections open: idle or trickling "
                     "clients were dropped")
        for c in drips:
            c.send(drip_req[6:])
        wrong = 0
        for c in drips:
            try:
                if c.read_netstring() != truth[ENFORCE]:
                    wrong += 1
            except (EOFError, OSError, ValueError):
                wrong += 1
        if wrong:
            p.append(f"{wrong} of 100 trickled requests were not answered right")
        for t in feeders:
            t.join(20)
        if deaf_sent.count("closed") != len(deaf):
            p.append(f"clients that never read: {deaf_sent}, want every one closed")
        d.logs.expect(p, "client does not read its replies, closing",
                      "no 'client does not read its replies, closing' in the log")
        note = (f"{asked} normal queries among 500 idle, 100 trickling, 20 deaf clients: slowest "
                f"{slowest * 1000:.0f} ms; 100 trickled requests answered; idle kept "
                f"(idle_timeouts 0); {deaf_sent.count('closed')}/20 deaf clients closed")
        got = d.sm_query(ENFORCE)
        if got != truth[ENFORCE]:
            p.append(f"after the slow clients: {got!r}")
    finally:
        for c in idle + drips + deaf:
            c.close()
        finish_daemon(p, d)
    return note


# --- driver ------------------------------------------------------------------------------

# (name, function, extra args, what it needs beyond the world)
CASES = [
    ("resolver-down@trust-ad", resolver_down, ("trust-ad",), ()),
    ("resolver-down@validate", resolver_down, ("validate",), ()),
    ("txt-lookup-fails-cached-policy-applies", txt_lookup_fails, (), ()),
    ("resolver-slow-cached-answers-stay-fast", resolver_slow, (), ()),
    ("resolver-strips-ad@trust-ad", resolver_strips_ad, ("trust-ad",), ()),
    ("resolver-strips-ad@validate", resolver_strips_ad, ("validate",), ()),
    ("resolver-forges-ad@trust-ad", resolver_forges_ad, ("trust-ad",), ()),
    ("resolver-forges-ad@validate", resolver_forges_ad, ("validate",), ()),
    ("resolver-forges-signed-answers@validate", resolver_forges_answers, (), ()),
    ("resolver-bogus-mta-sts-txt@validate", resolver_bogus_txt, (), ()),
    ("https-stall-reset-silent-drip", https_faults, (), ()),
    ("store-locked-by-another-process", store_locked, (), ()),
    ("store-readonly-at-start", store_readonly_at_start, (), ("root", "mount")),
    ("store-readonly-under-running-daemon", store_readonly_running, (),
     ("root", "mount", "setpriv")),
    ("store-corrupt", store_corrupt, (), ()),
    ("store-disk-full", store_disk_full, (), ("root", "mount")),
    ("kill9-mid-store-writes", kill9_mid_write, (), ()),
    ("connections-1000-and-limit", connections_1000, (), ("prlimit",)),
    ("slow-idle-deaf-clients", slow_clients, (), ()),
    ("decision-deadline", decision_deadline, (), ()),  # 10 s: run beside the others
    ("request-time-limit", request_time_limit, (), ()),  # 30 s: run beside the others
]
BACKGROUND = {"decision-deadline", "request-time-limit"}


def missing(needs):
    for n in needs:
        if n == "root" and not IS_ROOT:
            return "needs root (mounts, another user)"
        if n != "root" and not shutil.which(n):
            return f"needs {n}"
    return None


def prerequisites():
    if not BIN or not os.access(BIN, os.X_OK):
        return f"no tlspolicy binary (TLSPOLICY_BIN={BIN!r})"
    if not WORLD or not os.path.isfile(CONFIG) or not os.path.isfile(VALIDATE_CONFIG):
        return "no test world (run through tests/integration/run)"
    for var in ("UNBOUND_PORT", "HTTPS_PORT", "STALL_PORT", "CLOSED_PORT"):
        if not ENV.get(var):
            return f"no {var} in the environment (source the world's env.sh)"
    return None


def run_case(name, fn, args, base):
    """Runs one case in its own directory; on failure, prints its daemons' logs."""
    cdir = os.path.join(base, re.sub(r"[^a-z0-9]+", "-", name.lower())[:24])
    os.makedirs(cdir, exist_ok=True)
    start = time.monotonic()
    ok = R.check(name, lambda p: (lambda note: f"{note}; {time.monotonic() - start:.1f}s")(
        fn(p, cdir, *args)))
    if not ok:
        for root, _, files in os.walk(cdir):
            if "daemon.log" in files:
                LogCapture(os.path.join(root, "daemon.log")).dump(
                    f"{os.path.relpath(root, base)}/daemon.log", 2500)


def main(argv):
    only = set(argv[1:])
    unknown = only - {n for n, *_ in CASES}
    if unknown:
        print(f"faults: unknown case(s): {' '.join(sorted(unknown))}", file=sys.stderr)
        return 64
    why = prerequisites()
    selected = [c for c in CASES if not only or c[0] in only]
    if why:
        for name, *_ in selected:
            R.skip(name, why)
        return R.finish()
    start = time.monotonic()
    # The read-only case runs a daemon as nobody under it: 0755.
    tmp = TempDir("faults.", mode=0o755, keep_env="FAULTS_KEEP")
    base = tmp.path
    background = []
    try:
        # The long, mostly idle cases run beside the others.
        ordered = sorted(selected, key=lambda c: c[0] not in BACKGROUND)
        for name, fn, args, needs in ordered:
            why = missing(needs)
            if why:
                R.skip(name, why)
                continue
            if name in BACKGROUND and len(selected) > 1:
                t = threading.Thread(target=run_case, args=(name, fn, args, base), daemon=True)
                t.start()
                background.append((name, t))
                continue
            run_case(name, fn, args, base)
        for name, t in background:
            t.join(120)
            if t.is_alive():
                R.case(name, ["still running after 120 s"])
    finally:
        for mnt in ("ro-mnt-clean", "ro-mnt-with-wal", "rw-mnt", "full"):
            for root, dirs, _ in os.walk(base):
                if os.path.basename(root) == mnt:
                    umount(root)
        tmp.remove()
    print(f"# faults took {time.monotonic() - start:.1f}s")
    return R.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
