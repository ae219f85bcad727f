#!/usr/bin/env python3
"""TLS keys beyond the certificate, with the real binary: `curves` (the key
exchange group a client gets, none in common refused, a bad name at
FILE:LINE), an RSA and an ECDSA certificate on one server (each served to
the client that needs it, over TLS 1.2 by cipher and TLS 1.3 by signature
algorithm; a bad pairing at FILE:LINE).

The certificates are test_tls.py's (a CA, a.test RSA, a2 = a.test ECDSA,
b.test ECDSA), plus a client certificate from that CA (O=herd test,
CN=client.test) and one from another CA."""

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
LOG_FORMAT = "$$scheme|$$request_uri"


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


def der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


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



if __name__ == "__main__":
    herdtest.main()
