#!/usr/bin/env python3
"""TLS keys beyond the certificate, with the real binary: `curves` (the key
exchange group a client gets, none in common refused, a bad name at
FILE:LINE), an RSA and an ECDSA certificate on one server (each served to
the client that needs it, over TLS 1.2 by cipher and TLS 1.3 by signature
algorithm; a bad pairing at FILE:LINE), client certificates (mTLS:
accepted from the CA, refused without one or from another CA, "optional"
accepting none), $ssl_client_s_dn, $ssl_protocol and $ssl_cipher in the
access log, and X-Forwarded-Proto on proxied requests (https over TLS,
http without), seen by a backend started here.

The certificates are test_tls.py's (a CA, a.test RSA, a2 = a.test ECDSA,
b.test ECDSA), plus a client certificate from that CA (O=herd test,
CN=client.test) and one from another CA."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import test_tls  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

OPENSSL = shutil.which("openssl")
CERTS = None


def setUpModule():
    global CERTS
    if OPENSSL is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-tls-features-")
    test_tls.make_certificates(CERTS)
    sh = test_tls.sh
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=herd-other-ca", CERTS)
    for name, ca, subj in (("client", "ca", "/O=herd test/CN=client.test"),
                           ("stranger", "other-ca", "/CN=stranger")):
        sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
           "-out %s.csr -subj '%s'" % (name, name, subj), CERTS)
        sh("openssl x509 -req -in {n}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 2 "
           "-out {n}.pem".format(n=name, ca=ca), CERTS)
    for f in os.listdir(CERTS):
        os.chmod(os.path.join(CERTS, f), 0o644)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


# In a template ($$ is one $).
LOG_FORMAT = "$$scheme|$$ssl_protocol|$$ssl_cipher|$$ssl_client_s_dn|$$request_uri"


def conf(tls, routes=None, top_extra=""):
    """One TLS server on $port (a.test's pair unless tls names others) and
    a plain one on $port_plain, both logging LOG_FORMAT."""
    routes = routes or '{ path = "/"; return = { status = 200; body = "ok\\n"; }; }'
    return herdtest.top(1, top_extra) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    tls = { %s };
    access_log = "$dir/access.log";
    access_log_format = "%s";
    routes = ( %s ); },
  { listen = [ "127.0.0.1:$port_plain" ];
    access_log = "$dir/plain.log";
    access_log_format = "%s";
    routes = ( %s ); }
);
""" % (tls, LOG_FORMAT, routes, LOG_FORMAT, routes)


def pair(name="a"):
    return 'certificate = "%s"; key = "%s";' % (cert(name + ".pem"), cert(name + ".key"))


def s_client(port, *args, timeout=20):
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "a.test", "-CAfile", cert("ca.pem")] + list(args),
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def context(client=None, max_version=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    if client:
        ctx.load_cert_chain(cert(client + ".pem"), cert(client + ".key"))
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def ask(port, path="/", ctx=None):
    """GET path over TLS: (status line, body, the client's TLS version,
    cipher), or raises what the TLS layer raised."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with (ctx or context()).wrap_socket(raw, server_hostname="a.test") as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
                   % path).encode())
        data, _ = herdtest.read_until_close(s, timeout=10)
        version, cipher = s.version(), s.cipher()[0]
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body, version, cipher


def refused(port, ctx):
    """The server ends the handshake: no HTTP response comes (TLS 1.3
    clients learn it only when they read)."""
    try:
        status, _, _, _ = ask(port, ctx=ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return status == b""


def der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Backend:
    """An HTTP/1.1 server on a free port that answers each request with its
    own head as the body, then closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n"
                             b"\r\n%s" % (len(head), head))

    def close(self):
        self.sock.close()


class TlsFeaturesTest(HerdTestCase):

    def start(self, tls, **kw):
        h = self.herd(None, start=False)
        os.chmod(h.dir, 0o755)
        h.rewrite_config(conf(tls, **kw))
        h.start()
        return h

    def log_lines(self, h, name="access.log", n=1):
        path = os.path.join(h.dir, name)

        def lines():
            if not os.path.exists(path):
                return None
            with open(path) as f:
                got = f.read().splitlines()
            return got if len(got) >= n else None
        herdtest.wait_for(lines, 5.0, what="%d lines in %s" % (n, name))
        return lines()

    def check_refused(self, text, line, says):
        d = tempfile.mkdtemp(prefix="herd-tls-features-conf-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "herd.conf")
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = herdtest.run("-t", "-c", path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:%d: " % (path, line), err)
        self.assertIn(says, err)

    # -------------------------------------------------------------- curves

    def test_curves_chosen(self):
        h = self.start(pair() + ' curves = "P-384";')
        rc, out = s_client(h.port(), "-groups", "X25519:P-384")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Server Temp Key: ECDH, (secp384r1|P-384)")
        rc, out = s_client(h.port(), "-groups", "X25519")
        self.assertNotEqual(rc, 0, out)

    def test_curves_default_prefers_x25519(self):
        h = self.start(pair())
        rc, out = s_client(h.port(), "-groups", "X25519:P-256")
        self.assertEqual(rc, 0, out)
        self.assertIn("Server Temp Key: X25519", out)
        # A client that offers P-256 alone still gets in.
        rc, out = s_client(h.port(), "-groups", "P-256")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Server Temp Key: ECDH, (prime256v1|P-256)")

    def test_bad_curve_at_file_line(self):
        self.check_refused('pid_file = "/tmp/x.pid";\nservers = (\n  { listen = [ "127.0.0.1:1" ];'
                           '\n    tls = { %s\n      curves = "X25519:P-999"; }; }\n);\n' % pair(),
                           5, "'curves'")

    # ------------------------------------------------ RSA and ECDSA together

    def test_rsa_and_ecdsa_on_one_server(self):
        h = self.start('certificate = [ "%s", "%s" ]; key = [ "%s", "%s" ];'
                       % (cert("a.pem"), cert("a2.pem"), cert("a.key"), cert("a2.key")))
        # TLS 1.2: the cipher's signature algorithm picks the certificate.
        for cipher, leaf in (("ECDHE-RSA-AES128-GCM-SHA256", "a.leaf"),
                             ("ECDHE-ECDSA-AES128-GCM-SHA256", "a2.leaf")):
            ctx = context(max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher)
            raw = socket.create_connection(("127.0.0.1", h.port()), timeout=10)
            with ctx.wrap_socket(raw, server_hostname="a.test") as s:
                self.assertEqual(s.getpeercert(binary_form=True), der(cert(leaf)), cipher)
                self.assertEqual(s.cipher()[0], cipher)
        # TLS 1.3: the client's signature algorithms do.
        for sigalgs, want in (("ECDSA+SHA256", "ECDSA"), ("rsa_pss_rsae_sha256", "RSA-PSS")):
            rc, out = s_client(h.port(), "-tls1_3", "-sigalgs", sigalgs)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"Peer signature type: %s\b" % want)
            self.assertIn("Verification: OK", out)

    def test_bad_pairing_at_file_line(self):
        self.check_refused('pid_file = "/tmp/x.pid";\nservers = (\n  { listen = [ "127.0.0.1:1" ];'
                           '\n    tls = { certificate = [ "%s",\n      "%s" ];\n'
                           '      key = [ "%s",\n      "%s" ]; }; }\n);\n'
                           % (cert("a.pem"), cert("a2.pem"), cert("a2.key"), cert("a.key")),
                           6, "does not match the certificate")

    # -------------------------------------------------------- client certificates

    def test_client_certificate_required(self):
        h = self.start(pair() + ' client_certificate = "%s";' % cert("ca.pem"))
        status, body, version, cipher = ask(h.port(), "/one", context("client"))
        self.assertEqual((status, body), (b"HTTP/1.1 200 OK", b"ok\n"))
        line = self.log_lines(h)[0]
        self.assertEqual(line, "https|%s|%s|CN=client.test,O=herd test|/one" % (version, cipher))
        mark = h.log_mark()
        self.assertTrue(refused(h.port(), context()), "served without a certificate")
        h.wait_log(r"TLS: handshake failed: .*certificate.*, client: 127\.0\.0\.1", since=mark)
        mark = h.log_mark()
        self.assertTrue(refused(h.port(), context("stranger")), "served another CA's client")
        h.wait_log(r"TLS: handshake failed: .*certificate.*, client: 127\.0\.0\.1", since=mark)
        # Over TLS 1.2 too, and the log says so.
        status, _, version, cipher = ask(h.port(), "/two",
                                         context("client", ssl.TLSVersion.TLSv1_2))
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertEqual(version, "TLSv1.2")
        self.assertIn("https|TLSv1.2|%s|CN=client.test,O=herd test|/two" % cipher,
                      self.log_lines(h, n=2))

    def test_client_certificate_optional(self):
        h = self.start(pair() + ' client_certificate = "%s"; client_verify = "optional";'
                       % cert("ca.pem"))
        status, _, version, cipher = ask(h.port(), "/none")
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        status, _, _, _ = ask(h.port(), "/client", context("client"))
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertEqual(self.log_lines(h, n=2)[:2],
                         ["https|%s|%s|-|/none" % (version, cipher),
                          "https|%s|%s|CN=client.test,O=herd test|/client" % (version, cipher)])
        self.assertTrue(refused(h.port(), context("stranger")), "served another CA's client")

    def test_ssl_variables_without_tls(self):
        h = self.start(pair())
        status, _, _ = herdtest.get(h.port("plain"), "/p")
        self.assertEqual(status, 200)
        self.assertEqual(self.log_lines(h, "plain.log")[0], "http|-|-|-|/p")

    def test_client_verify_needs_client_certificate(self):
        self.check_refused('pid_file = "/tmp/x.pid";\nservers = (\n  { listen = [ "127.0.0.1:1" ];'
                           '\n    tls = { %s\n      client_verify = "optional"; }; }\n);\n'
                           % pair(), 5, "'client_verify' needs a 'client_certificate'")

    # ------------------------------------------------------------ X-Forwarded-Proto

    def test_x_forwarded_proto_says_https_over_tls(self):
        backend = Backend()
        self.addCleanup(backend.close)
        route = '{ path = "/"; proxy = { upstream = "app"; }; }'
        upstreams = ('upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:%d"; } );'
                     ' keepalive = 0; } );\n' % backend.port)
        h = self.start(pair(), routes=route, top_extra=upstreams)
        status, body, _, _ = ask(h.port(), "/x")
        self.assertEqual(status, b"HTTP/1.1 200 OK")
        self.assertRegex(body.decode(), r"(?im)^X-Forwarded-Proto: https\r$")
        status, _, body = herdtest.get(h.port("plain"), "/y")
        self.assertEqual(status, 200)
        self.assertRegex(body.decode(), r"(?im)^X-Forwarded-Proto: http\r$")
        self.assertEqual(len(re.findall(r"(?i)X-Forwarded-Proto", body.decode())), 1)


if __name__ == "__main__":
    herdtest.main()
