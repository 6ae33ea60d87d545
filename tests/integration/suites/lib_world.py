#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# The test world as the Python suites see it: its environment (DIR/env.sh, exported by
# tests/integration/run), the lib.sh helpers that change it, what it serves (policy files,
# _mta-sts ids, TLSRPT records) and, below, the expected decision for every static domain.
#
# The expectations are written from how the world is built — env/zones/*.zone (MX, TLSA,
# DNSSEC), env/policies/*.txt and env/https-hosts (the policy each host serves, or how its
# fetch fails) — and from SPEC §3 / docs/decision-rules.md. Never from the binary under test:
# a world in which every lookup defers fails here.
#
# EXPECT[domain] = (plain, requiretls): the Want for a plain query and for one with REQUIRETLS
# requested. A Want names the socketmap reply (or a TEMP class), the action, source and verify
# of the decision and, per MX host, whether it may be used and how it is authenticated.
#
# TEMP replies are compared by class, not by text: the reason names the step that failed, and
# a trust-ad resolver sees a bogus answer as a SERVFAIL (it cannot tell), so "MX lookup … failed"
# and "MX answer … is DNSSEC-bogus" are one class: the MX step failed.
#
# Used by every Python suite. Not a suite (tests/integration/run skips lib_*).

import glob
import os
import re
import subprocess

# --- the environment (DIR/env.sh) ------------------------------------------------------------

ENV = os.environ
BIN = ENV.get("TLSPOLICY_BIN", "")
WORLD = ENV.get("WORLD_DIR", "")
LIB = ENV.get("WORLD_LIB", "")
CONFIG = ENV.get("TLSPOLICY_CONFIG", os.path.join(WORLD, "tlspolicy.toml"))
VALIDATE_CONFIG = ENV.get("TLSPOLICY_VALIDATE_CONFIG",
                          os.path.join(WORLD, "tlspolicy-validate.toml"))
CLOSED_PORT = ENV.get("CLOSED_PORT", "")
MODES = {"trust-ad": CONFIG, "validate": VALIDATE_CONFIG}  # resolver mode -> config file

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(INTEGRATION))

# The rua URIs each world domain's single TLSRPT record names (RFC 8460 §3; two records
# mean none). Kept beside the zone's table (tests/integration/env/zones/mta.test.zone).
TLSRPT_RUA = {
    "enforce.mta.test": ["mailto:tlsrpt@reports.test"],
    "testing.mta.test": ["https://reports.test/ok"],
    "badmode.mta.test": ["mailto:tlsrpt@reports.test", "https://reports.test/created"],
    "selfsigned.mta.test": ["https://reports.test/flaky"],
    "unusable.dane.test": ["mailto:tlsrpt@reports.test"],
    "wrongname.mta.test": ["https://reports.test/fail"],
    "dlv-sts.unsigned.test": ["mailto:tlsrpt@reports.test"],  # deliveries.py
    "dlv-sts-wrong.unsigned.test": ["mailto:tlsrpt@reports.test"],
}


def world(*args):
    """Calls a lib.sh helper (world_set_txt, world_set_policy, world_remove_policy,
    world_flush_resolver)."""
    p = subprocess.run([LIB, *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"lib.sh {' '.join(args)} failed: {p.stderr.strip()}")


def policy_text(mode, mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx]
    lines.append(f"max_age: {max_age}")
    return "\n".join(lines) + "\n"


def policy_lines(domain):
    """The non-empty lines of the policy file the world serves for domain, or None."""
    host = "mta-sts." + domain
    path = os.path.join(WORLD, "www", host, ".well-known", "mta-sts.txt")
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    return [ln.strip() for ln in text.replace("\r", "").split("\n") if ln.strip()]


def zone_id(domain):
    """The id of the _mta-sts TXT record the world publishes for domain (one CNAME followed)."""
    records = {}
    for path in glob.glob(os.path.join(WORLD, "zones", "src", "*.zone")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^(\S+)\s+(?:\d+\s+)?IN\s+(TXT|CNAME)\s+(.*)$", line)
                if m:
                    records.setdefault(m.group(1).lower(), []).append((m.group(2), m.group(3)))
    name = f"_mta-sts.{domain}."
    for _ in range(2):
        for rtype, rdata in records.get(name, []):
            if rtype == "CNAME":
                name = rdata.split()[0].lower()
                break
            text = "".join(re.findall(r'"([^"]*)"', rdata))
            m = re.match(r"v=STSv1;\s*id=([^;\s]+);", text)
            if m:
                return m.group(1)
        else:
            return None
    return None


def have_world(configs=(CONFIG,)):
    """None when the binary and the world are there, else why not."""
    if not BIN or not os.access(BIN, os.X_OK):
        return f"no tlspolicy binary (TLSPOLICY_BIN={BIN!r})"
    if not WORLD or not LIB or not all(os.path.isfile(f) for f in configs):
        return "no test world (run through tests/integration/run)"
    return None


# --- the expected decisions ------------------------------------------------------------------


DANE, PKIX, NONE, SKIP = "dane", "pkix", "none", None  # per-host verify; SKIP = allowed false

# TEMP reason classes: the step that failed (src/policy/rules.cpp says these sentences).
TEMP_CLASSES = {
    "mx": r"^MX (lookup for \S+ failed|answer for \S+ is DNSSEC-)",
    "no-usable-host": r"^no MX host of \S+ is usable",
    "sts-no-allowed-host": r"^no MX host of \S+ is both usable and allowed by its MTA-STS policy",
    "sts-indeterminate": r"(DNSSEC-bogus|the policy store could not be read)",
    "requiretls-sts": r"^REQUIRETLS requested but the MTA-STS policy of \S+ could not be obtained",
}


def reply_problems(want, got):
    """Problems with a socketmap reply `got` (as the daemon sent it) against `want`: an exact
    reply, or ("TEMP", class)."""
    if isinstance(want, tuple):
        cls = want[1]
        if not got.startswith("TEMP "):
            return [f"reply {got!r}, want TEMP ({cls})"]
        if not re.search(TEMP_CLASSES[cls], got[5:]):
            return [f"reply {got!r}: not a TEMP of class {cls} (/{TEMP_CLASSES[cls]}/)"]
        return []
    return [] if got == want else [f"reply {got!r}, want {want!r}"]


class Want:
    """One expected decision. postfix: the exact socketmap reply, or ("TEMP", class)."""

    def __init__(self, postfix, action, source, verify, hosts):
        self.postfix, self.action, self.source, self.verify = postfix, action, source, verify
        self.hosts = hosts  # [(host, verify or SKIP)] in preference order

    @property
    def temp(self):
        return self.postfix[1] if isinstance(self.postfix, tuple) else None

    def problems(self, d):
        """Problems with a decision object (SPEC §3) against this Want."""
        if not isinstance(d, dict):
            return [f"no decision object: {d!r}"]
        out = reply_problems(self.postfix, str(d.get("postfix")))
        if self.temp and not re.search(TEMP_CLASSES[self.temp], str(d.get("reason"))):
            out.append(f"reason {d.get('reason')!r} is not of class {self.temp}")
        for k in ("action", "source", "verify"):
            if d.get(k) != getattr(self, k):
                out.append(f"{k} {d.get(k)!r}, want {getattr(self, k)!r}")
        got = [(str(h.get("host")), h.get("verify") if h.get("allowed") else SKIP)
               for h in d.get("mx") or [] if isinstance(h, dict)]
        if got != self.hosts:
            out.append(f"mx {got}, want {self.hosts}")
        return out

    @property
    def requiretls_map(self):
        """Postfix 3.11 smtp_requiretls_policy (RT-9): OK enforce where Postfix can
        authenticate a host with the plain reply, TEMP on defer, NOTFOUND otherwise."""
        if self.temp:
            return ("TEMP", self.temp)
        if self.postfix.startswith(("OK dane-only", "OK secure")):
            return "OK enforce"
        if self.postfix == "OK dane" and any(v == DANE for _, v in self.hosts):
            return "OK enforce"
        return "NOTFOUND "


def same(want):
    """REQUIRETLS changes nothing: every host is authenticated already."""
    return (want, want)


def mx1(domain, verify):
    return [(f"mx1.{domain}", verify)]


def enforce(domain, patterns, hosts=None):
    """An enforce policy a matching MX host satisfies (RFC 8461 §4–5, STS-25/27)."""
    match = ":".join("." + p[2:] if p.startswith("*.") else p for p in patterns)
    return same(Want(f"OK secure match={match} servername=hostname", "require-tls", "mta-sts",
                     PKIX, hosts or mx1(domain, PKIX)))


def secure_mx_no_policy(domain, source="none", hosts=None):
    """Signed MX, no TLSA, no (usable) policy: opportunistic; REQUIRETLS satisfiable by PKIX
    against the MX host name (RFC 8689 §4.2.1, RT-3)."""
    hosts = hosts or [f"mx1.{domain}"]
    return (Want("NOTFOUND ", "opportunistic", source, NONE, [(h, NONE) for h in hosts]),
            Want("OK secure match=hostname servername=hostname", "require-tls", "requiretls",
                 PKIX, [(h, PKIX) for h in hosts]))


def insecure_no_policy(domain):
    """Unsigned MX, no policy: opportunistic; REQUIRETLS cannot be satisfied (RT-4): bounce."""
    hosts = mx1(domain, NONE)
    return (Want("NOTFOUND ", "opportunistic", "none", NONE, hosts),
            Want("NOTFOUND ", "bounce", "requiretls", NONE, hosts))


def temp(cls, source="none", hosts=()):
    return same(Want(("TEMP", cls), "defer", source, NONE, list(hosts)))


def dane_only(domain, hosts=None):
    return same(Want("OK dane-only", "require-tls", "dane", DANE, hosts or mx1(domain, DANE)))


def bounce(hosts=()):
    return same(Want("NOTFOUND ", "bounce", "none", NONE, list(hosts)))


def _sts(name):
    return f"{name}.mta.test"


EXPECT = {}

# --- mta.test: signed, every MX host has a secure A and no TLSA (secure denial) ---------------
for name in ("enforce", "cname", "split", "othertxt", "lfonly", "crlf", "unknownkeys"):
    EXPECT[_sts(name)] = enforce(_sts(name), [f"mx1.{_sts(name)}"])
EXPECT[_sts("wildcard")] = enforce(  # *.x matches one label: a.b is not allowed (STS-25)
    _sts("wildcard"), ["*.wildcard.mta.test"],
    [("mx1.wildcard.mta.test", PKIX), ("a.b.wildcard.mta.test", SKIP)])
EXPECT[_sts("multi")] = enforce(
    _sts("multi"), ["mx1.multi.mta.test", "mx2.multi.mta.test", "*.backup.multi.mta.test"],
    [("mx1.multi.mta.test", PKIX), ("mx2.multi.mta.test", PKIX),
     ("x.backup.multi.mta.test", PKIX), ("rogue.multi.mta.test", SKIP)])
EXPECT[_sts("testing")] = secure_mx_no_policy(_sts("testing"), source="mta-sts")  # STS-28
# No policy applies (STS-3, STS-17, STS-29, SPEC §3): none, an invalid or absent TXT record, a
# fetch that fails (404, redirect, wrong name, self-signed, expired, too large, stall), an
# invalid policy body or media type.
for name in ("none", "tworecords", "badid", "missingid", "notxt", "notfound", "redirect",
             "wrongname", "selfsigned", "expired", "oversize", "nomaxage", "badmode", "html",
             "stall"):
    EXPECT[_sts(name)] = secure_mx_no_policy(_sts(name))
EXPECT[_sts("nomx-match")] = temp("sts-no-allowed-host", "mta-sts",  # STS-30
                                  mx1(_sts("nomx-match"), SKIP))
EXPECT[_sts("bogus")] = temp("mx")  # DANE-4: a bogus MX RRset defers

# --- unsigned.test: insecure delegation, so no DANE (DANE-6) ----------------------------------
EXPECT["insecure.unsigned.test"] = enforce(  # MTA-STS needs no DNSSEC
    "insecure.unsigned.test", ["mx1.insecure.unsigned.test"])
EXPECT["unsigned-tlsa.unsigned.test"] = insecure_no_policy("unsigned-tlsa.unsigned.test")
EXPECT["plain.unsigned.test"] = insecure_no_policy("plain.unsigned.test")
# txtfail: the _mta-sts lookup fails (SERVFAIL): no policy (STS-17); with REQUIRETLS a defer,
# not a bounce, since the policy that could not be obtained may satisfy it (SPEC §3 step 5).
EXPECT["txtfail.unsigned.test"] = (
    insecure_no_policy("txtfail.unsigned.test")[0],
    Want(("TEMP", "requiretls-sts"), "defer", "requiretls", NONE,
         mx1("txtfail.unsigned.test", NONE)))


def _dane(name):
    return f"{name}.dane.test"


# --- dane.test: signed ------------------------------------------------------------------------
for name in ("tlsa311", "tlsa201"):
    EXPECT[_dane(name)] = dane_only(_dane(name))
EXPECT[_dane("mx-cname")] = dane_only(  # the TLSA of the CNAME target applies (DANE-9..11)
    _dane("mx-cname"), [("mx.mx-cname.dane.test", DANE)])
# dane-sts: TLSA on both hosts, enforce names mx1 only: mx2 is not used (STS-27, STS-32).
EXPECT[_dane("dane-sts")] = dane_only(
    _dane("dane-sts"), [("mx1.dane-sts.dane.test", DANE), ("mx2.dane-sts.dane.test", SKIP)])
# twomx: only mx1 has TLSA. Postfix's "dane" applies each host's own; REQUIRETLS needs mx2
# authenticated too: PKIX against its name over the secure MX, so "dane-only" (never weaker).
EXPECT[_dane("twomx")] = (
    Want("OK dane", "opportunistic", "dane", DANE,
         [("mx1.twomx.dane.test", DANE), ("mx2.twomx.dane.test", NONE)]),
    Want("OK dane-only", "require-tls", "dane", DANE,
         [("mx1.twomx.dane.test", DANE), ("mx2.twomx.dane.test", PKIX)]))
# unusable: every TLSA record unusable: TLS without authentication (DANE-5b); REQUIRETLS by
# PKIX against the MX host name (SPEC §3 step 5).
EXPECT[_dane("unusable")] = (
    Want("OK dane", "require-tls", "dane", NONE, mx1(_dane("unusable"), NONE)),
    Want("OK secure match=hostname servername=hostname", "require-tls", "requiretls", PKIX,
         mx1(_dane("unusable"), PKIX)))
EXPECT[_dane("notlsa")] = secure_mx_no_policy(_dane("notlsa"))
EXPECT[_dane("bogus-mx")] = temp("mx")
EXPECT[_dane("bogus-tlsa")] = temp("no-usable-host", "dane",  # DANE-4
                                   mx1(_dane("bogus-tlsa"), SKIP))
EXPECT[_dane("ds-unsigned")] = temp("mx")  # DS over an unsigned zone: bogus
EXPECT[_dane("servfail")] = temp("mx")
EXPECT[_dane("refused")] = temp("mx")
EXPECT[_dane("nxdomain")] = bounce()  # RFC 5321 §5.1
EXPECT[_dane("nullmx")] = bounce()  # RFC 7505
# "Never downgrade" (SPEC §3, DANE-21): per host the stronger of DANE and MTA-STS.
EXPECT[_dane("dane-sts-mixed")] = dane_only(
    _dane("dane-sts-mixed"),
    [("mx1.dane-sts-mixed.dane.test", DANE), ("mx2.dane-sts-mixed.dane.test", PKIX)])
EXPECT[_dane("unusable-sts")] = enforce(_dane("unusable-sts"), ["mx1.unusable-sts.dane.test"])
EXPECT[_dane("tlsa-servfail")] = (  # DANE-4: mx1 not used, by Postfix either ("OK dane")
    Want("OK dane", "opportunistic", "dane", NONE,
         [("mx1.tlsa-servfail.dane.test", SKIP), ("mx2.tlsa-servfail.dane.test", NONE)]),
    Want("OK secure match=hostname servername=hostname", "require-tls", "requiretls", PKIX,
         [("mx1.tlsa-servfail.dane.test", SKIP), ("mx2.tlsa-servfail.dane.test", PKIX)]))
EXPECT[_dane("bogus-aaaa")] = dane_only(_dane("bogus-aaaa"))  # SPEC §3 step 3
EXPECT[_dane("mx-absent")] = bounce(mx1(_dane("mx-absent"), SKIP))  # not TEMP for days

# --- deliveries (deliveries.py sends real mail to these; env/receivers) -----------------------
for name in ("dlv-dane", "dlv-dane-bad", "dlv-dane-noreq"):
    EXPECT[_dane(name)] = dane_only(_dane(name))
EXPECT[_dane("dlv-mixed")] = dane_only(  # as dane-sts-mixed
    _dane("dlv-mixed"), [("mx1.dlv-mixed.dane.test", DANE), ("mx2.dlv-mixed.dane.test", PKIX)])
for name in ("dlv-sts", "dlv-sts-wrong"):
    EXPECT[f"{name}.unsigned.test"] = enforce(f"{name}.unsigned.test",
                                              [f"mx1.{name}.unsigned.test"])
EXPECT["dlv-sts-mx.unsigned.test"] = enforce(
    "dlv-sts-mx.unsigned.test", ["mx2.dlv-sts-mx.unsigned.test"],
    [("mx1.dlv-sts-mx.unsigned.test", SKIP), ("mx2.dlv-sts-mx.unsigned.test", PKIX)])
# testing: no requirement, and with REQUIRETLS an insecure MX has no authenticated path: bounce.
EXPECT["dlv-sts-testing.unsigned.test"] = (
    Want("NOTFOUND ", "opportunistic", "mta-sts", NONE,
         mx1("dlv-sts-testing.unsigned.test", NONE)),
    Want("NOTFOUND ", "bounce", "requiretls", NONE, mx1("dlv-sts-testing.unsigned.test", NONE)))
for name in ("dlv-none", "dlv-plain"):
    EXPECT[f"{name}.unsigned.test"] = insecure_no_policy(f"{name}.unsigned.test")

# --- test.: signed; no such name (a key the daemon suite sends in upper case) ----------------
EXPECT["example.test"] = bounce()

DOMAINS = list(EXPECT)


if __name__ == "__main__":
    print("lib_world.py holds the world's environment and expected decisions, not cases")
    print("suite-result: passed=0 failed=0 skipped=0")
