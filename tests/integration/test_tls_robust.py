#!/usr/bin/env python3
"""TLS robustness with the real binary (issue 10's tests that test_tls.py
does not hold):

- 10,000 garbage ClientHellos (random bytes, a record header and junk,
  real ClientHellos cut short, oversized lengths, a real ClientHello then
  garbage, real ClientHellos with bits flipped, other protocols, clients
  gone mid-handshake by FIN or RST) against 2 workers, a few hundred at a
  time: no worker dies (same pids), every connection is closed by herd, the
  workers' descriptors come back to their baseline, the error log stays
  short (the rate limit), and a good request is served after;
- a client that sends its whole ClientHello and then nothing (TLS 1.3 and
  1.2), and one that dribbles its ClientHello a byte at a time, are cut at
  handshake_timeout (test_tls.py holds the one that stops inside its
  first record, and TLS 1.0 / 1.1 refused);
- garbage after a complete handshake (records that do not decrypt, a
  record cut short, plain text) closed without a leak; a TLS 1.2
  renegotiation refused, TLS 1.3 key updates honoured (openssl s_client);
- certificate and key files replaced and herd reloaded (SIGHUP, then
  herd -s reload) under h2load --h1 load, keep-alive and a new connection
  per request: 0 failed requests, the new certificate served within 1 s of
  the reload's completion, then a mismatched key refused at FILE:LINE with
  the old certificate still served.

The certificates are made here with the openssl command: a CA and two
a.test leaves (ECDSA P-256), and a key that belongs to neither."""

import asyncio
import hashlib
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
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

OPENSSL = shutil.which("openssl")
H2LOAD = shutil.which("h2load")


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certificates(d):
    """ca.pem; one.pem and two.pem (a.test, leaf then CA) with their .key;
    other.key."""
    ec = "ec -pkeyopt ec_paramgen_curve:P-256"
    sh("openssl req -x509 -newkey %s -nodes -keyout ca.key -out ca.pem -days 2 "
       "-subj /CN=herd-robust-ca" % ec, d)
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=DNS:a.test\n")
    for name in ("one", "two"):
        sh("openssl req -newkey {ec} -nodes -keyout {n}.key -out {n}.csr -subj /CN=a.test && "
           "openssl x509 -req -in {n}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
           "-extfile leaf.ext -out {n}.leaf && cat {n}.leaf ca.pem > {n}.pem"
           .format(ec=ec, n=name), d)
    sh("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key", d)


CERTS = None


def setUpModule():
    global CERTS
    if OPENSSL is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-tls-robust-")
    make_certificates(CERTS)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


def conf(workers, timeout="10s"):
    return herdtest.top(workers) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "a.test" ];
    tls = { certificate = "$dir/site.pem";
            key = "$dir/site.key";
            handshake_timeout = "%s"; };
    routes = ( { path = "/"; return = { status = 200; body = "hello\\n"; }; } ); }
);
""" % timeout


def install(h, pem, key):
    """Replace the site's certificate and key files (each atomically)."""
    for src, dst in ((pem, "site.pem"), (key, "site.key")):
        tmp = os.path.join(h.dir, dst + ".new")
        shutil.copyfile(cert(src), tmp)
        os.replace(tmp, os.path.join(h.dir, dst))


def client_context():
    return ssl.create_default_context(cafile=cert("ca.pem"))


def served(port):
    """The SHA-256 of the certificate a new connection is shown (verified
    against the CA for a.test)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with client_context().wrap_socket(raw, server_hostname="a.test") as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def fingerprint(name):
    with open(cert(name)) as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE-----") + 25])
    return hashlib.sha256(der).hexdigest()


def good_request(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with client_context().wrap_socket(raw, server_hostname="a.test") as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        data, _ = herdtest.read_until_close(s, timeout=10)
    return data


def client_hellos():
    """Real ClientHellos, as Python's OpenSSL writes them: TLS 1.3 with
    SNI, TLS 1.2 only, without SNI, with ALPN."""
    out = []
    for max_version, name, alpn in ((None, "a.test", None),
                                    (ssl.TLSVersion.TLSv1_2, "a.test", None),
                                    (None, None, None),
                                    (None, "a.test", ["http/1.1"])):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if max_version:
            ctx.maximum_version = max_version
        if alpn:
            ctx.set_alpn_protocols(alpn)
        inc, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, outgoing, server_hostname=name)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        out.append(outgoing.read())
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def socket_count(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass        # closed while we looked
    return n


# ----------------------------------------------------------------- garbage

# What a client does after its bytes: "half" sends FIN and reads until herd
# closes; "close" and "rst" leave at once (FIN, or RST with SO_LINGER 0);
# "read-close" and "read-rst" first wait for herd's first answer bytes.
ENDINGS = ("half", "close", "rst")


def garbage(kind, rng, hellos):
    """The bytes of one garbage connection of this kind, and its ending."""
    hello = rng.choice(hellos)
    if kind == 0:       # random bytes
        return rng.randbytes(rng.randint(1, 3000)), rng.choice(ENDINGS)
    if kind == 1:       # a handshake record header, then junk
        head = b"\x16\x03" + bytes([rng.randint(0, 4)]) + struct.pack("!H", rng.randint(0, 0xffff))
        return head + rng.randbytes(rng.randint(0, 600)), rng.choice(ENDINGS)
    if kind == 2:       # a real ClientHello cut short
        return hello[:rng.randint(1, len(hello) - 1)], rng.choice(ENDINGS)
    if kind == 3:       # lengths over what is allowed or what follows
        b = bytearray(hello)
        pick = rng.randint(0, 3)
        if pick == 0:       # a record longer than TLS allows (2^14 + 2048)
            b[3:5] = struct.pack("!H", rng.randint(0x4801, 0xffff))
        elif pick == 1:     # a handshake message longer than its record
            b[6:9] = rng.choice((b"\xff\xff\xff", b"\x00\xff\xff", b"\x01\x00\x00"))
        elif pick == 2:     # the session id / cipher list lengths too long
            b[43] = 0xff
        else:               # a huge record, then 16 KiB of it
            b[3:5] = b"\x40\x00"
            b = b[:5] + bytearray(rng.randbytes(16384))
        return bytes(b), rng.choice(ENDINGS)
    if kind == 4:       # a real ClientHello, then garbage
        return hello + rng.randbytes(rng.randint(1, 2000)), "half"
    if kind == 5:       # a real ClientHello with a few bits flipped
        b = bytearray(hello)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b), "half"
    if kind == 6:       # a real ClientHello, then gone mid-handshake
        return hello, rng.choice(("read-close", "read-rst", "close", "rst"))
    # Other protocols, and nothing at all.
    return rng.choice((b"", b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
                       b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + bytes(37),
                       b"\x15\x03\x03\x00\x02\x02\x28",
                       b"\x14\x03\x03\x00\x01\x01",
                       b"\x17\x03\x03\x00\x20" + bytes(32),
                       b"\x16\x03\x03\x00\x00" * 50)), rng.choice(ENDINGS)


async def garbage_client(port, payload, ending, stats):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        stats["connect"].append(repr(e))
        return
    try:
        if payload:
            writer.write(payload)
            await writer.drain()
        if ending.startswith("read-"):
            await asyncio.wait_for(reader.read(1), 5)
        if ending.endswith("rst"):
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if ending == "half":
            writer.write_eof()
            # herd must close: until it does, read what it sends.
            while await asyncio.wait_for(reader.read(65536), 5):
                pass
        stats["ok"] += 1
    except asyncio.TimeoutError:
        stats["timeout"].append((ending, payload[:16]))
    except OSError:
        stats["ok"] += 1        # reset by herd: closed all the same
    finally:
        writer.close()


async def garbage_storm(port, jobs, parallel):
    stats = {"ok": 0, "connect": [], "timeout": []}
    sem = asyncio.Semaphore(parallel)

    async def one(job):
        async with sem:
            # Connections left open by herd: a few say enough, quickly.
            if len(stats["timeout"]) < 10:
                await garbage_client(port, job[0], job[1], stats)

    await asyncio.gather(*(one(j) for j in jobs))
    return stats


class GarbageTest(HerdTestCase):

    def test_ten_thousand_garbage_client_hellos(self):
        h = self.herd(None, start=False)
        install(h, "one.pem", "one.key")
        h.rewrite_config(conf(2, "2s"))
        h.start()
        workers = sorted(h.wait_workers(2))
        idle_sockets = {w: socket_count(w) for w in workers}
        # Handshakes on both workers first, so what OpenSSL sets up once is
        # in the baseline (SO_REUSEPORT spreads connections by their port).
        for _ in range(16):
            self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])
        herdtest.wait_for(lambda: all(socket_count(w) <= idle_sockets[w] for w in workers),
                          5.0, what="the good requests' connections closed")
        base = {w: fd_count(w) for w in workers}
        base_sockets = {w: socket_count(w) for w in workers}
        mark = h.log_mark()
        log_size = os.path.getsize(h.error_log)

        seed = 10
        rng = random.Random(seed)
        hellos = client_hellos()
        jobs = [garbage(i % 8, rng, hellos) for i in range(10000)]
        t0 = time.monotonic()
        stats = asyncio.run(garbage_storm(h.port(), jobs, 200))
        elapsed = time.monotonic() - t0
        herdtest.diag("10000 garbage connections in %.1f s (seed %d): %d closed by herd"
                      % (elapsed, seed, stats["ok"]))

        self.assertEqual(sorted(h.worker_pids()), workers, "a worker died\n" + h.log_tail())
        self.assertTrue(h.alive())
        self.assertEqual(stats["connect"], [], "connections refused")
        self.assertEqual(stats["timeout"], [], "connections herd did not close")
        try:
            herdtest.wait_for(lambda: all(fd_count(w) <= base[w] for w in workers), 5.0,
                              what="the workers' descriptors back at %s" % base)
        except AssertionError:
            raise AssertionError("descriptors %s, baseline %s (sockets %s, baseline %s)"
                                 % ({w: fd_count(w) for w in workers}, base,
                                    {w: socket_count(w) for w in workers}, base_sockets))
        # The rate limit: at most 10 lines a second per worker, and one
        # line a second saying how many were held back.
        tls_lines = [ln for ln in h.log_since(mark).splitlines() if "TLS" in ln]
        bound = int(2 * 11 * (elapsed + 3))
        self.assertLessEqual(len(tls_lines), bound, "\n".join(tls_lines[-20:]))
        self.assertTrue(any("errors not logged" in ln for ln in tls_lines),
                        "no summary of what the rate limit held back:\n" + h.log_tail())
        self.assertLess(os.path.getsize(h.error_log) - log_size, 300 * 1024)
        herdtest.diag("%d TLS log lines (at most %d)" % (len(tls_lines), bound))
        # herd still serves, on both workers.
        for _ in range(8):
            self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])

    def test_garbage_after_the_handshake(self):
        """Records that do not decrypt, a record cut short, plain text, each
        after a complete handshake (and half of them inside a request):
        herd closes, and the worker's descriptors come back."""
        h = self.herd(None, start=False)
        install(h, "one.pem", "one.key")
        h.rewrite_config(conf(1))
        h.start()
        worker = h.wait_workers(1)[0]
        idle = socket_count(worker)
        self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])
        herdtest.wait_for(lambda: socket_count(worker) <= idle, 5.0,
                          what="the good request's connection closed")
        base = fd_count(worker)
        mark = h.log_mark()
        rng = random.Random(11)
        junk = (lambda: b"\x17\x03\x03\x00\x40" + rng.randbytes(64),        # bad MAC
                lambda: b"\x17\x03\x03\x40\x00" + rng.randbytes(100),       # cut short
                lambda: b"\x15\x03\x03\x00\x02\x01\x00",                    # plain alert
                lambda: b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",          # plain text
                lambda: rng.randbytes(rng.randint(1, 3000)))
        for i in range(200):
            raw = socket.create_connection(("127.0.0.1", h.port()), timeout=10)
            with client_context().wrap_socket(raw, server_hostname="a.test") as s:
                if i % 2:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Half: ")
                # Past the TLS layer, onto the socket itself; herd may have
                # reset the connection already.
                try:
                    socket.socket.sendall(s, junk[i % len(junk)]())
                    socket.socket.shutdown(s, socket.SHUT_WR)
                    while socket.socket.recv(s, 65536):
                        pass
                except OSError:
                    pass
        self.assertEqual(h.worker_pids(), [worker])
        herdtest.wait_for(lambda: fd_count(worker) <= base, 5.0,
                          what="the worker's descriptors back at %d" % base)
        h.wait_log(r"TLS: read: .*(bad record mac|decryption failed).*client: 127\.0\.0\.1",
                   timeout=5.0, since=mark)
        self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])


# ------------------------------------------------------------------ stalls

class StallTest(HerdTestCase):

    def start(self):
        h = self.herd(None, start=False)
        install(h, "one.pem", "one.key")
        h.rewrite_config(conf(1, "500ms"))
        h.start()
        return h

    def whole_hello_then_nothing(self, max_version):
        h = self.start()
        mark = h.log_mark()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cert("ca.pem"))
        ctx.maximum_version = max_version
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="a.test")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", h.port()), timeout=10) as s:
            s.sendall(out.read())
            data, how = herdtest.read_until_close(s, timeout=10)
        elapsed = time.monotonic() - t0
        # herd answered the hello (its flight is a handshake record), waited
        # for the client's next flight, and gave up at the deadline.
        self.assertNotEqual(how, "timeout")
        self.assertEqual(data[:1], b"\x16", data[:16])
        inc.write(data)
        try:
            obj.do_handshake()      # the server's flight is sound ...
        except ssl.SSLWantReadError:
            pass                    # (1.2: it waits for our key exchange)
        self.assertGreaterEqual(elapsed, 0.45)
        self.assertLess(elapsed, 5.0 * herdtest.SLOW)
        h.wait_log(r"TLS: handshake not finished within 500 ms, client: 127\.0\.0\.1",
                   timeout=5.0, since=mark)
        self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])

    def test_whole_hello_then_nothing_tls13(self):
        self.whole_hello_then_nothing(ssl.TLSVersion.TLSv1_3)

    def test_whole_hello_then_nothing_tls12(self):
        self.whole_hello_then_nothing(ssl.TLSVersion.TLSv1_2)

    def test_dribbled_hello_is_cut_at_the_deadline(self):
        """A byte every 20 ms (its ~500 bytes would take 10 s): progress
        does not move the deadline."""
        h = self.start()
        hello = client_hellos()[0]
        t0 = time.monotonic()
        closed = None
        with socket.create_connection(("127.0.0.1", h.port()), timeout=10) as s:
            for i in range(len(hello)):
                try:
                    s.sendall(hello[i:i + 1])
                except OSError:
                    closed = time.monotonic()
                    break
                r, _, _ = select.select([s], [], [], 0.02)
                if r:
                    try:
                        got = s.recv(4096)
                    except OSError:
                        got = b""
                    self.assertEqual(got, b"", "the hello was complete before herd cut it")
                    closed = time.monotonic()
                    break
        self.assertIsNotNone(closed, "the whole hello was dribbled in without a cut")
        self.assertGreaterEqual(closed - t0, 0.45)
        self.assertLess(closed - t0, 5.0 * herdtest.SLOW)


# ----------------------------------------------------- renegotiation, keys

class SClient:
    """openssl s_client with its command letters (R: renegotiate, K: key
    update asking the peer for one too), its output gathered by a thread."""

    def __init__(self, port, version):
        self.p = subprocess.Popen([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                                   version, "-servername", "a.test",
                                   "-CAfile", cert("ca.pem")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.out = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in iter(self.p.stdout.readline, b""):
            self.out.append(line.decode("utf-8", "replace"))

    def text(self):
        return "".join(self.out)

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def wait(self, what, timeout=10.0):
        herdtest.wait_for(lambda: what in self.text() or self.p.poll() is not None, timeout,
                          what="s_client to say %r" % what)
        if what not in self.text():
            self.t.join(5)      # it exited: all its output
        return what in self.text()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.t.join(5)


class RenegotiationTest(HerdTestCase):

    def start(self):
        h = self.herd(None, start=False)
        install(h, "one.pem", "one.key")
        h.rewrite_config(conf(1))
        h.start()
        return h

    def test_tls12_renegotiation_is_refused(self):
        """A client asking to renegotiate (a handshake's CPU for each ask)
        is told no; herd serves on."""
        h = self.start()
        mark = h.log_mark()
        c = SClient(h.port(), "-tls1_2")
        try:
            self.assertTrue(c.wait("Verify return code: 0"), c.text())
            c.send(b"R\n")
            self.assertTrue(c.wait("no renegotiation"), c.text())
        finally:
            c.close()
        h.wait_log(r"TLS: read: .*client: 127\.0\.0\.1", timeout=5.0, since=mark)
        self.assertIn(b"200", good_request(h.port()).split(b"\r\n")[0])

    def test_tls13_key_updates_are_honoured(self):
        h = self.start()
        c = SClient(h.port(), "-tls1_3")
        try:
            self.assertTrue(c.wait("Verify return code: 0"), c.text())
            for _ in range(3):
                n = c.text().count("KEYUPDATE")
                c.send(b"K\n")
                herdtest.wait_for(lambda: c.text().count("KEYUPDATE") > n, 10.0,
                                  what="s_client's key update")
            c.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            self.assertTrue(c.wait("hello"), c.text())
        finally:
            c.close()
        self.assertIn("HTTP/1.1 200 OK", c.text())


# ------------------------------------------------------------------ reload

H2LOAD_RX = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout")
STATUS_RX = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def h2load_result(out):
    m = H2LOAD_RX.search(out)
    if m is None:
        return None
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    r = dict(zip(keys, (int(x) for x in m.groups())))
    m = STATUS_RX.search(out)
    r["non2xx"] = sum(int(x) for x in m.groups()[1:]) if m else None
    return r


class ReloadUnderLoadTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        if H2LOAD is None:
            self.fail("h2load is not installed (Debian: nghttp2-client)")

    def assert_serves(self, port, name, within):
        """New connections get name's certificate within `within` s, and
        keep getting it."""
        want = fingerprint(name)
        herdtest.wait_for(lambda: served(port) == want, within,
                          what="%s's certificate" % name)
        for _ in range(5):
            self.assertEqual(served(port), want)

    def reload(self, h):
        """herd -s reload, which answers once the new generation serves
        (within READY_TIMEOUT, 10 s) or fails."""
        try:
            return h.reload_via_cli(timeout=30.0)
        except subprocess.TimeoutExpired:
            raise AssertionError("herd -s reload did not answer within 30 s\n" + h.log_tail())

    def test_certificate_swap_under_load(self):
        h = self.herd(None, start=False)
        install(h, "one.pem", "one.key")
        h.rewrite_config(conf(2))
        h.start()
        port = h.port()
        workers = h.wait_workers(2)
        self.assert_serves(port, "one.pem", 1.0)
        base = sum(socket_count(w) for w in workers)
        url = "https://127.0.0.1:%d/" % port
        # 8 keep-alive connections, in back-to-back h2load runs of 4000
        # requests until the reloads are done (h2load 1.52's timed mode, -D,
        # can hang for ever once herd closes a draining generation's
        # connections and h2load must reconnect; counted runs reconnect);
        # and 60 new connections a second (one request each) for 12 s. A
        # connection quiet for 10 s is a timeout that h2load reports.
        loads = {
            "keep-alive": ["--h1", "-n", "4000", "-c", "8", "-t", "1", "-N", "10", url],
            "new connections": ["--h1", "-r", "6", "--rate-period", "100ms", "-c", "720",
                                "-n", "720", "-t", "1", "-N", "10", url],
        }
        stop = threading.Event()
        keep_outs = []

        def keep_alive_runs():
            while not stop.is_set():
                r = subprocess.run([H2LOAD] + loads["keep-alive"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   timeout=60)
                keep_outs.append((r.returncode, r.stdout.decode("utf-8", "replace")))
        keeper = threading.Thread(target=keep_alive_runs, daemon=True)
        keeper.start()
        procs = {"new connections": subprocess.Popen(
            [H2LOAD] + loads["new connections"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)}
        try:
            herdtest.wait_for(lambda: sum(socket_count(w) for w in workers) >= base + 8,
                              5.0, what="the keep-alive load connected")
            # Swapped files, SIGHUP: served once the new generation is.
            install(h, "two.pem", "two.key")
            mark = h.log_mark()
            h.signal(signal.SIGHUP)
            h.wait_log(r"generation 2 serving", timeout=10.0, since=mark)
            self.assert_serves(port, "two.pem", 1.0)
            # Swapped back, herd -s reload: it answers once the generation
            # serves.
            install(h, "one.pem", "one.key")
            rc, out, err = self.reload(h)
            self.assertEqual(rc, 0, out + err)
            self.assertRegex(out + err, r"generation 3\b")
            self.assert_serves(port, "one.pem", 1.0)
            # A key of another certificate: refused at its line, by SIGHUP
            # and by herd -s reload; the old certificate stays.
            install(h, "two.pem", "other.key")
            line = next(i for i, ln in enumerate(h.text.split("\n"), 1) if "key = " in ln)
            where = "%s:%d: " % (h.conf, line)
            mark = h.log_mark()
            h.signal(signal.SIGHUP)
            h.wait_log(re.escape(where) + r".*does not match the certificate", timeout=10.0,
                       since=mark)
            rc, out, err = self.reload(h)
            self.assertNotEqual(rc, 0, out + err)
            self.assertIn(where, err)
            self.assertIn("does not match the certificate", err)
            self.assert_serves(port, "one.pem", 0.1)
            for name, p in procs.items():
                self.assertIsNone(p.poll(), "the %s load ended before the reloads did "
                                  "(the machine is too slow?)" % name)
            self.assertTrue(keeper.is_alive(), "the keep-alive runs ended early: %r" % keep_outs)
            stop.set()
            keeper.join(90)
            self.assertFalse(keeper.is_alive(), "an h2load keep-alive run did not finish")
            results = {}
            for name, p in procs.items():
                try:
                    out = p.communicate(timeout=30)[0].decode("utf-8", "replace")
                except subprocess.TimeoutExpired:
                    ss = subprocess.run(["ss", "-tnio", "state", "all", "( sport = :%d )" % port],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    raise AssertionError("h2load (%s) did not finish; herd's sockets:\n%s\n%s"
                                         % (name, ss.stdout.decode(), h.log_tail()))
                said = ("requests:", "status codes:", "TLS", "finished")
                herdtest.diag("h2load (%s): %s" % (name, " ".join(loads[name])),
                              *[ln for ln in out.splitlines() if ln.startswith(said)])
                self.assertEqual(p.returncode, 0, out)
                results[name] = (h2load_result(out), out)
        finally:
            stop.set()
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertGreaterEqual(len(keep_outs), 1)
        for rc, out in keep_outs:
            self.assertEqual(rc, 0, out)
            r = h2load_result(out)
            self.assertIsNotNone(r, out)
            self.assertEqual(r["succeeded"], 4000, out)
            self.assertEqual((r["failed"], r["errored"], r["timeout"], r["non2xx"]),
                             (0, 0, 0, 0), "keep-alive: %s" % out)
        herdtest.diag("h2load (keep-alive): %d runs of 4000 requests" % len(keep_outs))
        for name, (r, out) in results.items():
            self.assertIsNotNone(r, out)
            self.assertIn("TLS Protocol: TLSv1.3", out)
            self.assertGreater(r["succeeded"], 0, out)
            self.assertEqual((r["failed"], r["errored"], r["timeout"], r["non2xx"]),
                             (0, 0, 0, 0), "%s: %s" % (name, out))
        self.assertEqual(results["new connections"][0]["succeeded"], 720)
        h.wait_workers(2)


if __name__ == "__main__":
    herdtest.main()
