#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The HTTPS report receiver of the integration test world (Python 3 stdlib only).

    https_sink.py --port PORT --cert PEM --key KEY --log FILE [--host 127.0.0.1]

Serves HTTPS (TLS 1.2+, ALPN http/1.1, HTTP/1.1 keep-alive) on HOST:PORT with the given
certificate chain (the world uses a leaf of its test CA for reports.test). Answers by path,
ignoring any query string:

    POST /ok        200
    POST /created   201
    POST /fail      500
    POST /redirect  302, Location: /ok
    POST /flaky     500 for the first POST to /flaky since the sink started, 200 after that
    any other method on those paths: 405 (Allow: POST); any other path: 404

Every request that reaches a handler is appended to FILE as one JSON line, BEFORE the response
is sent (a client that has its answer finds its request in the log):

    {"method", "path" (as sent, with query), "content_type", "content_length" (header value as
     an integer, or null), "body_b64" (the body, base64; chunked bodies are de-chunked),
     "body_length", "status", "host", "user_agent", "content_encoding"}

A one-line log per request goes to stderr.
"""
import argparse
import base64
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ROUTES = {"/ok": 200, "/created": 201, "/fail": 500, "/redirect": 302, "/flaky": None}
MAX_BODY = 64 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tlspolicy-test-https-sink"
    sys_version = ""
    timeout = 60

    def setup(self):
        # TLS handshake here, in the connection's own thread, not in the accept loop.
        self.request.settimeout(self.timeout)
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        sys.stderr.write("https_sink: %s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts, total = [], 0
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    break
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("chunked body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)  # CRLF after the chunk
            return b"".join(parts)
        n = self.content_length()
        if not n:
            return b""
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def content_length(self):
        v = self.headers.get("Content-Length")
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    def dispatch(self):
        body = self.read_body()
        route = urlsplit(self.path).path
        headers = {}
        if route not in ROUTES:
            status = 404
        elif self.command != "POST":
            status = 405
            headers["Allow"] = "POST"
        elif route == "/flaky":
            with self.server.lock:
                self.server.flaky_posts += 1
                status = 500 if self.server.flaky_posts == 1 else 200
        else:
            status = ROUTES[route]
        if status == 302:
            headers["Location"] = "/ok"
        entry = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "content_length": self.content_length(),
            "body_b64": base64.b64encode(body).decode("ascii"),
            "body_length": len(body),
            "status": status,
            "host": self.headers.get("Host"),
            "user_agent": self.headers.get("User-Agent"),
            "content_encoding": self.headers.get("Content-Encoding"),
        }
        line = json.dumps(entry) + "\n"
        with self.server.lock:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
        payload = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        # SSLEOFError: e.g. world_start's handshake-only check
        what = "closed without a request" if isinstance(exc, ssl.SSLEOFError) else repr(exc)
        sys.stderr.write(f"https_sink: {client_address[0]}:{client_address[1]}: {what}\n")
        sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True, help="PEM: leaf followed by its chain")
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True, help="JSON lines, one per request")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(a.cert, a.key)
    tls.set_alpn_protocols(["http/1.1"])
    srv = Server((a.host, a.port), Handler)
    srv.tls = tls
    srv.lock = threading.Lock()
    srv.flaky_posts = 0
    srv.log_path = a.log
    open(a.log, "a").close()
    sys.stderr.write(f"https_sink: listening on {a.host}:{a.port}, log {a.log}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
