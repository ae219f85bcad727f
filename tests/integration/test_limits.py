#!/usr/bin/env python3
"""Strict request parsing and the configurable limits and timeouts of an
HTTP server: every refused request gets its status code and the connection
is closed; limits are decided as early as possible (a too large body before
any of it is sent); deadlines are not extended by a trickling client."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader, read_until_close  # noqa: E402
from httpkit import request  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    max_target = "1k";
    max_header_size = "2k";
    max_headers = 10;
    max_body = "1k";
    keepalive_timeout = "1s";
    body_timeout = "1s";
    header_timeout = "2s";
    routes = ( { path = "/"; return = { body = "ok\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_strict" ];
    keepalive_timeout = 0;
    max_body = 0;
    routes = ( { path = "/"; return = { body = "ok\\n"; }; } );
  }
);
"""

OK = b"ok\n"
CLOSE_WAIT = 3.0 * herdtest.SLOW


class LimitsBase(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF)
        self.port = self.h.port()

    def refused(self, raw, status, what=None):
        """raw is answered with status, and the connection is then closed."""
        s = self.sock()
        s.sendall(raw)
        rd = HttpReader(s)
        try:
            r = rd.read_response()
        except EOFError as e:
            self.fail("%s: closed without a response (%s); sent %r" % (what, e, raw[:200]))
        self.assertEqual(r.status, status, "%s: sent %r, got %r" % (what, raw[:200], r))
        self.assertEqual((r.header("Connection") or "").lower(), "close",
                         "%s: a refused request's answer should say Connection: close" % what)
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual(how, "eof", "%s: connection not closed after %d (%r, then %r)"
                         % (what, status, how, (rd.buf + data)[:200]))
        self.assertEqual(rd.buf + data, b"", "%s: bytes after the %d response" % (what, status))
        return r

    def accepted(self, raw, what=None):
        s = self.sock()
        s.sendall(raw)
        r = HttpReader(s).read_response()
        self.assertEqual((r.status, r.body), (200, OK), "%s: sent %r" % (what, raw[:200]))
        return r


class FramingTest(LimitsBase):

    def test_content_length_with_transfer_encoding(self):
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "CL+TE")
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400, "TE+CL")

    def test_two_content_lengths(self):
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Content-Length: 6\r\n\r\nhello!", 400, "CL 5 and 6")
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Content-Length: 5\r\n\r\nhello", 400, "CL 5 twice")
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
                     400, "CL list")

    def test_malformed_content_length(self):
        for v in (b"+5", b"-5", b"5x", b"0x5", b" ", b"5 5", b"99999999999999999999999"):
            self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + v +
                         b"\r\n\r\nhello", 400, "Content-Length: %r" % v)

    def test_unknown_transfer_encoding(self):
        self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                     501, "TE gzip")

    def test_transfer_encoding_in_http10(self):
        self.refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                     400, "TE in 1.0")

    def test_obs_fold(self):
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400, "obs-fold")
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n", 400,
                     "obs-fold tab")

    def test_space_before_colon(self):
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A : one\r\n\r\n", 400, "space before :")
        self.refused(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "Host space before :")

    def test_missing_host(self):
        self.refused(b"GET / HTTP/1.1\r\n\r\n", 400, "no Host")

    def test_two_hosts(self):
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "two Host")
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", 400, "Host twice")

    def test_bad_host(self):
        for v in (b"a b", b"a/b", b"x:y", b"[::1", b"a@b"):
            self.refused(b"GET / HTTP/1.1\r\nHost: " + v + b"\r\n\r\n", 400, "Host %r" % v)

    def test_http2_version(self):
        self.refused(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0")
        self.refused(b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "HTTP/3.0")

    def test_bad_version(self):
        for v in (b"HTTP/1", b"HTTP/1.1x", b"http/1.1", b"HTTP/0.9", b"HTTP/1.10"):
            self.refused(b"GET / " + v + b"\r\nHost: x\r\n\r\n", 400, "version %r" % v)

    def test_unknown_method(self):
        self.refused(b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "BREW")
        self.refused(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "lower-case get")

    def test_bad_bytes(self):
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "bare CR")
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "NUL in value")
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400, "DEL in value")
        self.refused(b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, "DEL in target")
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-\x01: a\r\n\r\n", 400, "control in name")
        self.refused(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "two spaces")

    def test_nul_and_bad_escape_in_path(self):
        self.refused(request("GET", "/a%00b"), 400, "%00")
        self.refused(request("GET", "/%zz"), 400, "%zz")
        self.refused(request("GET", "/a%4"), 400, "truncated escape")

    def test_well_formed_accepted(self):
        # Controls: the refusals above are not the server refusing everything.
        self.accepted(request("GET", "/"), "plain GET")
        self.accepted(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                      "POST with a body")
        self.accepted(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n\r\n", "chunked POST")
        self.accepted(b"GET / HTTP/1.1\r\nhOsT: x\r\nX-A:  spaced \t\r\n\r\n", "odd case")
        self.accepted(b"GET / HTTP/1.0\r\n\r\n", "1.0 without Host")
        self.accepted(b"GET /a%20b HTTP/1.1\r\nHost: x\r\nUA: \x80\xff\r\n\r\n", "obs-text")


class SizeLimitTest(LimitsBase):

    def test_target_too_long_414(self):
        # max_target = 1k: the target itself may be 1024 bytes.
        self.accepted(request("GET", "/" + "a" * 1023), "target of 1024")
        self.refused(request("GET", "/" + "a" * 1024), 414, "target of 1025")
        self.refused(request("GET", "/" + "a" * 1800), 414, "target of 1801")

    def test_target_too_long_early(self):
        # Decided on the first byte beyond the limit, before the line ends.
        s = self.sock()
        s.sendall(b"GET /" + b"a" * 1500)
        r = HttpReader(s).read_response(timeout=3 * herdtest.SLOW)
        self.assertEqual(r.status, 414)

    def test_head_too_large_431(self):
        # max_header_size = 2k for the request line and fields together.
        pad = "p" * 1900
        self.accepted(request("GET", "/", headers=[("X-Pad", pad)]), "head of ~1.9k")
        self.refused(request("GET", "/", headers=[("X-Pad", "p" * 2100)]), 431, "one long field")
        self.refused(request("GET", "/", headers=[("X-Pad%d" % i, "p" * 300) for i in range(8)]),
                     431, "8 fields of 300")

    def test_head_too_large_without_end(self):
        # A head that never ends is refused once it passes the limit.
        s = self.sock()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 2500)
        r = HttpReader(s).read_response(timeout=3 * herdtest.SLOW)
        self.assertEqual(r.status, 431)

    def test_limits_when_head_arrives_in_pieces(self):
        # The parser resumes where it stopped; the limits must hold across
        # pieces as they do for a head sent at once.
        def pieces(raw, size):
            s = self.sock()
            for i in range(0, len(raw), size):
                try:
                    s.sendall(raw[i:i + size])
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.01)
            return HttpReader(s).read_response(timeout=5 * herdtest.SLOW)
        big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Pad%d: %s\r\n" % (i, b"p" * 200) for i in range(12)) + b"\r\n"
        self.assertEqual(pieces(big, 97).status, 431, "2.5k head in 97-byte pieces")
        many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(12)) + b"\r\n"
        self.assertEqual(pieces(many, 7).status, 431, "13 fields in 7-byte pieces")
        longt = b"GET /" + b"t" * 1100 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        self.assertEqual(pieces(longt, 101).status, 414, "1.1k target in 101-byte pieces")
        ok = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(9)) + b"\r\n"
        r = pieces(ok, 5)
        self.assertEqual((r.status, r.body), (200, OK), "10 fields in 5-byte pieces")

    def test_valid_head_split_anywhere(self):
        raw = b"GET /x HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n"
        for i in range(1, len(raw)):
            s = self.sock()
            s.sendall(raw[:i])
            time.sleep(0.005)
            s.sendall(raw[i:])
            r = HttpReader(s).read_response()
            self.assertEqual((r.status, r.body), (200, OK), "split at %d: %r | %r"
                             % (i, raw[:i], raw[i:]))
            s.close()
        bad = b"GET /x HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n"
        for i in range(1, len(bad)):
            s = self.sock()
            s.sendall(bad[:i])
            time.sleep(0.005)
            try:
                s.sendall(bad[i:])
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = HttpReader(s).read_response()
            self.assertEqual(r.status, 400, "split at %d: %r | %r" % (i, bad[:i], bad[i:]))
            s.close()

    def test_too_many_headers_431(self):
        nine = [("X-H%d" % i, "v") for i in range(9)]       # + Host = 10
        self.accepted(request("GET", "/", headers=nine), "10 fields")
        self.refused(request("GET", "/", headers=nine + [("X-H9", "v")]), 431, "11 fields")
        self.refused(request("GET", "/", headers=[("X-H%d" % i, "v") for i in range(30)]),
                     431, "31 fields")

    def test_body_too_large_decided_before_body(self):
        self.accepted(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" +
                      b"b" * 1024, "a body of 1k")
        s = self.sock()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
        rd = HttpReader(s)
        try:
            r = rd.read_response(timeout=3 * herdtest.SLOW)
        except AssertionError as e:
            self.fail("no answer before the body was sent (%s)" % e)
        self.assertEqual(r.status, 413)
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual(how, "eof", "not closed after 413 (%r)" % how)
        r = self.refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
                         413, "CL 99999999999")

    def test_chunked_body_too_large(self):
        chunks = b"".join(b"100\r\n" + b"c" * 256 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n"
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        s = self.sock()
        s.sendall(raw)
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 413,
                         "a chunked body of 1536 bytes (max_body 1k) was answered: %r" % data[:300])
        self.assertNotIn(b"HTTP/1.1 200", data, "a 200 was sent for the too large body: %r"
                         % data[:300])
        self.assertEqual(how, "eof", "not closed after 413 (%r)" % how)

    def test_chunked_body_too_large_one_chunk(self):
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"800\r\n" + b"c" * 2048 + b"\r\n0\r\n\r\n")
        data, how = httpkit.send_and_read_all(self.port, raw, CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 413, data[:300])
        self.assertNotIn(b"HTTP/1.1 200", data)

    def test_malformed_chunked_body_400(self):
        # A body whose framing is broken is refused, not answered 200 first.
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"zz\r\nhello\r\n0\r\n\r\n")
        data, how = httpkit.send_and_read_all(self.port, raw, CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 400, data[:300])
        self.assertNotIn(b"HTTP/1.1 200", data)
        self.assertEqual(how, "eof")

    def test_chunk_line_grammar(self):
        # RFC 9112 §7.1.1: whitespace only around ";" and "=", never before
        # the CRLF; an extension has a name; a quoted value is closed.
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        for line in (b"5 ", b"5\t", b"5;a ", b"5;a=b ", b"5;", b"5 ; ", b"5;=b", b"5;a=",
                     b"5;a=\"b", b"5;a=b\"c\""):
            data, how = httpkit.send_and_read_all(
                self.port, head + line + b"\r\nhello\r\n0\r\n\r\n", CLOSE_WAIT)
            self.assertEqual(httpkit.status_of(data), 400, "%r: %r" % (line, data[:300]))
            self.assertEqual(how, "eof", line)
        for line in (b"5 ; a = b ; c", b"5;a=\"q;\\\"s\"", b"5\t;\tx"):
            r = httpkit.fetch(self.port, head + line + b"\r\nhello\r\n0\r\n\r\n")
            self.assertEqual((r.status, r.body), (200, OK), line)

    def test_max_body_zero(self):
        port = self.h.port("strict")
        r = httpkit.fetch(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, OK))
        data, how = httpkit.send_and_read_all(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 413, data[:200])
        data, how = httpkit.send_and_read_all(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"1\r\nx\r\n0\r\n\r\n", CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 413, data[:200])
        self.assertNotIn(b"HTTP/1.1 200", data)


class ExpectTest(LimitsBase):

    def test_100_continue(self):
        s = self.sock()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        rd = HttpReader(s)
        r = rd.read_response(timeout=3 * herdtest.SLOW)
        self.assertEqual(r.status, 100, "expected 100 Continue first, got %r" % r)
        self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 100 Continue"), r.raw_head)
        s.sendall(b"hello")
        r = rd.read_response()
        self.assertEqual((r.status, r.body), (200, OK))
        # The connection goes on.
        s.sendall(request("GET", "/"))
        self.assertEqual(rd.read_response().body, OK)

    def test_expect_ignored_in_http10(self):
        # A 1.0 server must ignore 100-continue (RFC 9110 10.1.1).
        s = self.sock()
        s.sendall(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        time.sleep(0.2)
        s.sendall(b"hello")
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 200, data[:200])
        self.assertNotIn(b" 100 Continue", data)

    def test_expect_with_too_large_body(self):
        s = self.sock()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual(httpkit.status_of(data), 413, data[:200])
        self.assertNotIn(b" 100 ", data.split(b"\r\n")[0])


class TimeoutTest(LimitsBase):

    def test_keepalive_timeout(self):
        s = self.sock()
        s.sendall(request("GET", "/"))
        rd = HttpReader(s)
        self.assertEqual(rd.read_response().body, OK)
        t0 = time.monotonic()
        data, how = read_until_close(s, 6 * herdtest.SLOW)
        took = time.monotonic() - t0
        self.assertIn(how, ("eof", "reset"), "idle keep-alive connection still open after "
                      "%.1f s (keepalive_timeout = 1s)" % took)
        self.assertEqual(rd.buf + data, b"")
        self.assertGreater(took, 0.7, "closed %.2f s after the response, before "
                           "keepalive_timeout (1s)" % took)
        self.assertLess(took, 3.0 * herdtest.SLOW, "closed only %.1f s after the response" % took)

    def test_keepalive_off(self):
        # keepalive_timeout = 0: every response says Connection: close.
        s = self.sock(self.h.port("strict"))
        s.sendall(request("GET", "/"))
        rd = HttpReader(s)
        r = rd.read_response()
        self.assertEqual((r.status, r.body), (200, OK))
        self.assertEqual((r.header("Connection") or "").lower(), "close")
        data, how = read_until_close(s, CLOSE_WAIT)
        self.assertEqual((rd.buf + data, how), (b"", "eof"))

    def test_keepalive_timer_rearmed_per_request(self):
        # Requests 0.6 s apart keep the connection: the deadline counts
        # from the last response.
        s = self.sock()
        rd = HttpReader(s)
        for i in range(4):
            s.sendall(request("GET", "/"))
            self.assertEqual(rd.read_response().body, OK, "request %d" % i)
            time.sleep(0.6)

    def test_body_timeout(self):
        s = self.sock()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 10)
        t0 = time.monotonic()
        data, how = read_until_close(s, 6 * herdtest.SLOW)
        took = time.monotonic() - t0
        self.assertIn(how, ("eof", "reset"), "a stalled body kept the connection open %.1f s "
                      "(body_timeout = 1s)" % took)
        self.assertGreater(took, 0.7, "closed after %.2f s, before body_timeout" % took)
        self.assertLess(took, 3.0 * herdtest.SLOW, "closed only after %.1f s" % took)

    def test_body_timeout_between_reads(self):
        # body_timeout is the pause between two reads: a body trickling in
        # faster than that completes.
        s = self.sock()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        rd = HttpReader(s)
        self.assertEqual(rd.read_response().body, OK)
        for b in b"hello":
            time.sleep(0.5)
            s.sendall(bytes([b]))
        s.sendall(request("GET", "/"))
        self.assertEqual(rd.read_response().body, OK)

    def test_header_timeout_silent_connection(self):
        s = self.sock()
        t0 = time.monotonic()
        data, how = read_until_close(s, 4.0 + herdtest.SLOW)
        took = time.monotonic() - t0
        self.assertIn(how, ("eof", "reset"), "a silent connection stayed open %.1f s "
                      "(header_timeout = 2s)" % took)
        self.assertEqual(data, b"", "a connection that sent nothing gets no answer")
        self.assertGreater(took, 1.5)
        self.assertLess(took, 4.0 * herdtest.SLOW)

    def test_slowloris(self):
        # One byte every 0.5 s: header_timeout (2s) counts from the first
        # byte and is not extended by each one.
        s = self.sock()
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0 = time.monotonic()
        got = b""
        closed_at = None
        for byte in head:
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            s.settimeout(0.5)
            try:
                b = s.recv(4096)
            except socket.timeout:
                if time.monotonic() - t0 > 8 * herdtest.SLOW:
                    break
                continue
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
            got += b
            closed_at = time.monotonic()
            break
        self.assertIsNotNone(closed_at, "a head trickled at 1 byte / 0.5 s was never cut off "
                             "(header_timeout = 2s)")
        took = closed_at - t0
        herdtest.diag("trickling client cut off after %.2f s with %r" % (took, got[:40]))
        self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 408"), got[:100])
        self.assertGreater(took, 1.5, "cut off before header_timeout")
        self.assertLess(took, 3.0 * herdtest.SLOW,
                        "cut off only after %.1f s: is the deadline re-armed per byte?" % took)

    def test_header_timeout_on_keep_alive_counts_from_first_byte(self):
        # On a keep-alive connection the head deadline starts with the first
        # byte of the next request, not with the previous response.
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(request("GET", "/"))
        self.assertEqual(rd.read_response().body, OK)
        time.sleep(0.5)
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHo")
        data, how = read_until_close(s, 6 * herdtest.SLOW)
        took = time.monotonic() - t0
        self.assertIn(how, ("eof", "reset"), "partial head still open after %.1f s" % took)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data[:100])
        self.assertGreater(took, 1.5, "cut off %.2f s after the head began (header_timeout 2s)"
                           % took)
        self.assertLess(took, 3.5 * herdtest.SLOW)


class FullBufferChunkedTest(herdtest.HerdTestCase):
    """A chunked request whose head fills the whole input buffer (16 KiB, the
    default max_header_size) still gets its body read and an answer."""

    def test_head_of_exactly_16k(self):
        h = self.herd(herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ]; body_timeout = "5s";
  routes = ( { path = "/"; return = { status = 200; body = "ok\\n"; }; } ); } );
""")
        for total in (16384, 16000):
            base = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Pad: "
            head = base + b"a" * (total - len(base) - 4) + b"\r\n\r\n"
            self.assertEqual(len(head), total)
            s = herdtest.connect(h.port())
            try:
                s.sendall(head)
                time.sleep(0.2)
                s.sendall(b"3\r\nabc\r\n0\r\n\r\n")
                r = HttpReader(s, timeout=3.0).read_response()
                self.assertEqual((r.status, r.body), (200, b"ok\n"), "head of %d bytes" % total)
            finally:
                s.close()


if __name__ == "__main__":
    herdtest.main()
