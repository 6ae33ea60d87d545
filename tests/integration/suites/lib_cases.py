#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# The `tlspolicy lookup --json` suites (sts_lookup.py, dane_lookup.py, decisions.py): running
# the CLI, the Check collector of "got X, want Y" mismatches, the case registry and the driver
# that runs the cases and prints them through lib_results. Python 3 standard library only.
# Not a suite itself: tests/integration/run skips lib_* files.

import datetime
import json
import subprocess
import sys
import time

from lib_daemon import CRASH_MARKERS
from lib_results import Results
from lib_world import BIN, CONFIG, TLSRPT_RUA, have_world

# Exit codes of the CLI contract (sysexits).
EX_OK, EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 64, 65, 69, 75, 78

DECISION_KEYS = ("domain", "action", "verify", "source", "mx", "mta_sts", "dnssec",
                 "requiretls", "tlsrpt", "postfix", "reason", "ttl")
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


def lookup(domain, *sets, config=None, timeout=30, flags=(), as_json=True):
    """`tlspolicy lookup DOMAIN --json --config CONFIG [FLAGS] [--set S]...` (without --json
    when as_json is false: the text for people)"""
    args = [BIN, "lookup", domain, *(["--json"] if as_json else []), *flags, "--config",
            config or CONFIG]
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

    def decision(self, r, domain, dnssec="secure", requested=False, dns_works=True):
        """Common shape of a decision (SPEC §3). Returns the object or None. With the resolver
        unreachable (dns_works=False) no TLSRPT record can be found either."""
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
            self.eq("requiretls.requested", rt.get("requested"), requested)
        else:
            self.fail(f"requiretls: got {rt!r}, want an object")
        # RFC 8460 §3: the world publishes _smtp._tls records for the RPT_DOMAIN_* domains
        # (tests/integration/env/zones/mta.test.zone); every other domain has none.
        want_rua = TLSRPT_RUA.get(domain) if dns_works else None
        self.eq("tlsrpt", d.get("tlsrpt"), {"rua": want_rua} if want_rua else None)
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


# --- cases and driver ----------------------------------------------------------------------

class Cases:
    """A suite's case registry: @cases.case("name", "RFC rows") on a function taking a Check."""

    def __init__(self):
        self.items = []

    def case(self, name, rfc):
        def register(fn):
            self.items.append((name, rfc, fn))
            return fn
        return register


def run_suite(suite, cases, argv, configs=(CONFIG,)):
    """Runs the cases named in argv[1:] (all when none), prints the output protocol, returns
    the exit status: 0 no failure, 1 failures, 77 everything skipped, 64 unknown case."""
    only = set(argv[1:])
    unknown = only - {n for n, _, _ in cases.items}
    if unknown:
        print(f"{suite}: unknown case(s): {' '.join(sorted(unknown))}", file=sys.stderr)
        return 64
    results = Results()
    prereq = have_world(configs)
    for name, rfc, fn in cases.items:
        if only and name not in only:
            continue
        if prereq:
            results.skip(name, prereq)
            continue
        c = Check(name)
        try:
            fn(c)
        except Exception as e:  # a broken case is a failure, not a suite crash
            c.fail(f"{type(e).__name__}: {e}")
        if c.skipped and not c.problems:
            results.skip(name, c.skipped)
        elif c.problems:
            with results.lock:  # the runs that show the failure follow its line
                results.case(f"{name} [{rfc}]", c.problems)
                for r in c.runs:
                    print("    " + r.describe().replace("\n", "\n    "))
                sys.stdout.flush()
        else:
            results.case(name, [], ", ".join(c.notes))
    return results.finish()


if __name__ == "__main__":
    print("lib_cases.py holds helpers, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
