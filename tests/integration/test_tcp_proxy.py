#!/usr/bin/env python3
"""The TCP proxy (protocol = "tcp_proxy") in front of real backends started
here on free ports: a real redis-server (redis-cli ping, redis-benchmark
set/get), Python backends (1 MiB each way with equal sha256, 256 MiB each
way at once through the splice path with equal sha256 and the worker's RSS
bounded, half-close, a
refusing first server, every server refusing, the weights' spread over 1000
connections counted by the backends, idle_timeout), a reload while a
proxied connection is open, and send_proxy_protocol: a Python backend
parses the v1/v2 header herd sends first (IPv4 and IPv6 clients, from a
loopback address of their own), and herd's tcp_proxy in front of a second
herd that accepts the header logs the original client."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

MIB = 1 << 20


def conf(servers, workers=2, idle="60s", extra=""):
    """herd in front of one upstream "b" of these servers: [(port, weight)]."""
    entries = ",\n      ".join('{ address = "127.0.0.1:%d"; weight = %d; }' % sw
                               for sw in servers)
    return herdtest.top(workers) + """
upstreams = (
  { name = "b";
    servers = ( %s );
    connect_timeout = "2s";
    %s }
);
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "tcp_proxy";
    upstream = "b";
    idle_timeout = "%s";
  }
);
""" % (entries, extra, idle)


class Backend:
    """A TCP server on a free loopback port; each accepted connection is
    handled by handler(sock, backend) in its own thread. Counts accepts, and
    (served) the connections whose handler saw a client's byte: herd's
    start-up check (the harness connects to each port and closes) is proxied
    here too, and carries none."""

    def __init__(self, handler, name="backend"):
        self.name = name
        self.handler = handler
        self.accepted = 0
        self.served = 0
        self.lock = threading.Lock()
        self.events = []
        self.port = herdtest.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(512)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            self.handler(c, self)
        except OSError as e:
            self.note("error %r" % e)
        finally:
            c.close()

    def count_served(self):
        with self.lock:
            self.served += 1

    def note(self, what):
        with self.lock:
            self.events.append(what)

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def read_to_eof(sock):
    out = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(out)
        out.append(b)


def pattern(seed, n):
    """n bytes that differ with the seed."""
    block = hashlib.sha256(b"%d" % seed).digest() * 2048     # 64 KiB
    return (block * (n // len(block) + 1))[:n]


def send_name(c, backend):
    """The client says "x" first; the answer is the backend's name."""
    if c.recv(1) != b"x":
        return
    backend.count_served()
    c.sendall(backend.name.encode())


def echo_until_eof(c, backend):
    served = False
    while True:
        b = c.recv(65536)
        if not b:
            if served:
                backend.note("eof")
            return
        if not served:
            backend.count_served()
            served = True
        c.sendall(b)


def answer_after_eof(c, backend):
    got = read_to_eof(c)
    if got:
        backend.count_served()
        backend.note("eof")
        c.sendall(b"answer to " + got)


def sha_both_ways(c, backend):
    first = c.recv(65536)
    if not first:
        return
    backend.count_served()
    out = pattern(2, MIB)
    t = threading.Thread(target=c.sendall, args=(out,))
    t.start()
    got = first + read_to_eof(c)
    t.join()
    backend.note(hashlib.sha256(got).hexdigest())


BULK = 256 * MIB
BLOCK = 1 << 16


def stream_out(sock, seed, n):
    """Send n bytes of pattern(seed) (it repeats every 64 KiB) and return
    their sha256."""
    block = pattern(seed, BLOCK)
    h = hashlib.sha256()
    left = n
    while left > 0:
        piece = block[:min(left, BLOCK)]
        sock.sendall(piece)
        h.update(piece)
        left -= len(piece)
    return h.hexdigest()


def hash_to_eof(sock):
    """(bytes, sha256) of what sock reads to its end."""
    h = hashlib.sha256()
    total = 0
    while True:
        b = sock.recv(1 << 20)
        if not b:
            return total, h.hexdigest()
        h.update(b)
        total += len(b)


def bulk_both_ways(c, backend):
    """256 MiB each way at once: the client's bytes hashed, ours sent."""
    first = c.recv(65536)
    if not first:
        return
    backend.count_served()
    c.settimeout(120)
    sent = {}
    t = threading.Thread(target=lambda: (sent.update(sha=stream_out(c, 4, BULK)),
                                         c.shutdown(socket.SHUT_WR)))
    t.start()
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    t.join()
    backend.note((n, h.hexdigest(), sent.get("sha")))


def ask_name(port):
    """Connect through herd, say "x", read the answer until the close."""
    s = herdtest.connect(port)
    try:
        s.sendall(b"x")
        return herdtest.read_until_close(s, 10.0)
    finally:
        s.close()


def refusing_port():
    """A free port nobody listens on: connecting to it is refused."""
    return herdtest.free_port()


class TcpProxyTest(HerdTestCase):

    def backend(self, handler, name="backend"):
        b = Backend(handler, name)
        self.addCleanup(b.stop)
        return b

    def test_1mib_each_way(self):
        b = self.backend(sha_both_ways)
        h = self.herd(conf([(b.port, 1)]))
        data = pattern(1, MIB)
        s = herdtest.connect(h.port(), timeout=30)
        try:
            t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            t.start()
            got = read_to_eof(s)
            t.join()
        finally:
            s.close()
        self.assertEqual(len(got), MIB)
        self.assertEqual(hashlib.sha256(got).hexdigest(),
                         hashlib.sha256(pattern(2, MIB)).hexdigest())
        herdtest.wait_for(lambda: b.events, 10, what="the backend's digest")
        self.assertEqual(b.events, [hashlib.sha256(data).hexdigest()])

    def test_256mib_each_way_spliced(self):
        """Both ways at once, through the splice path: equal sha256, and the
        worker's memory bounded (pipes are kernel memory; no buffer grows
        with the flow)."""
        b = self.backend(bulk_both_ways)
        h = self.herd(conf([(b.port, 1)], workers=1))
        (worker,) = h.wait_workers(1)
        before = herdtest.rss_kb(worker)
        peak = [before]
        s = herdtest.connect(h.port(), timeout=120)
        sent = {}
        try:
            t = threading.Thread(target=lambda: (sent.update(sha=stream_out(s, 3, BULK)),
                                                 s.shutdown(socket.SHUT_WR)))
            t.start()
            hs = hashlib.sha256()
            got = 0
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                hs.update(chunk)
                got += len(chunk)
                if got % (16 * MIB) < len(chunk):
                    peak[0] = max(peak[0], herdtest.rss_kb(worker))
            t.join()
        finally:
            s.close()
        peak[0] = max(peak[0], herdtest.rss_kb(worker))
        herdtest.diag("256 MiB each way: worker RSS %d kB before, peak %d kB" %
                      (before, peak[0]))
        self.assertEqual(got, BULK)
        want = hashlib.sha256()
        block = pattern(4, BLOCK)
        for _ in range(BULK // BLOCK):
            want.update(block)
        self.assertEqual(hs.hexdigest(), want.hexdigest())
        herdtest.wait_for(lambda: b.events, 30, what="the backend's digest")
        # The backend got the client's 256 MiB; it sent what the client got.
        self.assertEqual(b.events, [(BULK, sent["sha"], want.hexdigest())])
        herdtest.assert_rss_growth(self, peak[0] - before, 4 * 1024, "256 MiB each way")

    def test_half_close(self):
        b = self.backend(answer_after_eof)
        h = self.herd(conf([(b.port, 1)]))
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"question")
            s.shutdown(socket.SHUT_WR)
            data, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual((data, how), (b"answer to question", "eof"))
        self.assertEqual(b.events, ["eof"])

    def test_first_server_refuses_the_second_serves(self):
        b = self.backend(send_name, "second")
        closed = refusing_port()
        h = self.herd(conf([(closed, 1), (b.port, 1)], workers=1))
        for _ in range(3):
            self.assertEqual(ask_name(h.port()), (b"second", "eof"))
        self.assertEqual(b.served, 3)
        h.wait_log(r"connect to 127\.0\.0\.1:%d \(upstream 'b'\): Connection refused" % closed)

    def test_every_server_refuses(self):
        ports = [refusing_port(), refusing_port()]
        h = self.herd(conf([(p, 1) for p in ports], workers=1))
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"anyone?")
            data, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual(data, b"")
        self.assertIn(how, ("eof", "reset"))
        h.wait_log(r"tcp_proxy: no server of upstream 'b' for the client: Connection refused, "
                   r"client: 127\.0\.0\.1:\d+")
        # Both were marked down: the next client is refused without a try.
        s = herdtest.connect(h.port())
        try:
            data, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual(data, b"")
        h.wait_log(r"no server of upstream 'b' for the client: every server is down")

    def test_weights_spread_over_1000_connections(self):
        a = self.backend(send_name, "a")
        b = self.backend(send_name, "b")
        h = self.herd(conf([(a.port, 3), (b.port, 1)], workers=2))
        n = 1000
        for _ in range(n):
            data, how = ask_name(h.port())
            self.assertIn(data, (b"a", b"b"))
        herdtest.diag("backends served a=%d b=%d" % (a.served, b.served))
        self.assertEqual(a.served + b.served, n)
        self.assertLessEqual(abs(a.served - 750), n // 100)
        self.assertLessEqual(abs(b.served - 250), n // 100)

    def test_idle_timeout_closes_both_sides(self):
        b = self.backend(echo_until_eof)
        h = self.herd(conf([(b.port, 1)], idle="1s"))
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"ping")
            self.assertEqual(herdtest.recv_exact(s, 4), b"ping")
            t0 = time.monotonic()
            data, how = herdtest.read_until_close(s, 10.0)
            took = time.monotonic() - t0
        finally:
            s.close()
        herdtest.diag("idle proxied connection closed after %.2f s (%s)" % (took, how))
        self.assertEqual(data, b"")
        self.assertIn(how, ("eof", "reset"))
        self.assertGreater(took, 0.8, "closed before idle_timeout")
        self.assertLess(took, 5.0)
        herdtest.wait_for(lambda: "eof" in b.events, 5, what="the backend's end")

    def test_reload_keeps_an_open_connection(self):
        b = self.backend(echo_until_eof)
        h = self.herd(conf([(b.port, 1)], workers=1))
        (old,) = h.wait_workers(1)
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"before")
            self.assertEqual(herdtest.recv_exact(s, 6), b"before")
            mark = h.log_mark()
            h.signal(signal.SIGHUP)
            h.wait_log(r"generation 2 serving", timeout=10, since=mark)
            new = [p for p in h.wait_workers(2, timeout=10) if p != old][0]
            # The old worker runs on for its connection, which still works.
            for i in range(5):
                msg = b"after %d" % i
                s.sendall(msg)
                self.assertEqual(herdtest.recv_exact(s, len(msg)), msg)
            self.assertTrue(herdtest.pid_alive(old))
            # New connections go to the new generation.
            t = herdtest.connect(h.port())
            t.sendall(b"new")
            self.assertEqual(herdtest.recv_exact(t, 3), b"new")
            t.close()
            s.shutdown(socket.SHUT_WR)
            data, how = herdtest.read_until_close(s, 10.0)
            self.assertEqual((data, how), (b"", "eof"))
        finally:
            s.close()
        # Its last connection finished, the old worker leaves.
        h.wait_workers(1, timeout=10, exclude=[old])
        self.assertIn(new, h.worker_pids())


V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_proxy_header(c):
    """Read one PROXY header (v1 or v2) off c, no byte further: (version,
    src, sport, dst, dport), or None at EOF before a whole header."""
    head = b""
    while len(head) < 16:
        b = c.recv(1)
        if not b:
            return None
        head += b
        if head.startswith(b"PROXY "):
            break
    if head.startswith(b"PROXY "):
        while not head.endswith(b"\r\n"):
            b = c.recv(1)
            if not b or len(head) > 107:
                return None
            head += b
        f = head[:-2].decode("ascii").split(" ")
        if f[1] == "UNKNOWN":
            return (1, None, None, None, None)
        return (1, f[2], int(f[4]), f[3], int(f[5]))
    if not head.startswith(V2_SIG):
        raise AssertionError("not a PROXY header: %r" % head)
    need = int.from_bytes(head[14:16], "big")
    block = herdtest.recv_exact(c, need) if need else b""
    if head[13] == 0x11:
        fam, alen = socket.AF_INET, 4
    elif head[13] == 0x21:
        fam, alen = socket.AF_INET6, 16
    else:
        return (2, None, None, None, None)
    if head[12] != 0x21:
        raise AssertionError("v2 command %#x, not PROXY" % head[12])
    ntop = lambda b: socket.inet_ntop(fam, b)  # noqa: E731
    return (2, ntop(block[:alen]), int.from_bytes(block[2 * alen:2 * alen + 2], "big"),
            ntop(block[alen:2 * alen]), int.from_bytes(block[2 * alen + 2:2 * alen + 4], "big"))


def header_then_echo(c, backend):
    """Note the header and the first bytes after it (herd's start-up probes
    carry a header and no byte: not noted), echo those bytes back."""
    h = read_proxy_header(c)
    first = c.recv(65536)
    if h is None or not first:
        return
    backend.count_served()
    backend.note((h, first))
    c.sendall(first)


PP_CONF = herdtest.top(1) + """
upstreams = ( { name = "b"; servers = ( { address = "127.0.0.1:%d"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port", "[::1]:$port" ];
    protocol = "tcp_proxy";
    upstream = "b";
    send_proxy_protocol = "%s";
  }
);
"""

# herd B: HTTP, takes the header from 127.0.0.1 (herd A) and logs the client.
CHAIN_B = herdtest.top(1) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/access.log";
    access_log_format = "$$remote_addr $$request_uri $$status";
    proxy_protocol = { from = [ "127.0.0.1" ]; };
    routes = ( { path = "/"; return = { status = 200; body = "hello\\n"; }; } );
  }
);
"""


class SendProxyProtocolTest(HerdTestCase):
    """send_proxy_protocol = "v1" | "v2": the header before the client's bytes."""

    def through(self, version, family, client_addr):
        b = Backend(header_then_echo)
        self.addCleanup(b.stop)
        h = self.herd(PP_CONF % (b.port, version))
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(10)
            s.bind((client_addr, 0))
            s.connect((host, h.port()))
            me = s.getsockname()
            s.sendall(b"payload")
            self.assertEqual(herdtest.recv_exact(s, 7), b"payload")
        finally:
            s.close()
        herdtest.wait_for(lambda: b.events, 10, what="the backend's header")
        want = (1 if version == "v1" else 2, client_addr, me[1], host, h.port())
        self.assertEqual(b.events, [(want, b"payload")])

    def test_v1_ipv4(self):
        self.through("v1", socket.AF_INET, "127.0.0.5")

    def test_v2_ipv4(self):
        self.through("v2", socket.AF_INET, "127.0.0.6")

    def test_v1_ipv6(self):
        self.through("v1", socket.AF_INET6, "::1")

    def test_v2_ipv6(self):
        self.through("v2", socket.AF_INET6, "::1")

    def test_off_sends_no_header(self):
        b = self.backend_raw()
        h = self.herd(PP_CONF % (b.port, "off"))
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"plain")
            self.assertEqual(herdtest.recv_exact(s, 5), b"plain")
        finally:
            s.close()

    def backend_raw(self):
        b = Backend(echo_until_eof)
        self.addCleanup(b.stop)
        return b

    def test_herd_to_herd_keeps_the_client_address(self):
        for version in ("v1", "v2"):
            hb = self.herd(CHAIN_B)
            ha = self.herd(PP_CONF % (hb.port(), version))
            s = socket.socket()
            try:
                s.settimeout(10)
                s.bind(("127.0.0.9", 0))
                s.connect(("127.0.0.1", ha.port()))
                s.sendall(b"GET /chained-%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          % version.encode())
                data, how = herdtest.read_until_close(s, 10.0)
            finally:
                s.close()
            self.assertRegex(data, rb"^HTTP/1.1 200 ")
            path = os.path.join(hb.dir, "access.log")
            herdtest.wait_for(lambda: os.path.exists(path) and
                              "/chained-%s" % version in open(path).read(),
                              5 * herdtest.SLOW, what="the access log line")
            lines = [ln for ln in open(path).read().splitlines() if "/chained-" in ln]
            self.assertEqual(lines, ["127.0.0.9 /chained-%s 200" % version])


class RedisTest(HerdTestCase):
    """herd in front of a redis-server of our own, on a free port."""

    def setUp(self):
        super().setUp()
        for tool in ("redis-server", "redis-cli", "redis-benchmark"):
            if shutil.which(tool) is None:
                self.fail("%s is not installed: install the Debian packages redis-server and "
                          "redis-tools (.ci/run and debian/control name them)" % tool)
        self.dir = tempfile.mkdtemp(prefix="herdtest-redis-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.rport = herdtest.free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_redis)
        herdtest.wait_for(lambda: self.ping(self.rport) == "PONG", 10 * herdtest.SLOW,
                          what="redis-server answering PING")

    def stop_redis(self):
        if self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()

    def ping(self, port):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return r.stdout.decode().strip()

    def test_ping_and_benchmark(self):
        h = self.herd(conf([(self.rport, 1)]))
        self.assertEqual(self.ping(h.port()), "PONG")
        r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(h.port()),
                            "-t", "set,get", "-n", "20000", "-q"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
        herdtest.diag(*out.replace("\r", "\n").strip().splitlines()[-2:])
        self.assertEqual(r.returncode, 0, out)
        self.assertNotRegex(out.lower(), r"error|refused|reset", out)
        self.assertRegex(out, r"SET: [\d.]+ requests per second")
        self.assertRegex(out, r"GET: [\d.]+ requests per second")
        # The data went through: a key set through herd is there directly.
        subprocess.run(["redis-cli", "-p", str(h.port()), "set", "herd", "ok"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        r = subprocess.run(["redis-cli", "-p", str(self.rport), "get", "herd"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertEqual(r.stdout.decode().strip(), "ok")


if __name__ == "__main__":
    herdtest.main()
