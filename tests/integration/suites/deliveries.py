#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Real mail through real MTAs. Postfix (configured as docs/guides/postfix.md says) and Exim (the
# configuration of docs/guides/exim.md) ask a real `tlspolicy serve`, resolve the recipient
# domains' MX hosts through the world's validating Unbound, and deliver to the world's SMTP
# receivers (env/receivers: STARTTLS with certificates chosen per scenario, or none). What each
# check expects comes from how the world is built (env/zones, env/policies, env/receivers);
# what happened comes from the receivers (what they stored, over which TLS, every session) and
# from the MTA's own log.
#
# The MTAs: Debian 12's Postfix 3.7 and Exim 4.96 on the host; Postfix 3.10 (libtlsrpt) and
# Exim 4.98 in a Debian 13 (trixie) chroot; Postfix 3.11 (REQUIRETLS) in a Debian testing
# (forky) chroot. The chroots come from tools/debian-chroot.sh (cached; built from Debian's
# mirror when missing: a chroot that cannot be built is a failure, never a skip).
#
# Both MTAs find MX hosts with glibc's resolver, which only knows port 53 and /etc/resolv.conf.
# So the suite runs in a network and mount namespace of its own (unshare; root): there it starts
# a world of its own whose Unbound also answers on 127.0.0.53:53 (WORLD_DNS53), and bind-mounts
# a resolv.conf naming it over /etc/resolv.conf and the chroots' (with trust-ad, so the AD bit
# reaches the MTAs). The machine's own files and interfaces are never touched; the mounts end
# with the namespace. Every process started is stopped.
#
#   deliveries.py [ENV...]        run by tests/integration/run (its world is not used); ENV:
#                                 host, trixie, forky (default: all)
#   deliveries.py --in-namespace  the same, already inside the namespace
#   deliveries.py --cases         the cases, with the inner world's env.sh loaded

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# lib_world reads the environment when imported: in the --cases process that is the inner
# world's (the outer processes use only its paths).
from lib_daemon import CLIENTS, EXIM_GUIDE, POSTFIX_GUIDE, Daemon, LogCapture, guide_block
from lib_results import Results, TempDir
from lib_world import BIN, CONFIG, INTEGRATION, REPO

LIB_SH = os.path.join(INTEGRATION, "lib.sh")
CHROOT_SH = os.path.join(REPO, "tools", "debian-chroot.sh")
ENVIRONMENTS = ("host", "trixie", "forky")
DNS53 = "127.0.0.53"
SENDER = "sender@sender.test"
EXIM_DIR = "/opt/tlspolicy-test/exim"
WAIT = 30.0  # seconds for one message to be delivered, deferred or returned


def say(line):
    print(line)
    sys.stdout.flush()


def environments(argv):
    chosen = [a for a in argv if not a.startswith("--")]
    unknown = [a for a in chosen if a not in ENVIRONMENTS]
    if unknown:
        raise SystemExit(f"deliveries: unknown environment(s) {unknown}; know {ENVIRONMENTS}")
    return chosen or list(ENVIRONMENTS)


# --- the namespace and its world -----------------------------------------------------------

def outer(argv):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        R = Results()
        R.skip("deliveries", "needs root and unshare (a network namespace of its own)")
        return R.finish()
    args = ["unshare", "--net", "--mount", "--propagation", "private", "--",
            sys.executable, os.path.abspath(__file__), "--in-namespace", *argv]
    return subprocess.run(args).returncode


def bind(source, target):
    if not os.path.exists(target):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "a").close()  # in a chroot of ours, or a dangling symlink's target
    subprocess.run(["mount", "--bind", source, target], check=True)


def in_namespace(argv):
    envs = environments(argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Not under the outer world: this namespace builds a world of its own. 0755: Postfix's smtp
    # (postfix) and Exim (Debian-exim) reach the sockets.
    tmp = TempDir("tlspolicy-deliveries.", parent=tempfile.gettempdir(), mode=0o755)
    base = tmp.path
    world = os.path.join(base, "world")
    roots = {}
    try:
        p = subprocess.run([LIB_SH, "world_start", world], capture_output=True, text=True,
                           env=dict(os.environ, WORLD_DNS53=DNS53, WORLD_DELIVERY_PORT="25"))
        if p.returncode != 0:
            R = Results()
            R.case("deliveries-world", [f"world_start exited {p.returncode}: {p.stderr[-3000:]}"])
            return R.finish()
        resolv = os.path.join(base, "resolv.conf")
        with open(resolv, "w", encoding="utf-8") as f:
            f.write(f"nameserver {DNS53}\noptions trust-ad edns0\n")
        bind(resolv, os.path.realpath("/etc/resolv.conf"))
        for env in envs:
            if env == "host":
                continue
            p = subprocess.run([CHROOT_SH, env], capture_output=True, text=True)
            root = p.stdout.strip()
            if p.returncode != 0 or not os.path.isdir(root):
                say(f"FAIL deliveries-{env}-chroot: tools/debian-chroot.sh {env} exited "
                    f"{p.returncode}: {p.stderr.strip()[-2000:]}")
                continue
            # The chroot sees the suite's directory (sockets, CA, configs) at the same path.
            bind(base, root + base)
            bind(resolv, root + "/etc/resolv.conf")
            for d in ("/proc", "/dev"):
                bind(d, root + d)
            roots[env] = root
        world_env = subprocess.run(
            ["bash", "-c", 'source "$1/env.sh" && env -0', "-", world], check=True,
            capture_output=True).stdout.decode().split("\0")
        env = dict(os.environ)
        env.update(kv.split("=", 1) for kv in world_env if "=" in kv)
        env["DELIVERIES_BASE"] = base
        env["DELIVERIES_ROOTS"] = json.dumps(roots)
        env["DELIVERIES_ENVS"] = " ".join(envs)
        return subprocess.run([sys.executable, os.path.abspath(__file__), "--cases"],
                              env=env).returncode
    finally:
        subprocess.run([LIB_SH, "world_stop", world], capture_output=True)
        # The mounts go with the namespace; the mount point in the cached chroot goes now.
        for root in roots.values():
            subprocess.run(["umount", "-l", root + base], capture_output=True)
            try:
                os.rmdir(root + base)
            except OSError:
                pass
        tmp.remove()


# --- the scenarios ---------------------------------------------------------------------------

class Scenario:
    """One recipient domain: its receivers (the first one gets the message when it is
    delivered), what must happen and why. tls: "verified" (over TLS, SNI the MX host's name),
    "any" (over TLS), None (plaintext)."""

    def __init__(self, domain, receivers, want, tls, why, exim_want=None):
        self.domain, self.receivers, self.want, self.tls, self.why = \
            domain, receivers, want, tls, why
        self.exim_want = exim_want or want

    @property
    def name(self):
        return self.domain.split(".")[0]


SCENARIOS = [
    Scenario("dlv-dane.dane.test", ["dane"], "sent", "any",
             "DANE-EE TLSA matches the receiver's key (RFC 7672 §3)"),
    Scenario("dlv-dane-bad.dane.test", ["dane-bad"], "deferred", None,
             "the TLSA names another key: never delivered (RFC 7672 §2.2)"),
    # Exim fails a host without TLSA under hosts_require_dane permanently: with mx1 down, the
    # message is returned where Postfix keeps it (docs/guides/exim.md). Never in plaintext.
    Scenario("dlv-mixed.dane.test", ["mixed-mx2"], "deferred", None,
             "mx1 (DANE) down, mx2 offers no STARTTLS: never in plaintext (SPEC §3)",
             exim_want=("deferred", "bounced")),
    Scenario("dlv-sts.unsigned.test", ["sts"], "sent", "verified",
             "MTA-STS enforce, the certificate names the MX host (RFC 8461 §4.2)"),
    Scenario("dlv-sts-wrong.unsigned.test", ["sts-wrong"], "deferred", None,
             "MTA-STS enforce, the certificate names another host (RFC 8461 §4.2)"),
    Scenario("dlv-sts-testing.unsigned.test", ["sts-testing"], "sent", "any",
             "MTA-STS testing: delivered despite the wrong name (RFC 8461 §5)"),
    Scenario("dlv-sts-mx.unsigned.test", ["sts-mx2", "sts-mx1"], "sent", "verified",
             "the preferred MX host is not in the policy: only mx2 (RFC 8461 §4.1)"),
    Scenario("dlv-none.unsigned.test", ["none"], "sent", "any",
             "no policy: opportunistic TLS, a self-signed certificate is accepted"),
    Scenario("dlv-plain.unsigned.test", ["plain"], "sent", None,
             "no policy, no STARTTLS: plaintext (nothing asks for more)"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


class Receivers:
    """What the world's SMTP receivers stored (smtp_sink.py --listeners)."""

    def __init__(self, directory):
        self.dir = directory

    def stored(self, receiver, rcpt):
        d = os.path.join(self.dir, receiver)
        out = []
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith(".json"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    meta = json.load(f)
                if rcpt in meta.get("rcpt_to", []):
                    out.append(meta)
        return out

    def sessions(self, receiver):
        path = os.path.join(self.dir, receiver, "sessions.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def summary(self, s, rcpt):
        """What the receivers got for rcpt, in words (the note of a passing check)."""
        parts = []
        for r in s.receivers:
            for m in self.stored(r, rcpt):
                t = m.get("tls")
                how = f"over {t['version']}" + (f", SNI {t['sni']}" if t.get("sni") else "") \
                    if t else "in plaintext"
                params = " ".join(m.get("mail_params", []))
                parts.append(f"{r} stored it {how}" + (f", MAIL FROM {params}" if params else ""))
        return "; ".join(parts) or "no receiver stored it"

    def problems(self, s, rcpt, status, want=None):
        """What is wrong with the fate of the message to rcpt (scenario s), given the MTA's
        word `status` (sent, deferred, bounced, or a problem text)."""
        want = want or s.want
        wants = want if isinstance(want, tuple) else (want,)
        p = []
        got = self.stored(s.receivers[0], rcpt)
        others = [r for r in s.receivers[1:] if self.stored(r, rcpt)]
        if status not in wants:
            p.append(f"the MTA says {status!r}, want {' or '.join(wants)}")
        if want == "sent":
            if len(got) != 1:
                p.append(f"receiver {s.receivers[0]} stored {len(got)} messages for {rcpt}")
            else:
                t = got[0].get("tls")
                if s.tls is None and t is not None:
                    p.append(f"delivered over {t}, want plaintext (no STARTTLS offered)")
                if s.tls is not None and t is None:
                    p.append("delivered in plaintext, want TLS")
                if s.tls == "verified" and t and t.get("sni") and \
                        not t["sni"].endswith("." + s.domain):
                    p.append(f"SNI {t['sni']!r} is not the MX host's name")
        elif got:
            p.append(f"receiver {s.receivers[0]} stored it: {got}")
        if others:
            p.append(f"receivers {others} stored it too")
        return p


# --- the MTAs --------------------------------------------------------------------------------

class Postfix:
    """A Postfix instance of its own (postfix -c DIR/etc), sending only, on the host or in a
    chroot (root): the guide's main.cf lines plus what a test needs (its own queue and log,
    the receivers' port, the world CA)."""

    def __init__(self, directory, root=None):
        self.dir, self.root = directory, root
        self.etc = os.path.join(directory, "etc")
        self.maillog = os.path.join(directory, "maillog")
        self.logs = LogCapture(self.maillog)
        self.started = False

    def cmd(self, *args):
        return (["chroot", self.root] if self.root else []) + list(args)

    def version(self):
        p = subprocess.run(self.cmd("postconf", "-dh", "mail_version"), capture_output=True,
                           text=True, timeout=30)
        return p.stdout.strip()

    def start(self, settings):
        for d in (self.dir, self.etc, os.path.join(self.dir, "spool")):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        with open(os.path.join(self.etc, "main.cf"), "w", encoding="utf-8") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.dir}/spool
data_directory = {self.dir}/data
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = sender.test
mydomain = sender.test
mydestination =
alias_maps =
alias_database =
notify_classes =
smtp_connect_timeout = 5s
smtp_tls_loglevel = 1
{settings}
""")
        # The world's master.cf, plus the TLS session cache and entropy manager TLS needs.
        with open(os.path.join(INTEGRATION, "env", "postfix", "master.cf"),
                  encoding="utf-8") as f:
            master = f.read()
        with open(os.path.join(self.etc, "master.cf"), "w", encoding="utf-8") as f:
            f.write(master + "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n")
        for name in ("main.cf", "master.cf"):  # Postfix re-reads a file younger than 2 s
            os.utime(os.path.join(self.etc, name), (946684800, 946684800))
        p = subprocess.run(self.cmd("postfix", "-c", self.etc, "start"), capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"postfix start: {p.stderr.strip()} {self.log()[-2000:]}")
        self.started = True

    def send(self, rcpt, *options):
        msg = f"From: {SENDER}\nTo: {rcpt}\nSubject: delivery test {rcpt}\n\nfor {rcpt}\n"
        subprocess.run(self.cmd("sendmail", "-C", self.etc, "-oi", *options, "-f", SENDER, rcpt),
                       input=msg.encode(), check=True, timeout=30)

    def outcome(self, rcpt):
        """The status of the first delivery attempt's log line for rcpt (sent, deferred,
        bounced), or a problem text."""
        deadline = time.monotonic() + WAIT
        pattern = re.compile(r"to=<" + re.escape(rcpt) + r">.*status=(\w+)")
        while time.monotonic() < deadline:
            m = pattern.search(self.log())
            if m:
                return m.group(1)
            time.sleep(0.2)
        return f"no delivery attempt logged within {WAIT:.0f}s"

    def log(self):
        return self.logs.text()

    def stop(self):
        if not self.started:
            return
        try:
            with open(os.path.join(self.dir, "spool", "pid", "master.pid"), encoding="ascii") as f:
                master = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            master = None
        children = [p for p in pids() if parent_of(p) == master] if master else []
        subprocess.run(self.cmd("postfix", "-c", self.etc, "stop"), capture_output=True,
                       timeout=30)
        left = [p for p in [master, *children] if p]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in left):
            time.sleep(0.05)
        for p in left:
            if alive(p):
                os.kill(p, signal.SIGKILL)


class Exim:
    """Exim with the guide's configuration, on the host or in a chroot, delivering in the
    foreground (exim -odf): its mainlog says "=>" (delivered) or "==" (deferred)."""

    def __init__(self, directory, guide, json_socket, ca, clients, root=None):
        self.dir, self.root = directory, root
        self.logs = LogCapture(os.path.join(directory, "log", "mainlog"))
        os.makedirs(directory, exist_ok=True)
        body, n = re.subn(r"^TLSPOLICY_SOCKET = .*$", f"TLSPOLICY_SOCKET = {json_socket}",
                          guide, flags=re.M)
        if n != 1:
            raise RuntimeError("the Exim guide's configuration does not define TLSPOLICY_SOCKET")
        # Test world only: its CA as the trusted roots.
        body, n = re.subn(r"^(remote_smtp:\n  driver = smtp\n)",
                          f"\\1  tls_verify_certificates = {ca}\n", body, flags=re.M)
        if n != 1:
            raise RuntimeError("the Exim guide's configuration has no remote_smtp transport")
        self.conf = os.path.join(directory, "exim.conf")
        p = subprocess.run(["bash", "-c", 'source "$0"; exim_config "$1"', clients, self.conf],
                           input=body, capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"exim_config failed: {p.stderr}")
        # Remote deliveries run as Debian-exim (the chroot's own user there): its spool and
        # log; the configuration stays root's (Exim refuses it otherwise).
        for d in ("spool", "log"):
            subprocess.run(self.cmd("chown", "-R", "Debian-exim:Debian-exim",
                                    os.path.join(directory, d)), check=True)

    def cmd(self, *args):
        return (["chroot", self.root] if self.root else []) + list(args)

    def version(self):
        p = subprocess.run(self.cmd(f"{EXIM_DIR}/usr/sbin/exim4", "-bV"), capture_output=True,
                           text=True, timeout=30)
        m = re.search(r"^Exim version (\S+)", p.stdout, re.M)
        return m.group(1) if m else "?"

    def deliver(self, rcpt):
        msg = f"From: {SENDER}\nTo: {rcpt}\nSubject: delivery test {rcpt}\n\nfor {rcpt}\n"
        p = subprocess.run(self.cmd(f"{EXIM_DIR}/usr/sbin/exim4", "-C", self.conf, "-odf", "-oi",
                                    "-f", SENDER, rcpt),
                           input=msg.encode(), capture_output=True, timeout=60)
        log = self.log()
        if re.search(r" => " + re.escape(rcpt) + r"\b", log):
            return "sent"
        if re.search(r" == " + re.escape(rcpt) + r"\b", log):
            return "deferred"
        if re.search(r" \*\* " + re.escape(rcpt) + r"\b", log):
            return "bounced"
        return (f"exim exit {p.returncode}, nothing logged for {rcpt}: "
                f"{p.stderr.decode(errors='replace')[-800:]} {log[-1500:]}")

    def log(self):
        return self.logs.text()


def with_log(problems, logs, domain):
    """problems, and when there are any, the MTA's log lines about domain (the evidence)."""
    if problems:
        lines = logs.lines(domain)[-6:]
        problems = problems + ["log: " + " | ".join(lines)]
    return problems


def pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# --- the cases -------------------------------------------------------------------------------

def cases():
    R = Results()
    base = os.environ["DELIVERIES_BASE"]
    roots = json.loads(os.environ["DELIVERIES_ROOTS"])
    envs = os.environ["DELIVERIES_ENVS"].split()
    ca = os.environ["CA_FILE"]
    received = Receivers(os.environ["DELIVERY_DIR"])

    def guide(marker, daemon):
        """A guide block with /run/tlspolicy/NAME moved to the test daemon's sockets."""
        text = guide_block(POSTFIX_GUIDE, marker)
        for name, path in (("socketmap.sock", daemon.sm), ("tlsrpt.sock", daemon.tlsrpt)):
            text = text.replace(f"/run/tlspolicy/{name}", path)
        if "/run/tlspolicy/" in text:
            raise RuntimeError(f"guide block {marker}: a path the suite does not know: {text}")
        return text

    def postfix_settings(daemon, env):
        test_world = f"# the test world: its CA signs the receivers' certificates\nsmtp_tls_CAfile = {ca}\n"
        main = guide("postfix-main-cf" if env == "host" else "postfix-main-cf-tlsrpt", daemon)
        out = test_world + guide("postfix-dane", daemon) + "\n" + main
        if env == "forky":
            out += "\n" + guide("postfix-requiretls", daemon)
        return out

    def run_postfix(env, daemon):
        pf = Postfix(os.path.join(base, f"postfix-{env}"), roots.get(env))
        try:
            pf.start(postfix_settings(daemon, env))
            version = pf.version()
            mx1_before = mx1_sessions()
            for s in SCENARIOS:
                pf.send(f"u-{env}-postfix@{s.domain}")
            for s in SCENARIOS:
                rcpt = f"u-{env}-postfix@{s.domain}"
                p = received.problems(s, rcpt, pf.outcome(rcpt))
                if s.name == "dlv-sts-mx":
                    p += mx_pattern_problems(env, pf, mx1_before)
                R.case(f"{env}-postfix-{s.name}", with_log(p, pf.logs, s.domain),
                       f"Postfix {version}: {s.why}: {received.summary(s, rcpt)}")
            if env == "forky":
                requiretls_cases(pf, version)
        finally:
            pf.stop()
            if R.failed:
                pf.logs.dump(f"{env} postfix maillog", 4000)
        return pf.log()

    def mx1_sessions():
        return len(received.sessions("sts-mx1"))

    def mx_pattern_problems(env, pf, mx1_before):
        """dlv-sts-mx: the MTA must not use mx1, which the policy does not list. Postfix 3.7
        (plain map) connects, fails to match the certificate against the policy's names and
        moves on; Postfix >= 3.10.5 with the tlsrpt map enforces the policy's mx patterns
        itself (smtp_tls_enforce_sts_mx_patterns) and never connects; so does Exim with the
        guide's ignore_target_hosts."""
        time.sleep(0.5)  # a receiver logs a session when it has ended
        sessions = mx1_sessions() - mx1_before
        if env == "host" and pf is not None:
            return [] if sessions else ["mx1 saw no session: want a TLS session, no message"]
        p = [f"mx1 saw {sessions} sessions: want none"] if sessions else []
        if pf is not None:
            pf.logs.expect(
                p, r"MX name 'mx1\.dlv-sts-mx\.unsigned\.test' does not match STS MX pattern",
                "no 'does not match STS MX pattern' warning for mx1 in the maillog")
        return p

    def requiretls_cases(pf, version):
        """Postfix 3.11, smtp_requiretls_policy = our requiretls map, then
        opportunistic+starttls (the guide): sendmail -Orequiretls=yes (RT-3, RT-4, RT-9)."""
        cases_ = [
            ("dlv-dane", "sent", True, "OK enforce: DANE, and the receiver offers REQUIRETLS"),
            ("dlv-dane-noreq", "bounced", False,
             "OK enforce, but the receiver does not offer REQUIRETLS: returned (RT-4)"),
            ("dlv-none", "sent", False,
             "NOTFOUND: the next item, opportunistic+starttls, delivers over TLS (RT-9)"),
        ]
        extra = {"dlv-dane-noreq": Scenario("dlv-dane-noreq.dane.test", ["dane-noreq"], "sent",
                                            "any", "")}
        for name, want, flag, why in cases_:
            s = extra.get(name) or BY_NAME[name]
            rcpt = f"u-forky-reqtls@{s.domain}"
            pf.send(rcpt, "-Orequiretls=yes")
            p = received.problems(s, rcpt, pf.outcome(rcpt), want)
            got = received.stored(s.receivers[0], rcpt)
            if want == "sent" and got:
                has = "REQUIRETLS" in [x.upper() for x in got[0].get("mail_params", [])]
                if has != flag:
                    p.append(f"MAIL FROM parameters {got[0].get('mail_params')}: REQUIRETLS "
                             f"{'missing' if flag else 'sent to a server that did not offer it'}")
            R.case(f"forky-postfix-requiretls-{name}", with_log(p, pf.logs, s.domain),
                   f"Postfix {version}: {why}: {received.summary(s, rcpt)}")

    def tlsrpt_case(env, daemon, pf_log):
        """The day's RFC 8460 report from Postfix's own libtlsrpt datagrams: one success for
        dlv-sts, one failure for dlv-sts-wrong (certificate-host-mismatch)."""
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        reports = {}
        p = []
        # Postfix sends a datagram per delivery attempt to a domain with a TLSRPT record (the
        # two below); the daemon counts them on receipt and stores them in batches: wait until
        # it has seen both, then a batch interval more.
        deadline = time.monotonic() + WAIT
        counted = {}
        while time.monotonic() < deadline:
            counted = daemon.stats().get("tlsrpt", {})
            if counted.get("datagrams", 0) >= 2:
                break
            time.sleep(0.2)
        time.sleep(2.5)
        for domain in ("dlv-sts.unsigned.test", "dlv-sts-wrong.unsigned.test"):
            r = subprocess.run([BIN, "--config", CONFIG, *sum((["--set", x] for x in daemon.sets),
                                                              []),
                                "report", "show", "--date", today, "--domain", domain],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                p.append(f"report show {domain}: exit {r.returncode}: {r.stderr.strip()[:500]}")
                continue
            reports[domain] = json.loads(r.stdout)
        say(f"# {env}: the day's reports from Postfix's datagrams:\n"
            + json.dumps(reports, indent=1))
        for domain, success, failure in (("dlv-sts.unsigned.test", 1, 0),
                                         ("dlv-sts-wrong.unsigned.test", 0, 1)):
            rep = reports.get(domain)
            if not rep:
                continue
            pols = rep.get("policies", [])
            sts = [x for x in pols if x.get("policy", {}).get("policy-type") == "sts"]
            if len(sts) != 1:
                p.append(f"{domain}: {len(sts)} sts policies in the report, want 1: {pols}")
                continue
            summary = sts[0].get("summary", {})
            got = (summary.get("total-successful-session-count"),
                   summary.get("total-failure-session-count"))
            if got != (success, failure):
                p.append(f"{domain}: successes/failures {got}, want {(success, failure)}")
            if failure:
                # The receiver announces its MX host's name (env/receivers), and presents a
                # certificate for another name.
                mx = f"mx1.{domain}"
                got_details = [{k: d.get(k) for k in ("result-type", "receiving-mx-hostname",
                                                      "receiving-mx-helo")}
                               for d in sts[0].get("failure-details", [])]
                want_details = [{"result-type": "certificate-host-mismatch",
                                 "receiving-mx-hostname": mx, "receiving-mx-helo": mx}]
                if got_details != want_details:
                    p.append(f"{domain}: failure details {got_details}, want {want_details}")
        if p:
            p.append(f"stats tlsrpt {counted}; maillog: " + " | ".join(
                ln for ln in pf_log.splitlines() if "tlsrpt" in ln.lower())[-1500:])
        R.case(f"{env}-tlsrpt-report-from-datagrams", p,
               "RFC 8460 report built from Postfix's libtlsrpt datagrams")

    def run_exim(env, daemon):
        exim = Exim(os.path.join(base, f"exim-{env}"), guide_block(EXIM_GUIDE, "exim-configure"),
                    daemon.json, ca, CLIENTS, roots.get(env))
        version = exim.version()
        for s in SCENARIOS:
            rcpt = f"u-{env}-exim@{s.domain}"
            mx1_before = mx1_sessions()
            p = received.problems(s, rcpt, exim.deliver(rcpt), s.exim_want)
            if s.name == "dlv-sts-mx":
                p += mx_pattern_problems(env, None, mx1_before)
            R.case(f"{env}-exim-{s.name}", with_log(p, exim.logs, s.domain),
                   f"Exim {version}: {s.why}: {received.summary(s, rcpt)}")
        if R.failed:
            exim.logs.dump(f"{env} exim mainlog", 4000)

    for env in envs:
        if env != "host" and env not in roots:
            # The namespace side said why above; counted here, where the results are.
            R.case(f"{env}-chroot", [f"tools/debian-chroot.sh {env} gave no chroot"])
            continue
        # One daemon per environment: its store holds exactly that environment's results.
        daemon = Daemon(f"tlspolicy-{env}", CONFIG, base)
        try:
            daemon.wait_ready()
            pf_log = run_postfix(env, daemon)
            if env != "host":
                tlsrpt_case(env, daemon, pf_log)
            if env != "forky":
                run_exim(env, daemon)
        except Exception as e:  # a broken environment is a failure, not a crash
            R.case(f"{env}-setup", [f"{type(e).__name__}: {e}"])
        finally:
            daemon.stop()
            daemon.kill()
            if R.failed:
                daemon.logs.dump(f"{env} tlspolicy log")
    return R.finish()


if __name__ == "__main__":
    if "--cases" in sys.argv:
        sys.exit(cases())
    if "--in-namespace" in sys.argv:
        sys.exit(in_namespace([a for a in sys.argv[1:] if a != "--in-namespace"]))
    sys.exit(outer(sys.argv[1:]))
