#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# A `tlspolicy serve` of a suite's own and the ways to talk to it: Daemon (start, stop, kill,
# restart on the same store; sockets, store and log under BASE/NAME), Conn (one socketmap /
# JSON / admin connection), LogCapture (the daemon's log: assert on lines, wait for one, print
# the tail on failure), the real clients of tests/integration/clients.sh (postmap -q, exim -be)
# and the guides' checked blocks, and small helpers for cases that wait (timed, in_background,
# wait_for). Used by daemon_clients, faults, freshness, metrics, tlsrpt, deliveries. Not a
# suite (tests/integration/run skips lib_*).
#
# Every process started here is stopped by the suite that started it: finish_daemon() (SIGTERM,
# exit status and crash markers checked) in a case, kill() in the suite's finally block.

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from lib_world import BIN, INTEGRATION, REPO

CRASH_MARKERS = ("terminate called", "Traceback", "Aborted", "what():", "Segmentation fault",
                 "AddressSanitizer", "runtime error:", "core dumped")
IO_TIMEOUT = 15.0
ENFORCE = "enforce.mta.test"
ENFORCE_REPLY = "OK secure match=mx1.enforce.mta.test servername=hostname"


# --- logs ------------------------------------------------------------------------------------

class LogCapture:
    """What processes wrote to one or more log files (a daemon's stdout and stderr, an MTA's
    log), read fresh on every call. mark() makes later calls see only what was written after
    it, so a case can assert on its own lines:

        log = LogCapture(d.logpath)            # or d.logs, the daemon's own
        log.mark()
        ...
        log.expect(problems, r"cannot store the fetched policy.*locked", "no '…' in the log")
        if not log.wait_for("reload failed", 10): ...
        log.dump("collector daemon")           # the tail, after a failure
    """

    def __init__(self, *paths):
        self.paths = list(paths)
        self.offsets = {}

    def add(self, path):
        """One more file (a restarted process that logs to a new one)."""
        self.paths.append(path)

    def mark(self):
        for p in self.paths:
            self.offsets[p] = os.path.getsize(p) if os.path.exists(p) else 0

    def text(self):
        out = ""
        for p in self.paths:
            try:
                with open(p, "rb") as f:
                    f.seek(self.offsets.get(p, 0))
                    out += f.read().decode(errors="replace")
            except FileNotFoundError:
                pass
        return out

    def lines(self, containing=None):
        return [ln for ln in self.text().splitlines() if containing is None or containing in ln]

    def search(self, pattern):
        """The first match of the regular expression in the log, or None."""
        return re.search(pattern, self.text(), re.M)

    def wait_for(self, pattern, limit=10.0):
        """The first match once it is there, or None after `limit` seconds."""
        return wait_for(lambda: self.search(pattern), limit)

    def expect(self, problems, pattern, what=None):
        """Appends a problem (`what`, or "no /pattern/ in the log") when nothing matches."""
        if not self.search(pattern):
            problems.append(what or f"no /{pattern}/ in the log")

    def crashes(self):
        text = self.text()
        return [m for m in CRASH_MARKERS if m in text]

    def tail(self, n=1500):
        return self.text()[-n:]

    def dump(self, title, n=3000):
        print(f"--- {title} (last {n} bytes)\n{self.tail(n)}")
        sys.stdout.flush()


# --- the daemon ------------------------------------------------------------------------------

class Clients:
    """A daemon's directory BASE/NAME with its sockets (self.sm, self.json, self.admin,
    self.tlsrpt) and requests on fresh connections to them: for Daemon, and for fleet.py's
    nodes."""

    def __init__(self, name, base):
        self.name = name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sm = os.path.join(self.dir, "sm.sock")
        self.json = os.path.join(self.dir, "json.sock")
        self.admin = os.path.join(self.dir, "admin.sock")
        self.tlsrpt = os.path.join(self.dir, "tlsrpt.sock")

    def sm_query(self, domain, timeout=30, mapname="postfix"):
        c = Conn(self.sm, timeout=timeout)
        try:
            return c.query(mapname, domain)
        finally:
            c.close()

    def decide(self, domain, timeout=30):
        c = Conn(self.json, timeout=timeout)
        try:
            r = c.request({"op": "decide", "domain": domain})
        finally:
            c.close()
        if r.get("status") != "ok":
            raise RuntimeError(f"decide {domain}: {r!r}")
        return r["decision"]

    def accepting(self):
        """True when the socketmap, JSON and admin sockets all accept a connection."""
        try:
            for p in (self.sm, self.json, self.admin):
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(p)
            return True
        except OSError:
            return False

    def json_op(self, obj, timeout=30):
        c = Conn(self.json, timeout=timeout)
        try:
            return c.request(obj)
        finally:
            c.close()

    def admin_op(self, obj, timeout=30):
        c = Conn(self.admin, timeout=timeout)
        try:
            return c.request(obj)
        finally:
            c.close()

    def stats(self):
        r = self.admin_op({"op": "stats", "id": "s"})
        if r.get("status") != "ok" or r.get("id") != "s" or not isinstance(r.get("stats"), dict):
            raise RuntimeError(f"stats on the admin socket: got {r!r}")
        return r["stats"]


class Daemon(Clients):
    """`[WRAP...] tlspolicy --config CONFIG --set store.path=… [--set EXTRA]... --set
    server.*=unix:… --set tlsrpt.socket=unix:… serve`, its sockets and log (daemon.log, appended
    to on every start) under BASE/NAME, its store there too unless `store` names one. `wrap`
    prefixes the command (prlimit, setpriv: they exec, so proc.pid is the daemon's pid). With
    start=False, start() starts it; it can be killed and started again on the same store."""

    def __init__(self, name, config, base, extra=(), store=None, wrap=(), start=True):
        super().__init__(name, base)
        self.config = config
        self.store = store or os.path.join(self.dir, "policies.sqlite")
        self.sets = [f"store.path={self.store}", *extra]
        args = [*wrap, BIN, "--config", config]
        for s in self.sets + [f"server.socketmap=unix:{self.sm}", f"server.json=unix:{self.json}",
                              f"server.admin=unix:{self.admin}",
                              f"tlsrpt.socket=unix:{self.tlsrpt}"]:
            args += ["--set", s]
        args.append("serve")
        self.args = args
        self.logpath = os.path.join(self.dir, "daemon.log")
        self.logs = LogCapture(self.logpath)
        self.logfile = None
        self.proc = None
        if start:
            self.start()

    def start(self):
        if self.logfile:
            self.logfile.close()
        self.logfile = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                     stderr=subprocess.STDOUT)
        return self

    def log(self):
        return self.logs.text()

    def tail(self, n=1500):
        return self.logs.tail(n)

    def crashed(self):
        return self.logs.crashes()

    def wait_ready(self, limit=10.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.tail()}")
            if self.accepting():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sockets not ready within {limit:.0f}s: {self.tail()}")

    def stop(self, limit=10.0):
        """SIGTERM; returns (exit code or None, seconds)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - start

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.logfile:
            self.logfile.close()
            self.logfile = None


def finish_daemon(p, d, want_exit=0):
    """SIGTERM: the daemon exits want_exit within 10 s and its log has no crash marker."""
    if d.proc is None:
        return
    if d.proc.poll() is not None:
        p.append(f"{d.name}: daemon exited {d.proc.returncode} during the case: {d.tail()}")
    else:
        rc, secs = d.stop()
        if rc != want_exit:
            p.append(f"{d.name}: SIGTERM gave exit {rc} after {secs:.1f}s, want {want_exit}")
    crash = d.crashed()
    if crash:
        p.append(f"{d.name}: crash marker {crash} in the log: {d.tail()}")
    d.kill()  # closes the log file


# --- raw clients -----------------------------------------------------------------------------

def netstring(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return str(len(payload)).encode() + b":" + payload + b","


class Conn:
    def __init__(self, path, timeout=IO_TIMEOUT):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the daemon")
        self.buf += chunk

    def read_netstring(self):
        while True:
            m = re.match(rb"(\d+):", self.buf)
            if m:
                n = int(m.group(1))
                end = m.end() + n
                if len(self.buf) > end:
                    if self.buf[end:end + 1] != b",":
                        raise ValueError(f"reply framing broken: {self.buf[:200]!r}")
                    out = self.buf[m.end():end].decode()
                    self.buf = self.buf[end + 1:]
                    return out
            elif self.buf and not re.match(rb"\d*$", self.buf):
                raise ValueError(f"reply is not a netstring: {self.buf[:200]!r}")
            self._fill()

    def query(self, mapname, key):
        self.send(netstring(f"{mapname} {key}"))
        return self.read_netstring()

    def read_line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())

    def request(self, obj_or_line):
        line = obj_or_line if isinstance(obj_or_line, (bytes, str)) else json.dumps(obj_or_line)
        self.send((line.encode() if isinstance(line, str) else line) + b"\n")
        return self.read_line()

    def at_eof(self, limit=5.0):
        """True when the daemon closes the connection within limit (buffered bytes ignored)."""
        self.s.settimeout(limit)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def json_request(path, obj):
    """One request on a fresh connection to the JSON or admin socket at path."""
    conn = Conn(path)
    try:
        return conn.request(obj)
    finally:
        conn.close()


def sm_ok(d, key=ENFORCE, want=None):
    """A fresh connection gets a normal socketmap answer; returns a problem string or None."""
    want = want or ENFORCE_REPLY
    try:
        c = Conn(d.sm, timeout=5)
        got = c.query("postfix", key)
        c.close()
    except Exception as e:
        return f"daemon no longer answers a normal query: {type(e).__name__}: {e}"
    if d.proc.poll() is not None:
        return f"daemon exited {d.proc.returncode}"
    return None if got == want else f"normal query after it: got {got!r}, want {want!r}"


# --- real clients (clients.sh) and the guides' checked blocks --------------------------------

CLIENTS = os.path.join(INTEGRATION, "clients.sh")
POSTFIX_GUIDE = os.path.join(REPO, "docs", "guides", "postfix.md")
EXIM_GUIDE = os.path.join(REPO, "docs", "guides", "exim.md")


def clients(func, *args, cwd=None, timeout=60):
    """Calls a clients.sh function; returns (exit code, stdout without the last newline,
    stderr)."""
    p = subprocess.run(["bash", "-c", f'source "$0"; {func} "$@"', CLIENTS, *args],
                       capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.rstrip("\n"), p.stderr


def clients_missing():
    """None when postmap and the unpacked Exim are there, else what is missing."""
    p = subprocess.run(["bash", "-c", 'source "$0"; clients_missing', CLIENTS],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode != 0 else None


def postfix_query(sock, mapname, key):
    """`postmap -q KEY socketmap:unix:SOCK:MAPNAME`, as Postfix asks."""
    return clients("postfix_query", sock, mapname, key)[1]


def exim_expand(sock, string):
    """`exim -be STRING` with TLSPOLICY_SOCKET = sock."""
    rc, out, err = clients("exim_expand", sock, string)
    return out if rc == 0 else f"EXPANSION FAILED: {(out + ' ' + err).strip()[:300]}"


def guide_block(path, marker):
    """The fenced block that follows the line `<!-- checked: MARKER -->` in a guide."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- checked: " + re.escape(marker) + r" -->\s*```[a-z]*\n(.*?)```", text,
                  re.S)
    if not m:
        raise RuntimeError(f"{os.path.relpath(path, REPO)}: no block marked {marker!r}")
    return m.group(1)


# --- waiting ---------------------------------------------------------------------------------

def wait_for(pred, limit=10.0, step=0.05):
    """pred()'s first true value, polled every `step` s; after `limit` s, its last value."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


def timed(fn, *args, **kw):
    """(result or the exception, seconds)."""
    t = time.monotonic()
    try:
        out = fn(*args, **kw)
    except Exception as e:  # the caller decides whether an exception is a failure
        out = e
    return out, time.monotonic() - t


def in_background(fn, *args, **kw):
    """Starts fn in a thread; returns a callable that waits and gives (result, seconds)."""
    box = {}

    def run():
        box["r"] = timed(fn, *args, **kw)

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def result(limit=120):
        t.join(limit)
        return box.get("r", (TimeoutError(f"still running after {limit}s"), limit))

    result.done = lambda: "r" in box
    return result


if __name__ == "__main__":
    print("lib_daemon.py holds the daemon and its clients, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
