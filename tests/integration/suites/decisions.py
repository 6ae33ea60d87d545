#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Every static domain of the test world, asked four ways — resolver mode trust-ad and validate,
# without and with REQUIRETLS — through `tlspolicy lookup DOMAIN --json`, and compared with the
# decision the world's construction says it must be (lib_world.EXPECT: zones, policies, HTTPS
# hosts; never the binary's own answers). Both modes must give the same answer (SPEC §3; the
# DNSSEC state of a failure may differ: a trust-ad resolver sees a bogus answer as SERVFAIL).
#
# One case per domain; each mode has its own fresh store. Environment and output: as
# lib_cases.run_suite (TLSPOLICY_BIN, WORLD_DIR, TLSPOLICY_CONFIG, TLSPOLICY_VALIDATE_CONFIG).

import os
import sys
from concurrent.futures import ThreadPoolExecutor

from lib_cases import Cases, lookup, run_suite
from lib_golden import golden, replace_all
from lib_world import CONFIG, EXPECT, MODES, VALIDATE_CONFIG, WORLD

FIELDS = ("postfix", "action", "source", "verify")

CASES = Cases()
_runs = {}


def runs():
    """(domain, mode, requiretls) -> Run, all asked at once (the stall domain waits out its
    fetch timeout once per mode, not once per case)."""
    if not _runs:
        def one(key):
            domain, mode, rt = key
            store = os.path.join(WORLD, "state", f"decisions-{mode}.sqlite")
            return key, lookup(domain, f"store.path={store}", config=MODES[mode], timeout=60,
                               flags=("--requiretls",) if rt else ())
        keys = [(d, m, rt) for d in EXPECT for m in MODES for rt in (False, True)]
        with ThreadPoolExecutor(8) as ex:
            _runs.update(ex.map(one, keys))
    return _runs


def compared(d):
    """The fields both modes must agree on (TEMP reasons by their class, see lib_world)."""
    if not isinstance(d, dict):
        return None
    out = {k: d.get(k) for k in FIELDS}
    if str(out["postfix"]).startswith("TEMP "):
        out["postfix"] = "TEMP"
    out["mx"] = [(h.get("host"), h.get("allowed"), h.get("verify")) for h in d.get("mx") or []
                 if isinstance(h, dict)]
    return out


def check_domain(c, domain):
    by_mode = {}
    for mode in MODES:
        for rt, want in zip((False, True), EXPECT[domain]):
            r = c.run(runs()[(domain, mode, rt)])
            d = c.decision(r, domain, dnssec=None, requested=rt)
            what = f"{mode}{' --requiretls' if rt else ''}"
            for p in want.problems(d):
                c.fail(f"{what}: {p}")
            if d is not None and rt:
                ok = want.action not in ("defer", "bounce")
                rt_obj = d.get("requiretls") or {}
                c.eq(f"{what}: requiretls.satisfiable", rt_obj.get("satisfiable"), ok)
                c.eq(f"{what}: requiretls.peer_must_advertise",
                     rt_obj.get("peer_must_advertise"), ok)
            by_mode[(mode, rt)] = compared(d)
    for rt in (False, True):
        a, b = by_mode.get(("trust-ad", rt)), by_mode.get(("validate", rt))
        if a != b:
            c.fail(f"the resolver modes disagree{' with REQUIRETLS' if rt else ''}: "
                   f"trust-ad {a}, validate {b}")


for _domain in EXPECT:
    CASES.case(_domain, "SPEC §3; expected: lib_world.py")(
        lambda c, domain=_domain: check_domain(c, domain))


# `tlspolicy lookup --explain` (the text for people, with its trail) of a few domains, one of
# each kind, compared whole with golden/explain/DOMAIN.txt: an MTA-STS enforce policy, a testing
# one (with a TLSRPT record), DANE-EE, DANE on one of two MX hosts, a null MX. trust-ad mode, a
# store of its own (the policy is fetched, not from the cache). What varies between runs of the
# same world is normalised: the fetch and expiry times and the TTLs (the world Unbound's cache
# counts them down).
EXPLAINED = ("enforce.mta.test", "testing.mta.test", "tlsa311.dane.test", "twomx.dane.test",
             "nullmx.dane.test")


def explained(c, domain):
    store = os.path.join(WORLD, "state", "decisions-explain.sqlite")
    r = c.run(lookup(domain, f"store.path={store}", flags=("--explain",), as_json=False,
                     timeout=60))
    c.no_crash(r)
    want = EXPECT[domain][0]
    c.true(f"postfix line is the world's {want.postfix!r}",
           f"\npostfix:  {want.postfix}\n" in r.out)
    text = replace_all(r.out + f"exit: {r.rc}\n", [
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>"),
        (r"^ttl:      \d+s$", "ttl:      <ttl>s"),
        (r"\b(TTL|ttl) \d+", r"\1 <ttl>")])
    for p in golden(f"explain/{domain}.txt", text):
        c.fail(p)


for _domain in EXPLAINED:
    CASES.case(f"explain-golden:{_domain}", "SPEC §3; golden/explain")(
        lambda c, domain=_domain: explained(c, domain))


if __name__ == "__main__":
    sys.exit(run_suite("decisions", CASES, sys.argv, configs=(CONFIG, VALIDATE_CONFIG)))
