#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal SMTP sink for the integration test world (Python 3 stdlib only).

    smtp_sink.py --port PORT --dir DIR [--host 127.0.0.1] [--hostname sink.test]
    smtp_sink.py --listeners FILE --dir DIR

Listens on HOST:PORT (127.0.0.1 only by default), speaks just enough SMTP for Postfix's and
Exim's smtp clients (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT; PIPELINING, SIZE,
8BITMIME and SMTPUTF8 are advertised, so a client never has to downgrade or bounce a message
for lack of them; parameters on MAIL/RCPT are accepted) and accepts every message.

With --listeners, FILE is a JSON list of receivers, one per MX host of the delivery scenarios:
    {"name": "dane-ok", "host": "127.0.3.1", "port": 2525, "hostname": "mx.example",
     "cert": "PEM chain or null", "key": "PEM key or null", "requiretls": false}
A receiver with a certificate offers STARTTLS (TLS 1.2 or later, that certificate whatever
name the client asks for); one with "requiretls" also offers REQUIRETLS (RFC 8689 §2: only
after STARTTLS). Each receiver stores into DIR/NAME.

Each message is stored as

    DIR/NNNN.eml    the message exactly as received after dot-unstuffing (CRLF line ends as
                    sent, without the terminating "."), NNNN = 0001, 0002, ...
    DIR/NNNN.json   {"mail_from": "...", "rcpt_to": ["..."], "size": <bytes of .eml>,
                     "helo": "...", "mail_params": ["..."], "tls": null or
                     {"version": "TLSv1.3", "sni": "..."}}

Both are written to a *.part file and renamed, the .json last: a reader that sees NNNN.json
knows NNNN.eml is complete. Numbering continues after the highest NNNN already in DIR. Every
session also appends one line to DIR/sessions.jsonl when it ends: {"peer", "tls" (as above),
"messages"}: a client that looked at a receiver's certificate and left shows there.
A one-line log per event goes to stderr.
"""
import argparse
import json
import os
import re
import socketserver
import ssl
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

    def save(self, data, mail_from, rcpt_to, helo, extra):
        with self.lock:
            n = self.next
            self.next += 1
        stem = os.path.join(self.dir, f"{n:04d}")
        with open(stem + ".eml.part", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(stem + ".eml.part", stem + ".eml")
        meta = {"mail_from": mail_from, "rcpt_to": rcpt_to, "size": len(data), "helo": helo,
                **extra}
        with open(stem + ".json.part", "w", encoding="utf-8") as f:
            json.dump(meta, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(stem + ".json.part", stem + ".json")
        return f"{n:04d}"

    def session(self, record):
        with self.lock, open(os.path.join(self.dir, "sessions.jsonl"), "a",
                             encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class Handler(socketserver.StreamRequestHandler):
    timeout = 120  # per read: a stuck client does not hold a thread forever

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def reset(self):
        self.mail_from = None
        self.mail_params = []
        self.rcpt_to = []

    def handle(self):
        srv = self.server
        self.peer = "%s:%d" % self.client_address[:2]
        self.tls = None
        self.messages = 0
        try:
            self.session()
        finally:
            srv.store.session({"peer": self.peer, "tls": self.tls, "messages": self.messages})

    def start_tls(self):
        """STARTTLS: the rest of the session runs over TLS (RFC 3207 §4.2: state reset)."""
        srv = self.server
        self.reply("220 2.0.0 Ready to start TLS")
        sni = []
        ctx = srv.make_tls_context(sni)
        try:
            conn = ctx.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"{self.peer}: TLS handshake failed: {e!r}")
            return False
        self.connection = self.request = conn
        self.rfile = conn.makefile("rb")
        self.wfile = conn.makefile("wb")
        self.tls = {"version": conn.version(), "sni": sni[0] if sni else None}
        self.helo = ""
        self.reset()
        return True

    def session(self):
        srv = self.server
        peer = self.peer
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
                ext = ["PIPELINING", f"SIZE {MAX_SIZE}", "8BITMIME", "SMTPUTF8"]
                if srv.cert and self.tls is None:
                    ext.append("STARTTLS")
                if srv.requiretls and self.tls is not None:
                    ext.append("REQUIRETLS")
                lines = [srv.hostname] + ext
                self.wfile.write("".join(
                    f"250{' ' if i == len(lines) - 1 else '-'}{t}\r\n"
                    for i, t in enumerate(lines)).encode())
                self.wfile.flush()
            elif verb == b"STARTTLS" and srv.cert and self.tls is None:
                if not self.start_tls():
                    return
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
                    self.mail_params = m.group(2).decode(errors="replace").split()
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
                n = srv.store.save(data, self.mail_from, self.rcpt_to, self.helo,
                                   {"mail_params": self.mail_params, "tls": self.tls})
                self.messages += 1
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


def make_server(host, port, directory, hostname, cert=None, key=None, requiretls=False):
    srv = Server((host, port), Handler)
    srv.store = Store(directory)
    srv.hostname = hostname
    srv.cert = cert
    srv.requiretls = requiretls

    def make_tls_context(sni):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)

        def remember_sni(_sock, name, _ctx):
            sni.append(name)  # None: go on with this context

        ctx.sni_callback = remember_sni
        return ctx

    srv.make_tls_context = make_tls_context
    log(f"listening on {host}:{port} as {hostname}"
        f"{', STARTTLS' if cert else ''}{', REQUIRETLS' if requiretls else ''}; "
        f"storing in {directory}")
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int)
    ap.add_argument("--listeners")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--hostname", default="sink.test")
    a = ap.parse_args()
    if (a.port is None) == (a.listeners is None):
        ap.error("give exactly one of --port and --listeners")
    if a.port is not None:
        servers = [make_server(a.host, a.port, a.dir, a.hostname)]
    else:
        with open(a.listeners, encoding="utf-8") as f:
            servers = [make_server(r["host"], r["port"], os.path.join(a.dir, r["name"]),
                                   r["hostname"], r.get("cert"), r.get("key"),
                                   r.get("requiretls", False)) for r in json.load(f)]
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
