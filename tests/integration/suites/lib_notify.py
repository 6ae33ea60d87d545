#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Type=notify, checked against an independent reader of the protocol: this script binds the
# Unix datagram socket that NOTIFY_SOCKET names (as systemd does, with SO_PASSCRED to see who
# sends), starts `tlspolicy serve` socket-activated through systemd-socket-activate with
# NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (its own pid: systemd-socket-activate execs
# the daemon in place), and checks what arrives:
#   ready-*       READY=1 (with STATUS=) is the first message, from the main pid, and the
#                 admin socket answers a request sent right after it;
#   watchdog-*    WATCHDOG=1 about every half of WATCHDOG_USEC;
#   reload-*      SIGHUP: RELOADING=1 then READY=1; with a broken configuration file too,
#                 whose STATUS says the reload failed, and the daemon still answers;
#   stopping-*    SIGTERM: STOPPING=1, then exit status 0.
# Called by systemd_units.sh: lib_notify.py TLSPOLICY_BIN TMPDIR. Prints "ok NAME" /
# "FAIL NAME: …" lines (the caller counts them).
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from lib_daemon import LogCapture
from lib_results import Results

WATCHDOG_USEC = 2_000_000  # pings expected every second

# Its "ok"/"FAIL" lines only: systemd_units.sh counts them (and prints its own suite-result).
R = Results()


def check(name, good, why=""):
    R.case(name, [] if good else [why])


class NotifyReader:
    """The service manager's end: every datagram with its arrival time and sender pid."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def next(self, timeout):
        """(time, pid, {key: value}) of the next message, or None after `timeout` s."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(
            line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        return time.monotonic(), pid, fields

    def wait_for(self, key, timeout, seen=None):
        """The next message carrying `key`; the ones before it are appended to `seen`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.next(left)
            if msg is None:
                return None
            if key in msg[2]:
                return msg
            if seen is not None:
                seen.append(msg)
        return None

    def next_state(self, timeout):
        """The next message that is not a watchdog ping."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.next(left)
            if msg is None or "WATCHDOG" not in msg[2]:
                return msg
        return None


def admin_request(path, request, timeout=2.0):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(s.makefile().readline())


def answers(path):
    try:
        return admin_request(path, {"op": "stats"}).get("status") == "ok"
    except (OSError, ValueError) as e:
        print(f"# admin request failed: {e}", flush=True)
        return False


def main():
    binary, tmp = sys.argv[1], sys.argv[2]
    run = os.path.join(tmp, "run")
    os.makedirs(run)
    config = os.path.join(tmp, "tlspolicy.toml")
    with open(config, "w") as f:
        f.write("[log]\nlevel = \"info\"\n")
    reader = NotifyReader(os.path.join(tmp, "notify.sock"))
    admin = os.path.join(run, "admin.sock")
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify.sock"),
               WATCHDOG_USEC=str(WATCHDOG_USEC))
    # WATCHDOG_PID: the pid the daemon will have (sh execs systemd-socket-activate, which
    # execs the daemon).
    log = open(os.path.join(tmp, "daemon.log"), "w")
    daemon = subprocess.Popen(
        ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh",
         "systemd-socket-activate", "-l", os.path.join(run, "sm.sock"), "-l",
         os.path.join(run, "json.sock"), "-l", admin, "--fdname=socketmap:json:admin",
         "-E", "NOTIFY_SOCKET", "-E", "WATCHDOG_USEC", "-E", "WATCHDOG_PID",
         binary, "--config", config, "--set", "resolver.mode=trust-ad",
         "--set", 'resolver.servers=["127.0.0.1@9"]', "--set", "resolver.timeout=200ms",
         "--set", f"state_dir={tmp}/state", "--set", f"tlsrpt.socket=unix:{run}/tlsrpt.sock",
         "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        body(daemon, reader, admin, config)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        log.close()
    if R.failed:
        lines = LogCapture(os.path.join(tmp, "daemon.log")).lines()[-20:]
        print("# daemon log:\n" + "".join("#   " + line + "\n" for line in lines))


def body(daemon, reader, admin, config):
    # systemd-socket-activate starts the daemon on the first connection: make one (it is
    # served from the backlog once the daemon runs).
    for _ in range(100):
        if os.path.exists(admin):
            break
        time.sleep(0.05)
    trigger = socket.socket(socket.AF_UNIX)
    trigger.connect(admin)
    trigger.close()

    first = reader.next(15)
    check("ready-first-message", first is not None and first[2].get("READY") == "1",
          f"got {first}")
    if first is None:
        return
    check("ready-from-main-pid", first[1] == daemon.pid, f"sender {first[1]}, daemon {daemon.pid}")
    check("ready-status", first[2].get("STATUS", "").startswith("serving"), f"got {first[2]}")
    start = time.monotonic()
    check("ready-admin-answers", answers(admin) and time.monotonic() - start < 2.0,
          "the admin socket did not answer right after READY=1")

    # Watchdog: pings every WATCHDOG_USEC / 2 = 1 s; count those of 4.5 s.
    pings = []
    deadline = time.monotonic() + 4.5
    while (left := deadline - time.monotonic()) > 0:
        msg = reader.next(left)
        if msg is None:
            break
        if msg[2].get("WATCHDOG") == "1":
            pings.append(msg[0])
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    check("watchdog-pings", 3 <= len(pings) <= 6, f"{len(pings)} pings in 4.5 s")
    check("watchdog-cadence", bool(gaps) and all(0.6 <= g <= 1.5 for g in gaps),
          f"gaps {[round(g, 2) for g in gaps]} s, want about 1 s")

    # Reload with a good configuration.
    daemon.send_signal(signal.SIGHUP)
    msg = reader.next_state(10)
    check("reload-reloading", msg is not None and msg[2].get("RELOADING") == "1"
          and "MONOTONIC_USEC" in msg[2], f"got {msg}")
    msg = reader.next_state(10)
    check("reload-ready", msg is not None and msg[2].get("READY") == "1"
          and "reloaded" in msg[2].get("STATUS", ""), f"got {msg}")

    # Reload with a broken configuration file: refused, the old configuration stays.
    with open(config, "w") as f:
        f.write("this is [not toml\n")
    daemon.send_signal(signal.SIGHUP)
    msg = reader.next_state(10)
    check("reload-broken-reloading", msg is not None and msg[2].get("RELOADING") == "1",
          f"got {msg}")
    msg = reader.next_state(10)
    check("reload-broken-ready", msg is not None and msg[2].get("READY") == "1"
          and "reload failed" in msg[2].get("STATUS", ""), f"got {msg}")
    check("reload-broken-still-answers", answers(admin), "no answer after the failed reload")

    daemon.send_signal(signal.SIGTERM)
    msg = reader.next_state(10)
    check("stopping", msg is not None and msg[2].get("STOPPING") == "1", f"got {msg}")
    try:
        rc = daemon.wait(15)
    except subprocess.TimeoutExpired:
        rc = "still running 15 s after SIGTERM"
    check("stopping-exit-0", rc == 0, f"exit status {rc}")


if __name__ == "__main__":
    main()
