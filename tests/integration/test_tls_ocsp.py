#!/usr/bin/env python3
"""OCSP stapling with the real binary and a real responder: `openssl ocsp`
answering from an index file, started here, on a port it picks itself
(`-port 0`: it binds, then prints "ACCEPT [::]:PORT", which is read back:
no window in which another process could take a port chosen for it).

What is checked: the first handshake of each of 2 workers carries a good
staple (the worker serving each connection is found through /proc);
`ocsp_responder` overrides the certificate's responder (which is down); a
revoked certificate's response is stapled, saying revoked; with the
responder stopped, a reload keeps stapling the response fetched before, a
refresh that fails is logged, and the staple goes once it expires (a
responder that answers with one-minute responses); `ocsp_file` (stapled
without a responder, refused at FILE:LINE when it is not a response or is
another certificate's); no responder anywhere: a warning at FILE:LINE and
no staple; herd -t's checks of the keys.

The certificates are made here with the openssl command: a CA (ECDSA
P-256) and leaves with fixed serial numbers, listed in the responder's
index (1002 revoked)."""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

OPENSSL = shutil.which("openssl")

# name: (serial, where its AIA points: "responder", "dead" or None, revoked)
LEAVES = {
    "good": (0x1001, "responder", False),
    "revoked": (0x1002, "responder", True),
    "dead": (0x1003, "dead", False),
    "noaia": (0x1004, None, False),
    "other": (0x1005, "responder", False),
}

CERTS = None
RESPONDER = None
DEAD_PORT = None


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cert(name):
    return os.path.join(CERTS, name)


class Responder:
    """`openssl ocsp` answering for the CA from CERTS/index.txt."""

    def __init__(self, minutes=10, made_ago=0):
        # made_ago: its clock runs that many seconds behind (faketime), so
        # that a response of a minute expires that much sooner.
        clock = ["faketime", "-f", "-%ds" % made_ago] if made_ago else []
        self.proc = subprocess.Popen(
            clock + [OPENSSL, "ocsp", "-index", cert("index.txt"), "-port", "0",
             "-rsigner", cert("ca.pem"), "-rkey", cert("ca.key"), "-CA", cert("ca.pem"),
             "-nmin", str(minutes), "-ignore_err"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=CERTS, start_new_session=True)
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                c = self.proc.stdout.read1(1)
                if not c:
                    break
                line += c
        m = re.match(rb"ACCEPT .*:(\d+)", line)
        if m is None:
            self.stop()
            raise RuntimeError("openssl ocsp did not say its port: %r" % line)
        self.port = int(m.group(1))
        # It listens once it has said so. (No connect-and-close probe: the
        # responder of OpenSSL 3.0 spins forever on a connection closed
        # without a request.)
        self.url = "http://127.0.0.1:%d/" % self.port

    def stop(self):
        # The whole group: faketime runs openssl as its child.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()


def make_pki(d):
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=herd-test-ocsp-ca", d)
    with open(os.path.join(d, "index.txt"), "w") as idx:
        for name, (serial, _, revoked) in LEAVES.items():
            # The subjects of an index are unique; the serial is what counts.
            if revoked:
                idx.write("R\t301201000000Z\t260101000000Z\t%X\tunknown\t/CN=%s\n"
                          % (serial, name))
            else:
                idx.write("V\t301201000000Z\t\t%X\tunknown\t/CN=%s\n" % (serial, name))


def make_leaves(d, responder_port, dead_port):
    for name, (serial, aia, _) in LEAVES.items():
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:a.test\n")
            if aia:
                port = responder_port if aia == "responder" else dead_port
                f.write("authorityInfoAccess=OCSP;URI:http://127.0.0.1:%d/\n" % port)
        sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {n}.key "
           "-out {n}.csr -subj /CN=a.test && openssl x509 -req -in {n}.csr -CA ca.pem "
           "-CAkey ca.key -set_serial {s} -days 2 -extfile {n}.ext -out {n}.leaf && "
           "cat {n}.leaf ca.pem > {n}.pem".format(n=name, s=serial), d)
    # Responses made without a responder, for ocsp_file.
    for name in ("noaia", "other"):
        sh("openssl ocsp -issuer ca.pem -cert {n}.leaf -no_nonce -reqout {n}.req && "
           "openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem "
           "-reqin {n}.req -respout {n}.der -ndays 1".format(n=name), d)
    with open(os.path.join(d, "garbage.der"), "wb") as f:
        f.write(b"\x30\x03not an OCSP response")
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)


def setUpModule():
    global CERTS, RESPONDER, DEAD_PORT
    if OPENSSL is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-ocsp-")
    DEAD_PORT = herdtest.free_port()
    try:
        make_pki(CERTS)
        RESPONDER = Responder()
        make_leaves(CERTS, RESPONDER.port, DEAD_PORT)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if RESPONDER:
        RESPONDER.stop()
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def tls_group(name, extra=""):
    return ('tls = { certificate = "%s"; key = "%s";\n      ocsp_stapling = true; %s };'
            % (cert(name + ".pem"), cert(name + ".key"), extra))


def conf(name, extra="", workers=2):
    return herdtest.top(workers) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    %s
    routes = ( { path = "/"; return = { status = 200; body = "A\\n"; }; } ); }
);
""" % tls_group(name, extra)


def staple_of(out):
    """'good', 'revoked', ... from s_client -status's output; None: no staple."""
    if "OCSP response: no response sent" in out:
        return None
    m = re.search(r"Cert Status: (\w+)", out)
    return m.group(1) if m else "unreadable"


def staple(port):
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-status",
                        "-servername", "a.test", "-CAfile", cert("ca.pem")],
                       input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode("utf-8", "replace")
    return staple_of(out), out


def socket_inodes(pid):
    found = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue            # closed while we looked
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            found.add(int(m.group(1)))
    return found


def tcp_table():
    """(local port, remote port, inode) of every TCP socket."""
    rows = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                x = line.split()
                rows.append((int(x[1].rsplit(":", 1)[1], 16), int(x[2].rsplit(":", 1)[1], 16),
                             int(x[9])))
    return rows


def first_handshake(port, workers):
    """A handshake held open: (the worker that serves it, its staple, the
    client's output)."""
    p = subprocess.Popen([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-status",
                          "-servername", "a.test", "-CAfile", cert("ca.pem")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    fd = p.stdout.fileno()
    out = b""
    try:
        os.set_blocking(fd, False)

        def handshaken():
            nonlocal out
            try:
                out += os.read(fd, 65536)
            except BlockingIOError:
                pass
            return b"Verify return code" in out or p.poll() is not None
        herdtest.wait_for(handshaken, 20.0, what="s_client's handshake")
        mine = socket_inodes(p.pid)
        table = tcp_table()
        client_ports = {lp for lp, rp, ino in table if ino in mine and rp == port}
        served = {ino for lp, rp, ino in table if lp == port and rp in client_ports}
        who = [w for w in workers if socket_inodes(w) & served]
    finally:
        p.stdin.close()
        os.set_blocking(fd, True)
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
        p.wait(20)
        p.stdout.close()
    text = out.decode("utf-8", "replace")
    return (who[0] if who else None), staple_of(text), text


class OcspTest(HerdTestCase):

    def start(self, name, extra="", workers=2):
        h = self.herd(None, start=False)
        os.chmod(h.dir, 0o755)
        h.rewrite_config(conf(name, extra, workers))
        h.start()
        return h

    def test_first_handshake_of_every_worker_is_stapled(self):
        h = self.start("good")
        workers = h.wait_workers(2)
        seen = {}
        for _ in range(200):
            who, status, out = first_handshake(h.port(), workers)
            self.assertIsNotNone(who, "no worker holds the connection:\n" + out)
            self.assertEqual(status, "good", out)
            seen.setdefault(who, status)
            if len(seen) == 2:
                break
        self.assertEqual(sorted(seen), sorted(workers))
        self.assertRegex(h.log_text(), r"OCSP: certificate %s: response from %s stapled until"
                         % (re.escape(cert("good.pem")), re.escape(RESPONDER.url)))

    def test_ocsp_responder_overrides_the_certificates(self):
        # good.pem names the responder; dead.pem a port nobody listens on.
        h = self.start("dead", workers=1)
        self.assertEqual(staple(h.port())[0], None)
        h.wait_log(r"OCSP: certificate %s: no good response from http://127\.0\.0\.1:%d/: .*"
                   r"served without a staple" % (re.escape(cert("dead.pem")), DEAD_PORT))
        h.stop()
        h = self.start("dead", 'ocsp_responder = "%s";' % RESPONDER.url, workers=1)
        status, out = staple(h.port())
        self.assertEqual(status, "good", out)

    def test_a_revoked_certificates_response_is_stapled(self):
        h = self.start("revoked", workers=1)
        status, out = staple(h.port())
        self.assertEqual(status, "revoked", out)
        h.wait_log(r"OCSP: certificate %s is REVOKED" % re.escape(cert("revoked.pem")))

    def test_the_staple_stays_until_it_expires_when_the_responder_stops(self):
        # One-minute responses from a responder of this test's own, made
        # (by its clock) 30 s before they are asked for: they expire 30 s
        # after herd fetched them.
        r = Responder(minutes=1, made_ago=30)
        self.addCleanup(r.stop)
        h = self.start("dead", 'ocsp_responder = "%s";' % r.url, workers=1)
        fetched = time.monotonic()
        self.assertEqual(staple(h.port())[0], "good")
        r.stop()
        # A reload fetches again, in vain; the new workers staple what the
        # old ones had, without waiting.
        mark = h.log_mark()
        h.signal(signal.SIGHUP)
        h.wait_log(r"generation 2 serving", timeout=10.0, since=mark)
        h.wait_log(r"no good response from %s: .*its staple is served until it expires"
                   % re.escape(r.url), timeout=15.0, since=mark)
        status, out = staple(h.port())
        self.assertEqual(status, "good", out)
        # Then it expires (nextUpdate a minute after it was made) and is
        # stapled no more; nothing better came meanwhile.
        last = []

        def expired():
            last[:] = [staple(h.port())]
            return last[0][0] is None
        try:
            herdtest.wait_for(expired, 100.0, what="the staple to expire")
        except AssertionError as e:
            # Once seen under a full parallel run, not reproduced since:
            # say what was stapled and what the master did.
            raise AssertionError("%s\nlast s_client:\n%s\nherd log:\n%s"
                                 % (e, last[0][1][-1500:] if last else "-", h.log_tail(60)))
        self.assertGreater(time.monotonic() - fetched, 20.0)

    def test_ocsp_file_is_stapled(self):
        h = self.start("noaia", 'ocsp_file = "%s";' % cert("noaia.der"))
        for _ in range(4):
            status, out = staple(h.port())
            self.assertEqual(status, "good", out)
        self.assertNotIn("no OCSP staple", h.log_text())

    def test_no_responder_anywhere_warns_and_serves_without_a_staple(self):
        h = self.start("noaia", workers=1)
        self.assertEqual(staple(h.port())[0], None)
        line = h.text[:h.text.index("ocsp_stapling")].count("\n") + 1
        self.assertRegex(h.log_text(), r"%s:%d: .*certificate %s names no OCSP responder"
                         % (re.escape(h.conf), line, re.escape(cert("noaia.pem"))))
        rc, out, err = herdtest.run("-t", "-c", h.conf)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("%s:%d: " % (h.conf, line), err)
        self.assertIn("names no OCSP responder", err)

    def check(self, group_extra, says, rc=1, pem=None):
        """herd -t on a tls group whose OCSP keys are all on line 6."""
        d = tempfile.mkdtemp(prefix="herd-ocsp-conf-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "herd.conf")
        with open(path, "w") as f:
            f.write('pid_file = "/tmp/x.pid";\nservers = (\n  { listen = [ "127.0.0.1:1" ];\n'
                    '    routes = ( { path = "/"; return = { status = 204; }; } );\n'
                    '    tls = { certificate = "%s"; key = "%s";\n      %s }; }\n);\n'
                    % (pem or cert("noaia.pem"), cert("noaia.key"), group_extra))
        rc_got, out, err = herdtest.run("-t", "-c", path)
        self.assertEqual(rc_got, rc, out + err)
        self.assertIn("%s:6: " % path, err)
        self.assertIn(says, err)

    def test_herd_t_checks_the_keys(self):
        on = "ocsp_stapling = true; "
        self.check(on + 'ocsp_file = "%s";' % cert("garbage.der"),
                   "is refused: it is not a DER OCSP response")
        self.check(on + 'ocsp_file = "%s";' % cert("other.der"),
                   "is refused: it is for another certificate")
        self.check(on + 'ocsp_file = "%s";' % cert("none.der"), "No such file or directory")
        self.check(on + 'ocsp_file = "noaia.der";', "'ocsp_file' must be an absolute path")
        self.check(on + 'ocsp_responder = "https://127.0.0.1/";',
                   "'ocsp_responder': \"https://127.0.0.1/\" is not an http:// URL")
        # Accepted, with a warning: a key that does nothing.
        self.check('ocsp_file = "%s";' % cert("noaia.der"),
                   "'ocsp_file' has no effect without 'ocsp_stapling = true'", rc=0)
        # The certificate file holds no issuer (the leaf alone): no staple.
        self.check(on, "has no issuer certificate after the leaf", rc=0,
                   pem=cert("noaia.leaf"))


if __name__ == "__main__":
    herdtest.main()
