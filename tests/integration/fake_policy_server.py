#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for the tlspolicy daemon, for the harness's own self-tests only.

It lets suites/clients_selfcheck.sh check the real Postfix and Exim clients (clients.sh)
without tlspolicy. It is not a model of the daemon's decisions.

    fake_policy_server.py --socketmap PATH --json PATH --log FILE [--pid-file FILE]

--socketmap PATH  Unix stream socket, Postfix socketmap protocol: netstring "NAME KEY" in,
                  netstring reply out, connection kept open for more requests. Replies by key:
                    example.test  OK secure match=.example.test servername=hostname
                    temp.test     TEMP test
                    perm.test     PERM test
                    garbage.test  BOGUS what   (not a socketmap status)
                    okempty.test  OK   (empty value)
                    big.test      OK <value>, 100000 bytes in all (Postfix's reply limit)
                    anything else NOTFOUND  (with the trailing space)
--json PATH       Unix stream socket, JSON lines: one object per line in, one per line out;
                  a last request without newline at EOF is answered too, then the server
                  closes. {"op":"decide","domain":D,...} ->
                    {"status":"ok","decision":{"domain":D,"action":"require-tls",
                     "postfix":"OK secure match=.D servername=hostname"}}
                  (plain.test: "action":"opportunistic","postfix":"NOTFOUND ")
                  anything else -> {"status":"error","error":{"code":...,"message":...}}
--log FILE        one JSON object per line, per event, flushed at once:
                    {"sock":"socketmap","conn":N,"name":NAME,"key":KEY,"reply":R}
                    {"sock":"json","conn":N,"event":"data","bytes":"..."}  (as received)
                    {"sock":"json","conn":N,"event":"eof"}    (the peer shut down writing)
                    {"sock":"json","conn":N,"event":"reply","line":"..."}
                    {"sock":"json","conn":N,"event":"close"}
Ready when the pid file exists (written after both sockets listen). Stops on SIGTERM/SIGINT and removes its sockets.
"""

import argparse
import json
import os
import signal
import socketserver
import sys
import threading

log_lock = threading.Lock()
log_file = None
conn_counter = 0


def log(**event):
    with log_lock:
        log_file.write(json.dumps(event) + "\n")
        log_file.flush()


def next_conn():
    global conn_counter
    with log_lock:
        conn_counter += 1
        return conn_counter


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


def socketmap_reply(key: str) -> str:
    if key == "example.test":
        return "OK secure match=.example.test servername=hostname"
    if key == "temp.test":
        return "TEMP test"
    if key == "perm.test":
        return "PERM test"
    if key == "garbage.test":
        return "BOGUS what"
    if key == "okempty.test":
        return "OK "
    if key == "big.test":
        return "OK " + "x" * (100000 - 3)
    return "NOTFOUND "


class SocketmapHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = next_conn()
        buf = b""
        while True:
            # netstring: digits ':' payload ','
            while b":" not in buf:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, rest = buf.partition(b":")
            if not head.isdigit() or len(head) > 6:
                log(sock="socketmap", conn=conn, error="bad length " + repr(head))
                return
            need = int(head) + 1
            while len(rest) < need:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                rest += chunk
            payload, comma, buf = rest[: need - 1], rest[need - 1 : need], rest[need:]
            if comma != b",":
                log(sock="socketmap", conn=conn, error="no comma")
                return
            text = payload.decode("utf-8", "replace")
            name, _, key = text.partition(" ")
            reply = socketmap_reply(key)
            log(sock="socketmap", conn=conn, name=name, key=key,
                reply=reply if len(reply) < 200 else reply[:40] + "...")
            self.request.sendall(netstring(reply.encode()))


def json_reply(line: bytes) -> dict:
    try:
        req = json.loads(line)
    except ValueError as e:
        return {"status": "error", "error": {"code": "bad-request", "message": str(e)}}
    if not isinstance(req, dict) or req.get("op") != "decide" or "domain" not in req:
        return {"status": "error", "error": {"code": "bad-request", "message": "want op decide"}}
    d = str(req["domain"])
    if d == "plain.test":
        return {"status": "ok", "decision": {
            "domain": d, "action": "opportunistic", "postfix": "NOTFOUND "}}
    return {"status": "ok", "decision": {
        "domain": d, "action": "require-tls",
        "postfix": f"OK secure match=.{d} servername=hostname"}}


class JsonHandler(socketserver.BaseRequestHandler):
    def answer(self, conn, line: bytes):
        if not line.strip():
            return
        out = json.dumps(json_reply(line), separators=(",", ":"))
        log(sock="json", conn=conn, event="reply", line=out)
        self.request.sendall(out.encode() + b"\n")

    def handle(self):
        conn = next_conn()
        buf = b""
        try:
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    log(sock="json", conn=conn, event="eof")
                    self.answer(conn, buf)  # a last request without newline
                    break
                log(sock="json", conn=conn, event="data",
                    bytes=chunk.decode("utf-8", "backslashreplace"))
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    self.answer(conn, line)
        finally:
            log(sock="json", conn=conn, event="close")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    global log_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--socketmap", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pid-file")
    a = ap.parse_args()
    log_file = open(a.log, "a", encoding="utf-8")
    servers = []
    for path, handler in ((a.socketmap, SocketmapHandler), (a.json, JsonHandler)):
        if os.path.exists(path):
            os.unlink(path)
        s = Server(path, handler)
        os.chmod(path, 0o666)  # Exim and Postfix may query as another user
        servers.append((path, s))
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")

    def stop(_sig, _frame):
        for path, s in servers:
            try:
                os.unlink(path)
            except OSError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _, s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0][1].serve_forever()


if __name__ == "__main__":
    main()
