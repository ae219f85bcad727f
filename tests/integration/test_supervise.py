#!/usr/bin/env python3
"""The master supervising its workers: respawn, privileges, TERM, QUIT,
WINCH, USR1."""

import os
import pwd
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase, HttpReader, http_request  # noqa: E402


def conf(workers=2, body="ok\\n", extra_routes="", top_extra=""):
    return herdtest.top(workers, top_extra) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";
    routes = (
      { path = "/"; return = { status = 200; body = "%s"; }; }%s
    );
  }
);
""" % (body, extra_routes)


def get_ok(port, path="/", timeout=5.0):
    status, _, body = herdtest.get(port, path, timeout=timeout)
    return status, body


def worker_slot(log, pid):
    m = re.search(r"started worker %d \(slot (\d+)" % pid, log)
    return int(m.group(1)) if m else None


class SuperviseTest(HerdTestCase):

    def test_killed_worker_respawns_in_its_slot(self):
        h = self.herd(conf(2))
        workers = h.wait_workers(2)
        victim = workers[0]
        slot = worker_slot(h.log_text(), victim)
        self.assertIsNotNone(slot, "no 'started worker %d (slot N' line\n%s"
                             % (victim, h.log_tail()))
        mark = h.log_mark()
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        now = h.wait_workers(2, timeout=1.0, exclude=[victim])
        took = time.monotonic() - t0
        new = sorted(set(now) - set(workers))
        self.assertEqual(len(new), 1, "one new worker expected: before %s, after %s"
                         % (workers, now))
        self.assertIn(workers[1], now, "the other worker must be untouched")
        self.assertLess(took, 1.0 * herdtest.SLOW)
        h.wait_log(r"started worker %d \(slot %d" % (new[0], slot), timeout=1.0, since=mark)
        # The exit is logged with the signal.
        self.assertRegex(h.log_since(mark), r"worker %d .*(signal 9|Killed)" % victim)
        self.assertEqual(get_ok(h.port()), (200, b"ok\n"))
        time.sleep(0.3)
        self.assertEqual(len(h.worker_pids()), 2)

    def test_connections_queued_during_respawn_are_served(self):
        h = self.herd(conf(1))
        (victim,) = h.wait_workers(1)
        os.kill(victim, signal.SIGKILL)
        socks = []
        try:
            for i in range(20):
                s = herdtest.connect(h.port(), timeout=10)
                s.sendall(http_request("GET", "/q%d" % i))
                socks.append(s)
            for i, s in enumerate(socks):
                r = HttpReader(s, timeout=10).read_response()
                self.assertEqual((r.status, r.body), (200, b"ok\n"), "connection %d" % i)
        finally:
            for s in socks:
                s.close()
        (new,) = h.wait_workers(1)
        self.assertNotEqual(new, victim)

    def test_worker_runs_as_configured_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        h = self.herd(conf(2))
        workers = h.wait_workers(2)
        for w in workers:
            st = herdtest.proc_status(w)
            uids = st["Uid"].split()
            gids = st["Gid"].split()
            self.assertEqual(uids, [str(nobody.pw_uid)] * 4, "worker %d Uid: %s" % (w, st["Uid"]))
            self.assertEqual(gids, [str(nobody.pw_gid)] * 4, "worker %d Gid: %s" % (w, st["Gid"]))
            self.assertEqual(st["Groups"].split(), [str(nobody.pw_gid)],
                             "worker %d keeps supplementary groups: %r" % (w, st["Groups"]))
            self.assertEqual(st.get("NoNewPrivs"), "1")
        master = herdtest.proc_status(h.pid)
        self.assertEqual(master["Uid"].split()[0], "0", "the master stays root")

    def test_term_stops_everything(self):
        h = self.herd(conf(2))
        master = h.pid
        workers = h.wait_workers(2)
        h.signal(signal.SIGTERM)
        t0 = time.monotonic()
        status = h.wait_exit(5.0)
        self.assertIsNotNone(status, "master still running 5 s after TERM")
        herdtest.wait_for(lambda: not any(herdtest.pid_alive(w) for w in workers),
                          5.0 - (time.monotonic() - t0), what="workers to exit")
        self.assertFalse(herdtest.pid_alive(master))
        self.assertEqual(status, 0, h.log_tail())
        self.assertFalse(os.path.exists(h.pid_file), "pid file left behind")
        self.assertFalse(herdtest.can_connect(h.port()), "port still accepts after TERM")

    def test_quit_finishes_slow_response(self):
        size = 4 * 1024 * 1024
        big = ("abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]
        # Adjacent string literals are joined by libconfig; one 4 MB literal
        # would take libconfig's scanner seconds (it rescans long tokens).
        literal = "\n".join('"%s"' % big[i:i + 4096] for i in range(0, size, 4096))
        h = self.herd(conf(1, extra_routes=',\n      { path = "/big"; return = { status = 200; '
                                            'body = %s; }; }' % literal))
        (worker,) = h.wait_workers(1)
        t_start = time.monotonic()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.settimeout(10)
        s.connect(("127.0.0.1", h.port()))
        try:
            s.sendall(http_request("GET", "/big"))
            first = b""
            while b"\r\n\r\n" not in first:
                b = s.recv(4096)
                self.assertTrue(b, "closed before the response head: %r" % first)
                first += b
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:100])
            h.signal(signal.SIGQUIT)
            head, _, got = first.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            self.assertEqual(length, size)
            got = bytearray(got)
            worker_alive_at_half = master_alive_at_half = None
            t0 = time.monotonic()
            herdtest.diag("QUIT sent %.2f s after start" % (t0 - t_start))
            while len(got) < length:
                b = s.recv(16384)
                if not b:
                    break
                got += b
                if worker_alive_at_half is None and len(got) >= length // 2:
                    worker_alive_at_half = herdtest.pid_alive(worker)
                    master_alive_at_half = h.alive()
                time.sleep(0.001)
                self.assertLess(time.monotonic() - t0, 30, "reading took too long")
            herdtest.diag("body read in %.2f s" % (time.monotonic() - t0))
            self.assertEqual(len(got), length, "the response in flight was cut short by QUIT\n"
                             + h.log_tail())
            self.assertTrue(bytes(got) == big.encode(), "the body differs")
            # Not vacuous: the body was still being sent after QUIT.
            self.assertTrue(worker_alive_at_half,
                            "the worker had exited before half of the body was read")
            self.assertTrue(master_alive_at_half, "the master did not wait for its worker")
            # The master was waiting for it.
            status = h.wait_exit(5.0)
            self.assertIsNotNone(status, "master did not exit after QUIT\n" + h.log_tail())
            self.assertEqual(status, 0)
            self.assertFalse(os.path.exists(h.pid_file), "pid file left behind")
        finally:
            s.close()

    def test_quit_with_idle_keepalive_connection(self):
        # An idle keep-alive connection does not hold QUIT up for long.
        h = self.herd(conf(2, top_extra='shutdown_timeout = "20s";\n'))
        s = herdtest.connect(h.port())
        try:
            rd = HttpReader(s)
            s.sendall(http_request("GET", "/"))
            self.assertEqual(rd.read_response().status, 200)
            h.signal(signal.SIGQUIT)
            data, how = herdtest.read_until_close(s, 5.0)
            self.assertEqual((data, how), (b"", "eof"))
            self.assertIsNotNone(h.wait_exit(5.0), "master did not exit after QUIT")
        finally:
            s.close()

    def test_winch_then_hup(self):
        h = self.herd(conf(2))
        master = h.pid
        workers = h.wait_workers(2)
        h.signal(signal.SIGWINCH)
        try:
            herdtest.wait_for(lambda: h.worker_pids() == [], 5.0 * herdtest.SLOW,
                              what="workers to stop after WINCH")
        except AssertionError as e:
            raise AssertionError("%s: still running %s\n%s"
                                 % (e, h.worker_pids(), h.log_tail())) from None
        time.sleep(0.3)
        self.assertTrue(h.alive(), "the master must stay after WINCH")
        self.assertEqual(h.worker_pids(), [], "WINCH'd workers must not be respawned")
        self.assertEqual(h.pid, master)
        # A connection made now waits in the backlog for the next workers.
        s = herdtest.connect(h.port(), timeout=10)
        try:
            s.sendall(http_request("GET", "/"))
            h.signal(signal.SIGHUP)
            new = h.wait_workers(2, exclude=workers)
            self.assertEqual(set(new) & set(workers), set())
            r = HttpReader(s, timeout=10).read_response()
            self.assertEqual((r.status, r.body), (200, b"ok\n"))
        finally:
            s.close()
        self.assertEqual(get_ok(h.port()), (200, b"ok\n"))
        self.assertEqual(h.pid, master)

    def test_usr1_reopens_log(self):
        h = self.herd(conf(2, top_extra='shutdown_timeout = "1s";\n'))
        h.wait_log(r"serving")
        rotated = h.error_log + ".1"
        os.rename(h.error_log, rotated)
        h.signal(signal.SIGUSR1)
        herdtest.wait_for(lambda: os.path.exists(h.error_log), 3.0,
                          what="a new %s after USR1" % h.error_log)
        time.sleep(0.2)
        old_size = os.path.getsize(rotated)
        # A connection stuck in the middle of a request keeps an old worker
        # busy until shutdown_timeout; that worker then logs it, which shows
        # the workers write to the new file too.
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"GET / HTTP/1.1\r\n")
            time.sleep(0.2)
            h.signal(signal.SIGHUP)

            def new_log_has(text):
                with open(h.error_log) as f:
                    return text in f.read()
            try:
                herdtest.wait_for(lambda: new_log_has("generation 2"), 5.0,
                                  what="reload lines in the new log")
                herdtest.wait_for(lambda: new_log_has("shutdown_timeout"), 5.0,
                                  what="the old worker's shutdown_timeout line in the new log")
            except AssertionError as e:
                with open(rotated) as f:
                    old = f.read()
                with open(h.error_log) as f:
                    new = f.read()
                raise AssertionError("%s\nworkers now: %s\n--- old log:\n%s--- new log:\n%s"
                                     % (e, h.worker_pids(), old, new)) from None
        finally:
            s.close()
        with open(rotated) as f:
            old = f.read()
        self.assertNotIn("generation 2", old, "the old file still receives lines")
        self.assertEqual(os.path.getsize(rotated), old_size, "the old file still grows")


if __name__ == "__main__":
    herdtest.main()
