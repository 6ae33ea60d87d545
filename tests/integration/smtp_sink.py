#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal SMTP sink for the integration test world (Python 3 stdlib only, no TLS).

    smtp_sink.py --port PORT --dir DIR [--host 127.0.0.1] [--hostname sink.test]

Listens on HOST:PORT (127.0.0.1 only by default), speaks just enough SMTP for Postfix's smtp
client (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT; PIPELINING, SIZE, 8BITMIME and
SMTPUTF8 are advertised, so Postfix never has to downgrade or bounce a message for lack of them;
parameters on MAIL/RCPT are accepted and ignored) and accepts every message. Each
message is stored as

    DIR/NNNN.eml    the message exactly as received after dot-unstuffing (CRLF line ends as
                    sent, without the terminating "."), NNNN = 0001, 0002, ...
    DIR/NNNN.json   {"mail_from": "...", "rcpt_to": ["..."], "size": <bytes of .eml>,
                     "helo": "..."}

Both are written to a *.part file and renamed, the .json last: a reader that sees NNNN.json
knows NNNN.eml is complete. Numbering continues after the highest NNNN already in DIR.
A one-line log per event goes to stderr.
"""
import argparse
import json
import os
import re
import socketserver
import sys
import threading

MAIL_RE = re.compile(rb"^MAIL\s+FROM:\s*(<[^>]*>|\S*)(.*)$", re.I)
RCPT_RE = re.compile(rb"^RCPT\s+TO:\s*(<[^>]*>|\S+)(.*)$", re.I)
MAX_SIZE = 100 * 1024 * 1024


def log(msg):
    sys.stderr.write(f"smtp_sink: {msg}\n")
    sys.stderr.flush()


def addr(raw):
    raw = raw.strip()
    if raw.startswith(b"<") and raw.endswith(b">"):
        raw = raw[1:-1]
    return raw.decode("utf-8", errors="replace")


class Store:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.lock = threading.Lock()
        self.next = 1
        for name in os.listdir(directory):
            m = re.fullmatch(r"(\d+)\.(eml|json)(\.part)?", name)
            if m:
                self.next = max(self.next, int(m.group(1)) + 1)

    def save(self, data, mail_from, rcpt_to, helo):
        with self.lock:
            n = self.next
            self.next += 1
        stem = os.path.join(self.dir, f"{n:04d}")
        with open(stem + ".eml.part", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(stem + ".eml.part", stem + ".eml")
        meta = {"mail_from": mail_from, "rcpt_to": rcpt_to, "size": len(data), "helo": helo}
        with open(stem + ".json.part", "w", encoding="utf-8") as f:
            json.dump(meta, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(stem + ".json.part", stem + ".json")
        return f"{n:04d}"


class Handler(socketserver.StreamRequestHandler):
    timeout = 120  # per read: a stuck client does not hold a thread forever

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def reset(self):
        self.mail_from = None
        self.rcpt_to = []

    def handle(self):
        srv = self.server
        peer = "%s:%d" % self.client_address[:2]
        self.helo = ""
        self.reset()
        self.reply(f"220 {srv.hostname} ESMTP tlspolicy test sink")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd.split(b" ", 1)[0].upper()
            if verb == b"EHLO":
                self.helo = cmd[5:].decode(errors="replace").strip()
                self.reset()
                self.wfile.write(
                    f"250-{srv.hostname}\r\n250-PIPELINING\r\n250-SIZE {MAX_SIZE}\r\n"
                    "250-8BITMIME\r\n250 SMTPUTF8\r\n".encode())
                self.wfile.flush()
            elif verb == b"HELO":
                self.helo = cmd[5:].decode(errors="replace").strip()
                self.reset()
                self.reply(f"250 {srv.hostname}")
            elif verb == b"MAIL":
                m = MAIL_RE.match(cmd)
                if self.mail_from is not None:
                    self.reply("503 5.5.1 Error: nested MAIL command")
                elif not m:
                    self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
                else:
                    self.mail_from = addr(m.group(1))
                    self.reply("250 2.1.0 Ok")
            elif verb == b"RCPT":
                m = RCPT_RE.match(cmd)
                if self.mail_from is None:
                    self.reply("503 5.5.1 Error: need MAIL command")
                elif not m:
                    self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
                else:
                    self.rcpt_to.append(addr(m.group(1)))
                    self.reply("250 2.1.5 Ok")
            elif verb == b"DATA":
                if self.mail_from is None:
                    self.reply("503 5.5.1 Error: need MAIL command")
                    continue
                if not self.rcpt_to:
                    self.reply("554 5.5.1 Error: no valid recipients")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self.read_data()
                if data is None:
                    log(f"{peer}: connection lost during DATA")
                    return
                n = srv.store.save(data, self.mail_from, self.rcpt_to, self.helo)
                log(f"{peer}: stored {n}: from <{self.mail_from}> to "
                    f"{', '.join('<' + r + '>' for r in self.rcpt_to)}, {len(data)} bytes")
                self.reset()
                self.reply(f"250 2.0.0 Ok: queued as {n}")
            elif verb == b"RSET":
                self.reset()
                self.reply("250 2.0.0 Ok")
            elif verb == b"NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == b"VRFY":
                self.reply("252 2.0.0 Cannot VRFY user")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

    def read_data(self):
        """The message up to the line ".", dot-unstuffed; None on EOF."""
        parts = []
        while True:
            line = self.rfile.readline()
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(parts)
            if line.startswith(b"."):
                line = line[1:]
            parts.append(line)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        log(f"{client_address}: {sys.exc_info()[1]!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--hostname", default="sink.test")
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    srv.store = Store(a.dir)
    srv.hostname = a.hostname
    log(f"listening on {a.host}:{a.port}, storing in {a.dir}")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
