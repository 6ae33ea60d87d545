#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# DNS on the wire, just enough for fault injection (faults.py): a parser and writer of RFC 1035
# messages (DnsMessage: every RR, names in NS/CNAME/SOA/PTR/MX rdata decompressed, written back
# uncompressed so RRs can be dropped or rewritten) and DnsProxy, a forwarder on 127.0.0.1 (UDP
# and TCP, one port) in front of the world's Unbound that drops, delays or rewrites answers by
# rule. Python 3 standard library only. Not a suite (tests/integration/run skips lib_*).

import socket
import struct
import threading
import time

QR, AA, TC, RD, RA, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0020, 0x0010
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_OPT, T_RRSIG = 1, 2, 5, 6, 12, 15, 16, 41, 46
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 15: "MX", 16: "TXT", 28: "AAAA", 43: "DS",
              46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 52: "TLSA"}


def read_name(msg, off):
    """(the name at OFF in uncompressed wire form, the offset after it in place)."""
    labels, end, jumps = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 64:
                raise ValueError("compression loop")
            continue
        if n == 0:
            if end is None:
                end = off + 1
            break
        labels.append(msg[off + 1:off + 1 + n])
        off += 1 + n
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\0", end


def name_text(wire):
    out, i = [], 0
    while wire[i]:
        out.append(wire[i + 1:i + 1 + wire[i]].decode("ascii", "replace").lower())
        i += 1 + wire[i]
    return ".".join(out)


class DnsMessage:
    """Just enough of RFC 1035: parses every RR (names in NS/CNAME/SOA/PTR/MX rdata
    decompressed) and writes the message back uncompressed, so RRs can be dropped or
    rewritten without breaking compression pointers."""

    def __init__(self, data):
        self.id, self.flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        off = 12
        self.question = []
        for _ in range(qd):
            name, off = read_name(data, off)
            qtype, qclass = struct.unpack("!HH", data[off:off + 4])
            off += 4
            self.question.append((name, qtype, qclass))
        self.sections = [[], [], []]
        for sec, count in enumerate((an, ns, ar)):
            for _ in range(count):
                name, off = read_name(data, off)
                rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
                off += 10
                start, rdata = off, data[off:off + rdlen]
                off += rdlen
                if rtype in (T_NS, T_CNAME, T_PTR):
                    rdata = read_name(data, start)[0]
                elif rtype == T_MX:
                    rdata = data[start:start + 2] + read_name(data, start + 2)[0]
                elif rtype == T_SOA:
                    m, o = read_name(data, start)
                    r, o = read_name(data, o)
                    rdata = m + r + data[o:o + 20]
                self.sections[sec].append([name, rtype, rclass, ttl, rdata])

    def qname(self):
        return name_text(self.question[0][0]) if self.question else ""

    def qtype(self):
        return self.question[0][1] if self.question else 0

    def to_bytes(self):
        out = struct.pack("!HHHHHH", self.id, self.flags, len(self.question),
                          *(len(s) for s in self.sections))
        for name, qtype, qclass in self.question:
            out += name + struct.pack("!HH", qtype, qclass)
        for sec in self.sections:
            for name, rtype, rclass, ttl, rdata in sec:
                out += name + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata
        return out


def error_reply(query, rcode):
    """A header-and-question reply with RCODE to the raw QUERY."""
    m = DnsMessage(query)
    m.flags = (m.flags & (RD | CD)) | QR | RA | rcode
    m.sections = [[], [], []]
    return m.to_bytes()


class DnsProxy:
    """A DNS forwarder on 127.0.0.1 (UDP and TCP, one port) in front of the world's Unbound.
    `rules(qname, qtype)` returns the actions for one query, applied in order:
      ("drop",)            never answer            ("delay", SECONDS)  answer that much later
      ("servfail",)        SERVFAIL, not forwarded ("strip_ad",) / ("set_ad",)  the AD bit
      ("strip_rrsig",)     remove every RRSIG      ("rewrite_a", IP)   every A record's address
      ("ttl", SECONDS)     every TTL (not OPT)
    `seen` counts (qname, type name, action names) of the queries handled."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", int(upstream_port))
        self.rules = lambda qname, qtype: []
        self.seen = {}
        self.lock = threading.Lock()
        self.stopped = False
        for _ in range(50):  # one port number free for both UDP and TCP
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.tcp.listen(64)
        threading.Thread(target=self._udp_loop, daemon=True).start()
        threading.Thread(target=self._tcp_loop, daemon=True).start()

    def server(self):
        return f"127.0.0.1@{self.port}"

    def count(self, pred=lambda qname, qtype, actions: True):
        with self.lock:
            return sum(n for (q, t, a), n in self.seen.items() if pred(q, t, a))

    def close(self):
        self.stopped = True
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass

    # The reply to one raw query, or None (dropped); sleeps for "delay".
    def _answer(self, query, via_tcp):
        try:
            q = DnsMessage(query)
        except (ValueError, IndexError, struct.error):
            return None
        actions = list(self.rules(q.qname(), q.qtype()) or [])
        with self.lock:
            key = (q.qname(), TYPE_NAMES.get(q.qtype(), str(q.qtype())),
                   tuple(a[0] for a in actions))
            self.seen[key] = self.seen.get(key, 0) + 1
        names = [a[0] for a in actions]
        if "drop" in names:
            return None
        if "servfail" in names:
            reply = error_reply(query, 2)
        else:
            reply = self._forward(query, via_tcp)
            if reply is None:
                return None
            try:
                m = DnsMessage(reply)
            except (ValueError, IndexError, struct.error):
                return reply
            for a in actions:
                if a[0] == "strip_ad":
                    m.flags &= ~AD
                elif a[0] == "set_ad":
                    m.flags |= AD
                elif a[0] == "strip_rrsig":
                    m.sections = [[rr for rr in s if rr[1] != T_RRSIG] for s in m.sections]
                elif a[0] == "rewrite_a":
                    for rr in m.sections[0]:
                        if rr[1] == T_A:
                            rr[4] = socket.inet_aton(a[1])
                elif a[0] == "ttl":
                    for s in m.sections:
                        for rr in s:
                            if rr[1] != T_OPT:
                                rr[3] = int(a[1])
            reply = m.to_bytes()
        for a in actions:
            if a[0] == "delay":
                time.sleep(float(a[1]))
        return reply

    def _forward(self, query, via_tcp):
        try:
            if via_tcp:
                with socket.create_connection(self.upstream, timeout=5) as s:
                    s.sendall(struct.pack("!H", len(query)) + query)
                    return recv_tcp_message(s)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(query, self.upstream)
                while True:
                    data = s.recv(65535)
                    if data[:2] == query[:2]:
                        return data
        except OSError:
            return None

    def _udp_loop(self):
        while not self.stopped:
            try:
                query, peer = self.udp.recvfrom(65535)
            except OSError:
                return

            def one(query=query, peer=peer):
                reply = self._answer(query, False)
                if reply is not None and not self.stopped:
                    try:
                        self.udp.sendto(reply, peer)
                    except OSError:
                        pass
            threading.Thread(target=one, daemon=True).start()

    def _tcp_loop(self):
        while not self.stopped:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return

            def one(c=c):
                with c:
                    c.settimeout(30)
                    try:
                        while True:
                            query = recv_tcp_message(c)
                            if query is None:
                                return
                            reply = self._answer(query, True)
                            if reply is None:
                                return
                            c.sendall(struct.pack("!H", len(reply)) + reply)
                    except OSError:
                        return
            threading.Thread(target=one, daemon=True).start()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_tcp_message(s):
    head = recv_exact(s, 2)
    return None if head is None else recv_exact(s, struct.unpack("!H", head)[0])


if __name__ == "__main__":
    import sys
    print("lib_dns.py holds the DNS proxy, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
