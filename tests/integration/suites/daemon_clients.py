#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# `tlspolicy serve` end to end, through the real clients: Postfix's dict_sockmap (postmap -q)
# and Exim's ${readsocket} / ${extract json} (exim -be, -bt, -bP), plus raw-socket bad input,
# concurrency, SIGHUP reload and SIGTERM shutdown. See docs/testing.md ("Real Postfix and
# Exim"), docs/protocols/socketmap.md, docs/protocols/json.md, docs/guides/postfix.md and
# docs/guides/exim.md (the blocks marked "<!-- checked: NAME -->" there are read and run here).
#
# One daemon per resolver mode (trust-ad: TLSPOLICY_CONFIG, validate: TLSPOLICY_VALIDATE_CONFIG),
# each with its own store and its own socket directory under WORLD_DIR. What each domain must
# answer comes from the world's construction (lib_world.EXPECT: zones, policies, HTTPS hosts),
# never from the binary under test; a TEMP is compared with its reason class.
#
# Environment (from DIR/env.sh via tests/integration/run): TLSPOLICY_BIN, WORLD_DIR, WORLD_LIB,
# TLSPOLICY_CONFIG, TLSPOLICY_VALIDATE_CONFIG. Needs root, postmap and the unpacked Exim
# (clients.sh); exits 77 without them.
# Output (lib_results): "ok NAME" / "FAIL NAME: ..." / "skip NAME: ..." lines, then
# "suite-result: passed=N failed=M skipped=K".

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import lib_world
from lib_daemon import (CLIENTS, EXIM_GUIDE, POSTFIX_GUIDE, Conn, Daemon, clients,
                        clients_missing, exim_expand, guide_block, netstring, postfix_query,
                        sm_ok)
from lib_results import Results, TempDir, run_one
from lib_world import BIN, CONFIG, EXPECT, MODES, have_world, policy_lines

# Every static world domain (lib_world.EXPECT), each asked the same way. The suites that change
# TXT records and policy files while they run (idchange, cachefallback, restart, ttl*,
# storefail) have their domains out of that table on purpose.
DOMAINS = list(EXPECT)

# Keys that are not domains: a fast NOTFOUND, no lookup (SPEC §4).
NOT_DOMAIN_KEYS = [".parent.example", ".enforce.mta.test", "[192.0.2.1]:25", "[192.0.2.1]",
                   "[mx1.enforce.mta.test]:25", "mx1.enforce.mta.test:587", "bad..domain",
                   "192.0.2.1"]
# Keys Postfix sends as written (no case folding): the daemon folds them.
FOLDED_KEYS = {"ENFORCE.Mta.Test": "enforce.mta.test", "ENFORCE.Mta.Test.": "enforce.mta.test",
               "TLSA311.Dane.TEST": "tlsa311.dane.test", "EXAMPLE.Test": "example.test"}

PLAIN_MAPS = ("postfix", "QUERY", "tlspolicy")
TLSRPT_MAPS = ("tlsrpt", "QUERYwithTLSRPT")
REQUIRETLS_MAP = "requiretls"  # Postfix 3.11 smtp_requiretls_policy (RT-9)


R = Results()
check = R.check


# --- Exim's ${readsocket} --------------------------------------------------------------------

def readsocket_decision(field, domain):
    return ('${extract jsons{' + field + '}{${extract json{decision}{${readsocket{TLSPOLICY_SOCKET}'
            '{\\{"op":"decide","domain":"' + domain + '"\\}}{5s}{}{FAIL}}}}}}')


# --- expected TLS-RPT variant ----------------------------------------------------------------

def daemon_form(postmap_line):
    """The daemon's reply as postfix_query prints it, back in socketmap form."""
    return "NOTFOUND " if postmap_line == "NOTFOUND" else postmap_line


def reply_problems(problems, what, want, got):
    """`want`: an exact reply or ("TEMP", class) (lib_world); `got`: as postfix_query prints."""
    for p in lib_world.reply_problems(want, daemon_form(got)):
        problems.append(f"{what}: {p}")


def tlsrpt_problems(problems, what, got, want, domain):
    """The TLS-RPT variant: the plain reply, and for MTA-STS OK replies the Postfix 3.10
    attributes with the patterns and lines of the policy the world serves for the domain."""
    if not (want.source == "mta-sts" and not want.temp and want.postfix.startswith("OK secure")):
        reply_problems(problems, what, want.postfix, got)
        return
    lines = policy_lines(domain)
    if lines is None:
        problems.append(f"{what}: the world serves no policy for {domain}")
        return
    pats = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("mx:")]
    head = (f"{want.postfix} policy_type=sts policy_domain={domain}"
            + "".join(f" mx_host_pattern={p}" for p in pats))
    if not got.startswith(head + " {"):
        problems.append(f"{what}: got {got!r}, want it to start with {head + ' {'!r}")
        return
    rest = got[len(head):]
    strings = re.findall(r" \{ policy_string = ([^{}]*?) \}", rest)
    if "".join(f" {{ policy_string = {s} }}" for s in strings) != rest:
        problems.append(f"{what}: tail is not a sequence of policy_string attributes: {rest!r}")
        return
    want_lines = [re.sub(r"\s+", " ", ln) for ln in lines if "{" not in ln and "}" not in ln]
    got_n = [re.sub(r"\s+", " ", s) for s in strings]
    if got_n != want_lines:
        problems.append(f"{what}: policy_strings {got_n!r}, want the served lines {want_lines!r}")


# --- the cases -------------------------------------------------------------------------------

def domain_socketmap(problems, d, domain):
    want = EXPECT[domain][0]
    for m in PLAIN_MAPS:
        reply_problems(problems, f"map {m}", want.postfix, postfix_query(d.sm, m, domain))
    for m in TLSRPT_MAPS:
        tlsrpt_problems(problems, f"map {m}", postfix_query(d.sm, m, domain), want, domain)
    reply_problems(problems, f"map {REQUIRETLS_MAP}", want.requiretls_map,
                   postfix_query(d.sm, REQUIRETLS_MAP, domain))
    shown = want.postfix[0] if want.temp else want.postfix.split(" ")[0]
    return shown + (" +tlsrpt" if want.source == "mta-sts" and not want.temp
                    and want.postfix.startswith("OK secure") else "")


def domain_exim(problems, d, domain):
    want = EXPECT[domain][0]
    got = exim_expand(d.json, readsocket_decision("postfix", domain))
    reply_problems(problems, "postfix via ${readsocket}", want.postfix, got)
    got = exim_expand(d.json, readsocket_decision("action", domain))
    if got != want.action:
        problems.append(f"action via ${{readsocket}}: got {got!r}, want {want.action!r}")
    return None


def run_domains(d):
    with ThreadPoolExecutor(10) as ex:
        futs = [(f"socketmap@{d.name}:{dom}", ex.submit(run_one, domain_socketmap, d, dom))
                for dom in DOMAINS]
        futs += [(f"exim-readsocket@{d.name}:{dom}", ex.submit(run_one, domain_exim, d, dom))
                 for dom in DOMAINS]
        for name, f in futs:
            problems, note = f.result()
            R.case(name, problems, note)


def keys_case(problems, d):
    for key in NOT_DOMAIN_KEYS:
        for m in ("postfix", "tlsrpt", REQUIRETLS_MAP):
            got = postfix_query(d.sm, m, key)
            if got != "NOTFOUND":
                problems.append(f"{m} {key!r}: got {got!r}, want NOTFOUND")
    for key, folded in FOLDED_KEYS.items():
        reply_problems(problems, repr(key), EXPECT[folded][0].postfix,
                       postfix_query(d.sm, "postfix", key))


# Exim: the guide's configuration, with one test router.

# Exim cannot reach the world's DNS (its resolver has no port setting), so the test
# configuration routes to 127.0.0.1 in place of the guide's dnslookup router; -bt shows
# whether the tlspolicy routers before it let the address through. The router's condition
# also proves that $address_data set by tlspolicy_lookup reaches later routers.
TEST_ROUTER = """test_route:
  driver = manualroute
  domains = ! +local_domains
  condition = ${if eq{${extract jsons{status}{$address_data}}}{ok}}
  route_list = * 127.0.0.1
  self = send
  transport = remote_smtp

"""


def exim_conf(tmp, sock, name):
    body = guide_block(EXIM_GUIDE, "exim-configure")
    body, n = re.subn(r"^TLSPOLICY_SOCKET = .*$", f"TLSPOLICY_SOCKET = {sock}", body, flags=re.M)
    if n != 1:
        raise RuntimeError("the Exim guide's configuration does not define TLSPOLICY_SOCKET")
    if "\ndnslookup:" not in body:
        raise RuntimeError("the Exim guide's configuration has no dnslookup router")
    body = body.replace("\ndnslookup:", "\n" + TEST_ROUTER + "dnslookup:", 1)
    conf = os.path.join(tmp, name, "exim.conf")
    os.makedirs(os.path.dirname(conf), exist_ok=True)
    p = subprocess.run(["bash", "-c", 'source "$0"; exim_config "$1"', CLIENTS, conf],
                       input=body, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"exim_config failed: {p.stderr}")
    return conf


def exim_route_case(problems, conf, address, want_rc, want_re):
    rc, out, err = clients("exim_route", conf, address)
    if rc != want_rc or not re.search(want_re, out):
        problems.append(f"exim -bt {address}: exit {rc}, output {out!r}; want exit {want_rc} "
                        f"and /{want_re}/")


def exim_option_case(problems, conf):
    rc, out, err = clients("exim_option", conf, "transport", "remote_smtp")
    if rc != 0:
        problems.append(f"exim -bP transport remote_smtp: exit {rc}: {err.strip()[:300]}")
        return
    opts = dict(ln.split(" = ", 1) for ln in out.splitlines() if " = " in ln)
    for opt, needle in (("hosts_require_tls", "require-tls"),
                        ("hosts_require_dane", "OK dane-only"),
                        ("tls_verify_hosts", "pkix"), ("tls_verify_cert_hostnames", "pkix"),
                        ("dnssec_request_domains", "*"), ("hosts_try_dane", "*")):
        if needle not in opts.get(opt, ""):
            problems.append(f"transport option {opt}: got {opts.get(opt)!r}, want it to hold "
                            f"{needle!r}")


def postfix_guide_case(problems, d, tmp):
    """The guide's main.cf lines, with the socket moved to the test daemon's, in a real
    Postfix configuration: `postmap -q KEY $(postconf -h smtp_tls_policy_maps)`. The chroot
    form (a path relative to the queue directory) is run from the socket's parent directory,
    which is what Postfix's cwd is."""
    for marker, mapname in (("postfix-main-cf", "postfix"), ("postfix-main-cf-tlsrpt", "tlsrpt"),
                            ("postfix-main-cf-chroot", "postfix")):
        block = guide_block(POSTFIX_GUIDE, marker)
        m = re.search(r"^smtp_tls_policy_maps\s*=\s*socketmap:unix:(\S+):(\S+)\s*$", block, re.M)
        if not m:
            problems.append(f"{marker}: no smtp_tls_policy_maps = socketmap:unix:PATH:NAME line")
            continue
        if m.group(2) != mapname:
            problems.append(f"{marker}: map name {m.group(2)!r}, want {mapname!r}")
        relative = not m.group(1).startswith("/")
        path = os.path.relpath(d.sm, os.path.dirname(d.dir)) if relative else d.sm
        cwd = os.path.dirname(d.dir) if relative else None
        etc = os.path.join(tmp, "postfix-" + marker)
        os.makedirs(etc, exist_ok=True)
        lines = block.replace(m.group(1), path)
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\nmyhostname = postfix.clients.test\n"
                    "mydomain = clients.test\ninet_protocols = ipv4\n" + lines)
        os.utime(os.path.join(etc, "main.cf"), (946684800, 946684800))
        env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        p = subprocess.run(["postconf", "-c", etc, "-h", "smtp_tls_policy_maps"],
                           capture_output=True, text=True, env=env, timeout=30)
        maps = p.stdout.strip()
        if p.returncode != 0 or not maps.startswith("socketmap:"):
            problems.append(f"{marker}: postconf -h smtp_tls_policy_maps: {p.stdout!r} "
                            f"{p.stderr!r}")
            continue
        p = subprocess.run(["postmap", "-c", etc, "-q", "enforce.mta.test", maps],
                           capture_output=True, text=True, env=env, cwd=cwd, timeout=30)
        want = "secure match=mx1.enforce.mta.test servername=hostname"
        if p.returncode != 0 or not p.stdout.strip().startswith(want):
            problems.append(f"{marker}: postmap -q enforce.mta.test {maps} (cwd {cwd}): exit "
                            f"{p.returncode}, {p.stdout.strip()!r} {p.stderr.strip()[-300:]!r}")


# --- bad input -------------------------------------------------------------------------------

def perm_then_close(problems, d, data, what, half_close=False):
    c = Conn(d.sm, timeout=5)
    try:
        try:
            c.send(data)
            if half_close:
                c.s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may close before all of it is written
        try:
            reply = c.read_netstring()
        except EOFError:
            reply = None
        if half_close and reply is None:
            pass  # an incomplete request at EOF: closing without a reply is fine
        elif reply is None or not reply.startswith("PERM "):
            problems.append(f"{what}: reply {reply!r}, want 'PERM …'")
        if not c.at_eof(5):
            problems.append(f"{what}: connection not closed after the reply")
    finally:
        c.close()
    p = sm_ok(d)
    if p:
        problems.append(f"{what}: {p}")


def bad_netstrings(problems, d):
    perm_then_close(problems, d, b"abc", "'abc'")
    perm_then_close(problems, d, b"5:abcdefg,", "'5:abcdefg,' (no comma after 5 bytes)")
    perm_then_close(problems, d, b"5:ab,", "'5:ab,' then EOF", half_close=True)
    perm_then_close(problems, d, b"05:ab cd,", "leading zero '05:'")
    perm_then_close(problems, d, b"00:,", "leading zero '00:'")
    perm_then_close(problems, d, b"24:postfix enforce.mta.test;", "';' in place of ','")
    perm_then_close(problems, d, b"24:postfix enforce.mta.test24:postfix enforce.mta.test,",
                    "missing comma before the next netstring")
    perm_then_close(problems, d, b"-1:x,", "'-1:'")
    perm_then_close(problems, d, b"1000000:", "7-digit length")
    perm_then_close(problems, d, b":x,", "no length")


def oversized(problems, d):
    perm_then_close(problems, d, b"10001:" + b"x" * 10001 + b",", "10001-byte payload")
    # The largest request is still answered (the key is not a domain: NOTFOUND) and the
    # connection stays usable.
    c = Conn(d.sm, timeout=5)
    try:
        got = c.query("postfix", "k" * (10000 - len("postfix ")))
        if got != "NOTFOUND ":
            problems.append(f"10000-byte payload: got {got[:80]!r}, want 'NOTFOUND '")
        got = c.query("postfix", "enforce.mta.test")
        if not got.startswith("OK secure"):
            problems.append(f"query after the 10000-byte payload: got {got!r}")
    finally:
        c.close()


def bad_requests(problems, d):
    """Malformed requests inside good framing: PERM, and the connection stays usable."""
    c = Conn(d.sm, timeout=5)
    try:
        for payload in ("postfix", "postfix ", " enforce.mta.test", ""):
            c.send(netstring(payload))
            got = c.read_netstring()
            if not got.startswith("PERM "):
                problems.append(f"request {payload!r}: got {got!r}, want 'PERM …'")
        got = c.query("postfix", "enforce.mta.test")
        if not got.startswith("OK secure"):
            problems.append(f"same connection after the bad requests: got {got!r}")
    except EOFError:
        problems.append("the daemon closed the connection after a malformed request (framing "
                        "was intact)")
    finally:
        c.close()
    p = sm_ok(d)
    if p:
        problems.append(p)


JSON_GARBAGE = [
    (b"not json", "bad-json"),
    (b"", "bad-json"),
    (b"[1]", "bad-json"),
    (b'"decide"', "bad-json"),
    (b'{"op":"decide","domain":"enforce.mta.test"} {"op":"stats"}', "bad-json"),
    (b'{"op":"decide","domain":"\xff\xfe"}', "bad-json"),
    (b'{"op":"decide","domain":"a\x00b"}', "bad-json"),
    (b'{"op":"decide","domain":"enforce.mta.test"', "bad-json"),
    (b'{"op":"lookup","id":2}', "unknown-op"),
    (b'{"domain":"enforce.mta.test"}', "bad-request"),
    (b'{"op":"decide"}', "bad-request"),
    (b'{"op":"decide","domain":"enforce.mta.test","requireTLS":true}', "bad-request"),
    (b'{"op":"decide","domain":"enforce.mta.test","id":[1]}', "bad-request"),
    (b'{"v":2,"op":"decide","domain":"enforce.mta.test"}', "unsupported-version"),
    (b'{"op":"decide","domain":"192.0.2.1"}', "bad-domain"),
    (b'{"op":"decide","domain":"bad..domain","id":"x"}', "bad-domain"),
]


def json_garbage(problems, d):
    c = Conn(d.json, timeout=5)
    try:
        for line, code in JSON_GARBAGE:
            r = c.request(line)
            got = (r.get("status"), (r.get("error") or {}).get("code"))
            if got != ("error", code):
                problems.append(f"{line[:60]!r}: got {r!r}, want error code {code!r}")
        r = c.request(b'{"op":"lookup","id":2}')
        if r.get("id") != 2:
            problems.append(f"error does not echo the id: {r!r}")
        r = c.request({"op": "decide", "domain": "enforce.mta.test", "id": "good"})
        if r.get("status") != "ok" or r.get("id") != "good" or \
                (r.get("decision") or {}).get("action") != "require-tls":
            problems.append(f"good line after the garbage on the same connection: got {r!r}")
        r = c.request(b'{"op":"decide","domain":"enforce.mta.test"}\r')
        if r.get("status") != "ok":
            problems.append(f"CRLF line: got {r!r}")
    except EOFError:
        problems.append("the daemon closed the JSON connection after a bad line")
    finally:
        c.close()
    p = sm_ok(d)
    if p:
        problems.append(p)


def json_long(problems, d):
    for newline in (True, False):
        what = "70 KiB line" + ("" if newline else " without newline, connection kept open")
        c = Conn(d.json, timeout=5)
        try:
            data = b'{"op":"decide","domain":"' + b"a" * (70 * 1024) + b'"}'
            try:
                c.send(data + (b"\n" if newline else b""))
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                r = c.read_line()
                if r.get("status") != "error" or r.get("error", {}).get("code") != "bad-json":
                    problems.append(f"{what}: got {r!r}, want error bad-json")
            except EOFError:
                problems.append(f"{what}: closed without an error object")
            if not c.at_eof(5):
                problems.append(f"{what}: connection not closed after the error")
        finally:
            c.close()
    c = Conn(d.json, timeout=5)
    try:  # exactly 65536 bytes is still a line: an ordinary bad-domain, the connection stays
        prefix = b'{"op":"decide","domain":"'
        line = prefix + b"a" * (65536 - len(prefix) - 2) + b'"}'
        r = c.request(line)
        if len(line) != 65536 or r.get("status") != "error" or \
                r.get("error", {}).get("code") != "bad-domain":
            problems.append(f"65536-byte line: got {r!r}, want error bad-domain")
        r = c.request({"op": "decide", "domain": "enforce.mta.test"})
        if r.get("status") != "ok":
            problems.append(f"after the 65536-byte line: got {r!r}")
    except EOFError:
        problems.append("a 65536-byte line closed the connection")
    finally:
        c.close()
    p = sm_ok(d)
    if p:
        problems.append(p)


def stalled_clients(problems, d):
    req = netstring("postfix enforce.mta.test")
    stalled = Conn(d.sm, timeout=5)
    stalled_json = Conn(d.json, timeout=5)
    try:
        stalled.send(req[:7])  # "24:post"
        stalled_json.send(b'{"op":"dec')
        start = time.monotonic()
        for _ in range(5):
            p = sm_ok(d)
            if p:
                problems.append(f"while a client stalls mid-request: {p}")
        c = Conn(d.json, timeout=5)
        r = c.request({"op": "decide", "domain": "enforce.mta.test"})
        c.close()
        if r.get("status") != "ok":
            problems.append(f"JSON while clients stall: got {r!r}")
        if time.monotonic() - start > 3:
            problems.append(f"others were served slowly ({time.monotonic() - start:.1f}s)")
        stalled.send(req[7:])
        got = stalled.read_netstring()
        if not got.startswith("OK secure"):
            problems.append(f"the stalled request, completed: got {got!r}")
        stalled_json.send(b'ide","domain":"tlsa311.dane.test"}\n')
        r = stalled_json.read_line()
        if (r.get("decision") or {}).get("postfix") != "OK dane-only":
            problems.append(f"the stalled JSON request, completed: got {r!r}")
    finally:
        stalled.close()
        stalled_json.close()


def vanishing_clients(problems, d):
    # mid-request: half a netstring / half a line, then gone
    for path, data in ((d.sm, b"24:postfix enf"), (d.json, b'{"op":"decide","dom')):
        c = Conn(path)
        c.send(data)
        c.close()
    # a whole request for a cold lookup, gone before the answer; and an abortive close
    for path, data in ((d.sm, netstring("postfix vanish1.dane.test")),
                       (d.json, b'{"op":"decide","domain":"vanish2.dane.test"}\n'),
                       (d.sm, netstring("postfix vanish3.dane.test") * 50)):
        c = Conn(path)
        c.send(data)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    # The cold lookups answer into closed connections; asking for the same domains joins or
    # finds them.
    p = sm_ok(d)
    if p:
        problems.append(p)
    p = sm_ok(d, "vanish1.dane.test", "NOTFOUND ")
    if p:
        problems.append(p)


ADMIN_OPS = [{"op": "cache.list"}, {"op": "cache.show", "domain": "enforce.mta.test"},
             {"op": "cache.purge"}, {"op": "cache.purge", "domain": "enforce.mta.test"},
             {"op": "cache.refresh", "domain": "enforce.mta.test"}, {"op": "cache.export"},
             {"op": "stats"}]


def admin_only(problems, d):
    c = Conn(d.json, timeout=5)
    try:
        for i, op in enumerate(ADMIN_OPS):
            r = c.request(dict(op, id=i))
            if r.get("status") != "error" or r.get("error", {}).get("code") != "admin-only" \
                    or r.get("id") != i:
                problems.append(f"{op} on the JSON socket: got {r!r}, want admin-only, id {i}")
    finally:
        c.close()
    p = sm_ok(d)
    if p:
        problems.append(p)


def admin_stats(problems, d):
    s = d.stats()
    for k in ("hits", "misses", "joined", "cached", "in_flight"):
        if not isinstance(s.get("decisions", {}).get(k), int):
            problems.append(f"stats.decisions.{k} missing: {s!r}")
    if not isinstance(s.get("connections", {}).get("accepted"), int):
        problems.append(f"stats.connections.accepted missing: {s!r}")
    if not problems:
        return f"hits {s['decisions']['hits']}, misses {s['decisions']['misses']}"
    return None


# The failures status_summary feeds, per report domain: result type -> sessions. Domains of
# their own, so nothing else the suite does counts for them.
STATUS_FEED = {"status-a.example": {"certificate-expired": 3, "starttls-not-supported": 1},
               "status-b.example": {"validation-failure": 2}}


def status_summary(problems, d):
    """The admin op status and the summary of `tlspolicy stats`, against what the test fed
    (JSON report ops) and what cache.list says is stored."""
    for domain, types in STATUS_FEED.items():
        for rtype, n in types.items():
            for _ in range(n):
                r = Conn(d.json, timeout=5)
                try:
                    got = r.request({"op": "report", "domain": domain, "result": "failure",
                                     "failure-details": [{"result-type": rtype}]})
                finally:
                    r.close()
                if got.get("status") != "ok":
                    problems.append(f"report op for {domain}: {got!r}")
        ok = Conn(d.json, timeout=5)
        try:
            ok.request({"op": "report", "domain": domain, "result": "success"})
        finally:
            ok.close()
    c = Conn(d.admin, timeout=10)
    try:
        listed = c.request({"op": "cache.list"}).get("entries", [])
        r = c.request({"op": "status", "id": 7})
    finally:
        c.close()
    summary = r.get("summary", {})
    if r.get("status") != "ok" or r.get("id") != 7:
        problems.append(f"status op: {r!r}")
        return None
    failures = {f["domain"]: f for f in summary.get("tlsrpt", {}).get("failures", [])}
    for domain, types in STATUS_FEED.items():
        f = failures.get(domain)
        want_types = sorted(({"type": t, "count": n} for t, n in types.items()),
                            key=lambda x: (-x["count"], x["type"]))
        if not f or f.get("failures") != sum(types.values()) or f.get("successes") != 1 \
                or f.get("result_types") != want_types:
            problems.append(f"status failures for {domain}: {f!r}, want {sum(types.values())} "
                            f"failed, 1 ok, {want_types}")
    policies = summary.get("policies", {})
    modes = {}
    for e in listed:
        modes[e["mode"]] = modes.get(e["mode"], 0) + 1
    if policies.get("stored") != len(listed) or \
            {m["mode"]: m["count"] for m in policies.get("by_mode", [])} != modes:
        problems.append(f"status policies {policies!r}, cache.list has {len(listed)}: {modes}")
    # The text for people: one line per fed domain with the counts the test sent.
    p = subprocess.run([BIN, "--config", d.config, "stats", "--socket", d.admin],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        problems.append(f"tlspolicy stats: exit {p.returncode}: {p.stderr.strip()}")
        return None
    for domain, types in STATUS_FEED.items():
        parts = ", ".join(f"{n} {t}" for t, n in sorted(types.items(), key=lambda x: (-x[1], x[0])))
        want = rf"^  {re.escape(domain)} +{sum(types.values())} failed, 1 ok  \({re.escape(parts)}\)$"
        if not re.search(want, p.stdout, re.M):
            problems.append(f"tlspolicy stats lacks /{want}/:\n{p.stdout}")
    for head in ("node:", "store:", "decisions:", "policies:", "failures:", "reports:",
                 "next made:", "next send:", "counters:"):
        if not re.search(rf"^{re.escape(head)}", p.stdout, re.M):
            problems.append(f"tlspolicy stats lacks a {head!r} line:\n{p.stdout}")
    return f"{len(failures)} failing domains, {len(listed)} stored policies"


CONC_DOMAINS = ["enforce.mta.test", "tlsa311.dane.test", "testing.mta.test", "wildcard.mta.test",
                "nullmx.dane.test", "twomx.dane.test"]


def concurrency(problems, d, conns=200, per=20):
    want = {dom: EXPECT[dom][0].postfix for dom in CONC_DOMAINS}
    # Fresh answers, so that no decision's TTL runs out during the run: a decision lives no
    # longer than what the resolver's cache has left of the answers it rests on (SPEC §3).
    subprocess.run([os.environ["WORLD_LIB"], "world_flush_resolver"], check=True, timeout=30)
    admin = Conn(d.admin, timeout=30)
    try:
        for dom in CONC_DOMAINS:  # the daemon's memory too (and its stored policy)
            r = admin.request({"op": "cache.purge", "domain": dom})
            if r.get("status") != "ok":
                raise RuntimeError(f"cache.purge {dom}: {r!r}")
    finally:
        admin.close()
    for dom in CONC_DOMAINS:  # warm the cache
        c = Conn(d.sm)
        c.query("postfix", dom)
        c.close()
    before = d.stats()
    barrier = threading.Barrier(conns)
    errors = []
    lock = threading.Lock()

    def worker(i):
        try:
            c = Conn(d.sm, timeout=30)
        except Exception as e:
            with lock:
                errors.append(f"connect {i}: {e}")
            barrier.abort()
            return
        try:
            barrier.wait(timeout=30)
            for j in range(per):
                dom = CONC_DOMAINS[(i + j) % len(CONC_DOMAINS)]
                got = c.query("postfix" if j % 2 else "tlspolicy", dom)
                if got != want[dom]:
                    with lock:
                        errors.append(f"conn {i} query {j} {dom}: got {got!r}, want {want[dom]!r}")
                    return
        except Exception as e:
            with lock:
                errors.append(f"conn {i}: {type(e).__name__}: {e}")
        finally:
            c.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start
    if errors:
        problems.append(f"{len(errors)} connections failed, first: {errors[:3]}")
    after = d.stats()
    hits = after["decisions"]["hits"] - before["decisions"]["hits"]
    accepted = after["connections"]["accepted"] - before["connections"]["accepted"]
    if hits < conns * per:
        problems.append(f"stats: decisions.hits grew by {hits}, want at least {conns * per}")
    if accepted < conns:
        problems.append(f"stats: connections.accepted grew by {accepted}, want at least {conns}")
    return f"{conns * per} queries in {elapsed:.2f}s, hits +{hits}"


# --- SIGHUP ----------------------------------------------------------------------------------

RELOAD_POLICY = '\n[[policy]]\ndomain = "testing.mta.test"\naction = "require-tls"\n' \
                'verify = "none"\n'


def poll(fn, want, limit=10.0):
    deadline = time.monotonic() + limit
    got = None
    while time.monotonic() < deadline:
        got = fn()
        if got == want:
            return got
        time.sleep(0.1)
    return got


def sighup(problems, base):
    conf = os.path.join(base, "reload.toml")
    with open(CONFIG, encoding="utf-8") as f:
        original = f.read()
    with open(conf, "w", encoding="utf-8") as f:
        f.write(original)
    d = Daemon("reload", conf, base)
    try:
        d.wait_ready()

        def ask():
            try:
                c = Conn(d.sm, timeout=10)
                r = c.query("postfix", "testing.mta.test")
                c.close()
                return r
            except Exception as e:
                return f"{type(e).__name__}: {e}"

        got = ask()
        if got != "NOTFOUND ":
            problems.append(f"before the reload: got {got!r}, want 'NOTFOUND '")
        with open(conf, "a", encoding="utf-8") as f:
            f.write(RELOAD_POLICY)
        d.proc.send_signal(signal.SIGHUP)
        got = poll(ask, "OK encrypt")
        if got != "OK encrypt":
            problems.append(f"after the [[policy]] edit and SIGHUP: got {got!r}, "
                            "want 'OK encrypt' within 10 s")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(original + RELOAD_POLICY + "\n[resolver\nbroken = \n")
        d.proc.send_signal(signal.SIGHUP)
        if not d.logs.wait_for("reload failed", 10):
            problems.append("no 'reload failed' in the log within 10 s of SIGHUP with a broken "
                            "config")
        got = ask()
        if got != "OK encrypt":
            problems.append(f"after the broken reload: got {got!r}, want the previous "
                            "config's 'OK encrypt'")
        if d.proc.poll() is not None:
            problems.append(f"daemon exited {d.proc.returncode} after the broken reload")
        rc, secs = d.stop()
        if rc != 0:
            problems.append(f"SIGTERM: exit {rc} after {secs:.1f}s, want 0 within 10 s")
        crash = d.crashed()
        if crash:
            problems.append(f"crash marker in the log: {crash}")
    finally:
        d.kill()


# --- driver ----------------------------------------------------------------------------------

def prerequisites():
    why = have_world(MODES.values())
    if why:
        return why
    missing = clients_missing()
    if missing:
        return f"client tests need: {missing} (tools/install-deps.sh installs them)"
    return None


def main():
    why = prerequisites()
    if why:
        R.skip("daemon_clients", why)
        return R.finish()
    start = time.monotonic()
    tmp = TempDir("dc.")  # under WORLD_DIR: short Unix socket paths (≤ 107 bytes)
    base = tmp.path
    daemons = []
    try:
        for mode, config in MODES.items():
            d = Daemon(mode, config, base)
            daemons.append(d)
        for d in daemons:
            check(f"start@{d.name}", lambda p, d=d: d.wait_ready())
        live = [d for d in daemons if d.proc.poll() is None]
        for d in live:
            run_domains(d)
            check(f"socketmap-keys@{d.name}", keys_case, d)
        if live:
            d = live[0]
            check("postfix-guide-main-cf", postfix_guide_case, d, base)
            conf = None
            try:
                conf = exim_conf(base, d.json, "exim")
                down = exim_conf(base, os.path.join(d.dir, "absent.sock"), "exim-down")
            except Exception as e:
                R.case("exim-guide-config", [f"{type(e).__name__}: {e}"])
            if conf:
                check("exim-route-enforce", exim_route_case, conf, "u@enforce.mta.test", 0,
                      r"router = test_route, transport = remote_smtp")
                check("exim-route-dane", exim_route_case, conf, "u@tlsa311.dane.test", 0,
                      r"router = test_route, transport = remote_smtp")
                check("exim-route-defer", exim_route_case, conf, "u@bogus-mx.dane.test", 1,
                      r"cannot be resolved at this time: tlspolicy: defer")
                check("exim-route-bounce", exim_route_case, conf, "u@nullmx.dane.test", 2,
                      r"is undeliverable: tlspolicy: bounce")
                check("exim-route-daemon-down", exim_route_case, down, "u@enforce.mta.test", 1,
                      r"cannot be resolved at this time: tlspolicy: no decision")
                check("exim-bP-transport", exim_option_case, conf)
            check("bad-netstrings", bad_netstrings, d)
            check("oversized-netstring", oversized, d)
            check("bad-socketmap-requests", bad_requests, d)
            check("json-garbage-lines", json_garbage, d)
            check("json-70KiB-line", json_long, d)
            check("stalled-clients", stalled_clients, d)
            check("vanishing-clients", vanishing_clients, d)
            check("admin-ops-on-json-socket", admin_only, d)
            check("admin-stats", admin_stats, d)
            check("status-summary", status_summary, d)
            check("concurrency-200x20", concurrency, d)
        check("sighup-reload", sighup, base)
        for d in daemons:
            def stop_case(p, d=d):
                rc, secs = d.stop()
                if rc != 0:
                    p.append(f"SIGTERM: exit {rc} after {secs:.1f}s, want 0 within 10 s")
                crash = d.crashed()
                if crash:
                    p.append(f"crash marker in the log: {crash}: {d.tail()}")
                return f"{secs:.2f}s"
            check(f"sigterm@{d.name}", stop_case)
    finally:
        for d in daemons:
            d.kill()
        if R.failed:
            for d in daemons:
                d.logs.dump(f"{d.name} daemon log")
        tmp.remove()
    print(f"# daemon_clients took {time.monotonic() - start:.1f}s")
    return R.finish()


if __name__ == "__main__":
    sys.exit(main())
