#!/usr/bin/env python3
"""Unix-socket listeners (listen = "unix:/path"): HTTP with curl
--unix-socket and echo over a real AF_UNIX socket; unix_mode, unix_owner
and unix_group applied to the file; the same socket kept across reloads
while a client loops (no request fails, the inode stays); a path that is a
regular file refused at FILE:LINE; a stale socket of a crashed server
replaced, a live one refused; the file removed at exit, but not by the old
master of a binary upgrade."""

import grp
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402


def conf(extra="", access_log=True):
    """An HTTP server on a TCP port (the harness waits for it) and on
    $dir/site.sock, and an echo server on $dir/echo.sock."""
    log = 'access_log = "$dir/access.log";' if access_log else ""
    return herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port", "unix:$dir/site.sock" ];
    %s
    %s
    routes = ( { path = "/"; return = { status = 200; type = "text/plain";
                                        body = "over unix\\n"; }; } ); },
  { listen = "unix:$dir/echo.sock"; protocol = "echo"; }
);
""" % (log, extra)


def curl_unix(path, url="http://localhost/", timeout=5):
    """(status, body) of one request over the unix socket at path."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), "--unix-socket", path,
                        "-o", "-", "-w", "\n%{http_code}", url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode()
    body, _, code = out.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body, r.stderr


def ask_unix(path, timeout=5.0):
    """One request on a new AF_UNIX connection; the status line's code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = herdtest.read_until_close(s, timeout)
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(m.group(1)) if m else 0


class UnixListenTest(HerdTestCase):

    def sock(self, h, name="site.sock"):
        return os.path.join(h.dir, name)

    def test_http_and_echo_over_unix_sockets(self):
        h = self.herd(conf())
        code, body, err = curl_unix(self.sock(h))
        self.assertEqual((code, body), (200, "over unix\n"), err)
        # The client address of a unix-socket client is "unix:" (as nginx).
        log = os.path.join(h.dir, "access.log")
        herdtest.wait_for(lambda: os.path.exists(log) and open(log).read(), 5 * herdtest.SLOW,
                          what="the access log line")
        self.assertRegex(open(log).read(), r'^unix: - - \[.*\] "GET / HTTP/1.1" 200 ')
        # Echo over its own socket.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock(h, "echo.sock"))
        s.sendall(b"ping over unix\n")
        self.assertEqual(herdtest.recv_exact(s, 15), b"ping over unix\n")
        s.close()
        # Default mode: 0666, like nginx (any local user may connect, as to
        # a port on 127.0.0.1).
        st = os.stat(self.sock(h, "echo.sock"))
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o666)

    def test_mode_owner_and_group_applied(self):
        user = pwd.getpwuid(os.getuid()).pw_name
        group = "nogroup" if os.getuid() == 0 else grp.getgrgid(os.getgid()).gr_name
        h = self.herd(conf('unix_mode = "0660"; unix_owner = "%s"; unix_group = "%s";'
                           % (user, group)))
        st = os.stat(self.sock(h))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_uid, os.getuid())
        self.assertEqual(st.st_gid, grp.getgrnam(group).gr_gid)
        # A reload with another mode changes the same socket's file.
        ino = st.st_ino
        h.rewrite_config(conf('unix_mode = "0600";'))
        rc, out, err = h.run("-c", h.conf, "-s", "reload")
        self.assertEqual(rc, 0, err + out)
        st = os.stat(self.sock(h))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_ino), (0o600, ino))

    def test_reload_keeps_the_socket_under_a_request_loop(self):
        h = self.herd(conf(access_log=False))
        path = self.sock(h)
        ino = os.stat(path).st_ino
        counts = {"ok": 0, "failed": 0}
        failures = []
        stop = threading.Event()

        def client():
            while not stop.is_set():
                try:
                    code = ask_unix(path)
                except OSError as e:
                    code = 0
                    failures.append(repr(e))
                counts["ok" if code == 200 else "failed"] += 1
                if code not in (0, 200):
                    failures.append("status %d" % code)
        t = threading.Thread(target=client)
        t.start()
        try:
            for _ in range(5):
                rc, out, err = h.run("-c", h.conf, "-s", "reload")
                self.assertEqual(rc, 0, err + out)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(counts["failed"], 0, failures[:5])
        self.assertGreater(counts["ok"], 0)
        self.assertEqual(os.stat(path).st_ino, ino, "the socket was re-created")
        self.assertEqual(ask_unix(path), 200)

    def test_path_that_is_a_regular_file_is_refused(self):
        h = self.herd(conf(), start=False)
        with open(self.sock(h), "w") as f:
            f.write("not a socket\n")
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"herd\.conf:\d+: listen \"unix:.*/site\.sock\": the path exists "
                              r"and is not a socket")
        rc, out, err = h.run("-F", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertIn("the path exists and is not a socket", err)
        self.assertEqual(open(self.sock(h)).read(), "not a socket\n")

    def test_stale_socket_is_replaced_and_a_live_one_refused(self):
        h = self.herd(conf(), start=False)
        path = self.sock(h)
        # A live server on the path: herd must not take it.
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        live.bind(path)
        live.listen(5)
        rc, out, err = h.run("-F", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"herd\.conf:\d+: connect unix:.*/site\.sock: .*another process "
                              r"listens there")
        self.assertTrue(os.path.exists(path))
        # Closed without removing its file: stale, as after a crash.
        live.close()
        self.assertTrue(stat.S_ISSOCK(os.lstat(path).st_mode))
        h.start()
        code, body, err = curl_unix(path)
        self.assertEqual((code, body), (200, "over unix\n"), err)
        self.assertRegex(h.log_text(), r"removing a stale socket")

    def test_socket_removed_at_exit(self):
        h = self.herd(conf())
        path, echo = self.sock(h), self.sock(h, "echo.sock")
        self.assertTrue(os.path.exists(path) and os.path.exists(echo))
        h.signal(signal.SIGTERM)
        h.wait_exit(10 * herdtest.SLOW)
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(echo))

    def test_removed_from_the_configuration_then_unlinked(self):
        h = self.herd(conf())
        echo = self.sock(h, "echo.sock")
        h.rewrite_config(conf().replace('  { listen = "unix:$dir/echo.sock"; protocol = "echo"; }\n',
                                        "").replace("body = \"over unix\\n\"; }; } ); },",
                                                    "body = \"over unix\\n\"; }; } ); }"))
        rc, out, err = h.run("-c", h.conf, "-s", "reload")
        self.assertEqual(rc, 0, err + out)
        herdtest.wait_for(lambda: not os.path.exists(echo), 10 * herdtest.SLOW,
                          what="the echo socket to go once its generation has gone")
        self.assertEqual(ask_unix(self.sock(h)), 200)

    def test_binary_upgrade_keeps_the_file(self):
        h = self.herd(conf())
        path = self.sock(h)
        ino = os.stat(path).st_ino
        old = h.pid
        os.kill(old, signal.SIGUSR2)

        def new_master():
            new = h._pid_file_pid()
            if not new or new == old or len(herdtest.children_of(new)) != 2:
                return None
            return new
        new = herdtest.wait_for(new_master, 10 * herdtest.SLOW, what="the new master")
        # The old master leaves: the new one still serves on the same file.
        os.kill(old, signal.SIGQUIT)
        herdtest.wait_for(lambda: not herdtest.pid_alive(old), 10 * herdtest.SLOW,
                          what="the old master to exit")
        self.assertEqual(os.stat(path).st_ino, ino)
        self.assertEqual(ask_unix(path), 200)
        # The new master's exit removes it.
        os.kill(new, signal.SIGTERM)
        herdtest.wait_for(lambda: not herdtest.pid_alive(new), 10 * herdtest.SLOW,
                          what="the new master to exit")
        self.assertFalse(os.path.exists(path))

    def test_unix_keys_without_a_unix_address_are_refused(self):
        h = self.herd(herdtest.top(1) + """
servers = ( { listen = "127.0.0.1:$port"; unix_mode = "0660";
              routes = ( { path = "/"; return = { status = 204; }; } ); } );
""", start=False)
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"herd\.conf:\d+: 'unix_mode', 'unix_owner' and 'unix_group' "
                              r"apply to \"unix:\" listen addresses")
        h.rewrite_config(conf('unix_mode = "0960";'))
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"herd\.conf:\d+: 'unix_mode' must be an octal file mode")


if __name__ == "__main__":
    herdtest.main()
