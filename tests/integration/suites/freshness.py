#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# How long `tlspolicy serve` keeps a decision (SPEC §3): no longer than the smallest TTL it
# rests on, TTL 0 meaning 0, and a store that cannot be read is a defer, never "nothing
# cached". Each case runs against a daemon of its own in each resolver mode, on the world
# domains made for it (env/zones/mta.test.zone, "freshness"): the suite rewrites their TXT
# records and policy files and puts them back afterwards.
#
#   ttl0-new-id-at-once     _mta-sts TXT with TTL 0: a new id (and its policy) is seen at once
#   ttl1-new-id-soon        TTL 1: a new id is seen within two seconds
#   mx-ttl0-not-kept        an MX RRset with TTL 0: every query decides again (no memory hit)
#   store-unreadable-defers a cached enforce policy, its TXT record gone (STS-7: the cached
#                           policy applies) and the store unreadable: TEMP, not NOTFOUND; once
#                           the store reads again, the cached policy applies
#   refresh-without-txt     cache.refresh with the TXT record gone fetches the policy anyway,
#                           under the stored id (STS-34, RFC 8461 §10.2)
#   ttl-counts-down         a decision answered from memory carries the TTL that remains
#
# Environment and output: as daemon_clients.py (TLSPOLICY_BIN, WORLD_DIR, WORLD_LIB,
# TLSPOLICY_CONFIG, TLSPOLICY_VALIDATE_CONFIG).

import re
import sqlite3
import sys
import time

from lib_daemon import Daemon
from lib_results import Results, TempDir, run_one
from lib_world import BIN, LIB, MODES, TEMP_CLASSES, WORLD, policy_text, world

R = Results()


def enforce_reply(domain):
    return f"OK secure match=mx1.{domain} servername=hostname"


def query(d, domain):
    return d.sm_query(domain)


def decide(d, domain):
    return d.json_op({"op": "decide", "domain": domain}).get("decision") or {}


def misses(d):
    return d.stats()["decisions"]["misses"]


class Changed:
    """Publishes a new id and policy body for a domain; puts the originals back on exit."""

    def __init__(self, domain, txt_id, mode, original_id):
        self.domain, self.txt_id, self.mode, self.original_id = domain, txt_id, mode, original_id

    def __enter__(self):
        world("world_set_policy", f"mta-sts.{self.domain}",
              policy_text(self.mode, [f"mx1.{self.domain}"]))
        world("world_set_txt", f"_mta-sts.{self.domain}", f'"v=STSv1; id={self.txt_id};"')
        return self

    def __exit__(self, *exc):
        world("world_set_policy", f"mta-sts.{self.domain}",
              policy_text("enforce", [f"mx1.{self.domain}"]))
        world("world_set_txt", f"_mta-sts.{self.domain}", f'"v=STSv1; id={self.original_id};"')


def starts_enforced(p, d, dom):
    """The domain's enforce policy answers first (what the world publishes)."""
    got = query(d, dom)
    if got != enforce_reply(dom):
        p.append(f"first answer {got!r}, want {enforce_reply(dom)!r}")
        return False
    return True


def ttl0_new_id_at_once(p, d, mode):
    dom = "ttl0.mta.test"
    if not starts_enforced(p, d, dom):
        return None
    with Changed(dom, f"ttl0{mode[0]}", "testing", "ttl0a"):
        got = query(d, dom)  # at once: a decision on a TTL-0 record was not kept
        if got != "NOTFOUND ":
            p.append(f"right after the id changed: {got!r}, want 'NOTFOUND ' (the testing "
                     "policy of the new id); a decision resting on TTL 0 must not be kept")
    return "new id seen at once"


def ttl1_new_id_soon(p, d, mode):
    dom = "ttl1.mta.test"
    if not starts_enforced(p, d, dom):
        return None
    with Changed(dom, f"ttl1{mode[0]}", "testing", "ttl1a"):
        changed = time.monotonic()
        deadline = changed + 2.5
        while time.monotonic() < deadline:
            got = query(d, dom)
            if got == "NOTFOUND ":
                return f"new id seen after {time.monotonic() - changed:.1f}s"
            time.sleep(0.2)
        p.append(f"2.5 s after the id changed (TTL 1 s): still {got!r}, want 'NOTFOUND '")
    return None


def mx_ttl0_not_kept(p, d, mode):
    dom = "mxttl0.mta.test"
    before = misses(d)
    for _ in range(3):
        got = query(d, dom)
        if got != "NOTFOUND ":
            p.append(f"answer {got!r}, want 'NOTFOUND ' (no policy)")
    grew = misses(d) - before
    if grew != 3:
        p.append(f"3 queries of a domain whose MX TTL is 0: {grew} cold lookups, want 3 (TTL 0 "
                 "means 0, not 'unknown')")
    return f"{grew} cold lookups of 3"


def store_unreadable_defers(p, d, mode):
    dom = "storefail.mta.test"
    if not starts_enforced(p, d, dom):
        return None
    world("world_set_txt", f"_mta-sts.{dom}")  # gone: the cached policy still applies (STS-7)
    db = sqlite3.connect(d.store, timeout=10)
    try:
        with db:
            db.execute("ALTER TABLE policies RENAME TO policies_hidden")
        # The first decision rested on the TTL-1 TXT record; a resolver cache may show the old
        # record for up to 2 s (whole seconds), and while it does, fetching the policy anew is
        # right. Once the record is gone: TEMP, never NOTFOUND.
        deadline = time.monotonic() + 5
        while True:
            got = query(d, dom)
            if got.startswith("TEMP ") or got == "NOTFOUND " or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if not got.startswith("TEMP ") or not re.search(TEMP_CLASSES["sts-indeterminate"], got):
            p.append(f"with the store unreadable: {got!r}, want TEMP (the policy store could not "
                     "be read), never NOTFOUND")
        with db:
            db.execute("ALTER TABLE policies_hidden RENAME TO policies")
        dec = decide(d, dom)
        if dec.get("postfix") != enforce_reply(dom) or \
                not (dec.get("mta_sts") or {}).get("from_cache"):
            p.append(f"store readable again, TXT still gone: {dec.get('postfix')!r} "
                     f"{dec.get('mta_sts')!r}, want the cached policy (STS-7)")
    finally:
        db.close()
        world("world_set_txt", "--ttl", "1", f"_mta-sts.{dom}", '"v=STSv1; id=storefail1;"')
    return "TEMP while unreadable, cached policy after"


def refresh_without_txt(p, d, mode):
    """STS-34 (RFC 8461 §10.2): a refresh fetches whatever the TXT record says, so a TXT lookup
    an attacker blocks cannot let a cached policy expire."""
    dom = "storefail.mta.test"
    if not starts_enforced(p, d, dom):
        return None
    try:
        world("world_set_txt", f"_mta-sts.{dom}")
        world("world_set_policy", f"mta-sts.{dom}", policy_text("testing", [f"mx1.{dom}"]))
        r = d.admin_op({"op": "cache.refresh", "domain": dom})
        sts = r.get("mta_sts") or {}
        if r.get("status") != "ok" or sts.get("mode") != "testing" or sts.get("id") != "storefail1":
            p.append(f"cache.refresh with the TXT record gone: {r!r}, want the policy fetched anew "
                     "(mode testing) under the stored id storefail1")
    finally:
        world("world_set_policy", f"mta-sts.{dom}", policy_text("enforce", [f"mx1.{dom}"]))
        world("world_set_txt", "--ttl", "1", f"_mta-sts.{dom}", '"v=STSv1; id=storefail1;"')
    return "fetched anew under the stored id"


def ttl_counts_down(p, d, mode):
    """A decision answered from memory carries the TTL that remains, not the original."""
    dom = "enforce.mta.test"
    first = decide(d, dom)
    time.sleep(2.1)
    again = decide(d, dom)
    t1, t2 = first.get("ttl"), again.get("ttl")
    if not isinstance(t1, int) or not isinstance(t2, int) or t1 > 60:
        p.append(f"ttl {t1!r} then {t2!r}: want integers, the first at most the zone TTL 60")
    elif not t2 <= t1 - 2:
        p.append(f"ttl {t1} and, 2 s later from memory, {t2}: want at most {t1 - 2}")
    return f"ttl {t1} then {t2}"


CASES = [("ttl0-new-id-at-once", ttl0_new_id_at_once), ("ttl1-new-id-soon", ttl1_new_id_soon),
         ("mx-ttl0-not-kept", mx_ttl0_not_kept),
         ("store-unreadable-defers", store_unreadable_defers),
         ("refresh-without-txt", refresh_without_txt), ("ttl-counts-down", ttl_counts_down)]


def main():
    if not BIN or not WORLD or not LIB:
        R.skip("freshness", "no test world (run through tests/integration/run)")
        return R.finish()
    with TempDir("fr.") as base:
        for mode, config in MODES.items():
            d = Daemon(mode, config, base)
            try:
                d.wait_ready()
                for name, fn in CASES:
                    R.case(f"{name}@{mode}", *run_one(fn, d, mode))
            finally:
                d.kill()
                if R.failed:
                    d.logs.dump(f"{mode} daemon log", 2000)
    return R.finish()


if __name__ == "__main__":
    sys.exit(main())
