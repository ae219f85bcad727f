#!/usr/bin/env python3
"""Static files over TLS with `ktls` on and off, with the real binary:
files of 0, 1, 16383, 16384, 16385 and 1 MiB + 7 bytes, whole and by
Range (first bytes, a middle slice across record boundaries, the last
bytes), read through two servers (ktls = true and false) with their
sha256 equal to the file's. The file cache is off, so every body goes
through the transport's sendfile.

Where the kernel has the tls module (/proc/net/tls_stat exists), the
kernel's own counter of TLS send contexts grows when the ktls server sends
a file; on a kernel without it that one assertion is skipped, and herd
serves the same bytes by reading and encrypting them itself."""

import hashlib
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

TLS_STAT = "/proc/net/tls_stat"
SIZES = (0, 1, 16383, 16384, 16385, (1 << 20) + 7)
CERTS = None


def setUpModule():
    global CERTS
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-ktls-")
    subprocess.run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                   "-keyout k.key -out k.pem -days 2 -subj /CN=k.test "
                   "-addext subjectAltName=DNS:k.test",
                   shell=True, cwd=CERTS, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for f in os.listdir(CERTS):
        os.chmod(os.path.join(CERTS, f), 0o644)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def conf():
    server = """
  { listen = [ "127.0.0.1:$port%s" ];
    tls = { certificate = "%s"; key = "%s"; ktls = %s; };
    routes = ( { path = "/"; static = { root = "$dir/www"; cache = { max_file = 0; }; }; } ); }"""
    pem, key = os.path.join(CERTS, "k.pem"), os.path.join(CERTS, "k.key")
    return herdtest.top(1) + "servers = (%s,%s\n);\n" % (
        server % ("", pem, key, "true"), server % ("_off", pem, key, "false"))


def tls_stat():
    """The kernel's TLS counters (name -> value)."""
    out = {}
    with open(TLS_STAT) as f:
        for line in f:
            name, _, value = line.partition(" ")
            out[name.strip()] = int(value.strip() or 0)
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


class KtlsTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(None, start=False)
        www = os.path.join(self.h.dir, "www")
        os.makedirs(www)
        for d in (self.h.dir, www):
            os.chmod(d, 0o755)
        self.files = {}
        for n in SIZES:
            data = os.urandom(n)
            path = os.path.join(www, "f%d" % n)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
            self.files[n] = data
        self.h.rewrite_config(conf())
        self.h.start()

    def client(self, port):
        """A keep-alive HTTPS connection to port, verified as k.test."""
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "k.pem"))
        c = http.client.HTTPSConnection("k.test", port, context=ctx, timeout=30)
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        c.sock = ctx.wrap_socket(raw, server_hostname="k.test")
        return c

    def fetch(self, c, path, headers=None):
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()

    def check_server(self, port):
        c = self.client(port)
        for n, data in self.files.items():
            status, body = self.fetch(c, "/f%d" % n)
            self.assertEqual((status, len(body), sha(body)), (200, n, sha(data)), "size %d" % n)
            if n == 0:
                continue
            # The first bytes, a slice across the record boundaries, the end.
            ranges = [(0, min(n, 10) - 1), (max(0, n // 2 - 16384), min(n, n // 2 + 16385) - 1),
                      (max(0, n - 7), n - 1)]
            for first, last in ranges:
                status, body = self.fetch(c, "/f%d" % n,
                                          {"Range": "bytes=%d-%d" % (first, last)})
                want = data[first:last + 1]
                self.assertEqual((status, sha(body)), (206, sha(want)),
                                 "size %d, bytes %d-%d" % (n, first, last))
        c.close()

    def test_byte_identical_with_ktls_on(self):
        self.check_server(self.h.port())

    def test_byte_identical_with_ktls_off(self):
        self.check_server(self.h.port("off"))

    def test_kernel_tls_sends_with_ktls_on(self):
        if not os.path.exists(TLS_STAT):
            self.skipTest("the kernel has no tls module (%s absent)" % TLS_STAT)
        before = tls_stat()
        self.check_server(self.h.port())
        after = tls_stat()
        # Software or offloaded: either counts a TLS send context opened by
        # the kernel for herd's connection (other processes may add more,
        # never less).
        opened = sum(after.get(k, 0) - before.get(k, 0) for k in ("TlsTxSw", "TlsTxDevice"))
        self.assertGreater(opened, 0, "no kernel TLS send context opened: %r" % after)


if __name__ == "__main__":
    herdtest.main()
