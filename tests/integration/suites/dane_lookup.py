#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# DANE, DNSSEC failures and REQUIRETLS end to end: `tlspolicy lookup DOMAIN --json` against the
# integration test world (private signed root -> test. -> dane.test./mta.test.; see
# docs/testing.md). Every case runs twice, once per resolver mode:
#   NAME@trust-ad   DIR/tlspolicy.toml: ldns stub at the world's Unbound, trusting its AD bit
#   NAME@validate   DIR/tlspolicy-validate.toml: in-process libunbound forwarding to the same
#                   Unbound, validating itself with the private root's DS (TRUST_ANCHOR)
# Each mode has its own fresh policy store, so the two runs do not share cached policies.
#
# Environment (from DIR/env.sh via tests/integration/run): TLSPOLICY_BIN, WORLD_DIR, WORLD_LIB,
# TLSPOLICY_CONFIG, TLSPOLICY_VALIDATE_CONFIG, TLSA_EE_SPKI_SHA256, TLSA_TA_CERT_SHA256.
# Arguments: optional case names, "NAME@MODE" or just "NAME" (both modes).
# Output: the protocol of lib_cases.run_suite ("ok NAME" / "FAIL NAME [rows]: ..." / "skip",
# then "suite-result: passed=N failed=M skipped=K"). Each case names its RFC-CHECKLIST rows.

import json
import os
import sys

from lib_cases import EX_OK, EX_TEMPFAIL, Cases, lookup, run_suite
from lib_world import CONFIG, MODES, VALIDATE_CONFIG, WORLD

EE = os.environ.get("TLSA_EE_SPKI_SHA256", "").lower()
TA = os.environ.get("TLSA_TA_CERT_SHA256", "").lower()

# A bogus RRset reaches a trust-ad client as a SERVFAIL from Unbound: it cannot tell bogus from
# a server failure. libunbound sees the data itself and must say "bogus".
BOGUS = {"trust-ad": ("bogus", "indeterminate"), "validate": ("bogus",)}
FAILED = ("bogus", "indeterminate")  # SERVFAIL / REFUSED from the zone's server

CASES = Cases()


def dane_case(name, rfc):
    """Registers fn(c, mode) once per resolver mode as NAME@MODE."""
    def register(fn):
        for mode in MODES:
            CASES.case(f"{name}@{mode}", rfc)(lambda c, fn=fn, mode=mode: fn(c, mode))
        return fn
    return register


def run(c, mode, domain, *flags):
    store = os.path.join(WORLD, "state", f"dane-{mode}.sqlite")
    return c.run(lookup(domain, f"store.path={store}", config=MODES[mode], flags=flags))


def tlsa_list(c, host, entry):
    """mx[i].tlsa: a list of {usage, selector, mtype, data} with data lower-case hex."""
    got = entry.get("tlsa")
    if not isinstance(got, list):
        c.fail(f"mx {host} tlsa: got {got!r}, want a list")
        return []
    out = []
    for t in got:
        keys = ("usage", "selector", "mtype", "data")
        if not isinstance(t, dict) or any(k not in t for k in keys):
            c.fail(f"mx {host} tlsa entry: got {t!r}, want {{usage, selector, mtype, data}}")
            continue
        out.append((t.get("usage"), t.get("selector"), t.get("mtype"), str(t.get("data")).lower()))
    return out


def mx_entries(c, d, want_hosts):
    """{host: entry}; checks the set of MX hosts and every entry's keys."""
    got = {}
    for e in d.get("mx") or []:
        if not isinstance(e, dict):
            c.fail(f"mx entry is not an object: {e!r}")
            continue
        host = str(e.get("host", "")).rstrip(".").lower()
        got[host] = e
        for k in ("host", "preference", "allowed", "verify", "tlsa"):
            if k not in e:
                c.fail(f"mx {host}: key {k!r} missing")
    c.eq("mx hosts", sorted(got), sorted(want_hosts))
    for host, pref in want_hosts.items():
        if host in got:
            c.eq(f"mx {host} preference", got[host].get("preference"), pref)
    return got


def dane_host(c, host, e, want_tlsa):
    """A host authenticated by DANE: verify dane, allowed, its TLSA records listed."""
    c.eq(f"mx {host} verify", e.get("verify"), "dane")
    c.eq(f"mx {host} allowed", e.get("allowed"), True)
    got = tlsa_list(c, host, e)
    c.true(f"mx {host} tlsa is non-empty", got, got)
    for w in want_tlsa:
        c.true(f"mx {host} tlsa holds {w[0]} {w[1]} {w[2]} {w[3][:16]}...", w in got, got)


def never_opportunistic(c, d):
    """A bogus, indeterminate or failed lookup never downgrades (DANE-4, SPEC §3 step 2)."""
    c.true("action is not opportunistic after a failed lookup",
           d.get("action") != "opportunistic", d.get("action"))


def deferred(c, r, domain, dnssec, mode):
    c.timed(r)
    c.exit(r, EX_TEMPFAIL)
    d = c.decision(r, domain, dnssec=None)
    if d is None:
        return None
    never_opportunistic(c, d)
    c.eq("action", d.get("action"), "defer")
    c.true("postfix starts with 'TEMP '", str(d.get("postfix")).startswith("TEMP "),
           d.get("postfix"))
    if dnssec is not None:
        c.true(f"dnssec ({mode}) is one of {dnssec}", d.get("dnssec") in dnssec, d.get("dnssec"))
    return d


def dane_only(c, mode, domain, hosts, want_tlsa, mta_sts=None):
    """Secure MX, every host usable TLSA: require-tls / dane / OK dane-only (DANE-5a)."""
    r = run(c, mode, domain)
    c.exit(r, EX_OK)
    d = c.decision(r, domain)
    if d is None:
        return None
    c.eq("action", d.get("action"), "require-tls")
    c.eq("verify", d.get("verify"), "dane")
    c.eq("source", d.get("source"), "dane")
    c.eq("postfix", d.get("postfix"), "OK dane-only")
    if mta_sts is None:
        c.eq("mta_sts", d.get("mta_sts"), None)
    got = mx_entries(c, d, hosts)
    for host in hosts:
        if host in got:
            dane_host(c, host, got[host], want_tlsa)
    return d, got


# --- DANE outcomes (RFC 7672 §2.2) -----------------------------------------------------------

@dane_case("tlsa311", "DANE-5 DANE-8 DANE-12")
def _(c, mode):
    dane_only(c, mode, "tlsa311.dane.test", {"mx1.tlsa311.dane.test": 10}, [(3, 1, 1, EE)])


@dane_case("tlsa201", "DANE-5 DANE-13")
def _(c, mode):
    dane_only(c, mode, "tlsa201.dane.test", {"mx1.tlsa201.dane.test": 10}, [(2, 0, 1, TA)])


@dane_case("dane-sts", "STS-32 DANE-5 SPEC §3 step 3 (DANE wins, STS MX matching applies)")
def _(c, mode):
    dom = "dane-sts.dane.test"
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d is None:
        return
    c.eq("action", d.get("action"), "require-tls")
    c.eq("verify", d.get("verify"), "dane")
    c.eq("source", d.get("source"), "dane")
    c.eq("postfix", d.get("postfix"), "OK dane-only")
    p = d.get("mta_sts")
    if isinstance(p, dict):
        c.eq("mta_sts.mode", p.get("mode"), "enforce")
        c.eq("mta_sts.id", p.get("id"), "danests1")
        c.eq("mta_sts.mx", p.get("mx"), [f"mx1.{dom}"])
    else:
        c.fail(f"mta_sts: got {p!r}, want the enforce policy (id danests1)")
    got = mx_entries(c, d, {f"mx1.{dom}": 10, f"mx2.{dom}": 20})
    if f"mx1.{dom}" in got:
        dane_host(c, f"mx1.{dom}", got[f"mx1.{dom}"], [(3, 1, 1, EE)])
    if f"mx2.{dom}" in got:
        c.eq(f"mx mx2.{dom} allowed (matches no STS pattern)", got[f"mx2.{dom}"].get("allowed"),
             False)


@dane_case("twomx", "DANE-5 DANE-7 SPEC §4 (OK dane)")
def _(c, mode):
    dom = "twomx.dane.test"
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d is None:
        return
    c.eq("source", d.get("source"), "dane")
    c.eq("postfix", d.get("postfix"), "OK dane")
    got = mx_entries(c, d, {f"mx1.{dom}": 10, f"mx2.{dom}": 20})
    if f"mx1.{dom}" in got:
        dane_host(c, f"mx1.{dom}", got[f"mx1.{dom}"], [(3, 1, 1, EE)])
    if f"mx2.{dom}" in got:
        e = got[f"mx2.{dom}"]
        c.eq(f"mx mx2.{dom} verify", e.get("verify"), "none")
        c.eq(f"mx mx2.{dom} tlsa", tlsa_list(c, f"mx2.{dom}", e), [])


@dane_case("unusable", "DANE-2 DANE-5 DANE-15 DANE-16")
def _(c, mode):
    dom = "unusable.dane.test"
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d is None:
        return
    c.eq("action", d.get("action"), "require-tls")
    c.eq("verify", d.get("verify"), "none")
    c.eq("source", d.get("source"), "dane")
    c.eq("postfix", d.get("postfix"), "OK dane")
    got = mx_entries(c, d, {f"mx1.{dom}": 10})
    if f"mx1.{dom}" in got:
        c.eq(f"mx mx1.{dom} verify", got[f"mx1.{dom}"].get("verify"), "none")


def no_dane(c, mode, dom, dnssec):
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom, dnssec=dnssec)
    if d is None:
        return
    c.eq("action", d.get("action"), "opportunistic")
    c.eq("verify", d.get("verify"), "none")
    c.eq("source", d.get("source"), "none")
    c.eq("mta_sts", d.get("mta_sts"), None)
    c.eq("postfix", d.get("postfix"), "NOTFOUND ")
    got = mx_entries(c, d, {f"mx1.{dom}": 10})
    if f"mx1.{dom}" in got:
        e = got[f"mx1.{dom}"]
        c.eq(f"mx mx1.{dom} verify", e.get("verify"), "none")
        c.eq(f"mx mx1.{dom} tlsa", tlsa_list(c, f"mx1.{dom}", e), [])


@dane_case("notlsa", "DANE-5 (secure denial of TLSA: no DANE)")
def _(c, mode):
    no_dane(c, mode, "notlsa.dane.test", "secure")


@dane_case("unsigned-tlsa", "DANE-1 DANE-5 DANE-6 (insecure TLSA: no DANE)")
def _(c, mode):
    no_dane(c, mode, "unsigned-tlsa.unsigned.test", "insecure")


@dane_case("mx-cname", "DANE-9 DANE-10 DANE-11 DANE-19 (secure CNAME chain: expanded name)")
def _(c, mode):
    # The MX list names the MX target as published (DANE-6: log the unexpanded name); its
    # TLSA comes from _25._tcp.real.mx-cname.dane.test, the expanded name.
    dane_only(c, mode, "mx-cname.dane.test", {"mx.mx-cname.dane.test": 10}, [(3, 1, 1, EE)])


# --- DNSSEC and lookup failures: never downgrade (RFC 7672 §2.1, SPEC §3 step 2) ------------

@dane_case("bogus-mx", "DANE-1 DANE-4 SPEC §3 step 2")
def _(c, mode):
    deferred(c, run(c, mode, "bogus-mx.dane.test"), "bogus-mx.dane.test", BOGUS[mode], mode)


@dane_case("bogus-sts", "DANE-4 STS-32 (bogus MX behind an enforce policy: defer)")
def _(c, mode):
    deferred(c, run(c, mode, "bogus.mta.test"), "bogus.mta.test", BOGUS[mode], mode)


@dane_case("bogus-tlsa", "DANE-1 DANE-4 DANE-5 SPEC §3 step 3 (only host unusable -> defer)")
def _(c, mode):
    dom = "bogus-tlsa.dane.test"
    r = run(c, mode, dom, "--explain")
    d = deferred(c, r, dom, ("secure",), mode)  # the MX RRset itself is fine
    if d is None:
        return
    trail = d.get("explain")
    if not isinstance(trail, list) or not trail:
        c.fail(f"explain: got {trail!r}, want a non-empty array (--explain)")
    else:
        c.true("the explain trail mentions TLSA", "tlsa" in json.dumps(trail).lower(),
               json.dumps(trail)[:400])


@dane_case("ds-unsigned", "DANE-1 DANE-4 (DS in the parent, zone unsigned: bogus)")
def _(c, mode):
    deferred(c, run(c, mode, "ds-unsigned.dane.test"), "ds-unsigned.dane.test", BOGUS[mode],
             mode)


@dane_case("servfail", "DANE-4 DANE-19 SPEC §3 step 2 (SERVFAIL -> defer)")
def _(c, mode):
    deferred(c, run(c, mode, "servfail.dane.test"), "servfail.dane.test", FAILED, mode)


@dane_case("refused", "DANE-4 DANE-19 SPEC §3 step 2 (REFUSED -> defer)")
def _(c, mode):
    deferred(c, run(c, mode, "refused.dane.test"), "refused.dane.test", FAILED, mode)


@dane_case("nxdomain", "DANE-19 (NXDOMAIN is an error: bounce)")
def _(c, mode):
    dom = "nxdomain.dane.test"
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d:
        c.eq("action", d.get("action"), "bounce")
        c.eq("postfix", d.get("postfix"), "NOTFOUND ")


@dane_case("nullmx", "DANE-20 (null MX: bounce 5.1.10)")
def _(c, mode):
    dom = "nullmx.dane.test"
    r = run(c, mode, dom)
    c.exit(r, EX_OK)
    d = c.decision(r, dom)
    if d:
        c.eq("action", d.get("action"), "bounce")
        c.true("reason mentions 5.1.10", "5.1.10" in str(d.get("reason")), d.get("reason"))
        c.eq("postfix", d.get("postfix"), "NOTFOUND ")


# --- REQUIRETLS (RFC 8689 §4.2.1, SPEC §3 step 5) ------------------------------------------

def requiretls(c, mode, dom, dnssec):
    r = run(c, mode, dom, "--requiretls")
    c.exit(r, EX_OK)
    d = c.decision(r, dom, dnssec=dnssec, requested=True)
    return d


def rt_satisfied(c, d):
    c.eq("action", d.get("action"), "require-tls")
    c.eq("requiretls", d.get("requiretls"),
         {"requested": True, "satisfiable": True, "peer_must_advertise": True})


@dane_case("requiretls-dane", "RT-3 (DANE satisfies REQUIRETLS)")
def _(c, mode):
    d = requiretls(c, mode, "tlsa311.dane.test", "secure")
    if d:
        rt_satisfied(c, d)
        c.eq("verify", d.get("verify"), "dane")


@dane_case("requiretls-sts", "RT-3 (MTA-STS enforce satisfies REQUIRETLS, insecure MX)")
def _(c, mode):
    d = requiretls(c, mode, "insecure.unsigned.test", "insecure")
    if d:
        rt_satisfied(c, d)
        c.eq("verify", d.get("verify"), "pkix")


@dane_case("requiretls-none", "RT-3 RT-4 (insecure MX, no policy: bounce 5.7.30)")
def _(c, mode):
    d = requiretls(c, mode, "plain.unsigned.test", "insecure")
    if d:
        c.eq("action", d.get("action"), "bounce")
        c.true("reason mentions 5.7.30", "5.7.30" in str(d.get("reason")), d.get("reason"))
        rt = d.get("requiretls") or {}
        c.eq("requiretls.satisfiable", rt.get("satisfiable"), False)


# --- driver --------------------------------------------------------------------------------

if __name__ == "__main__":
    names = {n.split("@")[0] for n, _, _ in CASES.items}
    args = [sys.argv[0]]
    for a in sys.argv[1:]:
        args += [f"{a}@{m}" for m in MODES] if a in names else [a]
    if not EE or not TA:
        print("dane_lookup: TLSA_EE_SPKI_SHA256/TLSA_TA_CERT_SHA256 not set (old env.sh?)",
              file=sys.stderr)
    sys.exit(run_suite("dane_lookup", CASES, args, configs=(CONFIG, VALIDATE_CONFIG)))
