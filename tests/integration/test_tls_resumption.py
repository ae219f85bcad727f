#!/usr/bin/env python3
"""TLS session resumption with the real binary, by session tickets whose
keys the master makes and shares with every worker: with 2 workers at
least 99 of 100 resumptions succeed for TLS 1.2 and for TLS 1.3 (Python's
ssl offering the first connection's session), and the status page shows
that both workers took some of them; a session made before a reload
resumes after it (on the new generation's workers), and after a binary
upgrade (on the new master's workers: the key page is passed on); the keys
rotate on
`ticket_key_rotation` (observed through the master's log line): a ticket
sealed before one rotation still resumes, one older than two rotations
does not; a session of one virtual host is not resumed on another of the
same address (while the same server under its other name does resume it,
which shows that the client offered it); `ticket_key_files` shared by two
separate herd instances resume each other's sessions (80- and 48-byte
files, the first seals and every one opens), an instance without them
does not; a key file of a wrong size or that cannot be read is refused at
FILE:LINE by `herd -t` and by a reload, which keeps the old generation
serving.

Certificates are made by the openssl command, as in test_tls.py."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402
import test_tls  # noqa: E402

V12 = ssl.TLSVersion.TLSv1_2
V13 = ssl.TLSVersion.TLSv1_3
CERTS = None


def setUpModule():
    global CERTS
    if test_tls.OPENSSL is None:
        raise unittest.SkipTest("no openssl command")
    CERTS = tempfile.mkdtemp(prefix="herd-tls-res-")
    test_tls.make_certificates(CERTS)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


def conf(workers=2, rotation="1h", files_a="", top_extra="", a_extra=""):
    """a.test (also alias.a.test) and b.test share a TLS address; a plain
    address serves the status page."""
    keys = 'ticket_key_files = [ %s ];' % ", ".join('"%s"' % f for f in files_a) \
        if files_a else ""
    keys += a_extra
    return herdtest.top(workers, 'ticket_key_rotation = "%s";\n%s' % (rotation, top_extra)) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "a.test", "alias.a.test" ];
    tls = { certificate = "%s"; key = "%s";
            %s };
    routes = ( { path = "/"; return = { status = 200; body = "A\\n"; }; } ); },
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "b.test" ];
    tls = { certificate = "%s"; key = "%s"; };
    routes = ( { path = "/"; return = { status = 200; body = "B\\n"; }; } ); },
  { listen = [ "127.0.0.1:$port_plain" ];
    routes = ( { path = "/status"; status = { format = "json"; }; } ); }
);
""" % (cert("a.pem"), cert("a.key"), keys, cert("b.pem"), cert("b.key"))


def context(version, verify=True):
    if verify:
        ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    else:
        # For names the certificates do not cover (alias.a.test).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def exchange(port, ctx, name="a.test", session=None):
    """One request over a new connection: (body, session, reused). The
    session is read after the response, so TLS 1.3 tickets are in."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=name, session=session)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + name.encode() +
                  b"\r\nConnection: close\r\n\r\n")
        data, _ = herdtest.read_until_close(s, timeout=10)
        body = data.split(b"\r\n\r\n", 1)[-1]
        return body, s.session, s.session_reused
    finally:
        s.close()


def accepted_by_worker(h):
    status, _, body = herdtest.get(h.port("plain"), "/status")
    assert status == 200, (status, body)
    return {w["pid"]: w["accepted"] for w in json.loads(body.decode())["workers"]}


ROTATED = r"TLS: session ticket keys rotated \(rotation (\d+);"


class ResumptionTest(HerdTestCase):

    def start(self, **kw):
        h = self.herd(conf(**kw))
        return h

    def resume_100(self, h, version):
        ctx = context(version)
        body, sess, reused = exchange(h.port(), ctx)
        self.assertEqual(body, b"A\n")
        self.assertFalse(reused)
        self.assertTrue(sess is not None and sess.has_ticket, "no ticket issued")
        before = accepted_by_worker(h)
        ok = 0
        for _ in range(100):
            body, _, reused = exchange(h.port(), ctx, session=sess)
            self.assertEqual(body, b"A\n")
            ok += reused
        after = accepted_by_worker(h)
        self.assertGreaterEqual(ok, 99, "%d of 100 resumed" % ok)
        # Both workers took connections (the status request adds one).
        took = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after}
        self.assertEqual(len(took), 2, took)
        self.assertTrue(all(n >= 3 for n in took.values()), took)
        herdtest.diag("TLS %s: %d of 100 resumed; connections by worker %s"
                      % (version.name, ok, sorted(took.values())))

    def test_resumption_across_workers_tls12(self):
        self.resume_100(self.start(), V12)

    def test_resumption_across_workers_tls13(self):
        self.resume_100(self.start(), V13)

    def test_session_made_before_a_reload_resumes_after_it(self):
        h = self.start()
        old = h.wait_workers(2)
        sessions = {}
        for v in (V12, V13):
            ctx = context(v)
            _, sess, _ = exchange(h.port(), ctx)
            sessions[v] = (ctx, sess)
        mark = h.log_mark()
        h.signal(signal.SIGHUP)
        h.wait_log(r"generation 2 serving", since=mark, timeout=10)
        h.wait_workers(2, exclude=old, timeout=10)
        for v, (ctx, sess) in sessions.items():
            for _ in range(10):
                body, _, reused = exchange(h.port(), ctx, session=sess)
                self.assertEqual(body, b"A\n")
                self.assertTrue(reused, "TLS %s session not resumed after the reload" % v.name)

    def test_session_made_before_a_binary_upgrade_resumes_after_it(self):
        h = self.start()
        old = h.pid
        sessions = [(context(v), v) for v in (V12, V13)]
        sessions = [(ctx, v, exchange(h.port(), ctx)[1]) for ctx, v in sessions]
        os.kill(old, signal.SIGUSR2)

        def new_master():
            new = h._pid_file_pid()
            ok = os.path.exists(h.pid_file + ".oldbin") and new and new != old and \
                len(herdtest.children_of(new)) == 2
            return new if ok else None
        new = herdtest.wait_for(new_master, 10.0 * herdtest.SLOW, what="the new master")
        # Only the new master's workers accept from now on.
        os.kill(old, signal.SIGWINCH)
        herdtest.wait_for(lambda: not (set(herdtest.children_of(old)) - {new}),
                          10.0 * herdtest.SLOW, what="the old workers to leave")
        try:
            for ctx, v, sess in sessions:
                for _ in range(10):
                    body, _, reused = exchange(h.port(), ctx, session=sess)
                    self.assertEqual(body, b"A\n")
                    self.assertTrue(reused, "TLS %s: not resumed by the new master's workers"
                                    % v.name)
        finally:
            os.kill(new, signal.SIGTERM)

    def last_rotation(self, h):
        found = [int(n) for n in re.findall(ROTATED, h.log_text())]
        return max(found) if found else 0

    def wait_rotation(self, h, n):
        h.wait_log(r"TLS: session ticket keys rotated \(rotation %d;" % n, timeout=30)

    def sealed_after_one_rotation(self, h, ctx):
        """A session sealed by key r, tried just after rotation r + 1; a
        try that a slow machine let straddle a rotation is made again.
        Returns (session, r, reused)."""
        for _ in range(5):
            r = self.last_rotation(h)
            _, sess, reused = exchange(h.port(), ctx)
            self.assertFalse(reused)
            if self.last_rotation(h) != r:
                continue            # sealed by r or r + 1: cannot tell
            self.wait_rotation(h, r + 1)
            _, _, reused = exchange(h.port(), ctx, session=sess)
            if self.last_rotation(h) != r + 1:
                continue            # r + 2 came before the check
            return sess, r, reused
        self.fail("every try straddled a rotation")

    def test_no_resumption_past_client_certificates_turned_on(self):
        """A session made without a client certificate must not resume
        (and skip the certificate) once a reload requires one."""
        h = self.start()
        sessions, ctxs = {}, {v: context(v) for v in (V12, V13)}
        for v in (V12, V13):
            body, sessions[v], _ = exchange(h.port(), ctxs[v])
            self.assertEqual(body, b"A\n")
        h.rewrite_config(conf(a_extra=' client_certificate = "%s";' % cert("ca.pem")))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        for v in (V12, V13):
            try:
                body, _, reused = exchange(h.port(), ctxs[v], session=sessions[v])
            except (ssl.SSLError, OSError):
                continue        # refused: no certificate
            self.assertFalse(reused, "TLS %s session resumed past the new requirement" % v.name)
            self.assertNotEqual(body, b"A\n", "TLS %s served without a certificate" % v.name)

    def test_rotation_keeps_the_previous_key_only(self):
        h = self.start(rotation="2s")
        for v in (V12, V13):
            ctx = context(v)
            sess, r, reused = self.sealed_after_one_rotation(h, ctx)
            # One rotation later its key is the previous one: it still opens.
            self.assertTrue(reused, "TLS %s: not resumed one rotation later" % v.name)
            # Two rotations later its key is gone: a full handshake.
            self.wait_rotation(h, r + 2)
            body, _, reused = exchange(h.port(), ctx, session=sess)
            self.assertEqual(body, b"A\n")
            self.assertFalse(reused, "TLS %s: resumed two rotations later" % v.name)

    def test_a_session_does_not_resume_on_another_host(self):
        h = self.start()
        for v in (V12, V13):
            ctx = context(v, verify=False)
            body, sess, _ = exchange(h.port(), ctx, name="a.test")
            self.assertEqual(body, b"A\n")
            # The same server by its other name resumes it: the client does
            # offer a session to another name.
            _, _, reused = exchange(h.port(), ctx, name="alias.a.test", session=sess)
            self.assertTrue(reused, "TLS %s: not resumed by the same server" % v.name)
            body, _, reused = exchange(h.port(), ctx, name="b.test", session=sess)
            self.assertEqual(body, b"B\n")
            self.assertFalse(reused, "TLS %s: a.test's session resumed on b.test" % v.name)
            # And the other way round.
            _, bsess, _ = exchange(h.port(), ctx, name="b.test")
            body, _, reused = exchange(h.port(), ctx, name="a.test", session=bsess)
            self.assertEqual(body, b"A\n")
            self.assertFalse(reused, "TLS %s: b.test's session resumed on a.test" % v.name)

    def key_file(self, name, size):
        path = os.path.join(CERTS, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        os.chmod(path, 0o600)
        return path

    def test_key_files_shared_by_two_instances(self):
        k80 = self.key_file("shared80.key", 80)
        k48 = self.key_file("shared48.key", 48)
        one = self.herd(conf(workers=1, files_a=[k80]))
        two = self.herd(conf(workers=1, files_a=[k48, k80]))
        alone = self.herd(conf(workers=1))
        for v in (V12, V13):
            ctx = context(v)
            # Sealed by one with k80: two opens it with its second key.
            _, sess, _ = exchange(one.port(), ctx)
            body, _, reused = exchange(two.port(), ctx, session=sess)
            self.assertEqual(body, b"A\n")
            self.assertTrue(reused, "TLS %s: one's session not resumed by two" % v.name)
            _, _, reused = exchange(alone.port(), ctx, session=sess)
            self.assertFalse(reused, "TLS %s: resumed without the key files" % v.name)
            # Sealed by two with k48 (its first): one, without k48, cannot.
            _, sess2, _ = exchange(two.port(), ctx)
            _, _, reused = exchange(two.port(), ctx, session=sess2)
            self.assertTrue(reused, "TLS %s: a 48-byte key does not resume" % v.name)
            _, _, reused = exchange(one.port(), ctx, session=sess2)
            self.assertFalse(reused, "TLS %s: resumed with a key one lacks" % v.name)

    def test_bad_key_files_are_refused_at_file_line(self):
        short = self.key_file("short.key", 50)
        h = self.herd(conf(files_a=[short]), start=False)
        line = h.text[:h.text.index("ticket_key_files")].count("\n") + 1
        rc, out, err = herdtest.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:%d: ticket key file %s has 50 bytes" % (h.conf, line, short), err)
        self.assertIn("openssl rand 80", err)
        missing = os.path.join(CERTS, "none.key")
        h.rewrite_config(conf(files_a=[missing]))
        rc, out, err = herdtest.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:%d: ticket key file %s: No such file or directory"
                      % (h.conf, line, missing), err)
        h.rewrite_config(conf(files_a=["relative.key"]))
        rc, out, err = herdtest.run("-t", "-c", h.conf)
        self.assertIn("must be an absolute path", err)

        # A reload to a bad file fails and the running generation serves on,
        # resuming its sessions.
        good = self.key_file("good.key", 80)
        h.rewrite_config(conf(files_a=[good]))
        h.start()
        ctx = context(V13)
        _, sess, _ = exchange(h.port(), ctx)
        h.rewrite_config(conf(files_a=[short]))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:%d: ticket key file %s has 50 bytes" % (h.conf, line, short),
                      out + err)
        body, _, reused = exchange(h.port(), ctx, session=sess)
        self.assertEqual(body, b"A\n")
        self.assertTrue(reused)


if __name__ == "__main__":
    herdtest.main()
