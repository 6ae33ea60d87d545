#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# SMTP TLS Reporting (RFC 8460) in the test world, shared by tlsrpt.py and fleet.py: the wall
# clock one day on (libfaketime, so that today's reports are due), libtlsrpt datagrams, what
# the world's report sinks received (the SMTP sink behind the world's Postfix for mailto:, the
# HTTPS sink for https:), and the field-by-field checks of a report (RFC 8460 §4) and of a
# report mail (§5.3). Not a suite (tests/integration/run skips lib_*).

import datetime
import email
import email.policy
import glob
import gzip
import json
import os
import re
import socket

from lib_daemon import wait_for as _wait_for
from lib_world import ENV

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
TOMORROW_OFFSET = "+1d"  # faketime: the reports of TODAY are due
# Only the wall clock moves: timed waits on the monotonic clock keep their length. An ASan
# build must accept libfaketime being preloaded before its runtime.
FAKETIME_ENV = dict(os.environ, FAKETIME_DONT_FAKE_MONOTONIC="1",
                    ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                                        "verify_asan_link_order=0"])))
# libfaketime preloaded directly rather than through faketime(1): the wrapper keeps a shared
# memory segment and a semaphore named after its pid in /dev/shm, which a killed run leaves
# behind; a later wrapper that gets the same pid then fails ("sem_open: File exists", seen in
# CI). A relative offset needs no start time shared between processes.
FAKETIME_LIB = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), "")


def faked(offset):
    """The environment of a process whose wall clock runs `offset` (e.g. "+1d") ahead."""
    preload = " ".join(filter(None, [FAKETIME_LIB, os.environ.get("LD_PRELOAD", "")]))
    return dict(FAKETIME_ENV, LD_PRELOAD=preload, FAKETIME=offset)


RESULT_TYPES = {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
                "dane-required", "sts-policy-fetch-error", "sts-policy-invalid",
                "sts-webpki-invalid"}


# --- results in, reports out ---------------------------------------------------------------

def send_datagram(path, payload):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(payload if isinstance(payload, bytes) else payload.encode(), path)


def libtlsrpt_datagram(domain, record, policies):
    """The JSON libtlsrpt sends (tlsrpt_finish_delivery_request)."""
    return json.dumps({"d": domain, "pr": record, "policies": policies})


def sink_messages():
    out = []
    for meta in sorted(glob.glob(os.path.join(ENV["SMTP_SINK_DIR"], "*.json"))):
        with open(meta, encoding="utf-8") as f:
            envelope = json.load(f)
        with open(meta[:-5] + ".eml", "rb") as f:
            out.append((envelope, f.read()))
    return out


def https_requests():
    try:
        with open(ENV["RPT_HTTPS_LOG"], encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_for(predicate, limit=30.0):
    """As lib_daemon.wait_for, polling every 0.2 s for up to 30 s (a report in the sinks)."""
    return _wait_for(predicate, limit, step=0.2)


def rfc3339_day(day):
    return day.strftime("%Y-%m-%dT00:00:00Z")


def check_report_json(p, report, domain, day=TODAY):
    """RFC 8460 §4.4 (RPT-7, RPT-9): every field by name."""
    for key in ("organization-name", "date-range", "contact-info", "report-id", "policies"):
        if key not in report:
            p.append(f"report lacks {key!r}")
    dr = report.get("date-range", {})
    if dr.get("start-datetime") != rfc3339_day(day) or \
            dr.get("end-datetime") != rfc3339_day(day + datetime.timedelta(days=1)):
        p.append(f"date-range {dr}, want one UTC day {day} (RPT-8)")
    if not isinstance(report.get("policies"), list):
        p.append("policies is not an array (RPT-7)")
        return {}
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", str(report.get("report-id", ""))):
        p.append(f"report-id {report.get('report-id')!r} is not id-left@id-right")
    by_type = {}
    for pol in report["policies"]:
        policy, summary = pol.get("policy", {}), pol.get("summary", {})
        if policy.get("policy-type") not in ("tlsa", "sts", "no-policy-found"):
            p.append(f"policy-type {policy.get('policy-type')!r}")
        if policy.get("policy-domain", "").encode("ascii", "replace").decode() != \
                policy.get("policy-domain", ""):
            p.append(f"policy-domain {policy.get('policy-domain')!r} is not an A-label")
        for k in ("total-successful-session-count", "total-failure-session-count"):
            if not isinstance(summary.get(k), int):
                p.append(f"summary {k} = {summary.get(k)!r}, want an integer (RPT-9)")
        failed = 0
        for fd in pol.get("failure-details", []):
            if fd.get("result-type") not in RESULT_TYPES:
                p.append(f"result-type {fd.get('result-type')!r} (RPT-10)")
            if not isinstance(fd.get("failed-session-count"), int):
                p.append(f"failed-session-count {fd.get('failed-session-count')!r}")
            failed += fd.get("failed-session-count", 0)
        if failed > summary.get("total-failure-session-count", 0):
            p.append(f"failure details count {failed} > total {summary}")
        by_type.setdefault(policy.get("policy-type"), []).append(pol)
    return by_type


# --- the cases -----------------------------------------------------------------------------

def parse_mail(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def check_mail(p, envelope, raw, domain, sets):
    msg = parse_mail(raw)
    if msg.get_content_type() != "multipart/report" or \
            msg.get_param("report-type") != "tlsrpt":
        p.append(f"Content-Type {msg['Content-Type']!r} (RPT-14)")
    if msg["TLS-Report-Domain"] != domain:
        p.append(f"TLS-Report-Domain {msg['TLS-Report-Domain']!r}")
    submitter = msg["TLS-Report-Submitter"]
    if submitter != "reporter.test":
        p.append(f"TLS-Report-Submitter {submitter!r}, want reporter.test (contact's domain)")
    if (msg["TLS-Required"] or "").strip().lower() != "no":
        p.append(f"TLS-Required {msg['TLS-Required']!r} (RPT-6)")
    subject = re.fullmatch(r"Report Domain: (\S+) Submitter: (\S+) Report-ID: <([^<>@]+@[^<>@]+)>",
                           " ".join(str(msg["Subject"]).split()))
    if not subject or subject.group(1) != domain or subject.group(2) != submitter:
        p.append(f"Subject {msg['Subject']!r} (RPT-15)")
    parts = list(msg.iter_parts())
    if len(parts) != 2 or parts[0].get_content_type() != "text/plain" or \
            parts[1].get_content_type() != "application/tlsrpt+gzip":
        p.append(f"parts {[x.get_content_type() for x in parts]} (RPT-14)")
        return None
    name = parts[1].get_filename() or ""
    # RFC 8460 §5.3: sender "!" policy-domain "!" begin "!" end ["!" unique-id]; no field
    # holds a "!", so each is matched as such (an all-digit unique-id must not shift them).
    fn = re.fullmatch(r"reporter\.test!([^!\s]+)!(\d+)!(\d+)(![A-Za-z0-9]+)?\.json\.gz", name)
    begin = int(datetime.datetime.combine(TODAY, datetime.time(), datetime.timezone.utc)
                .timestamp())
    if not fn or fn.group(1) != domain or int(fn.group(2)) != begin or \
            int(fn.group(3)) != begin + 86400:
        p.append(f"attachment filename {name!r} (RPT-12)")
    report = json.loads(gzip.decompress(parts[1].get_payload(decode=True)))
    if subject and report.get("report-id") != subject.group(3):
        p.append(f"report-id {report.get('report-id')!r} differs from the subject's")
    if envelope.get("rcpt_to") != ["tlsrpt@reports.test"]:
        p.append(f"envelope recipients {envelope.get('rcpt_to')}")
    check_report_json(p, report, domain)
    return report



if __name__ == "__main__":
    import sys
    print("lib_tlsrpt.py holds TLS-RPT helpers, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
