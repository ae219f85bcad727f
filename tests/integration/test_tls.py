#!/usr/bin/env python3
"""HTTPS with the real binary: a server's `tls` group (certificate chain and
key), SNI's choice among the servers of one address (with and without SNI),
ALPN http/1.1, TLS 1.0/1.1 refused and 1.2/1.3 accepted (openssl s_client),
curl --cacert, keep-alive and pipelining through Python's ssl, the system
calls a keep-alive request and a 1 MiB file cost (/proc/PID/io), a 1 MiB
static file byte-identical, $scheme in the access log, configuration errors
at FILE:LINE (herd -t), a reload to a bad certificate refused while the old
one is served, a reload to a new certificate served by the new generation,
a client stalled mid-handshake cut at handshake_timeout, and garbage
ClientHellos that leave the worker's descriptors at their baseline.

The certificates are made here with the openssl command: a CA (ECDSA
P-256), a.test (RSA-2048), b.test (ECDSA P-256), a second a.test (a2) and
a key that belongs to none of them."""

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certificates(d):
    """ca.pem; {a,b,a2}.pem (leaf, then the CA: a chain) and .key;
    other.key; bad.pem."""
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=herd-test-ca", d)
    for name, cn, alg in (("a", "a.test", "rsa:2048"),
                          ("b", "b.test", "ec -pkeyopt ec_paramgen_curve:P-256"),
                          ("a2", "a.test", "ec -pkeyopt ec_paramgen_curve:P-256")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n" % cn)
        sh("openssl req -newkey %s -nodes -keyout %s.key -out %s.csr -subj /CN=%s"
           % (alg, name, name, cn), d)
        sh("openssl x509 -req -in {n}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
           "-extfile {n}.ext -out {n}.leaf && cat {n}.leaf ca.pem > {n}.pem".format(n=name), d)
    sh("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key", d)
    with open(os.path.join(d, "bad.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                "-----END CERTIFICATE-----\n")
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)


CERTS = None


def setUpModule():
    global CERTS
    if OPENSSL is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-tls-")
    make_certificates(CERTS)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


def tls_group(name="a", extra=""):
    return 'tls = { certificate = "%s"; key = "%s"; %s };' % (
        cert(name + ".pem"), cert(name + ".key"), extra)


def conf(a="a", b="b", extra="", workers=1, top_extra=""):
    return herdtest.top(workers, top_extra) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "a.test" ];
    %s
    access_log = "$dir/access.log";
    access_log_format = "$$scheme $$host $$request";
    routes = (
      { path = "/files/"; static = { root = "$dir/www"; }; },
      { path = "/"; return = { status = 200; body = "A\\n"; }; }
    ); },
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "b.test", "*.b.test" ];
    %s
    routes = ( { path = "/"; return = { status = 200; body = "B\\n"; }; } ); },
  { listen = [ "127.0.0.1:$port_plain" ];
    routes = ( { path = "/"; return = { status = 301; location = "https://a.test/"; }; } ); }
);
""" % (tls_group(a, extra), tls_group(b))


def client_context(alpn=None):
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, name="a.test", ctx=None, timeout=10.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return (ctx or client_context()).wrap_socket(raw, server_hostname=name)


def s_client(port, *args, stdin=b"", timeout=20):
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-CAfile", cert("ca.pem")] + list(args),
                       input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def served_subject(port, name=None):
    args = ["-servername", name] if name else ["-noservername"]
    rc, out = s_client(port, *args)
    m = re.search(r"subject=.*?CN ?= ?([\w.-]+)", out)
    return m.group(1) if m else None, out


def served_serial(port):
    """The serial number of the certificate port serves for a.test."""
    with tls_connect(port) as s:
        der = s.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def socket_count(pid):
    """The sockets among pid's open descriptors."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass        # closed while we looked
    return n


class TlsTest(HerdTestCase):

    def start(self, **kw):
        h = self.herd(None, start=False)
        os.makedirs(os.path.join(h.dir, "www", "files"), exist_ok=True)
        # The workers run as nobody.
        for d in (h.dir, os.path.join(h.dir, "www"), os.path.join(h.dir, "www", "files")):
            os.chmod(d, 0o755)
        h.rewrite_config(conf(**kw))
        h.start()
        return h

    def test_curl_cacert_and_redirect_from_http(self):
        if CURL is None:
            self.skipTest("no curl")
        h = self.start()
        port = h.port()
        out = subprocess.run([CURL, "-sS", "--cacert", cert("ca.pem"), "--http1.1",
                              "--resolve", "a.test:%d:127.0.0.1" % port,
                              "https://a.test:%d/" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"A\n")
        out = subprocess.run([CURL, "-sS", "--cacert", cert("ca.pem"),
                              "--resolve", "b.test:%d:127.0.0.1" % port,
                              "https://b.test:%d/" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"B\n")
        status, headers, _ = herdtest.get(h.port("plain"), "/")
        self.assertEqual(status, 301)
        # $scheme in the access log: https on the TLS address.
        herdtest.wait_for(lambda: os.path.exists(os.path.join(h.dir, "access.log")) and
                          "https a.test" in open(os.path.join(h.dir, "access.log")).read(),
                          5.0, what="an access log line with https")

    def test_sni_chooses_the_certificate(self):
        h = self.start()
        for name, want in ((None, "a.test"), ("a.test", "a.test"), ("b.test", "b.test"),
                           ("www.b.test", "b.test"), ("other.test", "a.test")):
            got, out = served_subject(h.port(), name)
            self.assertEqual(got, want, "SNI %r:\n%s" % (name, out))
        # Verified against the CA, by name.
        with tls_connect(h.port(), "b.test") as s:
            self.assertEqual(dict(x[0] for x in s.getpeercert()["subject"])["commonName"],
                             "b.test")

    def test_host_of_another_certificate_is_misdirected(self):
        h = self.start()

        def ask(sni, host):
            ctx = client_context()
            ctx.check_hostname = False
            raw = socket.create_connection(("127.0.0.1", h.port()), timeout=10)
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                           % host).encode())
                data, _ = herdtest.read_until_close(s, timeout=10)
            return data.split(b"\r\n")[0], data.split(b"\r\n\r\n", 1)[-1]

        self.assertEqual(ask("a.test", "a.test"), (b"HTTP/1.1 200 OK", b"A\n"))
        self.assertEqual(ask("b.test", "x.b.test"), (b"HTTP/1.1 200 OK", b"B\n"))
        self.assertEqual(ask("b.test", "a.test")[0], b"HTTP/1.1 421 Misdirected Request")
        self.assertEqual(ask("a.test", "b.test")[0], b"HTTP/1.1 421 Misdirected Request")
        # Without SNI (an IP address sends none) any Host is served.
        self.assertEqual(ask(None, "b.test"), (b"HTTP/1.1 200 OK", b"B\n"))

    def test_alpn_http_1_1(self):
        h = self.start()
        rc, out = s_client(h.port(), "-alpn", "h2,http/1.1", "-servername", "a.test")
        self.assertIn("ALPN protocol: http/1.1", out)
        with tls_connect(h.port(), ctx=client_context(["h2", "http/1.1"])) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")

    def test_protocol_versions(self):
        h = self.start()
        mark = h.log_mark()
        for flag, ok in (("-tls1", False), ("-tls1_1", False), ("-tls1_2", True),
                         ("-tls1_3", True)):
            rc, out = s_client(h.port(), flag, "-servername", "a.test", "-cipher",
                               "DEFAULT@SECLEVEL=0")
            if ok:
                self.assertEqual(rc, 0, "%s refused:\n%s" % (flag, out))
                want = {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[flag]
                self.assertRegex(out, r"Protocol\s*:\s*%s|New, %s" % (want, want))
            else:
                self.assertNotEqual(rc, 0, "%s accepted:\n%s" % (flag, out))
                # Refused by herd, not given up by the client.
                h.wait_log(r"TLS: handshake failed: .*unsupported protocol, client: 127\.0\.0\.1",
                           timeout=5.0, since=mark)
                mark = h.log_mark()
        # herd still serves.
        with tls_connect(h.port()) as s:
            self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))

    def test_keep_alive_and_pipelining(self):
        h = self.start()
        c = http.client.HTTPSConnection("a.test", h.port(), context=client_context(),
                                        timeout=10)
        c.sock = tls_connect(h.port())
        for _ in range(3):
            c.request("GET", "/")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"A\n"))
        c.close()
        with tls_connect(h.port()) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" * 4 +
                      b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data, _ = herdtest.read_until_close(s, timeout=10)
        self.assertEqual(data.count(b"HTTP/1.1 200"), 5, data)

    def test_system_calls_per_keep_alive_request(self):
        """Counted by the kernel (/proc/PID/io of the worker): a request in
        one read(2), since OpenSSL reads a record whole and no read follows
        only to hear EAGAIN, and its response in one write(2) (one record);
        a 1 MiB file read 64 KiB at a time."""
        h = self.start()
        worker = h.wait_workers(1)[0]
        n = 200

        def io():
            with open("/proc/%d/io" % worker) as f:
                v = dict(line.split(": ") for line in f.read().splitlines())
            return int(v["syscr"]), int(v["syscw"])

        with tls_connect(h.port()) as s:
            reader = herdtest.HttpReader(s, timeout=10)
            req = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"
            s.sendall(req)
            self.assertEqual(reader.read_response().body, b"A\n")
            r0, w0 = io()
            for _ in range(n):
                s.sendall(req)
                self.assertEqual(reader.read_response().body, b"A\n")
            r1, w1 = io()
        # Before OpenSSL read ahead: three reads a request. The slack is for
        # the access log's flush and a request that came in two pieces.
        self.assertLessEqual(r1 - r0, n + 10, "reads for %d requests" % n)
        self.assertLessEqual(w1 - w0, n + 10, "writes for %d requests" % n)

        path = os.path.join(h.dir, "www", "files", "big.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(1 << 20))
        os.chmod(path, 0o644)
        with tls_connect(h.port()) as s:
            reader = herdtest.HttpReader(s, timeout=20)
            r0, _ = io()
            s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n")
            self.assertEqual(len(reader.read_response().body), 1 << 20)
            r1, _ = io()
        # 16 preads of 64 KiB, the request's read, and one more pread each
        # time the socket was full (the retry reads its bytes again; a few
        # here). A record at a time was 64 preads and that read at least.
        self.assertLess(r1 - r0, 64, "reads for a 1 MiB file")

    def test_static_file_of_1_mib_is_byte_identical(self):
        h = self.start()
        blob = os.urandom(1 << 20)
        path = os.path.join(h.dir, "www", "files", "big.bin")
        with open(path, "wb") as f:
            f.write(blob)
        os.chmod(path, 0o644)
        c = http.client.HTTPSConnection("a.test", h.port(), context=client_context(),
                                        timeout=20)
        c.sock = tls_connect(h.port())
        for _ in range(2):
            c.request("GET", "/files/big.bin")
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(blob).hexdigest())
        c.close()

    def check_refused(self, text, line, says):
        d = tempfile.mkdtemp(prefix="herd-tls-conf-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "herd.conf")
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = herdtest.run("-t", "-c", path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:%d: " % (path, line), err)
        self.assertIn(says, err)

    def test_configuration_errors_at_file_line(self):
        base = ('pid_file = "/tmp/x.pid";\nservers = (\n  { listen = [ "127.0.0.1:1" ]; '
                'routes = ( { path = "/"; return = { status = 204; }; } );\n')
        self.check_refused(base + '    tls = { certificate = "%s";\n      key = "%s"; }; }\n);\n'
                           % (cert("a.pem"), cert("other.key")), 5, "does not match")
        self.check_refused(base + '    tls = { certificate = "%s/none.pem"; key = "%s"; }; }\n'
                           ');\n' % (CERTS, cert("a.key")), 4, "No such file or directory")
        self.check_refused(base + '    tls = { certificate = "%s"; key = "%s"; }; }\n);\n'
                           % (cert("bad.pem"), cert("a.key")), 4, "not a PEM certificate")
        self.check_refused(base + '    %s },\n  { listen = [ "127.0.0.1:1" ]; '
                           'server_names = [ "x" ];\n'
                           '    routes = ( { path = "/"; return = { status = 204; }; } ); }\n'
                           ');\n' % tls_group(), 5,
                           "must agree on TLS")
        self.check_refused(base + '    tls = { certificate = "%s"; key = "%s";\n'
                           '      protocols = [ "TLSv1.1" ]; }; }\n);\n'
                           % (cert("a.pem"), cert("a.key")), 5, "TLSv1.1 is refused")
        self.check_refused(base + '    tls = { certificate = "%s"; key = "%s";\n'
                           '      stapling = true; }; }\n);\n'
                           % (cert("a.pem"), cert("a.key")), 5, "unknown key")

    def test_reload_to_a_bad_key_keeps_the_old_certificate(self):
        h = self.start()
        before = served_serial(h.port())
        mark = h.log_mark()
        h.rewrite_config(conf(a="a2", b="b").replace(cert("a2.key"), cert("other.key")))
        h.signal(signal.SIGHUP)
        h.wait_log(r"does not match the certificate", timeout=5.0, since=mark)
        self.assertEqual(served_serial(h.port()), before)
        self.assertEqual(herdtest.get(h.port("plain"), "/")[0], 301)

    def test_reload_to_a_new_certificate_is_served(self):
        h = self.start(workers=2)
        before = served_serial(h.port())
        h.rewrite_config(conf(a="a2"))
        h.signal(signal.SIGHUP)
        herdtest.wait_for(lambda: served_serial(h.port()) != before, 5.0,
                          what="the new certificate")
        # And every later connection gets it (the old generation is gone).
        after = served_serial(h.port())
        for _ in range(10):
            self.assertEqual(served_serial(h.port()), after)

    def test_stalled_handshake_is_cut_at_the_timeout(self):
        h = self.start(extra='handshake_timeout = "500ms";')
        mark = h.log_mark()
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", h.port()), timeout=10) as s:
            # The first bytes of a ClientHello record, then nothing.
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            data, how = herdtest.read_until_close(s, timeout=10)
        elapsed = time.monotonic() - t0
        self.assertEqual(data, b"")
        self.assertGreaterEqual(elapsed, 0.45)
        self.assertLess(elapsed, 8.0)
        h.wait_log(r"TLS: handshake not finished within 500 ms, client: 127\.0\.0\.1",
                   timeout=5.0, since=mark)

    def test_garbage_client_hellos_do_not_leak(self):
        h = self.start()
        worker = h.wait_workers(1)[0]
        # Sockets only: files OpenSSL may open lazily (a random source) are
        # not connections.
        base = socket_count(worker)
        with tls_connect(h.port()) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            herdtest.read_until_close(s, timeout=10)
        # Complete and wrong (odd ones also end with the client's FIN, so an
        # incomplete one is not left to the handshake timeout).
        garbage = [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                   b"\x16\x03\x03\xff\xff" + b"\x00" * 64, b"\x80\x80\x01\x03\x01"]
        for i in range(1000):
            with socket.create_connection(("127.0.0.1", h.port()), timeout=10) as s:
                s.sendall(garbage[i % len(garbage)])
                if i % 2:
                    s.shutdown(socket.SHUT_WR)  # and an incomplete one ends too
                herdtest.read_until_close(s, timeout=10)
        herdtest.wait_for(lambda: socket_count(worker) <= base, 5.0,
                          what="the worker's sockets back at %d" % base)
        # The rate limit kept the log short, and herd still serves.
        self.assertLess(h.log_text().count("TLS: "), 200)
        with tls_connect(h.port()) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data, _ = herdtest.read_until_close(s, timeout=10)
        self.assertIn(b"200", data.split(b"\r\n")[0])


if __name__ == "__main__":
    herdtest.main()
