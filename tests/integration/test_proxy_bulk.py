#!/usr/bin/env python3
"""Large bodies through the HTTP reverse proxy, against a backend started
here on a free port (threaded, standard library only).

What is measured:
- 1 GiB downloaded through herd (Content-Length) and 1 GiB uploaded
  through it (chunked from the client, re-chunked by herd), each checked
  by sha256 on the far side, the test streaming both (never holding 1 GiB),
  and the worker's RSS growth under twice its configured buffers;
- buffering = true: no byte reaches the client while the last byte of the
  response is still to come from the upstream, then all of it does; the
  1 GiB download goes through a buffering route whose buffer_size it
  exceeds (streamed from there, memory still bounded)."""

import fcntl
import hashlib
import os
import select
import socket
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
BLOCK = hashlib.sha256(b"herd bulk").digest() * (MIB // 32)     # 1 MiB
_expected = {}


def expected_sha(size):
    """sha256 of `size` bytes of BLOCK repeated (computed once)."""
    if size not in _expected:
        h = hashlib.sha256()
        for _ in range(size // MIB):
            h.update(BLOCK)
        _expected[size] = h.hexdigest()
    return _expected[size]


def conf(buffering="", workers=1):
    return herdtest.top(workers) + """
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%%d"; } );
                keepalive = 4; } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    max_body = "2g";
    routes = (
      { path = "/"; proxy = { upstream = "app"; read_timeout = "30s"; }; },
      { path = "/buffered/"; proxy = { upstream = "app"; read_timeout = "30s"; %s }; }
    );
  }
);
""" % buffering


class BulkBackend:
    """GET .../SIZE: SIZE bytes of BLOCK repeated, with Content-Length;
    GET .../hold/SIZE: the same, but the last byte waits for `release`
    (`held` is set once all the others are written).
    POST: the body (chunked or Content-Length) hashed as it arrives;
    answered "sha n"."""

    def __init__(self):
        self.port = herdtest.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.held = threading.Event()
        self.release = threading.Event()
        self.conn = None
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        r = c.makefile("rb", buffering=MIB)
        try:
            while True:
                line = r.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                fields = {}
                while True:
                    ln = r.readline()
                    if ln in (b"\r\n", b"\n", b""):
                        break
                    k, v = ln.decode("latin-1").split(":", 1)
                    fields[k.strip().lower()] = v.strip()
                if method == "GET":
                    self._download(c, int(target.rsplit("/", 1)[1]), "/hold/" in target)
                else:
                    sha, n = self._upload(r, fields)
                    body = ("%s %d" % (sha, n)).encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        finally:
            r.close()
            c.close()

    def _download(self, c, size, hold):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        view = memoryview(BLOCK)
        sent = 0
        end = size - 1 if hold else size
        while sent < end:
            n = min(MIB, end - sent)
            c.sendall(view[:n])
            sent += n
        if hold:
            self.conn = c
            self.held.set()
            self.release.wait(60)
            c.sendall(view[(size - 1) % MIB:(size - 1) % MIB + 1])

    @staticmethod
    def _upload(r, fields):
        h = hashlib.sha256()
        n = 0
        if fields.get("transfer-encoding") != "chunked":
            left = int(fields.get("content-length", "0"))
            while left:
                b = r.read(min(left, MIB))
                h.update(b)
                left -= len(b)
                n += len(b)
            return h.hexdigest(), n
        while True:
            size = int(r.readline().split(b";")[0], 16)
            if size == 0:
                r.readline()
                return h.hexdigest(), n
            h.update(r.read(size))
            n += size
            r.readline()


def read_head(s, timeout):
    """The response head from socket s: (status, {field: value}, rest)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("closed before a response head: %r" % buf)
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        fields[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), fields, rest


def download(port, path, timeout=60):
    """GET path: (status, sha256 of the body, body length), streamed."""
    s = herdtest.connect(port, timeout=timeout)
    try:
        s.sendall(herdtest.http_request("GET", path))
        status, fields, rest = read_head(s, timeout)
        size = int(fields["content-length"])
        h = hashlib.sha256(rest)
        got = len(rest)
        buf = bytearray(MIB)
        view = memoryview(buf)
        s.settimeout(timeout)
        while got < size:
            n = s.recv_into(buf, min(MIB, size - got))
            if n == 0:
                break
            h.update(view[:n])
            got += n
        return status, h.hexdigest(), got
    finally:
        s.close()


class ProxyBulkTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        self.b = BulkBackend()
        self.addCleanup(self.b.stop)

    def start(self, buffering=""):
        h = self.herd(conf(buffering) % self.b.port)
        worker = h.worker_pids()[0]
        # Warm up: the first exchange's buffers and pools are not growth.
        self.assertEqual(download(h.port(), "/buffered/%d" % (2 * MIB))[0], 200)
        self.assertEqual(download(h.port(), "/%d" % (2 * MIB))[0], 200)
        return h, worker

    def test_1gib_download_bounded_memory(self):
        # Through a buffering route whose buffer_size (1 MiB) the response
        # exceeds: held up to 1 MiB, then streamed. Its configured buffers:
        # the upstream's input (buffer_size) and the client's output, which
        # takes what was held at once (buffer_size).
        h, worker = self.start('buffering = true; buffer_size = "1m";')
        rss0 = herdtest.rss_kb(worker)
        t0 = time.monotonic()
        status, sha, n = download(h.port(), "/buffered/%d" % GIB, timeout=120)
        took = time.monotonic() - t0
        growth = herdtest.rss_kb(worker) - rss0
        herdtest.diag("1 GiB downloaded in %.1f s; worker RSS growth %d KiB" % (took, growth))
        self.assertEqual((status, n), (200, GIB))
        self.assertEqual(sha, expected_sha(GIB))
        herdtest.assert_rss_growth(self, growth, 2 * (2 * 1024), "1 GiB downloaded")

    def test_1gib_chunked_upload_bounded_memory(self):
        # Streamed (buffering off): the configured buffers are the four of
        # the two connections (16 KiB each) and the client's output up to
        # its high-water mark (64 KiB); 2 MiB leaves room for the
        # allocator while a body held whole would be 1 GiB.
        h, worker = self.start()
        rss0 = herdtest.rss_kb(worker)
        t0 = time.monotonic()
        s = herdtest.connect(h.port(), timeout=120)
        try:
            s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            frame = b"%x\r\n" % MIB + BLOCK + b"\r\n"
            for _ in range(GIB // MIB):
                s.sendall(frame)
            s.sendall(b"0\r\n\r\n")
            status, fields, rest = read_head(s, 120)
            body = rest
            while len(body) < int(fields["content-length"]):
                body += s.recv(65536)
        finally:
            s.close()
        took = time.monotonic() - t0
        growth = herdtest.rss_kb(worker) - rss0
        herdtest.diag("1 GiB uploaded in %.1f s; worker RSS growth %d KiB" % (took, growth))
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), "%s %d" % (expected_sha(GIB), GIB))
        herdtest.assert_rss_growth(self, growth, 2 * 1024, "1 GiB uploaded")

    def test_buffering_sends_nothing_before_the_whole_response(self):
        size = 4 * MIB
        h = self.herd(conf('buffering = true; buffer_size = "8m";') % self.b.port)
        s = herdtest.connect(h.port(), timeout=60)
        try:
            s.sendall(herdtest.http_request("GET", "/buffered/hold/%d" % size))
            herdtest.wait_for(self.b.held.is_set, 30, what="all but the last byte written")
            # herd's side of the upstream connection has taken every byte
            # the backend wrote (its send queue is empty) ...
            herdtest.wait_for(lambda: fcntl.ioctl(self.b.conn.fileno(), termios.TIOCOUTQ,
                                                  b"\0\0\0\0") == b"\0\0\0\0", 30,
                              what="the backend's send queue drained")
            # ... and the client gets none of it while the last byte is missing.
            readable, _, _ = select.select([s], [], [], 0.5)
            self.assertEqual(readable, [], "a byte reached the client before the whole response")
            self.b.release.set()
            status, fields, rest = read_head(s, 30)
            self.assertEqual(status, 200)
            self.assertEqual(fields["content-length"], str(size))
            sha = hashlib.sha256(rest)
            got = len(rest)
            while got < size:
                chunk = s.recv(MIB)
                self.assertTrue(chunk, "closed after %d bytes" % got)
                sha.update(chunk)
                got += len(chunk)
        finally:
            self.b.release.set()
            s.close()
        self.assertEqual(sha.hexdigest(), expected_sha(size))


if __name__ == "__main__":
    herdtest.main()
