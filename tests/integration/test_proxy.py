#!/usr/bin/env python3
"""The HTTP reverse proxy (route handler `proxy`) in front of backends
started here on free ports: a threaded Python HTTP/1.1 backend written
below (it counts accepted connections and requests, echoes the request
head, and has slow, closing, resetting, streaming and malformed endpoints)
and, when installed, gunicorn serving a small WSGI app.

What is measured: requests and bodies carried both ways (20 MiB each way
with equal sha256 and the worker's RSS growth bounded), the upstream
connections 10,000 keep-alive requests open (at most workers x keepalive), an
upstream closing every idle connection never costing a GET a 502, a reset
POST answered 502 and sent once, herd's X-Forwarded-For surviving a
client's Connection header, 504 at read_timeout, 502 on CL+TE, 503 with
every server down, 100-continue and 103, HEAD and HTTP/1.0 clients, a 3:1
weighting over 1000 requests and the access log's upstream variables."""

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

MIB = 1 << 20


def conf(ports, workers=2, keepalive=8, route="", upstream="", server=""):
    """herd on $port proxying / to upstream "app" of these [(port, weight)]."""
    entries = ",\n      ".join('{ address = "127.0.0.1:%d"; weight = %d; }' % pw
                               for pw in ports)
    return herdtest.top(workers) + """
upstreams = (
  { name = "app";
    servers = ( %s );
    keepalive = %d;
    connect_timeout = "2s";
    %s }
);
servers = (
  { listen = [ "127.0.0.1:$port" ];
    max_body = "64m";
    %s
    routes = ( { path = "/"; proxy = { upstream = "app"; %s }; } );
  }
);
""" % (entries, keepalive, upstream, server, route)


def pattern(seed, n):
    block = hashlib.sha256(b"%d" % seed).digest() * 2048     # 64 KiB
    return (block * (n // len(block) + 1))[:n]


class Backend:
    """A threaded HTTP/1.1 server on a free loopback port. Each connection
    is served in its own thread, request after request (keep-alive) unless
    close_after is set (then it closes right after each response, without
    saying so). Counts accepted connections and requests per path."""

    def __init__(self, name="backend", close_after=False):
        self.name = name
        self.close_after = close_after
        self.accepted = 0
        self.hits = {}
        self.lock = threading.Lock()
        self.port = herdtest.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(512)
        self.stopped = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def count(self, path):
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1

    # -- one connection

    def _serve(self, c):
        c.settimeout(60)
        r = c.makefile("rb")
        try:
            while True:
                head = self._read_head(r)
                if head is None:
                    return
                if not self._answer(c, r, head) or self.close_after:
                    return
        except OSError:
            pass
        finally:
            r.close()
            c.close()

    @staticmethod
    def _read_head(r):
        lines = []
        while True:
            line = r.readline(65536)
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                break
            lines.append(line.decode("latin-1").rstrip("\r\n"))
        method, target, _ = lines[0].split(" ", 2)
        fields = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            fields.setdefault(k.strip().lower(), []).append(v.strip())
        return {"method": method, "target": target, "fields": fields,
                "raw": "\r\n".join(lines) + "\r\n\r\n"}

    @staticmethod
    def _read_body(r, head):
        f = head["fields"]
        if "chunked" in f.get("transfer-encoding", [""])[0]:
            h = hashlib.sha256()
            n = 0
            while True:
                size = int(r.readline().split(b";")[0], 16)
                if size == 0:
                    while r.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return h.hexdigest(), n
                left = size
                while left:
                    b = r.read(min(left, 65536))
                    h.update(b)
                    left -= len(b)
                n += size
                r.readline()
        length = int(f.get("content-length", ["0"])[0])
        h = hashlib.sha256()
        left = length
        while left:
            b = r.read(min(left, 65536))
            if not b:
                raise OSError("short body")
            h.update(b)
            left -= len(b)
        return h.hexdigest(), length

    def _websocket(self, c, r, head):
        """A websocket handshake answered 101, then every byte echoed (the
        proxy carries bytes, whatever their framing) until the end."""
        f = head["fields"]
        if f.get("upgrade", [""])[0].lower() != "websocket" or \
                "upgrade" not in f.get("connection", [""])[0].lower():
            self._send(c, "426 Upgrade Required", b"no upgrade\n")
            return True
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n")
        while True:
            b = r.read1(65536)
            if not b:
                return False
            c.sendall(b)

    @staticmethod
    def _send(c, status, body, extra=""):
        c.sendall(("HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n" %
                   (status, len(body), extra)).encode() + body)

    def _answer(self, c, r, head):
        path = head["target"].split("?")[0]
        self.count(path)
        if path == "/reset":
            # Take the request and reset the connection: no response.
            self._read_body(r, head)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        sha, n = self._read_body(r, head)
        if path == "/ws":
            return self._websocket(c, r, head)
        if path == "/slow":
            time.sleep(3)
        if path == "/clte":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            return False
        if path == "/early":
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
        if path == "/big":
            size = 20 * MIB
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            data = pattern(7, size)
            for i in range(0, size, MIB):
                c.sendall(data[i:i + MIB])
            return True
        if path == "/bigchunked":
            data = pattern(8, 20 * MIB)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 100000):
                part = data[i:i + 100000]
                c.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            c.sendall(b"0\r\n\r\n")
            return True
        if path == "/untilclose":
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end")
            return False
        if path == "/nocontent":
            c.sendall(b"HTTP/1.1 204 No Content\r\nX-Seen: 1\r\n\r\n")
            return True
        body = ("%s\n%s\nsha=%s n=%d\n" % (self.name, head["raw"], sha, n)).encode()
        if head["method"] == "HEAD":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            return True
        self._send(c, "200 OK", body, "X-Backend: %s\r\n" % self.name)
        return True


def read_response(rd, head_only=False):
    """The next response from HttpReader rd, its body framed by
    Content-Length or chunked (herdtest's reader knows only the first)."""
    r = rd.read_response(head_only=True)
    if head_only or r.status in (204, 304) or 100 <= r.status < 200:
        return r
    if r.header("transfer-encoding") != "chunked":
        n = int(r.header("content-length"))
        deadline = time.monotonic() + rd.timeout
        while len(rd.buf) < n:
            rd._fill(deadline)
        r.body, rd.buf = rd.buf[:n], rd.buf[n:]
        return r
    deadline = time.monotonic() + rd.timeout
    parts = []
    while True:
        while b"\r\n" not in rd.buf:
            rd._fill(deadline)
        line, _, rd.buf = rd.buf.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        while len(rd.buf) < size + 2:
            rd._fill(deadline)
        parts.append(rd.buf[:size])
        rd.buf = rd.buf[size + 2:]
        if size == 0:
            break
    r.body = b"".join(parts)
    return r


def fetch(port, path, method="GET", headers=(), body=b""):
    """One request on a fresh connection; the response."""
    s = herdtest.connect(port, timeout=60)
    try:
        s.sendall(herdtest.http_request(method, path, headers=headers, body=body))
        return read_response(herdtest.HttpReader(s, 60))
    finally:
        s.close()


class ProxyTest(HerdTestCase):

    def backend(self, name="backend", close_after=False):
        b = Backend(name, close_after)
        self.addCleanup(b.stop)
        return b

    def get(self, port, path, **kw):
        return fetch(port, path, **kw)

    def test_get_post_and_forwarded_headers(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        r = self.get(h.port(), "/echo?x=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-backend"), "backend")
        self.assertIn(b"GET /echo?x=1 HTTP/1.1\r\n", r.body)
        self.assertIn(b"\r\nX-Forwarded-For: 127.0.0.1\r\n", r.body)
        self.assertIn(b"\r\nVia: 1.1 herd\r\n", r.body)
        data = pattern(3, 100000)
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(herdtest.http_request("POST", "/form", body=data))
            r = read_response(herdtest.HttpReader(s, 30))
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertIn(("sha=%s n=%d" % (hashlib.sha256(data).hexdigest(), len(data))).encode(),
                      r.body)
        self.assertIn(b"\r\nContent-Length: 100000\r\n", r.body)

    def test_byte_counters_count_the_clients_bytes_only(self):
        # bytes_in/bytes_out are what clients sent and were sent: the
        # proxy's own traffic with the upstream is not theirs.
        b = self.backend()
        h = self.herd(herdtest.top(1) + """
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%d"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    max_body = "64m";
    routes = ( { path = "/status"; exact = true; status = { format = "json"; }; },
               { path = "/"; proxy = { upstream = "app"; }; } ); }
);
""" % b.port)

        def totals():
            r = fetch(h.port(), "/status")
            self.assertEqual(r.status, 200)
            return json.loads(r.body)["total"]
        before = totals()
        r = fetch(h.port(), "/big")
        self.assertEqual((r.status, len(r.body)), (200, 20 * MIB))
        up = pattern(5, 4 * MIB)
        r = fetch(h.port(), "/up", method="POST", body=up)
        self.assertEqual(r.status, 200)
        # The worker counts as it goes: wait for the download and upload.
        after = herdtest.wait_for(
            lambda: (lambda t: t if t["bytes_out"] - before["bytes_out"] >= 20 * MIB and
                     t["bytes_in"] - before["bytes_in"] >= 4 * MIB else None)(totals()),
            5 * herdtest.SLOW, what="the byte counters")
        got_in = after["bytes_in"] - before["bytes_in"]
        got_out = after["bytes_out"] - before["bytes_out"]
        # Clients sent 4 MiB and some heads, and were sent 20 MiB and some heads.
        self.assertLess(got_in, 4 * MIB + 64 * 1024, (got_in, got_out))
        self.assertLess(got_out, 20 * MIB + 64 * 1024, (got_in, got_out))

    def test_pipelined_requests_answered_in_order(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(b"".join(herdtest.http_request("GET", "/echo?n=%d" % i) for i in range(16)) +
                      herdtest.http_request("POST", "/echo?n=post", body=b"x" * 5000) +
                      herdtest.http_request("GET", "/untilclose"))
            rd = herdtest.HttpReader(s, 30)
            for i in range(16):
                r = read_response(rd)
                self.assertIn(b"GET /echo?n=%d HTTP/1.1" % i, r.body)
            self.assertIn(b"n=5000", read_response(rd).body)
            self.assertEqual(read_response(rd).body, b"to the end")
        finally:
            s.close()

    def test_client_connection_header_cannot_remove_xff(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        r = self.get(h.port(), "/echo", headers=(("Connection", "close, X-Forwarded-For"),
                                                 ("X-Forwarded-For", "6.6.6.6")))
        self.assertEqual(r.status, 200)
        self.assertIn(b"\r\nX-Forwarded-For: 127.0.0.1\r\n", r.body)
        self.assertNotIn(b"6.6.6.6", r.body)

    def keepalive_load(self, port, clients, each):
        """clients threads, each sending `each` requests on one keep-alive
        connection; returns the statuses seen."""
        statuses = []
        lock = threading.Lock()

        def run():
            s = herdtest.connect(port, timeout=30)
            rd = herdtest.HttpReader(s, 30)
            got = []
            try:
                for _ in range(each):
                    s.sendall(herdtest.http_request("GET", "/echo"))
                    got.append(read_response(rd).status)
            finally:
                s.close()
            with lock:
                statuses.extend(got)

        threads = [threading.Thread(target=run) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return statuses

    def test_keepalive_pool_bounds_upstream_connections(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], workers=2, keepalive=4,
                           server="keepalive_requests = 10000;"))
        # 4 clients: no worker has more requests at once than it keeps.
        statuses = self.keepalive_load(h.port(), 4, 2500)
        self.assertEqual(len(statuses), 10000)
        self.assertEqual(set(statuses), {200})
        herdtest.diag("10000 requests, %d upstream connections" % b.accepted)
        self.assertLessEqual(b.accepted, 2 * 4)

    def test_upstream_closing_idle_connections_never_502(self):
        b = self.backend(close_after=True)
        h = self.herd(conf([(b.port, 1)], workers=1, keepalive=4))
        s = herdtest.connect(h.port(), timeout=30)
        rd = herdtest.HttpReader(s, 30)
        statuses = []
        try:
            for _ in range(500):
                s.sendall(herdtest.http_request("GET", "/echo"))
                statuses.append(read_response(rd).status)
        finally:
            s.close()
        self.assertEqual(statuses.count(200), 500, statuses)
        self.assertEqual(b.hits["/echo"], 500)

    def test_reset_post_is_502_and_not_retried(self):
        b = self.backend()
        b2 = self.backend("second")
        h = self.herd(conf([(b.port, 1), (b2.port, 1)], workers=1, route="retries = 3;"))
        r = self.get(h.port(), "/reset", method="POST", body=b"data")
        self.assertEqual(r.status, 502)
        hits = b.hits.get("/reset", 0) + b2.hits.get("/reset", 0)
        self.assertEqual(hits, 1)
        herdtest.wait_for(lambda: "failed before a response" in
                          open(h.error_log, errors="replace").read(), 10, what="the log line")

    def test_read_timeout_is_504(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], route='read_timeout = "300ms";'))
        t0 = time.monotonic()
        r = self.get(h.port(), "/slow")
        self.assertEqual(r.status, 504)
        self.assertLess(time.monotonic() - t0, 2.9)
        herdtest.wait_for(lambda: "read_timeout passed" in
                          open(h.error_log, errors="replace").read(), 10, what="the log line")

    def test_length_with_chunked_is_502(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        r = self.get(h.port(), "/clte")
        self.assertEqual(r.status, 502)
        # The next request still works (a new upstream connection).
        self.assertEqual(self.get(h.port(), "/echo").status, 200)

    def test_every_server_down_is_503(self):
        dead = herdtest.free_port()
        h = self.herd(conf([(dead, 1)], workers=1,
                           upstream='max_fails = 1; fail_timeout = "60s";'))
        self.assertEqual(self.get(h.port(), "/").status, 502)    # refused: marked down
        self.assertEqual(self.get(h.port(), "/").status, 503)    # none left to try
        log = open(h.error_log, errors="replace").read()
        self.assertIn("connect: Connection refused", log)
        self.assertIn("127.0.0.1:%d" % dead, log)

    def test_refused_server_retried_on_the_next(self):
        b = self.backend()
        dead = herdtest.free_port()
        h = self.herd(conf([(dead, 1), (b.port, 1)], workers=1,
                           upstream='max_fails = 0;'))
        for _ in range(10):         # round robin: every other one starts on the dead one
            self.assertEqual(self.get(h.port(), "/echo").status, 200)
        self.assertEqual(b.hits["/echo"], 10)
        self.assertIn("connect: Connection refused", open(h.error_log, errors="replace").read())

    def test_client_gone_mid_response(self):
        # A client that leaves in the middle of a 20 MiB response: the
        # upstream connection is closed (not pooled half-read) and the
        # next requests are served as usual.
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], workers=1, keepalive=2))
        s = herdtest.connect(h.port(), timeout=30)
        s.sendall(herdtest.http_request("GET", "/big"))
        got = 0
        while got < MIB:
            got += len(s.recv(65536))
        s.close()
        for _ in range(20):
            self.assertEqual(self.get(h.port(), "/echo").status, 200)
        statuses = self.keepalive_load(h.port(), 2, 50)
        self.assertEqual(set(statuses), {200})

    def test_20mib_each_way_bounded_memory(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], workers=1))
        worker = h.worker_pids()[0]
        self.assertEqual(self.get(h.port(), "/echo").status, 200)
        rss0 = herdtest.rss_kb(worker)
        for path, seed in (("/big", 7), ("/bigchunked", 8)):
            s = herdtest.connect(h.port(), timeout=60)
            try:
                s.sendall(herdtest.http_request("GET", path))
                r = read_response(herdtest.HttpReader(s, 60))
            finally:
                s.close()
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                             hashlib.sha256(pattern(seed, 20 * MIB)).hexdigest(), path)
        # 20 MiB chunked upload, re-framed upstream in chunks.
        data = pattern(9, 20 * MIB)
        s = herdtest.connect(h.port(), timeout=60)
        try:
            s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 65536):
                part = data[i:i + 65536]
                s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            r = read_response(herdtest.HttpReader(s, 60))
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertIn(("sha=%s n=%d" % (hashlib.sha256(data).hexdigest(), len(data))).encode(),
                      r.body)
        self.assertIn(b"\r\nTransfer-Encoding: chunked\r\n", r.body)
        growth = herdtest.rss_kb(worker) - rss0
        herdtest.diag("worker RSS growth over 60 MiB proxied: %d KiB" % growth)
        herdtest.assert_rss_growth(self, growth, 8 * 1024, "60 MiB proxied")

    def test_100_continue_and_103(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            rd = herdtest.HttpReader(s, 30)
            r = read_response(rd)
            self.assertEqual(r.status, 100)
            s.sendall(b"hello")
            r = read_response(rd)
            self.assertEqual(r.status, 200)
            self.assertNotIn(b"Expect", r.body)
            s.sendall(herdtest.http_request("GET", "/early"))
            r = read_response(rd)
            self.assertEqual(r.status, 103)
            self.assertEqual(r.header("link"), "</s.css>; rel=preload")
            self.assertEqual(read_response(rd).status, 200)
        finally:
            s.close()

    def test_head_204_and_http10(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)]))
        s = herdtest.connect(h.port(), timeout=30)
        try:
            rd = herdtest.HttpReader(s, 30)
            s.sendall(herdtest.http_request("HEAD", "/echo"))
            r = read_response(rd, head_only=True)
            self.assertEqual(r.status, 200)
            self.assertIsNotNone(r.header("content-length"))
            s.sendall(herdtest.http_request("GET", "/nocontent"))
            r = read_response(rd)
            self.assertEqual(r.status, 204)
            self.assertEqual(r.header("x-seen"), "1")
            s.sendall(herdtest.http_request("GET", "/untilclose"))
            r = read_response(rd)
            self.assertEqual(r.header("transfer-encoding"), "chunked")
            self.assertEqual(r.body, b"to the end")
        finally:
            s.close()
        # HTTP/1.0: the same body, ending with the connection.
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(b"GET /untilclose HTTP/1.0\r\n\r\n")
            raw, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual(how, "eof")
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw)
        self.assertNotIn(b"chunked", raw)
        self.assertTrue(raw.endswith(b"\r\n\r\nto the end"), raw)

    def test_weights_3_to_1(self):
        a = self.backend("a")
        b = self.backend("b")
        h = self.herd(conf([(a.port, 3), (b.port, 1)], workers=1))
        s = herdtest.connect(h.port(), timeout=30)
        rd = herdtest.HttpReader(s, 30)
        try:
            for _ in range(1000):
                s.sendall(herdtest.http_request("GET", "/echo"))
                self.assertEqual(read_response(rd).status, 200)
        finally:
            s.close()
        self.assertEqual((a.hits["/echo"], b.hits["/echo"]), (750, 250))

    def test_access_log_upstream_variables(self):
        b = self.backend()
        fmt = ('"$$request_uri $$status $$upstream_addr $$upstream_status '
               '$$upstream_response_time"')
        h = self.herd(conf([(b.port, 1)], workers=1,
                           server='access_log = "$dir/access.log"; access_log_format = %s;'
                           % fmt))
        self.assertEqual(self.get(h.port(), "/echo").status, 200)
        self.assertEqual(self.get(h.port(), "/clte").status, 502)
        path = os.path.join(h.dir, "access.log")

        def lines():
            try:
                return open(path).read().splitlines()
            except OSError:
                return []
        herdtest.wait_for(lambda: len(lines()) >= 2, 10, what="two access-log lines")
        first, second = lines()[:2]
        addr = "127.0.0.1:%d" % b.port
        self.assertRegex(first, r"^/echo 200 %s 200 \d+\.\d{3}$" % addr)
        self.assertRegex(second, r"^/clte 502 %s - \d+\.\d{3}$" % addr)

    def test_websocket_tunnel(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], route='websocket = true; websocket_timeout = "2s";'))
        hs = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(hs.encode())
            rd = herdtest.HttpReader(s, 30)
            r = read_response(rd, head_only=True)
            self.assertEqual(r.status, 101)
            self.assertEqual(r.header("upgrade"), "websocket")
            self.assertEqual(r.header("connection").lower(), "upgrade")
            self.assertEqual(r.header("sec-websocket-accept"), "test")
            buf = rd.buf
            for i in range(1000):
                msg = b"\x81\x05" + (b"%05d" % i)     # a small text frame, echoed
                s.sendall(msg)
                while len(buf) < len(msg):
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "tunnel closed at message %d" % i)
                    buf += chunk
                self.assertEqual(buf[:len(msg)], msg)
                buf = buf[len(msg):]
            # Idle for websocket_timeout: herd closes the tunnel.
            data, how = herdtest.read_until_close(s, 10.0)
            self.assertEqual((data, how), (b"", "eof"))
        finally:
            s.close()
        # Without websocket = true the upgrade is not passed on.
        h2 = self.herd(conf([(b.port, 1)]))
        s = herdtest.connect(h2.port(), timeout=30)
        try:
            s.sendall(hs.encode())
            r = read_response(herdtest.HttpReader(s, 30))
            self.assertEqual(r.status, 426)
        finally:
            s.close()

    @unittest.skipUnless(shutil.which("gunicorn"), "gunicorn is not installed")
    def test_gunicorn(self):
        d = tempfile.mkdtemp(prefix="herd-wsgi-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "app.py"), "w") as f:
            f.write("def app(environ, start_response):\n"
                    "    n = int(environ.get('CONTENT_LENGTH') or 0)\n"
                    "    body = environ['wsgi.input'].read(n)\n"
                    "    out = ('%s %s %d %s' % (environ['REQUEST_METHOD'],\n"
                    "           environ['PATH_INFO'], len(body),\n"
                    "           environ.get('HTTP_X_FORWARDED_FOR'))).encode()\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain'),\n"
                    "                              ('Content-Length', str(len(out)))])\n"
                    "    return [out]\n")
        port = herdtest.free_port()
        g = subprocess.Popen(["gunicorn", "--chdir", d, "-b", "127.0.0.1:%d" % port,
                              "-w", "2", "app:app"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(g.wait)
        self.addCleanup(g.terminate)
        herdtest.wait_for(lambda: herdtest.can_connect(port), 20, what="gunicorn")
        h = self.herd(conf([(port, 1)]))
        for i in range(50):
            r = self.get(h.port(), "/hello")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"GET /hello 0 127.0.0.1")
        s = herdtest.connect(h.port(), timeout=30)
        try:
            s.sendall(herdtest.http_request("POST", "/form", body=b"x" * 1000))
            r = read_response(herdtest.HttpReader(s, 30))
        finally:
            s.close()
        self.assertEqual(r.body, b"POST /form 1000 127.0.0.1")


if __name__ == "__main__":
    herdtest.main()
