#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# MTA-STS end to end: `tlspolicy lookup DOMAIN --json` against the integration test world
# (NSD + validating Unbound + nginx with the test CA; see docs/testing.md). Python 3 standard
# library only.
#
# Environment (set by tests/integration/run from DIR/env.sh): TLSPOLICY_BIN, WORLD_DIR,
# WORLD_LIB, TLSPOLICY_CONFIG, CLOSED_PORT.
# Arguments: optional case names to run only those (dynamic cases change the world, so a
# rerun needs a fresh world).
# Output: "ok NAME" / "FAIL NAME: got X, want Y; ..." / "skip NAME: reason" per case, then
# one machine-readable line "suite-result: passed=N failed=M skipped=K" that run sums.
# Exit status: 0 no failure, 1 failures, 77 everything skipped.
#
# Each case names the RFC-CHECKLIST.md rows it covers.

import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

BIN = os.environ.get("TLSPOLICY_BIN", "")
WORLD = os.environ.get("WORLD_DIR", "")
LIB = os.environ.get("WORLD_LIB", "")
CONFIG = os.environ.get("TLSPOLICY_CONFIG", os.path.join(WORLD, "tlspolicy.toml"))
CLOSED_PORT = os.environ.get("CLOSED_PORT", "")
STORE = os.path.join(WORLD, "state", "policies.sqlite")

# Exit codes of the CLI contract (sysexits).
EX_OK, EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 64, 65, 69, 75, 78
# An invalid or ambiguous _mta-sts TXT means "no policy" (STS-3). Whether that counts as a
# discovery failure (69) or a clean decision (0) is not pinned down by the contract: accept
# both and print which one the binary chose.
EX_TXT_INVALID = (EX_OK, EX_UNAVAILABLE)

DECISION_KEYS = ("domain", "action", "verify", "source", "mx", "mta_sts", "dnssec",
                 "requiretls", "tlsrpt", "postfix", "reason", "ttl")
CRASH_MARKERS = ("terminate called", "Traceback", "Aborted", "what():", "Segmentation fault",
                 "AddressSanitizer", "runtime error:", "core dumped")
TIME_LIMIT = 10.0  # seconds: stall and resolver-down must answer well within this


# --- running the binary --------------------------------------------------------------------

class Run:
    def __init__(self, args, rc, out, err, elapsed):
        self.args, self.rc, self.out, self.err, self.elapsed = args, rc, out, err, elapsed
        self.json = None
        self.json_error = None
        text = out.strip()
        if text:
            try:
                obj, end = json.JSONDecoder().raw_decode(text)
                if text[end:].strip():
                    self.json_error = "stdout holds more than one JSON value"
                elif not isinstance(obj, dict):
                    self.json_error = "stdout JSON is not an object"
                else:
                    self.json = obj
            except ValueError as e:
                self.json_error = f"stdout is not JSON ({e})"
        else:
            self.json_error = "stdout is empty"

    def describe(self):
        return (f"$ {' '.join(self.args)}\n  exit {self.rc} after {self.elapsed:.2f}s\n"
                f"  stdout: {self.out.strip()[:2000]}\n  stderr: {self.err.strip()[:2000]}")


def lookup(domain, *sets, config=None, timeout=30):
    args = [BIN, "lookup", domain, "--json", "--config", config or CONFIG]
    for s in sets:
        args += ["--set", s]
    start = time.monotonic()
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = "timeout"
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    return Run(args, rc, out, err, time.monotonic() - start)


def world(*args):
    """Calls a lib.sh helper (world_set_txt, world_set_policy, world_remove_policy)."""
    p = subprocess.run([LIB, *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"lib.sh {' '.join(args)} failed: {p.stderr.strip()}")


def policy_text(mode, mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx]
    lines.append(f"max_age: {max_age}")
    return "\n".join(lines) + "\n"


def postfix_match(patterns):
    return ":".join("." + p[2:] if p.startswith("*.") else p for p in patterns)


def to_epoch(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


# --- checks --------------------------------------------------------------------------------

class Check:
    """Collects "got X, want Y" mismatches for one case."""

    def __init__(self, name):
        self.name = name
        self.problems = []
        self.skipped = None
        self.notes = []
        self.runs = []

    def skip(self, why):
        self.skipped = why

    def fail(self, what):
        self.problems.append(what)

    def eq(self, what, got, want):
        if got != want:
            self.fail(f"{what}: got {got!r}, want {want!r}")

    def true(self, what, cond, got=None):
        if not cond:
            self.fail(what if got is None else f"{what} (got {got!r})")

    def run(self, r):
        self.runs.append(r)
        return r

    def exit(self, r, want):
        wants = want if isinstance(want, tuple) else (want,)
        if r.rc not in wants:
            self.fail(f"exit code for {r.args[2]}: got {r.rc}, want "
                      + " or ".join(map(str, wants)))
        elif len(wants) > 1:
            self.notes.append(f"exit {r.rc}")

    def no_crash(self, r):
        for m in CRASH_MARKERS:
            if m in r.err or m in r.out:
                self.fail(f"output has crash marker {m!r}")

    def decision(self, r, domain, dnssec="secure"):
        """Common shape of a decision (SPEC §3). Returns the object or None."""
        self.no_crash(r)
        d = r.json
        if d is None:
            self.fail(f"decision for {domain}: {r.json_error}")
            return None
        for k in DECISION_KEYS:
            if k not in d:
                self.fail(f"decision for {domain}: key {k!r} missing")
        self.eq("domain", d.get("domain"), domain)
        self.true("action is one of the four", d.get("action") in
                  ("require-tls", "opportunistic", "defer", "bounce"), d.get("action"))
        self.true("verify is one of the three", d.get("verify") in ("pkix", "dane", "none"),
                  d.get("verify"))
        self.true("source is one of the five", d.get("source") in
                  ("mta-sts", "none", "local", "dane", "requiretls"), d.get("source"))
        if dnssec is not None:
            self.eq("dnssec", d.get("dnssec"), dnssec)
        self.true("ttl is a non-negative integer",
                  isinstance(d.get("ttl"), int) and not isinstance(d.get("ttl"), bool)
                  and d.get("ttl") >= 0, d.get("ttl"))
        self.true("reason is a non-empty string",
                  isinstance(d.get("reason"), str) and d.get("reason").strip() != "",
                  d.get("reason"))
        self.true("postfix is a string", isinstance(d.get("postfix"), str), d.get("postfix"))
        self.true("mx is a list", isinstance(d.get("mx"), list), d.get("mx"))
        rt = d.get("requiretls")
        if isinstance(rt, dict):
            self.eq("requiretls.requested", rt.get("requested"), False)
        else:
            self.fail(f"requiretls: got {rt!r}, want an object")
        self.eq("tlsrpt (no _smtp._tls records in the test zone)", d.get("tlsrpt"), None)
        return d

    def mx(self, d, want):
        """want: {host: (preference, allowed or None)}; checks the MX list as a set."""
        got = {}
        for e in d.get("mx") or []:
            if not isinstance(e, dict):
                self.fail(f"mx entry is not an object: {e!r}")
                continue
            host = str(e.get("host", "")).rstrip(".").lower()
            got[host] = e
            for k in ("host", "preference", "allowed", "verify", "tlsa"):
                if k not in e:
                    self.fail(f"mx {host}: key {k!r} missing")
        self.eq("mx hosts", sorted(got), sorted(want))
        for host, (pref, allowed) in want.items():
            e = got.get(host)
            if e is None:
                continue
            self.eq(f"mx {host} preference", e.get("preference"), pref)
            if allowed is not None:
                self.eq(f"mx {host} allowed", e.get("allowed"), allowed)
            self.eq(f"mx {host} tlsa", e.get("tlsa"), [])

    def sts(self, d, id_, mode, patterns, max_age=86400, from_cache=None):
        p = d.get("mta_sts")
        if not isinstance(p, dict):
            self.fail(f"mta_sts: got {p!r}, want a policy (id {id_}, mode {mode})")
            return
        for k in ("id", "mode", "mx", "max_age", "fetched_at", "expires_at", "from_cache"):
            if k not in p:
                self.fail(f"mta_sts: key {k!r} missing")
        self.eq("mta_sts.id", p.get("id"), id_)
        self.eq("mta_sts.mode", p.get("mode"), mode)
        self.eq("mta_sts.mx", p.get("mx"), patterns)
        self.eq("mta_sts.max_age", p.get("max_age"), max_age)
        if from_cache is not None:
            self.eq("mta_sts.from_cache", p.get("from_cache"), from_cache)
        fetched, expires = to_epoch(p.get("fetched_at")), to_epoch(p.get("expires_at"))
        if fetched is None or expires is None:
            self.fail(f"mta_sts fetched_at/expires_at not a time: got {p.get('fetched_at')!r}, "
                      f"{p.get('expires_at')!r}")
        elif abs((expires - fetched) - max_age) > 1:
            self.fail(f"mta_sts expires_at - fetched_at: got {expires - fetched}, want {max_age}")

    def enforce(self, r, domain, id_, patterns, mx, from_cache=None, rc=EX_OK, dnssec="secure"):
        """STS enforce with at least one allowed MX: require-tls / pkix (STS-25, STS-27)."""
        self.exit(r, rc)
        d = self.decision(r, domain, dnssec=dnssec)
        if d is None:
            return
        self.eq("action", d.get("action"), "require-tls")
        self.eq("verify", d.get("verify"), "pkix")
        self.eq("source", d.get("source"), "mta-sts")
        self.eq("postfix", d.get("postfix"),
                f"OK secure match={postfix_match(patterns)} servername=hostname")
        self.sts(d, id_, "enforce", patterns, from_cache=from_cache)
        self.mx(d, mx)
        for e in d.get("mx") or []:
            if isinstance(e, dict) and e.get("allowed") is True:
                self.eq(f"mx {e.get('host')} verify", e.get("verify"), "pkix")

    def no_policy(self, r, domain, rc, mx_host=None):
        """No usable policy: opportunistic, source none, mta_sts null, NOTFOUND (STS-17)."""
        self.exit(r, rc)
        d = self.decision(r, domain)
        if d is None:
            return
        self.eq("action", d.get("action"), "opportunistic")
        self.eq("verify", d.get("verify"), "none")
        self.eq("source", d.get("source"), "none")
        self.eq("mta_sts", d.get("mta_sts"), None)
        self.eq("postfix", d.get("postfix"), "NOTFOUND ")
        self.mx(d, {mx_host or f"mx1.{domain}": (10, None)})
        if r.rc == EX_UNAVAILABLE and not r.err.strip():
            self.fail("exit 69 but nothing on stderr (the discovery error must be printed)")

    def timed(self, r, limit=TIME_LIMIT):
        self.true(f"answered within {limit:.0f}s", r.elapsed < limit, f"{r.elapsed:.2f}s")


# --- cases ---------------------------------------------------------------------------------

CASES = []


def case(name, rfc):
    def register(fn):
        CASES.append((name, rfc, fn))
        return fn
    return register


def simple_enforce(c, case_name, id_=None):
    domain = f"{case_name}.mta.test"
    r = c.run(lookup(domain))
    c.enforce(r, domain, id_ or f"{case_name}1", [f"mx1.{domain}"], {f"mx1.{domain}": (10, True)})


def simple_fail(c, case_name, rc=EX_UNAVAILABLE):
    domain = f"{case_name}.mta.test"
    c.no_policy(c.run(lookup(domain)), domain, rc)


@case("enforce", "STS-1 STS-10 STS-25 STS-27")
def _(c):
    r = c.run(lookup("enforce.mta.test"))
    c.enforce(r, "enforce.mta.test", "enforce1", ["mx1.enforce.mta.test"],
              {"mx1.enforce.mta.test": (10, True)}, from_cache=False)


@case("normalize", "SPEC §3 (lower-case A-label, no trailing dot)")
def _(c):
    r = c.run(lookup("ENFORCE.Mta.Test."))
    c.enforce(r, "enforce.mta.test", "enforce1", ["mx1.enforce.mta.test"],
              {"mx1.enforce.mta.test": (10, True)})


@case("testing", "STS-21 STS-28")
def _(c):
    r = c.run(lookup("testing.mta.test"))
    c.exit(r, EX_OK)
    d = c.decision(r, "testing.mta.test")
    if d:
        c.eq("action", d.get("action"), "opportunistic")
        c.eq("verify", d.get("verify"), "none")
        c.eq("source", d.get("source"), "mta-sts")
        c.eq("postfix", d.get("postfix"), "NOTFOUND ")
        c.sts(d, "testing1", "testing", ["mx1.testing.mta.test"], from_cache=False)
        c.mx(d, {"mx1.testing.mta.test": (10, None)})


@case("none", "STS-20 STS-29")
def _(c):
    r = c.run(lookup("none.mta.test"))
    c.exit(r, EX_OK)
    d = c.decision(r, "none.mta.test")
    if d:
        c.eq("action", d.get("action"), "opportunistic")
        c.eq("verify", d.get("verify"), "none")
        c.eq("source", d.get("source"), "none")
        c.eq("postfix", d.get("postfix"), "NOTFOUND ")
        c.sts(d, "none1", "none", [])


@case("wildcard", "STS-25")
def _(c):
    r = c.run(lookup("wildcard.mta.test"))
    c.enforce(r, "wildcard.mta.test", "wildcard1", ["*.wildcard.mta.test"],
              {"mx1.wildcard.mta.test": (10, True), "a.b.wildcard.mta.test": (20, False)})


@case("multi", "STS-23 STS-25 STS-31")
def _(c):
    pats = ["mx1.multi.mta.test", "mx2.multi.mta.test", "*.backup.multi.mta.test"]
    r = c.run(lookup("multi.mta.test"))
    c.enforce(r, "multi.mta.test", "multi1", pats,
              {"mx1.multi.mta.test": (10, True), "mx2.multi.mta.test": (20, True),
               "x.backup.multi.mta.test": (30, True), "rogue.multi.mta.test": (40, False)})


@case("cname", "STS-5 STS-10")
def _(c):
    simple_enforce(c, "cname")


@case("split", "STS-4")
def _(c):
    simple_enforce(c, "split")


@case("tworecords", "STS-3")
def _(c):
    simple_fail(c, "tworecords", EX_TXT_INVALID)


@case("othertxt", "STS-3")
def _(c):
    simple_enforce(c, "othertxt")


@case("badid", "STS-2 SPEC §3 (id outside the ABNF)")
def _(c):
    simple_fail(c, "badid", EX_TXT_INVALID)


@case("missingid", "STS-2")
def _(c):
    simple_fail(c, "missingid", EX_TXT_INVALID)


@case("notxt", "STS-1 STS-17")
def _(c):
    simple_fail(c, "notxt", EX_OK)


@case("notfound", "STS-13 STS-17")
def _(c):
    simple_fail(c, "notfound")


@case("redirect", "STS-13")
def _(c):
    simple_fail(c, "redirect")


@case("wrongname", "STS-11 STS-12")
def _(c):
    simple_fail(c, "wrongname")


@case("selfsigned", "STS-11")
def _(c):
    simple_fail(c, "selfsigned")


@case("expired", "STS-11")
def _(c):
    simple_fail(c, "expired")


@case("oversize", "STS-15")
def _(c):
    simple_fail(c, "oversize")


@case("lfonly", "STS-24")
def _(c):
    simple_enforce(c, "lfonly")


@case("crlf", "STS-24")
def _(c):
    simple_enforce(c, "crlf")


@case("unknownkeys", "STS-8")
def _(c):
    simple_enforce(c, "unknownkeys")


@case("nomaxage", "STS-20")
def _(c):
    simple_fail(c, "nomaxage")


@case("badmode", "STS-21")
def _(c):
    simple_fail(c, "badmode")


@case("html", "STS-14 SPEC §3 (Content-Type)")
def _(c):
    simple_fail(c, "html")


@case("stall", "STS-15 SPEC §5 (HTTPS stall)")
def _(c):
    r = c.run(lookup("stall.mta.test"))
    c.timed(r)
    c.no_policy(r, "stall.mta.test", EX_UNAVAILABLE)


@case("nomx-match", "STS-25 STS-27 STS-30")
def _(c):
    r = c.run(lookup("nomx-match.mta.test"))
    c.exit(r, EX_TEMPFAIL)
    d = c.decision(r, "nomx-match.mta.test")
    if d:
        c.eq("action", d.get("action"), "defer")
        c.eq("source", d.get("source"), "mta-sts")
        c.true("postfix starts with 'TEMP '", str(d.get("postfix")).startswith("TEMP "),
               d.get("postfix"))
        c.sts(d, "nomxmatch1", "enforce", ["mx.elsewhere.example"])
        c.mx(d, {"mx1.nomx-match.mta.test": (10, False)})


@case("idchange", "STS-6 STS-33")
def _(c):
    dom = "idchange.mta.test"
    r = c.run(lookup(dom))
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d:
        c.eq("first lookup action", d.get("action"), "opportunistic")
        c.sts(d, "idchange1", "testing", [f"mx1.{dom}"], from_cache=False)
    world("world_set_policy", f"mta-sts.{dom}", policy_text("enforce", [f"mx1.{dom}"]))
    world("world_set_txt", f"_mta-sts.{dom}", '"v=STSv1; id=idchange2;"')
    r = c.run(lookup(dom))
    c.enforce(r, dom, "idchange2", [f"mx1.{dom}"], {f"mx1.{dom}": (10, True)},
              from_cache=False)


def cached_after_failure(c, dom, first_id, second_id):
    """Caches an enforce policy, then publishes a new id whose policy cannot be fetched."""
    r = c.run(lookup(dom))
    c.enforce(r, dom, first_id, [f"mx1.{dom}"], {f"mx1.{dom}": (10, True)}, from_cache=False)
    world("world_remove_policy", f"mta-sts.{dom}")
    world("world_set_txt", f"_mta-sts.{dom}", f'"v=STSv1; id={second_id};"')


@case("cachefallback", "STS-7 STS-17 STS-18 SPEC §3 (fetch failure never evicts)")
def _(c):
    dom = "cachefallback.mta.test"
    cached_after_failure(c, dom, "cachefallback1", "cachefallback2")
    r = c.run(lookup(dom))
    c.enforce(r, dom, "cachefallback1", [f"mx1.{dom}"], {f"mx1.{dom}": (10, True)},
              from_cache=True, rc=EX_UNAVAILABLE)


def store_mentions(path, needle):
    """Schema-agnostic: does any text column of any table in the SQLite file hold needle?"""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        tables = [t for (t,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            quoted = '"' + t.replace('"', '""') + '"'
            for row in con.execute(f"SELECT * FROM {quoted}"):
                for v in row:
                    if isinstance(v, bytes):
                        v = v.decode(errors="replace")
                    if isinstance(v, str) and needle in v:
                        return True
        return False
    finally:
        con.close()


@case("restart", "STS-18 SPEC §5 (no cached policy lost)")
def _(c):
    dom = "restart.mta.test"
    cached_after_failure(c, dom, "restart1", "restart2")
    if not os.path.isfile(STORE):
        c.fail(f"store {STORE}: got no file, want the SQLite store written by the first run")
    else:
        try:
            c.true(f"store {STORE} mentions {dom}", store_mentions(STORE, dom))
        except sqlite3.Error as e:
            c.fail(f"store {STORE} is not a readable SQLite database: {e}")
    r = c.run(lookup(dom))  # a new process: only the store can remember the policy
    c.enforce(r, dom, "restart1", [f"mx1.{dom}"], {f"mx1.{dom}": (10, True)},
              from_cache=True, rc=EX_UNAVAILABLE)


@case("private", "SPEC §4 (mta_sts.allow_private_addresses)")
def _(c):
    fresh = os.path.join(WORLD, "state", "private.sqlite")
    r = c.run(lookup("enforce.mta.test", "mta_sts.allow_private_addresses=false",
                     f"store.path={fresh}"))
    c.no_policy(r, "enforce.mta.test", EX_UNAVAILABLE)
    c.true("stderr mentions the private address",
           re.search(r"private|loopback|127\.0\.0\.1", r.err, re.I), r.err.strip()[:300])


@case("baddomain", "SPEC §3 (invalid domain is a client error)")
def _(c):
    r = c.run(lookup("bad..domain"))
    c.exit(r, EX_DATAERR)
    c.no_crash(r)
    c.true("stderr has a message", r.err.strip() != "", r.err)
    c.true("stderr names the domain", "bad..domain" in r.err, r.err.strip()[:300])


@case("resolver-down", "STS-30 SPEC §3 step 2 (timeout -> defer) SPEC §5")
def _(c):
    fresh = os.path.join(WORLD, "state", "resolver-down.sqlite")
    r = c.run(lookup("enforce.mta.test", f'resolver.servers=["127.0.0.1@{CLOSED_PORT}"]',
                     f"store.path={fresh}"))
    c.timed(r)
    c.exit(r, EX_TEMPFAIL)
    d = c.decision(r, "enforce.mta.test", dnssec=None)
    if d:
        c.eq("action", d.get("action"), "defer")
        c.true("postfix starts with 'TEMP '", str(d.get("postfix")).startswith("TEMP "),
               d.get("postfix"))
        c.true("dnssec is not secure", d.get("dnssec") != "secure", d.get("dnssec"))


@case("insecure", "SPEC §3 (MTA-STS needs no DNSSEC; dnssec insecure)")
def _(c):
    dom = "insecure.unsigned.test"
    r = c.run(lookup(dom))
    c.enforce(r, dom, "insecure1", [f"mx1.{dom}"], {f"mx1.{dom}": (10, True)},
              dnssec="insecure")


def bogus_mx(c, *sets, dnssec):
    dom = "bogus.mta.test"
    r = c.run(lookup(dom, *sets))
    c.timed(r)
    c.exit(r, EX_TEMPFAIL)
    d = c.decision(r, dom, dnssec=None)
    if d:
        c.eq("action", d.get("action"), "defer")
        c.true("postfix starts with 'TEMP '", str(d.get("postfix")).startswith("TEMP "),
               d.get("postfix"))
        c.true(f"dnssec is one of {dnssec}", d.get("dnssec") in dnssec, d.get("dnssec"))


@case("bogus", "DANE-4 SPEC §3 step 2 (bogus MX -> defer, never downgrade)")
def _(c):
    # Through a validating resolver a bogus RRset is a SERVFAIL: the client cannot tell
    # bogus from a failure, so both values are right in trust-ad mode.
    bogus_mx(c, dnssec=("bogus", "indeterminate"))


@case("usage", "SPEC §4 (CLI usage error)")
def _(c):
    start = time.monotonic()
    p = subprocess.run([BIN, "lookup", "--config", CONFIG], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    r = Run([BIN, "lookup", "(no domain)"], p.returncode, p.stdout, p.stderr,
            time.monotonic() - start)
    c.run(r)
    c.exit(r, EX_USAGE)
    c.no_crash(r)
    c.true("stderr has a message", r.err.strip() != "", r.err)


@case("badconfig", "SPEC §4 (config error)")
def _(c):
    bad = os.path.join(WORLD, "bad.toml")
    with open(bad, "w", encoding="ascii") as f:
        f.write('[resolver\nmode = "trust-ad"\n')
    r = c.run(lookup("enforce.mta.test", config=bad))
    c.exit(r, EX_CONFIG)
    c.no_crash(r)
    c.true("stderr names the config file", "bad.toml" in r.err, r.err.strip()[:300])


# --- driver --------------------------------------------------------------------------------

def main(argv):
    only = set(argv[1:])
    unknown = only - {n for n, _, _ in CASES}
    if unknown:
        print(f"sts_lookup: unknown case(s): {' '.join(sorted(unknown))}", file=sys.stderr)
        return 64
    passed = failed = skipped = 0
    prereq = None
    if not BIN or not os.access(BIN, os.X_OK):
        prereq = f"no tlspolicy binary (TLSPOLICY_BIN={BIN!r})"
    elif not WORLD or not os.path.isfile(CONFIG) or not LIB:
        prereq = "no test world (run through tests/integration/run)"
    for name, rfc, fn in CASES:
        if only and name not in only:
            continue
        if prereq:
            print(f"skip {name}: {prereq}")
            skipped += 1
            continue
        c = Check(name)
        try:
            fn(c)
        except Exception as e:  # a broken case is a failure, not a suite crash
            c.fail(f"{type(e).__name__}: {e}")
        if c.skipped and not c.problems:
            skipped += 1
            print(f"skip {name}: {c.skipped}")
        elif c.problems:
            failed += 1
            print(f"FAIL {name} [{rfc}]: " + "; ".join(c.problems))
            for r in c.runs:
                print("    " + r.describe().replace("\n", "\n    "))
        else:
            passed += 1
            note = f" ({', '.join(c.notes)})" if c.notes else ""
            print(f"ok {name}{note}")
        sys.stdout.flush()
    print(f"suite-result: passed={passed} failed={failed} skipped={skipped}")
    if failed:
        return 1
    return 77 if passed == 0 and skipped > 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
