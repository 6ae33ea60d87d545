#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# SMTP TLS Reporting (RFC 8460) end to end (docs/tlsrpt.md): results go in as libtlsrpt
# datagrams (the format Postfix 3.10+ sends), JSON "report" ops (as Exim's event_action sends
# them, the guide's block run through the real Exim) and the engine's own failures (policy
# fetch errors, invalid policies, WebPKI failures of the policy host); the reports come out
# through the real Postfix sendmail into the world's SMTP sink and by HTTPS POST to the world's
# report receiver, and are checked field by field against RFC 8460 §4 and §5.
#
# The day boundary: results are counted on today (UTC); `tlspolicy report …` and a second
# daemon run under faketime(1) one day later, when today's reports are due.
#
# Environment (DIR/env.sh via tests/integration/run): TLSPOLICY_BIN, WORLD_DIR, TLSPOLICY_CONFIG,
# SMTP_SINK_DIR, REPORT_SENDMAIL, RPT_HTTPS_LOG, RPT_CONNECT_TO, RPT_DOMAIN_*. Exits 77 when
# the world lacks them or faketime is missing.
# Output (lib_results): "ok NAME" / "FAIL NAME: ..." / "skip NAME: ..." lines, then
# "suite-result: passed=N failed=M skipped=K".

import base64
import datetime
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from lib_daemon import CLIENTS, EXIM_GUIDE, Daemon, guide_block, json_request
from lib_golden import golden, json_text
from lib_results import Results, TempDir
from lib_tlsrpt import (FAKETIME_ENV, FAKETIME_LIB, TODAY, TOMORROW_OFFSET, check_mail,
                        check_report_json, faked, https_requests, libtlsrpt_datagram,
                        parse_mail, rfc3339_day, send_datagram, sink_messages, wait_for)
from lib_world import BIN, CONFIG, ENV, REPO, WORLD

R = Results()
check = R.check


# --- helpers -------------------------------------------------------------------------------

def cli(sets, *args, faketime=None, timeout=120):
    cmd = [BIN, "--config", CONFIG]
    for s in sets:
        cmd += ["--set", s]
    cmd += list(args)
    env = faked(faketime) if faketime else FAKETIME_ENV
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def project_version():
    """The version in CMakeLists.txt's project() call: the one place it is written."""
    with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"^project\(tlspolicy VERSION (\S+)", f.read(), re.M).group(1)


PROJECT_VERSION = project_version()


def ingest_datagrams(p, d):
    enforce = ENV["RPT_DOMAIN_ENFORCE"]
    sts_lines = ["version: STSv1", "mode: enforce", f"mx: mx1.{enforce}", "max_age: 86400"]
    # One success and one failure under the MTA-STS policy (libtlsrpt example 3 and 6 shapes).
    send_datagram(d.tlsrpt, libtlsrpt_datagram(enforce, "v=TLSRPTv1; rua=mailto:x@y", [
        {"policy-type": 2, "policy-domain": enforce, "policy-string": sts_lines,
         "mx-host": [f"mx1.{enforce}"], "t": 0, "f": 0}]))
    send_datagram(d.tlsrpt, libtlsrpt_datagram(enforce, "v=TLSRPTv1; rua=mailto:x@y", [
        {"policy-type": 2, "policy-domain": enforce, "policy-string": sts_lines,
         "mx-host": [f"mx1.{enforce}"],
         "failure-details": [{"c": 202, "s": "192.0.2.1", "n": f"mx1.{enforce}",
                              "h": "mx1.helo.test", "r": "198.51.100.7",
                              "a": "name mismatch", "f": "X509_V_ERR_HOSTNAME_MISMATCH"}],
         "t": 1, "f": 1}]))
    # A DANE result filed under the TLSA base domain (RPT-3) and a no-policy-found one.
    send_datagram(d.tlsrpt, libtlsrpt_datagram(enforce, "", [
        {"policy-type": 1, "policy-domain": f"mx2.{enforce}",
         "policy-string": ["3 1 1 AABBCC"], "t": 0, "f": 0},
        {"policy-type": 9, "t": 0, "f": 0}]))
    # Malformed datagrams: counted and dropped, never fatal.
    for bad in (b"not json", b'{"d":"x.test"}', b"\xff\xfe", b'{"d":"bad..name","policies":[]}'):
        send_datagram(d.tlsrpt, bad)
    # "datagrams" counts on receipt, "malformed" after parsing: wait for both.
    stats = wait_for(lambda: (lambda s: s if s.get("tlsrpt", {}).get("datagrams", 0) >= 7 and
                              s.get("tlsrpt", {}).get("malformed", 0) >= 4
                              else None)(admin_stats(d)))
    stats = stats or admin_stats(d)
    t = (stats or {}).get("tlsrpt", {})
    if t.get("datagrams") != 7 or t.get("malformed") != 4:
        p.append(f"stats tlsrpt {t}, want datagrams 7, malformed 4")
    if d.proc.poll() is not None:
        p.append(f"daemon died: {d.log()[-1500:]}")


def admin_stats(d):
    reply = json_request(d.admin, {"op": "stats"})
    return reply.get("stats", {}) if reply.get("status") == "ok" else {}


def ingest_report_ops(p, d):
    testing = ENV["RPT_DOMAIN_TESTING"]
    ok = json_request(d.json, {"op": "report", "domain": testing, "result": "failure",
                               "policy": {"policy-type": "sts", "policy-domain": testing,
                                          "policy-string": ["version: STSv1", "mode: testing"],
                                          "mx-host": [f"*.{testing}"]},
                               "failure-details": [{"result-type": "certificate-expired",
                                                    "receiving-mx-hostname": f"mx.{testing}",
                                                    "receiving-ip": "192.0.2.9"}]})
    if ok.get("status") != "ok":
        p.append(f"report op answered {ok}")
    ok = json_request(d.json, {"op": "report", "domain": testing, "result": "success",
                               "policy": {"policy-type": "sts", "policy-domain": testing,
                                          "policy-string": ["version: STSv1", "mode: testing"],
                                          "mx-host": [f"*.{testing}"]}})
    if ok.get("status") != "ok":
        p.append(f"report op answered {ok}")
    bad = json_request(d.json, {"op": "report", "domain": testing, "result": "failure",
                                "failure-details": [{"result-type": "no-such-type"}]})
    if bad.get("error", {}).get("code") != "bad-request":
        p.append(f"unknown result-type answered {bad}, want bad-request")
    for dom in (ENV["RPT_DOMAIN_FAIL"], ENV["RPT_DOMAIN_TWO_RECORDS"]):
        r = json_request(d.json, {"op": "report", "domain": dom, "result": "success"})
        if r.get("status") != "ok":
            p.append(f"report op for {dom} answered {r}")


def exim_event(p, d):
    """The guide's event_action request, expanded by the real Exim (${readsocket} to the
    daemon's JSON socket). Exim -be cannot set $domain or the event variables, so they are
    given the values of a dane:fail event in the macros, which Exim expands in -be strings."""
    block = guide_block(EXIM_GUIDE, "exim-tlsrpt")
    macros = re.findall(r"^(TLSRPT_[A-Z_]+) = (.*)$", block, re.M)
    names = [name for name, _ in macros]
    if "TLSRPT_FAILURE" not in names or "TLSRPT_SOCKET" not in names:
        p.append("the guide's exim-tlsrpt block lacks TLSRPT_SOCKET or TLSRPT_FAILURE")
        return
    if "${readsocket{TLSRPT_SOCKET}{TLSRPT_FAILURE}{5s}{}{}}" not in block:
        p.append("the guide's event_action does not send TLSRPT_FAILURE to TLSRPT_SOCKET")
    # Longest names first: $host_address before $host.
    values = {"$host_address": "192.0.2.99", "$host": "mx9.example.test",
              "$domain": ENV["RPT_DOMAIN_TESTING"], "$event_data": "dane-required"}
    # The daemon's decision for the domain (MTA-STS testing) names the policy the result is
    # filed under: the event's request carries none.
    decided = json_request(d.json, {"op": "decide", "domain": ENV["RPT_DOMAIN_TESTING"]})
    if decided.get("decision", {}).get("source") != "mta-sts":
        p.append(f"decide {ENV['RPT_DOMAIN_TESTING']}: {decided}")
    lines = []
    for name, value in macros:
        if name == "TLSRPT_SOCKET":
            value = d.json
        for var, val in values.items():
            value = value.replace(var, val)
        lines.append(f"{name} = {value}")
    tmp = tempfile.mkdtemp(prefix="exim-", dir=os.path.dirname(d.dir))
    macro_file = os.path.join(tmp, "macros")
    with open(macro_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    script = 'source "$0"; exim_config "$1" <"$2" && "$CLIENTS_EXIM" -C "$1" -be "$3"'
    rc = subprocess.run(["bash", "-c", script, CLIENTS, os.path.join(tmp, "exim.conf"),
                         macro_file, "${readsocket{TLSRPT_SOCKET}{TLSRPT_FAILURE}{5s}{}{FAILED}}"],
                        capture_output=True, text=True, timeout=30)
    if rc.returncode != 0 or rc.stdout.strip() != '{"status":"ok"}':
        p.append(f"exim -be: exit {rc.returncode}, out {rc.stdout.strip()!r}, "
                 f"err {rc.stderr.strip()[:300]!r}")


def engine_failures(p, d):
    for dom in (ENV["RPT_DOMAIN_INVALID"], ENV["RPT_DOMAIN_SELFSIGNED"]):
        r = json_request(d.json, {"op": "decide", "domain": dom})
        decision = r.get("decision", {})
        if not decision.get("tlsrpt") or not decision["tlsrpt"].get("rua"):
            p.append(f"decide {dom}: tlsrpt {decision.get('tlsrpt')!r}, want its rua (RPT-1)")
    # The engine's batches are counted on the store pool after the answers went out (under
    # TSan that takes a moment): wait for both, never for more than 10 s.
    counted = wait_for(lambda: (lambda t: t if t.get("engine", 0) >= 2 else None)(
        admin_stats(d).get("tlsrpt", {})), 10.0)
    if not counted:
        t = admin_stats(d).get("tlsrpt", {})
        p.append(f"stats tlsrpt.engine {t.get('engine')}, want 2 engine batches")


def restart_keeps_results(p, d, sets):
    before = cli(sets, "report", "list", "--date", str(TODAY))
    d.proc.kill()  # kill -9: nothing may be lost that was acknowledged or received
    d.proc.wait()
    d2 = Daemon(d.name, CONFIG, os.path.dirname(d.dir), extra=d.sets[1:])
    d2.wait_ready()
    after = cli(sets, "report", "list", "--date", str(TODAY))
    if before[0] != 0 or before[1] != after[1]:
        p.append(f"report list changed across kill -9/restart:\n{before}\n{after}")
    d2.kill()
    return d2


def report_show(p, sets):
    enforce, testing = ENV["RPT_DOMAIN_ENFORCE"], ENV["RPT_DOMAIN_TESTING"]
    rc, out, err = cli(sets, "report", "show", "--date", str(TODAY), "--domain", enforce)
    if rc != 0:
        p.append(f"report show {enforce}: exit {rc}: {err.strip()}")
        return
    report = json.loads(out)
    by_type = check_report_json(p, report, enforce)
    sts = by_type.get("sts", [])
    if len(sts) != 1:
        p.append(f"want one sts policy, got {len(sts)}: {report['policies']}")
    else:
        pol = sts[0]
        if pol["policy"].get("policy-string", [None])[0] != "version: STSv1" or \
                pol["policy"].get("mx-host") != [f"mx1.{enforce}"]:
            p.append(f"sts policy {pol['policy']} (RPT-11)")
        if pol["summary"] != {"total-successful-session-count": 1,
                              "total-failure-session-count": 1}:
            p.append(f"sts summary {pol['summary']}")
        fd = pol.get("failure-details", [{}])[0]
        want = {"result-type": "certificate-host-mismatch", "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": f"mx1.{enforce}", "receiving-mx-helo": "mx1.helo.test",
                "receiving-ip": "198.51.100.7", "failed-session-count": 1,
                "additional-information": "name mismatch",
                "failure-reason-code": "X509_V_ERR_HOSTNAME_MISMATCH"}
        if fd != want:
            p.append(f"failure-details {fd}, want {want}")
    tlsa = by_type.get("tlsa", [])
    if len(tlsa) != 1 or tlsa[0]["policy"].get("policy-domain") != f"mx2.{enforce}" or \
            tlsa[0]["policy"].get("policy-string") != ["3 1 1 AABBCC"]:
        p.append(f"tlsa policy {tlsa} (RPT-3: under the TLSA base domain)")
    if len(by_type.get("no-policy-found", [])) != 1:
        p.append(f"no-policy-found policies: {by_type.get('no-policy-found')}")

    rc, out, err = cli(sets, "report", "show", "--date", str(TODAY), "--domain", testing)
    report = json.loads(out) if rc == 0 else {}
    sts = check_report_json(p, report, testing).get("sts", [])
    failures = sum(x["summary"]["total-failure-session-count"] for x in sts)
    types = {fd["result-type"] for x in sts for fd in x.get("failure-details", [])}
    # certificate-expired (op with policy) and dane-required (the Exim event, filed under the
    # daemon's decision: MTA-STS testing).
    if failures != 2 or types != {"certificate-expired", "dane-required"}:
        p.append(f"{testing}: failures {failures}, types {types}: {report.get('policies')}")
    from_exim = [x for x in sts if x["policy"].get("policy-string", [""])[0] == "version: STSv1"
                 and "mode: testing" in x["policy"].get("policy-string", [])
                 and x["policy"].get("mx-host") != [f"*.{testing}"]]
    if len(from_exim) != 1:
        p.append(f"the Exim result is not filed under the daemon's MTA-STS policy: {sts}")

    for dom, want in ((ENV["RPT_DOMAIN_INVALID"], "sts-policy-invalid"),
                      (ENV["RPT_DOMAIN_SELFSIGNED"], "sts-webpki-invalid")):
        rc, out, err = cli(sets, "report", "show", "--date", str(TODAY), "--domain", dom)
        report = json.loads(out) if rc == 0 else {}
        types = {fd["result-type"] for x in report.get("policies", [])
                 for fd in x.get("failure-details", [])}
        if want not in types:
            p.append(f"{dom}: engine failure {want} not in {types} (exit {rc}, {err.strip()})")


def report_golden(p, sets):
    """The whole report of a day (`report show`) for the enforce and testing domains, compared
    with golden/tlsrpt/report-DOMAIN.json: what the cases above sent (datagrams, report ops,
    the Exim event), the daemon's own MTA-STS policy of the testing domain (the world's
    env/policies/testing.txt) and the reporter's settings (sets_for). Normalised: the day
    (date-range) and the report-id; the policies in a stable order (their order carries no
    meaning, RFC 8460 §4.4)."""
    for dom in (ENV["RPT_DOMAIN_ENFORCE"], ENV["RPT_DOMAIN_TESTING"]):
        rc, out, err = cli(sets, "report", "show", "--date", str(TODAY), "--domain", dom)
        if rc != 0:
            p.append(f"report show {dom}: exit {rc}: {err.strip()}")
            continue
        report = json.loads(out)
        want_range = {"start-datetime": rfc3339_day(TODAY),
                      "end-datetime": rfc3339_day(TODAY + datetime.timedelta(days=1))}
        if report.get("date-range") != want_range:
            p.append(f"{dom}: date-range {report.get('date-range')}, want {want_range}")
        report["date-range"] = {"start-datetime": "<day>T00:00:00Z",
                                "end-datetime": "<day+1>T00:00:00Z"}
        if "report-id" in report:
            report["report-id"] = "<report-id>"
        report["policies"] = sorted(report.get("policies", []), key=json_text)
        p += golden(f"tlsrpt/report-{dom}.json", json_text(report))
    return "enforce and testing reports as golden"


def deliver(p, sets):
    enforce, testing = ENV["RPT_DOMAIN_ENFORCE"], ENV["RPT_DOMAIN_TESTING"]
    mails_before, posts_before = len(sink_messages()), len(https_requests())
    rc, out, err = cli(sets, "report", "send", faketime=TOMORROW_OFFSET)
    # The /fail domain keeps its report pending: exit 75.
    if rc != 75:
        p.append(f"report send: exit {rc}, want 75 (one report pending): {out}{err}")
    # mailto: enforce and the invalid-policy domain (which also has https://…/created).
    invalid = ENV["RPT_DOMAIN_INVALID"]
    mails = wait_for(lambda: (lambda m: m if len(m) >= mails_before + 2 else None)(
        sink_messages()))
    by_domain = {parse_mail(raw)["TLS-Report-Domain"]: (env, raw)
                 for env, raw in (mails or [])[mails_before:]}
    if sorted(by_domain) != sorted([enforce, invalid]):
        p.append(f"mails for {sorted(by_domain)}, want {enforce} and {invalid}: {out}")
    if enforce in by_domain:
        report = check_mail(p, *by_domain[enforce], enforce, sets)
        rc, shown, _ = cli(sets, "report", "show", "--date", str(TODAY), "--domain", enforce)
        if report is not None and report != json.loads(shown):
            p.append("the mailed report differs from `report show`")
    posts = https_requests()[posts_before:]
    paths = sorted(x["path"] for x in posts)
    # RPT-4: every rua is tried; /flaky answers 500 the first time.
    if paths != ["/created", "/fail", "/flaky", "/ok"]:
        p.append(f"POSTs to {paths}, want /created, /fail, /flaky and /ok")
    for post in posts:
        if post["method"] != "POST" or post["content_type"] != "application/tlsrpt+gzip":
            p.append(f"POST {post['path']}: {post['method']} {post['content_type']} (RPT-16)")
        # The version from one place: CMakeLists.txt's project version (+g<commit>).
        if not re.fullmatch(r"tlspolicy/" + re.escape(PROJECT_VERSION) + r"(\+g[0-9a-f]+(\.dirty)?)?",
                            str(post.get("user_agent"))):
            p.append(f"POST {post['path']}: User-Agent {post.get('user_agent')!r}, want "
                     f"tlspolicy/{PROJECT_VERSION}[+g<commit>]")
        if post["path"] == "/ok":
            report = json.loads(gzip.decompress(base64.b64decode(post["body_b64"])))
            check_report_json(p, report, testing)
    rc, out, err = cli(sets, "report", "list", faketime=TOMORROW_OFFSET)
    states = {m.group(1): m.group(2) for m in re.finditer(
        r"^\S+  (\S+)  .*?  report \S+  (\w+)", out, re.M)}
    want = {enforce: "sent", testing: "sent", invalid: "sent", ENV["RPT_DOMAIN_FAIL"]: "pending",
            ENV["RPT_DOMAIN_SELFSIGNED"]: "pending", ENV["RPT_DOMAIN_TWO_RECORDS"]: "skipped"}
    for dom, state in want.items():
        if states.get(dom) != state:
            p.append(f"{dom}: state {states.get(dom)!r}, want {state!r} (list: {out})")


def never_twice(p, sets):
    """RPT-4, RPT-17: a sent report is not sent again; a pending one is retried (/flaky now
    answers 200, /fail still 500)."""
    mails_before, posts_before = len(sink_messages()), len(https_requests())
    rc, out, err = cli(sets, "report", "send", faketime=TOMORROW_OFFSET)
    time.sleep(2)  # a mail Postfix might still be relaying
    if len(sink_messages()) != mails_before:
        p.append("a sent report was mailed again")
    paths = sorted(x["path"] for x in https_requests()[posts_before:])
    if paths != ["/fail", "/flaky"]:
        p.append(f"second send POSTed {paths}, want only the retries of /fail and /flaky")
    if rc != 75:
        p.append(f"second send: exit {rc}, want 75 (/fail still pending): {out}{err}")
    rc, out, err = cli(sets, "report", "list", faketime=TOMORROW_OFFSET)
    for dom, want in ((ENV["RPT_DOMAIN_SELFSIGNED"], "sent"), (ENV["RPT_DOMAIN_FAIL"], "pending")):
        m = re.search(r"^\S+  " + re.escape(dom) + r"  .*?  report \S+  (\w+)", out, re.M)
        if not m or m.group(1) != want:
            p.append(f"{dom}: {m.group(1) if m else None!r}, want {want!r}: {out}")


def stop_group(proc, limit=10):
    """SIGTERM to the process group of `proc` (a session leader), SIGKILL after `limit` s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is still there
    except ProcessLookupError:
        pass
    proc.wait()


def daemon_sends(p, base, sets_for):
    """The daemon itself makes and sends a day's report once the day is over (RPT-8)."""
    enforce = ENV["RPT_DOMAIN_ENFORCE"]
    d = Daemon("sender", CONFIG, base, extra=sets_for("sender"))
    d.wait_ready()
    r = json_request(d.json, {"op": "report", "domain": enforce, "result": "success"})
    d.stop()
    d.kill()
    if r.get("status") != "ok":
        p.append(f"report op: {r}")
        return
    mails_before = len(sink_messages())
    # Its own session, and the whole group stopped, leave nothing behind (sendmail included).
    with open(os.path.join(d.dir, "faketime.log"), "wb") as log:
        proc = subprocess.Popen(d.args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=faked(TOMORROW_OFFSET),
                                start_new_session=True)
    try:
        got = wait_for(lambda: len(sink_messages()) > mails_before, limit=40)
        if not got:
            with open(os.path.join(d.dir, "faketime.log"), "rb") as f:
                p.append("no report mail within 40 s: " + f.read().decode(errors="replace")[-1500:])
    finally:
        stop_group(proc)


def main():
    needed = ["SMTP_SINK_DIR", "REPORT_SENDMAIL", "RPT_HTTPS_LOG", "RPT_CONNECT_TO",
              "RPT_DOMAIN_ENFORCE", "RPT_DOMAIN_TESTING", "RPT_DOMAIN_INVALID",
              "RPT_DOMAIN_SELFSIGNED", "RPT_DOMAIN_FAIL", "RPT_DOMAIN_TWO_RECORDS"]
    missing = [v for v in needed if not ENV.get(v)]
    if not BIN or not WORLD or missing or not FAKETIME_LIB:
        R.skip("tlsrpt", f"needs the world's report sinks ({missing}) and libfaketime")
        return R.finish()
    tmp = TempDir("tlsrpt-")
    base = tmp.path

    def sets_for(name):
        store = os.path.join(base, name, "policies.sqlite")
        return [f"store.path={store}", "tlsrpt.contact_info=tlsrpt-noreply@reporter.test",
                "tlsrpt.organization_name=tlspolicy integration test", "tlsrpt.max_delay=1s",
                f"tlsrpt.sendmail={ENV['REPORT_SENDMAIL']}", "tlsrpt.send=true"]

    start = time.monotonic()
    # The collector does not send (its reports are sent by `report send` below).
    d = Daemon("collector", CONFIG, base, extra=sets_for("collector") + ["tlsrpt.send=false"])
    sets = sets_for("collector")
    try:
        d.wait_ready()
        check("datagrams-libtlsrpt-format", ingest_datagrams, d)
        check("json-report-op", ingest_report_ops, d)
        check("exim-guide-event-request", exim_event, d)
        check("engine-own-failures", engine_failures, d)
        holder = {}
        check("kill-9-loses-no-result",
              lambda p: holder.update(d=restart_keeps_results(p, d, sets)))
        check("report-json-rfc8460-4", report_show, sets)
        check("report-json-golden", report_golden, sets)
        check("deliver-mailto-and-https", deliver, sets)
        check("sent-once-failed-retried", never_twice, sets)
        check("daemon-sends-after-the-day", daemon_sends, base, sets_for)
        crash = d.crashed()
        R.case("no-crash", [f"crash marker {crash}: {d.tail()}"] if crash else [])
    finally:
        d.kill()
        if R.failed:
            d.logs.dump("collector daemon log")
        tmp.remove()
    print(f"# tlsrpt took {time.monotonic() - start:.1f}s")
    return R.finish()


if __name__ == "__main__":
    sys.exit(main())
