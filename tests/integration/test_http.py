#!/usr/bin/env python3
"""HTTP/1.1 served by herd: routes, framing, keep-alive, pipelining, errors,
timeouts."""

import calendar
import http.client
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HttpReader, http_request, read_until_close  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";
    routes = (
      { path = "/hello"; exact = true;
        return = { status = 200; type = "text/plain"; body = "Hello, world!\\n"; }; },
      { path = "/api"; return = { status = 200; type = "application/json"; body = "{\\"api\\": 1}\\n"; }; },
      { path = "/api/v2"; return = { status = 200; type = "application/json"; body = "{\\"api\\": 2}\\n"; }; },
      { path = "/old"; return = { status = 301; location = "http://example.com/new"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port_ka5" ];
    protocol = "http";
    keepalive_requests = 5;
    routes = ( { path = "/"; return = { status = 200; body = "five\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_slow" ];
    protocol = "http";
    header_timeout = "1s";
    keepalive_timeout = "1s";
    routes = ( { path = "/"; return = { status = 200; body = "slow\\n"; }; } );
  }
);
"""

HELLO = b"Hello, world!\n"
API1 = b'{"api": 1}\n'
API2 = b'{"api": 2}\n'
IMF_FIXDATE = (r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
               r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
               r"\d{2}:\d{2}:\d{2} GMT$")


class HttpTest(unittest.TestCase):
    """One herd for the whole class (it is only read from)."""

    @classmethod
    def setUpClass(cls):
        cls.h = herdtest.Herd(CONF)
        try:
            cls.h.start()
        except BaseException:
            cls.h.stop()
            raise
        cls.port = cls.h.port()

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def setUp(self):
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        # The server must have survived whatever the test sent.
        self.assertTrue(self.h.alive(), "herd died:\n" + self.h.log_tail())

    def sock(self, port=None):
        s = herdtest.connect(port or self.port)
        self.socks.append(s)
        return s

    def exchange(self, raw, port=None, head_only=False):
        s = self.sock(port)
        s.sendall(raw)
        r = HttpReader(s).read_response(head_only=head_only)
        return s, r

    def assert_open(self, s, reader=None):
        """The connection still answers a request."""
        s.sendall(http_request("GET", "/hello"))
        r = (reader or HttpReader(s)).read_response()
        self.assertEqual((r.status, r.body), (200, HELLO))

    def assert_closed(self, s, timeout=3.0):
        data, how = read_until_close(s, timeout)
        self.assertEqual(how, "eof", "the server should close the connection (got %r after %r)"
                         % (how, data[:200]))
        return data

    # ------------------------------------------------------------ routes

    def test_hello(self):
        s, r = self.exchange(http_request("GET", "/hello"))
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, HELLO)
        self.assertEqual(r.header("Content-Length"), str(len(HELLO)))
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertTrue(r.header("Server"), "no Server header")
        date = r.header("Date")
        self.assertIsNotNone(date, "no Date header")
        self.assertRegex(date, IMF_FIXDATE)
        when = calendar.timegm(time.strptime(date, "%a, %d %b %Y %H:%M:%S GMT"))
        self.assertLess(abs(when - time.time()), 5, "Date %r is not now" % date)
        self.assertEqual(len(r.header_all("Content-Length")), 1)
        self.assertEqual(len(r.header_all("Date")), 1)

    def test_hello_http_client(self):
        status, headers, body = herdtest.get(self.port, "/hello")
        self.assertEqual((status, body), (200, HELLO))
        self.assertEqual(headers.get("content-length"), "14")

    def test_exact_route_does_not_match_below(self):
        for path in ("/hello/x", "/hello/", "/hellox"):
            s, r = self.exchange(http_request("GET", path))
            self.assertEqual(r.status, 404, path)

    def test_longest_prefix_wins(self):
        for path, body in (("/api", API1), ("/api/x", API1), ("/api/v2", API2),
                           ("/api/v2/users/7", API2), ("/api/v2?x=1", API2), ("/api?q", API1)):
            s, r = self.exchange(http_request("GET", path))
            self.assertEqual((r.status, r.body), (200, body), path)
            self.assertEqual(r.header("Content-Type"), "application/json")

    def test_redirect(self):
        s, r = self.exchange(http_request("GET", "/old"))
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "http://example.com/new")
        self.assertIsNotNone(r.header("Content-Length"))
        self.assert_open(s)

    def test_not_found_keeps_alive(self):
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(http_request("GET", "/nope"))
        r = rd.read_response()
        self.assertEqual(r.status, 404)
        self.assertNotEqual((r.header("Connection") or "").lower(), "close")
        self.assert_open(s, rd)

    def test_head(self):
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(http_request("HEAD", "/hello"))
        r = rd.read_response(head_only=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(HELLO)))
        # No body: the next response starts right after the head.
        time.sleep(0.1)
        s.sendall(http_request("GET", "/api"))
        r2 = rd.read_response()
        self.assertEqual((r2.status, r2.body), (200, API1))
        self.assertEqual(rd.buf, b"")

    # -------------------------------------------------------- keep-alive

    def test_keep_alive_100_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.connect()
            first = conn.sock
            local = first.getsockname()
            for i in range(100):
                conn.request("GET", "/hello" if i % 2 == 0 else "/api/v2/%d" % i)
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200, "request %d" % i)
                self.assertEqual(body, HELLO if i % 2 == 0 else API2)
                self.assertFalse(r.will_close, "request %d: server asked to close" % i)
                self.assertIs(conn.sock, first, "request %d went on a new connection" % i)
                self.assertEqual(conn.sock.getsockname(), local)
        finally:
            conn.close()

    def test_pipelined_16_in_one_send(self):
        paths = ["/hello", "/api/x", "/api/v2/y", "/nope"] * 4
        want = {"/hello": (200, HELLO), "/api/x": (200, API1), "/api/v2/y": (200, API2),
                "/nope": (404, None)}
        s = self.sock()
        s.sendall(b"".join(http_request("GET", p) for p in paths))
        rd = HttpReader(s)
        for i, p in enumerate(paths):
            r = rd.read_response()
            status, body = want[p]
            self.assertEqual(r.status, status, "response %d (%s)" % (i, p))
            if body is not None:
                self.assertEqual(r.body, body, "response %d (%s)" % (i, p))
        self.assertEqual(rd.buf, b"", "bytes beyond the 16 responses")
        # Answered as one batch: a handful of reads at most (TCP may split).
        herdtest.diag("16 pipelined responses arrived in %d reads" % rd.reads)
        self.assertLessEqual(rd.reads, 4, "16 pipelined responses took %d reads" % rd.reads)
        self.assert_open(s, rd)

    def test_pipelined_many_with_back_pressure(self):
        # Far more responses than one output buffer holds: the server stops
        # parsing at its high-water mark and resumes as the client reads.
        # (999: keepalive_requests is 1000 by default.)
        n = 999
        paths = ["/hello", "/api/v2/z", "/nope"]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.connect(("127.0.0.1", self.port))
        self.socks.append(s)
        payload = b"".join(http_request("GET", paths[i % 3]) for i in range(n))
        errors = []

        def send():
            try:
                s.sendall(payload)
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=send)
        t.start()
        time.sleep(0.3)     # let the output back up before reading
        try:
            rd = HttpReader(s, timeout=20)
            for i in range(n):
                r = rd.read_response()
                want = (200, HELLO) if i % 3 == 0 else (200, API2) if i % 3 == 1 else (404, None)
                self.assertEqual(r.status, want[0], "response %d" % i)
                if want[1] is not None:
                    self.assertEqual(r.body, want[1], "response %d" % i)
        finally:
            t.join(20)
        self.assertEqual(errors, [])
        self.assert_open(s, rd)

    def test_request_split_into_single_bytes(self):
        s = self.sock()
        raw = http_request("GET", "/api/v2/split", headers=[("X-A", "b")])
        for i in range(len(raw)):
            s.sendall(raw[i:i + 1])
            time.sleep(0.002)
        r = HttpReader(s).read_response()
        self.assertEqual((r.status, r.body), (200, API2))

    def test_limits(self):
        cases = [
            (http_request("GET", "/api/" + "a" * 9000), 414),
            (http_request("GET", "/hello", headers=[("X-Big", "b" * 17000)]), 431),
            (b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
        ]
        for raw, status in cases:
            s, r = self.exchange(raw)
            self.assertEqual(r.status, status, raw[:60])
            self.assert_closed(s)

    def test_malformed_header_400_and_close(self):
        s, r = self.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertEqual((r.header("Connection") or "").lower(), "close")
        self.assert_closed(s)

    def test_body_then_next_request(self):
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(http_request("POST", "/hello", body=b"abcdefghij") +
                  http_request("GET", "/api/v2"))
        r1 = rd.read_response()
        r2 = rd.read_response()
        self.assertEqual((r1.status, r1.body), (200, HELLO))
        self.assertEqual((r2.status, r2.body), (200, API2))
        # Again with the body arriving late, in pieces.
        s.sendall(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nhello")
        r3 = rd.read_response()
        self.assertEqual((r3.status, r3.body), (200, API1))
        time.sleep(0.1)
        s.sendall(b" world")
        time.sleep(0.1)
        s.sendall(b"!" + http_request("GET", "/hello"))
        r4 = rd.read_response()
        self.assertEqual((r4.status, r4.body), (200, HELLO))

    def test_http10_closes(self):
        s, r = self.exchange(http_request("GET", "/hello", version="HTTP/1.0", host=None))
        self.assertEqual((r.status, r.body), (200, HELLO))
        self.assertNotEqual((r.header("Connection") or "").lower(), "keep-alive")
        self.assert_closed(s)

    def test_http10_keep_alive(self):
        s = self.sock()
        rd = HttpReader(s)
        for i in range(3):
            s.sendall(http_request("GET", "/hello", version="HTTP/1.0", host=None,
                                   headers=[("Connection", "keep-alive")]))
            r = rd.read_response()
            self.assertEqual((r.status, r.body), (200, HELLO), "request %d" % i)
            self.assertEqual((r.header("Connection") or "").lower(), "keep-alive",
                             "request %d" % i)

    def test_smuggling_rejected(self):
        # RFC 9112 §6: refused rather than guessed at (DESIGN.md, strict parsing).
        cases = [
            (b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            (b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             b"Content-Length: 6\r\n\r\nhello!", 400),
            (b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
            (b"GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", 400),
            (b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ]
        for raw, status in cases:
            s, r = self.exchange(raw)
            self.assertEqual(r.status, status, raw)
            self.assert_closed(s)

    def test_http11_missing_host(self):
        s, r = self.exchange(http_request("GET", "/hello", host=None))
        self.assertEqual(r.status, 400)

    def test_chunked_body_skipped(self):
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
                  b"Trailer: t\r\n\r\n" + http_request("GET", "/api"))
        r1 = rd.read_response()
        r2 = rd.read_response()
        self.assertEqual((r1.status, r1.body), (200, HELLO))
        self.assertEqual((r2.status, r2.body), (200, API1))
        # Split across writes, cut inside the chunk-size line and the data.
        for piece in (b"POST /api/v2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1",
                      b"0\r\n0123456789abc", b"def\r\n0\r", b"\n\r\n" + http_request("GET", "/hello")):
            s.sendall(piece)
            time.sleep(0.05)
        r3 = rd.read_response()
        r4 = rd.read_response()
        self.assertEqual((r3.status, r3.body), (200, API2))
        self.assertEqual((r4.status, r4.body), (200, HELLO))

    def test_keepalive_requests_limit(self):
        port = self.h.port("ka5")
        s = self.sock(port)
        rd = HttpReader(s)
        for i in range(1, 6):
            s.sendall(http_request("GET", "/"))
            r = rd.read_response()
            self.assertEqual((r.status, r.body), (200, b"five\n"), "request %d" % i)
            conn = (r.header("Connection") or "").lower()
            if i < 5:
                self.assertNotEqual(conn, "close", "request %d of 5" % i)
            else:
                self.assertEqual(conn, "close", "the 5th response must say Connection: close")
        self.assert_closed(s)

    # ---------------------------------------------------------- timeouts

    def test_keepalive_timeout(self):
        s = self.sock(self.h.port("slow"))
        s.sendall(http_request("GET", "/"))
        r = HttpReader(s).read_response()
        self.assertEqual((r.status, r.body), (200, b"slow\n"))
        t0 = time.monotonic()
        data, how = read_until_close(s, 5.0)
        took = time.monotonic() - t0
        self.assertEqual((data, how), (b"", "eof"), "idle keep-alive connection after %.1f s"
                         % took)
        self.assertGreater(took, 0.8)
        self.assertLess(took, 3.0)

    def test_header_timeout(self):
        port = self.h.port("slow")
        s = self.sock(port)
        t0 = time.monotonic()
        s.sendall(b"GET /hel")
        data, how = read_until_close(s, 6.0)
        took = time.monotonic() - t0
        self.assertIn(how, ("eof", "reset"), "connection still open after %.1f s" % took)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"),
                        "expected a 408 or a plain close, got %r" % data[:100])
        self.assertGreater(took, 0.8, "closed before header_timeout (1s)")
        self.assertLess(took, 3.0, "closed %.1f s after the request began (header_timeout 1s)"
                        % took)

    def test_header_timeout_not_reset_per_byte(self):
        port = self.h.port("slow")
        s = self.sock(port)
        request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0 = time.monotonic()
        closed_at = None
        data = b""
        for i, byte in enumerate(request):
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            s.settimeout(0.3)
            try:
                b = s.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
            data += b
            if not b or data:
                closed_at = time.monotonic()
                break
            if time.monotonic() - t0 > 6:
                break
        self.assertIsNotNone(closed_at, "a request trickled at one byte per 0.3 s was never cut "
                             "off (header_timeout = 1s)")
        took = closed_at - t0
        herdtest.diag("trickling client cut off after %.2f s with %r" % (took, data[:40]))
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data[:100])
        self.assertGreater(took, 0.8)
        self.assertLess(took, 2.5, "cut off only after %.1f s: is the deadline re-armed per byte?"
                        % took)


METHODS_CONF = herdtest.top(1) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/form"; methods = [ "POST" ]; return = { body = "posted\\n"; }; },
      { path = "/"; methods = [ "GET" ]; return = { body = "root\\n"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port_any" ];
    routes = ( { path = "/"; return = { body = "any\\n"; }; } );
  }
);
"""


class ServerWideMethodsTest(unittest.TestCase):
    """OPTIONS * asks about the server as a whole; CONNECT asks for a tunnel,
    which herd (not a forward proxy) does not make."""

    def setUp(self):
        self.h = herdtest.Herd(METHODS_CONF)
        self.h.start()
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.h.stop()

    def ask(self, raw, port=None):
        s = herdtest.connect(port or self.h.port())
        self.socks.append(s)
        rd = HttpReader(s)
        s.sendall(raw)
        return s, rd, rd.read_response()

    def assert_still_open(self, s, rd):
        s.sendall(http_request("GET", "/"))
        r = rd.read_response()
        self.assertEqual(r.status, 200, "the connection no longer answers")

    @staticmethod
    def allow(r):
        return [m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()]

    def test_options_star(self):
        s, rd, r = self.ask(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), "0")
        # What the routes take (GET brings HEAD), and OPTIONS itself.
        self.assertEqual(sorted(self.allow(r)), ["GET", "HEAD", "OPTIONS", "POST"], r)
        self.assert_still_open(s, rd)

    def test_options_star_any_method_route(self):
        # A return route without methods takes every method but CONNECT.
        s, rd, r = self.ask(b"OPTIONS * HTTP/1.0\r\n\r\n", port=self.h.port("any"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.allow(r), ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                         "TRACE", "PATCH"])

    def test_star_only_for_options(self):
        for method in (b"GET", b"HEAD", b"POST"):
            s, rd, r = self.ask(method + b" * HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(r.status, 400, method)

    def test_connect_405(self):
        for target in (b"example.com:443", b"127.0.0.1:%d" % self.h.port()):
            s, rd, r = self.ask(b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target +
                                b"\r\n\r\n")
            self.assertEqual(r.status, 405, (target, r))
            self.assertEqual(sorted(self.allow(r)), ["GET", "HEAD", "OPTIONS", "POST"], r)
            self.assertNotIn("CONNECT", self.allow(r))
            self.assert_still_open(s, rd)
        s, rd, r = self.ask(b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                            port=self.h.port("any"))
        self.assertEqual(r.status, 405, r)
        self.assertNotIn("CONNECT", self.allow(r))
        # With a path, the route refuses it: even one that takes any method.
        s, rd, r = self.ask(b"CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n", port=self.h.port("any"))
        self.assertEqual(r.status, 405, r)
        self.assertNotIn("CONNECT", self.allow(r))
        self.assertIn("GET", self.allow(r))


if __name__ == "__main__":
    herdtest.main()
