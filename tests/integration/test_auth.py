#!/usr/bin/env python3
"""Basic authentication (auth = { realm; user_file; cache; }) over real
sockets: htpasswd -B files and sha512/sha256-crypt and yescrypt hashes
accepted; apr1, MD5-crypt, {SHA}, DES and plain text refused at load with
FILE:LINE, the user and the hint; 401 with WWW-Authenticate for a missing,
wrong, unknown or malformed credential (never 400); $remote_user in the
access log; the file re-read by a reload; an unknown user costs as much
time as a wrong password."""

import base64
import ctypes
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase, HttpReader, http_request  # noqa: E402


def conf(extra=""):
    return herdtest.top(1) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/access.log";
    routes = (
      { path = "/private/";
        auth = { realm = "staff"; user_file = "$dir/htpasswd"; %s };
        return = { status = 200; type = "text/plain"; body = "secret page\\n"; }; },
      { path = "/"; return = { status = 200; type = "text/plain"; body = "public\\n"; }; }
    ); }
);
""" % extra


def htpasswd(*args):
    """Run htpasswd -b...; the line it prints with -n."""
    r = subprocess.run(["htpasswd", "-n", "-b"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=True)
    return r.stdout.decode().strip()


def openssl_passwd(flag, password):
    r = subprocess.run(["openssl", "passwd", flag, password], stdout=subprocess.PIPE,
                       check=True)
    return r.stdout.decode().strip()


def yescrypt(password):
    """A yescrypt hash made by the system's libcrypt (as mkpasswd would)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(password.encode(), lib.crypt_gensalt(b"$y$", 0, None, 0)).decode()


def auth_line(h):
    """The line of the auth group's user_file in h's configuration."""
    return [i for i, line in enumerate(h.text.splitlines(), 1) if "user_file" in line][0]


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def ask(port, path, authorization=None):
    """(status, response) of one request on its own connection."""
    s = herdtest.connect(port)
    try:
        headers = [("Connection", "close")]
        if authorization is not None:
            headers.append(("Authorization", authorization))
        s.sendall(http_request("GET", path, headers=headers))
        r = HttpReader(s).read_response()
        return r.status, r
    finally:
        s.close()


class AuthTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists("/usr/bin/htpasswd"),
                        "htpasswd (apache2-utils) is needed")

    def make(self, lines, extra="", start=True):
        h = self.herd(conf(extra), start=False)
        h.write_file("htpasswd", "".join(line + "\n" for line in lines))
        if start:
            h.start()
        return h

    def test_bcrypt_file_serves_and_challenges(self):
        h = self.make(["# the staff", htpasswd("-B", "alice", "s3cret"),
                       htpasswd("-B", "-C", "6", "bob", "hunter2")])
        port = h.port()
        self.assertEqual(ask(port, "/")[0], 200)              # other routes are open
        for auth in (None, basic("alice", "wrong"), basic("mallory", "s3cret"),
                     "Basic !!!", "Basic", "Bearer abc", basic("", "s3cret"),
                     "Basic " + base64.b64encode(b"alice").decode()):
            status, r = ask(port, "/private/x", auth)
            self.assertEqual(status, 401, auth)
            self.assertEqual(r.header("WWW-Authenticate"),
                             'Basic realm="staff", charset="UTF-8"')
            self.assertNotIn(b"secret page", r.body)
        status, r = ask(port, "/private/x", basic("alice", "s3cret"))
        self.assertEqual((status, r.body), (200, b"secret page\n"))
        # Again (from the cache), and the other user.
        self.assertEqual(ask(port, "/private/", basic("alice", "s3cret"))[0], 200)
        self.assertEqual(ask(port, "/private/", basic("bob", "hunter2"))[0], 200)
        # $remote_user: the user, only once verified.
        log = os.path.join(h.dir, "access.log")
        herdtest.wait_for(lambda: open(log).read().count("\n") >= 12, 5 * herdtest.SLOW,
                          what="the access log lines")
        lines = open(log).read().splitlines()
        self.assertRegex(lines[1], r'^127\.0\.0\.1 - - .* 401 ')
        self.assertRegex(lines[9], r'^127\.0\.0\.1 - alice \[.*\] "GET /private/x HTTP/1.1" 200 ')
        self.assertRegex(lines[11], r'^127\.0\.0\.1 - bob ')
        # Wrong and malformed credentials are logged as refusals; a request
        # without any is not (a browser asks first without).
        text = h.log_text()
        self.assertRegex(text, r"refused with 401: unknown user or wrong password, client: "
                               r"127\.0\.0\.1")
        self.assertRegex(text, r"refused with 401: malformed Authorization header")

    def test_strong_crypt_formats_accepted(self):
        h = self.make(["ann:" + openssl_passwd("-6", "pw512"),
                       "ben:" + openssl_passwd("-5", "pw256"),
                       "cat:" + yescrypt("pwyes")])
        port = h.port()
        for user, pw in (("ann", "pw512"), ("ben", "pw256"), ("cat", "pwyes")):
            self.assertEqual(ask(port, "/private/", basic(user, pw))[0], 200, user)
            self.assertEqual(ask(port, "/private/", basic(user, pw + "x"))[0], 401, user)

    def test_weak_formats_refused_with_the_hint(self):
        cases = [
            (htpasswd("-m", "bob", "pw"), "apr1-MD5"),
            (htpasswd("-p", "bob", "pw"), "plain text"),
            (htpasswd("-s", "bob", "pw"), "{SHA} (unsalted SHA-1)"),
            (htpasswd("-d", "bob", "pw"), "DES crypt"),
            ("bob:" + openssl_passwd("-1", "pw"), "MD5-crypt"),
        ]
        for line, kind in cases:
            h = self.make([htpasswd("-B", "alice", "pw"), line], start=False)
            rc, out, err = h.run("-t", "-c", h.conf)
            self.assertEqual(rc, 1, line)
            pw = os.path.join(h.dir, "htpasswd")
            self.assertIn("herd.conf:%d: %s:2: user 'bob': %s password hashes are too weak "
                          "(fast to crack); make a bcrypt one with `htpasswd -B %s bob` or a "
                          "yescrypt one with `mkpasswd -m yescrypt`"
                          % (auth_line(h), pw, kind, pw), err)

    def test_unreadable_file_is_an_error_at_its_line(self):
        h = self.herd(conf(), start=False)
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"herd\.conf:%d: user_file .*/htpasswd: No such file or directory"
                         % auth_line(h))

    def test_reload_rereads_the_file(self):
        h = self.make([htpasswd("-B", "alice", "old")])
        port = h.port()
        self.assertEqual(ask(port, "/private/", basic("alice", "old"))[0], 200)
        h.write_file("htpasswd", htpasswd("-B", "alice", "new") + "\n" +
                     htpasswd("-B", "dora", "pw") + "\n")
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err + out)
        # The old password was remembered by the old worker only.
        self.assertEqual(ask(port, "/private/", basic("alice", "old"))[0], 401)
        self.assertEqual(ask(port, "/private/", basic("alice", "new"))[0], 200)
        self.assertEqual(ask(port, "/private/", basic("dora", "pw"))[0], 200)
        # A weak hash added later: the reload fails, the last good file stays.
        h.write_file("htpasswd", htpasswd("-m", "alice", "new") + "\n")
        rc, out, err = h.reload_via_cli()
        self.assertNotEqual(rc, 0)
        self.assertIn("apr1-MD5 password hashes are too weak", out + err)
        self.assertEqual(ask(port, "/private/", basic("alice", "new"))[0], 200)

    def test_unknown_user_costs_a_hash(self):
        # bcrypt at cost 10: ~100 ms a check here, against ~1 ms for a
        # request that hashes nothing. Without the dummy hash an unknown
        # user would answer 50 times faster; allow a factor of 4 for load.
        h = self.make([htpasswd("-B", "-C", "10", "alice", "right")], extra="cache = 0;")
        port = h.port()

        def took(auth):
            t = time.monotonic()
            status, _ = ask(port, "/private/", auth)
            self.assertEqual(status, 401)
            return time.monotonic() - t
        # In turns, so that a burst of load elsewhere slows both kinds.
        wrong, unknown = [], []
        for _ in range(4):
            wrong.append(took(basic("alice", "wrong")))
            unknown.append(took(basic("nobody", "wrong")))
        wrong, unknown = statistics.median(wrong), statistics.median(unknown)
        self.assertGreater(unknown, wrong / 4, "unknown %.4f s, wrong password %.4f s" %
                           (unknown, wrong))
        self.assertGreater(wrong, 0.01)


if __name__ == "__main__":
    herdtest.main()
