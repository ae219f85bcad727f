#!/usr/bin/env python3
"""Binary upgrade (USR2): a new master inherits the sockets; WINCH and QUIT
retire the old one without a failed request; HUP to the old master rolls
back; a new master that dies gives the old one its pid file back."""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = ( { path = "/hello"; exact = true;
                 return = { status = 200; type = "text/plain"; body = "Hello, world!\\n"; }; } );
  }
);
"""


def pid_alive(pid):
    return herdtest.pid_alive(pid)


class UpgradeTest(HerdTestCase):

    def new_master(self, h, old):
        """Wait for USR2's new master: the pid file names it, the old one is
        in PIDFILE.oldbin, and the new one's workers serve."""
        oldbin = h.pid_file + ".oldbin"

        def ready():
            if not os.path.exists(oldbin):
                return None
            new = h._pid_file_pid()
            if not new or new == old or len(herdtest.children_of(new)) != 2:
                return None
            return new
        new = herdtest.wait_for(ready, 10.0 * herdtest.SLOW, what="the new master")
        with open(oldbin) as f:
            self.assertEqual(int(f.read()), old)
        return new

    def test_upgrade_under_load_loses_nothing(self):
        h = self.herd(CONF)
        old = h.pid
        old_workers = set(h.worker_pids())
        port = h.port()
        counts = {"ok": 0, "failed": 0}
        errors = []
        stop = [False]

        def client(close):
            conn = None
            while not stop[0]:
                try:
                    headers = {"Connection": "close"} if close else {}
                    if conn is None or close:
                        conn = herdtest.http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/hello", headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                    if r.will_close:
                        conn.close()
                        conn = None
                    if (r.status, body) == (200, b"Hello, world!\n"):
                        counts["ok"] += 1
                        continue
                    errors.append("status %d" % r.status)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    errors.append(repr(e))
                    conn = None
                counts["failed"] += 1

        threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            os.kill(old, signal.SIGUSR2)
            new = self.new_master(h, old)
            time.sleep(0.3)
            os.kill(old, signal.SIGWINCH)
            herdtest.wait_for(lambda: not (set(herdtest.children_of(old)) - {new}),
                              10.0 * herdtest.SLOW, what="the old workers to leave")
            time.sleep(0.3)
            os.kill(old, signal.SIGQUIT)
            herdtest.wait_for(lambda: not pid_alive(old) or
                              herdtest.proc_stat(old)[0] == "Z",
                              10.0 * herdtest.SLOW, what="the old master to exit")
            time.sleep(0.3)
        finally:
            stop[0] = True
            for t in threads:
                t.join()
        herdtest.diag("USR2, WINCH, QUIT under load: %d requests answered, %d failed %s"
                      % (counts["ok"], counts["failed"], errors[:5]))
        self.assertGreater(counts["ok"], 100)
        self.assertEqual(counts["failed"], 0, errors[:10])
        self.assertFalse(old_workers & set(herdtest.children_of(new)))
        self.assertEqual(h._pid_file_pid(), new)
        self.assertFalse(os.path.exists(h.pid_file + ".oldbin"))
        rc, out, err = h.run("-c", h.conf, "-s", "status")
        self.assertEqual(rc, 0, err)
        self.assertIn("Active connections:", out)
        status, _, body = herdtest.get(port, "/hello")
        self.assertEqual((status, body), (200, b"Hello, world!\n"))
        os.kill(new, signal.SIGTERM)

    def test_rollback_and_failed_new_master(self):
        h = self.herd(CONF)
        old = h.pid
        port = h.port()
        os.kill(old, signal.SIGUSR2)
        new = self.new_master(h, old)
        # WINCH: the old workers leave; HUP brings them back (rollback).
        os.kill(old, signal.SIGWINCH)
        herdtest.wait_for(lambda: herdtest.children_of(old) == [new],
                          10.0 * herdtest.SLOW, what="the old workers to leave")
        os.kill(old, signal.SIGHUP)
        herdtest.wait_for(lambda: len(set(herdtest.children_of(old)) - {new}) == 2,
                          10.0 * herdtest.SLOW, what="the old master's workers to come back")
        # The new master goes: the old one is the master again, pid file,
        # control socket and all.
        os.kill(new, signal.SIGTERM)
        herdtest.wait_for(lambda: h._pid_file_pid() == old, 10.0 * herdtest.SLOW,
                          what="the old master to take its pid file back")
        self.assertFalse(os.path.exists(h.pid_file + ".oldbin"))
        rc, out, err = h.run("-c", h.conf, "-s", "reload")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"generation \d+")
        status, _, body = herdtest.get(port, "/hello")
        self.assertEqual((status, body), (200, b"Hello, world!\n"))
        self.assertTrue(re.search(r"takes its pid file back", h.log_text()), h.log_tail())


if __name__ == "__main__":
    herdtest.main()
