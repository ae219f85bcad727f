#!/usr/bin/env python3
"""The PROXY protocol accepted on listeners (proxy_protocol = { from;
timeout; }), with the real binary over raw sockets. The trusted balancer is
127.0.0.3 (its connections are bound to it); everything else connects from
127.0.0.1, as the harness's own probes do, so that those never spend the
refusal log's budget (10 lines a second per worker). From the trusted source
the header (v1 TCP4/TCP6, v2 IPv4/IPv6/LOCAL; whole, split across writes,
or followed by requests in the same write) names the client that
$remote_addr, the access log and allow/deny see; malformed headers and a
silent client are closed without a response and logged with the real peer
and the reason; a source not in `from` is served as if there were no rule
(its PROXY line is a bad request); the echo protocol behind it never sees
a byte of the header."""

import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader, read_until_close  # noqa: E402
from httpkit import request, status_of  # noqa: E402

TIMEOUT_S = 1.0

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/logs/access.log";
    access_log_format = "$$remote_addr $$request_uri $$status";
    proxy_protocol = { from = [ "10.0.0.0/8", "127.0.0.3" ]; timeout = "%dms"; };
    routes = (
      { path = "/private"; allow = [ "192.0.2.0/24" ];
        return = { status = 200; body = "private\\n"; }; },
      { path = "/"; return = { status = 200; body = "hello\\n"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port_echo" ];
    protocol = "echo";
    proxy_protocol = { from = "127.0.0.3"; };
  }
);
""" % int(TIMEOUT_S * 1000)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
BALANCER = "127.0.0.3"

FLUSH = 2.5 * herdtest.SLOW     # the access log is written at least once a second


def v1(src, dst, sport, dport):
    family = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode("ascii")


def v2(src, dst, sport, dport, tlvs=b""):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    block = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
             struct.pack(">HH", sport, dport) + tlvs)
    return V2_SIG + bytes([0x21, 0x21 if fam == socket.AF_INET6 else 0x11]) + \
        struct.pack(">H", len(block)) + block


def v2_local():
    return V2_SIG + bytes([0x20, 0x00, 0x00, 0x00])


def get(path="/", close=True):
    return request("GET", path, close=close)


class ProxyProtocolTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        httpkit.open_up(self.h.dir)
        self.log = os.path.join(httpkit.make_dir(os.path.join(self.h.dir, "logs")),
                                "access.log")
        self.h.start()
        self.port = self.h.port()

    def lb(self, port=None):
        """A connection from the trusted balancer."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socks.append(s)
        s.settimeout(10)
        s.bind((BALANCER, 0))
        s.connect(("127.0.0.1", port or self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def access_line(self, line):
        """Wait for an access log line."""
        want = line.encode("ascii")
        httpkit.wait_file(self.log, lambda d: want in d.split(b"\n"), FLUSH, what=line)

    def exchange(self, data, sock=None):
        """Send data on a new connection; the response to it."""
        s = sock or self.lb()
        s.sendall(data)
        return HttpReader(s).read_response()

    def assert_refused(self, data, why, sock=None, mark=None, logged=True):
        """data from the balancer gets the connection closed without a
        word, and (unless not logged) a log line after mark (taken before
        the connection began) with the reason and the real peer. A test
        checks the log of its first 10 refusals at most: later ones may
        fall to the rate limit."""
        if mark is None:
            mark = self.h.log_mark()
        s = sock or self.lb()
        if data:
            s.sendall(data)
        got, how = read_until_close(s, 10 * herdtest.SLOW)
        self.assertEqual(got, b"")
        self.assertIn(how, ("eof", "reset"))
        if logged:
            self.h.wait_log(r"\[info\].*PROXY protocol header refused: %s; connection "
                            r"closed, client: 127\.0\.0\.3\n" % why, since=mark)

    # -- trusted sources

    def test_v1_tcp4(self):
        r = self.exchange(v1("192.0.2.7", "10.0.0.1", 40000, 80) + get("/v1-tcp4"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello\n")
        self.access_line("192.0.2.7 /v1-tcp4 200")

    def test_v1_tcp6(self):
        r = self.exchange(v1("2001:db8::7", "::1", 40000, 443) + get("/v1-tcp6"))
        self.assertEqual(r.status, 200)
        self.access_line("2001:db8::7 /v1-tcp6 200")

    def test_v2_ipv4(self):
        r = self.exchange(v2("198.51.100.20", "10.0.0.1", 61000, 80) + get("/v2-ipv4"))
        self.assertEqual(r.status, 200)
        self.access_line("198.51.100.20 /v2-ipv4 200")

    def test_v2_ipv6_with_tlvs(self):
        tlvs = b"\x01\x00\x02h2" + b"\xea\x00\x05\x01vpce"
        r = self.exchange(v2("2001:db8::42", "2001:db8::1", 1, 443, tlvs) + get("/v2-ipv6"))
        self.assertEqual(r.status, 200)
        self.access_line("2001:db8::42 /v2-ipv6 200")

    def test_v2_local_keeps_the_real_peer(self):
        r = self.exchange(v2_local() + get("/v2-local"))
        self.assertEqual(r.status, 200)
        self.access_line("127.0.0.3 /v2-local 200")

    def test_v1_unknown_keeps_the_real_peer(self):
        r = self.exchange(b"PROXY UNKNOWN\r\n" + get("/v1-unknown"))
        self.assertEqual(r.status, 200)
        self.access_line("127.0.0.3 /v1-unknown 200")

    def test_header_split_across_writes(self):
        s = self.lb()
        header = v1("192.0.2.9", "10.0.0.1", 1234, 80)
        for piece in (header[:3], header[3:20], header[20:-1]):
            s.sendall(piece)
            time.sleep(0.05)
        s.sendall(header[-1:])
        time.sleep(0.05)
        r = self.exchange(get("/split"), sock=s)
        self.assertEqual(r.status, 200)
        self.access_line("192.0.2.9 /split 200")

    def test_header_and_pipelined_requests_in_one_write(self):
        s = self.lb()
        s.sendall(v2("192.0.2.10", "10.0.0.1", 1, 80) + get("/p1", close=False) +
                  get("/p2", close=False) + get("/p3"))
        rd = HttpReader(s)
        for _ in range(3):
            self.assertEqual(rd.read_response().status, 200)
        for n in (1, 2, 3):
            self.access_line("192.0.2.10 /p%d 200" % n)

    def test_keep_alive_requests_keep_the_headers_peer(self):
        s = self.lb()
        s.sendall(v1("192.0.2.11", "10.0.0.1", 1, 80))
        rd = HttpReader(s)
        for path in ("/k1", "/k2"):
            s.sendall(get(path, close=False))
            self.assertEqual(rd.read_response().status, 200)
            self.access_line("192.0.2.11 %s 200" % path)

    def test_allow_and_deny_see_the_headers_source(self):
        r = self.exchange(v1("192.0.2.50", "10.0.0.1", 1, 80) + get("/private"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"private\n")
        r = self.exchange(v1("198.51.100.50", "10.0.0.1", 1, 80) + get("/private"))
        self.assertEqual(r.status, 403)
        # The real peer (127.0.0.3) is not in the allow list either.
        r = self.exchange(v2_local() + get("/private"))
        self.assertEqual(r.status, 403)
        self.access_line("192.0.2.50 /private 200")
        self.access_line("198.51.100.50 /private 403")

    # -- refusals

    def test_malformed_headers_are_closed_without_a_response(self):
        cases = [
            (get("/"), "not a PROXY protocol header"),
            (b"PROXY TCP4 ::1 ::1 1 2\r\n" + get("/"), "v1: bad source address"),
            (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "v1: bad source address"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "v1: bad source port"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "v1: bad destination port"),
            (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "v1: bad destination address"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: bad destination port"),
            (b"PROXY UNKNOWN " + b"x" * 120, "v1: no CRLF within 107 bytes"),
            (V2_SIG + b"\x11\x11\x00\x0c" + bytes(12), "v2: version is not 2"),
            (V2_SIG + b"\x23\x11\x00\x0c" + bytes(12), "v2: command is neither LOCAL nor PROXY"),
            (V2_SIG + b"\x21\x12\x00\x0c" + bytes(12),
             r"v2: a datagram \(DGRAM\) header on a stream"),
            (V2_SIG + b"\x21\x51\x00\x0c" + bytes(12), "v2: unknown address family"),
            (V2_SIG + b"\x21\x21\x00\x0c" + bytes(12), "v2: length too short for the addresses"),
            (V2_SIG + b"\x21\x11\x00\x10" + bytes(12) + b"\x01\x00\x09x",
             "v2: a TLV runs past the header"),
        ]
        for i, (data, why) in enumerate(cases):
            try:
                self.assert_refused(data, why, logged=i < 10)
            except AssertionError as e:
                raise AssertionError("%r: %s" % (data, e))

    def test_client_closing_early(self):
        mark = self.h.log_mark()
        s = self.lb()
        s.shutdown(socket.SHUT_WR)
        self.assert_refused(b"", "closed before sending a header", sock=s, mark=mark)
        mark = self.h.log_mark()
        s = self.lb()
        s.sendall(b"PROXY TCP4 192.0.2.1 ")
        s.shutdown(socket.SHUT_WR)
        self.assert_refused(b"", "closed in the middle of the header", sock=s, mark=mark)

    def test_silent_client_is_closed_at_the_timeout(self):
        mark = self.h.log_mark()
        s = self.lb()
        t0 = time.monotonic()
        self.assert_refused(b"", "not complete within the timeout", sock=s, mark=mark)
        self.assertGreaterEqual(time.monotonic() - t0, TIMEOUT_S * 0.9)
        # A header begun gets no more time.
        mark = self.h.log_mark()
        s = self.lb()
        t0 = time.monotonic()
        s.sendall(b"PROX")
        self.assert_refused(b"", "not complete within the timeout", sock=s, mark=mark)
        self.assertGreaterEqual(time.monotonic() - t0, TIMEOUT_S * 0.9)

    def test_herd_keeps_serving_after_refusals(self):
        for _ in range(5):
            self.assert_refused(b"HELO\r\n", "not a PROXY protocol header")
        r = self.exchange(v1("192.0.2.12", "10.0.0.1", 1, 80) + get("/after"))
        self.assertEqual(r.status, 200)

    # -- untrusted sources (127.0.0.1)

    def test_untrusted_source_is_served_without_a_header(self):
        r = self.exchange(get("/plain"), sock=self.sock())
        self.assertEqual(r.status, 200)
        self.access_line("127.0.0.1 /plain 200")

    def test_untrusted_sources_proxy_line_is_a_bad_request(self):
        s = self.sock()
        s.sendall(v1("192.0.2.66", "10.0.0.1", 1, 80) + get("/spoofed"))
        data, how = read_until_close(s, 10 * herdtest.SLOW)
        self.assertEqual(status_of(data), 400, data)

        def logged(d):
            return any(ln.startswith(b"127.0.0.1 ") and ln.endswith(b" 400")
                       for ln in d.split(b"\n"))
        text = httpkit.wait_file(self.log, logged, FLUSH, what="the 400 from 127.0.0.1")
        self.assertNotIn(b"192.0.2.66", text)

    # -- another protocol

    def test_echo_behind_it_never_sees_the_header(self):
        port = self.h.port("echo")
        s = self.lb(port)
        s.sendall(v1("192.0.2.1", "10.0.0.1", 1, 7) + b"ping\n")
        self.assertEqual(herdtest.recv_exact(s, 5), b"ping\n")
        s.sendall(b"pong\n")
        self.assertEqual(herdtest.recv_exact(s, 5), b"pong\n")
        s.shutdown(socket.SHUT_WR)
        data, how = read_until_close(s, 10 * herdtest.SLOW)
        self.assertEqual(data, b"")
        # v2 in the same write as the data, and a malformed one.
        s = self.lb(port)
        s.sendall(v2("192.0.2.1", "10.0.0.1", 1, 7) + b"hello\n")
        self.assertEqual(herdtest.recv_exact(s, 6), b"hello\n")
        s = self.lb(port)
        s.sendall(b"ping\n")
        data, how = read_until_close(s, 10 * herdtest.SLOW)
        self.assertEqual(data, b"")
        # And an untrusted client echoes what it sends, PROXY line and all.
        s = self.sock(port)
        line = v1("192.0.2.1", "10.0.0.1", 1, 7)
        s.sendall(line)
        self.assertEqual(herdtest.recv_exact(s, len(line)), line)


if __name__ == "__main__":
    herdtest.main()
