#!/usr/bin/env python3
"""Reloading the configuration: SIGHUP and `herd -s reload`, good and bad
files, address changes, worker count changes."""

import errno
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402


def conf(body="one\\n", workers=2, listens=('$port',)):
    addrs = ", ".join('"127.0.0.1:%s"' % p for p in listens)
    return herdtest.top(workers) + """
servers = (
  { listen = [ %s ];
    protocol = "http";
    routes = (
      { path = "/"; return = { status = 200; body = "%s"; }; }
    );
  }
);
""" % (addrs, body)


def body_of(port, timeout=5.0):
    status, headers, body = herdtest.get(port, "/", headers={"Connection": "close"},
                                         timeout=timeout)
    return status, body


def wait_body(port, want, timeout=2.0):
    last = []

    def ok():
        last[:] = [body_of(port)]
        return last[0] == (200, want)
    try:
        herdtest.wait_for(ok, timeout, what="body %r" % want)
    except AssertionError:
        raise AssertionError("port %d still answers %r, not %r, %.1f s after the reload"
                             % (port, last[0] if last else None, want, timeout))


class ReloadTest(HerdTestCase):

    def test_hup_changes_body(self):
        h = self.herd(conf("one\\n"))
        master = h.pid
        old = h.wait_workers(2)
        self.assertEqual(body_of(h.port()), (200, b"one\n"))
        h.rewrite_config(conf("two\\n"))
        h.signal(signal.SIGHUP)
        t0 = time.monotonic()
        wait_body(h.port(), b"two\n", 2.0)
        t_new = time.monotonic() - t0
        # Old and new workers overlap briefly (the new ones accept before the
        # old ones are told to drain); with no connection open, the old ones
        # leave at once.
        new = h.wait_workers(2, exclude=old, timeout=2.0 - (time.monotonic() - t0))
        t_gone = time.monotonic() - t0
        herdtest.diag("new body served %.2f s after HUP; old workers gone after %.2f s"
                      % (t_new, t_gone))
        for p in old:
            self.assertFalse(herdtest.pid_alive(p), "old worker %d still alive" % p)
        self.assertEqual(set(new) & set(old), set())
        # Every response from now on is the new one.
        for _ in range(20):
            self.assertEqual(body_of(h.port()), (200, b"two\n"))
        self.assertEqual(h.pid, master, "the master must not change")
        self.assertTrue(h.alive())

    def test_cli_reload_reports_generation(self):
        h = self.herd(conf("one\\n"))
        h.rewrite_config(conf("two\\n"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, "herd -s reload failed: %s %s" % (out, err))
        self.assertRegex(out + err, r"generation 2\b")
        # The answer comes once the new generation serves.
        self.assertEqual(body_of(h.port()), (200, b"two\n"))
        h.rewrite_config(conf("three\\n"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r"generation 3\b")
        self.assertEqual(body_of(h.port()), (200, b"three\n"))

    def test_broken_file_keeps_old_generation(self):
        h = self.herd(conf("one\\n"))
        old = h.wait_workers(2)
        mark = h.log_mark()
        broken = conf("two\\n").replace("protocol = \"http\";", "protocol = \"http\"; = ;")
        bad_line = next(i for i, l in enumerate(broken.split("\n"), 1) if "= ;" in l)
        h.rewrite_config(broken)
        h.signal(signal.SIGHUP)
        h.wait_log(re.escape("%s:%d:" % (h.conf, bad_line)), timeout=3.0, since=mark)
        self.assertEqual(body_of(h.port()), (200, b"one\n"))
        rc, out, err = h.reload_via_cli()
        self.assertNotEqual(rc, 0, "a reload of a broken file must fail")
        self.assertIn("%s:%d:" % (h.conf, bad_line), err)
        time.sleep(0.3)
        self.assertEqual(body_of(h.port()), (200, b"one\n"))
        self.assertEqual(h.worker_pids(), old, "the workers must be untouched")
        # Fixing the file makes the next reload work.
        h.rewrite_config(conf("fixed\\n"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        self.assertEqual(body_of(h.port()), (200, b"fixed\n"))

    def test_hup_with_invalid_value(self):
        # A file that parses but holds an impossible value: FILE:LINE in the log.
        h = self.herd(conf("one\\n"))
        mark = h.log_mark()
        bad = conf("two\\n").replace("workers = 2;", "workers = 0;")
        h.rewrite_config(bad)
        h.signal(signal.SIGHUP)
        h.wait_log(re.escape("%s:1:" % h.conf), timeout=3.0, since=mark)
        self.assertEqual(body_of(h.port()), (200, b"one\n"))

    def test_reload_onto_busy_port(self):
        h = self.herd(conf("one\\n"))
        old = h.wait_workers(2)
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.1", h.port("busy")))
            busy.listen(1)
            h.rewrite_config(conf("two\\n", listens=("$port_busy",)))
            rc, out, err = h.reload_via_cli()
            self.assertNotEqual(rc, 0, "reload onto a port in use must fail: %s" % out)
            self.assertIn("127.0.0.1:%d" % h.port("busy"), err)
            self.assertIn("Address already in use", err)
            self.assertEqual(body_of(h.port()), (200, b"one\n"))
            time.sleep(0.3)
            self.assertEqual(h.worker_pids(), old)
            self.assertEqual(body_of(h.port()), (200, b"one\n"))
            # With a free new address listed before the busy one, the failed
            # reload undoes what it opened.
            h.rewrite_config(conf("two\n", listens=("$port", "$port_fresh", "$port_busy")))
            rc, out, err = h.reload_via_cli()
            self.assertNotEqual(rc, 0, out)
            self.assertIn("Address already in use", err)
            self.assertEqual(herdtest.connect_error(h.port("fresh")), errno.ECONNREFUSED,
                             "the address opened by the failed reload is still open")
            self.assertEqual(body_of(h.port()), (200, b"one\n"))
        finally:
            busy.close()
        # The port is free again: the same reload now works.
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        self.assertEqual(body_of(h.port("fresh")), (200, b"two\n"))
        self.assertEqual(body_of(h.port("busy")), (200, b"two\n"))

    def test_add_listen_address(self):
        h = self.herd(conf("one\\n"))
        second = h.port("second")
        self.assertIsNotNone(herdtest.connect_error(second), "nothing should listen yet")
        h.rewrite_config(conf("two\\n", listens=("$port", "$port_second")))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        self.assertEqual(body_of(h.port()), (200, b"two\n"))
        self.assertEqual(body_of(second), (200, b"two\n"))

    def test_remove_listen_address(self):
        h = self.herd(conf("one\\n", listens=("$port", "$port_gone")))
        gone = h.port("gone")
        self.assertEqual(body_of(gone), (200, b"one\n"))
        h.rewrite_config(conf("two\\n", listens=("$port",)))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        self.assertEqual(body_of(h.port()), (200, b"two\n"))
        t0 = time.monotonic()
        herdtest.wait_for(lambda: herdtest.connect_error(gone) == errno.ECONNREFUSED, 3.0,
                          what="port %d to refuse connections" % gone)
        herdtest.diag("removed address refuses %.2f s after the reload" % (time.monotonic() - t0))
        self.assertEqual(body_of(h.port()), (200, b"two\n"))

    def test_idle_keepalive_connection_across_reload(self):
        # A request sent on a keep-alive connection of the old generation just
        # after the reload is answered (with Connection: close), not reset.
        h = self.herd(conf("one\n"))
        s = herdtest.connect(h.port())
        try:
            rd = herdtest.HttpReader(s)
            s.sendall(herdtest.http_request("GET", "/"))
            r = rd.read_response()
            self.assertEqual((r.status, r.body), (200, b"one\n"))
            h.rewrite_config(conf("two\n"))
            rc, out, err = h.reload_via_cli()
            self.assertEqual(rc, 0, err)
            time.sleep(0.1)
            s.sendall(herdtest.http_request("GET", "/"))
            r = rd.read_response()
            self.assertEqual((r.status, r.body), (200, b"one\n"))
            self.assertEqual((r.header("Connection") or "").lower(), "close")
            data, how = herdtest.read_until_close(s, 3.0)
            self.assertEqual((data, how), (b"", "eof"))
        finally:
            s.close()
        self.assertEqual(body_of(h.port()), (200, b"two\n"))

    def test_workers_2_to_3(self):
        h = self.herd(conf("one\\n", workers=2))
        old = h.wait_workers(2)
        mark = h.log_mark()
        h.rewrite_config(conf("two\\n", workers=3))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        new = h.wait_workers(3, exclude=old)
        log = h.log_since(mark)
        for p in new:
            self.assertRegex(log, r"started worker %d \(slot \d+, generation 2\)" % p)
        slots = sorted(int(re.search(r"started worker %d \(slot (\d+)" % p, log).group(1))
                       for p in new)
        self.assertEqual(slots, [0, 1, 2])
        self.assertEqual(body_of(h.port()), (200, b"two\n"))
        # And back down to 1.
        h.rewrite_config(conf("three\\n", workers=1))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        h.wait_workers(1, exclude=new)
        for _ in range(10):
            self.assertEqual(body_of(h.port()), (200, b"three\n"))

    def test_hup_storm_coalesces(self):
        # Many HUPs in a burst: the master survives and ends on the latest file.
        h = self.herd(conf("one\\n"))
        for i in range(10):
            h.rewrite_config(conf("v%d\\n" % i))
            h.signal(signal.SIGHUP)
        wait_body(h.port(), b"v9\n", 5.0)
        h.wait_workers(2)
        self.assertTrue(h.alive())
        time.sleep(0.5)
        self.assertEqual(len(h.worker_pids()), 2, h.log_tail())


class FailedReloadLoggingTest(HerdTestCase):
    """A reload that fails after reading a new error_log and log_level
    leaves the master logging where and how the serving generation says."""

    def test_failed_reload_keeps_old_error_log_and_level(self):
        h = self.herd(conf("one\\n", workers=1))
        other = os.path.join(h.dir, "other.log")
        # An address a foreign socket holds without SO_REUSEPORT: the new
        # generation cannot bind it, after its configuration was adopted.
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        bad = conf("two\\n", workers=1, listens=('$port', str(busy)))
        bad = bad.replace('error_log = "$error_log";',
                          'error_log = "%s";\nlog_level = "error";' % other)
        h.rewrite_config(bad)
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(body_of(h.port()), (200, b"one\n"))
        # An info line after the failure: in the old log, at the old level.
        mark = h.log_mark()
        h.signal(signal.SIGUSR1)
        h.wait_log(r"reopened log files", timeout=3.0, since=mark)
        if os.path.exists(other):
            with open(other) as f:
                self.assertNotIn("reopened log files", f.read())


class FailingWorkerReloadTest(HerdTestCase):
    """A reload whose only new worker dies before it is ready (here: a
    static root the workers' user cannot open) fails cleanly, twice in a
    row, and the old generation keeps serving."""

    def test_single_worker_dies_at_start(self):
        one = herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
  routes = ( { path = "/"; return = { body = "old\\n"; }; } ); } );
"""
        h = self.herd(one)
        secret = os.path.join(h.dir, "secret")
        os.mkdir(secret, 0o700)
        os.chmod(h.dir, 0o711)
        h.rewrite_config(herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
  routes = ( { path = "/"; static = { root = "%s"; }; } ); } );
""" % secret)
        for _ in range(2):
            rc, out, err = h.reload_via_cli()
            self.assertEqual(rc, 1, out + err)
            self.assertIn("before it was ready", err)
            self.assertTrue(h.alive(), h.log_tail())
            status, _, body = herdtest.get(h.port(), "/")
            self.assertEqual((status, body), (200, b"old\n"))
        h.wait_workers(1)


if __name__ == "__main__":
    herdtest.main()
